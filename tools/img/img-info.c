/*
 * strata-img info: collect ImageInfo for an image (and, with
 * --backing-chain, each of its backing files) and print it.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/qapi-info.h"
#include "util/json-writer.h"
#include "util/qdict.h"

/*
 * ImageInfo of each image of the chain, top first.  Only the top image
 * is opened with the user's --image-opts / -f; backing files are opened
 * by the names and formats their overlay records.
 */
static json_t *collect_image_info_list(bool image_opts, const char *filename,
                                       const char *fmt, bool chain,
                                       bool force_share)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
                                                       g_str_equal,
                                                       g_free, NULL);
    g_autofree char *next_name = NULL, *next_fmt = NULL;
    json_t *list = json_array();

    while (filename) {
        BlockBackend *blk;
        Error *err = NULL;
        json_t *info;
        const char *backing, *full, *bfmt;

        if (g_hash_table_contains(seen, filename)) {
            error_report("Backing file '%s' creates an infinite loop.",
                         filename);
            goto fail;
        }
        g_hash_table_add(seen, g_strdup(filename));

        blk = img_open(image_opts, filename, fmt,
                       BDRV_O_NO_BACKING | BDRV_O_NO_IO, false, false,
                       force_share);
        if (!blk) {
            goto fail;
        }
        info = bdrv_query_image_info(blk_bs(blk), &err);
        blk_unref(blk);
        if (!info) {
            error_report_err(err);
            goto fail;
        }
        json_array_append_new(list, info);

        /* Only the top image takes the user's options. */
        filename = fmt = NULL;
        image_opts = false;
        if (!chain) {
            break;
        }
        backing = qdict_get_try_str(info, "backing-filename");
        full = qdict_get_try_str(info, "full-backing-filename");
        bfmt = qdict_get_try_str(info, "backing-filename-format");
        if (full) {
            g_free(next_name);
            next_name = g_strdup(full);
            filename = next_name;
        } else if (backing) {
            error_report("Could not determine absolute backing filename,"
                         " but backing filename '%s' present", backing);
            goto fail;
        }
        if (bfmt) {
            g_free(next_fmt);
            next_fmt = g_strdup(bfmt);
            fmt = next_fmt;
        }
    }
    return list;

fail:
    json_decref(list);
    return NULL;
}

int img_info(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "backing-chain", no_argument, NULL, OPTION_BACKING_CHAIN },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *filename, *fmt = NULL, *output = NULL;
    bool chain = false, image_opts = false, force_share = false;
    OutputFormat ofmt;
    json_t *list;
    int c;

    while ((c = getopt_long(argc, argv, ":f:hU", long_options, NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_OUTPUT:
            output = optarg;
            break;
        case OPTION_BACKING_CHAIN:
            chain = true;
            break;
        case OPTION_OBJECT:
            img_process_object(optarg);
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (img_parse_output_format(output, &ofmt) < 0) {
        return 1;
    }

    list = collect_image_info_list(image_opts, filename, fmt, chain,
                                   force_share);
    if (!list) {
        return 1;
    }
    if (ofmt == OFORMAT_HUMAN) {
        g_autoptr(GString) out = g_string_new(NULL);
        size_t i;
        json_t *info;

        json_array_foreach(list, i, info) {
            if (i) {
                g_string_append_c(out, '\n');
            }
            bdrv_image_info_dump(out, info);
        }
        fputs(out->str, stdout);
    } else {
        g_autofree char *text =
            json_to_string_qemu(chain ? list : json_array_get(list, 0), true);

        printf("%s\n", text);
    }
    json_decref(list);
    return 0;
}

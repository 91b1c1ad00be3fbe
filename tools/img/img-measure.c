/*
 * strata-img measure: how large a new image would be, for a given size or
 * for the data of an existing image, in a given output format.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "util/json-writer.h"
#include "util/option.h"
#include "util/qdict.h"

static void print_measure(OutputFormat ofmt, const BlockMeasureInfo *info)
{
    if (ofmt == OFORMAT_HUMAN) {
        printf("required size: %" PRIu64 "\n", info->required);
        printf("fully allocated size: %" PRIu64 "\n", info->fully_allocated);
        if (info->has_bitmaps) {
            printf("bitmaps size: %" PRIu64 "\n", info->bitmaps);
        }
    } else {
        g_autoptr(json_t) obj = json_object();
        g_autofree char *text = NULL;

        qdict_put_int(obj, "required", info->required);
        qdict_put_int(obj, "fully-allocated", info->fully_allocated);
        if (info->has_bitmaps) {
            qdict_put_int(obj, "bitmaps", info->bitmaps);
        }
        text = json_to_string_qemu(obj, true);
        printf("%s\n", text);
    }
}

int img_measure(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "size", required_argument, NULL, OPTION_SIZE },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    OutputFormat ofmt = OFORMAT_HUMAN;
    const char *filename = NULL, *fmt = NULL, *out_fmt = "raw";
    const char *snapshot_name = NULL;
    g_autofree char *options = NULL;
    bool force_share = false, image_opts = false;
    uint64_t img_size = UINT64_MAX;
    QemuOptsList *create_opts = NULL;
    QemuOpts *opts = NULL, *sn_opts = NULL;
    BlockMeasureInfo *info = NULL;
    BlockBackend *in_blk = NULL;
    BlockDriver *drv;
    Error *err = NULL;
    int ret = 1;
    int c;

    /* qemu-img's measure has no ':' in its option string: errors get help. */
    while ((c = getopt_long(argc, argv, "hf:O:o:l:U", long_options,
                            NULL)) != -1) {
        switch (c) {
        case '?':
        case 'h':
            img_help();
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'o':
            if (img_accumulate_options(&options, optarg) < 0) {
                goto out;
            }
            break;
        case 'l':
            if (!img_parse_snapshot_param(optarg, &sn_opts, &snapshot_name)) {
                goto out;
            }
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_OBJECT:
            img_process_object(optarg);
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OUTPUT:
            if (img_parse_output_format(optarg, &ofmt) < 0) {
                goto out;
            }
            break;
        case OPTION_SIZE: {
            int64_t sval = img_cvtnum("image size", optarg);

            if (sval < 0) {
                goto out;
            }
            img_size = sval;
            break;
        }
        }
    }

    if (argc - optind > 1) {
        error_report("At most one filename argument is allowed.");
        goto out;
    } else if (argc - optind == 1) {
        filename = argv[optind];
    }
    if (!filename && (image_opts || fmt || snapshot_name || sn_opts)) {
        error_report("--image-opts, -f, and -l require a filename argument.");
        goto out;
    }
    if (filename && img_size != UINT64_MAX) {
        error_report("--size N cannot be used together with a filename.");
        goto out;
    }
    if (!filename && img_size == UINT64_MAX) {
        error_report("Either --size N or one filename must be specified.");
        goto out;
    }

    if (filename) {
        in_blk = img_open(image_opts, filename, fmt, 0, false, false,
                          force_share);
        if (!in_blk) {
            goto out;
        }
        if ((sn_opts || snapshot_name) && !img_load_snapshot(in_blk, &err)) {
            error_prepend(&err, "Failed to load snapshot: ");
            error_report_err(err);
            goto out;
        }
    }

    drv = bdrv_find_format(out_fmt);
    if (!drv) {
        error_report("Unknown file format '%s'", out_fmt);
        goto out;
    }
    if (!drv->create_opts) {
        error_report("Format driver '%s' does not support image creation",
                     drv->format_name);
        goto out;
    }
    /* The output is measured as if created on a plain file. */
    create_opts = qemu_opts_append(NULL, drv->create_opts);
    create_opts = qemu_opts_append(create_opts, bdrv_file.create_opts);
    opts = qemu_opts_create(create_opts, NULL, false, &error_abort);
    if (options && !qemu_opts_do_parse(opts, options, NULL, &err)) {
        error_report_err(err);
        error_report("Invalid options for file format '%s'", out_fmt);
        goto out;
    }
    if (img_size != UINT64_MAX) {
        qemu_opt_set_number(opts, "size", img_size, &error_abort);
    }

    if (!drv->bdrv_measure) {
        error_report("Block driver '%s' does not support size measurement",
                     drv->format_name);
        goto out;
    }
    info = drv->bdrv_measure(opts, in_blk ? blk_bs(in_blk) : NULL, &err);
    if (!info) {
        error_report_err(err);
        goto out;
    }
    print_measure(ofmt, info);
    ret = 0;

out:
    g_free(info);
    qemu_opts_del(opts);
    qemu_opts_free(create_opts);
    qemu_opts_del(sn_opts);
    if (in_blk) {
        blk_unref(in_blk);
    }
    return ret;
}

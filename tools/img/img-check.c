/*
 * strata-img check: run the format's consistency check.  Formats without
 * one (raw) are reported with exit code 63, as qemu-img does.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "util/json-writer.h"
#include "util/qdict.h"

/* Exit code for "this format cannot be checked". */
#define CHECK_NOT_SUPPORTED 63

/* QAPI ImageCheck: counters that are zero are left out. */
static json_t *image_check_to_json(const BdrvCheckResult *r,
                                   const char *filename, const char *format)
{
    static const struct {
        const char *key;
        size_t offset;
        bool is_int;
    } optional[] = {
        { "image-end-offset", offsetof(BdrvCheckResult, image_end_offset) },
        { "corruptions", offsetof(BdrvCheckResult, corruptions), true },
        { "leaks", offsetof(BdrvCheckResult, leaks), true },
        { "corruptions-fixed", offsetof(BdrvCheckResult, corruptions_fixed),
          true },
        { "leaks-fixed", offsetof(BdrvCheckResult, leaks_fixed), true },
        { "total-clusters", offsetof(BdrvCheckResult, bfi.total_clusters) },
        { "allocated-clusters",
          offsetof(BdrvCheckResult, bfi.allocated_clusters) },
        { "fragmented-clusters",
          offsetof(BdrvCheckResult, bfi.fragmented_clusters) },
        { "compressed-clusters",
          offsetof(BdrvCheckResult, bfi.compressed_clusters) },
    };
    json_t *obj = json_object();

    qdict_put_str(obj, "filename", filename);
    qdict_put_str(obj, "format", format);
    qdict_put_int(obj, "check-errors", r->check_errors);
    for (size_t i = 0; i < ARRAY_SIZE(optional); i++) {
        const char *p = (const char *)r + optional[i].offset;
        int64_t v = optional[i].is_int ? *(const int *)p : *(const int64_t *)p;

        if (v) {
            qdict_put_int(obj, optional[i].key, v);
        }
    }
    return obj;
}

static void print_check_human(const BdrvCheckResult *r)
{
    if (!(r->corruptions || r->leaks || r->check_errors)) {
        printf("No errors were found on the image.\n");
    } else {
        if (r->corruptions) {
            printf("\n%d errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image "
                   "may corrupt it.\n", r->corruptions);
        }
        if (r->leaks) {
            printf("\n%d leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n",
                   r->leaks);
        }
        if (r->check_errors) {
            printf("\n%d internal errors have occurred during the check.\n",
                   r->check_errors);
        }
    }
    if (r->bfi.total_clusters && r->bfi.allocated_clusters) {
        printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, "
               "%0.2f%% fragmented, %0.2f%% compressed clusters\n",
               r->bfi.allocated_clusters, r->bfi.total_clusters,
               r->bfi.allocated_clusters * 100.0 / r->bfi.total_clusters,
               r->bfi.fragmented_clusters * 100.0 / r->bfi.allocated_clusters,
               r->bfi.compressed_clusters * 100.0 /
               r->bfi.allocated_clusters);
    }
    if (r->image_end_offset) {
        printf("Image end offset: %" PRId64 "\n", r->image_end_offset);
    }
}

int img_check(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "repair", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *filename, *fmt = NULL, *output = NULL;
    const char *cache = IMG_DEFAULT_CACHE;
    bool quiet = false, image_opts = false, force_share = false;
    bool writethrough;
    int flags = BDRV_O_CHECK;
    BdrvCheckMode fix = 0;
    BdrvCheckResult res;
    OutputFormat ofmt;
    BlockBackend *blk;
    BlockDriverState *bs;
    int c, ret;

    while ((c = getopt_long(argc, argv, ":hf:r:T:qU", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'r':
            flags |= BDRV_O_RDWR;
            if (!strcmp(optarg, "leaks")) {
                fix = BDRV_FIX_LEAKS;
            } else if (!strcmp(optarg, "all")) {
                fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
            } else {
                img_error_exit("Unknown option value for -r "
                               "(expecting 'leaks' or 'all'): %s", optarg);
            }
            break;
        case OPTION_OUTPUT:
            output = optarg;
            break;
        case 'T':
            cache = optarg;
            break;
        case 'q':
            quiet = true;
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
        }
    }
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (img_parse_output_format(output, &ofmt) < 0) {
        return 1;
    }
    if (!img_parse_cache(cache, &flags, &writethrough, "source cache")) {
        return 1;
    }

    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   force_share);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);

    ret = bdrv_check(bs, &res, fix);
    if (ret == -ENOTSUP) {
        error_report("This image format does not support checks");
        ret = CHECK_NOT_SUPPORTED;
        goto out;
    }
    if (ret == 0 && (res.corruptions_fixed || res.leaks_fixed)) {
        int corruptions_fixed = res.corruptions_fixed;
        int leaks_fixed = res.leaks_fixed;

        if (ofmt == OFORMAT_HUMAN && !quiet) {
            printf("The following inconsistencies were found and repaired:"
                   "\n\n"
                   "    %d leaked clusters\n"
                   "    %d corruptions\n\n"
                   "Double checking the fixed image now...\n",
                   leaks_fixed, corruptions_fixed);
        }
        ret = bdrv_check(bs, &res, 0);
        res.corruptions_fixed = corruptions_fixed;
        res.leaks_fixed = leaks_fixed;
    }
    if (ret == 0 && !quiet) {
        if (ofmt == OFORMAT_HUMAN) {
            print_check_human(&res);
        } else {
            g_autoptr(json_t) obj =
                image_check_to_json(&res, filename, bdrv_get_format_name(bs));
            g_autofree char *text = json_to_string_qemu(obj, true);

            printf("%s\n", text);
        }
    }
    if (ret || res.check_errors) {
        if (ret) {
            error_report("Check failed: %s", strerror(-ret));
        } else {
            error_report("Check failed");
        }
        ret = 1;
    } else if (res.corruptions) {
        ret = 2;
    } else if (res.leaks) {
        ret = 3;
    }
out:
    blk_unref(blk);
    return ret;
}

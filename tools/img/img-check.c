/*
 * strata-img check: run the format's consistency check.  Formats without
 * one (raw) are reported with exit code 63, as qemu-img does.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"

/* Exit code for "this format cannot be checked". */
#define CHECK_NOT_SUPPORTED 63

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
            if (strcmp(optarg, "leaks") && strcmp(optarg, "all")) {
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

    /*
     * The check report (human and JSON) comes with the first format that
     * implements a check; until the block layer offers bdrv_check(),
     * every image is answered as qemu-img answers for raw.
     */
    (void)bs;
    error_report("This image format does not support checks");
    ret = CHECK_NOT_SUPPORTED;
    blk_unref(blk);
    return ret;
}

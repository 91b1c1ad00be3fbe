/*
 * strata-img create: parse the command line and hand the image creation
 * (size, backing file and format options) to the block layer.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "util/option.h"

int img_create(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { NULL, 0, NULL, 0 }
    };
    g_autofree char *options = NULL;
    const char *fmt = "raw", *base_fmt = NULL, *base_filename = NULL;
    const char *filename;
    uint64_t img_size = UINT64_MAX;
    Error *err = NULL;
    bool quiet = false;
    int flags = 0;
    int c;

    while ((c = getopt_long(argc, argv, ":F:b:f:ho:qu", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'F':
            base_fmt = optarg;
            break;
        case 'b':
            base_filename = optarg;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'o':
            if (img_accumulate_options(&options, optarg) < 0) {
                return 1;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'u':
            flags |= BDRV_O_NO_BACKING;
            break;
        case OPTION_OBJECT:
            img_process_object(optarg);
            break;
        }
    }

    filename = optind < argc ? argv[optind] : NULL;
    if (options && has_help_option(options)) {
        return img_print_block_option_help(filename, fmt);
    }
    if (optind >= argc) {
        img_error_exit("Expecting image file name");
    }
    optind++;

    if (optind < argc) {
        int64_t sval = img_cvtnum("image size", argv[optind++]);

        if (sval < 0) {
            return 1;
        }
        img_size = sval;
    }
    if (optind != argc) {
        img_error_exit("Unexpected argument: %s", argv[optind]);
    }

    bdrv_img_create(filename, fmt, base_filename, base_fmt, options,
                    img_size, flags, quiet, &err);
    if (err) {
        error_prepend(&err, "%s: ", filename);
        error_report_err(err);
        return 1;
    }
    return 0;
}

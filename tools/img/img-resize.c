/*
 * strata-img resize: set an image's virtual size (absolute, or relative
 * with + and -), growing with optional preallocation or shrinking.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "util/option.h"

static QemuOptsList resize_opts = {
    .name = "resize_options",
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE, .help = "Virtual disk size" },
        { NULL }
    },
};

static int parse_prealloc(const char *arg, PreallocMode *mode)
{
    for (int i = 0; i < PREALLOC_MODE__MAX; i++) {
        if (!strcmp(arg, PreallocMode_str(i))) {
            *mode = i;
            return 0;
        }
    }
    error_report("Invalid preallocation mode '%s'", arg);
    return -1;
}

int img_resize(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "preallocation", required_argument, NULL, OPTION_PREALLOCATION },
        { "shrink", no_argument, NULL, OPTION_SHRINK },
        { NULL, 0, NULL, 0 }
    };
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    const char *filename, *fmt = NULL, *size;
    bool quiet = false, image_opts = false, shrink = false;
    int64_t n, total_size, current_size;
    BlockBackend *blk = NULL;
    QemuOpts *param;
    Error *err = NULL;
    int relative = 0;
    int c, ret = -1;

    /* Take the size off first so that "-1G" is not read as an option. */
    if (argc < 3) {
        img_error_exit("Not enough arguments");
    }
    size = argv[--argc];

    while ((c = getopt_long(argc, argv, ":f:hq", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case OPTION_OBJECT:
            img_process_object(optarg);
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_PREALLOCATION:
            if (parse_prealloc(optarg, &prealloc) < 0) {
                return 1;
            }
            break;
        case OPTION_SHRINK:
            shrink = true;
            break;
        }
    }
    if (optind != argc - 1) {
        img_error_exit("Expecting image file name and size");
    }
    filename = argv[optind];

    if (size[0] == '+' || size[0] == '-') {
        relative = size[0] == '+' ? 1 : -1;
        size++;
    }
    param = qemu_opts_create(&resize_opts, NULL, false, &error_abort);
    if (!qemu_opt_set(param, "size", size, &err)) {
        error_report_err(err);
        qemu_opts_del(param);
        goto out;
    }
    n = qemu_opt_get_size(param, "size", 0);
    qemu_opts_del(param);

    blk = img_open(image_opts, filename, fmt, BDRV_O_RDWR | BDRV_O_RESIZE,
                   false, quiet, false);
    if (!blk) {
        goto out;
    }
    current_size = blk_getlength(blk);
    if (current_size < 0) {
        error_report("Failed to inquire current image length: %s",
                     strerror(-current_size));
        goto out;
    }
    /* Wraps like qemu-img's arithmetic: "+8E" ends up not positive. */
    total_size = relative ? (int64_t)((uint64_t)current_size +
                                      (uint64_t)n * (uint64_t)relative)
                          : n;
    if (total_size <= 0) {
        error_report("New image size must be positive");
        goto out;
    }
    if (total_size <= current_size && prealloc != PREALLOC_MODE_OFF) {
        error_report("Preallocation can only be used for growing images");
        goto out;
    }
    if (total_size < current_size && !shrink) {
        error_report("Use the --shrink option to perform a shrink operation.");
        warn_report("Shrinking an image will delete all data beyond the "
                    "shrunken image's end. Before performing such an "
                    "operation, make sure there is no important data there.");
        goto out;
    }

    /* The user wants exactly this size: anything else is a failure. */
    ret = blk_truncate(blk, total_size, true, prealloc, 0, &err);
    if (!ret) {
        if (!quiet) {
            printf("Image resized.\n");
        }
    } else {
        error_report_err(err);
    }

out:
    if (blk) {
        blk_unref(blk);
    }
    return ret ? 1 : 0;
}

/*
 * strata-img amend: change format options of an existing image, for the
 * formats whose driver supports it.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "util/option.h"

static int print_amend_option_help(const char *format)
{
    BlockDriver *drv = bdrv_find_format(format);

    if (!drv) {
        error_report("Unknown file format '%s'", format);
        return 1;
    }
    if (!drv->bdrv_amend_options) {
        error_report("Format driver '%s' does not support option amendment",
                     format);
        return 1;
    }
    /* Every driver that amends describes what it accepts. */
    assert(drv->amend_opts);
    printf("Amend options for '%s':\n", format);
    qemu_opts_print_help(drv->amend_opts, false);
    return 0;
}

int img_amend(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force", no_argument, NULL, OPTION_FORCE },
        { NULL, 0, NULL, 0 }
    };
    g_autofree char *options = NULL;
    const char *fmt = NULL, *filename, *cache = IMG_DEFAULT_CACHE;
    bool quiet = false, progress = false, image_opts = false;
    bool force = false, writethrough;
    int flags = BDRV_O_RDWR;
    BlockBackend *blk = NULL;
    BlockDriverState *bs;
    QemuOptsList *amend_opts = NULL;
    QemuOpts *opts = NULL;
    Error *err = NULL;
    int c, ret = -1;

    while ((c = getopt_long(argc, argv, ":ho:f:t:pq", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'o':
            if (img_accumulate_options(&options, optarg) < 0) {
                return 1;
            }
            break;
        case 'f':
            fmt = optarg;
            break;
        case 't':
            cache = optarg;
            break;
        case 'p':
            progress = true;
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
        case OPTION_FORCE:
            force = true;
            break;
        }
    }
    if (!options) {
        img_error_exit("Must specify options (-o)");
    }
    if (quiet) {
        progress = false;
    }
    img_progress_init(progress, 1.0);

    filename = optind == argc - 1 ? argv[argc - 1] : NULL;
    if (fmt && has_help_option(options)) {
        ret = print_amend_option_help(fmt) ? -1 : 0;
        goto out;
    }
    if (optind != argc - 1) {
        error_report("Expecting one image file name");
        goto out;
    }
    if (!img_parse_cache(cache, &flags, &writethrough, "cache")) {
        goto out;
    }
    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   false);
    if (!blk) {
        goto out;
    }
    bs = blk_bs(blk);
    fmt = bs->drv->format_name;

    if (has_help_option(options)) {
        ret = print_amend_option_help(fmt) ? -1 : 0;
        goto out;
    }
    if (!bs->drv->bdrv_amend_options) {
        error_report("Format driver '%s' does not support option amendment",
                     fmt);
        goto out;
    }
    assert(bs->drv->amend_opts);
    amend_opts = qemu_opts_append(NULL, bs->drv->amend_opts);
    opts = qemu_opts_create(amend_opts, NULL, false, &error_abort);
    if (!qemu_opts_do_parse(opts, options, NULL, &err)) {
        /* Say so if the option exists, but only for creation. */
        qemu_opts_del(opts);
        amend_opts = qemu_opts_append(amend_opts, bs->drv->create_opts);
        opts = qemu_opts_create(amend_opts, NULL, false, &error_abort);
        if (qemu_opts_do_parse(opts, options, NULL, NULL)) {
            error_append_hint(&err, "This option is only supported for "
                              "image creation\n");
        }
        error_report_err(err);
        goto out;
    }
    img_progress_print(0.f, 0);
    ret = bs->drv->bdrv_amend_options(bs, opts, force, &err);
    img_progress_print(100.f, 0);
    if (ret < 0) {
        error_report_err(err);
    }

out:
    img_progress_end();
    qemu_opts_del(opts);
    qemu_opts_free(amend_opts);
    if (blk) {
        blk_unref(blk);
    }
    return ret ? 1 : 0;
}

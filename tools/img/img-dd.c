/*
 * strata-img dd: copy (part of) an image into a new image, block by
 * block, with dd(1)-style operands (if=, of=, bs=, count=, skip=).
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "util/option.h"

typedef struct DdArgs {
    char *in_name, *out_name;
    int64_t bsz;        /* block size for bs, count and skip */
    int64_t count;
    int64_t skip;       /* in blocks */
    unsigned given;     /* DD_* of the operands seen */
} DdArgs;

enum {
    DD_BS = 1 << 0,
    DD_COUNT = 1 << 1,
    DD_IF = 1 << 2,
    DD_OF = 1 << 3,
    DD_SKIP = 1 << 4,
};

static int dd_bs(const char *arg, DdArgs *dd)
{
    int64_t res = img_cvtnum_full("bs", arg, 1, INT_MAX);

    if (res < 0) {
        return -1;
    }
    dd->bsz = res;
    return 0;
}

static int dd_count(const char *arg, DdArgs *dd)
{
    dd->count = img_cvtnum("count", arg);
    return dd->count < 0 ? -1 : 0;
}

static int dd_if(const char *arg, DdArgs *dd)
{
    g_free(dd->in_name);
    dd->in_name = g_strdup(arg);
    return 0;
}

static int dd_of(const char *arg, DdArgs *dd)
{
    g_free(dd->out_name);
    dd->out_name = g_strdup(arg);
    return 0;
}

static int dd_skip(const char *arg, DdArgs *dd)
{
    dd->skip = img_cvtnum("skip", arg);
    return dd->skip < 0 ? -1 : 0;
}

static const struct {
    const char *name;
    int (*parse)(const char *arg, DdArgs *dd);
    unsigned flag;
} dd_operands[] = {
    { "bs", dd_bs, DD_BS },
    { "count", dd_count, DD_COUNT },
    { "if", dd_if, DD_IF },
    { "of", dd_of, DD_OF },
    { "skip", dd_skip, DD_SKIP },
};

static int dd_parse_operand(const char *operand, DdArgs *dd)
{
    g_autofree char *arg = g_strdup(operand);
    char *value = strchr(arg, '=');

    if (value) {
        *value++ = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(dd_operands); i++) {
            if (!strcmp(arg, dd_operands[i].name)) {
                if (dd_operands[i].parse(value, dd) < 0) {
                    return -1;
                }
                dd->given |= dd_operands[i].flag;
                return 0;
            }
        }
    }
    error_report("unrecognized operand %s", arg);
    return -1;
}

/* Is the skip past the end of the input (or too large to compute)? */
static bool dd_skip_beyond(const DdArgs *dd, int64_t size)
{
    return (dd->given & DD_SKIP) &&
           (dd->skip > INT64_MAX / dd->bsz || size < dd->bsz * dd->skip);
}

int img_dd(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    DdArgs dd = { .bsz = 512 };
    const char *out_fmt = "raw", *fmt = NULL;
    bool image_opts = false, force_share = false;
    BlockBackend *blk1 = NULL, *blk2 = NULL;
    QemuOptsList *create_opts = NULL;
    QemuOpts *opts = NULL;
    g_autofree uint8_t *buf = NULL;
    BlockDriver *drv;
    Error *err = NULL;
    int64_t size, in_pos, out_pos;
    int c, ret = -1;

    while ((c = getopt_long(argc, argv, ":hf:O:U", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'O':
            out_fmt = optarg;
            break;
        case 'f':
            fmt = optarg;
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
    for (int i = optind; i < argc; i++) {
        if (dd_parse_operand(argv[i], &dd) < 0) {
            goto out;
        }
    }
    if (!(dd.given & DD_IF) || !(dd.given & DD_OF)) {
        error_report("Must specify both input and output files");
        goto out;
    }

    blk1 = img_open(image_opts, dd.in_name, fmt, 0, false, false,
                    force_share);
    if (!blk1) {
        goto out;
    }
    drv = bdrv_find_format(out_fmt);
    if (!drv) {
        error_report("Unknown file format");
        goto out;
    }
    if (!drv->create_opts) {
        error_report("Format driver '%s' does not support image creation",
                     drv->format_name);
        goto out;
    }
    create_opts = bdrv_create_opts_for(drv, dd.out_name, &err);
    if (!create_opts) {
        error_report_err(err);
        goto out;
    }
    opts = qemu_opts_create(create_opts, NULL, false, &error_abort);

    size = blk_getlength(blk1);
    if (size < 0) {
        error_report("Failed to get size for '%s'", dd.in_name);
        goto out;
    }
    if ((dd.given & DD_COUNT) && dd.count <= INT64_MAX / dd.bsz &&
        dd.count * dd.bsz < size) {
        size = dd.count * dd.bsz;
    }
    qemu_opt_set_number(opts, "size",
                        dd_skip_beyond(&dd, size) ? 0
                                                  : size - dd.bsz * dd.skip,
                        &error_abort);
    if (bdrv_create(drv, dd.out_name, opts, &err) < 0) {
        error_prepend(&err, "%s: error while creating output image: ",
                      dd.out_name);
        error_report_err(err);
        goto out;
    }
    blk2 = img_open_file(dd.out_name, NULL, out_fmt, BDRV_O_RDWR, false,
                         false, false);
    if (!blk2) {
        goto out;
    }

    if (dd_skip_beyond(&dd, size)) {
        /* Like dd(1): warn and produce an empty image. */
        error_report("%s: cannot skip to specified offset", dd.in_name);
        in_pos = size;
    } else {
        in_pos = dd.skip * dd.bsz;
    }

    buf = g_malloc(dd.bsz);
    ret = 0;
    for (out_pos = 0; in_pos < size; ) {
        int64_t bytes = MIN(dd.bsz, size - in_pos);

        ret = blk_pread(blk1, in_pos, bytes, buf, 0);
        if (ret < 0) {
            error_report("error while reading from input image file: %s",
                         strerror(-ret));
            goto out;
        }
        in_pos += bytes;
        ret = blk_pwrite(blk2, out_pos, bytes, buf, 0);
        if (ret < 0) {
            error_report("error while writing to output image file: %s",
                         strerror(-ret));
            goto out;
        }
        out_pos += bytes;
    }

out:
    qemu_opts_del(opts);
    qemu_opts_free(create_opts);
    if (blk1) {
        blk_unref(blk1);
    }
    if (blk2) {
        blk_unref(blk2);
    }
    g_free(dd.in_name);
    g_free(dd.out_name);
    return ret ? 1 : 0;
}

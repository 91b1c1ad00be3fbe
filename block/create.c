/*
 * Image creation from QemuOpts (qemu-img create's path): format and
 * protocol option lists, backing-file checks, the "Formatting" line.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "util/option.h"
#include "util/qdict.h"

typedef struct CreateCo {
    BlockDriver *drv;
    const char *filename;
    QemuOpts *opts;
    Error **errp;
    int ret;
    bool done;
} CreateCo;

static void coroutine_fn create_entry(void *opaque)
{
    CreateCo *cco = opaque;

    cco->ret = cco->drv->bdrv_co_create_opts(cco->drv, cco->filename,
                                             cco->opts, cco->errp);
    cco->done = true;
}

int bdrv_create(BlockDriver *drv, const char *filename, QemuOpts *opts,
                Error **errp)
{
    CreateCo cco = { .drv = drv, .filename = filename, .opts = opts,
                     .errp = errp };

    if (!drv->bdrv_co_create_opts) {
        error_setg(errp, "Driver '%s' does not support image creation",
                   drv->format_name);
        return -ENOTSUP;
    }
    bdrv_run_co(create_entry, &cco, &cco.done);
    if (cco.ret < 0 && errp && !*errp) {
        error_setg_errno(errp, -cco.ret, "Could not create image");
    }
    return cco.ret;
}

int bdrv_create_file(const char *filename, QemuOpts *opts, Error **errp)
{
    BlockDriver *drv = bdrv_find_protocol(filename, true, errp);
    QemuOpts *protocol_opts;
    json_t *qdict;
    int ret;

    if (!drv) {
        return -ENOENT;
    }
    if (!drv->create_opts) {
        error_setg(errp, "Driver '%s' does not support image creation",
                   drv->format_name);
        return -ENOTSUP;
    }
    /* Hand the protocol only the options it knows. */
    qdict = qemu_opts_to_qdict_filtered(opts, NULL, drv->create_opts, true);
    protocol_opts = qemu_opts_from_qdict(drv->create_opts, qdict, errp);
    json_decref(qdict);
    if (!protocol_opts) {
        return -EINVAL;
    }
    ret = bdrv_create(drv, filename, protocol_opts, errp);
    qemu_opts_del(protocol_opts);
    return ret;
}

QemuOptsList *bdrv_create_opts_for(BlockDriver *drv, const char *filename,
                                   Error **errp)
{
    QemuOptsList *list = qemu_opts_append(NULL, drv->create_opts);

    if (filename) {
        BlockDriver *proto = bdrv_find_protocol(filename, true, errp);

        if (!proto) {
            qemu_opts_free(list);
            return NULL;
        }
        if (!proto->create_opts) {
            error_setg(errp, "Protocol driver '%s' does not support image "
                       "creation", proto->format_name);
            qemu_opts_free(list);
            return NULL;
        }
        list = qemu_opts_append(list, proto->create_opts);
    }
    return list;
}

/* Open the backing file to check it and learn its size. */
static int64_t probe_backing(const char *filename, const char *backing_file,
                             const char *backing_fmt, int flags,
                             const char **detected_fmt, Error **errp)
{
    g_autofree char *full = NULL;
    json_t *options = json_object();
    BlockDriverState *bs;
    int64_t size;

    full = bdrv_get_full_backing_filename_from_filename(filename,
                                                        backing_file, errp);
    if (!full) {
        json_decref(options);
        return -EINVAL;
    }
    if (backing_fmt) {
        qdict_put_str(options, "driver", backing_fmt);
    }
    qdict_put_bool(options, BDRV_OPT_FORCE_SHARE, true);
    bs = bdrv_open(full, NULL, options,
                   (flags & ~BDRV_O_RDWR) | BDRV_O_NO_BACKING | BDRV_O_NO_IO,
                   errp);
    if (!bs) {
        return -EIO;
    }
    /* Pin the static driver name beyond the node's lifetime. */
    *detected_fmt = bs->drv->format_name;
    size = bdrv_getlength(bs);
    bdrv_unref(bs);
    return size;
}

void bdrv_img_create(const char *filename, const char *fmt,
                     const char *base_filename, const char *base_fmt,
                     char *options, uint64_t img_size, int flags, bool quiet,
                     Error **errp)
{
    QemuOptsList *create_opts = NULL;
    QemuOpts *opts = NULL;
    const char *backing_file, *backing_fmt;
    BlockDriver *drv, *proto_drv;
    Error *local_err = NULL;
    int64_t size;
    int ret;

    drv = bdrv_find_format(fmt);
    if (!drv) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return;
    }
    proto_drv = bdrv_find_protocol(filename, true, errp);
    if (!proto_drv) {
        return;
    }
    if (!drv->create_opts) {
        error_setg(errp, "Format driver '%s' does not support image creation",
                   drv->format_name);
        return;
    }
    if (!proto_drv->create_opts) {
        error_setg(errp, "Protocol driver '%s' does not support image "
                   "creation", proto_drv->format_name);
        return;
    }

    create_opts = qemu_opts_append(NULL, drv->create_opts);
    create_opts = qemu_opts_append(create_opts, proto_drv->create_opts);
    opts = qemu_opts_create(create_opts, NULL, false, &error_abort);

    if (options && !qemu_opts_do_parse(opts, options, NULL, errp)) {
        goto out;
    }
    if (!qemu_opt_get(opts, "size")) {
        qemu_opt_set_number(opts, "size", img_size, &error_abort);
    } else if (img_size != UINT64_C(-1)) {
        error_setg(errp, "The image size must be specified only once");
        goto out;
    }
    if (base_filename &&
        !qemu_opt_set(opts, "backing_file", base_filename, NULL)) {
        error_setg(errp, "Backing file not supported for file format '%s'",
                   fmt);
        goto out;
    }
    if (base_fmt && !qemu_opt_set(opts, "backing_fmt", base_fmt, NULL)) {
        error_setg(errp, "Backing file format not supported for file "
                   "format '%s'", fmt);
        goto out;
    }

    backing_file = qemu_opt_get(opts, "backing_file");
    if (backing_file) {
        if (!strcmp(filename, backing_file)) {
            error_setg(errp, "Error: Trying to create an image with the "
                       "same filename as the backing file");
            goto out;
        }
        if (backing_file[0] == '\0') {
            error_setg(errp, "Expected backing file name, got empty string");
            goto out;
        }
    }
    backing_fmt = qemu_opt_get(opts, "backing_fmt");

    size = qemu_opt_get_size(opts, "size", img_size);
    if (backing_file && !(flags & BDRV_O_NO_BACKING)) {
        const char *detected = NULL;
        int64_t backing_size = probe_backing(filename, backing_file,
                                             backing_fmt, flags, &detected,
                                             &local_err);

        if (backing_size < 0 && local_err) {
            error_append_hint(&local_err, "Could not open backing image.\n");
            error_propagate(errp, local_err);
            goto out;
        }
        if (!backing_fmt) {
            error_setg(errp, "Backing file specified without backing format");
            error_append_hint(errp, "Detected format of %s.\n", detected);
            goto out;
        }
        if (size == -1) {
            if (backing_size < 0) {
                error_setg_errno(errp, -backing_size, "Could not get size of "
                                 "'%s'", backing_file);
                goto out;
            }
            size = backing_size;
            qemu_opt_set_number(opts, "size", size, &error_abort);
        }
    } else if (backing_file && !backing_fmt) {
        error_setg(errp, "Backing file specified without backing format");
        goto out;
    }

    if (size == -1) {
        error_setg(errp, "Image creation needs a size parameter");
        goto out;
    }

    if (!quiet) {
        printf("Formatting '%s', fmt=%s ", filename, fmt);
        qemu_opts_print(opts, " ");
        puts("");
        fflush(stdout);
    }

    ret = bdrv_create(drv, filename, opts, &local_err);
    if (ret == -EFBIG) {
        /* More useful than whatever the driver said. */
        const char *hint = qemu_opt_get_size(opts, "cluster_size", 0) ?
                           " (try using a larger cluster size)" : "";

        error_free(local_err);
        local_err = NULL;
        error_setg(errp, "The image size is too large for file format '%s'%s",
                   fmt, hint);
    } else if (local_err) {
        error_propagate(errp, local_err);
    }

out:
    qemu_opts_del(opts);
    qemu_opts_free(create_opts);
}

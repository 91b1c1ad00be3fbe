/*
 * The "raw" format driver: the guest sees its file child unchanged, or a
 * window of it (offset, size).  A probed raw image refuses writes that
 * would make its first sector look like another format.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "util/option.h"
#include "util/qdict.h"

typedef struct BDRVRawState {
    uint64_t offset;
    uint64_t size;
    bool has_size;
    /* The window a reopen prepared, applied on commit. */
    struct BDRVRawState *reopen;
} BDRVRawState;

static int raw_apply_options(BlockDriverState *bs, BDRVRawState *s,
                             json_t *options, Error **errp)
{
    int64_t real_size;
    uint64_t offset = 0, size = 0;

    if (!qdict_get_size_opt(options, "offset", 0, &offset, errp) ||
        !qdict_get_size_opt(options, "size", 0, &size, errp)) {
        return -EINVAL;
    }
    s->has_size = qdict_haskey(options, "size");
    json_object_del(options, "offset");
    json_object_del(options, "size");

    real_size = bdrv_getlength(bs->file->bs);
    if (real_size < 0) {
        error_setg_errno(errp, -real_size, "Could not get image size");
        return real_size;
    }
    if (offset > (uint64_t)real_size) {
        error_setg(errp, "Offset (%" PRIu64 ") cannot be greater than size "
                   "of the containing file (%" PRId64 ")", offset, real_size);
        return -EINVAL;
    }
    if (s->has_size && (uint64_t)real_size - offset < size) {
        error_setg(errp, "The sum of offset (%" PRIu64 ") and size "
                   "(%" PRIu64 ") has to be smaller or equal to the  actual "
                   "size of the containing file (%" PRId64 ")",
                   offset, size, real_size);
        return -EINVAL;
    }
    if (s->has_size && !QEMU_IS_ALIGNED(size, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "Specified size is not multiple of %llu",
                   BDRV_SECTOR_SIZE);
        return -EINVAL;
    }
    s->offset = offset;
    s->size = s->has_size ? size : real_size - offset;
    return 0;
}

void raw_probe_warning(BlockDriverState *bs)
{
    if (bs->probed && !bdrv_is_read_only(bs)) {
        fprintf(stderr,
                "WARNING: Image format was not specified for '%s' and "
                "probing guessed raw.\n"
                "         Automatically detecting the format is dangerous for "
                "raw images, write operations on block 0 will be restricted.\n"
                "         Specify the 'raw' format explicitly to remove the "
                "restrictions.\n",
                bs->file->bs->filename);
    }
}

static int raw_open(BlockDriverState *bs, json_t *options, int flags,
                    Error **errp)
{
    BDRVRawState *s = bs->opaque;
    bool window = qdict_haskey(options, "offset") ||
                  qdict_haskey(options, "size");
    BdrvChildRole role = window ? BDRV_CHILD_DATA | BDRV_CHILD_PRIMARY
                                : BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY;

    if (!bdrv_open_child(NULL, options, "file", bs, &child_of_bds, role,
                         false, errp)) {
        return -EINVAL;
    }
    bs->sg = bs->file->bs->sg;
    bs->supported_write_flags = BDRV_REQ_WRITE_UNCHANGED |
        (BDRV_REQ_FUA & bs->file->bs->supported_write_flags);
    bs->supported_zero_flags = BDRV_REQ_WRITE_UNCHANGED |
        ((BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) &
         bs->file->bs->supported_zero_flags);
    bs->supported_truncate_flags = bs->file->bs->supported_truncate_flags &
                                   BDRV_REQ_ZERO_WRITE;

    raw_probe_warning(bs);
    return raw_apply_options(bs, s, options, errp);
}

static int raw_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    /* Anything is raw, but everything else is a better guess. */
    return 1;
}

static int raw_adjust_offset(BlockDriverState *bs, int64_t *offset,
                             int64_t bytes, bool is_write)
{
    BDRVRawState *s = bs->opaque;

    if (s->has_size && (*offset > (int64_t)s->size ||
                        bytes > (int64_t)s->size - *offset)) {
        /* A write past the window could corrupt what follows it. */
        return is_write ? -ENOSPC : -EINVAL;
    }
    *offset += s->offset;
    return 0;
}

static int coroutine_fn raw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset,
                                      BdrvRequestFlags flags)
{
    int ret = raw_adjust_offset(bs, &offset, bytes, false);

    if (ret) {
        return ret;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_READ_AIO);
    return bdrv_co_preadv_part(bs->file, offset, bytes, qiov, qiov_offset,
                               flags);
}

/* Would this first sector make the image probe as something else? */
static bool first_sector_changes_format(BlockDriverState *bs,
                                        QEMUIOVector *qiov,
                                        size_t qiov_offset)
{
    uint8_t buf[BLOCK_PROBE_BUF_SIZE];
    BlockDriver *best;

    qemu_iovec_to_buf(qiov, qiov_offset, buf, sizeof(buf));
    best = bdrv_probe_all(buf, sizeof(buf), NULL);
    return best != bs->drv;
}

static int coroutine_fn raw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       size_t qiov_offset,
                                       BdrvRequestFlags flags)
{
    int ret;

    if (bs->probed && offset < BLOCK_PROBE_BUF_SIZE && bytes) {
        /* Request alignment is 512 for probed images (refresh_limits). */
        assert(offset == 0 && bytes >= BLOCK_PROBE_BUF_SIZE);
        if (first_sector_changes_format(bs, qiov, qiov_offset)) {
            return -EPERM;
        }
    }
    ret = raw_adjust_offset(bs, &offset, bytes, true);
    if (ret) {
        return ret;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
    return bdrv_co_pwritev_part(bs->file, offset, bytes, qiov, qiov_offset,
                                flags);
}

static int coroutine_fn raw_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    int ret = raw_adjust_offset(bs, &offset, bytes, true);

    if (ret) {
        return ret;
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn raw_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    int ret = raw_adjust_offset(bs, &offset, bytes, true);

    if (ret) {
        return ret;
    }
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn raw_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;

    *pnum = bytes;
    *file = bs->file->bs;
    *map = offset + s->offset;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    int64_t len;

    if (s->has_size) {
        return s->size;
    }
    len = bdrv_getlength(bs->file->bs);
    if (len < 0) {
        return len;
    }
    return len < (int64_t)s->offset ? 0 : len - (int64_t)s->offset;
}

static int coroutine_fn raw_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;

    if (s->has_size) {
        error_setg(errp, "Cannot resize fixed-size raw disks");
        return -ENOTSUP;
    }
    if (INT64_MAX - offset < (int64_t)s->offset) {
        error_setg(errp, "Disk size too large for the chosen offset");
        return -EINVAL;
    }
    s->size = offset;
    return bdrv_co_truncate(bs->file, offset + s->offset, exact, prealloc,
                            flags, errp);
}

static int raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return bdrv_get_info(bs->file->bs, bdi);
}

static void raw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    if (bs->probed) {
        /* Sector 0 is checked as a whole on every write to it. */
        bs->bl.request_alignment = MAX(bs->bl.request_alignment,
                                       BLOCK_PROBE_BUF_SIZE);
    }
}

static void raw_child_perm(BlockDriverState *bs, BdrvChild *c,
                           BdrvChildRole role, uint64_t perm, uint64_t shared,
                           uint64_t *nperm, uint64_t *nshared)
{
    bdrv_default_perms(bs, c, role, perm, shared, nperm, nshared);
    /* Only ask for write and resize if a parent needs them. */
    *nperm &= ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
    *nperm |= perm & (BLK_PERM_WRITE | BLK_PERM_RESIZE);
}

/*
 * The file child is reopened by itself; with options, the window (offset,
 * size) is set anew: what is left out goes back to the whole file.
 */
static int raw_reopen_prepare(BlockDriverState *bs, json_t *options,
                              int flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    g_autofree BDRVRawState *next = NULL;
    int ret;

    if (!options) {
        return 0;
    }
    next = g_new0(BDRVRawState, 1);
    ret = raw_apply_options(bs, next, options, errp);
    if (ret < 0) {
        return ret;
    }
    g_free(s->reopen);
    s->reopen = g_steal_pointer(&next);
    return 0;
}

static void raw_reopen_commit(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    g_autofree BDRVRawState *next = g_steal_pointer(&s->reopen);

    if (next) {
        s->offset = next->offset;
        s->size = next->size;
        s->has_size = next->has_size;
        if (bs->options) {
            json_object_del(bs->options, "offset");
            json_object_del(bs->options, "size");
            if (s->offset) {
                json_object_set_new(bs->options, "offset",
                                    json_integer(s->offset));
            }
            if (s->has_size) {
                json_object_set_new(bs->options, "size",
                                    json_integer(s->size));
            }
        }
        bs->total_bytes = s->size;
    }
}

static void raw_reopen_abort(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    g_clear_pointer(&s->reopen, g_free);
}

static BlockMeasureInfo *raw_measure(QemuOpts *opts, BlockDriverState *in_bs,
                                     Error **errp)
{
    BlockMeasureInfo *info;
    int64_t required;

    if (in_bs) {
        required = bdrv_getlength(in_bs);
        if (required < 0) {
            error_setg_errno(errp, -required, "Unable to get image size");
            return NULL;
        }
    } else {
        required = ROUND_UP(qemu_opt_get_size_del(opts, "size", 0),
                            BDRV_SECTOR_SIZE);
    }
    info = g_new0(BlockMeasureInfo, 1);
    info->required = required;
    /* Every byte of a raw image is stored. */
    info->fully_allocated = required;
    return info;
}

static int coroutine_fn raw_co_create_opts(BlockDriver *drv,
                                           const char *filename,
                                           QemuOpts *opts, Error **errp)
{
    return bdrv_create_file(filename, opts, errp);
}

static QemuOptsList raw_create_opts = {
    .name = "raw-create-opts",
    .desc = {
        {
            .name = "size",
            .type = QEMU_OPT_SIZE,
            .help = "Virtual disk size"
        },
        { /* end of list */ }
    },
};

static const char *const raw_strong_runtime_opts[] = {
    "offset",
    "size",
    NULL
};

BlockDriver bdrv_raw = {
    .format_name = "raw",
    .instance_size = sizeof(BDRVRawState),
    .is_format = true,
    .has_variable_length = true,
    .bdrv_probe = raw_probe,
    .bdrv_open = raw_open,
    .bdrv_child_perm = raw_child_perm,
    .bdrv_co_create_opts = raw_co_create_opts,
    .create_opts = &raw_create_opts,
    .strong_runtime_opts = raw_strong_runtime_opts,
    .bdrv_co_preadv_part = raw_co_preadv,
    .bdrv_co_pwritev_part = raw_co_pwritev,
    .bdrv_co_pwrite_zeroes = raw_co_pwrite_zeroes,
    .bdrv_co_pdiscard = raw_co_pdiscard,
    .bdrv_co_block_status = raw_co_block_status,
    .bdrv_co_truncate = raw_co_truncate,
    .bdrv_getlength = raw_getlength,
    .bdrv_get_info = raw_get_info,
    .bdrv_refresh_limits = raw_refresh_limits,
    .bdrv_measure = raw_measure,
    .bdrv_reopen_prepare = raw_reopen_prepare,
    .bdrv_reopen_commit = raw_reopen_commit,
    .bdrv_reopen_abort = raw_reopen_abort,
};

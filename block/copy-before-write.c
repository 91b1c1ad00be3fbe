/*
 * copy-before-write: a filter that, before letting a write (zero write,
 * discard) through to its child, copies the old contents of the clusters
 * it touches to a target, so the target keeps the child as it was when
 * the filter was inserted (backup's point in time, image fleecing).
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/copy-before-write.h"
#include "block/dirty-bitmap.h"
#include "util/qdict.h"

typedef struct BDRVCopyBeforeWriteState {
    BlockCopyState *bcs;
    BdrvChild *target;
    OnCbwError on_cbw_error;
    uint64_t cbw_timeout_ns;
    /*
     * Clusters whose old data reached the target (done), and clusters a
     * reader of the snapshot may still use (access); both kept as QEMU
     * keeps them, so queries show the same bitmaps.
     */
    BdrvDirtyBitmap *done_bitmap;
    BdrvDirtyBitmap *access_bitmap;
    /* With break-snapshot: the first copy failure; the target is stale. */
    int snapshot_error;
} BDRVCopyBeforeWriteState;

static void cbw_block_copy_done(void *opaque)
{
    bdrv_dec_in_flight(opaque);
}

/*
 * Copy the old data of every cluster [offset, offset + bytes) touches,
 * unless the write does not change data.  A failure fails the guest
 * write, or (break-snapshot) only the snapshot.
 */
static int coroutine_fn cbw_do_copy_before_write(BlockDriverState *bs,
                                                 int64_t offset,
                                                 int64_t bytes,
                                                 BdrvRequestFlags flags)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;
    int64_t cluster_size = block_copy_cluster_size(s->bcs);
    int64_t start, end;
    int ret;

    if ((flags & BDRV_REQ_WRITE_UNCHANGED) || s->snapshot_error) {
        return 0;
    }
    start = QEMU_ALIGN_DOWN(offset, cluster_size);
    end = QEMU_ALIGN_UP(offset + bytes, cluster_size);

    /*
     * A copy that timed out goes on in the background; the node counts it
     * as in flight until it ends, so closing waits for it.
     */
    bdrv_inc_in_flight(bs);
    ret = block_copy(s->bcs, start, end - start, true, s->cbw_timeout_ns,
                     cbw_block_copy_done, bs);
    if (ret < 0) {
        if (s->on_cbw_error == ON_CBW_ERROR_BREAK_GUEST_WRITE) {
            return ret;
        }
        if (!s->snapshot_error) {
            s->snapshot_error = ret;
        }
        return 0;
    }
    bdrv_set_dirty_bitmap(s->done_bitmap, start, end - start);
    return 0;
}

static int coroutine_fn cbw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset,
                                      BdrvRequestFlags flags)
{
    return bdrv_co_preadv_part(bs->file, offset, bytes, qiov, qiov_offset,
                               flags);
}

static int coroutine_fn cbw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       size_t qiov_offset,
                                       BdrvRequestFlags flags)
{
    int ret = cbw_do_copy_before_write(bs, offset, bytes, flags);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwritev_part(bs->file, offset, bytes, qiov, qiov_offset,
                                flags);
}

static int coroutine_fn cbw_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    int ret = cbw_do_copy_before_write(bs, offset, bytes, flags);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn cbw_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    int ret = cbw_do_copy_before_write(bs, offset, bytes, 0);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn cbw_co_flush(BlockDriverState *bs)
{
    return bs->file ? bdrv_co_flush(bs->file->bs) : 0;
}

static int coroutine_fn cbw_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    /* The child answers. */
    *pnum = bytes;
    *map = offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t cbw_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

static void cbw_refresh_filename(BlockDriverState *bs)
{
    bdrv_set_str(&bs->exact_filename, bs->file->bs->filename);
}

static void cbw_child_perm(BlockDriverState *bs, BdrvChild *c,
                           BdrvChildRole role, uint64_t perm,
                           uint64_t shared, uint64_t *nperm,
                           uint64_t *nshared)
{
    if (!(role & BDRV_CHILD_FILTERED)) {
        /*
         * The target: we write it; others may write too (it may be in the
         * guest disk's backing chain), but its size must stay what it was
         * checked to be.
         */
        *nperm = BLK_PERM_WRITE;
        *nshared = BLK_PERM_ALL & ~BLK_PERM_RESIZE;
        return;
    }
    bdrv_default_perms(bs, c, role, perm, shared, nperm, nshared);
    if (!QLIST_EMPTY(&bs->parents)) {
        /* Old data is read before each write goes through. */
        if (perm & BLK_PERM_WRITE) {
            *nperm |= BLK_PERM_CONSISTENT_READ;
        }
        /* A write that bypassed us would never be copied. */
        *nshared &= ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
    }
}

/* The "bitmap" option: a bitmap of any node, by node and name. */
static BdrvDirtyBitmap *cbw_lookup_bitmap(json_t *options, Error **errp)
{
    const char *node = qdict_get_try_str(options, "bitmap.node");
    const char *name = qdict_get_try_str(options, "bitmap.name");
    BlockDriverState *bs;
    BdrvDirtyBitmap *bitmap;

    if (!node) {
        error_setg(errp, "Node cannot be NULL");
        return NULL;
    }
    if (!name) {
        error_setg(errp, "Bitmap name cannot be NULL");
        return NULL;
    }
    bs = bdrv_lookup_bs(node, node, NULL);
    if (!bs) {
        error_setg(errp, "Node '%s' not found", node);
        return NULL;
    }
    bitmap = bdrv_find_dirty_bitmap(bs, name);
    if (!bitmap) {
        error_setg(errp, "Dirty bitmap '%s' not found", name);
        return NULL;
    }
    return bitmap;
}

static int cbw_open(BlockDriverState *bs, json_t *options, int flags,
                    Error **errp)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;
    BdrvDirtyBitmap *bitmap = NULL;
    const char *on_error;
    int64_t cluster_size;
    uint64_t timeout;
    Error *local_err = NULL;

    if (!bdrv_open_child(NULL, options, "file", bs, &child_of_bds,
                         BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY, false,
                         errp)) {
        return -EINVAL;
    }
    s->target = bdrv_open_child(NULL, options, "target", bs, &child_of_bds,
                                BDRV_CHILD_DATA, false, errp);
    if (!s->target) {
        return -EINVAL;
    }

    if (qdict_haskey(options, "bitmap.node") ||
        qdict_haskey(options, "bitmap.name")) {
        bitmap = cbw_lookup_bitmap(options, errp);
        if (!bitmap) {
            return -EINVAL;
        }
    }
    qdict_del(options, "bitmap.node");
    qdict_del(options, "bitmap.name");

    on_error = qdict_get_try_str(options, "on-cbw-error");
    if (!on_error) {
        s->on_cbw_error = ON_CBW_ERROR_BREAK_GUEST_WRITE;
    } else {
        int v = qapi_enum_parse(&OnCbwError_lookup, on_error, -1, NULL);

        if (v < 0) {
            error_setg(errp, "Parameter 'on-cbw-error' does not accept value "
                       "'%s'", on_error);
            return -EINVAL;
        }
        s->on_cbw_error = v;
    }
    qdict_del(options, "on-cbw-error");
    if (!qdict_get_uint_opt(options, "cbw-timeout", 0, &timeout, errp)) {
        return -EINVAL;
    }
    qdict_del(options, "cbw-timeout");
    s->cbw_timeout_ns = timeout * NANOSECONDS_PER_SECOND;

    /* The length is needed now, for the bitmaps below. */
    bs->total_bytes = bs->file->bs->total_bytes;
    bs->supported_write_flags = BDRV_REQ_WRITE_UNCHANGED |
        (BDRV_REQ_FUA & bs->file->bs->supported_write_flags);
    bs->supported_zero_flags = BDRV_REQ_WRITE_UNCHANGED |
        ((BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) &
         bs->file->bs->supported_zero_flags);

    s->bcs = block_copy_state_new(bs->file, s->target, bitmap, &local_err);
    if (!s->bcs) {
        error_propagate_prepend(errp, local_err,
                                "Cannot create block-copy-state: ");
        return -EINVAL;
    }
    cluster_size = block_copy_cluster_size(s->bcs);

    s->done_bitmap = bdrv_create_dirty_bitmap(bs, cluster_size, NULL, errp);
    if (!s->done_bitmap) {
        return -EINVAL;
    }
    bdrv_disable_dirty_bitmap(s->done_bitmap);
    /* Readable for a snapshot reader: what the copy will preserve. */
    s->access_bitmap = bdrv_create_dirty_bitmap(bs, cluster_size, NULL, errp);
    if (!s->access_bitmap) {
        return -EINVAL;
    }
    bdrv_disable_dirty_bitmap(s->access_bitmap);
    bdrv_dirty_bitmap_merge_internal(s->access_bitmap,
                                     block_copy_dirty_bitmap(s->bcs), NULL);
    return 0;
}

static void cbw_close(BlockDriverState *bs)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;

    if (s->access_bitmap) {
        bdrv_release_dirty_bitmap(s->access_bitmap);
    }
    if (s->done_bitmap) {
        bdrv_release_dirty_bitmap(s->done_bitmap);
    }
    block_copy_state_free(s->bcs);
    s->bcs = NULL;
}

BlockDriver bdrv_cbw_filter = {
    .format_name = "copy-before-write",
    .instance_size = sizeof(BDRVCopyBeforeWriteState),
    .is_filter = true,

    .bdrv_open = cbw_open,
    .bdrv_close = cbw_close,

    .bdrv_co_preadv_part = cbw_co_preadv,
    .bdrv_co_pwritev_part = cbw_co_pwritev,
    .bdrv_co_pwrite_zeroes = cbw_co_pwrite_zeroes,
    .bdrv_co_pdiscard = cbw_co_pdiscard,
    .bdrv_co_flush = cbw_co_flush,
    .bdrv_co_block_status = cbw_co_block_status,

    .bdrv_getlength = cbw_getlength,
    .bdrv_refresh_filename = cbw_refresh_filename,
    .bdrv_child_perm = cbw_child_perm,
};

/* ---- inserting and dropping (backup) ---- */

BlockDriverState *bdrv_cbw_append(BlockDriverState *source,
                                  BlockDriverState *target,
                                  const char *filter_node_name,
                                  BlockCopyState **bcs, Error **errp)
{
    json_t *opts = json_object();
    BlockDriverState *top;
    Error *local_err = NULL;
    int ret;

    qdict_put_str(opts, "driver", "copy-before-write");
    if (filter_node_name) {
        qdict_put_str(opts, "node-name", filter_node_name);
    }
    qdict_put_str(opts, "file", bdrv_get_node_name(source));
    qdict_put_str(opts, "target", bdrv_get_node_name(target));

    top = bdrv_open(NULL, NULL, opts, BDRV_O_RDWR, &local_err);
    if (!top) {
        error_propagate_prepend(errp, local_err, "Could not create node: ");
        return NULL;
    }
    bdrv_drained_begin(source);
    ret = bdrv_replace_node(source, top, &local_err);
    bdrv_drained_end(source);
    if (ret < 0) {
        error_propagate_prepend(errp, local_err, "Could not replace node: ");
        bdrv_unref(top);
        return NULL;
    }
    *bcs = ((BDRVCopyBeforeWriteState *)top->opaque)->bcs;
    return top;
}

void bdrv_cbw_drop(BlockDriverState *bs)
{
    BlockDriverState *child = bs->file->bs;

    /* The filter's users go back to the node it filtered. */
    bdrv_ref(child);
    bdrv_drained_begin(child);
    bdrv_replace_node(bs, child, &error_abort);
    bdrv_drained_end(child);
    bdrv_unref(child);
    bdrv_unref(bs);
}

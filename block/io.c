/*
 * The request path: checks, alignment padding, serialising of overlapping
 * writes, fragmentation to driver limits, zero writes, discard, flush,
 * block status through chains, truncate, and synchronous wrappers.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "util/buffer-zero.h"

/* Largest bounce buffer used to emulate zero writes. */
#define MAX_ZERO_BOUNCE (16 * MiB)

static int64_t min_non_zero(int64_t a, int64_t b)
{
    if (a == 0) {
        return b;
    }
    if (b == 0) {
        return a;
    }
    return MIN(a, b);
}

/* ---- in-flight accounting ---- */

void bdrv_inc_in_flight(BlockDriverState *bs)
{
    bs->in_flight++;
}

void bdrv_wakeup(BlockDriverState *bs)
{
    aio_notify(qemu_get_aio_context());
}

void bdrv_dec_in_flight(BlockDriverState *bs)
{
    assert(bs->in_flight > 0);
    bs->in_flight--;
    bdrv_wakeup(bs);
}

static bool bdrv_subtree_busy(BlockDriverState *bs)
{
    BdrvChild *c;

    if (bs->in_flight) {
        return true;
    }
    QLIST_FOREACH(c, &bs->parents, next_parent) {
        if (c->klass->drained_poll && c->klass->drained_poll(c)) {
            return true;
        }
    }
    QLIST_FOREACH(c, &bs->children, next) {
        if (bdrv_subtree_busy(c->bs)) {
            return true;
        }
    }
    return false;
}

static void bdrv_parents_drained(BlockDriverState *bs, bool begin)
{
    BdrvChild *c, *next;

    QLIST_FOREACH_SAFE(c, &bs->parents, next_parent, next) {
        if (begin && c->klass->drained_begin) {
            c->klass->drained_begin(c);
        } else if (!begin && c->klass->drained_end) {
            c->klass->drained_end(c);
        }
    }
}

void bdrv_drained_begin(BlockDriverState *bs)
{
    if (bs->quiesce_counter++ == 0) {
        bdrv_parents_drained(bs, true);
        if (bs->drv && bs->drv->bdrv_drain_begin) {
            bs->drv->bdrv_drain_begin(bs);
        }
    }
    if (!qemu_in_coroutine()) {
        AIO_WAIT_WHILE(qemu_get_aio_context(), bdrv_subtree_busy(bs));
    }
}

void bdrv_drained_end(BlockDriverState *bs)
{
    assert(bs->quiesce_counter > 0);
    if (--bs->quiesce_counter == 0) {
        if (bs->drv && bs->drv->bdrv_drain_end) {
            bs->drv->bdrv_drain_end(bs);
        }
        bdrv_parents_drained(bs, false);
    }
}

void bdrv_drain_all(void)
{
    g_autoptr(GPtrArray) nodes = g_ptr_array_new();
    BlockDriverState *bs = NULL;

    /*
     * Every node is drained before any is released, so a job attached to
     * several nodes pauses once, not once per node.  The references keep
     * nodes alive that a completing job drops meanwhile.
     */
    while ((bs = bdrv_next_all_states(bs))) {
        bdrv_ref(bs);
        g_ptr_array_add(nodes, bs);
    }
    for (guint i = 0; i < nodes->len; i++) {
        bdrv_drained_begin(nodes->pdata[i]);
    }
    for (guint i = 0; i < nodes->len; i++) {
        bdrv_drained_end(nodes->pdata[i]);
    }
    for (guint i = 0; i < nodes->len; i++) {
        bdrv_unref(nodes->pdata[i]);
    }
}

void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    if (bs && bs->drv && bs->drv->bdrv_debug_event) {
        bs->drv->bdrv_debug_event(bs, event);
    }
}

/* ---- request checks ---- */

static int bdrv_check_request(int64_t offset, int64_t bytes)
{
    if (offset < 0 || bytes < 0) {
        return -EIO;
    }
    if (bytes > BDRV_MAX_LENGTH || offset > BDRV_MAX_LENGTH - bytes) {
        return -EIO;
    }
    return 0;
}

/* ---- tracked requests ---- */

static void tracked_request_begin(BdrvTrackedRequest *req,
                                  BlockDriverState *bs, int64_t offset,
                                  int64_t bytes, int type)
{
    *req = (BdrvTrackedRequest) {
        .bs = bs,
        .offset = offset,
        .bytes = bytes,
        .type = type,
        .co = qemu_coroutine_self(),
        .overlap_offset = offset,
        .overlap_bytes = bytes,
    };
    qemu_co_queue_init(&req->wait_queue);
    QLIST_INSERT_HEAD(&bs->tracked_requests, req, list);
}

static void tracked_request_end(BdrvTrackedRequest *req)
{
    if (req->serialising) {
        req->bs->serialising_in_flight--;
    }
    QLIST_REMOVE(req, list);
    qemu_co_queue_restart_all(&req->wait_queue);
}

static bool tracked_request_overlaps(BdrvTrackedRequest *req,
                                     int64_t offset, int64_t bytes)
{
    return offset < req->overlap_offset + req->overlap_bytes &&
           req->overlap_offset < offset + bytes;
}

static void coroutine_fn wait_serialising_requests(BdrvTrackedRequest *self)
{
    BlockDriverState *bs = self->bs;
    bool retry;

    if (!bs->serialising_in_flight) {
        return;
    }
    do {
        BdrvTrackedRequest *req;

        retry = false;
        QLIST_FOREACH(req, &bs->tracked_requests, list) {
            if (req == self || (!req->serialising && !self->serialising)) {
                continue;
            }
            if (!tracked_request_overlaps(req, self->overlap_offset,
                                          self->overlap_bytes)) {
                continue;
            }
            /*
             * A request already waiting for us would deadlock if we waited
             * for it; it will proceed after us.
             */
            if (req->waiting_for == self) {
                continue;
            }
            self->waiting_for = req;
            qemu_co_queue_wait(&req->wait_queue, NULL);
            self->waiting_for = NULL;
            retry = true;
            break;
        }
    } while (retry);
}

static void coroutine_fn make_request_serialising(BdrvTrackedRequest *req,
                                                  uint64_t align)
{
    int64_t start = QEMU_ALIGN_DOWN(req->offset, align);
    int64_t end = QEMU_ALIGN_UP(req->offset + req->bytes, align);

    if (!req->serialising) {
        req->serialising = true;
        req->bs->serialising_in_flight++;
    }
    req->overlap_offset = MIN(req->overlap_offset, start);
    req->overlap_bytes = MAX(req->overlap_offset + req->overlap_bytes, end) -
                         req->overlap_offset;
    wait_serialising_requests(req);
}

/* ---- driver calls ---- */

static int coroutine_fn driver_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset, int flags)
{
    BlockDriver *drv = bs->drv;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if (!drv->bdrv_co_preadv_part) {
        return -ENOTSUP;
    }
    return drv->bdrv_co_preadv_part(bs, offset, bytes, qiov, qiov_offset,
                                    flags & BDRV_REQ_PREFETCH);
}

static int coroutine_fn driver_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       size_t qiov_offset, int flags)
{
    BlockDriver *drv = bs->drv;
    int ret;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if (!drv->bdrv_co_pwritev_part) {
        return -ENOTSUP;
    }
    ret = drv->bdrv_co_pwritev_part(bs, offset, bytes, qiov, qiov_offset,
                                    flags & bs->supported_write_flags);
    /* Emulate FUA with a flush where the driver cannot do it. */
    if (ret == 0 && (flags & BDRV_REQ_FUA) &&
        !(bs->supported_write_flags & BDRV_REQ_FUA)) {
        ret = bdrv_co_flush(bs);
    }
    return ret;
}

/* ---- alignment padding ---- */

typedef struct RequestPadding {
    uint8_t *buf;
    size_t buf_len;
    uint8_t *tail_buf;
    size_t head;
    size_t tail;
    bool merge_reads;
    QEMUIOVector local_qiov;
} RequestPadding;

/*
 * Widen [*offset, *offset + *bytes) to @align and build a vector that
 * puts the caller's buffer between head and tail padding buffers.
 */
static bool request_pad(BlockDriverState *bs, QEMUIOVector **qiov,
                        size_t *qiov_offset, int64_t *offset, int64_t *bytes,
                        uint32_t align, RequestPadding *pad)
{
    memset(pad, 0, sizeof(*pad));
    pad->head = *offset & (align - 1);
    pad->tail = ((*offset + *bytes) & (align - 1));
    if (pad->tail) {
        pad->tail = align - pad->tail;
    }
    if (!pad->head && !pad->tail) {
        return false;
    }
    pad->buf_len = (pad->head && pad->tail) &&
                   (*bytes + pad->head + pad->tail > align) ? 2 * align : align;
    pad->buf = qemu_blockalign(bs, pad->buf_len);
    pad->merge_reads = pad->buf_len == align;
    pad->tail_buf = pad->buf + pad->buf_len - align;

    qemu_iovec_init(&pad->local_qiov, (*qiov ? (*qiov)->niov : 0) + 2);
    if (pad->head) {
        qemu_iovec_add(&pad->local_qiov, pad->buf, pad->head);
    }
    if (*qiov) {
        qemu_iovec_concat(&pad->local_qiov, *qiov, *qiov_offset, *bytes);
    }
    if (pad->tail) {
        qemu_iovec_add(&pad->local_qiov, pad->tail_buf + align - pad->tail,
                       pad->tail);
    }
    *offset -= pad->head;
    *bytes += pad->head + pad->tail;
    *qiov = &pad->local_qiov;
    *qiov_offset = 0;
    return true;
}

static void request_pad_destroy(RequestPadding *pad)
{
    if (pad->buf) {
        qemu_vfree(pad->buf);
        qemu_iovec_destroy(&pad->local_qiov);
    }
}

/* ---- reads ---- */

/* Largest piece copy-on-read copies at once. */
#define COR_MAX_CHUNK (1 * MiB)

/*
 * Copy-on-read: data this layer does not have yet is read (from below)
 * and written into this layer, whole clusters at a time, as it is read.
 */
static int coroutine_fn copy_on_readv(BdrvChild *child,
                                      BdrvTrackedRequest *req,
                                      int64_t offset, int64_t bytes,
                                      QEMUIOVector *qiov, size_t qiov_offset,
                                      int flags)
{
    BlockDriverState *bs = child->bs;
    BlockDriverInfo bdi;
    int64_t cluster_size, start, end, pos;
    g_autofree uint8_t *bounce = NULL;
    int ret;

    if (bdrv_get_info(bs, &bdi) < 0 || bdi.cluster_size <= 0) {
        cluster_size = 64 * KiB;
    } else {
        cluster_size = bdi.cluster_size;
    }
    start = QEMU_ALIGN_DOWN(offset, cluster_size);
    end = MIN(ROUND_UP(offset + bytes, cluster_size), bdrv_getlength(bs));
    make_request_serialising(req, cluster_size);

    for (pos = start; pos < end;) {
        int64_t pnum;
        int64_t chunk = MIN(end - pos, COR_MAX_CHUNK);
        int64_t skip_head = MAX(0, offset - pos);
        int64_t copy_end;

        ret = bdrv_co_is_allocated(bs, pos, chunk, &pnum);
        if (ret < 0) {
            return ret;
        }
        chunk = pnum;
        copy_end = MIN(pos + chunk, offset + bytes);
        if (ret) {
            /* Already here: read it directly. */
            if (copy_end > pos + skip_head) {
                ret = driver_preadv(bs, pos + skip_head,
                                    copy_end - pos - skip_head, qiov,
                                    qiov_offset + pos + skip_head - offset,
                                    flags & ~BDRV_REQ_COPY_ON_READ);
                if (ret < 0) {
                    return ret;
                }
            }
        } else {
            QEMUIOVector local;

            if (!bounce) {
                bounce = qemu_try_blockalign(bs, COR_MAX_CHUNK);
                if (!bounce) {
                    return -ENOMEM;
                }
            }
            qemu_iovec_init_buf(&local, bounce, chunk);
            ret = driver_preadv(bs, pos, chunk, &local, 0, 0);
            if (ret < 0) {
                return ret;
            }
            if (buffer_is_zero(bounce, chunk) &&
                bs->drv->bdrv_co_pwrite_zeroes) {
                ret = bs->drv->bdrv_co_pwrite_zeroes(bs, pos, chunk,
                                                     BDRV_REQ_WRITE_UNCHANGED);
                if (ret == -ENOTSUP) {
                    ret = driver_pwritev(bs, pos, chunk, &local, 0,
                                         BDRV_REQ_WRITE_UNCHANGED);
                }
            } else {
                ret = driver_pwritev(bs, pos, chunk, &local, 0,
                                     BDRV_REQ_WRITE_UNCHANGED);
            }
            if (ret < 0) {
                return ret;
            }
            if (copy_end > pos + skip_head) {
                qemu_iovec_from_buf(qiov,
                                    qiov_offset + pos + skip_head - offset,
                                    bounce + skip_head,
                                    copy_end - pos - skip_head);
            }
        }
        pos += chunk;
    }
    return 0;
}

static int coroutine_fn aligned_preadv(BdrvChild *child,
                                       BdrvTrackedRequest *req,
                                       int64_t offset, int64_t bytes,
                                       int64_t align, QEMUIOVector *qiov,
                                       size_t qiov_offset, int flags)
{
    BlockDriverState *bs = child->bs;
    int64_t total_bytes, max_bytes, max_transfer, remaining;
    int ret = 0;

    if (flags & BDRV_REQ_SERIALISING) {
        make_request_serialising(req, bdrv_get_request_alignment(bs));
    } else {
        wait_serialising_requests(req);
    }

    total_bytes = bdrv_getlength(bs);
    if (total_bytes < 0) {
        return total_bytes;
    }
    if ((flags & BDRV_REQ_COPY_ON_READ) && offset < total_bytes) {
        int64_t pnum;
        int ret2 = bdrv_co_is_allocated(bs, offset,
                                        MIN(bytes, total_bytes - offset),
                                        &pnum);

        if (ret2 < 0) {
            return ret2;
        }
        if (!ret2 || pnum < MIN(bytes, total_bytes - offset)) {
            ret = copy_on_readv(child, req, offset,
                                MIN(bytes, total_bytes - offset), qiov,
                                qiov_offset, flags);
            if (ret == 0 && bytes > total_bytes - offset) {
                qemu_iovec_memset(qiov, qiov_offset + total_bytes - offset,
                                  0, bytes - (total_bytes - offset));
            }
            return ret;
        }
        flags &= ~BDRV_REQ_COPY_ON_READ;
    }
    max_transfer = QEMU_ALIGN_DOWN(min_non_zero(bs->bl.max_transfer, INT_MAX),
                                   align);
    max_bytes = ROUND_UP(MAX(0, total_bytes - offset), align);
    if (bytes <= max_bytes && bytes <= max_transfer) {
        return driver_preadv(bs, offset, bytes, qiov, qiov_offset, flags);
    }

    remaining = bytes;
    while (remaining) {
        int64_t num;

        if (max_bytes) {
            num = MIN(remaining, MIN(max_bytes, max_transfer));
            ret = driver_preadv(bs, offset + bytes - remaining, num, qiov,
                                qiov_offset + bytes - remaining, flags);
            max_bytes -= num;
        } else {
            /* Past the end of the node: reads as zeroes. */
            num = remaining;
            qemu_iovec_memset(qiov, qiov_offset + bytes - remaining, 0,
                              remaining);
        }
        if (ret < 0) {
            return ret;
        }
        remaining -= num;
    }
    return 0;
}

int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset,
                                     BdrvRequestFlags flags)
{
    BlockDriverState *bs = child ? child->bs : NULL;
    BdrvTrackedRequest req;
    RequestPadding pad;
    uint32_t align;
    int ret;

    if (!bs || !bs->drv) {
        return -ENOMEDIUM;
    }
    ret = bdrv_check_request(offset, bytes);
    if (ret < 0) {
        return ret;
    }
    align = bdrv_get_request_alignment(bs);
    if (bytes == 0 && !QEMU_IS_ALIGNED(offset, align)) {
        return 0;
    }
    if (bs->open_flags & BDRV_O_COPY_ON_READ) {
        flags |= BDRV_REQ_COPY_ON_READ;
    }
    bdrv_inc_in_flight(bs);
    request_pad(bs, &qiov, &qiov_offset, &offset, &bytes, align, &pad);
    tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_READ);
    ret = aligned_preadv(child, &req, offset, bytes, align, qiov,
                         qiov_offset, flags);
    tracked_request_end(&req);
    request_pad_destroy(&pad);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags)
{
    return bdrv_co_preadv_part(child, offset, bytes, qiov, 0, flags);
}

int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset,
                               int64_t bytes, void *buf,
                               BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, bytes);
    return bdrv_co_preadv(child, offset, bytes, &qiov, flags);
}

/* ---- writes ---- */

static int coroutine_fn do_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes,
                                         BdrvRequestFlags flags)
{
    BlockDriver *drv = bs->drv;
    uint32_t align = MAX(bs->bl.pwrite_zeroes_alignment,
                         bs->bl.request_alignment);
    int64_t max_zeroes = QEMU_ALIGN_DOWN(
        min_non_zero(bs->bl.max_pwrite_zeroes, INT64_MAX), align);
    int64_t max_transfer = QEMU_ALIGN_DOWN(
        min_non_zero(bs->bl.max_transfer, MAX_ZERO_BOUNCE),
        bs->bl.request_alignment);
    int head = offset % align;
    int tail = (offset + bytes) % align;
    void *bounce = NULL;
    int ret = 0;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if ((flags & ~bs->supported_zero_flags) & BDRV_REQ_NO_FALLBACK) {
        return -ENOTSUP;
    }
    if (max_zeroes == 0) {
        max_zeroes = align;
    }

    while (bytes > 0 && !ret) {
        int64_t num = bytes;
        bool need_flush = false;

        /*
         * Split off an unaligned head and tail so that the middle can use
         * the driver's efficient path.
         */
        if (head) {
            num = MIN(bytes, align - head);
            head = (head + num) % align;
        } else if (tail && num > align) {
            num -= tail;
        }
        if (num > max_zeroes) {
            num = max_zeroes;
        }

        ret = -ENOTSUP;
        if (drv->bdrv_co_pwrite_zeroes) {
            ret = drv->bdrv_co_pwrite_zeroes(bs, offset, num,
                                             flags & bs->supported_zero_flags);
            if (ret != -ENOTSUP && (flags & BDRV_REQ_FUA) &&
                !(bs->supported_zero_flags & BDRV_REQ_FUA)) {
                need_flush = true;
            }
        }
        if (ret == -ENOTSUP && !(flags & BDRV_REQ_NO_FALLBACK)) {
            /* Fall back to writing a buffer of zeroes. */
            int64_t done = 0;

            if (!bounce) {
                size_t len = MIN(max_transfer, num);

                bounce = qemu_try_blockalign(bs, MIN(MAX_ZERO_BOUNCE,
                                                     MAX(len, (size_t)align)));
                if (!bounce) {
                    ret = -ENOMEM;
                    break;
                }
                memset(bounce, 0, MIN(MAX_ZERO_BOUNCE,
                                      MAX(len, (size_t)align)));
            }
            ret = 0;
            while (done < num && !ret) {
                int64_t chunk = MIN(num - done,
                                    MIN(max_transfer, MAX_ZERO_BOUNCE));
                QEMUIOVector qiov;

                qemu_iovec_init_buf(&qiov, bounce, chunk);
                ret = driver_pwritev(bs, offset + done, chunk, &qiov, 0,
                                     flags & ~BDRV_REQ_ZERO_WRITE &
                                     ~BDRV_REQ_MAY_UNMAP);
                done += chunk;
            }
            need_flush = false;
        }
        if (ret == 0 && need_flush) {
            ret = bdrv_co_flush(bs);
        }
        offset += num;
        bytes -= num;
    }
    qemu_vfree(bounce);
    return ret;
}

static void write_done(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int ret)
{
    bs->write_gen++;
    if (ret == 0) {
        if (offset + bytes > bs->total_bytes && !bs->drv->has_variable_length) {
            /* A protocol node grew by writing past its end. */
            bs->total_bytes = offset + bytes;
            bdrv_dirty_bitmap_truncate(bs, bdrv_getlength(bs));
        }
    }
    /* As QEMU: even a failed write may have changed part of the range. */
    bdrv_set_dirty(bs, offset, bytes);
}

static int coroutine_fn aligned_pwritev(BdrvChild *child,
                                        BdrvTrackedRequest *req,
                                        int64_t offset, int64_t bytes,
                                        int64_t align, QEMUIOVector *qiov,
                                        size_t qiov_offset, int flags)
{
    BlockDriverState *bs = child->bs;
    int64_t max_transfer = QEMU_ALIGN_DOWN(
        min_non_zero(bs->bl.max_transfer, INT_MAX), align);
    int ret;

    if (flags & BDRV_REQ_SERIALISING) {
        make_request_serialising(req, bdrv_get_request_alignment(bs));
    } else {
        wait_serialising_requests(req);
    }

    if (bs->detect_zeroes != BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF &&
        !(flags & BDRV_REQ_ZERO_WRITE) && qiov &&
        qemu_iovec_is_zero(qiov, qiov_offset, bytes)) {
        flags |= BDRV_REQ_ZERO_WRITE;
        if (bs->detect_zeroes == BLOCKDEV_DETECT_ZEROES_OPTIONS_UNMAP &&
            (bs->open_flags & BDRV_O_UNMAP)) {
            flags |= BDRV_REQ_MAY_UNMAP;
        }
    }

    bdrv_debug_event(bs, (flags & BDRV_REQ_ZERO_WRITE) ? BLKDBG_PWRITEV_ZERO
                                                       : BLKDBG_PWRITEV);
    if (flags & BDRV_REQ_ZERO_WRITE) {
        ret = do_pwrite_zeroes(bs, offset, bytes, flags);
    } else if (flags & BDRV_REQ_WRITE_COMPRESSED) {
        ret = bs->drv->bdrv_co_pwritev_compressed_part ?
              bs->drv->bdrv_co_pwritev_compressed_part(bs, offset, bytes,
                                                       qiov, qiov_offset) :
              -ENOTSUP;
    } else if (bytes <= max_transfer) {
        ret = driver_pwritev(bs, offset, bytes, qiov, qiov_offset, flags);
    } else {
        int64_t done = 0;

        ret = 0;
        while (done < bytes && !ret) {
            int64_t num = MIN(bytes - done, max_transfer);

            /* FUA only matters for the last fragment. */
            ret = driver_pwritev(bs, offset + done, num, qiov,
                                 qiov_offset + done,
                                 num + done < bytes ? flags & ~BDRV_REQ_FUA
                                                    : flags);
            done += num;
        }
    }
    bdrv_debug_event(bs, BLKDBG_PWRITEV_DONE);
    write_done(bs, offset, bytes, ret);
    return ret;
}

/*
 * Unaligned zero write: the padded head and tail blocks are written as data
 * (read, zeroed in the right place, written back), the middle as zeroes.
 */
static int coroutine_fn zero_pwritev_padded(BdrvChild *child,
                                            BdrvTrackedRequest *req,
                                            int64_t offset, int64_t bytes,
                                            uint32_t align,
                                            BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    uint8_t *buf = qemu_blockalign(bs, align);
    QEMUIOVector local;
    int64_t head = offset & (align - 1);
    int ret = 0;

    qemu_iovec_init_buf(&local, buf, align);
    if (head) {
        int64_t start = offset - head;
        int64_t n = MIN(bytes, align - head);

        ret = aligned_preadv(child, req, start, align, align, &local, 0, 0);
        if (ret < 0) {
            goto out;
        }
        memset(buf + head, 0, n);
        ret = aligned_pwritev(child, req, start, align, align, &local, 0,
                              flags & ~BDRV_REQ_ZERO_WRITE &
                              ~BDRV_REQ_MAY_UNMAP);
        if (ret < 0) {
            goto out;
        }
        offset += n;
        bytes -= n;
    }
    if (bytes >= align) {
        int64_t n = QEMU_ALIGN_DOWN(bytes, align);

        ret = aligned_pwritev(child, req, offset, n, align, NULL, 0, flags);
        if (ret < 0) {
            goto out;
        }
        offset += n;
        bytes -= n;
    }
    if (bytes) {
        ret = aligned_preadv(child, req, offset, align, align, &local, 0, 0);
        if (ret < 0) {
            goto out;
        }
        memset(buf, 0, bytes);
        ret = aligned_pwritev(child, req, offset, align, align, &local, 0,
                              flags & ~BDRV_REQ_ZERO_WRITE &
                              ~BDRV_REQ_MAY_UNMAP);
    }
out:
    qemu_vfree(buf);
    return ret;
}

static int check_write_allowed(BlockDriverState *bs)
{
    if (!bs || !bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    if (bs->open_flags & BDRV_O_INACTIVE) {
        return -EPERM;
    }
    return 0;
}

int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset,
                                      BdrvRequestFlags flags)
{
    BlockDriverState *bs = child ? child->bs : NULL;
    BdrvTrackedRequest req;
    RequestPadding pad;
    uint32_t align;
    int ret;

    ret = check_write_allowed(bs);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_check_request(offset, bytes);
    if (ret < 0) {
        return ret;
    }
    align = bdrv_get_request_alignment(bs);
    if (bytes == 0 && !QEMU_IS_ALIGNED(offset, align)) {
        return 0;
    }
    bdrv_inc_in_flight(bs);

    if (flags & BDRV_REQ_ZERO_WRITE) {
        tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_WRITE);
        if (!QEMU_IS_ALIGNED(offset | bytes, align)) {
            make_request_serialising(&req, align);
            ret = zero_pwritev_padded(child, &req, offset, bytes, align,
                                      flags);
        } else {
            ret = aligned_pwritev(child, &req, offset, bytes, align, NULL, 0,
                                  flags);
        }
        tracked_request_end(&req);
        bdrv_dec_in_flight(bs);
        return ret;
    }

    if (request_pad(bs, &qiov, &qiov_offset, &offset, &bytes, align, &pad)) {
        tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_WRITE);
        /* Read-modify-write: nobody may change the padded blocks meanwhile. */
        make_request_serialising(&req, align);
        if (pad.head || pad.merge_reads) {
            QEMUIOVector head_qiov;

            qemu_iovec_init_buf(&head_qiov, pad.buf, align);
            ret = aligned_preadv(child, &req, offset, align, align,
                                 &head_qiov, 0, 0);
        }
        if (ret == 0 && pad.tail && !pad.merge_reads) {
            QEMUIOVector tail_qiov;

            qemu_iovec_init_buf(&tail_qiov, pad.tail_buf, align);
            ret = aligned_preadv(child, &req, offset + bytes - align, align,
                                 align, &tail_qiov, 0, 0);
        }
    } else {
        tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_WRITE);
    }
    if (ret == 0) {
        ret = aligned_pwritev(child, &req, offset, bytes, align, qiov,
                              qiov_offset, flags);
    }
    tracked_request_end(&req);
    request_pad_destroy(&pad);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset,
                                 int64_t bytes, QEMUIOVector *qiov,
                                 BdrvRequestFlags flags)
{
    return bdrv_co_pwritev_part(child, offset, bytes, qiov, 0, flags);
}

int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset,
                                int64_t bytes, const void *buf,
                                BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return bdrv_co_pwritev(child, offset, bytes, &qiov, flags);
}

int coroutine_fn bdrv_co_pwrite_sync(BdrvChild *child, int64_t offset,
                                     int64_t bytes, const void *buf,
                                     BdrvRequestFlags flags)
{
    int ret = bdrv_co_pwrite(child, offset, bytes, buf, flags);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_flush(child->bs);
}

int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset,
                                       int64_t bytes, BdrvRequestFlags flags)
{
    if (!(child->bs->open_flags & BDRV_O_UNMAP)) {
        flags &= ~BDRV_REQ_MAY_UNMAP;
    }
    return bdrv_co_pwritev(child, offset, bytes, NULL,
                           BDRV_REQ_ZERO_WRITE | flags);
}

/* ---- discard ---- */

int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset,
                                  int64_t bytes)
{
    BlockDriverState *bs = child ? child->bs : NULL;
    BdrvTrackedRequest req;
    int64_t max_pdiscard;
    int head, tail, align;
    int ret;

    ret = check_write_allowed(bs);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_check_request(offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (!(bs->open_flags & BDRV_O_UNMAP) || !bs->drv->bdrv_co_pdiscard) {
        return 0;
    }

    /*
     * Discard is advisory: unaligned head and tail pieces are dropped, the
     * rest goes to the driver in pieces it accepts.
     */
    align = MAX(bs->bl.pdiscard_alignment, bs->bl.request_alignment);
    head = offset % align;
    tail = (offset + bytes) % align;

    bdrv_inc_in_flight(bs);
    tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_DISCARD);
    wait_serialising_requests(&req);

    max_pdiscard = QEMU_ALIGN_DOWN(min_non_zero(bs->bl.max_pdiscard, INT64_MAX),
                                   align);
    ret = 0;
    while (bytes > 0) {
        int64_t num = bytes;

        if (head) {
            num = MIN(bytes, align - head);
            if (!QEMU_IS_ALIGNED(num, bs->bl.request_alignment)) {
                num %= bs->bl.request_alignment;
            }
            head = (head + num) % align;
        } else if (tail) {
            if (num > align) {
                num -= tail;
            } else if (!QEMU_IS_ALIGNED(tail, bs->bl.request_alignment) &&
                       tail > bs->bl.request_alignment) {
                tail %= bs->bl.request_alignment;
                num -= tail;
            }
        }
        if (num > max_pdiscard) {
            num = max_pdiscard;
        }
        if (QEMU_IS_ALIGNED(num, bs->bl.request_alignment) &&
            QEMU_IS_ALIGNED(offset, bs->bl.request_alignment)) {
            int r = bs->drv->bdrv_co_pdiscard(bs, offset, num);
            if (r && r != -ENOTSUP) {
                ret = r;
                break;
            }
        }
        offset += num;
        bytes -= num;
    }
    write_done(bs, req.offset, req.bytes, ret);
    tracked_request_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- flush ---- */

int coroutine_fn bdrv_co_flush(BlockDriverState *bs)
{
    BdrvChild *child;
    uint64_t current_gen;
    int ret = 0;

    if (!bs || !bs->drv || bs->read_only || bs->sg) {
        return 0;
    }
    bdrv_inc_in_flight(bs);
    while (bs->active_flush_req) {
        qemu_co_queue_wait(&bs->flush_queue, NULL);
    }
    bs->active_flush_req = true;
    current_gen = bs->write_gen;

    if (bs->drv->bdrv_co_flush) {
        ret = bs->drv->bdrv_co_flush(bs);
        goto out;
    }
    BLKDBG_EVENT(bs->file, BLKDBG_FLUSH_TO_OS);
    if (bs->drv->bdrv_co_flush_to_os) {
        ret = bs->drv->bdrv_co_flush_to_os(bs);
        if (ret < 0) {
            goto out;
        }
    }
    if (!(bs->open_flags & BDRV_O_NO_FLUSH) && bs->flushed_gen != current_gen) {
        BLKDBG_EVENT(bs->file, BLKDBG_FLUSH_TO_DISK);
    }
    if (!(bs->open_flags & BDRV_O_NO_FLUSH) &&
        bs->flushed_gen != current_gen && bs->drv->bdrv_co_flush_to_disk) {
        ret = bs->drv->bdrv_co_flush_to_disk(bs);
        if (ret < 0) {
            goto out;
        }
    }
    QLIST_FOREACH(child, &bs->children, next) {
        if (child->perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)) {
            int r = bdrv_co_flush(child->bs);
            if (!ret) {
                ret = r;
            }
        }
    }
out:
    if (ret == 0) {
        bs->flushed_gen = current_gen;
    }
    bs->active_flush_req = false;
    qemu_co_queue_next(&bs->flush_queue);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- truncate ---- */

int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset,
                                  bool exact, PreallocMode prealloc,
                                  BdrvRequestFlags flags, Error **errp)
{
    BlockDriverState *bs = child->bs;
    BlockDriver *drv = bs->drv;
    BdrvTrackedRequest req;
    int64_t old_size;
    int ret;

    if (!drv) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (offset < 0) {
        error_setg(errp, "Image size cannot be negative");
        return -EINVAL;
    }
    if (offset > BDRV_MAX_LENGTH) {
        error_setg(errp, "offset(%" PRId64 ") exceeds maximum(%" PRId64 ")",
                   offset, (int64_t)BDRV_MAX_LENGTH);
        return -EIO;
    }
    old_size = bdrv_getlength(bs);
    if (old_size < 0) {
        error_setg_errno(errp, -old_size, "Failed to get old image size");
        return old_size;
    }
    if (bs->read_only) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    if (!drv->bdrv_co_truncate) {
        error_setg(errp, "Image format driver does not support resize");
        return -ENOTSUP;
    }

    bdrv_inc_in_flight(bs);
    tracked_request_begin(&req, bs, offset - MIN(offset, old_size),
                          INT64_MAX - (offset - MIN(offset, old_size)),
                          BDRV_TRACKED_TRUNCATE);
    /* Nothing may run concurrently with a size change past its new end. */
    make_request_serialising(&req, 1);

    ret = drv->bdrv_co_truncate(bs, offset, exact, prealloc,
                                flags & bs->supported_truncate_flags, errp);
    if (ret == 0) {
        bs->total_bytes = offset;
        ret = bdrv_refresh_total_bytes(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not refresh total sector "
                             "count");
        } else {
            BdrvChild *c;

            QLIST_FOREACH(c, &bs->parents, next_parent) {
                if (c->klass->resize) {
                    c->klass->resize(c);
                }
            }
            bdrv_dirty_bitmap_truncate(bs, bdrv_getlength(bs));
        }
    }
    bs->write_gen++;
    tracked_request_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- block status ---- */

int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, bool want_zero,
                                      int64_t offset, int64_t bytes,
                                      int64_t *pnum, int64_t *map,
                                      BlockDriverState **file)
{
    int64_t total_size, n, aligned_offset, aligned_bytes;
    int64_t local_map = 0;
    BlockDriverState *local_file = NULL;
    uint32_t align;
    int ret;

    assert(pnum);
    *pnum = 0;
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    total_size = bdrv_getlength(bs);
    if (total_size < 0) {
        return total_size;
    }
    if (offset >= total_size) {
        ret = BDRV_BLOCK_EOF;
        goto out;
    }
    if (!bytes) {
        ret = 0;
        goto out;
    }
    n = total_size - offset;
    if (n < bytes) {
        bytes = n;
    }

    if (!bs->drv->bdrv_co_block_status) {
        *pnum = bytes;
        ret = BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED;
        if (offset + bytes == total_size) {
            ret |= BDRV_BLOCK_EOF;
        }
        if (bs->drv->protocol_name) {
            ret |= BDRV_BLOCK_OFFSET_VALID;
            local_map = offset;
            local_file = bs;
        }
        goto out;
    }

    bdrv_inc_in_flight(bs);
    align = bdrv_get_request_alignment(bs);
    aligned_offset = QEMU_ALIGN_DOWN(offset, align);
    aligned_bytes = ROUND_UP(offset + bytes, align) - aligned_offset;
    ret = bs->drv->bdrv_co_block_status(bs, want_zero, aligned_offset,
                                        aligned_bytes, pnum, &local_map,
                                        &local_file);
    if (ret < 0) {
        *pnum = 0;
        bdrv_dec_in_flight(bs);
        return ret;
    }
    /* Trim the answer back to what was asked. */
    assert(*pnum && QEMU_IS_ALIGNED(*pnum, align) &&
           *pnum <= aligned_bytes);
    *pnum -= offset - aligned_offset;
    if (*pnum > bytes) {
        *pnum = bytes;
    }
    if (ret & BDRV_BLOCK_OFFSET_VALID) {
        local_map += offset - aligned_offset;
    }

    if (ret & BDRV_BLOCK_RAW) {
        assert(ret & BDRV_BLOCK_OFFSET_VALID && local_file);
        ret = bdrv_co_block_status(local_file, want_zero, local_map, *pnum,
                                   pnum, &local_map, &local_file);
        bdrv_dec_in_flight(bs);
        goto out;
    }

    if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) {
        ret |= BDRV_BLOCK_ALLOCATED;
    } else if (bs->drv->supports_backing) {
        BlockDriverState *cow = bdrv_cow_bs(bs);

        if (!cow) {
            ret |= BDRV_BLOCK_ZERO;
        } else if (want_zero) {
            int64_t size2 = bdrv_getlength(cow);

            if (size2 >= 0 && offset >= size2) {
                ret |= BDRV_BLOCK_ZERO;
            }
        }
    }

    if (want_zero && (ret & BDRV_BLOCK_RECURSE) && local_file &&
        local_file != bs && (ret & BDRV_BLOCK_DATA) &&
        !(ret & BDRV_BLOCK_ZERO) && (ret & BDRV_BLOCK_OFFSET_VALID)) {
        int64_t file_pnum;
        int ret2 = bdrv_co_block_status(local_file, want_zero, local_map,
                                        *pnum, &file_pnum, NULL, NULL);

        if (ret2 >= 0) {
            /*
             * Data beyond the end of the file reads as zeroes; otherwise the
             * protocol layer may know that the data area is a hole.
             */
            if (ret2 & BDRV_BLOCK_EOF &&
                (!file_pnum || ret2 & BDRV_BLOCK_ZERO)) {
                ret |= BDRV_BLOCK_ZERO;
            } else {
                *pnum = file_pnum;
                ret |= (ret2 & BDRV_BLOCK_ZERO);
            }
        }
    }
    bdrv_dec_in_flight(bs);

out:
    if (ret >= 0 && offset + *pnum == total_size) {
        ret |= BDRV_BLOCK_EOF;
    }
    ret &= ~BDRV_BLOCK_RECURSE;
    if (map) {
        *map = local_map;
    }
    if (file) {
        *file = local_file;
    }
    return ret;
}

int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs,
                                            BlockDriverState *base,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file,
                                            int *depth)
{
    BlockDriverState *p;
    int64_t eof = 0;
    int dummy;
    int ret;

    if (!depth) {
        depth = &dummy;
    }
    *depth = 0;
    if (bs == base) {
        *pnum = bytes;
        return 0;
    }
    ret = bdrv_co_block_status(bs, want_zero, offset, bytes, pnum, map, file);
    ++*depth;
    if (ret < 0 || *pnum == 0 || (ret & BDRV_BLOCK_ALLOCATED)) {
        return ret;
    }
    if (ret & BDRV_BLOCK_EOF) {
        eof = offset + *pnum;
    }
    bytes = *pnum;
    for (p = bdrv_filter_or_cow_bs(bs); p && p != base;
         p = bdrv_filter_or_cow_bs(p)) {
        ret = bdrv_co_block_status(p, want_zero, offset, bytes, pnum, map,
                                   file);
        ++*depth;
        if (ret < 0) {
            return ret;
        }
        if (*pnum == 0) {
            /*
             * The layer above deferred to this one, which is shorter: what
             * lies past its end reads as zeroes, allocated here.
             */
            *pnum = bytes;
            if (file) {
                *file = p;
            }
            ret = BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED;
            break;
        }
        if (ret & BDRV_BLOCK_ALLOCATED) {
            /* EOF of a lower layer says nothing about the upper one. */
            ret &= ~BDRV_BLOCK_EOF;
            break;
        }
        bytes = *pnum;
    }
    if (offset + *pnum == eof) {
        ret |= BDRV_BLOCK_EOF;
    }
    return ret;
}

int coroutine_fn bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum)
{
    int64_t dummy;
    int ret = bdrv_co_block_status_above(bs, bdrv_filter_or_cow_bs(bs), false,
                                         offset, bytes, pnum ? pnum : &dummy,
                                         NULL, NULL, NULL);

    if (ret < 0) {
        return ret;
    }
    return !!(ret & BDRV_BLOCK_ALLOCATED);
}

int coroutine_fn bdrv_co_is_allocated_above(BlockDriverState *top,
                                            BlockDriverState *base,
                                            bool include_base, int64_t offset,
                                            int64_t bytes, int64_t *pnum)
{
    BlockDriverState *real_base = base;
    int depth;
    int ret;

    if (include_base && base) {
        real_base = bdrv_filter_or_cow_bs(base);
    }
    ret = bdrv_co_block_status_above(top, real_base, false, offset, bytes,
                                     pnum, NULL, NULL, &depth);
    if (ret < 0) {
        return ret;
    }
    if (ret & BDRV_BLOCK_ALLOCATED) {
        return depth;
    }
    return 0;
}

int coroutine_fn bdrv_co_is_zero_fast(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes)
{
    int64_t pnum = bytes;
    int ret;

    if (!bytes) {
        return 1;
    }
    ret = bdrv_co_block_status_above(bs, NULL, false, offset, bytes, &pnum,
                                     NULL, NULL, NULL);
    if (ret < 0) {
        return ret;
    }
    return (pnum == bytes) && (ret & BDRV_BLOCK_ZERO);
}

int coroutine_fn bdrv_co_copy_range(BdrvChild *src, int64_t src_offset,
                                    BdrvChild *dst, int64_t dst_offset,
                                    int64_t bytes, BdrvRequestFlags read_flags,
                                    BdrvRequestFlags write_flags)
{
    if (!src || !dst || !src->bs->drv || !dst->bs->drv) {
        return -ENOMEDIUM;
    }
    if (dst->bs->read_only) {
        return -EPERM;
    }
    if (!src->bs->drv->bdrv_co_copy_range_from) {
        return -ENOTSUP;
    }
    return src->bs->drv->bdrv_co_copy_range_from(src->bs, src, src_offset,
                                                 dst, dst_offset, bytes,
                                                 read_flags, write_flags);
}

/* ---- synchronous wrappers ---- */

void bdrv_run_co(CoroutineEntry *entry, void *opaque, bool *done)
{
    if (qemu_in_coroutine()) {
        entry(opaque);
    } else {
        qemu_coroutine_enter(qemu_coroutine_create(entry, opaque));
        AIO_WAIT_WHILE(qemu_get_aio_context(), !*done);
    }
}

typedef struct RwCo {
    BdrvChild *child;
    BlockDriverState *bs;
    BlockDriverState *base;
    int64_t offset;
    int64_t bytes;
    void *buf;
    int flags;
    bool exact;
    bool include_base;
    bool want_zero;
    PreallocMode prealloc;
    int64_t *pnum;
    int64_t *map;
    BlockDriverState **file;
    int *depth;
    Error **errp;
    int ret;
    bool done;
} RwCo;

static void coroutine_fn rw_pread_entry(void *opaque)
{
    RwCo *rw = opaque;

    rw->ret = bdrv_co_pread(rw->child, rw->offset, rw->bytes, rw->buf,
                            rw->flags);
    rw->done = true;
}

int bdrv_pread(BdrvChild *child, int64_t offset, int64_t bytes, void *buf,
               BdrvRequestFlags flags)
{
    RwCo rw = { .child = child, .offset = offset, .bytes = bytes,
                .buf = buf, .flags = flags };

    bdrv_run_co(rw_pread_entry, &rw, &rw.done);
    return rw.ret;
}

static void coroutine_fn rw_pwrite_entry(void *opaque)
{
    RwCo *rw = opaque;

    rw->ret = bdrv_co_pwrite(rw->child, rw->offset, rw->bytes, rw->buf,
                             rw->flags);
    rw->done = true;
}

int bdrv_pwrite(BdrvChild *child, int64_t offset, int64_t bytes,
                const void *buf, BdrvRequestFlags flags)
{
    RwCo rw = { .child = child, .offset = offset, .bytes = bytes,
                .buf = (void *)buf, .flags = flags };

    bdrv_run_co(rw_pwrite_entry, &rw, &rw.done);
    return rw.ret;
}

int bdrv_pwrite_sync(BdrvChild *child, int64_t offset, int64_t bytes,
                     const void *buf, BdrvRequestFlags flags)
{
    int ret = bdrv_pwrite(child, offset, bytes, buf, flags);

    return ret < 0 ? ret : bdrv_flush(child->bs);
}

static void coroutine_fn rw_pwrite_zeroes_entry(void *opaque)
{
    RwCo *rw = opaque;

    rw->ret = bdrv_co_pwrite_zeroes(rw->child, rw->offset, rw->bytes,
                                    rw->flags);
    rw->done = true;
}

int bdrv_pwrite_zeroes(BdrvChild *child, int64_t offset, int64_t bytes,
                       BdrvRequestFlags flags)
{
    RwCo rw = { .child = child, .offset = offset, .bytes = bytes,
                .flags = flags };

    bdrv_run_co(rw_pwrite_zeroes_entry, &rw, &rw.done);
    return rw.ret;
}

static void coroutine_fn rw_pdiscard_entry(void *opaque)
{
    RwCo *rw = opaque;

    rw->ret = bdrv_co_pdiscard(rw->child, rw->offset, rw->bytes);
    rw->done = true;
}

int bdrv_pdiscard(BdrvChild *child, int64_t offset, int64_t bytes)
{
    RwCo rw = { .child = child, .offset = offset, .bytes = bytes };

    bdrv_run_co(rw_pdiscard_entry, &rw, &rw.done);
    return rw.ret;
}

static void coroutine_fn rw_flush_entry(void *opaque)
{
    RwCo *rw = opaque;

    rw->ret = bdrv_co_flush(rw->bs);
    rw->done = true;
}

int bdrv_flush(BlockDriverState *bs)
{
    RwCo rw = { .bs = bs };

    bdrv_run_co(rw_flush_entry, &rw, &rw.done);
    return rw.ret;
}

static void coroutine_fn rw_truncate_entry(void *opaque)
{
    RwCo *rw = opaque;

    rw->ret = bdrv_co_truncate(rw->child, rw->offset, rw->exact,
                               rw->prealloc, rw->flags, rw->errp);
    rw->done = true;
}

int bdrv_truncate(BdrvChild *child, int64_t offset, bool exact,
                  PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    RwCo rw = { .child = child, .offset = offset, .exact = exact,
                .prealloc = prealloc, .flags = flags, .errp = errp };

    bdrv_run_co(rw_truncate_entry, &rw, &rw.done);
    return rw.ret;
}

static void coroutine_fn rw_block_status_entry(void *opaque)
{
    RwCo *rw = opaque;

    rw->ret = bdrv_co_block_status_above(rw->bs, rw->base, rw->want_zero,
                                         rw->offset, rw->bytes, rw->pnum,
                                         rw->map, rw->file, rw->depth);
    rw->done = true;
}

int bdrv_block_status_above_depth(BlockDriverState *bs,
                                  BlockDriverState *base, bool want_zero,
                                  int64_t offset, int64_t bytes,
                                  int64_t *pnum, int64_t *map,
                                  BlockDriverState **file, int *depth)
{
    int64_t dummy;
    RwCo rw = { .bs = bs, .base = base, .want_zero = want_zero,
                .offset = offset, .bytes = bytes,
                .pnum = pnum ? pnum : &dummy, .map = map, .file = file,
                .depth = depth };

    bdrv_run_co(rw_block_status_entry, &rw, &rw.done);
    return rw.ret;
}

int bdrv_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            int64_t *map, BlockDriverState **file)
{
    return bdrv_block_status_above_depth(bs, base, true, offset, bytes, pnum,
                                         map, file, NULL);
}

int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    return bdrv_block_status_above(bs, bdrv_filter_or_cow_bs(bs), offset,
                                   bytes, pnum, map, file);
}

static void coroutine_fn rw_is_allocated_entry(void *opaque)
{
    RwCo *rw = opaque;

    if (rw->base || rw->include_base) {
        rw->ret = bdrv_co_is_allocated_above(rw->bs, rw->base,
                                             rw->include_base, rw->offset,
                                             rw->bytes, rw->pnum);
    } else {
        rw->ret = bdrv_co_is_allocated(rw->bs, rw->offset, rw->bytes,
                                       rw->pnum);
    }
    rw->done = true;
}

int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum)
{
    RwCo rw = { .bs = bs, .offset = offset, .bytes = bytes, .pnum = pnum };

    bdrv_run_co(rw_is_allocated_entry, &rw, &rw.done);
    return rw.ret;
}

int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            bool include_base, int64_t offset, int64_t bytes,
                            int64_t *pnum)
{
    int64_t dummy;
    RwCo rw = { .bs = top, .base = base, .include_base = include_base,
                .offset = offset, .bytes = bytes,
                .pnum = pnum ? pnum : &dummy };

    if (!base && !include_base) {
        /* Whole chain: allocated anywhere means allocated. */
        int depth;
        int ret = bdrv_block_status_above_depth(top, NULL, false, offset,
                                                bytes, rw.pnum, NULL, NULL,
                                                &depth);
        if (ret < 0) {
            return ret;
        }
        return (ret & BDRV_BLOCK_ALLOCATED) ? depth : 0;
    }
    bdrv_run_co(rw_is_allocated_entry, &rw, &rw.done);
    return rw.ret;
}

/* ---- VM state ---- */

typedef struct VmStateCo {
    BlockDriverState *bs;
    QEMUIOVector *qiov;
    int64_t pos;
    bool is_read;
    int ret;
    bool done;
} VmStateCo;

static int coroutine_fn co_rw_vmstate(BlockDriverState *bs, QEMUIOVector *qiov,
                                      int64_t pos, bool is_read)
{
    BlockDriver *drv = bs->drv;
    BlockDriverState *child;
    int ret;

    if (!drv) {
        return -ENOMEDIUM;
    }
    bdrv_inc_in_flight(bs);
    if (is_read && drv->bdrv_co_readv_vmstate) {
        ret = drv->bdrv_co_readv_vmstate(bs, qiov, pos);
    } else if (!is_read && drv->bdrv_co_writev_vmstate) {
        ret = drv->bdrv_co_writev_vmstate(bs, qiov, pos);
    } else if ((child = bdrv_filter_bs(bs))) {
        ret = co_rw_vmstate(child, qiov, pos, is_read);
    } else {
        ret = -ENOTSUP;
    }
    bdrv_dec_in_flight(bs);
    return ret;
}

static void coroutine_fn vmstate_entry(void *opaque)
{
    VmStateCo *c = opaque;

    c->ret = co_rw_vmstate(c->bs, c->qiov, c->pos, c->is_read);
    c->done = true;
}

static int rw_vmstate(BlockDriverState *bs, uint8_t *buf, int64_t pos,
                      int size, bool is_read)
{
    QEMUIOVector qiov;
    VmStateCo c = { .bs = bs, .qiov = &qiov, .pos = pos,
                    .is_read = is_read };

    qemu_iovec_init_buf(&qiov, buf, size);
    bdrv_run_co(vmstate_entry, &c, &c.done);
    return c.ret;
}

int bdrv_save_vmstate(BlockDriverState *bs, const uint8_t *buf, int64_t pos,
                      int size)
{
    return rw_vmstate(bs, (uint8_t *)buf, pos, size, false);
}

int bdrv_load_vmstate(BlockDriverState *bs, uint8_t *buf, int64_t pos,
                      int size)
{
    return rw_vmstate(bs, buf, pos, size, true);
}

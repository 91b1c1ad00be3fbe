/*
 * BlockBackend: a user's handle on a node.  It owns the root edge with the
 * user's permissions, checks requests against the device size and keeps
 * requests out while the node is drained.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/block_int.h"
#include "block/throttle-groups.h"

struct BlockBackend {
    char *name;
    int refcnt;
    BdrvChild *root;
    AioContext *ctx;
    uint64_t perm;
    uint64_t shared_perm;
    bool allow_write_beyond_eof;
    bool enable_write_cache;
    unsigned in_flight;
    int quiesce_counter;
    CoQueue queued_requests;
    /* I/O limits (block_set_io_throttle): see block/throttle-groups.c. */
    ThrottleGroupMember throttle_member;
    QTAILQ_ENTRY(BlockBackend) link;
};

struct BlockAIOCB {
    BlockBackend *blk;
    BlockCompletionFunc *cb;
    void *opaque;
    int op;
    int64_t offset;
    int64_t bytes;
    QEMUIOVector *qiov;
    BdrvRequestFlags flags;
    int ret;
};

static QTAILQ_HEAD(, BlockBackend) block_backends =
    QTAILQ_HEAD_INITIALIZER(block_backends);

static char *blk_root_get_parent_desc(BdrvChild *child)
{
    BlockBackend *blk = child->opaque;

    if (blk->name) {
        return g_strdup_printf("block device '%s'", blk->name);
    }
    return g_strdup("a block device");
}

static void blk_root_drained_begin(BdrvChild *child)
{
    BlockBackend *blk = child->opaque;

    blk->quiesce_counter++;
    /* Throttled requests are released so that the drain can finish. */
    throttle_group_drained_begin(&blk->throttle_member);
}

static void blk_root_drained_end(BdrvChild *child)
{
    BlockBackend *blk = child->opaque;

    assert(blk->quiesce_counter > 0);
    throttle_group_drained_end(&blk->throttle_member);
    if (--blk->quiesce_counter == 0) {
        qemu_co_queue_restart_all(&blk->queued_requests);
    }
}

static bool blk_root_drained_poll(BdrvChild *child)
{
    BlockBackend *blk = child->opaque;

    return blk->in_flight > 0;
}

static const BdrvChildClass child_root = {
    .get_parent_desc = blk_root_get_parent_desc,
    .drained_begin = blk_root_drained_begin,
    .drained_end = blk_root_drained_end,
    .drained_poll = blk_root_drained_poll,
};

bool bdrv_has_blk(BlockDriverState *bs)
{
    BdrvChild *c;

    QLIST_FOREACH(c, &bs->parents, next_parent) {
        if (c->klass == &child_root) {
            return true;
        }
    }
    return false;
}

BlockBackend *blk_new(AioContext *ctx, uint64_t perm, uint64_t shared_perm)
{
    BlockBackend *blk = g_new0(BlockBackend, 1);

    blk->refcnt = 1;
    blk->ctx = ctx ? ctx : qemu_get_aio_context();
    blk->perm = perm;
    blk->shared_perm = shared_perm;
    blk->enable_write_cache = true;
    qemu_co_queue_init(&blk->queued_requests);
    QTAILQ_INSERT_TAIL(&block_backends, blk, link);
    return blk;
}

BlockBackend *blk_new_open(const char *filename, const char *reference,
                           json_t *options, int flags, Error **errp)
{
    BlockBackend *blk;
    BlockDriverState *bs;
    uint64_t perm = BLK_PERM_CONSISTENT_READ;
    uint64_t shared;

    if (flags & BDRV_O_RDWR) {
        perm |= BLK_PERM_WRITE;
    }
    if (flags & BDRV_O_RESIZE) {
        perm |= BLK_PERM_RESIZE;
    }
    if (flags & BDRV_O_NO_SHARE) {
        shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    } else {
        shared = BLK_PERM_ALL;
    }

    bs = bdrv_open(filename, reference, options, flags, errp);
    if (!bs) {
        return NULL;
    }
    blk = blk_new(qemu_get_aio_context(), perm, shared);
    if (blk_insert_bs(blk, bs, errp) < 0) {
        bdrv_unref(bs);
        blk_unref(blk);
        return NULL;
    }
    bdrv_unref(bs);
    return blk;
}

int blk_insert_bs(BlockBackend *blk, BlockDriverState *bs, Error **errp)
{
    blk->root = bdrv_root_attach_child(bs, "root", &child_root,
                                       BDRV_CHILD_FILTERED |
                                       BDRV_CHILD_PRIMARY,
                                       blk->perm, blk->shared_perm, blk,
                                       errp);
    return blk->root ? 0 : -EPERM;
}

void blk_remove_bs(BlockBackend *blk)
{
    if (blk->root) {
        BdrvChild *root = blk->root;

        blk_drain(blk);
        blk->root = NULL;
        bdrv_root_unref_child(root);
    }
}

void blk_ref(BlockBackend *blk)
{
    blk->refcnt++;
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    assert(blk->refcnt > 0);
    if (--blk->refcnt > 0) {
        return;
    }
    blk_io_limits_disable(blk);
    blk_remove_bs(blk);
    QTAILQ_REMOVE(&block_backends, blk, link);
    g_free(blk->name);
    g_free(blk);
}

BlockDriverState *blk_bs(BlockBackend *blk)
{
    return blk->root ? blk->root->bs : NULL;
}

BdrvChild *blk_root(BlockBackend *blk)
{
    return blk->root;
}

int blk_set_perm(BlockBackend *blk, uint64_t perm, uint64_t shared_perm,
                 Error **errp)
{
    if (blk->root) {
        int ret = bdrv_child_try_set_perm(blk->root, perm, shared_perm, errp);
        if (ret < 0) {
            return ret;
        }
    }
    blk->perm = perm;
    blk->shared_perm = shared_perm;
    return 0;
}

void blk_get_perm(BlockBackend *blk, uint64_t *perm, uint64_t *shared_perm)
{
    *perm = blk->perm;
    *shared_perm = blk->shared_perm;
}

const char *blk_name(const BlockBackend *blk)
{
    return blk->name ? blk->name : "";
}

bool blk_set_name(BlockBackend *blk, const char *name, Error **errp)
{
    if (blk_by_name(name) || bdrv_find_node(name)) {
        error_setg(errp, "Device with id '%s' already exists", name);
        return false;
    }
    g_free(blk->name);
    blk->name = g_strdup(name);
    return true;
}

BlockBackend *blk_by_name(const char *name)
{
    BlockBackend *blk;

    QTAILQ_FOREACH(blk, &block_backends, link) {
        if (blk->name && !strcmp(blk->name, name)) {
            return blk;
        }
    }
    return NULL;
}

BlockBackend *blk_next(BlockBackend *blk)
{
    return blk ? QTAILQ_NEXT(blk, link) : QTAILQ_FIRST(&block_backends);
}

BlockBackend *blk_by_root_bs(BlockDriverState *bs)
{
    BlockBackend *blk;

    QTAILQ_FOREACH(blk, &block_backends, link) {
        if (blk->root && blk->root->bs == bs && blk->name) {
            return blk;
        }
    }
    return NULL;
}

AioContext *blk_get_aio_context(BlockBackend *blk)
{
    return blk->ctx;
}

void blk_set_allow_write_beyond_eof(BlockBackend *blk, bool allow)
{
    blk->allow_write_beyond_eof = allow;
}

void blk_set_enable_write_cache(BlockBackend *blk, bool wce)
{
    blk->enable_write_cache = wce;
}

bool blk_enable_write_cache(BlockBackend *blk)
{
    return blk->enable_write_cache;
}

bool blk_is_read_only(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);

    return bs ? bdrv_is_read_only(bs) : true;
}

bool blk_is_available(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);

    return bs && bs->drv;
}

bool blk_is_sg(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);

    return bs && bdrv_is_sg(bs);
}

int64_t blk_getlength(BlockBackend *blk)
{
    if (!blk_is_available(blk)) {
        return -ENOMEDIUM;
    }
    return bdrv_getlength(blk_bs(blk));
}

int64_t blk_nb_sectors(BlockBackend *blk)
{
    if (!blk_is_available(blk)) {
        return -ENOMEDIUM;
    }
    return bdrv_nb_sectors(blk_bs(blk));
}

uint32_t blk_get_request_alignment(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);

    return bs ? bdrv_get_request_alignment(bs) : BDRV_SECTOR_SIZE;
}

uint32_t blk_get_max_transfer(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);
    uint32_t max = bs ? bs->bl.max_transfer : 0;

    return max ? MIN(max, (uint32_t)INT_MAX) : INT_MAX;
}

void *blk_blockalign(BlockBackend *blk, size_t size)
{
    return qemu_blockalign(blk ? blk_bs(blk) : NULL, size);
}

void *blk_try_blockalign(BlockBackend *blk, size_t size)
{
    return qemu_try_blockalign(blk ? blk_bs(blk) : NULL, size);
}

/* ---- requests ---- */

static int blk_check_byte_request(BlockBackend *blk, int64_t offset,
                                  int64_t bytes)
{
    int64_t len;

    if (bytes < 0 || offset < 0) {
        return -EIO;
    }
    if (!blk_is_available(blk)) {
        return -ENOMEDIUM;
    }
    if (!blk->allow_write_beyond_eof) {
        len = blk_getlength(blk);
        if (len < 0) {
            return len;
        }
        if (offset > len || len - offset < bytes) {
            return -EIO;
        }
    }
    return 0;
}

/* With I/O limits set, wait for the throttle group's budget. */
static void coroutine_fn blk_throttle(BlockBackend *blk, int64_t bytes,
                                      bool is_write)
{
    if (blk->throttle_member.throttle_state) {
        throttle_group_co_io_limits_intercept(&blk->throttle_member, bytes,
                                              is_write);
    }
}

ThrottleGroupMember *blk_get_throttle_group_member(BlockBackend *blk)
{
    return &blk->throttle_member;
}

/* Requests wait while the node is drained. */
static void coroutine_fn blk_wait_while_drained(BlockBackend *blk)
{
    while (blk->quiesce_counter) {
        blk->in_flight--;
        qemu_co_queue_wait(&blk->queued_requests, NULL);
        blk->in_flight++;
    }
}

/*
 * The blk_co_do_* functions run a request counted in blk->in_flight by
 * their caller (once per request, so that a request queued while the node
 * is drained can give its count back while it waits).
 */
static int coroutine_fn blk_co_do_preadv(BlockBackend *blk, int64_t offset,
                                         int64_t bytes, QEMUIOVector *qiov,
                                         size_t qiov_offset,
                                         BdrvRequestFlags flags)
{
    int ret;

    blk_wait_while_drained(blk);
    ret = blk_check_byte_request(blk, offset, bytes);
    if (ret == 0) {
        blk_throttle(blk, bytes, false);
        ret = bdrv_co_preadv_part(blk->root, offset, bytes, qiov,
                                  qiov_offset, flags);
    }
    return ret;
}

int coroutine_fn blk_co_preadv_part(BlockBackend *blk, int64_t offset,
                                    int64_t bytes, QEMUIOVector *qiov,
                                    size_t qiov_offset,
                                    BdrvRequestFlags flags)
{
    int ret;

    blk->in_flight++;
    ret = blk_co_do_preadv(blk, offset, bytes, qiov, qiov_offset, flags);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset,
                               int64_t bytes, QEMUIOVector *qiov,
                               BdrvRequestFlags flags)
{
    return blk_co_preadv_part(blk, offset, bytes, qiov, 0, flags);
}

static int coroutine_fn blk_co_do_pwritev(BlockBackend *blk, int64_t offset,
                                          int64_t bytes, QEMUIOVector *qiov,
                                          size_t qiov_offset,
                                          BdrvRequestFlags flags)
{
    int ret;

    blk_wait_while_drained(blk);
    ret = blk_check_byte_request(blk, offset, bytes);
    if (ret == 0) {
        if (!blk->enable_write_cache) {
            flags |= BDRV_REQ_FUA;
        }
        blk_throttle(blk, bytes, true);
        ret = bdrv_co_pwritev_part(blk->root, offset, bytes, qiov,
                                   qiov_offset, flags);
    }
    return ret;
}

int coroutine_fn blk_co_pwritev_part(BlockBackend *blk, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset,
                                     BdrvRequestFlags flags)
{
    int ret;

    blk->in_flight++;
    ret = blk_co_do_pwritev(blk, offset, bytes, qiov, qiov_offset, flags);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags)
{
    return blk_co_pwritev_part(blk, offset, bytes, qiov, 0, flags);
}

int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset,
                              int64_t bytes, void *buf,
                              BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, bytes);
    return blk_co_preadv(blk, offset, bytes, &qiov, flags);
}

int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset,
                               int64_t bytes, const void *buf,
                               BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return blk_co_pwritev(blk, offset, bytes, &qiov, flags);
}

int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                      int64_t bytes, BdrvRequestFlags flags)
{
    return blk_co_pwritev(blk, offset, bytes, NULL,
                          flags | BDRV_REQ_ZERO_WRITE);
}

int coroutine_fn blk_co_pwrite_compressed(BlockBackend *blk, int64_t offset,
                                          int64_t bytes, const void *buf)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return blk_co_pwritev(blk, offset, bytes, &qiov,
                          BDRV_REQ_WRITE_COMPRESSED);
}

static int coroutine_fn blk_co_do_pdiscard(BlockBackend *blk,
                                           int64_t offset, int64_t bytes)
{
    int ret;

    blk_wait_while_drained(blk);
    ret = blk_check_byte_request(blk, offset, bytes);
    if (ret == 0) {
        ret = bdrv_co_pdiscard(blk->root, offset, bytes);
    }
    return ret;
}

int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset,
                                 int64_t bytes)
{
    int ret;

    blk->in_flight++;
    ret = blk_co_do_pdiscard(blk, offset, bytes);
    blk->in_flight--;
    return ret;
}

static int coroutine_fn blk_co_do_flush(BlockBackend *blk)
{
    blk_wait_while_drained(blk);
    if (!blk_is_available(blk)) {
        return -ENOMEDIUM;
    }
    return bdrv_co_flush(blk_bs(blk));
}

int coroutine_fn blk_co_flush(BlockBackend *blk)
{
    int ret;

    blk->in_flight++;
    ret = blk_co_do_flush(blk);
    blk->in_flight--;
    return ret;
}

int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset,
                                 bool exact, PreallocMode prealloc,
                                 BdrvRequestFlags flags, Error **errp)
{
    if (!blk_is_available(blk)) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    return bdrv_co_truncate(blk->root, offset, exact, prealloc, flags, errp);
}

int coroutine_fn blk_co_copy_range(BlockBackend *blk_in, int64_t off_in,
                                   BlockBackend *blk_out, int64_t off_out,
                                   int64_t bytes, BdrvRequestFlags read_flags,
                                   BdrvRequestFlags write_flags)
{
    int ret = blk_check_byte_request(blk_in, off_in, bytes);

    if (ret < 0) {
        return ret;
    }
    ret = blk_check_byte_request(blk_out, off_out, bytes);
    if (ret < 0) {
        return ret;
    }
    return bdrv_co_copy_range(blk_in->root, off_in, blk_out->root, off_out,
                              bytes, read_flags, write_flags);
}

/* ---- synchronous and asynchronous forms ---- */

enum {
    BLK_OP_READ,
    BLK_OP_WRITE,
    BLK_OP_DISCARD,
    BLK_OP_FLUSH,
};

typedef struct BlkRwCo {
    BlockBackend *blk;
    int op;
    int64_t offset;
    int64_t bytes;
    QEMUIOVector *qiov;
    BdrvRequestFlags flags;
    int ret;
    bool done;
} BlkRwCo;

/* Run one request; the caller counts it in blk->in_flight. */
static int coroutine_fn blk_do_op(BlkRwCo *rw)
{
    switch (rw->op) {
    case BLK_OP_READ:
        return blk_co_do_preadv(rw->blk, rw->offset, rw->bytes, rw->qiov, 0,
                                rw->flags);
    case BLK_OP_WRITE:
        return blk_co_do_pwritev(rw->blk, rw->offset, rw->bytes, rw->qiov, 0,
                                 rw->flags);
    case BLK_OP_DISCARD:
        return blk_co_do_pdiscard(rw->blk, rw->offset, rw->bytes);
    case BLK_OP_FLUSH:
        return blk_co_do_flush(rw->blk);
    }
    return -EINVAL;
}

static void coroutine_fn blk_rw_entry(void *opaque)
{
    BlkRwCo *rw = opaque;

    rw->blk->in_flight++;
    rw->ret = blk_do_op(rw);
    rw->blk->in_flight--;
    rw->done = true;
}

static int blk_run_op(BlockBackend *blk, int op, int64_t offset,
                      int64_t bytes, QEMUIOVector *qiov,
                      BdrvRequestFlags flags)
{
    BlkRwCo rw = { .blk = blk, .op = op, .offset = offset, .bytes = bytes,
                   .qiov = qiov, .flags = flags };

    bdrv_run_co(blk_rw_entry, &rw, &rw.done);
    return rw.ret;
}

int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf,
              BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, bytes);
    return blk_run_op(blk, BLK_OP_READ, offset, bytes, &qiov, flags);
}

int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
               const void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return blk_run_op(blk, BLK_OP_WRITE, offset, bytes, &qiov, flags);
}

int blk_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return blk_run_op(blk, BLK_OP_READ, offset, bytes, qiov, flags);
}

int blk_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return blk_run_op(blk, BLK_OP_WRITE, offset, bytes, qiov, flags);
}

int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                      BdrvRequestFlags flags)
{
    return blk_run_op(blk, BLK_OP_WRITE, offset, bytes, NULL,
                      flags | BDRV_REQ_ZERO_WRITE);
}

int blk_pwrite_compressed(BlockBackend *blk, int64_t offset, int64_t bytes,
                          const void *buf)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return blk_run_op(blk, BLK_OP_WRITE, offset, bytes, &qiov,
                      BDRV_REQ_WRITE_COMPRESSED);
}

int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    return blk_run_op(blk, BLK_OP_DISCARD, offset, bytes, NULL, 0);
}

int blk_flush(BlockBackend *blk)
{
    return blk_run_op(blk, BLK_OP_FLUSH, 0, 0, NULL, 0);
}

typedef struct BlkTruncateCo {
    BlockBackend *blk;
    int64_t offset;
    bool exact;
    PreallocMode prealloc;
    BdrvRequestFlags flags;
    Error **errp;
    int ret;
    bool done;
} BlkTruncateCo;

static void coroutine_fn blk_truncate_entry(void *opaque)
{
    BlkTruncateCo *t = opaque;

    t->ret = blk_co_truncate(t->blk, t->offset, t->exact, t->prealloc,
                             t->flags, t->errp);
    t->done = true;
}

int blk_truncate(BlockBackend *blk, int64_t offset, bool exact,
                 PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    BlkTruncateCo t = { .blk = blk, .offset = offset, .exact = exact,
                        .prealloc = prealloc, .flags = flags, .errp = errp };

    bdrv_run_co(blk_truncate_entry, &t, &t.done);
    return t.ret;
}

static void blk_aio_complete_bh(void *opaque)
{
    BlockAIOCB *acb = opaque;
    BlockBackend *blk = acb->blk;

    acb->cb(acb->opaque, acb->ret);
    /* Counted until the callback ran: drain waits for completions. */
    blk->in_flight--;
    blk_unref(blk);
    g_free(acb);
}

static void coroutine_fn blk_aio_co(void *opaque)
{
    BlockAIOCB *acb = opaque;
    BlkRwCo rw = { .blk = acb->blk, .op = acb->op, .offset = acb->offset,
                   .bytes = acb->bytes, .qiov = acb->qiov,
                   .flags = acb->flags };

    acb->ret = blk_do_op(&rw);
    aio_bh_schedule_oneshot(acb->blk->ctx, blk_aio_complete_bh, acb);
}

static BlockAIOCB *blk_aio_start(BlockBackend *blk, int op, int64_t offset,
                                 int64_t bytes, QEMUIOVector *qiov,
                                 BdrvRequestFlags flags,
                                 BlockCompletionFunc *cb, void *opaque)
{
    BlockAIOCB *acb = g_new0(BlockAIOCB, 1);

    *acb = (BlockAIOCB) {
        .blk = blk, .cb = cb, .opaque = opaque, .op = op, .offset = offset,
        .bytes = bytes, .qiov = qiov, .flags = flags,
    };
    blk_ref(blk);
    /* Counted until the coroutine finished, so drain waits for it. */
    blk->in_flight++;
    qemu_coroutine_enter(qemu_coroutine_create(blk_aio_co, acb));
    return acb;
}

BlockAIOCB *blk_aio_preadv(BlockBackend *blk, int64_t offset,
                           QEMUIOVector *qiov, BdrvRequestFlags flags,
                           BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, BLK_OP_READ, offset, qiov->size, qiov, flags,
                         cb, opaque);
}

BlockAIOCB *blk_aio_pwritev(BlockBackend *blk, int64_t offset,
                            QEMUIOVector *qiov, BdrvRequestFlags flags,
                            BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, BLK_OP_WRITE, offset, qiov->size, qiov, flags,
                         cb, opaque);
}

BlockAIOCB *blk_aio_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                  int64_t bytes, BdrvRequestFlags flags,
                                  BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, BLK_OP_WRITE, offset, bytes, NULL,
                         flags | BDRV_REQ_ZERO_WRITE, cb, opaque);
}

BlockAIOCB *blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb,
                          void *opaque)
{
    return blk_aio_start(blk, BLK_OP_FLUSH, 0, 0, NULL, 0, cb, opaque);
}

BlockAIOCB *blk_aio_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes,
                             BlockCompletionFunc *cb, void *opaque)
{
    return blk_aio_start(blk, BLK_OP_DISCARD, offset, bytes, NULL, 0, cb,
                         opaque);
}

unsigned blk_in_flight(BlockBackend *blk)
{
    return blk->in_flight;
}

void blk_drain(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);

    if (bs) {
        bdrv_drained_begin(bs);
        bdrv_drained_end(bs);
    } else {
        AIO_WAIT_WHILE(blk->ctx, blk->in_flight > 0);
    }
}

void blk_drain_all(void)
{
    BlockBackend *blk;

    QTAILQ_FOREACH(blk, &block_backends, link) {
        AIO_WAIT_WHILE(blk->ctx, blk->in_flight > 0);
    }
}

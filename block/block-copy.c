/*
 * block-copy: copies the clusters a bitmap marks from a source to a
 * target, with a pool of parallel requests per call, block status to use
 * zero writes (and to skip unallocated clusters for sync=top), a memory
 * budget, a rate limit, and no two requests ever on the same cluster.
 */
#include "strata/osdep.h"
#include "block/block-copy.h"
#include "block/block_int.h"
#include "util/ratelimit.h"

#define BLOCK_COPY_CLUSTER_SIZE_DEFAULT (1 << 16)
/* The largest buffer one read/write request uses. */
#define BLOCK_COPY_MAX_BUFFER (1 * MiB)
/* The largest copy_range request. */
#define BLOCK_COPY_MAX_COPY_RANGE (16 * MiB)
/* Buffers of all requests of one state together. */
#define BLOCK_COPY_MAX_MEM (128 * MiB)

typedef enum BlockCopyMethod {
    /* Read and write one cluster at a time (compressed writes). */
    COPY_READ_WRITE_CLUSTER,
    COPY_READ_WRITE,
    COPY_WRITE_ZEROES,
    /* copy_range, small requests until the first one worked. */
    COPY_RANGE_SMALL,
    COPY_RANGE_FULL,
} BlockCopyMethod;

/* One request in flight: its clusters are reserved (bits cleared). */
typedef struct BlockCopyTask {
    BlockCopyState *s;
    BlockCopyCallState *call;
    int64_t offset;
    int64_t bytes;
    BlockCopyMethod method;
    /* Calls waiting for this area to be done. */
    CoQueue waiters;
    QLIST_ENTRY(BlockCopyTask) list;
} BlockCopyTask;

struct BlockCopyCallState {
    BlockCopyState *s;
    int64_t offset;
    int64_t bytes;
    int max_workers;
    int64_t max_chunk;
    bool ignore_ratelimit;
    BlockCopyAsyncCallbackFunc cb;
    void *cb_opaque;
    /* The coroutine of an asynchronous (or timed-out) call. */
    Coroutine *co;

    /* Requests of this call running now, and the call waiting for them. */
    int workers;
    CoQueue worker_wait;
    QemuCoSleep sleep;

    bool finished;
    bool cancelled;
    /* block_copy() stopped waiting (timeout): free when finished. */
    bool abandoned;
    /* block_copy() with a timeout waits here for the end. */
    QemuCoSleep done_wait;
    int ret;
    bool error_is_read;
    QLIST_ENTRY(BlockCopyCallState) list;
};

struct BlockCopyState {
    BdrvChild *source;
    BdrvChild *target;
    BdrvDirtyBitmap *copy_bitmap;
    int64_t cluster_size;
    int64_t len;
    int64_t max_transfer;
    BdrvRequestFlags write_flags;
    BlockCopyMethod method;
    bool skip_unallocated;
    /* Bytes of the requests in flight (reserved, bits already cleared). */
    int64_t in_flight_bytes;
    ProgressMeter *progress;
    RateLimit rate_limit;
    /* Buffer bytes still available, and requests waiting for some. */
    int64_t mem_free;
    CoQueue mem_wait;
    QLIST_HEAD(, BlockCopyTask) tasks;
    QLIST_HEAD(, BlockCopyCallState) calls;
};

/* ---- set-up ---- */

static int64_t block_copy_calculate_cluster_size(BlockDriverState *target,
                                                 Error **errp)
{
    BlockDriverInfo bdi;
    bool target_does_cow = bdrv_backing_chain_next(target);
    int ret = bdrv_get_info(target, &bdi);

    if (ret == -ENOTSUP && !target_does_cow) {
        /* The target cannot tell; its reads may still be cluster-based. */
        warn_report("The target block device doesn't provide information "
                    "about the block size and it doesn't have a backing "
                    "file. The default block size of %u bytes is used. If "
                    "the actual block size of the target exceeds this "
                    "default, the backup may be unusable",
                    BLOCK_COPY_CLUSTER_SIZE_DEFAULT);
        return BLOCK_COPY_CLUSTER_SIZE_DEFAULT;
    } else if (ret < 0 && !target_does_cow) {
        error_setg_errno(errp, -ret, "Couldn't determine the cluster size of "
                         "the target image, which has no backing file");
        error_append_hint(errp, "Aborting, since this may create an unusable "
                          "destination image\n");
        return ret;
    } else if (ret < 0) {
        /* With a backing file, partial clusters are filled from it. */
        return BLOCK_COPY_CLUSTER_SIZE_DEFAULT;
    }
    return MAX(BLOCK_COPY_CLUSTER_SIZE_DEFAULT, bdi.cluster_size);
}

static bool chain_contains(BlockDriverState *top, BlockDriverState *bs)
{
    for (; top; top = bdrv_filter_or_cow_bs(top)) {
        if (top == bs) {
            return true;
        }
    }
    return false;
}

static int64_t max_transfer_of(BdrvChild *c)
{
    return c->bs->bl.max_transfer ? c->bs->bl.max_transfer : INT_MAX;
}

BlockCopyState *block_copy_state_new(BdrvChild *source, BdrvChild *target,
                                     const BdrvDirtyBitmap *bitmap,
                                     Error **errp)
{
    BdrvDirtyBitmap *copy_bitmap;
    BlockCopyState *s;
    int64_t cluster_size;

    cluster_size = block_copy_calculate_cluster_size(target->bs, errp);
    if (cluster_size < 0) {
        return NULL;
    }
    copy_bitmap = bdrv_create_dirty_bitmap(source->bs, cluster_size, NULL,
                                           errp);
    if (!copy_bitmap) {
        return NULL;
    }
    bdrv_disable_dirty_bitmap(copy_bitmap);
    if (bitmap) {
        Error *local_err = NULL;

        if (!bdrv_merge_dirty_bitmap(copy_bitmap, bitmap, NULL, &local_err)) {
            error_propagate_prepend(errp, local_err, "Failed to merge bitmap "
                                    "'%s' to internal block-copy bitmap: ",
                                    bdrv_dirty_bitmap_name(bitmap));
            bdrv_release_dirty_bitmap(copy_bitmap);
            return NULL;
        }
    } else {
        bdrv_set_dirty_bitmap(copy_bitmap, 0,
                              bdrv_dirty_bitmap_size(copy_bitmap));
    }

    s = g_new0(BlockCopyState, 1);
    s->source = source;
    s->target = target;
    s->copy_bitmap = copy_bitmap;
    s->cluster_size = cluster_size;
    s->len = bdrv_dirty_bitmap_size(copy_bitmap);
    s->max_transfer = QEMU_ALIGN_DOWN(MIN(max_transfer_of(source),
                                          max_transfer_of(target)),
                                      cluster_size);
    /*
     * Image fleecing: when the target's backing chain reads the source,
     * someone may read the target while we write it, and must never see a
     * cluster the guest already overwrote: serialise our writes.
     */
    if (chain_contains(target->bs, source->bs)) {
        s->write_flags = BDRV_REQ_SERIALISING;
    }
    s->mem_free = BLOCK_COPY_MAX_MEM;
    qemu_co_queue_init(&s->mem_wait);
    QLIST_INIT(&s->tasks);
    QLIST_INIT(&s->calls);
    block_copy_set_copy_opts(s, false, false);
    return s;
}

void block_copy_state_free(BlockCopyState *s)
{
    if (!s) {
        return;
    }
    assert(QLIST_EMPTY(&s->tasks) && QLIST_EMPTY(&s->calls));
    bdrv_release_dirty_bitmap(s->copy_bitmap);
    g_free(s);
}

void block_copy_set_progress_meter(BlockCopyState *s, ProgressMeter *pm)
{
    s->progress = pm;
}

void block_copy_set_copy_opts(BlockCopyState *s, bool use_copy_range,
                              bool compress)
{
    if (compress) {
        s->write_flags |= BDRV_REQ_WRITE_COMPRESSED;
        /* Compressed clusters are written one by one, never copied. */
        s->method = COPY_READ_WRITE_CLUSTER;
    } else {
        s->write_flags &= ~BDRV_REQ_WRITE_COMPRESSED;
        s->method = use_copy_range ? COPY_RANGE_SMALL : COPY_READ_WRITE;
    }
}

void block_copy_set_speed(BlockCopyState *s, uint64_t speed)
{
    ratelimit_set_speed(&s->rate_limit, speed, 100 * SCALE_MS);
}

void block_copy_set_skip_unallocated(BlockCopyState *s, bool skip)
{
    s->skip_unallocated = skip;
}

BdrvDirtyBitmap *block_copy_dirty_bitmap(BlockCopyState *s)
{
    return s->copy_bitmap;
}

int64_t block_copy_cluster_size(BlockCopyState *s)
{
    return s->cluster_size;
}

/* ---- tasks ---- */

static int64_t block_copy_chunk_size(BlockCopyState *s)
{
    switch (s->method) {
    case COPY_READ_WRITE_CLUSTER:
        return s->cluster_size;
    case COPY_READ_WRITE:
    case COPY_RANGE_SMALL:
        return MIN(MAX(s->cluster_size, BLOCK_COPY_MAX_BUFFER),
                   s->max_transfer);
    case COPY_RANGE_FULL:
        return MIN(MAX(s->cluster_size, BLOCK_COPY_MAX_COPY_RANGE),
                   s->max_transfer);
    default:
        g_assert_not_reached();
    }
}

static void block_copy_update_remaining(BlockCopyState *s)
{
    if (s->progress) {
        progress_set_remaining(s->progress,
                               bdrv_get_dirty_count(s->copy_bitmap) +
                               s->in_flight_bytes);
    }
}

/*
 * Reserve the first dirty area of [offset, offset + bytes): clear its
 * bits so no other request takes it.  NULL if nothing is dirty there.
 */
static BlockCopyTask *block_copy_task_create(BlockCopyState *s,
                                             BlockCopyCallState *call,
                                             int64_t offset, int64_t bytes)
{
    int64_t max_chunk = block_copy_chunk_size(s);
    BlockCopyTask *task;

    if (call->max_chunk && call->max_chunk < max_chunk) {
        max_chunk = call->max_chunk;
    }
    if (!bdrv_dirty_bitmap_next_dirty_area(s->copy_bitmap, offset,
                                           offset + bytes, max_chunk,
                                           &offset, &bytes)) {
        return NULL;
    }
    assert(QEMU_IS_ALIGNED(offset, s->cluster_size));
    bytes = QEMU_ALIGN_UP(bytes, s->cluster_size);

    bdrv_reset_dirty_bitmap(s->copy_bitmap, offset, bytes);
    s->in_flight_bytes += bytes;

    task = g_new0(BlockCopyTask, 1);
    task->s = s;
    task->call = call;
    task->offset = offset;
    task->bytes = bytes;
    task->method = s->method;
    qemu_co_queue_init(&task->waiters);
    QLIST_INSERT_HEAD(&s->tasks, task, list);
    return task;
}

/* Give the tail beyond @new_bytes back to the bitmap. */
static void block_copy_task_shrink(BlockCopyTask *task, int64_t new_bytes)
{
    BlockCopyState *s = task->s;

    if (new_bytes == task->bytes) {
        return;
    }
    assert(new_bytes > 0 && new_bytes < task->bytes);
    s->in_flight_bytes -= task->bytes - new_bytes;
    bdrv_set_dirty_bitmap(s->copy_bitmap, task->offset + new_bytes,
                          task->bytes - new_bytes);
    task->bytes = new_bytes;
    /* Whoever waited for the tail can take it now. */
    qemu_co_queue_restart_all(&task->waiters);
}

/* The request ended; a failed one marks its clusters dirty again. */
static void block_copy_task_end(BlockCopyTask *task, int ret)
{
    BlockCopyState *s = task->s;

    s->in_flight_bytes -= task->bytes;
    if (ret < 0) {
        bdrv_set_dirty_bitmap(s->copy_bitmap, task->offset, task->bytes);
    }
    block_copy_update_remaining(s);
    QLIST_REMOVE(task, list);
    qemu_co_queue_restart_all(&task->waiters);
}

/* Wait for one request overlapping the area; false if there is none. */
static bool coroutine_fn block_copy_wait_one(BlockCopyState *s,
                                             int64_t offset, int64_t bytes)
{
    BlockCopyTask *task;

    QLIST_FOREACH(task, &s->tasks, list) {
        if (task->offset < offset + bytes && offset < task->offset +
            task->bytes) {
            qemu_co_queue_wait(&task->waiters, NULL);
            return true;
        }
    }
    return false;
}

static void coroutine_fn block_copy_mem_get(BlockCopyState *s, int64_t bytes)
{
    while (s->mem_free < bytes) {
        qemu_co_queue_wait(&s->mem_wait, NULL);
    }
    s->mem_free -= bytes;
}

static void block_copy_mem_put(BlockCopyState *s, int64_t bytes)
{
    s->mem_free += bytes;
    qemu_co_queue_restart_all(&s->mem_wait);
}

/* ---- the copy itself ---- */

/*
 * Copy [offset, offset + bytes) (clipped to the length) with *method,
 * which may change to a fallback for the following requests.
 */
static int coroutine_fn block_copy_do_copy(BlockCopyState *s, int64_t offset,
                                           int64_t bytes,
                                           BlockCopyMethod *method,
                                           bool *error_is_read)
{
    int64_t nbytes = MIN(offset + bytes, s->len) - offset;
    void *buf;
    int ret;

    *error_is_read = false;
    if (*method == COPY_WRITE_ZEROES) {
        ret = bdrv_co_pwrite_zeroes(s->target, offset, nbytes,
                                    s->write_flags &
                                    ~BDRV_REQ_WRITE_COMPRESSED);
        return ret;
    }
    if (*method == COPY_RANGE_SMALL || *method == COPY_RANGE_FULL) {
        ret = bdrv_co_copy_range(s->source, offset, s->target, offset,
                                 nbytes, 0, s->write_flags);
        if (ret >= 0) {
            /* It works: larger requests from now on. */
            *method = COPY_RANGE_FULL;
            return 0;
        }
        /* Not supported here: plain reads and writes from now on. */
        *method = COPY_READ_WRITE;
    }

    buf = qemu_try_blockalign(s->source->bs, nbytes);
    if (!buf) {
        return -ENOMEM;
    }
    ret = bdrv_co_pread(s->source, offset, nbytes, buf, 0);
    if (ret < 0) {
        *error_is_read = true;
        goto out;
    }
    ret = bdrv_co_pwrite(s->target, offset, nbytes, buf, s->write_flags);
out:
    qemu_vfree(buf);
    return ret < 0 ? ret : 0;
}

static void coroutine_fn block_copy_task_entry(void *opaque)
{
    BlockCopyTask *task = opaque;
    BlockCopyState *s = task->s;
    BlockCopyCallState *call = task->call;
    BlockCopyMethod method = task->method;
    bool error_is_read = false;
    int ret;

    ret = block_copy_do_copy(s, task->offset, task->bytes, &method,
                             &error_is_read);
    if (s->method == task->method) {
        s->method = method;
    }
    if (ret < 0) {
        if (!call->ret) {
            call->ret = ret;
            call->error_is_read = error_is_read;
        }
    } else if (s->progress) {
        progress_work_done(s->progress, task->bytes);
    }
    block_copy_mem_put(s, task->bytes);
    block_copy_task_end(task, ret);
    g_free(task);

    call->workers--;
    qemu_co_queue_restart_all(&call->worker_wait);
}

/*
 * What block status says about [offset, offset + bytes), rounded to
 * clusters; a failed or sub-cluster answer counts as one data cluster.
 */
static int coroutine_fn block_copy_block_status(BlockCopyState *s,
                                                int64_t offset,
                                                int64_t bytes, int64_t *pnum)
{
    BlockDriverState *base = s->skip_unallocated
                             ? bdrv_backing_chain_next(s->source->bs) : NULL;
    int64_t num;
    int ret;

    ret = bdrv_co_block_status_above(s->source->bs, base, true, offset, bytes,
                                     &num, NULL, NULL, NULL);
    if (ret < 0 || num < s->cluster_size) {
        num = s->cluster_size;
        ret = BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_DATA;
    } else if (offset + num == s->len) {
        num = QEMU_ALIGN_UP(num, s->cluster_size);
    } else {
        num = QEMU_ALIGN_DOWN(num, s->cluster_size);
    }
    *pnum = num;
    return ret;
}

/*
 * One pass over the call's range: start a request for every dirty area
 * (at most max_workers at once) and wait for them.  Returns whether
 * anything was dirty, or the first error.
 */
static int coroutine_fn block_copy_dirty_clusters(BlockCopyCallState *call)
{
    BlockCopyState *s = call->s;
    int64_t offset = call->offset;
    int64_t bytes = call->bytes;
    int64_t end = offset + bytes;
    bool found_dirty = false;

    assert(QEMU_IS_ALIGNED(offset, s->cluster_size));
    assert(QEMU_IS_ALIGNED(bytes, s->cluster_size));

    while (bytes && !call->ret && !call->cancelled) {
        BlockCopyTask *task;
        int64_t status_bytes;
        int status;

        task = block_copy_task_create(s, call, offset, bytes);
        if (!task) {
            break;
        }
        found_dirty = true;

        status = block_copy_block_status(s, task->offset, task->bytes,
                                         &status_bytes);
        if (status_bytes < task->bytes) {
            block_copy_task_shrink(task, status_bytes);
        }
        if (s->skip_unallocated && !(status & BDRV_BLOCK_ALLOCATED)) {
            /* sync=top: not ours to copy; the bits stay clear. */
            offset = task->offset + task->bytes;
            bytes = end - offset;
            block_copy_task_end(task, 0);
            g_free(task);
            continue;
        }
        if (status & BDRV_BLOCK_ZERO) {
            task->method = COPY_WRITE_ZEROES;
        }

        if (!call->ignore_ratelimit) {
            int64_t ns = ratelimit_calculate_delay(&s->rate_limit, 0);

            if (ns > 0) {
                block_copy_task_end(task, -EAGAIN);
                g_free(task);
                qemu_co_sleep_ns_wakeable(&call->sleep, QEMU_CLOCK_REALTIME,
                                          ns);
                continue;
            }
        }
        ratelimit_calculate_delay(&s->rate_limit, task->bytes);

        block_copy_mem_get(s, task->bytes);
        offset = task->offset + task->bytes;
        bytes = end - offset;

        while (call->workers >= call->max_workers) {
            qemu_co_queue_wait(&call->worker_wait, NULL);
        }
        call->workers++;
        qemu_coroutine_enter(qemu_coroutine_create(block_copy_task_entry,
                                                   task));
    }

    while (call->workers) {
        qemu_co_queue_wait(&call->worker_wait, NULL);
    }
    return call->ret < 0 ? call->ret : found_dirty;
}

static int coroutine_fn block_copy_common(BlockCopyCallState *call)
{
    BlockCopyState *s = call->s;
    int ret;

    QLIST_INSERT_HEAD(&s->calls, call, list);
    do {
        ret = block_copy_dirty_clusters(call);
        if (ret == 0 && !call->cancelled) {
            /*
             * Nothing left for us; but other calls may still be copying
             * clusters of our range (and may fail, making them dirty
             * again).  Wait for them and look again.
             */
            ret = block_copy_wait_one(s, call->offset, call->bytes);
            if (!ret) {
                ret = bdrv_dirty_bitmap_next_dirty(s->copy_bitmap,
                                                   call->offset,
                                                   call->bytes) >= 0;
            }
        }
    } while (ret > 0 && !call->cancelled);

    call->finished = true;
    QLIST_REMOVE(call, list);
    if (call->cb) {
        call->cb(call->cb_opaque);
    }
    return ret;
}

/* ---- calls ---- */

static void coroutine_fn block_copy_async_co_entry(void *opaque)
{
    BlockCopyCallState *call = opaque;

    block_copy_common(call);
    if (call->abandoned) {
        g_free(call);
    } else if (call->done_wait.to_wake) {
        qemu_co_sleep_wake(&call->done_wait);
    }
}

int coroutine_fn block_copy(BlockCopyState *s, int64_t offset, int64_t bytes,
                            bool ignore_ratelimit, uint64_t timeout_ns,
                            BlockCopyAsyncCallbackFunc cb, void *cb_opaque)
{
    BlockCopyCallState *call = g_new0(BlockCopyCallState, 1);
    int ret;

    call->s = s;
    call->offset = offset;
    call->bytes = bytes;
    call->ignore_ratelimit = ignore_ratelimit;
    call->max_workers = BLOCK_COPY_MAX_WORKERS;
    call->cb = cb;
    call->cb_opaque = cb_opaque;
    qemu_co_queue_init(&call->worker_wait);

    if (!timeout_ns) {
        block_copy_common(call);
    } else {
        call->co = qemu_coroutine_create(block_copy_async_co_entry, call);
        qemu_coroutine_enter(call->co);
        if (!call->finished) {
            qemu_co_sleep_ns_wakeable(&call->done_wait, QEMU_CLOCK_REALTIME,
                                      timeout_ns);
        }
        if (!call->finished) {
            /* The copy goes on; its coroutine frees the call. */
            call->abandoned = true;
            block_copy_call_cancel(call);
            return -ETIMEDOUT;
        }
    }
    ret = call->ret;
    g_free(call);
    return ret;
}

BlockCopyCallState *block_copy_async(BlockCopyState *s, int64_t offset,
                                     int64_t bytes, int max_workers,
                                     int64_t max_chunk,
                                     BlockCopyAsyncCallbackFunc cb,
                                     void *cb_opaque)
{
    BlockCopyCallState *call = g_new0(BlockCopyCallState, 1);

    call->s = s;
    call->offset = offset;
    call->bytes = bytes;
    call->max_workers = max_workers;
    call->max_chunk = max_chunk;
    call->cb = cb;
    call->cb_opaque = cb_opaque;
    qemu_co_queue_init(&call->worker_wait);
    call->co = qemu_coroutine_create(block_copy_async_co_entry, call);
    qemu_coroutine_enter(call->co);
    return call;
}

void block_copy_kick(BlockCopyCallState *call_state)
{
    qemu_co_sleep_wake(&call_state->sleep);
}

void block_copy_call_cancel(BlockCopyCallState *call_state)
{
    call_state->cancelled = true;
    block_copy_kick(call_state);
}

bool block_copy_call_finished(BlockCopyCallState *call_state)
{
    return call_state->finished;
}

bool block_copy_call_succeeded(BlockCopyCallState *call_state)
{
    return call_state->finished && !call_state->cancelled &&
           call_state->ret == 0;
}

bool block_copy_call_failed(BlockCopyCallState *call_state)
{
    return call_state->finished && !call_state->cancelled &&
           call_state->ret < 0;
}

bool block_copy_call_cancelled(BlockCopyCallState *call_state)
{
    return call_state->cancelled;
}

int block_copy_call_status(BlockCopyCallState *call_state,
                           bool *error_is_read)
{
    assert(call_state->finished);
    if (error_is_read) {
        *error_is_read = call_state->error_is_read;
    }
    return call_state->ret;
}

void block_copy_call_free(BlockCopyCallState *call_state)
{
    if (call_state) {
        assert(call_state->finished);
        g_free(call_state);
    }
}

/* ---- sync=top ---- */

/*
 * Whether the cluster at @offset is allocated in the source's own layer;
 * *pnum: how many clusters share the answer (a partly allocated cluster
 * counts as allocated).
 */
static int coroutine_fn block_copy_is_cluster_allocated(BlockCopyState *s,
                                                        int64_t offset,
                                                        int64_t *pnum)
{
    BlockDriverState *bs = s->source->bs;
    int64_t count, total = 0;
    int64_t bytes = s->len - offset;
    int ret;

    assert(QEMU_IS_ALIGNED(offset, s->cluster_size));
    for (;;) {
        ret = bdrv_co_is_allocated(bs, offset, bytes, &count);
        if (ret < 0) {
            return ret;
        }
        total += count;
        if (ret || count == 0) {
            *pnum = DIV_ROUND_UP(total, s->cluster_size);
            return ret;
        }
        if (total >= s->cluster_size) {
            *pnum = total / s->cluster_size;
            return 0;
        }
        /* An unallocated piece shorter than a cluster: look further. */
        offset += count;
        bytes -= count;
    }
}

int64_t coroutine_fn block_copy_reset_unallocated(BlockCopyState *s,
                                                  int64_t offset,
                                                  int64_t *count)
{
    int64_t clusters, bytes;
    int ret = block_copy_is_cluster_allocated(s, offset, &clusters);

    if (ret < 0) {
        return ret;
    }
    bytes = clusters * s->cluster_size;
    if (!ret) {
        bdrv_reset_dirty_bitmap(s->copy_bitmap, offset, bytes);
        block_copy_update_remaining(s);
    }
    *count = bytes;
    return ret;
}

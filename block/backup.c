/*
 * The backup job (blockdev-backup, drive-backup): a copy-before-write
 * filter keeps the point in time while the job copies the rest in the
 * background with block-copy; the sync bitmap is settled at the end.
 */
#include "strata/osdep.h"
#include "block/backup.h"
#include "block/block_int.h"
#include "block/block-copy.h"
#include "block/copy-before-write.h"

typedef struct BackupBlockJob {
    BlockJob common;
    BlockDriverState *cbw;
    BlockDriverState *source_bs;
    BlockDriverState *target_bs;

    BdrvDirtyBitmap *sync_bitmap;
    MirrorSyncMode sync_mode;
    BitmapSyncMode bitmap_mode;
    BlockdevOnError on_source_error;
    BlockdevOnError on_target_error;
    uint64_t len;
    int64_t cluster_size;
    BackupPerf perf;

    BlockCopyState *bcs;
    /* The background copy of the whole disk, while one runs. */
    BlockCopyCallState *bg_bcs_call;
    /* The job waits in backup_pause for the cancelled call to end. */
    bool wait;
} BackupBlockJob;

static const BlockJobDriver backup_job_driver;

/* ---- the end: what happens to the sync bitmap ---- */

static void backup_cleanup_sync_bitmap(BackupBlockJob *job, int ret)
{
    bdrv_dirty_bitmap_sync_end(job->sync_bitmap, job->bitmap_mode, ret,
                               block_copy_dirty_bitmap(job->bcs));
}

static void backup_commit(Job *job)
{
    BackupBlockJob *s = container_of(job, BackupBlockJob, common.job);

    if (s->sync_bitmap) {
        backup_cleanup_sync_bitmap(s, 0);
    }
}

static void backup_abort(Job *job)
{
    BackupBlockJob *s = container_of(job, BackupBlockJob, common.job);

    if (s->sync_bitmap) {
        backup_cleanup_sync_bitmap(s, job->ret);
    }
}

static void backup_clean(Job *job)
{
    BackupBlockJob *s = container_of(job, BackupBlockJob, common.job);

    block_job_remove_all_bdrv(&s->common);
    bdrv_cbw_drop(s->cbw);
    s->cbw = NULL;
    s->bcs = NULL;
}

/* ---- running ---- */

static BlockErrorAction backup_error_action(BackupBlockJob *job, bool read,
                                            int error)
{
    return block_job_error_action(&job->common,
                                  read ? job->on_source_error
                                       : job->on_target_error,
                                  read, error);
}

static void backup_block_copy_callback(void *opaque)
{
    BackupBlockJob *s = opaque;

    if (s->wait) {
        /* backup_pause waits for exactly this. */
        s->wait = false;
        aio_co_wake(s->common.job.co);
    } else {
        job_enter(&s->common.job);
    }
}

/*
 * Copy everything the copy bitmap marks.  A pause cancels the copy call
 * (so the job stops issuing requests) and a new call takes over after it;
 * an error goes through the error policy, and 'stop' or 'ignore' retry.
 */
static int coroutine_fn backup_loop(BackupBlockJob *job)
{
    BlockCopyCallState *s = NULL;
    bool error_is_read;
    int ret = 0;

    for (;;) {
        job->bg_bcs_call = s = block_copy_async(job->bcs, 0,
                                                QEMU_ALIGN_UP(job->len,
                                                              job->cluster_size),
                                                job->perf.max_workers,
                                                job->perf.max_chunk,
                                                backup_block_copy_callback,
                                                job);

        while (!block_copy_call_finished(s) &&
               !job_is_cancelled(&job->common.job)) {
            job_yield(&job->common.job);
        }

        if (!block_copy_call_finished(s)) {
            /* Cancelled: stop the copy and wait for its last requests. */
            assert(job_is_cancelled(&job->common.job));
            /* job_yield() would return at once for a cancelled job. */
            block_copy_call_cancel(s);
            job->wait = true;
            qemu_coroutine_yield();
            assert(block_copy_call_finished(s));
            ret = 0;
            break;
        }
        if (job_is_cancelled(&job->common.job) ||
            block_copy_call_succeeded(s)) {
            ret = 0;
            break;
        }
        if (block_copy_call_cancelled(s)) {
            /* Only the call was cancelled, by a pause that is over now. */
            block_copy_call_free(s);
            continue;
        }

        assert(block_copy_call_failed(s));
        ret = block_copy_call_status(s, &error_is_read);
        switch (backup_error_action(job, error_is_read, -ret)) {
        case BLOCK_ERROR_ACTION_REPORT:
            goto out;
        case BLOCK_ERROR_ACTION_STOP:
            /* Paused as if by the user; retry once resumed. */
            job_pause_point(&job->common.job);
            break;
        case BLOCK_ERROR_ACTION_IGNORE:
            break;
        default:
            g_assert_not_reached();
        }
        block_copy_call_free(s);
    }
out:
    block_copy_call_free(s);
    job->bg_bcs_call = NULL;
    return ret;
}

/* The copy bitmap and the progress estimate as the sync mode wants. */
static void backup_init_bcs_bitmap(BackupBlockJob *job)
{
    BdrvDirtyBitmap *bcs_bitmap = block_copy_dirty_bitmap(job->bcs);

    if (job->sync_mode == MIRROR_SYNC_MODE_BITMAP) {
        bdrv_clear_dirty_bitmap(bcs_bitmap, NULL);
        bdrv_dirty_bitmap_merge_internal(bcs_bitmap, job->sync_bitmap, NULL);
    } else {
        if (job->sync_mode == MIRROR_SYNC_MODE_TOP) {
            /* The real set is found in the job (it needs block status). */
            block_copy_set_skip_unallocated(job->bcs, true);
        }
        bdrv_set_dirty_bitmap(bcs_bitmap, 0, job->len);
    }
    job_progress_set_remaining(&job->common.job,
                               bdrv_get_dirty_count(bcs_bitmap));
}

static int coroutine_fn backup_run(Job *job, Error **errp)
{
    BackupBlockJob *s = container_of(job, BackupBlockJob, common.job);
    int ret;

    backup_init_bcs_bitmap(s);

    if (s->sync_mode == MIRROR_SYNC_MODE_TOP) {
        int64_t offset, count;

        /* Clear the clusters the top layer does not have, with pauses. */
        for (offset = 0; offset < (int64_t)s->len; offset += count) {
            if (job_is_cancelled(job)) {
                return -ECANCELED;
            }
            job_pause_point(job);
            if (job_is_cancelled(job)) {
                return -ECANCELED;
            }
            ret = block_copy_reset_unallocated(s->bcs, offset, &count);
            if (ret < 0) {
                return ret;
            }
        }
        block_copy_set_skip_unallocated(s->bcs, false);
    }

    if (s->sync_mode == MIRROR_SYNC_MODE_NONE) {
        /* Nothing to copy in the background: the filter does it all. */
        while (!job_is_cancelled(job)) {
            job_yield(job);
        }
        return 0;
    }
    return backup_loop(s);
}

static void coroutine_fn backup_pause(Job *job)
{
    BackupBlockJob *s = container_of(job, BackupBlockJob, common.job);

    if (s->bg_bcs_call && !block_copy_call_finished(s->bg_bcs_call)) {
        /* A paused job issues no requests: end the call first. */
        block_copy_call_cancel(s->bg_bcs_call);
        s->wait = true;
        qemu_coroutine_yield();
    }
}

static void backup_set_speed(BlockJob *job, int64_t speed)
{
    BackupBlockJob *s = container_of(job, BackupBlockJob, common);

    /* block_job_create() sets the speed before the copy state exists. */
    if (s->bcs) {
        block_copy_set_speed(s->bcs, speed);
        if (s->bg_bcs_call) {
            block_copy_kick(s->bg_bcs_call);
        }
    }
}

static bool backup_cancel(Job *job, bool force)
{
    /* A backup has no soft cancel: it always ends at once. */
    return true;
}

static const BlockJobDriver backup_job_driver = {
    .job_driver = {
        .instance_size = sizeof(BackupBlockJob),
        .job_type = JOB_TYPE_BACKUP,
        .free = block_job_free,
        .user_resume = block_job_user_resume,
        .run = backup_run,
        .commit = backup_commit,
        .abort = backup_abort,
        .clean = backup_clean,
        .pause = backup_pause,
        .cancel = backup_cancel,
    },
    .set_speed = backup_set_speed,
};

/* ---- creation ---- */

/* Whether writes with BDRV_REQ_WRITE_COMPRESSED reach a driver that can. */
static bool supports_compressed_writes(BlockDriverState *bs)
{
    BlockDriverState *filtered;

    if (!bs->drv) {
        return false;
    }
    filtered = bdrv_filter_bs(bs);
    if (filtered) {
        return supports_compressed_writes(filtered);
    }
    return bs->drv->bdrv_co_pwritev_compressed_part != NULL;
}

BlockJob *backup_job_create(const char *job_id, BlockDriverState *bs,
                            BlockDriverState *target, int64_t speed,
                            MirrorSyncMode sync_mode,
                            BdrvDirtyBitmap *sync_bitmap,
                            BitmapSyncMode bitmap_mode, bool compress,
                            const char *filter_node_name,
                            const BackupPerf *perf,
                            BlockdevOnError on_source_error,
                            BlockdevOnError on_target_error,
                            int creation_flags,
                            void (*cb)(void *opaque, int ret), void *opaque,
                            JobTxn *txn, Error **errp)
{
    BackupBlockJob *job = NULL;
    BlockDriverState *cbw = NULL;
    BlockCopyState *bcs = NULL;
    int64_t len, target_len, cluster_size;

    assert(sync_mode != MIRROR_SYNC_MODE_INCREMENTAL);
    assert(sync_bitmap || sync_mode != MIRROR_SYNC_MODE_BITMAP);

    if (bs == target) {
        error_setg(errp, "Source and target cannot be the same");
        return NULL;
    }
    if (!bs->drv) {
        error_setg(errp, "Device is not inserted: %s",
                   bdrv_get_device_name(bs));
        return NULL;
    }
    if (!target->drv) {
        error_setg(errp, "Device is not inserted: %s",
                   bdrv_get_device_name(target));
        return NULL;
    }
    if (compress && !supports_compressed_writes(target)) {
        error_setg(errp, "Compression is not supported for this drive %s",
                   bdrv_get_device_name(target));
        return NULL;
    }
    if (bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_BACKUP_SOURCE, errp) ||
        bdrv_op_is_blocked(target, BLOCK_OP_TYPE_BACKUP_TARGET, errp)) {
        return NULL;
    }
    if (perf->max_workers < 1 || perf->max_workers > INT_MAX) {
        error_setg(errp, "max-workers must be between 1 and %d", INT_MAX);
        return NULL;
    }
    if (perf->max_chunk < 0) {
        error_setg(errp, "max-chunk must be zero (which means no limit) or "
                   "positive");
        return NULL;
    }

    if (sync_bitmap) {
        /* A bitmap the job settles must be writable. */
        if (bitmap_mode != BITMAP_SYNC_MODE_NEVER &&
            bdrv_dirty_bitmap_check(sync_bitmap, BDRV_BITMAP_DEFAULT, errp)) {
            return NULL;
        }
        /* Freeze it: writes from now on go to its successor. */
        if (bdrv_dirty_bitmap_create_successor(sync_bitmap, errp) < 0) {
            return NULL;
        }
    }

    len = bdrv_getlength(bs);
    if (len < 0) {
        error_setg_errno(errp, -len, "Unable to get length for '%s'",
                         bdrv_get_device_or_node_name(bs));
        goto error;
    }
    target_len = bdrv_getlength(target);
    if (target_len < 0) {
        error_setg_errno(errp, -target_len, "Unable to get length for '%s'",
                         bdrv_get_device_or_node_name(target));
        goto error;
    }
    if (target_len != len) {
        error_setg(errp, "Source and target image have different sizes");
        goto error;
    }

    cbw = bdrv_cbw_append(bs, target, filter_node_name, &bcs, errp);
    if (!cbw) {
        goto error;
    }
    cluster_size = block_copy_cluster_size(bcs);
    if (perf->max_chunk && perf->max_chunk < cluster_size) {
        error_setg(errp, "Required max-chunk (%" PRIi64 ") is less than "
                   "backup cluster size (%" PRIi64 ")", perf->max_chunk,
                   cluster_size);
        goto error;
    }

    /* The job needs no permissions: the filter's target edge has them. */
    job = block_job_create(job_id, &backup_job_driver, txn, cbw, 0,
                           BLK_PERM_ALL, speed, creation_flags, cb, opaque,
                           errp);
    if (!job) {
        goto error;
    }
    job->cbw = cbw;
    job->source_bs = bs;
    job->target_bs = target;
    job->on_source_error = on_source_error;
    job->on_target_error = on_target_error;
    job->sync_mode = sync_mode;
    job->sync_bitmap = sync_bitmap;
    job->bitmap_mode = bitmap_mode;
    job->bcs = bcs;
    job->cluster_size = cluster_size;
    job->len = len;
    job->perf = *perf;

    block_copy_set_copy_opts(bcs, perf->use_copy_range, compress);
    block_copy_set_progress_meter(bcs, &job->common.job.progress);
    block_copy_set_speed(bcs, speed);

    block_job_add_bdrv(&job->common, "target", target, 0, BLK_PERM_ALL,
                       &error_abort);
    return &job->common;

error:
    if (sync_bitmap) {
        bdrv_reclaim_dirty_bitmap(sync_bitmap, NULL);
    }
    if (cbw) {
        bdrv_cbw_drop(cbw);
    }
    return NULL;
}

/*
 * blockdev-backup and drive-backup: argument checks with QEMU's messages,
 * the target image drive-backup creates, and both as transaction actions
 * (the job is created in prepare, started in commit, cancelled in abort).
 */
#include "strata/osdep.h"
#include "block/backup.h"
#include "block/block-copy.h"
#include "block/block_int.h"
#include "block/transaction.h"
#include "qapi/qapi-commands.h"
#include "util/qdict.h"

typedef struct BackupActionState {
    BlkActionState common;
    /* The source, drained from prepare to clean. */
    BlockDriverState *bs;
    BlockJob *job;
} BackupActionState;

/*
 * What both commands share: defaults, the bitmap rules, then the job.
 * The job is created, not started.
 */
static BlockJob *do_backup_common(BackupCommon *backup, BlockDriverState *bs,
                                  BlockDriverState *target_bs, JobTxn *txn,
                                  Error **errp)
{
    BackupPerf perf = { .max_workers = BLOCK_COPY_MAX_WORKERS };
    BdrvDirtyBitmap *bmap = NULL;
    int job_flags = JOB_DEFAULT;
    MirrorSyncMode sync = backup->sync;
    BitmapSyncMode bitmap_mode = backup->bitmap_mode;
    bool has_bitmap_mode = backup->has_bitmap_mode;

    if (backup->x_perf) {
        if (backup->x_perf->has_use_copy_range) {
            perf.use_copy_range = backup->x_perf->use_copy_range;
        }
        if (backup->x_perf->has_max_workers) {
            perf.max_workers = backup->x_perf->max_workers;
        }
        if (backup->x_perf->has_max_chunk) {
            perf.max_chunk = backup->x_perf->max_chunk;
        }
    }

    if (sync == MIRROR_SYNC_MODE_BITMAP ||
        sync == MIRROR_SYNC_MODE_INCREMENTAL) {
        /* Checked before 'incremental' becomes 'bitmap', for the message. */
        if (!backup->has_bitmap) {
            error_setg(errp, "must provide a valid bitmap name for '%s' sync "
                       "mode", MirrorSyncMode_str(sync));
            return NULL;
        }
    }
    if (sync == MIRROR_SYNC_MODE_INCREMENTAL) {
        if (has_bitmap_mode && bitmap_mode != BITMAP_SYNC_MODE_ON_SUCCESS) {
            error_setg(errp, "Bitmap sync mode must be '%s' when using sync "
                       "mode '%s'",
                       BitmapSyncMode_str(BITMAP_SYNC_MODE_ON_SUCCESS),
                       MirrorSyncMode_str(sync));
            return NULL;
        }
        has_bitmap_mode = true;
        sync = MIRROR_SYNC_MODE_BITMAP;
        bitmap_mode = BITMAP_SYNC_MODE_ON_SUCCESS;
    }

    if (backup->has_bitmap) {
        bmap = bdrv_find_dirty_bitmap(bs, backup->bitmap);
        if (!bmap) {
            error_setg(errp, "Bitmap '%s' could not be found",
                       backup->bitmap);
            return NULL;
        }
        if (!has_bitmap_mode) {
            error_setg(errp, "Bitmap sync mode must be given when providing "
                       "a bitmap");
            return NULL;
        }
        if (bdrv_dirty_bitmap_check(bmap, BDRV_BITMAP_ALLOW_RO, errp)) {
            return NULL;
        }
        /* Nothing useful could come out of the bitmap. */
        if (sync == MIRROR_SYNC_MODE_NONE) {
            error_setg(errp, "sync mode '%s' does not produce meaningful "
                       "bitmap outputs", MirrorSyncMode_str(sync));
            return NULL;
        }
        /* The bitmap is neither read nor written: refuse, as QEMU does. */
        if (bitmap_mode == BITMAP_SYNC_MODE_NEVER &&
            sync != MIRROR_SYNC_MODE_BITMAP) {
            error_setg(errp, "Bitmap sync mode '%s' has no meaningful effect "
                       "when combined with sync mode '%s'",
                       BitmapSyncMode_str(bitmap_mode),
                       MirrorSyncMode_str(sync));
            return NULL;
        }
    }
    if (!backup->has_bitmap && has_bitmap_mode) {
        error_setg(errp, "Cannot specify bitmap sync mode without a bitmap");
        return NULL;
    }

    if (backup->has_auto_finalize && !backup->auto_finalize) {
        job_flags |= JOB_MANUAL_FINALIZE;
    }
    if (backup->has_auto_dismiss && !backup->auto_dismiss) {
        job_flags |= JOB_MANUAL_DISMISS;
    }

    return backup_job_create(backup->has_job_id ? backup->job_id : NULL,
                             bs, target_bs,
                             backup->has_speed ? backup->speed : 0,
                             sync, bmap, bitmap_mode,
                             backup->has_compress && backup->compress,
                             backup->has_filter_node_name
                             ? backup->filter_node_name : NULL,
                             &perf,
                             backup->has_on_source_error
                             ? backup->on_source_error
                             : BLOCKDEV_ON_ERROR_REPORT,
                             backup->has_on_target_error
                             ? backup->on_target_error
                             : BLOCKDEV_ON_ERROR_REPORT,
                             job_flags, NULL, NULL, txn, errp);
}

/* ---- blockdev-backup ---- */

static void blockdev_backup_prepare(BlkActionState *common, Error **errp)
{
    BackupActionState *state = container_of(common, BackupActionState,
                                            common);
    BlockdevBackup *backup = common->action->u.blockdev_backup.data;
    BlockDriverState *bs, *target_bs;

    bs = bdrv_lookup_bs(backup->device, backup->device, errp);
    if (!bs) {
        return;
    }
    target_bs = bdrv_lookup_bs(backup->target, backup->target, errp);
    if (!target_bs) {
        return;
    }
    /* Until clean: the point in time is now, for every action. */
    state->bs = bs;
    bdrv_drained_begin(bs);
    state->job = do_backup_common(qapi_BlockdevBackup_base(backup), bs,
                                  target_bs, common->block_job_txn, errp);
}

/* ---- drive-backup ---- */

static void drive_backup_prepare(BlkActionState *common, Error **errp)
{
    BackupActionState *state = container_of(common, BackupActionState,
                                            common);
    DriveBackup *backup = common->action->u.drive_backup.data;
    NewImageMode mode = backup->has_mode ? backup->mode
                                         : NEW_IMAGE_MODE_ABSOLUTE_PATHS;
    BlockDriverState *bs, *target_bs, *source = NULL;
    const char *format;
    bool set_backing_hd = false;
    Error *local_err = NULL;
    json_t *options;
    int64_t size;
    int flags;

    bs = bdrv_lookup_bs(backup->device, backup->device, errp);
    if (!bs) {
        return;
    }
    if (!bs->drv) {
        error_setg(errp, "Device has no medium");
        return;
    }
    state->bs = bs;
    bdrv_drained_begin(bs);

    format = backup->has_format ? backup->format : NULL;
    if (!format && mode != NEW_IMAGE_MODE_EXISTING) {
        format = bs->drv->format_name;
    }
    /* Before creating a target nobody could use. */
    if (bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_BACKUP_SOURCE, errp)) {
        return;
    }

    flags = bs->open_flags | BDRV_O_RDWR;
    /*
     * sync=top: the new image gets the source's backing file (past any
     * filter); without one, top means full.  sync=none: the target reads
     * unchanged data from the source itself.
     */
    if (backup->sync == MIRROR_SYNC_MODE_TOP) {
        source = bdrv_cow_bs(bdrv_skip_filters(bs));
        if (!source) {
            backup->sync = MIRROR_SYNC_MODE_FULL;
        }
    }
    if (backup->sync == MIRROR_SYNC_MODE_NONE) {
        source = bs;
        flags |= BDRV_O_NO_BACKING;
        set_backing_hd = true;
    }

    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "bdrv_getlength failed");
        return;
    }
    if (mode != NEW_IMAGE_MODE_EXISTING) {
        if (source) {
            BlockDriverState *backing = source;

            /* Implicit filters do not belong in the backing file name. */
            while (backing->implicit && bdrv_filter_bs(backing)) {
                backing = bdrv_filter_bs(backing);
            }
            bdrv_refresh_filename(backing);
            bdrv_img_create(backup->target, format, backing->filename,
                            backing->drv->format_name, NULL, size, flags,
                            false, &local_err);
        } else {
            bdrv_img_create(backup->target, format, NULL, NULL, NULL, size,
                            flags, false, &local_err);
        }
        if (local_err) {
            error_propagate(errp, local_err);
            return;
        }
    }

    options = json_object();
    qdict_put_str(options, "discard", "unmap");
    qdict_put_str(options, "detect-zeroes", "unmap");
    if (format) {
        qdict_put_str(options, "driver", format);
    }
    target_bs = bdrv_open(backup->target, NULL, options, flags, errp);
    if (!target_bs) {
        return;
    }
    if (set_backing_hd) {
        bdrv_set_backing_hd(target_bs, source, &local_err);
        if (local_err) {
            error_propagate(errp, local_err);
            bdrv_unref(target_bs);
            return;
        }
    }
    state->job = do_backup_common(qapi_DriveBackup_base(backup), bs,
                                  target_bs, common->block_job_txn, errp);
    /* The job holds the target now (or nobody does). */
    bdrv_unref(target_bs);
}

/* ---- shared steps ---- */

static void backup_action_commit(BlkActionState *common)
{
    BackupActionState *state = container_of(common, BackupActionState,
                                            common);

    assert(state->job);
    job_start(&state->job->job);
}

static void backup_action_abort(BlkActionState *common)
{
    BackupActionState *state = container_of(common, BackupActionState,
                                            common);

    if (state->job) {
        job_cancel_sync(&state->job->job, true);
    }
}

static void backup_action_clean(BlkActionState *common)
{
    BackupActionState *state = container_of(common, BackupActionState,
                                            common);

    if (state->bs) {
        bdrv_drained_end(state->bs);
    }
}

const BlkActionOps blockdev_backup_action_ops = {
    .instance_size = sizeof(BackupActionState),
    .prepare = blockdev_backup_prepare,
    .commit = backup_action_commit,
    .abort = backup_action_abort,
    .clean = backup_action_clean,
};

const BlkActionOps drive_backup_action_ops = {
    .instance_size = sizeof(BackupActionState),
    .prepare = drive_backup_prepare,
    .commit = backup_action_commit,
    .abort = backup_action_abort,
    .clean = backup_action_clean,
};

void qmp_blockdev_backup(BlockdevBackup *backup, Error **errp)
{
    TransactionAction action = {
        .type = TRANSACTION_ACTION_KIND_BLOCKDEV_BACKUP,
        .u.blockdev_backup.data = backup,
    };

    blockdev_do_action(&action, errp);
}

void qmp_drive_backup(DriveBackup *backup, Error **errp)
{
    TransactionAction action = {
        .type = TRANSACTION_ACTION_KIND_DRIVE_BACKUP,
        .u.drive_backup.data = backup,
    };

    blockdev_do_action(&action, errp);
}

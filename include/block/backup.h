/*
 * The backup job: copies a node's data as it was when the job started to
 * a target node, through a copy-before-write filter inserted above it.
 */
#ifndef BLOCK_BACKUP_H
#define BLOCK_BACKUP_H

#include "block/blockjob.h"
#include "block/dirty-bitmap.h"

/*
 * Create (not start) a backup job of @bs to @target.  @sync_mode is
 * full, top, none or bitmap (incremental is bitmap with on-success); with
 * @sync_bitmap, the bitmap is frozen behind a successor for the job's
 * life and settled by @bitmap_mode when it ends.  Refusals carry QEMU's
 * messages.
 */
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
                            JobTxn *txn, Error **errp);

#endif

/*
 * block-copy: copy the areas a bitmap marks from one node to another,
 * cluster by cluster, several requests at once, never the same cluster
 * twice at the same time (backup's engine and copy-before-write's).
 */
#ifndef BLOCK_BLOCK_COPY_H
#define BLOCK_BLOCK_COPY_H

#include "block/block.h"
#include "block/dirty-bitmap.h"
#include "util/progress-meter.h"

typedef struct BlockCopyState BlockCopyState;
typedef struct BlockCopyCallState BlockCopyCallState;
typedef void (*BlockCopyAsyncCallbackFunc)(void *opaque);

/* The most copy requests one call runs at once, by default. */
#define BLOCK_COPY_MAX_WORKERS 64

/*
 * Copy state from @source to @target (same length).  The copy bitmap (an
 * anonymous, disabled bitmap of @source's node with the cluster size as
 * granularity) starts as @bitmap's bits, or all set without one.  The
 * cluster size is the target's, at least 64 KiB; QEMU's warning is
 * printed when the target cannot say and has no backing file.
 */
BlockCopyState *block_copy_state_new(BdrvChild *source, BdrvChild *target,
                                     const BdrvDirtyBitmap *bitmap,
                                     Error **errp);
void block_copy_state_free(BlockCopyState *s);

/* Work done is counted here (bytes); remaining follows the bitmap. */
void block_copy_set_progress_meter(BlockCopyState *s, ProgressMeter *pm);
/* copy_file_range where the drivers can; compressed target writes. */
void block_copy_set_copy_opts(BlockCopyState *s, bool use_copy_range,
                              bool compress);
/* Rate limit for calls that do not ignore it (0: none). */
void block_copy_set_speed(BlockCopyState *s, uint64_t speed);
/*
 * sync=top: leave out clusters not allocated in @source's own layer
 * (their copy bits are cleared when met, or up front with
 * block_copy_reset_unallocated).
 */
void block_copy_set_skip_unallocated(BlockCopyState *s, bool skip);
/*
 * Clear the bits of the unallocated clusters at @offset (cluster
 * aligned); *count is how many bytes the answer covers.  Returns 1 if
 * allocated, 0 if not (bits cleared), or a negative errno.
 */
int64_t coroutine_fn block_copy_reset_unallocated(BlockCopyState *s,
                                                  int64_t offset,
                                                  int64_t *count);

BdrvDirtyBitmap *block_copy_dirty_bitmap(BlockCopyState *s);
int64_t block_copy_cluster_size(BlockCopyState *s);

/*
 * Copy every dirty cluster of [offset, offset + bytes) (cluster aligned)
 * and wait until none is left, including clusters other calls are
 * copying.  With @timeout_ns, give up waiting after that long
 * (-ETIMEDOUT); the copy then goes on in the background and @cb is called
 * when it ends.  Returns 0 or the first error.
 */
int coroutine_fn block_copy(BlockCopyState *s, int64_t offset, int64_t bytes,
                            bool ignore_ratelimit, uint64_t timeout_ns,
                            BlockCopyAsyncCallbackFunc cb, void *cb_opaque);

/*
 * The same in a coroutine of its own, started at once; @cb runs when it
 * finished (including after block_copy_call_cancel).  @max_workers
 * requests at a time, each at most @max_chunk bytes (0: the default).
 */
BlockCopyCallState *block_copy_async(BlockCopyState *s, int64_t offset,
                                     int64_t bytes, int max_workers,
                                     int64_t max_chunk,
                                     BlockCopyAsyncCallbackFunc cb,
                                     void *cb_opaque);
/* Stop starting requests; the call finishes when the running ones did. */
void block_copy_call_cancel(BlockCopyCallState *call_state);
/* A rate-limit sleep of the call ends now (the speed changed). */
void block_copy_kick(BlockCopyCallState *call_state);
bool block_copy_call_finished(BlockCopyCallState *call_state);
bool block_copy_call_succeeded(BlockCopyCallState *call_state);
bool block_copy_call_failed(BlockCopyCallState *call_state);
bool block_copy_call_cancelled(BlockCopyCallState *call_state);
/* The first error (0 if none), and whether reading the source failed. */
int block_copy_call_status(BlockCopyCallState *call_state,
                           bool *error_is_read);
void block_copy_call_free(BlockCopyCallState *call_state);

#endif

/*
 * Dirty bitmaps of a block node: lifetime and states (recording, busy,
 * readonly, persistent, inconsistent), job successors, merge, queries.
 */
#ifndef BLOCK_DIRTY_BITMAP_H
#define BLOCK_DIRTY_BITMAP_H

#include "block/block.h"
#include "util/hbitmap.h"

/*
 * A BdrvDirtyBitmap records which parts of its node were written while it
 * was enabled: every write, zero write and discard that completes on the
 * node sets the bits it touches (block/io.c calls bdrv_set_dirty), reads
 * never do.  Bitmaps are named (unique per node) or anonymous (internal:
 * job successors, copy bitmaps).  A node lists its newest bitmap first.
 *
 * States, as QMP reports them:
 *  - recording: enabled, or its successor is
 *  - busy: a job or export uses it (and every bitmap with a successor is)
 *  - readonly: loaded from an image opened read-only; cannot change
 *  - persistent: stored in the image when the node closes (qcow2)
 *  - inconsistent: loaded from an image that was not closed cleanly; the
 *    only thing to do with it is to remove it
 */
typedef struct BdrvDirtyBitmap BdrvDirtyBitmap;

/* Longest name a bitmap may have (QEMU's limit, for all named bitmaps). */
#define BDRV_BITMAP_MAX_NAME_SIZE 1023

/* What bdrv_dirty_bitmap_check() refuses. */
enum {
    BDRV_BITMAP_BUSY         = 1,
    BDRV_BITMAP_RO           = 2,
    BDRV_BITMAP_INCONSISTENT = 4,
};
/* Commands that modify the bitmap refuse all three. */
#define BDRV_BITMAP_DEFAULT (BDRV_BITMAP_BUSY | BDRV_BITMAP_RO | \
                             BDRV_BITMAP_INCONSISTENT)
/* Reading a bitmap (merge source, enable, disable) is fine when readonly. */
#define BDRV_BITMAP_ALLOW_RO (BDRV_BITMAP_BUSY | BDRV_BITMAP_INCONSISTENT)

/* ---- lifetime and lookup ---- */

/*
 * A new enabled bitmap of @granularity (a power of two >= 512) covering
 * the node's current length, first in the node's list.  @name NULL makes
 * an anonymous bitmap.  Errors: "Bitmap already exists: NAME", "Bitmap
 * name too long: NAME", or the node's length being unknown.
 */
BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          uint32_t granularity,
                                          const char *name, Error **errp);
/* Free a bitmap that is not busy and has no successor. */
void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bitmap);
/* Free every bitmap of @bs, whatever its state (the node is closing). */
void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs);
BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs,
                                        const char *name);
/* Iterate over a node's bitmaps, newest first (anonymous ones included). */
BdrvDirtyBitmap *bdrv_dirty_bitmap_first(BlockDriverState *bs);
BdrvDirtyBitmap *bdrv_dirty_bitmap_next(BdrvDirtyBitmap *bitmap);
#define FOR_EACH_DIRTY_BITMAP(bs, bitmap) \
    for ((bitmap) = bdrv_dirty_bitmap_first(bs); (bitmap); \
         (bitmap) = bdrv_dirty_bitmap_next(bitmap))
/* The node's cluster size clamped to [4 KiB, 64 KiB]; 64 KiB if unknown. */
uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs);

/* ---- properties ---- */

BlockDriverState *bdrv_dirty_bitmap_bs(const BdrvDirtyBitmap *bitmap);
/* NULL for anonymous bitmaps. */
const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bitmap);
uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bitmap);
/* Bytes covered (the node's length when created or last resized). */
int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bitmap);
/* Dirty bytes: set bits times the granularity. */
int64_t bdrv_get_dirty_count(const BdrvDirtyBitmap *bitmap);

bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_recording(const BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_busy(const BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bitmap);
/* Persistent and not excluded from storing (bdrv_dirty_bitmap_skip_store). */
bool bdrv_dirty_bitmap_get_persistence(const BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_has_successor(const BdrvDirtyBitmap *bitmap);
/* Whether any bitmap of @bs is readonly (writes must then fail). */
bool bdrv_has_readonly_bitmaps(BlockDriverState *bs);

void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bitmap);
void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bitmap, bool busy);
void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bitmap, bool value);
void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bitmap,
                                       bool persistent);
/* Mark a persistent bitmap unusable (and disabled). */
void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bitmap);
/*
 * Leave a persistent bitmap out of the image when it is stored (a
 * transaction that removes it sets this until it commits or aborts).
 */
void bdrv_dirty_bitmap_skip_store(BdrvDirtyBitmap *bitmap, bool skip);

/*
 * 0 if @bitmap may be used as @flags (BDRV_BITMAP_*) require, otherwise
 * -1 with QEMU's message: "Bitmap 'NAME' is currently in use by another
 * operation and cannot be used", "Bitmap 'NAME' is readonly and cannot be
 * modified", "Bitmap 'NAME' is inconsistent and cannot be used" (with a
 * hint to remove it).
 */
int bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bitmap, uint32_t flags,
                            Error **errp);

/* ---- contents ---- */

bool bdrv_dirty_bitmap_get(const BdrvDirtyBitmap *bitmap, int64_t offset);
/* Set / clear every bit [offset, offset + bytes) touches. */
void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset,
                           int64_t bytes);
void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset,
                             int64_t bytes);
/*
 * Clear all bits.  With @out, the old bits move to *out (for undo with
 * bdrv_restore_dirty_bitmap) and the bitmap gets fresh ones.
 */
void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bitmap, HBitmap **out);
/* Put back bits saved by clear or merge; frees the current ones. */
void bdrv_restore_dirty_bitmap(BdrvDirtyBitmap *bitmap, HBitmap *backup);

/*
 * The request path: [offset, offset + bytes) of @bs was written, zeroed or
 * discarded.  Marks every enabled bitmap of the node.
 */
void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes);
/* The node's length changed to @bytes: resize every bitmap. */
void bdrv_dirty_bitmap_truncate(BlockDriverState *bs, int64_t bytes);

/* Searches, in bytes (see hbitmap_next_dirty and friends). */
int64_t bdrv_dirty_bitmap_next_dirty(const BdrvDirtyBitmap *bitmap,
                                     int64_t offset, int64_t bytes);
int64_t bdrv_dirty_bitmap_next_zero(const BdrvDirtyBitmap *bitmap,
                                    int64_t offset, int64_t bytes);
bool bdrv_dirty_bitmap_next_dirty_area(const BdrvDirtyBitmap *bitmap,
                                       int64_t start, int64_t end,
                                       int64_t max_dirty_count,
                                       int64_t *dirty_start,
                                       int64_t *dirty_count);
bool bdrv_dirty_bitmap_status(const BdrvDirtyBitmap *bitmap, int64_t offset,
                              int64_t bytes, int64_t *count);
/* What x-debug-block-dirty-bitmap-sha256 reports. */
char *bdrv_dirty_bitmap_sha256(const BdrvDirtyBitmap *bitmap, Error **errp);

/* ---- merge ---- */

/*
 * @dest |= @src after checking both (dest as BDRV_BITMAP_DEFAULT, src as
 * BDRV_BITMAP_ALLOW_RO) and their sizes; @dest is unchanged on failure.
 * With @backup, the old bits of @dest go to *backup for undo.
 */
bool bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dest,
                             const BdrvDirtyBitmap *src, HBitmap **backup,
                             Error **errp);
/* The same without the checks, for jobs that own both bitmaps. */
bool bdrv_dirty_bitmap_merge_internal(BdrvDirtyBitmap *dest,
                                      const BdrvDirtyBitmap *src,
                                      HBitmap **backup);

/* ---- successors (backup jobs) ---- */

/*
 * Freeze @bitmap for a job: an anonymous successor takes over recording
 * (enabled as @bitmap was), @bitmap is disabled and busy.
 */
int bdrv_dirty_bitmap_create_successor(BdrvDirtyBitmap *bitmap,
                                       Error **errp);
/* Enable the successor (jobs that record from their own start). */
void bdrv_dirty_bitmap_enable_successor(BdrvDirtyBitmap *bitmap);
/*
 * The job used the frozen bits: the successor takes the name and
 * persistence, @bitmap is freed.  Returns the successor.
 */
BdrvDirtyBitmap *bdrv_dirty_bitmap_abdicate(BdrvDirtyBitmap *bitmap,
                                            Error **errp);
/*
 * The job did not use them: the successor's bits are merged back into
 * @bitmap, which takes the successor's enabled state and is no longer
 * busy; the successor is freed.  Returns @bitmap.
 */
BdrvDirtyBitmap *bdrv_reclaim_dirty_bitmap(BdrvDirtyBitmap *bitmap,
                                           Error **errp);
/*
 * End of a backup with a sync bitmap (QEMU's bitmap-mode semantics): for
 * "always", or "on-success" when @ret == 0, abdicate; otherwise reclaim.
 * For "always" after a failure, the bits the job did not copy
 * (@not_copied, may be NULL) are merged back.  Returns the bitmap that
 * now carries the name.
 */
BdrvDirtyBitmap *bdrv_dirty_bitmap_sync_end(BdrvDirtyBitmap *bitmap,
                                            BitmapSyncMode mode, int ret,
                                            const BdrvDirtyBitmap *not_copied);

/* ---- serialisation (image formats that store bitmaps) ---- */

uint64_t bdrv_dirty_bitmap_serialization_size(const BdrvDirtyBitmap *bitmap,
                                              uint64_t offset,
                                              uint64_t bytes);
uint64_t bdrv_dirty_bitmap_serialization_align(
    const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_serialize_part(const BdrvDirtyBitmap *bitmap,
                                      uint8_t *buf, uint64_t offset,
                                      uint64_t bytes);
void bdrv_dirty_bitmap_deserialize_part(BdrvDirtyBitmap *bitmap,
                                        const uint8_t *buf, uint64_t offset,
                                        uint64_t bytes, bool finish);
void bdrv_dirty_bitmap_deserialize_zeroes(BdrvDirtyBitmap *bitmap,
                                          uint64_t offset, uint64_t bytes,
                                          bool finish);
void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bitmap,
                                        uint64_t offset, uint64_t bytes,
                                        bool finish);
void bdrv_dirty_bitmap_deserialize_finish(BdrvDirtyBitmap *bitmap);

/* ---- persistence, through the node's driver ---- */

/* Whether the node's format can store bitmaps at all (qcow2 v3). */
bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs);
/*
 * Whether a new persistent bitmap @name could be stored in @bs; errors
 * as QEMU: "Can't store persistent bitmaps to NODE: Operation not
 * supported", or the format's reason.
 */
bool bdrv_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                     uint32_t granularity, Error **errp);
/* Drop a stored bitmap from the image (absent: not an error). */
int bdrv_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                        const char *name, Error **errp);

/* ---- queries ---- */

/* BlockDirtyInfo of every bitmap of @bs, newest first (NULL if none). */
BlockDirtyInfoList *bdrv_query_dirty_bitmaps(BlockDriverState *bs);

#endif

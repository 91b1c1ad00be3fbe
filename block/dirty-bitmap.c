/*
 * Dirty bitmaps of block nodes: creation, states and checks, marking by the
 * request path, job successors, merge with undo, persistence hooks, queries.
 */
#include "strata/osdep.h"
#include "block/dirty-bitmap.h"
#include "block/block_int.h"
#include "util/error.h"

struct BdrvDirtyBitmap {
    BlockDriverState *bs;
    HBitmap *bitmap;
    int64_t size;               /* bytes covered */
    char *name;                 /* NULL: anonymous */
    /* While a job holds the bitmap, new writes go to the successor. */
    BdrvDirtyBitmap *successor;
    bool disabled;
    bool busy;
    bool readonly;
    bool persistent;
    bool inconsistent;
    bool skip_store;
    QLIST_ENTRY(BdrvDirtyBitmap) list;
};

/* ---- lifetime and lookup ---- */

BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          uint32_t granularity,
                                          const char *name, Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    int64_t size;

    assert(is_power_of_2(granularity) && granularity >= BDRV_SECTOR_SIZE);
    if (name) {
        if (bdrv_find_dirty_bitmap(bs, name)) {
            error_setg(errp, "Bitmap already exists: %s", name);
            return NULL;
        }
        if (strlen(name) > BDRV_BITMAP_MAX_NAME_SIZE) {
            error_setg(errp, "Bitmap name too long: %s", name);
            return NULL;
        }
    }
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "could not get length of device");
        return NULL;
    }
    bitmap = g_new0(BdrvDirtyBitmap, 1);
    bitmap->bs = bs;
    bitmap->bitmap = hbitmap_alloc(size, ctz64(granularity));
    bitmap->size = size;
    bitmap->name = g_strdup(name);
    QLIST_INSERT_HEAD(&bs->dirty_bitmaps, bitmap, list);
    return bitmap;
}

static void free_bitmap(BdrvDirtyBitmap *bitmap)
{
    QLIST_REMOVE(bitmap, list);
    hbitmap_free(bitmap->bitmap);
    g_free(bitmap->name);
    g_free(bitmap);
}

void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    assert(!bitmap->busy);
    assert(!bitmap->successor);
    free_bitmap(bitmap);
}

void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs)
{
    while (!QLIST_EMPTY(&bs->dirty_bitmaps)) {
        free_bitmap(QLIST_FIRST(&bs->dirty_bitmaps));
    }
}

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs,
                                        const char *name)
{
    BdrvDirtyBitmap *bm;

    assert(name);
    QLIST_FOREACH(bm, &bs->dirty_bitmaps, list) {
        if (bm->name && !strcmp(name, bm->name)) {
            return bm;
        }
    }
    return NULL;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_first(BlockDriverState *bs)
{
    return QLIST_FIRST(&bs->dirty_bitmaps);
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_next(BdrvDirtyBitmap *bitmap)
{
    return QLIST_NEXT(bitmap, list);
}

uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs)
{
    BlockDriverInfo bdi;

    if (bdrv_get_info(bs, &bdi) >= 0 && bdi.cluster_size > 0) {
        return MIN(64 * KiB, MAX(4 * KiB, bdi.cluster_size));
    }
    return 64 * KiB;
}

/* ---- properties ---- */

BlockDriverState *bdrv_dirty_bitmap_bs(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->bs;
}

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->name;
}

uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bitmap)
{
    return UINT32_C(1) << hbitmap_granularity(bitmap->bitmap);
}

int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->size;
}

int64_t bdrv_get_dirty_count(const BdrvDirtyBitmap *bitmap)
{
    return hbitmap_count(bitmap->bitmap);
}

bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bitmap)
{
    return !bitmap->disabled;
}

bool bdrv_dirty_bitmap_recording(const BdrvDirtyBitmap *bitmap)
{
    return !bitmap->disabled ||
           (bitmap->successor && !bitmap->successor->disabled);
}

bool bdrv_dirty_bitmap_busy(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->busy;
}

bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->readonly;
}

bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->inconsistent;
}

bool bdrv_dirty_bitmap_get_persistence(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->persistent && !bitmap->skip_store;
}

bool bdrv_dirty_bitmap_has_successor(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->successor != NULL;
}

bool bdrv_has_readonly_bitmaps(BlockDriverState *bs)
{
    BdrvDirtyBitmap *bm;

    QLIST_FOREACH(bm, &bs->dirty_bitmaps, list) {
        if (bm->readonly) {
            return true;
        }
    }
    return false;
}

void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    bitmap->disabled = false;
}

void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    bitmap->disabled = true;
}

void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bitmap, bool busy)
{
    bitmap->busy = busy;
}

void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bitmap, bool value)
{
    bitmap->readonly = value;
}

void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bitmap,
                                       bool persistent)
{
    bitmap->persistent = persistent;
}

void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bitmap)
{
    assert(bitmap->persistent);
    bitmap->inconsistent = true;
    bitmap->disabled = true;
}

void bdrv_dirty_bitmap_skip_store(BdrvDirtyBitmap *bitmap, bool skip)
{
    bitmap->skip_store = skip;
}

int bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bitmap, uint32_t flags,
                            Error **errp)
{
    if ((flags & BDRV_BITMAP_BUSY) && bitmap->busy) {
        error_setg(errp, "Bitmap '%s' is currently in use by another "
                   "operation and cannot be used", bitmap->name);
        return -1;
    }
    if ((flags & BDRV_BITMAP_RO) && bitmap->readonly) {
        error_setg(errp, "Bitmap '%s' is readonly and cannot be modified",
                   bitmap->name);
        return -1;
    }
    if ((flags & BDRV_BITMAP_INCONSISTENT) && bitmap->inconsistent) {
        error_setg(errp, "Bitmap '%s' is inconsistent and cannot be used",
                   bitmap->name);
        error_append_hint(errp, "Try block-dirty-bitmap-remove to delete "
                          "this bitmap from disk\n");
        return -1;
    }
    return 0;
}

/* ---- contents ---- */

bool bdrv_dirty_bitmap_get(const BdrvDirtyBitmap *bitmap, int64_t offset)
{
    return hbitmap_get(bitmap->bitmap, offset);
}

void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset,
                           int64_t bytes)
{
    assert(!bitmap->readonly);
    hbitmap_set(bitmap->bitmap, offset, bytes);
}

void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset,
                             int64_t bytes)
{
    assert(!bitmap->readonly);
    hbitmap_reset(bitmap->bitmap, offset, bytes);
}

void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bitmap, HBitmap **out)
{
    assert(!bitmap->readonly);
    if (!out) {
        hbitmap_reset_all(bitmap->bitmap);
    } else {
        *out = bitmap->bitmap;
        bitmap->bitmap = hbitmap_alloc(bitmap->size,
                                       hbitmap_granularity(*out));
    }
}

void bdrv_restore_dirty_bitmap(BdrvDirtyBitmap *bitmap, HBitmap *backup)
{
    assert(!bitmap->readonly);
    hbitmap_free(bitmap->bitmap);
    bitmap->bitmap = backup;
}

void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BdrvDirtyBitmap *bm;

    QLIST_FOREACH(bm, &bs->dirty_bitmaps, list) {
        /*
         * A readonly bitmap sits on a node that cannot be written; should
         * a write get through anyway, the bitmap must not change.
         */
        if (bm->disabled || bm->readonly) {
            continue;
        }
        hbitmap_set(bm->bitmap, offset, bytes);
    }
}

void bdrv_dirty_bitmap_truncate(BlockDriverState *bs, int64_t bytes)
{
    BdrvDirtyBitmap *bm;

    QLIST_FOREACH(bm, &bs->dirty_bitmaps, list) {
        hbitmap_truncate(bm->bitmap, bytes);
        bm->size = bytes;
    }
}

int64_t bdrv_dirty_bitmap_next_dirty(const BdrvDirtyBitmap *bitmap,
                                     int64_t offset, int64_t bytes)
{
    return hbitmap_next_dirty(bitmap->bitmap, offset, bytes);
}

int64_t bdrv_dirty_bitmap_next_zero(const BdrvDirtyBitmap *bitmap,
                                    int64_t offset, int64_t bytes)
{
    return hbitmap_next_zero(bitmap->bitmap, offset, bytes);
}

bool bdrv_dirty_bitmap_next_dirty_area(const BdrvDirtyBitmap *bitmap,
                                       int64_t start, int64_t end,
                                       int64_t max_dirty_count,
                                       int64_t *dirty_start,
                                       int64_t *dirty_count)
{
    return hbitmap_next_dirty_area(bitmap->bitmap, start, end,
                                   max_dirty_count, dirty_start, dirty_count);
}

bool bdrv_dirty_bitmap_status(const BdrvDirtyBitmap *bitmap, int64_t offset,
                              int64_t bytes, int64_t *count)
{
    return hbitmap_status(bitmap->bitmap, offset, bytes, count);
}

char *bdrv_dirty_bitmap_sha256(const BdrvDirtyBitmap *bitmap, Error **errp)
{
    return hbitmap_sha256(bitmap->bitmap, errp);
}

/* ---- merge ---- */

bool bdrv_dirty_bitmap_merge_internal(BdrvDirtyBitmap *dest,
                                      const BdrvDirtyBitmap *src,
                                      HBitmap **backup)
{
    assert(!dest->readonly);
    assert(!dest->inconsistent);
    assert(!src->inconsistent);

    if (backup) {
        HBitmap *old = dest->bitmap;

        dest->bitmap = hbitmap_alloc(dest->size, hbitmap_granularity(old));
        if (!hbitmap_merge(old, src->bitmap, dest->bitmap)) {
            hbitmap_free(dest->bitmap);
            dest->bitmap = old;
            return false;
        }
        *backup = old;
        return true;
    }
    return hbitmap_merge(dest->bitmap, src->bitmap, dest->bitmap);
}

bool bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dest,
                             const BdrvDirtyBitmap *src, HBitmap **backup,
                             Error **errp)
{
    if (bdrv_dirty_bitmap_check(dest, BDRV_BITMAP_DEFAULT, errp) ||
        bdrv_dirty_bitmap_check(src, BDRV_BITMAP_ALLOW_RO, errp)) {
        return false;
    }
    if (src->size != dest->size) {
        error_setg(errp, "Bitmaps are of different sizes (destination size "
                   "is %" PRId64 ", source size is %" PRId64 ") and can't be "
                   "merged", dest->size, src->size);
        return false;
    }
    return bdrv_dirty_bitmap_merge_internal(dest, src, backup);
}

/* ---- successors ---- */

int bdrv_dirty_bitmap_create_successor(BdrvDirtyBitmap *bitmap,
                                       Error **errp)
{
    BdrvDirtyBitmap *child;

    if (bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_BUSY, errp)) {
        return -1;
    }
    if (bitmap->successor) {
        error_setg(errp, "Cannot create a successor for a bitmap that "
                   "already has one");
        return -1;
    }
    child = bdrv_create_dirty_bitmap(bitmap->bs,
                                     bdrv_dirty_bitmap_granularity(bitmap),
                                     NULL, errp);
    if (!child) {
        return -1;
    }
    /* The successor records if the parent did; the parent is frozen. */
    child->disabled = bitmap->disabled;
    bitmap->disabled = true;
    bitmap->successor = child;
    bitmap->busy = true;
    return 0;
}

void bdrv_dirty_bitmap_enable_successor(BdrvDirtyBitmap *bitmap)
{
    assert(bitmap->successor);
    bitmap->successor->disabled = false;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_abdicate(BdrvDirtyBitmap *bitmap,
                                            Error **errp)
{
    BdrvDirtyBitmap *successor = bitmap->successor;

    if (!successor) {
        error_setg(errp, "Cannot relinquish control if there's no successor "
                   "present");
        return NULL;
    }
    successor->name = bitmap->name;
    bitmap->name = NULL;
    successor->persistent = bitmap->persistent;
    bitmap->persistent = false;
    bitmap->successor = NULL;
    bitmap->busy = false;
    bdrv_release_dirty_bitmap(bitmap);
    return successor;
}

BdrvDirtyBitmap *bdrv_reclaim_dirty_bitmap(BdrvDirtyBitmap *bitmap,
                                           Error **errp)
{
    BdrvDirtyBitmap *successor = bitmap->successor;

    if (!successor) {
        error_setg(errp, "Cannot reclaim a successor when none is present");
        return NULL;
    }
    hbitmap_merge(bitmap->bitmap, successor->bitmap, bitmap->bitmap);
    bitmap->disabled = successor->disabled;
    bitmap->busy = false;
    bitmap->successor = NULL;
    bdrv_release_dirty_bitmap(successor);
    return bitmap;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_sync_end(BdrvDirtyBitmap *bitmap,
                                            BitmapSyncMode mode, int ret,
                                            const BdrvDirtyBitmap *not_copied)
{
    bool sync = (ret == 0 || mode == BITMAP_SYNC_MODE_ALWAYS) &&
                mode != BITMAP_SYNC_MODE_NEVER;
    BdrvDirtyBitmap *bm;

    if (sync) {
        /* The copy happened: keep only what was written since. */
        bm = bdrv_dirty_bitmap_abdicate(bitmap, NULL);
    } else {
        /* It did not, or was never meant to count: keep everything. */
        bm = bdrv_reclaim_dirty_bitmap(bitmap, NULL);
    }
    assert(bm);
    if (ret < 0 && mode == BITMAP_SYNC_MODE_ALWAYS && not_copied) {
        bdrv_dirty_bitmap_merge_internal(bm, not_copied, NULL);
    }
    return bm;
}

/* ---- serialisation ---- */

uint64_t bdrv_dirty_bitmap_serialization_size(const BdrvDirtyBitmap *bitmap,
                                              uint64_t offset,
                                              uint64_t bytes)
{
    return hbitmap_serialization_size(bitmap->bitmap, offset, bytes);
}

uint64_t bdrv_dirty_bitmap_serialization_align(const BdrvDirtyBitmap *bitmap)
{
    return hbitmap_serialization_align(bitmap->bitmap);
}

void bdrv_dirty_bitmap_serialize_part(const BdrvDirtyBitmap *bitmap,
                                      uint8_t *buf, uint64_t offset,
                                      uint64_t bytes)
{
    hbitmap_serialize_part(bitmap->bitmap, buf, offset, bytes);
}

void bdrv_dirty_bitmap_deserialize_part(BdrvDirtyBitmap *bitmap,
                                        const uint8_t *buf, uint64_t offset,
                                        uint64_t bytes, bool finish)
{
    hbitmap_deserialize_part(bitmap->bitmap, buf, offset, bytes, finish);
}

void bdrv_dirty_bitmap_deserialize_zeroes(BdrvDirtyBitmap *bitmap,
                                          uint64_t offset, uint64_t bytes,
                                          bool finish)
{
    hbitmap_deserialize_zeroes(bitmap->bitmap, offset, bytes, finish);
}

void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bitmap,
                                        uint64_t offset, uint64_t bytes,
                                        bool finish)
{
    hbitmap_deserialize_ones(bitmap->bitmap, offset, bytes, finish);
}

void bdrv_dirty_bitmap_deserialize_finish(BdrvDirtyBitmap *bitmap)
{
    hbitmap_deserialize_finish(bitmap->bitmap);
}

/* ---- persistence ---- */

bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    if (bs->drv && bs->drv->bdrv_supports_persistent_dirty_bitmap) {
        return bs->drv->bdrv_supports_persistent_dirty_bitmap(bs);
    }
    return false;
}

bool bdrv_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                     uint32_t granularity, Error **errp)
{
    if (!bs->drv) {
        error_setg_errno(errp, ENOMEDIUM, "Can't store persistent bitmaps "
                         "to %s", bdrv_get_device_or_node_name(bs));
        return false;
    }
    if (!bs->drv->bdrv_can_store_new_dirty_bitmap) {
        error_setg_errno(errp, ENOTSUP, "Can't store persistent bitmaps "
                         "to %s", bdrv_get_device_or_node_name(bs));
        return false;
    }
    return bs->drv->bdrv_can_store_new_dirty_bitmap(bs, name, granularity,
                                                    errp);
}

int bdrv_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                        const char *name, Error **errp)
{
    if (bs->drv && bs->drv->bdrv_remove_persistent_dirty_bitmap) {
        return bs->drv->bdrv_remove_persistent_dirty_bitmap(bs, name, errp);
    }
    return 0;
}

/* ---- queries ---- */

BlockDirtyInfoList *bdrv_query_dirty_bitmaps(BlockDriverState *bs)
{
    BlockDirtyInfoList *list = NULL, **tail = &list;
    BdrvDirtyBitmap *bm;

    QLIST_FOREACH(bm, &bs->dirty_bitmaps, list) {
        BlockDirtyInfo *info = g_new0(BlockDirtyInfo, 1);
        BlockDirtyInfoList *entry = g_new0(BlockDirtyInfoList, 1);

        info->count = bdrv_get_dirty_count(bm);
        info->granularity = bdrv_dirty_bitmap_granularity(bm);
        info->has_name = bm->name != NULL;
        info->name = g_strdup(bm->name);
        info->recording = bdrv_dirty_bitmap_recording(bm);
        info->busy = bm->busy;
        info->persistent = bm->persistent;
        info->has_inconsistent = bm->inconsistent;
        info->inconsistent = bm->inconsistent;
        entry->value = info;
        *tail = entry;
        tail = &entry->next;
    }
    return list;
}

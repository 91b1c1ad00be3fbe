/*
 * qemu:dirty-bitmap:NAME contexts for NBD exports: finds the bitmap an
 * export names and answers the server's dirty/clean queries from it.
 */
#include "strata/osdep.h"
#include "block/nbd-bitmap.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "util/error.h"

typedef struct BitmapSource {
    NBDDirtySource src;
    BdrvDirtyBitmap *bitmap;
    BlockDriverState *bs;       /* the bitmap's node, kept alive */
} BitmapSource;

static int64_t bitmap_extent(NBDDirtySource *src, int64_t offset,
                             int64_t max, bool *dirty)
{
    BitmapSource *b = container_of(src, BitmapSource, src);
    int64_t size = bdrv_dirty_bitmap_size(b->bitmap);
    int64_t count = 0;

    if (offset >= size) {
        /* Past the bitmap (the export's size is rounded): clean. */
        *dirty = false;
        return max;
    }
    *dirty = bdrv_dirty_bitmap_status(b->bitmap, offset,
                                      MIN(max, size - offset), &count);
    return count;
}

static void bitmap_release(NBDDirtySource *src)
{
    BitmapSource *b = container_of(src, BitmapSource, src);

    bdrv_dirty_bitmap_set_busy(b->bitmap, false);
    bdrv_unref(b->bs);
    g_free(src->name);
    g_free(b);
}

/* A name on @bs or, failing that, on what it filters or is backed by. */
static BdrvDirtyBitmap *find_in_chain(BlockDriverState *bs, const char *name)
{
    for (; bs; bs = bdrv_filter_or_cow_bs(bs)) {
        BdrvDirtyBitmap *bm = bdrv_find_dirty_bitmap(bs, name);

        if (bm) {
            return bm;
        }
    }
    return NULL;
}

NBDDirtySource *nbd_dirty_source_new(BlockDriverState *bs,
                                     const BlockDirtyBitmapOrStr *which,
                                     bool readonly, Error **errp)
{
    BdrvDirtyBitmap *bm;
    BlockDriverState *owner;
    BitmapSource *b;
    const char *name;

    if (which->type == QTYPE_QSTRING) {
        name = which->u.local;
        bm = find_in_chain(bs, name);
        if (!bm) {
            error_setg(errp, "Bitmap '%s' is not found", name);
            return NULL;
        }
    } else {
        const char *node = which->u.external.node;

        name = which->u.external.name;
        owner = bdrv_lookup_bs(node, node, NULL);
        if (!owner) {
            error_setg(errp, "Node '%s' not found", node);
            return NULL;
        }
        bm = bdrv_find_dirty_bitmap(owner, name);
        if (!bm) {
            error_setg(errp, "Dirty bitmap '%s' not found", name);
            return NULL;
        }
    }
    if (bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp) < 0) {
        return NULL;
    }
    owner = bdrv_dirty_bitmap_bs(bm);
    /*
     * A read-only export promises a stable image; a bitmap that may still
     * change with it would not describe what the client reads.
     */
    if (readonly && bdrv_is_writable(owner) &&
        bdrv_dirty_bitmap_enabled(bm)) {
        error_setg(errp, "Enabled bitmap '%s' incompatible with readonly "
                   "export", name);
        return NULL;
    }

    b = g_new0(BitmapSource, 1);
    b->src.name = g_strdup(name);
    b->src.extent = bitmap_extent;
    b->src.release = bitmap_release;
    b->bitmap = bm;
    b->bs = owner;
    bdrv_ref(owner);
    bdrv_dirty_bitmap_set_busy(bm, true);
    return &b->src;
}

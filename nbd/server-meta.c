/*
 * Metadata contexts of the NBD server: which names a query matches, and
 * the extents of base:allocation, qemu:allocation-depth and dirty bitmaps.
 */
#include "strata/osdep.h"
#include "nbd/server-int.h"
#include "block/block.h"

void nbd_meta_clear(NBDMetaSelection *meta)
{
    if (meta->exp) {
        nbd_export_unref(meta->exp);
    }
    g_free(meta->bitmaps);
    memset(meta, 0, sizeof(*meta));
}

static int match_bitmaps(NBDExport *exp, const char *name, MetaMatchFunc *fn,
                         void *opaque)
{
    int n = 0;

    for (size_t i = 0; i < exp->nr_bitmaps; i++) {
        g_autofree char *full = NULL;

        if (name && strcmp(name, exp->bitmaps[i]->name)) {
            continue;
        }
        full = g_strconcat(NBD_META_DIRTY_BITMAP, exp->bitmaps[i]->name,
                           NULL);
        n += fn(opaque, NBD_META_ID_DIRTY_BITMAP + i, full);
    }
    return n;
}

/*
 * The "qemu:" namespace: "allocation-depth" and "dirty-bitmap:NAME";
 * listings also take "" (everything) and "dirty-bitmap:" (every bitmap).
 */
static int match_qemu(NBDExport *exp, const char *leaf, bool list,
                      MetaMatchFunc *fn, void *opaque)
{
    const char *name;
    int n = 0;

    if (list && !leaf[0]) {
        if (exp->allocation_depth) {
            n += fn(opaque, NBD_META_ID_ALLOCATION_DEPTH,
                    NBD_META_ALLOCATION_DEPTH);
        }
        return n + match_bitmaps(exp, NULL, fn, opaque);
    }
    if (!strcmp(leaf, "allocation-depth")) {
        return exp->allocation_depth ?
               fn(opaque, NBD_META_ID_ALLOCATION_DEPTH,
                  NBD_META_ALLOCATION_DEPTH) : 0;
    }
    if (nbd_meta_split(leaf, "dirty-bitmap:", &name)) {
        if (!name[0]) {
            return list ? match_bitmaps(exp, NULL, fn, opaque) : 0;
        }
        return match_bitmaps(exp, name, fn, opaque);
    }
    return 0;
}

int nbd_meta_match(NBDExport *exp, const char *query, bool list,
                   MetaMatchFunc *fn, void *opaque)
{
    const char *leaf;

    if (nbd_meta_split(query, "base:", &leaf)) {
        if ((list && !leaf[0]) || !strcmp(leaf, "allocation")) {
            return fn(opaque, NBD_META_ID_BASE_ALLOCATION,
                      NBD_META_BASE_ALLOCATION);
        }
        return 0;
    }
    if (nbd_meta_split(query, "qemu:", &leaf)) {
        return match_qemu(exp, leaf, list, fn, opaque);
    }
    /* Unknown namespaces are ignored, as the protocol requires. */
    return 0;
}

int nbd_meta_list_all(NBDExport *exp, MetaMatchFunc *fn, void *opaque)
{
    return nbd_meta_match(exp, "base:", true, fn, opaque) +
           nbd_meta_match(exp, "qemu:", true, fn, opaque);
}

char *nbd_meta_name(NBDExport *exp, uint32_t id)
{
    if (id == NBD_META_ID_BASE_ALLOCATION) {
        return g_strdup(NBD_META_BASE_ALLOCATION);
    }
    if (id == NBD_META_ID_ALLOCATION_DEPTH) {
        return g_strdup(NBD_META_ALLOCATION_DEPTH);
    }
    if (id >= NBD_META_ID_DIRTY_BITMAP &&
        id - NBD_META_ID_DIRTY_BITMAP < exp->nr_bitmaps) {
        return g_strconcat(NBD_META_DIRTY_BITMAP,
                           exp->bitmaps[id - NBD_META_ID_DIRTY_BITMAP]->name,
                           NULL);
    }
    return NULL;
}

/* ---- extents ---- */

/* Append (or merge into the last extent); false once the list is full. */
static bool extent_add(NBDExtentList *list, uint64_t length, uint32_t flags)
{
    NBDExtent *last = list->count ? &list->extents[list->count - 1] : NULL;

    assert(length && length <= UINT32_MAX);
    if (last && last->flags == flags &&
        (uint64_t)last->length + length <= UINT32_MAX) {
        last->length += length;
    } else {
        if (list->count == list->max) {
            return false;
        }
        if (list->count == list->capacity) {
            list->capacity = MIN(MAX(list->capacity * 2, 16), list->max);
            list->extents = g_renew(NBDExtent, list->extents,
                                    list->capacity);
        }
        list->extents[list->count].length = length;
        list->extents[list->count].flags = flags;
        list->count++;
    }
    list->total += length;
    return true;
}

static int coroutine_fn allocation_extents(NBDExport *exp, uint64_t offset,
                                           uint64_t len, NBDExtentList *list)
{
    BlockDriverState *bs = blk_bs(exp->blk);

    while (len) {
        int64_t pnum = 0;
        int ret = bdrv_co_block_status_above(bs, NULL, true, offset, len,
                                             &pnum, NULL, NULL, NULL);
        uint32_t flags;

        if (ret < 0) {
            return ret;
        }
        if (pnum <= 0) {
            /* Past the node's end: nothing more to say. */
            break;
        }
        flags = (ret & BDRV_BLOCK_DATA ? 0 : NBD_STATE_HOLE) |
                (ret & BDRV_BLOCK_ZERO ? NBD_STATE_ZERO : 0);
        if (!extent_add(list, pnum, flags)) {
            break;
        }
        offset += pnum;
        len -= pnum;
    }
    return 0;
}

static int coroutine_fn depth_extents(NBDExport *exp, uint64_t offset,
                                      uint64_t len, NBDExtentList *list)
{
    BlockDriverState *bs = blk_bs(exp->blk);

    while (len) {
        int64_t pnum = 0;
        int ret = bdrv_co_is_allocated_above(bs, NULL, false, offset, len,
                                             &pnum);

        if (ret < 0) {
            return ret;
        }
        if (pnum <= 0) {
            break;
        }
        if (!extent_add(list, pnum, ret)) {
            break;
        }
        offset += pnum;
        len -= pnum;
    }
    return 0;
}

static int bitmap_extents(NBDDirtySource *src, uint64_t offset, uint64_t len,
                          NBDExtentList *list)
{
    while (len) {
        bool dirty = false;
        int64_t n = src->extent(src, offset, len, &dirty);

        if (n < 0) {
            return n;
        }
        if (n == 0) {
            break;
        }
        n = MIN((uint64_t)n, len);
        if (!extent_add(list, n, dirty ? NBD_STATE_DIRTY : 0)) {
            break;
        }
        offset += n;
        len -= n;
    }
    return 0;
}

int coroutine_fn nbd_meta_extents(NBDExport *exp, uint32_t id,
                                  uint64_t offset, uint64_t len,
                                  NBDExtentList *list)
{
    if (id == NBD_META_ID_BASE_ALLOCATION) {
        return allocation_extents(exp, offset, len, list);
    }
    if (id == NBD_META_ID_ALLOCATION_DEPTH) {
        return depth_extents(exp, offset, len, list);
    }
    assert(id >= NBD_META_ID_DIRTY_BITMAP &&
           id - NBD_META_ID_DIRTY_BITMAP < exp->nr_bitmaps);
    return bitmap_extents(exp->bitmaps[id - NBD_META_ID_DIRTY_BITMAP],
                          offset, len, list);
}

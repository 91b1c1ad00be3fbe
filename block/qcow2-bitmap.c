/*
 * Persistent dirty bitmaps in qcow2 images (the bitmaps extension): load at
 * open, store at close, remove, reopen, resize checks, as QEMU 7.2 does.
 */
#include "strata/osdep.h"
#include "block/qcow2.h"
#include "block/dirty-bitmap.h"
#include "util/error.h"

/* Limits QEMU puts on directory entries (it refuses anything beyond). */
#define BME_MAX_TABLE_SIZE 0x8000000
/* Largest bitmap data QEMU keeps in memory (512 MiB). */
#define BME_MAX_PHYS_SIZE 0x20000000
#define BME_MAX_GRANULARITY_BITS 31
#define BME_MIN_GRANULARITY_BITS 9
#define BME_MAX_NAME_SIZE 1023

#define BME_TABLE_ENTRY_SIZE 8

/* Directory entry flags. */
#define BME_RESERVED_FLAGS 0xfffffffcU
#define BME_FLAG_IN_USE (1U << 0)
#define BME_FLAG_AUTO   (1U << 1)

/* Bitmap table entries: bits 1-8 and 56-63 reserved. */
#define BME_TABLE_ENTRY_RESERVED_MASK 0xff000000000001feULL
#define BME_TABLE_ENTRY_OFFSET_MASK 0x00fffffffffffe00ULL
#define BME_TABLE_ENTRY_FLAG_ALL_ONES (1ULL << 0)

#define BT_DIRTY_TRACKING_BITMAP 1

/* Fixed part of a directory entry; extra data and name follow. */
#define DIR_ENTRY_HEADER_SIZE 24

typedef struct Qcow2BitmapTable {
    uint64_t offset;
    uint32_t size;              /* entries */
} Qcow2BitmapTable;

/* A directory entry, in memory. */
typedef struct Qcow2Bitmap {
    Qcow2BitmapTable table;
    uint32_t flags;
    uint8_t granularity_bits;
    char *name;
    /* The in-memory bitmap this entry is stored from, if any. */
    BdrvDirtyBitmap *dirty_bitmap;
} Qcow2Bitmap;

/* The directory: a GPtrArray of Qcow2Bitmap, in on-disk order. */
typedef GPtrArray Qcow2BitmapList;

static void bitmap_free(gpointer p)
{
    Qcow2Bitmap *bm = p;

    if (bm) {
        g_free(bm->name);
        g_free(bm);
    }
}

static Qcow2BitmapList *bitmap_list_new(void)
{
    return g_ptr_array_new_with_free_func(bitmap_free);
}

static Qcow2Bitmap *find_bitmap_by_name(Qcow2BitmapList *list,
                                        const char *name)
{
    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);

        if (!strcmp(bm->name, name)) {
            return bm;
        }
    }
    return NULL;
}

static bool can_write(BlockDriverState *bs)
{
    return !bdrv_is_read_only(bs) && !(bdrv_get_flags(bs) & BDRV_O_INACTIVE);
}

static uint64_t calc_dir_entry_size(size_t name_size, size_t extra_data_size)
{
    return ROUND_UP(DIR_ENTRY_HEADER_SIZE + name_size + extra_data_size, 8);
}

/* Bytes of bitmap data for @len bytes of disk. */
static uint64_t get_bitmap_bytes_needed(int64_t len, uint32_t granularity_bits)
{
    uint64_t num_bits = DIV_ROUND_UP(len, UINT64_C(1) << granularity_bits);

    return DIV_ROUND_UP(num_bits, 8);
}

/* Disk bytes one cluster of bitmap data covers. */
static uint64_t bytes_covered_by_bitmap_cluster(const BDRVQcow2State *s,
                                                const BdrvDirtyBitmap *bitmap)
{
    uint64_t granularity = bdrv_dirty_bitmap_granularity(bitmap);
    uint64_t limit = granularity * ((uint64_t)s->cluster_size << 3);

    assert(QEMU_IS_ALIGNED(limit,
                           bdrv_dirty_bitmap_serialization_align(bitmap)));
    return limit;
}

static int check_constraints_on_bitmap(BlockDriverState *bs,
                                       const char *name,
                                       uint32_t granularity, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int granularity_bits = ctz64(granularity);
    int64_t len = bdrv_getlength(bs);
    uint64_t bitmap_bytes;

    assert(is_power_of_2(granularity));
    if (len < 0) {
        error_setg_errno(errp, -len, "Failed to get size of '%s'",
                         bdrv_get_device_or_node_name(bs));
        return len;
    }
    if (granularity_bits > BME_MAX_GRANULARITY_BITS) {
        error_setg(errp, "Granularity exceeds maximum (%llu bytes)",
                   1ULL << BME_MAX_GRANULARITY_BITS);
        return -EINVAL;
    }
    if (granularity_bits < BME_MIN_GRANULARITY_BITS) {
        error_setg(errp, "Granularity is under minimum (%llu bytes)",
                   1ULL << BME_MIN_GRANULARITY_BITS);
        return -EINVAL;
    }
    bitmap_bytes = get_bitmap_bytes_needed(len, granularity_bits);
    if (bitmap_bytes > (uint64_t)BME_MAX_PHYS_SIZE ||
        bitmap_bytes > (uint64_t)BME_MAX_TABLE_SIZE * s->cluster_size) {
        error_setg(errp, "Too much space will be occupied by the bitmap. "
                   "Use larger granularity");
        return -EINVAL;
    }
    if (strlen(name) > BME_MAX_NAME_SIZE) {
        error_setg(errp, "Name length exceeds maximum (%u characters)",
                   BME_MAX_NAME_SIZE);
        return -EINVAL;
    }
    return 0;
}

/* ---- bitmap tables ---- */

static int check_table_entry(uint64_t entry, int cluster_size)
{
    uint64_t offset;

    if (entry & BME_TABLE_ENTRY_RESERVED_MASK) {
        return -EINVAL;
    }
    offset = entry & BME_TABLE_ENTRY_OFFSET_MASK;
    if (offset != 0) {
        /* With an offset, the "all ones" bit is reserved. */
        if (entry & BME_TABLE_ENTRY_FLAG_ALL_ONES) {
            return -EINVAL;
        }
        if (offset % cluster_size != 0) {
            return -EINVAL;
        }
    }
    return 0;
}

static int bitmap_table_load(BlockDriverState *bs, Qcow2BitmapTable *tb,
                             uint64_t **bitmap_table)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *table;
    int ret;

    assert(tb->size != 0 && tb->size <= BME_MAX_TABLE_SIZE);
    table = g_try_new(uint64_t, tb->size);
    if (!table) {
        return -ENOMEM;
    }
    ret = bdrv_pread(bs->file, tb->offset,
                     (int64_t)tb->size * BME_TABLE_ENTRY_SIZE, table, 0);
    if (ret < 0) {
        g_free(table);
        return ret;
    }
    for (uint32_t i = 0; i < tb->size; i++) {
        table[i] = be64toh(table[i]);
        ret = check_table_entry(table[i], s->cluster_size);
        if (ret < 0) {
            g_free(table);
            return ret;
        }
    }
    *bitmap_table = table;
    return 0;
}

/* Free the data clusters and the table of @tb (and forget them). */
static int free_bitmap_clusters(BlockDriverState *bs, Qcow2BitmapTable *tb)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *table;
    int ret;

    ret = bitmap_table_load(bs, tb, &table);
    if (ret < 0) {
        return ret;
    }
    for (uint32_t i = 0; i < tb->size; i++) {
        uint64_t addr = table[i] & BME_TABLE_ENTRY_OFFSET_MASK;

        if (addr) {
            qcow2_free_clusters(bs, addr, s->cluster_size,
                                QCOW2_DISCARD_ALWAYS);
        }
    }
    qcow2_free_clusters(bs, tb->offset,
                        (uint64_t)tb->size * BME_TABLE_ENTRY_SIZE,
                        QCOW2_DISCARD_OTHER);
    g_free(table);
    tb->offset = 0;
    tb->size = 0;
    return 0;
}

/* ---- the directory ---- */

/* Validate an entry as QEMU does before using or writing it. */
static int check_dir_entry(BlockDriverState *bs, uint64_t table_offset,
                           uint32_t table_size, uint32_t flags, uint8_t type,
                           uint8_t granularity_bits, uint32_t name_size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t phys_bitmap_bytes;
    int64_t len;

    if (table_size == 0 || table_offset == 0 ||
        table_offset % s->cluster_size ||
        table_size > BME_MAX_TABLE_SIZE ||
        granularity_bits > BME_MAX_GRANULARITY_BITS ||
        granularity_bits < BME_MIN_GRANULARITY_BITS ||
        (flags & BME_RESERVED_FLAGS) ||
        name_size > BME_MAX_NAME_SIZE ||
        type != BT_DIRTY_TRACKING_BITMAP) {
        return -EINVAL;
    }
    phys_bitmap_bytes = (uint64_t)table_size * s->cluster_size;
    len = bdrv_getlength(bs);
    if (len < 0) {
        return len;
    }
    if (phys_bitmap_bytes > BME_MAX_PHYS_SIZE) {
        return -EINVAL;
    }
    /*
     * A bitmap in use may have been left behind by a resize; a valid one
     * must cover the whole disk.
     */
    if (!(flags & BME_FLAG_IN_USE) &&
        (uint64_t)len > ((phys_bitmap_bytes * 8) << granularity_bits)) {
        return -EINVAL;
    }
    return 0;
}

static Qcow2BitmapList *bitmap_list_load(BlockDriverState *bs,
                                         uint64_t offset, uint64_t size,
                                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *dir = NULL;
    Qcow2BitmapList *list;
    uint32_t nb_dir_entries = 0;
    uint64_t pos = 0;
    int ret;

    if (size == 0) {
        error_setg(errp, "Requested bitmap directory size is zero");
        return NULL;
    }
    if (size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "Requested bitmap directory size is too big");
        return NULL;
    }
    dir = g_try_malloc(size);
    if (!dir) {
        error_setg(errp, "Failed to allocate space for bitmap directory");
        return NULL;
    }
    ret = bdrv_pread(bs->file, offset, size, dir, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read bitmap directory");
        return NULL;
    }

    list = bitmap_list_new();
    while (pos < size) {
        const uint8_t *e = dir + pos;
        uint32_t table_size, flags, extra_data_size;
        uint16_t name_size;
        uint8_t type, granularity_bits;
        Qcow2Bitmap *bm;

        if (pos + DIR_ENTRY_HEADER_SIZE > size) {
            goto broken_dir;
        }
        if (++nb_dir_entries > s->nb_bitmaps) {
            error_setg(errp, "More bitmaps found than specified in header "
                       "extension");
            goto fail;
        }
        table_size = ldl_be(e + 8);
        flags = ldl_be(e + 12);
        type = e[16];
        granularity_bits = e[17];
        name_size = lduw_be(e + 18);
        extra_data_size = ldl_be(e + 20);
        if (pos + calc_dir_entry_size(name_size, extra_data_size) > size) {
            goto broken_dir;
        }
        if (extra_data_size != 0) {
            error_setg(errp, "Bitmap extra data is not supported");
            goto fail;
        }
        if (check_dir_entry(bs, ldq_be(e), table_size, flags, type,
                            granularity_bits, name_size) < 0) {
            error_setg(errp, "Bitmap '%.*s' doesn't satisfy the constraints",
                       name_size, (const char *)e + DIR_ENTRY_HEADER_SIZE);
            goto fail;
        }
        bm = g_new0(Qcow2Bitmap, 1);
        bm->table.offset = ldq_be(e);
        bm->table.size = table_size;
        bm->flags = flags;
        bm->granularity_bits = granularity_bits;
        bm->name = g_strndup((const char *)e + DIR_ENTRY_HEADER_SIZE,
                             name_size);
        g_ptr_array_add(list, bm);
        pos += calc_dir_entry_size(name_size, extra_data_size);
    }
    if (nb_dir_entries != s->nb_bitmaps) {
        error_setg(errp, "Less bitmaps found than specified in header "
                   "extension");
        goto fail;
    }
    if (pos != size) {
        goto broken_dir;
    }
    return list;

broken_dir:
    error_setg(errp, "Broken bitmap directory");
fail:
    g_ptr_array_free(list, true);
    return NULL;
}

/*
 * Write @list as a directory: at *offset (in place, same size) or at new
 * clusters, whose place goes to *offset / *size.
 */
static int bitmap_list_store(BlockDriverState *bs, Qcow2BitmapList *list,
                             uint64_t *offset, uint64_t *size, bool in_place)
{
    g_autofree uint8_t *dir = NULL;
    int64_t dir_offset = 0;
    uint64_t dir_size = 0, pos = 0;
    int ret;

    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);

        dir_size += calc_dir_entry_size(strlen(bm->name), 0);
    }
    if (dir_size == 0 || dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        return -EINVAL;
    }
    if (in_place) {
        if (*size != dir_size || *offset == 0) {
            return -EINVAL;
        }
        dir_offset = *offset;
    }
    dir = g_try_malloc0(dir_size);
    if (!dir) {
        return -ENOMEM;
    }
    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);
        size_t name_size = strlen(bm->name);
        uint8_t *e = dir + pos;

        ret = check_dir_entry(bs, bm->table.offset, bm->table.size,
                              bm->flags, BT_DIRTY_TRACKING_BITMAP,
                              bm->granularity_bits, name_size);
        if (ret < 0) {
            return -EINVAL;
        }
        stq_be(e, bm->table.offset);
        stl_be(e + 8, bm->table.size);
        stl_be(e + 12, bm->flags);
        e[16] = BT_DIRTY_TRACKING_BITMAP;
        e[17] = bm->granularity_bits;
        stw_be(e + 18, name_size);
        stl_be(e + 20, 0);
        memcpy(e + DIR_ENTRY_HEADER_SIZE, bm->name, name_size);
        pos += calc_dir_entry_size(name_size, 0);
    }

    if (!in_place) {
        dir_offset = qcow2_alloc_clusters(bs, dir_size);
        if (dir_offset < 0) {
            return dir_offset;
        }
    }
    /*
     * In place, the old directory is where we write (the autoclear bit is
     * off meanwhile, so nobody trusts it).
     */
    ret = qcow2_pre_write_overlap_check(bs, in_place ?
                                        QCOW2_OL_BITMAP_DIRECTORY : 0,
                                        dir_offset, dir_size, false);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_pwrite(bs->file, dir_offset, dir_size, dir, 0);
    if (ret < 0) {
        goto fail;
    }
    if (!in_place) {
        *size = dir_size;
        *offset = dir_offset;
    }
    return 0;

fail:
    if (!in_place) {
        qcow2_free_clusters(bs, dir_offset, dir_size, QCOW2_DISCARD_OTHER);
    }
    return ret;
}

static int update_header_sync(BlockDriverState *bs)
{
    int ret = qcow2_update_header(bs);

    if (ret < 0) {
        return ret;
    }
    return bdrv_flush(bs->file->bs);
}

/*
 * Rewrite the directory where it is (only flags change).  The autoclear
 * bit goes off first and back on last, so that a crash in between leaves
 * bitmaps that no one trusts rather than a half-written directory.
 */
static int update_ext_header_and_dir_in_place(BlockDriverState *bs,
                                              Qcow2BitmapList *list)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS) ||
        !list || list->len == 0 || list->len != s->nb_bitmaps) {
        return -EINVAL;
    }
    s->autoclear_features &= ~(uint64_t)QCOW2_AUTOCLEAR_BITMAPS;
    ret = update_header_sync(bs);
    if (ret < 0) {
        return ret;
    }
    ret = bitmap_list_store(bs, list, &s->bitmap_directory_offset,
                            &s->bitmap_directory_size, true);
    if (ret < 0) {
        /* The bit stays off: check will reclaim the clusters. */
        return ret;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        return ret;
    }
    s->autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
    return update_header_sync(bs);
}

/*
 * Write @list as a new directory (or drop the extension if it is empty),
 * point the header at it, then free the old directory.
 */
static int update_ext_header_and_dir(BlockDriverState *bs,
                                     Qcow2BitmapList *list)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t new_offset = 0, new_size = 0;
    uint32_t new_nb_bitmaps = 0;
    uint64_t old_offset = s->bitmap_directory_offset;
    uint64_t old_size = s->bitmap_directory_size;
    uint32_t old_nb_bitmaps = s->nb_bitmaps;
    uint64_t old_autoclear = s->autoclear_features;
    int ret;

    if (list && list->len > 0) {
        new_nb_bitmaps = list->len;
        if (new_nb_bitmaps > QCOW2_MAX_BITMAPS) {
            return -EINVAL;
        }
        ret = bitmap_list_store(bs, list, &new_offset, &new_size, false);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            goto fail;
        }
        s->autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
    } else {
        s->autoclear_features &= ~(uint64_t)QCOW2_AUTOCLEAR_BITMAPS;
    }
    s->bitmap_directory_offset = new_offset;
    s->bitmap_directory_size = new_size;
    s->nb_bitmaps = new_nb_bitmaps;

    ret = update_header_sync(bs);
    if (ret < 0) {
        goto fail;
    }
    if (old_size > 0) {
        qcow2_free_clusters(bs, old_offset, old_size, QCOW2_DISCARD_OTHER);
    }
    return 0;

fail:
    if (new_offset > 0) {
        qcow2_free_clusters(bs, new_offset, new_size, QCOW2_DISCARD_OTHER);
    }
    s->bitmap_directory_offset = old_offset;
    s->bitmap_directory_size = old_size;
    s->nb_bitmaps = old_nb_bitmaps;
    s->autoclear_features = old_autoclear;
    return ret;
}

/* ---- loading ---- */

static int load_bitmap_data(BlockDriverState *bs,
                            const uint64_t *bitmap_table,
                            uint32_t bitmap_table_size,
                            BdrvDirtyBitmap *bitmap)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bm_size = bdrv_dirty_bitmap_size(bitmap);
    uint64_t tab_size = size_to_clusters(s,
        bdrv_dirty_bitmap_serialization_size(bitmap, 0, bm_size));
    uint64_t limit, offset;
    g_autofree uint8_t *buf = NULL;
    int ret;

    if (tab_size != bitmap_table_size || tab_size > BME_MAX_TABLE_SIZE) {
        return -EINVAL;
    }
    buf = g_malloc(s->cluster_size);
    limit = bytes_covered_by_bitmap_cluster(s, bitmap);
    offset = 0;
    for (uint64_t i = 0; i < tab_size; i++, offset += limit) {
        uint64_t count = MIN(bm_size - offset, limit);
        uint64_t entry = bitmap_table[i];
        uint64_t data_offset = entry & BME_TABLE_ENTRY_OFFSET_MASK;

        if (data_offset == 0) {
            /* Unallocated: all zeroes (already) or all ones. */
            if (entry & BME_TABLE_ENTRY_FLAG_ALL_ONES) {
                bdrv_dirty_bitmap_deserialize_ones(bitmap, offset, count,
                                                   false);
            }
            continue;
        }
        ret = bdrv_pread(bs->file, data_offset, s->cluster_size, buf, 0);
        if (ret < 0) {
            return ret;
        }
        bdrv_dirty_bitmap_deserialize_part(bitmap, buf, offset, count, false);
    }
    bdrv_dirty_bitmap_deserialize_finish(bitmap);
    return 0;
}

static BdrvDirtyBitmap *load_bitmap(BlockDriverState *bs, Qcow2Bitmap *bm,
                                    Error **errp)
{
    g_autofree uint64_t *bitmap_table = NULL;
    BdrvDirtyBitmap *bitmap;
    int ret;

    bitmap = bdrv_create_dirty_bitmap(bs, 1U << bm->granularity_bits,
                                      bm->name, errp);
    if (!bitmap) {
        return NULL;
    }
    if (bm->flags & BME_FLAG_IN_USE) {
        /* Its data cannot be trusted: leave it empty. */
        return bitmap;
    }
    ret = bitmap_table_load(bs, &bm->table, &bitmap_table);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read bitmap_table table from "
                         "image for bitmap '%s'", bm->name);
        goto fail;
    }
    ret = load_bitmap_data(bs, bitmap_table, bm->table.size, bitmap);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read bitmap '%s' from image",
                         bm->name);
        goto fail;
    }
    return bitmap;

fail:
    bdrv_release_dirty_bitmap(bitmap);
    return NULL;
}

bool qcow2_load_dirty_bitmaps(BlockDriverState *bs, bool *header_updated,
                              Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2BitmapList *list;
    GSList *created = NULL;
    bool needs_update = false;
    bool ok = false;

    if (header_updated) {
        *header_updated = false;
    }
    if (s->nb_bitmaps == 0) {
        return true;
    }
    list = bitmap_list_load(bs, s->bitmap_directory_offset,
                            s->bitmap_directory_size, errp);
    if (!list) {
        return false;
    }

    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);
        BdrvDirtyBitmap *bitmap;

        /*
         * In use on disk and already in memory (a reload): the copy in
         * memory is the live one.
         */
        if ((bm->flags & BME_FLAG_IN_USE) &&
            bdrv_find_dirty_bitmap(bs, bm->name)) {
            continue;
        }
        bitmap = load_bitmap(bs, bm, errp);
        if (!bitmap) {
            goto out;
        }
        bdrv_dirty_bitmap_set_persistence(bitmap, true);
        if (bm->flags & BME_FLAG_IN_USE) {
            /* Not stored cleanly by whoever had it open. */
            bdrv_dirty_bitmap_set_inconsistent(bitmap);
        } else {
            /* Ours now: in use until we store it (if we may write). */
            bm->flags |= BME_FLAG_IN_USE;
            needs_update = true;
        }
        if (!(bm->flags & BME_FLAG_AUTO)) {
            bdrv_disable_dirty_bitmap(bitmap);
        }
        created = g_slist_append(created, bitmap);
    }

    if (needs_update && can_write(bs)) {
        int ret = update_ext_header_and_dir_in_place(bs, list);

        if (ret < 0) {
            error_setg_errno(errp, -ret, "Can't update bitmap directory");
            goto out;
        }
        if (header_updated) {
            *header_updated = true;
        }
    }
    if (!can_write(bs)) {
        for (GSList *l = created; l; l = l->next) {
            bdrv_dirty_bitmap_set_readonly(l->data, true);
        }
    }
    ok = true;

out:
    if (!ok) {
        for (GSList *l = created; l; l = l->next) {
            bdrv_release_dirty_bitmap(l->data);
        }
    }
    g_slist_free(created);
    g_ptr_array_free(list, true);
    return ok;
}

/* ---- storing ---- */

/*
 * Write the data clusters of @bitmap: a table with an entry per cluster
 * of bitmap data, zero for clusters with no dirty bit.
 */
static uint64_t *store_bitmap_data(BlockDriverState *bs,
                                   BdrvDirtyBitmap *bitmap,
                                   uint32_t *bitmap_table_size, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const char *bm_name = bdrv_dirty_bitmap_name(bitmap);
    uint64_t bm_size = bdrv_dirty_bitmap_size(bitmap);
    uint64_t tb_size = size_to_clusters(s,
        bdrv_dirty_bitmap_serialization_size(bitmap, 0, bm_size));
    g_autofree uint8_t *buf = NULL;
    uint64_t *tb;
    uint64_t limit;
    int64_t offset;
    int ret;

    if (tb_size > BME_MAX_TABLE_SIZE ||
        tb_size * s->cluster_size > BME_MAX_PHYS_SIZE) {
        error_setg(errp, "Bitmap '%s' is too big", bm_name);
        return NULL;
    }
    tb = g_try_new0(uint64_t, MAX(tb_size, 1));
    if (!tb) {
        error_setg(errp, "No memory");
        return NULL;
    }
    buf = g_malloc(s->cluster_size);
    limit = bytes_covered_by_bitmap_cluster(s, bitmap);
    assert(DIV_ROUND_UP(bm_size, limit) == tb_size);

    offset = 0;
    while ((offset = bdrv_dirty_bitmap_next_dirty(bitmap, offset,
                                                  INT64_MAX)) >= 0) {
        uint64_t cluster = offset / limit;
        uint64_t end, write_size;
        int64_t off;

        /* The whole cluster of bitmap data holding this dirty bit. */
        offset = QEMU_ALIGN_DOWN(offset, limit);
        end = MIN(bm_size, offset + limit);
        write_size = bdrv_dirty_bitmap_serialization_size(bitmap, offset,
                                                          end - offset);
        assert(write_size <= (uint64_t)s->cluster_size);

        off = qcow2_alloc_clusters(bs, s->cluster_size);
        if (off < 0) {
            error_setg_errno(errp, -off, "Failed to allocate clusters for "
                             "bitmap '%s'", bm_name);
            goto fail;
        }
        tb[cluster] = off;

        bdrv_dirty_bitmap_serialize_part(bitmap, buf, offset, end - offset);
        if (write_size < (uint64_t)s->cluster_size) {
            memset(buf + write_size, 0, s->cluster_size - write_size);
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, off, s->cluster_size,
                                            false);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Qcow2 overlap check failed");
            goto fail;
        }
        ret = bdrv_pwrite(bs->file, off, s->cluster_size, buf, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to write bitmap '%s' to "
                             "file", bm_name);
            goto fail;
        }
        offset = end;
    }
    *bitmap_table_size = tb_size;
    return tb;

fail:
    for (uint64_t i = 0; i < tb_size; i++) {
        if (tb[i]) {
            qcow2_free_clusters(bs, tb[i], s->cluster_size,
                                QCOW2_DISCARD_ALWAYS);
        }
    }
    g_free(tb);
    return NULL;
}

/* Store the data and table of bm->dirty_bitmap; bm->table points at them. */
static int store_bitmap(BlockDriverState *bs, Qcow2Bitmap *bm, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvDirtyBitmap *bitmap = bm->dirty_bitmap;
    const char *bm_name = bdrv_dirty_bitmap_name(bitmap);
    uint32_t tb_size = 0;
    uint64_t tb_bytes;
    g_autofree uint64_t *be = NULL;
    uint64_t *tb;
    int64_t tb_offset = 0;
    int ret;

    tb = store_bitmap_data(bs, bitmap, &tb_size, errp);
    if (!tb) {
        return -EINVAL;
    }
    tb_bytes = (uint64_t)tb_size * BME_TABLE_ENTRY_SIZE;
    if (tb_size > 0) {
        tb_offset = qcow2_alloc_clusters(bs, tb_bytes);
        if (tb_offset < 0) {
            error_setg_errno(errp, -tb_offset, "Failed to allocate clusters "
                             "for bitmap '%s'", bm_name);
            ret = tb_offset;
            tb_offset = 0;
            goto fail;
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, tb_offset, tb_bytes,
                                            false);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Qcow2 overlap check failed");
            goto fail;
        }
        be = g_new(uint64_t, tb_size);
        for (uint32_t i = 0; i < tb_size; i++) {
            be[i] = htobe64(tb[i]);
        }
        ret = bdrv_pwrite(bs->file, tb_offset, tb_bytes, be, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to write bitmap '%s' to "
                             "file", bm_name);
            goto fail;
        }
    }
    g_free(tb);
    bm->table.offset = tb_offset;
    bm->table.size = tb_size;
    return 0;

fail:
    for (uint32_t i = 0; i < tb_size; i++) {
        if (tb[i]) {
            qcow2_free_clusters(bs, tb[i], s->cluster_size,
                                QCOW2_DISCARD_ALWAYS);
        }
    }
    if (tb_offset > 0) {
        qcow2_free_clusters(bs, tb_offset, tb_bytes, QCOW2_DISCARD_OTHER);
    }
    g_free(tb);
    return ret;
}

bool qcow2_store_persistent_dirty_bitmaps(BlockDriverState *bs,
                                          bool release_stored, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t new_nb_bitmaps = s->nb_bitmaps;
    uint64_t new_dir_size = s->bitmap_directory_size;
    Qcow2BitmapList *list;
    GPtrArray *drop_tables;
    BdrvDirtyBitmap *bitmap;
    bool need_write = false;
    int ret;

    if (s->nb_bitmaps == 0) {
        list = bitmap_list_new();
    } else {
        list = bitmap_list_load(bs, s->bitmap_directory_offset,
                                s->bitmap_directory_size, errp);
        if (!list) {
            return false;
        }
    }
    drop_tables = g_ptr_array_new_with_free_func(g_free);

    /* Match in-memory bitmaps with entries; new ones go to the end. */
    FOR_EACH_DIRTY_BITMAP(bs, bitmap) {
        const char *name = bdrv_dirty_bitmap_name(bitmap);
        uint32_t granularity = bdrv_dirty_bitmap_granularity(bitmap);
        Qcow2Bitmap *bm;

        if (!bdrv_dirty_bitmap_get_persistence(bitmap) ||
            bdrv_dirty_bitmap_inconsistent(bitmap)) {
            continue;
        }
        if (bdrv_dirty_bitmap_readonly(bitmap)) {
            /* Unchanged on disk; remember it only to release it. */
            bm = find_bitmap_by_name(list, name);
            if (bm) {
                bm->dirty_bitmap = bitmap;
            }
            continue;
        }
        need_write = true;

        if (check_constraints_on_bitmap(bs, name, granularity, errp) < 0) {
            error_prepend(errp, "Bitmap '%s' doesn't satisfy the "
                          "constraints: ", name);
            goto fail;
        }
        bm = find_bitmap_by_name(list, name);
        if (!bm) {
            if (++new_nb_bitmaps > QCOW2_MAX_BITMAPS) {
                error_setg(errp, "Too many persistent bitmaps");
                goto fail;
            }
            new_dir_size += calc_dir_entry_size(strlen(name), 0);
            if (new_dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
                error_setg(errp, "Bitmap directory is too large");
                goto fail;
            }
            bm = g_new0(Qcow2Bitmap, 1);
            bm->name = g_strdup(name);
            g_ptr_array_add(list, bm);
        } else {
            if (!(bm->flags & BME_FLAG_IN_USE)) {
                /* Someone else stored it meanwhile. */
                error_setg(errp, "Bitmap '%s' already exists in the image",
                           name);
                goto fail;
            }
            /* The old data goes once the new directory is in place. */
            g_ptr_array_add(drop_tables, g_memdup2(&bm->table,
                                                   sizeof(bm->table)));
            bm->table.offset = 0;
            bm->table.size = 0;
        }
        bm->flags = bdrv_dirty_bitmap_enabled(bitmap) ? BME_FLAG_AUTO : 0;
        bm->granularity_bits = ctz64(granularity);
        bm->dirty_bitmap = bitmap;
    }

    if (!need_write) {
        goto success;
    }
    if (!can_write(bs)) {
        error_setg(errp, "No write access");
        goto fail;
    }
    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);

        if (!bm->dirty_bitmap || bdrv_dirty_bitmap_readonly(bm->dirty_bitmap)) {
            continue;
        }
        ret = store_bitmap(bs, bm, errp);
        if (ret < 0) {
            goto fail;
        }
    }
    ret = update_ext_header_and_dir(bs, list);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update bitmap extension");
        goto fail;
    }
    /* The new directory is in place: the old data can go. */
    for (guint i = 0; i < drop_tables->len; i++) {
        free_bitmap_clusters(bs, g_ptr_array_index(drop_tables, i));
    }

success:
    if (release_stored) {
        for (guint i = 0; i < list->len; i++) {
            Qcow2Bitmap *bm = g_ptr_array_index(list, i);

            if (bm->dirty_bitmap) {
                bdrv_release_dirty_bitmap(bm->dirty_bitmap);
            }
        }
    }
    g_ptr_array_free(drop_tables, true);
    g_ptr_array_free(list, true);
    return true;

fail:
    /* Undo the data written so far; the old directory stays valid. */
    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);

        if (bm->dirty_bitmap && bm->table.offset != 0 &&
            !bdrv_dirty_bitmap_readonly(bm->dirty_bitmap)) {
            free_bitmap_clusters(bs, &bm->table);
        }
    }
    g_ptr_array_free(drop_tables, true);
    g_ptr_array_free(list, true);
    return false;
}

/* ---- reopening ---- */

int qcow2_reopen_bitmaps_ro(BlockDriverState *bs, Error **errp)
{
    BdrvDirtyBitmap *bitmap;

    if (!qcow2_store_persistent_dirty_bitmaps(bs, false, errp)) {
        return -EINVAL;
    }
    FOR_EACH_DIRTY_BITMAP(bs, bitmap) {
        if (bdrv_dirty_bitmap_get_persistence(bitmap)) {
            bdrv_dirty_bitmap_set_readonly(bitmap, true);
        }
    }
    return 0;
}

int qcow2_reopen_bitmaps_rw(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2BitmapList *list;
    GSList *ro_bitmaps = NULL;
    bool need_header_update = false;
    int ret = -EINVAL;

    if (s->nb_bitmaps == 0) {
        return 0;
    }
    list = bitmap_list_load(bs, s->bitmap_directory_offset,
                            s->bitmap_directory_size, errp);
    if (!list) {
        return -EINVAL;
    }
    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);
        BdrvDirtyBitmap *bitmap = bdrv_find_dirty_bitmap(bs, bm->name);

        if (!bitmap) {
            error_setg(errp, "Unexpected bitmap '%s' in image '%s'",
                       bm->name, bs->filename);
            goto out;
        }
        if (!(bm->flags & BME_FLAG_IN_USE)) {
            if (!bdrv_dirty_bitmap_readonly(bitmap)) {
                error_setg(errp, "Corruption: bitmap '%s' is not marked "
                           "IN_USE in the image '%s' and not marked readonly "
                           "in RAM", bm->name, bs->filename);
                goto out;
            }
            if (bm->flags & BME_RESERVED_FLAGS) {
                error_setg(errp, "Bitmap '%s' has a reserved flag set, which "
                           "is forbidden; please remove it", bm->name);
                goto out;
            }
            bm->flags |= BME_FLAG_IN_USE;
            need_header_update = true;
        } else if (bdrv_dirty_bitmap_readonly(bitmap) &&
                   !bdrv_dirty_bitmap_inconsistent(bitmap)) {
            /* In use on disk, yet we loaded it clean: someone else wrote. */
            error_setg(errp, "Corruption: bitmap '%s' is marked IN_USE in the "
                       "image '%s' but it is readonly and consistent in RAM",
                       bm->name, bs->filename);
            goto out;
        }
        if (bdrv_dirty_bitmap_readonly(bitmap)) {
            ro_bitmaps = g_slist_append(ro_bitmaps, bitmap);
        }
    }

    if (need_header_update) {
        if (!can_write(bs->file->bs) || !(bs->file->perm & BLK_PERM_WRITE)) {
            error_setg(errp, "Failed to reopen bitmaps rw: no write access "
                       "the protocol file");
            goto out;
        }
        ret = update_ext_header_and_dir_in_place(bs, list);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Cannot update bitmap directory");
            goto out;
        }
    }
    for (GSList *l = ro_bitmaps; l; l = l->next) {
        bdrv_dirty_bitmap_set_readonly(l->data, false);
    }
    ret = 0;

out:
    g_slist_free(ro_bitmaps);
    g_ptr_array_free(list, true);
    return ret;
}

void qcow2_reopen_commit_post(BlockDriverState *bs)
{
    Error *local_err = NULL;

    if (!bdrv_is_writable(bs)) {
        return;
    }
    /*
     * Not fatal: the bitmaps stay readonly (and writes to the node fail)
     * until they are removed or the node is reopened again.
     */
    if (qcow2_reopen_bitmaps_rw(bs, &local_err) < 0) {
        error_prepend(&local_err, "%s: Failed to make dirty bitmaps "
                      "writable: ", bdrv_get_node_name(bs));
        error_report_err(local_err);
    }
}

/* ---- resizing, adding, removing, queries ---- */

int qcow2_truncate_bitmaps_check(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2BitmapList *list;
    int ret = 0;

    if (s->nb_bitmaps == 0) {
        return 0;
    }
    list = bitmap_list_load(bs, s->bitmap_directory_offset,
                            s->bitmap_directory_size, errp);
    if (!list) {
        return -EINVAL;
    }
    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);
        BdrvDirtyBitmap *bitmap = bdrv_find_dirty_bitmap(bs, bm->name);

        if (!bitmap) {
            /* Resizing relies on every bitmap being in memory. */
            error_setg(errp, "Cannot resize qcow2 with persistent bitmaps "
                       "that were not loaded into memory");
            ret = -ENOTSUP;
            break;
        }
        /* An inconsistent bitmap in particular cannot follow the resize. */
        if (bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_DEFAULT, errp)) {
            ret = -ENOTSUP;
            break;
        }
    }
    g_ptr_array_free(list, true);
    return ret;
}

bool qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                      uint32_t granularity, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvDirtyBitmap *bitmap;
    uint64_t dir_size = 0;
    uint32_t nb_bitmaps = 0;

    if (bdrv_find_dirty_bitmap(bs, name)) {
        error_setg(errp, "Bitmap already exists: %s", name);
        return false;
    }
    if (s->qcow_version < 3) {
        /*
         * Without autoclear bits, every program that opens the image could
         * have changed it: bitmaps would always have to be dropped.
         */
        error_setg(errp, "Cannot store dirty bitmaps in qcow2 v2 files");
        goto fail;
    }
    if (check_constraints_on_bitmap(bs, name, granularity, errp) != 0) {
        goto fail;
    }
    FOR_EACH_DIRTY_BITMAP(bs, bitmap) {
        if (bdrv_dirty_bitmap_get_persistence(bitmap)) {
            nb_bitmaps++;
            dir_size += calc_dir_entry_size(
                strlen(bdrv_dirty_bitmap_name(bitmap)), 0);
        }
    }
    nb_bitmaps++;
    dir_size += calc_dir_entry_size(strlen(name), 0);
    if (nb_bitmaps > QCOW2_MAX_BITMAPS) {
        error_setg(errp, "Maximum number of persistent bitmaps is already "
                   "reached");
        goto fail;
    }
    if (dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "Not enough space in the bitmap directory");
        goto fail;
    }
    return true;

fail:
    error_prepend(errp, "Can't make bitmap '%s' persistent in '%s': ",
                  name, bdrv_get_device_or_node_name(bs));
    return false;
}

typedef struct RemoveCo {
    BlockDriverState *bs;
    const char *name;
    Error **errp;
    int ret;
    bool done;
} RemoveCo;

static void coroutine_fn remove_entry(void *opaque)
{
    RemoveCo *c = opaque;
    BlockDriverState *bs = c->bs;
    BDRVQcow2State *s = bs->opaque;
    Qcow2BitmapList *list;
    Qcow2Bitmap *bm;

    qemu_co_mutex_lock(&s->lock);
    list = bitmap_list_load(bs, s->bitmap_directory_offset,
                            s->bitmap_directory_size, c->errp);
    if (!list) {
        c->ret = -EIO;
        goto out;
    }
    bm = find_bitmap_by_name(list, c->name);
    if (bm) {
        /* Keep the entry's table until the new directory is written. */
        Qcow2BitmapTable table = bm->table;

        g_ptr_array_remove(list, bm);
        c->ret = update_ext_header_and_dir(bs, list);
        if (c->ret < 0) {
            error_setg_errno(c->errp, -c->ret, "Failed to update bitmap "
                             "extension");
        } else {
            free_bitmap_clusters(bs, &table);
        }
    } else {
        c->ret = 0;
    }
    g_ptr_array_free(list, true);
out:
    qemu_co_mutex_unlock(&s->lock);
    c->done = true;
}

int qcow2_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                         const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    RemoveCo c = { .bs = bs, .name = name, .errp = errp };

    if (s->nb_bitmaps == 0) {
        /* Never stored yet (added since open): nothing on disk. */
        return 0;
    }
    bdrv_run_co(remove_entry, &c, &c.done);
    return c.ret;
}

bool qcow2_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->qcow_version >= 3;
}

bool qcow2_get_bitmap_info_list(BlockDriverState *bs,
                                Qcow2BitmapInfoList **info_list,
                                Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2BitmapInfoList **tail = info_list;
    Qcow2BitmapList *list;

    *info_list = NULL;
    if (s->nb_bitmaps == 0) {
        return true;
    }
    list = bitmap_list_load(bs, s->bitmap_directory_offset,
                            s->bitmap_directory_size, errp);
    if (!list) {
        return false;
    }
    for (guint i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = g_ptr_array_index(list, i);
        Qcow2BitmapInfo *info = g_new0(Qcow2BitmapInfo, 1);
        Qcow2BitmapInfoList *entry = g_new0(Qcow2BitmapInfoList, 1);
        Qcow2BitmapInfoFlagsList **ftail = &info->flags;
        /* Flags in QEMU's order: in-use, then auto. */
        static const struct {
            uint32_t bme;
            Qcow2BitmapInfoFlags info;
        } map[] = {
            { BME_FLAG_IN_USE, QCOW2_BITMAP_INFO_FLAGS_IN_USE },
            { BME_FLAG_AUTO, QCOW2_BITMAP_INFO_FLAGS_AUTO },
        };

        info->name = g_strdup(bm->name);
        info->granularity = 1U << bm->granularity_bits;
        for (size_t j = 0; j < ARRAY_SIZE(map); j++) {
            if (bm->flags & map[j].bme) {
                Qcow2BitmapInfoFlagsList *f =
                    g_new0(Qcow2BitmapInfoFlagsList, 1);

                f->value = map[j].info;
                *ftail = f;
                ftail = &f->next;
            }
        }
        entry->value = info;
        *tail = entry;
        tail = &entry->next;
    }
    g_ptr_array_free(list, true);
    return true;
}

uint64_t qcow2_get_persistent_dirty_bitmap_size(BlockDriverState *in_bs,
                                                uint32_t cluster_size)
{
    uint64_t bitmaps_size = 0, dir_size = 0;
    BdrvDirtyBitmap *bm;

    FOR_EACH_DIRTY_BITMAP(in_bs, bm) {
        if (bdrv_dirty_bitmap_get_persistence(bm)) {
            const char *name = bdrv_dirty_bitmap_name(bm);
            uint32_t granularity = bdrv_dirty_bitmap_granularity(bm);
            uint64_t bmbytes = get_bitmap_bytes_needed(
                bdrv_dirty_bitmap_size(bm), ctz64(granularity));
            uint64_t bmclusters = DIV_ROUND_UP(bmbytes, cluster_size);

            /* All data clusters, their table, and a directory entry. */
            bitmaps_size += bmclusters * cluster_size;
            bitmaps_size += ROUND_UP(bmclusters * BME_TABLE_ENTRY_SIZE,
                                     cluster_size);
            dir_size += calc_dir_entry_size(strlen(name), 0);
        }
    }
    return bitmaps_size + ROUND_UP(dir_size, cluster_size);
}

/*
 * qcow2 guest-to-host mapping: L1/L2 lookups, cluster and subcluster
 * types, allocation for writes (with copy-on-write regions), compressed
 * cluster descriptors, discard and zeroing.
 */
#include "strata/osdep.h"
#include "qcow2.h"

#define INV_OFFSET (-1ULL)
#define L1_ENTRIES_PER_SECTOR (512 / 8)

#define QCOW_OFLAG_SUB_ALLOC(x) (1ULL << (x))
#define QCOW_OFLAG_SUB_ZERO(x)  (1ULL << ((x) + 32))
/* Bits for subclusters [x, y). */
#define QCOW_OFLAG_SUB_ALLOC_RANGE(x, y) \
    (QCOW_OFLAG_SUB_ALLOC(y) - QCOW_OFLAG_SUB_ALLOC(x))
#define QCOW_OFLAG_SUB_ZERO_RANGE(x, y) \
    (QCOW_OFLAG_SUB_ALLOC_RANGE(x, y) << 32)

/* ---- L1 table ---- */

int qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size,
                        bool exact_size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t new_l1_size, new_l1_size2;
    int64_t new_l1_table_offset;
    uint64_t *new_l1_table;
    struct {
        uint32_t size;
        uint64_t offset;
    } __attribute__((packed)) hdr;
    int ret;

    if (min_size <= (uint64_t)s->l1_size) {
        return 0;
    }
    /* Do not pick a size that would overflow the allocation below. */
    if (min_size > INT_MAX / sizeof(uint64_t)) {
        return -EFBIG;
    }
    if (exact_size) {
        new_l1_size = min_size;
    } else {
        new_l1_size = s->l1_size ? s->l1_size : 1;
        while (min_size > (uint64_t)new_l1_size) {
            new_l1_size = DIV_ROUND_UP(new_l1_size * 3, 2);
        }
    }
    if (new_l1_size > QCOW_MAX_L1_SIZE / (int64_t)sizeof(uint64_t)) {
        return -EFBIG;
    }
    new_l1_size2 = sizeof(uint64_t) * new_l1_size;
    new_l1_table = qemu_try_blockalign(bs->file->bs,
                                       ROUND_UP(new_l1_size2, 512));
    if (!new_l1_table) {
        return -ENOMEM;
    }
    memset(new_l1_table, 0, ROUND_UP(new_l1_size2, 512));
    if (s->l1_size) {
        memcpy(new_l1_table, s->l1_table, s->l1_size * sizeof(uint64_t));
    }

    new_l1_table_offset = qcow2_alloc_clusters(bs, new_l1_size2);
    if (new_l1_table_offset < 0) {
        qemu_vfree(new_l1_table);
        return new_l1_table_offset;
    }
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        goto fail;
    }
    /* The new position is not referenced yet: it must really be free. */
    ret = qcow2_pre_write_overlap_check(bs, 0, new_l1_table_offset,
                                        new_l1_size2, false);
    if (ret < 0) {
        goto fail;
    }
    for (int64_t i = 0; i < s->l1_size; i++) {
        new_l1_table[i] = htobe64(new_l1_table[i]);
    }
    ret = bdrv_pwrite_sync(bs->file, new_l1_table_offset, new_l1_size2,
                           new_l1_table, 0);
    if (ret < 0) {
        goto fail;
    }
    for (int64_t i = 0; i < s->l1_size; i++) {
        new_l1_table[i] = be64toh(new_l1_table[i]);
    }

    /* l1_size and l1_table_offset are adjacent at byte 36. */
    hdr.size = htobe32(new_l1_size);
    hdr.offset = htobe64(new_l1_table_offset);
    ret = bdrv_pwrite_sync(bs->file, 36, sizeof(hdr), &hdr, 0);
    if (ret < 0) {
        goto fail;
    }
    qemu_vfree(s->l1_table);
    {
        uint64_t old_offset = s->l1_table_offset;
        int64_t old_size = s->l1_size;

        s->l1_table_offset = new_l1_table_offset;
        s->l1_table = new_l1_table;
        s->l1_size = new_l1_size;
        if (old_offset) {
            qcow2_free_clusters(bs, old_offset, old_size * sizeof(uint64_t),
                                QCOW2_DISCARD_OTHER);
        }
    }
    return 0;

fail:
    qemu_vfree(new_l1_table);
    qcow2_free_clusters(bs, new_l1_table_offset, new_l1_size2,
                        QCOW2_DISCARD_OTHER);
    return ret;
}

int qcow2_shrink_l1_table(BlockDriverState *bs, uint64_t exact_size)
{
    BDRVQcow2State *s = bs->opaque;
    int new_l1_size, i, ret;

    if (exact_size >= (uint64_t)s->l1_size) {
        return 0;
    }
    new_l1_size = exact_size;
    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret < 0) {
        return ret;
    }
    /* Zero the entries on disk before freeing what they point to. */
    {
        size_t len = sizeof(uint64_t) * (s->l1_size - new_l1_size);

        ret = bdrv_pwrite_zeroes(bs->file, s->l1_table_offset +
                                 new_l1_size * sizeof(uint64_t), len, 0);
        if (ret < 0) {
            return ret;
        }
        ret = bdrv_flush(bs->file->bs);
        if (ret < 0) {
            return ret;
        }
    }
    for (i = s->l1_size - 1; i > new_l1_size - 1; i--) {
        if ((s->l1_table[i] & L1E_OFFSET_MASK) == 0) {
            continue;
        }
        qcow2_free_clusters(bs, s->l1_table[i] & L1E_OFFSET_MASK,
                            s->cluster_size, QCOW2_DISCARD_ALWAYS);
        s->l1_table[i] = 0;
    }
    return 0;
}

int qcow2_write_l1_entry(BlockDriverState *bs, int l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    int l1_start_index = QEMU_ALIGN_DOWN(l1_index, L1_ENTRIES_PER_SECTOR);
    int nentries = MIN(L1_ENTRIES_PER_SECTOR, s->l1_size - l1_start_index);
    uint64_t buf[L1_ENTRIES_PER_SECTOR] = { 0 };
    int ret;

    for (int i = 0; i < nentries; i++) {
        buf[i] = htobe64(s->l1_table[l1_start_index + i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                        s->l1_table_offset +
                                        8 * l1_start_index, 8 * nentries,
                                        false);
    if (ret < 0) {
        return ret;
    }
    return bdrv_pwrite_sync(bs->file, s->l1_table_offset +
                            8 * l1_start_index, 8 * nentries, buf, 0);
}

/* ---- L2 tables ---- */

static int l2_load(BlockDriverState *bs, uint64_t offset, uint64_t l2_offset,
                   uint64_t **l2_slice)
{
    BDRVQcow2State *s = bs->opaque;
    int start_of_slice = l2_entry_size(s) *
        (offset_to_l2_index(s, offset) - offset_to_l2_slice_index(s, offset));

    return qcow2_cache_get(bs, s->l2_table_cache, l2_offset + start_of_slice,
                           (void **)l2_slice);
}

/* Give L1 entry @l1_index an L2 table of its own (copying a shared one). */
static int l2_allocate(BlockDriverState *bs, int l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_l2_offset = s->l1_table[l1_index];
    size_t slice_size2 = s->l2_slice_size * l2_entry_size(s);
    int n_slices = s->cluster_size / slice_size2;
    uint64_t *l2_slice;
    int64_t l2_offset;
    int ret;

    l2_offset = qcow2_alloc_clusters(bs, s->l2_size * l2_entry_size(s));
    if (l2_offset < 0) {
        return l2_offset;
    }
    if (l2_offset == 0) {
        qcow2_signal_corruption(bs, true, -1, -1, "Preventing invalid "
                                "allocation of L2 table at offset 0");
        ret = -EIO;
        goto fail;
    }
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        goto fail;
    }

    for (int slice = 0; slice < n_slices; slice++) {
        ret = qcow2_cache_get_empty(bs, s->l2_table_cache,
                                    l2_offset + slice * slice_size2,
                                    (void **)&l2_slice);
        if (ret < 0) {
            goto fail;
        }
        if ((old_l2_offset & L1E_OFFSET_MASK) == 0) {
            memset(l2_slice, 0, slice_size2);
        } else {
            uint64_t *old_slice;

            ret = qcow2_cache_get(bs, s->l2_table_cache,
                                  (old_l2_offset & L1E_OFFSET_MASK) +
                                  slice * slice_size2, (void **)&old_slice);
            if (ret < 0) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
                goto fail;
            }
            memcpy(l2_slice, old_slice, slice_size2);
            qcow2_cache_put(s->l2_table_cache, (void **)&old_slice);
        }
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2_slice);
        qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    }
    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret < 0) {
        goto fail;
    }

    s->l1_table[l1_index] = l2_offset | QCOW_OFLAG_COPIED;
    ret = qcow2_write_l1_entry(bs, l1_index);
    if (ret < 0) {
        goto fail;
    }
    return 0;

fail:
    s->l1_table[l1_index] = old_l2_offset;
    if (l2_offset > 0) {
        qcow2_free_clusters(bs, l2_offset, s->l2_size * l2_entry_size(s),
                            QCOW2_DISCARD_ALWAYS);
    }
    return ret;
}

/* ---- types ---- */

QCow2SubclusterType qcow2_get_subcluster_type(BlockDriverState *bs,
                                              uint64_t l2_entry,
                                              uint64_t l2_bitmap,
                                              unsigned sc_index)
{
    BDRVQcow2State *s = bs->opaque;
    QCow2ClusterType type = qcow2_get_cluster_type(bs, l2_entry);

    assert(sc_index < (unsigned)s->subclusters_per_cluster);
    if (has_subclusters(s)) {
        switch (type) {
        case QCOW2_CLUSTER_COMPRESSED:
            return QCOW2_SUBCLUSTER_COMPRESSED;
        case QCOW2_CLUSTER_NORMAL:
            if ((l2_bitmap >> 32) & l2_bitmap) {
                return QCOW2_SUBCLUSTER_INVALID;
            } else if (l2_bitmap & QCOW_OFLAG_SUB_ZERO(sc_index)) {
                return QCOW2_SUBCLUSTER_ZERO_ALLOC;
            } else if (l2_bitmap & QCOW_OFLAG_SUB_ALLOC(sc_index)) {
                return QCOW2_SUBCLUSTER_NORMAL;
            }
            return QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC;
        case QCOW2_CLUSTER_UNALLOCATED:
            if (l2_bitmap & QCOW_L2_BITMAP_ALL_ALLOC) {
                return QCOW2_SUBCLUSTER_INVALID;
            } else if (l2_bitmap & QCOW_OFLAG_SUB_ZERO(sc_index)) {
                return QCOW2_SUBCLUSTER_ZERO_PLAIN;
            }
            return QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
        default:
            return QCOW2_SUBCLUSTER_INVALID;
        }
    }
    switch (type) {
    case QCOW2_CLUSTER_COMPRESSED:
        return QCOW2_SUBCLUSTER_COMPRESSED;
    case QCOW2_CLUSTER_ZERO_PLAIN:
        return QCOW2_SUBCLUSTER_ZERO_PLAIN;
    case QCOW2_CLUSTER_ZERO_ALLOC:
        return QCOW2_SUBCLUSTER_ZERO_ALLOC;
    case QCOW2_CLUSTER_NORMAL:
        return QCOW2_SUBCLUSTER_NORMAL;
    default:
        return QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
    }
}

static bool is_zero_type(QCow2SubclusterType t)
{
    return t == QCOW2_SUBCLUSTER_ZERO_PLAIN || t == QCOW2_SUBCLUSTER_ZERO_ALLOC;
}


/*
 * Number of subclusters from @sc_from on that have the same type as
 * @sc_from within one cluster; -errno for an invalid entry.
 */
int qcow2_get_subcluster_range_type(BlockDriverState *bs, uint64_t l2_entry,
                                    uint64_t l2_bitmap, unsigned sc_from,
                                    QCow2SubclusterType *type)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned n = 1;

    *type = qcow2_get_subcluster_type(bs, l2_entry, l2_bitmap, sc_from);
    if (*type == QCOW2_SUBCLUSTER_INVALID) {
        return -EINVAL;
    }
    if (!has_subclusters(s) || *type == QCOW2_SUBCLUSTER_COMPRESSED) {
        return s->subclusters_per_cluster - sc_from;
    }
    while (sc_from + n < (unsigned)s->subclusters_per_cluster &&
           qcow2_get_subcluster_type(bs, l2_entry, l2_bitmap,
                                     sc_from + n) == *type) {
        n++;
    }
    return n;
}

/*
 * Count contiguous subclusters of the same type as the first, over up to
 * @nb_clusters clusters starting at @sc_from in the slice entry *@l2_index;
 * normal/allocated ones must also be contiguous on the host.  Advances
 * *@l2_index past the clusters fully used.
 */
static int count_contiguous_subclusters(BlockDriverState *bs, int nb_clusters,
                                        unsigned sc_index, uint64_t *l2_slice,
                                        unsigned *l2_index)
{
    BDRVQcow2State *s = bs->opaque;
    int count = 0;
    bool check_offset = false;
    uint64_t expected_offset = 0;
    QCow2SubclusterType expected_type = QCOW2_SUBCLUSTER_NORMAL, type;

    assert(*l2_index + nb_clusters <= (unsigned)s->l2_slice_size);
    for (int i = 0; i < nb_clusters; i++) {
        unsigned first_sc = (i == 0) ? sc_index : 0;
        uint64_t l2_entry = get_l2_entry(s, l2_slice, *l2_index + i);
        uint64_t l2_bitmap = get_l2_bitmap(s, l2_slice, *l2_index + i);
        int ret = qcow2_get_subcluster_range_type(bs, l2_entry, l2_bitmap,
                                                  first_sc, &type);

        if (ret < 0) {
            *l2_index += i;
            return ret;
        }
        if (i == 0) {
            if (type == QCOW2_SUBCLUSTER_COMPRESSED) {
                /* Compressed clusters are always processed one by one. */
                return ret;
            }
            expected_type = type;
            expected_offset = l2_entry & L2E_OFFSET_MASK;
            check_offset = (type == QCOW2_SUBCLUSTER_NORMAL ||
                            type == QCOW2_SUBCLUSTER_ZERO_ALLOC ||
                            type == QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC);
        } else if (type != expected_type) {
            break;
        } else if (check_offset) {
            expected_offset += s->cluster_size;
            if (expected_offset != (l2_entry & L2E_OFFSET_MASK)) {
                break;
            }
        }
        count += ret;
        /* Stop unless the whole cluster (to its end) matched. */
        if (first_sc + ret < (unsigned)s->subclusters_per_cluster) {
            break;
        }
    }
    return count;
}

int qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                          unsigned int *bytes, uint64_t *host_offset,
                          QCow2SubclusterType *subcluster_type)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned int l2_index, sc_index;
    uint64_t l1_index, l2_offset, *l2_slice, l2_entry, l2_bitmap;
    int sc;
    unsigned int offset_in_cluster = offset_into_cluster(s, offset);
    uint64_t bytes_available, bytes_needed, nb_clusters;
    QCow2SubclusterType type;
    int ret;

    bytes_needed = (uint64_t)*bytes + offset_in_cluster;
    /* Not past the end of the L2 slice holding this entry. */
    bytes_available = ((uint64_t)(s->l2_slice_size -
                                  offset_to_l2_slice_index(s, offset)))
                      << s->cluster_bits;
    if (bytes_needed > bytes_available) {
        bytes_needed = bytes_available;
    }
    *host_offset = 0;

    l1_index = offset_to_l1_index(s, offset);
    if (l1_index >= (uint64_t)s->l1_size) {
        type = QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
        goto out;
    }
    l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    if (!l2_offset) {
        type = QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
        goto out;
    }
    if (offset_into_cluster(s, l2_offset)) {
        qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#" PRIx64
                                " unaligned (L1 index: %#" PRIx64 ")",
                                l2_offset, l1_index);
        return -EIO;
    }
    ret = l2_load(bs, offset, l2_offset, &l2_slice);
    if (ret < 0) {
        return ret;
    }

    l2_index = offset_to_l2_slice_index(s, offset);
    sc_index = offset_to_sc_index(s, offset);
    l2_entry = get_l2_entry(s, l2_slice, l2_index);
    l2_bitmap = get_l2_bitmap(s, l2_slice, l2_index);
    nb_clusters = size_to_clusters(s, bytes_needed);
    type = qcow2_get_subcluster_type(bs, l2_entry, l2_bitmap, sc_index);
    if (s->qcow_version < 3 && is_zero_type(type)) {
        qcow2_signal_corruption(bs, true, -1, -1, "Zero cluster entry found "
                                "in pre-v3 image (L2 offset: %#" PRIx64
                                ", L2 index: %#x)", l2_offset, l2_index);
        ret = -EIO;
        goto fail;
    }
    switch (type) {
    case QCOW2_SUBCLUSTER_INVALID:
        break;  /* reported below */
    case QCOW2_SUBCLUSTER_COMPRESSED:
        if (has_data_file(bs)) {
            qcow2_signal_corruption(bs, true, -1, -1, "Compressed cluster "
                                    "entry found in image with external "
                                    "data file (L2 offset: %#" PRIx64
                                    ", L2 index: %#x)", l2_offset, l2_index);
            ret = -EIO;
            goto fail;
        }
        *host_offset = l2_entry;
        break;
    case QCOW2_SUBCLUSTER_ZERO_PLAIN:
    case QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN:
        break;
    case QCOW2_SUBCLUSTER_ZERO_ALLOC:
    case QCOW2_SUBCLUSTER_NORMAL:
    case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC: {
        uint64_t host_cluster_offset = l2_entry & L2E_OFFSET_MASK;

        *host_offset = host_cluster_offset + offset_in_cluster;
        if (offset_into_cluster(s, host_cluster_offset)) {
            qcow2_signal_corruption(bs, true, -1, -1, "Cluster allocation "
                                    "offset %#" PRIx64 " unaligned (L2 offset:"
                                    " %#" PRIx64 ", L2 index: %#x)",
                                    host_cluster_offset, l2_offset, l2_index);
            ret = -EIO;
            goto fail;
        }
        if (has_data_file(bs) && *host_offset != offset) {
            qcow2_signal_corruption(bs, true, -1, -1, "External data file "
                                    "host cluster offset %#" PRIx64 " does "
                                    "not match guest cluster offset: %#"
                                    PRIx64 ", L2 index: %#x)",
                                    host_cluster_offset,
                                    offset - offset_in_cluster, l2_index);
            ret = -EIO;
            goto fail;
        }
        break;
    }
    default:
        abort();
    }

    sc = count_contiguous_subclusters(bs, nb_clusters, sc_index, l2_slice,
                                      &l2_index);
    if (sc < 0) {
        qcow2_signal_corruption(bs, true, -1, -1, "Invalid cluster entry "
                                "found  (L2 offset: %#" PRIx64 ", L2 index: "
                                "%#x)", l2_offset, l2_index);
        ret = -EIO;
        goto fail;
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    bytes_available = ((int64_t)sc + sc_index) << s->subcluster_bits;

out:
    if (bytes_available > bytes_needed) {
        bytes_available = bytes_needed;
    }
    *bytes = bytes_available - offset_in_cluster;
    *subcluster_type = type;
    return 0;

fail:
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    return ret;
}

/* ---- getting writable L2 entries ---- */

/*
 * Load the L2 slice for guest @offset, allocating or copying (COW) its L2
 * table as needed so that it may be modified.
 */
static int get_cluster_table(BlockDriverState *bs, uint64_t offset,
                             uint64_t **new_l2_slice, int *new_l2_index)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned int l2_index;
    uint64_t l1_index, l2_offset;
    uint64_t *l2_slice = NULL;
    int ret;

    l1_index = offset_to_l1_index(s, offset);
    if (l1_index >= (uint64_t)s->l1_size) {
        ret = qcow2_grow_l1_table(bs, l1_index + 1, false);
        if (ret < 0) {
            return ret;
        }
    }
    assert(l1_index < (uint64_t)s->l1_size);
    l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    if (offset_into_cluster(s, l2_offset)) {
        qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#" PRIx64
                                " unaligned (L1 index: %#" PRIx64 ")",
                                l2_offset, l1_index);
        return -EIO;
    }
    if (!(s->l1_table[l1_index] & QCOW_OFLAG_COPIED)) {
        /* No L2 table, or one shared with a snapshot: make our own. */
        ret = l2_allocate(bs, l1_index);
        if (ret < 0) {
            return ret;
        }
        if (l2_offset != 0) {
            qcow2_free_clusters(bs, l2_offset, s->l2_size * l2_entry_size(s),
                                QCOW2_DISCARD_OTHER);
        }
        l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    }
    ret = l2_load(bs, offset, l2_offset, &l2_slice);
    if (ret < 0) {
        return ret;
    }
    l2_index = offset_to_l2_slice_index(s, offset);
    *new_l2_slice = l2_slice;
    *new_l2_index = l2_index;
    return 0;
}

/* ---- compressed clusters ---- */

void qcow2_parse_compressed_l2_entry(BlockDriverState *bs, uint64_t l2_entry,
                                     uint64_t *coffset, int *csize)
{
    BDRVQcow2State *s = bs->opaque;
    int nb_csectors;

    *coffset = l2_entry & s->cluster_offset_mask;
    nb_csectors = ((l2_entry >> s->csize_shift) & s->csize_mask) + 1;
    *csize = nb_csectors * QCOW2_COMPRESSED_SECTOR_SIZE -
             (*coffset & ~QCOW2_COMPRESSED_SECTOR_MASK);
}

int qcow2_alloc_compressed_cluster_offset(BlockDriverState *bs,
                                          uint64_t offset, int compressed_size,
                                          uint64_t *host_offset)
{
    BDRVQcow2State *s = bs->opaque;
    int l2_index, ret;
    uint64_t *l2_slice;
    int64_t cluster_offset;
    int nb_csectors;

    if (has_data_file(bs)) {
        return 0;
    }
    ret = get_cluster_table(bs, offset, &l2_slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    /* Compression can only go to an unused cluster. */
    if (get_l2_entry(s, l2_slice, l2_index) & L2E_OFFSET_MASK) {
        qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
        return -EIO;
    }
    cluster_offset = qcow2_alloc_bytes(bs, compressed_size);
    if (cluster_offset < 0) {
        qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
        return cluster_offset;
    }
    nb_csectors = (cluster_offset + compressed_size - 1) /
                  QCOW2_COMPRESSED_SECTOR_SIZE -
                  (cluster_offset / QCOW2_COMPRESSED_SECTOR_SIZE);
    /* The counter field must fit (only fails for huge compressed data). */
    assert(nb_csectors <= s->csize_mask);
    cluster_offset |= QCOW_OFLAG_COMPRESSED |
                      ((uint64_t)nb_csectors << s->csize_shift);

    qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2_slice);
    set_l2_entry(s, l2_slice, l2_index, cluster_offset);
    if (has_subclusters(s)) {
        set_l2_bitmap(s, l2_slice, l2_index, 0);
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    *host_offset = cluster_offset & s->cluster_offset_mask;
    return 0;
}

/* ---- allocating writes ---- */

/*
 * Writers that overlap an allocation in flight wait for it, so that no
 * two of them allocate the same guest cluster.  Shortens *@cur_bytes to
 * stop before the next conflict; -EAGAIN after waiting (start over).
 */
static int handle_dependencies(BlockDriverState *bs, uint64_t guest_offset,
                               uint64_t *cur_bytes, QCowL2Meta **m)
{
    BDRVQcow2State *s = bs->opaque;
    QCowL2Meta *old_alloc;
    uint64_t bytes = *cur_bytes;

    QLIST_FOREACH(old_alloc, &s->cluster_allocs, next_in_flight) {
        uint64_t start = guest_offset;
        uint64_t end = start + bytes;
        uint64_t old_start = start_of_cluster(s, l2meta_cow_start(old_alloc));
        uint64_t old_end = ROUND_UP(l2meta_cow_end(old_alloc),
                                    s->cluster_size);

        if (end <= old_start || start >= old_end) {
            continue;
        }
        if (start < old_start) {
            /* Do the part before the conflict first. */
            bytes = old_start - start;
        } else {
            bytes = 0;
        }
        if (bytes == 0) {
            if (*m) {
                /* Finish the allocations we have, then retry. */
                break;
            }
            qemu_co_queue_wait(&old_alloc->dependent_requests, &s->lock);
            return -EAGAIN;
        }
    }
    *cur_bytes = bytes;
    return 0;
}

/* Does writing to this cluster require a new host cluster? */
static bool cluster_needs_new_alloc(BlockDriverState *bs, uint64_t l2_entry)
{
    switch (qcow2_get_cluster_type(bs, l2_entry)) {
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        return !(l2_entry & QCOW_OFLAG_COPIED);
    case QCOW2_CLUSTER_UNALLOCATED:
    case QCOW2_CLUSTER_COMPRESSED:
    case QCOW2_CLUSTER_ZERO_PLAIN:
        return true;
    }
    return true;
}

/*
 * Number of clusters from @l2_index on that all need a new allocation
 * (@new_alloc) or all can be written in place, host-contiguously.
 */
static int count_single_write_clusters(BlockDriverState *bs, int nb_clusters,
                                       uint64_t *l2_slice, int l2_index,
                                       bool new_alloc)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_entry = get_l2_entry(s, l2_slice, l2_index);
    uint64_t expected_offset = l2_entry & L2E_OFFSET_MASK;
    int i;

    for (i = 0; i < nb_clusters; i++) {
        l2_entry = get_l2_entry(s, l2_slice, l2_index + i);
        if (cluster_needs_new_alloc(bs, l2_entry) != new_alloc) {
            break;
        }
        if (!new_alloc) {
            if (expected_offset != (l2_entry & L2E_OFFSET_MASK)) {
                break;
            }
            expected_offset += s->cluster_size;
        }
    }
    assert(i > 0);
    return i;
}

/*
 * Describe in *@m what must happen to link a write of @guest_offset
 * /@bytes to host clusters at @host_cluster_offset: which parts of the
 * first and last cluster need copy-on-write.  No meta is needed when the
 * write goes to normal, already allocated (sub)clusters only.
 */
static int calculate_l2_meta(BlockDriverState *bs,
                             uint64_t host_cluster_offset,
                             uint64_t guest_offset, unsigned bytes,
                             uint64_t *l2_slice, QCowL2Meta **m,
                             bool keep_old)
{
    BDRVQcow2State *s = bs->opaque;
    int sc_index, l2_index = offset_to_l2_slice_index(s, guest_offset);
    uint64_t l2_entry, l2_bitmap;
    unsigned cow_start_from, cow_end_to;
    unsigned cow_start_to = offset_into_cluster(s, guest_offset);
    unsigned cow_end_from = cow_start_to + bytes;
    unsigned nb_clusters = size_to_clusters(s, cow_end_from);
    QCowL2Meta *old_m = *m;
    QCow2SubclusterType type;
    bool skip_cow = keep_old;

    assert(nb_clusters <= (unsigned)(s->l2_slice_size - l2_index));

    /*
     * In place writes need no metadata change only if every written
     * (sub)cluster already is normal data.
     */
    for (unsigned i = 0; skip_cow && i < nb_clusters; i++) {
        unsigned from = i == 0 ? cow_start_to : 0;
        unsigned to = MIN(cow_end_from - (i << s->cluster_bits),
                          (unsigned)s->cluster_size);

        l2_entry = get_l2_entry(s, l2_slice, l2_index + i);
        l2_bitmap = get_l2_bitmap(s, l2_slice, l2_index + i);
        if (qcow2_get_cluster_type(bs, l2_entry) != QCOW2_CLUSTER_NORMAL) {
            skip_cow = false;
        } else if (has_subclusters(s)) {
            uint64_t need = QCOW_OFLAG_SUB_ALLOC_RANGE(
                from >> s->subcluster_bits,
                DIV_ROUND_UP(to, s->subcluster_size));

            if ((l2_bitmap & need) != need) {
                skip_cow = false;
            }
        }
    }

    /* First cluster: what lies before the write. */
    l2_entry = get_l2_entry(s, l2_slice, l2_index);
    l2_bitmap = get_l2_bitmap(s, l2_slice, l2_index);
    sc_index = offset_to_sc_index(s, guest_offset);
    type = qcow2_get_subcluster_type(bs, l2_entry, l2_bitmap, sc_index);
    if (!keep_old) {
        switch (type) {
        case QCOW2_SUBCLUSTER_COMPRESSED:
            cow_start_from = 0;
            break;
        case QCOW2_SUBCLUSTER_NORMAL:
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            if (has_subclusters(s)) {
                /* Keep other subclusters as they are: copy all of them. */
                cow_start_from = 0;
            } else {
                cow_start_from = 0;
            }
            break;
        case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        case QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN:
            cow_start_from = sc_index << s->subcluster_bits;
            break;
        default:
            return -EIO;
        }
    } else {
        switch (type) {
        case QCOW2_SUBCLUSTER_NORMAL:
            cow_start_from = cow_start_to;
            break;
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            cow_start_from = sc_index << s->subcluster_bits;
            break;
        default:
            return -EIO;
        }
    }
    if (!has_subclusters(s) &&
        (type == QCOW2_SUBCLUSTER_ZERO_PLAIN ||
         type == QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN)) {
        cow_start_from = 0;
    }

    /* Last cluster: what lies after the write. */
    l2_entry = get_l2_entry(s, l2_slice, l2_index + nb_clusters - 1);
    l2_bitmap = get_l2_bitmap(s, l2_slice, l2_index + nb_clusters - 1);
    sc_index = offset_to_sc_index(s, guest_offset + bytes - 1);
    type = qcow2_get_subcluster_type(bs, l2_entry, l2_bitmap, sc_index);
    if (!keep_old) {
        switch (type) {
        case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        case QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN:
            if (has_subclusters(s)) {
                cow_end_to = ROUND_UP(cow_end_from, s->subcluster_size);
            } else {
                cow_end_to = ROUND_UP(cow_end_from, s->cluster_size);
            }
            break;
        case QCOW2_SUBCLUSTER_COMPRESSED:
        case QCOW2_SUBCLUSTER_NORMAL:
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            cow_end_to = ROUND_UP(cow_end_from, s->cluster_size);
            break;
        default:
            return -EIO;
        }
    } else {
        switch (type) {
        case QCOW2_SUBCLUSTER_NORMAL:
            cow_end_to = cow_end_from;
            break;
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            cow_end_to = ROUND_UP(cow_end_from, s->subcluster_size);
            break;
        default:
            return -EIO;
        }
    }

    if (keep_old && skip_cow && cow_start_from == cow_start_to &&
        cow_end_from == cow_end_to) {
        /* Writing into normal clusters only: nothing to link. */
        return 0;
    }

    *m = g_new0(QCowL2Meta, 1);
    **m = (QCowL2Meta) {
        .next = old_m,
        .alloc_offset = host_cluster_offset,
        .offset = start_of_cluster(s, guest_offset),
        .nb_clusters = nb_clusters,
        .keep_old_clusters = keep_old,
        .cow_start = {
            .offset = cow_start_from,
            .nb_bytes = cow_start_to - cow_start_from,
        },
        .cow_end = {
            .offset = cow_end_from,
            .nb_bytes = cow_end_to - cow_end_from,
        },
    };
    qemu_co_queue_init(&(*m)->dependent_requests);
    QLIST_INSERT_HEAD(&s->cluster_allocs, *m, next_in_flight);
    return 0;
}

/*
 * Clusters at @guest_offset that can be written in place (normal, ours
 * alone).  Returns 1 with *@host_offset / *@bytes set, 0 if the first
 * cluster needs a new allocation.
 */
static int handle_copied(BlockDriverState *bs, uint64_t guest_offset,
                         uint64_t *host_offset, uint64_t *bytes,
                         QCowL2Meta **m)
{
    BDRVQcow2State *s = bs->opaque;
    int l2_index;
    uint64_t l2_entry, cluster_offset;
    uint64_t *l2_slice;
    uint64_t nb_clusters;
    unsigned int keep_clusters;
    int ret;

    assert(*host_offset == INV_OFFSET || offset_into_cluster(s, guest_offset)
           == offset_into_cluster(s, *host_offset));
    nb_clusters = size_to_clusters(s, offset_into_cluster(s, guest_offset) +
                                   *bytes);
    l2_index = offset_to_l2_slice_index(s, guest_offset);
    nb_clusters = MIN(nb_clusters, (uint64_t)(s->l2_slice_size - l2_index));
    nb_clusters = MIN(nb_clusters, (uint64_t)(BDRV_REQUEST_MAX_BYTES >>
                                              s->cluster_bits));

    ret = get_cluster_table(bs, guest_offset, &l2_slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    l2_entry = get_l2_entry(s, l2_slice, l2_index);
    cluster_offset = l2_entry & L2E_OFFSET_MASK;

    if (!cluster_needs_new_alloc(bs, l2_entry)) {
        if (offset_into_cluster(s, cluster_offset)) {
            qcow2_signal_corruption(bs, true, -1, -1, "%s cluster offset "
                                    "%#" PRIx64 " unaligned (guest offset: %#"
                                    PRIx64 ")", l2_entry & QCOW_OFLAG_ZERO ?
                                    "Preallocated zero" : "Data",
                                    cluster_offset, guest_offset);
            ret = -EIO;
            goto out;
        }
        /* Continuing an earlier run must stay host-contiguous. */
        if (*host_offset != INV_OFFSET &&
            cluster_offset != start_of_cluster(s, *host_offset)) {
            *bytes = 0;
            ret = 0;
            goto out;
        }
        keep_clusters = count_single_write_clusters(bs, nb_clusters, l2_slice,
                                                    l2_index, false);
        *bytes = MIN(*bytes, keep_clusters * s->cluster_size -
                     offset_into_cluster(s, guest_offset));
        ret = calculate_l2_meta(bs, cluster_offset, guest_offset, *bytes,
                                l2_slice, m, true);
        if (ret < 0) {
            goto out;
        }
        *host_offset = cluster_offset + offset_into_cluster(s, guest_offset);
        ret = 1;
    } else {
        ret = 0;
    }
out:
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    return ret;
}

/* Allocate up to *@nb_clusters host clusters, at @host_offset if possible. */
static int do_alloc_cluster_offset(BlockDriverState *bs, uint64_t guest_offset,
                                   uint64_t *host_offset,
                                   uint64_t *nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;

    if (has_data_file(bs)) {
        /* External data file: host offset equals guest offset. */
        *host_offset = start_of_cluster(s, guest_offset);
        return 0;
    }
    if (*host_offset == INV_OFFSET) {
        int64_t cluster_offset = qcow2_alloc_clusters(bs, *nb_clusters *
                                                      s->cluster_size);
        if (cluster_offset < 0) {
            return cluster_offset;
        }
        *host_offset = cluster_offset;
        return 0;
    } else {
        int64_t ret = qcow2_alloc_clusters_at(bs, *host_offset, *nb_clusters);

        if (ret < 0) {
            return ret;
        }
        *nb_clusters = ret;
        return 0;
    }
}

static int handle_alloc(BlockDriverState *bs, uint64_t guest_offset,
                        uint64_t *host_offset, uint64_t *bytes,
                        QCowL2Meta **m)
{
    BDRVQcow2State *s = bs->opaque;
    int l2_index;
    uint64_t *l2_slice;
    uint64_t nb_clusters;
    uint64_t alloc_cluster_offset;
    uint64_t requested_bytes, avail_bytes;
    int ret;

    assert(*bytes > 0);
    nb_clusters = size_to_clusters(s, offset_into_cluster(s, guest_offset) +
                                   *bytes);
    l2_index = offset_to_l2_slice_index(s, guest_offset);
    nb_clusters = MIN(nb_clusters, (uint64_t)(s->l2_slice_size - l2_index));
    nb_clusters = MIN(nb_clusters, (uint64_t)(BDRV_REQUEST_MAX_BYTES >>
                                              s->cluster_bits));

    ret = get_cluster_table(bs, guest_offset, &l2_slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    nb_clusters = count_single_write_clusters(bs, nb_clusters, l2_slice,
                                              l2_index, true);

    alloc_cluster_offset = *host_offset == INV_OFFSET ? INV_OFFSET
                           : start_of_cluster(s, *host_offset);
    ret = do_alloc_cluster_offset(bs, guest_offset, &alloc_cluster_offset,
                                  &nb_clusters);
    if (ret < 0) {
        goto out;
    }
    if (nb_clusters == 0) {
        /* Could not extend the previous run: stop here. */
        *bytes = 0;
        ret = 0;
        goto out;
    }
    assert(alloc_cluster_offset != INV_OFFSET);

    requested_bytes = *bytes + offset_into_cluster(s, guest_offset);
    avail_bytes = nb_clusters << s->cluster_bits;
    *bytes = MIN(requested_bytes, avail_bytes) -
             offset_into_cluster(s, guest_offset);
    *host_offset = alloc_cluster_offset + offset_into_cluster(s,
                                                              guest_offset);

    ret = calculate_l2_meta(bs, alloc_cluster_offset, guest_offset, *bytes,
                            l2_slice, m, false);
    if (ret < 0) {
        goto out;
    }
    ret = 1;
out:
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    return ret;
}

int qcow2_alloc_host_offset(BlockDriverState *bs, uint64_t offset,
                            unsigned int *bytes, uint64_t *host_offset,
                            QCowL2Meta **m)
{
    uint64_t start, remaining;
    uint64_t cluster_offset;
    uint64_t cur_bytes;
    int ret;

again:
    start = offset;
    remaining = *bytes;
    cluster_offset = INV_OFFSET;
    *host_offset = INV_OFFSET;
    cur_bytes = 0;
    *m = NULL;

    for (;;) {
        if (*host_offset == INV_OFFSET && cluster_offset != INV_OFFSET) {
            *host_offset = cluster_offset;
        }
        start += cur_bytes;
        remaining -= cur_bytes;
        if (cluster_offset != INV_OFFSET) {
            cluster_offset += cur_bytes;
        }
        if (remaining == 0) {
            break;
        }
        cur_bytes = remaining;

        ret = handle_dependencies(bs, start, &cur_bytes, m);
        if (ret == -EAGAIN) {
            assert(*m == NULL);
            goto again;
        } else if (ret < 0) {
            return ret;
        } else if (cur_bytes == 0) {
            break;
        }

        ret = handle_copied(bs, start, &cluster_offset, &cur_bytes, m);
        if (ret < 0) {
            return ret;
        } else if (ret) {
            continue;
        } else if (cur_bytes == 0) {
            break;
        }

        ret = handle_alloc(bs, start, &cluster_offset, &cur_bytes, m);
        if (ret < 0) {
            return ret;
        } else if (ret) {
            continue;
        } else {
            break;
        }
    }
    *bytes -= remaining;
    assert(*bytes > 0);
    assert(*host_offset != INV_OFFSET);
    return 0;
}

/* Link the new clusters of @m into the L2 table (the data is written). */
int qcow2_alloc_cluster_link_l2(BlockDriverState *bs, QCowL2Meta *m)
{
    BDRVQcow2State *s = bs->opaque;
    int i, j = 0, l2_index, ret;
    uint64_t *old_cluster, *l2_slice;
    uint64_t cluster_offset = m->alloc_offset;

    assert(m->nb_clusters > 0);
    old_cluster = g_try_new(uint64_t, m->nb_clusters);
    if (!old_cluster) {
        return -ENOMEM;
    }
    ret = get_cluster_table(bs, m->offset, &l2_slice, &l2_index);
    if (ret < 0) {
        goto err;
    }
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2_slice);
    assert(l2_index + m->nb_clusters <= s->l2_slice_size);
    assert(m->cow_end.offset + m->cow_end.nb_bytes <=
           (unsigned)m->nb_clusters << s->cluster_bits);

    for (i = 0; i < m->nb_clusters; i++) {
        uint64_t offset = cluster_offset + ((uint64_t)i << s->cluster_bits);
        uint64_t old_entry = get_l2_entry(s, l2_slice, l2_index + i);

        /* An old allocation is released once we no longer point to it. */
        if (!m->keep_old_clusters &&
            (old_entry & (L2E_OFFSET_MASK | QCOW_OFLAG_COMPRESSED))) {
            old_cluster[j++] = old_entry;
        }
        set_l2_entry(s, l2_slice, l2_index + i, offset | QCOW_OFLAG_COPIED);

        if (has_subclusters(s) && !m->prealloc) {
            uint64_t l2_bitmap = get_l2_bitmap(s, l2_slice, l2_index + i);
            unsigned written_from = 0;
            unsigned written_to = s->subclusters_per_cluster;

            if (i == 0) {
                written_from = m->cow_start.offset >> s->subcluster_bits;
            }
            if (i == m->nb_clusters - 1) {
                written_to = DIV_ROUND_UP(m->cow_end.offset +
                                          m->cow_end.nb_bytes,
                                          s->subcluster_size) -
                             ((unsigned)(m->nb_clusters - 1) *
                              s->subclusters_per_cluster);
            }
            if (!m->keep_old_clusters &&
                qcow2_get_cluster_type(bs, old_entry) !=
                QCOW2_CLUSTER_UNALLOCATED) {
                /* Copied completely from an allocated old cluster. */
                l2_bitmap = QCOW_L2_BITMAP_ALL_ALLOC;
            } else {
                l2_bitmap |= QCOW_OFLAG_SUB_ALLOC_RANGE(written_from,
                                                        written_to);
                l2_bitmap &= ~QCOW_OFLAG_SUB_ZERO_RANGE(written_from,
                                                        written_to);
            }
            set_l2_bitmap(s, l2_slice, l2_index + i, l2_bitmap);
        }
    }
    /* New refcounts must reach the disk before these entries. */
    ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                     s->refcount_block_cache);
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    if (ret < 0) {
        goto err;
    }
    for (i = 0; i < j; i++) {
        qcow2_free_any_cluster(bs, old_cluster[i], QCOW2_DISCARD_NEVER);
    }
    ret = 0;
err:
    g_free(old_cluster);
    return ret;
}

void qcow2_alloc_cluster_abort(BlockDriverState *bs, QCowL2Meta *m)
{
    BDRVQcow2State *s = bs->opaque;

    if (!has_data_file(bs) && !m->keep_old_clusters) {
        qcow2_free_clusters(bs, m->alloc_offset,
                            m->nb_clusters << s->cluster_bits,
                            QCOW2_DISCARD_NEVER);
    }
}

/* ---- discard ---- */

static int discard_in_l2_slice(BlockDriverState *bs, uint64_t offset,
                               uint64_t nb_clusters, Qcow2DiscardType type,
                               bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2_slice;
    int l2_index;
    int ret;

    ret = get_cluster_table(bs, offset, &l2_slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    nb_clusters = MIN(nb_clusters, (uint64_t)(s->l2_slice_size - l2_index));
    assert(nb_clusters <= INT_MAX);

    for (uint64_t i = 0; i < nb_clusters; i++) {
        uint64_t old_l2_entry = get_l2_entry(s, l2_slice, l2_index + i);
        uint64_t old_l2_bitmap = get_l2_bitmap(s, l2_slice, l2_index + i);
        uint64_t new_l2_entry = old_l2_entry;
        uint64_t new_l2_bitmap = old_l2_bitmap;
        QCow2ClusterType cluster_type = qcow2_get_cluster_type(bs,
                                                               old_l2_entry);
        bool allocated = cluster_type == QCOW2_CLUSTER_NORMAL ||
                         cluster_type == QCOW2_CLUSTER_ZERO_ALLOC ||
                         cluster_type == QCOW2_CLUSTER_COMPRESSED;

        /*
         * full_discard: fall through to the backing file.  Otherwise the
         * area must read back as zeroes (v3), which an unallocated cluster
         * without backing file already does.
         */
        if (full_discard) {
            new_l2_entry = new_l2_bitmap = 0;
        } else if (bs->backing || allocated) {
            if (has_subclusters(s)) {
                new_l2_entry = 0;
                new_l2_bitmap = QCOW_L2_BITMAP_ALL_ZEROES;
            } else {
                new_l2_entry = s->qcow_version >= 3 ? QCOW_OFLAG_ZERO : 0;
            }
        }
        if (old_l2_entry == new_l2_entry && old_l2_bitmap == new_l2_bitmap) {
            continue;
        }
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2_slice);
        set_l2_entry(s, l2_slice, l2_index + i, new_l2_entry);
        if (has_subclusters(s)) {
            set_l2_bitmap(s, l2_slice, l2_index + i, new_l2_bitmap);
        }
        if (!s->discard_no_unref || type != QCOW2_DISCARD_REQUEST) {
            qcow2_free_any_cluster(bs, old_l2_entry, type);
        }
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    return nb_clusters;
}

int qcow2_cluster_discard(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes, Qcow2DiscardType type,
                          bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t end_offset = offset + bytes;
    uint64_t nb_clusters;
    int64_t cleared;
    int ret;

    assert(QEMU_IS_ALIGNED(offset, s->cluster_size));
    assert(QEMU_IS_ALIGNED(end_offset, s->cluster_size) ||
           end_offset == (uint64_t)bs->total_bytes);
    nb_clusters = size_to_clusters(s, bytes);

    s->cache_discards = true;
    while (nb_clusters > 0) {
        cleared = discard_in_l2_slice(bs, offset, nb_clusters, type,
                                      full_discard);
        if (cleared < 0) {
            ret = cleared;
            goto fail;
        }
        nb_clusters -= cleared;
        offset += (cleared * s->cluster_size);
    }
    ret = 0;
fail:
    s->cache_discards = false;
    qcow2_process_discards(bs, ret);
    return ret;
}

/* ---- zeroing ---- */

static int zero_in_l2_slice(BlockDriverState *bs, uint64_t offset,
                            uint64_t nb_clusters, int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2_slice;
    int l2_index;
    int ret;

    ret = get_cluster_table(bs, offset, &l2_slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    nb_clusters = MIN(nb_clusters, (uint64_t)(s->l2_slice_size - l2_index));
    assert(nb_clusters <= INT_MAX);

    for (uint64_t i = 0; i < nb_clusters; i++) {
        uint64_t old_l2_entry = get_l2_entry(s, l2_slice, l2_index + i);
        uint64_t old_l2_bitmap = get_l2_bitmap(s, l2_slice, l2_index + i);
        QCow2ClusterType type = qcow2_get_cluster_type(bs, old_l2_entry);
        bool unmap = (type == QCOW2_CLUSTER_COMPRESSED) ||
                     ((flags & BDRV_REQ_MAY_UNMAP) &&
                      (type == QCOW2_CLUSTER_NORMAL ||
                       type == QCOW2_CLUSTER_ZERO_ALLOC)) ||
                     /* A shared cluster may not keep its data here. */
                     ((type == QCOW2_CLUSTER_NORMAL ||
                       type == QCOW2_CLUSTER_ZERO_ALLOC) &&
                      !(old_l2_entry & QCOW_OFLAG_COPIED));
        uint64_t new_l2_entry = unmap ? 0 : old_l2_entry;
        uint64_t new_l2_bitmap = old_l2_bitmap;

        if (has_subclusters(s)) {
            new_l2_bitmap = QCOW_L2_BITMAP_ALL_ZEROES;
        } else {
            new_l2_entry |= QCOW_OFLAG_ZERO;
        }
        if (old_l2_entry == new_l2_entry && old_l2_bitmap == new_l2_bitmap) {
            continue;
        }
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2_slice);
        set_l2_entry(s, l2_slice, l2_index + i, new_l2_entry);
        if (has_subclusters(s)) {
            set_l2_bitmap(s, l2_slice, l2_index + i, new_l2_bitmap);
        }
        if (unmap) {
            qcow2_free_any_cluster(bs, old_l2_entry, QCOW2_DISCARD_REQUEST);
        }
    }
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    return nb_clusters;
}

static int zero_l2_subclusters(BlockDriverState *bs, uint64_t offset,
                               unsigned nb_subclusters)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2_slice;
    uint64_t old_l2_bitmap, l2_bitmap;
    int l2_index, ret, sc = offset_to_sc_index(s, offset);

    assert(nb_subclusters > 0 &&
           nb_subclusters < (unsigned)s->subclusters_per_cluster);
    assert(sc + nb_subclusters <= (unsigned)s->subclusters_per_cluster);
    ret = get_cluster_table(bs, offset, &l2_slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    switch (qcow2_get_cluster_type(bs, get_l2_entry(s, l2_slice, l2_index))) {
    case QCOW2_CLUSTER_COMPRESSED:
        ret = -ENOTSUP;     /* can't zero part of a compressed cluster */
        goto out;
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_UNALLOCATED:
        break;
    default:
        abort();
    }
    old_l2_bitmap = l2_bitmap = get_l2_bitmap(s, l2_slice, l2_index);
    l2_bitmap |= QCOW_OFLAG_SUB_ZERO_RANGE(sc, sc + nb_subclusters);
    l2_bitmap &= ~QCOW_OFLAG_SUB_ALLOC_RANGE(sc, sc + nb_subclusters);
    if (old_l2_bitmap != l2_bitmap) {
        set_l2_bitmap(s, l2_slice, l2_index, l2_bitmap);
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2_slice);
    }
    ret = 0;
out:
    qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
    return ret;
}

int qcow2_subcluster_zeroize(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes, int flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t end_offset = offset + bytes;
    uint64_t nb_clusters;
    unsigned head, tail;
    int64_t cleared;
    int ret;

    assert(QEMU_IS_ALIGNED(offset, s->subcluster_size));
    assert(QEMU_IS_ALIGNED(end_offset, s->subcluster_size) ||
           end_offset >= (uint64_t)bs->total_bytes);

    /*
     * Version 2 has no zero flag.  Without a backing file an unallocated
     * cluster reads as zeroes, so deallocating is as good (QEMU does the
     * same); over a backing file the caller must write real zeroes.
     */
    if (s->qcow_version < 3) {
        if (bs->backing) {
            return -ENOTSUP;
        }
        return qcow2_cluster_discard(bs, offset, bytes,
                                     QCOW2_DISCARD_REQUEST, false);
    }

    /* Subclusters of the head and tail clusters; whole clusters between. */
    head = MIN(end_offset, ROUND_UP(offset, s->cluster_size)) - offset;
    offset += head;
    tail = (end_offset >= (uint64_t)bs->total_bytes) ? 0 :
           end_offset - MAX(offset, start_of_cluster(s, end_offset));
    end_offset -= tail;

    s->cache_discards = true;
    if (head) {
        ret = zero_l2_subclusters(bs, offset - head,
                                  size_to_subclusters(s, head));
        if (ret < 0) {
            goto fail;
        }
    }
    nb_clusters = size_to_clusters(s, end_offset - offset);
    while (nb_clusters > 0) {
        cleared = zero_in_l2_slice(bs, offset, nb_clusters, flags);
        if (cleared < 0) {
            ret = cleared;
            goto fail;
        }
        nb_clusters -= cleared;
        offset += (cleared * s->cluster_size);
    }
    if (tail) {
        ret = zero_l2_subclusters(bs, end_offset, size_to_subclusters(s,
                                                                     tail));
        if (ret < 0) {
            goto fail;
        }
    }
    ret = 0;
fail:
    s->cache_discards = false;
    qcow2_process_discards(bs, ret);
    return ret;
}

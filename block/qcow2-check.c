/*
 * qcow2 consistency check and repair ("qemu-img check"): recount every
 * reference from the metadata, compare with the stored refcounts, fix
 * leaks and errors, rebuild the refcount structure when it is broken.
 */
#include "strata/osdep.h"
#include "qcow2.h"

#define CHECK_FRAG_INFO 2

/* In-memory refcounts, one uint64_t per host cluster. */
typedef struct RefTable {
    uint64_t *counts;
    int64_t nb_clusters;
} RefTable;

static int reftable_grow(RefTable *t, int64_t min_clusters)
{
    int64_t n = MAX(min_clusters, t->nb_clusters * 3 / 2 + 16);
    uint64_t *p = g_try_renew(uint64_t, t->counts, n);

    if (!p) {
        return -ENOMEM;
    }
    memset(p + t->nb_clusters, 0, (n - t->nb_clusters) * sizeof(uint64_t));
    t->counts = p;
    t->nb_clusters = n;
    return 0;
}

/* Count one more reference to each cluster of [offset, offset + size). */
static int inc_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                         RefTable *t, int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t start, last;

    if (size <= 0) {
        return 0;
    }
    start = start_of_cluster(s, offset);
    last = start_of_cluster(s, offset + size - 1);
    for (int64_t cl = start; cl <= last; cl += s->cluster_size) {
        int64_t k = cl >> s->cluster_bits;

        if (k >= t->nb_clusters) {
            int ret = reftable_grow(t, k + 1);

            if (ret < 0) {
                res->check_errors++;
                return ret;
            }
        }
        if (t->counts[k] >= s->refcount_max) {
            fprintf(stderr, "ERROR: overflow cluster offset=0x%" PRIx64 "\n",
                    cl);
            res->corruptions++;
            continue;
        }
        t->counts[k]++;
    }
    return 0;
}

static int check_refcounts_l2(BlockDriverState *bs, BdrvCheckResult *res,
                              RefTable *t, int64_t l2_offset, int flags,
                              BdrvCheckMode fix, bool active)
{
    BDRVQcow2State *s = bs->opaque;
    size_t l2_size_bytes = s->l2_size * l2_entry_size(s);
    g_autofree uint64_t *l2_table = g_try_malloc(l2_size_bytes);
    uint64_t next_contiguous_offset = 0;
    int ret;

    if (!l2_table) {
        res->check_errors++;
        return -ENOMEM;
    }
    ret = bdrv_pread(bs->file, l2_offset, l2_size_bytes, l2_table, 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l2\n");
        res->check_errors++;
        return ret;
    }

    for (int i = 0; i < s->l2_size; i++) {
        uint64_t l2_entry = get_l2_entry(s, l2_table, i);
        uint64_t l2_bitmap = get_l2_bitmap(s, l2_table, i);
        QCow2ClusterType type = qcow2_get_cluster_type(bs, l2_entry);

        if (type != QCOW2_CLUSTER_COMPRESSED &&
            (l2_entry & L2E_STD_RESERVED_MASK)) {
            fprintf(stderr, "ERROR found l2 entry with reserved bits set: %"
                    PRIx64 "\n", l2_entry);
            res->corruptions++;
        }

        switch (type) {
        case QCOW2_CLUSTER_COMPRESSED: {
            uint64_t coffset;
            int csize;

            if (l2_entry & QCOW_OFLAG_COPIED) {
                fprintf(stderr, "ERROR: coffset=0x%" PRIx64 ": copied flag "
                        "must never be set for compressed clusters\n",
                        l2_entry & s->cluster_offset_mask);
                l2_entry &= ~QCOW_OFLAG_COPIED;
                res->corruptions++;
            }
            if (has_data_file(bs)) {
                fprintf(stderr, "ERROR compressed cluster %d with data "
                        "file, entry=0x%" PRIx64 "\n", i, l2_entry);
                res->corruptions++;
                break;
            }
            if (l2_bitmap) {
                fprintf(stderr, "ERROR compressed cluster %d with non-zero "
                        "subcluster allocation bitmap, entry=0x%" PRIx64 "\n",
                        i, l2_entry);
                res->corruptions++;
                break;
            }
            qcow2_parse_compressed_l2_entry(bs, l2_entry, &coffset, &csize);
            ret = inc_refcounts(bs, res, t, coffset, csize);
            if (ret < 0) {
                return ret;
            }
            if (flags & CHECK_FRAG_INFO) {
                res->bfi.allocated_clusters++;
                res->bfi.compressed_clusters++;
                /* Compressed clusters are fragmented by nature. */
                res->bfi.fragmented_clusters++;
            }
            break;
        }
        case QCOW2_CLUSTER_ZERO_ALLOC:
        case QCOW2_CLUSTER_NORMAL: {
            uint64_t offset = l2_entry & L2E_OFFSET_MASK;

            if ((l2_bitmap >> 32) & l2_bitmap) {
                res->corruptions++;
                fprintf(stderr, "ERROR offset=%" PRIx64 ": Allocated "
                        "cluster has corrupted subcluster allocation "
                        "bitmap\n", offset);
            }
            if (flags & CHECK_FRAG_INFO) {
                res->bfi.allocated_clusters++;
                if (next_contiguous_offset &&
                    offset != next_contiguous_offset) {
                    res->bfi.fragmented_clusters++;
                }
                next_contiguous_offset = offset + s->cluster_size;
            }
            if (offset_into_cluster(s, offset)) {
                fprintf(stderr, "ERROR offset=%" PRIx64 ": Cluster is not "
                        "properly aligned; L2 entry corrupted.\n", offset);
                res->corruptions++;
                break;
            }
            if (has_data_file(bs)) {
                break;  /* data clusters are not refcounted */
            }
            ret = inc_refcounts(bs, res, t, offset, s->cluster_size);
            if (ret < 0) {
                return ret;
            }
            break;
        }
        case QCOW2_CLUSTER_ZERO_PLAIN:
            if (has_subclusters(s) || s->qcow_version < 3) {
                /* qcow2_get_cluster_type never says so then */
            }
            break;
        case QCOW2_CLUSTER_UNALLOCATED:
            if (l2_bitmap & QCOW_L2_BITMAP_ALL_ALLOC) {
                res->corruptions++;
                fprintf(stderr, "ERROR: Unallocated cluster has non-zero "
                        "subcluster allocation bitmap\n");
            }
            break;
        }
        if (s->qcow_version < 3 && (l2_entry & QCOW_OFLAG_ZERO) &&
            !(l2_entry & QCOW_OFLAG_COMPRESSED)) {
            fprintf(stderr, "ERROR: zero cluster in pre-v3 image\n");
            res->corruptions++;
        }
    }
    (void)fix;
    (void)active;
    return 0;
}

static int check_refcounts_l1(BlockDriverState *bs, BdrvCheckResult *res,
                              RefTable *t, int64_t l1_table_offset,
                              int l1_size, int flags, BdrvCheckMode fix,
                              bool active)
{
    BDRVQcow2State *s = bs->opaque;
    size_t l1_size_bytes = l1_size * sizeof(uint64_t);
    g_autofree uint64_t *l1_table = NULL;
    int ret;

    if (!l1_size) {
        return 0;
    }
    ret = inc_refcounts(bs, res, t, l1_table_offset, l1_size_bytes);
    if (ret < 0) {
        return ret;
    }
    l1_table = g_try_malloc(l1_size_bytes);
    if (!l1_table) {
        res->check_errors++;
        return -ENOMEM;
    }
    ret = bdrv_pread(bs->file, l1_table_offset, l1_size_bytes, l1_table, 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l1\n");
        res->check_errors++;
        return ret;
    }
    for (int i = 0; i < l1_size; i++) {
        uint64_t l2_offset = be64toh(l1_table[i]);

        if (l2_offset & L1E_RESERVED_MASK) {
            fprintf(stderr, "ERROR found L1 entry with reserved bits set: %"
                    PRIx64 "\n", l2_offset);
            res->corruptions++;
        }
        l2_offset &= L1E_OFFSET_MASK;
        if (!l2_offset) {
            continue;
        }
        ret = inc_refcounts(bs, res, t, l2_offset, s->cluster_size);
        if (ret < 0) {
            return ret;
        }
        if (offset_into_cluster(s, l2_offset)) {
            fprintf(stderr, "ERROR l2_offset=%" PRIx64 ": Table is not "
                    "cluster aligned; L1 entry corrupted\n", l2_offset);
            res->corruptions++;
            continue;
        }
        ret = check_refcounts_l2(bs, res, t, l2_offset, flags, fix, active);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

static int count_range_cb(void *opaque, uint64_t offset, uint64_t size)
{
    void **args = opaque;

    return inc_refcounts(args[0], args[1], args[2], offset, size);
}

/* Walk all metadata and count references into @t. */
static int calculate_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                               BdrvCheckMode fix, bool *rebuild, RefTable *t)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    /* header */
    ret = inc_refcounts(bs, res, t, 0, s->cluster_size);
    if (ret < 0) {
        return ret;
    }
    /* active L1 and what it reaches */
    ret = check_refcounts_l1(bs, res, t, s->l1_table_offset, s->l1_size,
                             CHECK_FRAG_INFO, fix, true);
    if (ret < 0) {
        return ret;
    }
    /* snapshots */
    for (unsigned i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];

        if (offset_into_cluster(s, sn->l1_table_offset)) {
            fprintf(stderr, "ERROR snapshot %s (%s) l1_offset=%#" PRIx64 ": "
                    "L1 table is not cluster aligned; snapshot table entry "
                    "corrupted\n", sn->id_str, sn->name,
                    sn->l1_table_offset);
            res->corruptions++;
            continue;
        }
        ret = check_refcounts_l1(bs, res, t, sn->l1_table_offset,
                                 sn->l1_size, 0, fix, false);
        if (ret < 0) {
            return ret;
        }
    }
    ret = inc_refcounts(bs, res, t, s->snapshots_offset, s->snapshots_size);
    if (ret < 0) {
        return ret;
    }
    /* refcount table */
    ret = inc_refcounts(bs, res, t, s->refcount_table_offset,
                        s->refcount_table_size * sizeof(uint64_t));
    if (ret < 0) {
        return ret;
    }
    /* bitmaps */
    {
        void *args[3] = { bs, res, t };

        ret = qcow2_bitmaps_for_each_range(bs, count_range_cb, args);
        if (ret < 0) {
            res->check_errors++;
            return ret;
        }
    }
    /* refcount blocks themselves */
    for (unsigned i = 0; i < s->refcount_table_size; i++) {
        uint64_t offset = qcow2_reftable_entry(s, i) & REFT_OFFSET_MASK;
        int64_t cluster = offset >> s->cluster_bits;

        if (qcow2_reftable_entry(s, i) & REFT_RESERVED_MASK) {
            fprintf(stderr, "ERROR refcount table entry %u has reserved bits "
                    "set\n", i);
            res->corruptions++;
            *rebuild = true;
            continue;
        }
        if (!offset) {
            continue;
        }
        if (offset_into_cluster(s, offset)) {
            fprintf(stderr, "ERROR refcount block %u is not cluster aligned; "
                    "refcount table entry corrupted\n", i);
            res->corruptions++;
            *rebuild = true;
            continue;
        }
        {
            int64_t file_len = bdrv_getlength(bs->file->bs);

            if (file_len >= 0 && (int64_t)offset >= file_len) {
                fprintf(stderr, "ERROR refcount block %u is outside image\n",
                        i);
                res->corruptions++;
                *rebuild = true;
                continue;
            }
        }
        ret = inc_refcounts(bs, res, t, offset, s->cluster_size);
        if (ret < 0) {
            return ret;
        }
        if (t->counts[cluster] != 1) {
            fprintf(stderr, "ERROR refcount block %u refcount=%" PRIu64 "\n",
                    i, t->counts[cluster]);
            res->corruptions++;
            *rebuild = true;
        }
    }
    return 0;
}

static int update_one_refcount(BlockDriverState *bs, int64_t cluster,
                               uint64_t diff, bool decrease)
{
    return qcow2_update_cluster_refcount(bs, cluster, diff, decrease,
                                         QCOW2_DISCARD_ALWAYS);
}

static void compare_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                              BdrvCheckMode fix, bool *rebuild,
                              int64_t *highest_cluster, RefTable *t,
                              int64_t nb_clusters)
{
    int64_t n = MAX(nb_clusters, t->nb_clusters);

    for (int64_t i = 0; i < n; i++) {
        uint64_t refcount1, refcount2;
        int ret = qcow2_get_refcount(bs, i, &refcount1);

        if (ret < 0) {
            fprintf(stderr, "Can't get refcount for cluster %" PRId64 ": %s\n",
                    i, strerror(-ret));
            res->check_errors++;
            continue;
        }
        refcount2 = i < t->nb_clusters ? t->counts[i] : 0;
        if (refcount1 > 0 || refcount2 > 0) {
            *highest_cluster = i;
        }
        if (refcount1 != refcount2) {
            int *num_fixed = NULL;

            if (refcount1 == 0) {
                *rebuild = true;
            } else if (refcount1 > refcount2 && (fix & BDRV_FIX_LEAKS)) {
                num_fixed = &res->leaks_fixed;
            } else if (refcount1 < refcount2 && (fix & BDRV_FIX_ERRORS)) {
                num_fixed = &res->corruptions_fixed;
            }
            fprintf(stderr, "%s cluster %" PRId64 " refcount=%" PRIu64
                    " reference=%" PRIu64 "\n",
                    num_fixed ? "Repairing" :
                    refcount1 < refcount2 ? "ERROR" : "Leaked",
                    i, refcount1, refcount2);
            if (num_fixed) {
                ret = update_one_refcount(bs, i, refcount_diff(refcount1,
                                                               refcount2),
                                          refcount1 > refcount2);
                if (ret >= 0) {
                    (*num_fixed)++;
                    continue;
                }
            }
            if (refcount1 < refcount2) {
                res->corruptions++;
            } else {
                res->leaks++;
            }
        }
    }
}

/* The COPIED flags must say exactly whether the refcount is 1. */
static int check_oflag_copied(BlockDriverState *bs, BdrvCheckResult *res,
                              BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    size_t l2_bytes = s->l2_size * l2_entry_size(s);
    g_autofree uint64_t *l2_table = qemu_blockalign(bs->file->bs, l2_bytes);
    uint64_t refcount;
    int ret;

    for (int i = 0; i < s->l1_size; i++) {
        uint64_t l1_entry = s->l1_table[i];
        uint64_t l2_offset = l1_entry & L1E_OFFSET_MASK;
        bool l2_dirty = false;

        if (!l2_offset) {
            continue;
        }
        ret = qcow2_get_refcount(bs, l2_offset >> s->cluster_bits, &refcount);
        if (ret < 0) {
            continue;
        }
        if ((refcount == 1) != ((l1_entry & QCOW_OFLAG_COPIED) != 0)) {
            fprintf(stderr, "%s OFLAG_COPIED L2 cluster: l1_index=%d "
                    "l1_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                    fix & BDRV_FIX_ERRORS ? "Repairing" : "ERROR", i,
                    l1_entry, refcount);
            if (fix & BDRV_FIX_ERRORS) {
                s->l1_table[i] = refcount == 1 ? l1_entry | QCOW_OFLAG_COPIED
                                               : l1_entry & ~QCOW_OFLAG_COPIED;
                ret = qcow2_write_l1_entry(bs, i);
                if (ret < 0) {
                    res->check_errors++;
                    return ret;
                }
                res->corruptions_fixed++;
            } else {
                res->corruptions++;
            }
        }

        /* Flush cached copies first: we read the table from disk. */
        ret = qcow2_cache_flush(bs, s->l2_table_cache);
        if (ret < 0) {
            res->check_errors++;
            return ret;
        }
        ret = bdrv_pread(bs->file, l2_offset, l2_bytes, l2_table, 0);
        if (ret < 0) {
            fprintf(stderr, "ERROR: Could not read L2 table: %s\n",
                    strerror(-ret));
            res->check_errors++;
            return ret;
        }
        for (int j = 0; j < s->l2_size; j++) {
            uint64_t l2_entry = get_l2_entry(s, l2_table, j);
            uint64_t data_offset = l2_entry & L2E_OFFSET_MASK;
            QCow2ClusterType type = qcow2_get_cluster_type(bs, l2_entry);

            if (type != QCOW2_CLUSTER_NORMAL &&
                type != QCOW2_CLUSTER_ZERO_ALLOC) {
                continue;
            }
            if (has_data_file(bs)) {
                refcount = 1;
            } else {
                ret = qcow2_get_refcount(bs, data_offset >> s->cluster_bits,
                                         &refcount);
                if (ret < 0) {
                    continue;
                }
            }
            if ((refcount == 1) != ((l2_entry & QCOW_OFLAG_COPIED) != 0)) {
                fprintf(stderr, "%s OFLAG_COPIED data cluster: l2_entry=%"
                        PRIx64 " refcount=%" PRIu64 "\n",
                        fix & BDRV_FIX_ERRORS ? "Repairing" : "ERROR",
                        l2_entry, refcount);
                if (fix & BDRV_FIX_ERRORS) {
                    set_l2_entry(s, l2_table, j,
                                 refcount == 1 ? l2_entry | QCOW_OFLAG_COPIED
                                               : l2_entry &
                                                 ~QCOW_OFLAG_COPIED);
                    l2_dirty = true;
                    res->corruptions_fixed++;
                } else {
                    res->corruptions++;
                }
            }
        }
        if (l2_dirty) {
            void *cached;

            ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L2,
                                                l2_offset, l2_bytes, false);
            if (ret < 0) {
                fprintf(stderr, "ERROR: Could not write L2 table; metadata "
                        "overlap check failed: %s\n", strerror(-ret));
                res->check_errors++;
                return ret;
            }
            ret = bdrv_pwrite(bs->file, l2_offset, l2_bytes, l2_table, 0);
            if (ret < 0) {
                fprintf(stderr, "ERROR: Could not write L2 table: %s\n",
                        strerror(-ret));
                res->check_errors++;
                return ret;
            }
            /* Cached slices of this table are stale now. */
            for (size_t off = 0; off < l2_bytes;
                 off += s->l2_slice_size * l2_entry_size(s)) {
                cached = qcow2_cache_is_table_offset(s->l2_table_cache,
                                                     l2_offset + off);
                if (cached) {
                    qcow2_cache_discard(s->l2_table_cache, cached);
                }
            }
        }
    }
    return 0;
}

/*
 * Replace the whole refcount structure by one built from @t: new
 * refblocks and table after everything in use, one header switch.
 */
static int rebuild_refcount_structure(BlockDriverState *bs,
                                      BdrvCheckResult *res, RefTable *t,
                                      int64_t highest_cluster)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t first_free = highest_cluster + 1;
    int64_t nb_blocks = 0, table_clusters = 0, total;
    int64_t table_entries;
    g_autofree uint64_t *table = NULL;
    g_autofree uint8_t *block = g_malloc0(s->cluster_size);
    uint64_t old_offset = s->refcount_table_offset;
    uint64_t old_clusters = size_to_clusters(s, s->refcount_table_size *
                                             sizeof(uint64_t));
    uint8_t hdr[12];
    int ret;

    (void)old_offset;
    (void)old_clusters;
    /* New metadata at first_free: blocks, then the table; iterate. */
    for (;;) {
        int64_t nb, tc;

        total = first_free + nb_blocks + table_clusters;
        nb = DIV_ROUND_UP(total, s->refcount_block_size);
        tc = size_to_clusters(s, nb * sizeof(uint64_t));
        if (nb == nb_blocks && tc == table_clusters) {
            break;
        }
        nb_blocks = nb;
        table_clusters = tc;
    }
    ret = reftable_grow(t, total);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    for (int64_t c = first_free; c < total; c++) {
        t->counts[c] = 1;
    }
    table_entries = table_clusters * (s->cluster_size / sizeof(uint64_t));
    table = g_new0(uint64_t, table_entries);

    for (int64_t b = 0; b < nb_blocks; b++) {
        int64_t first = b * s->refcount_block_size;
        uint64_t block_offset = (first_free + b) << s->cluster_bits;

        memset(block, 0, s->cluster_size);
        for (int64_t j = 0; j < s->refcount_block_size &&
             first + j < t->nb_clusters; j++) {
            uint64_t v = t->counts[first + j];

            qcow2_set_refcount_entry(s, block, j, MIN(v, s->refcount_max));
        }
        ret = bdrv_pwrite(bs->file, block_offset, s->cluster_size, block, 0);
        if (ret < 0) {
            fprintf(stderr, "ERROR writing refblock: %s\n", strerror(-ret));
            res->check_errors++;
            return ret;
        }
        table[b] = htobe64(block_offset);
    }
    ret = bdrv_pwrite(bs->file, (first_free + nb_blocks) << s->cluster_bits,
                      table_entries * sizeof(uint64_t), table, 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR writing reftable: %s\n", strerror(-ret));
        res->check_errors++;
        return ret;
    }
    ret = bdrv_flush(bs->file->bs);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    stq_be(hdr, (first_free + nb_blocks) << s->cluster_bits);
    stl_be(hdr + 8, table_clusters);
    ret = bdrv_pwrite_sync(bs->file, 48, sizeof(hdr), hdr, 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR setting reftable: %s\n", strerror(-ret));
        res->check_errors++;
        return ret;
    }

    /* Forget the old structure (cached blocks included, dirty or not). */
    for (;;) {
        void *stale = NULL;

        for (unsigned i = 0; i < s->refcount_table_size && !stale; i++) {
            uint64_t off = qcow2_reftable_entry(s, i) & REFT_OFFSET_MASK;
            stale = off ? qcow2_cache_is_table_offset(s->refcount_block_cache,
                                                      off) : NULL;
        }
        if (!stale) {
            break;
        }
        qcow2_cache_discard(s->refcount_block_cache, stale);
    }
    for (int64_t i = 0; i < table_entries; i++) {
        table[i] = be64toh(table[i]);
    }
    qcow2_reftable_replace(s, g_steal_pointer(&table), table_entries);
    s->refcount_table_size = table_entries;
    s->refcount_table_offset = (first_free + nb_blocks) << s->cluster_bits;
    s->free_cluster_index = 0;
    return 0;
}

int qcow2_check_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                          BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    RefTable t = { 0 };
    BdrvCheckResult pre_compare_res;
    int64_t size, nb_clusters, highest_cluster = -1;
    bool rebuild = false;
    int ret;

    size = bdrv_getlength(bs->file->bs);
    if (size < 0) {
        res->check_errors++;
        return size;
    }
    nb_clusters = size_to_clusters(s, size);
    if (nb_clusters > INT_MAX) {
        res->check_errors++;
        return -EFBIG;
    }
    res->bfi.total_clusters = size_to_clusters(s, bs->total_bytes);

    /* Cached metadata must be on disk: the walk reads the file. */
    ret = qcow2_write_caches(bs);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }

    ret = reftable_grow(&t, nb_clusters);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    ret = calculate_refcounts(bs, res, fix, &rebuild, &t);
    if (ret < 0) {
        goto fail;
    }
    pre_compare_res = *res;
    compare_refcounts(bs, res, 0, &rebuild, &highest_cluster, &t,
                      nb_clusters);

    if (rebuild && (fix & BDRV_FIX_ERRORS)) {
        BdrvCheckResult old_res = *res;
        int fresh_leaks = 0;

        fprintf(stderr, "Rebuilding refcount structure\n");
        ret = rebuild_refcount_structure(bs, res, &t, highest_cluster);
        if (ret < 0) {
            goto fail;
        }
        res->corruptions = 0;
        res->leaks = 0;
        rebuild = false;
        g_free(t.counts);
        t = (RefTable) { 0 };
        ret = reftable_grow(&t, nb_clusters);
        if (ret < 0) {
            goto fail;
        }
        ret = calculate_refcounts(bs, res, 0, &rebuild, &t);
        if (ret < 0) {
            goto fail;
        }
        if (fix & BDRV_FIX_LEAKS) {
            /* The old structure is leaked now; collect it. */
            BdrvCheckResult saved = *res;

            *res = (BdrvCheckResult) { 0 };
            compare_refcounts(bs, res, BDRV_FIX_LEAKS, &rebuild,
                              &highest_cluster, &t,
                              size_to_clusters(s, bdrv_getlength(
                                                   bs->file->bs)));
            if (rebuild) {
                fprintf(stderr, "ERROR rebuilt refcount structure is still "
                        "broken\n");
            }
            fresh_leaks = res->leaks;
            *res = saved;
        }
        if (res->corruptions < old_res.corruptions) {
            res->corruptions_fixed += old_res.corruptions - res->corruptions;
        }
        if (res->leaks < old_res.leaks) {
            res->leaks_fixed += old_res.leaks - res->leaks;
        }
        res->leaks += fresh_leaks;
    } else if (fix) {
        if (rebuild) {
            fprintf(stderr, "ERROR need to rebuild refcount structures\n");
            res->check_errors++;
            ret = -EIO;
            goto fail;
        }
        if (res->leaks || res->corruptions) {
            *res = pre_compare_res;
            compare_refcounts(bs, res, fix, &rebuild, &highest_cluster, &t,
                              nb_clusters);
        }
    }

    ret = check_oflag_copied(bs, res, fix);
    if (ret < 0) {
        goto fail;
    }
    res->image_end_offset = (highest_cluster + 1) * s->cluster_size;
    if (fix) {
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            res->check_errors++;
            goto fail;
        }
    }
    ret = 0;
fail:
    g_free(t.counts);
    return ret;
}

/* Is the image preallocated far beyond what its data needs? */
int qcow2_detect_metadata_preallocation(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_length, real_allocation, real_clusters, threshold;
    int64_t nb_clusters, allocated = 0;

    file_length = bdrv_getlength(bs->file->bs);
    if (file_length < 0) {
        return file_length;
    }
    real_allocation = bdrv_get_allocated_file_size(bs->file->bs);
    if (real_allocation < 0) {
        return real_allocation;
    }
    real_clusters = real_allocation / s->cluster_size;
    threshold = MAX(real_clusters * 10 / 9, real_clusters + 2);
    nb_clusters = size_to_clusters(s, file_length);
    for (int64_t i = 0; i < nb_clusters; i++) {
        uint64_t refcount;
        int ret = qcow2_get_refcount(bs, i, &refcount);

        if (ret < 0) {
            return ret;
        }
        if (refcount > 0 && ++allocated > threshold) {
            return 1;
        }
    }
    return 0;
}

/* Drop refblocks that only describe free clusters (after shrinking). */
int qcow2_shrink_reftable(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *new_table = g_new0(uint64_t,
                                            MAX(s->refcount_table_size, 1));
    int ret;

    for (unsigned i = 0; i < s->refcount_table_size; i++) {
        uint64_t off = qcow2_reftable_entry(s, i) & REFT_OFFSET_MASK;
        void *block;
        bool unused = true;

        if (!off) {
            continue;
        }
        ret = qcow2_cache_get(bs, s->refcount_block_cache, off, &block);
        if (ret < 0) {
            return ret;
        }
        for (int j = 0; j < s->refcount_block_size && unused; j++) {
            uint64_t cl = (uint64_t)i * s->refcount_block_size + j;
            uint64_t rc = qcow2_refcount_entry(s, block, j);

            /* A block that only counts itself is unused. */
            if (rc && !(cl == (off >> s->cluster_bits) && rc == 1)) {
                unused = false;
            }
        }
        qcow2_cache_put(s->refcount_block_cache, &block);
        new_table[i] = unused ? 0 : htobe64(qcow2_reftable_entry(s, i));
    }
    ret = bdrv_pwrite_sync(bs->file, s->refcount_table_offset,
                           s->refcount_table_size * sizeof(uint64_t),
                           new_table, 0);
    if (ret < 0) {
        return ret;
    }
    for (unsigned i = 0; i < s->refcount_table_size; i++) {
        uint64_t off = qcow2_reftable_entry(s, i) & REFT_OFFSET_MASK;

        if (off && !new_table[i]) {
            void *cached = qcow2_cache_is_table_offset(s->refcount_block_cache,
                                                       off);
            if (cached) {
                qcow2_cache_discard(s->refcount_block_cache, cached);
            }
            qcow2_reftable_set(s, i, 0);
            /* Its own cluster is free now: it was counted only by itself. */
        }
    }
    return 0;
}

/* ---- bitmaps extension walker ---- */

int qcow2_bitmaps_for_each_range(BlockDriverState *bs,
                                 int (*fn)(void *opaque, uint64_t offset,
                                           uint64_t size),
                                 void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *dir = NULL;
    uint64_t pos = 0;
    int ret;

    if (!s->nb_bitmaps) {
        return 0;
    }
    dir = g_try_malloc(s->bitmap_directory_size);
    if (!dir) {
        return -ENOMEM;
    }
    ret = bdrv_pread(bs->file, s->bitmap_directory_offset,
                     s->bitmap_directory_size, dir, 0);
    if (ret < 0) {
        return ret;
    }
    ret = fn(opaque, s->bitmap_directory_offset, s->bitmap_directory_size);
    if (ret < 0) {
        return ret;
    }
    for (uint32_t i = 0; i < s->nb_bitmaps; i++) {
        uint64_t table_offset;
        uint32_t table_size, extra, name_size;
        g_autofree uint64_t *table = NULL;

        if (pos + 24 > s->bitmap_directory_size) {
            return -EINVAL;
        }
        table_offset = ldq_be(dir + pos);
        table_size = ldl_be(dir + pos + 8);
        name_size = lduw_be(dir + pos + 18);
        extra = ldl_be(dir + pos + 20);
        pos += ROUND_UP(24 + (uint64_t)extra + name_size, 8);
        if (pos > s->bitmap_directory_size ||
            table_size > QCOW_MAX_L1_SIZE / 8) {
            return -EINVAL;
        }
        ret = fn(opaque, table_offset, (uint64_t)table_size * 8);
        if (ret < 0) {
            return ret;
        }
        table = g_try_new(uint64_t, MAX(table_size, 1));
        if (!table) {
            return -ENOMEM;
        }
        ret = bdrv_pread(bs->file, table_offset, (uint64_t)table_size * 8,
                         table, 0);
        if (ret < 0) {
            return ret;
        }
        for (uint32_t j = 0; j < table_size; j++) {
            uint64_t off = be64toh(table[j]) & 0x00fffffffffffe00ULL;

            if (off) {
                ret = fn(opaque, off, s->cluster_size);
                if (ret < 0) {
                    return ret;
                }
            }
        }
    }
    return 0;
}

/* ---- refcount width changes (amend) ---- */

int qcow2_change_refcount_order(BlockDriverState *bs, int refcount_order,
                                Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BDRVQcow2State ns = *s;     /* only for the new entry encoding */
    BdrvCheckResult res = { 0 };
    RefTable t = { 0 };
    bool rebuild = false;
    int64_t file_len, first_free, nb_blocks = 0, table_clusters = 0, total;
    int64_t table_entries;
    g_autofree uint64_t *table = NULL;
    g_autofree uint8_t *block = g_malloc0(s->cluster_size);
    uint64_t old_table_offset = s->refcount_table_offset;
    uint64_t old_table_clusters = size_to_clusters(s, s->refcount_table_size *
                                                   sizeof(uint64_t));
    int ret;

    ns.refcount_order = refcount_order;
    ns.refcount_bits = 1 << refcount_order;
    ns.refcount_max = ns.refcount_bits == 64 ? UINT64_MAX
                                             : (1ULL << ns.refcount_bits) - 1;
    ns.refcount_block_bits = s->cluster_bits - (refcount_order - 3);
    ns.refcount_block_size = 1 << ns.refcount_block_bits;

    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush metadata");
        return ret;
    }
    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        error_setg_errno(errp, -file_len, "Failed to get the file size");
        return file_len;
    }
    ret = reftable_grow(&t, size_to_clusters(s, file_len));
    if (ret == 0) {
        ret = calculate_refcounts(bs, &res, 0, &rebuild, &t);
    }
    if (ret < 0 || rebuild || res.corruptions) {
        error_setg(errp, "The image's refcounts are inconsistent; run "
                   "'qemu-img check -r all' first");
        g_free(t.counts);
        return ret < 0 ? ret : -EIO;
    }
    /* The old structure is dropped by the switch. */
    for (unsigned i = 0; i < s->refcount_table_alloc; i++) {
        uint64_t off = s->refcount_table[i] & REFT_OFFSET_MASK;
        if (off) {
            t.counts[off >> s->cluster_bits]--;
        }
    }
    for (uint64_t c = 0; c < old_table_clusters; c++) {
        t.counts[(old_table_offset >> s->cluster_bits) + c]--;
    }
    first_free = 0;
    for (int64_t i = 0; i < t.nb_clusters; i++) {
        if (t.counts[i] > ns.refcount_max) {
            error_setg(errp, "Cannot decrease refcount entry width to %i "
                       "bits: Cluster at offset %#" PRIx64 " has a refcount "
                       "of %" PRIu64, ns.refcount_bits,
                       (uint64_t)i << s->cluster_bits, t.counts[i]);
            g_free(t.counts);
            return -EINVAL;
        }
        if (t.counts[i]) {
            first_free = i + 1;
        }
    }
    /* New blocks and table after everything still in use, incl. the old. */
    first_free = MAX(first_free, size_to_clusters(s, file_len));
    for (;;) {
        int64_t nb, tc;

        total = first_free + nb_blocks + table_clusters;
        nb = DIV_ROUND_UP(total, ns.refcount_block_size);
        tc = size_to_clusters(s, nb * sizeof(uint64_t));
        if (nb == nb_blocks && tc == table_clusters) {
            break;
        }
        nb_blocks = nb;
        table_clusters = tc;
    }
    ret = reftable_grow(&t, total);
    if (ret < 0) {
        g_free(t.counts);
        error_setg(errp, "Out of memory");
        return ret;
    }
    for (int64_t c = first_free; c < total; c++) {
        t.counts[c] = 1;
    }
    table_entries = table_clusters * (s->cluster_size / sizeof(uint64_t));
    table = g_new0(uint64_t, table_entries);
    for (int64_t b = 0; b < nb_blocks; b++) {
        int64_t first = b * ns.refcount_block_size;
        uint64_t block_offset = (first_free + b) << s->cluster_bits;

        memset(block, 0, s->cluster_size);
        for (int64_t j = 0; j < ns.refcount_block_size &&
             first + j < t.nb_clusters; j++) {
            qcow2_set_refcount_entry(&ns, block, j, t.counts[first + j]);
        }
        ret = bdrv_pwrite(bs->file, block_offset, s->cluster_size, block, 0);
        if (ret < 0) {
            goto fail;
        }
        table[b] = htobe64(block_offset);
    }
    ret = bdrv_pwrite(bs->file, (first_free + nb_blocks) << s->cluster_bits,
                      table_entries * sizeof(uint64_t), table, 0);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_flush(bs->file->bs);
    if (ret < 0) {
        goto fail;
    }

    /* Switch: one write of the header cluster carries everything. */
    ret = qcow2_cache_empty(bs, s->refcount_block_cache);
    if (ret < 0) {
        goto fail;
    }
    s->refcount_order = ns.refcount_order;
    s->refcount_bits = ns.refcount_bits;
    s->refcount_max = ns.refcount_max;
    s->refcount_block_bits = ns.refcount_block_bits;
    s->refcount_block_size = ns.refcount_block_size;
    for (int64_t i = 0; i < table_entries; i++) {
        table[i] = be64toh(table[i]);
    }
    qcow2_reftable_replace(s, g_steal_pointer(&table), table_entries);
    s->refcount_table_size = table_entries;
    s->refcount_table_offset = (first_free + nb_blocks) << s->cluster_bits;
    s->free_cluster_index = 0;
    ret = qcow2_update_header(bs);
    if (ret == 0) {
        ret = bdrv_flush(bs->file->bs);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image header");
        g_free(t.counts);
        return ret;
    }
    g_free(t.counts);
    return 0;

fail:
    error_setg_errno(errp, -ret, "Failed to write the new refcount "
                     "structure");
    g_free(t.counts);
    return ret;
}

/*
 * qcow2 host cluster management: the two-level refcount structure,
 * cluster allocation and freeing, metadata overlap checks, and the
 * consistency check / repair behind "qemu-img check".
 */
#include "strata/osdep.h"
#include "qcow2.h"

#define REFTABLE_ENTRY_SIZE 8
#define QCOW_MAX_CLUSTER_OFFSET ((1ULL << 56) - 1)

const char *const qcow2_overlap_names[QCOW2_OL_MAX_BITNR] = {
    [0] = "qcow2_header",
    [1] = "active L1 table",
    [2] = "active L2 table",
    [3] = "refcount table",
    [4] = "refcount block",
    [5] = "snapshot table",
    [6] = "inactive L1 table",
    [7] = "inactive L2 table",
    [8] = "bitmap directory",
};

static int update_refcount(BlockDriverState *bs, int64_t offset,
                           int64_t length, uint64_t addend, bool decrease,
                           Qcow2DiscardType type);

/* ---- refcount entries of any width (1 to 64 bits) ---- */

static uint64_t get_refcount(BDRVQcow2State *s, const void *block,
                             uint64_t index)
{
    const uint8_t *b = block;

    switch (s->refcount_order) {
    case 0: case 1: case 2: {
        int bits = s->refcount_bits;
        uint64_t bit = index * bits;
        return (b[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    case 3:
        return b[index];
    case 4:
        return be16toh(((const uint16_t *)block)[index]);
    case 5:
        return be32toh(((const uint32_t *)block)[index]);
    default:
        return be64toh(((const uint64_t *)block)[index]);
    }
}

static void set_refcount(BDRVQcow2State *s, void *block, uint64_t index,
                         uint64_t value)
{
    uint8_t *b = block;

    assert(value <= s->refcount_max);
    switch (s->refcount_order) {
    case 0: case 1: case 2: {
        int bits = s->refcount_bits;
        uint64_t bit = index * bits;
        uint8_t mask = ((1u << bits) - 1) << (bit % 8);
        b[bit / 8] = (b[bit / 8] & ~mask) | (value << (bit % 8));
        break;
    }
    case 3:
        b[index] = value;
        break;
    case 4:
        ((uint16_t *)block)[index] = htobe16(value);
        break;
    case 5:
        ((uint32_t *)block)[index] = htobe32(value);
        break;
    default:
        ((uint64_t *)block)[index] = htobe64(value);
        break;
    }
}

uint64_t qcow2_refcount_entry(BDRVQcow2State *s, const void *block,
                              uint64_t index)
{
    return get_refcount(s, block, index);
}

void qcow2_set_refcount_entry(BDRVQcow2State *s, void *block, uint64_t index,
                              uint64_t value)
{
    set_refcount(s, block, index, value);
}

void qcow2_reftable_set(BDRVQcow2State *s, uint64_t i, uint64_t value)
{
    assert(i < s->refcount_table_size);
    if (i >= s->refcount_table_alloc) {
        uint32_t n = MIN(s->refcount_table_size,
                         MAX(i + 1, (uint64_t)s->refcount_table_alloc * 2));

        s->refcount_table = g_renew(uint64_t, s->refcount_table, n);
        memset(s->refcount_table + s->refcount_table_alloc, 0,
               (n - s->refcount_table_alloc) * sizeof(uint64_t));
        s->refcount_table_alloc = n;
    }
    s->refcount_table[i] = value;
}

void qcow2_reftable_replace(BDRVQcow2State *s, uint64_t *table,
                            uint32_t entries)
{
    uint32_t used = 0;

    for (uint32_t i = 0; i < entries; i++) {
        if (table[i]) {
            used = i + 1;
        }
    }
    g_free(s->refcount_table);
    s->refcount_table = g_renew(uint64_t, table, MAX(used, 1));
    s->refcount_table_alloc = used;
    s->max_refcount_table_index = used ? used - 1 : 0;
}

/* ---- set-up ---- */

int qcow2_refcount_init(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned int refcount_table_size2;
    int ret;

    assert(s->refcount_order >= 0 && s->refcount_order <= 6);
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX
                                              : (1ULL << s->refcount_bits) - 1;

    refcount_table_size2 = s->refcount_table_size * REFTABLE_ENTRY_SIZE;
    s->refcount_table = g_try_malloc(MAX(refcount_table_size2, 1));
    if (!s->refcount_table) {
        return -ENOMEM;
    }
    s->refcount_table_alloc = 0;
    if (s->refcount_table_size > 0) {
        uint64_t *table = s->refcount_table;

        s->refcount_table = NULL;
        ret = bdrv_pread(bs->file, s->refcount_table_offset,
                         refcount_table_size2, table, 0);
        if (ret < 0) {
            g_free(table);
            return ret;
        }
        for (unsigned i = 0; i < s->refcount_table_size; i++) {
            table[i] = be64toh(table[i]);
        }
        qcow2_reftable_replace(s, table, s->refcount_table_size);
    }
    return 0;
}

void qcow2_refcount_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    g_free(s->refcount_table);
    s->refcount_table = NULL;
}

static int load_refcount_block(BlockDriverState *bs, int64_t offset,
                               void **block)
{
    BDRVQcow2State *s = bs->opaque;

    return qcow2_cache_get(bs, s->refcount_block_cache, offset, block);
}

int qcow2_get_refcount(BlockDriverState *bs, int64_t cluster_index,
                       uint64_t *refcount)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t table_index = cluster_index >> s->refcount_block_bits;
    uint64_t block_offset;
    void *block;
    int ret;

    if (table_index >= s->refcount_table_size) {
        *refcount = 0;
        return 0;
    }
    block_offset = qcow2_reftable_entry(s, table_index) & REFT_OFFSET_MASK;
    if (!block_offset) {
        *refcount = 0;
        return 0;
    }
    if (offset_into_cluster(s, block_offset)) {
        qcow2_signal_corruption(bs, true, block_offset, s->cluster_size,
                                "Refblock offset %#" PRIx64 " unaligned "
                                "(reftable index: %#" PRIx64 ")",
                                block_offset, table_index);
        return -EIO;
    }
    ret = load_refcount_block(bs, block_offset, &block);
    if (ret < 0) {
        return ret;
    }
    *refcount = get_refcount(s, block,
                             cluster_index & (s->refcount_block_size - 1));
    qcow2_cache_put(s->refcount_block_cache, &block);
    return 0;
}

static bool in_same_refcount_block(BDRVQcow2State *s, uint64_t a, uint64_t b)
{
    uint64_t shift = s->cluster_bits + s->refcount_block_bits;

    return (a >> shift) == (b >> shift);
}

/* Find @size bytes of contiguous free clusters without referencing them. */
static int64_t alloc_clusters_noref(BlockDriverState *bs, uint64_t size,
                                    uint64_t max)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t nb_clusters = size_to_clusters(s, size);
    uint64_t refcount;
    int ret;

retry:
    for (uint64_t i = 0; i < nb_clusters; i++) {
        uint64_t next = s->free_cluster_index++;

        ret = qcow2_get_refcount(bs, next, &refcount);
        if (ret < 0) {
            return ret;
        }
        if (refcount != 0) {
            goto retry;
        }
    }
    if (s->free_cluster_index > 0 &&
        s->free_cluster_index - 1 > (max >> s->cluster_bits)) {
        return -EFBIG;
    }
    return (s->free_cluster_index - nb_clusters) << s->cluster_bits;
}

/*
 * Get the refcount block covering @cluster_index, creating it (and, if
 * needed, a bigger refcount table) when it does not exist yet.  Returns
 * -EAGAIN after creating metadata: the caller's free clusters may have
 * been taken and it must search again.
 */
static int alloc_refcount_block(BlockDriverState *bs, int64_t cluster_index,
                                void **refcount_block)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t table_index = cluster_index >> s->refcount_block_bits;
    int64_t new_block;
    uint64_t blocks_used, meta_offset;
    int ret;

    if (table_index < s->refcount_table_size) {
        uint64_t off = qcow2_reftable_entry(s, table_index) &
                       REFT_OFFSET_MASK;

        if (off) {
            if (offset_into_cluster(s, off)) {
                qcow2_signal_corruption(bs, true, off, s->cluster_size,
                                        "Refblock offset %#" PRIx64
                                        " unaligned (reftable index: %#"
                                        PRIx64 ")", off, table_index);
                return -EIO;
            }
            return load_refcount_block(bs, off, refcount_block);
        }
    }

    *refcount_block = NULL;
    /* The refcount table is written directly: L2 tables go first. */
    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret < 0) {
        return ret;
    }

    new_block = alloc_clusters_noref(bs, s->cluster_size, INT64_MAX);
    if (new_block < 0) {
        return new_block;
    }
    if (new_block == 0) {
        qcow2_signal_corruption(bs, true, new_block, s->cluster_size,
                                "Preventing invalid allocation of refcount "
                                "block at offset 0");
        return -EIO;
    }

    if (in_same_refcount_block(s, new_block,
                               (uint64_t)cluster_index << s->cluster_bits)) {
        /* The new block describes itself. */
        ret = qcow2_cache_get_empty(bs, s->refcount_block_cache, new_block,
                                    refcount_block);
        if (ret < 0) {
            return ret;
        }
        memset(*refcount_block, 0, s->cluster_size);
        set_refcount(s, *refcount_block,
                     (new_block >> s->cluster_bits) &
                     (s->refcount_block_size - 1), 1);
    } else {
        /* Described by another block: at most a short recursion. */
        ret = update_refcount(bs, new_block, s->cluster_size, 1, false,
                              QCOW2_DISCARD_NEVER);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_get_empty(bs, s->refcount_block_cache, new_block,
                                    refcount_block);
        if (ret < 0) {
            return ret;
        }
        memset(*refcount_block, 0, s->cluster_size);
    }

    qcow2_cache_entry_mark_dirty(s->refcount_block_cache, *refcount_block);
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        qcow2_cache_put(s->refcount_block_cache, refcount_block);
        return ret;
    }

    if (table_index < s->refcount_table_size) {
        uint64_t be = htobe64(new_block);

        ret = bdrv_pwrite_sync(bs->file, s->refcount_table_offset +
                               table_index * REFTABLE_ENTRY_SIZE,
                               sizeof(be), &be, 0);
        if (ret < 0) {
            qcow2_cache_put(s->refcount_block_cache, refcount_block);
            return ret;
        }
        qcow2_reftable_set(s, table_index, new_block);
        s->max_refcount_table_index = MAX(s->max_refcount_table_index,
                                          table_index);
        return -EAGAIN;
    }
    qcow2_cache_put(s->refcount_block_cache, refcount_block);

    /*
     * The table is too small.  A new table and the refblocks describing it
     * go to a fresh area after everything described so far, referenced only
     * by the new table, which is switched to in one header write.
     */
    blocks_used = DIV_ROUND_UP(MAX(cluster_index + 1,
                                   (new_block >> s->cluster_bits) + 1),
                               s->refcount_block_size);
    meta_offset = (blocks_used * s->refcount_block_size) * s->cluster_size;
    ret = qcow2_refcount_area(bs, meta_offset, 0, false, table_index,
                              new_block);
    if (ret < 0) {
        return ret;
    }
    ret = load_refcount_block(bs, new_block, refcount_block);
    if (ret < 0) {
        return ret;
    }
    return -EAGAIN;
}

/*
 * Clusters needed for the refcount structure (blocks and table) of an image
 * of @clusters clusters, the structure counting itself.  With
 * @generous_increase the table gets room for half as many blocks again.
 */
int64_t qcow2_refcount_metadata_size(int64_t clusters, size_t cluster_size,
                                     int refcount_order,
                                     bool generous_increase,
                                     uint64_t *refblock_count)
{
    int64_t entries_per_table_cluster = cluster_size / REFTABLE_ENTRY_SIZE;
    int64_t refcounts_per_block = cluster_size * 8 / (1 << refcount_order);
    int64_t table = 0, blocks = 0, total = 0, last;

    /* Iterate to the fixed point where the structure covers itself. */
    do {
        last = total;
        blocks = DIV_ROUND_UP(clusters + table + blocks, refcounts_per_block);
        table = DIV_ROUND_UP(blocks, entries_per_table_cluster);
        total = clusters + blocks + table;
        if (total == last && generous_increase) {
            clusters += DIV_ROUND_UP(table, 2);
            total = 0;
            generous_increase = false;
        }
    } while (total != last);

    if (refblock_count) {
        *refblock_count = blocks;
    }
    return (blocks + table) * cluster_size;
}

/*
 * Make the refcount structure cover everything up to @start_offset plus
 * @additional_clusters, with a new refcount table (and @new_refblock_offset
 * hooked in at @new_refblock_index, if given).  The caller guarantees that
 * nothing is allocated from @start_offset on: the refblocks this creates
 * and the new table go there, counted by themselves, followed by room for
 * the caller's clusters.  The switch to the new table is one header write,
 * so a crash leaves either structure whole; the old table is freed after.
 * This is the layout QEMU produces.  Returns where the caller's area
 * starts.
 */
int64_t qcow2_refcount_area(BlockDriverState *bs, uint64_t start_offset,
                            uint64_t additional_clusters, bool exact_size,
                            int new_refblock_index,
                            uint64_t new_refblock_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start_cluster = start_offset >> s->cluster_bits;
    uint64_t area_rt_index = start_cluster >> s->refcount_block_bits;
    uint64_t total_blocks, table_entries, table_clusters, new_blocks = 0;
    uint64_t table_offset, end_offset, block_offset;
    uint64_t old_table_offset = s->refcount_table_offset;
    uint64_t old_table_clusters;
    g_autofree uint64_t *new_table = NULL;
    struct {
        uint64_t offset;
        uint32_t clusters;
    } __attribute__((packed)) hdr;
    int ret;

    assert(offset_into_cluster(s, start_offset) == 0);

    qcow2_refcount_metadata_size(start_cluster + additional_clusters,
                                 s->cluster_size, s->refcount_order,
                                 !exact_size, &total_blocks);
    if (total_blocks > QCOW_MAX_REFTABLE_SIZE) {
        return -EFBIG;
    }
    table_entries = exact_size ? total_blocks
                               : total_blocks + DIV_ROUND_UP(total_blocks, 2);
    table_entries = ROUND_UP(table_entries,
                             s->cluster_size / REFTABLE_ENTRY_SIZE);
    table_clusters = table_entries * REFTABLE_ENTRY_SIZE / s->cluster_size;
    if (table_entries > QCOW_MAX_REFTABLE_SIZE) {
        return -EFBIG;
    }

    new_table = g_try_new0(uint64_t, table_entries);
    if (!new_table) {
        return -ENOMEM;
    }
    /* Blocks beyond a smaller table cover only the (empty) area. */
    for (uint64_t i = 0; i < MIN(table_entries, s->refcount_table_alloc);
         i++) {
        new_table[i] = s->refcount_table[i];
    }
    if (new_refblock_offset) {
        assert(new_refblock_index < total_blocks);
        new_table[new_refblock_index] = new_refblock_offset;
    }
    for (uint64_t i = area_rt_index; i < total_blocks; i++) {
        if (!new_table[i]) {
            new_blocks++;
        }
    }
    table_offset = start_offset + new_blocks * s->cluster_size;
    end_offset = table_offset + table_clusters * s->cluster_size;

    /* Create the missing refblocks; count the area's metadata in all. */
    block_offset = start_offset;
    for (uint64_t i = area_rt_index; i < total_blocks; i++) {
        uint64_t first_covered = (i << s->refcount_block_bits) <<
                                 s->cluster_bits;
        void *block;

        if (new_table[i]) {
            ret = qcow2_cache_get(bs, s->refcount_block_cache, new_table[i],
                                  &block);
        } else {
            ret = qcow2_cache_get_empty(bs, s->refcount_block_cache,
                                        block_offset, &block);
            if (ret == 0) {
                memset(block, 0, s->cluster_size);
                qcow2_cache_entry_mark_dirty(s->refcount_block_cache, block);
                new_table[i] = block_offset;
                block_offset += s->cluster_size;
            }
        }
        if (ret < 0) {
            return ret;
        }
        if (first_covered < end_offset) {
            uint64_t j = first_covered < start_offset
                         ? (start_offset - first_covered) >> s->cluster_bits
                         : 0;
            uint64_t end = MIN((end_offset - first_covered) >> s->cluster_bits,
                               (uint64_t)s->refcount_block_size);

            for (; j < end; j++) {
                if (get_refcount(s, block, j) != 0) {
                    qcow2_cache_put(s->refcount_block_cache, &block);
                    qcow2_signal_corruption(bs, true, first_covered +
                                            (j << s->cluster_bits),
                                            s->cluster_size, "Cluster %#"
                                            PRIx64 " past the end of the "
                                            "image is in use",
                                            first_covered +
                                            (j << s->cluster_bits));
                    return -EIO;
                }
                set_refcount(s, block, j, 1);
            }
            qcow2_cache_entry_mark_dirty(s->refcount_block_cache, block);
        }
        qcow2_cache_put(s->refcount_block_cache, &block);
    }
    assert(block_offset == table_offset);

    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        return ret;
    }
    for (uint64_t i = 0; i < table_entries; i++) {
        new_table[i] = htobe64(new_table[i]);
    }
    ret = bdrv_pwrite_sync(bs->file, table_offset,
                           table_entries * REFTABLE_ENTRY_SIZE, new_table, 0);
    for (uint64_t i = 0; i < table_entries; i++) {
        new_table[i] = be64toh(new_table[i]);
    }
    if (ret < 0) {
        return ret;
    }

    /* refcount_table_offset and _clusters are adjacent at byte 48. */
    hdr.offset = htobe64(table_offset);
    hdr.clusters = htobe32(table_clusters);
    ret = bdrv_pwrite_sync(bs->file, 48, sizeof(hdr), &hdr, 0);
    if (ret < 0) {
        return ret;
    }

    old_table_clusters = size_to_clusters(s, s->refcount_table_size *
                                          REFTABLE_ENTRY_SIZE);
    qcow2_reftable_replace(s, g_steal_pointer(&new_table), table_entries);
    s->refcount_table_size = table_entries;
    s->refcount_table_offset = table_offset;
    if (old_table_offset) {
        qcow2_free_clusters(bs, old_table_offset,
                            old_table_clusters << s->cluster_bits,
                            QCOW2_DISCARD_OTHER);
    }
    return end_offset;
}

/* ---- discards of freed clusters ---- */

void qcow2_process_discards(BlockDriverState *bs, int ret)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2DiscardRegion *d, *next;

    QTAILQ_FOREACH_SAFE(d, &s->discards, next, next) {
        QTAILQ_REMOVE(&s->discards, d, next);
        /* Discard is only a hint: ignore its failure. */
        if (ret >= 0) {
            bdrv_pdiscard(bs->file, d->offset, d->bytes);
        }
        g_free(d);
    }
}

static void update_refcount_discard(BlockDriverState *bs, uint64_t offset,
                                    uint64_t length)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2DiscardRegion *d, *p, *next;

    QTAILQ_FOREACH(d, &s->discards, next) {
        uint64_t new_start = MIN(offset, d->offset);
        uint64_t new_end = MAX(offset + length, d->offset + d->bytes);

        if (new_end - new_start <= length + d->bytes) {
            /* Adjacent or overlapping: merge. */
            d->offset = new_start;
            d->bytes = new_end - new_start;
            goto found;
        }
    }
    d = g_new(Qcow2DiscardRegion, 1);
    d->offset = offset;
    d->bytes = length;
    QTAILQ_INSERT_TAIL(&s->discards, d, next);

found:
    /* Merge neighbours that now touch. */
    QTAILQ_FOREACH_SAFE(p, &s->discards, next, next) {
        if (p == d || p->offset > d->offset + d->bytes ||
            d->offset > p->offset + p->bytes) {
            continue;
        }
        d->bytes = MAX(d->offset + d->bytes, p->offset + p->bytes) -
                   MIN(d->offset, p->offset);
        d->offset = MIN(d->offset, p->offset);
        QTAILQ_REMOVE(&s->discards, p, next);
        g_free(p);
    }
}

/* ---- refcount updates ---- */

static int update_refcount(BlockDriverState *bs, int64_t offset,
                           int64_t length, uint64_t addend, bool decrease,
                           Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t start, last, cluster_offset;
    void *refcount_block = NULL;
    int64_t old_table_index = -1;
    int ret;

    if (length < 0) {
        return -EINVAL;
    }
    if (length == 0) {
        return 0;
    }
    if (decrease) {
        /* Freed clusters must be unreferenced on disk first. */
        ret = qcow2_cache_set_dependency(bs, s->refcount_block_cache,
                                         s->l2_table_cache);
        if (ret < 0) {
            return ret;
        }
    }

    start = start_of_cluster(s, offset);
    last = start_of_cluster(s, offset + length - 1);
    for (cluster_offset = start; cluster_offset <= last;
         cluster_offset += s->cluster_size) {
        int64_t cluster_index = cluster_offset >> s->cluster_bits;
        int64_t table_index = cluster_index >> s->refcount_block_bits;
        int64_t block_index;
        uint64_t refcount;

        if (table_index != old_table_index) {
            if (refcount_block) {
                qcow2_cache_put(s->refcount_block_cache, &refcount_block);
            }
            ret = alloc_refcount_block(bs, cluster_index, &refcount_block);
            if (ret == -EAGAIN) {
                /* Retry the same clusters first: they may still be free. */
                if (s->free_cluster_index > (uint64_t)(start >>
                                                       s->cluster_bits)) {
                    s->free_cluster_index = start >> s->cluster_bits;
                }
            }
            if (ret < 0) {
                goto fail;
            }
        }
        old_table_index = table_index;

        qcow2_cache_entry_mark_dirty(s->refcount_block_cache, refcount_block);
        block_index = cluster_index & (s->refcount_block_size - 1);
        refcount = get_refcount(s, refcount_block, block_index);
        if (decrease ? (refcount - addend > refcount)
                     : (refcount + addend < refcount ||
                        refcount + addend > s->refcount_max)) {
            ret = -EINVAL;
            goto fail;
        }
        refcount = decrease ? refcount - addend : refcount + addend;
        if (refcount == 0 && (uint64_t)cluster_index < s->free_cluster_index) {
            s->free_cluster_index = cluster_index;
        }
        set_refcount(s, refcount_block, block_index, refcount);

        if (refcount == 0) {
            void *table;

            /* A freed metadata cluster must not stay cached. */
            table = qcow2_cache_is_table_offset(s->refcount_block_cache,
                                                cluster_offset);
            if (table) {
                qcow2_cache_put(s->refcount_block_cache, &refcount_block);
                old_table_index = -1;
                qcow2_cache_discard(s->refcount_block_cache, table);
            }
            table = qcow2_cache_is_table_offset(s->l2_table_cache,
                                                cluster_offset);
            if (table) {
                qcow2_cache_discard(s->l2_table_cache, table);
            }
            if (s->discard_passthrough[type]) {
                update_refcount_discard(bs, cluster_offset, s->cluster_size);
            }
        }
    }
    ret = 0;

fail:
    if (!s->cache_discards) {
        qcow2_process_discards(bs, ret);
    }
    if (refcount_block) {
        qcow2_cache_put(s->refcount_block_cache, &refcount_block);
    }
    if (ret < 0) {
        /* Undo what was done (may work, e.g. after ENOSPC). */
        update_refcount(bs, offset, cluster_offset - offset, addend,
                        !decrease, QCOW2_DISCARD_NEVER);
    }
    return ret;
}

int qcow2_update_cluster_refcount(BlockDriverState *bs, int64_t cluster_index,
                                  uint64_t addend, bool decrease,
                                  Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;

    return update_refcount(bs, cluster_index << s->cluster_bits, 1, addend,
                           decrease, type);
}

int64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size)
{
    int64_t offset;
    int ret;

    do {
        offset = alloc_clusters_noref(bs, size, QCOW_MAX_CLUSTER_OFFSET);
        if (offset < 0) {
            return offset;
        }
        ret = update_refcount(bs, offset, size, 1, false,
                              QCOW2_DISCARD_NEVER);
    } while (ret == -EAGAIN);
    if (ret < 0) {
        return ret;
    }
    return offset;
}

int64_t qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                int64_t nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cluster_index, refcount;
    uint64_t i;
    int ret;

    assert(nb_clusters >= 0);
    if (nb_clusters == 0) {
        return 0;
    }
    do {
        /* As many free clusters as there are from @offset on. */
        cluster_index = offset >> s->cluster_bits;
        for (i = 0; i < (uint64_t)nb_clusters; i++) {
            ret = qcow2_get_refcount(bs, cluster_index++, &refcount);
            if (ret < 0) {
                return ret;
            }
            if (refcount != 0) {
                break;
            }
        }
        ret = update_refcount(bs, offset, i << s->cluster_bits, 1, false,
                              QCOW2_DISCARD_NEVER);
    } while (ret == -EAGAIN);
    if (ret < 0) {
        return ret;
    }
    return i;
}

int64_t qcow2_alloc_bytes(BlockDriverState *bs, int size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t offset;
    size_t free_in_cluster;
    int ret;

    assert(size > 0 && size <= s->cluster_size);
    assert(!s->free_byte_offset || offset_into_cluster(s,
                                                       s->free_byte_offset));
    offset = s->free_byte_offset;
    if (offset) {
        uint64_t refcount;

        ret = qcow2_get_refcount(bs, offset >> s->cluster_bits, &refcount);
        if (ret < 0) {
            return ret;
        }
        if (refcount == s->refcount_max) {
            offset = 0;
        }
    }
    free_in_cluster = s->cluster_size - offset_into_cluster(s, offset);
    do {
        if (!offset || free_in_cluster < (size_t)size) {
            int64_t new_cluster = alloc_clusters_noref(
                bs, s->cluster_size, MIN(s->cluster_offset_mask,
                                         QCOW_MAX_CLUSTER_OFFSET));

            if (new_cluster < 0) {
                return new_cluster;
            }
            if (new_cluster == 0) {
                qcow2_signal_corruption(bs, true, new_cluster,
                                        s->cluster_size, "Preventing invalid "
                                        "allocation of compressed cluster at "
                                        "offset 0");
                return -EIO;
            }
            if (!offset || ROUND_UP(offset, s->cluster_size) != new_cluster) {
                offset = new_cluster;
                free_in_cluster = s->cluster_size;
            } else {
                free_in_cluster += s->cluster_size;
            }
        }
        assert(offset);
        ret = update_refcount(bs, offset, size, 1, false,
                              QCOW2_DISCARD_NEVER);
        if (ret < 0) {
            offset = 0;
        }
    } while (ret == -EAGAIN);
    if (ret < 0) {
        return ret;
    }
    /* The L2 entry may only reach the disk after the refcount. */
    qcow2_cache_set_dependency(bs, s->l2_table_cache,
                               s->refcount_block_cache);
    s->free_byte_offset = offset + size;
    if (!offset_into_cluster(s, s->free_byte_offset)) {
        s->free_byte_offset = 0;
    }
    return offset;
}

void qcow2_free_clusters(BlockDriverState *bs, int64_t offset, int64_t size,
                         Qcow2DiscardType type)
{
    int ret = update_refcount(bs, offset, size, 1, true, type);

    if (ret < 0) {
        fprintf(stderr, "qcow2_free_clusters failed: %s\n", strerror(-ret));
        /* The clusters leak; qemu-img check -r leaks recovers them. */
    }
}

void qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry,
                            Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    QCow2ClusterType ctype = qcow2_get_cluster_type(bs, l2_entry);

    if (has_data_file(bs)) {
        if (s->discard_passthrough[type] &&
            (ctype == QCOW2_CLUSTER_NORMAL ||
             ctype == QCOW2_CLUSTER_ZERO_ALLOC)) {
            bdrv_pdiscard(s->data_file, l2_entry & L2E_OFFSET_MASK,
                          s->cluster_size);
        }
        return;
    }
    switch (ctype) {
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t coffset;
        int csize;

        qcow2_parse_compressed_l2_entry(bs, l2_entry, &coffset, &csize);
        qcow2_free_clusters(bs, coffset, csize, type);
        break;
    }
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        if (offset_into_cluster(s, l2_entry & L2E_OFFSET_MASK)) {
            qcow2_signal_corruption(bs, false, -1, -1, "Cannot free "
                                    "unaligned cluster %#llx",
                                    l2_entry & L2E_OFFSET_MASK);
        } else {
            qcow2_free_clusters(bs, l2_entry & L2E_OFFSET_MASK,
                                s->cluster_size, type);
        }
        break;
    default:
        break;
    }
}

/* Add @addend to the refcount of everything an inactive L1 table reaches. */
int qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                   int64_t l1_table_offset, int l1_size,
                                   int addend)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint64_t *l1_table = NULL;
    bool l1_allocated = false;
    int64_t l1_size2 = (int64_t)l1_size * sizeof(uint64_t);
    int ret = 0;

    assert(addend >= -1 && addend <= 1);
    s->cache_discards = true;

    if (l1_table_offset != (int64_t)s->l1_table_offset) {
        l1_table = g_try_malloc0(ROUND_UP(l1_size2, 512) + 1);
        if (l1_size2 && !l1_table) {
            ret = -ENOMEM;
            goto fail;
        }
        l1_allocated = true;
        ret = bdrv_pread(bs->file, l1_table_offset, l1_size2, l1_table, 0);
        if (ret < 0) {
            goto fail;
        }
        for (int i = 0; i < l1_size; i++) {
            l1_table[i] = be64toh(l1_table[i]);
        }
    } else {
        assert(l1_size == s->l1_size);
    }

    for (int i = 0; i < l1_size; i++) {
        uint64_t l2_offset = (l1_allocated ? l1_table[i] : s->l1_table[i]);
        uint64_t refcount;
        int slices = s->l2_size / s->l2_slice_size;

        l2_offset &= L1E_OFFSET_MASK;
        if (!l2_offset) {
            continue;
        }
        if (offset_into_cluster(s, l2_offset)) {
            qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#"
                                    PRIx64 " unaligned (L1 index: %#x)",
                                    l2_offset, i);
            ret = -EIO;
            goto fail;
        }
        for (int sl = 0; sl < slices; sl++) {
            uint64_t *l2_slice;

            ret = qcow2_cache_get(bs, s->l2_table_cache,
                                  l2_offset + sl * s->l2_slice_size *
                                  l2_entry_size(s), (void **)&l2_slice);
            if (ret < 0) {
                goto fail;
            }
            for (int j = 0; j < s->l2_slice_size; j++) {
                uint64_t entry = get_l2_entry(s, l2_slice, j);
                uint64_t old_entry = entry;
                uint64_t cluster_index;
                QCow2ClusterType type = qcow2_get_cluster_type(bs, entry);

                entry &= ~QCOW_OFLAG_COPIED;
                switch (type) {
                case QCOW2_CLUSTER_COMPRESSED:
                    if (addend != 0) {
                        uint64_t coffset;
                        int csize;

                        qcow2_parse_compressed_l2_entry(bs, old_entry,
                                                        &coffset, &csize);
                        ret = update_refcount(bs, coffset, csize, abs(addend),
                                              addend < 0,
                                              QCOW2_DISCARD_SNAPSHOT);
                        if (ret < 0) {
                            qcow2_cache_put(s->l2_table_cache,
                                            (void **)&l2_slice);
                            goto fail;
                        }
                    }
                    /* Compressed clusters never have COPIED set. */
                    refcount = 2;
                    break;
                case QCOW2_CLUSTER_NORMAL:
                case QCOW2_CLUSTER_ZERO_ALLOC:
                    if (offset_into_cluster(s, entry & L2E_OFFSET_MASK)) {
                        qcow2_signal_corruption(bs, true, -1, -1, "Cluster "
                                                "allocation offset %#llx "
                                                "unaligned (L2 offset: %#"
                                                PRIx64 ", L2 index: %#x)",
                                                entry & L2E_OFFSET_MASK,
                                                l2_offset, j);
                        qcow2_cache_put(s->l2_table_cache,
                                        (void **)&l2_slice);
                        ret = -EIO;
                        goto fail;
                    }
                    cluster_index = (entry & L2E_OFFSET_MASK) >>
                                    s->cluster_bits;
                    if (!cluster_index) {
                        /* External data file. */
                        refcount = 0;
                        break;
                    }
                    if (addend != 0) {
                        ret = qcow2_update_cluster_refcount(
                            bs, cluster_index, abs(addend), addend < 0,
                            QCOW2_DISCARD_SNAPSHOT);
                        if (ret < 0) {
                            qcow2_cache_put(s->l2_table_cache,
                                            (void **)&l2_slice);
                            goto fail;
                        }
                    }
                    ret = qcow2_get_refcount(bs, cluster_index, &refcount);
                    if (ret < 0) {
                        qcow2_cache_put(s->l2_table_cache,
                                        (void **)&l2_slice);
                        goto fail;
                    }
                    break;
                default:
                    refcount = 0;
                    break;
                }
                if (refcount == 1) {
                    entry |= QCOW_OFLAG_COPIED;
                }
                if (entry != old_entry) {
                    if (addend > 0) {
                        qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                                   s->refcount_block_cache);
                    }
                    set_l2_entry(s, l2_slice, j, entry);
                    qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2_slice);
                }
            }
            qcow2_cache_put(s->l2_table_cache, (void **)&l2_slice);
        }

        if (addend != 0) {
            ret = qcow2_update_cluster_refcount(bs, l2_offset >>
                                                s->cluster_bits, abs(addend),
                                                addend < 0,
                                                QCOW2_DISCARD_SNAPSHOT);
            if (ret < 0) {
                goto fail;
            }
        }
        ret = qcow2_get_refcount(bs, l2_offset >> s->cluster_bits,
                                 &refcount);
        if (ret < 0) {
            goto fail;
        }
        if (refcount == 1) {
            l2_offset |= QCOW_OFLAG_COPIED;
        }
        if (l1_allocated) {
            if (l2_offset != l1_table[i]) {
                l1_table[i] = l2_offset;
            }
        } else if (l2_offset != s->l1_table[i]) {
            s->l1_table[i] = l2_offset;
        }
    }
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);

fail:
    s->cache_discards = false;
    qcow2_process_discards(bs, ret);

    if (ret == 0 && addend >= 0) {
        /* The COPIED flags in the L1 table may have changed. */
        if (l1_allocated) {
            for (int i = 0; i < l1_size; i++) {
                l1_table[i] = htobe64(l1_table[i]);
            }
            ret = bdrv_pwrite_sync(bs->file, l1_table_offset, l1_size2,
                                   l1_table, 0);
        } else {
            for (int i = 0; i < l1_size && ret == 0; i++) {
                ret = qcow2_write_l1_entry(bs, i);
            }
        }
    }
    return ret;
}

/* ---- caches ---- */

int qcow2_write_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    ret = qcow2_cache_write(bs, s->l2_table_cache);
    if (ret < 0) {
        return ret;
    }
    if (qcow2_need_accurate_refcounts(s)) {
        ret = qcow2_cache_write(bs, s->refcount_block_cache);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

int qcow2_flush_caches(BlockDriverState *bs)
{
    int ret = qcow2_write_caches(bs);

    if (ret < 0) {
        return ret;
    }
    return bdrv_flush(bs->file->bs);
}

/* ---- metadata overlap checks ---- */

static bool ranges_overlap(int64_t a, int64_t alen, int64_t b, int64_t blen)
{
    return a < b + blen && b < a + alen;
}

int qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                 int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int chk = s->overlap_check & ~ign;

    if (size <= 0) {
        return 0;
    }
    if (chk & QCOW2_OL_MAIN_HEADER && offset < s->cluster_size) {
        return QCOW2_OL_MAIN_HEADER;
    }
    /* Align to whole clusters: metadata is stored in whole clusters. */
    size = ROUND_UP(offset_into_cluster(s, offset) + size, s->cluster_size);
    offset = start_of_cluster(s, offset);

    if ((chk & QCOW2_OL_ACTIVE_L1) && s->l1_size &&
        ranges_overlap(offset, size, s->l1_table_offset,
                       s->l1_size * sizeof(uint64_t))) {
        return QCOW2_OL_ACTIVE_L1;
    }
    if ((chk & QCOW2_OL_REFCOUNT_TABLE) && s->refcount_table_size &&
        ranges_overlap(offset, size, s->refcount_table_offset,
                       s->refcount_table_size * sizeof(uint64_t))) {
        return QCOW2_OL_REFCOUNT_TABLE;
    }
    if ((chk & QCOW2_OL_SNAPSHOT_TABLE) && s->snapshots_size &&
        ranges_overlap(offset, size, s->snapshots_offset,
                       s->snapshots_size)) {
        return QCOW2_OL_SNAPSHOT_TABLE;
    }
    if ((chk & QCOW2_OL_INACTIVE_L1) && s->snapshots) {
        for (unsigned i = 0; i < s->nb_snapshots; i++) {
            if (s->snapshots[i].l1_size &&
                ranges_overlap(offset, size, s->snapshots[i].l1_table_offset,
                               s->snapshots[i].l1_size * sizeof(uint64_t))) {
                return QCOW2_OL_INACTIVE_L1;
            }
        }
    }
    if ((chk & QCOW2_OL_ACTIVE_L2) && s->l1_table) {
        for (int i = 0; i < s->l1_size; i++) {
            uint64_t l2 = s->l1_table[i] & L1E_OFFSET_MASK;
            if (l2 && ranges_overlap(offset, size, l2, s->cluster_size)) {
                return QCOW2_OL_ACTIVE_L2;
            }
        }
    }
    if ((chk & QCOW2_OL_REFCOUNT_BLOCK) && s->refcount_table) {
        for (unsigned i = 0; i < s->refcount_table_alloc; i++) {
            uint64_t rb = qcow2_reftable_entry(s, i) & REFT_OFFSET_MASK;
            if (rb && ranges_overlap(offset, size, rb, s->cluster_size)) {
                return QCOW2_OL_REFCOUNT_BLOCK;
            }
        }
    }
    if ((chk & QCOW2_OL_BITMAP_DIRECTORY) && s->nb_bitmaps &&
        ranges_overlap(offset, size, s->bitmap_directory_offset,
                       s->bitmap_directory_size)) {
        return QCOW2_OL_BITMAP_DIRECTORY;
    }
    if ((chk & QCOW2_OL_INACTIVE_L2) && s->snapshots) {
        for (unsigned i = 0; i < s->nb_snapshots; i++) {
            QCowSnapshot *sn = &s->snapshots[i];
            uint64_t l1_sz2 = sn->l1_size * sizeof(uint64_t);
            g_autofree uint64_t *l1 = NULL;

            if (!sn->l1_size) {
                continue;
            }
            l1 = g_try_malloc(l1_sz2);
            if (!l1 || bdrv_pread(bs->file, sn->l1_table_offset, l1_sz2, l1,
                                  0) < 0) {
                return -ENOMEM;
            }
            for (unsigned j = 0; j < sn->l1_size; j++) {
                uint64_t l2 = be64toh(l1[j]) & L1E_OFFSET_MASK;
                if (l2 && ranges_overlap(offset, size, l2, s->cluster_size)) {
                    return QCOW2_OL_INACTIVE_L2;
                }
            }
        }
    }
    return 0;
}

int qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                  int64_t offset, int64_t size,
                                  bool data_file)
{
    int ret;

    if (data_file && has_data_file(bs)) {
        return 0;
    }
    ret = qcow2_check_metadata_overlap(bs, ign, offset, size);
    if (ret < 0) {
        return ret;
    }
    if (ret > 0) {
        int bit = ctz64(ret);

        qcow2_signal_corruption(bs, true, offset, size, "Preventing invalid "
                                "write on metadata (overlaps with %s)",
                                qcow2_overlap_names[bit]);
        return -EIO;
    }
    return 0;
}

/* Offset of the last cluster in use, or -1 (for shrinking the file). */
int64_t qcow2_get_last_cluster(BlockDriverState *bs, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;

    for (int64_t i = size_to_clusters(s, size) - 1; i >= 0; i--) {
        uint64_t refcount;
        int ret = qcow2_get_refcount(bs, i, &refcount);

        if (ret < 0) {
            fprintf(stderr, "Can't get refcount for cluster %" PRId64 ": %s\n",
                    i, strerror(-ret));
            return ret;
        }
        if (refcount > 0) {
            return i;
        }
    }
    return -1;
}

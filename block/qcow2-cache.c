/*
 * qcow2 metadata cache (L2 slices and refcount blocks): a write-back LRU
 * cache whose memory is reserved up front but only touched when used.
 */
#include "strata/osdep.h"
#include "qcow2.h"
#include <sys/mman.h>

typedef struct Qcow2CachedTable {
    int64_t offset;         /* 0: entry is empty */
    uint64_t lru_counter;
    int ref;
    bool dirty;
    bool touched;           /* its memory has been used since last clean */
} Qcow2CachedTable;

struct Qcow2Cache {
    Qcow2CachedTable *entries;
    Qcow2Cache *depends;
    int size;
    unsigned table_size;
    bool depends_on_flush;
    uint8_t *table_array;
    size_t array_len;
    uint64_t lru_counter;
    uint64_t cache_clean_lru_counter;
    GHashTable *index;      /* offset -> entry index + 1 */
};

static inline void *table_addr(Qcow2Cache *c, int i)
{
    return c->table_array + (size_t)i * c->table_size;
}

static inline int table_index(Qcow2Cache *c, void *table)
{
    ptrdiff_t off = (uint8_t *)table - c->table_array;
    int i = off / c->table_size;

    assert(off >= 0 && off % c->table_size == 0 && i < c->size);
    return i;
}

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               unsigned table_size)
{
    Qcow2Cache *c = g_new0(Qcow2Cache, 1);

    assert(num_tables > 0 && is_power_of_2(table_size));
    c->size = num_tables;
    c->table_size = table_size;
    c->entries = g_new0(Qcow2CachedTable, num_tables);
    /*
     * Address space only: pages become resident when a table is loaded,
     * so a large cache costs nothing until the image is actually used.
     */
    c->array_len = ROUND_UP((size_t)num_tables * table_size,
                            qemu_real_host_page_size());
    c->table_array = mmap(NULL, c->array_len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c->table_array == MAP_FAILED) {
        g_free(c->entries);
        g_free(c);
        return NULL;
    }
    c->index = g_hash_table_new(g_int64_hash, g_int64_equal);
    return c;
}

int qcow2_cache_destroy(Qcow2Cache *c)
{
    if (!c) {
        return 0;
    }
    for (int i = 0; i < c->size; i++) {
        assert(c->entries[i].ref == 0);
    }
    munmap(c->table_array, c->array_len);
    g_hash_table_destroy(c->index);
    g_free(c->entries);
    g_free(c);
    return 0;
}

size_t qcow2_cache_memory(Qcow2Cache *c)
{
    size_t n = 0;

    for (int i = 0; c && i < c->size; i++) {
        n += c->entries[i].touched ? c->table_size : 0;
    }
    return n;
}

static void index_remove(Qcow2Cache *c, int i)
{
    if (c->entries[i].offset) {
        g_hash_table_remove(c->index, &c->entries[i].offset);
    }
}

static void index_insert(Qcow2Cache *c, int i)
{
    g_hash_table_insert(c->index, &c->entries[i].offset,
                        GINT_TO_POINTER(i + 1));
}

static int cache_flush_dependency(BlockDriverState *bs, Qcow2Cache *c)
{
    int ret = qcow2_cache_flush(bs, c->depends);

    if (ret < 0) {
        return ret;
    }
    c->depends = NULL;
    c->depends_on_flush = false;
    return 0;
}

static int cache_entry_flush(BlockDriverState *bs, Qcow2Cache *c, int i)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!c->entries[i].dirty || !c->entries[i].offset) {
        return 0;
    }
    /* Ordering: what this table depends on must be on disk first. */
    if (c->depends) {
        ret = cache_flush_dependency(bs, c);
    } else if (c->depends_on_flush) {
        ret = bdrv_flush(bs->file->bs);
        if (ret >= 0) {
            c->depends_on_flush = false;
        }
    } else {
        ret = 0;
    }
    if (ret < 0) {
        return ret;
    }
    if (c == s->refcount_block_cache) {
        ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_REFCOUNT_BLOCK,
                                            c->entries[i].offset,
                                            c->table_size, false);
    } else if (c == s->l2_table_cache) {
        ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L2,
                                            c->entries[i].offset,
                                            c->table_size, false);
    } else {
        ret = qcow2_pre_write_overlap_check(bs, 0, c->entries[i].offset,
                                            c->table_size, false);
    }
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_pwrite(bs->file, c->entries[i].offset, c->table_size,
                      table_addr(c, i), 0);
    if (ret < 0) {
        return ret;
    }
    c->entries[i].dirty = false;
    return 0;
}

int qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = 0;

    for (int i = 0; i < c->size; i++) {
        int ret = cache_entry_flush(bs, c, i);

        if (ret < 0 && result != -ENOSPC) {
            result = ret;
        }
    }
    return result;
}

int qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = qcow2_cache_write(bs, c);

    if (result == 0) {
        int ret = bdrv_flush(bs->file->bs);
        if (ret < 0) {
            result = ret;
        }
    }
    return result;
}

int qcow2_cache_set_dependency(BlockDriverState *bs, Qcow2Cache *c,
                               Qcow2Cache *dependency)
{
    int ret;

    /* A dependency of the dependency would be a cycle: resolve it now. */
    if (dependency->depends) {
        ret = cache_flush_dependency(bs, dependency);
        if (ret < 0) {
            return ret;
        }
    }
    if (c->depends && c->depends != dependency) {
        ret = cache_flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    c->depends = dependency;
    return 0;
}

void qcow2_cache_depends_on_flush(Qcow2Cache *c)
{
    c->depends_on_flush = true;
}

int qcow2_cache_empty(BlockDriverState *bs, Qcow2Cache *c)
{
    int ret = qcow2_cache_flush(bs, c);

    if (ret < 0) {
        return ret;
    }
    for (int i = 0; i < c->size; i++) {
        assert(c->entries[i].ref == 0);
        index_remove(c, i);
        c->entries[i].offset = 0;
        c->entries[i].lru_counter = 0;
    }
    c->lru_counter = 0;
    return 0;
}

/* Give back the memory of tables not used since the previous clean. */
void qcow2_cache_clean_unused(Qcow2Cache *c)
{
    for (int i = 0; i < c->size; i++) {
        Qcow2CachedTable *t = &c->entries[i];

        if (t->ref == 0 && !t->dirty &&
            t->lru_counter <= c->cache_clean_lru_counter && t->touched) {
            index_remove(c, i);
            t->offset = 0;
            t->lru_counter = 0;
            t->touched = false;
            madvise(table_addr(c, i), c->table_size, MADV_DONTNEED);
        }
    }
    c->cache_clean_lru_counter = c->lru_counter;
}

static int cache_do_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                        void **table, bool read_from_disk)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t key = offset;
    gpointer found;
    uint64_t min_lru = UINT64_MAX;
    int victim = -1;
    int i, ret;

    assert(offset != 0);
    if (!QEMU_IS_ALIGNED(offset, c->table_size)) {
        qcow2_signal_corruption(bs, true, -1, -1, "Cannot get entry from %s "
                                "cache: Offset %#" PRIx64 " is unaligned",
                                c == s->l2_table_cache ? "L2 table"
                                                       : "refcount block",
                                offset);
        return -EIO;
    }

    found = g_hash_table_lookup(c->index, &key);
    if (found) {
        i = GPOINTER_TO_INT(found) - 1;
        goto hit;
    }

    /* Prefer an empty slot, then the least recently used free one. */
    for (i = 0; i < c->size; i++) {
        if (c->entries[i].ref) {
            continue;
        }
        if (!c->entries[i].offset) {
            victim = i;
            break;
        }
        if (c->entries[i].lru_counter < min_lru) {
            min_lru = c->entries[i].lru_counter;
            victim = i;
        }
    }
    if (victim < 0) {
        /* Every table is pinned: the cache is too small for this work. */
        return -ENOSPC;
    }
    i = victim;
    ret = cache_entry_flush(bs, c, i);
    if (ret < 0) {
        return ret;
    }
    index_remove(c, i);
    c->entries[i].offset = 0;
    if (read_from_disk) {
        ret = bdrv_pread(bs->file, offset, c->table_size, table_addr(c, i), 0);
        if (ret < 0) {
            return ret;
        }
    }
    c->entries[i].offset = offset;
    c->entries[i].touched = true;
    index_insert(c, i);

hit:
    c->entries[i].ref++;
    c->entries[i].lru_counter = ++c->lru_counter;
    *table = table_addr(c, i);
    return 0;
}

int qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                    void **table)
{
    return cache_do_get(bs, c, offset, table, true);
}

int qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                          uint64_t offset, void **table)
{
    return cache_do_get(bs, c, offset, table, false);
}

void qcow2_cache_put(Qcow2Cache *c, void **table)
{
    int i = table_index(c, *table);

    assert(c->entries[i].ref > 0);
    c->entries[i].ref--;
    *table = NULL;
}

void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table)
{
    int i = table_index(c, table);

    assert(c->entries[i].offset != 0);
    c->entries[i].dirty = true;
}

void *qcow2_cache_is_table_offset(Qcow2Cache *c, uint64_t offset)
{
    int64_t key = offset;
    gpointer found = g_hash_table_lookup(c->index, &key);

    return found ? table_addr(c, GPOINTER_TO_INT(found) - 1) : NULL;
}

void qcow2_cache_discard(Qcow2Cache *c, void *table)
{
    int i = table_index(c, table);

    assert(c->entries[i].ref == 0);
    index_remove(c, i);
    c->entries[i].offset = 0;
    c->entries[i].lru_counter = 0;
    c->entries[i].dirty = false;
}

/*
 * The qcow2 driver's shared definitions: on-disk constants, the per-image
 * state, and the interfaces between qcow2.c and its helper files.
 */
#ifndef BLOCK_QCOW2_H
#define BLOCK_QCOW2_H

#include "block/block_int.h"
#include "util/option.h"

#define QCOW_MAGIC (('Q' << 24) | ('F' << 16) | ('I' << 8) | 0xfb)

#define QCOW_CRYPT_NONE 0
#define QCOW_CRYPT_AES  1
#define QCOW_CRYPT_LUKS 2

#define QCOW_MAX_CRYPT_CLUSTERS 32
#define QCOW_MAX_SNAPSHOTS 65536

/* Limits QEMU applies when opening images (we refuse the same). */
#define QCOW_MAX_REFTABLE_SIZE (8 * MiB)
#define QCOW_MAX_L1_SIZE (32 * MiB)
#define QCOW_MAX_SNAPSHOTS_SIZE (1024 * QCOW_MAX_SNAPSHOTS)
#define QCOW_MAX_SNAPSHOT_EXTRA_DATA 1024

/* L1/L2/refcount table entry bits. */
#define QCOW_OFLAG_COPIED     (1ULL << 63)
#define QCOW_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW_OFLAG_ZERO       (1ULL << 0)

#define L1E_OFFSET_MASK  0x00fffffffffffe00ULL
#define L2E_OFFSET_MASK  0x00fffffffffffe00ULL
#define L1E_RESERVED_MASK 0x7f000000000001ffULL
#define L2E_STD_RESERVED_MASK 0x3f000000000001feULL
#define REFT_OFFSET_MASK 0xfffffffffffffe00ULL
#define REFT_RESERVED_MASK 0x1ffULL

/* Extended L2 entries: 32 subclusters, "allocated" and "zero" halves. */
#define QCOW_L2_BITMAP_ALL_ALLOC  0x00000000ffffffffULL
#define QCOW_L2_BITMAP_ALL_ZEROES 0xffffffff00000000ULL
#define QCOW_EXTL2_SUBCLUSTERS_PER_CLUSTER 32

#define MIN_CLUSTER_BITS 9
#define MAX_CLUSTER_BITS 21

#define QCOW2_COMPRESSED_SECTOR_SIZE 512U
#define QCOW2_COMPRESSED_SECTOR_MASK (~(QCOW2_COMPRESSED_SECTOR_SIZE - 1ULL))

/* Defaults of QEMU 7.2. */
#define DEFAULT_CLUSTER_SIZE 65536
#define DEFAULT_L2_CACHE_MAX_SIZE (32 * MiB)
#define DEFAULT_CACHE_CLEAN_INTERVAL 600
#define MIN_L2_CACHE_SIZE 2       /* tables */
#define MIN_REFCOUNT_CACHE_SIZE 4 /* clusters */

/* Header extension magics. */
#define QCOW2_EXT_MAGIC_END             0
#define QCOW2_EXT_MAGIC_BACKING_FORMAT  0xe2792aca
#define QCOW2_EXT_MAGIC_FEATURE_TABLE   0x6803f857
#define QCOW2_EXT_MAGIC_CRYPTO_HEADER   0x0537be77
#define QCOW2_EXT_MAGIC_BITMAPS         0x23852875
#define QCOW2_EXT_MAGIC_DATA_FILE       0x44415441

/* Feature bits. */
enum {
    QCOW2_INCOMPAT_DIRTY       = 1 << 0,
    QCOW2_INCOMPAT_CORRUPT     = 1 << 1,
    QCOW2_INCOMPAT_DATA_FILE   = 1 << 2,
    QCOW2_INCOMPAT_COMPRESSION = 1 << 3,
    QCOW2_INCOMPAT_EXTL2       = 1 << 4,
    QCOW2_INCOMPAT_MASK        = 0x1f,

    QCOW2_COMPAT_LAZY_REFCOUNTS = 1 << 0,
    QCOW2_COMPAT_FEAT_MASK      = 1,

    QCOW2_AUTOCLEAR_BITMAPS       = 1 << 0,
    QCOW2_AUTOCLEAR_DATA_FILE_RAW = 1 << 1,
    QCOW2_AUTOCLEAR_MASK          = 3,
};

/* Qcow2CompressionType (zlib 0, zstd 1) comes from the QAPI schema. */

/* What a guest (sub)cluster currently is. */
typedef enum QCow2SubclusterType {
    QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN,
    QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC,
    QCOW2_SUBCLUSTER_ZERO_PLAIN,
    QCOW2_SUBCLUSTER_ZERO_ALLOC,
    QCOW2_SUBCLUSTER_NORMAL,
    QCOW2_SUBCLUSTER_COMPRESSED,
    QCOW2_SUBCLUSTER_INVALID,
} QCow2SubclusterType;

typedef enum QCow2ClusterType {
    QCOW2_CLUSTER_UNALLOCATED,
    QCOW2_CLUSTER_ZERO_PLAIN,
    QCOW2_CLUSTER_ZERO_ALLOC,
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} QCow2ClusterType;

/* Why clusters are being freed: decides whether to discard the file. */
typedef enum Qcow2DiscardType {
    QCOW2_DISCARD_NEVER = 0,
    QCOW2_DISCARD_ALWAYS,
    QCOW2_DISCARD_REQUEST,
    QCOW2_DISCARD_SNAPSHOT,
    QCOW2_DISCARD_OTHER,
    QCOW2_DISCARD_MAX
} Qcow2DiscardType;

/* Metadata overlap check bits (QEMU's QCOW2_OL_*). */
typedef enum QCow2MetadataOverlap {
    QCOW2_OL_MAIN_HEADER     = 1 << 0,
    QCOW2_OL_ACTIVE_L1       = 1 << 1,
    QCOW2_OL_ACTIVE_L2       = 1 << 2,
    QCOW2_OL_REFCOUNT_TABLE  = 1 << 3,
    QCOW2_OL_REFCOUNT_BLOCK  = 1 << 4,
    QCOW2_OL_SNAPSHOT_TABLE  = 1 << 5,
    QCOW2_OL_INACTIVE_L1     = 1 << 6,
    QCOW2_OL_INACTIVE_L2     = 1 << 7,
    QCOW2_OL_BITMAP_DIRECTORY = 1 << 8,
    QCOW2_OL_MAX_BITNR       = 9,
    QCOW2_OL_NONE            = 0,
    QCOW2_OL_ALL             = (1 << QCOW2_OL_MAX_BITNR) - 1,
} QCow2MetadataOverlap;

#define QCOW2_OL_CONSTANT (QCOW2_OL_MAIN_HEADER | QCOW2_OL_ACTIVE_L1 | \
                           QCOW2_OL_REFCOUNT_TABLE | QCOW2_OL_SNAPSHOT_TABLE | \
                           QCOW2_OL_BITMAP_DIRECTORY)
#define QCOW2_OL_CACHED (QCOW2_OL_CONSTANT | QCOW2_OL_ACTIVE_L2 | \
                         QCOW2_OL_REFCOUNT_BLOCK)
#define QCOW2_OL_DEFAULT QCOW2_OL_CACHED

extern const char *const qcow2_overlap_names[QCOW2_OL_MAX_BITNR];

typedef struct QCowHeader {
    uint32_t magic;
    uint32_t version;
    uint64_t backing_file_offset;
    uint32_t backing_file_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    /* version 3 */
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order;
    uint32_t header_length;
    uint8_t compression_type;
} QCowHeader;

#define QCOW2_V2_HEADER_SIZE 72
#define QCOW2_V3_HEADER_MIN 104
/* Our v3 header with compression_type, padded to a multiple of 8. */
#define QCOW2_V3_HEADER_SIZE 112

typedef struct QCowSnapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    char *id_str;
    char *name;
    uint64_t disk_size;
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;
    uint32_t extra_data_size;
    void *unknown_extra_data;   /* extra data we do not interpret */
} QCowSnapshot;

typedef struct Qcow2UnknownHeaderExtension {
    uint32_t magic;
    uint32_t len;
    QLIST_ENTRY(Qcow2UnknownHeaderExtension) next;
    uint8_t data[];
} Qcow2UnknownHeaderExtension;

typedef struct Qcow2Feature {
    uint8_t type;
    uint8_t bit;
    char name[46];
} __attribute__((packed)) Qcow2Feature;

typedef struct Qcow2DiscardRegion {
    uint64_t offset;
    uint64_t bytes;
    QTAILQ_ENTRY(Qcow2DiscardRegion) next;
} Qcow2DiscardRegion;

typedef struct Qcow2Cache Qcow2Cache;

/* One copy-on-write region of an allocating write, relative to the cluster run. */
typedef struct Qcow2COWRegion {
    unsigned offset;
    unsigned nb_bytes;
} Qcow2COWRegion;

/*
 * An allocating write in flight: guest range, new host clusters, the parts
 * that must be copied from the old data, and a queue of writers waiting
 * for it to be linked into the L2 table.
 */
typedef struct QCowL2Meta {
    uint64_t offset;            /* guest offset of the first cluster */
    uint64_t alloc_offset;      /* host offset of the first new cluster */
    int nb_clusters;
    bool keep_old_clusters;     /* reuse already allocated host clusters */
    Qcow2COWRegion cow_start;
    Qcow2COWRegion cow_end;
    bool skip_cow;              /* COW areas are known to read as zero */
    bool prealloc;
    /* The data for [cow_start.end, cow_end.offset) from the guest write. */
    QEMUIOVector *data_qiov;
    size_t data_qiov_offset;
    CoQueue dependent_requests;
    QLIST_ENTRY(QCowL2Meta) next_in_flight;
    struct QCowL2Meta *next;
} QCowL2Meta;

typedef struct BDRVQcow2State {
    int cluster_bits;
    int cluster_size;
    int l2_slice_size;          /* entries per cached L2 slice */
    int subcluster_bits;
    int subcluster_size;
    int subclusters_per_cluster;
    int l2_bits;
    int l2_size;                /* entries per L2 table */
    int l1_size;
    int l1_vm_state_index;
    int refcount_block_bits;
    int refcount_block_size;
    int csize_shift;
    int csize_mask;
    uint64_t cluster_offset_mask;
    uint64_t l1_table_offset;
    uint64_t *l1_table;

    Qcow2Cache *l2_table_cache;
    Qcow2Cache *refcount_block_cache;
    QEMUTimer *cache_clean_timer;
    unsigned cache_clean_interval;

    /*
     * Buffers for compressed clusters: allocated on the first compressed
     * read, freed on close (most images never need them).
     */
    uint8_t *cluster_cache;
    uint8_t *cluster_data;
    uint64_t cluster_cache_offset;

    QLIST_HEAD(, QCowL2Meta) cluster_allocs;

    /*
     * The refcount table: refcount_table_size entries on disk, of which
     * only the first refcount_table_alloc are held in memory (the rest
     * are zero until set), so an image pays for the refblocks it uses.
     */
    uint64_t *refcount_table;
    uint32_t refcount_table_alloc;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_size;
    uint32_t max_refcount_table_index;
    uint64_t free_cluster_index;
    uint64_t free_byte_offset;

    CoMutex lock;

    Qcow2CompressionType compression_type;
    uint32_t crypt_method_header;

    uint64_t snapshots_offset;
    int snapshots_size;
    unsigned int nb_snapshots;
    QCowSnapshot *snapshots;

    uint32_t nb_bitmaps;
    uint64_t bitmap_directory_size;
    uint64_t bitmap_directory_offset;

    int flags;
    int qcow_version;
    bool use_lazy_refcounts;
    int refcount_order;
    int refcount_bits;
    uint64_t refcount_max;

    bool discard_passthrough[QCOW2_DISCARD_MAX];
    bool discard_no_unref;
    int overlap_check;
    bool signaled_corruption;

    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;

    size_t unknown_header_fields_size;
    void *unknown_header_fields;
    QLIST_HEAD(, Qcow2UnknownHeaderExtension) unknown_header_ext;
    QTAILQ_HEAD(, Qcow2DiscardRegion) discards;
    bool cache_discards;

    /* Backing file name and format as written in the image. */
    char *image_backing_file;
    char *image_backing_format;
    char *image_data_file;

    BdrvChild *data_file;
    bool metadata_preallocation_checked;
    bool metadata_preallocation;
} BDRVQcow2State;

/* ---- small helpers ---- */

static inline bool has_subclusters(BDRVQcow2State *s)
{
    return s->incompatible_features & QCOW2_INCOMPAT_EXTL2;
}

static inline size_t l2_entry_size(BDRVQcow2State *s)
{
    return has_subclusters(s) ? 16 : 8;
}

static inline uint64_t get_l2_entry(BDRVQcow2State *s, uint64_t *l2_slice,
                                    int idx)
{
    idx *= l2_entry_size(s) / sizeof(uint64_t);
    return be64toh(l2_slice[idx]);
}

static inline uint64_t get_l2_bitmap(BDRVQcow2State *s, uint64_t *l2_slice,
                                     int idx)
{
    if (has_subclusters(s)) {
        idx *= l2_entry_size(s) / sizeof(uint64_t);
        return be64toh(l2_slice[idx + 1]);
    }
    return 0;
}

static inline void set_l2_entry(BDRVQcow2State *s, uint64_t *l2_slice,
                                int idx, uint64_t entry)
{
    idx *= l2_entry_size(s) / sizeof(uint64_t);
    l2_slice[idx] = htobe64(entry);
}

static inline void set_l2_bitmap(BDRVQcow2State *s, uint64_t *l2_slice,
                                 int idx, uint64_t bitmap)
{
    assert(has_subclusters(s));
    idx *= l2_entry_size(s) / sizeof(uint64_t);
    l2_slice[idx + 1] = htobe64(bitmap);
}

static inline bool has_data_file(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->data_file != bs->file;
}

static inline bool data_file_is_raw(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return !!(s->autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW);
}

static inline int64_t start_of_cluster(BDRVQcow2State *s, int64_t offset)
{
    return offset & ~(s->cluster_size - 1);
}

static inline int64_t offset_into_cluster(BDRVQcow2State *s, int64_t offset)
{
    return offset & (s->cluster_size - 1);
}

static inline int64_t offset_into_subcluster(BDRVQcow2State *s,
                                             int64_t offset)
{
    return offset & (s->subcluster_size - 1);
}

static inline uint64_t size_to_clusters(BDRVQcow2State *s, uint64_t size)
{
    return (size + (s->cluster_size - 1)) >> s->cluster_bits;
}

static inline uint64_t size_to_subclusters(BDRVQcow2State *s, uint64_t size)
{
    return (size + (s->subcluster_size - 1)) >> s->subcluster_bits;
}

static inline int64_t size_to_l1(BDRVQcow2State *s, int64_t size)
{
    int shift = s->cluster_bits + s->l2_bits;

    return (size + (1ULL << shift) - 1) >> shift;
}

static inline int offset_to_l1_index(BDRVQcow2State *s, uint64_t offset)
{
    return offset >> (s->l2_bits + s->cluster_bits);
}

static inline int offset_to_l2_index(BDRVQcow2State *s, int64_t offset)
{
    return (offset >> s->cluster_bits) & (s->l2_size - 1);
}

static inline int offset_to_l2_slice_index(BDRVQcow2State *s, int64_t offset)
{
    return (offset >> s->cluster_bits) & (s->l2_slice_size - 1);
}

static inline int offset_to_sc_index(BDRVQcow2State *s, int64_t offset)
{
    return (offset >> s->subcluster_bits) & (s->subclusters_per_cluster - 1);
}

static inline int64_t qcow2_vm_state_offset(BDRVQcow2State *s)
{
    return (int64_t)s->l1_vm_state_index << (s->cluster_bits + s->l2_bits);
}

static inline QCow2ClusterType qcow2_get_cluster_type(BlockDriverState *bs,
                                                      uint64_t l2_entry)
{
    BDRVQcow2State *s = bs->opaque;

    if (l2_entry & QCOW_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    } else if ((l2_entry & QCOW_OFLAG_ZERO) && !has_subclusters(s)) {
        if (l2_entry & L2E_OFFSET_MASK) {
            return QCOW2_CLUSTER_ZERO_ALLOC;
        }
        return QCOW2_CLUSTER_ZERO_PLAIN;
    } else if (!(l2_entry & L2E_OFFSET_MASK)) {
        /* Offset 0 with COPIED set means offset 0 of an external file. */
        if (has_data_file(bs) && (l2_entry & QCOW_OFLAG_COPIED)) {
            return QCOW2_CLUSTER_NORMAL;
        }
        return QCOW2_CLUSTER_UNALLOCATED;
    }
    return QCOW2_CLUSTER_NORMAL;
}

static inline bool qcow2_need_accurate_refcounts(BDRVQcow2State *s)
{
    return !(s->incompatible_features & QCOW2_INCOMPAT_DIRTY);
}

static inline uint64_t l2meta_cow_start(QCowL2Meta *m)
{
    return m->offset + m->cow_start.offset;
}

static inline uint64_t l2meta_cow_end(QCowL2Meta *m)
{
    return m->offset + m->cow_end.offset + m->cow_end.nb_bytes;
}

static inline uint64_t refcount_diff(uint64_t r1, uint64_t r2)
{
    return r1 > r2 ? r1 - r2 : r2 - r1;
}

/* ---- qcow2.c ---- */
int qcow2_update_header(BlockDriverState *bs);
int qcow2_mark_dirty(BlockDriverState *bs);
int qcow2_mark_corrupt(BlockDriverState *bs);
int qcow2_mark_consistent(BlockDriverState *bs);
/* Report corruption, mark the image corrupt (if @fatal) and refuse writes. */
void qcow2_signal_corruption(BlockDriverState *bs, bool fatal, int64_t offset,
                             int64_t size, const char *message_format, ...)
    STRATA_PRINTF(5, 6);
int qcow2_validate_table(BlockDriverState *bs, uint64_t offset,
                         uint64_t entries, size_t entry_len,
                         int64_t max_size_bytes, const char *table_name,
                         Error **errp);

/* ---- qcow2-refcount.c ---- */
static inline uint64_t qcow2_reftable_entry(BDRVQcow2State *s, uint64_t i)
{
    return i < s->refcount_table_alloc ? s->refcount_table[i] : 0;
}
void qcow2_reftable_set(BDRVQcow2State *s, uint64_t i, uint64_t value);
/* Take over @table (@entries long) as the in-memory refcount table. */
void qcow2_reftable_replace(BDRVQcow2State *s, uint64_t *table,
                            uint32_t entries);
int qcow2_refcount_init(BlockDriverState *bs);
void qcow2_refcount_close(BlockDriverState *bs);
int qcow2_get_refcount(BlockDriverState *bs, int64_t cluster_index,
                       uint64_t *refcount);
int qcow2_update_cluster_refcount(BlockDriverState *bs, int64_t cluster_index,
                                  uint64_t addend, bool decrease,
                                  Qcow2DiscardType type);
int64_t qcow2_refcount_metadata_size(int64_t clusters, size_t cluster_size,
                                     int refcount_order,
                                     bool generous_increase,
                                     uint64_t *refblock_count);
int64_t qcow2_refcount_area(BlockDriverState *bs, uint64_t offset,
                            uint64_t additional_clusters, bool exact_size,
                            int new_refblock_index,
                            uint64_t new_refblock_offset);
int64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size);
int64_t qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                int64_t nb_clusters);
int64_t qcow2_alloc_bytes(BlockDriverState *bs, int size);
void qcow2_free_clusters(BlockDriverState *bs, int64_t offset,
                         int64_t size, Qcow2DiscardType type);
void qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry,
                            Qcow2DiscardType type);
int qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                   int64_t l1_table_offset, int l1_size,
                                   int addend);
int qcow2_flush_caches(BlockDriverState *bs);
int qcow2_write_caches(BlockDriverState *bs);
int qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                 int64_t offset, int64_t size);
int qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                  int64_t offset, int64_t size,
                                  bool data_file);
void qcow2_process_discards(BlockDriverState *bs, int ret);
int qcow2_shrink_reftable(BlockDriverState *bs);
int64_t qcow2_get_last_cluster(BlockDriverState *bs, int64_t size);
int qcow2_detect_metadata_preallocation(BlockDriverState *bs);
int qcow2_change_refcount_order(BlockDriverState *bs, int refcount_order,
                                Error **errp);

/* ---- qcow2-amend.c ---- */
extern QemuOptsList qcow2_amend_opts;
int qcow2_amend_options(BlockDriverState *bs, QemuOpts *opts, bool force,
                        Error **errp);

int qcow2_check_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                          BdrvCheckMode fix);
/* Raw refcount entries of a refcount block buffer (any width). */
uint64_t qcow2_refcount_entry(BDRVQcow2State *s, const void *block,
                              uint64_t index);
void qcow2_set_refcount_entry(BDRVQcow2State *s, void *block, uint64_t index,
                              uint64_t value);
/* Call @fn for every cluster range the bitmaps extension uses. */
int qcow2_bitmaps_for_each_range(BlockDriverState *bs,
                                 int (*fn)(void *opaque, uint64_t offset,
                                           uint64_t size),
                                 void *opaque);

/* ---- qcow2-cluster.c ---- */
int qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size,
                        bool exact_size);
int qcow2_shrink_l1_table(BlockDriverState *bs, uint64_t max_size);
int qcow2_write_l1_entry(BlockDriverState *bs, int l1_index);
int qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                          unsigned int *bytes, uint64_t *host_offset,
                          QCow2SubclusterType *subcluster_type);
int qcow2_alloc_host_offset(BlockDriverState *bs, uint64_t offset,
                            unsigned int *bytes, uint64_t *host_offset,
                            QCowL2Meta **m);
int qcow2_alloc_compressed_cluster_offset(BlockDriverState *bs,
                                          uint64_t offset, int compressed_size,
                                          uint64_t *host_offset);
void qcow2_parse_compressed_l2_entry(BlockDriverState *bs, uint64_t l2_entry,
                                     uint64_t *coffset, int *csize);
int qcow2_alloc_cluster_link_l2(BlockDriverState *bs, QCowL2Meta *m);
void qcow2_alloc_cluster_abort(BlockDriverState *bs, QCowL2Meta *m);
int qcow2_cluster_discard(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes, Qcow2DiscardType type,
                          bool full_discard);
int qcow2_subcluster_zeroize(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes, int flags);
int qcow2_expand_zero_clusters(BlockDriverState *bs);
int qcow2_get_subcluster_range_type(BlockDriverState *bs, uint64_t l2_entry,
                                    uint64_t l2_bitmap, unsigned sc_from,
                                    QCow2SubclusterType *type);
QCow2SubclusterType qcow2_get_subcluster_type(BlockDriverState *bs,
                                              uint64_t l2_entry,
                                              uint64_t l2_bitmap,
                                              unsigned sc_index);
int qcow2_read_compressed_cluster(BlockDriverState *bs, uint64_t l2_entry,
                                  uint64_t offset_in_cluster, uint8_t *dest,
                                  size_t bytes);

/* ---- qcow2-cache.c ---- */
Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               unsigned table_size);
int qcow2_cache_destroy(Qcow2Cache *c);
void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table);
int qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c);
int qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c);
int qcow2_cache_set_dependency(BlockDriverState *bs, Qcow2Cache *c,
                               Qcow2Cache *dependency);
void qcow2_cache_depends_on_flush(Qcow2Cache *c);
void qcow2_cache_clean_unused(Qcow2Cache *c);
int qcow2_cache_empty(BlockDriverState *bs, Qcow2Cache *c);
int qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                    void **table);
int qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                          uint64_t offset, void **table);
void qcow2_cache_put(Qcow2Cache *c, void **table);
void *qcow2_cache_is_table_offset(Qcow2Cache *c, uint64_t offset);
void qcow2_cache_discard(Qcow2Cache *c, void *table);
/* Bytes of table memory the cache currently holds (for memory tests). */
size_t qcow2_cache_memory(Qcow2Cache *c);

/* ---- qcow2-snapshot.c ---- */
int qcow2_read_snapshots(BlockDriverState *bs, Error **errp);
void qcow2_free_snapshots(BlockDriverState *bs);
int qcow2_write_snapshots(BlockDriverState *bs);
struct QEMUSnapshotInfo;
int qcow2_snapshot_create(BlockDriverState *bs,
                          struct QEMUSnapshotInfo *sn_info, Error **errp);
int qcow2_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                        Error **errp);
int qcow2_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                          const char *name, Error **errp);
int qcow2_snapshot_list(BlockDriverState *bs,
                        struct QEMUSnapshotInfo **psn_tab);

/* ---- qcow2-bitmap.c ---- */
#define QCOW2_MAX_BITMAPS 65535
#define QCOW2_MAX_BITMAP_DIRECTORY_SIZE (1024 * QCOW2_MAX_BITMAPS)
/*
 * Load the persistent bitmaps at open: each becomes a BdrvDirtyBitmap;
 * those found in use are inconsistent, the others are marked in use on
 * disk if the image is writable (*header_updated then says the header was
 * rewritten), readonly otherwise.
 */
bool qcow2_load_dirty_bitmaps(BlockDriverState *bs, bool *header_updated,
                              Error **errp);
/*
 * Store every persistent bitmap that may have changed, clearing its in-use
 * flag; with @release_stored, free the stored (and readonly) bitmaps.
 */
bool qcow2_store_persistent_dirty_bitmaps(BlockDriverState *bs,
                                          bool release_stored, Error **errp);
/* Going read-only: store, then make the persistent bitmaps readonly. */
int qcow2_reopen_bitmaps_ro(BlockDriverState *bs, Error **errp);
/* Going read-write: mark the bitmaps in use on disk, make them writable. */
int qcow2_reopen_bitmaps_rw(BlockDriverState *bs, Error **errp);
/* BlockDriver.bdrv_reopen_commit_post: qcow2_reopen_bitmaps_rw if now rw. */
void qcow2_reopen_commit_post(BlockDriverState *bs);
/* 0 if the image may be resized: all its bitmaps loaded and usable. */
int qcow2_truncate_bitmaps_check(BlockDriverState *bs, Error **errp);
bool qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                      uint32_t granularity, Error **errp);
int qcow2_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                         const char *name, Error **errp);
bool qcow2_supports_persistent_dirty_bitmap(BlockDriverState *bs);
/* The directory as Qcow2BitmapInfo (format-specific "bitmaps"). */
bool qcow2_get_bitmap_info_list(BlockDriverState *bs,
                                Qcow2BitmapInfoList **info_list,
                                Error **errp);
/* Space the persistent bitmaps of @in_bs would take (measure). */
uint64_t qcow2_get_persistent_dirty_bitmap_size(BlockDriverState *in_bs,
                                                uint32_t cluster_size);

/* ---- qcow2-threads.c ---- */
ssize_t coroutine_fn qcow2_co_compress(BlockDriverState *bs, void *dest,
                                       size_t dest_size, const void *src,
                                       size_t src_size);
ssize_t coroutine_fn qcow2_co_decompress(BlockDriverState *bs, void *dest,
                                         size_t dest_size, const void *src,
                                         size_t src_size);

#endif

/*
 * The block layer's internal interface: what a driver implements
 * (BlockDriver), the node (BlockDriverState) and the edges between nodes.
 */
#ifndef BLOCK_BLOCK_INT_H
#define BLOCK_BLOCK_INT_H

#include "block/block.h"
#include "util/queue.h"
#include "util/error.h"

#define BLOCK_PROBE_BUF_SIZE 512
#define BDRV_REQUEST_MAX_SECTORS MIN_CONST(SIZE_MAX >> BDRV_SECTOR_BITS, \
                                           INT_MAX >> BDRV_SECTOR_BITS)
#define BDRV_REQUEST_MAX_BYTES (BDRV_REQUEST_MAX_SECTORS << BDRV_SECTOR_BITS)
#define BDRV_MAX_ALIGNMENT (1L << 30)
/* Largest image size (QEMU's limit: aligned to max alignment, below 2^63). */
#define BDRV_MAX_LENGTH (QEMU_ALIGN_DOWN(INT64_MAX, BDRV_MAX_ALIGNMENT))

#define MIN_CONST(a, b) ((a) < (b) ? (a) : (b))

/* Roles of a child edge (QEMU's BdrvChildRole bits). */
typedef enum BdrvChildRole {
    BDRV_CHILD_DATA     = 1 << 0,  /* holds guest data */
    BDRV_CHILD_METADATA = 1 << 1,  /* holds the format's metadata */
    BDRV_CHILD_FILTERED = 1 << 2,  /* a filter's child / COW backing */
    BDRV_CHILD_COW      = 1 << 3,  /* backing file */
    BDRV_CHILD_PRIMARY  = 1 << 4,  /* bs->file */
    BDRV_CHILD_IMAGE    = BDRV_CHILD_DATA | BDRV_CHILD_METADATA |
                          BDRV_CHILD_PRIMARY,
} BdrvChildRole;

typedef struct BlockLimits {
    /* All requests are aligned to this (power of two, >= 1). */
    uint32_t request_alignment;
    /* Largest discard/zero/transfer in one driver call; 0 = no limit. */
    int64_t max_pdiscard;
    uint32_t pdiscard_alignment;
    int64_t max_pwrite_zeroes;
    uint32_t pwrite_zeroes_alignment;
    uint32_t opt_transfer;
    uint32_t max_transfer;
    uint32_t max_hw_transfer;
    int max_iov;
    /* Buffer alignment: minimum required and optimal. */
    size_t min_mem_alignment;
    size_t opt_mem_alignment;
} BlockLimits;

/* How a parent of a node sees it; implemented by nodes, backends and jobs. */
struct BdrvChildClass {
    /* True for parents that are BlockDriverStates. */
    bool parent_is_bds;
    /* Description for error messages ("node 'x'", "block device 'y'"). */
    char *(*get_parent_desc)(BdrvChild *child);
    const char *(*get_name)(BdrvChild *child);
    void (*drained_begin)(BdrvChild *child);
    void (*drained_end)(BdrvChild *child);
    bool (*drained_poll)(BdrvChild *child);
    /* The child's length changed (resize). */
    void (*resize)(BdrvChild *child);
    /* Notification that the child node is being replaced. */
    void (*change_media)(BdrvChild *child, bool load);
    /*
     * bdrv_replace_node() leaves this edge where it is (a job's edges stay
     * on their node when a filter is inserted above it or dropped).
     */
    bool stay_at_node;
};

extern const BdrvChildClass child_of_bds;

struct BdrvChild {
    BlockDriverState *bs;
    char *name;
    const BdrvChildClass *klass;
    BdrvChildRole role;
    void *opaque;          /* the parent object */
    uint64_t perm;
    uint64_t shared_perm;
    bool frozen;
    QLIST_ENTRY(BdrvChild) next;         /* in parent's children */
    QLIST_ENTRY(BdrvChild) next_parent;  /* in child's parents */
};

typedef struct BdrvTrackedRequest {
    BlockDriverState *bs;
    int64_t offset;
    int64_t bytes;
    int type;               /* BDRV_TRACKED_* */
    bool serialising;
    int64_t overlap_offset;
    int64_t overlap_bytes;
    Coroutine *co;
    CoQueue wait_queue;     /* requests waiting for this one */
    struct BdrvTrackedRequest *waiting_for;
    QLIST_ENTRY(BdrvTrackedRequest) list;
} BdrvTrackedRequest;

enum {
    BDRV_TRACKED_READ,
    BDRV_TRACKED_WRITE,
    BDRV_TRACKED_DISCARD,
    BDRV_TRACKED_TRUNCATE,
};

typedef struct BdrvDirtyBitmap BdrvDirtyBitmap;
typedef struct BdrvOpBlocker BdrvOpBlocker;
struct QEMUSnapshotInfo;

struct BlockDriverState {
    BlockDriver *drv;
    void *opaque;
    int open_flags;
    bool read_only;
    bool encrypted;
    bool sg;
    bool probed;            /* format guessed by probing */
    bool force_share;
    bool implicit;          /* created implicitly (hidden in queries) */
    bool supports_backing;
    int refcnt;
    int quiesce_counter;
    unsigned in_flight;

    char node_name[32];
    /*
     * The filename the node was opened with and its exact reconstruction
     * (never NULL; set with bdrv_set_str()).
     */
    char *filename;
    char *exact_filename;
    /* As stored in the image header, and as probed for opening. */
    char *backing_file;
    char *auto_backing_file;
    char backing_format[16];

    json_t *options;            /* flat options used to open this node */
    json_t *explicit_options;   /* those the user gave explicitly */
    json_t *full_open_options;  /* reconstructed for json:{} filenames */

    BdrvChild *file;
    BdrvChild *backing;
    QLIST_HEAD(, BdrvChild) children;
    QLIST_HEAD(, BdrvChild) parents;

    BlockLimits bl;
    /* Flags the driver honours in pwritev / pwrite_zeroes. */
    unsigned supported_write_flags;
    unsigned supported_zero_flags;
    unsigned supported_truncate_flags;
    BlockdevDetectZeroesOptions detect_zeroes;

    /* Cached length in bytes (drivers update it on open and truncate). */
    int64_t total_bytes;

    /* Writes since the last flush (skip redundant flushes). */
    uint64_t write_gen;
    uint64_t flushed_gen;
    bool active_flush_req;
    CoQueue flush_queue;
    CoMutex reqs_lock;
    QLIST_HEAD(, BdrvTrackedRequest) tracked_requests;
    unsigned serialising_in_flight;

    /* Dirty bitmaps attached to this node (the bitmaps issue). */
    QLIST_HEAD(, BdrvDirtyBitmap) dirty_bitmaps;

    /* Why operations are refused right now (block/op-blockers.c). */
    QLIST_HEAD(, BdrvOpBlocker) op_blockers[BLOCK_OP_TYPE_MAX];
    /*
     * "node is used as backing hd of '<this node>'": blocks most
     * operations on this node's backing node while it is attached.
     */
    Error *backing_blocker;
    /* Added by blockdev-add / --blockdev: blockdev-del may remove it. */
    bool monitor_owned;
    /*
     * The parent this node was opened for (its options came from the
     * parent's); NULL for nodes opened on their own.  Reopening a node
     * reopens the children that inherit from it.
     */
    BlockDriverState *inherits_from;

    QTAILQ_ENTRY(BlockDriverState) node_list;      /* named nodes */
    QTAILQ_ENTRY(BlockDriverState) bs_list;        /* all nodes */
    AioContext *aio_context;
};

/* One create option table per driver (QemuOpts); NULL if none. */
struct BlockDriver {
    const char *format_name;
    int instance_size;

    bool is_filter;
    bool is_format;
    /* Protocol prefix ("nbd" for "nbd://..."); NULL for formats. */
    const char *protocol_name;
    bool supports_backing;
    /* The node's length can change behind our back (host devices). */
    bool has_variable_length;

    /* Score how likely @buf (start of the file) is this format; 0 = no. */
    int (*bdrv_probe)(const uint8_t *buf, int buf_size, const char *filename);
    int (*bdrv_probe_device)(const char *filename);
    /* Turn a protocol filename into options ("filename", "path", ...). */
    void (*bdrv_parse_filename)(const char *filename, json_t *options,
                                Error **errp);
    bool bdrv_needs_filename;

    /* Format/filter open (children opened through bdrv_open_child). */
    int (*bdrv_open)(BlockDriverState *bs, json_t *options, int flags,
                     Error **errp);
    /* Protocol open. */
    int (*bdrv_file_open)(BlockDriverState *bs, json_t *options, int flags,
                          Error **errp);
    void (*bdrv_close)(BlockDriverState *bs);

    /* blockdev-create: create an image from QAPI options (the job runs it). */
    int coroutine_fn (*bdrv_co_create)(BlockdevCreateOptions *opts,
                                       Error **errp);
    int coroutine_fn (*bdrv_co_create_opts)(BlockDriver *drv,
                                            const char *filename,
                                            QemuOpts *opts, Error **errp);
    QemuOptsList *create_opts;
    /* Options that change how data is read (kept in json:{} filenames). */
    const char *const *strong_runtime_opts;

    int coroutine_fn (*bdrv_co_preadv_part)(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            BdrvRequestFlags flags);
    int coroutine_fn (*bdrv_co_pwritev_part)(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             QEMUIOVector *qiov,
                                             size_t qiov_offset,
                                             BdrvRequestFlags flags);
    int coroutine_fn (*bdrv_co_pwritev_compressed_part)(
        BlockDriverState *bs, int64_t offset, int64_t bytes,
        QEMUIOVector *qiov, size_t qiov_offset);
    int coroutine_fn (*bdrv_co_pwrite_zeroes)(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes,
                                              BdrvRequestFlags flags);
    int coroutine_fn (*bdrv_co_pdiscard)(BlockDriverState *bs,
                                         int64_t offset, int64_t bytes);
    int coroutine_fn (*bdrv_co_flush)(BlockDriverState *bs);
    /* VM state (snapshots with memory; qemu-io read -b / write -b). */
    int coroutine_fn (*bdrv_co_readv_vmstate)(BlockDriverState *bs,
                                              QEMUIOVector *qiov,
                                              int64_t pos);
    int coroutine_fn (*bdrv_co_writev_vmstate)(BlockDriverState *bs,
                                               QEMUIOVector *qiov,
                                               int64_t pos);
    int coroutine_fn (*bdrv_co_flush_to_os)(BlockDriverState *bs);
    int coroutine_fn (*bdrv_co_flush_to_disk)(BlockDriverState *bs);
    /*
     * Status of [offset, offset + bytes): BDRV_BLOCK_* flags, *pnum the
     * length it applies to, *map / *file where the data is, if known.
     */
    int coroutine_fn (*bdrv_co_block_status)(BlockDriverState *bs,
                                             bool want_zero, int64_t offset,
                                             int64_t bytes, int64_t *pnum,
                                             int64_t *map,
                                             BlockDriverState **file);
    int coroutine_fn (*bdrv_co_truncate)(BlockDriverState *bs, int64_t offset,
                                         bool exact, PreallocMode prealloc,
                                         BdrvRequestFlags flags,
                                         Error **errp);
    int coroutine_fn (*bdrv_co_copy_range_from)(BlockDriverState *bs,
        BdrvChild *src, int64_t src_offset, BdrvChild *dst,
        int64_t dst_offset, int64_t bytes, BdrvRequestFlags read_flags,
        BdrvRequestFlags write_flags);
    int coroutine_fn (*bdrv_co_copy_range_to)(BlockDriverState *bs,
        BdrvChild *src, int64_t src_offset, BdrvChild *dst,
        int64_t dst_offset, int64_t bytes, BdrvRequestFlags read_flags,
        BdrvRequestFlags write_flags);

    int64_t (*bdrv_getlength)(BlockDriverState *bs);
    int64_t (*bdrv_get_allocated_file_size)(BlockDriverState *bs);
    int (*bdrv_get_info)(BlockDriverState *bs, BlockDriverInfo *bdi);
    /* Format-specific part of ImageInfo ("format-specific"), or NULL. */
    json_t *(*bdrv_get_specific_info)(BlockDriverState *bs, Error **errp);
    BlockMeasureInfo *(*bdrv_measure)(QemuOpts *opts, BlockDriverState *in_bs,
                                      Error **errp);
    void (*bdrv_refresh_limits)(BlockDriverState *bs, Error **errp);
    void (*bdrv_refresh_filename)(BlockDriverState *bs);
    char *(*bdrv_dirname)(BlockDriverState *bs, Error **errp);
    int (*bdrv_change_backing_file)(BlockDriverState *bs,
                                    const char *backing_file,
                                    const char *backing_fmt);
    int (*bdrv_probe_blocksizes)(BlockDriverState *bs, uint32_t *logical,
                                 uint32_t *physical);

    /* Permissions this node needs on @c given what its parents need. */
    void (*bdrv_child_perm)(BlockDriverState *bs, BdrvChild *c,
                            BdrvChildRole role, uint64_t parent_perm,
                            uint64_t parent_shared, uint64_t *nperm,
                            uint64_t *nshared);
    /* Protocol drivers apply the cumulative permissions (image locks). */
    int (*bdrv_check_perm)(BlockDriverState *bs, uint64_t perm,
                           uint64_t shared, Error **errp);
    void (*bdrv_set_perm)(BlockDriverState *bs, uint64_t perm,
                          uint64_t shared);
    void (*bdrv_abort_perm_update)(BlockDriverState *bs);

    /* Reopen with new options (read-only toggling); transactional. */
    int (*bdrv_reopen_prepare)(BlockDriverState *bs, json_t *options,
                               int flags, Error **errp);
    void (*bdrv_reopen_commit)(BlockDriverState *bs);
    void (*bdrv_reopen_abort)(BlockDriverState *bs);
    /* After a reopen committed and permissions were updated. */
    void (*bdrv_reopen_commit_post)(BlockDriverState *bs);

    /* Internal snapshots (include/block/snapshot.h). */
    int (*bdrv_snapshot_create)(BlockDriverState *bs,
                                struct QEMUSnapshotInfo *sn_info,
                                Error **errp);
    int (*bdrv_snapshot_goto)(BlockDriverState *bs, const char *snapshot_id,
                              Error **errp);
    int (*bdrv_snapshot_delete)(BlockDriverState *bs, const char *snapshot_id,
                                const char *name, Error **errp);
    int (*bdrv_snapshot_list)(BlockDriverState *bs,
                              struct QEMUSnapshotInfo **psn_info);

    /*
     * The node's first drained section begins / its last one ends (a
     * filter that holds requests back, like throttle, lets them go).
     */
    void (*bdrv_drain_begin)(BlockDriverState *bs);
    void (*bdrv_drain_end)(BlockDriverState *bs);

    /* Put the image into a clean state before close/inactivation. */
    int (*bdrv_inactivate)(BlockDriverState *bs);
    int coroutine_fn (*bdrv_co_check)(BlockDriverState *bs,
                                      BdrvCheckResult *result,
                                      BdrvCheckMode fix);
    /* Options "qemu-img amend" accepts, and applying them. */
    QemuOptsList *amend_opts;
    int (*bdrv_amend_options)(BlockDriverState *bs, QemuOpts *opts,
                              bool force, Error **errp);
    int (*bdrv_make_empty)(BlockDriverState *bs);

    /*
     * A debug event happened in a driver above (or in the request path):
     * blkdebug arms its rules.
     */
    void (*bdrv_debug_event)(BlockDriverState *bs, BlkdebugEvent event);

    /* Persistent dirty bitmaps (include/block/dirty-bitmap.h). */
    bool (*bdrv_supports_persistent_dirty_bitmap)(BlockDriverState *bs);
    bool (*bdrv_can_store_new_dirty_bitmap)(BlockDriverState *bs,
                                            const char *name,
                                            uint32_t granularity,
                                            Error **errp);
    int (*bdrv_remove_persistent_dirty_bitmap)(BlockDriverState *bs,
                                               const char *name,
                                               Error **errp);

    /* Internal linkage in the driver list. */
    QLIST_ENTRY(BlockDriver) list;
};

void bdrv_register(BlockDriver *bdrv);
/* Replace a string field of a node (filename, backing_file, ...). */
void bdrv_set_str(char **field, const char *value);
/* Longest backing file name the formats store (QEMU's limit). */
#define BDRV_BACKING_NAME_MAX 1023
/* The format whose probe scores @buf highest (raw if none matches). */
BlockDriver *bdrv_probe_all(const uint8_t *buf, int buf_size,
                            const char *filename);

/* ---- graph ---- */

BdrvChild *bdrv_open_child(const char *filename, json_t *options,
                           const char *bdref_key, BlockDriverState *parent,
                           const BdrvChildClass *child_class,
                           BdrvChildRole child_role, bool allow_none,
                           Error **errp);
BdrvChild *bdrv_attach_child(BlockDriverState *parent_bs,
                             BlockDriverState *child_bs,
                             const char *child_name,
                             const BdrvChildClass *child_class,
                             BdrvChildRole child_role, Error **errp);
void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child);
/* Move the edge @c to @to (checking permissions; nothing changes on error). */
int bdrv_replace_child_bs(BdrvChild *c, BlockDriverState *to, Error **errp);
/* Move every parent of @from (except @to) over to @to. */
int bdrv_replace_node(BlockDriverState *from, BlockDriverState *to,
                      Error **errp);
BdrvChild *bdrv_root_attach_child(BlockDriverState *child_bs,
                                  const char *child_name,
                                  const BdrvChildClass *child_class,
                                  BdrvChildRole child_role,
                                  uint64_t perm, uint64_t shared_perm,
                                  void *opaque, Error **errp);
void bdrv_root_unref_child(BdrvChild *child);
int bdrv_child_try_set_perm(BdrvChild *c, uint64_t perm, uint64_t shared,
                            Error **errp);
void bdrv_get_cumulative_perm(BlockDriverState *bs, uint64_t *perm,
                              uint64_t *shared_perm);
/* Recompute and apply permissions below @bs. */
int bdrv_refresh_perms(BlockDriverState *bs, Error **errp);
void bdrv_default_perms(BlockDriverState *bs, BdrvChild *c,
                        BdrvChildRole role, uint64_t perm, uint64_t shared,
                        uint64_t *nperm, uint64_t *nshared);
void bdrv_filter_default_perms(BlockDriverState *bs, BdrvChild *c,
                               BdrvChildRole role, uint64_t perm,
                               uint64_t shared, uint64_t *nperm,
                               uint64_t *nshared);
int bdrv_open_backing_file(BlockDriverState *bs, json_t *parent_options,
                           const char *bdref_key, Error **errp);
void bdrv_set_backing_hd(BlockDriverState *bs, BlockDriverState *backing_hd,
                         Error **errp);
int bdrv_apply_auto_read_only(BlockDriverState *bs, const char *errmsg,
                              Error **errp);
void bdrv_refresh_limits(BlockDriverState *bs, Error **errp);

/*
 * Tell @bs that @event happened (for blkdebug; a no-op for other drivers).
 * Drivers report their events on the child they are about to use.
 */
void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event);
#define BLKDBG_EVENT(child, evt) \
    do { \
        if (child) { \
            bdrv_debug_event((child)->bs, (evt)); \
        } \
    } while (0)

/* Length helpers used by drivers. */
int bdrv_refresh_total_bytes(BlockDriverState *bs);

/* Request tracking helpers used by io.c and drivers. */
void bdrv_inc_in_flight(BlockDriverState *bs);
void bdrv_dec_in_flight(BlockDriverState *bs);
void bdrv_wakeup(BlockDriverState *bs);

/* Helpers for drivers reading the first bytes of a file to probe it. */
bool bdrv_uses_whitelist(void);

static inline BlockDriverState *child_bs(BdrvChild *c)
{
    return c ? c->bs : NULL;
}

/* Driver table registration (each driver file defines one). */
extern BlockDriver bdrv_file;
extern BlockDriver bdrv_host_device;
extern BlockDriver bdrv_raw;
/* The warning about a probed raw image opened read-write. */
void raw_probe_warning(BlockDriverState *bs);
extern BlockDriver bdrv_null_co;
extern BlockDriver bdrv_null_aio;
extern BlockDriver bdrv_qcow2;
extern BlockDriver bdrv_qcow;
extern BlockDriver bdrv_nbd, bdrv_nbd_tcp, bdrv_nbd_unix;
extern BlockDriver bdrv_throttle;
extern BlockDriver bdrv_cbw_filter;
extern BlockDriver bdrv_blkdebug;

#endif

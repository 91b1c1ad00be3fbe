/*
 * The block layer's public interface: opening and closing nodes, the
 * request path (coroutine and synchronous forms), block status, images.
 */
#ifndef BLOCK_BLOCK_H
#define BLOCK_BLOCK_H

#include "strata/osdep.h"
#include "util/aio.h"
#include "util/coroutine.h"
#include "util/iov.h"
#include "qapi/qapi-types.h"
#include <jansson.h>

typedef struct BlockDriver BlockDriver;
typedef struct BlockDriverState BlockDriverState;
typedef struct BdrvChild BdrvChild;
typedef struct BdrvChildClass BdrvChildClass;
typedef struct BlockBackend BlockBackend;
typedef struct QemuOpts QemuOpts;
typedef struct QemuOptsList QemuOptsList;

/* ---- open flags ---- */
#define BDRV_O_NO_SHARE     0x0001  /* don't share permissions */
#define BDRV_O_RDWR         0x0002
#define BDRV_O_RESIZE       0x0004  /* request permission for resizing */
#define BDRV_O_SNAPSHOT     0x0008  /* open a temporary overlay */
#define BDRV_O_TEMPORARY    0x0010  /* delete the file on close */
#define BDRV_O_NOCACHE      0x0020  /* O_DIRECT */
#define BDRV_O_NATIVE_AIO   0x0080  /* aio=native */
#define BDRV_O_NO_BACKING   0x0100  /* don't open the backing file */
#define BDRV_O_NO_FLUSH     0x0200  /* cache.no-flush */
#define BDRV_O_COPY_ON_READ 0x0400
#define BDRV_O_INACTIVE     0x0800
#define BDRV_O_CHECK        0x1000  /* opened for a consistency check */
#define BDRV_O_ALLOW_RDWR   0x2000
#define BDRV_O_UNMAP        0x4000  /* discard=unmap */
#define BDRV_O_PROTOCOL     0x8000  /* the filename names a protocol */
#define BDRV_O_NO_IO        0x10000 /* metadata only (qemu-img info) */
#define BDRV_O_AUTO_RDONLY  0x20000
#define BDRV_O_IO_URING     0x40000 /* aio=io_uring */
#define BDRV_O_AIO_THREADS  0x80000 /* aio=threads chosen explicitly */

#define BDRV_O_CACHE_MASK   (BDRV_O_NOCACHE | BDRV_O_NO_FLUSH)

/* Option names shared by all nodes (QEMU's spelling). */
#define BDRV_OPT_CACHE_WB       "cache.writeback"
#define BDRV_OPT_CACHE_DIRECT   "cache.direct"
#define BDRV_OPT_CACHE_NO_FLUSH "cache.no-flush"
#define BDRV_OPT_READ_ONLY      "read-only"
#define BDRV_OPT_AUTO_READ_ONLY "auto-read-only"
#define BDRV_OPT_DISCARD        "discard"
#define BDRV_OPT_FORCE_SHARE    "force-share"

/* ---- request flags ---- */
typedef enum BdrvRequestFlags {
    BDRV_REQ_COPY_ON_READ   = 0x1,
    BDRV_REQ_ZERO_WRITE     = 0x2,
    BDRV_REQ_MAY_UNMAP      = 0x4,
    BDRV_REQ_FUA            = 0x10,
    BDRV_REQ_WRITE_COMPRESSED = 0x20,
    BDRV_REQ_WRITE_UNCHANGED = 0x40,
    BDRV_REQ_SERIALISING    = 0x80,
    BDRV_REQ_NO_FALLBACK    = 0x100,
    BDRV_REQ_PREFETCH       = 0x200,
    BDRV_REQ_NO_WAIT        = 0x400,
    BDRV_REQ_MASK           = 0x7ff,
} BdrvRequestFlags;

/* ---- block status ---- */
#define BDRV_BLOCK_DATA         0x01
#define BDRV_BLOCK_ZERO         0x02
#define BDRV_BLOCK_OFFSET_VALID 0x04
#define BDRV_BLOCK_RAW          0x08
#define BDRV_BLOCK_ALLOCATED    0x10
#define BDRV_BLOCK_EOF          0x20
#define BDRV_BLOCK_RECURSE      0x40

/* ---- permissions (QEMU's bit values: they appear in image locks) ---- */
enum {
    BLK_PERM_CONSISTENT_READ = 0x01,
    BLK_PERM_WRITE           = 0x02,
    BLK_PERM_WRITE_UNCHANGED = 0x04,
    BLK_PERM_RESIZE          = 0x08,
    BLK_PERM_ALL             = 0x0f,
    BLK_PERM_MAX_BITS        = 4,
};

/* ---- operation blockers (a job or export refuses what would break it) ---- */
typedef enum BlockOpType {
    BLOCK_OP_TYPE_BACKUP_SOURCE,
    BLOCK_OP_TYPE_BACKUP_TARGET,
    BLOCK_OP_TYPE_CHANGE,
    BLOCK_OP_TYPE_COMMIT_SOURCE,
    BLOCK_OP_TYPE_COMMIT_TARGET,
    BLOCK_OP_TYPE_DRIVE_DEL,
    BLOCK_OP_TYPE_EJECT,
    BLOCK_OP_TYPE_EXTERNAL_SNAPSHOT,
    BLOCK_OP_TYPE_INTERNAL_SNAPSHOT,
    BLOCK_OP_TYPE_INTERNAL_SNAPSHOT_DELETE,
    BLOCK_OP_TYPE_MIRROR_SOURCE,
    BLOCK_OP_TYPE_MIRROR_TARGET,
    BLOCK_OP_TYPE_RESIZE,
    BLOCK_OP_TYPE_STREAM,
    BLOCK_OP_TYPE_REPLACE,
    BLOCK_OP_TYPE_MAX,
} BlockOpType;

/*
 * True (with "Node '<name>' is busy: <reason>") if someone blocked @op on
 * @bs.  @reason is kept (not copied) until bdrv_op_unblock() with the same
 * pointer.
 */
bool bdrv_op_is_blocked(BlockDriverState *bs, BlockOpType op, Error **errp);
void bdrv_op_block(BlockDriverState *bs, BlockOpType op, Error *reason);
void bdrv_op_unblock(BlockDriverState *bs, BlockOpType op, Error *reason);
void bdrv_op_block_all(BlockDriverState *bs, Error *reason);
void bdrv_op_unblock_all(BlockDriverState *bs, Error *reason);
bool bdrv_op_blocker_is_empty(BlockDriverState *bs);

/* The name QEMU uses for a permission in messages ("write", ...). */
const char *bdrv_perm_name(uint64_t perm);
char *bdrv_perm_names(uint64_t perm);

/*
 * PreallocMode and BlockdevDetectZeroesOptions come from the QAPI schema.
 * Parse a preallocation mode name; @def if @str is NULL.
 */
int prealloc_mode_parse(const char *str, PreallocMode def, Error **errp);

typedef struct BlockDriverInfo {
    int cluster_size;   /* 0 if not meaningful */
    int64_t vm_state_offset;
    bool is_dirty;
} BlockDriverInfo;

/* BlockMeasureInfo comes from the QAPI schema. */

/* Result of a consistency check (qemu-img check). */
typedef struct BdrvCheckResult {
    int corruptions;
    int leaks;
    int check_errors;
    int corruptions_fixed;
    int leaks_fixed;
    int64_t image_end_offset;
    struct {
        uint64_t total_clusters;
        uint64_t allocated_clusters;
        uint64_t fragmented_clusters;
        uint64_t compressed_clusters;
    } bfi;
} BdrvCheckResult;

typedef enum BdrvCheckMode {
    BDRV_FIX_LEAKS  = 1,
    BDRV_FIX_ERRORS = 2,
} BdrvCheckMode;

/* Check (and with @fix repair) @bs; -ENOTSUP if the format cannot. */
int bdrv_check(BlockDriverState *bs, BdrvCheckResult *res, BdrvCheckMode fix);

/* ---- library set-up ---- */

/* Register every driver; call once before opening anything. */
void bdrv_init(void);
BlockDriver *bdrv_find_format(const char *format_name);
BlockDriver *bdrv_find_protocol(const char *filename, bool allow_protocol_prefix,
                                Error **errp);
/* Calls @fn for each format driver name, sorted. */
void bdrv_iterate_format(void (*fn)(void *opaque, const char *name),
                         void *opaque, bool read_only);
bool bdrv_is_whitelisted(BlockDriver *drv, bool read_only);
const char *bdrv_get_format_name(BlockDriverState *bs);

/* ---- opening ---- */

/*
 * Open a node.  @filename may be NULL, a path, a protocol URL or a
 * "json:{...}" pseudo-filename; @options is a flat dictionary (dotted keys)
 * whose reference is taken over.  Returns a new reference or NULL.
 */
BlockDriverState *bdrv_open(const char *filename, const char *reference,
                            json_t *options, int flags, Error **errp);
/* Open with options from QMP/--blockdev (already validated, nested). */
BlockDriverState *bdrv_open_blockdev_ref(json_t *options, Error **errp);
void bdrv_ref(BlockDriverState *bs);
void bdrv_unref(BlockDriverState *bs);
/* Close every node that has no more users (at exit). */
void bdrv_close_all(void);

BlockDriverState *bdrv_find_node(const char *node_name);
/* Iterate over all named nodes (QEMU's graph_bdrv_states order). */
BlockDriverState *bdrv_next_node(BlockDriverState *bs);
/* Iterate over every node, named or not. */
BlockDriverState *bdrv_next_all_states(BlockDriverState *bs);
const char *bdrv_get_node_name(const BlockDriverState *bs);
const char *bdrv_get_device_name(const BlockDriverState *bs);
const char *bdrv_get_device_or_node_name(const BlockDriverState *bs);
/* Resolve "device or node name" as QMP commands do. */
BlockDriverState *bdrv_lookup_bs(const char *device, const char *node_name,
                                 Error **errp);

/*
 * Change read-only state and cache options of @bs (and its storage
 * children) in place.  @options (flat) may hold "read-only",
 * "cache.direct", "cache.no-flush"; other keys are refused.
 */
int bdrv_reopen(BlockDriverState *bs, json_t *options, Error **errp);
int bdrv_reopen_set_read_only(BlockDriverState *bs, bool read_only,
                              Error **errp);

/* ---- properties ---- */

int64_t bdrv_getlength(BlockDriverState *bs);
int64_t bdrv_nb_sectors(BlockDriverState *bs);
int64_t bdrv_get_allocated_file_size(BlockDriverState *bs);
int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi);
bool bdrv_is_read_only(BlockDriverState *bs);
bool bdrv_is_writable(BlockDriverState *bs);
int bdrv_can_set_read_only(BlockDriverState *bs, bool read_only,
                           bool ignore_allow_rdw, Error **errp);
bool bdrv_is_sg(BlockDriverState *bs);
bool bdrv_is_encrypted(BlockDriverState *bs);
BlockDriverState *bdrv_backing_chain_next(BlockDriverState *bs);
BlockDriverState *bdrv_filter_or_cow_bs(BlockDriverState *bs);
BlockDriverState *bdrv_cow_bs(BlockDriverState *bs);
BlockDriverState *bdrv_filter_bs(BlockDriverState *bs);
/* Skip filters (and implicit nodes) down to the first non-filter. */
BlockDriverState *bdrv_skip_filters(BlockDriverState *bs);
BlockDriverState *bdrv_primary_bs(BlockDriverState *bs);
/* The image file name as the user should see it. */
const char *bdrv_get_filename(BlockDriverState *bs);
/* The full filename QEMU would print (json:{} if not expressible). */
char *bdrv_dirname(BlockDriverState *bs, Error **errp);
void bdrv_refresh_filename(BlockDriverState *bs);
json_t *bdrv_get_full_options(BlockDriverState *bs);
int bdrv_get_flags(BlockDriverState *bs);
uint32_t bdrv_get_request_alignment(BlockDriverState *bs);
size_t bdrv_opt_mem_align(BlockDriverState *bs);
size_t bdrv_min_mem_align(BlockDriverState *bs);
void *qemu_blockalign(BlockDriverState *bs, size_t size);
void *qemu_try_blockalign(BlockDriverState *bs, size_t size);
void *qemu_blockalign0(BlockDriverState *bs, size_t size);

/* ---- the request path: coroutine forms ---- */

int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags);
int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset,
                                     BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset,
                                 int64_t bytes, QEMUIOVector *qiov,
                                 BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset,
                                      BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset,
                               int64_t bytes, void *buf,
                               BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset,
                                int64_t bytes, const void *buf,
                                BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite_sync(BdrvChild *child, int64_t offset,
                                     int64_t bytes, const void *buf,
                                     BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset,
                                       int64_t bytes, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset,
                                  int64_t bytes);
int coroutine_fn bdrv_co_flush(BlockDriverState *bs);
int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset,
                                  bool exact, PreallocMode prealloc,
                                  BdrvRequestFlags flags, Error **errp);
int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, bool want_zero,
                                      int64_t offset, int64_t bytes,
                                      int64_t *pnum, int64_t *map,
                                      BlockDriverState **file);
/*
 * Block status through a backing chain down to (not including) @base.
 * @depth (may be NULL) receives how many layers below @bs the data lives.
 */
int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs,
                                            BlockDriverState *base,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file,
                                            int *depth);
int coroutine_fn bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum);
int coroutine_fn bdrv_co_is_allocated_above(BlockDriverState *top,
                                            BlockDriverState *base,
                                            bool include_base, int64_t offset,
                                            int64_t bytes, int64_t *pnum);
int coroutine_fn bdrv_co_is_zero_fast(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes);
int coroutine_fn bdrv_co_copy_range(BdrvChild *src, int64_t src_offset,
                                    BdrvChild *dst, int64_t dst_offset,
                                    int64_t bytes, BdrvRequestFlags read_flags,
                                    BdrvRequestFlags write_flags);

/* ---- synchronous forms (run the coroutine and poll until done) ---- */

int bdrv_pread(BdrvChild *child, int64_t offset, int64_t bytes, void *buf,
               BdrvRequestFlags flags);
int bdrv_pwrite(BdrvChild *child, int64_t offset, int64_t bytes,
                const void *buf, BdrvRequestFlags flags);
int bdrv_pwrite_sync(BdrvChild *child, int64_t offset, int64_t bytes,
                     const void *buf, BdrvRequestFlags flags);
int bdrv_pwrite_zeroes(BdrvChild *child, int64_t offset, int64_t bytes,
                       BdrvRequestFlags flags);
int bdrv_pdiscard(BdrvChild *child, int64_t offset, int64_t bytes);
int bdrv_flush(BlockDriverState *bs);
int bdrv_truncate(BdrvChild *child, int64_t offset, bool exact,
                  PreallocMode prealloc, BdrvRequestFlags flags, Error **errp);
int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int64_t *map, BlockDriverState **file);
int bdrv_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            int64_t *map, BlockDriverState **file);
int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum);
int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            bool include_base, int64_t offset, int64_t bytes,
                            int64_t *pnum);
int bdrv_block_status_above_depth(BlockDriverState *bs,
                                  BlockDriverState *base, bool want_zero,
                                  int64_t offset, int64_t bytes,
                                  int64_t *pnum, int64_t *map,
                                  BlockDriverState **file, int *depth);

/* Read or write VM state at @pos; -ENOTSUP if the format has none. */
int bdrv_save_vmstate(BlockDriverState *bs, const uint8_t *buf, int64_t pos,
                      int size);
int bdrv_load_vmstate(BlockDriverState *bs, uint8_t *buf, int64_t pos,
                      int size);

/* Run @entry(@opaque) in a new coroutine and poll until it terminated. */
void bdrv_run_co(CoroutineEntry *entry, void *opaque, bool *done);

/* ---- drain ---- */

/* Wait for in-flight requests of @bs and its children; block new ones. */
void bdrv_drained_begin(BlockDriverState *bs);
void bdrv_drained_end(BlockDriverState *bs);
void bdrv_drain_all(void);

/* ---- images ---- */

/*
 * Create an image with the options of QEMU's QemuOpts form (size, backing
 * file, format options).  Used by strata-img create.
 */
int bdrv_create(BlockDriver *drv, const char *filename, QemuOpts *opts,
                Error **errp);
int bdrv_create_file(const char *filename, QemuOpts *opts, Error **errp);
/*
 * qemu-img create: parse @options for @fmt, fill in size and backing data,
 * print "Formatting ..." unless @quiet, create the image.
 */
void bdrv_img_create(const char *filename, const char *fmt,
                     const char *base_filename, const char *base_fmt,
                     char *options, uint64_t img_size, int flags, bool quiet,
                     Error **errp);
/* Combined create-options list of @drv and its protocol (caller frees). */
QemuOptsList *bdrv_create_opts_for(BlockDriver *drv, const char *filename,
                                   Error **errp);

void bdrv_get_backing_filename(BlockDriverState *bs, char *filename,
                               int filename_size);
/* Resolve @backing relative to @bs's directory (caller frees). */
char *bdrv_get_full_backing_filename_from_filename(const char *backed,
                                                   const char *backing,
                                                   Error **errp);
char *bdrv_get_full_backing_filename(BlockDriverState *bs, Error **errp);
int bdrv_change_backing_file(BlockDriverState *bs, const char *backing_file,
                             const char *backing_fmt, bool warn);

/* Parse cache mode names ("none", "writeback", ...) into flags. */
int bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough);
/* Parse discard option ("ignore"/"off" or "unmap"/"on"). */
int bdrv_parse_discard_flags(const char *mode, int *flags);
int bdrv_parse_aio(const char *mode, int *flags);

#endif

/*
 * strata-img convert: copy one or more source images (concatenated) into
 * a new or existing target, keeping holes, with parallel coroutines.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "qapi/qapi-commands.h"
#include "util/buffer-zero.h"
#include "util/cutils.h"
#include "util/option.h"

/*
 * Copy in chunks of 2 MiB (more if the target prefers larger requests, up
 * to 16 MiB).  The chunking is visible in the result: zero runs are
 * looked for within a chunk, as qemu-img does, so keep its sizes.
 */
#define CONVERT_BUF_SECTORS     (2 * MiB / BDRV_SECTOR_SIZE)
#define CONVERT_MAX_BUF_SECTORS (16 * MiB / BDRV_SECTOR_SIZE)
#define CONVERT_MAX_COROUTINES  16
/* Largest request in sectors (the block layer's limit). */
#define CONVERT_MAX_REQ_SECTORS (BDRV_REQUEST_MAX_BYTES >> BDRV_SECTOR_BITS)

typedef enum ConvertStatus {
    CONVERT_ZERO,           /* reads as zeros */
    CONVERT_DATA,           /* must be read and copied */
    CONVERT_BACKING_FILE,   /* left to the target's backing file */
} ConvertStatus;

typedef struct ConvertState {
    BlockBackend **src;
    int64_t *src_sectors;
    int *src_alignment;     /* in sectors: request alignment or cluster */
    int src_num;
    int64_t total_sectors;
    int64_t allocated_sectors;
    int64_t allocated_done;

    /* Next sector to hand out, and the status run it belongs to. */
    int64_t sector_num;
    ConvertStatus status;
    int64_t sector_next_status;
    /* In-order writes: the sector the next write must start at. */
    int64_t wr_offs;

    BlockBackend *target;
    bool has_zero_init;
    bool compressed;
    bool target_is_new;
    bool target_has_backing;
    int64_t target_backing_sectors;     /* -1 if unknown or none */
    bool wr_in_order;
    bool copy_range;
    bool salvage;
    bool quiet;
    int min_sparse;         /* sectors; 0 disables zero detection */
    int alignment;          /* sectors, power of two */
    int64_t cluster_sectors;
    int64_t buf_sectors;

    ImgRateLimit rate;      /* -r */

    long num_coroutines;
    int running_coroutines;
    Coroutine *co[CONVERT_MAX_COROUTINES];
    int64_t wait_sector_num[CONVERT_MAX_COROUTINES];
    CoMutex lock;
    int ret;
} ConvertState;

/* Which source holds @sector_num, and where that source starts. */
static void convert_select_part(ConvertState *s, int64_t sector_num,
                                int *src_cur, int64_t *src_cur_offset)
{
    *src_cur = 0;
    *src_cur_offset = 0;
    while (sector_num - *src_cur_offset >= s->src_sectors[*src_cur]) {
        *src_cur_offset += s->src_sectors[*src_cur];
        (*src_cur)++;
        assert(*src_cur < s->src_num);
    }
}

/*
 * How many sectors from @sector_num share s->status (updated here when a
 * new status run starts).  Returns a positive count or a negative errno.
 */
static int64_t convert_iteration_sectors(ConvertState *s, int64_t sector_num)
{
    bool post_backing_zero = false;
    int64_t src_cur_offset, n;
    int src_cur;

    convert_select_part(s, sector_num, &src_cur, &src_cur_offset);
    assert(s->total_sectors > sector_num);
    n = MIN(s->total_sectors - sector_num, CONVERT_MAX_REQ_SECTORS);

    if (s->target_backing_sectors >= 0) {
        if (sector_num >= s->target_backing_sectors) {
            post_backing_zero = true;
        } else if (sector_num + n > s->target_backing_sectors) {
            /* Zeros past the backing file's end are treated differently. */
            n = s->target_backing_sectors - sector_num;
        }
    }

    if (s->sector_next_status <= sector_num) {
        BlockDriverState *src_bs = blk_bs(s->src[src_cur]);
        BlockDriverState *base = NULL;
        int64_t offset = (sector_num - src_cur_offset) * BDRV_SECTOR_SIZE;
        int64_t count, tail;
        int ret;

        if (s->target_has_backing) {
            base = bdrv_cow_bs(bdrv_skip_filters(src_bs));
        }
        for (;;) {
            count = n * BDRV_SECTOR_SIZE;
            ret = bdrv_block_status_above(src_bs, base, offset, count,
                                          &count, NULL, NULL);
            if (ret >= 0) {
                break;
            }
            if (!s->salvage) {
                error_report("error while reading block status at offset "
                             "%" PRIu64 ": %s", (uint64_t)offset,
                             strerror(-ret));
                return ret;
            }
            if (n == 1) {
                if (!s->quiet) {
                    warn_report("error while reading block status at offset "
                                "%" PRIu64 ": %s", (uint64_t)offset,
                                strerror(-ret));
                }
                /* Read the data, then. */
                ret = BDRV_BLOCK_DATA;
                count = BDRV_SECTOR_SIZE;
                break;
            }
            n = DIV_ROUND_UP(n, 4);
        }
        n = DIV_ROUND_UP(count, BDRV_SECTOR_SIZE);

        /* Keep status runs aligned to the source's alignment / clusters. */
        tail = (sector_num - src_cur_offset + n) % s->src_alignment[src_cur];
        if (n > tail) {
            n -= tail;
        }

        if (ret & BDRV_BLOCK_ZERO) {
            s->status = post_backing_zero ? CONVERT_BACKING_FILE
                                          : CONVERT_ZERO;
        } else if (ret & BDRV_BLOCK_DATA) {
            s->status = CONVERT_DATA;
        } else {
            s->status = s->target_has_backing ? CONVERT_BACKING_FILE
                                              : CONVERT_DATA;
        }
        s->sector_next_status = sector_num + n;
    }

    n = MIN(n, s->sector_next_status - sector_num);
    if (s->status == CONVERT_DATA) {
        n = MIN(n, s->buf_sectors);
    }
    /* Compressed targets take whole clusters. */
    if (s->compressed) {
        if (n < s->cluster_sectors) {
            n = MIN(s->cluster_sectors, s->total_sectors - sector_num);
            s->status = CONVERT_DATA;
        } else {
            n = QEMU_ALIGN_DOWN(n, s->cluster_sectors);
        }
    }
    return n;
}

/*
 * Is the 512-byte sector at @p all zeros?  Data sectors almost always
 * have a nonzero first word, and saying so without a call matters: this
 * runs for every sector copied.
 */
static inline bool sector_is_zero(const uint8_t *p)
{
    uint64_t head;

    memcpy(&head, p, sizeof(head));
    return head == 0 && buffer_is_zero(p, BDRV_SECTOR_SIZE);
}

/*
 * Is the first sector of @buf data?  *@pnum receives how many sectors
 * from the start share its state, with the end moved to an alignment
 * boundary where that saves the target a read-modify-write.
 */
static bool sectors_allocated(const uint8_t *buf, int64_t n, int64_t *pnum,
                              int64_t sector_num, int alignment)
{
    bool is_zero;
    int64_t i, tail;

    if (n <= 0) {
        *pnum = 0;
        return false;
    }
    is_zero = sector_is_zero(buf);
    for (i = 1; i < n; i++) {
        if (is_zero != sector_is_zero(buf + i * BDRV_SECTOR_SIZE)) {
            break;
        }
    }
    if (i == n) {
        *pnum = n;
        return !is_zero;
    }

    tail = (sector_num + i) & (alignment - 1);
    if (tail) {
        if (is_zero && i <= tail) {
            /* The data that follows rewrites this partial block anyway. */
            is_zero = false;
        }
        if (!is_zero) {
            i = MIN(i + alignment - tail, n);
        } else {
            i -= tail;
        }
    }
    *pnum = i;
    return !is_zero;
}

/*
 * Like sectors_allocated(), but once data is found, zero runs shorter than
 * @min sectors are counted as data: small holes are not worth splitting a
 * write for.
 */
static bool sectors_allocated_min(const uint8_t *buf, int64_t n,
                                  int64_t *pnum, int64_t min,
                                  int64_t sector_num, int alignment)
{
    int64_t used, checked;

    min = MIN(min, n);
    if (!sectors_allocated(buf, n, pnum, sector_num, alignment)) {
        return false;
    }
    used = checked = *pnum;
    buf += *pnum * BDRV_SECTOR_SIZE;
    n -= *pnum;
    sector_num += *pnum;

    while (n > 0) {
        bool data = sectors_allocated(buf, n, pnum, sector_num, alignment);

        buf += *pnum * BDRV_SECTOR_SIZE;
        n -= *pnum;
        sector_num += *pnum;
        checked += *pnum;
        if (data) {
            used = checked;
        } else if (*pnum >= min) {
            break;
        }
    }
    *pnum = used;
    return true;
}

static int coroutine_fn convert_co_read(ConvertState *s, int64_t sector_num,
                                        int64_t nb_sectors, uint8_t *buf)
{
    int64_t single_read_until = 0;

    assert(nb_sectors <= s->buf_sectors);
    while (nb_sectors > 0) {
        int64_t src_cur_offset, offset, n;
        int src_cur, ret;

        /* A compressed cluster may span two sources. */
        convert_select_part(s, sector_num, &src_cur, &src_cur_offset);
        offset = (sector_num - src_cur_offset) << BDRV_SECTOR_BITS;
        n = MIN(nb_sectors,
                s->src_sectors[src_cur] - (sector_num - src_cur_offset));
        if (single_read_until > offset) {
            n = 1;
        }
        ret = blk_co_pread(s->src[src_cur], offset, n << BDRV_SECTOR_BITS,
                           buf, 0);
        if (ret < 0) {
            if (!s->salvage) {
                return ret;
            }
            if (n > 1) {
                /* Retry sector by sector to salvage what can be read. */
                single_read_until = offset + (n << BDRV_SECTOR_BITS);
                continue;
            }
            if (!s->quiet) {
                warn_report("error while reading offset %" PRIu64 ": %s",
                            (uint64_t)offset, strerror(-ret));
            }
            memset(buf, 0, BDRV_SECTOR_SIZE);
        }
        sector_num += n;
        nb_sectors -= n;
        buf += n * BDRV_SECTOR_SIZE;
    }
    return 0;
}

/* -r: sleep so that the writes stay below the rate limit. */
static void coroutine_fn convert_throttle(ConvertState *s, int64_t bytes)
{
    int64_t wait = img_rate_delay_ns(&s->rate, bytes);

    if (wait) {
        qemu_co_sleep_ns(wait);
    }
}

static int coroutine_fn convert_co_write(ConvertState *s, int64_t sector_num,
                                         int64_t nb_sectors, uint8_t *buf,
                                         ConvertStatus status)
{
    int ret;

    while (nb_sectors > 0) {
        int64_t n = nb_sectors;
        BdrvRequestFlags flags = s->compressed ? BDRV_REQ_WRITE_COMPRESSED
                                               : 0;

        switch (status) {
        case CONVERT_BACKING_FILE:
            /* Leave it unallocated: the backing file shows through. */
            assert(s->target_has_backing);
            break;

        case CONVERT_DATA:
            /*
             * Write real data; with -S 0 everything.  Zero runs of at least
             * -S become zero writes (or nothing on a zeroed target).
             * Compressed clusters are written whole unless all zero.
             */
            if (!s->min_sparse ||
                (!s->compressed &&
                 sectors_allocated_min(buf, n, &n, s->min_sparse, sector_num,
                                       s->alignment)) ||
                (s->compressed &&
                 !buffer_is_zero(buf, n * BDRV_SECTOR_SIZE))) {
                convert_throttle(s, n << BDRV_SECTOR_BITS);
                ret = blk_co_pwrite(s->target, sector_num << BDRV_SECTOR_BITS,
                                    n << BDRV_SECTOR_BITS, buf, flags);
                if (ret < 0) {
                    return ret;
                }
                break;
            }
            /* fall through */

        case CONVERT_ZERO:
            if (s->has_zero_init) {
                assert(!s->target_has_backing);
                break;
            }
            ret = blk_co_pwrite_zeroes(s->target,
                                       sector_num << BDRV_SECTOR_BITS,
                                       n << BDRV_SECTOR_BITS,
                                       BDRV_REQ_MAY_UNMAP);
            if (ret < 0) {
                return ret;
            }
            break;
        }
        sector_num += n;
        nb_sectors -= n;
        buf += n * BDRV_SECTOR_SIZE;
    }
    return 0;
}

static int coroutine_fn convert_co_copy_range(ConvertState *s,
                                              int64_t sector_num,
                                              int64_t nb_sectors)
{
    while (nb_sectors > 0) {
        int64_t src_cur_offset, offset, n;
        int src_cur, ret;

        convert_select_part(s, sector_num, &src_cur, &src_cur_offset);
        offset = (sector_num - src_cur_offset) << BDRV_SECTOR_BITS;
        n = MIN(nb_sectors,
                s->src_sectors[src_cur] - (sector_num - src_cur_offset));
        convert_throttle(s, n << BDRV_SECTOR_BITS);
        ret = blk_co_copy_range(s->src[src_cur], offset, s->target,
                                sector_num << BDRV_SECTOR_BITS,
                                n << BDRV_SECTOR_BITS, 0, 0);
        if (ret < 0) {
            return ret;
        }
        sector_num += n;
        nb_sectors -= n;
    }
    return 0;
}

static int convert_co_index(ConvertState *s)
{
    Coroutine *self = qemu_coroutine_self();

    for (int i = 0; i < s->num_coroutines; i++) {
        if (s->co[i] == self) {
            return i;
        }
    }
    g_assert_not_reached();
}

/* One worker: claim the next run, read it, write it (in order unless -W). */
static void coroutine_fn convert_co_do_copy(void *opaque)
{
    ConvertState *s = opaque;
    int index = convert_co_index(s);
    uint8_t *buf;

    s->running_coroutines++;
    buf = blk_blockalign(s->target, s->buf_sectors * BDRV_SECTOR_SIZE);

    for (;;) {
        int64_t n, sector_num;
        ConvertStatus status;
        bool copy_range;
        int ret;

        qemu_co_mutex_lock(&s->lock);
        if (s->ret != -EINPROGRESS || s->sector_num >= s->total_sectors) {
            qemu_co_mutex_unlock(&s->lock);
            break;
        }
        n = convert_iteration_sectors(s, s->sector_num);
        if (n < 0) {
            qemu_co_mutex_unlock(&s->lock);
            s->ret = n;
            break;
        }
        sector_num = s->sector_num;
        status = s->status;
        if (!s->min_sparse && s->status == CONVERT_ZERO) {
            n = MIN(n, s->buf_sectors);
        }
        /* Let the other workers move on while this run is copied. */
        s->sector_num += n;
        qemu_co_mutex_unlock(&s->lock);

        if (status == CONVERT_DATA ||
            (!s->min_sparse && status == CONVERT_ZERO)) {
            s->allocated_done += n;
            img_progress_print(100.0 * s->allocated_done /
                               s->allocated_sectors, 0);
        }

retry:
        copy_range = s->copy_range && s->status == CONVERT_DATA;
        if (status == CONVERT_DATA && !copy_range) {
            ret = convert_co_read(s, sector_num, n, buf);
            if (ret < 0) {
                error_report("error while reading at byte %" PRId64 ": %s",
                             (int64_t)(sector_num * BDRV_SECTOR_SIZE),
                             strerror(-ret));
                s->ret = ret;
            }
        } else if (!s->min_sparse && status == CONVERT_ZERO) {
            /* -S 0: zeros are written as data. */
            status = CONVERT_DATA;
            memset(buf, 0, n * BDRV_SECTOR_SIZE);
        }

        if (s->wr_in_order) {
            while (s->wr_offs != sector_num && s->ret == -EINPROGRESS) {
                s->wait_sector_num[index] = sector_num;
                qemu_coroutine_yield();
            }
            s->wait_sector_num[index] = -1;
        }

        if (s->ret == -EINPROGRESS) {
            if (copy_range) {
                ret = convert_co_copy_range(s, sector_num, n);
                if (ret) {
                    /* Fall back to reading and writing for good. */
                    s->copy_range = false;
                    goto retry;
                }
            } else {
                ret = convert_co_write(s, sector_num, n, buf, status);
            }
            if (ret < 0) {
                error_report("error while writing at byte %" PRId64 ": %s",
                             (int64_t)(sector_num * BDRV_SECTOR_SIZE),
                             strerror(-ret));
                s->ret = ret;
            }
        }

        if (s->wr_in_order) {
            /*
             * Start the write that comes next at once: enter its worker
             * now rather than after this one has found more work, so the
             * target is kept busy.  It cannot re-enter this worker, whose
             * wait_sector_num is -1 here.
             */
            s->wr_offs = sector_num + n;
            for (int i = 0; i < s->num_coroutines; i++) {
                if (s->co[i] && s->wait_sector_num[i] == s->wr_offs) {
                    qemu_coroutine_enter(s->co[i]);
                    break;
                }
            }
        }
    }

    s->co[index] = NULL;
    s->running_coroutines--;
    if (!s->running_coroutines && s->ret == -EINPROGRESS) {
        /* The last worker out reports success. */
        s->ret = 0;
    }
    qemu_vfree(buf);
}

static int convert_do_copy(ConvertState *s)
{
    int64_t sector_num = 0;

    if (!s->has_zero_init && s->target_is_new && s->min_sparse &&
        !s->target_has_backing) {
        s->has_zero_init = img_has_zero_init(blk_bs(s->target));
    }

    /* A compressed target is written one cluster at a time. */
    if (s->compressed) {
        if (s->cluster_sectors <= 0 || s->cluster_sectors > s->buf_sectors) {
            error_report("invalid cluster size");
            return -EINVAL;
        }
        s->buf_sectors = s->cluster_sectors;
    }

    /* First pass: how much is to be copied, for the progress meter. */
    while (sector_num < s->total_sectors) {
        int64_t n = convert_iteration_sectors(s, sector_num);

        if (n < 0) {
            return n;
        }
        if (s->status == CONVERT_DATA ||
            (!s->min_sparse && s->status == CONVERT_ZERO)) {
            s->allocated_sectors += n;
        }
        sector_num += n;
    }

    s->sector_next_status = 0;
    s->ret = -EINPROGRESS;
    qemu_co_mutex_init(&s->lock);
    for (int i = 0; i < s->num_coroutines; i++) {
        s->co[i] = qemu_coroutine_create(convert_co_do_copy, s);
        s->wait_sector_num[i] = -1;
    }
    for (int i = 0; i < s->num_coroutines; i++) {
        if (s->co[i]) {
            qemu_coroutine_enter(s->co[i]);
        }
    }
    while (s->running_coroutines) {
        aio_poll(qemu_get_aio_context(), true);
    }

    if (s->compressed && !s->ret) {
        /* Tell the driver the stream ended (it aligns the file). */
        int ret = blk_pwrite_compressed(s->target, 0, 0, NULL);

        if (ret < 0) {
            return ret;
        }
    }
    return s->ret;
}

static bool driver_can_compress(BlockDriver *drv)
{
    return drv->bdrv_co_pwritev_compressed_part != NULL;
}

/* -B / -F become the backing_file / backing_fmt creation options. */
static int add_old_style_options(const char *fmt, QemuOpts *opts,
                                 const char *base_filename,
                                 const char *base_fmt)
{
    if (base_filename &&
        !qemu_opt_set(opts, "backing_file", base_filename, NULL)) {
        error_report("Backing file not supported for file format '%s'", fmt);
        return -1;
    }
    if (base_fmt && !qemu_opt_set(opts, "backing_fmt", base_fmt, NULL)) {
        error_report("Backing file format not supported for file format "
                     "'%s'", fmt);
        return -1;
    }
    return 0;
}

/* "-l snapshot.id=X,snapshot.name=Y" */
static QemuOptsList internal_snapshot_opts = {
    .name = "snapshot",
    .desc = {
        { .name = "snapshot.id", .type = QEMU_OPT_STRING,
          .help = "Unique ID of the snapshot" },
        { .name = "snapshot.name", .type = QEMU_OPT_STRING,
          .help = "Name of the snapshot" },
        { NULL }
    },
};

bool img_parse_snapshot_param(const char *arg, QemuOpts **sn_opts,
                              const char **name)
{
    if (strstart(arg, "snapshot.", NULL)) {
        qemu_opts_del(*sn_opts);
        *sn_opts = qemu_opts_parse_noisily(&internal_snapshot_opts, arg,
                                           false);
        if (!*sn_opts) {
            error_report("Failed in parsing snapshot param '%s'", arg);
            return false;
        }
    } else {
        *name = arg;
    }
    return true;
}

/*
 * Load an internal snapshot read-only (-l).  No driver has internal
 * snapshots yet: every format refuses as qemu-img's raw does.
 */
bool img_load_snapshot(BlockBackend *blk, Error **errp)
{
    BlockDriverState *bs = blk_bs(blk);

    error_setg(errp, "Block format '%s' used by device '%s' does not support "
               "temporarily loading internal snapshots",
               bs->drv->format_name, blk_name(blk));
    return false;
}

/* ---- --bitmaps ---- */

/*
 * Can the persistent bitmaps of @src be copied?  Inconsistent ones are
 * refused unless @skip_broken.  False after printing why.
 */
static bool convert_check_bitmaps(BlockDriverState *src, bool skip_broken)
{
    BdrvDirtyBitmap *bm;

    if (!bdrv_supports_persistent_dirty_bitmap(src)) {
        error_report("Source lacks bitmap support");
        return false;
    }
    FOR_EACH_DIRTY_BITMAP(src, bm) {
        if (bdrv_dirty_bitmap_get_persistence(bm) && !skip_broken &&
            bdrv_dirty_bitmap_inconsistent(bm)) {
            error_report("Cannot copy inconsistent bitmap '%s'",
                         bdrv_dirty_bitmap_name(bm));
            fprintf(stderr, "Try --skip-broken-bitmaps, or use '%s bitmap "
                    "--remove' to delete it\n", error_get_progname());
            return false;
        }
    }
    return true;
}

/*
 * After the data: each persistent bitmap of @src becomes a persistent
 * bitmap of @dst with its granularity, enabled state and bits (added,
 * then merged from the source, as the QMP commands would).  A bitmap that
 * cannot be filled is removed again.  False after printing an error.
 */
static bool convert_copy_bitmaps(BlockDriverState *src, BlockDriverState *dst,
                                 bool skip_broken)
{
    const char *dst_node = bdrv_get_node_name(dst);
    BdrvDirtyBitmap *bm;

    FOR_EACH_DIRTY_BITMAP(src, bm) {
        const char *name = bdrv_dirty_bitmap_name(bm);
        BlockDirtyBitmapOrStr from = {
            .type = QTYPE_QDICT,
            .u.external = {
                .node = (char *)bdrv_get_node_name(src),
                .name = (char *)name,
            },
        };
        BlockDirtyBitmapOrStrList sources = { .value = &from };
        Error *err = NULL;

        if (!bdrv_dirty_bitmap_get_persistence(bm)) {
            continue;
        }
        if (skip_broken && bdrv_dirty_bitmap_inconsistent(bm)) {
            warn_report("Skipping inconsistent bitmap '%s'", name);
            continue;
        }
        qmp_block_dirty_bitmap_add(dst_node, name, true,
                                   bdrv_dirty_bitmap_granularity(bm),
                                   true, true, true,
                                   !bdrv_dirty_bitmap_enabled(bm), &err);
        if (err) {
            error_prepend(&err, "Failed to create bitmap %s: ", name);
            error_report_err(err);
            return false;
        }
        qmp_block_dirty_bitmap_merge(dst_node, name, &sources, &err);
        if (err) {
            error_prepend(&err, "Failed to populate bitmap %s: ", name);
            error_report_err(err);
            qmp_block_dirty_bitmap_remove(dst_node, name, NULL);
            return false;
        }
    }
    return true;
}

typedef struct ConvertArgs {
    const char *fmt, *out_fmt, *cache, *src_cache, *out_baseimg;
    const char *snapshot_name, *backing_fmt;
    QemuOpts *sn_opts;
    char *options;
    bool image_opts, tgt_image_opts, skip_create, progress, force_share;
    bool explicit_min_sparse, bitmaps, skip_broken, explicit_coroutines;
    int64_t rate_limit;
} ConvertArgs;

/* Parse the command line into @a and @s; returns false after an error. */
static bool convert_parse_args(int argc, char **argv, ConvertArgs *a,
                               ConvertState *s)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { "target-image-opts", no_argument, NULL, OPTION_TARGET_IMAGE_OPTS },
        { "salvage", no_argument, NULL, OPTION_SALVAGE },
        { "target-is-zero", no_argument, NULL, OPTION_TARGET_IS_ZERO },
        { "bitmaps", no_argument, NULL, OPTION_BITMAPS },
        { "skip-broken-bitmaps", no_argument, NULL, OPTION_SKIP_BROKEN },
        { NULL, 0, NULL, 0 }
    };
    int c;

    while ((c = getopt_long(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:",
                            long_options, NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'f':
            a->fmt = optarg;
            break;
        case 'O':
            a->out_fmt = optarg;
            break;
        case 'B':
            a->out_baseimg = optarg;
            break;
        case 'C':
            s->copy_range = true;
            break;
        case 'c':
            s->compressed = true;
            break;
        case 'F':
            a->backing_fmt = optarg;
            break;
        case 'o':
            if (img_accumulate_options(&a->options, optarg) < 0) {
                return false;
            }
            break;
        case 'l':
            if (!img_parse_snapshot_param(optarg, &a->sn_opts,
                                          &a->snapshot_name)) {
                return false;
            }
            break;
        case 'S': {
            int64_t sval = img_cvtnum("buffer size for sparse output",
                                      optarg);

            if (sval < 0) {
                return false;
            }
            if (!QEMU_IS_ALIGNED(sval, BDRV_SECTOR_SIZE) ||
                sval / BDRV_SECTOR_SIZE > CONVERT_MAX_BUF_SECTORS) {
                error_report("Invalid buffer size for sparse output "
                             "specified. Valid sizes are multiples of %llu "
                             "up to %llu. Select 0 to disable sparse "
                             "detection (fully allocates output).",
                             BDRV_SECTOR_SIZE,
                             CONVERT_MAX_BUF_SECTORS * BDRV_SECTOR_SIZE);
                return false;
            }
            s->min_sparse = sval / BDRV_SECTOR_SIZE;
            a->explicit_min_sparse = true;
            break;
        }
        case 'p':
            a->progress = true;
            break;
        case 't':
            a->cache = optarg;
            break;
        case 'T':
            a->src_cache = optarg;
            break;
        case 'q':
            s->quiet = true;
            break;
        case 'n':
            a->skip_create = true;
            break;
        case 'm':
            a->explicit_coroutines = true;
            if (qemu_strtol(optarg, NULL, 0, &s->num_coroutines) ||
                s->num_coroutines < 1 ||
                s->num_coroutines > CONVERT_MAX_COROUTINES) {
                error_report("Invalid number of coroutines. Allowed number "
                             "of coroutines is between 1 and %d",
                             CONVERT_MAX_COROUTINES);
                return false;
            }
            break;
        case 'W':
            s->wr_in_order = false;
            break;
        case 'U':
            a->force_share = true;
            break;
        case 'r':
            a->rate_limit = img_cvtnum("rate limit", optarg);
            if (a->rate_limit < 0) {
                return false;
            }
            break;
        case OPTION_OBJECT:
            img_process_object(optarg);
            break;
        case OPTION_IMAGE_OPTS:
            a->image_opts = true;
            break;
        case OPTION_SALVAGE:
            s->salvage = true;
            break;
        case OPTION_TARGET_IMAGE_OPTS:
            a->tgt_image_opts = true;
            break;
        case OPTION_TARGET_IS_ZERO:
            /* The user vouches for a blank target. */
            s->has_zero_init = true;
            break;
        case OPTION_BITMAPS:
            a->bitmaps = true;
            break;
        case OPTION_SKIP_BROKEN:
            a->skip_broken = true;
            break;
        }
    }
    return true;
}

/* Option combinations refused before anything is opened. */
static bool convert_check_args(ConvertArgs *a, ConvertState *s)
{
    if (!a->out_fmt && !a->tgt_image_opts) {
        a->out_fmt = "raw";
    }
    if (a->skip_broken && !a->bitmaps) {
        error_report("Use of --skip-broken-bitmaps requires --bitmaps");
    } else if (s->compressed && s->copy_range) {
        error_report("Cannot enable copy offloading when -c is used");
    } else if (a->explicit_min_sparse && s->copy_range) {
        error_report("Cannot enable copy offloading when -S is used");
    } else if (s->copy_range && s->salvage) {
        error_report("Cannot use copy offloading in salvaging mode");
    } else if (a->tgt_image_opts && !a->skip_create) {
        error_report("--target-image-opts requires use of -n flag");
    } else if (a->skip_create && a->options) {
        error_report("-o has no effect when skipping image creation");
    } else if (s->has_zero_init && !a->skip_create) {
        error_report("--target-is-zero requires use of -n flag");
    } else {
        return true;
    }
    return false;
}

/* Open the sources and add up their sizes. */
static bool convert_open_sources(ConvertArgs *a, ConvertState *s,
                                 char **names, int src_flags,
                                 bool src_writethrough)
{
    s->src = g_new0(BlockBackend *, s->src_num);
    s->src_sectors = g_new(int64_t, s->src_num);
    s->src_alignment = g_new(int, s->src_num);

    for (int i = 0; i < s->src_num; i++) {
        BlockDriverState *bs;
        BlockDriverInfo bdi;

        if (a->image_opts) {
            s->src[i] = img_open(true, names[i], a->fmt, src_flags,
                                 src_writethrough, s->quiet, a->force_share);
        } else {
            s->src[i] = img_open_file(names[i],
                                      img_threads_aio_options(names[i],
                                                              a->fmt,
                                                              src_flags),
                                      a->fmt, src_flags, src_writethrough,
                                      s->quiet, a->force_share);
        }
        if (!s->src[i]) {
            return false;
        }
        s->src_sectors[i] = blk_nb_sectors(s->src[i]);
        if (s->src_sectors[i] < 0) {
            error_report("Could not get size of %s: %s", names[i],
                         strerror(-s->src_sectors[i]));
            return false;
        }
        bs = blk_bs(s->src[i]);
        s->src_alignment[i] = DIV_ROUND_UP(bdrv_get_request_alignment(bs),
                                           BDRV_SECTOR_SIZE);
        memset(&bdi, 0, sizeof(bdi));
        if (!bdrv_get_info(bs, &bdi)) {
            s->src_alignment[i] = MAX(s->src_alignment[i],
                                      bdi.cluster_size / BDRV_SECTOR_SIZE);
        }
        s->total_sectors += s->src_sectors[i];
    }
    return true;
}

/* Does @bs keep its data in a local file or block device? */
static bool node_is_local(BlockDriverState *bs)
{
    while (bs && bs->drv) {
        if (bs->drv == &bdrv_file || bs->drv == &bdrv_host_device) {
            return true;
        }
        bs = bs->file ? bs->file->bs : NULL;
    }
    return false;
}

/*
 * Without -m: qemu-img runs 8 workers, which hides the latency of remote
 * storage.  With in-order writes only one write is in flight anyway, and
 * between local files the workers just compete for the CPUs and evict
 * each other's buffers from the caches; there one worker per CPU (2 to 8)
 * copies faster.  The result is the same either way.
 */
static void convert_pick_coroutines(ConvertArgs *a, ConvertState *s)
{
    if (a->explicit_coroutines || !s->wr_in_order ||
        !node_is_local(blk_bs(s->target))) {
        return;
    }
    for (int i = 0; i < s->src_num; i++) {
        if (!node_is_local(blk_bs(s->src[i]))) {
            return;
        }
    }
    s->num_coroutines = MIN(8, MAX(2, (long)g_get_num_processors()));
}

/* Size the buffers and alignment from the target's limits. */
static void convert_tune_for_target(ConvertState *s, BlockDriverState *out)
{
    int64_t want = MAX(out->bl.opt_transfer >> BDRV_SECTOR_BITS,
                       out->bl.pdiscard_alignment >> BDRV_SECTOR_BITS);

    s->buf_sectors = MIN(CONVERT_MAX_BUF_SECTORS, MAX(s->buf_sectors, want));
    /* Align writes to the target to spare it read-modify-write cycles. */
    s->alignment = MAX(pow2floor(s->min_sparse),
                       DIV_ROUND_UP(bdrv_get_request_alignment(out),
                                    BDRV_SECTOR_SIZE));
    assert(is_power_of_2(s->alignment));
}

int img_convert(int argc, char **argv)
{
    ConvertArgs a = {
        .cache = "unsafe",
        .src_cache = IMG_DEFAULT_CACHE,
    };
    ConvertState s = {
        .min_sparse = 8,        /* 4k of zeros make a hole */
        .buf_sectors = CONVERT_BUF_SECTORS,
        .wr_in_order = true,
        .num_coroutines = 8,
    };
    QemuOptsList *create_opts = NULL;
    QemuOpts *opts = NULL;
    BlockDriver *drv = NULL;
    BlockDriverState *out_bs;
    BlockDriverInfo bdi;
    const char *out_filename, *out_baseimg_param;
    bool writethrough, src_writethrough;
    int src_flags = BDRV_O_NO_SHARE, flags;
    Error *err = NULL;
    int64_t ret = -EINVAL;

    if (!convert_parse_args(argc, argv, &a, &s) ||
        !convert_check_args(&a, &s)) {
        goto fail_getopt;
    }

    s.src_num = argc - optind - 1;
    out_filename = s.src_num >= 1 ? argv[argc - 1] : NULL;

    if (a.options && has_help_option(a.options)) {
        if (a.out_fmt) {
            ret = img_print_block_option_help(out_filename, a.out_fmt);
        } else {
            error_report("Option help requires a format be specified");
        }
        goto fail_getopt;
    }
    if (s.src_num < 1) {
        error_report("Must specify image file name");
        goto fail_getopt;
    }
    if (!img_parse_cache(a.src_cache, &src_flags, &src_writethrough,
                         "source cache")) {
        goto fail_getopt;
    }

    if (s.quiet) {
        a.progress = false;
    }
    img_progress_init(a.progress, 1.0);
    img_progress_print(0, 100);

    if (!convert_open_sources(&a, &s, argv + optind, src_flags,
                              src_writethrough)) {
        ret = -1;
        goto out;
    }

    if (a.sn_opts || a.snapshot_name) {
        if (!a.sn_opts && s.src_num > 1) {
            error_report("No support for concatenating multiple snapshot");
            ret = -1;
            goto out;
        }
        if (!img_load_snapshot(s.src[0], &err)) {
            error_prepend(&err, "Failed to load snapshot: ");
            error_report_err(err);
            ret = -1;
            goto out;
        }
    }

    if (!a.skip_create) {
        drv = bdrv_find_format(a.out_fmt);
        if (!drv) {
            error_report("Unknown file format '%s'", a.out_fmt);
            ret = -1;
            goto out;
        }
        if (!drv->create_opts) {
            error_report("Format driver '%s' does not support image "
                         "creation", drv->format_name);
            ret = -1;
            goto out;
        }
        create_opts = bdrv_create_opts_for(drv, out_filename, &err);
        if (!create_opts) {
            error_report_err(err);
            ret = -1;
            goto out;
        }
        opts = qemu_opts_create(create_opts, NULL, false, &error_abort);
        if (a.options && !qemu_opts_do_parse(opts, a.options, NULL, &err)) {
            error_report_err(err);
            ret = -1;
            goto out;
        }
        qemu_opt_set_number(opts, "size", s.total_sectors * BDRV_SECTOR_SIZE,
                            &error_abort);
        if (add_old_style_options(a.out_fmt, opts, a.out_baseimg,
                                  a.backing_fmt) < 0) {
            ret = -1;
            goto out;
        }
    }

    out_baseimg_param = opts ? qemu_opt_get(opts, "backing_file") : NULL;
    if (out_baseimg_param) {
        a.out_baseimg = out_baseimg_param;
    }
    s.target_has_backing = a.out_baseimg != NULL;

    if (s.has_zero_init && s.target_has_backing) {
        error_report("Cannot use --target-is-zero when the destination "
                     "image has a backing file");
        ret = -1;
        goto out;
    }
    if (s.src_num > 1 && a.out_baseimg) {
        error_report("Having a backing file for the target makes no sense "
                     "when concatenating multiple input images");
        ret = -1;
        goto out;
    }
    if (out_baseimg_param && !qemu_opt_get(opts, "backing_fmt")) {
        error_report("Use of backing file requires explicit backing format");
        ret = -1;
        goto out;
    }

    if (s.compressed) {
        const char *prealloc = opts ? qemu_opt_get(opts, "preallocation")
                                    : NULL;

        if (drv && !driver_can_compress(drv)) {
            error_report("Compression not supported for this file format");
            ret = -1;
            goto out;
        }
        if (opts && (qemu_opt_get(opts, "encryption") ||
                     qemu_opt_get(opts, "encrypt.format"))) {
            error_report("Compression and encryption not supported at "
                         "the same time");
            ret = -1;
            goto out;
        }
        if (prealloc && strcmp(prealloc, "off")) {
            error_report("Compression and preallocation not supported at "
                         "the same time");
            ret = -1;
            goto out;
        }
    }

    if (a.bitmaps) {
        if (s.src_num > 1) {
            error_report("Copying bitmaps only possible with single source");
            ret = -1;
            goto out;
        }
        if (!convert_check_bitmaps(blk_bs(s.src[0]), a.skip_broken)) {
            ret = -1;
            goto out;
        }
    }

    if (!a.skip_create) {
        ret = bdrv_create(drv, out_filename, opts, &err);
        if (ret < 0) {
            error_prepend(&err, "%s: error while converting %s: ",
                          out_filename, a.out_fmt);
            error_report_err(err);
            goto out;
        }
    }
    s.target_is_new = !a.skip_create;

    flags = s.min_sparse ? (BDRV_O_RDWR | BDRV_O_UNMAP) : BDRV_O_RDWR;
    if (!img_parse_cache(a.cache, &flags, &writethrough, "cache")) {
        ret = -1;
        goto out;
    }
    if (flags & BDRV_O_NOCACHE) {
        /* O_DIRECT may need the target grown to the sector size. */
        flags |= BDRV_O_RESIZE;
    }
    if (a.tgt_image_opts) {
        s.target = img_open(true, out_filename, a.out_fmt, flags,
                            writethrough, s.quiet, false);
    } else {
        s.target = img_open_file(out_filename,
                                 img_threads_aio_options(out_filename,
                                                         a.out_fmt, flags),
                                 a.out_fmt, flags, writethrough, s.quiet,
                                 false);
    }
    if (!s.target) {
        ret = -1;
        goto out;
    }
    out_bs = blk_bs(s.target);

    if (a.bitmaps && !bdrv_supports_persistent_dirty_bitmap(out_bs)) {
        error_report("Format driver '%s' does not support bitmaps",
                     out_bs->drv->format_name);
        ret = -1;
        goto out;
    }
    if (s.compressed && !driver_can_compress(out_bs->drv)) {
        error_report("Compression not supported for this file format");
        ret = -1;
        goto out;
    }
    convert_tune_for_target(&s, out_bs);
    convert_pick_coroutines(&a, &s);

    if (a.skip_create) {
        int64_t output_sectors = blk_nb_sectors(s.target);

        if (output_sectors < 0) {
            error_report("unable to get output image length: %s",
                         strerror(-output_sectors));
            ret = -1;
            goto out;
        } else if (output_sectors < s.total_sectors) {
            error_report("output file is smaller than input file");
            ret = -1;
            goto out;
        }
    }

    s.target_backing_sectors = -1;
    if (s.target_has_backing && s.target_is_new) {
        /* Only an optimisation: errors mean "unknown". */
        BlockDriverState *backing = bdrv_backing_chain_next(out_bs);

        if (backing) {
            s.target_backing_sectors = bdrv_nb_sectors(backing);
        }
    }

    memset(&bdi, 0, sizeof(bdi));
    ret = bdrv_get_info(out_bs, &bdi);
    if (ret < 0) {
        if (s.compressed) {
            error_report("could not get block driver info");
            goto out;
        }
    } else {
        s.cluster_sectors = bdi.cluster_size / BDRV_SECTOR_SIZE;
    }
    s.rate.rate = a.rate_limit;

    ret = convert_do_copy(&s);
    if (ret == 0 && a.bitmaps &&
        !convert_copy_bitmaps(blk_bs(s.src[0]), out_bs, a.skip_broken)) {
        ret = -1;
    }

out:
    if (!ret) {
        img_progress_print(100, 0);
    }
    img_progress_end();
    qemu_opts_del(opts);
    qemu_opts_free(create_opts);
    if (s.target) {
        blk_unref(s.target);
    }
    for (int i = 0; s.src && i < s.src_num; i++) {
        if (s.src[i]) {
            blk_unref(s.src[i]);
        }
    }
    g_free(s.src);
    g_free(s.src_sectors);
    g_free(s.src_alignment);
fail_getopt:
    qemu_opts_del(a.sn_opts);
    g_free(a.options);
    return ret ? 1 : 0;
}

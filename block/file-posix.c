/*
 * Protocol drivers "file" and "host_device": POSIX files and block devices,
 * with io_uring / linux-aio / thread-pool I/O, holes, and image locking
 * compatible with QEMU's byte-range protocol.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "util/aio-engines.h"
#include "util/cutils.h"
#include "util/option.h"
#include "util/qdict.h"
#include "util/thread-pool.h"
#include "qapi/util.h"
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

/* Lock byte offsets used by QEMU for permission bit i. */
#define RAW_LOCK_PERM_BASE   100
#define RAW_LOCK_SHARED_BASE 200
#define MAX_BLOCKSIZE        4096

typedef enum AioMode {
    AIO_MODE_THREADS,
    AIO_MODE_NATIVE,
    AIO_MODE_IO_URING,
} AioMode;

typedef struct BDRVRawState {
    int fd;
    bool is_device;
    bool use_lock;
    AioMode aio;
    size_t buf_align;
    bool has_discard;
    bool has_write_zeroes;
    bool has_fallocate;
    /* Permissions currently expressed in lock bytes. */
    uint64_t locked_perm;
    uint64_t locked_shared;
    /* Before check_perm, to restore on abort. */
    uint64_t old_perm;
    uint64_t old_shared;
    bool perm_change_pending;
    /* Values check_perm validated, applied by set_perm. */
    uint64_t perm;
    uint64_t shared_perm;
    /* The descriptor a reopen prepared, swapped in on commit. */
    int reopen_fd;
} BDRVRawState;

static const char *const aio_mode_names[] = {
    [AIO_MODE_THREADS] = "threads",
    [AIO_MODE_NATIVE] = "native",
    [AIO_MODE_IO_URING] = "io_uring",
};

/* ---- OFD byte-range locks ---- */

static int lock_byte(int fd, int64_t off, bool lock)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = off,
        .l_len = 1,
        .l_type = lock ? F_RDLCK : F_UNLCK,
    };

    return fcntl(fd, F_OFD_SETLK, &fl) == -1 ? -errno : 0;
}

/* Does another open file description hold a lock on byte @off? */
static int test_byte(int fd, int64_t off)
{
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = off,
        .l_len = 1,
        .l_type = F_WRLCK,
    };

    if (fcntl(fd, F_OFD_GETLK, &fl) == -1) {
        return -errno;
    }
    return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
}

static int apply_lock_bytes(BDRVRawState *s, uint64_t perm,
                            uint64_t unshared, bool unlock, Error **errp)
{
    for (int i = 0; i < BLK_PERM_MAX_BITS; i++) {
        uint64_t bit = 1ULL << i;
        int ret = 0;

        if (perm & bit) {
            ret = lock_byte(s->fd, RAW_LOCK_PERM_BASE + i, true);
        } else if (unlock && (s->locked_perm & bit)) {
            ret = lock_byte(s->fd, RAW_LOCK_PERM_BASE + i, false);
        }
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to lock byte %d",
                             RAW_LOCK_PERM_BASE + i);
            return ret;
        }
    }
    for (int i = 0; i < BLK_PERM_MAX_BITS; i++) {
        uint64_t bit = 1ULL << i;
        int ret = 0;

        if (unshared & bit) {
            ret = lock_byte(s->fd, RAW_LOCK_SHARED_BASE + i, true);
        } else if (unlock && !(s->locked_shared & bit)) {
            ret = lock_byte(s->fd, RAW_LOCK_SHARED_BASE + i, false);
        }
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to lock byte %d",
                             RAW_LOCK_SHARED_BASE + i);
            return ret;
        }
    }
    if (unlock) {
        s->locked_perm = perm;
        s->locked_shared = ~unshared & BLK_PERM_ALL;
    } else {
        s->locked_perm |= perm;
        s->locked_shared &= ~unshared;
    }
    return 0;
}

static int check_lock_bytes(BlockDriverState *bs, BDRVRawState *s,
                            uint64_t perm, uint64_t shared, Error **errp)
{
    for (int i = 0; i < BLK_PERM_MAX_BITS; i++) {
        uint64_t bit = 1ULL << i;

        if ((perm & bit) && test_byte(s->fd, RAW_LOCK_SHARED_BASE + i)) {
            error_setg(errp, "Failed to get \"%s\" lock", bdrv_perm_name(bit));
            error_append_hint(errp, "Is another process using the image "
                              "[%s]?\n", bs->filename);
            return -EAGAIN;
        }
    }
    for (int i = 0; i < BLK_PERM_MAX_BITS; i++) {
        uint64_t bit = 1ULL << i;

        if (!(shared & bit) && test_byte(s->fd, RAW_LOCK_PERM_BASE + i)) {
            error_setg(errp, "Failed to get shared \"%s\" lock",
                       bdrv_perm_name(bit));
            error_append_hint(errp, "Is another process using the image "
                              "[%s]?\n", bs->filename);
            return -EAGAIN;
        }
    }
    return 0;
}

static int raw_check_perm(BlockDriverState *bs, uint64_t perm,
                          uint64_t shared, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    uint64_t old_unshared = ~s->locked_shared & BLK_PERM_ALL;
    int ret;

    if (!s->use_lock) {
        return 0;
    }
    s->old_perm = s->locked_perm;
    s->old_shared = s->locked_shared;
    s->perm_change_pending = true;
    /* Take the union first so that there is never a window without locks. */
    ret = apply_lock_bytes(s, s->locked_perm | perm,
                           old_unshared | (~shared & BLK_PERM_ALL), false,
                           errp);
    if (ret == 0) {
        ret = check_lock_bytes(bs, s, perm, shared, errp);
    }
    if (ret < 0) {
        apply_lock_bytes(s, s->old_perm, ~s->old_shared & BLK_PERM_ALL, true,
                         NULL);
        s->perm_change_pending = false;
        return ret;
    }
    s->perm = perm;
    s->shared_perm = shared;
    return 0;
}

static void raw_set_perm(BlockDriverState *bs, uint64_t perm,
                         uint64_t shared)
{
    BDRVRawState *s = bs->opaque;

    if (!s->use_lock) {
        return;
    }
    apply_lock_bytes(s, perm, ~shared & BLK_PERM_ALL, true, NULL);
    s->perm_change_pending = false;
}

static void raw_abort_perm_update(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    if (!s->use_lock || !s->perm_change_pending) {
        return;
    }
    apply_lock_bytes(s, s->old_perm, ~s->old_shared & BLK_PERM_ALL, true,
                     NULL);
    s->perm_change_pending = false;
}

/* ---- open ---- */

static void raw_parse_filename(const char *filename, json_t *options,
                               Error **errp)
{
    strstart(filename, "file:", &filename);
    qdict_put_str(options, "filename", filename);
}

static bool io_is_aligned(int fd, void *buf, size_t len)
{
    ssize_t ret = pread(fd, buf, len, 0);

    return ret >= 0 || errno != EINVAL;
}

/* Find the smallest request and buffer alignment O_DIRECT accepts. */
static void probe_alignment(BlockDriverState *bs, BDRVRawState *s)
{
    static const size_t alignments[] = { 1, 512, 1024, 2048, 4096 };
    unsigned int sector_size;
    uint8_t *buf;

    if (!(bs->open_flags & BDRV_O_NOCACHE)) {
        bs->bl.request_alignment = 1;
        s->buf_align = 1;
        return;
    }
    bs->bl.request_alignment = 0;
    s->buf_align = 0;
    if (s->is_device && ioctl(s->fd, BLKSSZGET, &sector_size) >= 0) {
        bs->bl.request_alignment = sector_size;
    }
    buf = qemu_memalign(MAX_BLOCKSIZE, 2 * MAX_BLOCKSIZE);
    if (!bs->bl.request_alignment) {
        for (size_t i = 0; i < ARRAY_SIZE(alignments); i++) {
            if (io_is_aligned(s->fd, buf, alignments[i])) {
                bs->bl.request_alignment = alignments[i] != 1 ? alignments[i]
                                                              : MAX_BLOCKSIZE;
                break;
            }
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(alignments); i++) {
        if (io_is_aligned(s->fd, buf + alignments[i], MAX_BLOCKSIZE)) {
            s->buf_align = alignments[i] != 1 ? alignments[i] : MAX_BLOCKSIZE;
            break;
        }
    }
    qemu_vfree(buf);
    if (!bs->bl.request_alignment) {
        bs->bl.request_alignment = MAX_BLOCKSIZE;
    }
    if (!s->buf_align) {
        s->buf_align = bs->bl.request_alignment;
    }
}

static void raw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVRawState *s = bs->opaque;

    probe_alignment(bs, s);
    bs->bl.min_mem_alignment = s->buf_align;
    bs->bl.opt_mem_alignment = MAX(s->buf_align, qemu_real_host_page_size());
    bs->bl.max_iov = IOV_MAX;
    if (s->is_device) {
        unsigned int max_sectors;

        if (ioctl(s->fd, BLKSECTGET, &max_sectors) == 0 && max_sectors) {
            bs->bl.max_hw_transfer = max_sectors * 512u;
        }
    }
}

static int parse_aio_mode(const char *str, AioMode *mode, Error **errp)
{
    for (size_t i = 0; i < ARRAY_SIZE(aio_mode_names); i++) {
        if (!strcmp(str, aio_mode_names[i])) {
            *mode = i;
            return 0;
        }
    }
    error_setg(errp, "invalid parameter value: %s", str);
    return -EINVAL;
}

/* The engine used when the user chose none: io_uring where available. */
static AioMode default_aio_mode(int flags)
{
    if (flags & BDRV_O_IO_URING) {
        return AIO_MODE_IO_URING;
    }
    if (flags & BDRV_O_NATIVE_AIO) {
        return AIO_MODE_NATIVE;
    }
    if (flags & BDRV_O_AIO_THREADS) {
        return AIO_MODE_THREADS;
    }
    if (getenv("STRATA_AIO_DEFAULT")) {
        AioMode m;
        if (parse_aio_mode(getenv("STRATA_AIO_DEFAULT"), &m, NULL) == 0) {
            return m;
        }
    }
    return luring_available() ? AIO_MODE_IO_URING : AIO_MODE_THREADS;
}

static int raw_open_common(BlockDriverState *bs, json_t *options, int flags,
                           bool device, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    const char *filename = NULL, *aio = NULL, *locking = NULL;
    const char *pr_manager = NULL;
    bool drop_cache = true, check_cache = false;
    uint64_t max_batch = 0;
    struct stat st;
    int open_flags;

    if (!qdict_get_str_opt(options, "filename", NULL, &filename, errp) ||
        !qdict_get_str_opt(options, "aio", NULL, &aio, errp) ||
        !qdict_get_str_opt(options, "locking", "auto", &locking, errp) ||
        !qdict_get_str_opt(options, "pr-manager", NULL, &pr_manager, errp) ||
        !qdict_get_uint_opt(options, "aio-max-batch", 0, &max_batch, errp) ||
        !qdict_get_bool_opt(options, "drop-cache", true, &drop_cache, errp) ||
        !qdict_get_bool_opt(options, "x-check-cache-dropped", false,
                            &check_cache, errp)) {
        return -EINVAL;
    }
    if (!filename || !*filename) {
        error_setg(errp, "The '%s' block driver requires a file name",
                   bs->drv->format_name);
        return -EINVAL;
    }
    bdrv_set_str(&bs->filename, filename);
    bdrv_set_str(&bs->exact_filename, filename);
    s->reopen_fd = -1;

    s->aio = default_aio_mode(flags);
    if (aio && parse_aio_mode(aio, &s->aio, errp) < 0) {
        return -EINVAL;
    }
    if (s->aio == AIO_MODE_NATIVE && !(flags & BDRV_O_NOCACHE)) {
        error_setg(errp, "aio=native was specified, but it requires "
                   "cache.direct=on, which was not specified.");
        return -EINVAL;
    }
    if (!strcmp(locking, "on") || !strcmp(locking, "auto")) {
        s->use_lock = true;
    } else if (!strcmp(locking, "off")) {
        s->use_lock = false;
    } else {
        error_setg(errp, "invalid parameter value: %s", locking);
        return -EINVAL;
    }
    if (pr_manager) {
        error_setg(errp, "pr-manager can only be used with host_device");
        return -EINVAL;
    }

    open_flags = O_CLOEXEC | ((flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY);
    if (flags & BDRV_O_NOCACHE) {
        open_flags |= O_DIRECT;
    }
    s->fd = open(filename, open_flags);
    if (s->fd < 0 && (flags & BDRV_O_RDWR) && (flags & BDRV_O_AUTO_RDONLY) &&
        (errno == EACCES || errno == EROFS)) {
        open_flags = (open_flags & ~O_RDWR) | O_RDONLY;
        s->fd = open(filename, open_flags);
        if (s->fd >= 0) {
            bs->open_flags &= ~BDRV_O_RDWR;
            bs->read_only = true;
        }
    }
    if (s->fd < 0) {
        int err = errno;

        error_setg_errno(errp, err, "Could not open '%s'", filename);
        s->fd = -1;
        return -err;
    }
    if (fstat(s->fd, &st) < 0) {
        int err = errno;

        error_setg_errno(errp, err, "Could not stat file");
        close(s->fd);
        s->fd = -1;
        return -err;
    }
    if (!device && !S_ISREG(st.st_mode)) {
        error_setg(errp, "A regular file was expected by the 'file' driver, "
                   "but something else was given");
        close(s->fd);
        s->fd = -1;
        return -EINVAL;
    }
    if (device && !S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode)) {
        error_setg(errp, "'host_device' driver expects either a character "
                   "or block device");
        close(s->fd);
        s->fd = -1;
        return -EINVAL;
    }
    s->is_device = device && S_ISBLK(st.st_mode);
    s->has_discard = true;
    s->has_write_zeroes = true;
    s->has_fallocate = true;

    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    bs->supported_truncate_flags = BDRV_REQ_ZERO_WRITE;

    json_object_del(options, "filename");
    json_object_del(options, "aio");
    json_object_del(options, "locking");
    json_object_del(options, "pr-manager");
    json_object_del(options, "aio-max-batch");
    json_object_del(options, "drop-cache");
    json_object_del(options, "x-check-cache-dropped");
    return 0;
}

static int raw_open(BlockDriverState *bs, json_t *options, int flags,
                    Error **errp)
{
    return raw_open_common(bs, options, flags, false, errp);
}

static int hdev_open(BlockDriverState *bs, json_t *options, int flags,
                     Error **errp)
{
    return raw_open_common(bs, options, flags, true, errp);
}

static void raw_close(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

/* ---- reopen ---- */

static int raw_reopen_prepare(BlockDriverState *bs, json_t *options,
                              int flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    int open_flags = O_CLOEXEC | ((flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY);

    if (s->aio == AIO_MODE_NATIVE && !(flags & BDRV_O_NOCACHE)) {
        error_setg(errp, "aio=native was specified, but it requires "
                   "cache.direct=on, which was not specified.");
        return -EINVAL;
    }
    if (flags & BDRV_O_NOCACHE) {
        open_flags |= O_DIRECT;
    }
    s->reopen_fd = open(bs->filename, open_flags);
    if (s->reopen_fd < 0) {
        int err = errno;

        error_setg_errno(errp, err, "Could not reopen file");
        return -err;
    }
    return 0;
}

static void raw_reopen_commit(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    uint64_t perm = s->locked_perm, shared = s->locked_shared;
    int old_fd = s->fd;

    /* Locks belong to the open file description: take them on the new one. */
    s->fd = s->reopen_fd;
    s->reopen_fd = -1;
    if (s->use_lock) {
        s->locked_perm = 0;
        s->locked_shared = BLK_PERM_ALL;
        apply_lock_bytes(s, perm, ~shared & BLK_PERM_ALL, false, NULL);
    }
    close(old_fd);
}

static void raw_reopen_abort(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    if (s->reopen_fd >= 0) {
        close(s->reopen_fd);
        s->reopen_fd = -1;
    }
}

static int hdev_probe_device(const char *filename)
{
    struct stat st;

    if (strstart(filename, "/dev/cdrom", NULL)) {
        return 50;
    }
    if (stat(filename, &st) >= 0 &&
        (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
        return 100;
    }
    return 0;
}

/* ---- I/O ---- */

typedef struct RawAioCB {
    int fd;
    int64_t offset;
    int64_t bytes;
    struct iovec *iov;
    int niov;
    AioEngineOp op;
    int fallocate_mode;
} RawAioCB;

/* Blocking read/write in a worker thread; short transfers are continued. */
static int handle_rw(void *opaque)
{
    RawAioCB *cb = opaque;
    struct iovec small[16];
    g_autofree struct iovec *big = NULL;
    struct iovec *iov = cb->niov <= 16 ? small
                                       : (big = g_new(struct iovec, cb->niov));
    int niov = cb->niov;
    int64_t offset = cb->offset;
    int64_t left = cb->bytes;

    memcpy(iov, cb->iov, niov * sizeof(*iov));
    while (left > 0) {
        ssize_t n = cb->op == AIO_ENGINE_READ
                    ? preadv(cb->fd, iov, MIN(niov, IOV_MAX), offset)
                    : pwritev(cb->fd, iov, MIN(niov, IOV_MAX), offset);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            if (cb->op == AIO_ENGINE_READ) {
                /* End of file: the rest reads as zeroes. */
                for (int i = 0; i < niov; i++) {
                    memset(iov[i].iov_base, 0, iov[i].iov_len);
                }
                return 0;
            }
            return -ENOSPC;
        }
        offset += n;
        left -= n;
        while (n > 0 && niov > 0) {
            if ((size_t)n >= iov->iov_len) {
                n -= iov->iov_len;
                iov++;
                niov--;
            } else {
                iov->iov_base = (char *)iov->iov_base + n;
                iov->iov_len -= n;
                n = 0;
            }
        }
    }
    return 0;
}

static int handle_flush(void *opaque)
{
    RawAioCB *cb = opaque;

    return fdatasync(cb->fd) < 0 ? -errno : 0;
}

static int handle_fallocate(void *opaque)
{
    RawAioCB *cb = opaque;

    if (fallocate(cb->fd, cb->fallocate_mode, cb->offset, cb->bytes) < 0) {
        int err = errno;

        if (err == EOPNOTSUPP || err == ENOSYS) {
            return -ENOTSUP;
        }
        return -err;
    }
    return 0;
}

static int coroutine_fn raw_submit(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, struct iovec *iov,
                                   int niov, AioEngineOp op)
{
    BDRVRawState *s = bs->opaque;
    RawAioCB cb = {
        .fd = s->fd, .offset = offset, .bytes = bytes,
        .iov = iov, .niov = niov, .op = op,
    };

    if (s->aio == AIO_MODE_IO_URING) {
        LuringState *ls = aio_setup_linux_io_uring(
            qemu_get_current_aio_context(), NULL);

        if (ls) {
            return luring_co_submit(ls, s->fd, offset, iov, niov, op);
        }
        /* Fall back to threads when the ring cannot be set up. */
        s->aio = AIO_MODE_THREADS;
    } else if (s->aio == AIO_MODE_NATIVE) {
        LinuxAioState *la = aio_setup_linux_aio(
            qemu_get_current_aio_context(), NULL);

        if (la) {
            return laio_co_submit(la, s->fd, offset, iov, niov, op);
        }
        s->aio = AIO_MODE_THREADS;
    }
    return thread_pool_submit_co(handle_rw, &cb);
}

/* O_DIRECT needs every buffer address and length aligned. */
static bool qiov_is_aligned(QEMUIOVector *qiov, size_t align)
{
    for (int i = 0; i < qiov->niov; i++) {
        if (!QEMU_PTR_IS_ALIGNED(qiov->iov[i].iov_base, align) ||
            !QEMU_IS_ALIGNED(qiov->iov[i].iov_len, align)) {
            return false;
        }
    }
    return true;
}

static int coroutine_fn raw_co_rw(BlockDriverState *bs, int64_t offset,
                                  int64_t bytes, QEMUIOVector *qiov,
                                  size_t qiov_offset, AioEngineOp op)
{
    BDRVRawState *s = bs->opaque;
    QEMUIOVector slice;
    bool sliced = false;
    int ret;

    if (s->fd < 0) {
        return -EBADF;
    }
    if (qiov_offset || (int64_t)qiov->size != bytes) {
        qemu_iovec_init_slice(&slice, qiov, qiov_offset, bytes);
        qiov = &slice;
        sliced = true;
    }
    if ((bs->open_flags & BDRV_O_NOCACHE) &&
        !qiov_is_aligned(qiov, s->buf_align)) {
        void *buf = qemu_try_memalign(MAX(s->buf_align, 512), bytes);
        struct iovec iov = { .iov_base = buf, .iov_len = bytes };

        if (!buf) {
            ret = -ENOMEM;
            goto out;
        }
        if (op == AIO_ENGINE_WRITE) {
            qemu_iovec_to_buf(qiov, 0, buf, bytes);
        }
        ret = raw_submit(bs, offset, bytes, &iov, 1, op);
        if (ret == 0 && op == AIO_ENGINE_READ) {
            qemu_iovec_from_buf(qiov, 0, buf, bytes);
        }
        qemu_vfree(buf);
    } else {
        ret = raw_submit(bs, offset, bytes, qiov->iov, qiov->niov, op);
    }
out:
    if (sliced) {
        qemu_iovec_destroy(&slice);
    }
    return ret;
}

static int coroutine_fn raw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset,
                                      BdrvRequestFlags flags)
{
    return raw_co_rw(bs, offset, bytes, qiov, qiov_offset, AIO_ENGINE_READ);
}

static int coroutine_fn raw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       size_t qiov_offset,
                                       BdrvRequestFlags flags)
{
    return raw_co_rw(bs, offset, bytes, qiov, qiov_offset, AIO_ENGINE_WRITE);
}

static int coroutine_fn raw_co_flush_to_disk(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    RawAioCB cb = { .fd = s->fd };

    if (s->fd < 0) {
        return -EBADF;
    }
    if (s->aio == AIO_MODE_IO_URING) {
        LuringState *ls = aio_setup_linux_io_uring(
            qemu_get_current_aio_context(), NULL);
        if (ls) {
            return luring_co_submit(ls, s->fd, 0, NULL, 0, AIO_ENGINE_FLUSH);
        }
    }
    return thread_pool_submit_co(handle_flush, &cb);
}

static int coroutine_fn do_fallocate(BDRVRawState *s, int mode,
                                     int64_t offset, int64_t bytes)
{
    RawAioCB cb = { .fd = s->fd, .offset = offset, .bytes = bytes,
                    .fallocate_mode = mode };

    return thread_pool_submit_co(handle_fallocate, &cb);
}

static int coroutine_fn raw_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    BDRVRawState *s = bs->opaque;
    int ret;

    if (!s->has_discard || s->is_device) {
        return -ENOTSUP;
    }
    ret = do_fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       offset, bytes);
    if (ret == -ENOTSUP) {
        s->has_discard = false;
    }
    return ret;
}

static int coroutine_fn raw_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    BDRVRawState *s = bs->opaque;
    int64_t len;
    int ret;

    if (s->is_device) {
        return -ENOTSUP;
    }
    if ((flags & BDRV_REQ_MAY_UNMAP) && s->has_discard) {
        /* Punching a hole zeroes and deallocates in one step. */
        len = bdrv_getlength(bs);
        if (len >= 0 && offset + bytes <= len) {
            ret = do_fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                               offset, bytes);
            if (ret != -ENOTSUP) {
                return ret;
            }
            s->has_discard = false;
        }
    }
    if (s->has_write_zeroes) {
        ret = do_fallocate(s, FALLOC_FL_ZERO_RANGE, offset, bytes);
        if (ret != -ENOTSUP) {
            return ret;
        }
        s->has_write_zeroes = false;
    }
    if (s->has_discard && s->has_fallocate) {
        len = bdrv_getlength(bs);
        ret = do_fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           offset, bytes);
        if (ret == 0) {
            /* Reallocate so that later writes cannot fail for space. */
            ret = do_fallocate(s, 0, offset, bytes);
            if (ret == 0 || ret != -ENOTSUP) {
                return ret;
            }
            s->has_fallocate = false;
        } else if (ret != -ENOTSUP) {
            return ret;
        } else {
            s->has_discard = false;
        }
    }
    return -ENOTSUP;
}

/* ---- status, size ---- */

static int find_allocation(BDRVRawState *s, int64_t start, int64_t *data,
                           int64_t *hole)
{
    off_t offs;

    offs = lseek(s->fd, start, SEEK_DATA);
    if (offs < 0) {
        return -errno;   /* ENXIO: start is in a trailing hole */
    }
    if (offs < start) {
        return -EIO;
    }
    if (offs > start) {
        *hole = start;
        *data = offs;
        return 0;
    }
    offs = lseek(s->fd, start, SEEK_HOLE);
    if (offs < 0) {
        return -errno;
    }
    if (offs < start) {
        return -EIO;
    }
    *data = start;
    *hole = offs;
    return 0;
}

static int coroutine_fn raw_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;
    int64_t data = 0, hole = 0;
    int ret;

    ret = s->fd < 0 ? -EBADF : 0;
    if (ret < 0) {
        return ret;
    }
    if (!want_zero) {
        *pnum = bytes;
        *map = offset;
        *file = bs;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    ret = find_allocation(s, offset, &data, &hole);
    if (ret == -ENXIO) {
        *pnum = bytes;
        ret = BDRV_BLOCK_ZERO;
    } else if (ret < 0) {
        /* No information: assume data. */
        *pnum = bytes;
        ret = BDRV_BLOCK_DATA;
    } else if (data == offset) {
        *pnum = MIN(bytes, hole - offset);
        /* Never report partial blocks: round up at the end of the file. */
        if (!QEMU_IS_ALIGNED(*pnum, bs->bl.request_alignment)) {
            *pnum = ROUND_UP(*pnum, bs->bl.request_alignment);
        }
        ret = BDRV_BLOCK_DATA;
    } else {
        *pnum = MIN(bytes, data - offset);
        ret = BDRV_BLOCK_ZERO;
    }
    *map = offset;
    *file = bs;
    return ret | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (s->fd < 0) {
        return -EBADF;
    }
    if (s->is_device) {
        uint64_t size;

        if (ioctl(s->fd, BLKGETSIZE64, &size) == 0) {
            return size;
        }
        off_t end = lseek(s->fd, 0, SEEK_END);
        return end < 0 ? -errno : end;
    }
    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    if (S_ISCHR(st.st_mode)) {
        off_t end = lseek(s->fd, 0, SEEK_END);
        return end < 0 ? 0 : end;
    }
    return st.st_size;
}

/* Nothing to report, but asking is not an error (qemu-io "info"). */
static int raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return 0;
}

static int64_t raw_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512;
}

/* ---- truncate and preallocation ---- */

static int fill_zeroes(int fd, int64_t from, int64_t to, Error **errp)
{
    const size_t chunk = 1 * MiB;
    g_autofree char *buf = g_malloc0(chunk);

    while (from < to) {
        ssize_t n = pwrite(fd, buf, MIN((int64_t)chunk, to - from), from);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_setg_errno(errp, errno, "Could not write zeros for "
                             "preallocation");
            return -errno;
        }
        from += n;
    }
    return 0;
}

/*
 * A new image gets its first block really allocated, as QEMU does: some
 * file systems report alignment and allocation more usefully then.
 */
static void allocate_first_block(int fd, int64_t max_size)
{
    size_t len = max_size < MAX_BLOCKSIZE ? BDRV_SECTOR_SIZE : MAX_BLOCKSIZE;
    g_autofree void *buf = qemu_memalign(MAX_BLOCKSIZE, len);
    ssize_t n;

    memset(buf, 0, len);
    do {
        n = pwrite(fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    /* Best effort: the image is valid either way. */
}

/* Resize a regular file to exactly @offset with the given preallocation. */
static int regular_truncate(int fd, int64_t offset, PreallocMode prealloc,
                            Error **errp)
{
    struct stat st;
    int64_t current;
    int ret;

    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "Could not stat file");
        return -errno;
    }
    current = st.st_size;

    switch (prealloc) {
    case PREALLOC_MODE_OFF:
        if (ftruncate(fd, offset) < 0) {
            ret = -errno;
            error_setg_errno(errp, -ret, "Could not resize file");
            return ret;
        }
        if (current == 0 && offset > 0) {
            allocate_first_block(fd, offset);
        }
        return 0;
    case PREALLOC_MODE_FALLOC:
        if (offset > current) {
            ret = posix_fallocate(fd, current, offset - current);
            if (ret) {
                error_setg_errno(errp, ret, "Could not preallocate new data");
                return -ret;
            }
            /* fallocated blocks read unaligned fine: help the probe. */
            if (current == 0) {
                allocate_first_block(fd, offset);
            }
        } else if (ftruncate(fd, offset) < 0) {
            ret = -errno;
            error_setg_errno(errp, -ret, "Could not resize file");
            return ret;
        }
        return 0;
    case PREALLOC_MODE_FULL:
        if (offset > current) {
            /* Allocate first, then make sure the data really is written. */
            if (ftruncate(fd, offset) < 0) {
                ret = -errno;
                error_setg_errno(errp, -ret, "Could not resize file");
                return ret;
            }
            ret = fill_zeroes(fd, current, offset, errp);
            if (ret < 0) {
                if (ftruncate(fd, current) < 0) {
                    /* Best effort to undo a partial preallocation. */
                }
                return ret;
            }
            if (fsync(fd) < 0) {
                ret = -errno;
                error_setg_errno(errp, -ret, "Could not flush file to disk");
                return ret;
            }
        } else if (ftruncate(fd, offset) < 0) {
            ret = -errno;
            error_setg_errno(errp, -ret, "Could not resize file");
            return ret;
        }
        return 0;
    default:
        error_setg(errp, "Unsupported preallocation mode: %s",
                   PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
}

typedef struct TruncateCB {
    int fd;
    int64_t offset;
    PreallocMode prealloc;
    Error **errp;
} TruncateCB;

static int handle_truncate(void *opaque)
{
    TruncateCB *t = opaque;

    return regular_truncate(t->fd, t->offset, t->prealloc, t->errp);
}

static int coroutine_fn raw_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        error_setg_errno(errp, errno, "Failed to fstat() the file");
        return -errno;
    }
    if (S_ISREG(st.st_mode)) {
        TruncateCB t = { s->fd, offset, prealloc, errp };

        return thread_pool_submit_co(handle_truncate, &t);
    }
    if (prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "Preallocation mode '%s' unsupported for this "
                   "non-regular file", PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    {
        int64_t cur = raw_getlength(bs);

        if (cur < 0) {
            error_setg_errno(errp, -cur, "Failed to inquire current file "
                             "length");
            return cur;
        }
        if (exact && offset != cur) {
            error_setg(errp, "Cannot resize device files");
            return -ENOTSUP;
        }
        if (offset > cur) {
            error_setg(errp, "Cannot grow device files");
            return -EINVAL;
        }
    }
    return 0;
}

/* ---- create ---- */

static QemuOptsList raw_create_opts = {
    .name = "raw-create-opts",
    .desc = {
        {
            .name = "size",
            .type = QEMU_OPT_SIZE,
            .help = "Virtual disk size"
        },
        {
            .name = "nocow",
            .type = QEMU_OPT_BOOL,
            .help = "Turn off copy-on-write (valid only on btrfs)"
        },
        {
            .name = "preallocation",
            .type = QEMU_OPT_STRING,
            .help = "Preallocation mode (allowed values: off, falloc, full)"
        },
        {
            .name = "extent_size_hint",
            .type = QEMU_OPT_SIZE,
            .help = "Extent size hint for the image file, 0 to disable"
        },
        { /* end of list */ }
    },
};

/*
 * Create (or empty) @filename and give it @size bytes, locked as QEMU
 * locks it meanwhile: nobody may resize it, others may still use it.
 */
static int raw_create_file(const char *filename, int64_t size,
                           PreallocMode prealloc, bool nocow,
                           bool has_extent_size_hint,
                           uint64_t extent_size_hint, Error **errp)
{
    BDRVRawState tmp = { .use_lock = true };
    BlockDriverState tmp_bs = { 0 };
    int ret;

    if (prealloc == PREALLOC_MODE_METADATA) {
        error_setg(errp, "Unsupported preallocation mode: %s",
                   PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    tmp.fd = open(filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (tmp.fd < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not create '%s'", filename);
        return ret;
    }
    /*
     * Refuse to resize an image whose size someone else relies on (as
     * QEMU does: only resize is unshared while creating).
     */
    tmp_bs.filename = (char *)filename;
    ret = apply_lock_bytes(&tmp, BLK_PERM_WRITE | BLK_PERM_RESIZE,
                           BLK_PERM_RESIZE, false, errp);
    if (ret == 0) {
        ret = check_lock_bytes(&tmp_bs, &tmp, BLK_PERM_WRITE | BLK_PERM_RESIZE,
                               BLK_PERM_ALL & ~BLK_PERM_RESIZE, errp);
    }
    if (ret < 0) {
        close(tmp.fd);
        return ret;
    }
    /* Empty it first so that preallocation covers every byte. */
    if (ftruncate(tmp.fd, 0) < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not clear the file");
        close(tmp.fd);
        return ret;
    }
    if (nocow) {
        /* btrfs: an optimisation only, failures do not matter. */
        int attr;

        if (ioctl(tmp.fd, FS_IOC_GETFLAGS, &attr) == 0) {
            attr |= FS_NOCOW_FL;
            ioctl(tmp.fd, FS_IOC_SETFLAGS, &attr);
        }
    }
    {
        /* XFS: fewer, larger extents; only a hint, as in QEMU. */
        struct fsxattr attr;
        int r = ioctl(tmp.fd, FS_IOC_FSGETXATTR, &attr);

        if (r == 0) {
            attr.fsx_xflags |= FS_XFLAG_EXTSIZE;
            attr.fsx_extsize = extent_size_hint;
            r = ioctl(tmp.fd, FS_IOC_FSSETXATTR, &attr);
        }
        if (r < 0 && has_extent_size_hint && extent_size_hint) {
            warn_report("Failed to set extent size hint: %s",
                        strerror(errno));
        }
    }
    ret = regular_truncate(tmp.fd, size, prealloc, errp);
    if (close(tmp.fd) < 0 && ret == 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not close the new file");
    }
    return ret;
}

static int coroutine_fn raw_co_create_opts(BlockDriver *drv,
                                           const char *filename,
                                           QemuOpts *opts, Error **errp)
{
    g_autofree char *prealloc_str = NULL;
    int64_t total_size;
    Error *local_err = NULL;
    int ret;

    strstart(filename, "file:", &filename);
    total_size = ROUND_UP(qemu_opt_get_size_del(opts, "size", 0),
                          BDRV_SECTOR_SIZE);
    prealloc_str = qemu_opt_get_del(opts, "preallocation");
    ret = qapi_enum_parse(&PreallocMode_lookup, prealloc_str,
                          PREALLOC_MODE_OFF, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        return -EINVAL;
    }
    return raw_create_file(filename, total_size, ret, false, false, 0, errp);
}

static int coroutine_fn raw_co_create(BlockdevCreateOptions *options,
                                      Error **errp)
{
    BlockdevCreateOptionsFile *o = &options->u.file;
    uint64_t hint = o->has_extent_size_hint ? o->extent_size_hint : 1 * MiB;

    assert(options->driver == BLOCKDEV_DRIVER_FILE);
    if (hint > UINT32_MAX) {
        error_setg(errp, "Extent size hint is too large");
        return -EINVAL;
    }
    return raw_create_file(o->filename, o->size,
                           o->has_preallocation ? o->preallocation
                                                : PREALLOC_MODE_OFF,
                           o->has_nocow && o->nocow,
                           o->has_extent_size_hint, hint, errp);
}

static const char *const raw_strong_runtime_opts[] = {
    NULL,
};

BlockDriver bdrv_file = {
    .format_name = "file",
    .protocol_name = "file",
    .instance_size = sizeof(BDRVRawState),
    .bdrv_needs_filename = true,
    .bdrv_parse_filename = raw_parse_filename,
    .bdrv_file_open = raw_open,
    .bdrv_close = raw_close,
    .bdrv_co_create = raw_co_create,
    .bdrv_co_create_opts = raw_co_create_opts,
    .create_opts = &raw_create_opts,
    .strong_runtime_opts = raw_strong_runtime_opts,
    .bdrv_co_preadv_part = raw_co_preadv,
    .bdrv_co_pwritev_part = raw_co_pwritev,
    .bdrv_co_flush_to_disk = raw_co_flush_to_disk,
    .bdrv_co_pdiscard = raw_co_pdiscard,
    .bdrv_co_pwrite_zeroes = raw_co_pwrite_zeroes,
    .bdrv_co_block_status = raw_co_block_status,
    .bdrv_co_truncate = raw_co_truncate,
    .bdrv_getlength = raw_getlength,
    .bdrv_get_allocated_file_size = raw_get_allocated_file_size,
    .bdrv_get_info = raw_get_info,
    .bdrv_refresh_limits = raw_refresh_limits,
    .bdrv_check_perm = raw_check_perm,
    .bdrv_set_perm = raw_set_perm,
    .bdrv_abort_perm_update = raw_abort_perm_update,
    .bdrv_reopen_prepare = raw_reopen_prepare,
    .bdrv_reopen_commit = raw_reopen_commit,
    .bdrv_reopen_abort = raw_reopen_abort,
};

BlockDriver bdrv_host_device = {
    .format_name = "host_device",
    .protocol_name = "host_device",
    .instance_size = sizeof(BDRVRawState),
    .bdrv_needs_filename = true,
    .has_variable_length = true,
    .bdrv_probe_device = hdev_probe_device,
    .bdrv_parse_filename = raw_parse_filename,
    .bdrv_file_open = hdev_open,
    .bdrv_close = raw_close,
    .bdrv_co_create_opts = raw_co_create_opts,
    .create_opts = &raw_create_opts,
    .strong_runtime_opts = raw_strong_runtime_opts,
    .bdrv_co_preadv_part = raw_co_preadv,
    .bdrv_co_pwritev_part = raw_co_pwritev,
    .bdrv_co_flush_to_disk = raw_co_flush_to_disk,
    .bdrv_co_pdiscard = raw_co_pdiscard,
    .bdrv_co_pwrite_zeroes = raw_co_pwrite_zeroes,
    .bdrv_co_truncate = raw_co_truncate,
    .bdrv_getlength = raw_getlength,
    .bdrv_get_allocated_file_size = raw_get_allocated_file_size,
    .bdrv_get_info = raw_get_info,
    .bdrv_refresh_limits = raw_refresh_limits,
    .bdrv_check_perm = raw_check_perm,
    .bdrv_set_perm = raw_set_perm,
    .bdrv_abort_perm_update = raw_abort_perm_update,
    .bdrv_reopen_prepare = raw_reopen_prepare,
    .bdrv_reopen_commit = raw_reopen_commit,
    .bdrv_reopen_abort = raw_reopen_abort,
};

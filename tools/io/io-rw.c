/*
 * qemu-io's data commands: read, readv, write, writev, their aio_ forms,
 * aio_flush and discard, with pattern checks, hex dumps and statistics.
 */
#include "strata/osdep.h"

#include "block/block_int.h"
#include "tools/io-format.h"
#include "io-int.h"

/* qemu-io -m: buffers start this far past the alignment O_DIRECT wants. */
#define MISALIGN_OFFSET 16

/* ---- buffers ---- */

static void *io_alloc(QemuIOSession *s, BlockBackend *blk, size_t len,
                      int fill)
{
    size_t extra = qemuio_session_misalign(s) ? MISALIGN_OFFSET : 0;
    uint8_t *buf = blk_blockalign(blk, len + extra);

    memset(buf, fill, len + extra);
    return buf + extra;
}

static void io_free(bool misalign, void *buf)
{
    if (buf) {
        qemu_vfree((uint8_t *)buf - (misalign ? MISALIGN_OFFSET : 0));
    }
}

/*
 * A buffer of @len bytes filled with the contents of @path, repeated if
 * the file is shorter.  Errors are printed; returns NULL then.
 */
static void *io_alloc_from_file(QemuIOSession *s, BlockBackend *blk,
                                size_t len, const char *path)
{
    uint8_t *buf;
    size_t got;
    FILE *f;

    f = fopen(path, "r");
    if (!f) {
        qemuio_eprintf(s, "%s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = io_alloc(s, blk, len, 0);
    got = fread(buf, 1, len, f);
    if (ferror(f)) {
        qemuio_eprintf(s, "%s: %s\n", path, strerror(errno));
        goto fail;
    }
    if (got == 0) {
        qemuio_eprintf(s, "%s: file is empty\n", path);
        goto fail;
    }
    fclose(f);
    for (size_t done = got; done < len; done += got) {
        memcpy(buf + done, buf, MIN(got, len - done));
    }
    return buf;

fail:
    fclose(f);
    io_free(qemuio_session_misalign(s), buf);
    return NULL;
}

/*
 * One buffer for all the lengths in @args, and @qiov over consecutive
 * pieces of it.  Errors are printed; returns NULL then.
 */
static void *io_alloc_vector(QemuIOSession *s, BlockBackend *blk,
                             QEMUIOVector *qiov, char **args, int nr,
                             int fill)
{
    g_autofree int64_t *sizes = g_new(int64_t, nr);
    int64_t total = 0;
    uint8_t *buf;

    for (int i = 0; i < nr; i++) {
        int64_t len = qemuio_parse_num(args[i]);

        if (len < 0) {
            qemuio_print_num_error(s, len, args[i]);
            return NULL;
        }
        if (len > BDRV_REQUEST_MAX_BYTES) {
            qemuio_printf(s, "Argument '%s' exceeds maximum size %" PRIu64
                          "\n", args[i], (uint64_t)BDRV_REQUEST_MAX_BYTES);
            return NULL;
        }
        if (total > BDRV_REQUEST_MAX_BYTES - len) {
            qemuio_printf(s, "The total number of bytes exceed the maximum "
                          "size %" PRIu64 "\n",
                          (uint64_t)BDRV_REQUEST_MAX_BYTES);
            return NULL;
        }
        sizes[i] = len;
        total += len;
    }

    buf = io_alloc(s, blk, total, fill);
    qemu_iovec_init(qiov, nr);
    for (size_t i = 0, pos = 0; i < (size_t)nr; pos += sizes[i], i++) {
        qemu_iovec_add(qiov, buf + pos, sizes[i]);
    }
    return buf;
}

/* Print the verification failure and return false if @buf is not all @pattern. */
static bool check_pattern(QemuIOSession *s, const uint8_t *buf, int pattern,
                          int64_t offset, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        if (buf[i] != pattern) {
            qemuio_printf(s, "Pattern verification failed at offset %"
                          PRId64 ", %" PRId64 " bytes\n", offset, len);
            return false;
        }
    }
    return true;
}

static void dump(QemuIOSession *s, const void *buf, int64_t offset,
                 int64_t len)
{
    g_autofree char *text = qemuio_dump_str(buf, offset, len);

    qemuio_printf(s, "%s", text);
}

/* Parse an offset or length operand, printing the error. */
static bool parse_num_arg(QemuIOSession *s, const char *arg, int64_t *value)
{
    *value = qemuio_parse_num(arg);
    if (*value < 0) {
        qemuio_print_num_error(s, *value, arg);
        return false;
    }
    return true;
}

static bool check_sector_aligned(QemuIOSession *s, int64_t value,
                                 const char *what)
{
    if (!QEMU_IS_ALIGNED(value, BDRV_SECTOR_SIZE)) {
        qemuio_printf(s, "%" PRId64 " is not a sector-aligned value for "
                      "'%s'\n", value, what);
        return false;
    }
    return true;
}

/*
 * The VM state area (-b) belongs to formats that can hold it (qcow2);
 * the Strata block layer has no such format yet, and for the others
 * QEMU fails the request the same way.
 */
static int vmstate_io(BlockBackend *blk, int64_t offset, int64_t bytes,
                      void *buf, bool write)
{
    return -ENOTSUP;
}

/* ---- read ---- */

void qemuio_read_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" reads a range of bytes from the given offset\n"
"\n"
" Example:\n"
" 'read -v 512 1k' - dumps 1 kilobyte read from 512 bytes into the file\n"
"\n"
" Reads a segment of the currently open file, optionally dumping it to the\n"
" standard output stream (with -v option) for subsequent inspection.\n"
" -b, -- read from the VM state rather than the virtual disk\n"
" -C, -- report statistics in a machine parsable format\n"
" -l, -- length for pattern verification (only with -P)\n"
" -p, -- ignored for backwards compatibility\n"
" -P, -- use a pattern to verify read data\n"
" -q, -- quiet mode, do not show I/O statistics\n"
" -s, -- start offset for pattern verification (only with -P)\n"
" -v, -- dump buffer to standard output\n"
"\n");
}

static const QemuIOCommand read_usage = {
    .name = "read",
    .args = "[-abCqv] [-P pattern [-s off] [-l len]] off len",
    .oneline = "reads a number of bytes at a specified offset",
};

int qemuio_read_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    bool machine = false, quiet = false, verbose = false, vmstate = false;
    bool has_pattern = false, has_start = false, has_len = false;
    int64_t check_start = 0, check_len = 0;
    int64_t offset, count, start_ns, elapsed;
    int pattern = 0;
    uint8_t *buf;
    QemuIOOptParser p;
    int c, ret;

    qemuio_opt_init(&p, s, argc, argv, "bCqP:l:ps:v");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'b':
            vmstate = true;
            break;
        case 'C':
            machine = true;
            break;
        case 'l':
            has_len = true;
            if (!parse_num_arg(s, p.optarg, &check_len)) {
                return check_len;
            }
            break;
        case 'p':
            break;
        case 'P':
            has_pattern = true;
            pattern = qemuio_parse_pattern(p.optarg);
            if (pattern < 0) {
                qemuio_printf(s, "%s is not a valid pattern byte\n",
                              p.optarg);
                return -EINVAL;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            has_start = true;
            if (!parse_num_arg(s, p.optarg, &check_start)) {
                return check_start;
            }
            break;
        case 'v':
            verbose = true;
            break;
        default:
            qemuio_command_usage(s, &read_usage);
            return -EINVAL;
        }
    }
    if (p.optind != argc - 2) {
        qemuio_command_usage(s, &read_usage);
        return -EINVAL;
    }
    if (!parse_num_arg(s, argv[p.optind], &offset)) {
        return offset;
    }
    if (!parse_num_arg(s, argv[p.optind + 1], &count)) {
        return count;
    }
    if (count > BDRV_REQUEST_MAX_BYTES) {
        qemuio_printf(s, "length cannot exceed %" PRIu64 ", given %s\n",
                      (uint64_t)BDRV_REQUEST_MAX_BYTES, argv[p.optind + 1]);
        return -EINVAL;
    }
    if (!has_pattern && (has_len || has_start)) {
        qemuio_command_usage(s, &read_usage);
        return -EINVAL;
    }
    if (!has_len) {
        check_len = count - check_start;
    }
    if (check_len < 0 || check_len + check_start > count) {
        qemuio_printf(s, "pattern verification range exceeds end of read "
                      "data\n");
        return -EINVAL;
    }
    if (vmstate && (!check_sector_aligned(s, offset, "offset") ||
                    !check_sector_aligned(s, count, "count"))) {
        return -EINVAL;
    }

    buf = io_alloc(s, blk, count, QEMUIO_READ_FILL);
    start_ns = get_clock_ns();
    if (vmstate) {
        ret = vmstate_io(blk, offset, count, buf, false);
    } else {
        ret = blk_pread(blk, offset, count, buf, 0);
    }
    elapsed = get_clock_ns() - start_ns;
    if (ret < 0) {
        qemuio_printf(s, "read failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;

    if (has_pattern &&
        !check_pattern(s, buf + check_start, pattern, offset + check_start,
                       check_len)) {
        ret = -EINVAL;
    }
    if (quiet) {
        goto out;
    }
    if (verbose) {
        dump(s, buf, offset, count);
    }
    qemuio_print_stats(s, "read", elapsed, offset, count, count, 1, machine);

out:
    io_free(qemuio_session_misalign(s), buf);
    return ret;
}

/* ---- readv ---- */

void qemuio_readv_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" reads a range of bytes from the given offset into multiple buffers\n"
"\n"
" Example:\n"
" 'readv -v 512 1k 1k ' - dumps 2 kilobytes read from 512 bytes into the file\n"
"\n"
" Reads a segment of the currently open file, optionally dumping it to the\n"
" standard output stream (with -v option) for subsequent inspection.\n"
" Uses multiple iovec buffers if more than one byte range is specified.\n"
" -C, -- report statistics in a machine parsable format\n"
" -P, -- use a pattern to verify read data\n"
" -v, -- dump buffer to standard output\n"
" -q, -- quiet mode, do not show I/O statistics\n"
"\n");
}

static const QemuIOCommand readv_usage = {
    .name = "readv",
    .args = "[-Cqv] [-P pattern] off len [len..]",
    .oneline = "reads a number of bytes at a specified offset",
};

int qemuio_readv_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    bool machine = false, quiet = false, verbose = false;
    bool has_pattern = false;
    int pattern = 0;
    int64_t offset, start_ns, elapsed;
    QEMUIOVector qiov;
    uint8_t *buf;
    QemuIOOptParser p;
    int c, ret;

    qemuio_opt_init(&p, s, argc, argv, "CP:qv");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'C':
            machine = true;
            break;
        case 'P':
            has_pattern = true;
            pattern = qemuio_parse_pattern(p.optarg);
            if (pattern < 0) {
                qemuio_printf(s, "%s is not a valid pattern byte\n",
                              p.optarg);
                return -EINVAL;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'v':
            verbose = true;
            break;
        default:
            qemuio_command_usage(s, &readv_usage);
            return -EINVAL;
        }
    }
    if (p.optind > argc - 2) {
        qemuio_command_usage(s, &readv_usage);
        return -EINVAL;
    }
    if (!parse_num_arg(s, argv[p.optind], &offset)) {
        return offset;
    }
    buf = io_alloc_vector(s, blk, &qiov, &argv[p.optind + 1],
                          argc - p.optind - 1, QEMUIO_READ_FILL);
    if (!buf) {
        return -EINVAL;
    }

    start_ns = get_clock_ns();
    ret = blk_preadv(blk, offset, qiov.size, &qiov, 0);
    elapsed = get_clock_ns() - start_ns;
    if (ret < 0) {
        qemuio_printf(s, "readv failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;

    if (has_pattern &&
        !check_pattern(s, buf, pattern, offset, qiov.size)) {
        ret = -EINVAL;
    }
    if (quiet) {
        goto out;
    }
    if (verbose) {
        dump(s, buf, offset, qiov.size);
    }
    qemuio_print_stats(s, "read", elapsed, offset, qiov.size, qiov.size, 1,
                       machine);

out:
    qemu_iovec_destroy(&qiov);
    io_free(qemuio_session_misalign(s), buf);
    return ret;
}

/* ---- write ---- */

void qemuio_write_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" writes a range of bytes from the given offset\n"
"\n"
" Example:\n"
" 'write 512 1k' - writes 1 kilobyte at 512 bytes into the open file\n"
"\n"
" Writes into a segment of the currently open file, using a buffer\n"
" filled with a set pattern (0xcdcdcdcd).\n"
" -b, -- write to the VM state rather than the virtual disk\n"
" -c, -- write compressed data with blk_write_compressed\n"
" -f, -- use Force Unit Access semantics\n"
" -n, -- with -z, don't allow slow fallback\n"
" -p, -- ignored for backwards compatibility\n"
" -P, -- use different pattern to fill file\n"
" -s, -- use a pattern file to fill the write buffer\n"
" -C, -- report statistics in a machine parsable format\n"
" -q, -- quiet mode, do not show I/O statistics\n"
" -u, -- with -z, allow unmapping\n"
" -z, -- write zeroes using blk_co_pwrite_zeroes\n"
"\n");
}

static const QemuIOCommand write_usage = {
    .name = "write",
    .args = "[-bcCfnquz] [-P pattern | -s source_file] off len",
    .oneline = "writes a number of bytes at a specified offset",
};

int qemuio_write_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    bool machine = false, quiet = false, vmstate = false, compressed = false;
    bool zeroes = false, has_pattern = false, has_file = false;
    BdrvRequestFlags flags = 0;
    const char *path = NULL;
    int pattern = QEMUIO_WRITE_FILL;
    int64_t offset, count, start_ns, elapsed;
    uint8_t *buf = NULL;
    QemuIOOptParser p;
    int c, ret;

    qemuio_opt_init(&p, s, argc, argv, "bcCfnpP:quzs:");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'b':
            vmstate = true;
            break;
        case 'c':
            compressed = true;
            break;
        case 'C':
            machine = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'n':
            flags |= BDRV_REQ_NO_FALLBACK;
            break;
        case 'p':
            break;
        case 'P':
            has_pattern = true;
            pattern = qemuio_parse_pattern(p.optarg);
            if (pattern < 0) {
                qemuio_printf(s, "%s is not a valid pattern byte\n",
                              p.optarg);
                return -EINVAL;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            has_file = true;
            path = p.optarg;
            break;
        case 'u':
            flags |= BDRV_REQ_MAY_UNMAP;
            break;
        case 'z':
            zeroes = true;
            break;
        default:
            qemuio_command_usage(s, &write_usage);
            return -EINVAL;
        }
    }
    if (p.optind != argc - 2) {
        qemuio_command_usage(s, &write_usage);
        return -EINVAL;
    }
    if (vmstate && zeroes) {
        qemuio_printf(s, "-b and -z cannot be specified at the same time\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_FUA) && (vmstate || compressed)) {
        qemuio_printf(s, "-f and -b or -c cannot be specified at the same "
                      "time\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_NO_FALLBACK) && !zeroes) {
        qemuio_printf(s, "-n requires -z to be specified\n");
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_MAY_UNMAP) && !zeroes) {
        qemuio_printf(s, "-u requires -z to be specified\n");
        return -EINVAL;
    }
    if (zeroes + has_pattern + has_file > 1) {
        qemuio_printf(s, "Only one of -z, -P, and -s can be specified at the "
                      "same time\n");
        return -EINVAL;
    }
    if (!parse_num_arg(s, argv[p.optind], &offset)) {
        return offset;
    }
    if (!parse_num_arg(s, argv[p.optind + 1], &count)) {
        return count;
    }
    if (count > BDRV_REQUEST_MAX_BYTES && !(flags & BDRV_REQ_NO_FALLBACK)) {
        qemuio_printf(s, "length cannot exceed %" PRIu64 " without -n, given "
                      "%s\n", (uint64_t)BDRV_REQUEST_MAX_BYTES,
                      argv[p.optind + 1]);
        return -EINVAL;
    }
    if ((vmstate || compressed) &&
        (!check_sector_aligned(s, offset, "offset") ||
         !check_sector_aligned(s, count, "count"))) {
        return -EINVAL;
    }

    if (!zeroes) {
        if (has_file) {
            buf = io_alloc_from_file(s, blk, count, path);
            if (!buf) {
                return -EINVAL;
            }
        } else {
            buf = io_alloc(s, blk, count, pattern);
        }
    }

    start_ns = get_clock_ns();
    if (vmstate) {
        ret = vmstate_io(blk, offset, count, buf, true);
    } else if (zeroes) {
        ret = blk_pwrite_zeroes(blk, offset, count, flags);
    } else if (compressed) {
        ret = blk_pwrite_compressed(blk, offset, count, buf);
    } else {
        ret = blk_pwrite(blk, offset, count, buf, flags);
    }
    elapsed = get_clock_ns() - start_ns;
    if (ret < 0) {
        qemuio_printf(s, "write failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;
    if (!quiet) {
        qemuio_print_stats(s, "wrote", elapsed, offset, count, count, 1,
                           machine);
    }

out:
    io_free(qemuio_session_misalign(s), buf);
    return ret;
}

/* ---- writev ---- */

void qemuio_writev_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" writes a range of bytes from the given offset source from multiple buffers\n"
"\n"
" Example:\n"
" 'writev 512 1k 1k' - writes 2 kilobytes at 512 bytes into the open file\n"
"\n"
" Writes into a segment of the currently open file, using a buffer\n"
" filled with a set pattern (0xcdcdcdcd).\n"
" -P, -- use different pattern to fill file\n"
" -C, -- report statistics in a machine parsable format\n"
" -f, -- use Force Unit Access semantics\n"
" -q, -- quiet mode, do not show I/O statistics\n"
"\n");
}

static const QemuIOCommand writev_usage = {
    .name = "writev",
    .args = "[-Cfq] [-P pattern] off len [len..]",
    .oneline = "writes a number of bytes at a specified offset",
};

int qemuio_writev_f(QemuIOSession *s, BlockBackend *blk, int argc,
                    char **argv)
{
    bool machine = false, quiet = false;
    BdrvRequestFlags flags = 0;
    int pattern = QEMUIO_WRITE_FILL;
    int64_t offset, start_ns, elapsed;
    QEMUIOVector qiov;
    uint8_t *buf;
    QemuIOOptParser p;
    int c, ret;

    qemuio_opt_init(&p, s, argc, argv, "CfqP:");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'C':
            machine = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'q':
            quiet = true;
            break;
        case 'P':
            pattern = qemuio_parse_pattern(p.optarg);
            if (pattern < 0) {
                qemuio_printf(s, "%s is not a valid pattern byte\n",
                              p.optarg);
                return -EINVAL;
            }
            break;
        default:
            qemuio_command_usage(s, &writev_usage);
            return -EINVAL;
        }
    }
    if (p.optind > argc - 2) {
        qemuio_command_usage(s, &writev_usage);
        return -EINVAL;
    }
    if (!parse_num_arg(s, argv[p.optind], &offset)) {
        return offset;
    }
    buf = io_alloc_vector(s, blk, &qiov, &argv[p.optind + 1],
                          argc - p.optind - 1, pattern);
    if (!buf) {
        return -EINVAL;
    }

    start_ns = get_clock_ns();
    ret = blk_pwritev(blk, offset, qiov.size, &qiov, flags);
    elapsed = get_clock_ns() - start_ns;
    if (ret < 0) {
        qemuio_printf(s, "writev failed: %s\n", strerror(-ret));
        goto out;
    }
    ret = 0;
    if (!quiet) {
        qemuio_print_stats(s, "wrote", elapsed, offset, qiov.size, qiov.size,
                           1, machine);
    }

out:
    qemu_iovec_destroy(&qiov);
    io_free(qemuio_session_misalign(s), buf);
    return ret;
}

/* ---- aio_read and aio_write ---- */

/*
 * An asynchronous request.  It holds a reference to its session (which
 * prints the result when the request completes) and counts in the
 * session's requests in flight, which aio_flush waits for.
 */
typedef struct AioRequest {
    QemuIOSession *s;
    BlockBackend *blk;
    QEMUIOVector qiov;
    uint8_t *buf;
    bool misalign;
    int64_t offset;
    int64_t zero_bytes;     /* aio_write -z: no buffer, just a length */
    int64_t start_ns;
    bool machine;
    bool quiet;
    bool verbose;
    bool has_pattern;
    int pattern;
} AioRequest;

static AioRequest *aio_request_new(QemuIOSession *s, BlockBackend *blk)
{
    AioRequest *req = g_new0(AioRequest, 1);

    req->s = s;
    req->blk = blk;
    req->misalign = qemuio_session_misalign(s);
    return req;
}

/* Free a request that was never submitted. */
static void aio_request_free(AioRequest *req)
{
    if (req->buf) {
        qemu_iovec_destroy(&req->qiov);
        io_free(req->misalign, req->buf);
    }
    g_free(req);
}

static void aio_request_done(AioRequest *req)
{
    QemuIOSession *s = req->s;

    aio_request_free(req);
    qemuio_session_aio_end(s);
}

static void aio_read_done(void *opaque, int ret)
{
    AioRequest *req = opaque;
    QemuIOSession *s = req->s;
    int64_t elapsed = get_clock_ns() - req->start_ns;

    if (ret < 0) {
        qemuio_printf(s, "readv failed: %s\n", strerror(-ret));
        goto out;
    }
    if (req->has_pattern) {
        check_pattern(s, req->buf, req->pattern, req->offset,
                      req->qiov.size);
    }
    if (req->quiet) {
        goto out;
    }
    if (req->verbose) {
        dump(s, req->buf, req->offset, req->qiov.size);
    }
    qemuio_print_stats(s, "read", elapsed, req->offset, req->qiov.size,
                       req->qiov.size, 1, req->machine);
out:
    aio_request_done(req);
}

static void aio_write_done(void *opaque, int ret)
{
    AioRequest *req = opaque;
    QemuIOSession *s = req->s;
    int64_t elapsed = get_clock_ns() - req->start_ns;
    int64_t bytes = req->buf ? (int64_t)req->qiov.size : req->zero_bytes;

    if (ret < 0) {
        qemuio_printf(s, "aio_write failed: %s\n", strerror(-ret));
    } else if (!req->quiet) {
        qemuio_print_stats(s, "wrote", elapsed, req->offset, bytes, bytes, 1,
                           req->machine);
    }
    aio_request_done(req);
}

void qemuio_aio_read_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" asynchronously reads a range of bytes from the given offset\n"
"\n"
" Example:\n"
" 'aio_read -v 512 1k 1k ' - dumps 2 kilobytes read from 512 bytes into the file\n"
"\n"
" Reads a segment of the currently open file, optionally dumping it to the\n"
" standard output stream (with -v option) for subsequent inspection.\n"
" The read is performed asynchronously and the aio_flush command must be\n"
" used to ensure all outstanding aio requests have been completed.\n"
" Note that due to its asynchronous nature, this command will be\n"
" considered successful once the request is submitted, independently\n"
" of potential I/O errors or pattern mismatches.\n"
" -C, -- report statistics in a machine parsable format\n"
" -P, -- use a pattern to verify read data\n"
" -i, -- treat request as invalid, for exercising stats\n"
" -v, -- dump buffer to standard output\n"
" -q, -- quiet mode, do not show I/O statistics\n"
"\n");
}

static const QemuIOCommand aio_read_usage = {
    .name = "aio_read",
    .args = "[-Ciqv] [-P pattern] off len [len..]",
    .oneline = "asynchronously reads a number of bytes",
};

int qemuio_aio_read_f(QemuIOSession *s, BlockBackend *blk, int argc,
                      char **argv)
{
    AioRequest *req = aio_request_new(s, blk);
    QemuIOOptParser p;
    int c;

    qemuio_opt_init(&p, s, argc, argv, "CP:iqv");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'C':
            req->machine = true;
            break;
        case 'P':
            req->has_pattern = true;
            req->pattern = qemuio_parse_pattern(p.optarg);
            if (req->pattern < 0) {
                qemuio_printf(s, "%s is not a valid pattern byte\n",
                              p.optarg);
                aio_request_free(req);
                return -EINVAL;
            }
            break;
        case 'i':
            /*
             * QEMU counts an invalid request in the device statistics;
             * Strata keeps no such statistics, so nothing else happens.
             */
            qemuio_printf(s, "injecting invalid read request\n");
            aio_request_free(req);
            return 0;
        case 'q':
            req->quiet = true;
            break;
        case 'v':
            req->verbose = true;
            break;
        default:
            aio_request_free(req);
            qemuio_command_usage(s, &aio_read_usage);
            return -EINVAL;
        }
    }
    if (p.optind > argc - 2) {
        aio_request_free(req);
        qemuio_command_usage(s, &aio_read_usage);
        return -EINVAL;
    }
    if (!parse_num_arg(s, argv[p.optind], &req->offset)) {
        int ret = req->offset;

        aio_request_free(req);
        return ret;
    }
    req->buf = io_alloc_vector(s, blk, &req->qiov, &argv[p.optind + 1],
                               argc - p.optind - 1, QEMUIO_READ_FILL);
    if (!req->buf) {
        aio_request_free(req);
        return -EINVAL;
    }

    qemuio_session_aio_begin(s);
    req->start_ns = get_clock_ns();
    blk_aio_preadv(blk, req->offset, &req->qiov, 0, aio_read_done, req);
    return 0;
}

void qemuio_aio_write_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" asynchronously writes a range of bytes from the given offset source\n"
" from multiple buffers\n"
"\n"
" Example:\n"
" 'aio_write 512 1k 1k' - writes 2 kilobytes at 512 bytes into the open file\n"
"\n"
" Writes into a segment of the currently open file, using a buffer\n"
" filled with a set pattern (0xcdcdcdcd).\n"
" The write is performed asynchronously and the aio_flush command must be\n"
" used to ensure all outstanding aio requests have been completed.\n"
" Note that due to its asynchronous nature, this command will be\n"
" considered successful once the request is submitted, independently\n"
" of potential I/O errors or pattern mismatches.\n"
" -P, -- use different pattern to fill file\n"
" -C, -- report statistics in a machine parsable format\n"
" -f, -- use Force Unit Access semantics\n"
" -i, -- treat request as invalid, for exercising stats\n"
" -q, -- quiet mode, do not show I/O statistics\n"
" -u, -- with -z, allow unmapping\n"
" -z, -- write zeroes using blk_aio_pwrite_zeroes\n"
"\n");
}

static const QemuIOCommand aio_write_usage = {
    .name = "aio_write",
    .args = "[-Cfiquz] [-P pattern] off len [len..]",
    .oneline = "asynchronously writes a number of bytes",
};

int qemuio_aio_write_f(QemuIOSession *s, BlockBackend *blk, int argc,
                       char **argv)
{
    AioRequest *req = aio_request_new(s, blk);
    BdrvRequestFlags flags = 0;
    bool zeroes = false;
    int pattern = QEMUIO_WRITE_FILL;
    QemuIOOptParser p;
    int c, ret;

    qemuio_opt_init(&p, s, argc, argv, "CfiqP:uz");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'C':
            req->machine = true;
            break;
        case 'f':
            flags |= BDRV_REQ_FUA;
            break;
        case 'q':
            req->quiet = true;
            break;
        case 'u':
            flags |= BDRV_REQ_MAY_UNMAP;
            break;
        case 'P':
            pattern = qemuio_parse_pattern(p.optarg);
            if (pattern < 0) {
                qemuio_printf(s, "%s is not a valid pattern byte\n",
                              p.optarg);
                aio_request_free(req);
                return -EINVAL;
            }
            break;
        case 'i':
            /* As for aio_read -i: no statistics to count it in. */
            qemuio_printf(s, "injecting invalid write request\n");
            aio_request_free(req);
            return 0;
        case 'z':
            zeroes = true;
            break;
        default:
            aio_request_free(req);
            qemuio_command_usage(s, &aio_write_usage);
            return -EINVAL;
        }
    }
    if (p.optind > argc - 2) {
        aio_request_free(req);
        qemuio_command_usage(s, &aio_write_usage);
        return -EINVAL;
    }
    if (zeroes && p.optind != argc - 2) {
        qemuio_printf(s, "-z supports only a single length parameter\n");
        aio_request_free(req);
        return -EINVAL;
    }
    if ((flags & BDRV_REQ_MAY_UNMAP) && !zeroes) {
        qemuio_printf(s, "-u requires -z to be specified\n");
        aio_request_free(req);
        return -EINVAL;
    }
    /* Like qemu-io, -z with -P is not refused here: -P is just unused. */
    if (!parse_num_arg(s, argv[p.optind], &req->offset)) {
        ret = req->offset;
        aio_request_free(req);
        return ret;
    }

    if (zeroes) {
        if (!parse_num_arg(s, argv[p.optind + 1], &req->zero_bytes)) {
            ret = req->zero_bytes;
            aio_request_free(req);
            return ret;
        }
        qemuio_session_aio_begin(s);
        req->start_ns = get_clock_ns();
        blk_aio_pwrite_zeroes(blk, req->offset, req->zero_bytes, flags,
                              aio_write_done, req);
        return 0;
    }

    req->buf = io_alloc_vector(s, blk, &req->qiov, &argv[p.optind + 1],
                               argc - p.optind - 1, pattern);
    if (!req->buf) {
        aio_request_free(req);
        return -EINVAL;
    }
    qemuio_session_aio_begin(s);
    req->start_ns = get_clock_ns();
    blk_aio_pwritev(blk, req->offset, &req->qiov, flags, aio_write_done, req);
    return 0;
}

int qemuio_aio_flush_f(QemuIOSession *s, BlockBackend *blk, int argc,
                       char **argv)
{
    qemuio_session_drain(s);
    blk_drain_all();
    return 0;
}

/* ---- discard ---- */

void qemuio_discard_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" discards a range of bytes from the given offset\n"
"\n"
" Example:\n"
" 'discard 512 1k' - discards 1 kilobyte from 512 bytes into the file\n"
"\n"
" Discards a segment of the currently open file.\n"
" -C, -- report statistics in a machine parsable format\n"
" -q, -- quiet mode, do not show I/O statistics\n"
"\n");
}

static const QemuIOCommand discard_usage = {
    .name = "discard",
    .args = "[-Cq] off len",
    .oneline = "discards a number of bytes at a specified offset",
};

int qemuio_discard_f(QemuIOSession *s, BlockBackend *blk, int argc,
                     char **argv)
{
    bool machine = false, quiet = false;
    int64_t offset, bytes, start_ns, elapsed;
    QemuIOOptParser p;
    int c, ret;

    qemuio_opt_init(&p, s, argc, argv, "Cq");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'C':
            machine = true;
            break;
        case 'q':
            quiet = true;
            break;
        default:
            qemuio_command_usage(s, &discard_usage);
            return -EINVAL;
        }
    }
    if (p.optind != argc - 2) {
        qemuio_command_usage(s, &discard_usage);
        return -EINVAL;
    }
    if (!parse_num_arg(s, argv[p.optind], &offset)) {
        return offset;
    }
    if (!parse_num_arg(s, argv[p.optind + 1], &bytes)) {
        return bytes;
    }
    if (bytes > BDRV_REQUEST_MAX_BYTES) {
        qemuio_printf(s, "length cannot exceed %" PRIu64 ", given %s\n",
                      (uint64_t)BDRV_REQUEST_MAX_BYTES, argv[p.optind + 1]);
        return -EINVAL;
    }

    start_ns = get_clock_ns();
    ret = blk_pdiscard(blk, offset, bytes);
    elapsed = get_clock_ns() - start_ns;
    if (ret < 0) {
        qemuio_printf(s, "discard failed: %s\n", strerror(-ret));
        return ret;
    }
    if (!quiet) {
        qemuio_print_stats(s, "discard", elapsed, offset, bytes, bytes, 1,
                           machine);
    }
    return 0;
}

/*
 * Unit tests for the NBD client: the "nbd" block driver against a real
 * server in another process, file name parsing, reconnection, and fake
 * servers that send malformed or hostile replies.
 */
#include "strata/osdep.h"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "block/block-backend.h"
#include "block/block_int.h"
#include "nbd/server.h"
#include "util/cutils.h"
#include "util/error.h"
#include "util/qdict.h"
#include "util/sockets.h"

#define IMG_SIZE (1 * MiB)

static char *tmpdir;
static char *self_exe;

/* ================= a real server in another process ================= */

/*
 * "--serve SOCKET IMAGE": export IMAGE (raw) as "exp" with allocation
 * depth, until killed.  Run by re-executing this program, so the server
 * has an event loop of its own.
 */
static STRATA_NORETURN void serve(const char *sock, const char *image)
{
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_UNIX };
    json_t *opts = json_object();
    NBDExportConfig cfg = {
        .name = "exp", .writable = true, .allocation_depth = true,
    };
    NBDServer *srv;

    signal(SIGPIPE, SIG_IGN);
    bdrv_init();
    qdict_put_str(opts, "driver", "raw");
    cfg.blk = blk_new_open(image, NULL, opts, BDRV_O_RDWR, &error_fatal);
    srv = nbd_server_new(NULL, 0);
    nbd_export_new(srv, &cfg, &error_fatal);
    addr.u.q_unix.path = (char *)sock;
    nbd_server_listen(srv, &addr, &error_fatal);
    for (;;) {
        aio_poll(qemu_get_aio_context(), true);
    }
}

static bool can_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    bool ok;

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return ok;
}

static pid_t start_server(const char *sock, const char *image)
{
    pid_t pid;

    unlink(sock);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        /* Do not outlive a test that failed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(self_exe, self_exe, "--serve", sock, image, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !can_connect(sock); i++) {
        g_usleep(10 * 1000);
    }
    g_assert_true(can_connect(sock));
    return pid;
}

static void stop_server(pid_t pid)
{
    int status;

    kill(pid, SIGKILL);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
}

static uint8_t pattern(uint64_t off)
{
    return (uint8_t)(off * 7 + 3);
}

/* 1 MiB: a pattern in the first 256 KiB, a hole after. */
static char *make_image(void)
{
    char *path = g_build_filename(tmpdir, "img.raw", NULL);
    g_autofree uint8_t *buf = g_malloc(256 * KiB);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);

    for (int i = 0; i < 256 * KiB; i++) {
        buf[i] = pattern(i);
    }
    g_assert_cmpint(pwrite(fd, buf, 256 * KiB, 0), ==, 256 * KiB);
    g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
    close(fd);
    return path;
}

static BlockBackend *open_nbd(const char *filename, json_t *opts, int flags,
                              Error **errp)
{
    if (!opts) {
        opts = json_object();
    }
    qdict_put_str(opts, "driver", "nbd");
    return blk_new_open(filename, NULL, opts, flags, errp);
}

static void test_driver_io(void)
{
    g_autofree char *image = make_image();
    g_autofree char *sock = g_build_filename(tmpdir, "io.sock", NULL);
    g_autofree char *uri = g_strdup_printf("nbd+unix:///exp?socket=%s",
                                           sock);
    pid_t pid = start_server(sock, image);
    BlockBackend *blk = open_nbd(uri, NULL, BDRV_O_RDWR, &error_abort);
    BlockDriverState *bs = blk_bs(blk);
    g_autofree uint8_t *buf = g_malloc(IMG_SIZE);
    int64_t pnum, map;
    BlockDriverState *file;
    int ret;

    g_assert_cmpint(blk_getlength(blk), ==, IMG_SIZE);
    g_assert_cmpstr(bs->filename, ==, uri);

    g_assert_cmpint(blk_pread(blk, 0, IMG_SIZE, buf, 0), ==, 0);
    for (int i = 0; i < IMG_SIZE; i++) {
        g_assert_cmpuint(buf[i], ==, i < 256 * KiB ? pattern(i) : 0);
    }
    /* Unaligned writes go through as they are (alignment 1). */
    memset(buf, 0x3c, 777);
    g_assert_cmpint(blk_pwrite(blk, 300 * KiB + 1, 777, buf, BDRV_REQ_FUA),
                    ==, 0);
    memset(buf, 0, 1000);
    g_assert_cmpint(blk_pread(blk, 300 * KiB, 1000, buf, 0), ==, 0);
    g_assert_cmpuint(buf[0], ==, 0);
    g_assert_cmpuint(buf[1], ==, 0x3c);
    g_assert_cmpuint(buf[777], ==, 0x3c);
    g_assert_cmpuint(buf[778], ==, 0);

    g_assert_cmpint(blk_pwrite_zeroes(blk, 0, 4096, BDRV_REQ_MAY_UNMAP), ==,
                    0);
    g_assert_cmpint(blk_pread(blk, 0, 8192, buf, 0), ==, 0);
    g_assert_cmpuint(buf[4095], ==, 0);
    g_assert_cmpuint(buf[4096], ==, pattern(4096));
    g_assert_cmpint(blk_pdiscard(blk, 512 * KiB, 64 * KiB), ==, 0);
    g_assert_cmpint(blk_flush(blk), ==, 0);

    /* base:allocation through block status. */
    ret = bdrv_block_status(bs, 8192, IMG_SIZE, &pnum, &map, &file);
    g_assert_cmpint(ret, ==, BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID |
                             BDRV_BLOCK_ALLOCATED);
    g_assert_cmpint(pnum, ==, 256 * KiB - 8192);
    ret = bdrv_block_status(bs, 600 * KiB, 4096, &pnum, &map, &file);
    g_assert_true(ret & BDRV_BLOCK_ZERO);
    g_assert_false(ret & BDRV_BLOCK_DATA);

    /* Many requests at once (more than fit on the wire together). */
    {
        g_autofree uint8_t *big = g_malloc(8 * MiB);

        for (int i = 0; i < 8; i++) {
            g_assert_cmpint(blk_pread(blk, 0, IMG_SIZE, big + i * MiB, 0),
                            ==, 0);
        }
    }
    blk_unref(blk);
    stop_server(pid);
    unlink(image);
}

/* x-dirty-bitmap maps any context's bits 0 and 1 onto hole and zero. */
static void test_driver_x_dirty_bitmap(void)
{
    g_autofree char *image = make_image();
    g_autofree char *sock = g_build_filename(tmpdir, "xdb.sock", NULL);
    pid_t pid = start_server(sock, image);
    json_t *opts = json_object();
    BlockBackend *blk;
    int64_t pnum, map;
    BlockDriverState *file;
    Error *err = NULL;
    int ret;

    qdict_put_str(opts, "server.type", "unix");
    qdict_put_str(opts, "server.path", sock);
    qdict_put_str(opts, "export", "exp");
    qdict_put_str(opts, "x-dirty-bitmap", "qemu:allocation-depth");
    blk = open_nbd(NULL, opts, 0, &error_abort);
    /*
     * A raw file is all depth 1 (the protocol layer answers for all of
     * it), and bit 0 reads as "hole": no data anywhere.
     */
    ret = bdrv_block_status(blk_bs(blk), 0, IMG_SIZE, &pnum, &map, &file);
    g_assert_cmpint(ret & ~BDRV_BLOCK_EOF, ==, BDRV_BLOCK_OFFSET_VALID);
    g_assert_cmpint(pnum, ==, IMG_SIZE);
    blk_unref(blk);

    opts = json_object();
    qdict_put_str(opts, "server.type", "unix");
    qdict_put_str(opts, "server.path", sock);
    qdict_put_str(opts, "export", "exp");
    qdict_put_str(opts, "x-dirty-bitmap", "qemu:dirty-bitmap:nope");
    g_assert_null(open_nbd(NULL, opts, 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not open image: Invalid argument");
    error_free(err);
    stop_server(pid);
    unlink(image);
}

static void test_driver_open_errors(void)
{
    g_autofree char *image = make_image();
    g_autofree char *sock = g_build_filename(tmpdir, "err.sock", NULL);
    g_autofree char *uri = g_strdup_printf("nbd+unix:///nope?socket=%s",
                                           sock);
    g_autofree char *missing = g_strdup_printf("nbd+unix:///x?socket=%s/no",
                                               tmpdir);
    pid_t pid = start_server(sock, image);
    Error *err = NULL;
    json_t *opts;

    g_assert_null(open_nbd(uri, NULL, 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Requested export not available");
    g_assert_cmpstr(error_get_hint(err), ==,
                    "server reported: export 'nope' not present\n");
    error_free(err);
    err = NULL;

    g_assert_null(open_nbd(missing, NULL, 0, &err));
    g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                   "Failed to connect to '"));
    g_assert_true(g_str_has_suffix(error_get_pretty(err),
                                   "': No such file or directory"));
    error_free(err);
    err = NULL;

    opts = json_object();
    g_assert_null(open_nbd(NULL, opts, 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "NBD server address missing");
    error_free(err);
    err = NULL;

    opts = json_object();
    qdict_put_str(opts, "server.type", "unix");
    g_assert_null(open_nbd(NULL, opts, 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Parameter 'path' is missing");
    error_free(err);
    err = NULL;

    opts = json_object();
    qdict_put_str(opts, "server.type", "unix");
    qdict_put_str(opts, "server.path", sock);
    qdict_put_str(opts, "path", sock);
    g_assert_null(open_nbd(NULL, opts, 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Cannot use 'server' and path/host/port at the same "
                    "time");
    error_free(err);
    err = NULL;

    opts = json_object();
    qdict_put_str(opts, "path", sock);
    qdict_put_str(opts, "export", "exp");
    qdict_put_str(opts, "reconnect-delay", "abc");
    g_assert_null(open_nbd(NULL, opts, 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'reconnect-delay' expects a number");
    error_free(err);
    err = NULL;

    /* The legacy spelling works (and an unknown option is refused). */
    opts = json_object();
    qdict_put_str(opts, "path", sock);
    qdict_put_str(opts, "export", "exp");
    qdict_put_str(opts, "bogus", "1");
    g_assert_null(open_nbd(NULL, opts, 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Block protocol 'nbd' doesn't support the option "
                    "'bogus'");
    error_free(err);
    stop_server(pid);
    unlink(image);
}

/* ================= file names ================= */

typedef struct NameCase {
    const char *filename;
    const char *expect;     /* sorted "key=value" list, or "!message" */
} NameCase;

static void test_parse_filename(void)
{
    static const NameCase cases[] = {
        { "nbd+unix:///exp?socket=/tmp/s",
          "export=exp server.path=/tmp/s server.type=unix" },
        { "nbd+unix://?socket=/tmp/s",
          "server.path=/tmp/s server.type=unix" },
        { "nbd+unix:///a%20b?socket=/tmp/s%2Cx",
          "export=a b server.path=/tmp/s,x server.type=unix" },
        { "nbd://localhost:1234/foo",
          "export=foo server.host=localhost server.port=1234 "
          "server.type=inet" },
        { "nbd://localhost",
          "server.host=localhost server.port=10809 server.type=inet" },
        { "nbd+tcp://h:1/a/b",
          "export=a/b server.host=h server.port=1 server.type=inet" },
        { "nbd://[::1]:99/x",
          "export=x server.host=::1 server.port=99 server.type=inet" },
        { "nbd:unix:/tmp/s:exportname=foo",
          "export=foo server.path=/tmp/s server.type=unix" },
        { "nbd:localhost:1:exportname=foo",
          "export=foo server.host=localhost server.port=1 "
          "server.type=inet" },
        { "nbd:unix:/tmp/s", "server.path=/tmp/s server.type=unix" },
        { "nbd:localhost", "!error parsing address 'localhost'" },
        { "nbd+unix:///foo", "!No valid URL specified" },
        { "nbd+unix://host/foo?socket=x", "!No valid URL specified" },
        { "nbd+unix:///foo?socket=/s&bar=1", "!No valid URL specified" },
        { "nbd://", "!No valid URL specified" },
        { "nbd:///foo?socket=x", "!No valid URL specified" },
        { "nbd://localhost:99999/x", "!No valid URL specified" },
        { "nbd://localhost:abc/x", "!No valid URL specified" },
        { "nbd://localhost:1/x?foo=bar", "!No valid URL specified" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(json_t) opts = json_object();
        g_autoptr(GPtrArray) kv = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *got = NULL;
        Error *err = NULL;
        const char *key;
        json_t *v;

        bdrv_nbd.bdrv_parse_filename(cases[i].filename, opts, &err);
        if (err) {
            got = g_strconcat("!", error_get_pretty(err), NULL);
            error_free(err);
        } else {
            json_object_foreach(opts, key, v) {
                g_ptr_array_add(kv, g_strdup_printf("%s=%s", key,
                                                    json_string_value(v)));
            }
            g_ptr_array_sort(kv, (GCompareFunc)qemu_pstrcmp0);
            g_ptr_array_add(kv, NULL);
            got = g_strjoinv(" ", (char **)kv->pdata);
        }
        g_assert_cmpstr(got, ==, cases[i].expect);
    }
}

/* ================= reconnection ================= */

static void test_reconnect(void)
{
    g_autofree char *image = make_image();
    g_autofree char *sock = g_build_filename(tmpdir, "rc.sock", NULL);
    pid_t pid = start_server(sock, image);
    json_t *opts = json_object();
    BlockBackend *blk;
    uint8_t buf[512];

    qdict_put_str(opts, "server.type", "unix");
    qdict_put_str(opts, "server.path", sock);
    qdict_put_str(opts, "export", "exp");
    blk = open_nbd(NULL, opts, BDRV_O_RDWR, &error_abort);
    g_assert_cmpint(blk_pread(blk, 0, 512, buf, 0), ==, 0);

    /* The server goes away: requests fail rather than hang. */
    stop_server(pid);
    g_assert_cmpint(blk_pread(blk, 0, 512, buf, 0), <, 0);
    g_assert_cmpint(blk_pread(blk, 0, 512, buf, 0), <, 0);

    /* It comes back: the next request reconnects. */
    pid = start_server(sock, image);
    g_assert_cmpint(blk_pread(blk, 512, 512, buf, 0), ==, 0);
    g_assert_cmpuint(buf[1], ==, pattern(513));
    blk_unref(blk);
    stop_server(pid);
    unlink(image);
}

/* With reconnect-delay, a request waits for the server to come back. */
typedef struct DelayedStart {
    char *sock;
    char *image;
    pid_t pid;
} DelayedStart;

static void delayed_start(void *opaque)
{
    DelayedStart *d = opaque;

    d->pid = start_server(d->sock, d->image);
}

static void test_reconnect_delay(void)
{
    g_autofree char *image = make_image();
    g_autofree char *sock = g_build_filename(tmpdir, "rd.sock", NULL);
    pid_t pid = start_server(sock, image);
    json_t *opts = json_object();
    DelayedStart d = { .sock = sock, .image = image };
    QEMUTimer *t;
    BlockBackend *blk;
    uint8_t buf[512];

    qdict_put_str(opts, "server.type", "unix");
    qdict_put_str(opts, "server.path", sock);
    qdict_put_str(opts, "export", "exp");
    qdict_put_str(opts, "reconnect-delay", "10");
    blk = open_nbd(NULL, opts, BDRV_O_RDWR, &error_abort);
    g_assert_cmpint(blk_pread(blk, 0, 512, buf, 0), ==, 0);

    stop_server(pid);
    /* Let the client notice, then restart the server a little later. */
    for (int i = 0; i < 20; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    t = timer_new_ms(QEMU_CLOCK_REALTIME, delayed_start, &d);
    timer_mod(t, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 300);
    g_assert_cmpint(blk_pread(blk, 1024, 512, buf, 0), ==, 0);
    g_assert_cmpuint(buf[2], ==, pattern(1026));
    g_assert_cmpint(d.pid, >, 0);
    timer_free(t);
    blk_unref(blk);
    stop_server(d.pid);
    unlink(image);
}

/* ================= fake servers ================= */

typedef enum FakeMode {
    FAKE_BAD_MAGIC,             /* not an NBD server */
    FAKE_OLDSTYLE,              /* oldstyle handshake, serves reads */
    FAKE_HUGE_OPTION_REPLY,     /* 1 GiB option reply */
    FAKE_BAD_BLOCK_SIZE,        /* minimum block size 3 */
    FAKE_NO_EXPORT_INFO,        /* ACK without NBD_INFO_EXPORT */
    FAKE_UNKNOWN_COOKIE,        /* replies with a cookie never sent */
    FAKE_DATA_OUTSIDE,          /* OFFSET_DATA past the request */
    FAKE_DONE_WITHOUT_DATA,     /* a read "succeeds" with no data */
    FAKE_BAD_ERROR_CHUNK,       /* error message longer than the chunk */
    FAKE_HANGUP_MID_REPLY,      /* half a reply, then gone */
    FAKE_ERROR_REPLY,           /* a proper error: EIO, then serves */
} FakeMode;

static void fk_write(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n <= 0) {
            _exit(0);
        }
        p += n;
        len -= n;
    }
}

static bool fk_read(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = read(fd, p, len);

        if (n <= 0) {
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

static void fk_rep(int fd, uint32_t opt, uint32_t type, const void *data,
                   uint32_t len)
{
    uint8_t hdr[NBD_OPTION_REPLY_SIZE];

    nbd_option_reply_encode(hdr, opt, type, len);
    fk_write(fd, hdr, sizeof(hdr));
    fk_write(fd, data, len);
}

static void fk_chunk(int fd, uint16_t flags, uint16_t type, uint64_t cookie,
                     const void *data, uint32_t len)
{
    uint8_t hdr[NBD_STRUCTURED_REPLY_SIZE];

    nbd_chunk_header_encode(hdr, flags, type, cookie, len);
    fk_write(fd, hdr, sizeof(hdr));
    fk_write(fd, data, len);
}

/* The handshake as the mode wants it; false if the client left. */
static bool fk_handshake(int fd, FakeMode mode)
{
    uint8_t buf[64];

    if (mode == FAKE_BAD_MAGIC) {
        fk_write(fd, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
        return false;
    }
    stq_be(buf, NBD_INIT_MAGIC);
    if (mode == FAKE_OLDSTYLE) {
        stq_be(buf + 8, NBD_CLIENT_MAGIC);
        stq_be(buf + 16, IMG_SIZE);
        stl_be(buf + 24, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
        fk_write(fd, buf, 28);
        memset(buf, 0, 64);
        fk_write(fd, buf, 64);
        fk_write(fd, buf, 60);
        return true;
    }
    stq_be(buf + 8, NBD_OPTS_MAGIC);
    stw_be(buf + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    fk_write(fd, buf, 18);
    if (!fk_read(fd, buf, 4)) {
        return false;
    }
    for (;;) {
        uint32_t opt, len;
        g_autofree uint8_t *data = NULL;

        if (!fk_read(fd, buf, 16)) {
            return false;
        }
        opt = ldl_be(buf + 8);
        len = ldl_be(buf + 12);
        data = g_malloc(len + 1);
        if (!fk_read(fd, data, len)) {
            return false;
        }
        switch (opt) {
        case NBD_OPT_STRUCTURED_REPLY:
            fk_rep(fd, opt, NBD_REP_ACK, NULL, 0);
            break;
        case NBD_OPT_SET_META_CONTEXT: {
            uint8_t ctx[4 + 15];

            stl_be(ctx, 7);
            memcpy(ctx + 4, "base:allocation", 15);
            fk_rep(fd, opt, NBD_REP_META_CONTEXT, ctx, sizeof(ctx));
            fk_rep(fd, opt, NBD_REP_ACK, NULL, 0);
            break;
        }
        case NBD_OPT_GO: {
            uint8_t info[14];

            if (mode == FAKE_HUGE_OPTION_REPLY) {
                uint8_t hdr[NBD_OPTION_REPLY_SIZE];

                nbd_option_reply_encode(hdr, opt, NBD_REP_INFO, 1 << 30);
                fk_write(fd, hdr, sizeof(hdr));
                return false;
            }
            if (mode == FAKE_BAD_BLOCK_SIZE) {
                stw_be(info, NBD_INFO_BLOCK_SIZE);
                stl_be(info + 2, 3);
                stl_be(info + 6, 4096);
                stl_be(info + 10, 1 << 20);
                fk_rep(fd, opt, NBD_REP_INFO, info, 14);
            }
            if (mode != FAKE_NO_EXPORT_INFO) {
                stw_be(info, NBD_INFO_EXPORT);
                stq_be(info + 2, IMG_SIZE);
                stw_be(info + 10, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
                fk_rep(fd, opt, NBD_REP_INFO, info, 12);
            }
            fk_rep(fd, opt, NBD_REP_ACK, NULL, 0);
            return true;
        }
        default:
            fk_rep(fd, opt, NBD_REP_ERR_UNSUP, NULL, 0);
            break;
        }
    }
}

/* Transmission: answer each request according to @mode. */
static void fk_serve(int fd, FakeMode mode)
{
    static uint8_t zeroes[IMG_SIZE];
    uint8_t hdr[NBD_REQUEST_SIZE];
    NBDRequest r;
    uint8_t fixed[8];

    while (fk_read(fd, hdr, sizeof(hdr)) && nbd_request_decode(hdr, &r)) {
        if (r.type == NBD_CMD_DISC) {
            return;
        }
        if (r.type == NBD_CMD_WRITE) {
            g_autofree uint8_t *skip = g_malloc(r.len);

            fk_read(fd, skip, r.len);
        }
        if (mode == FAKE_OLDSTYLE) {
            uint8_t simple[NBD_SIMPLE_REPLY_SIZE];

            nbd_simple_reply_encode(simple, r.cookie, 0);
            fk_write(fd, simple, sizeof(simple));
            if (r.type == NBD_CMD_READ) {
                fk_write(fd, zeroes, MIN(r.len, IMG_SIZE));
            }
            continue;
        }
        switch (mode) {
        case FAKE_UNKNOWN_COOKIE:
            fk_chunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE,
                     r.cookie ^ 0x5555, NULL, 0);
            break;
        case FAKE_DATA_OUTSIDE:
            stq_be(fixed, r.from + 1);
            fk_chunk(fd, 0, NBD_REPLY_TYPE_OFFSET_DATA, r.cookie, fixed, 8);
            fk_write(fd, zeroes, 0);
            {
                uint8_t hdr2[NBD_STRUCTURED_REPLY_SIZE];

                nbd_chunk_header_encode(hdr2, NBD_REPLY_FLAG_DONE,
                                        NBD_REPLY_TYPE_OFFSET_DATA,
                                        r.cookie, 8 + r.len);
                fk_write(fd, hdr2, sizeof(hdr2));
                fk_write(fd, fixed, 8);
                fk_write(fd, zeroes, r.len);
            }
            break;
        case FAKE_DONE_WITHOUT_DATA:
            fk_chunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, r.cookie,
                     NULL, 0);
            break;
        case FAKE_BAD_ERROR_CHUNK: {
            uint8_t e[6];

            stl_be(e, NBD_EIO);
            stw_be(e + 4, 5000);
            fk_chunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
                     r.cookie, e, 6);
            break;
        }
        case FAKE_HANGUP_MID_REPLY:
            stq_be(fixed, r.from);
            {
                uint8_t hdr2[NBD_STRUCTURED_REPLY_SIZE];

                nbd_chunk_header_encode(hdr2, NBD_REPLY_FLAG_DONE,
                                        NBD_REPLY_TYPE_OFFSET_DATA,
                                        r.cookie, 8 + r.len);
                fk_write(fd, hdr2, sizeof(hdr2));
                fk_write(fd, fixed, 8);
                fk_write(fd, zeroes, r.len / 2);
            }
            return;
        case FAKE_ERROR_REPLY:
            if (r.from == 0) {
                uint8_t e[6 + 4];

                stl_be(e, NBD_EIO);
                stw_be(e + 4, 4);
                memcpy(e + 6, "oops", 4);
                fk_chunk(fd, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
                         r.cookie, e, sizeof(e));
            } else {
                stq_be(fixed, r.from);
                {
                    uint8_t hdr2[NBD_STRUCTURED_REPLY_SIZE];

                    nbd_chunk_header_encode(hdr2, NBD_REPLY_FLAG_DONE,
                                            NBD_REPLY_TYPE_OFFSET_DATA,
                                            r.cookie, 8 + r.len);
                    fk_write(fd, hdr2, sizeof(hdr2));
                    fk_write(fd, fixed, 8);
                    fk_write(fd, zeroes, r.len);
                }
            }
            break;
        default:
            return;
        }
    }
}

/* A fake server on a socket pair; returns its pid and the client's fd. */
static pid_t start_fake(FakeMode mode, int *client_fd)
{
    int sv[2];
    pid_t pid;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(sv[1]);
        if (fk_handshake(sv[0], mode)) {
            fk_serve(sv[0], mode);
        }
        _exit(0);
    }
    close(sv[0]);
    *client_fd = sv[1];
    return pid;
}

static BlockBackend *open_fake(int fd, Error **errp)
{
    json_t *opts = json_object();
    g_autofree char *num = g_strdup_printf("%d", fd);

    qdict_put_str(opts, "server.type", "fd");
    qdict_put_str(opts, "server.str", num);
    return open_nbd(NULL, opts, 0, errp);
}

static void finish_fake(pid_t pid, int fd)
{
    int status;

    close(fd);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
}

static void fake_open_fails(FakeMode mode, const char *msg_prefix)
{
    int fd;
    pid_t pid = start_fake(mode, &fd);
    Error *err = NULL;

    g_assert_null(open_fake(fd, &err));
    if (!g_str_has_prefix(error_get_pretty(err), msg_prefix)) {
        g_error("got '%s', expected '%s...'", error_get_pretty(err),
                msg_prefix);
    }
    error_free(err);
    finish_fake(pid, fd);
}

static void test_fake_handshakes(void)
{
    fake_open_fails(FAKE_BAD_MAGIC, "Bad initial magic received");
    fake_open_fails(FAKE_HUGE_OPTION_REPLY, "server's reply to NBD_OPT_GO "
                    "is too long");
    fake_open_fails(FAKE_BAD_BLOCK_SIZE, "server minimum block size 3 is "
                    "not valid");
    fake_open_fails(FAKE_NO_EXPORT_INFO, "broken server omitted "
                    "NBD_INFO_EXPORT");
}

static void test_fake_oldstyle(void)
{
    int fd;
    pid_t pid = start_fake(FAKE_OLDSTYLE, &fd);
    BlockBackend *blk = open_fake(fd, &error_abort);
    uint8_t buf[4096];

    g_assert_cmpint(blk_getlength(blk), ==, IMG_SIZE);
    g_assert_true(bdrv_is_read_only(blk_bs(blk)));
    g_assert_cmpint(blk_pread(blk, 4096, 4096, buf, 0), ==, 0);
    blk_unref(blk);
    finish_fake(pid, fd);
}

/* The request fails, nothing hangs or crashes, the node can be closed. */
static void fake_read_fails(FakeMode mode)
{
    int fd;
    pid_t pid = start_fake(mode, &fd);
    BlockBackend *blk = open_fake(fd, &error_abort);
    g_autofree uint8_t *buf = g_malloc(64 * KiB);

    g_assert_cmpint(blk_pread(blk, 4096, 64 * KiB, buf, 0), <, 0);
    g_assert_cmpint(blk_pread(blk, 4096, 4096, buf, 0), <, 0);
    blk_unref(blk);
    finish_fake(pid, fd);
}

static void test_fake_replies(void)
{
    fake_read_fails(FAKE_UNKNOWN_COOKIE);
    fake_read_fails(FAKE_DATA_OUTSIDE);
    fake_read_fails(FAKE_DONE_WITHOUT_DATA);
    fake_read_fails(FAKE_BAD_ERROR_CHUNK);
    fake_read_fails(FAKE_HANGUP_MID_REPLY);
}

/* An error reply fails one request; the connection goes on. */
static void test_fake_error_reply(void)
{
    int fd;
    pid_t pid = start_fake(FAKE_ERROR_REPLY, &fd);
    BlockBackend *blk = open_fake(fd, &error_abort);
    uint8_t buf[4096];

    g_assert_cmpint(blk_pread(blk, 0, 4096, buf, 0), ==, -EIO);
    g_assert_cmpint(blk_pread(blk, 4096, 4096, buf, 0), ==, 0);
    blk_unref(blk);
    finish_fake(pid, fd);
}

int main(int argc, char **argv)
{
    int ret;

    if (argc == 4 && !strcmp(argv[1], "--serve")) {
        serve(argv[2], argv[3]);
    }
    self_exe = g_file_read_link("/proc/self/exe", NULL);
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    bdrv_init();
    tmpdir = g_dir_make_tmp("strata-nbdc-XXXXXX", NULL);
    g_test_add_func("/nbd-client/driver-io", test_driver_io);
    g_test_add_func("/nbd-client/x-dirty-bitmap",
                    test_driver_x_dirty_bitmap);
    g_test_add_func("/nbd-client/open-errors", test_driver_open_errors);
    g_test_add_func("/nbd-client/parse-filename", test_parse_filename);
    g_test_add_func("/nbd-client/reconnect", test_reconnect);
    g_test_add_func("/nbd-client/reconnect-delay", test_reconnect_delay);
    g_test_add_func("/nbd-client/fake-handshakes", test_fake_handshakes);
    g_test_add_func("/nbd-client/fake-oldstyle", test_fake_oldstyle);
    g_test_add_func("/nbd-client/fake-replies", test_fake_replies);
    g_test_add_func("/nbd-client/fake-error-reply", test_fake_error_reply);
    ret = g_test_run();
    {
        g_autoptr(GDir) dir = g_dir_open(tmpdir, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
            g_autofree char *p = g_build_filename(tmpdir, name, NULL);
            unlink(p);
        }
    }
    rmdir(tmpdir);
    g_free(tmpdir);
    g_free(self_exe);
    return ret;
}

/*
 * Unit tests for the NBD wire helpers: packet encoding, errno mapping,
 * names, and the socket channel's exact-length reads and writes.
 */
#include "strata/osdep.h"
#include "nbd/nbd.h"
#include "nbd/channel.h"
#include "util/error.h"
#include "util/sockets.h"
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

static void test_request_roundtrip(void)
{
    NBDRequest in = {
        .cookie = UINT64_C(0x0123456789abcdef),
        .from = UINT64_C(0x1122334455667788),
        .len = 0xdeadbeef,
        .flags = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF,
        .type = NBD_CMD_WRITE_ZEROES,
    };
    static const uint8_t expect[NBD_REQUEST_SIZE] = {
        0x25, 0x60, 0x95, 0x13,             /* magic */
        0x00, 0x05,                         /* flags */
        0x00, 0x06,                         /* type */
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
        0xde, 0xad, 0xbe, 0xef,
    };
    uint8_t buf[NBD_REQUEST_SIZE];
    NBDRequest out;

    nbd_request_encode(buf, &in);
    g_assert_cmpmem(buf, sizeof(buf), expect, sizeof(expect));
    g_assert_true(nbd_request_decode(buf, &out));
    g_assert_cmpuint(out.cookie, ==, in.cookie);
    g_assert_cmpuint(out.from, ==, in.from);
    g_assert_cmpuint(out.len, ==, in.len);
    g_assert_cmpuint(out.flags, ==, in.flags);
    g_assert_cmpuint(out.type, ==, in.type);

    buf[0] ^= 1;
    g_assert_false(nbd_request_decode(buf, &out));
}

static void test_reply_encoding(void)
{
    static const uint8_t simple[NBD_SIMPLE_REPLY_SIZE] = {
        0x67, 0x44, 0x66, 0x98, 0x00, 0x00, 0x00, 0x1c,
        0, 0, 0, 0, 0, 0, 0x12, 0x34,
    };
    static const uint8_t chunk[NBD_STRUCTURED_REPLY_SIZE] = {
        0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x80, 0x01,
        0, 0, 0, 0, 0, 0, 0, 0x42, 0x00, 0x00, 0x01, 0x00,
    };
    static const uint8_t opt[NBD_OPTION_HEADER_SIZE] = {
        'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
        0, 0, 0, 7, 0, 0, 0, 9,
    };
    static const uint8_t rep[NBD_OPTION_REPLY_SIZE] = {
        0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
        0, 0, 0, 7, 0x80, 0, 0, 6, 0, 0, 0, 0,
    };
    uint8_t buf[32];

    nbd_simple_reply_encode(buf, 0x1234, NBD_ENOSPC);
    g_assert_cmpmem(buf, sizeof(simple), simple, sizeof(simple));
    nbd_chunk_header_encode(buf, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
                            0x42, 256);
    g_assert_cmpmem(buf, sizeof(chunk), chunk, sizeof(chunk));
    nbd_option_encode(buf, NBD_OPT_GO, 9);
    g_assert_cmpmem(buf, sizeof(opt), opt, sizeof(opt));
    nbd_option_reply_encode(buf, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, 0);
    g_assert_cmpmem(buf, sizeof(rep), rep, sizeof(rep));
}

static void test_errno_mapping(void)
{
    g_assert_cmpuint(nbd_errno_to_wire(0), ==, NBD_SUCCESS);
    g_assert_cmpuint(nbd_errno_to_wire(EPERM), ==, NBD_EPERM);
    g_assert_cmpuint(nbd_errno_to_wire(EROFS), ==, NBD_EPERM);
    g_assert_cmpuint(nbd_errno_to_wire(EIO), ==, NBD_EIO);
    g_assert_cmpuint(nbd_errno_to_wire(ENOMEM), ==, NBD_ENOMEM);
    g_assert_cmpuint(nbd_errno_to_wire(ENOSPC), ==, NBD_ENOSPC);
    g_assert_cmpuint(nbd_errno_to_wire(EDQUOT), ==, NBD_ENOSPC);
    g_assert_cmpuint(nbd_errno_to_wire(EFBIG), ==, NBD_ENOSPC);
    g_assert_cmpuint(nbd_errno_to_wire(EOVERFLOW), ==, NBD_EOVERFLOW);
    g_assert_cmpuint(nbd_errno_to_wire(ENOTSUP), ==, NBD_ENOTSUP);
    g_assert_cmpuint(nbd_errno_to_wire(ESHUTDOWN), ==, NBD_ESHUTDOWN);
    g_assert_cmpuint(nbd_errno_to_wire(EBADF), ==, NBD_EINVAL);
    g_assert_cmpuint(nbd_errno_to_wire(ENOENT), ==, NBD_EINVAL);

    g_assert_cmpint(nbd_wire_to_errno(NBD_EPERM), ==, EPERM);
    g_assert_cmpint(nbd_wire_to_errno(NBD_ENOSPC), ==, ENOSPC);
    g_assert_cmpint(nbd_wire_to_errno(NBD_ESHUTDOWN), ==, ESHUTDOWN);
    /* Values outside the protocol's list read as EINVAL. */
    g_assert_cmpint(nbd_wire_to_errno(2), ==, EINVAL);
    g_assert_cmpint(nbd_wire_to_errno(0xffffffff), ==, EINVAL);
}

static void test_names(void)
{
    g_assert_cmpstr(nbd_opt_lookup(NBD_OPT_GO), ==, "NBD_OPT_GO");
    g_assert_cmpstr(nbd_opt_lookup(12345), ==, "<unknown>");
    g_assert_cmpstr(nbd_rep_lookup(NBD_REP_ERR_TOO_BIG), ==,
                    "NBD_REP_ERR_TOO_BIG");
    g_assert_cmpstr(nbd_cmd_lookup(NBD_CMD_BLOCK_STATUS), ==,
                    "NBD_CMD_BLOCK_STATUS");
    g_assert_cmpstr(nbd_info_lookup(NBD_INFO_BLOCK_SIZE), ==,
                    "NBD_INFO_BLOCK_SIZE");
    g_assert_cmpstr(nbd_reply_type_lookup(NBD_REPLY_TYPE_OFFSET_HOLE), ==,
                    "NBD_REPLY_TYPE_OFFSET_HOLE");
    g_assert_cmpstr(nbd_err_lookup(NBD_EOVERFLOW), ==, "NBD_EOVERFLOW");
    g_assert_true(NBD_REP_IS_ERR(NBD_REP_ERR_UNSUP));
    g_assert_false(NBD_REP_IS_ERR(NBD_REP_ACK));
    g_assert_true(NBD_REPLY_TYPE_IS_ERR(NBD_REPLY_TYPE_ERROR_OFFSET));
}

static void test_meta_split(void)
{
    const char *leaf = NULL;

    g_assert_true(nbd_meta_split("qemu:dirty-bitmap:b0", "qemu:", &leaf));
    g_assert_cmpstr(leaf, ==, "dirty-bitmap:b0");
    g_assert_true(nbd_meta_split("base:", "base:", &leaf));
    g_assert_cmpstr(leaf, ==, "");
    g_assert_false(nbd_meta_split("bas", "base:", &leaf));
    g_assert_false(nbd_meta_split("x-foo:bar", "qemu:", &leaf));
}

/* ---- the channel, used outside coroutines (blocking) ---- */

static void socket_pair(int sv[2])
{
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
}

static void test_channel_exact(void)
{
    int sv[2];
    NBDChannel *a, *b;
    uint8_t buf[64];
    Error *err = NULL;

    socket_pair(sv);
    a = nbd_channel_new(sv[0], NULL);
    b = nbd_channel_new(sv[1], NULL);

    /* Several messages in one write come out one read at a time. */
    g_assert_cmpint(nbd_channel_write(a, "helloworld!", 11, &error_abort),
                    ==, 0);
    g_assert_cmpint(nbd_channel_read(b, buf, 5, &error_abort), ==, 0);
    g_assert_cmpmem(buf, 5, "hello", 5);
    g_assert_true(nbd_channel_has_buffered(b));
    g_assert_cmpint(nbd_channel_skip(b, 1, &error_abort), ==, 0);
    g_assert_cmpint(nbd_channel_read_eof(b, buf, 5, &error_abort), ==, 1);
    g_assert_cmpmem(buf, 5, "orld!", 5);
    g_assert_false(nbd_channel_has_buffered(b));

    /* The end of the stream: clean before a message, an error inside. */
    g_assert_cmpint(nbd_channel_write(a, "abc", 3, &error_abort), ==, 0);
    nbd_channel_free(a);
    g_assert_cmpint(nbd_channel_read(b, buf, 2, &error_abort), ==, 0);
    g_assert_cmpint(nbd_channel_read(b, buf, 2, &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Unexpected end-of-file before all data were read");
    error_free(err);
    g_assert_cmpint(nbd_channel_read_eof(b, buf, 2, &error_abort), ==, 0);
    nbd_channel_free(b);
}

/* More than the channel's vector limit, in pieces of one byte. */
static void test_channel_many_iov(void)
{
    enum { N = 200 };
    int sv[2];
    NBDChannel *a, *b;
    uint8_t src[N + 10], dst[N];
    struct iovec iov[N];

    socket_pair(sv);
    a = nbd_channel_new(sv[0], NULL);
    b = nbd_channel_new(sv[1], NULL);
    for (int i = 0; i < N + 10; i++) {
        src[i] = i * 3;
    }
    for (int i = 0; i < N; i++) {
        iov[i].iov_base = &dst[i];
        iov[i].iov_len = 1;
    }
    g_assert_cmpint(nbd_channel_write(a, src, sizeof(src), &error_abort),
                    ==, 0);
    g_assert_cmpint(nbd_channel_readv(b, iov, N, &error_abort), ==, 0);
    g_assert_cmpmem(dst, N, src, N);
    /* What followed is still there, in order. */
    g_assert_cmpint(nbd_channel_read(b, dst, 10, &error_abort), ==, 0);
    g_assert_cmpmem(dst, 10, src + N, 10);

    /* And the same from the writing side. */
    for (int i = 0; i < N; i++) {
        iov[i].iov_base = &src[i];
    }
    g_assert_cmpint(nbd_channel_writev(a, iov, N, &error_abort), ==, 0);
    g_assert_cmpint(nbd_channel_read(b, dst, N, &error_abort), ==, 0);
    g_assert_cmpmem(dst, N, src, N);
    nbd_channel_free(a);
    nbd_channel_free(b);
}

static void test_channel_shutdown(void)
{
    int sv[2];
    NBDChannel *a, *b;
    uint8_t buf[4];
    Error *err = NULL;

    socket_pair(sv);
    a = nbd_channel_new(sv[0], NULL);
    b = nbd_channel_new(sv[1], NULL);
    nbd_channel_shutdown(a);
    g_assert_true(nbd_channel_is_shutdown(a));
    g_assert_cmpint(nbd_channel_write(a, "x", 1, &err), <, 0);
    error_free(err);
    err = NULL;
    g_assert_cmpint(nbd_channel_read(a, buf, 1, &err), <, 0);
    error_free(err);
    g_assert_cmpint(nbd_channel_read_eof(b, buf, 1, &error_abort), ==, 0);
    nbd_channel_free(a);
    nbd_channel_free(b);
}

/* A large transfer that cannot fit the socket buffers at once. */
static void test_channel_large(void)
{
    const size_t len = 8 * MiB;
    g_autofree uint8_t *src = g_malloc(len);
    g_autofree uint8_t *dst = g_malloc(len);
    int sv[2];
    pid_t pid;

    for (size_t i = 0; i < len; i++) {
        src[i] = i ^ (i >> 8);
    }
    socket_pair(sv);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        NBDChannel *a = nbd_channel_new(sv[0], NULL);

        close(sv[1]);
        _exit(nbd_channel_write(a, src, len, NULL) < 0 ? 1 : 0);
    } else {
        NBDChannel *b = nbd_channel_new(sv[1], NULL);
        int status;

        close(sv[0]);
        g_assert_cmpint(nbd_channel_read(b, dst, len, &error_abort), ==, 0);
        g_assert_cmpmem(dst, len, src, len);
        nbd_channel_free(b);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

/* ---- socket addresses ---- */

static void test_socket_address(void)
{
    SocketAddressLegacy legacy = { .type = SOCKET_ADDRESS_TYPE_INET };
    InetSocketAddress inet = {
        .host = (char *)"::1", .port = (char *)"10809",
    };
    InetSocketAddressWrapper wrap = { .data = &inet };
    g_autoptr(SocketAddress) flat = NULL;
    g_autofree char *str = NULL;

    legacy.u.inet = wrap;
    flat = socket_address_flatten(&legacy);
    g_assert_cmpint(flat->type, ==, SOCKET_ADDRESS_TYPE_INET);
    g_assert_cmpstr(flat->u.inet.host, ==, "::1");
    str = socket_address_to_string(flat);
    g_assert_cmpstr(str, ==, "::1:10809");
}

static void test_socket_unix_listen_connect(void)
{
    g_autofree char *dir = g_dir_make_tmp("strata-nbd-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_UNIX };
    g_autofree int *fds = NULL;
    Error *err = NULL;
    int n, fd, afd;

    addr.u.q_unix.path = path;
    /* Nobody listens yet. */
    fd = socket_connect(&addr, &err);
    g_assert_cmpint(fd, <, 0);
    g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                   "Failed to connect to '"));
    error_free(err);

    n = socket_listen(&addr, 1, &fds, &error_abort);
    g_assert_cmpint(n, ==, 1);
    fd = socket_connect(&addr, &error_abort);
    g_assert_cmpint(fd, >=, 0);
    afd = accept(fds[0], NULL, NULL);
    g_assert_cmpint(afd, >=, 0);
    g_assert_cmpint(write(fd, "z", 1), ==, 1);
    {
        char c;
        g_assert_cmpint(read(afd, &c, 1), ==, 1);
        g_assert_cmpint(c, ==, 'z');
    }
    close(afd);
    close(fd);
    close(fds[0]);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop();
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/nbd-wire/request-roundtrip", test_request_roundtrip);
    g_test_add_func("/nbd-wire/reply-encoding", test_reply_encoding);
    g_test_add_func("/nbd-wire/errno-mapping", test_errno_mapping);
    g_test_add_func("/nbd-wire/names", test_names);
    g_test_add_func("/nbd-wire/meta-split", test_meta_split);
    g_test_add_func("/nbd-wire/channel-exact", test_channel_exact);
    g_test_add_func("/nbd-wire/channel-many-iov", test_channel_many_iov);
    g_test_add_func("/nbd-wire/channel-shutdown", test_channel_shutdown);
    g_test_add_func("/nbd-wire/channel-large", test_channel_large);
    g_test_add_func("/nbd-wire/socket-address", test_socket_address);
    g_test_add_func("/nbd-wire/socket-unix", test_socket_unix_listen_connect);
    return g_test_run();
}

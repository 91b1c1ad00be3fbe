/*
 * Fuzz target: what an NBD server sends to Strata's client, through the
 * handshake, the export listing, and the nbd block driver's reply reader.
 */
#include "strata/osdep.h"
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include "block/block-backend.h"
#include "block/block.h"
#include "nbd/client.h"
#include "util/aio.h"
#include "util/error.h"
#include "util/qdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The server's bytes are all written before the client starts, so they
 * must fit the socket's buffer; the client's own requests are small.
 */
#define FUZZ_MAX_INPUT (128 * 1024)

/* A socket whose peer has already "sent" @data and closed. */
static int canned_server(const uint8_t *data, size_t size, int *peer)
{
    int sv[2];
    int bufsize = 4 * FUZZ_MAX_INPUT;
    size_t done = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        abort();
    }
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
    while (done < size) {
        ssize_t n = send(sv[1], data + done, size - done,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n <= 0) {
            break;
        }
        done += n;
    }
    shutdown(sv[1], SHUT_WR);
    *peer = sv[1];
    return sv[0];
}

/* The handshake and the listing, as strata-nbd -L and the driver do. */
static void fuzz_handshakes(const uint8_t *data, size_t size)
{
    NBDExportInfo info = {
        .name = g_strdup("disk"),
        .request_sizes = true,
        .structured_reply = true,
        .want_context = true,
    };
    NBDExportInfo *list = NULL;
    Error *err = NULL;
    NBDChannel *ch;
    int peer, n;

    ch = nbd_channel_new(canned_server(data, size, &peer), NULL);
    nbd_receive_negotiate(ch, &info, &err);
    error_free(err);
    err = NULL;
    nbd_export_info_clear(&info);
    nbd_channel_free(ch);
    close(peer);

    ch = nbd_channel_new(canned_server(data, size, &peer), NULL);
    n = nbd_receive_export_list(ch, &list, &err);
    error_free(err);
    for (int i = 0; i < n; i++) {
        nbd_export_info_clear(&list[i]);
    }
    g_free(list);
    nbd_channel_free(ch);
    close(peer);
}

/*
 * For the block driver the input is the server's stream cut into pieces
 * at each "NBD-NEXT" marker: the first piece is sent at once, and each
 * later one when the next 28 bytes (a request header) arrive from the
 * client; then the server hangs up.  It runs in a thread of its own, so
 * that a handshake stalled by the script still moves on.
 */
#define PIECE_MARK "NBD-NEXT"

typedef struct FakeServer {
    int fd;
    const uint8_t *data;
    size_t size;
    size_t pos;
} FakeServer;

/* Send the next piece of the script. */
static void fake_send_piece(FakeServer *fs)
{
    const uint8_t *end = memmem(fs->data + fs->pos, fs->size - fs->pos,
                                PIECE_MARK, strlen(PIECE_MARK));
    size_t len = (end ? (size_t)(end - fs->data) : fs->size) - fs->pos;

    while (len) {
        ssize_t n = send(fs->fd, fs->data + fs->pos, len, MSG_NOSIGNAL);

        if (n <= 0) {
            break;
        }
        fs->pos += n;
        len -= n;
    }
    if (end) {
        fs->pos += strlen(PIECE_MARK);
    }
}

static bool fake_recv(int fd, size_t len)
{
    uint8_t buf[256];

    while (len) {
        ssize_t n = recv(fd, buf, MIN(len, sizeof(buf)), 0);

        if (n <= 0) {
            return false;
        }
        len -= n;
    }
    return true;
}

/*
 * Wait for the next request header: skip bytes until the request magic
 * (the handshake's options come before), then take the rest of it.  A
 * client that says nothing for a while is waiting for us (the script cut
 * the handshake short): then go on with the next piece anyway.
 */
static bool fake_next_request(int fd)
{
    static const uint8_t magic[4] = { 0x25, 0x60, 0x95, 0x13 };
    size_t matched = 0;

    while (matched < sizeof(magic)) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        uint8_t c;

        if (poll(&pfd, 1, 50) == 0) {
            return true;
        }
        if (recv(fd, &c, 1, 0) != 1) {
            return false;
        }
        matched = c == magic[matched] ? matched + 1 : (c == magic[0]);
    }
    return fake_recv(fd, NBD_REQUEST_SIZE - sizeof(magic));
}

static gpointer fake_server_thread(gpointer opaque)
{
    FakeServer *fs = opaque;

    fake_send_piece(fs);
    while (fs->pos < fs->size && fake_next_request(fs->fd)) {
        fake_send_piece(fs);
    }
    shutdown(fs->fd, SHUT_WR);
    while (fake_recv(fs->fd, 1)) {
        /* until the client goes */
    }
    return NULL;
}

/* The block driver: open, then a few requests whose replies are fuzzed. */
static void fuzz_driver(const uint8_t *data, size_t size)
{
    g_autofree char *fdstr = NULL;
    json_t *opts = json_object();
    g_autofree uint8_t *buf = g_malloc(65536);
    FakeServer fs = { .data = data, .size = size };
    BlockBackend *blk;
    GThread *thread;
    int64_t pnum, map;
    BlockDriverState *file;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        abort();
    }
    fs.fd = sv[1];
    thread = g_thread_new("fake-nbd-server", fake_server_thread, &fs);

    fdstr = g_strdup_printf("%d", sv[0]);
    qdict_put_str(opts, "driver", "nbd");
    qdict_put_str(opts, "server.type", "fd");
    qdict_put_str(opts, "server.str", fdstr);
    qdict_put_str(opts, "export", "disk");
    blk = blk_new_open(NULL, NULL, opts, 0, NULL);
    if (blk) {
        int64_t len = blk_getlength(blk);
        int r1 = 0, r2 = 0, r3 = 0;

        if (len > 0) {
            r1 = blk_pread(blk, 0, MIN(len, 65536), buf, 0);
            r2 = bdrv_block_status(blk_bs(blk), 0, len, &pnum, &map, &file);
            r3 = blk_pread(blk, len / 2, MIN(len / 2, 4096), buf, 0);
        }
        if (getenv("FUZZ_NBD_DEBUG")) {
            fprintf(stderr, "opened: length %" PRId64 ", read %d, status "
                    "%d, read %d, flush %d\n", len, r1, r2, r3,
                    blk_flush(blk));
        }
        blk_unref(blk);
    }
    /* The driver's descriptor was a copy: ours ends the conversation. */
    shutdown(sv[0], SHUT_RDWR);
    g_thread_join(thread);
    close(sv[1]);
    close(sv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialized;

    if (!initialized) {
        signal(SIGPIPE, SIG_IGN);
        bdrv_init();
        initialized = true;
    }
    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    fuzz_handshakes(data, size);
    fuzz_driver(data, size);
    return 0;
}

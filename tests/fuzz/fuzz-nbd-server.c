/*
 * Fuzz target: the bytes a client sends to the NBD server, through option
 * haggling and request parsing, against two exports of a null-co node.
 */
#include "strata/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include "block/block-backend.h"
#include "nbd/server.h"
#include "util/aio.h"
#include "util/error.h"
#include "util/qdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static NBDServer *server;

/*
 * Exports "" (writable, with allocation depth) and "ro" of a 4 MiB node
 * that reads as zeroes: nothing a client does can reach a file.
 */
static void fuzz_init(void)
{
    json_t *opts = json_object();
    NBDExportConfig cfg = { .name = "", .writable = true,
                            .allocation_depth = true };
    BlockBackend *blk;

    signal(SIGPIPE, SIG_IGN);
    bdrv_init();
    qdict_put_str(opts, "driver", "null-co");
    qdict_put_str(opts, "size", "4M");
    qdict_put_str(opts, "read-zeroes", "on");
    blk = blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
    server = nbd_server_new(NULL, 0);
    cfg.blk = blk;
    nbd_export_new(server, &cfg, &error_abort);
    cfg.name = "ro";
    cfg.writable = false;
    nbd_export_new(server, &cfg, &error_abort);
    blk_unref(blk);
}

/* Read and drop what the server sent; false once it has hung up. */
static bool drain(int fd)
{
    char buf[65536];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n > 0) {
            continue;
        }
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                         errno == EINTR);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    AioContext *ctx;
    size_t sent = 0;
    int sv[2];
    unsigned rounds = 0;

    if (!server) {
        fuzz_init();
    }
    ctx = qemu_get_aio_context();
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        abort();
    }
    nbd_server_add_client(server, sv[0]);

    /* Feed the input while the server runs, then say we are done. */
    while (sent < size) {
        ssize_t n = send(sv[1], data + sent, size - sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n > 0) {
            sent += n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break;          /* the server hung up early */
        }
        aio_poll(ctx, false);
        if (!drain(sv[1])) {
            break;
        }
    }
    shutdown(sv[1], SHUT_WR);

    /* The server must finish and hang up by itself. */
    while (drain(sv[1])) {
        struct pollfd pfd = { .fd = sv[1], .events = POLLIN };

        if (!aio_poll(ctx, false)) {
            poll(&pfd, 1, 10);
        }
        if (++rounds > 100000) {
            fprintf(stderr, "fuzz-nbd-server: the server never hung up\n");
            abort();
        }
    }
    close(sv[1]);
    /* Let the client's teardown run. */
    while (nbd_server_client_count(server)) {
        aio_poll(ctx, true);
    }
    return 0;
}

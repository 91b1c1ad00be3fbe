/*
 * NBDChannel: exact-length socket I/O for NBD, buffered on the read side,
 * yielding to the event loop in coroutines and polling outside them.
 */
#include "strata/osdep.h"
#include "nbd/channel.h"
#include "util/error.h"
#include "util/iov.h"
#include <poll.h>
#include <sys/socket.h>

/*
 * Reads fill the caller's buffers directly and let the kernel put what
 * follows into a read-ahead buffer in the same system call, so a stream
 * of small requests costs about one recvmsg() per batch.
 */
#define CHANNEL_RBUF_SIZE (64 * 1024)

/* At most this many caller buffers plus the read-ahead one per call. */
#define CHANNEL_MAX_IOV 64

struct NBDChannel {
    int fd;
    AioContext *ctx;
    bool shutdown;
    /* Coroutines waiting for the socket, and the handlers installed. */
    Coroutine *read_co;
    Coroutine *write_co;
    bool reg_read;
    bool reg_write;
    /* Read-ahead: bytes [rpos, rend) of rbuf are unread. */
    uint8_t *rbuf;
    size_t rpos;
    size_t rend;
};

static void channel_update_handlers(NBDChannel *ch, bool want_read,
                                    bool want_write);

static void channel_readable(void *opaque)
{
    NBDChannel *ch = opaque;
    Coroutine *co = ch->read_co;

    if (!co) {
        /* Nobody is waiting any more: stop watching (lazily). */
        channel_update_handlers(ch, false, ch->reg_write);
        return;
    }
    ch->read_co = NULL;
    aio_co_wake(co);
}

static void channel_writable(void *opaque)
{
    NBDChannel *ch = opaque;
    Coroutine *co = ch->write_co;

    if (!co) {
        channel_update_handlers(ch, ch->reg_read, false);
        return;
    }
    ch->write_co = NULL;
    aio_co_wake(co);
}

static void channel_update_handlers(NBDChannel *ch, bool want_read,
                                    bool want_write)
{
    if (want_read == ch->reg_read && want_write == ch->reg_write) {
        return;
    }
    ch->reg_read = want_read;
    ch->reg_write = want_write;
    aio_set_fd_handler(ch->ctx, ch->fd,
                       want_read ? channel_readable : NULL,
                       want_write ? channel_writable : NULL, ch);
}

NBDChannel *nbd_channel_new(int fd, AioContext *ctx)
{
    NBDChannel *ch = g_new0(NBDChannel, 1);
    int flags = fcntl(fd, F_GETFL);

    if (flags >= 0 && !(flags & O_NONBLOCK)) {
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    ch->fd = fd;
    ch->ctx = ctx ? ctx : qemu_get_aio_context();
    return ch;
}

void nbd_channel_free(NBDChannel *ch)
{
    if (!ch) {
        return;
    }
    assert(!ch->read_co && !ch->write_co);
    if (ch->reg_read || ch->reg_write) {
        aio_set_fd_handler(ch->ctx, ch->fd, NULL, NULL, NULL);
    }
    close(ch->fd);
    g_free(ch->rbuf);
    g_free(ch);
}

int nbd_channel_fd(NBDChannel *ch)
{
    return ch->fd;
}

bool nbd_channel_is_shutdown(NBDChannel *ch)
{
    return ch->shutdown;
}

bool nbd_channel_has_buffered(NBDChannel *ch)
{
    return ch->rpos < ch->rend;
}

void nbd_channel_shutdown(NBDChannel *ch)
{
    Coroutine *co;

    if (ch->shutdown) {
        return;
    }
    ch->shutdown = true;
    shutdown(ch->fd, SHUT_RDWR);
    /*
     * Wake the waiters ourselves (a hang-up alone may not look writable),
     * from the event loop: entering them here could free the channel, or
     * whatever our caller is iterating over, under our feet.
     */
    co = ch->read_co;
    if (co) {
        ch->read_co = NULL;
        aio_co_schedule(ch->ctx, co);
    }
    co = ch->write_co;
    if (co) {
        ch->write_co = NULL;
        aio_co_schedule(ch->ctx, co);
    }
}

/* Wait until the socket may be readable or writable again. */
static void channel_wait(NBDChannel *ch, bool for_write)
{
    if (qemu_in_coroutine()) {
        if (for_write) {
            assert(!ch->write_co);
            ch->write_co = qemu_coroutine_self();
            channel_update_handlers(ch, ch->reg_read, true);
        } else {
            assert(!ch->read_co);
            ch->read_co = qemu_coroutine_self();
            channel_update_handlers(ch, true, ch->reg_write);
        }
        qemu_coroutine_yield();
    } else {
        struct pollfd pfd = {
            .fd = ch->fd,
            .events = for_write ? POLLOUT : POLLIN,
        };

        while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
            /* retry */
        }
    }
}

void nbd_channel_wait_writable(NBDChannel *ch)
{
    if (!ch->shutdown) {
        channel_wait(ch, true);
    }
}

/* ---- reading ---- */

/*
 * Fill @iov (total @len bytes) from the read-ahead buffer and the socket.
 * Returns 1 when complete, 0 at EOF before any byte, -errno otherwise;
 * *@got counts the bytes delivered.
 */
static int channel_readv_full(NBDChannel *ch, const struct iovec *iov,
                              int niov, size_t len, size_t *got)
{
    struct iovec vec[CHANNEL_MAX_IOV + 1];
    size_t done = 0;

    *got = 0;
    if (!len) {
        return 1;
    }
    /* Whatever is buffered comes first. */
    if (ch->rpos < ch->rend) {
        size_t n = MIN(ch->rend - ch->rpos, len);

        iov_from_buf(iov, niov, 0, ch->rbuf + ch->rpos, n);
        ch->rpos += n;
        done = n;
        if (ch->rpos == ch->rend) {
            ch->rpos = ch->rend = 0;
        }
    }
    while (done < len) {
        struct msghdr msg = { .msg_iov = vec };
        ssize_t ret;
        unsigned cnt = 0;
        size_t skip = done;
        bool whole = true;

        if (ch->shutdown) {
            *got = done;
            return -ESHUTDOWN;
        }
        /* The part of the caller's vector still to fill ... */
        for (int i = 0; i < niov; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            if (cnt == CHANNEL_MAX_IOV) {
                whole = false;
                break;
            }
            vec[cnt].iov_base = (uint8_t *)iov[i].iov_base + skip;
            vec[cnt].iov_len = iov[i].iov_len - skip;
            skip = 0;
            cnt++;
        }
        /*
         * ... then room for read-ahead (the buffer is empty here), unless
         * the caller's vector did not fit: bytes must land in order.
         */
        if (whole) {
            if (!ch->rbuf) {
                ch->rbuf = g_malloc(CHANNEL_RBUF_SIZE);
            }
            vec[cnt].iov_base = ch->rbuf;
            vec[cnt].iov_len = CHANNEL_RBUF_SIZE;
            cnt++;
        }
        msg.msg_iovlen = cnt;

        ret = recvmsg(ch->fd, &msg, 0);
        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                channel_wait(ch, false);
                continue;
            }
            *got = done;
            return -errno;
        }
        if (ret == 0) {
            *got = done;
            return done ? -EPIPE : 0;
        }
        if ((size_t)ret > len - done) {
            ch->rend = ret - (len - done);
            ch->rpos = 0;
            ret = len - done;
        }
        done += ret;
    }
    *got = done;
    return 1;
}

static int channel_read_error(int ret, Error **errp)
{
    if (ret == 0 || ret == -EPIPE) {
        error_setg(errp, "Unexpected end-of-file before all data were read");
        return -EIO;
    }
    if (ret == -ESHUTDOWN) {
        error_setg(errp, "Connection shut down");
        return ret;
    }
    error_setg_errno(errp, -ret, "Unable to read from socket");
    return ret;
}

int nbd_channel_read_eof(NBDChannel *ch, void *buf, size_t len, Error **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    size_t got;
    int ret = channel_readv_full(ch, &iov, 1, len, &got);

    if (ret == 1 || (ret == 0 && !got)) {
        return ret;
    }
    return channel_read_error(ret, errp);
}

int nbd_channel_readv(NBDChannel *ch, const struct iovec *iov, int niov,
                      Error **errp)
{
    size_t got;
    int ret = channel_readv_full(ch, iov, niov, iov_size(iov, niov), &got);

    return ret == 1 ? 0 : channel_read_error(ret, errp);
}

int nbd_channel_read(NBDChannel *ch, void *buf, size_t len, Error **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    return nbd_channel_readv(ch, &iov, 1, errp);
}

int nbd_channel_skip(NBDChannel *ch, uint64_t len, Error **errp)
{
    g_autofree uint8_t *scratch = g_malloc(MIN(len, 65536) ? : 1);

    while (len) {
        size_t n = MIN(len, 65536);
        int ret = nbd_channel_read(ch, scratch, n, errp);

        if (ret < 0) {
            return ret;
        }
        len -= n;
    }
    return 0;
}

/* ---- writing ---- */

int nbd_channel_writev(NBDChannel *ch, const struct iovec *iov, int niov,
                       Error **errp)
{
    struct iovec vec[CHANNEL_MAX_IOV];
    size_t total = iov_size(iov, niov);
    size_t done = 0;

    while (done < total) {
        struct msghdr msg = { .msg_iov = vec };
        size_t skip = done;
        unsigned cnt = 0;
        ssize_t ret;

        if (ch->shutdown) {
            error_setg(errp, "Connection shut down");
            return -ESHUTDOWN;
        }
        for (int i = 0; i < niov && cnt < CHANNEL_MAX_IOV; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            vec[cnt].iov_base = (uint8_t *)iov[i].iov_base + skip;
            vec[cnt].iov_len = iov[i].iov_len - skip;
            skip = 0;
            cnt++;
        }
        msg.msg_iovlen = cnt;
        ret = sendmsg(ch->fd, &msg, MSG_NOSIGNAL);
        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                channel_wait(ch, true);
                continue;
            }
            error_setg_errno(errp, errno, "Unable to write to socket");
            return -errno;
        }
        done += ret;
    }
    return 0;
}

int nbd_channel_write(NBDChannel *ch, const void *buf, size_t len,
                      Error **errp)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return nbd_channel_writev(ch, &iov, 1, errp);
}

/*
 * io_uring engine: requests queued from coroutines are submitted in one
 * batch per event-loop iteration; completions arrive through an eventfd.
 */
#include "strata/osdep.h"
#include "util/error.h"
#include "util/aio-engines.h"
#include "aio-int.h"

#ifdef CONFIG_IO_URING
#include <liburing.h>
#include <sys/eventfd.h>

#define RING_ENTRIES 256

typedef struct LuringRequest {
    Coroutine *co;
    int fd;
    AioEngineOp op;
    uint64_t offset;
    struct iovec *iov;      /* private copy, advanced on short transfers */
    int niov;
    size_t remaining;
    int ret;
    bool done;
    struct LuringRequest *next_overflow;
} LuringRequest;

struct LuringState {
    AioContext *ctx;
    struct io_uring ring;
    int efd;
    QEMUBH *submit_bh;
    unsigned queued;
    LuringRequest *overflow_head;
    LuringRequest *overflow_tail;
};

static void luring_prep(LuringState *s, struct io_uring_sqe *sqe,
                        LuringRequest *req)
{
    switch (req->op) {
    case AIO_ENGINE_READ:
        io_uring_prep_readv(sqe, req->fd, req->iov, req->niov, req->offset);
        break;
    case AIO_ENGINE_WRITE:
        io_uring_prep_writev(sqe, req->fd, req->iov, req->niov, req->offset);
        break;
    case AIO_ENGINE_FLUSH:
        io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
        break;
    }
    io_uring_sqe_set_data(sqe, req);
    s->queued++;
}

static void luring_enqueue(LuringState *s, LuringRequest *req)
{
    struct io_uring_sqe *sqe = NULL;

    if (!s->overflow_head) {
        sqe = io_uring_get_sqe(&s->ring);
    }
    if (sqe) {
        luring_prep(s, sqe, req);
    } else {
        req->next_overflow = NULL;
        if (s->overflow_tail) {
            s->overflow_tail->next_overflow = req;
        } else {
            s->overflow_head = req;
        }
        s->overflow_tail = req;
    }
    qemu_bh_schedule(s->submit_bh);
}

static void luring_submit_bh(void *opaque)
{
    LuringState *s = opaque;

    for (;;) {
        while (s->overflow_head) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

            if (!sqe) {
                break;
            }
            LuringRequest *req = s->overflow_head;
            s->overflow_head = req->next_overflow;
            if (!s->overflow_head) {
                s->overflow_tail = NULL;
            }
            luring_prep(s, sqe, req);
        }
        if (!s->queued) {
            return;
        }
        int ret = io_uring_submit(&s->ring);
        if (ret < 0 && ret != -EAGAIN && ret != -EBUSY && ret != -EINTR) {
            fprintf(stderr, "io_uring_submit failed: %s\n", strerror(-ret));
            abort();
        }
        if (ret > 0) {
            s->queued -= MIN((unsigned)ret, s->queued);
        }
        if (ret <= 0 || !s->overflow_head) {
            /* Retried from the completion handler when the ring drains. */
            return;
        }
    }
}

static void luring_advance(LuringRequest *req, size_t n)
{
    req->offset += n;
    req->remaining -= n;
    while (n > 0 && req->niov > 0) {
        if (n >= req->iov[0].iov_len) {
            n -= req->iov[0].iov_len;
            req->iov++;
            req->niov--;
        } else {
            req->iov[0].iov_base = (char *)req->iov[0].iov_base + n;
            req->iov[0].iov_len -= n;
            n = 0;
        }
    }
}

static void zero_fill(LuringRequest *req)
{
    for (int i = 0; i < req->niov; i++) {
        memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
    }
}

/* Returns true if the request finished, false if it was resubmitted. */
static bool luring_complete_one(LuringState *s, LuringRequest *req, int res)
{
    if (res < 0) {
        req->ret = res;
        return true;
    }
    if (req->op == AIO_ENGINE_FLUSH || (size_t)res == req->remaining) {
        req->ret = 0;
        return true;
    }
    if (res == 0) {
        if (req->op == AIO_ENGINE_READ) {
            /* End of file: the rest reads as zeroes. */
            zero_fill(req);
            req->ret = 0;
        } else {
            req->ret = -ENOSPC;
        }
        return true;
    }
    luring_advance(req, res);
    luring_enqueue(s, req);
    return false;
}

static void luring_process_completions(LuringState *s)
{
    struct io_uring_cqe *cqe;
    LuringRequest *finished = NULL, **tail = &finished;

    while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
        LuringRequest *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&s->ring, cqe);
        if (res == -EINTR || res == -EAGAIN) {
            luring_enqueue(s, req);
            continue;
        }
        if (luring_complete_one(s, req, res)) {
            req->next_overflow = NULL;
            *tail = req;
            tail = &req->next_overflow;
        }
    }
    /* Wake after draining the ring: woken coroutines may queue more. */
    while (finished) {
        LuringRequest *req = finished;
        finished = req->next_overflow;
        req->done = true;
        aio_co_wake(req->co);
    }
    if (s->overflow_head) {
        qemu_bh_schedule(s->submit_bh);
    }
}

static void luring_efd_read(void *opaque)
{
    LuringState *s = opaque;
    uint64_t val;

    if (read(s->efd, &val, sizeof(val)) < 0 && errno != EAGAIN) {
        /* Nothing else to do: completions are read from the ring below. */
    }
    luring_process_completions(s);
}

int coroutine_fn luring_co_submit(LuringState *s, int fd, uint64_t offset,
                                  const struct iovec *iov, int niov,
                                  AioEngineOp op)
{
    struct iovec small[8];
    g_autofree struct iovec *big = NULL;
    LuringRequest req = {
        .co = qemu_coroutine_self(),
        .fd = fd,
        .op = op,
        .offset = offset,
        .niov = niov,
    };

    if (niov <= (int)ARRAY_SIZE(small)) {
        req.iov = small;
    } else {
        req.iov = big = g_new(struct iovec, niov);
    }
    for (int i = 0; i < niov; i++) {
        req.iov[i] = iov[i];
        req.remaining += iov[i].iov_len;
    }
    luring_enqueue(s, &req);
    while (!req.done) {
        qemu_coroutine_yield();
    }
    return req.ret;
}

static int probe_result = -1;

bool luring_available(void)
{
    if (probe_result < 0) {
        struct io_uring ring;

        probe_result = io_uring_queue_init(4, &ring, 0) == 0;
        if (probe_result) {
            io_uring_queue_exit(&ring);
        }
    }
    return probe_result;
}

LuringState *aio_setup_linux_io_uring(AioContext *ctx, Error **errp)
{
    LuringState *s;
    int ret;

    if (ctx->linux_io_uring) {
        return ctx->linux_io_uring;
    }
    s = g_new0(LuringState, 1);
    ret = io_uring_queue_init(RING_ENTRIES, &s->ring, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to init linux io_uring ring");
        g_free(s);
        return NULL;
    }
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->efd < 0 || io_uring_register_eventfd(&s->ring, s->efd) < 0) {
        error_setg_errno(errp, errno, "Failed to set up io_uring eventfd");
        if (s->efd >= 0) {
            close(s->efd);
        }
        io_uring_queue_exit(&s->ring);
        g_free(s);
        return NULL;
    }
    s->ctx = ctx;
    s->submit_bh = aio_bh_new(ctx, luring_submit_bh, s);
    aio_set_fd_handler(ctx, s->efd, luring_efd_read, NULL, s);
    ctx->linux_io_uring = s;
    return s;
}

void luring_cleanup(LuringState *s)
{
    aio_set_fd_handler(s->ctx, s->efd, NULL, NULL, NULL);
    qemu_bh_delete(s->submit_bh);
    io_uring_queue_exit(&s->ring);
    close(s->efd);
    g_free(s);
}

#else /* !CONFIG_IO_URING */

bool luring_available(void)
{
    return false;
}

LuringState *aio_setup_linux_io_uring(AioContext *ctx, Error **errp)
{
    error_setg(errp, "io_uring support is not compiled in");
    return NULL;
}

int coroutine_fn luring_co_submit(LuringState *s, int fd, uint64_t offset,
                                  const struct iovec *iov, int niov,
                                  AioEngineOp op)
{
    return -ENOTSUP;
}

void luring_cleanup(LuringState *s)
{
}

#endif

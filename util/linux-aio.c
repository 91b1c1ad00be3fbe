/*
 * Linux AIO engine (io_submit), used with O_DIRECT for aio=native:
 * batched submission per loop iteration, completions through an eventfd.
 */
#include "strata/osdep.h"
#include "util/error.h"
#include "util/aio-engines.h"
#include "aio-int.h"

#ifdef CONFIG_LINUX_AIO
#include <libaio.h>
#include <sys/eventfd.h>

#define MAX_EVENTS 1024
#define MAX_BATCH 128

typedef struct LaioRequest {
    struct iocb iocb;
    Coroutine *co;
    AioEngineOp op;
    struct iovec *iov;
    int niov;
    size_t remaining;
    uint64_t offset;
    int fd;
    int ret;
    bool done;
    struct LaioRequest *next;
} LaioRequest;

struct LinuxAioState {
    AioContext *ctx;
    io_context_t io_ctx;
    int efd;
    QEMUBH *submit_bh;
    LaioRequest *pending_head;
    LaioRequest *pending_tail;
    unsigned in_flight;
};

static void laio_enqueue(LinuxAioState *s, LaioRequest *req)
{
    switch (req->op) {
    case AIO_ENGINE_READ:
        io_prep_preadv(&req->iocb, req->fd, req->iov, req->niov, req->offset);
        break;
    case AIO_ENGINE_WRITE:
        io_prep_pwritev(&req->iocb, req->fd, req->iov, req->niov,
                        req->offset);
        break;
    case AIO_ENGINE_FLUSH:
        io_prep_fdsync(&req->iocb, req->fd);
        break;
    }
    io_set_eventfd(&req->iocb, s->efd);
    req->next = NULL;
    if (s->pending_tail) {
        s->pending_tail->next = req;
    } else {
        s->pending_head = req;
    }
    s->pending_tail = req;
    qemu_bh_schedule(s->submit_bh);
}

static void laio_finish(LaioRequest *req, int ret)
{
    req->ret = ret;
    req->done = true;
    aio_co_wake(req->co);
}

static void laio_submit_bh(void *opaque)
{
    LinuxAioState *s = opaque;

    while (s->pending_head && s->in_flight < MAX_EVENTS) {
        struct iocb *batch[MAX_BATCH];
        LaioRequest *req = s->pending_head;
        int n = 0, ret;

        while (req && n < MAX_BATCH && s->in_flight + n < MAX_EVENTS) {
            batch[n++] = &req->iocb;
            req = req->next;
        }
        ret = io_submit(s->io_ctx, n, batch);
        if (ret == -EAGAIN) {
            return; /* retried when something completes */
        }
        if (ret < 0) {
            /* The first request is rejected; fail it and go on. */
            req = s->pending_head;
            s->pending_head = req->next;
            if (!s->pending_head) {
                s->pending_tail = NULL;
            }
            laio_finish(req, ret);
            continue;
        }
        s->in_flight += ret;
        for (int i = 0; i < ret; i++) {
            s->pending_head = s->pending_head->next;
        }
        if (!s->pending_head) {
            s->pending_tail = NULL;
        }
    }
}

static void laio_advance(LaioRequest *req, size_t n)
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

static void laio_complete(LinuxAioState *s, LaioRequest *req, long res)
{
    if (res < 0) {
        laio_finish(req, res);
    } else if (req->op == AIO_ENGINE_FLUSH || (size_t)res == req->remaining) {
        laio_finish(req, 0);
    } else if (req->op == AIO_ENGINE_READ) {
        /*
         * O_DIRECT reads stop short at end of file; what lies beyond
         * reads as zeroes.
         */
        laio_advance(req, res);
        for (int i = 0; i < req->niov; i++) {
            memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
        }
        laio_finish(req, 0);
    } else if (res == 0) {
        laio_finish(req, -ENOSPC);
    } else {
        laio_advance(req, res);
        laio_enqueue(s, req);
    }
}

static void laio_efd_read(void *opaque)
{
    LinuxAioState *s = opaque;
    struct io_event events[MAX_BATCH];
    uint64_t val;
    int n;

    if (read(s->efd, &val, sizeof(val)) < 0 && errno != EAGAIN) {
        /* The events are collected below regardless. */
    }
    do {
        struct timespec zero = { 0, 0 };

        n = io_getevents(s->io_ctx, 0, MAX_BATCH, events, &zero);
        for (int i = 0; i < n; i++) {
            LaioRequest *req = container_of(events[i].obj, LaioRequest, iocb);
            long res = (long)events[i].res;

            s->in_flight--;
            laio_complete(s, req, res);
        }
    } while (n == MAX_BATCH);
    if (s->pending_head) {
        qemu_bh_schedule(s->submit_bh);
    }
}

int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, uint64_t offset,
                                const struct iovec *iov, int niov,
                                AioEngineOp op)
{
    struct iovec small[8];
    g_autofree struct iovec *big = NULL;
    LaioRequest req = {
        .co = qemu_coroutine_self(),
        .fd = fd,
        .op = op,
        .offset = offset,
        .niov = niov,
    };

    req.iov = niov <= (int)ARRAY_SIZE(small) ? small
                                             : (big = g_new(struct iovec, niov));
    for (int i = 0; i < niov; i++) {
        req.iov[i] = iov[i];
        req.remaining += iov[i].iov_len;
    }
    laio_enqueue(s, &req);
    while (!req.done) {
        qemu_coroutine_yield();
    }
    return req.ret;
}

bool laio_available(void)
{
    return true;
}

LinuxAioState *aio_setup_linux_aio(AioContext *ctx, Error **errp)
{
    LinuxAioState *s;
    int ret;

    if (ctx->linux_aio) {
        return ctx->linux_aio;
    }
    s = g_new0(LinuxAioState, 1);
    ret = io_setup(MAX_EVENTS, &s->io_ctx);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to create linux AIO context");
        g_free(s);
        return NULL;
    }
    s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->efd < 0) {
        error_setg_errno(errp, errno, "Failed to create eventfd");
        io_destroy(s->io_ctx);
        g_free(s);
        return NULL;
    }
    s->ctx = ctx;
    s->submit_bh = aio_bh_new(ctx, laio_submit_bh, s);
    aio_set_fd_handler(ctx, s->efd, laio_efd_read, NULL, s);
    ctx->linux_aio = s;
    return s;
}

void laio_cleanup(LinuxAioState *s)
{
    aio_set_fd_handler(s->ctx, s->efd, NULL, NULL, NULL);
    qemu_bh_delete(s->submit_bh);
    io_destroy(s->io_ctx);
    close(s->efd);
    g_free(s);
}

#else /* !CONFIG_LINUX_AIO */

bool laio_available(void)
{
    return false;
}

LinuxAioState *aio_setup_linux_aio(AioContext *ctx, Error **errp)
{
    error_setg(errp, "Linux AIO support is not compiled in");
    return NULL;
}

int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, uint64_t offset,
                                const struct iovec *iov, int niov,
                                AioEngineOp op)
{
    return -ENOTSUP;
}

void laio_cleanup(LinuxAioState *s)
{
}

#endif

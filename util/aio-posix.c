/*
 * The event loop proper: AioContext creation, fd handlers on epoll,
 * cross-thread notification by eventfd, and aio_poll().
 */
#include "strata/osdep.h"
#include "util/error.h"
#include "aio-int.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

struct AioHandler {
    int fd;
    IOHandler *io_read;
    IOHandler *io_write;
    void *opaque;
    bool deleted;
};

static AioContext *main_ctx;
static __thread AioContext *current_ctx;

static void notify_read(void *opaque)
{
    AioContext *ctx = opaque;
    uint64_t val;

    /* Only drains the counter; the wake-up itself was the point. */
    while (read(ctx->notify_fd, &val, sizeof(val)) < 0 && errno == EINTR) {
        /* retry */
    }
}

AioContext *aio_context_new(Error **errp)
{
    AioContext *ctx = g_new0(AioContext, 1);

    ctx->refcnt = 1;
    ctx->epollfd = epoll_create1(EPOLL_CLOEXEC);
    if (ctx->epollfd < 0) {
        error_setg_errno(errp, errno, "Failed to create epoll instance");
        g_free(ctx);
        return NULL;
    }
    ctx->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ctx->notify_fd < 0) {
        error_setg_errno(errp, errno, "Failed to create event notifier");
        close(ctx->epollfd);
        g_free(ctx);
        return NULL;
    }
    ctx->handlers = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                          NULL, g_free);
    g_mutex_init(&ctx->bh_lock);
    aio_set_fd_handler(ctx, ctx->notify_fd, notify_read, NULL, ctx);
    return ctx;
}

void aio_context_unref(AioContext *ctx)
{
    if (--ctx->refcnt > 0) {
        return;
    }
    if (ctx->thread_pool) {
        thread_pool_free(ctx->thread_pool);
    }
    if (ctx->linux_io_uring) {
        luring_cleanup(ctx->linux_io_uring);
    }
    if (ctx->linux_aio) {
        laio_cleanup(ctx->linux_aio);
    }
    aio_set_fd_handler(ctx, ctx->notify_fd, NULL, NULL, NULL);
    aio_bh_cleanup(ctx);
    g_slist_free_full(ctx->deleted_handlers, g_free);
    g_hash_table_destroy(ctx->handlers);
    close(ctx->notify_fd);
    close(ctx->epollfd);
    g_mutex_clear(&ctx->bh_lock);
    if (main_ctx == ctx) {
        main_ctx = NULL;
    }
    if (current_ctx == ctx) {
        current_ctx = NULL;
    }
    g_free(ctx);
}

void qemu_init_main_loop(void)
{
    if (!main_ctx) {
        main_ctx = aio_context_new(&error_abort);
    }
    current_ctx = main_ctx;
}

AioContext *qemu_get_aio_context(void)
{
    if (!main_ctx) {
        qemu_init_main_loop();
    }
    return main_ctx;
}

AioContext *qemu_get_current_aio_context(void)
{
    if (current_ctx) {
        return current_ctx;
    }
    return qemu_get_aio_context();
}

void aio_context_set_current(AioContext *ctx)
{
    current_ctx = ctx;
}

void aio_notify(AioContext *ctx)
{
    uint64_t one = 1;

    if (!__atomic_load_n(&ctx->notify_me, __ATOMIC_SEQ_CST)) {
        return;
    }
    while (write(ctx->notify_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
        /* retry */
    }
}

static uint32_t handler_events(AioHandler *h)
{
    return (h->io_read ? EPOLLIN | EPOLLHUP | EPOLLERR : 0) |
           (h->io_write ? EPOLLOUT | EPOLLERR : 0);
}

void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque)
{
    AioHandler *h = g_hash_table_lookup(ctx->handlers, GINT_TO_POINTER(fd));
    struct epoll_event ev = { 0 };

    if (!io_read && !io_write) {
        if (h) {
            epoll_ctl(ctx->epollfd, EPOLL_CTL_DEL, fd, NULL);
            g_hash_table_steal(ctx->handlers, GINT_TO_POINTER(fd));
            /* Events already fetched may still point at it. */
            h->deleted = true;
            ctx->deleted_handlers = g_slist_prepend(ctx->deleted_handlers, h);
        }
        return;
    }
    if (!h) {
        h = g_new0(AioHandler, 1);
        h->fd = fd;
        h->io_read = io_read;
        h->io_write = io_write;
        h->opaque = opaque;
        g_hash_table_insert(ctx->handlers, GINT_TO_POINTER(fd), h);
        ev.events = handler_events(h);
        ev.data.ptr = h;
        if (epoll_ctl(ctx->epollfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            fprintf(stderr, "epoll_ctl(ADD, %d) failed: %s\n", fd,
                    strerror(errno));
            abort();
        }
        return;
    }
    h->io_read = io_read;
    h->io_write = io_write;
    h->opaque = opaque;
    ev.events = handler_events(h);
    ev.data.ptr = h;
    if (epoll_ctl(ctx->epollfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
        fprintf(stderr, "epoll_ctl(MOD, %d) failed: %s\n", fd,
                strerror(errno));
        abort();
    }
}

static int epoll_wait_ns(int epfd, struct epoll_event *events, int max,
                         int64_t timeout_ns)
{
#ifdef SYS_epoll_pwait2
    static bool no_pwait2;

    if (!no_pwait2 && timeout_ns > 0) {
        struct timespec ts = {
            .tv_sec = timeout_ns / NANOSECONDS_PER_SECOND,
            .tv_nsec = timeout_ns % NANOSECONDS_PER_SECOND,
        };
        int ret = epoll_pwait2(epfd, events, max, &ts, NULL);

        if (ret >= 0 || errno != ENOSYS) {
            return ret;
        }
        no_pwait2 = true;
    }
#endif
    if (timeout_ns > 0) {
        /* Round up so that timers are never run early. */
        int64_t ms = DIV_ROUND_UP(timeout_ns, SCALE_MS);
        return epoll_wait(epfd, events, max, ms > INT_MAX ? INT_MAX : ms);
    }
    return epoll_wait(epfd, events, max, timeout_ns < 0 ? -1 : 0);
}

bool aio_poll(AioContext *ctx, bool blocking)
{
    struct epoll_event events[64];
    AioContext *saved_ctx = current_ctx;
    bool progress;
    int64_t timeout;
    int n;

    current_ctx = ctx;
    ctx->dispatch_depth++;
    progress = aio_bh_poll(ctx);

    if (blocking && !progress) {
        __atomic_store_n(&ctx->notify_me, 1, __ATOMIC_SEQ_CST);
        /* Re-check after announcing that we may sleep. */
        timeout = aio_bh_pending(ctx) ? 0 : aio_timers_deadline_ns(ctx);
    } else {
        timeout = 0;
    }

    do {
        n = epoll_wait_ns(ctx->epollfd, events, ARRAY_SIZE(events), timeout);
    } while (n < 0 && errno == EINTR && timeout == 0);
    __atomic_store_n(&ctx->notify_me, 0, __ATOMIC_SEQ_CST);

    for (int i = 0; i < n; i++) {
        AioHandler *h = events[i].data.ptr;
        uint32_t ev = events[i].events;

        if (!h->deleted && h->io_read &&
            (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
            h->io_read(h->opaque);
            if (h->fd != ctx->notify_fd) {
                progress = true;
            }
        }
        if (!h->deleted && h->io_write && (ev & (EPOLLOUT | EPOLLERR))) {
            h->io_write(h->opaque);
            progress = true;
        }
    }

    progress |= aio_timers_run(ctx);
    progress |= aio_bh_poll(ctx);

    if (--ctx->dispatch_depth == 0 && ctx->deleted_handlers) {
        g_slist_free_full(ctx->deleted_handlers, g_free);
        ctx->deleted_handlers = NULL;
    }
    current_ctx = saved_ctx;
    return progress;
}

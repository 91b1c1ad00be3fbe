/*
 * AioContext internals shared by the event loop, bottom halves and timers.
 */
#ifndef UTIL_AIO_INT_H
#define UTIL_AIO_INT_H

#include "util/aio.h"

typedef struct AioHandler AioHandler;

struct QEMUBH {
    AioContext *ctx;
    QEMUBHFunc *cb;
    void *opaque;
    QEMUBH *next_scheduled;
    bool scheduled;
    bool deleted;
    bool oneshot;
};

struct QEMUTimer {
    AioContext *ctx;
    QEMUClockType type;
    int scale;
    QEMUTimerCB *cb;
    void *opaque;
    int64_t expire_ns;
    bool pending;
    QEMUTimer *next;
};

/* One aio_bh_poll()'s batch (on its stack). */
typedef struct BHSlice {
    QEMUBH *head;
    struct BHSlice *next;
} BHSlice;

struct AioContext {
    int refcnt;
    int epollfd;
    int notify_fd;
    /* Set while aio_poll may sleep, so that aio_notify knows to kick. */
    int notify_me;
    GHashTable *handlers;           /* fd -> AioHandler */
    GSList *deleted_handlers;
    int dispatch_depth;

    GMutex bh_lock;
    QEMUBH *bh_head;
    QEMUBH *bh_tail;
    /*
     * Batches of BHs being run, oldest first.  A BH callback that polls
     * (a synchronous request in a QMP command) runs the rest of the outer
     * batches too: a BH scheduled before it must not wait for it.
     */
    struct BHSlice *bh_slices;

    QEMUTimer *timers[QEMU_CLOCK_MAX];

    ThreadPool *thread_pool;
    LuringState *linux_io_uring;
    LinuxAioState *linux_aio;
};

/* async.c */
bool aio_bh_poll(AioContext *ctx);
bool aio_bh_pending(AioContext *ctx);
void aio_bh_cleanup(AioContext *ctx);

/* qemu-timer.c */
/* Nanoseconds until the first timer of @ctx expires; -1 if none. */
int64_t aio_timers_deadline_ns(AioContext *ctx);
bool aio_timers_run(AioContext *ctx);

/* Engines' teardown, called when a context is freed. */
void thread_pool_free(ThreadPool *pool);
void luring_cleanup(LuringState *s);
void laio_cleanup(LinuxAioState *s);

#endif

/*
 * The event loop (AioContext): file-descriptor handlers, timers on
 * monotonic nanosecond clocks, bottom halves, and aio_poll().
 */
#ifndef UTIL_AIO_H
#define UTIL_AIO_H

#include "strata/osdep.h"
#include "util/coroutine.h"

typedef struct AioContext AioContext;
typedef struct QEMUBH QEMUBH;
typedef struct QEMUTimer QEMUTimer;
typedef struct ThreadPool ThreadPool;
typedef struct LuringState LuringState;
typedef struct LinuxAioState LinuxAioState;

typedef void QEMUBHFunc(void *opaque);
typedef void IOHandler(void *opaque);
typedef void QEMUTimerCB(void *opaque);

/* ---- Clocks ---- */

typedef enum QEMUClockType {
    /* Monotonic host time; never stops. */
    QEMU_CLOCK_REALTIME = 0,
    /*
     * "Guest" time.  In Strata it follows the monotonic clock unless a test
     * switched it to manual mode, in which it only moves by
     * qemu_clock_advance_virtual().
     */
    QEMU_CLOCK_VIRTUAL = 1,
    /* Wall-clock time (may jump). */
    QEMU_CLOCK_HOST = 2,
    QEMU_CLOCK_MAX
} QEMUClockType;

#define SCALE_MS 1000000
#define SCALE_US 1000
#define SCALE_NS 1
#define NANOSECONDS_PER_SECOND 1000000000LL

int64_t qemu_clock_get_ns(QEMUClockType type);
static inline int64_t qemu_clock_get_ms(QEMUClockType type)
{
    return qemu_clock_get_ns(type) / SCALE_MS;
}

/* Tests: freeze QEMU_CLOCK_VIRTUAL at @start_ns; move it with advance. */
void qemu_clock_set_virtual_manual(int64_t start_ns);
/* Advance the manual virtual clock; timers fire on the next aio_poll. */
void qemu_clock_advance_virtual(int64_t delta_ns);

/* ---- Context ---- */

AioContext *aio_context_new(Error **errp);
void aio_context_unref(AioContext *ctx);

/*
 * The main loop's context.  qemu_init_main_loop() creates it and makes it the
 * calling thread's current context.
 */
void qemu_init_main_loop(void);
AioContext *qemu_get_aio_context(void);
/* The context of the calling thread (main loop's for the main thread). */
AioContext *qemu_get_current_aio_context(void);
void aio_context_set_current(AioContext *ctx);

/*
 * Run one iteration: bottom halves, ready fd handlers and expired timers.
 * With @blocking, waits until something happens.  Returns true if any
 * handler, timer or bottom half made progress.
 */
bool aio_poll(AioContext *ctx, bool blocking);

/* Wake a blocking aio_poll() (safe from any thread). */
void aio_notify(AioContext *ctx);

/* Run the loop while @cond holds. */
#define AIO_WAIT_WHILE(ctx, cond)               \
    do {                                        \
        while (cond) {                          \
            aio_poll((ctx), true);              \
        }                                       \
    } while (0)

/* ---- File descriptors ---- */

/*
 * Register (or, with both handlers NULL, remove) handlers for @fd.  Handlers
 * are level-triggered and run from aio_poll.
 */
void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque);

/* ---- Bottom halves ---- */

QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque);
/* Schedule a bottom half; safe from any thread. */
void qemu_bh_schedule(QEMUBH *bh);
void qemu_bh_cancel(QEMUBH *bh);
void qemu_bh_delete(QEMUBH *bh);
/* Run @cb once on the next iteration of @ctx (safe from any thread). */
void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque);

static inline QEMUBH *qemu_bh_new(QEMUBHFunc *cb, void *opaque)
{
    return aio_bh_new(qemu_get_aio_context(), cb, opaque);
}

/* ---- Timers ---- */

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type, int scale,
                         QEMUTimerCB *cb, void *opaque);
/* Fire at absolute time @expire_time (in the timer's scale). */
void timer_mod(QEMUTimer *ts, int64_t expire_time);
void timer_mod_ns(QEMUTimer *ts, int64_t expire_ns);
void timer_del(QEMUTimer *ts);
void timer_free(QEMUTimer *ts);
bool timer_pending(QEMUTimer *ts);
int64_t timer_expire_time_ns(QEMUTimer *ts);

static inline QEMUTimer *timer_new_ns(QEMUClockType type, QEMUTimerCB *cb,
                                      void *opaque)
{
    return aio_timer_new(qemu_get_aio_context(), type, SCALE_NS, cb, opaque);
}

static inline QEMUTimer *timer_new_ms(QEMUClockType type, QEMUTimerCB *cb,
                                      void *opaque)
{
    return aio_timer_new(qemu_get_aio_context(), type, SCALE_MS, cb, opaque);
}

/* ---- Per-context I/O engines (created on first use) ---- */

ThreadPool *aio_get_thread_pool(AioContext *ctx);
/* NULL with @errp set if io_uring cannot be used here. */
LuringState *aio_setup_linux_io_uring(AioContext *ctx, Error **errp);
LinuxAioState *aio_setup_linux_aio(AioContext *ctx, Error **errp);

#endif

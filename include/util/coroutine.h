/*
 * Stackful coroutines and the coroutine-aware locks built on them
 * (CoMutex, CoRwlock, CoQueue) plus co_sleep_ns.
 */
#ifndef UTIL_COROUTINE_H
#define UTIL_COROUTINE_H

#include "strata/osdep.h"

typedef struct Coroutine Coroutine;
typedef struct AioContext AioContext;

typedef void coroutine_fn CoroutineEntry(void *opaque);

/* Create a coroutine; it starts running at the first qemu_coroutine_enter. */
Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);

/*
 * Run @co until it yields or terminates.  Entering a coroutine that is
 * already running is a programming error and aborts.
 */
void qemu_coroutine_enter(Coroutine *co);
void qemu_coroutine_enter_if_inactive(Coroutine *co);

/* Give control back to whoever entered the current coroutine. */
void coroutine_fn qemu_coroutine_yield(void);

/* The current coroutine; outside any coroutine, the thread's leader. */
Coroutine *qemu_coroutine_self(void);
bool qemu_in_coroutine(void);
/* True while @co is running or has yielded without terminating. */
bool qemu_coroutine_entered(Coroutine *co);

AioContext *qemu_coroutine_get_aio_context(Coroutine *co);

/*
 * Wake a coroutine that yielded waiting for an event.  From inside another
 * coroutine of the same thread the wake-up is deferred until the current
 * one yields, so that chains of wake-ups do not nest on the C stack; from
 * outside any coroutine it is entered at once; from another thread it is
 * scheduled on its AioContext.
 */
void aio_co_wake(Coroutine *co);
/* Enter @co from a bottom half of @ctx (safe from any thread). */
void aio_co_schedule(AioContext *ctx, Coroutine *co);

/* Number of coroutines currently allocated (alive or pooled); for tests. */
unsigned qemu_coroutine_count_alive(void);

/* ---- CoQueue: coroutines waiting for a condition, in FIFO order ---- */

typedef struct CoMutex CoMutex;

typedef struct CoQueue {
    Coroutine *head;
    Coroutine *tail;
} CoQueue;

void qemu_co_queue_init(CoQueue *queue);
/* Wait, releasing @mutex (if not NULL) while asleep and retaking it after. */
void coroutine_fn qemu_co_queue_wait(CoQueue *queue, CoMutex *mutex);
/* Wake the first waiter; returns false if none. */
bool qemu_co_queue_next(CoQueue *queue);
void qemu_co_queue_restart_all(CoQueue *queue);
/* Enter the first waiter immediately (non-coroutine callers). */
bool qemu_co_enter_next(CoQueue *queue);
bool qemu_co_queue_empty(CoQueue *queue);

/* ---- CoMutex ---- */

struct CoMutex {
    bool locked;
    Coroutine *holder;
    CoQueue waiters;
};

void qemu_co_mutex_init(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex);
bool qemu_co_mutex_is_locked(CoMutex *mutex);

/* ---- CoRwlock: many readers or one writer, writers not starved ---- */

typedef struct CoRwlock {
    int readers;
    bool writer;
    int pending_writers;
    CoQueue readq;
    CoQueue writeq;
} CoRwlock;

void qemu_co_rwlock_init(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *lock);
/* Turn a held write lock into a read lock without letting a writer in. */
void coroutine_fn qemu_co_rwlock_downgrade(CoRwlock *lock);

/* ---- Sleeping ---- */

/* Sleep for @ns nanoseconds of the realtime (monotonic) clock. */
void coroutine_fn qemu_co_sleep_ns(int64_t ns);

/*
 * A sleep that another party may cut short: qemu_co_sleep_wake() wakes the
 * sleeper early (used by jobs for cancel / set-speed).
 */
typedef struct QemuCoSleep {
    Coroutine *to_wake;
} QemuCoSleep;

void coroutine_fn qemu_co_sleep_ns_wakeable(QemuCoSleep *w, int clock_type,
                                            int64_t ns);
void qemu_co_sleep_wake(QemuCoSleep *w);

#endif

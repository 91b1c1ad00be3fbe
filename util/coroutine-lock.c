/*
 * Coroutine-aware synchronisation: wait queues, mutexes, reader/writer locks
 * and sleeping.  Coroutines of one context run one at a time, so these need
 * no atomics; waiting always means yielding.
 */
#include "strata/osdep.h"
#include "util/coroutine.h"
#include "util/aio.h"
#include "coroutine-int.h"

void qemu_co_queue_init(CoQueue *queue)
{
    queue->head = NULL;
    queue->tail = NULL;
}

static void queue_push(CoQueue *queue, Coroutine *co)
{
    *coroutine_waiter_next(co) = NULL;
    if (queue->tail) {
        *coroutine_waiter_next(queue->tail) = co;
    } else {
        queue->head = co;
    }
    queue->tail = co;
}

static Coroutine *queue_pop(CoQueue *queue)
{
    Coroutine *co = queue->head;

    if (co) {
        queue->head = *coroutine_waiter_next(co);
        if (!queue->head) {
            queue->tail = NULL;
        }
        *coroutine_waiter_next(co) = NULL;
    }
    return co;
}

bool qemu_co_queue_empty(CoQueue *queue)
{
    return queue->head == NULL;
}

void coroutine_fn qemu_co_queue_wait(CoQueue *queue, CoMutex *mutex)
{
    queue_push(queue, qemu_coroutine_self());
    if (mutex) {
        qemu_co_mutex_unlock(mutex);
    }
    qemu_coroutine_yield();
    if (mutex) {
        qemu_co_mutex_lock(mutex);
    }
}

bool qemu_co_queue_next(CoQueue *queue)
{
    Coroutine *co = queue_pop(queue);

    if (!co) {
        return false;
    }
    aio_co_wake(co);
    return true;
}

void qemu_co_queue_restart_all(CoQueue *queue)
{
    while (qemu_co_queue_next(queue)) {
        /* keep waking */
    }
}

bool qemu_co_enter_next(CoQueue *queue)
{
    Coroutine *co = queue_pop(queue);

    if (!co) {
        return false;
    }
    qemu_coroutine_enter(co);
    return true;
}

void qemu_co_mutex_init(CoMutex *mutex)
{
    memset(mutex, 0, sizeof(*mutex));
    qemu_co_queue_init(&mutex->waiters);
}

void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();

    while (mutex->locked) {
        assert(mutex->holder != self);
        queue_push(&mutex->waiters, self);
        qemu_coroutine_yield();
        /* The unlocker handed the mutex over to us. */
        if (mutex->holder == self) {
            return;
        }
    }
    mutex->locked = true;
    mutex->holder = self;
}

void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex)
{
    Coroutine *next;

    assert(mutex->locked);
    assert(mutex->holder == qemu_coroutine_self());
    next = queue_pop(&mutex->waiters);
    if (next) {
        /* Hand over directly so that no newcomer can barge in (fairness). */
        mutex->holder = next;
        aio_co_wake(next);
    } else {
        mutex->locked = false;
        mutex->holder = NULL;
    }
}

bool qemu_co_mutex_is_locked(CoMutex *mutex)
{
    return mutex->locked;
}

void qemu_co_rwlock_init(CoRwlock *lock)
{
    memset(lock, 0, sizeof(*lock));
    qemu_co_queue_init(&lock->readq);
    qemu_co_queue_init(&lock->writeq);
}

void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *lock)
{
    /* Queue behind waiting writers so that they are not starved. */
    while (lock->writer || lock->pending_writers) {
        qemu_co_queue_wait(&lock->readq, NULL);
    }
    lock->readers++;
}

void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *lock)
{
    lock->pending_writers++;
    while (lock->writer || lock->readers) {
        qemu_co_queue_wait(&lock->writeq, NULL);
    }
    lock->pending_writers--;
    lock->writer = true;
}

static void rwlock_wake(CoRwlock *lock)
{
    if (lock->writer || lock->readers) {
        return;
    }
    if (!qemu_co_queue_empty(&lock->writeq)) {
        qemu_co_queue_next(&lock->writeq);
    } else {
        qemu_co_queue_restart_all(&lock->readq);
    }
}

void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *lock)
{
    if (lock->writer) {
        lock->writer = false;
    } else {
        assert(lock->readers > 0);
        lock->readers--;
    }
    rwlock_wake(lock);
}

void coroutine_fn qemu_co_rwlock_downgrade(CoRwlock *lock)
{
    assert(lock->writer);
    lock->writer = false;
    lock->readers++;
    if (!lock->pending_writers) {
        qemu_co_queue_restart_all(&lock->readq);
    }
}

static void co_sleep_cb(void *opaque)
{
    QemuCoSleep *w = opaque;

    qemu_co_sleep_wake(w);
}

void qemu_co_sleep_wake(QemuCoSleep *w)
{
    Coroutine *co = w->to_wake;

    if (co) {
        w->to_wake = NULL;
        aio_co_wake(co);
    }
}

void coroutine_fn qemu_co_sleep_ns_wakeable(QemuCoSleep *w, int clock_type,
                                            int64_t ns)
{
    AioContext *ctx = qemu_get_current_aio_context();
    QEMUTimer *ts = aio_timer_new(ctx, clock_type, SCALE_NS, co_sleep_cb, w);

    w->to_wake = qemu_coroutine_self();
    timer_mod_ns(ts, qemu_clock_get_ns(clock_type) + ns);
    qemu_coroutine_yield();
    timer_del(ts);
    timer_free(ts);
    w->to_wake = NULL;
}

void coroutine_fn qemu_co_sleep_ns(int64_t ns)
{
    QemuCoSleep w = { 0 };

    qemu_co_sleep_ns_wakeable(&w, QEMU_CLOCK_REALTIME, ns);
}

/*
 * Unit tests for coroutines (enter, yield, nesting, many alive, pooling)
 * and the coroutine locks (CoMutex, CoRwlock, CoQueue, sleeping).
 */
#include "strata/osdep.h"
#include "util/aio.h"
#include "util/coroutine.h"

static void coroutine_fn set_flag(void *opaque)
{
    bool *done = opaque;

    g_assert_true(qemu_in_coroutine());
    *done = true;
}

static void test_enter_terminates(void)
{
    bool done = false;
    Coroutine *co = qemu_coroutine_create(set_flag, &done);

    g_assert_false(qemu_in_coroutine());
    qemu_coroutine_enter(co);
    g_assert_true(done);
}

static void coroutine_fn count_yields(void *opaque)
{
    int *counter = opaque;

    for (int i = 0; i < 5; i++) {
        (*counter)++;
        qemu_coroutine_yield();
    }
    (*counter)++;
}

static void test_yield(void)
{
    int counter = 0;
    int enters = 0;
    Coroutine *co = qemu_coroutine_create(count_yields, &counter);

    while (counter < 6) {
        qemu_coroutine_enter(co);
        enters++;
        g_assert_cmpint(counter, ==, enters);
    }
    g_assert_cmpint(enters, ==, 6);
}

typedef struct NestData {
    int depth;
    int max;
    Coroutine *self_seen[16];
} NestData;

static void coroutine_fn nest(void *opaque)
{
    NestData *nd = opaque;
    Coroutine *self = qemu_coroutine_self();

    nd->self_seen[nd->depth] = self;
    if (++nd->depth < nd->max) {
        Coroutine *child = qemu_coroutine_create(nest, nd);
        qemu_coroutine_enter(child);
    }
    /* After the child finished we are still ourselves. */
    g_assert_true(qemu_coroutine_self() == self);
}

static void test_nesting(void)
{
    NestData nd = { .max = 12 };

    qemu_coroutine_enter(qemu_coroutine_create(nest, &nd));
    g_assert_cmpint(nd.depth, ==, 12);
    for (int i = 1; i < 12; i++) {
        g_assert_true(nd.self_seen[i] != nd.self_seen[i - 1]);
    }
}

static void coroutine_fn yield_then_add(void *opaque)
{
    long *sum = opaque;
    /* Touch the stack so each coroutine really uses its own. */
    volatile char buf[4096];

    buf[0] = 1;
    buf[4095] = 2;
    qemu_coroutine_yield();
    *sum += buf[0] + buf[4095];
}

static void test_thousands_alive(void)
{
    enum { N = 5000 };
    Coroutine **cos = g_new(Coroutine *, N);
    long sum = 0;

    for (int i = 0; i < N; i++) {
        cos[i] = qemu_coroutine_create(yield_then_add, &sum);
        qemu_coroutine_enter(cos[i]);
        g_assert_true(qemu_coroutine_entered(cos[i]) == false);
    }
    g_assert_cmpint(sum, ==, 0);
    for (int i = N - 1; i >= 0; i--) {
        qemu_coroutine_enter(cos[i]);
    }
    g_assert_cmpint(sum, ==, 3L * N);
    g_free(cos);
}

static void test_pool_reuse(void)
{
    unsigned before;
    bool done;

    /* Warm the pool, then check that create/terminate does not allocate. */
    done = false;
    qemu_coroutine_enter(qemu_coroutine_create(set_flag, &done));
    before = qemu_coroutine_count_alive();
    for (int i = 0; i < 10000; i++) {
        done = false;
        qemu_coroutine_enter(qemu_coroutine_create(set_flag, &done));
        g_assert_true(done);
    }
    g_assert_cmpuint(qemu_coroutine_count_alive(), ==, before);
}

/* ---- wake-up ordering ---- */

typedef struct WakeData {
    Coroutine *sleeper;
    GString *log;
} WakeData;

static void coroutine_fn sleeper_fn(void *opaque)
{
    WakeData *wd = opaque;

    g_string_append(wd->log, "s1 ");
    qemu_coroutine_yield();
    g_string_append(wd->log, "s2 ");
}

static void coroutine_fn waker_fn(void *opaque)
{
    WakeData *wd = opaque;

    g_string_append(wd->log, "w1 ");
    aio_co_wake(wd->sleeper);
    /* Deferred: the sleeper runs only after we yield or finish. */
    g_string_append(wd->log, "w2 ");
}

static void test_wake_deferred(void)
{
    WakeData wd = { .log = g_string_new(NULL) };

    wd.sleeper = qemu_coroutine_create(sleeper_fn, &wd);
    qemu_coroutine_enter(wd.sleeper);
    qemu_coroutine_enter(qemu_coroutine_create(waker_fn, &wd));
    g_assert_cmpstr(wd.log->str, ==, "s1 w1 w2 s2 ");
    g_string_free(wd.log, true);
}

/* ---- CoMutex ---- */

typedef struct MutexData {
    CoMutex lock;
    int inside;
    int max_inside;
    int done;
    GString *order;
} MutexData;

static void coroutine_fn mutex_worker(void *opaque)
{
    MutexData *md = opaque;

    qemu_co_mutex_lock(&md->lock);
    md->inside++;
    md->max_inside = MAX(md->max_inside, md->inside);
    qemu_coroutine_yield();
    md->inside--;
    qemu_co_mutex_unlock(&md->lock);
    md->done++;
}

static void test_co_mutex(void)
{
    MutexData md = { 0 };
    Coroutine *cos[4];

    qemu_co_mutex_init(&md.lock);
    for (int i = 0; i < 4; i++) {
        cos[i] = qemu_coroutine_create(mutex_worker, &md);
        qemu_coroutine_enter(cos[i]);
    }
    /* Only the first holds the lock; the others wait in the queue. */
    g_assert_cmpint(md.inside, ==, 1);
    g_assert_true(qemu_co_mutex_is_locked(&md.lock));
    /* Releasing the holder hands the lock to the next waiter, in order. */
    for (int i = 0; i < 4; i++) {
        qemu_coroutine_enter(cos[i]);
        g_assert_cmpint(md.done, ==, i + 1);
    }
    g_assert_cmpint(md.max_inside, ==, 1);
    g_assert_false(qemu_co_mutex_is_locked(&md.lock));
}

/* ---- CoRwlock ---- */

typedef struct RwData {
    CoRwlock lock;
    int readers_in;
    int writers_in;
    GString *log;
} RwData;

typedef struct RwArg {
    RwData *rd;
    bool writer;
    char name;
} RwArg;

static void coroutine_fn rw_worker(void *opaque)
{
    RwArg *a = opaque;
    RwData *rd = a->rd;

    if (a->writer) {
        qemu_co_rwlock_wrlock(&rd->lock);
        g_assert_cmpint(rd->readers_in, ==, 0);
        g_assert_cmpint(rd->writers_in, ==, 0);
        rd->writers_in++;
    } else {
        qemu_co_rwlock_rdlock(&rd->lock);
        g_assert_cmpint(rd->writers_in, ==, 0);
        rd->readers_in++;
    }
    g_string_append_c(rd->log, a->name);
    qemu_coroutine_yield();
    if (a->writer) {
        rd->writers_in--;
    } else {
        rd->readers_in--;
    }
    qemu_co_rwlock_unlock(&rd->lock);
}

static void test_co_rwlock(void)
{
    RwData rd = { .log = g_string_new(NULL) };
    RwArg args[] = {
        { &rd, false, 'a' }, { &rd, false, 'b' }, { &rd, true, 'W' },
        { &rd, false, 'c' },
    };
    Coroutine *cos[4];

    qemu_co_rwlock_init(&rd.lock);
    for (int i = 0; i < 4; i++) {
        cos[i] = qemu_coroutine_create(rw_worker, &args[i]);
        qemu_coroutine_enter(cos[i]);
    }
    /* Two readers in; the writer waits; the late reader queues behind it. */
    g_assert_cmpstr(rd.log->str, ==, "ab");
    g_assert_cmpint(rd.readers_in, ==, 2);
    qemu_coroutine_enter(cos[0]);
    g_assert_cmpstr(rd.log->str, ==, "ab");
    qemu_coroutine_enter(cos[1]);
    g_assert_cmpstr(rd.log->str, ==, "abW");
    qemu_coroutine_enter(cos[2]);
    g_assert_cmpstr(rd.log->str, ==, "abWc");
    qemu_coroutine_enter(cos[3]);
    g_assert_cmpint(rd.readers_in, ==, 0);
    g_string_free(rd.log, true);
}

/* ---- CoQueue ---- */

typedef struct QueueData {
    CoQueue q;
    int woken;
} QueueData;

static void coroutine_fn queue_waiter(void *opaque)
{
    QueueData *qd = opaque;

    qemu_co_queue_wait(&qd->q, NULL);
    qd->woken++;
}

static void test_co_queue(void)
{
    QueueData qd = { 0 };

    qemu_co_queue_init(&qd.q);
    for (int i = 0; i < 3; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(queue_waiter, &qd));
    }
    g_assert_false(qemu_co_queue_empty(&qd.q));
    g_assert_true(qemu_co_enter_next(&qd.q));
    g_assert_cmpint(qd.woken, ==, 1);
    qemu_co_queue_restart_all(&qd.q);
    g_assert_cmpint(qd.woken, ==, 3);
    g_assert_true(qemu_co_queue_empty(&qd.q));
    g_assert_false(qemu_co_queue_next(&qd.q));
}

/* ---- sleeping ---- */

static void coroutine_fn sleep_fn(void *opaque)
{
    int64_t *elapsed = opaque;
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    qemu_co_sleep_ns(20 * SCALE_MS);
    *elapsed = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;
}

static void test_co_sleep(void)
{
    int64_t elapsed = -1;
    AioContext *ctx = qemu_get_aio_context();

    qemu_coroutine_enter(qemu_coroutine_create(sleep_fn, &elapsed));
    AIO_WAIT_WHILE(ctx, elapsed < 0);
    /* Timers never fire early (no upper bound: machines are slow). */
    g_assert_cmpint(elapsed, >=, 20 * SCALE_MS);
}

static void coroutine_fn wakeable_fn(void *opaque)
{
    QemuCoSleep *w = opaque;

    qemu_co_sleep_ns_wakeable(w, QEMU_CLOCK_REALTIME, 3600LL * 1000000000);
}

static void test_co_sleep_wake(void)
{
    QemuCoSleep w = { 0 };
    Coroutine *co = qemu_coroutine_create(wakeable_fn, &w);

    qemu_coroutine_enter(co);
    g_assert_nonnull(w.to_wake);
    qemu_co_sleep_wake(&w);
    g_assert_null(w.to_wake);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop();
    g_test_add_func("/coroutine/enter-terminates", test_enter_terminates);
    g_test_add_func("/coroutine/yield", test_yield);
    g_test_add_func("/coroutine/nesting", test_nesting);
    g_test_add_func("/coroutine/thousands-alive", test_thousands_alive);
    g_test_add_func("/coroutine/pool-reuse", test_pool_reuse);
    g_test_add_func("/coroutine/wake-deferred", test_wake_deferred);
    g_test_add_func("/coroutine/co-mutex", test_co_mutex);
    g_test_add_func("/coroutine/co-rwlock", test_co_rwlock);
    g_test_add_func("/coroutine/co-queue", test_co_queue);
    g_test_add_func("/coroutine/co-sleep", test_co_sleep);
    g_test_add_func("/coroutine/co-sleep-wake", test_co_sleep_wake);
    return g_test_run();
}

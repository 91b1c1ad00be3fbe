/*
 * Unit tests for the event loop: bottom halves (also from other threads),
 * timers on the monotonic and manual virtual clocks, fd handlers, and the
 * thread pool.
 */
#include "strata/osdep.h"
#include "util/aio.h"
#include "util/thread-pool.h"
#include <sys/eventfd.h>

static AioContext *ctx;

static void count_cb(void *opaque)
{
    int *n = opaque;

    (*n)++;
}

static void test_bh_once(void)
{
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);

    qemu_bh_schedule(bh);
    qemu_bh_schedule(bh);   /* scheduling twice runs once */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(n, ==, 1);
    qemu_bh_delete(bh);
}

static void test_bh_cancel_delete(void)
{
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);

    qemu_bh_schedule(bh);
    qemu_bh_cancel(bh);
    aio_poll(ctx, false);
    g_assert_cmpint(n, ==, 0);
    qemu_bh_schedule(bh);
    qemu_bh_delete(bh);     /* deleted while scheduled: never runs */
    aio_poll(ctx, false);
    g_assert_cmpint(n, ==, 0);
}

typedef struct Resched {
    QEMUBH *bh;
    int n;
} Resched;

static void resched_cb(void *opaque)
{
    Resched *r = opaque;

    if (++r->n < 3) {
        qemu_bh_schedule(r->bh);
    }
}

static void test_bh_reschedule_self(void)
{
    Resched r = { 0 };

    r.bh = aio_bh_new(ctx, resched_cb, &r);
    qemu_bh_schedule(r.bh);
    while (aio_poll(ctx, false)) {
        /* run until quiet */
    }
    g_assert_cmpint(r.n, ==, 3);
    qemu_bh_delete(r.bh);
}

static void test_bh_oneshot(void)
{
    int n = 0;

    aio_bh_schedule_oneshot(ctx, count_cb, &n);
    aio_bh_schedule_oneshot(ctx, count_cb, &n);
    aio_poll(ctx, false);
    g_assert_cmpint(n, ==, 2);
}

typedef struct Nested {
    int other_ran;
    int seen_by_poller;
    QEMUBH *cancel_me;
} Nested;

static void nested_other_cb(void *opaque)
{
    ((Nested *)opaque)->other_ran++;
}

/*
 * A BH that polls (as a synchronous request in a QMP command does): the
 * BHs scheduled before it, still waiting in the same batch, must run in
 * its nested poll, or it would wait for them forever.
 */
static void nested_poller_cb(void *opaque)
{
    Nested *n = opaque;

    qemu_bh_cancel(n->cancel_me);
    aio_poll(ctx, false);
    n->seen_by_poller = n->other_ran;
}

static void test_bh_nested_poll(void)
{
    Nested n = { 0 };
    QEMUBH *other = aio_bh_new(ctx, nested_other_cb, &n);
    QEMUBH *cancelled = aio_bh_new(ctx, nested_other_cb, &n);
    QEMUBH *poller = aio_bh_new(ctx, nested_poller_cb, &n);

    n.cancel_me = cancelled;
    /* Newest first: the poller runs before the two others. */
    qemu_bh_schedule(cancelled);
    qemu_bh_schedule(other);
    qemu_bh_schedule(poller);
    aio_poll(ctx, false);
    g_assert_cmpint(n.seen_by_poller, ==, 1);
    g_assert_cmpint(n.other_ran, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    qemu_bh_delete(other);
    qemu_bh_delete(cancelled);
    qemu_bh_delete(poller);
}

static gpointer schedule_from_thread(gpointer opaque)
{
    QEMUBH *bh = opaque;

    g_usleep(20000);
    qemu_bh_schedule(bh);
    return NULL;
}

static void test_bh_other_thread_wakes_poll(void)
{
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    GThread *t = g_thread_new("sched", schedule_from_thread, bh);

    /* Blocks until the other thread's schedule wakes it up. */
    while (n == 0) {
        aio_poll(ctx, true);
    }
    g_assert_cmpint(n, ==, 1);
    g_thread_join(t);
    qemu_bh_delete(bh);
}

static void test_timer_order(void)
{
    GString *log = g_string_new(NULL);
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int a = 0, b = 0;
    QEMUTimer *ta = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                  count_cb, &a);
    QEMUTimer *tb = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                  count_cb, &b);

    timer_mod_ns(ta, now + 30 * SCALE_MS);
    timer_mod(tb, now / SCALE_MS + 5);
    g_assert_true(timer_pending(ta));
    while (!b) {
        aio_poll(ctx, true);
    }
    /* The later timer has not fired when the earlier one did. */
    g_assert_cmpint(a, ==, 0);
    while (!a) {
        aio_poll(ctx, true);
    }
    g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - now, >=,
                    30 * SCALE_MS);
    g_assert_false(timer_pending(ta));
    timer_free(ta);
    timer_free(tb);
    g_string_free(log, true);
}

static void test_timer_del(void)
{
    int n = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                 count_cb, &n);

    timer_mod_ns(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    timer_del(t);
    aio_poll(ctx, false);
    g_assert_cmpint(n, ==, 0);
    timer_free(t);
}

static void test_virtual_clock(void)
{
    int n = 0;
    QEMUTimer *t;

    qemu_clock_set_virtual_manual(1000);
    t = aio_timer_new(ctx, QEMU_CLOCK_VIRTUAL, SCALE_NS, count_cb, &n);
    timer_mod_ns(t, 1000 + 50);
    aio_poll(ctx, false);
    g_assert_cmpint(n, ==, 0);
    qemu_clock_advance_virtual(49);
    aio_poll(ctx, false);
    g_assert_cmpint(n, ==, 0);
    qemu_clock_advance_virtual(1);
    aio_poll(ctx, false);
    g_assert_cmpint(n, ==, 1);
    g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL), ==, 1050);
    timer_free(t);
}

typedef struct FdData {
    int fd;
    int reads;
} FdData;

static void fd_read_cb(void *opaque)
{
    FdData *d = opaque;
    uint64_t v;

    g_assert_cmpint(read(d->fd, &v, sizeof(v)), ==, sizeof(v));
    d->reads += v;
}

static void test_fd_handler(void)
{
    FdData d = { .fd = eventfd(0, EFD_NONBLOCK) };
    uint64_t three = 3;

    aio_set_fd_handler(ctx, d.fd, fd_read_cb, NULL, &d);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(write(d.fd, &three, sizeof(three)), ==, sizeof(three));
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(d.reads, ==, 3);
    aio_set_fd_handler(ctx, d.fd, NULL, NULL, NULL);
    g_assert_cmpint(write(d.fd, &three, sizeof(three)), ==, sizeof(three));
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(d.reads, ==, 3);
    close(d.fd);
}

static int square_in_thread(void *opaque)
{
    int *v = opaque;

    g_usleep(1000);
    return *v * *v;
}

typedef struct PoolData {
    int input;
    int result;
    bool done;
} PoolData;

static void coroutine_fn pool_co(void *opaque)
{
    PoolData *p = opaque;

    p->result = thread_pool_submit_co(square_in_thread, &p->input);
    p->done = true;
}

static void test_thread_pool_many(void)
{
    enum { N = 200 };
    PoolData *p = g_new0(PoolData, N);
    int pending = N;

    for (int i = 0; i < N; i++) {
        p[i].input = i;
        qemu_coroutine_enter(qemu_coroutine_create(pool_co, &p[i]));
    }
    while (pending) {
        aio_poll(ctx, true);
        pending = 0;
        for (int i = 0; i < N; i++) {
            pending += !p[i].done;
        }
    }
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(p[i].result, ==, i * i);
    }
    g_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop();
    ctx = qemu_get_aio_context();
    g_test_add_func("/aio/bh/once", test_bh_once);
    g_test_add_func("/aio/bh/cancel-delete", test_bh_cancel_delete);
    g_test_add_func("/aio/bh/reschedule-self", test_bh_reschedule_self);
    g_test_add_func("/aio/bh/oneshot", test_bh_oneshot);
    g_test_add_func("/aio/bh/nested-poll", test_bh_nested_poll);
    g_test_add_func("/aio/bh/other-thread", test_bh_other_thread_wakes_poll);
    g_test_add_func("/aio/timer/order", test_timer_order);
    g_test_add_func("/aio/timer/del", test_timer_del);
    g_test_add_func("/aio/timer/virtual-clock", test_virtual_clock);
    g_test_add_func("/aio/fd-handler", test_fd_handler);
    g_test_add_func("/aio/thread-pool/many", test_thread_pool_many);
    return g_test_run();
}

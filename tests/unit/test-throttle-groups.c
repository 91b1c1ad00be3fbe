/*
 * Unit tests for throttle groups, the throttle filter and block backend
 * I/O limits, on the manual virtual clock: exactly which requests a group
 * releases at each step, in which order and for which member.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/block_int.h"
#include "block/throttle-groups.h"
#include "qapi/qapi-commands.h"
#include "qom/object.h"
#include "util/qdict.h"

#define MS (1000 * 1000LL)

/* ---- requests driven straight through a member ---- */

typedef struct Req {
    ThrottleGroupMember *tgm;
    char member;            /* 'A', 'B' ... for the log */
    int seq;
    int64_t bytes;
    bool is_write;
    bool done;
} Req;

/* The order requests got through, as "A1 A2 B1 ...". */
static GString *release_log;
static int released;

static void coroutine_fn req_entry(void *opaque)
{
    Req *r = opaque;

    throttle_group_co_io_limits_intercept(r->tgm, r->bytes, r->is_write);
    r->done = true;
    released++;
    g_string_append_printf(release_log, "%s%c%d", release_log->len ? " " : "",
                           r->member, r->seq);
}

static Req *start_req(ThrottleGroupMember *tgm, char member, int seq,
                      int64_t bytes, bool is_write)
{
    Req *r = g_new0(Req, 1);

    *r = (Req) { .tgm = tgm, .member = member, .seq = seq, .bytes = bytes,
                 .is_write = is_write };
    qemu_coroutine_enter(qemu_coroutine_create(req_entry, r));
    return r;
}

/* Run what is due now. */
static void run_pending(void)
{
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* until nothing is left to do */
    }
}

/* Move the virtual clock forward by @delta in steps of @step. */
static void advance(int64_t delta, int64_t step)
{
    for (int64_t t = 0; t < delta; t += step) {
        qemu_clock_advance_virtual(MIN(step, delta - t));
        run_pending();
    }
}

/* Requests released during one step of @delta ns. */
static int released_in(int64_t delta)
{
    int before = released;

    advance(delta, delta);
    return released - before;
}

static void group_setup(const char *objdef)
{
    Error *err = NULL;

    released = 0;
    g_string_truncate(release_log, 0);
    g_assert_true(user_creatable_add_from_str(objdef, &err));
    g_assert_null(err);
}

/* Let everything still queued through, then drop members and group. */
static void group_teardown(ThrottleGroupMember **members, int n, GPtrArray *reqs)
{
    for (int i = 0; i < n; i++) {
        throttle_group_drained_begin(members[i]);
    }
    run_pending();
    for (guint i = 0; i < reqs->len; i++) {
        g_assert_true(((Req *)g_ptr_array_index(reqs, i))->done);
    }
    for (int i = 0; i < n; i++) {
        throttle_group_drained_end(members[i]);
        throttle_group_unregister_tgm(members[i]);
    }
    user_creatable_cleanup();
}

/*
 * iops-total=10, no burst: the bucket holds a tenth of a second (1 op),
 * so two requests pass at once (the second only fills it), then one per
 * 100 ms.
 */
static void test_release_per_step(void)
{
    ThrottleGroupMember a = { 0 };
    ThrottleGroupMember *members[] = { &a };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);

    group_setup("throttle-group,id=g,x-iops-total=10");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    for (int i = 1; i <= 10; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'A', i, 512, false));
    }
    run_pending();
    g_assert_cmpint(released, ==, 2);
    g_assert_cmpint(a.pending_reqs[0], ==, 8);

    /* Half periods: nothing, then one. */
    g_assert_cmpint(released_in(50 * MS), ==, 0);
    g_assert_cmpint(released_in(50 * MS), ==, 1);
    g_assert_cmpint(released_in(99 * MS), ==, 0);
    g_assert_cmpint(released_in(1 * MS), ==, 1);
    /* A long step lets what drained meanwhile through at once. */
    g_assert_cmpint(released_in(300 * MS), ==, 3);
    g_assert_cmpint(released_in(100 * MS), ==, 1);
    g_assert_cmpstr(release_log->str, ==, "A1 A2 A3 A4 A5 A6 A7 A8");
    group_teardown(members, 1, reqs);
}

/* Bytes: bps-total=1000 with 500-byte requests, one per half second. */
static void test_bps(void)
{
    ThrottleGroupMember a = { 0 };
    ThrottleGroupMember *members[] = { &a };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);

    group_setup("throttle-group,id=g,limits.bps-total=1000");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    for (int i = 1; i <= 6; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'A', i, 500, false));
    }
    run_pending();
    /* The first passes on an empty bucket (100 bytes), then 400 too much. */
    g_assert_cmpint(released, ==, 1);
    g_assert_cmpint(released_in(399 * MS), ==, 0);
    g_assert_cmpint(released_in(1 * MS), ==, 1);
    g_assert_cmpint(released_in(499 * MS), ==, 0);
    g_assert_cmpint(released_in(1 * MS), ==, 1);
    group_teardown(members, 1, reqs);
}

/*
 * Two members with queued requests take turns, one request each, and
 * each member's requests leave in the order they came.
 */
static void test_round_robin_order(void)
{
    ThrottleGroupMember a = { 0 }, b = { 0 };
    ThrottleGroupMember *members[] = { &a, &b };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);

    group_setup("throttle-group,id=g,x-iops-total=10");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    throttle_group_register_tgm(&b, "g", qemu_get_aio_context());
    for (int i = 1; i <= 5; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'A', i, 512, false));
    }
    for (int i = 1; i <= 5; i++) {
        g_ptr_array_add(reqs, start_req(&b, 'B', i, 512, false));
    }
    run_pending();
    g_assert_cmpstr(release_log->str, ==, "A1 A2");
    for (int step = 0; step < 8; step++) {
        g_assert_cmpint(released_in(100 * MS), ==, 1);
    }
    g_assert_cmpstr(release_log->str, ==,
                    "A1 A2 A3 B1 A4 B2 A5 B3 B4 B5");
    group_teardown(members, 2, reqs);
}

/* Requests of members 'A' and 'B' that got through. */
static void count_done(GPtrArray *reqs, int *a, int *b)
{
    *a = *b = 0;
    for (guint i = 0; i < reqs->len; i++) {
        Req *r = g_ptr_array_index(reqs, i);

        if (r->done) {
            *(r->member == 'A' ? a : b) += 1;
        }
    }
}

/*
 * A member with a deep queue does not starve one that asks later: the
 * newcomer is served within one turn, and over time they share equally.
 */
static void test_no_starvation_and_share(void)
{
    ThrottleGroupMember a = { 0 }, b = { 0 };
    ThrottleGroupMember *members[] = { &a, &b };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);
    int a_done = 0, b_done = 0;

    group_setup("throttle-group,id=g,x-iops-total=100");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    throttle_group_register_tgm(&b, "g", qemu_get_aio_context());
    for (int i = 1; i <= 400; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'A', i, 512, true));
    }
    advance(500 * MS, MS);
    g_assert_cmpint(released, ==, 11 + 50);

    g_ptr_array_add(reqs, start_req(&b, 'B', 1, 512, true));
    run_pending();
    g_assert_false(((Req *)g_ptr_array_index(reqs, 400))->done);
    advance(25 * MS, MS);
    g_assert_true(((Req *)g_ptr_array_index(reqs, 400))->done);

    /* From now on both have a queue: 100 ops per second, half each. */
    for (int i = 2; i <= 200; i++) {
        g_ptr_array_add(reqs, start_req(&b, 'B', i, 512, true));
    }
    count_done(reqs, &a_done, &b_done);
    advance(2000 * MS, MS);
    {
        int a_now, b_now;

        count_done(reqs, &a_now, &b_now);
        g_assert_cmpint(a_now - a_done, >=, 99);
        g_assert_cmpint(a_now - a_done, <=, 101);
        g_assert_cmpint(b_now - b_done, >=, 99);
        g_assert_cmpint(b_now - b_done, <=, 101);
    }
    group_teardown(members, 2, reqs);
}

/*
 * Reads and writes wait separately: a write limit holds writes back
 * while reads pass.
 */
static void test_directions(void)
{
    ThrottleGroupMember a = { 0 };
    ThrottleGroupMember *members[] = { &a };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);

    group_setup("throttle-group,id=g,limits.iops-write=1");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    for (int i = 1; i <= 3; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'W', i, 512, true));
    }
    for (int i = 1; i <= 3; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'R', i, 512, false));
    }
    run_pending();
    g_assert_cmpstr(release_log->str, ==, "W1 R1 R2 R3");
    /* 1.1 ops in a bucket of 0.1: 0.9 s until the next write. */
    g_assert_cmpint(released_in(899 * MS), ==, 0);
    g_assert_cmpint(released_in(1 * MS), ==, 1);
    group_teardown(members, 1, reqs);
}

/*
 * Bursts: iops-total=10, max 100 for 3 s.  Eleven requests pass at once,
 * then one per 10 ms until the main bucket (300 ops) is full after about
 * 3.2 s, then one per 100 ms.
 */
static void test_burst(void)
{
    ThrottleGroupMember a = { 0 };
    ThrottleGroupMember *members[] = { &a };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);

    group_setup("throttle-group,id=g,limits.iops-total=10,"
                "limits.iops-total-max=100,limits.iops-total-max-length=3");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    for (int i = 1; i <= 1000; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'A', i, 512, false));
    }
    run_pending();
    g_assert_cmpint(released, ==, 11);
    /* Half a period past each boundary, to stay clear of rounding. */
    advance(1005 * MS, MS);
    g_assert_cmpint(released, ==, 111);
    advance(2000 * MS, MS);
    g_assert_cmpint(released, ==, 311);
    /*
     * The main bucket gains 90 ops per second of burst: full (300) after
     * about 3.21 s, 332 requests; then 10 per second.
     */
    advance(1000 * MS, MS);
    g_assert_cmpint(released, >=, 339);
    g_assert_cmpint(released, <=, 341);
    {
        int before = released;

        advance(5000 * MS, MS);
        g_assert_cmpint(released - before, >=, 49);
        g_assert_cmpint(released - before, <=, 51);
    }
    group_teardown(members, 1, reqs);
}

/* New limits apply at once to requests already waiting. */
static void test_limits_change(void)
{
    ThrottleGroupMember a = { 0 };
    ThrottleGroupMember *members[] = { &a };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(json_t) limits = json_pack("{s:i}", "iops-total", 1000);
    g_autoptr(json_t) none = json_pack("{s:i}", "iops-total", 0);

    group_setup("throttle-group,id=g,x-iops-total=1");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    for (int i = 1; i <= 50; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'A', i, 512, false));
    }
    run_pending();
    /* A bucket of 0.1 op: one passes, the next waits 900 ms. */
    g_assert_cmpint(released, ==, 1);
    qmp_qom_set("/objects/g", "limits", limits, &error_abort);
    run_pending();
    /* Empty buckets of 100 ops: the rest goes through at once. */
    g_assert_cmpint(released, ==, 50);

    /* Limits off: nothing waits. */
    qmp_qom_set("/objects/g", "limits", none, &error_abort);
    for (int i = 51; i <= 60; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'A', i, 512, false));
    }
    run_pending();
    g_assert_cmpint(released, ==, 60);
    group_teardown(members, 1, reqs);
}

/* Drain releases everything queued, in order, without the clock moving. */
static void test_drain(void)
{
    ThrottleGroupMember a = { 0 }, b = { 0 };
    ThrottleGroupMember *members[] = { &a, &b };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);

    group_setup("throttle-group,id=g,x-iops-total=1");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    throttle_group_register_tgm(&b, "g", qemu_get_aio_context());
    for (int i = 1; i <= 4; i++) {
        g_ptr_array_add(reqs, start_req(&a, 'A', i, 512, false));
        g_ptr_array_add(reqs, start_req(&b, 'B', i, 512, false));
    }
    run_pending();
    g_assert_cmpstr(release_log->str, ==, "A1");

    /* B is drained: its requests go, A's keep waiting. */
    throttle_group_drained_begin(&b);
    run_pending();
    g_assert_cmpstr(release_log->str, ==, "A1 B1 B2 B3 B4");
    /* New requests of a drained member pass too. */
    g_ptr_array_add(reqs, start_req(&b, 'B', 5, 512, false));
    run_pending();
    g_assert_cmpint(released, ==, 6);
    throttle_group_drained_end(&b);
    g_assert_cmpint(a.pending_reqs[0], ==, 3);

    throttle_group_drained_begin(&a);
    run_pending();
    g_assert_cmpstr(release_log->str, ==, "A1 B1 B2 B3 B4 B5 A2 A3 A4");
    throttle_group_drained_end(&a);
    group_teardown(members, 2, reqs);
}

/* A member leaving while it holds the group's timer hands the turn on. */
static void test_leave_with_timer(void)
{
    ThrottleGroupMember a = { 0 }, b = { 0 };
    ThrottleGroupMember *members[] = { &b };
    g_autoptr(GPtrArray) reqs = g_ptr_array_new_with_free_func(g_free);

    group_setup("throttle-group,id=g,x-iops-total=10");
    throttle_group_register_tgm(&a, "g", qemu_get_aio_context());
    throttle_group_register_tgm(&b, "g", qemu_get_aio_context());
    g_ptr_array_add(reqs, start_req(&a, 'A', 1, 512, false));
    g_ptr_array_add(reqs, start_req(&a, 'A', 2, 512, false));
    g_ptr_array_add(reqs, start_req(&a, 'A', 3, 512, false));
    g_ptr_array_add(reqs, start_req(&b, 'B', 1, 512, false));
    run_pending();
    g_assert_cmpstr(release_log->str, ==, "A1 A2");
    g_assert_true(timer_pending(a.throttle_timers.timers[0]));

    /* Drain A's queue, then let it leave with its timer still armed. */
    throttle_group_drained_begin(&a);
    run_pending();
    throttle_group_drained_end(&a);
    g_assert_cmpstr(release_log->str, ==, "A1 A2 A3");
    g_assert_true(timer_pending(a.throttle_timers.timers[0]) ||
                  timer_pending(b.throttle_timers.timers[0]));
    throttle_group_unregister_tgm(&a);
    g_assert_true(timer_pending(b.throttle_timers.timers[0]));
    g_assert_cmpint(released_in(200 * MS), ==, 1);
    g_assert_cmpstr(release_log->str, ==, "A1 A2 A3 B1");
    group_teardown(members, 1, reqs);
}

/* ---- through the block layer: the throttle filter and backends ---- */

static int completed;

static void aio_done(void *opaque, int ret)
{
    g_assert_cmpint(ret, ==, 0);
    completed++;
}

static void start_reads(BlockBackend *blk, int n, QEMUIOVector *qiov)
{
    for (int i = 0; i < n; i++) {
        blk_aio_preadv(blk, i * 4096, qiov, 0, aio_done, NULL);
    }
}

static void test_filter_driver(void)
{
    json_t *opts = json_pack("{s:s, s:s, s:s}", "driver", "throttle",
                             "throttle-group", "g", "file.driver", "null-co");
    uint8_t buf[4096];
    QEMUIOVector qiov;
    BlockBackend *blk;
    Error *err = NULL;

    qemu_iovec_init_buf(&qiov, buf, sizeof(buf));
    completed = 0;

    /* No group yet; then no group given. */
    blk = blk_new_open(NULL, NULL, json_deep_copy(opts), BDRV_O_RDWR, &err);
    g_assert_null(blk);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Throttle group 'g' does not exist");
    error_free(err);
    err = NULL;
    blk = blk_new_open(NULL, NULL,
                       json_pack("{s:s, s:s}", "driver", "throttle",
                                 "file.driver", "null-co"),
                       BDRV_O_RDWR, &err);
    g_assert_null(blk);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Please specify a throttle group");
    error_free(err);

    group_setup("throttle-group,id=g,x-iops-total=10");
    blk = blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
    g_assert_cmpstr(blk_bs(blk)->drv->format_name, ==, "throttle");
    g_assert_false(user_creatable_del("g", NULL));

    start_reads(blk, 6, &qiov);
    run_pending();
    g_assert_cmpint(completed, ==, 2);
    advance(100 * MS, 100 * MS);
    g_assert_cmpint(completed, ==, 3);
    advance(200 * MS, 10 * MS);
    g_assert_cmpint(completed, ==, 5);

    /* Drain lets the last one go now. */
    blk_drain(blk);
    g_assert_cmpint(completed, ==, 6);
    run_pending();

    blk_unref(blk);
    g_assert_true(user_creatable_del("g", &error_abort));
    user_creatable_cleanup();
}

/* Two filter nodes in one group share its budget. */
static void test_filter_shared_group(void)
{
    BlockBackend *blk[2];
    uint8_t buf[4096];
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, sizeof(buf));
    completed = 0;
    group_setup("throttle-group,id=g,x-iops-total=10");
    for (int i = 0; i < 2; i++) {
        blk[i] = blk_new_open(NULL, NULL,
                              json_pack("{s:s, s:s, s:s}", "driver",
                                        "throttle", "throttle-group", "g",
                                        "file.driver", "null-co"),
                              BDRV_O_RDWR, &error_abort);
    }
    start_reads(blk[0], 10, &qiov);
    start_reads(blk[1], 10, &qiov);
    run_pending();
    g_assert_cmpint(completed, ==, 2);
    advance(1000 * MS, 10 * MS);
    /* Ten more in a second, for both together. */
    g_assert_cmpint(completed, ==, 12);
    for (int i = 0; i < 2; i++) {
        blk_drain(blk[i]);
        blk_unref(blk[i]);
    }
    run_pending();
    g_assert_cmpint(completed, ==, 20);
    user_creatable_cleanup();
}

/* block_set_io_throttle's path: limits on a backend, then off. */
static void test_backend_limits(void)
{
    BlockBackend *blk = blk_new_open(NULL, NULL,
                                     json_pack("{s:s}", "driver", "null-co"),
                                     BDRV_O_RDWR, &error_abort);
    BlockDeviceInfo info = { 0 };
    ThrottleConfig cfg;
    uint8_t buf[4096];
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, sizeof(buf));
    completed = 0;

    bdrv_fill_throttle_info(&info, blk);
    g_assert_false(info.has_group);
    bdrv_fill_throttle_info(&info, NULL);
    g_assert_false(info.has_group);

    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_OPS_READ].avg = 10;
    cfg.buckets[THROTTLE_OPS_READ].max = 20;
    cfg.buckets[THROTTLE_OPS_READ].burst_length = 2;
    blk_io_limits_enable(blk, "grp");
    blk_set_io_limits(blk, &cfg);
    g_assert_true(throttle_group_exists("grp"));

    bdrv_fill_throttle_info(&info, blk);
    g_assert_cmpint(info.iops_rd, ==, 10);
    g_assert_true(info.has_iops_rd_max);
    g_assert_cmpint(info.iops_rd_max, ==, 20);
    g_assert_true(info.has_iops_rd_max_length);
    g_assert_cmpint(info.iops_rd_max_length, ==, 2);
    g_assert_false(info.has_iops_max);
    g_assert_false(info.has_bps_max_length);
    g_assert_false(info.has_iops_size);
    g_assert_true(info.has_group);
    g_assert_cmpstr(info.group, ==, "grp");
    g_free(info.group);

    /* Burst bucket of 2 ops: three pass, then one per 50 ms. */
    start_reads(blk, 8, &qiov);
    run_pending();
    g_assert_cmpint(completed, ==, 3);
    advance(100 * MS, MS);
    g_assert_cmpint(completed, ==, 5);

    /* Moving to another group keeps nothing waiting behind. */
    blk_io_limits_update_group(blk, "other");
    g_assert_false(throttle_group_exists("grp"));
    g_assert_cmpint(completed, ==, 8);

    blk_io_limits_disable(blk);
    g_assert_false(throttle_group_exists("other"));
    start_reads(blk, 8, &qiov);
    run_pending();
    g_assert_cmpint(completed, ==, 16);
    blk_unref(blk);
}

/* A backend deleted while throttled leaves its group cleanly. */
static void test_backend_unref(void)
{
    BlockBackend *blk = blk_new_open(NULL, NULL,
                                     json_pack("{s:s}", "driver", "null-co"),
                                     BDRV_O_RDWR, &error_abort);
    ThrottleConfig cfg;

    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_BPS_TOTAL].avg = 1;
    blk_io_limits_enable(blk, "gone");
    blk_set_io_limits(blk, &cfg);
    blk_unref(blk);
    g_assert_false(throttle_group_exists("gone"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop();
    qemu_clock_set_virtual_manual(1000 * NANOSECONDS_PER_SECOND);
    bdrv_init();
    release_log = g_string_new(NULL);

    g_test_add_func("/throttle-groups/release-per-step",
                    test_release_per_step);
    g_test_add_func("/throttle-groups/bps", test_bps);
    g_test_add_func("/throttle-groups/round-robin-order",
                    test_round_robin_order);
    g_test_add_func("/throttle-groups/no-starvation-share",
                    test_no_starvation_and_share);
    g_test_add_func("/throttle-groups/directions", test_directions);
    g_test_add_func("/throttle-groups/burst", test_burst);
    g_test_add_func("/throttle-groups/limits-change", test_limits_change);
    g_test_add_func("/throttle-groups/drain", test_drain);
    g_test_add_func("/throttle-groups/leave-with-timer",
                    test_leave_with_timer);
    g_test_add_func("/throttle-groups/filter-driver", test_filter_driver);
    g_test_add_func("/throttle-groups/filter-shared-group",
                    test_filter_shared_group);
    g_test_add_func("/throttle-groups/backend-limits", test_backend_limits);
    g_test_add_func("/throttle-groups/backend-unref", test_backend_unref);
    {
        int ret = g_test_run();

        g_string_free(release_log, true);
        return ret;
    }
}

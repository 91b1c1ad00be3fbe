/*
 * Unit tests for leaky-bucket throttling: bucket arithmetic, validity rules
 * and messages, accounting, and wake-up timers on the manual virtual clock.
 */
#include "strata/osdep.h"
#include "util/aio.h"
#include "util/error.h"
#include "util/throttle.h"

/* Levels are fractional; compare them with a margin well below one unit. */
#define LEVEL_EPSILON 1e-6

static AioContext *ctx;

static void assert_level(double got, double want)
{
    g_assert_cmpfloat_with_epsilon(got, want, LEVEL_EPSILON);
}

/* A bucket in the state the tests start from: no limits, burst length 1. */
static LeakyBucket bucket(uint64_t avg, uint64_t max, uint64_t burst_length)
{
    return (LeakyBucket) {
        .avg = avg, .max = max, .burst_length = burst_length,
    };
}

/* ---- Leaking ---- */

static void test_leak_bucket(void)
{
    LeakyBucket bkt = bucket(150, 15, 1);

    /* 1/150 s at 150 units/s drains one unit (up to the ns truncation). */
    bkt.level = 1.5;
    throttle_leak_bucket(&bkt, NANOSECONDS_PER_SECOND / 150);
    assert_level(bkt.level, 0.5);
    throttle_leak_bucket(&bkt, NANOSECONDS_PER_SECOND / 150);
    assert_level(bkt.level, 0);
    /* An empty bucket stays empty; it never goes negative. */
    throttle_leak_bucket(&bkt, NANOSECONDS_PER_SECOND / 150);
    assert_level(bkt.level, 0);

    /* No time, no drain. */
    bkt.level = 7;
    throttle_leak_bucket(&bkt, 0);
    assert_level(bkt.level, 7);
}

static void test_leak_bucket_burst(void)
{
    LeakyBucket bkt = bucket(150, 250, 2);
    const double burst_after[] = { 3.5, 1, 0, 0 };
    const double level_after[] = { 4.5, 3, 1.5, 0 };

    /*
     * With burst_length > 1 the burst bucket drains at max (2.5 units per
     * 10 ms here) while the main one drains at avg (1.5 per 10 ms).
     */
    bkt.level = 6;
    bkt.burst_level = 6;
    for (size_t i = 0; i < ARRAY_SIZE(burst_after); i++) {
        throttle_leak_bucket(&bkt, NANOSECONDS_PER_SECOND / 100);
        assert_level(bkt.burst_level, burst_after[i]);
        assert_level(bkt.level, level_after[i]);
    }
}

static void test_leak_bucket_no_burst_bucket(void)
{
    LeakyBucket bkt = bucket(100, 200, 1);

    /* With burst_length 1 the burst level is not tracked at all. */
    bkt.burst_level = 5;
    bkt.level = 5;
    throttle_leak_bucket(&bkt, NANOSECONDS_PER_SECOND / 100);
    assert_level(bkt.level, 4);
    assert_level(bkt.burst_level, 5);
}

/* ---- Wait times ---- */

static void test_compute_wait_disabled(void)
{
    LeakyBucket bkt = bucket(0, 0, 1);

    bkt.level = 1e12;
    bkt.burst_level = 1e12;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 0);
}

static void test_compute_wait_no_max(void)
{
    LeakyBucket bkt = bucket(150, 0, 1);

    /* Without max the bucket holds avg / 10 = 15 units. */
    bkt.level = 9;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 0);
    bkt.level = 15;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 0);
    /* Half a unit over: half of 1/150 s, truncated to whole ns. */
    bkt.level = 15.5;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==,
                    (int64_t)(0.5 * NANOSECONDS_PER_SECOND / 150));
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 3333333);

    /* avg / 10 is not an integer division: 15 / 10 = 1.5 units. */
    bkt = bucket(15, 0, 1);
    bkt.level = 1.5;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 0);
    bkt.level = 2.5;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==,
                    NANOSECONDS_PER_SECOND / 15);

    /* 50 MiB/s: 5 MiB before throttling, 1 MiB more is 20 ms of waiting. */
    bkt = bucket(50 * MiB, 0, 1);
    bkt.level = 5 * MiB;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 0);
    bkt.level = 6 * MiB;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 20 * SCALE_MS);
}

static void test_compute_wait_huge(void)
{
    LeakyBucket bkt = bucket(1, 0, 1);

    /*
     * 16 GiB against 1 byte/s would be 544 years: the wait is capped at
     * INT64_MAX / 2 ns so that it converts and adds to "now" safely.
     */
    bkt.level = 16.0 * GiB;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, INT64_MAX / 2);
    bkt.level = 1e300;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, INT64_MAX / 2);
    /* Just below the cap the exact value comes through. */
    bkt.level = 4.0e9;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==,
                    (int64_t)((4.0e9 - 0.1) * NANOSECONDS_PER_SECOND));
}

static void test_compute_wait_max_length_1(void)
{
    LeakyBucket bkt = bucket(100, 200, 1);

    /* The bucket holds max * burst_length = 200 units. */
    bkt.level = 200;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 0);
    /* One unit over drains at avg: 1/100 s. */
    bkt.level = 201;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 10 * SCALE_MS);

    /* No burst bucket with burst_length 1, whatever its level says. */
    bkt.level = 0;
    bkt.burst_level = 1000;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 0);
}

static void test_compute_wait_max_long_burst(void)
{
    LeakyBucket bkt = bucket(100, 200, 3);

    /* Main bucket 600 units, burst bucket max / 10 = 20 units. */
    bkt.level = 599;
    bkt.burst_level = 20;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 0);
    /* One unit over the burst bucket drains at max: 1/200 s. */
    bkt.burst_level = 21;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 5 * SCALE_MS);
    /* A full main bucket wins and drains at avg: 1/100 s. */
    bkt.level = 601;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 10 * SCALE_MS);
    bkt.burst_level = 0;
    g_assert_cmpint(throttle_compute_wait(&bkt), ==, 10 * SCALE_MS);
}

static void test_compute_wait_burst_sequence(void)
{
    LeakyBucket bkt = bucket(10, 200, 2);

    /*
     * Every 100 ms do max / 10 units of I/O and let 100 ms pass.  The
     * burst bucket keeps up exactly; the main bucket grows by
     * (max - avg) / 10 per step and overflows its 400 units at step 21:
     * two seconds of burst plus 100 ms gained from avg-rate leaking.
     */
    for (int i = 0; i < 22; i++) {
        double units = (double)bkt.max / 10;
        int64_t wait;

        bkt.level += units;
        bkt.burst_level += units;
        throttle_leak_bucket(&bkt, NANOSECONDS_PER_SECOND / 10);
        wait = throttle_compute_wait(&bkt);

        assert_level(bkt.burst_level, 0);
        assert_level(bkt.level, (i + 1) * (double)(bkt.max - bkt.avg) / 10);
        /* At step 21: 18 units over, drained at 10 units/s. */
        g_assert_cmpint(wait, ==, i < 21 ? 0 : 1800 * SCALE_MS);
    }
}

static void test_compute_wait_for(void)
{
    ThrottleState ts;

    throttle_init(&ts);
    ts.cfg.buckets[THROTTLE_BPS_WRITE] = bucket(100, 0, 1);
    ts.cfg.buckets[THROTTLE_OPS_TOTAL] = bucket(10, 0, 1);
    ts.cfg.buckets[THROTTLE_OPS_READ] = bucket(100, 0, 1);

    /* Writes see BPS_WRITE (1 unit over at 100/s) and OPS_TOTAL. */
    ts.cfg.buckets[THROTTLE_BPS_WRITE].level = 11;
    g_assert_cmpint(throttle_compute_wait_for(&ts, true), ==, 10 * SCALE_MS);
    g_assert_cmpint(throttle_compute_wait_for(&ts, false), ==, 0);

    /* Reads see OPS_READ: 2 units over at 100/s. */
    ts.cfg.buckets[THROTTLE_OPS_READ].level = 12;
    g_assert_cmpint(throttle_compute_wait_for(&ts, false), ==, 20 * SCALE_MS);

    /* Both see OPS_TOTAL; the longest wait wins (1 unit at 10/s). */
    ts.cfg.buckets[THROTTLE_OPS_TOTAL].level = 2;
    g_assert_cmpint(throttle_compute_wait_for(&ts, false), ==, 100 * SCALE_MS);
    g_assert_cmpint(throttle_compute_wait_for(&ts, true), ==, 100 * SCALE_MS);
}

/* ---- Initialisation and configuration ---- */

static void test_init(void)
{
    ThrottleState ts;

    memset(&ts, 0xa5, sizeof(ts));
    throttle_init(&ts);
    g_assert_cmpint(ts.previous_leak, ==, 0);
    g_assert_cmpuint(ts.cfg.op_size, ==, 0);
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        const LeakyBucket *b = &ts.cfg.buckets[i];

        g_assert_cmpuint(b->avg, ==, 0);
        g_assert_cmpuint(b->max, ==, 0);
        g_assert_cmpuint(b->burst_length, ==, 1);
        g_assert_true(b->level == 0 && b->burst_level == 0);
    }
    g_assert_false(throttle_enabled(&ts.cfg));
    g_assert_true(throttle_is_valid(&ts.cfg, &error_abort));
}

static void test_config_init(void)
{
    ThrottleConfig cfg;

    memset(&cfg, 0xff, sizeof(cfg));
    throttle_config_init(&cfg);
    g_assert_cmpuint(cfg.op_size, ==, 0);
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        g_assert_cmpuint(cfg.buckets[i].avg, ==, 0);
        g_assert_cmpuint(cfg.buckets[i].max, ==, 0);
        g_assert_cmpuint(cfg.buckets[i].burst_length, ==, 1);
    }
}

static void test_config_resets_levels(void)
{
    ThrottleState ts;
    ThrottleConfig cfg;

    qemu_clock_set_virtual_manual(5000);
    throttle_init(&ts);
    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_OPS_TOTAL] = bucket(10, 20, 2);
    /* Levels in the caller's struct are not carried into the state. */
    cfg.buckets[THROTTLE_OPS_TOTAL].level = 3;
    cfg.buckets[THROTTLE_OPS_TOTAL].burst_level = 4;

    throttle_config(&ts, QEMU_CLOCK_VIRTUAL, &cfg);
    g_assert_cmpint(ts.previous_leak, ==, 5000);
    g_assert_true(ts.cfg.buckets[THROTTLE_OPS_TOTAL].level == 0);
    g_assert_true(ts.cfg.buckets[THROTTLE_OPS_TOTAL].burst_level == 0);
    /* The caller's struct is left alone. */
    assert_level(cfg.buckets[THROTTLE_OPS_TOTAL].level, 3);

    /* Reconfiguring later empties buckets filled in the meantime. */
    throttle_account(&ts, false, 512);
    assert_level(ts.cfg.buckets[THROTTLE_OPS_TOTAL].level, 1);
    assert_level(ts.cfg.buckets[THROTTLE_OPS_TOTAL].burst_level, 1);
    qemu_clock_advance_virtual(123);
    throttle_config(&ts, QEMU_CLOCK_VIRTUAL, &cfg);
    g_assert_cmpint(ts.previous_leak, ==, 5123);
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        g_assert_true(ts.cfg.buckets[i].level == 0);
        g_assert_true(ts.cfg.buckets[i].burst_level == 0);
    }
}

static void assert_same_limits(const ThrottleConfig *a, const ThrottleConfig *b)
{
    g_assert_cmpuint(a->op_size, ==, b->op_size);
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        g_assert_cmpuint(a->buckets[i].avg, ==, b->buckets[i].avg);
        g_assert_cmpuint(a->buckets[i].max, ==, b->buckets[i].max);
        g_assert_cmpuint(a->buckets[i].burst_length, ==,
                         b->buckets[i].burst_length);
    }
}

static void test_get_config(void)
{
    ThrottleState ts;
    ThrottleConfig set, got;

    qemu_clock_set_virtual_manual(0);
    throttle_init(&ts);
    throttle_config_init(&set);
    /* avg without max: the implicit avg / 10 burst must not show up. */
    set.buckets[THROTTLE_BPS_READ] = bucket(153, 0, 1);
    set.buckets[THROTTLE_BPS_WRITE] = bucket(1000, 0, 1);
    /* max below 10 * avg and above avg, burst of several seconds. */
    set.buckets[THROTTLE_OPS_TOTAL] = bucket(56, 89, 7);
    set.buckets[THROTTLE_OPS_READ] = bucket(0, 0, 1);
    set.op_size = 4096;
    g_assert_true(throttle_is_valid(&set, &error_abort));

    throttle_config(&ts, QEMU_CLOCK_VIRTUAL, &set);
    throttle_get_config(&ts, &got);
    assert_same_limits(&got, &set);

    /* Using the state does not rewrite the limits either. */
    for (int i = 0; i < 100; i++) {
        ThrottleTimers tt;

        throttle_timers_init(&tt, ctx, QEMU_CLOCK_VIRTUAL, NULL, NULL, NULL);
        throttle_account(&ts, i & 1, 65536);
        throttle_schedule_timer(&ts, &tt, i & 1);
        qemu_clock_advance_virtual(SCALE_MS);
        throttle_timers_destroy(&tt);
    }
    throttle_get_config(&ts, &got);
    assert_same_limits(&got, &set);
    g_assert_cmpuint(got.buckets[THROTTLE_BPS_READ].max, ==, 0);
    g_assert_cmpuint(got.buckets[THROTTLE_BPS_WRITE].max, ==, 0);
}

static void set_cfg_value(ThrottleConfig *cfg, bool is_max, int index,
                          int64_t value)
{
    if (is_max) {
        /* A max needs an avg of at least 1 to be meaningful. */
        cfg->buckets[index].max = value;
        cfg->buckets[index].avg = MAX(cfg->buckets[index].avg, 1);
    } else {
        cfg->buckets[index].avg = value;
    }
}

static void test_enabled(void)
{
    ThrottleConfig cfg;

    throttle_config_init(&cfg);
    g_assert_false(throttle_enabled(&cfg));

    for (int i = 0; i < BUCKETS_COUNT; i++) {
        throttle_config_init(&cfg);
        set_cfg_value(&cfg, false, i, 150);
        g_assert_true(throttle_is_valid(&cfg, NULL));
        g_assert_true(throttle_enabled(&cfg));
    }

    /* A negative limit wraps to a huge value: "enabled" but invalid. */
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        throttle_config_init(&cfg);
        set_cfg_value(&cfg, false, i, -150);
        g_assert_false(throttle_is_valid(&cfg, NULL));
    }

    /* A max alone does not enable throttling (and is invalid). */
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        throttle_config_init(&cfg);
        cfg.buckets[i].max = 100;
        g_assert_false(throttle_enabled(&cfg));
    }
}

/* ---- Validity ---- */

static void assert_invalid(const ThrottleConfig *cfg, const char *message)
{
    Error *err = NULL;

    g_assert_false(throttle_is_valid(cfg, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, message);
    error_free(err);
}

#define MSG_CONFLICT \
    "bps/iops/max total values and read/write values cannot be used at " \
    "the same time"
#define MSG_IOPS_SIZE "iops size requires an iops value to be set"
#define MSG_RANGE "bps/iops/max values must be within [0, 1000000000000000]"
#define MSG_LENGTH_ZERO "the burst length cannot be 0"
#define MSG_LENGTH_NO_MAX "burst length set without burst rate"
#define MSG_LENGTH_TOO_HIGH "burst length too high for this burst rate"
#define MSG_MAX_NO_AVG "bps_max/iops_max require corresponding bps/iops values"
#define MSG_MAX_LOW "bps_max/iops_max cannot be lower than bps/iops"

static void test_conflicting_config(void)
{
    static const BucketType families[2][3] = {
        { THROTTLE_BPS_TOTAL, THROTTLE_BPS_READ, THROTTLE_BPS_WRITE },
        { THROTTLE_OPS_TOTAL, THROTTLE_OPS_READ, THROTTLE_OPS_WRITE },
    };
    ThrottleConfig cfg;

    for (int f = 0; f < 2; f++) {
        BucketType total = families[f][0];

        for (int d = 1; d <= 2; d++) {
            BucketType split = families[f][d];

            /* Total and one direction, by avg ... */
            throttle_config_init(&cfg);
            cfg.buckets[total].avg = 1;
            cfg.buckets[split].avg = 1;
            assert_invalid(&cfg, MSG_CONFLICT);

            /* ... or by max (with no avg conflict). */
            throttle_config_init(&cfg);
            cfg.buckets[total] = bucket(1, 10, 1);
            cfg.buckets[split].max = 10;
            assert_invalid(&cfg, MSG_CONFLICT);
        }

        /* Total alone is fine, and so are read and write together. */
        throttle_config_init(&cfg);
        cfg.buckets[total] = bucket(1, 10, 1);
        g_assert_true(throttle_is_valid(&cfg, &error_abort));

        throttle_config_init(&cfg);
        cfg.buckets[families[f][1]] = bucket(1, 10, 1);
        cfg.buckets[families[f][2]] = bucket(1, 10, 1);
        g_assert_true(throttle_is_valid(&cfg, &error_abort));
    }

    /* Bytes total with operations per direction do not conflict. */
    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_BPS_TOTAL].avg = 1;
    cfg.buckets[THROTTLE_OPS_READ].avg = 1;
    cfg.buckets[THROTTLE_OPS_WRITE].avg = 1;
    g_assert_true(throttle_is_valid(&cfg, &error_abort));
}

static void test_is_valid_for_value(int64_t value, bool should_be_valid)
{
    ThrottleConfig cfg;

    for (int is_max = 0; is_max < 2; is_max++) {
        for (int index = 0; index < BUCKETS_COUNT; index++) {
            throttle_config_init(&cfg);
            set_cfg_value(&cfg, is_max, index, value);
            g_assert_cmpint(throttle_is_valid(&cfg, NULL), ==,
                            should_be_valid);
        }
    }
}

static void test_is_valid(void)
{
    /* -1 wraps to 2^64 - 1, far above THROTTLE_VALUE_MAX. */
    test_is_valid_for_value(-1, false);
    test_is_valid_for_value(0, true);
    test_is_valid_for_value(1, true);
}

static void test_ranges(void)
{
    ThrottleConfig cfg;

    for (int i = 0; i < BUCKETS_COUNT; i++) {
        LeakyBucket *b = &cfg.buckets[i];

        throttle_config_init(&cfg);

        /* avg = 0 means "no limit", which is a valid configuration. */
        b->avg = 0;
        g_assert_true(throttle_is_valid(&cfg, NULL));
        g_assert_false(throttle_enabled(&cfg));

        /* Anything up to THROTTLE_VALUE_MAX is allowed ... */
        b->avg = 1;
        g_assert_true(throttle_is_valid(&cfg, NULL));
        b->avg = THROTTLE_VALUE_MAX;
        g_assert_true(throttle_is_valid(&cfg, NULL));
        b->avg = THROTTLE_VALUE_MAX;
        b->max = THROTTLE_VALUE_MAX;
        g_assert_true(throttle_is_valid(&cfg, NULL));

        /* ... and nothing above. */
        b->avg = THROTTLE_VALUE_MAX + 1;
        g_assert_false(throttle_is_valid(&cfg, NULL));
        b->avg = THROTTLE_VALUE_MAX;
        b->max = THROTTLE_VALUE_MAX + 1;
        g_assert_false(throttle_is_valid(&cfg, NULL));

        /* burst_length runs from 1 to THROTTLE_VALUE_MAX ... */
        b->avg = 1;
        b->max = 1;
        b->burst_length = 0;
        g_assert_false(throttle_is_valid(&cfg, NULL));
        b->avg = 1;
        b->max = 1;
        b->burst_length = 1;
        g_assert_true(throttle_is_valid(&cfg, NULL));
        b->avg = 1;
        b->max = 1;
        b->burst_length = THROTTLE_VALUE_MAX;
        g_assert_true(throttle_is_valid(&cfg, NULL));
        b->avg = 1;
        b->max = 1;
        b->burst_length = THROTTLE_VALUE_MAX + 1;
        g_assert_false(throttle_is_valid(&cfg, NULL));

        /* ... and max * burst_length may not exceed THROTTLE_VALUE_MAX. */
        b->avg = 1;
        b->max = 2;
        b->burst_length = THROTTLE_VALUE_MAX / 2;
        g_assert_true(throttle_is_valid(&cfg, NULL));
        b->avg = 1;
        b->max = 3;
        b->burst_length = THROTTLE_VALUE_MAX / 2;
        g_assert_false(throttle_is_valid(&cfg, NULL));
        b->avg = 1;
        b->max = THROTTLE_VALUE_MAX;
        b->burst_length = 1;
        g_assert_true(throttle_is_valid(&cfg, NULL));
        b->avg = 1;
        b->max = THROTTLE_VALUE_MAX;
        b->burst_length = 2;
        g_assert_false(throttle_is_valid(&cfg, NULL));
    }
}

static void test_max_is_missing_limit(void)
{
    ThrottleConfig cfg;

    for (int i = 0; i < BUCKETS_COUNT; i++) {
        throttle_config_init(&cfg);
        cfg.buckets[i].max = 100;
        cfg.buckets[i].avg = 0;
        g_assert_false(throttle_is_valid(&cfg, NULL));

        cfg.buckets[i].max = 0;
        cfg.buckets[i].avg = 0;
        g_assert_true(throttle_is_valid(&cfg, NULL));

        cfg.buckets[i].max = 0;
        cfg.buckets[i].avg = 100;
        g_assert_true(throttle_is_valid(&cfg, NULL));
    }
}

static void test_iops_size_is_missing_limit(void)
{
    static const BucketType ops[] = {
        THROTTLE_OPS_TOTAL, THROTTLE_OPS_READ, THROTTLE_OPS_WRITE,
    };
    ThrottleConfig cfg;

    /* An iops size with no iops limit, even with byte limits. */
    throttle_config_init(&cfg);
    cfg.op_size = 4096;
    assert_invalid(&cfg, MSG_IOPS_SIZE);
    cfg.buckets[THROTTLE_BPS_TOTAL].avg = 1000;
    assert_invalid(&cfg, MSG_IOPS_SIZE);
    /* A max alone does not count as an iops value. */
    cfg.buckets[THROTTLE_OPS_TOTAL].max = 1000;
    assert_invalid(&cfg, MSG_IOPS_SIZE);

    /* Any one of the three iops limits makes it valid. */
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        throttle_config_init(&cfg);
        cfg.op_size = 4096;
        cfg.buckets[ops[i]].avg = 10;
        g_assert_true(throttle_is_valid(&cfg, &error_abort));
    }
}

static void test_is_valid_messages(void)
{
    ThrottleConfig cfg;
    LeakyBucket *b = &cfg.buckets[THROTTLE_OPS_WRITE];

    /* Boundaries of the value range, for avg and for max. */
    throttle_config_init(&cfg);
    b->avg = THROTTLE_VALUE_MAX;
    g_assert_true(throttle_is_valid(&cfg, &error_abort));
    b->avg = THROTTLE_VALUE_MAX + 1;
    assert_invalid(&cfg, MSG_RANGE);
    b->avg = (uint64_t)-150;
    assert_invalid(&cfg, MSG_RANGE);
    b->avg = 1;
    b->max = THROTTLE_VALUE_MAX + 1;
    assert_invalid(&cfg, MSG_RANGE);
    b->max = (uint64_t)-1;
    assert_invalid(&cfg, MSG_RANGE);

    /* Burst length. */
    throttle_config_init(&cfg);
    b->burst_length = 0;
    assert_invalid(&cfg, MSG_LENGTH_ZERO);
    b->burst_length = 2;
    b->avg = 10;
    assert_invalid(&cfg, MSG_LENGTH_NO_MAX);
    b->max = 10;
    g_assert_true(throttle_is_valid(&cfg, &error_abort));

    /* max * burst_length at and just over the limit. */
    b->max = 1000;
    b->burst_length = THROTTLE_VALUE_MAX / 1000;
    g_assert_true(throttle_is_valid(&cfg, &error_abort));
    b->burst_length = THROTTLE_VALUE_MAX / 1000 + 1;
    assert_invalid(&cfg, MSG_LENGTH_TOO_HIGH);
    /* The value that once wrapped to 4 in a 32-bit field. */
    b->max = 1000000;
    b->burst_length = 4294967300ULL;
    assert_invalid(&cfg, MSG_LENGTH_TOO_HIGH);
    /* A product that would overflow 64 bits is caught, not wrapped. */
    b->max = THROTTLE_VALUE_MAX;
    b->burst_length = UINT64_MAX / THROTTLE_VALUE_MAX + 1;
    assert_invalid(&cfg, MSG_LENGTH_TOO_HIGH);

    /* max needs an avg, and may not be below it; max == avg is fine. */
    throttle_config_init(&cfg);
    b->max = 100;
    assert_invalid(&cfg, MSG_MAX_NO_AVG);
    b->avg = 101;
    assert_invalid(&cfg, MSG_MAX_LOW);
    b->avg = 100;
    g_assert_true(throttle_is_valid(&cfg, &error_abort));
}

static void test_is_valid_order(void)
{
    ThrottleConfig cfg;
    LeakyBucket *b = &cfg.buckets[THROTTLE_BPS_READ];

    /* Within a bucket, the range check comes before burst length ... */
    throttle_config_init(&cfg);
    b->avg = THROTTLE_VALUE_MAX + 1;
    b->burst_length = 0;
    assert_invalid(&cfg, MSG_RANGE);
    /* ... zero length before length-without-rate ... */
    b->avg = 5;
    b->max = 0;
    b->burst_length = 0;
    assert_invalid(&cfg, MSG_LENGTH_ZERO);
    /* ... length-without-rate before anything about max ... */
    b->avg = 0;
    b->burst_length = 2;
    assert_invalid(&cfg, MSG_LENGTH_NO_MAX);
    /* ... the product before max-without-avg ... */
    b->max = THROTTLE_VALUE_MAX;
    assert_invalid(&cfg, MSG_LENGTH_TOO_HIGH);
    /* ... and max-without-avg before max-below-avg. */
    b->burst_length = 1;
    assert_invalid(&cfg, MSG_MAX_NO_AVG);

    /* Buckets are checked one after another, in BucketType order. */
    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_BPS_TOTAL] = bucket(100, 50, 1);
    cfg.buckets[THROTTLE_OPS_TOTAL].avg = THROTTLE_VALUE_MAX + 1;
    assert_invalid(&cfg, MSG_MAX_LOW);

    /* Conflicts, then iops size, come before any bucket's own checks. */
    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_BPS_TOTAL].avg = THROTTLE_VALUE_MAX + 1;
    cfg.buckets[THROTTLE_BPS_WRITE].avg = 1;
    cfg.op_size = 512;
    assert_invalid(&cfg, MSG_CONFLICT);
    cfg.buckets[THROTTLE_BPS_WRITE].avg = 0;
    assert_invalid(&cfg, MSG_IOPS_SIZE);
    cfg.op_size = 0;
    assert_invalid(&cfg, MSG_RANGE);
}

/* ---- Accounting ---- */

static void assert_levels(const ThrottleState *ts, const double want[])
{
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        assert_level(ts->cfg.buckets[i].level, want[i]);
    }
}

static void test_accounting(void)
{
    ThrottleState ts;

    throttle_init(&ts);

    /* bps total/read/write, then ops total/read/write. */
    throttle_account(&ts, false, 4096);
    assert_levels(&ts, (double[]) { 4096, 4096, 0, 1, 1, 0 });
    throttle_account(&ts, true, 8192);
    assert_levels(&ts, (double[]) { 12288, 4096, 8192, 2, 1, 1 });
    /* A zero-length request is still one operation. */
    throttle_account(&ts, true, 0);
    assert_levels(&ts, (double[]) { 12288, 4096, 8192, 3, 1, 2 });

    /* No burst bucket is filled while every burst_length is 1. */
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        g_assert_true(ts.cfg.buckets[i].burst_level == 0);
    }
}

static void test_accounting_op_size(void)
{
    static const struct {
        uint64_t size;
        double ops;
    } cases[] = {
        { 512, 1 },      /* smaller than op_size: one operation */
        { 4096, 1 },     /* exactly op_size: one operation */
        { 4097, 4097.0 / 4096 },
        { 6144, 1.5 },   /* fractions of an operation count */
        { 8192, 2 },
        { 1 * MiB, 256 },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        for (int is_write = 0; is_write < 2; is_write++) {
            ThrottleState ts;
            double r = is_write ? 0 : cases[i].ops;
            double w = is_write ? cases[i].ops : 0;
            double rb = is_write ? 0 : cases[i].size;
            double wb = is_write ? cases[i].size : 0;

            throttle_init(&ts);
            ts.cfg.op_size = 4096;
            throttle_account(&ts, is_write, cases[i].size);
            assert_levels(&ts, (double[]) {
                cases[i].size, rb, wb, cases[i].ops, r, w,
            });
        }
    }
}

static void test_accounting_burst_level(void)
{
    ThrottleState ts;

    throttle_init(&ts);
    ts.cfg.op_size = 1000;
    ts.cfg.buckets[THROTTLE_BPS_READ] = bucket(100, 1000, 2);
    ts.cfg.buckets[THROTTLE_OPS_TOTAL] = bucket(100, 1000, 3);
    ts.cfg.buckets[THROTTLE_OPS_WRITE] = bucket(100, 1000, 1);

    throttle_account(&ts, false, 2500);
    throttle_account(&ts, true, 500);
    /* Burst levels grow only where burst_length > 1. */
    assert_level(ts.cfg.buckets[THROTTLE_BPS_READ].burst_level, 2500);
    assert_level(ts.cfg.buckets[THROTTLE_OPS_TOTAL].burst_level, 3.5);
    assert_level(ts.cfg.buckets[THROTTLE_OPS_WRITE].burst_level, 0);
    assert_level(ts.cfg.buckets[THROTTLE_OPS_WRITE].level, 1);
    assert_level(ts.cfg.buckets[THROTTLE_BPS_TOTAL].burst_level, 0);
    assert_level(ts.cfg.buckets[THROTTLE_BPS_TOTAL].level, 3000);
}

/* ---- Timers ---- */

typedef struct TimerCounts {
    int reads;
    int writes;
} TimerCounts;

static void read_timer_cb(void *opaque)
{
    ((TimerCounts *)opaque)->reads++;
}

static void write_timer_cb(void *opaque)
{
    ((TimerCounts *)opaque)->writes++;
}

static void test_timers_init_destroy(void)
{
    ThrottleTimers tt;
    TimerCounts n = { 0 };

    memset(&tt, 0, sizeof(tt));
    g_assert_false(throttle_timers_are_initialized(&tt));
    throttle_timers_init(&tt, ctx, QEMU_CLOCK_VIRTUAL,
                         read_timer_cb, write_timer_cb, &n);
    g_assert_true(throttle_timers_are_initialized(&tt));
    g_assert_nonnull(tt.timers[0]);
    g_assert_nonnull(tt.timers[1]);
    g_assert_cmpint(tt.clock_type, ==, QEMU_CLOCK_VIRTUAL);
    g_assert_true(tt.read_timer_cb == read_timer_cb);
    g_assert_true(tt.write_timer_cb == write_timer_cb);
    g_assert_true(tt.timer_opaque == &n);

    /* Destroying with a timer armed cancels it. */
    qemu_clock_set_virtual_manual(0);
    timer_mod_ns(tt.timers[0], 10);
    throttle_timers_destroy(&tt);
    g_assert_false(throttle_timers_are_initialized(&tt));
    g_assert_null(tt.timers[0]);
    g_assert_null(tt.timers[1]);
    qemu_clock_advance_virtual(100);
    aio_poll(ctx, false);
    g_assert_cmpint(n.reads, ==, 0);
}

/* A state limited to 10 operations per second: 1 operation of slack. */
static void ten_iops_state(ThrottleState *ts, BucketType type)
{
    ThrottleConfig cfg;

    throttle_init(ts);
    throttle_config_init(&cfg);
    cfg.buckets[type].avg = 10;
    throttle_config(ts, QEMU_CLOCK_VIRTUAL, &cfg);
}

static void test_schedule_timer(void)
{
    ThrottleState ts;
    ThrottleTimers tt;
    TimerCounts n = { 0 };
    const int64_t start = 1000 * NANOSECONDS_PER_SECOND;

    qemu_clock_set_virtual_manual(start);
    ten_iops_state(&ts, THROTTLE_OPS_TOTAL);
    throttle_timers_init(&tt, ctx, QEMU_CLOCK_VIRTUAL,
                         read_timer_cb, write_timer_cb, &n);

    /* One operation fits in the avg / 10 slack; the second overflows. */
    g_assert_false(throttle_schedule_timer(&ts, &tt, false));
    throttle_account(&ts, false, 512);
    g_assert_false(throttle_schedule_timer(&ts, &tt, false));
    throttle_account(&ts, false, 512);
    g_assert_false(timer_pending(tt.timers[0]));

    /* Now 1 operation over at 10/s: wait 100 ms. */
    g_assert_true(throttle_schedule_timer(&ts, &tt, false));
    g_assert_true(timer_pending(tt.timers[0]));
    g_assert_false(timer_pending(tt.timers[1]));
    g_assert_cmpint(timer_expire_time_ns(tt.timers[0]), ==,
                    start + 100 * SCALE_MS);

    /* Asking again later does not move an armed timer. */
    qemu_clock_advance_virtual(40 * SCALE_MS);
    g_assert_true(throttle_schedule_timer(&ts, &tt, false));
    g_assert_cmpint(timer_expire_time_ns(tt.timers[0]), ==,
                    start + 100 * SCALE_MS);

    /* It fires at the computed time, not a nanosecond before. */
    qemu_clock_advance_virtual(60 * SCALE_MS - 1);
    aio_poll(ctx, false);
    g_assert_cmpint(n.reads, ==, 0);
    qemu_clock_advance_virtual(1);
    aio_poll(ctx, false);
    g_assert_cmpint(n.reads, ==, 1);
    g_assert_cmpint(n.writes, ==, 0);

    /* At that time the request may go. */
    g_assert_false(throttle_schedule_timer(&ts, &tt, false));
    assert_level(ts.cfg.buckets[THROTTLE_OPS_TOTAL].level, 1);

    /* A write is held by the same total bucket, on the write timer. */
    throttle_account(&ts, false, 512);
    g_assert_true(throttle_schedule_timer(&ts, &tt, true));
    g_assert_false(timer_pending(tt.timers[0]));
    g_assert_cmpint(timer_expire_time_ns(tt.timers[1]), ==,
                    start + 200 * SCALE_MS);
    qemu_clock_advance_virtual(100 * SCALE_MS);
    aio_poll(ctx, false);
    g_assert_cmpint(n.reads, ==, 1);
    g_assert_cmpint(n.writes, ==, 1);

    throttle_timers_destroy(&tt);
}

static void test_schedule_timer_directions(void)
{
    ThrottleState ts;
    ThrottleTimers tt;
    TimerCounts n = { 0 };

    qemu_clock_set_virtual_manual(0);
    ten_iops_state(&ts, THROTTLE_OPS_WRITE);
    throttle_timers_init(&tt, ctx, QEMU_CLOCK_VIRTUAL,
                         read_timer_cb, write_timer_cb, &n);

    /* Writes are limited; reads never wait and are not counted there. */
    for (int i = 0; i < 10; i++) {
        g_assert_false(throttle_schedule_timer(&ts, &tt, false));
        throttle_account(&ts, false, 512);
    }
    g_assert_false(throttle_schedule_timer(&ts, &tt, true));
    throttle_account(&ts, true, 512);
    g_assert_false(throttle_schedule_timer(&ts, &tt, true));
    throttle_account(&ts, true, 512);
    g_assert_true(throttle_schedule_timer(&ts, &tt, true));
    g_assert_false(throttle_schedule_timer(&ts, &tt, false));
    g_assert_false(timer_pending(tt.timers[0]));
    g_assert_cmpint(timer_expire_time_ns(tt.timers[1]), ==, 100 * SCALE_MS);

    /*
     * More queued work would now need 200 ms, but the armed timer keeps
     * its time: whoever it wakes asks again.
     */
    throttle_account(&ts, true, 512);
    g_assert_true(throttle_schedule_timer(&ts, &tt, true));
    g_assert_cmpint(throttle_compute_wait_for(&ts, true), ==, 200 * SCALE_MS);
    g_assert_cmpint(timer_expire_time_ns(tt.timers[1]), ==, 100 * SCALE_MS);

    throttle_timers_destroy(&tt);
}

static void test_schedule_clock_backwards(void)
{
    ThrottleState ts;
    ThrottleTimers tt;

    qemu_clock_set_virtual_manual(10 * SCALE_MS);
    ten_iops_state(&ts, THROTTLE_OPS_TOTAL);
    throttle_timers_init(&tt, ctx, QEMU_CLOCK_VIRTUAL, NULL, NULL, NULL);
    throttle_account(&ts, false, 512);

    /* Time going backwards drains nothing and adds nothing. */
    qemu_clock_set_virtual_manual(5 * SCALE_MS);
    g_assert_false(throttle_schedule_timer(&ts, &tt, false));
    assert_level(ts.cfg.buckets[THROTTLE_OPS_TOTAL].level, 1);
    g_assert_cmpint(ts.previous_leak, ==, 5 * SCALE_MS);

    /* Draining resumes from the new time: 50 ms is half an operation. */
    qemu_clock_advance_virtual(50 * SCALE_MS);
    g_assert_false(throttle_schedule_timer(&ts, &tt, false));
    assert_level(ts.cfg.buckets[THROTTLE_OPS_TOTAL].level, 0.5);

    throttle_timers_destroy(&tt);
}

static void test_timers_attach_detach(void)
{
    ThrottleState ts;
    ThrottleTimers tt;
    TimerCounts n = { 0 };
    AioContext *other = aio_context_new(&error_abort);

    qemu_clock_set_virtual_manual(0);
    ten_iops_state(&ts, THROTTLE_OPS_TOTAL);
    throttle_timers_init(&tt, ctx, QEMU_CLOCK_VIRTUAL,
                         read_timer_cb, write_timer_cb, &n);

    throttle_timers_detach_aio_context(&tt);
    g_assert_false(throttle_timers_are_initialized(&tt));
    g_assert_null(tt.timers[0]);
    g_assert_null(tt.timers[1]);
    /* Clock and callbacks survive the detach. */
    g_assert_cmpint(tt.clock_type, ==, QEMU_CLOCK_VIRTUAL);
    g_assert_true(tt.timer_opaque == &n);

    throttle_timers_attach_aio_context(&tt, other);
    g_assert_true(throttle_timers_are_initialized(&tt));
    throttle_account(&ts, true, 512);
    throttle_account(&ts, true, 512);
    g_assert_true(throttle_schedule_timer(&ts, &tt, true));
    qemu_clock_advance_virtual(100 * SCALE_MS);

    /* The timer now belongs to the other context. */
    aio_poll(ctx, false);
    g_assert_cmpint(n.writes, ==, 0);
    aio_poll(other, false);
    g_assert_cmpint(n.writes, ==, 1);

    throttle_timers_destroy(&tt);
    aio_context_unref(other);
}

/* ---- End to end on the virtual clock ---- */

typedef struct Workload {
    ThrottleState ts;
    ThrottleTimers tt;
    int timer_fired;
    uint64_t request_size;
    int64_t done;           /* requests let through */
} Workload;

static void workload_timer_cb(void *opaque)
{
    ((Workload *)opaque)->timer_fired++;
}

static void workload_init(Workload *w, const ThrottleConfig *cfg,
                          uint64_t request_size)
{
    memset(w, 0, sizeof(*w));
    qemu_clock_set_virtual_manual(0);
    throttle_init(&w->ts);
    g_assert_true(throttle_is_valid(cfg, &error_abort));
    throttle_config(&w->ts, QEMU_CLOCK_VIRTUAL, cfg);
    throttle_timers_init(&w->tt, ctx, QEMU_CLOCK_VIRTUAL,
                         workload_timer_cb, workload_timer_cb, w);
    w->request_size = request_size;
}

/*
 * A reader that always has a request ready: send while allowed, otherwise
 * jump the clock to the armed timer and let it fire, until @until_ns.
 */
static void workload_run_until(Workload *w, int64_t until_ns)
{
    for (;;) {
        int64_t expire;
        int fired = w->timer_fired;

        while (!throttle_schedule_timer(&w->ts, &w->tt, false)) {
            throttle_account(&w->ts, false, w->request_size);
            w->done++;
        }
        expire = timer_expire_time_ns(w->tt.timers[0]);
        g_assert_cmpint(expire, >, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
        if (expire > until_ns) {
            return;
        }
        qemu_clock_advance_virtual(expire -
                                   qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
        aio_poll(ctx, false);
        g_assert_cmpint(w->timer_fired, ==, fired + 1);
    }
}

static void test_rate_iops(void)
{
    Workload w;
    ThrottleConfig cfg;

    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_OPS_TOTAL].avg = 100;
    workload_init(&w, &cfg, 4096);

    /* 11 at once (10 of slack plus the one that overflows), then 100/s. */
    workload_run_until(&w, 0);
    g_assert_cmpint(w.done, ==, 11);
    workload_run_until(&w, 10 * NANOSECONDS_PER_SECOND);
    g_assert_cmpint(w.done, ==, 11 + 1000);
    throttle_timers_destroy(&w.tt);
}

static void test_rate_bps(void)
{
    Workload w;
    ThrottleConfig cfg;
    const int64_t rate = 50 * MiB;
    const uint64_t size = 64 * KiB;
    int64_t at_1s;

    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_BPS_READ].avg = rate;
    workload_init(&w, &cfg, size);

    /* 5 MiB of slack plus the request that overflows it, then the rate. */
    workload_run_until(&w, 0);
    g_assert_cmpint(w.done, ==, rate / 10 / size + 1);
    workload_run_until(&w, NANOSECONDS_PER_SECOND);
    at_1s = w.done;
    workload_run_until(&w, 11 * NANOSECONDS_PER_SECOND);
    g_assert_cmpint((w.done - at_1s) * size, ==, 10 * rate);
    throttle_timers_destroy(&w.tt);
}

static void test_rate_iops_size(void)
{
    Workload w;
    ThrottleConfig cfg;

    /* 1 MiB requests at 4 KiB per operation: 256 operations each. */
    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_OPS_READ].avg = 2560;
    cfg.op_size = 4 * KiB;
    workload_init(&w, &cfg, 1 * MiB);

    workload_run_until(&w, 0);
    g_assert_cmpint(w.done, ==, 2);
    workload_run_until(&w, 10 * NANOSECONDS_PER_SECOND);
    g_assert_cmpint(w.done, ==, 2 + 100);
    throttle_timers_destroy(&w.tt);
}

static void test_rate_burst(void)
{
    Workload w;
    ThrottleConfig cfg;
    int64_t at_5s;

    /* 10 ops/s on average, bursts of 100 ops/s for up to 3 s. */
    throttle_config_init(&cfg);
    cfg.buckets[THROTTLE_OPS_TOTAL] = bucket(10, 100, 3);
    workload_init(&w, &cfg, 512);

    /* The burst bucket's slack (max / 10) plus one, then 100/s. */
    workload_run_until(&w, 0);
    g_assert_cmpint(w.done, ==, 11);
    workload_run_until(&w, NANOSECONDS_PER_SECOND);
    g_assert_cmpint(w.done, ==, 111);
    workload_run_until(&w, 3 * NANOSECONDS_PER_SECOND);
    g_assert_cmpint(w.done, ==, 311);

    /*
     * The main bucket (300 units) fills at max - avg = 90 units/s after the
     * initial 11, so the burst ends at (300 - 11) / 90 = 3.21 s; from then
     * on the rate is avg.  Ideal count at 5 s: 11 + 100 * 3.21 + 10 * 1.79
     * = 350, give or take the request in flight at each end.
     */
    workload_run_until(&w, 5 * NANOSECONDS_PER_SECOND);
    at_5s = w.done;
    g_assert_cmpint(at_5s, >=, 350 - 2);
    g_assert_cmpint(at_5s, <=, 350 + 2);
    workload_run_until(&w, 15 * NANOSECONDS_PER_SECOND);
    g_assert_cmpint(w.done - at_5s, >=, 99);
    g_assert_cmpint(w.done - at_5s, <=, 101);
    throttle_timers_destroy(&w.tt);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop();
    ctx = qemu_get_aio_context();

    g_test_add_func("/throttle/leak_bucket", test_leak_bucket);
    g_test_add_func("/throttle/leak_bucket/burst", test_leak_bucket_burst);
    g_test_add_func("/throttle/leak_bucket/no-burst-bucket",
                    test_leak_bucket_no_burst_bucket);
    g_test_add_func("/throttle/compute_wait/disabled",
                    test_compute_wait_disabled);
    g_test_add_func("/throttle/compute_wait/no-max", test_compute_wait_no_max);
    g_test_add_func("/throttle/compute_wait/huge", test_compute_wait_huge);
    g_test_add_func("/throttle/compute_wait/max-length-1",
                    test_compute_wait_max_length_1);
    g_test_add_func("/throttle/compute_wait/max-long-burst",
                    test_compute_wait_max_long_burst);
    g_test_add_func("/throttle/compute_wait/burst-sequence",
                    test_compute_wait_burst_sequence);
    g_test_add_func("/throttle/compute_wait/for", test_compute_wait_for);
    g_test_add_func("/throttle/init", test_init);
    g_test_add_func("/throttle/config/init", test_config_init);
    g_test_add_func("/throttle/config/resets-levels",
                    test_config_resets_levels);
    g_test_add_func("/throttle/config/get", test_get_config);
    g_test_add_func("/throttle/config/enabled", test_enabled);
    g_test_add_func("/throttle/config/conflicting", test_conflicting_config);
    g_test_add_func("/throttle/config/is_valid", test_is_valid);
    g_test_add_func("/throttle/config/ranges", test_ranges);
    g_test_add_func("/throttle/config/max", test_max_is_missing_limit);
    g_test_add_func("/throttle/config/iops_size",
                    test_iops_size_is_missing_limit);
    g_test_add_func("/throttle/config/messages", test_is_valid_messages);
    g_test_add_func("/throttle/config/order", test_is_valid_order);
    g_test_add_func("/throttle/accounting", test_accounting);
    g_test_add_func("/throttle/accounting/op-size", test_accounting_op_size);
    g_test_add_func("/throttle/accounting/burst-level",
                    test_accounting_burst_level);
    g_test_add_func("/throttle/timers/init-destroy", test_timers_init_destroy);
    g_test_add_func("/throttle/timers/attach-detach",
                    test_timers_attach_detach);
    g_test_add_func("/throttle/schedule/timer", test_schedule_timer);
    g_test_add_func("/throttle/schedule/directions",
                    test_schedule_timer_directions);
    g_test_add_func("/throttle/schedule/clock-backwards",
                    test_schedule_clock_backwards);
    g_test_add_func("/throttle/rate/iops", test_rate_iops);
    g_test_add_func("/throttle/rate/bps", test_rate_bps);
    g_test_add_func("/throttle/rate/iops-size", test_rate_iops_size);
    g_test_add_func("/throttle/rate/burst", test_rate_burst);
    return g_test_run();
}

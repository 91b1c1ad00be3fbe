/*
 * Leaky-bucket I/O throttling: draining and filling the buckets, the wait a
 * request must observe, configuration checks, and the wake-up timers.
 */
#include "strata/osdep.h"
#include "util/error.h"
#include "util/throttle.h"

/*
 * The buckets a request of each direction is charged to and checked
 * against, indexed by is_write.  Byte buckets first, then operation buckets.
 */
static const BucketType bytes_buckets[2][2] = {
    { THROTTLE_BPS_TOTAL, THROTTLE_BPS_READ },
    { THROTTLE_BPS_TOTAL, THROTTLE_BPS_WRITE },
};
static const BucketType ops_buckets[2][2] = {
    { THROTTLE_OPS_TOTAL, THROTTLE_OPS_READ },
    { THROTTLE_OPS_TOTAL, THROTTLE_OPS_WRITE },
};

/* Units a bucket draining at @rate per second loses in @delta_ns. */
static double units_drained(uint64_t rate, int64_t delta_ns)
{
    return (double)rate * (double)delta_ns / NANOSECONDS_PER_SECOND;
}

/*
 * Longest wait we report: about 146 years.  Only absurd requests (many
 * gigabytes against a limit of a few bytes per second) come near it; the
 * cap keeps the conversion to int64_t defined and leaves room for the
 * caller to add the current time.
 */
#define THROTTLE_WAIT_MAX_NS (INT64_MAX / 2)

/* Nanoseconds a bucket draining at @rate per second needs to lose @excess. */
static int64_t drain_time_ns(uint64_t rate, double excess)
{
    double wait = excess * NANOSECONDS_PER_SECOND / (double)rate;

    if (wait >= (double)THROTTLE_WAIT_MAX_NS) {
        return THROTTLE_WAIT_MAX_NS;
    }
    return (int64_t)wait;
}

void throttle_leak_bucket(LeakyBucket *bkt, int64_t delta_ns)
{
    bkt->level = MAX(bkt->level - units_drained(bkt->avg, delta_ns), 0.0);

    /*
     * The burst bucket only matters when bursts may last more than a
     * second; otherwise the main bucket alone already caps a burst.
     */
    if (bkt->burst_length > 1) {
        bkt->burst_level = MAX(bkt->burst_level -
                               units_drained(bkt->max, delta_ns), 0.0);
    }
}

int64_t throttle_compute_wait(const LeakyBucket *bkt)
{
    double capacity;        /* main bucket: units before falling to avg */
    double burst_capacity;  /* burst bucket: units before falling to max */
    double excess;

    if (!bkt->avg) {
        return 0;
    }

    if (bkt->max) {
        /*
         * The whole burst (max per second for burst_length seconds) must
         * be spent before the average rate applies.  is_valid() keeps the
         * product within THROTTLE_VALUE_MAX, so it cannot overflow.
         */
        capacity = (double)(bkt->max * bkt->burst_length);
        burst_capacity = (double)bkt->max / 10;
    } else {
        /*
         * No burst configured: still admit a tenth of a second at the
         * target rate before throttling, so that requests are not
         * released strictly one at a time.  This allowance is derived
         * here and never stored in the configuration.
         */
        capacity = (double)bkt->avg / 10;
        burst_capacity = 0;
    }

    excess = bkt->level - capacity;
    if (excess > 0) {
        return drain_time_ns(bkt->avg, excess);
    }

    /* Not full yet, but a long burst must still respect the max rate. */
    if (bkt->burst_length > 1) {
        excess = bkt->burst_level - burst_capacity;
        if (excess > 0) {
            return drain_time_ns(bkt->max, excess);
        }
    }
    return 0;
}

int64_t throttle_compute_wait_for(const ThrottleState *ts, bool is_write)
{
    int64_t longest = 0;

    for (int i = 0; i < 2; i++) {
        const BucketType checked[2] = {
            bytes_buckets[is_write][i], ops_buckets[is_write][i],
        };

        for (int j = 0; j < 2; j++) {
            int64_t wait = throttle_compute_wait(&ts->cfg.buckets[checked[j]]);
            longest = MAX(longest, wait);
        }
    }
    return longest;
}

/* Drain every bucket for the time elapsed since the previous drain. */
static void throttle_do_leak(ThrottleState *ts, int64_t now)
{
    int64_t delta_ns = now - ts->previous_leak;

    ts->previous_leak = now;
    if (delta_ns <= 0) {
        return;
    }
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        throttle_leak_bucket(&ts->cfg.buckets[i], delta_ns);
    }
}

void throttle_init(ThrottleState *ts)
{
    memset(ts, 0, sizeof(*ts));
    throttle_config_init(&ts->cfg);
}

void throttle_timers_attach_aio_context(ThrottleTimers *tt,
                                        AioContext *new_ctx)
{
    tt->timers[0] = aio_timer_new(new_ctx, tt->clock_type, SCALE_NS,
                                  tt->read_timer_cb, tt->timer_opaque);
    tt->timers[1] = aio_timer_new(new_ctx, tt->clock_type, SCALE_NS,
                                  tt->write_timer_cb, tt->timer_opaque);
}

void throttle_timers_init(ThrottleTimers *tt, AioContext *ctx,
                          QEMUClockType clock_type,
                          QEMUTimerCB *read_timer_cb,
                          QEMUTimerCB *write_timer_cb,
                          void *timer_opaque)
{
    memset(tt, 0, sizeof(*tt));
    tt->clock_type = clock_type;
    tt->read_timer_cb = read_timer_cb;
    tt->write_timer_cb = write_timer_cb;
    tt->timer_opaque = timer_opaque;
    throttle_timers_attach_aio_context(tt, ctx);
}

void throttle_timers_detach_aio_context(ThrottleTimers *tt)
{
    for (size_t i = 0; i < ARRAY_SIZE(tt->timers); i++) {
        timer_free(tt->timers[i]);
        tt->timers[i] = NULL;
    }
}

void throttle_timers_destroy(ThrottleTimers *tt)
{
    throttle_timers_detach_aio_context(tt);
}

bool throttle_timers_are_initialized(const ThrottleTimers *tt)
{
    return tt->timers[0] != NULL;
}

void throttle_config_init(ThrottleConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        cfg->buckets[i].burst_length = 1;
    }
}

bool throttle_enabled(const ThrottleConfig *cfg)
{
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        if (cfg->buckets[i].avg) {
            return true;
        }
    }
    return false;
}

/* True if @total and one of @read / @write are both non-zero. */
static bool total_and_split(uint64_t total, uint64_t read, uint64_t write)
{
    return total && (read || write);
}

/* A total limit excludes a per-direction limit of the same kind. */
static bool throttle_conflicts(const ThrottleConfig *cfg)
{
    const LeakyBucket *b = cfg->buckets;

    return total_and_split(b[THROTTLE_BPS_TOTAL].avg, b[THROTTLE_BPS_READ].avg,
                           b[THROTTLE_BPS_WRITE].avg) ||
           total_and_split(b[THROTTLE_OPS_TOTAL].avg, b[THROTTLE_OPS_READ].avg,
                           b[THROTTLE_OPS_WRITE].avg) ||
           total_and_split(b[THROTTLE_BPS_TOTAL].max, b[THROTTLE_BPS_READ].max,
                           b[THROTTLE_BPS_WRITE].max) ||
           total_and_split(b[THROTTLE_OPS_TOTAL].max, b[THROTTLE_OPS_READ].max,
                           b[THROTTLE_OPS_WRITE].max);
}

/* Checks that apply to each bucket on its own; see throttle_is_valid(). */
static bool bucket_is_valid(const LeakyBucket *bkt, Error **errp)
{
    /*
     * Negative values given by the user arrive here as huge unsigned
     * numbers, so this also rejects them.
     */
    if (bkt->avg > THROTTLE_VALUE_MAX || bkt->max > THROTTLE_VALUE_MAX) {
        error_setg(errp, "bps/iops/max values must be within [0, %lld]",
                   THROTTLE_VALUE_MAX);
        return false;
    }
    if (!bkt->burst_length) {
        error_setg(errp, "the burst length cannot be 0");
        return false;
    }
    if (bkt->burst_length > 1 && !bkt->max) {
        error_setg(errp, "burst length set without burst rate");
        return false;
    }
    /* The bucket holds max * burst_length units: keep that in range. */
    if (bkt->max && bkt->burst_length > THROTTLE_VALUE_MAX / bkt->max) {
        error_setg(errp, "burst length too high for this burst rate");
        return false;
    }
    if (bkt->max && !bkt->avg) {
        error_setg(errp, "bps_max/iops_max require corresponding"
                   " bps/iops values");
        return false;
    }
    if (bkt->max && bkt->max < bkt->avg) {
        error_setg(errp, "bps_max/iops_max cannot be lower than bps/iops");
        return false;
    }
    return true;
}

bool throttle_is_valid(const ThrottleConfig *cfg, Error **errp)
{
    const LeakyBucket *b = cfg->buckets;

    if (throttle_conflicts(cfg)) {
        error_setg(errp, "bps/iops/max total values and read/write values"
                   " cannot be used at the same time");
        return false;
    }

    if (cfg->op_size && !b[THROTTLE_OPS_TOTAL].avg &&
        !b[THROTTLE_OPS_READ].avg && !b[THROTTLE_OPS_WRITE].avg) {
        error_setg(errp, "iops size requires an iops value to be set");
        return false;
    }

    for (int i = 0; i < BUCKETS_COUNT; i++) {
        if (!bucket_is_valid(&b[i], errp)) {
            return false;
        }
    }
    return true;
}

void throttle_config(ThrottleState *ts, QEMUClockType clock_type,
                     const ThrottleConfig *cfg)
{
    ts->cfg = *cfg;

    /* A new configuration starts with empty buckets. */
    for (int i = 0; i < BUCKETS_COUNT; i++) {
        ts->cfg.buckets[i].level = 0;
        ts->cfg.buckets[i].burst_level = 0;
    }
    ts->previous_leak = qemu_clock_get_ns(clock_type);
}

void throttle_get_config(const ThrottleState *ts, ThrottleConfig *cfg)
{
    *cfg = ts->cfg;
}

bool throttle_schedule_timer(ThrottleState *ts, ThrottleTimers *tt,
                             bool is_write)
{
    int64_t now = qemu_clock_get_ns(tt->clock_type);
    QEMUTimer *timer = tt->timers[is_write];
    int64_t wait;

    throttle_do_leak(ts, now);
    wait = throttle_compute_wait_for(ts, is_write);
    if (!wait) {
        return false;
    }

    /* An armed timer will re-examine the queue when it fires. */
    if (!timer_pending(timer)) {
        timer_mod_ns(timer, now + wait);
    }
    return true;
}

/* Add @units to @bkt, and to its burst bucket when that is in use. */
static void bucket_fill(LeakyBucket *bkt, double units)
{
    bkt->level += units;
    if (bkt->burst_length > 1) {
        bkt->burst_level += units;
    }
}

void throttle_account(ThrottleState *ts, bool is_write, uint64_t size)
{
    double ops = 1.0;

    /* With an iops size, a large request counts as several operations. */
    if (ts->cfg.op_size && size > ts->cfg.op_size) {
        ops = (double)size / (double)ts->cfg.op_size;
    }

    for (int i = 0; i < 2; i++) {
        bucket_fill(&ts->cfg.buckets[bytes_buckets[is_write][i]], (double)size);
        bucket_fill(&ts->cfg.buckets[ops_buckets[is_write][i]], ops);
    }
}

/*
 * I/O throttling with leaky buckets: limits on bytes and operations per
 * second (total, read, write), bursts, validity checks and wait timers.
 */
#ifndef UTIL_THROTTLE_H
#define UTIL_THROTTLE_H

#include "strata/osdep.h"
#include "util/aio.h"

/*
 * Largest value accepted for a rate (avg, max) and for the size of a burst
 * bucket (max * burst_length).  10^15 leaves room for bursts of 1 GiB/s that
 * last ten days, and keeps every product far from 64-bit overflow.
 */
#define THROTTLE_VALUE_MAX 1000000000000000LL

/* The six limits; a request of a given direction is checked by four. */
typedef enum BucketType {
    THROTTLE_BPS_TOTAL,
    THROTTLE_BPS_READ,
    THROTTLE_BPS_WRITE,
    THROTTLE_OPS_TOTAL,
    THROTTLE_OPS_READ,
    THROTTLE_OPS_WRITE,
    BUCKETS_COUNT,
} BucketType;

/*
 * One limit.  Units are bytes for the bps buckets and operations for the
 * iops buckets.
 *
 * @level counts the units done and drains at @avg units per second.  While
 * it stays below the bucket's capacity requests go through at full speed;
 * once it overflows, they wait until it has drained back, which holds the
 * long-run rate at @avg.
 *
 * The capacity is @max * @burst_length when a burst rate is set, so a user
 * may run at up to @max for at most @burst_length seconds before falling
 * back to @avg; with @max == 0 it is @avg / 10, a tenth of a second of
 * I/O at the target rate, so that a steady stream of small requests is not
 * serialised one at a time.
 *
 * @burst_level is a second counter, used only when @burst_length > 1 (which
 * requires @max): it drains at @max units per second and its capacity is
 * @max / 10, which is what keeps the rate during a burst at @max.
 *
 * @avg, @max and @burst_length are what the user configured and are never
 * changed by this code; @level and @burst_level are running state.
 */
typedef struct LeakyBucket {
    uint64_t avg;           /* target rate, units per second; 0 = no limit */
    uint64_t max;           /* burst rate, units per second; 0 = no burst */
    double level;           /* units in the main bucket */
    double burst_level;     /* units in the burst bucket */
    uint64_t burst_length;  /* seconds a burst at @max may last, >= 1 */
} LeakyBucket;

/*
 * A set of limits.  @op_size (the "iops-size" option), when non-zero, makes
 * a request larger than @op_size bytes count as size / @op_size operations.
 */
typedef struct ThrottleConfig {
    LeakyBucket buckets[BUCKETS_COUNT];
    uint64_t op_size;
} ThrottleConfig;

/* The limits plus the time at which the buckets were last drained. */
typedef struct ThrottleState {
    ThrottleConfig cfg;
    int64_t previous_leak;  /* ns, on the clock given to throttle_config() */
} ThrottleState;

/*
 * The timers that wake throttled requests: timers[0] for reads, timers[1]
 * for writes (index by is_write).  They live in one AioContext and fire on
 * @clock_type.
 */
typedef struct ThrottleTimers {
    QEMUTimer *timers[2];
    QEMUClockType clock_type;
    QEMUTimerCB *read_timer_cb;
    QEMUTimerCB *write_timer_cb;
    void *timer_opaque;
} ThrottleTimers;

/* ---- Bucket arithmetic ---- */

/* Drain @bkt by @delta_ns nanoseconds' worth of its rates. */
void throttle_leak_bucket(LeakyBucket *bkt, int64_t delta_ns);

/*
 * Nanoseconds to wait before @bkt admits more I/O; 0 if it admits it now.
 * Waits beyond INT64_MAX / 2 ns (146 years) are reported as that.
 */
int64_t throttle_compute_wait(const LeakyBucket *bkt);

/*
 * The longest wait over the four buckets that apply to a read or a write
 * (total and per-direction, bytes and operations).
 */
int64_t throttle_compute_wait_for(const ThrottleState *ts, bool is_write);

/* ---- State and timers ---- */

/* Clear @ts and give it the default (disabled) configuration. */
void throttle_init(ThrottleState *ts);

/* Create the read and write timers in @ctx on @clock_type. */
void throttle_timers_init(ThrottleTimers *tt, AioContext *ctx,
                          QEMUClockType clock_type,
                          QEMUTimerCB *read_timer_cb,
                          QEMUTimerCB *write_timer_cb,
                          void *timer_opaque);
/* Free the timers (cancelling them if armed). */
void throttle_timers_destroy(ThrottleTimers *tt);
/* Free the timers, keeping clock and callbacks, before moving contexts. */
void throttle_timers_detach_aio_context(ThrottleTimers *tt);
/* Recreate the timers in @new_ctx after a detach. */
void throttle_timers_attach_aio_context(ThrottleTimers *tt,
                                        AioContext *new_ctx);
bool throttle_timers_are_initialized(const ThrottleTimers *tt);

/* ---- Configuration ---- */

/* All limits off, burst_length 1 in every bucket, no iops size. */
void throttle_config_init(ThrottleConfig *cfg);

/* True if any bucket has a non-zero @avg. */
bool throttle_enabled(const ThrottleConfig *cfg);

/*
 * Check @cfg against the rules QEMU applies, in QEMU's order, with QEMU's
 * messages.  Returns false and sets @errp on the first violation.
 */
bool throttle_is_valid(const ThrottleConfig *cfg, Error **errp);

/*
 * Install @cfg in @ts: copy it, empty every bucket and restart the drain
 * clock at the current time of @clock_type.
 */
void throttle_config(ThrottleState *ts, QEMUClockType clock_type,
                     const ThrottleConfig *cfg);

/* Copy out the configuration exactly as it was given to throttle_config(). */
void throttle_get_config(const ThrottleState *ts, ThrottleConfig *cfg);

/* ---- Per-request ---- */

/*
 * Drain the buckets up to now and decide whether a request of this direction
 * must wait.  If it must, arm the direction's timer for the moment it may go
 * (unless that timer is already armed) and return true.
 */
bool throttle_schedule_timer(ThrottleState *ts, ThrottleTimers *tt,
                             bool is_write);

/* Charge a request of @size bytes to the buckets of its direction. */
void throttle_account(ThrottleState *ts, bool is_write, uint64_t size);

#endif

/*
 * A byte-rate limiter for background work (block jobs): time is cut into
 * slices, each with a quota; whoever overdraws a slice waits.
 */
#ifndef UTIL_RATELIMIT_H
#define UTIL_RATELIMIT_H

#include "strata/osdep.h"
#include "util/aio.h"

typedef struct RateLimit {
    int64_t slice_start_ns;
    int64_t slice_end_ns;
    /* Bytes allowed per slice; 0 means no limit. */
    uint64_t slice_quota;
    uint64_t slice_ns;
    /* Bytes accounted in the current slice. */
    uint64_t dispatched;
} RateLimit;

/*
 * Account @n bytes at time @now_ns; returns how long to wait (ns) before
 * the next request, 0 if none.  The request that overdraws a slice
 * stretches it in proportion, so the average rate holds over time and a
 * burst of one slice's quota passes unhindered.
 */
static inline int64_t ratelimit_calculate_delay_at(RateLimit *limit,
                                                   uint64_t n,
                                                   int64_t now_ns)
{
    double slices;

    if (!limit->slice_quota) {
        return 0;
    }
    if (limit->slice_end_ns < now_ns) {
        /* The last (maybe stretched) slice is over: start afresh. */
        limit->slice_start_ns = now_ns;
        limit->slice_end_ns = now_ns + limit->slice_ns;
        limit->dispatched = 0;
    }
    limit->dispatched += n;
    if (limit->dispatched < limit->slice_quota) {
        return 0;
    }
    slices = (double)limit->dispatched / limit->slice_quota;
    limit->slice_end_ns = limit->slice_start_ns +
                          (int64_t)(slices * limit->slice_ns);
    return limit->slice_end_ns - now_ns;
}

static inline int64_t ratelimit_calculate_delay(RateLimit *limit, uint64_t n)
{
    return ratelimit_calculate_delay_at(limit, n,
                                        qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
}

/* @speed bytes per second (0: unlimited), accounted in @slice_ns slices. */
static inline void ratelimit_set_speed(RateLimit *limit, uint64_t speed,
                                       uint64_t slice_ns)
{
    double quota = (double)speed * slice_ns / NANOSECONDS_PER_SECOND;

    limit->slice_ns = slice_ns;
    limit->slice_quota = speed ? MAX((uint64_t)quota, 1) : 0;
}

#endif

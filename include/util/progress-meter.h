/*
 * How much of a piece of work is done, in units its owner chooses; the
 * total is what is done plus what remains, so it may move as the work
 * learns more about itself.
 */
#ifndef UTIL_PROGRESS_METER_H
#define UTIL_PROGRESS_METER_H

#include "strata/osdep.h"

typedef struct ProgressMeter {
    uint64_t current;
    uint64_t total;
} ProgressMeter;

static inline void progress_work_done(ProgressMeter *pm, uint64_t done)
{
    pm->current += done;
}

static inline void progress_set_remaining(ProgressMeter *pm,
                                          uint64_t remaining)
{
    pm->total = pm->current + remaining;
}

static inline void progress_increase_remaining(ProgressMeter *pm,
                                               uint64_t delta)
{
    pm->total += delta;
}

#endif

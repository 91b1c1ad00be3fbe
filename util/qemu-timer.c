/*
 * Clocks (monotonic, manual virtual for tests, wall) and the timers of an
 * AioContext, kept in one expiry-ordered list per clock.
 */
#include "strata/osdep.h"
#include "aio-int.h"

static bool virtual_manual;
static int64_t virtual_now;

int64_t qemu_clock_get_ns(QEMUClockType type)
{
    switch (type) {
    case QEMU_CLOCK_VIRTUAL:
        if (__atomic_load_n(&virtual_manual, __ATOMIC_ACQUIRE)) {
            return __atomic_load_n(&virtual_now, __ATOMIC_ACQUIRE);
        }
        return get_clock_ns();
    case QEMU_CLOCK_HOST:
        return get_clock_realtime_ns();
    case QEMU_CLOCK_REALTIME:
    default:
        return get_clock_ns();
    }
}

void qemu_clock_set_virtual_manual(int64_t start_ns)
{
    __atomic_store_n(&virtual_now, start_ns, __ATOMIC_RELEASE);
    __atomic_store_n(&virtual_manual, true, __ATOMIC_RELEASE);
}

void qemu_clock_advance_virtual(int64_t delta_ns)
{
    __atomic_add_fetch(&virtual_now, delta_ns, __ATOMIC_ACQ_REL);
    aio_notify(qemu_get_aio_context());
}

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type, int scale,
                         QEMUTimerCB *cb, void *opaque)
{
    QEMUTimer *ts = g_new0(QEMUTimer, 1);

    ts->ctx = ctx;
    ts->type = type;
    ts->scale = scale;
    ts->cb = cb;
    ts->opaque = opaque;
    return ts;
}

void timer_del(QEMUTimer *ts)
{
    QEMUTimer **p;

    if (!ts->pending) {
        return;
    }
    for (p = &ts->ctx->timers[ts->type]; *p; p = &(*p)->next) {
        if (*p == ts) {
            *p = ts->next;
            break;
        }
    }
    ts->pending = false;
    ts->next = NULL;
}

void timer_mod_ns(QEMUTimer *ts, int64_t expire_ns)
{
    QEMUTimer **p;
    bool first;

    timer_del(ts);
    ts->expire_ns = expire_ns < 0 ? 0 : expire_ns;
    p = &ts->ctx->timers[ts->type];
    while (*p && (*p)->expire_ns <= ts->expire_ns) {
        p = &(*p)->next;
    }
    first = (p == &ts->ctx->timers[ts->type]);
    ts->next = *p;
    *p = ts;
    ts->pending = true;
    if (first) {
        /* A sleeping aio_poll must recompute its deadline. */
        aio_notify(ts->ctx);
    }
}

void timer_mod(QEMUTimer *ts, int64_t expire_time)
{
    timer_mod_ns(ts, expire_time * ts->scale);
}

void timer_free(QEMUTimer *ts)
{
    if (ts) {
        timer_del(ts);
        g_free(ts);
    }
}

bool timer_pending(QEMUTimer *ts)
{
    return ts->pending;
}

int64_t timer_expire_time_ns(QEMUTimer *ts)
{
    return ts->pending ? ts->expire_ns : -1;
}

int64_t aio_timers_deadline_ns(AioContext *ctx)
{
    int64_t deadline = -1;

    for (int type = 0; type < QEMU_CLOCK_MAX; type++) {
        QEMUTimer *ts = ctx->timers[type];
        int64_t delta;

        if (!ts) {
            continue;
        }
        delta = ts->expire_ns - qemu_clock_get_ns(type);
        if (delta <= 0) {
            return 0;
        }
        if (type == QEMU_CLOCK_VIRTUAL && virtual_manual) {
            /* Manual time only moves when a test advances it. */
            continue;
        }
        if (deadline < 0 || delta < deadline) {
            deadline = delta;
        }
    }
    return deadline;
}

bool aio_timers_run(AioContext *ctx)
{
    bool progress = false;

    for (int type = 0; type < QEMU_CLOCK_MAX; type++) {
        int64_t now = qemu_clock_get_ns(type);

        for (;;) {
            QEMUTimer *ts = ctx->timers[type];

            if (!ts || ts->expire_ns > now) {
                break;
            }
            ctx->timers[type] = ts->next;
            ts->next = NULL;
            ts->pending = false;
            ts->cb(ts->opaque);
            progress = true;
        }
    }
    return progress;
}

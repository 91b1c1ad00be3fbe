/*
 * Bottom halves: callbacks run from the event loop at its next iteration,
 * schedulable from any thread.
 */
#include "strata/osdep.h"
#include "util/error.h"
#include "aio-int.h"

QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    QEMUBH *bh = g_new0(QEMUBH, 1);

    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    return bh;
}

/* Returns true if the caller must notify the context. */
static bool bh_enqueue(QEMUBH *bh)
{
    AioContext *ctx = bh->ctx;
    bool queued = false;

    g_mutex_lock(&ctx->bh_lock);
    if (!bh->scheduled) {
        /*
         * Newest first, as QEMU runs them: completions that become ready
         * in one iteration are reported in the same order as QEMU's.
         */
        bh->scheduled = true;
        bh->next_scheduled = ctx->bh_head;
        ctx->bh_head = bh;
        if (!ctx->bh_tail) {
            ctx->bh_tail = bh;
        }
        queued = true;
    }
    g_mutex_unlock(&ctx->bh_lock);
    return queued;
}

void qemu_bh_schedule(QEMUBH *bh)
{
    if (bh_enqueue(bh)) {
        aio_notify(bh->ctx);
    }
}

void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    QEMUBH *bh = aio_bh_new(ctx, cb, opaque);

    bh->oneshot = true;
    qemu_bh_schedule(bh);
}

/* Unlink @bh from the list starting at *@head; true if it was there. */
static bool bh_unlink(QEMUBH **head, QEMUBH *bh)
{
    for (QEMUBH **p = head; *p; p = &(*p)->next_scheduled) {
        if (*p == bh) {
            *p = bh->next_scheduled;
            return true;
        }
    }
    return false;
}

void qemu_bh_cancel(QEMUBH *bh)
{
    AioContext *ctx = bh->ctx;

    g_mutex_lock(&ctx->bh_lock);
    if (bh->scheduled) {
        if (bh_unlink(&ctx->bh_head, bh)) {
            if (ctx->bh_tail == bh) {
                ctx->bh_tail = NULL;
                for (QEMUBH *t = ctx->bh_head; t; t = t->next_scheduled) {
                    ctx->bh_tail = t;
                }
            }
        } else {
            /* In a batch being run. */
            for (BHSlice *s = ctx->bh_slices; s; s = s->next) {
                if (bh_unlink(&s->head, bh)) {
                    break;
                }
            }
        }
        bh->scheduled = false;
    }
    g_mutex_unlock(&ctx->bh_lock);
}

void qemu_bh_delete(QEMUBH *bh)
{
    AioContext *ctx = bh->ctx;
    bool free_now;

    g_mutex_lock(&ctx->bh_lock);
    /*
     * A scheduled BH sits in some list (the context's or the batch being
     * run); whoever pops it frees it.
     */
    free_now = !bh->scheduled;
    bh->deleted = true;
    g_mutex_unlock(&ctx->bh_lock);
    if (free_now) {
        g_free(bh);
    }
}

bool aio_bh_pending(AioContext *ctx)
{
    return __atomic_load_n(&ctx->bh_head, __ATOMIC_SEQ_CST) != NULL;
}

bool aio_bh_poll(AioContext *ctx)
{
    BHSlice slice = { 0 }, **p;
    bool progress = false;

    g_mutex_lock(&ctx->bh_lock);
    slice.head = ctx->bh_head;
    ctx->bh_head = ctx->bh_tail = NULL;
    for (p = &ctx->bh_slices; *p; p = &(*p)->next) {
        /* append: outer batches run first */
    }
    *p = &slice;
    g_mutex_unlock(&ctx->bh_lock);

    /*
     * Run every batch in the list, outer ones first; when this returns,
     * our own slice (and those of callers further out) is empty and
     * unlinked.
     */
    for (;;) {
        BHSlice *s;
        QEMUBH *bh;
        bool deleted;

        g_mutex_lock(&ctx->bh_lock);
        s = ctx->bh_slices;
        if (!s) {
            g_mutex_unlock(&ctx->bh_lock);
            break;
        }
        bh = s->head;
        if (!bh) {
            ctx->bh_slices = s->next;
            g_mutex_unlock(&ctx->bh_lock);
            continue;
        }
        s->head = bh->next_scheduled;
        deleted = bh->deleted;
        /* Cleared before the call so that the callback may reschedule. */
        bh->scheduled = false;
        g_mutex_unlock(&ctx->bh_lock);

        if (deleted) {
            g_free(bh);
            continue;
        }
        if (bh->oneshot) {
            bh->cb(bh->opaque);
            g_free(bh);
        } else {
            /* The callback may delete its own BH: do not touch it after. */
            bh->cb(bh->opaque);
        }
        progress = true;
    }
    return progress;
}

void aio_bh_cleanup(AioContext *ctx)
{
    while (ctx->bh_head) {
        QEMUBH *bh = ctx->bh_head;

        ctx->bh_head = bh->next_scheduled;
        if (bh->oneshot || bh->deleted) {
            g_free(bh);
        } else {
            bh->scheduled = false;
        }
    }
    ctx->bh_tail = NULL;
}

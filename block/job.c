/*
 * The job core: QEMU 7.2's job state machine and verb table, pause
 * points, cancellation, completion in transactions, progress.
 */
#include "strata/osdep.h"
#include "block/job.h"
#include "qapi/qapi-events.h"
#include "util/cutils.h"

/*
 * Which status may follow which (rows: from, columns: to), in the order of
 * JobStatus: undefined created running paused ready standby waiting
 * pending aborting concluded null.
 */
static const bool job_transitions[JOB_STATUS__MAX][JOB_STATUS__MAX] = {
    /*                        U  C  R  P  Y  S  W  D  X  E  N */
    [JOB_STATUS_UNDEFINED] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    [JOB_STATUS_CREATED]   = {0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1},
    [JOB_STATUS_RUNNING]   = {0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0},
    [JOB_STATUS_PAUSED]    = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
    [JOB_STATUS_READY]     = {0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0},
    [JOB_STATUS_STANDBY]   = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
    [JOB_STATUS_WAITING]   = {0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0},
    [JOB_STATUS_PENDING]   = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0},
    [JOB_STATUS_ABORTING]  = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0},
    [JOB_STATUS_CONCLUDED] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
    [JOB_STATUS_NULL]      = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
};

/* Which verbs each status accepts (columns as above). */
static const bool job_verbs[JOB_VERB__MAX][JOB_STATUS__MAX] = {
    /*                        U  C  R  P  Y  S  W  D  X  E  N */
    [JOB_VERB_CANCEL]      = {0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},
    [JOB_VERB_PAUSE]       = {0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
    [JOB_VERB_RESUME]      = {0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
    [JOB_VERB_SET_SPEED]   = {0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
    [JOB_VERB_COMPLETE]    = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
    [JOB_VERB_FINALIZE]    = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0},
    [JOB_VERB_DISMISS]     = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
};

struct JobTxn {
    QLIST_HEAD(, Job) jobs;
    int refcnt;
    /* A failure is being handled: the jobs are on their way out. */
    bool aborting;
};

/* Every job, newest first. */
static QLIST_HEAD(, Job) jobs = QLIST_HEAD_INITIALIZER(jobs);

/* ---- transactions ---- */

JobTxn *job_txn_new(void)
{
    JobTxn *txn = g_new0(JobTxn, 1);

    QLIST_INIT(&txn->jobs);
    txn->refcnt = 1;
    return txn;
}

static void job_txn_ref(JobTxn *txn)
{
    txn->refcnt++;
}

void job_txn_unref(JobTxn *txn)
{
    if (txn && --txn->refcnt == 0) {
        assert(QLIST_EMPTY(&txn->jobs));
        g_free(txn);
    }
}

static void job_txn_add_job(JobTxn *txn, Job *job)
{
    assert(!job->txn);
    job->txn = txn;
    QLIST_INSERT_HEAD(&txn->jobs, job, txn_list);
    job_txn_ref(txn);
}

static void job_txn_del_job(Job *job)
{
    if (job->txn) {
        QLIST_REMOVE(job, txn_list);
        job_txn_unref(job->txn);
        job->txn = NULL;
    }
}

/* Call @fn on every job of @job's transaction; stop at the first error. */
static int job_txn_apply(Job *job, int (*fn)(Job *))
{
    JobTxn *txn = job->txn;
    Job *other, *next;
    int rc = 0;

    /* @fn may finish jobs, which leave the transaction (and could free it). */
    job_txn_ref(txn);
    QLIST_FOREACH_SAFE(other, &txn->jobs, txn_list, next) {
        rc = fn(other);
        if (rc) {
            break;
        }
    }
    job_txn_unref(txn);
    return rc;
}

/* ---- state ---- */

bool job_is_internal(Job *job)
{
    return job->id == NULL;
}

static void job_state_transition(Job *job, JobStatus to)
{
    JobStatus from = job->status;

    assert(to >= 0 && to < JOB_STATUS__MAX);
    assert(job_transitions[from][to]);
    job->status = to;
    if (!job_is_internal(job) && from != to) {
        qapi_event_send_job_status_change(job->id, to);
    }
}

int job_apply_verb(Job *job, JobVerb verb, Error **errp)
{
    assert(verb >= 0 && verb < JOB_VERB__MAX);
    if (job_verbs[verb][job->status]) {
        return 0;
    }
    error_setg(errp, "Job '%s' in state '%s' cannot accept command verb "
               "'%s'", job->id, JobStatus_str(job->status),
               JobVerb_str(verb));
    return -EPERM;
}

JobType job_type(const Job *job)
{
    return job->driver->job_type;
}

const char *job_type_str(const Job *job)
{
    return JobType_str(job_type(job));
}

bool job_user_paused(Job *job)
{
    return job->user_paused;
}

bool job_cancel_requested(Job *job)
{
    return job->cancelled;
}

bool job_is_cancelled(Job *job)
{
    return job->cancelled && job->force_cancel;
}

bool job_is_ready(Job *job)
{
    return job->status == JOB_STATUS_READY ||
           job->status == JOB_STATUS_STANDBY;
}

bool job_is_completed(Job *job)
{
    switch (job->status) {
    case JOB_STATUS_WAITING:
    case JOB_STATUS_PENDING:
    case JOB_STATUS_ABORTING:
    case JOB_STATUS_CONCLUDED:
    case JOB_STATUS_NULL:
        return true;
    default:
        return false;
    }
}

bool job_started(Job *job)
{
    return job->co != NULL;
}

static bool job_should_pause(Job *job)
{
    return job->pause_count > 0;
}

Job *job_next(Job *job)
{
    return job ? QLIST_NEXT(job, job_list) : QLIST_FIRST(&jobs);
}

Job *job_get(const char *id)
{
    Job *job;

    QLIST_FOREACH(job, &jobs, job_list) {
        if (job->id && !strcmp(id, job->id)) {
            return job;
        }
    }
    return NULL;
}

/* ---- progress ---- */

void job_progress_update(Job *job, uint64_t done)
{
    progress_work_done(&job->progress, done);
}

void job_progress_set_remaining(Job *job, uint64_t remaining)
{
    progress_set_remaining(&job->progress, remaining);
}

void job_progress_increase_remaining(Job *job, uint64_t delta)
{
    progress_increase_remaining(&job->progress, delta);
}

/* ---- creation and references ---- */

static void job_sleep_timer_cb(void *opaque)
{
    job_enter(opaque);
}

void *job_create(const char *job_id, const JobDriver *driver, JobTxn *txn,
                 AioContext *ctx, int flags,
                 void (*cb)(void *opaque, int ret), void *opaque,
                 Error **errp)
{
    Job *job;

    if (job_id) {
        if (flags & JOB_INTERNAL) {
            error_setg(errp, "Cannot specify job ID for internal job");
            return NULL;
        }
        if (!id_wellformed(job_id)) {
            error_setg(errp, "Invalid job ID '%s'", job_id);
            return NULL;
        }
        if (job_get(job_id)) {
            error_setg(errp, "Job ID '%s' already in use", job_id);
            return NULL;
        }
    } else if (!(flags & JOB_INTERNAL)) {
        error_setg(errp, "An explicit job ID is required");
        return NULL;
    }

    assert(driver->instance_size >= sizeof(Job));
    job = g_malloc0(driver->instance_size);
    job->driver = driver;
    job->id = g_strdup(job_id);
    job->refcnt = 1;
    job->aio_context = ctx ? ctx : qemu_get_aio_context();
    job->busy = false;
    job->paused = true;
    job->pause_count = 1;
    job->auto_finalize = !(flags & JOB_MANUAL_FINALIZE);
    job->auto_dismiss = !(flags & JOB_MANUAL_DISMISS);
    job->cb = cb;
    job->cb_opaque = opaque;
    job->sleep_timer = aio_timer_new(job->aio_context, QEMU_CLOCK_REALTIME,
                                     SCALE_NS, job_sleep_timer_cb, job);
    QLIST_INSERT_HEAD(&jobs, job, job_list);

    job_state_transition(job, JOB_STATUS_CREATED);

    if (txn) {
        job_txn_add_job(txn, job);
    } else {
        txn = job_txn_new();
        job_txn_add_job(txn, job);
        job_txn_unref(txn);
    }
    return job;
}

void job_ref(Job *job)
{
    job->refcnt++;
}

void job_unref(Job *job)
{
    assert(job->refcnt > 0);
    if (--job->refcnt > 0) {
        return;
    }
    assert(job->status == JOB_STATUS_NULL);
    assert(!job->txn);
    if (job->driver->free) {
        job->driver->free(job);
    }
    QLIST_REMOVE(job, job_list);
    timer_free(job->sleep_timer);
    error_free(job->err);
    g_free(job->id);
    g_free(job);
}

/* The job goes away: 'null', and the reference it held on itself. */
static void job_do_dismiss(Job *job)
{
    job->busy = false;
    job->paused = false;
    job->deferred_to_main_loop = true;
    job_txn_del_job(job);
    job_state_transition(job, JOB_STATUS_NULL);
    job_unref(job);
}

void job_early_fail(Job *job)
{
    assert(job->status == JOB_STATUS_CREATED);
    job_do_dismiss(job);
}

/* ---- running: the coroutine side ---- */

void job_enter(Job *job)
{
    if (!job_started(job) || job->deferred_to_main_loop || job->busy) {
        return;
    }
    timer_del(job->sleep_timer);
    job->busy = true;
    aio_co_wake(job->co);
}

/* Enter only if no sleep is under way (resume must not cut a sleep short). */
static void job_enter_unless_sleeping(Job *job)
{
    if (!timer_pending(job->sleep_timer)) {
        job_enter(job);
    }
}

void job_enter_if_sleeping(Job *job)
{
    if (timer_pending(job->sleep_timer)) {
        job_enter(job);
    }
}

static void coroutine_fn job_do_yield(Job *job, int64_t deadline_ns)
{
    if (deadline_ns != -1) {
        timer_mod_ns(job->sleep_timer, deadline_ns);
    }
    job->busy = false;
    qemu_coroutine_yield();
    /* Whoever entered us set busy. */
    assert(job->busy);
}

void coroutine_fn job_pause_point(Job *job)
{
    assert(job->co == qemu_coroutine_self());
    if (!job_should_pause(job) || job_is_cancelled(job)) {
        return;
    }
    if (job->driver->pause) {
        job->driver->pause(job);
    }
    if (job_should_pause(job) && !job_is_cancelled(job)) {
        JobStatus status = job->status;

        job_state_transition(job, status == JOB_STATUS_READY
                                  ? JOB_STATUS_STANDBY : JOB_STATUS_PAUSED);
        job->paused = true;
        job_do_yield(job, -1);
        job->paused = false;
        job_state_transition(job, status);
    }
    if (job->driver->resume) {
        job->driver->resume(job);
    }
}

void coroutine_fn job_yield(Job *job)
{
    assert(job->busy);
    if (job_is_cancelled(job)) {
        return;
    }
    if (!job_should_pause(job)) {
        job_do_yield(job, -1);
    }
    job_pause_point(job);
}

void coroutine_fn job_sleep_ns(Job *job, int64_t ns)
{
    assert(job->busy);
    if (job_is_cancelled(job)) {
        return;
    }
    if (!job_should_pause(job)) {
        job_do_yield(job, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + ns);
    }
    job_pause_point(job);
}

void job_transition_to_ready(Job *job)
{
    job_state_transition(job, JOB_STATUS_READY);
    if (job->observer && job->observer->ready) {
        job->observer->ready(job);
    }
}

static void job_exit(void *opaque);

static void coroutine_fn job_co_entry(void *opaque)
{
    Job *job = opaque;

    job_pause_point(job);
    job->ret = job->driver->run(job, &job->err);
    job->deferred_to_main_loop = true;
    job->busy = true;
    aio_bh_schedule_oneshot(qemu_get_aio_context(), job_exit, job);
}

void job_start(Job *job)
{
    assert(job->status == JOB_STATUS_CREATED && !job_started(job));
    assert(job->pause_count > 0);
    job->co = qemu_coroutine_create(job_co_entry, job);
    job->pause_count--;
    job->busy = true;
    job->paused = false;
    job_state_transition(job, JOB_STATUS_RUNNING);
    aio_co_wake(job->co);
}

/* ---- pausing ---- */

void job_pause(Job *job)
{
    job->pause_count++;
    if (!job->paused) {
        job_enter(job);
    }
}

void job_resume(Job *job)
{
    assert(job->pause_count > 0);
    if (--job->pause_count) {
        return;
    }
    job_enter_unless_sleeping(job);
}

void job_user_pause(Job *job, Error **errp)
{
    if (job_apply_verb(job, JOB_VERB_PAUSE, errp)) {
        return;
    }
    if (job->user_paused) {
        error_setg(errp, "Job is already paused");
        return;
    }
    job->user_paused = true;
    job_pause(job);
}

void job_user_resume(Job *job, Error **errp)
{
    if (!job->user_paused || job->pause_count <= 0) {
        error_setg(errp, "Can't resume a job that was not paused");
        return;
    }
    if (job_apply_verb(job, JOB_VERB_RESUME, errp)) {
        return;
    }
    if (job->driver->user_resume) {
        job->driver->user_resume(job);
    }
    job->user_paused = false;
    job_resume(job);
}

/* ---- completion, in the main loop ---- */

/* A cancelled or failed job gets an error and moves to 'aborting'. */
static void job_update_rc(Job *job)
{
    if (!job->ret && job_is_cancelled(job)) {
        job->ret = -ECANCELED;
    }
    if (job->ret) {
        if (!job->err) {
            error_setg(&job->err, "%s", strerror(-job->ret));
        }
        job_state_transition(job, JOB_STATUS_ABORTING);
    }
}

static void job_conclude(Job *job)
{
    job_state_transition(job, JOB_STATUS_CONCLUDED);
    if (job->auto_dismiss || !job_started(job)) {
        job_do_dismiss(job);
    }
}

static int job_finalize_single(Job *job)
{
    assert(job_is_completed(job));

    /* A late failure (in another job's prepare) still aborts this one. */
    job_update_rc(job);
    if (!job->ret) {
        if (job->driver->commit) {
            job->driver->commit(job);
        }
    } else if (job->driver->abort) {
        job->driver->abort(job);
    }
    if (job->driver->clean) {
        job->driver->clean(job);
    }
    if (job->cb) {
        job->cb(job->cb_opaque, job->ret);
    }
    /* Only jobs that ran say how they ended. */
    if (job_started(job) && job->observer && job->observer->finalized) {
        job->observer->finalized(job, job_is_cancelled(job));
    }
    job_txn_del_job(job);
    job_conclude(job);
    return 0;
}

static void job_cancel_async(Job *job, bool force)
{
    if (job->driver->cancel) {
        force = job->driver->cancel(job, force);
    } else {
        /* Jobs that cannot end early are always cancelled for real. */
        force = true;
    }
    if (job->user_paused) {
        /* The caller enters the job; only undo the pause here. */
        if (job->driver->user_resume) {
            job->driver->user_resume(job);
        }
        job->user_paused = false;
        assert(job->pause_count > 0);
        job->pause_count--;
    }
    /*
     * A job whose work is done can no longer be cancelled softly; a forced
     * cancel still turns its success into a cancellation.
     */
    if (force || !job->deferred_to_main_loop) {
        job->cancelled = true;
        job->force_cancel |= force;
    }
}

static int job_finish_sync(Job *job, void (*finish)(Job *job));

static void job_completed_txn_abort(Job *job)
{
    JobTxn *txn = job->txn;
    Job *other;

    if (txn->aborting) {
        /* Another job of the transaction is already tearing it down. */
        return;
    }
    txn->aborting = true;
    job_txn_ref(txn);
    job_ref(job);

    /* Nothing the others do matters any more: stop them fast. */
    QLIST_FOREACH(other, &txn->jobs, txn_list) {
        if (other != job) {
            job_cancel_async(other, true);
        }
    }
    while (!QLIST_EMPTY(&txn->jobs)) {
        other = QLIST_FIRST(&txn->jobs);
        if (!job_is_completed(other)) {
            assert(job_cancel_requested(other));
            job_finish_sync(other, NULL);
        }
        job_finalize_single(other);
    }

    job_unref(job);
    job_txn_unref(txn);
}

static int job_prepare(Job *job)
{
    if (job->ret == 0 && job->driver->prepare) {
        job->ret = job->driver->prepare(job);
        job_update_rc(job);
    }
    return job->ret;
}

static void job_do_finalize(Job *job)
{
    assert(job->txn);
    if (job_txn_apply(job, job_prepare)) {
        job_completed_txn_abort(job);
    } else {
        job_txn_apply(job, job_finalize_single);
    }
}

static int job_transition_to_pending(Job *job)
{
    job_state_transition(job, JOB_STATUS_PENDING);
    if (!job->auto_finalize && job->observer && job->observer->pending) {
        job->observer->pending(job);
    }
    return 0;
}

static int job_needs_finalize(Job *job)
{
    return !job->auto_finalize;
}

static void job_completed_txn_success(Job *job)
{
    JobTxn *txn = job->txn;
    Job *other;

    job_state_transition(job, JOB_STATUS_WAITING);
    /* The transaction finishes when its last job does. */
    QLIST_FOREACH(other, &txn->jobs, txn_list) {
        if (!job_is_completed(other)) {
            return;
        }
        assert(other->ret == 0);
    }
    job_txn_apply(job, job_transition_to_pending);
    if (job_txn_apply(job, job_needs_finalize) == 0) {
        job_do_finalize(job);
    }
}

static void job_completed(Job *job)
{
    assert(job->txn && !job_is_completed(job));
    job_update_rc(job);
    if (job->ret) {
        job_completed_txn_abort(job);
    } else {
        job_completed_txn_success(job);
    }
}

static void job_exit(void *opaque)
{
    Job *job = opaque;

    job_ref(job);
    /*
     * Not quite idle (the completion is still to run), but nothing of the
     * coroutine is left: drained sections must not wait for it.
     */
    job->busy = false;
    job_completed(job);
    job_unref(job);
}

/* ---- the verbs ---- */

void job_cancel(Job *job, bool force)
{
    if (job->status == JOB_STATUS_CONCLUDED) {
        job_do_dismiss(job);
        return;
    }
    job_cancel_async(job, force);
    if (!job_started(job)) {
        job_completed(job);
    } else if (job->deferred_to_main_loop) {
        /*
         * The work is done; only a forced cancel changes the outcome, and
         * then the transaction must be torn down from here.
         */
        if (job_is_cancelled(job)) {
            job_completed_txn_abort(job);
        }
    } else {
        job_enter(job);
    }
}

void job_user_cancel(Job *job, bool force, Error **errp)
{
    if (job_apply_verb(job, JOB_VERB_CANCEL, errp)) {
        return;
    }
    job_cancel(job, force);
}

void job_complete(Job *job, Error **errp)
{
    assert(job->id);
    if (job_apply_verb(job, JOB_VERB_COMPLETE, errp)) {
        return;
    }
    if (job_cancel_requested(job) || !job->driver->complete) {
        error_setg(errp, "The active block job '%s' cannot be completed",
                   job->id);
        return;
    }
    job->driver->complete(job, errp);
}

void job_finalize(Job *job, Error **errp)
{
    assert(job->id);
    if (job_apply_verb(job, JOB_VERB_FINALIZE, errp)) {
        return;
    }
    job_do_finalize(job);
}

void job_dismiss(Job *job, Error **errp)
{
    assert(job->id);
    if (job_apply_verb(job, JOB_VERB_DISMISS, errp)) {
        return;
    }
    job_do_dismiss(job);
}

/* Run @finish, then poll until the job completed; returns its result. */
static int job_finish_sync(Job *job, void (*finish)(Job *job))
{
    int ret;

    job_ref(job);
    if (finish) {
        finish(job);
    }
    AIO_WAIT_WHILE(job->aio_context,
                   (job_enter(job), !job_is_completed(job)));
    ret = (job_is_cancelled(job) && job->ret == 0) ? -ECANCELED : job->ret;
    job_unref(job);
    return ret;
}

static void job_force_cancel_err(Job *job)
{
    job_cancel(job, true);
}

static void job_soft_cancel_err(Job *job)
{
    job_cancel(job, false);
}

int job_cancel_sync(Job *job, bool force)
{
    return job_finish_sync(job, force ? job_force_cancel_err
                                      : job_soft_cancel_err);
}

void job_cancel_sync_all(void)
{
    Job *job;

    /* A concluded job is dismissed by the cancel: the list empties. */
    while ((job = QLIST_FIRST(&jobs))) {
        job_cancel_sync(job, true);
    }
}

/* ---- queries ---- */

JobInfo *job_query_single(Job *job)
{
    JobInfo *info = g_new0(JobInfo, 1);

    assert(!job_is_internal(job));
    info->id = g_strdup(job->id);
    info->type = job_type(job);
    info->status = job->status;
    info->current_progress = job->progress.current;
    info->total_progress = job->progress.total;
    if (job->err) {
        info->has_error = true;
        info->error = g_strdup(error_get_pretty(job->err));
    }
    return info;
}

/*
 * Background jobs: the life cycle every job shares (QEMU 7.2's JobStatus
 * states and verbs), pausing, cancelling, progress and transactions.
 */
#ifndef BLOCK_JOB_H
#define BLOCK_JOB_H

#include "strata/osdep.h"
#include "qapi/qapi-types.h"
#include "util/aio.h"
#include "util/coroutine.h"
#include "util/error.h"
#include "util/progress-meter.h"
#include "util/queue.h"

typedef struct Job Job;
typedef struct JobDriver JobDriver;
typedef struct JobTxn JobTxn;

/*
 * Who hears about a job's milestones besides JOB_STATUS_CHANGE (block
 * jobs send their BLOCK_JOB_* events from here).  Every hook may be NULL.
 */
typedef struct JobObserver {
    void (*pending)(Job *job);
    void (*ready)(Job *job);
    /* The job finalized: @cancelled says which of the two events to send. */
    void (*finalized)(Job *job, bool cancelled);
} JobObserver;

/*
 * A job is a coroutine (@run) plus the state machine around it:
 *
 *   created -> running <-> paused
 *              running -> ready <-> standby        (jobs that wait for
 *                                                   job-complete)
 *   running/ready -> waiting -> pending -> concluded -> null
 *   any of those -> aborting -> concluded -> null
 *
 * The coroutine only stops at pause points (job_pause_point, job_yield,
 * job_sleep_ns), so pausing and cancelling are cooperative.  When @run
 * returns, the rest happens in the main loop: the job waits for the other
 * jobs of its transaction, then all of them are prepared, committed (or
 * aborted) and cleaned together.
 */
struct Job {
    /* NULL for internal jobs, which are invisible to QMP. */
    char *id;
    const JobDriver *driver;
    const JobObserver *observer;
    int refcnt;
    JobStatus status;
    AioContext *aio_context;
    /* Set by job_start(); a job without one never ran. */
    Coroutine *co;
    QEMUTimer *sleep_timer;

    /*
     * Pauses requested (by users, drained sections, error policies); the
     * job runs only while this is 0.  Jobs start with 1, dropped by
     * job_start().
     */
    int pause_count;
    /* The coroutine is running or about to (not waiting). */
    bool busy;
    /* Stopped at a pause point. */
    bool paused;
    /* Paused by job-pause or a 'stop' error policy: job-resume undoes it. */
    bool user_paused;
    /* Cancel requested; force_cancel also for a soft-cancel-able job. */
    bool cancelled;
    bool force_cancel;
    /* @run returned; the main loop finishes the job. */
    bool deferred_to_main_loop;
    bool auto_finalize;
    bool auto_dismiss;

    /* Result of @run (then of prepare), and why it failed. */
    int ret;
    Error *err;

    /* Progress in the driver's units (bytes for block jobs). */
    ProgressMeter progress;

    /* Called when the job finalizes, with its result. */
    void (*cb)(void *opaque, int ret);
    void *cb_opaque;

    JobTxn *txn;
    QLIST_ENTRY(Job) txn_list;
    QLIST_ENTRY(Job) job_list;
};

struct JobDriver {
    size_t instance_size;
    JobType job_type;

    /* The job's work.  Returns 0 or a negative errno (with *errp set). */
    int coroutine_fn (*run)(Job *job, Error **errp);
    /* At a pause point, before the job pauses / after it resumed. */
    void coroutine_fn (*pause)(Job *job);
    void coroutine_fn (*resume)(Job *job);
    /* job-resume (or a cancel) undoes a user pause. */
    void (*user_resume)(Job *job);
    /* job-complete on a ready job. */
    void (*complete)(Job *job, Error **errp);
    /*
     * The end, in the main loop: prepare may still fail (its result
     * becomes the job's), then commit or abort, then clean, each called
     * once.
     */
    int (*prepare)(Job *job);
    void (*commit)(Job *job);
    void (*abort)(Job *job);
    void (*clean)(Job *job);
    /*
     * A cancel was requested; returns whether it is forced (jobs that can
     * finish early without failing, like a ready mirror, may say no).
     */
    bool (*cancel)(Job *job, bool force);
    void (*free)(Job *job);
};

typedef enum JobCreateFlags {
    JOB_DEFAULT = 0x00,
    /* No ID, no QMP visibility, no events. */
    JOB_INTERNAL = 0x01,
    /* Wait in 'pending' for job-finalize. */
    JOB_MANUAL_FINALIZE = 0x02,
    /* Stay in 'concluded' until job-dismiss. */
    JOB_MANUAL_DISMISS = 0x04,
} JobCreateFlags;

/* ---- transactions ---- */

/* Jobs that finish together: one failing cancels the others. */
JobTxn *job_txn_new(void);
void job_txn_unref(JobTxn *txn);

/* ---- life cycle ---- */

/*
 * A new job in state 'created' (paused until job_start()).  Errors:
 * "Cannot specify job ID for internal job", "An explicit job ID is
 * required", "Invalid job ID '%s'", "Job ID '%s' already in use".
 * Without @txn the job gets a transaction of its own.
 */
void *job_create(const char *job_id, const JobDriver *driver, JobTxn *txn,
                 AioContext *ctx, int flags,
                 void (*cb)(void *opaque, int ret), void *opaque,
                 Error **errp);
void job_ref(Job *job);
void job_unref(Job *job);
/* Undo job_create() of a job that never started (sends 'null'). */
void job_early_fail(Job *job);
/* Enter the coroutine: 'running'. */
void job_start(Job *job);

/* ---- inside the job's coroutine ---- */

/* Pause here if a pause was requested (and the job is not cancelled). */
void coroutine_fn job_pause_point(Job *job);
/* Wait until someone calls job_enter(); a pause point. */
void coroutine_fn job_yield(Job *job);
/* Sleep @ns nanoseconds of real time (job_enter() ends it early). */
void coroutine_fn job_sleep_ns(Job *job, int64_t ns);
/* A job that waits for job-complete has caught up: 'ready'. */
void job_transition_to_ready(Job *job);

void job_progress_update(Job *job, uint64_t done);
void job_progress_set_remaining(Job *job, uint64_t remaining);
void job_progress_increase_remaining(Job *job, uint64_t delta);

/* ---- from outside ---- */

/* Wake the coroutine if it waits (not if it is paused or done). */
void job_enter(Job *job);
/* Wake the coroutine only if it sleeps in job_sleep_ns() (a new speed). */
void job_enter_if_sleeping(Job *job);
void job_pause(Job *job);
void job_resume(Job *job);
/*
 * The QMP verbs.  Each first checks that the state allows it ("Job 'x' in
 * state 'y' cannot accept command verb 'z'").
 */
void job_user_pause(Job *job, Error **errp);
void job_user_resume(Job *job, Error **errp);
void job_user_cancel(Job *job, bool force, Error **errp);
void job_complete(Job *job, Error **errp);
void job_finalize(Job *job, Error **errp);
/* Removes (and may free) the job. */
void job_dismiss(Job *job, Error **errp);
/* -EPERM with the message above if @verb is not allowed now. */
int job_apply_verb(Job *job, JobVerb verb, Error **errp);

void job_cancel(Job *job, bool force);
/*
 * Cancel and poll the main loop until the job completed; returns its
 * result (-ECANCELED if it was cancelled before it failed).
 */
int job_cancel_sync(Job *job, bool force);
/* At exit: cancel every job and wait for each. */
void job_cancel_sync_all(void);

/* ---- queries ---- */

bool job_is_internal(Job *job);
bool job_user_paused(Job *job);
bool job_cancel_requested(Job *job);
/* Cancelled for real (a soft cancel of a ready mirror is not). */
bool job_is_cancelled(Job *job);
/* Finished running: waiting, pending, aborting, concluded or null. */
bool job_is_completed(Job *job);
bool job_is_ready(Job *job);
bool job_started(Job *job);
JobType job_type(const Job *job);
const char *job_type_str(const Job *job);

/* Newest first; NULL starts. */
Job *job_next(Job *job);
Job *job_get(const char *id);
JobInfo *job_query_single(Job *job);

#endif

/*
 * Unit tests for the job core and block jobs: the state machine and verb
 * table as QEMU 7.2 has them, pausing (users and drained sections),
 * cancelling, failures, transactions, events and the rate limiter.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/blockjob.h"
#include "qapi/qapi-events.h"
#include "util/qdict.h"
#include "util/ratelimit.h"

/* ---- event capture ---- */

static GString *events;

/* Events as "NAME {data}" lines, data members sorted. */
static void capture_event(const char *name, json_t *data)
{
    g_string_append(events, name);
    if (data) {
        g_autofree char *s = json_dumps(data, JSON_SORT_KEYS | JSON_COMPACT);
        g_string_append_printf(events, " %s", s);
    }
    g_string_append_c(events, '\n');
}

/* Return what was captured since the last call. */
static char *take_events(void)
{
    char *s = g_strdup(events->str);

    g_string_truncate(events, 0);
    return s;
}

static void drop_events(void)
{
    g_string_truncate(events, 0);
}

#define assert_events(expected) do {                                    \
        g_autofree char *got_ = take_events();                           \
        g_assert_cmpstr(got_, ==, expected);                             \
    } while (0)

#define ST(id, status) \
    "JOB_STATUS_CHANGE {\"id\":\"" id "\",\"status\":\"" status "\"}\n"

static void poll_all(void)
{
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* run bottom halves until nothing is left */
    }
}

/* ---- a test job: counts to @steps, yielding after each step ---- */

typedef struct TestJob {
    Job job;
    int steps;
    int done;
    /* Fail with this errno after @steps steps (0: succeed). */
    int fail_errno;
    int prepare_ret;
    bool committed, aborted, cleaned;
    int cb_ret;
    bool cb_called;
} TestJob;

static int coroutine_fn test_job_run(Job *job, Error **errp)
{
    TestJob *s = container_of(job, TestJob, job);

    while (s->done < s->steps && !job_is_cancelled(job)) {
        s->done++;
        job_progress_set_remaining(job, s->steps - s->done + 1);
        job_progress_update(job, 1);
        job_yield(job);
    }
    if (s->fail_errno && !job_is_cancelled(job)) {
        error_setg(errp, "step %d failed", s->done);
        return -s->fail_errno;
    }
    return 0;
}

static int test_job_prepare(Job *job)
{
    return container_of(job, TestJob, job)->prepare_ret;
}

static void test_job_commit(Job *job)
{
    container_of(job, TestJob, job)->committed = true;
}

static void test_job_abort(Job *job)
{
    container_of(job, TestJob, job)->aborted = true;
}

static void test_job_clean(Job *job)
{
    container_of(job, TestJob, job)->cleaned = true;
}

static const JobDriver test_job_driver = {
    .instance_size = sizeof(TestJob),
    .job_type = JOB_TYPE_CREATE,
    .run = test_job_run,
    .prepare = test_job_prepare,
    .commit = test_job_commit,
    .abort = test_job_abort,
    .clean = test_job_clean,
};

static void test_job_cb(void *opaque, int ret)
{
    TestJob *s = opaque;

    s->cb_called = true;
    s->cb_ret = ret;
}

static TestJob *new_job(const char *id, JobTxn *txn, int flags, int steps)
{
    TestJob *s;

    s = job_create(id, &test_job_driver, txn, NULL, flags, NULL, NULL,
                   &error_abort);
    s->job.cb = test_job_cb;
    s->job.cb_opaque = s;
    s->steps = steps;
    /* The test's own reference: results stay readable after the end. */
    job_ref(&s->job);
    return s;
}

static void release(TestJob *s)
{
    job_unref(&s->job);
}

/* Let the job take one step (it waits in job_yield between steps). */
static void step(TestJob *s)
{
    job_enter(&s->job);
    poll_all();
}

/* ---- life cycle ---- */

static void test_success(void)
{
    TestJob *s = new_job("j0", NULL, JOB_DEFAULT, 2);
    Job *job = &s->job;

    assert_events(ST("j0", "created"));
    g_assert_cmpint(job->status, ==, JOB_STATUS_CREATED);
    job_start(job);
    assert_events(ST("j0", "running"));
    g_assert_cmpint(s->done, ==, 1);
    g_assert_false(job->busy);

    step(s);
    g_assert_cmpint(s->done, ==, 2);
    assert_events("");
    g_assert_cmpuint(job->progress.current, ==, 2);
    g_assert_cmpuint(job->progress.total, ==, 2);

    /* The last step returns; the main loop finishes the job. */
    step(s);
    g_assert_true(s->committed && s->cleaned && !s->aborted);
    g_assert_true(s->cb_called);
    g_assert_cmpint(s->cb_ret, ==, 0);
    assert_events(ST("j0", "waiting") ST("j0", "pending")
                  ST("j0", "concluded") ST("j0", "null"));
    release(s);
    g_assert_null(job_get("j0"));
}

static void test_ids(void)
{
    Error *err = NULL;
    TestJob *s;

    g_assert_null(job_create(NULL, &test_job_driver, NULL, NULL, 0, NULL,
                             NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "An explicit job ID is required");
    g_clear_pointer(&err, error_free);

    g_assert_null(job_create("a b", &test_job_driver, NULL, NULL, 0, NULL,
                             NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid job ID 'a b'");
    g_clear_pointer(&err, error_free);

    g_assert_null(job_create("x", &test_job_driver, NULL, NULL, JOB_INTERNAL,
                             NULL, NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Cannot specify job ID for internal job");
    g_clear_pointer(&err, error_free);

    s = new_job("dup", NULL, JOB_DEFAULT, 1);
    g_assert_null(job_create("dup", &test_job_driver, NULL, NULL, 0, NULL,
                             NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Job ID 'dup' already in use");
    g_clear_pointer(&err, error_free);
    assert_events(ST("dup", "created"));
    job_early_fail(&s->job);
    assert_events(ST("dup", "null"));
    release(s);

    /* Internal jobs have no ID and send no events. */
    s = job_create(NULL, &test_job_driver, NULL, NULL, JOB_INTERNAL, NULL,
                   NULL, &error_abort);
    s->steps = 1;
    job_start(&s->job);
    step(s);
    assert_events("");
    g_assert_null(job_next(NULL));
}

static void test_manual_finalize_dismiss(void)
{
    TestJob *s = new_job("j1", NULL, JOB_MANUAL_FINALIZE | JOB_MANUAL_DISMISS,
                         1);
    Job *job = &s->job;
    Error *err = NULL;
    JobInfo *info;

    job_start(job);
    step(s);
    assert_events(ST("j1", "created") ST("j1", "running") ST("j1", "waiting")
                  ST("j1", "pending"));
    g_assert_cmpint(job->status, ==, JOB_STATUS_PENDING);
    g_assert_false(s->committed);

    job_user_pause(job, &err);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Job 'j1' in state 'pending' cannot accept command verb "
                    "'pause'");
    g_clear_pointer(&err, error_free);
    job_dismiss(job, &err);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Job 'j1' in state 'pending' cannot accept command verb "
                    "'dismiss'");
    g_clear_pointer(&err, error_free);
    job_complete(job, &err);
    g_assert_nonnull(err);
    g_clear_pointer(&err, error_free);

    job_finalize(job, &error_abort);
    assert_events(ST("j1", "concluded"));
    g_assert_true(s->committed);
    info = job_query_single(job);
    g_assert_cmpint(info->status, ==, JOB_STATUS_CONCLUDED);
    g_assert_false(info->has_error);
    qapi_free_JobInfo(info);

    job_finalize(job, &err);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Job 'j1' in state 'concluded' cannot accept command "
                    "verb 'finalize'");
    g_clear_pointer(&err, error_free);
    job_user_cancel(job, true, &err);
    g_assert_nonnull(err);
    g_clear_pointer(&err, error_free);

    job_dismiss(job, &error_abort);
    assert_events(ST("j1", "null"));
    release(s);
    g_assert_null(job_next(NULL));
}

/* The verbs each state accepts, as Debian's qemu-storage-daemon answers. */
static void test_verb_table(void)
{
    static const struct {
        JobStatus status;
        const char *verbs;  /* accepted, in JobVerb order */
    } rows[] = {
        { JOB_STATUS_CREATED,   "cancel pause resume set-speed" },
        { JOB_STATUS_RUNNING,   "cancel pause resume set-speed" },
        { JOB_STATUS_PAUSED,    "cancel pause resume set-speed" },
        { JOB_STATUS_READY,     "cancel pause resume set-speed complete" },
        { JOB_STATUS_STANDBY,   "cancel pause resume set-speed" },
        { JOB_STATUS_WAITING,   "cancel" },
        { JOB_STATUS_PENDING,   "cancel finalize" },
        { JOB_STATUS_ABORTING,  "" },
        { JOB_STATUS_CONCLUDED, "dismiss" },
        { JOB_STATUS_NULL,      "" },
    };
    TestJob *s = new_job("v", NULL, JOB_DEFAULT, 1);
    JobStatus saved = s->job.status;

    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        GString *got = g_string_new("");

        s->job.status = rows[i].status;
        for (JobVerb v = 0; v < JOB_VERB__MAX; v++) {
            Error *err = NULL;

            if (job_apply_verb(&s->job, v, &err) == 0) {
                g_string_append_printf(got, "%s%s", got->len ? " " : "",
                                       JobVerb_str(v));
            } else {
                g_autofree char *msg =
                    g_strdup_printf("Job 'v' in state '%s' cannot accept "
                                    "command verb '%s'",
                                    JobStatus_str(rows[i].status),
                                    JobVerb_str(v));
                g_assert_cmpstr(error_get_pretty(err), ==, msg);
                error_free(err);
            }
        }
        g_assert_cmpstr(got->str, ==, rows[i].verbs);
        g_string_free(got, true);
    }
    s->job.status = saved;
    job_early_fail(&s->job);
    release(s);
    drop_events();
}

static void test_pause_resume(void)
{
    TestJob *s = new_job("p", NULL, JOB_DEFAULT, 3);
    Job *job = &s->job;
    Error *err = NULL;

    job_start(job);
    drop_events();

    job_user_resume(job, &err);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Can't resume a job that was not paused");
    g_clear_pointer(&err, error_free);

    /* The waiting job is woken to reach its pause point. */
    job_user_pause(job, &error_abort);
    assert_events(ST("p", "paused"));
    g_assert_true(job->paused);
    g_assert_cmpint(s->done, ==, 1);
    job_user_pause(job, &err);
    g_assert_cmpstr(error_get_pretty(err), ==, "Job is already paused");
    g_clear_pointer(&err, error_free);

    /* Pauses are counted: a drained section's pause outlives job-resume. */
    job_pause(job);
    job_user_resume(job, &error_abort);
    assert_events("");
    g_assert_true(job->paused);
    job_resume(job);
    assert_events(ST("p", "running"));
    g_assert_false(job->paused);

    /* Pausing a job between two steps: it stops at its pause point. */
    job_pause(job);
    assert_events(ST("p", "paused"));
    job_resume(job);
    assert_events(ST("p", "running"));

    while (s->done < 3 || !job_is_completed(job)) {
        step(s);
    }
    poll_all();
    g_assert_cmpint(job->status, ==, JOB_STATUS_NULL);
    release(s);
    drop_events();
}

static void test_cancel_running(void)
{
    TestJob *s = new_job("c", NULL, JOB_MANUAL_DISMISS, 100);
    Job *job = &s->job;
    JobInfo *info;

    job_start(job);
    drop_events();
    job_user_cancel(job, true, &error_abort);
    poll_all();
    assert_events(ST("c", "aborting") ST("c", "concluded"));
    g_assert_true(s->aborted && s->cleaned && !s->committed);
    g_assert_cmpint(s->cb_ret, ==, -ECANCELED);
    g_assert_true(job_is_cancelled(job));

    info = job_query_single(job);
    g_assert_true(info->has_error);
    g_assert_cmpstr(info->error, ==, "Operation canceled");
    qapi_free_JobInfo(info);

    job_dismiss(job, &error_abort);
    assert_events(ST("c", "null"));
    release(s);
}

static void test_cancel_paused_and_created(void)
{
    TestJob *s = new_job("cp", NULL, JOB_DEFAULT, 100);
    int ret;

    job_start(&s->job);
    job_user_pause(&s->job, &error_abort);
    drop_events();
    /* A forced cancel also undoes the user's pause. */
    ret = job_cancel_sync(&s->job, true);
    g_assert_cmpint(ret, ==, -ECANCELED);
    assert_events(ST("cp", "running") ST("cp", "aborting")
                  ST("cp", "concluded") ST("cp", "null"));
    release(s);

    /* A job that never ran ends without running anything. */
    s = new_job("cc", NULL, JOB_DEFAULT, 100);
    job_cancel(&s->job, true);
    assert_events(ST("cc", "created") ST("cc", "aborting")
                  ST("cc", "concluded") ST("cc", "null"));
    release(s);
    g_assert_null(job_next(NULL));
}

static void test_failure(void)
{
    TestJob *s = new_job("f", NULL, JOB_MANUAL_DISMISS, 1);
    JobInfo *info;

    s->fail_errno = EIO;
    job_start(&s->job);
    step(s);
    assert_events(ST("f", "created") ST("f", "running") ST("f", "aborting")
                  ST("f", "concluded"));
    g_assert_true(s->aborted);
    g_assert_cmpint(s->cb_ret, ==, -EIO);
    info = job_query_single(&s->job);
    g_assert_cmpstr(info->error, ==, "step 1 failed");
    qapi_free_JobInfo(info);
    job_dismiss(&s->job, &error_abort);
    release(s);
    drop_events();

    /* prepare failing turns a success into a failure. */
    s = new_job("fp", NULL, JOB_MANUAL_DISMISS, 1);
    s->prepare_ret = -ENOSPC;
    job_start(&s->job);
    step(s);
    assert_events(ST("fp", "created") ST("fp", "running") ST("fp", "waiting")
                  ST("fp", "pending") ST("fp", "aborting")
                  ST("fp", "concluded"));
    g_assert_true(s->aborted && !s->committed);
    info = job_query_single(&s->job);
    g_assert_cmpstr(info->error, ==, strerror(ENOSPC));
    qapi_free_JobInfo(info);
    job_dismiss(&s->job, &error_abort);
    release(s);
    drop_events();
}

static void test_txn_success(void)
{
    JobTxn *txn = job_txn_new();
    TestJob *a = new_job("a", txn, JOB_DEFAULT, 1);
    TestJob *b = new_job("b", txn, JOB_DEFAULT, 2);

    job_txn_unref(txn);
    job_start(&a->job);
    job_start(&b->job);
    drop_events();

    /* a is done first and waits for b. */
    step(a);
    assert_events(ST("a", "waiting"));
    g_assert_false(a->committed);
    step(b);
    step(b);
    assert_events(ST("b", "waiting") ST("b", "pending") ST("a", "pending")
                  ST("b", "concluded") ST("b", "null")
                  ST("a", "concluded") ST("a", "null"));
    g_assert_true(a->committed && b->committed);
    release(a);
    release(b);
}

static void test_txn_failure(void)
{
    JobTxn *txn = job_txn_new();
    TestJob *a = new_job("a", txn, JOB_DEFAULT, 1);
    TestJob *b = new_job("b", txn, JOB_DEFAULT, 100);
    TestJob *c = new_job("c", txn, JOB_DEFAULT, 1);

    job_txn_unref(txn);
    a->fail_errno = ENOSPC;
    job_start(&a->job);
    job_start(&b->job);
    job_start(&c->job);
    step(c);
    drop_events();

    /* a fails: b is cancelled, c (waiting) is aborted, nothing commits. */
    step(a);
    assert_events(ST("a", "aborting")
                  ST("c", "aborting") ST("c", "concluded") ST("c", "null")
                  ST("b", "aborting") ST("b", "concluded") ST("b", "null")
                  ST("a", "concluded") ST("a", "null"));
    g_assert_true(a->aborted && b->aborted && c->aborted);
    g_assert_false(a->committed || b->committed || c->committed);
    g_assert_cmpint(a->cb_ret, ==, -ENOSPC);
    g_assert_cmpint(b->cb_ret, ==, -ECANCELED);
    g_assert_cmpint(c->cb_ret, ==, -ECANCELED);
    release(a);
    release(b);
    release(c);
}

static void test_cancel_sync_all(void)
{
    TestJob *a = new_job("a", NULL, JOB_DEFAULT, 100);
    TestJob *b = new_job("b", NULL, JOB_MANUAL_DISMISS, 1);

    job_start(&a->job);
    job_start(&b->job);
    step(b);
    g_assert_cmpint(b->job.status, ==, JOB_STATUS_CONCLUDED);
    drop_events();
    /* The test's references keep the jobs listed (in state null). */
    release(a);
    release(b);
    job_cancel_sync_all();
    g_assert_null(job_next(NULL));
    assert_events(ST("b", "null") ST("a", "aborting") ST("a", "concluded")
                  ST("a", "null"));
}

/* ---- block jobs ---- */

typedef struct TestBlockJob {
    BlockJob common;
    bool stop;
} TestBlockJob;

static int coroutine_fn test_block_job_run(Job *job, Error **errp)
{
    TestBlockJob *s = container_of(job, TestBlockJob, common.job);

    job_progress_set_remaining(job, 1000);
    while (!s->stop && !job_is_cancelled(job)) {
        job_yield(job);
    }
    job_progress_update(job, 1000);
    return 0;
}

static const BlockJobDriver test_block_job_driver = {
    .job_driver = {
        .instance_size = sizeof(TestBlockJob),
        .job_type = JOB_TYPE_BACKUP,
        .run = test_block_job_run,
        .free = block_job_free,
        .user_resume = block_job_user_resume,
    },
};

static BlockDriverState *open_null(const char *name)
{
    json_t *opts = json_object();

    qdict_put_str(opts, "driver", "null-co");
    qdict_put_str(opts, "node-name", name);
    return bdrv_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
}

static void test_block_job(void)
{
    BlockDriverState *bs = open_null("node0");
    TestBlockJob *s;
    BlockJobInfo *info;
    Error *err = NULL;

    s = block_job_create("bj", &test_block_job_driver, NULL, bs, 0,
                         BLK_PERM_ALL, -1, JOB_DEFAULT, NULL, NULL, &err);
    g_assert_null(s);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'speed' expects a non-negative value");
    g_clear_pointer(&err, error_free);
    assert_events(ST("bj", "created") ST("bj", "null"));

    s = block_job_create("bj", &test_block_job_driver, NULL, bs, 0,
                         BLK_PERM_ALL, 0, JOB_MANUAL_FINALIZE, NULL, NULL,
                         &error_abort);
    g_assert_true(block_job_has_bdrv(&s->common, bs));
    g_assert_true(bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_BACKUP_SOURCE, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Node 'node0' is busy: block device is in use by block "
                    "job: backup");
    g_clear_pointer(&err, error_free);
    job_start(&s->common.job);
    drop_events();

    /* A drained node pauses its jobs until the section ends. */
    bdrv_drained_begin(bs);
    g_assert_true(s->common.job.paused);
    bdrv_drained_begin(bs);
    bdrv_drained_end(bs);
    g_assert_true(s->common.job.paused);
    bdrv_drained_end(bs);
    assert_events(ST("bj", "paused") ST("bj", "running"));

    g_assert_true(block_job_set_speed(&s->common, 4096, &error_abort));
    info = block_job_query(&s->common, &error_abort);
    g_assert_cmpstr(info->type, ==, "backup");
    g_assert_cmpstr(info->device, ==, "bj");
    g_assert_cmpint(info->speed, ==, 4096);
    g_assert_cmpint(info->len, ==, 1000);
    g_assert_false(info->paused);
    g_assert_cmpint(info->io_status, ==, BLOCK_DEVICE_IO_STATUS_OK);
    qapi_free_BlockJobInfo(info);

    /* 'stop' pauses the job as a user would, and records the error. */
    g_assert_cmpint(block_job_error_action(&s->common,
                                           BLOCKDEV_ON_ERROR_ENOSPC, false,
                                           ENOSPC),
                    ==, BLOCK_ERROR_ACTION_STOP);
    g_assert_true(job_user_paused(&s->common.job));
    g_assert_cmpint(s->common.iostatus, ==, BLOCK_DEVICE_IO_STATUS_NOSPACE);
    g_assert_cmpint(block_job_error_action(&s->common,
                                           BLOCKDEV_ON_ERROR_ENOSPC, true,
                                           EIO),
                    ==, BLOCK_ERROR_ACTION_REPORT);
    g_assert_cmpint(block_job_error_action(&s->common,
                                           BLOCKDEV_ON_ERROR_IGNORE, true,
                                           EIO),
                    ==, BLOCK_ERROR_ACTION_IGNORE);
    assert_events("BLOCK_JOB_ERROR {\"action\":\"stop\",\"device\":\"bj\","
                  "\"operation\":\"write\"}\n"
                  ST("bj", "paused")
                  "BLOCK_JOB_ERROR {\"action\":\"report\",\"device\":\"bj\","
                  "\"operation\":\"read\"}\n"
                  "BLOCK_JOB_ERROR {\"action\":\"ignore\",\"device\":\"bj\","
                  "\"operation\":\"read\"}\n");
    job_user_resume(&s->common.job, &error_abort);
    g_assert_cmpint(s->common.iostatus, ==, BLOCK_DEVICE_IO_STATUS_OK);
    assert_events(ST("bj", "running"));

    s->stop = true;
    job_enter(&s->common.job);
    poll_all();
    assert_events(ST("bj", "waiting") ST("bj", "pending")
                  "BLOCK_JOB_PENDING {\"id\":\"bj\",\"type\":\"backup\"}\n");
    job_finalize(&s->common.job, &error_abort);
    assert_events("BLOCK_JOB_COMPLETED {\"device\":\"bj\",\"len\":1000,"
                  "\"offset\":1000,\"speed\":4096,\"type\":\"backup\"}\n"
                  ST("bj", "concluded") ST("bj", "null"));
    g_assert_false(bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_BACKUP_SOURCE, NULL));

    /* Cancelled: BLOCK_JOB_CANCELLED, no error member. */
    s = block_job_create("bj2", &test_block_job_driver, NULL, bs, 0,
                         BLK_PERM_ALL, 0, JOB_DEFAULT, NULL, NULL,
                         &error_abort);
    job_start(&s->common.job);
    job_cancel_sync(&s->common.job, true);
    assert_events(ST("bj2", "created") ST("bj2", "running")
                  ST("bj2", "aborting")
                  "BLOCK_JOB_CANCELLED {\"device\":\"bj2\",\"len\":1000,"
                  "\"offset\":1000,\"speed\":0,\"type\":\"backup\"}\n"
                  ST("bj2", "concluded") ST("bj2", "null"));
    bdrv_unref(bs);
}

/* A job attached to a node drained before it existed starts paused. */
static void test_block_job_created_in_drain(void)
{
    BlockDriverState *bs = open_null("node1");
    TestBlockJob *s;

    bdrv_drained_begin(bs);
    s = block_job_create("d", &test_block_job_driver, NULL, bs, 0,
                         BLK_PERM_ALL, 0, JOB_DEFAULT, NULL, NULL,
                         &error_abort);
    job_start(&s->common.job);
    assert_events(ST("d", "created") ST("d", "running") ST("d", "paused"));
    bdrv_drained_end(bs);
    assert_events(ST("d", "running"));
    job_cancel_sync(&s->common.job, true);
    drop_events();
    bdrv_unref(bs);
}

/* ---- rate limit ---- */

static void test_ratelimit(void)
{
    RateLimit rl = { 0 };
    const int64_t slice = 100 * 1000 * 1000;

    /* No limit: never wait. */
    g_assert_cmpint(ratelimit_calculate_delay_at(&rl, 1 << 30, 0), ==, 0);

    /* 1 MiB/s in 100 ms slices: 104857 bytes per slice. */
    ratelimit_set_speed(&rl, 1 << 20, slice);
    g_assert_cmpuint(rl.slice_quota, ==, 104857);
    g_assert_cmpint(ratelimit_calculate_delay_at(&rl, 50000, 1000), ==, 0);
    g_assert_cmpint(ratelimit_calculate_delay_at(&rl, 50000, 2000), ==, 0);
    /* Overdrawn by half a slice: wait until 1.5 slices after its start. */
    g_assert_cmpint(ratelimit_calculate_delay_at(&rl, 57285, 3000), ==,
                    1000 + (int64_t)(157285.0 / 104857 * slice) - 3000);
    /* After the stretched slice, a fresh one. */
    g_assert_cmpint(ratelimit_calculate_delay_at(&rl, 1000, 10 * slice), ==,
                    0);
    g_assert_cmpuint(rl.dispatched, ==, 1000);

    /* Tiny speeds still allow one byte per slice. */
    ratelimit_set_speed(&rl, 1, slice);
    g_assert_cmpuint(rl.slice_quota, ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop();
    bdrv_init();
    events = g_string_new("");
    qapi_event_emit = capture_event;

    g_test_add_func("/job/success", test_success);
    g_test_add_func("/job/ids", test_ids);
    g_test_add_func("/job/manual-finalize-dismiss",
                    test_manual_finalize_dismiss);
    g_test_add_func("/job/verb-table", test_verb_table);
    g_test_add_func("/job/pause-resume", test_pause_resume);
    g_test_add_func("/job/cancel-running", test_cancel_running);
    g_test_add_func("/job/cancel-paused-and-created",
                    test_cancel_paused_and_created);
    g_test_add_func("/job/failure", test_failure);
    g_test_add_func("/job/txn-success", test_txn_success);
    g_test_add_func("/job/txn-failure", test_txn_failure);
    g_test_add_func("/job/cancel-sync-all", test_cancel_sync_all);
    g_test_add_func("/blockjob/events-pause-errors", test_block_job);
    g_test_add_func("/blockjob/created-in-drain",
                    test_block_job_created_in_drain);
    g_test_add_func("/ratelimit/slices", test_ratelimit);
    return g_test_run();
}

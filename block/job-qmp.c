/*
 * The QMP commands that control jobs: job-* for every job, block-job-*
 * for block jobs (by ID, with QEMU's errors), query-jobs and
 * query-block-jobs.
 */
#include "strata/osdep.h"
#include "block/blockjob.h"
#include "qapi/qapi-commands.h"

static Job *find_job(const char *id, Error **errp)
{
    Job *job = job_get(id);

    if (!job) {
        error_setg(errp, "Job not found");
    }
    return job;
}

void qmp_job_pause(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (job) {
        job_user_pause(job, errp);
    }
}

void qmp_job_resume(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (job) {
        job_user_resume(job, errp);
    }
}

void qmp_job_cancel(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (job) {
        job_user_cancel(job, true, errp);
    }
}

void qmp_job_complete(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (job) {
        job_complete(job, errp);
    }
}

void qmp_job_finalize(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (job) {
        /* Finalizing may conclude and dismiss the job. */
        job_ref(job);
        job_finalize(job, errp);
        job_unref(job);
    }
}

void qmp_job_dismiss(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (job) {
        job_dismiss(job, errp);
    }
}

JobInfoList *qmp_query_jobs(Error **errp)
{
    JobInfoList *head = NULL, **tail = &head;

    for (Job *job = job_next(NULL); job; job = job_next(job)) {
        if (job_is_internal(job)) {
            continue;
        }
        *tail = g_new0(JobInfoList, 1);
        (*tail)->value = job_query_single(job);
        tail = &(*tail)->next;
    }
    return head;
}

/* ---- block-job-* ---- */

static BlockJob *find_block_job(const char *id, Error **errp)
{
    BlockJob *job = block_job_get(id);

    if (!job) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_ACTIVE,
                  "Block job '%s' not found", id);
    }
    return job;
}

void qmp_block_job_set_speed(const char *device, int64_t speed, Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (job) {
        block_job_set_speed(job, speed, errp);
    }
}

void qmp_block_job_cancel(const char *device, bool has_force, bool force,
                          Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job) {
        return;
    }
    if (!has_force) {
        force = false;
    }
    if (job_user_paused(&job->job) && !force) {
        error_setg(errp, "The block job for device '%s' is currently paused",
                   device);
        return;
    }
    job_user_cancel(&job->job, force, errp);
}

void qmp_block_job_pause(const char *device, Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (job) {
        job_user_pause(&job->job, errp);
    }
}

void qmp_block_job_resume(const char *device, Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (job) {
        job_user_resume(&job->job, errp);
    }
}

void qmp_block_job_complete(const char *device, Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (job) {
        job_complete(&job->job, errp);
    }
}

void qmp_block_job_finalize(const char *id, Error **errp)
{
    BlockJob *job = find_block_job(id, errp);

    if (job) {
        job_ref(&job->job);
        job_finalize(&job->job, errp);
        job_unref(&job->job);
    }
}

void qmp_block_job_dismiss(const char *id, Error **errp)
{
    BlockJob *job = find_block_job(id, errp);

    if (job) {
        job_dismiss(&job->job, errp);
    }
}

BlockJobInfoList *qmp_query_block_jobs(Error **errp)
{
    BlockJobInfoList *head = NULL, **tail = &head;

    for (BlockJob *job = block_job_next(NULL); job;
         job = block_job_next(job)) {
        BlockJobInfo *info;

        if (block_job_is_internal(job)) {
            continue;
        }
        info = block_job_query(job, errp);
        if (!info) {
            qapi_free_BlockJobInfoList(head);
            return NULL;
        }
        *tail = g_new0(BlockJobInfoList, 1);
        (*tail)->value = info;
        tail = &(*tail)->next;
    }
    return head;
}

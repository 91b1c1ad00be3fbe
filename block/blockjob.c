/*
 * Block jobs on top of the job core: the edges to the nodes a job uses
 * (drained sections pause the job), speed limits, the on-error policies
 * and the BLOCK_JOB_* events.
 */
#include "strata/osdep.h"
#include "block/blockjob.h"
#include "block/block_int.h"
#include "qapi/qapi-events.h"

bool is_block_job(Job *job)
{
    switch (job_type(job)) {
    case JOB_TYPE_BACKUP:
    case JOB_TYPE_COMMIT:
    case JOB_TYPE_MIRROR:
    case JOB_TYPE_STREAM:
        return true;
    default:
        return false;
    }
}

const BlockJobDriver *block_job_driver(BlockJob *job)
{
    return container_of(job->job.driver, BlockJobDriver, job_driver);
}

bool block_job_is_internal(BlockJob *job)
{
    return job_is_internal(&job->job);
}

BlockJob *block_job_next(BlockJob *bjob)
{
    Job *job = bjob ? &bjob->job : NULL;

    do {
        job = job_next(job);
    } while (job && !is_block_job(job));
    return job ? container_of(job, BlockJob, job) : NULL;
}

BlockJob *block_job_get(const char *id)
{
    Job *job = job_get(id);

    return job && is_block_job(job) ? container_of(job, BlockJob, job)
                                    : NULL;
}

/* ---- the edges to the job's nodes ---- */

static char *child_job_get_parent_desc(BdrvChild *c)
{
    BlockJob *job = c->opaque;

    return g_strdup_printf("%s job '%s'", job_type_str(&job->job),
                           job->job.id);
}

/* A drained node stops the job at its next pause point until the end. */
static void child_job_drained_begin(BdrvChild *c)
{
    BlockJob *job = c->opaque;

    job_pause(&job->job);
}

static void child_job_drained_end(BdrvChild *c)
{
    BlockJob *job = c->opaque;

    job_resume(&job->job);
}

static bool child_job_drained_poll(BdrvChild *c)
{
    BlockJob *bjob = c->opaque;
    Job *job = &bjob->job;
    const BlockJobDriver *drv = block_job_driver(bjob);

    /*
     * A job that is not busy is paused or will pause before running any
     * of its code; a completed one has nothing in flight.
     */
    if (!job->busy || job_is_completed(job)) {
        return false;
    }
    return drv->drained_poll ? drv->drained_poll(bjob) : true;
}

static const BdrvChildClass child_job = {
    .get_parent_desc = child_job_get_parent_desc,
    .drained_begin = child_job_drained_begin,
    .drained_end = child_job_drained_end,
    .drained_poll = child_job_drained_poll,
    /* A filter inserted or removed around a job's node leaves the job. */
    .stay_at_node = true,
};

int block_job_add_bdrv(BlockJob *job, const char *name, BlockDriverState *bs,
                       uint64_t perm, uint64_t shared_perm, Error **errp)
{
    BdrvChild *c = bdrv_root_attach_child(bs, name, &child_job, 0, perm,
                                          shared_perm, job, errp);

    if (!c) {
        return -EPERM;
    }
    job->nodes = g_slist_prepend(job->nodes, c);
    bdrv_op_block_all(bs, job->blocker);
    return 0;
}

void block_job_remove_all_bdrv(BlockJob *job)
{
    /* Unlink each edge before dropping it: dropping may drain the job. */
    while (job->nodes) {
        GSList *l = job->nodes;
        BdrvChild *c = l->data;

        job->nodes = l->next;
        bdrv_op_unblock_all(c->bs, job->blocker);
        bdrv_root_unref_child(c);
        g_slist_free_1(l);
    }
}

bool block_job_has_bdrv(BlockJob *job, BlockDriverState *bs)
{
    for (GSList *l = job->nodes; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c->bs == bs) {
            return true;
        }
    }
    return false;
}

/* ---- speed ---- */

bool block_job_set_speed(BlockJob *job, int64_t speed, Error **errp)
{
    const BlockJobDriver *drv = block_job_driver(job);
    int64_t old_speed = job->speed;

    if (job_apply_verb(&job->job, JOB_VERB_SET_SPEED, errp) < 0) {
        return false;
    }
    if (speed < 0) {
        error_setg(errp, "Parameter 'speed' expects a non-negative value");
        return false;
    }
    ratelimit_set_speed(&job->limit, speed, BLOCK_JOB_SLICE_TIME);
    job->speed = speed;
    if (drv->set_speed) {
        drv->set_speed(job, speed);
    }
    if (speed && speed <= old_speed) {
        return true;
    }
    /* Faster (or unlimited): a job sleeping off its quota may go on. */
    job_enter_if_sleeping(&job->job);
    return true;
}

void block_job_ratelimit_processed_bytes(BlockJob *job, uint64_t n)
{
    ratelimit_calculate_delay(&job->limit, n);
}

void coroutine_fn block_job_ratelimit_sleep(BlockJob *job)
{
    int64_t delay_ns;

    /*
     * A job may be woken early (set-speed, pause, cancel): it checks the
     * limit again instead of assuming the time passed.
     */
    do {
        delay_ns = ratelimit_calculate_delay(&job->limit, 0);
        job_sleep_ns(&job->job, delay_ns);
    } while (delay_ns && !job_is_cancelled(&job->job));
}

/* ---- errors ---- */

void block_job_iostatus_reset(BlockJob *job)
{
    if (job->iostatus == BLOCK_DEVICE_IO_STATUS_OK) {
        return;
    }
    assert(job->job.user_paused && job->job.pause_count > 0);
    job->iostatus = BLOCK_DEVICE_IO_STATUS_OK;
}

static void block_job_iostatus_set_err(BlockJob *job, int error)
{
    if (job->iostatus == BLOCK_DEVICE_IO_STATUS_OK) {
        job->iostatus = error == ENOSPC ? BLOCK_DEVICE_IO_STATUS_NOSPACE
                                        : BLOCK_DEVICE_IO_STATUS_FAILED;
    }
}

BlockErrorAction block_job_error_action(BlockJob *job, BlockdevOnError on_err,
                                        bool is_read, int error)
{
    BlockErrorAction action;

    switch (on_err) {
    case BLOCKDEV_ON_ERROR_ENOSPC:
    case BLOCKDEV_ON_ERROR_AUTO:
        action = error == ENOSPC ? BLOCK_ERROR_ACTION_STOP
                                 : BLOCK_ERROR_ACTION_REPORT;
        break;
    case BLOCKDEV_ON_ERROR_STOP:
        action = BLOCK_ERROR_ACTION_STOP;
        break;
    case BLOCKDEV_ON_ERROR_REPORT:
        action = BLOCK_ERROR_ACTION_REPORT;
        break;
    case BLOCKDEV_ON_ERROR_IGNORE:
        action = BLOCK_ERROR_ACTION_IGNORE;
        break;
    default:
        g_assert_not_reached();
    }
    if (!block_job_is_internal(job)) {
        qapi_event_send_block_job_error(job->job.id,
                                        is_read ? IO_OPERATION_TYPE_READ
                                                : IO_OPERATION_TYPE_WRITE,
                                        action);
    }
    if (action == BLOCK_ERROR_ACTION_STOP) {
        if (!job->job.user_paused) {
            job_pause(&job->job);
            /* The user sees the pause and resumes it with job-resume. */
            job->job.user_paused = true;
        }
        block_job_iostatus_set_err(job, error);
    }
    return action;
}

/* ---- events ---- */

static void block_job_event_pending(Job *job)
{
    if (!job_is_internal(job)) {
        qapi_event_send_block_job_pending(job_type(job), job->id);
    }
}

static void block_job_event_ready(Job *job)
{
    BlockJob *bjob = container_of(job, BlockJob, job);

    if (!job_is_internal(job)) {
        qapi_event_send_block_job_ready(job_type(job), job->id,
                                        job->progress.total,
                                        job->progress.current, bjob->speed);
    }
}

static void block_job_event_finalized(Job *job, bool cancelled)
{
    BlockJob *bjob = container_of(job, BlockJob, job);

    if (job_is_internal(job)) {
        return;
    }
    if (cancelled) {
        qapi_event_send_block_job_cancelled(job_type(job), job->id,
                                            job->progress.total,
                                            job->progress.current,
                                            bjob->speed);
    } else {
        const char *msg = job->ret < 0 && job->err
                          ? error_get_pretty(job->err) : NULL;

        qapi_event_send_block_job_completed(job_type(job), job->id,
                                            job->progress.total,
                                            job->progress.current,
                                            bjob->speed, msg != NULL, msg);
    }
}

static const JobObserver block_job_observer = {
    .pending = block_job_event_pending,
    .ready = block_job_event_ready,
    .finalized = block_job_event_finalized,
};

/* ---- life cycle ---- */

void block_job_free(Job *job)
{
    BlockJob *bjob = container_of(job, BlockJob, job);

    block_job_remove_all_bdrv(bjob);
    error_free(bjob->blocker);
}

void block_job_user_resume(Job *job)
{
    block_job_iostatus_reset(container_of(job, BlockJob, job));
}

void *block_job_create(const char *job_id, const BlockJobDriver *driver,
                       JobTxn *txn, BlockDriverState *bs, uint64_t perm,
                       uint64_t shared_perm, int64_t speed, int flags,
                       void (*cb)(void *opaque, int ret), void *opaque,
                       Error **errp)
{
    BlockJob *job;

    if (job_id == NULL && !(flags & JOB_INTERNAL)) {
        job_id = bdrv_get_device_name(bs);
    }
    job = job_create(job_id, &driver->job_driver, txn,
                     bs->aio_context, flags, cb, opaque, errp);
    if (!job) {
        return NULL;
    }
    assert(is_block_job(&job->job));
    assert(driver->job_driver.free == block_job_free);
    assert(driver->job_driver.user_resume == block_job_user_resume);
    job->job.observer = &block_job_observer;
    job->iostatus = BLOCK_DEVICE_IO_STATUS_OK;
    error_setg(&job->blocker, "block device is in use by block job: %s",
               job_type_str(&job->job));

    if (block_job_add_bdrv(job, "main node", bs, perm, shared_perm,
                           errp) < 0 ||
        !block_job_set_speed(job, speed, errp)) {
        job_early_fail(&job->job);
        return NULL;
    }
    return job;
}

BlockJobInfo *block_job_query(BlockJob *job, Error **errp)
{
    BlockJobInfo *info;

    if (block_job_is_internal(job)) {
        error_setg(errp, "Cannot query QEMU internal jobs");
        return NULL;
    }
    info = g_new0(BlockJobInfo, 1);
    info->type = g_strdup(job_type_str(&job->job));
    info->device = g_strdup(job->job.id);
    info->busy = job->job.busy;
    info->paused = job->job.pause_count > 0;
    info->offset = job->job.progress.current;
    info->len = job->job.progress.total;
    info->speed = job->speed;
    info->io_status = job->iostatus;
    info->ready = job_is_ready(&job->job);
    info->status = job->job.status;
    info->auto_finalize = job->job.auto_finalize;
    info->auto_dismiss = job->job.auto_dismiss;
    if (job->job.ret) {
        info->has_error = true;
        info->error = g_strdup(job->job.err ? error_get_pretty(job->job.err)
                                            : strerror(-job->job.ret));
    }
    return info;
}

/*
 * Block jobs: jobs that work on block nodes (backup, mirror, stream,
 * commit), with their nodes, speed limit, error policy and events.
 */
#ifndef BLOCK_BLOCKJOB_H
#define BLOCK_BLOCKJOB_H

#include "block/block.h"
#include "block/job.h"
#include "util/ratelimit.h"

typedef struct BlockJob BlockJob;

typedef struct BlockJobDriver {
    JobDriver job_driver;
    /*
     * A drained section asks whether the job still has requests in
     * flight; without this hook a busy job is assumed to have some.
     */
    bool (*drained_poll)(BlockJob *job);
    /* block-job-set-speed changed the limit (after it is stored). */
    void (*set_speed)(BlockJob *job, int64_t speed);
} BlockJobDriver;

struct BlockJob {
    Job job;
    /* Bytes per second, 0 for no limit (block-job-set-speed). */
    int64_t speed;
    RateLimit limit;
    /* "block device is in use by block job: TYPE", on every node. */
    Error *blocker;
    /* The result of the last failed request a 'stop' policy paused on. */
    BlockDeviceIoStatus iostatus;
    /* BdrvChild edges from the job to its nodes ("main node" first). */
    GSList *nodes;
};

/* Length of a rate-limit slice. */
#define BLOCK_JOB_SLICE_TIME 100000000ULL /* ns */

/*
 * A new block job on @bs (its "main node", used with @perm and sharing
 * @shared_perm).  Without @job_id, the device name of @bs is the ID.
 * Every node the job uses is blocked for other operations while it lives.
 * @driver's free and user_resume must be block_job_free and
 * block_job_user_resume (or call them).
 */
void *block_job_create(const char *job_id, const BlockJobDriver *driver,
                       JobTxn *txn, BlockDriverState *bs, uint64_t perm,
                       uint64_t shared_perm, int64_t speed, int flags,
                       void (*cb)(void *opaque, int ret), void *opaque,
                       Error **errp);
/* The JobDriver hooks every block job uses. */
void block_job_free(Job *job);
void block_job_user_resume(Job *job);

/* Attach the job to @bs as its child @name (and block @bs's operations). */
int block_job_add_bdrv(BlockJob *job, const char *name, BlockDriverState *bs,
                       uint64_t perm, uint64_t shared_perm, Error **errp);
void block_job_remove_all_bdrv(BlockJob *job);
bool block_job_has_bdrv(BlockJob *job, BlockDriverState *bs);

/* block-job-set-speed: "Parameter 'speed' expects a non-negative value". */
bool block_job_set_speed(BlockJob *job, int64_t speed, Error **errp);
/* Account @n bytes of work against the limit / wait as it says. */
void block_job_ratelimit_processed_bytes(BlockJob *job, uint64_t n);
void coroutine_fn block_job_ratelimit_sleep(BlockJob *job);

/*
 * A request of the job failed with @error (positive errno): apply the
 * policy @on_err, send BLOCK_JOB_ERROR and, for 'stop', pause the job as
 * if the user had (job-resume continues it).
 */
BlockErrorAction block_job_error_action(BlockJob *job, BlockdevOnError on_err,
                                        bool is_read, int error);
void block_job_iostatus_reset(BlockJob *job);

bool block_job_is_internal(BlockJob *job);
const BlockJobDriver *block_job_driver(BlockJob *job);
/* The block job with this ID (NULL if none or not a block job). */
BlockJob *block_job_get(const char *id);
BlockJob *block_job_next(BlockJob *job);
BlockJobInfo *block_job_query(BlockJob *job, Error **errp);
/* Whether @job is a block job (its type is a block job type). */
bool is_block_job(Job *job);

#endif

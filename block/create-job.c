/*
 * blockdev-create: a job (type "create") that runs the driver's
 * bdrv_co_create with the QAPI options; it finalizes by itself and waits
 * in 'concluded' for job-dismiss, as in QEMU.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/create.h"
#include "block/job.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-output-visitor.h"
#include "util/qdict.h"

typedef struct BlockdevCreateJob {
    Job common;
    BlockDriver *drv;
    BlockdevCreateOptions *opts;
} BlockdevCreateJob;

BlockDriverState *blockdev_open_ref(BlockdevRef *ref, Error **errp)
{
    json_t *options = NULL;
    const char *reference = NULL;

    if (ref->type == QTYPE_QSTRING) {
        reference = ref->u.reference;
    } else {
        BlockdevOptions *def = &ref->u.definition;
        Visitor *v = qobject_output_visitor_new(&options);

        visit_type_BlockdevOptions(v, NULL, &def, &error_abort);
        visit_complete(v, &options);
        visit_free(v);
        qdict_flatten(options);
        /* The monitor's defaults, not the tools'. */
        qdict_set_default_str(options, BDRV_OPT_CACHE_DIRECT, "off");
        qdict_set_default_str(options, BDRV_OPT_CACHE_NO_FLUSH, "off");
        qdict_set_default_str(options, BDRV_OPT_READ_ONLY, "off");
        qdict_set_default_str(options, BDRV_OPT_AUTO_READ_ONLY, "off");
    }
    return bdrv_open(NULL, reference, options, 0, errp);
}

static int coroutine_fn blockdev_create_run(Job *job, Error **errp)
{
    BlockdevCreateJob *s = container_of(job, BlockdevCreateJob, common);
    int ret;

    job_progress_set_remaining(job, 1);
    ret = s->drv->bdrv_co_create(s->opts, errp);
    job_progress_update(job, 1);
    qapi_free_BlockdevCreateOptions(s->opts);
    s->opts = NULL;
    return ret;
}

static const JobDriver blockdev_create_job_driver = {
    .instance_size = sizeof(BlockdevCreateJob),
    .job_type = JOB_TYPE_CREATE,
    .run = blockdev_create_run,
};

void qmp_blockdev_create(const char *job_id, BlockdevCreateOptions *options,
                         Error **errp)
{
    const char *fmt = BlockdevDriver_str(options->driver);
    BlockDriver *drv = bdrv_find_format(fmt);
    BlockdevCreateJob *s;

    if (!drv) {
        error_setg(errp, "Block driver '%s' not found or not supported", fmt);
        return;
    }
    if (bdrv_uses_whitelist() && !bdrv_is_whitelisted(drv, false)) {
        error_setg(errp, "Driver is not whitelisted");
        return;
    }
    if (!drv->bdrv_co_create) {
        error_setg(errp, "Driver does not support blockdev-create");
        return;
    }
    s = job_create(job_id, &blockdev_create_job_driver, NULL,
                   qemu_get_aio_context(), JOB_DEFAULT | JOB_MANUAL_DISMISS,
                   NULL, NULL, errp);
    if (!s) {
        return;
    }
    s->drv = drv;
    s->opts = QAPI_CLONE(BlockdevCreateOptions, options);
    job_start(&s->common);
}

/*
 * block_set_io_throttle: I/O limits on a block backend, found by its name
 * (device) or by the id of the export that uses it (id), with QEMU's
 * semantics: non-zero limits join a throttle group, all zero leave it.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/export.h"
#include "block/throttle-groups.h"
#include "qapi/qapi-commands.h"

/*
 * QEMU's "id" names a guest device; the daemon has none, so in Strata it
 * names an export, whose backend is the one its clients' requests use.
 */
static BlockBackend *find_backend(const char *device, const char *id,
                                  Error **errp)
{
    BlockBackend *blk;

    if (!device == !id) {
        error_setg(errp, "Need exactly one of 'device' and 'id'");
        return NULL;
    }
    if (id) {
        BlockExport *exp = blk_exp_find(id);

        if (!exp) {
            error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                      "Device '%s' not found", id);
            return NULL;
        }
        return exp->blk;
    }
    blk = blk_by_name(device);
    if (!blk) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "Device '%s' not found", device);
    }
    return blk;
}

static void set_bucket(ThrottleConfig *cfg, BucketType b, int64_t avg,
                       bool has_max, int64_t max, bool has_length,
                       int64_t length)
{
    cfg->buckets[b].avg = avg;
    if (has_max) {
        cfg->buckets[b].max = max;
    }
    if (has_length) {
        cfg->buckets[b].burst_length = length;
    }
}

void qmp_block_set_io_throttle(BlockIOThrottle *arg, Error **errp)
{
    BlockBackend *blk;
    ThrottleConfig cfg;

    blk = find_backend(arg->has_device ? arg->device : NULL,
                       arg->has_id ? arg->id : NULL, errp);
    if (!blk) {
        return;
    }
    if (!blk_bs(blk)) {
        error_setg(errp, "Device has no medium");
        return;
    }

    throttle_config_init(&cfg);
    set_bucket(&cfg, THROTTLE_BPS_TOTAL, arg->bps, arg->has_bps_max,
               arg->bps_max, arg->has_bps_max_length, arg->bps_max_length);
    set_bucket(&cfg, THROTTLE_BPS_READ, arg->bps_rd, arg->has_bps_rd_max,
               arg->bps_rd_max, arg->has_bps_rd_max_length,
               arg->bps_rd_max_length);
    set_bucket(&cfg, THROTTLE_BPS_WRITE, arg->bps_wr, arg->has_bps_wr_max,
               arg->bps_wr_max, arg->has_bps_wr_max_length,
               arg->bps_wr_max_length);
    set_bucket(&cfg, THROTTLE_OPS_TOTAL, arg->iops, arg->has_iops_max,
               arg->iops_max, arg->has_iops_max_length,
               arg->iops_max_length);
    set_bucket(&cfg, THROTTLE_OPS_READ, arg->iops_rd, arg->has_iops_rd_max,
               arg->iops_rd_max, arg->has_iops_rd_max_length,
               arg->iops_rd_max_length);
    set_bucket(&cfg, THROTTLE_OPS_WRITE, arg->iops_wr, arg->has_iops_wr_max,
               arg->iops_wr_max, arg->has_iops_wr_max_length,
               arg->iops_wr_max_length);
    if (arg->has_iops_size) {
        cfg.op_size = arg->iops_size;
    }
    if (!throttle_is_valid(&cfg, errp)) {
        return;
    }

    if (throttle_enabled(&cfg)) {
        ThrottleGroupMember *tgm = blk_get_throttle_group_member(blk);

        /* A new member joins the named group, or one named after it. */
        if (!tgm->throttle_state) {
            blk_io_limits_enable(blk, arg->has_group ? arg->group :
                                 arg->has_device ? arg->device : arg->id);
        } else if (arg->has_group) {
            blk_io_limits_update_group(blk, arg->group);
        }
        /* The limits are the whole group's. */
        blk_set_io_limits(blk, &cfg);
    } else if (blk_get_throttle_group_member(blk)->throttle_state) {
        blk_io_limits_disable(blk);
    }
}

/*
 * Throttle groups: one set of I/O limits shared by several users (throttle
 * filter nodes, block backends with block_set_io_throttle), which are
 * served in turn so that a busy member cannot starve the others.
 */
#ifndef BLOCK_THROTTLE_GROUPS_H
#define BLOCK_THROTTLE_GROUPS_H

#include "block/block.h"
#include "util/queue.h"
#include "util/throttle.h"

/*
 * A member's view of its group.  Everything runs in the main loop; all
 * fields are owned by block/throttle-groups.c.
 */
typedef struct ThrottleGroupMember {
    AioContext *aio_context;
    /* Requests waiting for the group's budget, per direction (is_write). */
    CoQueue throttled_reqs[2];
    unsigned pending_reqs[2];
    /*
     * Non-zero while the member is drained: requests then pass without
     * waiting, so that drain finishes at once.
     */
    unsigned io_limits_disabled;
    /* The group's state; NULL while not in a group. */
    ThrottleState *throttle_state;
    /* This member's wake-up timers (one per direction). */
    ThrottleTimers throttle_timers;
    QLIST_ENTRY(ThrottleGroupMember) round_robin;
} ThrottleGroupMember;

/* ---- groups ---- */

/* A group called @name exists (throttle-group object or implicit group). */
bool throttle_group_exists(const char *name);
const char *throttle_group_get_name(ThrottleGroupMember *tgm);

/*
 * Join the group @groupname (created, without an object id, if there is
 * none: block_set_io_throttle's implicit groups).  Timers are created in
 * @ctx.
 */
void throttle_group_register_tgm(ThrottleGroupMember *tgm,
                                 const char *groupname, AioContext *ctx);
/* Leave the group; the member must have no queued requests. */
void throttle_group_unregister_tgm(ThrottleGroupMember *tgm);

/*
 * Give the member's group new limits (already checked with
 * throttle_is_valid()); the buckets start empty and waiting requests are
 * looked at again under the new limits.
 */
void throttle_group_config(ThrottleGroupMember *tgm, ThrottleConfig *cfg);
void throttle_group_get_config(ThrottleGroupMember *tgm, ThrottleConfig *cfg);

/*
 * Called by a member before a request of @bytes in one direction: returns
 * when the group's limits let it go.  Requests of a member leave in the
 * order they arrived.
 */
void coroutine_fn throttle_group_co_io_limits_intercept(
    ThrottleGroupMember *tgm, int64_t bytes, bool is_write);

/* Release the queued requests of @tgm whose time has come or not. */
void throttle_group_restart_tgm(ThrottleGroupMember *tgm);

/*
 * Drain: while any drained section is open the member's requests are not
 * throttled, and those already waiting are released.
 */
void throttle_group_drained_begin(ThrottleGroupMember *tgm);
void throttle_group_drained_end(ThrottleGroupMember *tgm);

/*
 * The throttle-group object's "limits": apply the members present in @arg
 * to @cfg with QEMU's range checks, then check the whole configuration.
 */
bool throttle_limits_to_config(ThrottleLimits *arg, ThrottleConfig *cfg,
                               Error **errp);
/* Every member of @limits set from @cfg. */
void throttle_config_to_limits(const ThrottleConfig *cfg,
                               ThrottleLimits *limits);

/*
 * For tests: the clock new groups run on.  QEMU_CLOCK_VIRTUAL (the
 * default) follows the monotonic clock unless a test made it manual.
 */
void throttle_groups_set_clock_type(QEMUClockType type);

/* ---- I/O limits of a BlockBackend (block_set_io_throttle) ---- */

/* The backend's membership (defined in block/block-backend.c). */
ThrottleGroupMember *blk_get_throttle_group_member(BlockBackend *blk);

void blk_io_limits_enable(BlockBackend *blk, const char *group);
/* Leave the group after releasing and finishing queued requests. */
void blk_io_limits_disable(BlockBackend *blk);
void blk_io_limits_update_group(BlockBackend *blk, const char *group);
void blk_set_io_limits(BlockBackend *blk, ThrottleConfig *cfg);

/*
 * The throttle members of @info (bps ... iops_size, group) for the
 * backend @blk (may be NULL), as query-block and query-named-block-nodes
 * report them: zero and absent when it is not throttled.
 */
void bdrv_fill_throttle_info(BlockDeviceInfo *info, BlockBackend *blk);

#endif

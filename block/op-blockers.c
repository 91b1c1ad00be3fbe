/*
 * Operation blockers: a job, an export or the monitor marks a node so that
 * operations which would break its work (resize, deletion, another job)
 * are refused with the reason it gave.
 */
#include "strata/osdep.h"
#include "block/block_int.h"

struct BdrvOpBlocker {
    Error *reason;
    QLIST_ENTRY(BdrvOpBlocker) next;
};

bool bdrv_op_is_blocked(BlockDriverState *bs, BlockOpType op, Error **errp)
{
    BdrvOpBlocker *blocker;

    assert(op >= 0 && op < BLOCK_OP_TYPE_MAX);
    blocker = QLIST_FIRST(&bs->op_blockers[op]);
    if (!blocker) {
        return false;
    }
    error_setg(errp, "Node '%s' is busy: %s",
               bdrv_get_device_or_node_name(bs),
               error_get_pretty(blocker->reason));
    return true;
}

void bdrv_op_block(BlockDriverState *bs, BlockOpType op, Error *reason)
{
    BdrvOpBlocker *blocker = g_new0(BdrvOpBlocker, 1);

    assert(op >= 0 && op < BLOCK_OP_TYPE_MAX);
    blocker->reason = reason;
    QLIST_INSERT_HEAD(&bs->op_blockers[op], blocker, next);
}

void bdrv_op_unblock(BlockDriverState *bs, BlockOpType op, Error *reason)
{
    BdrvOpBlocker *blocker, *next;

    assert(op >= 0 && op < BLOCK_OP_TYPE_MAX);
    QLIST_FOREACH_SAFE(blocker, &bs->op_blockers[op], next, next) {
        if (blocker->reason == reason) {
            QLIST_REMOVE(blocker, next);
            g_free(blocker);
        }
    }
}

void bdrv_op_block_all(BlockDriverState *bs, Error *reason)
{
    for (int i = 0; i < BLOCK_OP_TYPE_MAX; i++) {
        bdrv_op_block(bs, i, reason);
    }
}

void bdrv_op_unblock_all(BlockDriverState *bs, Error *reason)
{
    for (int i = 0; i < BLOCK_OP_TYPE_MAX; i++) {
        bdrv_op_unblock(bs, i, reason);
    }
}

bool bdrv_op_blocker_is_empty(BlockDriverState *bs)
{
    for (int i = 0; i < BLOCK_OP_TYPE_MAX; i++) {
        if (!QLIST_EMPTY(&bs->op_blockers[i])) {
            return false;
        }
    }
    return true;
}

/*
 * The `transaction` command's framework: each action kind has prepare,
 * commit, abort and clean steps; all actions are prepared in order, then
 * all committed, or (if one prepare failed) the prepared ones aborted in
 * reverse order.  Jobs the actions create share a JobTxn when the
 * completion mode is grouped.
 */
#ifndef BLOCK_TRANSACTION_H
#define BLOCK_TRANSACTION_H

#include "block/job.h"
#include "qapi/qapi-types.h"

typedef struct BlkActionState BlkActionState;

typedef struct BlkActionOps {
    /* Size of the action's state, which starts with a BlkActionState. */
    size_t instance_size;
    void (*prepare)(BlkActionState *common, Error **errp);
    void (*commit)(BlkActionState *common);
    void (*abort)(BlkActionState *common);
    void (*clean)(BlkActionState *common);
} BlkActionOps;

struct BlkActionState {
    TransactionAction *action;
    const BlkActionOps *ops;
    /* The transaction's jobs (grouped mode), NULL for individual. */
    JobTxn *block_job_txn;
    /* completion-mode is always set. */
    TransactionProperties *txn_props;
};

/*
 * Actions that start no job refuse grouped completion: "Action '%s' does
 * not support Transaction property completion-mode = %s".
 */
int action_check_completion_mode(BlkActionState *s, Error **errp);

/* Run one action as a transaction of its own (blockdev-backup ...). */
void blockdev_do_action(TransactionAction *action, Error **errp);

/* The actions, defined by the files that implement them. */
extern const BlkActionOps blockdev_backup_action_ops;
extern const BlkActionOps drive_backup_action_ops;
extern const BlkActionOps external_snapshot_action_ops;
extern const BlkActionOps internal_snapshot_action_ops;

#endif

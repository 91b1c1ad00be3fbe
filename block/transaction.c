/*
 * The `transaction` command: actions prepared in order, then committed
 * together or aborted in reverse order; grouped completion puts the jobs
 * they start in one JobTxn.  Also the 'abort' action.
 */
#include "strata/osdep.h"
#include "block/block.h"
#include "block/dirty-bitmap-qmp.h"
#include "block/transaction.h"
#include "qapi/qapi-commands.h"

/* ---- the 'abort' action ---- */

static void abort_prepare(BlkActionState *common, Error **errp)
{
    error_setg(errp, "Transaction aborted using Abort action");
}

static void abort_commit(BlkActionState *common)
{
    g_assert_not_reached();
}

static const BlkActionOps abort_action_ops = {
    .instance_size = sizeof(BlkActionState),
    .prepare = abort_prepare,
    .commit = abort_commit,
};

/* ---- the bitmap actions (block/dirty-bitmap-qmp.c does the work) ---- */

typedef struct BitmapTxnState {
    BlkActionState common;
    /* NULL when prepare failed or the action ended. */
    BitmapActionState *bitmap_state;
} BitmapTxnState;

static void bitmap_txn_prepare(BlkActionState *common, Error **errp)
{
    BitmapTxnState *s = container_of(common, BitmapTxnState, common);

    if (action_check_completion_mode(common, errp) < 0) {
        return;
    }
    s->bitmap_state = bitmap_action_prepare(common->action, errp);
}

static void bitmap_txn_commit(BlkActionState *common)
{
    BitmapTxnState *s = container_of(common, BitmapTxnState, common);

    bitmap_action_commit(g_steal_pointer(&s->bitmap_state));
}

static void bitmap_txn_abort(BlkActionState *common)
{
    BitmapTxnState *s = container_of(common, BitmapTxnState, common);

    /* Also called for the action whose prepare failed. */
    if (s->bitmap_state) {
        bitmap_action_abort(g_steal_pointer(&s->bitmap_state));
    }
}

static const BlkActionOps bitmap_action_ops = {
    .instance_size = sizeof(BitmapTxnState),
    .prepare = bitmap_txn_prepare,
    .commit = bitmap_txn_commit,
    .abort = bitmap_txn_abort,
};

static const BlkActionOps *action_ops(TransactionActionKind kind)
{
    switch (kind) {
    case TRANSACTION_ACTION_KIND_ABORT:
        return &abort_action_ops;
    case TRANSACTION_ACTION_KIND_BLOCKDEV_BACKUP:
        return &blockdev_backup_action_ops;
    case TRANSACTION_ACTION_KIND_DRIVE_BACKUP:
        return &drive_backup_action_ops;
    case TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT:
    case TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT_SYNC:
        return &external_snapshot_action_ops;
    case TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT_INTERNAL_SYNC:
        return &internal_snapshot_action_ops;
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ADD:
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_REMOVE:
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_CLEAR:
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ENABLE:
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_DISABLE:
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_MERGE:
        assert(bitmap_action_kind_is_bitmap(kind));
        return &bitmap_action_ops;
    default:
        g_assert_not_reached();
    }
}

int action_check_completion_mode(BlkActionState *s, Error **errp)
{
    if (s->txn_props->completion_mode != ACTION_COMPLETION_MODE_INDIVIDUAL) {
        error_setg(errp, "Action '%s' does not support Transaction property "
                   "completion-mode = %s",
                   TransactionActionKind_str(s->action->type),
                   ActionCompletionMode_str(s->txn_props->completion_mode));
        return -1;
    }
    return 0;
}

void qmp_transaction(TransactionActionList *actions, bool has_properties,
                     TransactionProperties *properties, Error **errp)
{
    g_autoptr(GPtrArray) states = g_ptr_array_new_with_free_func(g_free);
    TransactionProperties props = { .has_completion_mode = true };
    JobTxn *block_job_txn = NULL;
    BlkActionState *state;
    Error *local_err = NULL;
    guint i;

    props.completion_mode = has_properties && properties->has_completion_mode
                            ? properties->completion_mode
                            : ACTION_COMPLETION_MODE_INDIVIDUAL;
    /* Jobs that stand or fall together share one job transaction. */
    if (props.completion_mode != ACTION_COMPLETION_MODE_INDIVIDUAL) {
        block_job_txn = job_txn_new();
    }

    /* Nothing is in flight while the actions look at the graph. */
    bdrv_drain_all();

    /* Prepare everything; nothing here commits us yet. */
    for (TransactionActionList *l = actions; l; l = l->next) {
        const BlkActionOps *ops = action_ops(l->value->type);

        assert(ops->instance_size >= sizeof(BlkActionState));
        state = g_malloc0(ops->instance_size);
        state->ops = ops;
        state->action = l->value;
        state->block_job_txn = block_job_txn;
        state->txn_props = &props;
        g_ptr_array_add(states, state);

        state->ops->prepare(state, &local_err);
        if (local_err) {
            error_propagate(errp, local_err);
            goto abort;
        }
    }

    for (i = 0; i < states->len; i++) {
        state = states->pdata[i];
        if (state->ops->commit) {
            state->ops->commit(state);
        }
    }
    goto clean;

abort:
    /* All or nothing: undo what was prepared, newest first. */
    for (i = states->len; i-- > 0;) {
        state = states->pdata[i];
        if (state->ops->abort) {
            state->ops->abort(state);
        }
    }
clean:
    for (i = 0; i < states->len; i++) {
        state = states->pdata[i];
        if (state->ops->clean) {
            state->ops->clean(state);
        }
    }
    job_txn_unref(block_job_txn);
}

void blockdev_do_action(TransactionAction *action, Error **errp)
{
    TransactionActionList list = { .value = action };

    qmp_transaction(&list, false, NULL, errp);
}

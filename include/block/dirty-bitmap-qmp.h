/*
 * The block-dirty-bitmap-* QMP commands, and the same operations split
 * into prepare / commit / abort for the transaction command.
 */
#ifndef BLOCK_DIRTY_BITMAP_QMP_H
#define BLOCK_DIRTY_BITMAP_QMP_H

#include "block/dirty-bitmap.h"
#include "qapi/qapi-types.h"

/*
 * The bitmap @name of the node or device @node, as every bitmap command
 * finds it; *pbs (if not NULL) gets the node.  Errors, as QEMU: "Node
 * 'NODE' not found", "Dirty bitmap 'NAME' not found".
 */
BdrvDirtyBitmap *block_dirty_bitmap_lookup(const char *node,
                                           const char *name,
                                           BlockDriverState **pbs,
                                           Error **errp);

/*
 * ---- Transaction actions ----
 *
 * Each bitmap action of `transaction` is a prepare step that does the
 * work (and all of its checks) in a way that can still be undone, then
 * exactly one of commit or abort.  The contract:
 *
 *  - prepare returns NULL with @errp set when the action cannot be done;
 *    it has then changed nothing and needs neither commit nor abort.
 *    Otherwise it returns a state that the caller must end with exactly
 *    one of bitmap_action_commit() or bitmap_action_abort(); both free it.
 *  - Prepare the actions in order.  If all succeed, commit them in the
 *    same order; if one fails, abort the prepared ones in REVERSE order
 *    (an add followed by a clear of the same bitmap must be undone clear
 *    first).
 *  - While prepared, the effects are visible as QEMU makes them visible:
 *      add:     the bitmap exists (abort releases it)
 *      remove:  a persistent bitmap is already gone from the image file,
 *               the bitmap is busy (later actions on it fail) and will
 *               not be stored; commit releases it, abort makes it usable
 *               and stored again
 *      clear:   the bitmap is empty; the old bits are kept (abort puts
 *               them back, commit frees them)
 *      enable / disable: the new state is set; abort restores the old one
 *      merge:   the target has the merged bits; the old bits are kept as
 *               for clear
 *  - The error messages are QEMU 7.2's, the same as the commands'.
 *  - Bitmap actions take no part in completion-mode "grouped": the
 *    transaction refuses it for them before calling prepare (QEMU:
 *    "Action 'block-dirty-bitmap-add' does not support Transaction
 *    property completion-mode = grouped").
 */
typedef struct BitmapActionState BitmapActionState;

BitmapActionState *bitmap_add_prepare(const BlockDirtyBitmapAdd *args,
                                      Error **errp);
BitmapActionState *bitmap_remove_prepare(const BlockDirtyBitmap *args,
                                         Error **errp);
BitmapActionState *bitmap_clear_prepare(const BlockDirtyBitmap *args,
                                        Error **errp);
BitmapActionState *bitmap_enable_prepare(const BlockDirtyBitmap *args,
                                         Error **errp);
BitmapActionState *bitmap_disable_prepare(const BlockDirtyBitmap *args,
                                          Error **errp);
BitmapActionState *bitmap_merge_prepare(const BlockDirtyBitmapMerge *args,
                                        Error **errp);

/*
 * The same, dispatched on @action->type; @action must be one of the six
 * TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_* kinds.
 */
BitmapActionState *bitmap_action_prepare(const TransactionAction *action,
                                         Error **errp);
/* Whether @kind is one of the six bitmap actions. */
bool bitmap_action_kind_is_bitmap(TransactionActionKind kind);

/* Make a prepared action final, or undo it; either frees @state. */
void bitmap_action_commit(BitmapActionState *state);
void bitmap_action_abort(BitmapActionState *state);

#endif

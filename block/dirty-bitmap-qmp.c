/*
 * The block-dirty-bitmap-* QMP commands and x-debug-block-dirty-bitmap-sha256,
 * each an undoable prepare step plus commit, so transactions share them.
 */
#include "strata/osdep.h"
#include "block/dirty-bitmap-qmp.h"
#include "block/block_int.h"
#include "qapi/qapi-commands.h"
#include "util/error.h"

BdrvDirtyBitmap *block_dirty_bitmap_lookup(const char *node,
                                           const char *name,
                                           BlockDriverState **pbs,
                                           Error **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(node, node, NULL);
    BdrvDirtyBitmap *bitmap;

    if (!bs) {
        error_setg(errp, "Node '%s' not found", node);
        return NULL;
    }
    bitmap = bdrv_find_dirty_bitmap(bs, name);
    if (!bitmap) {
        error_setg(errp, "Dirty bitmap '%s' not found", name);
        return NULL;
    }
    if (pbs) {
        *pbs = bs;
    }
    return bitmap;
}

/* ---- the undo records ---- */

struct BitmapActionState {
    TransactionActionKind kind;
    BdrvDirtyBitmap *bitmap;
    HBitmap *backup;            /* clear, merge: the bits before */
    bool was_enabled;           /* enable, disable: the state before */
};

static BitmapActionState *action_state_new(TransactionActionKind kind,
                                           BdrvDirtyBitmap *bitmap)
{
    BitmapActionState *s = g_new0(BitmapActionState, 1);

    s->kind = kind;
    s->bitmap = bitmap;
    return s;
}

/* ---- prepare ---- */

BitmapActionState *bitmap_add_prepare(const BlockDirtyBitmapAdd *args,
                                      Error **errp)
{
    BlockDriverState *bs;
    BdrvDirtyBitmap *bitmap;
    uint32_t granularity;
    bool persistent = args->has_persistent && args->persistent;

    if (!args->name[0]) {
        error_setg(errp, "Bitmap name cannot be empty");
        return NULL;
    }
    bs = bdrv_lookup_bs(args->node, args->node, errp);
    if (!bs) {
        return NULL;
    }
    if (args->has_granularity) {
        granularity = args->granularity;
        if (granularity < BDRV_SECTOR_SIZE || !is_power_of_2(granularity)) {
            error_setg(errp, "Granularity must be power of 2 and at least "
                       "512");
            return NULL;
        }
    } else {
        granularity = bdrv_get_default_bitmap_granularity(bs);
    }
    /* QEMU asks the format first, so its reasons win over a duplicate. */
    if (persistent &&
        !bdrv_can_store_new_dirty_bitmap(bs, args->name, granularity, errp)) {
        return NULL;
    }
    bitmap = bdrv_create_dirty_bitmap(bs, granularity, args->name, errp);
    if (!bitmap) {
        return NULL;
    }
    if (args->has_disabled && args->disabled) {
        bdrv_disable_dirty_bitmap(bitmap);
    }
    bdrv_dirty_bitmap_set_persistence(bitmap, persistent);
    return action_state_new(TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ADD,
                            bitmap);
}

BitmapActionState *bitmap_remove_prepare(const BlockDirtyBitmap *args,
                                         Error **errp)
{
    BlockDriverState *bs;
    BdrvDirtyBitmap *bitmap;

    bitmap = block_dirty_bitmap_lookup(args->node, args->name, &bs, errp);
    if (!bitmap) {
        return NULL;
    }
    /* An inconsistent bitmap may be removed: that is all it is good for. */
    if (bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_BUSY | BDRV_BITMAP_RO,
                                errp)) {
        return NULL;
    }
    /*
     * As QEMU: the image loses the bitmap now; an abort only stops
     * skipping it, so that closing the node stores it again.
     */
    if (bdrv_dirty_bitmap_get_persistence(bitmap) &&
        bdrv_remove_persistent_dirty_bitmap(bs, args->name, errp) < 0) {
        return NULL;
    }
    bdrv_dirty_bitmap_skip_store(bitmap, true);
    bdrv_dirty_bitmap_set_busy(bitmap, true);
    return action_state_new(TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_REMOVE,
                            bitmap);
}

BitmapActionState *bitmap_clear_prepare(const BlockDirtyBitmap *args,
                                        Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    BitmapActionState *s;

    bitmap = block_dirty_bitmap_lookup(args->node, args->name, NULL, errp);
    if (!bitmap ||
        bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_DEFAULT, errp)) {
        return NULL;
    }
    s = action_state_new(TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_CLEAR,
                         bitmap);
    bdrv_clear_dirty_bitmap(bitmap, &s->backup);
    return s;
}

/* Enable (@enable) or disable a bitmap, remembering the old state. */
static BitmapActionState *set_enabled_prepare(const BlockDirtyBitmap *args,
                                              TransactionActionKind kind,
                                              bool enable, Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    BitmapActionState *s;

    bitmap = block_dirty_bitmap_lookup(args->node, args->name, NULL, errp);
    if (!bitmap ||
        bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_ALLOW_RO, errp)) {
        return NULL;
    }
    s = action_state_new(kind, bitmap);
    s->was_enabled = bdrv_dirty_bitmap_enabled(bitmap);
    if (enable) {
        bdrv_enable_dirty_bitmap(bitmap);
    } else {
        bdrv_disable_dirty_bitmap(bitmap);
    }
    return s;
}

BitmapActionState *bitmap_enable_prepare(const BlockDirtyBitmap *args,
                                         Error **errp)
{
    return set_enabled_prepare(args,
                               TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ENABLE,
                               true, errp);
}

BitmapActionState *bitmap_disable_prepare(const BlockDirtyBitmap *args,
                                          Error **errp)
{
    return set_enabled_prepare(args,
                               TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_DISABLE,
                               false, errp);
}

/* The source a merge list entry names; local names are on @bs. */
static BdrvDirtyBitmap *merge_source(BlockDriverState *bs,
                                     const BlockDirtyBitmapOrStr *src,
                                     Error **errp)
{
    BdrvDirtyBitmap *bitmap;

    if (src->type != QTYPE_QSTRING) {
        return block_dirty_bitmap_lookup(src->u.external.node,
                                         src->u.external.name, NULL, errp);
    }
    bitmap = bdrv_find_dirty_bitmap(bs, src->u.local);
    if (!bitmap) {
        error_setg(errp, "Dirty bitmap '%s' not found", src->u.local);
    }
    return bitmap;
}

BitmapActionState *bitmap_merge_prepare(const BlockDirtyBitmapMerge *args,
                                        Error **errp)
{
    BlockDriverState *bs;
    BdrvDirtyBitmap *dest;
    BitmapActionState *s;

    dest = block_dirty_bitmap_lookup(args->node, args->target, &bs, errp);
    if (!dest) {
        return NULL;
    }
    s = action_state_new(TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_MERGE,
                         dest);
    /*
     * Sources merge into the target one by one, each checked as it comes
     * (QEMU's order of errors); the bits before the first merge are the
     * backup.  An empty list changes nothing (QEMU 7.2 crashes there).
     */
    for (const BlockDirtyBitmapOrStrList *l = args->bitmaps; l;
         l = l->next) {
        BdrvDirtyBitmap *src = merge_source(bs, l->value, errp);

        if (!src ||
            !bdrv_merge_dirty_bitmap(dest, src, s->backup ? NULL : &s->backup,
                                     errp)) {
            bitmap_action_abort(s);
            return NULL;
        }
    }
    return s;
}

/* ---- commit and abort ---- */

typedef struct BitmapActionOps {
    BitmapActionState *(*prepare)(const TransactionAction *action,
                                  Error **errp);
    void (*commit)(BitmapActionState *s);
    void (*abort)(BitmapActionState *s);
} BitmapActionOps;

static void add_abort(BitmapActionState *s)
{
    bdrv_release_dirty_bitmap(s->bitmap);
}

static void remove_commit(BitmapActionState *s)
{
    bdrv_dirty_bitmap_set_busy(s->bitmap, false);
    bdrv_release_dirty_bitmap(s->bitmap);
}

static void remove_abort(BitmapActionState *s)
{
    bdrv_dirty_bitmap_skip_store(s->bitmap, false);
    bdrv_dirty_bitmap_set_busy(s->bitmap, false);
}

/* clear, merge */
static void backup_commit(BitmapActionState *s)
{
    g_clear_pointer(&s->backup, hbitmap_free);
}

static void backup_abort(BitmapActionState *s)
{
    if (s->backup) {
        bdrv_restore_dirty_bitmap(s->bitmap, s->backup);
        s->backup = NULL;
    }
}

/* enable, disable */
static void enabled_abort(BitmapActionState *s)
{
    if (s->was_enabled) {
        bdrv_enable_dirty_bitmap(s->bitmap);
    } else {
        bdrv_disable_dirty_bitmap(s->bitmap);
    }
}

static BitmapActionState *prepare_add(const TransactionAction *a,
                                      Error **errp)
{
    return bitmap_add_prepare(a->u.block_dirty_bitmap_add.data, errp);
}

static BitmapActionState *prepare_remove(const TransactionAction *a,
                                         Error **errp)
{
    return bitmap_remove_prepare(a->u.block_dirty_bitmap_remove.data, errp);
}

static BitmapActionState *prepare_clear(const TransactionAction *a,
                                        Error **errp)
{
    return bitmap_clear_prepare(a->u.block_dirty_bitmap_clear.data, errp);
}

static BitmapActionState *prepare_enable(const TransactionAction *a,
                                         Error **errp)
{
    return bitmap_enable_prepare(a->u.block_dirty_bitmap_enable.data, errp);
}

static BitmapActionState *prepare_disable(const TransactionAction *a,
                                          Error **errp)
{
    return bitmap_disable_prepare(a->u.block_dirty_bitmap_disable.data,
                                  errp);
}

static BitmapActionState *prepare_merge(const TransactionAction *a,
                                        Error **errp)
{
    return bitmap_merge_prepare(a->u.block_dirty_bitmap_merge.data, errp);
}

static const BitmapActionOps action_ops[TRANSACTION_ACTION_KIND__MAX] = {
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ADD] = {
        prepare_add, NULL, add_abort },
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_REMOVE] = {
        prepare_remove, remove_commit, remove_abort },
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_CLEAR] = {
        prepare_clear, backup_commit, backup_abort },
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ENABLE] = {
        prepare_enable, NULL, enabled_abort },
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_DISABLE] = {
        prepare_disable, NULL, enabled_abort },
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_MERGE] = {
        prepare_merge, backup_commit, backup_abort },
};

bool bitmap_action_kind_is_bitmap(TransactionActionKind kind)
{
    return kind >= 0 && kind < TRANSACTION_ACTION_KIND__MAX &&
           action_ops[kind].prepare;
}

BitmapActionState *bitmap_action_prepare(const TransactionAction *action,
                                         Error **errp)
{
    assert(bitmap_action_kind_is_bitmap(action->type));
    return action_ops[action->type].prepare(action, errp);
}

void bitmap_action_commit(BitmapActionState *state)
{
    if (action_ops[state->kind].commit) {
        action_ops[state->kind].commit(state);
    }
    g_free(state);
}

void bitmap_action_abort(BitmapActionState *state)
{
    action_ops[state->kind].abort(state);
    g_free(state);
}

/* ---- the commands: prepare, then commit at once ---- */

static void run_now(BitmapActionState *state)
{
    if (state) {
        bitmap_action_commit(state);
    }
}

void qmp_block_dirty_bitmap_add(const char *node, const char *name,
                                bool has_granularity, uint32_t granularity,
                                bool has_persistent, bool persistent,
                                bool has_disabled, bool disabled,
                                Error **errp)
{
    BlockDirtyBitmapAdd args = {
        .node = (char *)node, .name = (char *)name,
        .has_granularity = has_granularity, .granularity = granularity,
        .has_persistent = has_persistent, .persistent = persistent,
        .has_disabled = has_disabled, .disabled = disabled,
    };

    run_now(bitmap_add_prepare(&args, errp));
}

void qmp_block_dirty_bitmap_remove(const char *node, const char *name,
                                   Error **errp)
{
    BlockDirtyBitmap args = { .node = (char *)node, .name = (char *)name };

    run_now(bitmap_remove_prepare(&args, errp));
}

void qmp_block_dirty_bitmap_clear(const char *node, const char *name,
                                  Error **errp)
{
    BlockDirtyBitmap args = { .node = (char *)node, .name = (char *)name };

    run_now(bitmap_clear_prepare(&args, errp));
}

void qmp_block_dirty_bitmap_enable(const char *node, const char *name,
                                   Error **errp)
{
    BlockDirtyBitmap args = { .node = (char *)node, .name = (char *)name };

    run_now(bitmap_enable_prepare(&args, errp));
}

void qmp_block_dirty_bitmap_disable(const char *node, const char *name,
                                    Error **errp)
{
    BlockDirtyBitmap args = { .node = (char *)node, .name = (char *)name };

    run_now(bitmap_disable_prepare(&args, errp));
}

void qmp_block_dirty_bitmap_merge(const char *node, const char *target,
                                  BlockDirtyBitmapOrStrList *bitmaps,
                                  Error **errp)
{
    BlockDirtyBitmapMerge args = {
        .node = (char *)node, .target = (char *)target, .bitmaps = bitmaps,
    };

    run_now(bitmap_merge_prepare(&args, errp));
}

BlockDirtyBitmapSha256 *qmp_x_debug_block_dirty_bitmap_sha256(
    const char *node, const char *name, Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    BlockDirtyBitmapSha256 *ret;
    char *sha256;

    bitmap = block_dirty_bitmap_lookup(node, name, NULL, errp);
    if (!bitmap) {
        return NULL;
    }
    sha256 = bdrv_dirty_bitmap_sha256(bitmap, errp);
    if (!sha256) {
        return NULL;
    }
    ret = g_new0(BlockDirtyBitmapSha256, 1);
    ret->sha256 = sha256;
    return ret;
}

/*
 * Snapshots from QMP: blockdev-snapshot-sync (create an overlay image and
 * put it on top of a node), blockdev-snapshot (the same with an existing
 * overlay node), and the internal-snapshot transaction action.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/snapshot.h"
#include "block/transaction.h"
#include "qapi/qapi-commands.h"
#include "util/qdict.h"

typedef struct ExternalSnapshotState {
    BlkActionState common;
    BlockDriverState *old_bs;
    BlockDriverState *new_bs;
    bool overlay_appended;
} ExternalSnapshotState;

/*
 * Put @bs_new on top of @bs_top: @bs_top becomes its backing node and
 * every user of @bs_top uses @bs_new instead.
 */
static int bdrv_append(BlockDriverState *bs_new, BlockDriverState *bs_top,
                       Error **errp)
{
    Error *local_err = NULL;

    bdrv_set_backing_hd(bs_new, bs_top, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        return -EPERM;
    }
    if (bdrv_replace_node(bs_top, bs_new, errp) < 0) {
        bdrv_ref(bs_top);
        bdrv_set_backing_hd(bs_new, NULL, &error_abort);
        bdrv_unref(bs_top);
        return -EPERM;
    }
    return 0;
}

static void external_snapshot_prepare(BlkActionState *common, Error **errp)
{
    ExternalSnapshotState *state = container_of(common,
                                                ExternalSnapshotState,
                                                common);
    TransactionAction *action = common->action;
    const char *device, *node_name, *snapshot_ref, *new_image_file;
    json_t *options = NULL;
    uint64_t perm, shared;
    int flags = 0;

    /* Two commands with the same purpose and different arguments. */
    if (action->type == TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT) {
        BlockdevSnapshot *s = action->u.blockdev_snapshot.data;

        device = s->node;
        node_name = s->node;
        new_image_file = NULL;
        snapshot_ref = s->overlay;
    } else {
        BlockdevSnapshotSync *s = action->u.blockdev_snapshot_sync.data;

        device = s->has_device ? s->device : NULL;
        node_name = s->has_node_name ? s->node_name : NULL;
        new_image_file = s->snapshot_file;
        snapshot_ref = NULL;
    }

    if (action_check_completion_mode(common, errp) < 0) {
        return;
    }
    state->old_bs = bdrv_lookup_bs(device, node_name, errp);
    if (!state->old_bs) {
        return;
    }
    /* Until clean. */
    bdrv_drained_begin(state->old_bs);

    if (!state->old_bs->drv) {
        error_setg(errp, "Device '%s' has no medium", device);
        return;
    }
    if (bdrv_op_is_blocked(state->old_bs, BLOCK_OP_TYPE_EXTERNAL_SNAPSHOT,
                           errp)) {
        return;
    }
    if (!bdrv_is_read_only(state->old_bs) && bdrv_flush(state->old_bs)) {
        error_setg(errp, "An IO error has occurred");
        return;
    }

    if (action->type == TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT_SYNC) {
        BlockdevSnapshotSync *s = action->u.blockdev_snapshot_sync.data;
        const char *format = s->has_format ? s->format : "qcow2";
        const char *snapshot_node_name =
            s->has_snapshot_node_name ? s->snapshot_node_name : NULL;
        NewImageMode mode = s->has_mode ? s->mode
                                        : NEW_IMAGE_MODE_ABSOLUTE_PATHS;

        if (node_name && !snapshot_node_name) {
            error_setg(errp, "New overlay node-name missing");
            return;
        }
        if (snapshot_node_name &&
            bdrv_lookup_bs(snapshot_node_name, snapshot_node_name, NULL)) {
            error_setg(errp, "New overlay node-name already in use");
            return;
        }

        flags = state->old_bs->open_flags;
        flags &= ~(BDRV_O_SNAPSHOT | BDRV_O_COPY_ON_READ);
        flags |= BDRV_O_NO_BACKING;

        if (mode != NEW_IMAGE_MODE_EXISTING) {
            int64_t size = bdrv_getlength(state->old_bs);
            Error *local_err = NULL;

            if (size < 0) {
                error_setg_errno(errp, -size, "bdrv_getlength failed");
                return;
            }
            bdrv_refresh_filename(state->old_bs);
            bdrv_img_create(new_image_file, format, state->old_bs->filename,
                            state->old_bs->drv->format_name, NULL, size,
                            flags, false, &local_err);
            if (local_err) {
                error_propagate(errp, local_err);
                return;
            }
        }
        options = json_object();
        if (snapshot_node_name) {
            qdict_put_str(options, "node-name", snapshot_node_name);
        }
        qdict_put_str(options, "driver", format);
    }

    state->new_bs = bdrv_open(new_image_file, snapshot_ref, options, flags,
                              errp);
    if (!state->new_bs) {
        return;
    }
    /*
     * An overlay already in use may get a backing node only if its users
     * do not expect to read a complete image yet (a mirror target).
     */
    bdrv_get_cumulative_perm(state->new_bs, &perm, &shared);
    if (perm & BLK_PERM_CONSISTENT_READ) {
        error_setg(errp, "The overlay is already in use");
        return;
    }
    if (state->new_bs->drv->is_filter) {
        error_setg(errp, "Filters cannot be used as overlays");
        return;
    }
    if (bdrv_cow_bs(state->new_bs)) {
        error_setg(errp, "The overlay already has a backing image");
        return;
    }
    if (!state->new_bs->drv->supports_backing) {
        error_setg(errp, "The overlay does not support backing images");
        return;
    }
    if (bdrv_append(state->new_bs, state->old_bs, errp) < 0) {
        return;
    }
    state->overlay_appended = true;
}

static void external_snapshot_commit(BlkActionState *common)
{
    ExternalSnapshotState *state = container_of(common,
                                                ExternalSnapshotState,
                                                common);

    /* The old image is a backing file now: nobody writes it any more. */
    if (!(state->old_bs->open_flags & BDRV_O_COPY_ON_READ)) {
        bdrv_reopen_set_read_only(state->old_bs, true, NULL);
    }
}

static void external_snapshot_abort(BlkActionState *common)
{
    ExternalSnapshotState *state = container_of(common,
                                                ExternalSnapshotState,
                                                common);

    if (state->new_bs && state->overlay_appended) {
        /* Users go back to the old node, which loses its overlay. */
        bdrv_ref(state->old_bs);
        bdrv_set_backing_hd(state->new_bs, NULL, &error_abort);
        bdrv_drained_begin(state->new_bs);
        bdrv_replace_node(state->new_bs, state->old_bs, &error_abort);
        bdrv_drained_end(state->new_bs);
        bdrv_unref(state->old_bs);
    }
}

static void external_snapshot_clean(BlkActionState *common)
{
    ExternalSnapshotState *state = container_of(common,
                                                ExternalSnapshotState,
                                                common);

    if (!state->old_bs) {
        return;
    }
    bdrv_drained_end(state->old_bs);
    /* The overlay lives on through the old node's users (if any). */
    if (state->new_bs) {
        bdrv_unref(state->new_bs);
    }
}

const BlkActionOps external_snapshot_action_ops = {
    .instance_size = sizeof(ExternalSnapshotState),
    .prepare = external_snapshot_prepare,
    .commit = external_snapshot_commit,
    .abort = external_snapshot_abort,
    .clean = external_snapshot_clean,
};

void qmp_blockdev_snapshot_sync(bool has_device, const char *device,
                                bool has_node_name, const char *node_name,
                                const char *snapshot_file,
                                bool has_snapshot_node_name,
                                const char *snapshot_node_name,
                                bool has_format, const char *format,
                                bool has_mode, NewImageMode mode,
                                Error **errp)
{
    BlockdevSnapshotSync snapshot = {
        .has_device = has_device,
        .device = (char *)device,
        .has_node_name = has_node_name,
        .node_name = (char *)node_name,
        .snapshot_file = (char *)snapshot_file,
        .has_snapshot_node_name = has_snapshot_node_name,
        .snapshot_node_name = (char *)snapshot_node_name,
        .has_format = has_format,
        .format = (char *)format,
        .has_mode = has_mode,
        .mode = mode,
    };
    TransactionAction action = {
        .type = TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT_SYNC,
        .u.blockdev_snapshot_sync.data = &snapshot,
    };

    blockdev_do_action(&action, errp);
}

void qmp_blockdev_snapshot(const char *node, const char *overlay,
                           Error **errp)
{
    BlockdevSnapshot snapshot = {
        .node = (char *)node,
        .overlay = (char *)overlay,
    };
    TransactionAction action = {
        .type = TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT,
        .u.blockdev_snapshot.data = &snapshot,
    };

    blockdev_do_action(&action, errp);
}

/* ---- internal snapshots (transaction action) ---- */

typedef struct InternalSnapshotState {
    BlkActionState common;
    BlockDriverState *bs;
    QEMUSnapshotInfo sn;
    bool created;
} InternalSnapshotState;

/* A node no other node uses (the top of a graph). */
static BlockDriverState *get_root_bs(const char *name, Error **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(name, name, errp);
    BdrvChild *c;

    if (!bs) {
        return NULL;
    }
    QLIST_FOREACH(c, &bs->parents, next_parent) {
        if (c->klass->parent_is_bds) {
            error_setg(errp, "Need a root block node");
            return NULL;
        }
    }
    if (!bs->drv) {
        error_setg(errp, "Device has no medium");
        return NULL;
    }
    return bs;
}

static bool snapshot_name_exists(BlockDriverState *bs, const char *name)
{
    QEMUSnapshotInfo *list;
    int n = bdrv_snapshot_list(bs, &list);
    bool found = false;

    for (int i = 0; i < n && !found; i++) {
        found = !strcmp(list[i].name, name);
    }
    if (n > 0) {
        g_free(list);
    }
    return found;
}

static void internal_snapshot_prepare(BlkActionState *common, Error **errp)
{
    InternalSnapshotState *state = container_of(common,
                                                InternalSnapshotState,
                                                common);
    BlockdevSnapshotInternal *internal =
        common->action->u.blockdev_snapshot_internal_sync.data;
    const char *device = internal->device;
    const char *name = internal->name;
    QEMUSnapshotInfo *sn = &state->sn;
    BlockDriverState *bs;
    int64_t rt;
    int ret;

    if (action_check_completion_mode(common, errp) < 0) {
        return;
    }
    bs = get_root_bs(device, errp);
    if (!bs) {
        return;
    }
    state->bs = bs;
    bdrv_drained_begin(bs);

    if (bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_INTERNAL_SNAPSHOT, errp)) {
        return;
    }
    if (bdrv_is_read_only(bs)) {
        error_setg(errp, "Device '%s' is read only", device);
        return;
    }
    if (!bdrv_can_snapshot(bs)) {
        error_setg(errp, "Block format '%s' used by device '%s' does not "
                   "support internal snapshots", bs->drv->format_name,
                   device);
        return;
    }
    if (!strlen(name)) {
        error_setg(errp, "Name is empty");
        return;
    }
    if (snapshot_name_exists(bs, name)) {
        error_setg(errp, "Snapshot with name '%s' already exists on device "
                   "'%s'", name, device);
        return;
    }

    g_strlcpy(sn->name, name, sizeof(sn->name));
    rt = g_get_real_time();
    sn->date_sec = rt / G_USEC_PER_SEC;
    sn->date_nsec = (rt % G_USEC_PER_SEC) * 1000;
    sn->vm_clock_nsec = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    sn->icount = -1ULL;
    ret = bdrv_snapshot_create(bs, sn, NULL);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to create snapshot '%s' on "
                         "device '%s'", name, device);
        return;
    }
    state->created = true;
}

static void internal_snapshot_abort(BlkActionState *common)
{
    InternalSnapshotState *state = container_of(common,
                                                InternalSnapshotState,
                                                common);
    QEMUSnapshotInfo *sn = &state->sn;
    Error *local_err = NULL;

    if (!state->created) {
        return;
    }
    if (bdrv_snapshot_delete(state->bs, sn->id_str, sn->name,
                             &local_err) < 0) {
        error_prepend(&local_err, "Failed to delete snapshot with id '%s' "
                      "and name '%s' on device '%s' in abort: ", sn->id_str,
                      sn->name, bdrv_get_device_name(state->bs));
        error_report_err(local_err);
    }
}

static void internal_snapshot_clean(BlkActionState *common)
{
    InternalSnapshotState *state = container_of(common,
                                                InternalSnapshotState,
                                                common);

    if (state->bs) {
        bdrv_drained_end(state->bs);
    }
}

const BlkActionOps internal_snapshot_action_ops = {
    .instance_size = sizeof(InternalSnapshotState),
    .prepare = internal_snapshot_prepare,
    .abort = internal_snapshot_abort,
    .clean = internal_snapshot_clean,
};

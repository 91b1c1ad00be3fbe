/*
 * Generic internal-snapshot operations: dispatch to the format driver
 * (through filters) and the ID-or-name lookup qemu-img uses.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/snapshot.h"

/* Snapshots live in the first node below filters that supports them. */
static BlockDriverState *snapshot_node(BlockDriverState *bs)
{
    while (bs && bs->drv && !bs->drv->bdrv_snapshot_list) {
        BlockDriverState *next = bdrv_filter_bs(bs);

        if (!next && bs->file && bs->drv->is_format) {
            /* raw over a qcow2 file would be odd; stop at formats */
            return NULL;
        }
        bs = next;
    }
    return bs;
}

bool bdrv_can_snapshot(BlockDriverState *bs)
{
    BlockDriverState *s = snapshot_node(bs);

    return s && s->drv && s->drv->bdrv_snapshot_create &&
           !bdrv_is_read_only(s);
}

int bdrv_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_info)
{
    BlockDriverState *s = snapshot_node(bs);

    *psn_info = NULL;
    if (!s || !s->drv) {
        return -ENOTSUP;
    }
    return s->drv->bdrv_snapshot_list(s, psn_info);
}

/* -ENOTSUP (without an error set) where the format has no snapshots. */
int bdrv_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                         Error **errp)
{
    BlockDriverState *s = snapshot_node(bs);

    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!s || !s->drv || !s->drv->bdrv_snapshot_create) {
        return -ENOTSUP;
    }
    return s->drv->bdrv_snapshot_create(s, sn_info, errp);
}

int bdrv_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                       Error **errp)
{
    BlockDriverState *s = snapshot_node(bs);
    Error *local_err = NULL;
    int ret;

    if (!s || !s->drv || !s->drv->bdrv_snapshot_goto) {
        if (bs->drv == &bdrv_raw) {
            /*
             * QEMU tries the file below raw and reopens raw afterwards,
             * which repeats its probing warning; scripts see it twice.
             */
            raw_probe_warning(bs);
        }
        error_setg(errp, "Block driver does not support snapshots");
        return -ENOTSUP;
    }
    ret = s->drv->bdrv_snapshot_goto(s, snapshot_id, &local_err);
    if (ret < 0 && !local_err) {
        error_setg_errno(&local_err, -ret, "Failed to load snapshot");
    }
    error_propagate(errp, local_err);
    return ret;
}

int bdrv_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                         const char *name, Error **errp)
{
    BlockDriverState *s = snapshot_node(bs);

    if (!snapshot_id && !name) {
        error_setg(errp, "snapshot_id and name are both NULL");
        return -EINVAL;
    }
    if (!s || !s->drv || !s->drv->bdrv_snapshot_delete) {
        error_setg(errp, "Block format '%s' used by device '%s' does not "
                   "support feature 'internal snapshots'",
                   bs->drv ? bs->drv->format_name : "",
                   bdrv_get_device_or_node_name(bs));
        return -ENOTSUP;
    }
    bdrv_drained_begin(s);
    {
        int ret = s->drv->bdrv_snapshot_delete(s, snapshot_id, name, errp);
        bdrv_drained_end(s);
        return ret;
    }
}

int bdrv_snapshot_delete_by_id_or_name(BlockDriverState *bs,
                                       const char *id_or_name, Error **errp)
{
    Error *local_err = NULL;
    int ret;

    ret = bdrv_snapshot_delete(bs, id_or_name, NULL, &local_err);
    if (ret == -ENOENT || ret == -EINVAL) {
        error_free(local_err);
        local_err = NULL;
        ret = bdrv_snapshot_delete(bs, NULL, id_or_name, &local_err);
    }
    if (ret < 0) {
        error_propagate(errp, local_err);
    }
    return ret;
}

bool bdrv_snapshot_find(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                        const char *name_or_id)
{
    QEMUSnapshotInfo *list;
    int n = bdrv_snapshot_list(bs, &list);
    bool found = false;

    for (int i = 0; i < n && !found; i++) {
        if (!strcmp(list[i].id_str, name_or_id)) {
            *sn_info = list[i];
            found = true;
        }
    }
    for (int i = 0; i < n && !found; i++) {
        if (!strcmp(list[i].name, name_or_id)) {
            *sn_info = list[i];
            found = true;
        }
    }
    g_free(list);
    return found;
}

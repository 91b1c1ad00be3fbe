/*
 * Internal snapshots of a node (qcow2's): listing, creating, applying and
 * deleting, with the lookup rules qemu-img uses (by ID, then by name).
 */
#ifndef BLOCK_SNAPSHOT_H
#define BLOCK_SNAPSHOT_H

#include "block/block.h"

typedef struct QEMUSnapshotInfo {
    char id_str[128];
    char name[256];
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;            /* -1 when not recorded */
} QEMUSnapshotInfo;

/* Number of snapshots (array in *@psn_info, caller frees) or -errno. */
int bdrv_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_info);
int bdrv_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                         Error **errp);
int bdrv_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                       Error **errp);
int bdrv_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                         const char *name, Error **errp);
/* Delete the snapshot whose ID is @id_or_name, or else whose name is. */
int bdrv_snapshot_delete_by_id_or_name(BlockDriverState *bs,
                                       const char *id_or_name, Error **errp);
/* Find a snapshot by ID or name; true and *@sn_info filled if found. */
bool bdrv_snapshot_find(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                        const char *name_or_id);
bool bdrv_can_snapshot(BlockDriverState *bs);

#endif

/*
 * Nodes owned by the monitor (blockdev-add, --blockdev) and the node
 * descriptions of QMP queries.
 */
#ifndef BLOCK_BLOCKDEV_H
#define BLOCK_BLOCKDEV_H

#include "block/block.h"

/*
 * Open a node from flat options (dotted keys; the reference is taken
 * over) with the monitor's defaults, as blockdev-add does, and keep it
 * until blockdev-del or blockdev_close_all().
 */
BlockDriverState *blockdev_add_flat(json_t *options, Error **errp);
BlockDriverState *blockdev_add(BlockdevOptions *options, Error **errp);
/* Drop the monitor's nodes (newest first) and drain what remains. */
void blockdev_close_all(void);

/* BlockDeviceInfo of @bs (seen through @blk if not NULL), as QMP shows. */
BlockDeviceInfo *bdrv_block_device_info(BlockBackend *blk,
                                        BlockDriverState *bs, bool flat,
                                        Error **errp);

#endif

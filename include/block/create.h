/*
 * Image creation from QMP (blockdev-create): the job that runs a driver's
 * bdrv_co_create, and what drivers need to open the nodes it names.
 */
#ifndef BLOCK_CREATE_H
#define BLOCK_CREATE_H

#include "block/block.h"

/*
 * Open a node given as a BlockdevRef: an existing node by name (a new
 * reference), or a definition opened with the monitor's defaults.
 */
BlockDriverState *blockdev_open_ref(BlockdevRef *ref, Error **errp);

#endif

/*
 * Dirty bitmaps as NBD metadata contexts: finds the bitmap an export names
 * and wraps it in the NBD server's NBDDirtySource interface.
 */
#ifndef BLOCK_NBD_BITMAP_H
#define BLOCK_NBD_BITMAP_H

#include "block/block.h"
#include "nbd/server.h"

/*
 * The bitmap @which names: a name looked up on @bs and then down its
 * filter and backing chain, or an explicit {node, name}.  It is marked
 * busy until the source is released.  For a read-only export an enabled
 * bitmap on a writable node is refused (it could change under the
 * client).  Errors: "Bitmap '%s' is not found", "Enabled bitmap '%s'
 * incompatible with readonly export", and the busy / inconsistent checks
 * of the bitmap layer.
 */
NBDDirtySource *nbd_dirty_source_new(BlockDriverState *bs,
                                     const BlockDirtyBitmapOrStr *which,
                                     bool readonly, Error **errp);

#endif

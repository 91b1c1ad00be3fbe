/*
 * qemu:dirty-bitmap:NAME contexts for NBD exports, over the block layer's
 * dirty bitmaps (none exist until the bitmap layer lands: lookups fail).
 */
#include "strata/osdep.h"
#include "block/nbd-bitmap.h"
#include "util/error.h"

NBDDirtySource *nbd_dirty_source_new(BlockDriverState *bs,
                                     const BlockDirtyBitmapOrStr *which,
                                     bool readonly, Error **errp)
{
    const char *name = which->type == QTYPE_QSTRING
                       ? which->u.local : which->u.external.name;

    error_setg(errp, "Bitmap '%s' is not found", name);
    return NULL;
}

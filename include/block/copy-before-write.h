/*
 * The copy-before-write filter: before a write reaches the filtered node,
 * the old data of the clusters it touches is copied to a target node.
 */
#ifndef BLOCK_COPY_BEFORE_WRITE_H
#define BLOCK_COPY_BEFORE_WRITE_H

#include "block/block-copy.h"

/*
 * Insert a copy-before-write node (named @filter_node_name, or a
 * generated name) above @source, copying to @target, and move every user
 * of @source onto it.  *bcs receives the filter's copy state, which a
 * backup job drives as well.  Errors: "Could not create node: ...",
 * "Could not replace node: ...".
 */
BlockDriverState *bdrv_cbw_append(BlockDriverState *source,
                                  BlockDriverState *target,
                                  const char *filter_node_name,
                                  BlockCopyState **bcs, Error **errp);
/* Move the filter's users back to its child and drop the filter. */
void bdrv_cbw_drop(BlockDriverState *bs);

#endif

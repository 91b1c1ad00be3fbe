/*
 * Image information as QMP and qemu-img report it (QAPI ImageInfo, as a
 * JSON object) and its human-readable rendering.
 */
#ifndef BLOCK_QAPI_INFO_H
#define BLOCK_QAPI_INFO_H

#include "block/block.h"
#include "block/snapshot.h"
#include <jansson.h>

/*
 * ImageInfo of @bs: "filename", "format", "virtual-size", "actual-size"
 * (if known), "encrypted" (if so), "cluster-size" and "dirty-flag" (if the
 * driver reports them), "format-specific" (if the driver has any),
 * "backing-filename", "full-backing-filename" and
 * "backing-filename-format" (for images with a backing file), and
 * "snapshots" (if the image has internal snapshots).  Members are
 * added in schema order; print with json_to_string_qemu() for QEMU's order.
 * Returns a new reference, or NULL with @errp set.
 */
json_t *bdrv_query_image_info(BlockDriverState *bs, Error **errp);

/*
 * Add "snapshots" (SnapshotInfo objects) to @info if @bs has internal
 * snapshots; formats without snapshot support add nothing.  0 or -errno.
 */
int bdrv_query_snapshot_info_list(BlockDriverState *bs, json_t *info,
                                  Error **errp);
/* One SnapshotInfo object (QMP / qemu-img info --output=json). */
json_t *bdrv_snapshot_info(const QEMUSnapshotInfo *sn);
/*
 * One line of the snapshot table (without the newline); NULL appends the
 * header ("ID  TAG  VM SIZE  DATE  VM CLOCK  ICOUNT").
 */
void bdrv_snapshot_dump(GString *out, const QEMUSnapshotInfo *sn);

/*
 * Append the human form of an ImageInfo object to @out, as "qemu-img
 * info" prints it ("image: ...", "file format: ...", "virtual size: ...").
 */
void bdrv_image_info_dump(GString *out, json_t *info);

/*
 * Append the "data" of a "format-specific" object as indented
 * "key: value" lines (dashes in keys become spaces; nested objects and
 * lists are indented further), starting at @indent levels of four spaces.
 */
void bdrv_image_info_specific_dump(GString *out, json_t *spec, int indent);

/*
 * The member names of the JSON object @obj in the order QEMU iterates its
 * dictionaries (and prints them).  Free the array (not the strings).
 */
GPtrArray *bdrv_qdict_qemu_order(json_t *obj);

#endif

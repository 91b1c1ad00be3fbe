/*
 * The block commands of the QMP monitor and of --blockdev: adding,
 * removing, reopening and describing nodes (blockdev-add, blockdev-del,
 * blockdev-reopen, query-named-block-nodes, query-block, block_resize).
 */
#include "strata/osdep.h"
#include "block/blockdev.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "block/export.h"
#include "block/qapi-info.h"
#include "block/throttle-groups.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "util/qdict.h"

/* Nodes the user added, in the order they were added. */
static GPtrArray *monitor_nodes;

static json_t *blockdev_options_to_flat_dict(BlockdevOptions *options)
{
    json_t *obj = NULL;
    Visitor *v = qobject_output_visitor_new(&obj);

    visit_type_BlockdevOptions(v, NULL, &options, &error_abort);
    visit_complete(v, &obj);
    visit_free(v);
    qdict_flatten(obj);
    return obj;
}

BlockDriverState *blockdev_add_flat(json_t *options, Error **errp)
{
    BlockDriverState *bs;

    if (!qdict_get_try_str(options, "node-name")) {
        error_setg(errp, "'node-name' must be specified for the root node");
        json_decref(options);
        return NULL;
    }
    /*
     * bdrv_open()'s defaults suit the tools; the monitor's nodes are
     * writable, cached and flushed unless the user says otherwise.
     */
    qdict_set_default_str(options, BDRV_OPT_CACHE_DIRECT, "off");
    qdict_set_default_str(options, BDRV_OPT_CACHE_NO_FLUSH, "off");
    qdict_set_default_str(options, BDRV_OPT_READ_ONLY, "off");
    bs = bdrv_open(NULL, NULL, options, 0, errp);
    if (!bs) {
        return NULL;
    }
    if (!monitor_nodes) {
        monitor_nodes = g_ptr_array_new();
    }
    bs->monitor_owned = true;
    g_ptr_array_add(monitor_nodes, bs);
    return bs;
}

BlockDriverState *blockdev_add(BlockdevOptions *options, Error **errp)
{
    return blockdev_add_flat(blockdev_options_to_flat_dict(options), errp);
}

void qmp_blockdev_add(BlockdevOptions *options, Error **errp)
{
    blockdev_add(options, errp);
}

void qmp_blockdev_del(const char *node_name, Error **errp)
{
    BlockDriverState *bs = bdrv_find_node(node_name);

    if (!bs) {
        error_setg(errp, "Failed to find node with node-name='%s'",
                   node_name);
        return;
    }
    /* A job's edges do not count: its op blocker answers below. */
    if (bdrv_has_blk(bs)) {
        error_setg(errp, "Node %s is in use", node_name);
        return;
    }
    if (bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_DRIVE_DEL, errp)) {
        return;
    }
    if (!bs->monitor_owned) {
        error_setg(errp, "Node %s is not owned by the monitor",
                   bs->node_name);
        return;
    }
    if (bs->refcnt > 1) {
        error_setg(errp, "Block device %s is in use",
                   bdrv_get_device_or_node_name(bs));
        return;
    }
    bs->monitor_owned = false;
    g_ptr_array_remove(monitor_nodes, bs);
    bdrv_unref(bs);
}

void blockdev_close_all(void)
{
    /* Newest first: overlays go before the nodes they reference. */
    while (monitor_nodes && monitor_nodes->len) {
        BlockDriverState *bs =
            g_ptr_array_steal_index(monitor_nodes, monitor_nodes->len - 1);

        bs->monitor_owned = false;
        bdrv_unref(bs);
    }
    g_clear_pointer(&monitor_nodes, g_ptr_array_unref);
    bdrv_close_all();
}

/* ---- blockdev-reopen ---- */

/*
 * Each node is reopened with exactly the options given: what is left out
 * goes back to its default (read-write, cached, flushed, no discard, no
 * zero detection).  Children named by reference may be other nodes now.
 */
void qmp_blockdev_reopen(BlockdevOptionsList *reopen_list, Error **errp)
{
    for (BlockdevOptionsList *l = reopen_list; l; l = l->next) {
        BlockdevOptions *options = l->value;
        BlockDriverState *bs;
        g_autoptr(json_t) flat = NULL;

        if (!options->has_node_name) {
            error_setg(errp, "node-name not specified");
            return;
        }
        bs = bdrv_find_node(options->node_name);
        if (!bs) {
            error_setg(errp, "Failed to find node with node-name='%s'",
                       options->node_name);
            return;
        }
        if (strcmp(BlockdevDriver_str(options->driver),
                   bs->drv->format_name)) {
            error_setg(errp, "Cannot change the option 'driver'");
            return;
        }
        flat = blockdev_options_to_flat_dict(options);
        json_object_del(flat, "node-name");
        json_object_del(flat, "driver");
        qdict_set_default_str(flat, BDRV_OPT_READ_ONLY, "off");
        qdict_set_default_str(flat, BDRV_OPT_AUTO_READ_ONLY, "off");
        qdict_set_default_str(flat, BDRV_OPT_CACHE_DIRECT, "off");
        qdict_set_default_str(flat, BDRV_OPT_CACHE_NO_FLUSH, "off");
        qdict_set_default_str(flat, BDRV_OPT_DISCARD, "ignore");
        qdict_set_default_str(flat, "detect-zeroes", "off");
        if (bdrv_reopen(bs, flat, errp) < 0) {
            return;
        }
    }
}

/* ---- queries ---- */

static ImageInfo *image_info(BlockDriverState *bs, Error **errp)
{
    g_autoptr(json_t) json = bdrv_query_image_info(bs, errp);
    ImageInfo *info = NULL;
    Visitor *v;

    if (!json) {
        return NULL;
    }
    v = qobject_input_visitor_new(json);
    visit_type_ImageInfo(v, NULL, &info, errp);
    visit_free(v);
    return info;
}

BlockDeviceInfo *bdrv_block_device_info(BlockBackend *blk,
                                        BlockDriverState *bs, bool flat,
                                        Error **errp)
{
    BlockDeviceInfo *info = g_new0(BlockDeviceInfo, 1);
    BlockDriverState *backing = bdrv_cow_bs(bs);
    ImageInfo **p_image_info = &info->image;

    bdrv_refresh_filename(bs);
    info->file = g_strdup(bs->filename);
    info->ro = bdrv_is_read_only(bs);
    info->drv = g_strdup(bs->drv->format_name);
    info->encrypted = bs->encrypted;
    info->cache = g_new0(BlockdevCacheInfo, 1);
    info->cache->writeback = blk ? blk_enable_write_cache(blk) : true;
    info->cache->direct = !!(bs->open_flags & BDRV_O_NOCACHE);
    info->cache->no_flush = !!(bs->open_flags & BDRV_O_NO_FLUSH);
    if (bs->node_name[0]) {
        info->has_node_name = true;
        info->node_name = g_strdup(bs->node_name);
    }
    if (backing) {
        info->has_backing_file = true;
        info->backing_file = g_strdup(backing->filename);
    }
    if (bdrv_dirty_bitmap_first(bs)) {
        info->has_dirty_bitmaps = true;
        info->dirty_bitmaps = bdrv_query_dirty_bitmaps(bs);
    }
    info->detect_zeroes = bs->detect_zeroes;
    /* bps, iops ... and group of the backend's I/O limits. */
    bdrv_fill_throttle_info(info, blk);

    /* The image, and unless @flat the images of the chain below it. */
    for (BlockDriverState *bs0 = bs;;) {
        *p_image_info = image_info(bs0, errp);
        if (!*p_image_info) {
            qapi_free_BlockDeviceInfo(info);
            return NULL;
        }
        if (flat || !bdrv_filter_or_cow_bs(bs0)) {
            break;
        }
        info->backing_file_depth++;
        bs0 = bdrv_filter_or_cow_bs(bs0);
        (*p_image_info)->has_backing_image = true;
        p_image_info = &(*p_image_info)->backing_image;
    }
    return info;
}

BlockDeviceInfoList *qmp_query_named_block_nodes(bool has_flat, bool flat,
                                                 Error **errp)
{
    BlockDeviceInfoList *list = NULL;

    /* Newest node first, as QEMU lists them. */
    for (BlockDriverState *bs = bdrv_next_node(NULL); bs;
         bs = bdrv_next_node(bs)) {
        BlockDeviceInfo *info = bdrv_block_device_info(NULL, bs,
                                                       has_flat && flat,
                                                       errp);

        if (!info) {
            qapi_free_BlockDeviceInfoList(list);
            return NULL;
        }
        QAPI_LIST_PREPEND(list, info);
    }
    return list;
}

/* One BlockInfo; @qdev names what uses an unnamed backend (an export). */
static BlockInfo *block_info(BlockBackend *blk, const char *qdev,
                             Error **errp)
{
    BlockInfo *info = g_new0(BlockInfo, 1);

    info->device = g_strdup(blk_name(blk));
    if (qdev) {
        info->has_qdev = true;
        info->qdev = g_strdup(qdev);
    }
    info->type = g_strdup("unknown");
    if (blk_bs(blk)) {
        info->inserted = bdrv_block_device_info(blk, blk_bs(blk), false,
                                                errp);
        if (!info->inserted) {
            qapi_free_BlockInfo(info);
            return NULL;
        }
        info->has_inserted = true;
    }
    return info;
}

/*
 * Named backends, then the backends of block exports with the export's id
 * as "qdev" (QEMU lists the backends of guest devices that way; the
 * daemon has exports instead, and block_set_io_throttle takes their ids).
 * Jobs' own backends are not listed.
 */
BlockInfoList *qmp_query_block(Error **errp)
{
    BlockInfoList *list = NULL;
    BlockInfoList **tail = &list;
    g_autoptr(BlockExportInfoList) exports = blk_exp_query();

    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        BlockInfo *info;

        if (!*blk_name(blk)) {
            continue;
        }
        info = block_info(blk, NULL, errp);
        if (!info) {
            qapi_free_BlockInfoList(list);
            return NULL;
        }
        QAPI_LIST_APPEND(tail, info);
    }
    for (BlockExportInfoList *e = exports; e; e = e->next) {
        BlockExport *exp = blk_exp_find(e->value->id);
        BlockInfo *info;

        if (!exp || !exp->blk || !exp->user_owned) {
            continue;
        }
        info = block_info(exp->blk, exp->id, errp);
        if (!info) {
            qapi_free_BlockInfoList(list);
            return NULL;
        }
        QAPI_LIST_APPEND(tail, info);
    }
    return list;
}

/* ---- block_resize ---- */

void coroutine_fn qmp_block_resize(bool has_device, const char *device,
                                   bool has_node_name, const char *node_name,
                                   int64_t size, Error **errp)
{
    BlockDriverState *bs;
    BlockBackend *blk;

    bs = bdrv_lookup_bs(has_device ? device : NULL,
                        has_node_name ? node_name : NULL, errp);
    if (!bs) {
        return;
    }
    if (size < 0) {
        error_setg(errp, "Parameter 'size' expects a >0 size");
        return;
    }
    if (bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_RESIZE, errp)) {
        return;
    }
    blk = blk_new(qemu_get_aio_context(), BLK_PERM_RESIZE, BLK_PERM_ALL);
    if (blk_insert_bs(blk, bs, errp) < 0) {
        blk_unref(blk);
        return;
    }
    blk_co_truncate(blk, size, false, PREALLOC_MODE_OFF, 0, errp);
    blk_unref(blk);
}

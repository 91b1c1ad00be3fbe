/*
 * Block exports independent of their protocol: ids, the backend on the
 * node, removal modes, queries, and the QMP block-export-* commands.
 */
#include "strata/osdep.h"
#include "block/export.h"
#include "block/block_int.h"
#include "util/cutils.h"
#include "util/error.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"

static QLIST_HEAD(, BlockExport) block_exports =
    QLIST_HEAD_INITIALIZER(block_exports);

typedef struct DeletedNotifier {
    BlockExportDeletedFunc *fn;
    void *opaque;
} DeletedNotifier;

static GSList *deleted_notifiers;

static const BlockExportDriver *const export_drivers[] = {
    &blk_exp_nbd,
};

static const BlockExportDriver *find_driver(BlockExportType type)
{
    for (size_t i = 0; i < ARRAY_SIZE(export_drivers); i++) {
        if (export_drivers[i]->type == type) {
            return export_drivers[i];
        }
    }
    return NULL;
}

BlockExport *blk_exp_find(const char *id)
{
    BlockExport *exp;

    QLIST_FOREACH(exp, &block_exports, next) {
        if (!strcmp(exp->id, id)) {
            return exp;
        }
    }
    return NULL;
}

BlockExport *blk_exp_add(BlockExportOptions *opts, Error **errp)
{
    const BlockExportDriver *drv;
    BlockDriverState *bs;
    BlockBackend *blk;
    BlockExport *exp;
    bool writable = opts->has_writable && opts->writable;
    uint64_t perm;

    if (!id_wellformed(opts->id)) {
        error_setg(errp, "Invalid block export id");
        return NULL;
    }
    if (blk_exp_find(opts->id)) {
        error_setg(errp, "Block export id '%s' is already in use", opts->id);
        return NULL;
    }
    drv = find_driver(opts->type);
    if (!drv) {
        error_setg(errp, "No driver found for the requested export type");
        return NULL;
    }
    bs = bdrv_lookup_bs(NULL, opts->node_name, errp);
    if (!bs) {
        return NULL;
    }
    if (opts->has_iothread) {
        error_setg(errp, "IOThreads are not supported for exports yet");
        return NULL;
    }
    if (writable && bdrv_is_read_only(bs)) {
        error_setg(errp, "Cannot export read-only node as writable");
        return NULL;
    }

    perm = BLK_PERM_CONSISTENT_READ | (writable ? BLK_PERM_WRITE : 0);
    blk = blk_new(qemu_get_aio_context(), perm, BLK_PERM_ALL);
    if (blk_insert_bs(blk, bs, errp) < 0) {
        blk_unref(blk);
        return NULL;
    }
    blk_set_enable_write_cache(blk, !(opts->has_writethrough &&
                                      opts->writethrough));

    exp = g_malloc0(drv->instance_size);
    exp->drv = drv;
    exp->id = g_strdup(opts->id);
    exp->node_name = g_strdup(bdrv_get_node_name(bs));
    exp->blk = blk;
    exp->user_owned = true;
    if (drv->create(exp, opts, errp) < 0) {
        blk_unref(blk);
        g_free(exp->id);
        g_free(exp->node_name);
        g_free(exp);
        return NULL;
    }
    QLIST_INSERT_HEAD(&block_exports, exp, next);
    return exp;
}

void blk_exp_request_shutdown(BlockExport *exp)
{
    if (!exp->user_owned) {
        return;
    }
    exp->user_owned = false;
    exp->drv->request_shutdown(exp);
}

int blk_exp_del(const char *id, BlockExportRemoveMode mode, Error **errp)
{
    BlockExport *exp = blk_exp_find(id);

    if (!exp) {
        error_setg(errp, "Export '%s' is not found", id);
        return -ENOENT;
    }
    if (!exp->user_owned) {
        error_setg(errp, "Export '%s' is already shutting down", id);
        return -EINVAL;
    }
    if (mode == BLOCK_EXPORT_REMOVE_MODE_SAFE && exp->drv->client_count &&
        exp->drv->client_count(exp)) {
        error_setg(errp, "export '%s' still in use", exp->id);
        error_append_hint(errp, "Use mode='hard' to force client "
                          "disconnect\n");
        return -EBUSY;
    }
    blk_exp_request_shutdown(exp);
    return 0;
}

void blk_exp_close_all_type(BlockExportType type)
{
    BlockExport *exp, *next;

    QLIST_FOREACH_SAFE(exp, &block_exports, next, next) {
        if (exp->drv->type == type) {
            blk_exp_request_shutdown(exp);
        }
    }
}

void blk_exp_close_all(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(export_drivers); i++) {
        blk_exp_close_all_type(export_drivers[i]->type);
    }
}

bool blk_exp_any(void)
{
    return !QLIST_EMPTY(&block_exports);
}

BlockExportInfoList *blk_exp_query(void)
{
    BlockExportInfoList *head = NULL, **tail = &head;
    BlockExport *exp;

    QLIST_FOREACH(exp, &block_exports, next) {
        BlockExportInfo *info = g_new0(BlockExportInfo, 1);

        info->id = g_strdup(exp->id);
        info->type = exp->drv->type;
        info->node_name = g_strdup(exp->node_name);
        info->shutting_down = !exp->user_owned;
        *tail = g_new0(BlockExportInfoList, 1);
        (*tail)->value = info;
        tail = &(*tail)->next;
    }
    return head;
}

void blk_exp_deleted(BlockExport *exp)
{
    g_autofree char *id = g_steal_pointer(&exp->id);

    QLIST_REMOVE(exp, next);
    blk_unref(exp->blk);
    g_free(exp->node_name);
    g_free(exp);

    qapi_event_send_block_export_deleted(id);
    for (GSList *l = deleted_notifiers; l; l = l->next) {
        DeletedNotifier *n = l->data;

        n->fn(n->opaque, id);
    }
}

void blk_exp_add_deleted_notifier(BlockExportDeletedFunc *fn, void *opaque)
{
    DeletedNotifier *n = g_new(DeletedNotifier, 1);

    n->fn = fn;
    n->opaque = opaque;
    deleted_notifiers = g_slist_append(deleted_notifiers, n);
}

void blk_exp_remove_deleted_notifier(BlockExportDeletedFunc *fn,
                                     void *opaque)
{
    for (GSList *l = deleted_notifiers; l; l = l->next) {
        DeletedNotifier *n = l->data;

        if (n->fn == fn && n->opaque == opaque) {
            deleted_notifiers = g_slist_delete_link(deleted_notifiers, l);
            g_free(n);
            return;
        }
    }
}

/* ---- QMP ---- */

void qmp_block_export_add(BlockExportOptions *arg, Error **errp)
{
    blk_exp_add(arg, errp);
}

void qmp_block_export_del(const char *id, bool has_mode,
                          BlockExportRemoveMode mode, Error **errp)
{
    blk_exp_del(id, has_mode ? mode : BLOCK_EXPORT_REMOVE_MODE_SAFE, errp);
}

BlockExportInfoList *qmp_query_block_exports(Error **errp)
{
    return blk_exp_query();
}

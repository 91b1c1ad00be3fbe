/*
 * The "nbd" block export type and QMP's NBD server: nbd-server-start,
 * -stop, -add and -remove on top of the protocol server in nbd/.
 */
#include "strata/osdep.h"
#include "block/export.h"
#include "block/block_int.h"
#include "block/nbd-bitmap.h"
#include "nbd/server.h"
#include "util/error.h"
#include "util/sockets.h"
#include "qapi/qapi-commands.h"

typedef struct NBDBlockExport {
    BlockExport common;
    NBDExport *exp;
} NBDBlockExport;

/* The server QMP starts and stops; there is one per process, as in QEMU. */
static NBDServer *qmp_nbd_server;

bool nbd_server_is_running(void)
{
    return qmp_nbd_server != NULL;
}

NBDServer *nbd_server_get(void)
{
    return qmp_nbd_server;
}

int nbd_server_start(const SocketAddress *addr, const char *tls_creds,
                     const char *tls_authz, uint32_t max_connections,
                     Error **errp)
{
    NBDServer *srv;

    if (qmp_nbd_server) {
        error_setg(errp, "NBD server already running");
        return -EBUSY;
    }
    if (tls_creds) {
        /* No TLS credential objects exist yet, so none can be found. */
        error_setg(errp, "No TLS credentials with id '%s'", tls_creds);
        return -ENOENT;
    }
    if (tls_authz) {
        error_setg(errp, "'tls-authz' is only supported with 'tls-creds'");
        return -EINVAL;
    }
    srv = nbd_server_new(qemu_get_aio_context(), max_connections);
    if (nbd_server_listen(srv, addr, errp) < 0) {
        nbd_server_free(srv);
        return -EINVAL;
    }
    qmp_nbd_server = srv;
    return 0;
}

int nbd_server_start_options(const NbdServerOptions *opts, Error **errp)
{
    return nbd_server_start(opts->addr,
                            opts->has_tls_creds ? opts->tls_creds : NULL,
                            opts->has_tls_authz ? opts->tls_authz : NULL,
                            opts->has_max_connections ? opts->max_connections
                                                      : 0,
                            errp);
}

int nbd_server_stop(Error **errp)
{
    NBDServer *srv = qmp_nbd_server;

    if (!srv) {
        error_setg(errp, "NBD server not running");
        return -EINVAL;
    }
    blk_exp_close_all_type(BLOCK_EXPORT_TYPE_NBD);
    qmp_nbd_server = NULL;
    nbd_server_free(srv);
    return 0;
}

/* ---- the export driver ---- */

static void nbd_block_export_gone(void *opaque)
{
    NBDBlockExport *nexp = opaque;

    blk_exp_deleted(&nexp->common);
}

static void free_sources(GPtrArray *sources)
{
    for (guint i = 0; i < sources->len; i++) {
        NBDDirtySource *src = g_ptr_array_index(sources, i);

        src->release(src);
    }
    g_ptr_array_free(sources, true);
}

static int nbd_block_export_create(BlockExport *exp,
                                   BlockExportOptions *opts, Error **errp)
{
    NBDBlockExport *nexp = container_of(exp, NBDBlockExport, common);
    BlockExportOptionsNbd *nopts = &opts->u.nbd;
    BlockDriverState *bs = blk_bs(exp->blk);
    bool writable = opts->has_writable && opts->writable;
    GPtrArray *sources = g_ptr_array_new();
    NBDExportConfig cfg = {
        .name = nopts->has_name ? nopts->name : opts->node_name,
        .description = nopts->has_description ? nopts->description : NULL,
        .blk = exp->blk,
        .writable = writable,
        .allocation_depth = nopts->has_allocation_depth &&
                            nopts->allocation_depth,
    };

    if (!qmp_nbd_server) {
        error_setg(errp, "NBD server not running");
        g_ptr_array_free(sources, true);
        return -EINVAL;
    }
    for (BlockDirtyBitmapOrStrList *l = nopts->bitmaps; l; l = l->next) {
        NBDDirtySource *src = nbd_dirty_source_new(bs, l->value, !writable,
                                                   errp);

        if (!src) {
            free_sources(sources);
            return -EINVAL;
        }
        g_ptr_array_add(sources, src);
    }
    cfg.bitmaps = (NBDDirtySource **)sources->pdata;
    cfg.nr_bitmaps = sources->len;
    /* The export owns the sources from here on, failure or not. */
    nexp->exp = nbd_export_new(qmp_nbd_server, &cfg, errp);
    g_ptr_array_free(sources, true);
    if (!nexp->exp) {
        return -EINVAL;
    }
    nbd_export_set_on_free(nexp->exp, nbd_block_export_gone, nexp);
    return 0;
}

static unsigned nbd_block_export_client_count(BlockExport *exp)
{
    NBDBlockExport *nexp = container_of(exp, NBDBlockExport, common);

    return nbd_export_client_count(nexp->exp);
}

static void nbd_block_export_shutdown(BlockExport *exp)
{
    NBDBlockExport *nexp = container_of(exp, NBDBlockExport, common);

    nbd_export_remove(nexp->exp);
}

const BlockExportDriver blk_exp_nbd = {
    .type = BLOCK_EXPORT_TYPE_NBD,
    .instance_size = sizeof(NBDBlockExport),
    .create = nbd_block_export_create,
    .client_count = nbd_block_export_client_count,
    .request_shutdown = nbd_block_export_shutdown,
};

/* ---- QMP ---- */

void qmp_nbd_server_start(SocketAddressLegacy *addr, bool has_tls_creds,
                          const char *tls_creds, bool has_tls_authz,
                          const char *tls_authz, bool has_max_connections,
                          uint32_t max_connections, Error **errp)
{
    g_autoptr(SocketAddress) flat = socket_address_flatten(addr);

    nbd_server_start(flat, has_tls_creds ? tls_creds : NULL,
                     has_tls_authz ? tls_authz : NULL,
                     has_max_connections ? max_connections : 0, errp);
}

void qmp_nbd_server_stop(Error **errp)
{
    nbd_server_stop(errp);
}

void qmp_nbd_server_add(NbdServerAddOptions *arg, Error **errp)
{
    g_autoptr(BlockExportOptions) opts = NULL;
    BlockDriverState *bs;
    const char *name;

    if (!qmp_nbd_server) {
        error_setg(errp, "NBD server not running");
        return;
    }
    bs = bdrv_lookup_bs(arg->device, arg->device, errp);
    if (!bs) {
        return;
    }
    /* The export's name defaults to the device's, and is its id too. */
    name = arg->has_name ? arg->name : arg->device;
    opts = g_new0(BlockExportOptions, 1);
    opts->type = BLOCK_EXPORT_TYPE_NBD;
    opts->id = g_strdup(name);
    opts->node_name = g_strdup(bdrv_get_node_name(bs));
    opts->has_writable = true;
    /* This older command quietly exports read-only nodes read-only. */
    opts->writable = arg->has_writable && arg->writable &&
                     !bdrv_is_read_only(bs);
    opts->u.nbd.has_name = true;
    opts->u.nbd.name = g_strdup(name);
    opts->u.nbd.has_description = arg->has_description;
    opts->u.nbd.description = g_strdup(arg->description);
    if (arg->has_bitmap) {
        BlockDirtyBitmapOrStr *b = g_new0(BlockDirtyBitmapOrStr, 1);

        b->type = QTYPE_QSTRING;
        b->u.local = g_strdup(arg->bitmap);
        opts->u.nbd.has_bitmaps = true;
        opts->u.nbd.bitmaps = g_new0(BlockDirtyBitmapOrStrList, 1);
        opts->u.nbd.bitmaps->value = b;
    }
    blk_exp_add(opts, errp);
}

void qmp_nbd_server_remove(const char *name, bool has_mode,
                           BlockExportRemoveMode mode, Error **errp)
{
    BlockExport *exp = blk_exp_find(name);

    if (exp && exp->drv->type != BLOCK_EXPORT_TYPE_NBD) {
        error_setg(errp, "Block export '%s' is not an NBD export", name);
        return;
    }
    blk_exp_del(name, has_mode ? mode : BLOCK_EXPORT_REMOVE_MODE_SAFE, errp);
}

/*
 * Block exports with QEMU 7.2's QMP semantics (block-export-add/-del,
 * query-block-exports, nbd-server-*), for the daemon and strata-nbd.
 */
#ifndef BLOCK_EXPORT_H
#define BLOCK_EXPORT_H

#include "block/block-backend.h"
#include "util/queue.h"
#include "qapi/qapi-types.h"

typedef struct BlockExport BlockExport;
typedef struct NBDServer NBDServer;

typedef struct BlockExportDriver {
    BlockExportType type;
    size_t instance_size;       /* at least sizeof(BlockExport) */
    /* Set the export up; exp->blk is ready, exp->id set. */
    int (*create)(BlockExport *exp, BlockExportOptions *opts, Error **errp);
    /* Clients using the export right now (a "safe" removal refuses). */
    unsigned (*client_count)(BlockExport *exp);
    /*
     * Disconnect the clients and stop offering the export; the driver
     * calls blk_exp_deleted() once it is completely gone.
     */
    void (*request_shutdown)(BlockExport *exp);
} BlockExportDriver;

struct BlockExport {
    const BlockExportDriver *drv;
    char *id;
    char *node_name;
    BlockBackend *blk;
    /* False once removal was asked for: "shutting-down" in queries. */
    bool user_owned;
    QLIST_ENTRY(BlockExport) next;
};

/*
 * block-export-add.  Errors, worded as QEMU's: "Invalid block export id",
 * "Block export id '%s' is already in use", "Cannot find device='' nor
 * node-name='%s'", "Cannot export read-only node as writable", and the
 * driver's ("NBD server not running", "NBD server already has export
 * named '%s'", "Bitmap '%s' is not found", ...).
 */
BlockExport *blk_exp_add(BlockExportOptions *opts, Error **errp);
BlockExport *blk_exp_find(const char *id);
/*
 * block-export-del: "Export '%s' is not found", "Export '%s' is already
 * shutting down", "export '%s' still in use" (mode safe, with a hint).
 */
int blk_exp_del(const char *id, BlockExportRemoveMode mode, Error **errp);
/* Start removing @exp whoever holds it (no checks). */
void blk_exp_request_shutdown(BlockExport *exp);
/* Remove every export (of one type), as at exit or nbd-server-stop. */
void blk_exp_close_all(void);
void blk_exp_close_all_type(BlockExportType type);
/* Exports still existing (including those shutting down). */
bool blk_exp_any(void);
/* query-block-exports, newest first. */
BlockExportInfoList *blk_exp_query(void);

/* The export drivers (block/export/). */
extern const BlockExportDriver blk_exp_nbd;

/* For drivers: the export is gone (frees it, sends the event). */
void blk_exp_deleted(BlockExport *exp);

/*
 * Things to do when an export is gone, besides the BLOCK_EXPORT_DELETED
 * event (which goes out through qapi_event_emit when a monitor set it).
 */
typedef void BlockExportDeletedFunc(void *opaque, const char *id);
void blk_exp_add_deleted_notifier(BlockExportDeletedFunc *fn, void *opaque);
void blk_exp_remove_deleted_notifier(BlockExportDeletedFunc *fn,
                                     void *opaque);

/* ---- the NBD server of QMP (one per process, as in QEMU) ---- */

/*
 * nbd-server-start / --nbd-server.  Errors: "NBD server already running",
 * "No TLS credentials with id '%s'" (TLS objects do not exist yet), and
 * the socket's ("Failed to bind socket to ...").
 */
int nbd_server_start(const SocketAddress *addr, const char *tls_creds,
                     const char *tls_authz, uint32_t max_connections,
                     Error **errp);
int nbd_server_start_options(const NbdServerOptions *opts, Error **errp);
/* nbd-server-stop: removes the NBD exports too ("NBD server not running"). */
int nbd_server_stop(Error **errp);
bool nbd_server_is_running(void);
/* The running server (NULL if none), for strata-nbd's client hooks. */
NBDServer *nbd_server_get(void);

#endif

/*
 * The NBD server as a library: a server object that accepts connections
 * and a set of named exports of BlockBackends it serves to its clients.
 */
#ifndef NBD_SERVER_H
#define NBD_SERVER_H

#include "nbd/nbd.h"
#include "util/aio.h"
#include "block/block-backend.h"
#include "qapi/qapi-types.h"

typedef struct NBDServer NBDServer;
typedef struct NBDExport NBDExport;
typedef struct NBDDirtySource NBDDirtySource;

/*
 * A dirty bitmap as the "qemu:dirty-bitmap:NAME" metadata context sees it.
 * The server only needs runs of dirty and clean bytes; whoever owns the
 * bitmap fills this in (block/export/nbd-bitmap.c does, over the block
 * layer's dirty bitmaps), and the export owns it once created.
 */
struct NBDDirtySource {
    /* The leaf name: the context is "qemu:dirty-bitmap:" + name. */
    char *name;
    /*
     * The run starting at @offset, at most @max bytes (never 0 for an
     * offset below the bitmap's size): its length, and in *@dirty
     * whether it is dirty.
     */
    int64_t (*extent)(NBDDirtySource *src, int64_t offset, int64_t max,
                      bool *dirty);
    /* The export is gone: release the bitmap (not busy any more), free. */
    void (*release)(NBDDirtySource *src);
    void *opaque;
};

/* ---- the server ---- */

/*
 * Called when a client's connection is gone; @negotiated says whether it
 * had entered the transmission phase (qemu-nbd exits after the first such
 * client unless it is persistent).
 */
typedef void NBDClientClosedFunc(void *opaque, bool negotiated);

/*
 * A server running in @ctx (NULL: the main loop).  With @max_connections
 * clients connected (0: no limit) it stops accepting until one leaves;
 * exports advertise multi-connection support unless the limit is 1.
 */
NBDServer *nbd_server_new(AioContext *ctx, uint32_t max_connections);
/* Listen on @addr as well (a server may listen on several). */
int nbd_server_listen(NBDServer *srv, const SocketAddress *addr,
                      Error **errp);
/* Serve an already connected socket (tests, inherited descriptors). */
void nbd_server_add_client(NBDServer *srv, int fd);
/* Accept new connections or not (qemu-nbd stops once it is leaving). */
void nbd_server_set_accepting(NBDServer *srv, bool accept);
void nbd_server_set_client_closed(NBDServer *srv, NBDClientClosedFunc *fn,
                                  void *opaque);
uint32_t nbd_server_max_connections(NBDServer *srv);
unsigned nbd_server_client_count(NBDServer *srv);
/*
 * Stop listening, remove every export and disconnect every client.  The
 * memory goes when the last client's requests have finished.
 */
void nbd_server_free(NBDServer *srv);

/* ---- exports ---- */

typedef struct NBDExportConfig {
    const char *name;           /* up to NBD_MAX_STRING_SIZE bytes */
    const char *description;    /* NULL: none */
    BlockBackend *blk;          /* a reference is taken */
    bool writable;
    bool allocation_depth;      /* offer qemu:allocation-depth */
    /* Contexts qemu:dirty-bitmap:*; the export owns them from now on. */
    NBDDirtySource **bitmaps;
    size_t nr_bitmaps;
} NBDExportConfig;

/*
 * Add an export to @srv.  Errors (QEMU's wording): "export name '%s' too
 * long", "description '%s' too long", "NBD server already has export
 * named '%s'", "Failed to determine the NBD export's length".  On failure
 * the bitmaps are released too.
 */
NBDExport *nbd_export_new(NBDServer *srv, const NBDExportConfig *cfg,
                          Error **errp);
NBDExport *nbd_export_find(NBDServer *srv, const char *name);
const char *nbd_export_name(NBDExport *exp);
BlockBackend *nbd_export_blk(NBDExport *exp);
/* Clients that chose this export and are still connected. */
unsigned nbd_export_client_count(NBDExport *exp);

/*
 * Called once an export removed with nbd_export_remove() is really gone
 * (its last client has left); this may be inside nbd_export_remove().
 */
void nbd_export_set_on_free(NBDExport *exp, void (*fn)(void *opaque),
                            void *opaque);

/*
 * Take the export off the server: new clients no longer find it, its
 * clients are disconnected, and it is freed when they are all gone.
 */
void nbd_export_remove(NBDExport *exp);

#endif

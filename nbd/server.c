/*
 * The NBD server's objects and their lifetimes: listening and accepting,
 * the connection limit, exports and their removal, client teardown.
 */
#include "strata/osdep.h"
#include "nbd/server-int.h"
#include "block/block.h"
#include "util/error.h"
#include <sys/socket.h>

/* ---- exports ---- */

void nbd_export_ref(NBDExport *exp)
{
    exp->refcount++;
}

/*
 * The last reference may go inside a client's coroutine, where draining
 * the backend is not allowed: the backend and bitmaps are released from
 * a bottom half (or at once, outside coroutines).  Whoever removed the
 * export hears that it is gone right away, so that QMP stops listing it
 * and sends BLOCK_EXPORT_DELETED as soon as its last client has left.
 */
static void export_free_bh(void *opaque)
{
    NBDExport *exp = opaque;

    for (size_t i = 0; i < exp->nr_bitmaps; i++) {
        exp->bitmaps[i]->release(exp->bitmaps[i]);
    }
    g_free(exp->bitmaps);
    blk_unref(exp->blk);
    g_free(exp->name);
    g_free(exp->description);
    g_free(exp);
}

void nbd_export_unref(NBDExport *exp)
{
    assert(exp->refcount > 0);
    if (--exp->refcount) {
        return;
    }
    assert(exp->removed && !exp->nb_clients);
    if (exp->on_free) {
        exp->on_free(exp->on_free_opaque);
    }
    if (qemu_in_coroutine()) {
        aio_bh_schedule_oneshot(exp->server->ctx, export_free_bh, exp);
    } else {
        export_free_bh(exp);
    }
}

NBDExport *nbd_server_lookup(NBDServer *srv, const char *name)
{
    NBDExport *exp;

    QTAILQ_FOREACH(exp, &srv->exports, next) {
        if (!strcmp(exp->name, name)) {
            return exp;
        }
    }
    return NULL;
}

NBDExport *nbd_export_find(NBDServer *srv, const char *name)
{
    return nbd_server_lookup(srv, name);
}

const char *nbd_export_name(NBDExport *exp)
{
    return exp->name;
}

BlockBackend *nbd_export_blk(NBDExport *exp)
{
    return exp->blk;
}

unsigned nbd_export_client_count(NBDExport *exp)
{
    return exp->nb_clients;
}

void nbd_export_set_on_free(NBDExport *exp, void (*fn)(void *opaque),
                            void *opaque)
{
    exp->on_free = fn;
    exp->on_free_opaque = opaque;
}

static void release_bitmaps(NBDDirtySource **bitmaps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bitmaps[i]->release(bitmaps[i]);
    }
}

NBDExport *nbd_export_new(NBDServer *srv, const NBDExportConfig *cfg,
                          Error **errp)
{
    NBDExport *exp;
    int64_t size;
    uint64_t perm, shared;

    if (strlen(cfg->name) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "export name '%s' too long", cfg->name);
        goto fail;
    }
    if (cfg->description &&
        strlen(cfg->description) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "description '%s' too long", cfg->description);
        goto fail;
    }
    if (nbd_server_lookup(srv, cfg->name)) {
        error_setg(errp, "NBD server already has export named '%s'",
                   cfg->name);
        goto fail;
    }
    for (size_t i = 0; i < cfg->nr_bitmaps; i++) {
        if (strlen(cfg->bitmaps[i]->name) + strlen(NBD_META_DIRTY_BITMAP) >
            NBD_MAX_STRING_SIZE) {
            error_setg(errp, "Bitmap name '%s' too long",
                       cfg->bitmaps[i]->name);
            goto fail;
        }
    }
    size = blk_getlength(cfg->blk);
    if (size < 0) {
        error_setg_errno(errp, -size,
                         "Failed to determine the NBD export's length");
        goto fail;
    }
    /* The size is fixed for the export's lifetime: forbid resizing. */
    blk_get_perm(cfg->blk, &perm, &shared);
    if (blk_set_perm(cfg->blk, perm, shared & ~BLK_PERM_RESIZE, errp) < 0) {
        goto fail;
    }

    exp = g_new0(NBDExport, 1);
    exp->server = srv;
    exp->refcount = 1;
    exp->name = g_strdup(cfg->name);
    exp->description = g_strdup(cfg->description);
    exp->blk = cfg->blk;
    blk_ref(exp->blk);
    exp->size = size;
    exp->allocation_depth = cfg->allocation_depth;
    exp->nr_bitmaps = cfg->nr_bitmaps;
    exp->bitmaps = g_memdup2(cfg->bitmaps,
                             cfg->nr_bitmaps * sizeof(*cfg->bitmaps));
    exp->flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
                 NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE;
    if (srv->max_connections != 1) {
        exp->flags |= NBD_FLAG_CAN_MULTI_CONN;
    }
    if (cfg->writable) {
        exp->flags |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
                      NBD_FLAG_SEND_FAST_ZERO;
    } else {
        exp->flags |= NBD_FLAG_READ_ONLY;
    }
    QTAILQ_INSERT_TAIL(&srv->exports, exp, next);
    return exp;

fail:
    release_bitmaps(cfg->bitmaps, cfg->nr_bitmaps);
    return NULL;
}

void nbd_export_remove(NBDExport *exp)
{
    NBDServer *srv = exp->server;
    NBDClient *client, *next;

    if (exp->removed) {
        return;
    }
    exp->removed = true;
    QTAILQ_REMOVE(&srv->exports, exp, next);
    QTAILQ_FOREACH_SAFE(client, &srv->clients, next, next) {
        if (client->exp == exp) {
            nbd_client_close(client);
        }
    }
    nbd_export_unref(exp);
}

/* ---- clients ---- */

static void server_update_accepting(NBDServer *srv);
static void server_unref(NBDServer *srv);

void nbd_client_close(NBDClient *client)
{
    if (client->closing) {
        return;
    }
    client->closing = true;
    nbd_channel_shutdown(client->ch);
    /* A receive loop parked for a free slot must notice (later on). */
    if (client->recv_waiting) {
        client->recv_waiting = false;
        aio_co_schedule(client->server->ctx, client->co);
    }
}

static void client_free(NBDClient *client)
{
    NBDServer *srv = client->server;
    bool negotiated = client->negotiated;

    QTAILQ_REMOVE(&srv->clients, client, next);
    srv->nb_clients--;
    nbd_meta_clear(&client->meta);
    nbd_client_drop_buffers(client);
    if (client->exp) {
        client->exp->nb_clients--;
        nbd_export_unref(client->exp);
    }
    nbd_channel_free(client->ch);
    g_free(client);

    if (srv->client_closed) {
        srv->client_closed(srv->client_closed_opaque, negotiated);
    }
    server_update_accepting(srv);
    server_unref(srv);
}

static void coroutine_fn client_co_run(void *opaque)
{
    NBDClient *client = opaque;
    Error *local_err = NULL;

    if (nbd_negotiate(client, &local_err) == 0) {
        client->negotiated = true;
        nbd_serve_requests(client);
    }
    /* Handshake errors only matter to the client that caused them. */
    error_free(local_err);
    client_free(client);
}

void nbd_server_add_client(NBDServer *srv, int fd)
{
    NBDClient *client = g_new0(NBDClient, 1);

    client->server = srv;
    client->ch = nbd_channel_new(fd, srv->ctx);
    qemu_co_mutex_init(&client->send_lock);
    srv->refcount++;
    srv->nb_clients++;
    QTAILQ_INSERT_TAIL(&srv->clients, client, next);
    server_update_accepting(srv);

    client->co = qemu_coroutine_create(client_co_run, client);
    qemu_coroutine_enter(client->co);
}

/* ---- the server ---- */

static void server_accept(void *opaque, int fd)
{
    NBDServer *srv = opaque;

    nbd_server_add_client(srv, fd);
}

static void server_update_accepting(NBDServer *srv)
{
    bool on = srv->accepting && !srv->closed &&
              (!srv->max_connections ||
               srv->nb_clients < srv->max_connections);

    if (srv->listener) {
        socket_listener_set_client_func(srv->listener,
                                        on ? server_accept : NULL, srv);
    }
}

NBDServer *nbd_server_new(AioContext *ctx, uint32_t max_connections)
{
    NBDServer *srv = g_new0(NBDServer, 1);

    srv->ctx = ctx ? ctx : qemu_get_aio_context();
    srv->refcount = 1;
    srv->accepting = true;
    srv->max_connections = max_connections;
    QTAILQ_INIT(&srv->clients);
    QTAILQ_INIT(&srv->exports);
    return srv;
}

int nbd_server_listen(NBDServer *srv, const SocketAddress *addr,
                      Error **errp)
{
    if (!srv->listener) {
        srv->listener = socket_listener_new(srv->ctx);
    }
    if (socket_listener_open(srv->listener, addr, SOMAXCONN, errp) < 0) {
        return -EINVAL;
    }
    server_update_accepting(srv);
    return 0;
}

void nbd_server_set_accepting(NBDServer *srv, bool accept)
{
    srv->accepting = accept;
    server_update_accepting(srv);
}

void nbd_server_set_client_closed(NBDServer *srv, NBDClientClosedFunc *fn,
                                  void *opaque)
{
    srv->client_closed = fn;
    srv->client_closed_opaque = opaque;
}

uint32_t nbd_server_max_connections(NBDServer *srv)
{
    return srv->max_connections;
}

unsigned nbd_server_client_count(NBDServer *srv)
{
    return srv->nb_clients;
}

static void server_unref(NBDServer *srv)
{
    assert(srv->refcount > 0);
    if (--srv->refcount == 0) {
        assert(QTAILQ_EMPTY(&srv->clients));
        g_free(srv);
    }
}

void nbd_server_free(NBDServer *srv)
{
    NBDClient *client, *next_client;

    if (!srv) {
        return;
    }
    srv->closed = true;
    srv->client_closed = NULL;
    socket_listener_free(srv->listener);
    srv->listener = NULL;
    while (!QTAILQ_EMPTY(&srv->exports)) {
        nbd_export_remove(QTAILQ_FIRST(&srv->exports));
    }
    QTAILQ_FOREACH_SAFE(client, &srv->clients, next, next_client) {
        nbd_client_close(client);
    }
    server_unref(srv);
}

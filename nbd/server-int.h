/*
 * What the pieces of the NBD server share: the server, export and client
 * objects, and the entry points of handshake, requests and contexts.
 */
#ifndef NBD_SERVER_INT_H
#define NBD_SERVER_INT_H

#include "nbd/server.h"
#include "nbd/channel.h"
#include "util/coroutine.h"
#include "util/queue.h"
#include "util/sockets.h"

/*
 * Requests a client may have in flight before the server stops reading
 * from it, and the payload bytes they may hold between them (at least
 * one request is always allowed, whatever its size).
 */
#define NBD_SERVER_MAX_REQUESTS     32
#define NBD_SERVER_MAX_INFLIGHT     (64 * 1024 * 1024)

/* Buffers each client keeps for reuse, and the largest size kept. */
#define NBD_SERVER_BUF_CACHE        8
#define NBD_SERVER_BUF_CACHE_MAX    (4 * 1024 * 1024)

/* Context IDs: fixed for the ones every export may have. */
#define NBD_META_ID_BASE_ALLOCATION  0
#define NBD_META_ID_ALLOCATION_DEPTH 1
#define NBD_META_ID_DIRTY_BITMAP     2  /* + index of the bitmap */

typedef struct NBDClient NBDClient;

struct NBDServer {
    AioContext *ctx;
    int refcount;               /* the owner, and each client */
    bool closed;                /* nbd_server_free() was called */
    SocketListener *listener;
    bool accepting;
    uint32_t max_connections;
    unsigned nb_clients;
    QTAILQ_HEAD(, NBDClient) clients;
    QTAILQ_HEAD(, NBDExport) exports;
    NBDClientClosedFunc *client_closed;
    void *client_closed_opaque;
};

struct NBDExport {
    NBDServer *server;
    int refcount;               /* the owner, clients, context selections */
    bool removed;               /* no longer in server->exports */
    char *name;
    char *description;
    BlockBackend *blk;
    uint64_t size;
    uint16_t flags;             /* transmission flags, without SEND_DF */
    bool allocation_depth;
    NBDDirtySource **bitmaps;
    size_t nr_bitmaps;
    unsigned nb_clients;
    void (*on_free)(void *opaque);
    void *on_free_opaque;
    QTAILQ_ENTRY(NBDExport) next;
};

/* The contexts a client selected with NBD_OPT_SET_META_CONTEXT. */
typedef struct NBDMetaSelection {
    NBDExport *exp;             /* holds a reference; NULL: none */
    bool base_allocation;
    bool allocation_depth;
    bool *bitmaps;              /* one flag per exp->bitmaps[] */
    unsigned count;
} NBDMetaSelection;

struct NBDClient {
    NBDServer *server;
    NBDChannel *ch;
    Coroutine *co;              /* handshake, then the receive loop */
    NBDExport *exp;             /* once in the transmission phase */
    bool negotiated;
    bool structured_reply;
    NBDMetaSelection meta;
    bool closing;

    CoMutex send_lock;          /* one reply (chunk) on the wire at a time */
    unsigned nb_requests;
    uint64_t inflight_bytes;
    bool recv_waiting;          /* co waits for a slot or for the end */

    /* Payload buffers kept for reuse (fresh ones cost page faults). */
    struct {
        void *buf;
        size_t size;
    } buf_cache[NBD_SERVER_BUF_CACHE];
    unsigned nr_cached;

    QTAILQ_ENTRY(NBDClient) next;       /* in server->clients */
};

/* server.c */
void nbd_export_ref(NBDExport *exp);
void nbd_export_unref(NBDExport *exp);
NBDExport *nbd_server_lookup(NBDServer *srv, const char *name);
/* Hard-disconnect @client (its coroutine then finishes and frees it). */
void nbd_client_close(NBDClient *client);

/*
 * server-handshake.c: option haggling.  Returns 0 once the client has
 * entered the transmission phase (client->exp set), or a negative value
 * when the connection is to be closed (errors in @errp, if any).
 */
int coroutine_fn nbd_negotiate(NBDClient *client, Error **errp);

/* server-requests.c: the transmission phase, until the connection ends. */
void coroutine_fn nbd_serve_requests(NBDClient *client);
/* Free the buffers a client kept. */
void nbd_client_drop_buffers(NBDClient *client);

/* server-meta.c */
void nbd_meta_clear(NBDMetaSelection *meta);
/*
 * Match @query against the contexts of @exp.  For a listing @list is true
 * and namespace wildcards ("base:", "qemu:", "qemu:dirty-bitmap:") match
 * everything under them.  @fn is called with the ID and full name of each
 * match.  Returns the number of matches.
 */
typedef int MetaMatchFunc(void *opaque, uint32_t id, const char *name);
int nbd_meta_match(NBDExport *exp, const char *query, bool list,
                   MetaMatchFunc *fn, void *opaque);
/* Call @fn for every context @exp offers. */
int nbd_meta_list_all(NBDExport *exp, MetaMatchFunc *fn, void *opaque);
/* The context name for an ID (caller frees), NULL if unknown. */
char *nbd_meta_name(NBDExport *exp, uint32_t id);

typedef struct NBDExtentList {
    NBDExtent *extents;         /* grown as needed, g_free() it */
    unsigned count;
    unsigned capacity;
    unsigned max;               /* at most this many (> 0) */
    uint64_t total;             /* bytes covered */
} NBDExtentList;

/*
 * Extents of [@offset, @offset + @len) for one context into @list.
 * Fewer bytes than asked may be covered once @list->max extents are
 * there.  Returns 0 or -errno.
 */
int coroutine_fn nbd_meta_extents(NBDExport *exp, uint32_t id,
                                  uint64_t offset, uint64_t len,
                                  NBDExtentList *list);

#endif

/*
 * Stream sockets from QAPI SocketAddress values: connecting, listening on
 * every address a name resolves to, and accepting from the event loop.
 */
#ifndef UTIL_SOCKETS_H
#define UTIL_SOCKETS_H

#include "strata/osdep.h"
#include "util/aio.h"
#include "qapi/qapi-types.h"

/* Make @fd non-blocking (or blocking again); 0 or -errno. */
int socket_set_nonblock(int fd, bool nonblock);
/* Disable Nagle on TCP sockets; harmless on others. */
void socket_set_nodelay(int fd);

/*
 * Connect to @addr, blocking until connected.  Returns a new file
 * descriptor (close-on-exec, blocking) or -errno with @errp set:
 * "Failed to connect to '<path>'" or "Failed to connect to '<host>:<port>'"
 * followed by the system's reason.  A "fd" address names a descriptor
 * already connected, which is duplicated.
 */
int socket_connect(const SocketAddress *addr, Error **errp);

/*
 * Start a non-blocking connect to @addr.  Returns a descriptor (the
 * connection may still be in progress: wait until it is writable, then
 * read the outcome with socket_connect_finish()) or -errno with @errp set.
 */
int socket_connect_start(const SocketAddress *addr, Error **errp);
int socket_connect_finish(int fd, const SocketAddress *addr, Error **errp);

/*
 * Listen on @addr.  A host name is resolved and every address it yields
 * gets its own socket (IPv6 ones set IPV6_V6ONLY so that both families
 * can share a port); failing to bind one of several is not an error as
 * long as one succeeds.  An existing UNIX socket file is replaced.
 * Returns the number of descriptors stored in *@fds (freed with g_free),
 * or -errno with @errp set.
 */
int socket_listen(const SocketAddress *addr, int backlog, int **fds,
                  Error **errp);

/* "host:port", the UNIX path, "vsock:cid:port" or "fd:NAME"; caller frees. */
char *socket_address_to_string(const SocketAddress *addr);

/* The SocketAddress of a SocketAddressLegacy (QMP's nbd-server-start). */
SocketAddress *socket_address_flatten(const SocketAddressLegacy *addr);

/* A copy of @addr; free with qapi_free_SocketAddress(). */
SocketAddress *socket_address_copy(const SocketAddress *addr);

/*
 * Accepting connections from the event loop.  The listener owns its
 * descriptors; while a client function is set, each accepted connection
 * (non-blocking, close-on-exec) is handed to it, and the function owns
 * the descriptor from then on.  Setting the function to NULL pauses
 * accepting: connections wait in the kernel's backlog.
 */
typedef void SocketAcceptFunc(void *opaque, int fd);
typedef struct SocketListener SocketListener;

SocketListener *socket_listener_new(AioContext *ctx);
int socket_listener_open(SocketListener *l, const SocketAddress *addr,
                         int backlog, Error **errp);
/* Adopt a descriptor that is already listening. */
void socket_listener_add_fd(SocketListener *l, int fd);
void socket_listener_set_client_func(SocketListener *l, SocketAcceptFunc *fn,
                                     void *opaque);
/* Stop listening, close the descriptors (UNIX socket files are left). */
void socket_listener_free(SocketListener *l);

#endif

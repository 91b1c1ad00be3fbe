/*
 * Stream sockets for QAPI SocketAddress values (UNIX, TCP, passed file
 * descriptors): connect, listen on every resolved address, accept.
 */
#include "strata/osdep.h"
#include "util/sockets.h"
#include "util/error.h"
#include "util/cutils.h"
#include "qapi/qapi-visit.h"
#include "qapi/clone-visitor.h"
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

int socket_set_nonblock(int fd, bool nonblock)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0) {
        return -errno;
    }
    flags = nonblock ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

void socket_set_nodelay(int fd)
{
    int one = 1;

    /* Fails harmlessly with ENOTSUP/EOPNOTSUPP on UNIX sockets. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

char *socket_address_to_string(const SocketAddress *addr)
{
    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        /* QEMU's form: no brackets even around IPv6 literals. */
        return g_strdup_printf("%s:%s", addr->u.inet.host,
                               addr->u.inet.port);
    case SOCKET_ADDRESS_TYPE_UNIX:
        return g_strdup(addr->u.q_unix.path);
    case SOCKET_ADDRESS_TYPE_VSOCK:
        return g_strdup_printf("vsock:%s:%s", addr->u.vsock.cid,
                               addr->u.vsock.port);
    case SOCKET_ADDRESS_TYPE_FD:
        return g_strdup_printf("fd:%s", addr->u.fd.str);
    default:
        return g_strdup("?");
    }
}

SocketAddress *socket_address_copy(const SocketAddress *addr)
{
    return QAPI_CLONE(SocketAddress, addr);
}

SocketAddress *socket_address_flatten(const SocketAddressLegacy *legacy)
{
    SocketAddress *addr = g_new0(SocketAddress, 1);

    addr->type = legacy->type;
    switch (legacy->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        QAPI_CLONE_MEMBERS(InetSocketAddress, &addr->u.inet,
                           legacy->u.inet.data);
        break;
    case SOCKET_ADDRESS_TYPE_UNIX:
        QAPI_CLONE_MEMBERS(UnixSocketAddress, &addr->u.q_unix,
                           legacy->u.q_unix.data);
        break;
    case SOCKET_ADDRESS_TYPE_VSOCK:
        QAPI_CLONE_MEMBERS(VsockSocketAddress, &addr->u.vsock,
                           legacy->u.vsock.data);
        break;
    case SOCKET_ADDRESS_TYPE_FD:
        QAPI_CLONE_MEMBERS(String, &addr->u.fd, legacy->u.fd.data);
        break;
    default:
        break;
    }
    return addr;
}

/* ---- UNIX ---- */

static int unix_sockaddr(const UnixSocketAddress *u, struct sockaddr_un *sun,
                         socklen_t *len, Error **errp)
{
    size_t pathlen = strlen(u->path);
    bool abstract = u->has_abstract && u->abstract;

    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (pathlen + (abstract ? 1 : 0) >= sizeof(sun->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", u->path);
        error_append_hint(errp, "Path must be less than %zu bytes\n",
                          sizeof(sun->sun_path) - (abstract ? 1 : 0));
        return -EINVAL;
    }
    if (abstract) {
        /* Abstract names start with a NUL byte; "tight" omits padding. */
        memcpy(sun->sun_path + 1, u->path, pathlen);
        *len = (!u->has_tight || u->tight)
               ? offsetof(struct sockaddr_un, sun_path) + 1 + pathlen
               : sizeof(*sun);
    } else {
        memcpy(sun->sun_path, u->path, pathlen);
        *len = sizeof(*sun);
    }
    return 0;
}

static int unix_connect(const UnixSocketAddress *u, bool nonblock,
                        Error **errp)
{
    struct sockaddr_un sun;
    socklen_t len;
    int fd, ret;

    ret = unix_sockaddr(u, &sun, &len, errp);
    if (ret < 0) {
        return ret;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
                (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Failed to create socket");
        return ret;
    }
    do {
        ret = connect(fd, (struct sockaddr *)&sun, len);
    } while (ret < 0 && errno == EINTR);
    if (ret < 0 && !(nonblock && (errno == EINPROGRESS ||
                                  errno == EAGAIN))) {
        ret = -errno;
        error_setg_errno(errp, errno, "Failed to connect to '%s'", u->path);
        close(fd);
        return ret;
    }
    return fd;
}

static int unix_listen(const UnixSocketAddress *u, int backlog, int **fds,
                       Error **errp)
{
    struct sockaddr_un sun;
    socklen_t len;
    int fd, ret;

    ret = unix_sockaddr(u, &sun, &len, errp);
    if (ret < 0) {
        return ret;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Failed to create Unix socket");
        return ret;
    }
    if (!(u->has_abstract && u->abstract) && unlink(u->path) < 0 &&
        errno != ENOENT) {
        ret = -errno;
        error_setg_errno(errp, errno, "Failed to unlink socket %s", u->path);
        close(fd);
        return ret;
    }
    if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Failed to bind socket to %s", u->path);
        close(fd);
        return ret;
    }
    if (listen(fd, backlog) < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Failed to listen on socket");
        close(fd);
        return ret;
    }
    *fds = g_new(int, 1);
    (*fds)[0] = fd;
    return 1;
}

/* ---- TCP ---- */

static struct addrinfo *inet_resolve(const InetSocketAddress *inet,
                                     bool passive, Error **errp)
{
    struct addrinfo hints = {
        .ai_flags = (passive ? AI_PASSIVE : 0) | AI_ADDRCONFIG,
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
    };
    struct addrinfo *res = NULL;
    const char *host = inet->host;
    g_autofree char *bare = NULL;
    int ret;

    if (inet->has_numeric && inet->numeric) {
        hints.ai_flags |= AI_NUMERICHOST;
    }
    if (inet->has_ipv4 && inet->ipv4 && !(inet->has_ipv6 && inet->ipv6)) {
        hints.ai_family = AF_INET;
    } else if (inet->has_ipv6 && inet->ipv6 &&
               !(inet->has_ipv4 && inet->ipv4)) {
        hints.ai_family = AF_INET6;
    }
    /* "[::1]" is how IPv6 literals appear in URLs. */
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        bare = g_strndup(host + 1, strlen(host) - 2);
        host = bare;
    }
    if (!host[0]) {
        host = NULL;
    }
    ret = getaddrinfo(host, inet->port, &hints, &res);
    if (ret == EAI_BADFLAGS || (ret && (hints.ai_flags & AI_ADDRCONFIG))) {
        /* Hosts with no configured address still have loopback. */
        hints.ai_flags &= ~AI_ADDRCONFIG;
        ret = getaddrinfo(host, inet->port, &hints, &res);
    }
    if (ret) {
        error_setg(errp, "address resolution failed for %s:%s: %s",
                   inet->host, inet->port, gai_strerror(ret));
        return NULL;
    }
    return res;
}

static int inet_connect(const InetSocketAddress *inet, bool nonblock,
                        Error **errp)
{
    struct addrinfo *res, *ai;
    int fd = -1, saved_errno = ECONNREFUSED;
    g_autofree char *name = NULL;

    res = inet_resolve(inet, false, errp);
    if (!res) {
        return -EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int ret;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
                    (nonblock ? SOCK_NONBLOCK : 0), ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        do {
            ret = connect(fd, ai->ai_addr, ai->ai_addrlen);
        } while (ret < 0 && errno == EINTR);
        if (ret == 0 || (nonblock && errno == EINPROGRESS)) {
            break;
        }
        saved_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        name = g_strdup_printf("%s:%s", inet->host, inet->port);
        error_setg_errno(errp, saved_errno, "Failed to connect to '%s'",
                         name);
        return -saved_errno;
    }
    socket_set_nodelay(fd);
    if (inet->has_keep_alive && inet->keep_alive) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    }
    return fd;
}

static int inet_listen(const InetSocketAddress *inet, int backlog, int **fds,
                       Error **errp)
{
    struct addrinfo *res, *ai;
    GArray *out = g_array_new(false, false, sizeof(int));
    int saved_errno = 0;
    int n;

    res = inet_resolve(inet, true, errp);
    if (!res) {
        g_array_free(out, true);
        return -EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                        ai->ai_protocol);

        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6) {
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
            listen(fd, backlog) < 0) {
            saved_errno = errno;
            close(fd);
            continue;
        }
        g_array_append_val(out, fd);
    }
    freeaddrinfo(res);
    n = out->len;
    if (!n) {
        g_array_free(out, true);
        error_setg_errno(errp, saved_errno ? saved_errno : EADDRNOTAVAIL,
                         "Failed to find an available port");
        return -(saved_errno ? saved_errno : EADDRNOTAVAIL);
    }
    *fds = (int *)g_array_free(out, false);
    return n;
}

/* ---- passed descriptors ---- */

static int fd_lookup(const String *name, Error **errp)
{
    int fd;

    /* Without a monitor to pass descriptors, only numbers make sense. */
    if (qemu_strtoi(name->str, NULL, 10, &fd) < 0 || fd < 0) {
        error_setg(errp, "File descriptor named '%s' has not been found",
                   name->str);
        return -EINVAL;
    }
    if (fcntl(fd, F_GETFD) < 0) {
        error_setg_errno(errp, errno, "Invalid file descriptor %d", fd);
        return -EBADF;
    }
    return fd;
}

/* ---- entry points ---- */

static int socket_connect_any(const SocketAddress *addr, bool nonblock,
                              Error **errp)
{
    int fd;

    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_UNIX:
        return unix_connect(&addr->u.q_unix, nonblock, errp);
    case SOCKET_ADDRESS_TYPE_INET:
        return inet_connect(&addr->u.inet, nonblock, errp);
    case SOCKET_ADDRESS_TYPE_FD:
        fd = fd_lookup(&addr->u.fd, errp);
        if (fd < 0) {
            return fd;
        }
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            error_setg_errno(errp, errno, "Failed to duplicate descriptor");
            return -errno;
        }
        if (nonblock) {
            socket_set_nonblock(fd, true);
        }
        return fd;
    default:
        error_setg(errp, "socket family '%s' is not supported",
                   SocketAddressType_str(addr->type));
        return -ENOTSUP;
    }
}

int socket_connect(const SocketAddress *addr, Error **errp)
{
    return socket_connect_any(addr, false, errp);
}

int socket_connect_start(const SocketAddress *addr, Error **errp)
{
    return socket_connect_any(addr, true, errp);
}

int socket_connect_finish(int fd, const SocketAddress *addr, Error **errp)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        err = errno;
    }
    if (err) {
        g_autofree char *name = socket_address_to_string(addr);

        error_setg_errno(errp, err, "Failed to connect to '%s'", name);
        return -err;
    }
    return 0;
}

int socket_listen(const SocketAddress *addr, int backlog, int **fds,
                  Error **errp)
{
    int fd;

    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_UNIX:
        return unix_listen(&addr->u.q_unix, backlog, fds, errp);
    case SOCKET_ADDRESS_TYPE_INET:
        return inet_listen(&addr->u.inet, backlog, fds, errp);
    case SOCKET_ADDRESS_TYPE_FD:
        fd = fd_lookup(&addr->u.fd, errp);
        if (fd < 0) {
            return fd;
        }
        if (listen(fd, backlog) < 0) {
            error_setg_errno(errp, errno, "Failed to listen on socket");
            return -errno;
        }
        *fds = g_new(int, 1);
        (*fds)[0] = fd;
        return 1;
    default:
        error_setg(errp, "socket family '%s' is not supported",
                   SocketAddressType_str(addr->type));
        return -ENOTSUP;
    }
}

/* ---- SocketListener ---- */

typedef struct ListenerFd {
    SocketListener *l;
    int fd;
} ListenerFd;

struct SocketListener {
    AioContext *ctx;
    GPtrArray *fds;             /* of ListenerFd */
    SocketAcceptFunc *fn;
    void *opaque;
};

static void listener_accept(void *opaque)
{
    ListenerFd *lfd = opaque;
    SocketListener *l = lfd->l;
    int fd;

    /* Accept a bounded batch, then let other handlers run. */
    for (int i = 0; i < 16 && l->fn; i++) {
        fd = accept4(lfd->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /*
             * EAGAIN: nothing left.  Other errors (ECONNABORTED, EMFILE)
             * are the connection's or transient; level-triggered polling
             * would spin on EMFILE, so back off until the next event.
             */
            return;
        }
        socket_set_nodelay(fd);
        l->fn(l->opaque, fd);
    }
}

static void listener_update(SocketListener *l)
{
    for (guint i = 0; i < l->fds->len; i++) {
        ListenerFd *lfd = g_ptr_array_index(l->fds, i);

        aio_set_fd_handler(l->ctx, lfd->fd, l->fn ? listener_accept : NULL,
                           NULL, lfd);
    }
}

SocketListener *socket_listener_new(AioContext *ctx)
{
    SocketListener *l = g_new0(SocketListener, 1);

    l->ctx = ctx ? ctx : qemu_get_aio_context();
    l->fds = g_ptr_array_new_with_free_func(g_free);
    return l;
}

void socket_listener_add_fd(SocketListener *l, int fd)
{
    ListenerFd *lfd = g_new0(ListenerFd, 1);

    lfd->l = l;
    lfd->fd = fd;
    socket_set_nonblock(fd, true);
    g_ptr_array_add(l->fds, lfd);
    if (l->fn) {
        aio_set_fd_handler(l->ctx, fd, listener_accept, NULL, lfd);
    }
}

int socket_listener_open(SocketListener *l, const SocketAddress *addr,
                         int backlog, Error **errp)
{
    g_autofree int *fds = NULL;
    int n = socket_listen(addr, backlog, &fds, errp);

    if (n < 0) {
        return n;
    }
    for (int i = 0; i < n; i++) {
        socket_listener_add_fd(l, fds[i]);
    }
    return 0;
}

void socket_listener_set_client_func(SocketListener *l, SocketAcceptFunc *fn,
                                     void *opaque)
{
    bool changed = !l->fn != !fn;

    l->fn = fn;
    l->opaque = opaque;
    if (changed) {
        listener_update(l);
    }
}

void socket_listener_free(SocketListener *l)
{
    if (!l) {
        return;
    }
    for (guint i = 0; i < l->fds->len; i++) {
        ListenerFd *lfd = g_ptr_array_index(l->fds, i);

        aio_set_fd_handler(l->ctx, lfd->fd, NULL, NULL, NULL);
        close(lfd->fd);
    }
    g_ptr_array_free(l->fds, true);
    g_free(l);
}

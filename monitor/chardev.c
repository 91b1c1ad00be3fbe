/*
 * Chardev backends: socket servers and clients over UNIX and TCP, and
 * stdio; reading through the event loop, writing through an output queue.
 */
#include "strata/osdep.h"
#include "monitor/chardev.h"
#include "util/aio.h"
#include "util/error.h"
#include "util/cutils.h"
#include "util/qdict.h"
#include "qom/object.h"
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

typedef enum {
    CHR_SOCKET,
    CHR_STDIO,
} ChardevKind;

struct Chardev {
    Object parent_obj;      /* /chardevs/<id> */
    char *id;
    ChardevKind kind;
    bool server;
    char *unix_path;        /* set if we created the socket file */
    int listen_fd;
    int fd;                 /* connected client / stdin */
    int out_fd;             /* where writes go (stdout for stdio) */
    GByteArray *outbuf;
    bool closing;
    bool input_ended;       /* stdio: standard input reached its end */
    const ChardevHandlers *h;
    void *opaque;
};

static GHashTable *chardevs;

static void chr_update_handlers(Chardev *chr);

static void chr_close_client(Chardev *chr)
{
    if (chr->fd < 0) {
        return;
    }
    aio_set_fd_handler(qemu_get_aio_context(), chr->fd, NULL, NULL, NULL);
    if (chr->out_fd != chr->fd && chr->out_fd >= 0 && chr->kind == CHR_SOCKET) {
        aio_set_fd_handler(qemu_get_aio_context(), chr->out_fd, NULL, NULL,
                           NULL);
    }
    if (chr->kind == CHR_SOCKET) {
        close(chr->fd);
    }
    chr->fd = -1;
    chr->out_fd = -1;
    g_byte_array_set_size(chr->outbuf, 0);
    chr->closing = false;
    if (chr->h && chr->h->closed) {
        chr->h->closed(chr->opaque);
    }
    chr_update_handlers(chr);
}

static void chr_read_cb(void *opaque)
{
    Chardev *chr = opaque;
    uint8_t buf[4096];
    ssize_t n;

    n = read(chr->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        if (chr->kind == CHR_STDIO) {
            /*
             * The end of standard input: what was read still runs and
             * standard output stays open for its replies and for events.
             */
            chr->input_ended = true;
            chr_update_handlers(chr);
            return;
        }
        chr_close_client(chr);
        return;
    }
    if (chr->h && chr->h->read) {
        chr->h->read(chr->opaque, buf, n);
    }
}

static void chr_write_cb(void *opaque)
{
    Chardev *chr = opaque;

    while (chr->outbuf->len) {
        ssize_t n = write(chr->out_fd, chr->outbuf->data, chr->outbuf->len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            /* The peer is gone. */
            g_byte_array_set_size(chr->outbuf, 0);
            chr_close_client(chr);
            return;
        }
        g_byte_array_remove_range(chr->outbuf, 0, n);
    }
    if (!chr->outbuf->len && chr->closing) {
        chr_close_client(chr);
        return;
    }
    chr_update_handlers(chr);
}

static void chr_accept_cb(void *opaque)
{
    Chardev *chr = opaque;
    int fd = accept4(chr->listen_fd, NULL, NULL,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    chr->fd = fd;
    chr->out_fd = fd;
    chr_update_handlers(chr);
    if (chr->h && chr->h->opened) {
        chr->h->opened(chr->opaque);
    }
}

/* One client at a time: the listener rests while a client is connected. */
static void chr_update_handlers(Chardev *chr)
{
    AioContext *ctx = qemu_get_aio_context();

    if (chr->listen_fd >= 0) {
        aio_set_fd_handler(ctx, chr->listen_fd,
                           chr->fd < 0 && chr->h ? chr_accept_cb : NULL, NULL,
                           chr);
    }
    if (chr->fd < 0) {
        return;
    }
    if (chr->out_fd == chr->fd) {
        aio_set_fd_handler(ctx, chr->fd, chr->closing ? NULL : chr_read_cb,
                           chr->outbuf->len ? chr_write_cb : NULL, chr);
        if (chr->closing && !chr->outbuf->len) {
            /* nothing to flush: handled by the caller */
        }
    } else {
        aio_set_fd_handler(ctx, chr->fd,
                           chr->input_ended ? NULL : chr_read_cb, NULL, chr);
        if (chr->out_fd >= 0) {
            aio_set_fd_handler(ctx, chr->out_fd, NULL,
                               chr->outbuf->len ? chr_write_cb : NULL, chr);
        }
    }
}

void chardev_write(Chardev *chr, const void *buf, size_t len)
{
    if (chr->fd < 0 || chr->out_fd < 0) {
        return;
    }
    g_byte_array_append(chr->outbuf, buf, len);
    /* Try right away; the rest goes when the fd is writable. */
    chr_write_cb(chr);
}

void chardev_disconnect(Chardev *chr)
{
    if (chr->fd < 0) {
        return;
    }
    if (chr->kind == CHR_STDIO) {
        return;
    }
    if (!chr->outbuf->len) {
        chr_close_client(chr);
    } else {
        chr->closing = true;
        chr_update_handlers(chr);
    }
}

bool chardev_is_connected(Chardev *chr)
{
    return chr->fd >= 0;
}

const char *chardev_id(Chardev *chr)
{
    return chr->id;
}

Chardev *chardev_find(const char *id)
{
    return chardevs ? g_hash_table_lookup(chardevs, id) : NULL;
}

bool chardev_attach(Chardev *chr, const ChardevHandlers *h, void *opaque,
                    Error **errp)
{
    if (chr->h) {
        error_setg(errp, "Device '%s' is in use", chr->id);
        return false;
    }
    chr->h = h;
    chr->opaque = opaque;
    chr_update_handlers(chr);
    if (chr->fd >= 0 && h->opened) {
        h->opened(opaque);
    }
    return true;
}

static int set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static bool opt_bool(json_t *opts, const char *key, bool def, bool *val,
                     Error **errp)
{
    return qdict_get_bool_opt(opts, key, def, val, errp);
}

static int socket_open(Chardev *chr, json_t *opts, Error **errp)
{
    const char *path = qdict_get_try_str(opts, "path");
    const char *host = qdict_get_try_str(opts, "host");
    const char *port = qdict_get_try_str(opts, "port");
    const char *fdstr = qdict_get_try_str(opts, "fd");
    bool server, wait;
    int fd;

    if (!opt_bool(opts, "server", false, &server, errp) ||
        !opt_bool(opts, "wait", true, &wait, errp)) {
        return -EINVAL;
    }
    chr->server = server;
    if (!path && !host && !port) {
        /* An inherited socket: listening if server=on, else connected. */
        int64_t n;

        if (!fdstr || qemu_strtoi64(fdstr, NULL, 10, &n) < 0 || n < 0 ||
            n > INT_MAX || fcntl(n, F_GETFD) < 0) {
            error_setg(errp, "Unable to parse FD number %s",
                       fdstr ? fdstr : "");
            return -EINVAL;
        }
        fd = n;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (!server) {
            set_nonblock(fd);
            chr->fd = fd;
            chr->out_fd = fd;
            return 0;
        }
        /* A passed listening socket: wait for a client below if asked. */
    } else if (path) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sun.sun_path)) {
            error_setg(errp, "UNIX socket path '%s' is too long", path);
            error_append_hint(errp, "Path must be less than %zu bytes\n",
                              sizeof(sun.sun_path));
            return -EINVAL;
        }
        strcpy(sun.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            error_setg_errno(errp, errno, "Failed to create socket");
            return -errno;
        }
        if (server) {
            unlink(path);
            if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
                int err = errno;

                error_setg_errno(errp, err, "Failed to bind socket to %s",
                                 path);
                close(fd);
                return -err;
            }
            chr->unix_path = g_strdup(path);
        } else if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            int err = errno;

            error_setg_errno(errp, err, "Failed to connect to '%s'", path);
            close(fd);
            return -err;
        }
    } else {
        struct addrinfo hints = { .ai_family = AF_UNSPEC,
                                  .ai_socktype = SOCK_STREAM,
                                  .ai_flags = server ? AI_PASSIVE : 0 };
        struct addrinfo *res = NULL;
        int err = getaddrinfo(host && *host ? host : NULL, port ? port : "0",
                              &hints, &res);

        if (err) {
            error_setg(errp, "address resolution failed for %s:%s: %s",
                       host ? host : "", port ? port : "",
                       gai_strerror(err));
            return -EINVAL;
        }
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            freeaddrinfo(res);
            error_setg_errno(errp, err, "Failed to create socket");
            return -err;
        }
        if (server) {
            int one = 1;

            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
                err = errno;
                freeaddrinfo(res);
                close(fd);
                error_setg_errno(errp, err, "Failed to bind socket");
                return -err;
            }
        } else if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
            err = errno;
            freeaddrinfo(res);
            close(fd);
            error_setg_errno(errp, err, "Failed to connect to '%s:%s'",
                             host ? host : "", port);
            return -err;
        }
        freeaddrinfo(res);
    }

    if (server) {
        if (listen(fd, 1) < 0) {
            int err = errno;

            close(fd);
            error_setg_errno(errp, err, "Failed to listen on socket");
            return -err;
        }
        chr->listen_fd = fd;
        if (wait) {
            /* Like QEMU: block until the first client is there. */
            int cfd;

            if (path || fdstr) {
                struct sockaddr_un sun;
                socklen_t len = sizeof(sun);

                if (!path && getsockname(fd, (struct sockaddr *)&sun,
                                         &len) == 0 &&
                    sun.sun_family == AF_UNIX) {
                    path = sun.sun_path;
                }
                info_report("QEMU waiting for connection on: "
                            "disconnected:unix:%s,server=on", path ? path : "");
            } else {
                info_report("QEMU waiting for connection on: "
                            "disconnected:tcp:%s:%s,server=on",
                            host ? host : "", port);
            }
            do {
                cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
            } while (cfd < 0 && errno == EINTR);
            if (cfd >= 0) {
                set_nonblock(cfd);
                chr->fd = cfd;
                chr->out_fd = cfd;
            }
        }
        set_nonblock(fd);
    } else {
        set_nonblock(fd);
        chr->fd = fd;
        chr->out_fd = fd;
    }
    return 0;
}

static void chardev_instance_init(Object *obj)
{
    Chardev *chr = (Chardev *)obj;

    chr->listen_fd = -1;
    chr->fd = -1;
    chr->out_fd = -1;
    chr->outbuf = g_byte_array_new();
}

/* Close the connection and the listening socket; remove our socket file. */
static void chardev_finalize(Object *obj)
{
    Chardev *chr = (Chardev *)obj;

    /* Best effort to deliver what is queued (e.g. the last reply). */
    if (chr->fd >= 0 && chr->outbuf->len) {
        int flags = fcntl(chr->out_fd, F_GETFL);

        fcntl(chr->out_fd, F_SETFL, flags & ~O_NONBLOCK);
        if (write(chr->out_fd, chr->outbuf->data, chr->outbuf->len) < 0) {
            /* the client is gone; nothing else to do */
        }
    }
    if (chr->fd >= 0) {
        aio_set_fd_handler(qemu_get_aio_context(), chr->fd, NULL, NULL,
                           NULL);
        if (chr->kind == CHR_SOCKET) {
            close(chr->fd);
        }
    }
    if (chr->out_fd >= 0 && chr->out_fd != chr->fd) {
        aio_set_fd_handler(qemu_get_aio_context(), chr->out_fd, NULL,
                           NULL, NULL);
    }
    if (chr->listen_fd >= 0) {
        aio_set_fd_handler(qemu_get_aio_context(), chr->listen_fd, NULL,
                           NULL, NULL);
        close(chr->listen_fd);
    }
    if (chr->unix_path) {
        unlink(chr->unix_path);
    }
    g_free(chr->unix_path);
    g_byte_array_free(chr->outbuf, true);
    g_free(chr->id);
}

static json_t *chardev_get_connected(Object *obj, const ObjectProperty *prop,
                                     Error **errp)
{
    return json_boolean(((Chardev *)obj)->fd >= 0);
}

/* The socket's address as QEMU's SocketAddress (the bound port for 0). */
static json_t *chardev_get_addr(Object *obj, const ObjectProperty *prop,
                                Error **errp)
{
    Chardev *chr = (Chardev *)obj;
    int fd = chr->listen_fd >= 0 ? chr->listen_fd : chr->fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];
    json_t *addr;

    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        error_setg_errno(errp, errno ? errno : ENOTCONN,
                         "getsockname failed");
        return NULL;
    }
    addr = json_object();
    if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ss;

        json_object_set_new(addr, "type", json_string("unix"));
        json_object_set_new(addr, "path", json_string(sun->sun_path));
        return addr;
    }
    if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV)) {
        json_decref(addr);
        error_setg(errp, "Cannot format socket address");
        return NULL;
    }
    json_object_set_new(addr, "type", json_string("inet"));
    json_object_set_new(addr, "host", json_string(host));
    json_object_set_new(addr, "port", json_string(port));
    json_object_set_new(addr, ss.ss_family == AF_INET6 ? "ipv6" : "ipv4",
                        json_true());
    return addr;
}

static const ObjectProperty chardev_socket_properties[] = {
    { .name = "connected", .type = "bool", .get = chardev_get_connected },
    { .name = "addr", .type = "SocketAddress", .get = chardev_get_addr },
    { NULL },
};

static const ObjectProperty chardev_stdio_properties[] = {
    { NULL },
};

static const ObjectTypeInfo chardev_socket_type = {
    .name = "chardev-socket",
    .instance_size = sizeof(Chardev),
    .instance_init = chardev_instance_init,
    .finalize = chardev_finalize,
    .properties = chardev_socket_properties,
};

static const ObjectTypeInfo chardev_stdio_type = {
    .name = "chardev-stdio",
    .instance_size = sizeof(Chardev),
    .instance_init = chardev_instance_init,
    .finalize = chardev_finalize,
    .properties = chardev_stdio_properties,
};

Chardev *chardev_new_from_keyval(json_t *opts, Error **errp)
{
    const char *id = qdict_get_try_str(opts, "id");
    const char *backend = qdict_get_try_str(opts, "backend");
    Chardev *chr;
    const char *key;
    json_t *val;
    static const char *const known[] = {
        "id", "backend", "path", "host", "port", "server", "wait", "fd",
        "nodelay", "telnet", "mux", "logfile", "logappend", "signal",
        "abstract", "tight", "ipv4", "ipv6", "to", "reconnect",
    };

    if (!backend) {
        error_setg(errp, "chardev: \"%s\" missing backend",
                   id ? id : "(null)");
        return NULL;
    }
    if (!id) {
        error_setg(errp, "Parameter 'id' is missing");
        return NULL;
    }
    if (!id_wellformed(id)) {
        error_setg(errp, "Parameter 'id' expects an identifier");
        error_append_hint(errp, "Identifiers consist of letters, digits, "
                          "'-', '.', '_', starting with a letter.\n");
        return NULL;
    }
    if (chardev_find(id)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object "
                   "(type 'container')", id);
        return NULL;
    }
    if (strcmp(backend, "socket") && strcmp(backend, "stdio")) {
        error_setg(errp, "'%s' is not a valid char driver name", backend);
        return NULL;
    }
    json_object_foreach(opts, key, val) {
        bool ok = false;

        for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
            ok |= !strcmp(key, known[i]);
        }
        if (!ok) {
            error_setg(errp, "Invalid parameter '%s'", key);
            return NULL;
        }
    }

    chr = (Chardev *)object_new_with_type(strcmp(backend, "socket")
                                          ? &chardev_stdio_type
                                          : &chardev_socket_type);
    chr->id = g_strdup(id);
    if (!strcmp(backend, "socket")) {
        chr->kind = CHR_SOCKET;
        if (socket_open(chr, opts, errp) < 0) {
            object_unref((Object *)chr);
            return NULL;
        }
    } else {
        chr->kind = CHR_STDIO;
        chr->fd = STDIN_FILENO;
        chr->out_fd = STDOUT_FILENO;
        set_nonblock(STDIN_FILENO);
    }
    if (!object_property_try_add_child(object_get_container("chardevs"), id,
                                       (Object *)chr, errp)) {
        object_unref((Object *)chr);
        return NULL;
    }
    object_unref((Object *)chr);      /* the tree holds it now */
    if (!chardevs) {
        chardevs = g_hash_table_new(g_str_hash, g_str_equal);
    }
    g_hash_table_insert(chardevs, chr->id, chr);
    return chr;
}

void chardev_cleanup_all(void)
{
    g_autoptr(GList) all = NULL;

    if (!chardevs) {
        return;
    }
    all = g_hash_table_get_values(chardevs);
    g_hash_table_destroy(chardevs);
    chardevs = NULL;
    for (GList *l = all; l; l = l->next) {
        object_unparent((Object *)l->data);
    }
}

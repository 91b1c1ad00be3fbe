/*
 * Character devices for monitors: a listening or connecting socket (UNIX
 * or TCP) or the process's stdio, with buffered non-blocking output.
 */
#ifndef MONITOR_CHARDEV_H
#define MONITOR_CHARDEV_H

#include "strata/osdep.h"
#include <jansson.h>

typedef struct Chardev Chardev;

/* What the user of a chardev (a monitor) is told. */
typedef struct ChardevHandlers {
    /* A client connected (sockets) or the device opened (stdio). */
    void (*opened)(void *opaque);
    /* The client went away; a server socket accepts the next one. */
    void (*closed)(void *opaque);
    void (*read)(void *opaque, const uint8_t *buf, size_t len);
} ChardevHandlers;

/*
 * Create a chardev from --chardev options (keyval, nested json_t with
 * string leaves: "backend" implied key, "id", "path", "host", "port",
 * "server", "wait", ...).  Registered under its id.
 */
Chardev *chardev_new_from_keyval(json_t *opts, Error **errp);
/* QMP/QAPI-style creation: @backend is "socket" or "stdio". */
Chardev *chardev_find(const char *id);
const char *chardev_id(Chardev *chr);
/* Attach the (single) user; fails if one is attached already. */
bool chardev_attach(Chardev *chr, const ChardevHandlers *h, void *opaque,
                    Error **errp);
/* Queue @len bytes for the current client (dropped if none). */
void chardev_write(Chardev *chr, const void *buf, size_t len);
/* Disconnect the current client (socket) after flushing what is queued. */
void chardev_disconnect(Chardev *chr);
bool chardev_is_connected(Chardev *chr);
/* Close every chardev (removes UNIX socket files we created). */
void chardev_cleanup_all(void);

#endif

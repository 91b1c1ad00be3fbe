/*
 * QMP monitors: each serves one chardev (one client at a time), with
 * capabilities negotiation, serialised command dispatch, OOB commands and
 * event delivery.
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include "strata/osdep.h"
#include "monitor/chardev.h"
#include "qapi/qapi-types.h"
#include <jansson.h>

typedef struct MonitorQMP MonitorQMP;

/* Create the command tables (call once, before the first monitor). */
void monitor_init_globals(void);
/* --monitor [chardev=]ID[,mode=control][,pretty=on|off] */
MonitorQMP *monitor_new_from_options(MonitorOptions *opts, Error **errp);
MonitorQMP *monitor_new(Chardev *chr, bool pretty, Error **errp);
/*
 * While held, requests queue up and no command runs.  The daemon holds
 * them while it works through its command line: its block devices open
 * with I/O that polls the main loop, and a client that connected early
 * must not see (or change) a half-opened node.  qemu-storage-daemon
 * serves no monitor before its main loop runs either.
 */
void monitor_hold_requests(bool hold);
/* Send every queued event and reply, then close all monitors. */
void monitor_cleanup(void);

/* Emit an event to every negotiated monitor (qapi_event_emit hook). */
void monitor_emit_event(const char *name, json_t *data);

/* The monitor running the current command (for commands that need it). */
MonitorQMP *monitor_current(void);

/* Set by "quit" (and signals): the daemon's main loop ends. */
void monitor_request_exit(void);
bool monitor_exit_requested(void);

#endif

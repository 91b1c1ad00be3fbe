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

/*
 * The QMP server: greeting, capabilities negotiation, one command at a
 * time per monitor (OOB commands jump the queue), replies and events.
 */
#include "strata/osdep.h"
#include "monitor/monitor.h"
#include "qapi/qmp-dispatch.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "util/aio.h"
#include "util/coroutine.h"
#include "util/json-parser.h"
#include "util/json-writer.h"
#include "util/qdict.h"
#include "util/queue.h"

typedef struct QmpRequest {
    json_t *req;
    Error *err;
} QmpRequest;

struct MonitorQMP {
    Chardev *chr;
    bool pretty;
    bool connected;
    bool negotiated;
    bool oob;
    JSONMessageParser parser;
    GQueue requests;
    QEMUBH *dispatch_bh;
    bool busy;
    QLIST_ENTRY(MonitorQMP) next;
};

static QLIST_HEAD(, MonitorQMP) monitors = QLIST_HEAD_INITIALIZER(monitors);
static QmpCommandList qmp_commands;
static QmpCommandList qmp_cap_negotiation_commands;
static MonitorQMP *cur_mon;
static bool exit_requested;
/* See monitor_hold_requests(). */
static bool requests_held;

void monitor_request_exit(void)
{
    exit_requested = true;
    aio_notify(qemu_get_aio_context());
}

bool monitor_exit_requested(void)
{
    return exit_requested;
}

MonitorQMP *monitor_current(void)
{
    return cur_mon;
}

/* One message: JSON text, then CR LF for every line end, as QEMU sends. */
static void monitor_send(MonitorQMP *mon, json_t *msg)
{
    g_autofree char *text = json_to_string_qemu(msg, mon->pretty);
    g_autoptr(GString) out = g_string_sized_new(strlen(text) + 2);

    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            g_string_append_c(out, '\r');
        }
        g_string_append_c(out, *p);
    }
    g_string_append(out, "\r\n");
    chardev_write(mon->chr, out->str, out->len);
}

static void monitor_send_greeting(MonitorQMP *mon)
{
    json_t *ver = json_object();
    json_t *qemu = json_object();
    json_t *qmp = json_object();
    json_t *caps = json_array();
    json_t *greeting = json_object();

    json_object_set_new(qemu, "micro", json_integer(0));
    json_object_set_new(qemu, "minor", json_integer(2));
    json_object_set_new(qemu, "major", json_integer(7));
    json_object_set_new(ver, "qemu", qemu);
    json_object_set_new(ver, "package",
                        json_string("Strata " STRATA_VERSION_STRING));
    json_array_append_new(caps, json_string("oob"));
    json_object_set_new(qmp, "version", ver);
    json_object_set_new(qmp, "capabilities", caps);
    json_object_set_new(greeting, "QMP", qmp);
    monitor_send(mon, greeting);
    json_decref(greeting);
}

static void request_free(QmpRequest *r)
{
    json_decref(r->req);
    error_free(r->err);
    g_free(r);
}

static void monitor_opened(void *opaque)
{
    MonitorQMP *mon = opaque;

    mon->connected = true;
    mon->negotiated = false;
    mon->oob = false;
    json_message_parser_reset(&mon->parser);
    monitor_send_greeting(mon);
}

static void monitor_closed(void *opaque)
{
    MonitorQMP *mon = opaque;
    QmpRequest *r;

    mon->connected = false;
    mon->negotiated = false;
    json_message_parser_reset(&mon->parser);
    while ((r = g_queue_pop_head(&mon->requests))) {
        request_free(r);
    }
}

static json_t *monitor_dispatch(MonitorQMP *mon, json_t *req)
{
    QmpCommandList *cmds = mon->negotiated ? &qmp_commands
                                           : &qmp_cap_negotiation_commands;
    MonitorQMP *saved = cur_mon;
    json_t *rsp;

    cur_mon = mon;
    rsp = qmp_dispatch(cmds, req, mon->oob, mon);
    cur_mon = saved;

    if (rsp && !mon->negotiated) {
        json_t *err = json_object_get(rsp, "error");
        const char *cls = err ? qdict_get_try_str(err, "class") : NULL;

        /* Before negotiation every other command is "not found". */
        if (cls && !strcmp(cls, "CommandNotFound")) {
            json_object_set_new(err, "desc", json_string(
                "Expecting capabilities negotiation with "
                "'qmp_capabilities'"));
        }
    }
    return rsp;
}

typedef struct CoDispatch {
    MonitorQMP *mon;
    json_t *req;
} CoDispatch;

static void monitor_finish(MonitorQMP *mon, json_t *rsp)
{
    if (rsp && mon->connected) {
        monitor_send(mon, rsp);
    }
    json_decref(rsp);
    mon->busy = false;
    if (!g_queue_is_empty(&mon->requests)) {
        qemu_bh_schedule(mon->dispatch_bh);
    }
}

static void coroutine_fn dispatch_co(void *opaque)
{
    CoDispatch *d = opaque;
    json_t *rsp = monitor_dispatch(d->mon, d->req);

    json_decref(d->req);
    monitor_finish(d->mon, rsp);
    g_free(d);
}

static void monitor_dispatch_bh(void *opaque)
{
    MonitorQMP *mon = opaque;
    QmpRequest *r;

    if (mon->busy || requests_held) {
        return;
    }
    r = g_queue_pop_head(&mon->requests);
    if (!r) {
        return;
    }
    mon->busy = true;
    if (r->err) {
        json_t *rsp = qmp_error_response(g_steal_pointer(&r->err));

        request_free(r);
        monitor_finish(mon, rsp);
        return;
    }
    if (qmp_dispatch_needs_coroutine(mon->negotiated ? &qmp_commands
                                     : &qmp_cap_negotiation_commands,
                                     r->req)) {
        CoDispatch *d = g_new(CoDispatch, 1);

        d->mon = mon;
        d->req = g_steal_pointer(&r->req);
        request_free(r);
        qemu_coroutine_enter(qemu_coroutine_create(dispatch_co, d));
        return;
    }
    {
        json_t *rsp = monitor_dispatch(mon, r->req);

        request_free(r);
        monitor_finish(mon, rsp);
    }
}

static void monitor_handle_value(void *opaque, json_t *value, Error *err)
{
    MonitorQMP *mon = opaque;
    QmpRequest *r;

    if (!mon->connected) {
        json_decref(value);
        error_free(err);
        return;
    }
    /* Out-of-band commands run at once, ahead of the queue. */
    if (value && mon->oob && qmp_is_oob(value)) {
        json_t *rsp = monitor_dispatch(mon, value);

        if (rsp) {
            monitor_send(mon, rsp);
        }
        json_decref(rsp);
        json_decref(value);
        return;
    }
    r = g_new0(QmpRequest, 1);
    r->req = value;
    r->err = err;
    g_queue_push_tail(&mon->requests, r);
    qemu_bh_schedule(mon->dispatch_bh);
}

static void monitor_read(void *opaque, const uint8_t *buf, size_t len)
{
    MonitorQMP *mon = opaque;

    json_message_parser_feed(&mon->parser, (const char *)buf, len);
}

static const ChardevHandlers monitor_chardev_handlers = {
    .opened = monitor_opened,
    .closed = monitor_closed,
    .read = monitor_read,
};

static void monitor_event_hook(const char *name, json_t *data)
{
    monitor_emit_event(name, data);
}

static bool monitor_in_command(void)
{
    return cur_mon != NULL;
}

void monitor_hold_requests(bool hold)
{
    MonitorQMP *mon;

    requests_held = hold;
    if (!hold) {
        QLIST_FOREACH(mon, &monitors, next) {
            if (!g_queue_is_empty(&mon->requests)) {
                qemu_bh_schedule(mon->dispatch_bh);
            }
        }
    }
}

void monitor_init_globals(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    qmp_init_marshal(&qmp_commands);
    qmp_register_command(&qmp_cap_negotiation_commands, "qmp_capabilities",
                         qmp_marshal_qmp_capabilities, QCO_ALLOW_PRECONFIG,
                         0);
    qapi_event_emit = monitor_event_hook;
    error_set_in_monitor_command(monitor_in_command);
}

MonitorQMP *monitor_new(Chardev *chr, bool pretty, Error **errp)
{
    MonitorQMP *mon = g_new0(MonitorQMP, 1);

    monitor_init_globals();
    mon->chr = chr;
    mon->pretty = pretty;
    json_message_parser_init(&mon->parser, monitor_handle_value, mon);
    g_queue_init(&mon->requests);
    mon->dispatch_bh = qemu_bh_new(monitor_dispatch_bh, mon);
    QLIST_INSERT_HEAD(&monitors, mon, next);
    if (!chardev_attach(chr, &monitor_chardev_handlers, mon, errp)) {
        QLIST_REMOVE(mon, next);
        qemu_bh_delete(mon->dispatch_bh);
        json_message_parser_destroy(&mon->parser);
        g_free(mon);
        return NULL;
    }
    return mon;
}

MonitorQMP *monitor_new_from_options(MonitorOptions *opts, Error **errp)
{
    Chardev *chr = chardev_find(opts->chardev);

    if (!chr) {
        error_setg(errp, "chardev \"%s\" not found", opts->chardev);
        return NULL;
    }
    /* Without a mode the daemon's monitors speak QMP (there is no HMP). */
    if (opts->has_mode && opts->mode != MONITOR_MODE_CONTROL) {
        error_setg(errp, "Only QMP is supported");
        return NULL;
    }
    return monitor_new(chr, opts->has_pretty && opts->pretty, errp);
}

void monitor_emit_event(const char *name, json_t *data)
{
    MonitorQMP *mon;
    json_t *ev = json_object();
    json_t *ts = json_object();
    gint64 now = g_get_real_time();

    json_object_set_new(ts, "seconds", json_integer(now / G_USEC_PER_SEC));
    json_object_set_new(ts, "microseconds",
                        json_integer(now % G_USEC_PER_SEC));
    json_object_set_new(ev, "timestamp", ts);
    json_object_set_new(ev, "event", json_string(name));
    if (data) {
        json_object_set(ev, "data", data);
    }
    QLIST_FOREACH(mon, &monitors, next) {
        if (mon->connected && mon->negotiated) {
            monitor_send(mon, ev);
        }
    }
    json_decref(ev);
}

void monitor_cleanup(void)
{
    MonitorQMP *mon, *next;

    QLIST_FOREACH_SAFE(mon, &monitors, next, next) {
        QmpRequest *r;

        QLIST_REMOVE(mon, next);
        while ((r = g_queue_pop_head(&mon->requests))) {
            request_free(r);
        }
        qemu_bh_delete(mon->dispatch_bh);
        json_message_parser_destroy(&mon->parser);
        g_free(mon);
    }
    chardev_cleanup_all();
    qmp_command_list_destroy(&qmp_commands);
    qmp_command_list_destroy(&qmp_cap_negotiation_commands);
}

/* ---- control commands ---- */

void qmp_qmp_capabilities(bool has_enable, QMPCapabilityList *enable,
                          Error **errp)
{
    MonitorQMP *mon = cur_mon;

    if (!mon) {
        error_setg(errp, "Not in a QMP monitor");
        return;
    }
    if (mon->negotiated) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command "
                  "ignored");
        return;
    }
    for (QMPCapabilityList *c = has_enable ? enable : NULL; c; c = c->next) {
        if (c->value == QMP_CAPABILITY_OOB) {
            mon->oob = true;
        }
    }
    mon->negotiated = true;
}

VersionInfo *qmp_query_version(Error **errp)
{
    VersionInfo *info = g_new0(VersionInfo, 1);

    info->qemu = g_new0(VersionTriple, 1);
    info->qemu->major = 7;
    info->qemu->minor = 2;
    info->qemu->micro = 0;
    info->package = g_strdup("Strata " STRATA_VERSION_STRING);
    return info;
}

static void add_command_info(const QmpCommand *cmd, void *opaque)
{
    CommandInfoList **list = opaque;
    CommandInfo *info;

    if (!cmd->enabled) {
        return;
    }
    info = g_new0(CommandInfo, 1);
    info->name = g_strdup(cmd->name);
    /* Prepending gives QEMU's (reversed) order. */
    QAPI_LIST_PREPEND(*list, info);
}

CommandInfoList *qmp_query_commands(Error **errp)
{
    CommandInfoList *list = NULL;

    qmp_for_each_command(&qmp_commands, add_command_info, &list);
    return list;
}

void qmp_quit(Error **errp)
{
    monitor_request_exit();
    qapi_event_send_shutdown(false, SHUTDOWN_CAUSE_HOST_QMP_QUIT);
}

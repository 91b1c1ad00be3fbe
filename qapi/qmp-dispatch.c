/*
 * QMP dispatch: validate a request object, find the command, run its
 * marshaller, and build the response; plus the command tables.
 */
#include "strata/osdep.h"
#include "qapi/qmp-dispatch.h"
#include "util/qdict.h"

static __thread void *dispatch_opaque;

/* ---- command tables ---- */

static void qmp_command_free(gpointer p)
{
    QmpCommand *cmd = p;

    g_free((char *)cmd->name);
    g_free(cmd->disable_reason);
    g_free(cmd);
}

void qmp_register_command(QmpCommandList *cmds, const char *name,
                          QmpCommandFunc *fn, QmpCommandOptions options,
                          unsigned special_features)
{
    QmpCommand *cmd;

    if (!cmds->list) {
        cmds->list = g_ptr_array_new_with_free_func(qmp_command_free);
        cmds->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    }
    /* Coroutine commands cannot run out of band */
    assert(!(options & QCO_COROUTINE) || !(options & QCO_ALLOW_OOB));
    assert(!g_hash_table_contains(cmds->by_name, name));
    cmd = g_new0(QmpCommand, 1);
    cmd->name = g_strdup(name);
    cmd->fn = fn;
    cmd->options = options;
    cmd->special_features = special_features;
    cmd->enabled = true;
    g_ptr_array_add(cmds->list, cmd);
    g_hash_table_insert(cmds->by_name, (gpointer)cmd->name, cmd);
}

void qmp_register_command_defs(QmpCommandList *cmds,
                               const QmpCommandDef *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* A command whose function is still the weak stub is not there */
        if (defs[i].impl == defs[i].stub) {
            continue;
        }
        qmp_register_command(cmds, defs[i].name, defs[i].fn,
                             defs[i].options, defs[i].special_features);
    }
}

void qmp_command_list_destroy(QmpCommandList *cmds)
{
    if (cmds->list) {
        g_hash_table_destroy(cmds->by_name);
        g_ptr_array_free(cmds->list, true);
    }
    cmds->list = NULL;
    cmds->by_name = NULL;
}

const QmpCommand *qmp_find_command(const QmpCommandList *cmds,
                                   const char *name)
{
    return cmds->by_name ? g_hash_table_lookup(cmds->by_name, name) : NULL;
}

static void qmp_toggle_command(QmpCommandList *cmds, const char *name,
                               bool enabled, const char *reason)
{
    QmpCommand *cmd = (QmpCommand *)qmp_find_command(cmds, name);

    if (cmd) {
        cmd->enabled = enabled;
        g_free(cmd->disable_reason);
        cmd->disable_reason = g_strdup(reason);
    }
}

void qmp_disable_command(QmpCommandList *cmds, const char *name,
                         const char *reason)
{
    qmp_toggle_command(cmds, name, false, reason);
}

void qmp_enable_command(QmpCommandList *cmds, const char *name)
{
    qmp_toggle_command(cmds, name, true, NULL);
}

void qmp_for_each_command(const QmpCommandList *cmds, QmpCommandIterFunc *fn,
                          void *opaque)
{
    if (!cmds->list) {
        return;
    }
    for (guint i = 0; i < cmds->list->len; i++) {
        fn(g_ptr_array_index(cmds->list, i), opaque);
    }
}

/* ---- responses ---- */

const char *qapi_error_class_str(ErrorClass cls)
{
    switch (cls) {
    case ERROR_CLASS_GENERIC_ERROR:
        return "GenericError";
    case ERROR_CLASS_COMMAND_NOT_FOUND:
        return "CommandNotFound";
    case ERROR_CLASS_DEVICE_NOT_ACTIVE:
        return "DeviceNotActive";
    case ERROR_CLASS_DEVICE_NOT_FOUND:
        return "DeviceNotFound";
    case ERROR_CLASS_KVM_MISSING_CAP:
        return "KVMMissingCap";
    }
    abort();
}

json_t *qmp_error_response(Error *err)
{
    json_t *error = json_object();
    json_t *rsp = json_object();

    json_object_set_new(error, "class",
                        json_string(qapi_error_class_str(
                                        error_get_class(err))));
    json_object_set_new(error, "desc",
                        json_string_nocheck(error_get_pretty(err)));
    json_object_set_new(rsp, "error", error);
    error_free(err);
    return rsp;
}

/* ---- dispatch ---- */

/*
 * Check the members of the request in the order QEMU meets them (its
 * dictionary order), so that the same problem is reported first.
 * Returns the member naming the command, or NULL with @errp set.
 */
static const char *check_request(json_t *req, bool allow_oob, Error **errp)
{
    g_autoptr(GPtrArray) keys = qapi_object_keys_qemu_order(req);
    const char *exec_key = NULL;

    for (guint i = 0; i < keys->len; i++) {
        const char *key = g_ptr_array_index(keys, i);
        json_t *value = json_object_get(req, key);

        if (!strcmp(key, "execute") ||
            (allow_oob && !strcmp(key, "exec-oob"))) {
            if (!json_is_string(value)) {
                error_setg(errp, "QMP input member '%s' must be a string",
                           key);
                return NULL;
            }
            if (exec_key) {
                error_setg(errp, "QMP input member '%s' clashes with '%s'",
                           key, exec_key);
                return NULL;
            }
            exec_key = key;
        } else if (!strcmp(key, "arguments")) {
            if (!json_is_object(value)) {
                error_setg(errp,
                           "QMP input member 'arguments' must be an object");
                return NULL;
            }
        } else if (strcmp(key, "id")) {
            error_setg(errp, "QMP input member '%s' is unexpected", key);
            return NULL;
        }
    }
    if (!exec_key) {
        error_setg(errp, "QMP input lacks member 'execute'");
    }
    return exec_key;
}

bool qmp_is_oob(const json_t *request)
{
    return json_is_object(request) &&
        json_object_get(request, "exec-oob") &&
        !json_object_get(request, "execute");
}

bool qmp_dispatch_needs_coroutine(const QmpCommandList *cmds,
                                  const json_t *request)
{
    const char *name;
    const QmpCommand *cmd;

    if (!json_is_object(request)) {
        return false;
    }
    name = json_string_value(json_object_get(request, "execute"));
    if (!name) {
        name = json_string_value(json_object_get(request, "exec-oob"));
    }
    cmd = name ? qmp_find_command(cmds, name) : NULL;
    return cmd && (cmd->options & QCO_COROUTINE);
}

void *qmp_dispatch_opaque(void)
{
    return dispatch_opaque;
}

static json_t *run_command(const QmpCommandList *cmds, json_t *req,
                           bool allow_oob, void *opaque, Error **errp)
{
    const char *exec_key = check_request(req, allow_oob, errp);
    const QmpCommand *cmd;
    const char *name;
    g_autoptr(json_t) args = NULL;
    json_t *ret = NULL;
    json_t *rsp;
    void *saved_opaque;
    Error *err = NULL;

    if (!exec_key) {
        return NULL;
    }
    name = json_string_value(json_object_get(req, exec_key));
    cmd = qmp_find_command(cmds, name);
    if (!cmd) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "The command %s has not been found", name);
        return NULL;
    }
    if (!cmd->enabled) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Command %s has been disabled%s%s", name,
                  cmd->disable_reason ? ": " : "",
                  cmd->disable_reason ? cmd->disable_reason : "");
        return NULL;
    }
    if (!strcmp(exec_key, "exec-oob") && !(cmd->options & QCO_ALLOW_OOB)) {
        error_setg(errp, "The command %s does not support OOB", name);
        return NULL;
    }

    args = json_object_get(req, "arguments");
    args = args ? json_incref(args) : json_object();

    saved_opaque = dispatch_opaque;
    dispatch_opaque = opaque;
    cmd->fn(args, &ret, &err);
    dispatch_opaque = saved_opaque;

    if (err) {
        json_decref(ret);
        error_propagate(errp, err);
        return NULL;
    }
    if (cmd->options & QCO_NO_SUCCESS_RESP) {
        assert(!ret);
        return NULL;
    }
    rsp = json_object();
    json_object_set_new(rsp, "return", ret ? ret : json_object());
    return rsp;
}

json_t *qmp_dispatch(const QmpCommandList *cmds, json_t *request,
                     bool allow_oob, void *opaque)
{
    json_t *id = NULL;
    json_t *rsp;
    Error *err = NULL;

    if (!json_is_object(request)) {
        error_setg(&err, "QMP input must be a JSON object");
        return qmp_error_response(err);
    }
    id = json_object_get(request, "id");
    rsp = run_command(cmds, request, allow_oob, opaque, &err);
    if (err) {
        assert(!rsp);
        rsp = qmp_error_response(err);
    }
    if (rsp && id) {
        json_object_set(rsp, "id", id);
    }
    return rsp;
}

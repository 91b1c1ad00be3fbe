/*
 * QEMU QDict and block-qdict operations on jansson objects: typed lookups,
 * flatten/crumple, sub-dictionary extraction and "json:" filename parsing.
 */
#include "strata/osdep.h"
#include "util/cutils.h"
#include "util/qdict.h"
#include "util/json-parser.h"

/* Snapshot of an object's keys, so the object can change during a walk. */
static GPtrArray *qdict_keys(const json_t *d)
{
    GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)d, key, value) {
        g_ptr_array_add(keys, g_strdup(key));
    }
    return keys;
}

/* ---- Lookup ---- */

json_t *qdict_get(const json_t *d, const char *key)
{
    return json_object_get(d, key);
}

bool qdict_haskey(const json_t *d, const char *key)
{
    return json_object_get(d, key) != NULL;
}

size_t qdict_size(const json_t *d)
{
    return json_object_size(d);
}

const char *qdict_get_try_str(const json_t *d, const char *key)
{
    json_t *v = json_object_get(d, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *qdict_get_str(const json_t *d, const char *key)
{
    json_t *v = json_object_get(d, key);

    assert(json_is_string(v));
    return json_string_value(v);
}

int64_t qdict_get_int(const json_t *d, const char *key)
{
    json_t *v = json_object_get(d, key);

    assert(json_is_integer(v));
    return json_integer_value(v);
}

int64_t qdict_get_try_int(const json_t *d, const char *key, int64_t def)
{
    json_t *v = json_object_get(d, key);

    return json_is_integer(v) ? json_integer_value(v) : def;
}

bool qdict_get_bool(const json_t *d, const char *key)
{
    json_t *v = json_object_get(d, key);

    assert(json_is_boolean(v));
    return json_is_true(v);
}

bool qdict_get_try_bool(const json_t *d, const char *key, bool def)
{
    json_t *v = json_object_get(d, key);

    return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *qdict_get_qdict(const json_t *d, const char *key)
{
    json_t *v = json_object_get(d, key);

    return json_is_object(v) ? v : NULL;
}

json_t *qdict_get_qlist(const json_t *d, const char *key)
{
    json_t *v = json_object_get(d, key);

    return json_is_array(v) ? v : NULL;
}

/* ---- Modification ---- */

void qdict_put_obj(json_t *d, const char *key, json_t *value)
{
    int ret = json_object_set_new_nocheck(d, key, value);

    assert(ret == 0);
}

void qdict_put_str(json_t *d, const char *key, const char *value)
{
    qdict_put_obj(d, key, json_string_nocheck(value));
}

void qdict_put_int(json_t *d, const char *key, int64_t value)
{
    qdict_put_obj(d, key, json_integer(value));
}

void qdict_put_bool(json_t *d, const char *key, bool value)
{
    qdict_put_obj(d, key, json_boolean(value));
}

void qdict_put_null(json_t *d, const char *key)
{
    qdict_put_obj(d, key, json_null());
}

void qdict_del(json_t *d, const char *key)
{
    json_object_del(d, key);
}

json_t *qdict_clone_shallow(const json_t *d)
{
    return json_copy((json_t *)d);
}

/* ---- Typed options ---- */

static void set_type_error(Error **errp, const char *key, const char *type)
{
    error_setg(errp, "Invalid parameter type for '%s', expected: %s",
               key, type);
}

bool qdict_get_bool_opt(const json_t *d, const char *key, bool def,
                        bool *val, Error **errp)
{
    json_t *v = json_object_get(d, key);

    if (!v) {
        *val = def;
        return true;
    }
    if (json_is_boolean(v)) {
        *val = json_is_true(v);
        return true;
    }
    if (json_is_string(v)) {
        return parse_option_bool(key, json_string_value(v), val, errp);
    }
    set_type_error(errp, key, "boolean");
    return false;
}

bool qdict_get_int_opt(const json_t *d, const char *key, int64_t def,
                       int64_t *val, Error **errp)
{
    json_t *v = json_object_get(d, key);
    int64_t n;

    if (!v) {
        *val = def;
        return true;
    }
    if (json_is_integer(v)) {
        *val = json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {
        if (qemu_strtoi64(json_string_value(v), NULL, 0, &n) < 0) {
            error_setg(errp, "Parameter '%s' expects integer", key);
            return false;
        }
        *val = n;
        return true;
    }
    set_type_error(errp, key, "integer");
    return false;
}

bool qdict_get_uint_opt(const json_t *d, const char *key, uint64_t def,
                        uint64_t *val, Error **errp)
{
    json_t *v = json_object_get(d, key);
    uint64_t n;

    if (!v) {
        *val = def;
        return true;
    }
    if (json_is_integer(v)) {
        *val = (uint64_t)json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {
        if (qemu_strtou64(json_string_value(v), NULL, 0, &n) < 0) {
            error_setg(errp, "Parameter '%s' expects integer", key);
            return false;
        }
        *val = n;
        return true;
    }
    set_type_error(errp, key, "integer");
    return false;
}

bool qdict_get_size_opt(const json_t *d, const char *key, uint64_t def,
                        uint64_t *val, Error **errp)
{
    json_t *v = json_object_get(d, key);
    uint64_t n;

    if (!v) {
        *val = def;
        return true;
    }
    if (json_is_integer(v) || json_is_string(v)) {
        /* As QEMU's QemuOpts: the value is read as a size string. */
        g_autofree char *str = qobject_scalar_to_string(v);
        int ret = qemu_strtosz(str, NULL, &n);

        if (ret == -ERANGE) {
            error_setg(errp, "Value '%s' is out of range for parameter '%s'",
                       str, key);
            return false;
        }
        if (ret < 0) {
            error_setg(errp, "Parameter '%s' expects a non-negative number "
                       "below 2^64", key);
            error_append_hint(errp, "Optional suffix k, M, G, T, P or E "
                              "means kilo-, mega-, giga-, tera-, peta-\n"
                              "and exabytes, respectively.\n");
            return false;
        }
        *val = n;
        return true;
    }
    set_type_error(errp, key, "integer");
    return false;
}

bool qdict_get_str_opt(const json_t *d, const char *key, const char *def,
                       const char **val, Error **errp)
{
    json_t *v = json_object_get(d, key);

    if (!v) {
        *val = def;
        return true;
    }
    if (json_is_string(v)) {
        *val = json_string_value(v);
        return true;
    }
    set_type_error(errp, key, "string");
    return false;
}

char *qobject_scalar_to_string(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return g_strdup(json_string_value(v));
    case JSON_INTEGER:
        return g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return g_strdup_printf("%.17g", json_real_value(v));
    case JSON_TRUE:
        return g_strdup("on");
    case JSON_FALSE:
        return g_strdup("off");
    default:
        return NULL;
    }
}

/* ---- Flatten ---- */

static bool is_nonempty_container(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

/* Store the members of container @v into @target under "@prefix.". */
static void flatten_into(json_t *target, json_t *v, const char *prefix)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *child;

        json_object_foreach(v, key, child) {
            g_autofree char *name = g_strdup_printf("%s.%s", prefix, key);

            if (is_nonempty_container(child)) {
                flatten_into(target, child, name);
            } else {
                qdict_put_obj(target, name, json_incref(child));
            }
        }
    } else {
        size_t i;
        json_t *child;

        json_array_foreach(v, i, child) {
            g_autofree char *name = g_strdup_printf("%s.%zu", prefix, i);

            if (is_nonempty_container(child)) {
                flatten_into(target, child, name);
            } else {
                qdict_put_obj(target, name, json_incref(child));
            }
        }
    }
}

void qdict_flatten(json_t *d)
{
    g_autoptr(GPtrArray) keys = qdict_keys(d);

    for (guint i = 0; i < keys->len; i++) {
        const char *key = keys->pdata[i];
        json_t *v = json_object_get(d, key);

        if (v && is_nonempty_container(v)) {
            json_incref(v);
            json_object_del(d, key);
            flatten_into(d, v, key);
            json_decref(v);
        }
    }
}

/* ---- Sub-dictionaries and arrays ---- */

void qdict_extract_subqdict(json_t *src, json_t **dst, const char *start)
{
    g_autoptr(GPtrArray) keys = qdict_keys(src);
    const char *rest;

    *dst = json_object();
    for (guint i = 0; i < keys->len; i++) {
        const char *key = keys->pdata[i];

        if (strstart(key, start, &rest)) {
            qdict_put_obj(*dst, rest, json_incref(json_object_get(src, key)));
            json_object_del(src, key);
        }
    }
}

static size_t count_prefixed(const json_t *src, const char *start)
{
    const char *key;
    json_t *value;
    size_t count = 0;

    json_object_foreach((json_t *)src, key, value) {
        if (strstart(key, start, NULL)) {
            count++;
        }
    }
    return count;
}

void qdict_array_split(json_t *src, json_t **dst)
{
    *dst = json_array();

    for (unsigned int i = 0; i < UINT_MAX; i++) {
        char index[16], prefix[16];
        json_t *single;
        bool grouped;

        snprintf(index, sizeof(index), "%u", i);
        snprintf(prefix, sizeof(prefix), "%u.", i);
        single = json_object_get(src, index);
        grouped = count_prefixed(src, prefix) > 0;

        /* Element i is either "i" or a group of "i.*" keys, not both */
        if (!single == !grouped) {
            break;
        }
        if (grouped) {
            json_t *sub;

            qdict_extract_subqdict(src, &sub, prefix);
            json_array_append_new(*dst, sub);
        } else {
            json_array_append(*dst, single);
            json_object_del(src, index);
        }
    }
}

int qdict_array_entries(json_t *src, const char *subqdict)
{
    size_t sublen = strlen(subqdict);
    size_t handled = 0;
    const char *key;
    json_t *value;
    int i;

    assert(sublen == 0 || subqdict[sublen - 1] == '.');

    for (i = 0; i < INT_MAX; i++) {
        g_autofree char *name = g_strdup_printf("%s%d", subqdict, i);
        g_autofree char *prefix = g_strdup_printf("%s.", name);
        size_t grouped = count_prefixed(src, prefix);
        bool single = json_object_get(src, name) != NULL;

        if (single && grouped) {
            return -EINVAL;
        }
        if (!single && !grouped) {
            break;
        }
        handled += grouped ? grouped : 1;
    }

    /* Everything outside @subqdict counts as handled */
    json_object_foreach(src, key, value) {
        if (!strstart(key, subqdict, NULL)) {
            handled++;
        }
    }
    /* Anything else under @subqdict is not an array element */
    if (json_object_size(src) != handled) {
        return -EINVAL;
    }
    return i;
}

/* ---- Crumple ---- */

/*
 * Split @key at its first '.' that is not part of a ".." pair.  *@prefix
 * gets the part before it with ".." unescaped to "." (caller frees);
 * *@suffix points after it in @key (still escaped), or is NULL if there is
 * no separator.
 */
static void split_flat_key(const char *key, char **prefix,
                           const char **suffix)
{
    const char *p = key;
    GString *out = g_string_new(NULL);

    *suffix = NULL;
    for (p = key; *p; p++) {
        if (*p == '.') {
            if (p[1] == '.') {
                g_string_append_c(out, '.');
                p++;
                continue;
            }
            *suffix = p + 1;
            break;
        }
        g_string_append_c(out, *p);
    }
    *prefix = g_string_free(out, false);
}

/*
 * 1 if every key of @d is an integer (a list), 0 if none is (or @d is
 * empty), -1 with an error otherwise.
 */
static int crumple_is_list(const json_t *d, Error **errp)
{
    const char *key;
    json_t *value;
    int is_list = -1;
    ssize_t count = 0, max = -1;

    json_object_foreach((json_t *)d, key, value) {
        int64_t index;
        int is_index = qemu_strtoi64(key, NULL, 10, &index) == 0;

        if (is_list == -1) {
            is_list = is_index;
        }
        if (is_index != is_list) {
            error_setg(errp, "Cannot mix list and non-list keys");
            return -1;
        }
        if (is_index) {
            count++;
            if (index > max) {
                max = index;
            }
        }
    }
    if (is_list == -1) {
        return 0;
    }
    /*
     * Not a complete check ("1" and "+1" both count); the caller finds
     * missing canonical indexes when it builds the list.
     */
    if (count != max + 1) {
        error_setg(errp, "List indices are not contiguous, saw %zd elements "
                   "but %zd largest index", count, max);
        return -1;
    }
    return is_list;
}

json_t *qdict_crumple(const json_t *src, Error **errp)
{
    g_autoptr(json_t) two_level = json_object();
    g_autoptr(json_t) multi_level = json_object();
    const char *key;
    json_t *value;
    int is_list;

    /* Step 1: group keys by their first component */
    json_object_foreach((json_t *)src, key, value) {
        g_autofree char *prefix = NULL;
        const char *suffix;
        json_t *child;

        if (is_nonempty_container(value)) {
            error_setg(errp, "Value %s is not flat", key);
            return NULL;
        }
        split_flat_key(key, &prefix, &suffix);
        child = json_object_get(two_level, prefix);
        if (child && (!json_is_object(child) || !suffix)) {
            error_setg(errp, "Cannot mix scalar and non-scalar keys");
            return NULL;
        }
        if (suffix) {
            if (!child) {
                child = json_object();
                qdict_put_obj(two_level, prefix, child);
            }
            qdict_put_obj(child, suffix, json_incref(value));
        } else {
            qdict_put_obj(two_level, prefix, json_incref(value));
        }
    }

    /* Step 2: crumple each group recursively */
    json_object_foreach(two_level, key, value) {
        if (json_is_object(value) && json_object_size(value) > 0) {
            json_t *child = qdict_crumple(value, errp);

            if (!child) {
                return NULL;
            }
            qdict_put_obj(multi_level, key, child);
        } else {
            qdict_put_obj(multi_level, key, json_incref(value));
        }
    }

    /* Step 3: an object whose keys are all indexes is a list */
    is_list = crumple_is_list(multi_level, errp);
    if (is_list < 0) {
        return NULL;
    }
    if (is_list) {
        json_t *list = json_array();
        size_t n = json_object_size(multi_level);

        for (size_t i = 0; i < n; i++) {
            char index[32];
            json_t *elem;

            snprintf(index, sizeof(index), "%zu", i);
            elem = json_object_get(multi_level, index);
            if (!elem) {
                error_setg(errp, "Missing list index %zu", i);
                json_decref(list);
                return NULL;
            }
            json_array_append(list, elem);
        }
        return list;
    }
    return json_incref(multi_level);
}

static json_t *stringified(json_t *v)
{
    char *s;
    json_t *str;

    if (!json_is_number(v) && !json_is_boolean(v)) {
        return NULL;
    }
    s = qobject_scalar_to_string(v);
    str = json_string_nocheck(s);
    g_free(s);
    return str;
}

static void stringify_array(json_t *a);

void qdict_stringify_for_keyval(json_t *d)
{
    const char *key;
    json_t *value;

    json_object_foreach(d, key, value) {
        json_t *str;

        if (json_is_object(value)) {
            qdict_stringify_for_keyval(value);
        } else if (json_is_array(value)) {
            stringify_array(value);
        } else if ((str = stringified(value))) {
            /* replacing an existing key does not disturb the iteration */
            qdict_put_obj(d, key, str);
        }
    }
}

static void stringify_array(json_t *a)
{
    size_t i;
    json_t *value;

    json_array_foreach(a, i, value) {
        json_t *str;

        if (json_is_object(value)) {
            qdict_stringify_for_keyval(value);
        } else if (json_is_array(value)) {
            stringify_array(value);
        } else if ((str = stringified(value))) {
            json_array_set_new(a, i, str);
        }
    }
}

json_t *qdict_crumple_for_keyval(const json_t *src, Error **errp)
{
    g_autoptr(json_t) tmp = json_copy((json_t *)src);
    const char *key;
    json_t *value;

    /* Only the top level: nested values make qdict_crumple() fail anyway */
    json_object_foreach(tmp, key, value) {
        json_t *str = stringified(value);

        if (str) {
            qdict_put_obj(tmp, key, str);
        }
    }
    return qdict_crumple(tmp, errp);
}

/* ---- Defaults, renames, joins ---- */

void qdict_copy_default(json_t *dst, const json_t *src, const char *key)
{
    json_t *v;

    if (!qdict_haskey(dst, key)) {
        v = json_object_get(src, key);
        if (v) {
            qdict_put_obj(dst, key, json_incref(v));
        }
    }
}

void qdict_set_default_str(json_t *dst, const char *key, const char *val)
{
    if (!qdict_haskey(dst, key)) {
        qdict_put_str(dst, key, val);
    }
}

bool qdict_rename_keys(json_t *d, const QDictRenames *renames, Error **errp)
{
    for (; renames->from; renames++) {
        json_t *v = json_object_get(d, renames->from);

        if (!v) {
            continue;
        }
        if (qdict_haskey(d, renames->to)) {
            error_setg(errp, "'%s' and its alias '%s' can't be used at the "
                       "same time", renames->to, renames->from);
            return false;
        }
        qdict_put_obj(d, renames->to, json_incref(v));
        json_object_del(d, renames->from);
    }
    return true;
}

void qdict_join(json_t *dest, json_t *src, bool overwrite)
{
    g_autoptr(GPtrArray) keys = qdict_keys(src);

    for (guint i = 0; i < keys->len; i++) {
        const char *key = keys->pdata[i];

        if (overwrite || !qdict_haskey(dest, key)) {
            qdict_put_obj(dest, key, json_incref(json_object_get(src, key)));
            json_object_del(src, key);
        }
    }
}

/* ---- JSON text ---- */

/* The one value of a JSON text, as QEMU's qobject_from_json() reads it. */
typedef struct JSONParsingState {
    json_t *result;
    Error *err;
} JSONParsingState;

static void consume_json(void *opaque, json_t *value, Error *err)
{
    JSONParsingState *s = opaque;

    if (s->result) {
        json_decref(s->result);
        s->result = NULL;
        error_setg(&s->err, "Expecting at most one JSON value");
    }
    if (s->err) {
        json_decref(value);
        error_free(err);
        return;
    }
    s->result = value;
    s->err = err;
}

json_t *qobject_from_json(const char *str, Error **errp)
{
    JSONParsingState state = { 0 };
    JSONMessageParser parser;

    json_message_parser_init(&parser, consume_json, &state);
    json_message_parser_feed(&parser, str, strlen(str));
    json_message_parser_flush(&parser);
    json_message_parser_destroy(&parser);
    if (!state.result && !state.err) {
        error_setg(&state.err, "Expecting a JSON value");
    }
    error_propagate(errp, state.err);
    return state.result;
}

json_t *qobject_from_json_filename(const char *filename, Error **errp)
{
    Error *local_err = NULL;
    json_t *v;

    strstart(filename, "json:", &filename);
    v = qobject_from_json(filename, &local_err);
    if (!v) {
        error_propagate_prepend(errp, local_err,
                                "Could not parse the JSON options: ");
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        error_setg(errp, "Invalid JSON object given");
        return NULL;
    }
    qdict_flatten(v);
    return v;
}

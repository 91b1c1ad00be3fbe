/*
 * keyval parsing ("a.b=1,c=2" into nested JSON objects and arrays) with
 * QEMU 7.2's grammar and messages, plus the flat QemuOpts-style variant.
 */
#include "strata/osdep.h"
#include "util/cutils.h"
#include "util/keyval.h"
#include "util/option.h"
#include "util/qdict.h"

/* Longest key fragment plus one */
#define KEY_FRAGMENT_MAX 128

/* Length of "help" or "?" at the start of @s, or 0. */
static size_t help_prefix_len(const char *s)
{
    if (s[0] == '?') {
        return 1;
    }
    return g_str_has_prefix(s, "help") ? 4 : 0;
}

/*
 * If @key starts with an index (decimal digits), return it (INT_MAX when
 * too large) and set *@end after the digits; otherwise -EINVAL.
 */
static int key_to_index(const char *key, const char **end)
{
    unsigned long index;
    int ret;

    if (!g_ascii_isdigit(key[0])) {
        return -EINVAL;
    }
    ret = qemu_strtoul(key, end, 10, &index);
    if (ret) {
        return ret == -ERANGE ? INT_MAX : ret;
    }
    return index <= INT_MAX ? (int)index : INT_MAX;
}

/*
 * Store in @cur under @name either the string @value or (@value NULL) an
 * object, which is returned (the existing one if there is one).  @key ..
 * @key_cursor is the key text for messages.  Consumes @value.
 */
static json_t *keyval_put(json_t *cur, const char *name, json_t *value,
                          const char *key, const char *key_cursor,
                          Error **errp)
{
    json_t *old = json_object_get(cur, name);

    if (old) {
        if (value ? !json_is_string(old) : !json_is_object(old)) {
            error_setg(errp, "Parameters '%.*s.*' used inconsistently",
                       (int)(key_cursor - key), key);
            json_decref(value);
            return NULL;
        }
        if (!value) {
            return old;
        }
    } else if (!value) {
        value = json_object();
    }
    qdict_put_obj(cur, name, value);
    return value;
}

/*
 * Parse one key-val at @params into @qdict.  Returns where the next one
 * starts, or NULL on error.
 */
static const char *keyval_parse_one(json_t *qdict, const char *params,
                                    const char *implied_key, bool *help,
                                    Error **errp)
{
    const char *key = params;
    const char *key_end;
    const char *val_end = NULL;
    const char *s;
    size_t len = strcspn(params, "=,");
    char name[KEY_FRAGMENT_MAX];
    json_t *cur = qdict;
    json_t *value;

    if (len && key[len] != '=') {
        if (help_prefix_len(key) == len) {
            *help = true;
            s = key + len;
            return *s == ',' ? s + 1 : s;
        }
        if (implied_key) {
            /* "VALUE" is short for "IMPLIED=VALUE" */
            key = implied_key;
            val_end = params + len;
            len = strlen(implied_key);
        }
    }
    key_end = key + len;

    /* Walk the fragments; @name holds the previous one, a member of @cur */
    s = key;
    for (;;) {
        const char *end;
        int ret;

        if (s != key && key_to_index(s, &end) >= 0) {
            len = end - s;
        } else {
            ret = parse_qapi_name(s, false);
            len = ret < 0 ? 0 : ret;
        }
        assert(s + len <= key_end);
        if (!len || (s + len < key_end && s[len] != '.')) {
            assert(key != implied_key);
            error_setg(errp, "Invalid parameter '%.*s'",
                       (int)(key_end - key), key);
            return NULL;
        }
        if (len >= KEY_FRAGMENT_MAX) {
            assert(key != implied_key);
            error_setg(errp, "Parameter%s '%.*s' is too long",
                       s != key || s + len != key_end ? " fragment" : "",
                       (int)len, s);
            return NULL;
        }
        if (s != key) {
            cur = keyval_put(cur, name, NULL, key, s - 1, errp);
            if (!cur) {
                return NULL;
            }
        }
        memcpy(name, s, len);
        name[len] = '\0';
        s += len;
        if (*s != '.') {
            break;
        }
        s++;
    }

    if (key == implied_key) {
        assert(!*s);
        value = json_stringn_nocheck(params, val_end - params);
        s = *val_end == ',' ? val_end + 1 : val_end;
    } else {
        GString *val;

        if (*s != '=') {
            error_setg(errp, "Expected '=' after parameter '%.*s'",
                       (int)(s - key), key);
            return NULL;
        }
        s++;
        val = g_string_new(NULL);
        while (*s) {
            if (*s == ',') {
                if (s[1] != ',') {
                    s++;
                    break;
                }
                s++;            /* ",," is a literal ',' */
            }
            g_string_append_c(val, *s++);
        }
        value = json_stringn_nocheck(val->str, val->len);
        g_string_free(val, true);
    }

    if (!keyval_put(cur, name, value, key, key_end, errp)) {
        return NULL;
    }
    return s;
}

/*
 * Replace, bottom-up, every object below @cur whose keys are all indexes
 * by an array.  @path is the dotted key of @cur with a trailing '.' (empty
 * at the root).  Returns a new reference to @cur or to its replacement.
 */
static json_t *keyval_listify(json_t *cur, GString *path, Error **errp)
{
    bool has_index = false, has_member = false;
    size_t saved_len = path->len;
    const char *key;
    json_t *value;
    size_t nelt;
    int max_index = -1;
    g_autofree json_t **elt = NULL;
    json_t *list;

    json_object_foreach(cur, key, value) {
        json_t *sub;

        if (key_to_index(key, NULL) >= 0) {
            has_index = true;
        } else {
            has_member = true;
        }
        if (!json_is_object(value)) {
            continue;
        }
        g_string_append_printf(path, "%s.", key);
        sub = keyval_listify(value, path, errp);
        g_string_truncate(path, saved_len);
        if (!sub) {
            return NULL;
        }
        if (sub != value) {
            qdict_put_obj(cur, key, sub);   /* in place: iteration is safe */
        } else {
            json_decref(sub);
        }
    }

    if (has_index && has_member) {
        error_setg(errp, "Parameters '%s*' used inconsistently", path->str);
        return NULL;
    }
    if (!has_index) {
        return json_incref(cur);
    }

    /*
     * Place each value at its index.  Indexes at or beyond the member
     * count cannot all be filled, so some smaller index is then missing;
     * the scan below reports the first gap.  (Keys like "1" and "01" name
     * the same index; the later one wins.)
     */
    nelt = json_object_size(cur);
    elt = g_new0(json_t *, nelt);
    json_object_foreach(cur, key, value) {
        int index = key_to_index(key, NULL);

        assert(index >= 0);
        max_index = MAX(max_index, index);
        if ((size_t)index < nelt) {
            elt[index] = value;
        }
    }

    list = json_array();
    for (size_t i = 0; i < MIN(nelt + 1, (size_t)max_index + 1); i++) {
        if (i == nelt || !elt[i]) {
            error_setg(errp, "Parameter '%s%zu' missing", path->str, i);
            json_decref(list);
            return NULL;
        }
        json_array_append(list, elt[i]);
    }
    return list;
}

json_t *keyval_parse_into(json_t *qdict, const char *params,
                          const char *implied_key, bool *p_help,
                          Error **errp)
{
    g_autoptr(GString) path = g_string_new(NULL);
    const char *s = params;
    bool help = false;
    json_t *listified;

    while (*s) {
        s = keyval_parse_one(qdict, s, implied_key, &help, errp);
        if (!s) {
            return NULL;
        }
        implied_key = NULL;
    }

    if (p_help) {
        *p_help = help;
    } else if (help) {
        error_setg(errp, "Help is not available for this option");
        return NULL;
    }

    /* The root has no index keys, so it stays an object */
    listified = keyval_listify(qdict, path, errp);
    if (!listified) {
        return NULL;
    }
    assert(listified == qdict);
    json_decref(listified);
    return qdict;
}

json_t *keyval_parse(const char *params, const char *implied_key,
                     bool *p_help, Error **errp)
{
    json_t *qdict = json_object();

    if (!keyval_parse_into(qdict, params, implied_key, p_help, errp)) {
        json_decref(qdict);
        return NULL;
    }
    return qdict;
}

static bool keyval_do_merge(json_t *dest, const json_t *merged,
                            GString *path, Error **errp)
{
    size_t saved_len = path->len;
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)merged, key, value) {
        json_t *old = json_object_get(dest, key);

        if (old) {
            if (json_typeof(old) != json_typeof(value)) {
                error_setg(errp, "Parameter '%s%s' used inconsistently",
                           path->str, key);
                return false;
            }
            if (json_is_object(value)) {
                bool ok;

                g_string_append_printf(path, "%s.", key);
                ok = keyval_do_merge(old, value, path, errp);
                g_string_truncate(path, saved_len);
                if (!ok) {
                    return false;
                }
                continue;
            }
            if (json_is_array(value)) {
                json_array_extend(old, value);
                continue;
            }
            assert(json_is_string(value));
        }
        qdict_put_obj(dest, key, json_incref(value));
    }
    return true;
}

bool keyval_merge(json_t *dest, const json_t *merged, Error **errp)
{
    g_autoptr(GString) path = g_string_new(NULL);

    return keyval_do_merge(dest, merged, path, errp);
}

json_t *keyval_parse_flat(const char *params, const char *implied_key,
                          Error **errp)
{
    /* A list with no descriptions accepts any option */
    g_autofree QemuOptsList *list = g_malloc0(sizeof(QemuOptsList) +
                                              sizeof(QemuOptDesc));
    QemuOpts *opts;
    json_t *qdict;

    list->name = "flat";
    list->implied_opt_name = implied_key;
    opts = qemu_opts_parse_full(list, params, implied_key != NULL, true,
                                NULL, errp);
    if (!opts) {
        return NULL;
    }
    qdict = qemu_opts_to_qdict(opts, NULL);
    qemu_opts_del(opts);
    return qdict;
}

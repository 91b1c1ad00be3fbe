/*
 * Dictionary helpers on jansson objects with the semantics of QEMU's QDict
 * and block-qdict (flatten, crumple, sub-dict extraction, "json:" names).
 */
#ifndef UTIL_QDICT_H
#define UTIL_QDICT_H

#include <jansson.h>

#include "strata/osdep.h"
#include "util/error.h"

/*
 * Conventions: a "qdict" is a jansson object (json_t of type JSON_OBJECT).
 * Getters return borrowed references.  qdict_put_obj() steals the
 * reference to @value; the other setters create the value.  Setting an
 * existing key replaces its value in place (the member keeps its position).
 */

/*
 * g_autoptr(json_t) drops the reference at scope exit.  This is the one
 * definition for the project: include this header to use it.
 */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

/* ---- Lookup ---- */

/* The value for @key, or NULL. */
json_t *qdict_get(const json_t *d, const char *key);
bool qdict_haskey(const json_t *d, const char *key);
size_t qdict_size(const json_t *d);

/* The string value, or NULL if @key is absent or not a string. */
const char *qdict_get_try_str(const json_t *d, const char *key);
/* The string value; @key must be present and a string. */
const char *qdict_get_str(const json_t *d, const char *key);
/* Integer / boolean values; the plain variants assert the type. */
int64_t qdict_get_int(const json_t *d, const char *key);
int64_t qdict_get_try_int(const json_t *d, const char *key, int64_t def);
bool qdict_get_bool(const json_t *d, const char *key);
bool qdict_get_try_bool(const json_t *d, const char *key, bool def);
/* The object / array value, or NULL if absent or of another type. */
json_t *qdict_get_qdict(const json_t *d, const char *key);
json_t *qdict_get_qlist(const json_t *d, const char *key);

/* ---- Modification ---- */

void qdict_put_obj(json_t *d, const char *key, json_t *value);
void qdict_put_str(json_t *d, const char *key, const char *value);
void qdict_put_int(json_t *d, const char *key, int64_t value);
void qdict_put_bool(json_t *d, const char *key, bool value);
void qdict_put_null(json_t *d, const char *key);
/* Remove @key if present. */
void qdict_del(json_t *d, const char *key);
/* A new object holding the same values (shared references). */
json_t *qdict_clone_shallow(const json_t *d);

/* ---- Typed options ----
 *
 * Options reach drivers either from the command line, where every value
 * is a string, or from QMP / "json:" names, where values are typed.  These
 * accept both.  Each returns true and sets *@val (to @def when @key is
 * absent), or returns false with an error:
 *   string of the wrong form: "Parameter '%s' expects 'on' or 'off'" (bool,
 *     see parse_option_bool()), "... expects integer" (int, uint; any base
 *     strtol accepts), "... expects size" (size, see qemu_strtosz())
 *   wrong JSON type: "Invalid parameter type for '%s', expected: boolean"
 *     (or "integer", "string")
 * As in QEMU, negative JSON integers and strings are accepted by the
 * uint and size variants and wrap modulo 2^64.
 */
bool qdict_get_bool_opt(const json_t *d, const char *key, bool def,
                        bool *val, Error **errp);
bool qdict_get_int_opt(const json_t *d, const char *key, int64_t def,
                       int64_t *val, Error **errp);
bool qdict_get_uint_opt(const json_t *d, const char *key, uint64_t def,
                        uint64_t *val, Error **errp);
bool qdict_get_size_opt(const json_t *d, const char *key, uint64_t def,
                        uint64_t *val, Error **errp);
bool qdict_get_str_opt(const json_t *d, const char *key, const char *def,
                       const char **val, Error **errp);

/*
 * A scalar as QemuOpts stores it: strings as they are, integers in
 * decimal, reals with "%.17g", booleans as "on"/"off".  NULL for null,
 * objects and arrays.  Caller frees.
 */
char *qobject_scalar_to_string(const json_t *v);

/* ---- Block-layer dictionary operations ---- */

/*
 * Flatten nested objects and arrays into dotted keys in place:
 * {"file": {"filename": "x"}, "l": [1, {"a": 2}]} becomes
 * {"file.filename": "x", "l.0": 1, "l.1.a": 2}.  Empty objects and arrays
 * are kept as values.  A nested value wins over an existing flat key of
 * the same name.
 */
void qdict_flatten(json_t *d);

/*
 * Move every member of @src whose key starts with @start into a new object
 * *@dst, with @start stripped from the key.
 */
void qdict_extract_subqdict(json_t *src, json_t **dst, const char *start);

/*
 * Move the members "0", "1", ... (or groups "0.*", "1.*", ... as
 * sub-objects) of @src into a new array *@dst, stopping at the first index
 * that has neither form or has both.
 */
void qdict_array_split(json_t *src, json_t **dst);

/*
 * Count the array elements "<subqdict>0", "<subqdict>1", ... (each either
 * a plain key or a group of "<subqdict>N." keys) in @src, where @subqdict
 * is "" or ends with '.'.  Returns -EINVAL if an index has both forms or
 * if @src holds other keys under @subqdict.
 */
int qdict_array_entries(json_t *src, const char *subqdict);

/*
 * Turn a flat object with dotted keys into a nested structure (a new
 * reference); keys made of numbers become arrays.  ".." escapes a '.' in a
 * key.  Errors, with QEMU's messages: a non-empty object or array value
 * ("Value %s is not flat"), a key used both as a scalar and a prefix
 * ("Cannot mix scalar and non-scalar keys"), numeric and other keys
 * side by side ("Cannot mix list and non-list keys"), gaps in the indexes
 * ("List indices are not contiguous, saw %zd elements but %zd largest
 * index") and indexes not written in canonical decimal ("Missing list
 * index %zu").
 */
json_t *qdict_crumple(const json_t *src, Error **errp);

/*
 * qdict_crumple() after converting numbers and booleans to strings ("on" /
 * "off"), for values to be read by a keyval-style (all strings) consumer.
 */
json_t *qdict_crumple_for_keyval(const json_t *src, Error **errp);

/* Recursively convert numbers and booleans to strings, in place. */
void qdict_stringify_for_keyval(json_t *d);

/* If @dst lacks @key, copy @src's value for it (if any). */
void qdict_copy_default(json_t *dst, const json_t *src, const char *key);
/* If @dst lacks @key, set it to the string @val. */
void qdict_set_default_str(json_t *dst, const char *key, const char *val);

typedef struct QDictRenames {
    const char *from;
    const char *to;
} QDictRenames;

/*
 * Rename keys according to @renames (terminated by {NULL, NULL}).  Fails
 * with "'%s' and its alias '%s' can't be used at the same time" if both
 * names are present.
 */
bool qdict_rename_keys(json_t *d, const QDictRenames *renames, Error **errp);

/*
 * Move the members of @src into @dest.  Members whose key @dest already
 * has are moved (replacing the old value) only if @overwrite; otherwise
 * they stay in @src.
 */
void qdict_join(json_t *dest, json_t *src, bool overwrite);

/* ---- JSON text ---- */

/*
 * Parse JSON text as QEMU's parser does: any value at top level, exactly
 * one value, duplicate keys rejected, 'single-quoted' strings accepted,
 * integers too large for int64 read as reals.  Errors carry QEMU's
 * wording where it is known ("Expecting a JSON value", "Expecting at most
 * one JSON value", "JSON parse error, premature EOI", ...).
 */
json_t *qobject_from_json(const char *str, Error **errp);

/*
 * The options of a "json:{...}" pseudo-filename (the "json:" prefix is
 * optional here), flattened as QEMU does before opening.  Errors:
 * "Could not parse the JSON options: <reason>", "Invalid JSON object
 * given" for a valid value that is not an object.
 */
json_t *qobject_from_json_filename(const char *filename, Error **errp);

#endif

/*
 * Input visitors: QAPI values from JSON (QMP) or from keyval's all-string
 * form (command line), with QEMU 7.2's error messages and member paths.
 */
#include "strata/osdep.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/visitor-impl.h"
#include "util/cutils.h"
#include "util/keyval.h"
#include "util/qdict.h"

/*
 * One object or array being visited.  For an object, @unvisited holds
 * the keys no visit has consumed yet; for an array, @index is the
 * element being visited.
 *
 * The unexpected-member check reports the first key of @unvisited in
 * GHashTable order.  To report the same key QEMU does when there are
 * several, the table is filled in the order QEMU's dictionaries list
 * their keys and emptied in visit order, exactly as QEMU does it.
 */
typedef struct StackObject {
    const char *name;           /* the name it was visited under, or NULL */
    json_t *obj;
    GHashTable *unvisited;
    size_t index;
} StackObject;

typedef struct QObjectInputVisitor {
    Visitor visitor;
    json_t *root;
    bool keyval;
    GPtrArray *stack;           /* of StackObject *, top last */
    GString *errname;
} QObjectInputVisitor;

static QObjectInputVisitor *to_qiv(Visitor *v)
{
    return container_of(v, QObjectInputVisitor, visitor);
}

static StackObject *top(QObjectInputVisitor *qiv)
{
    return qiv->stack->len ?
        g_ptr_array_index(qiv->stack, qiv->stack->len - 1) : NULL;
}

/*
 * The path of member @name of the innermost container, for messages:
 * "a.b", "a[2].b" ("a.2.b" for keyval), "<anonymous>" if there is none.
 */
static const char *full_name(QObjectInputVisitor *qiv, const char *name)
{
    GString *s = qiv->errname;

    g_string_truncate(s, 0);
    for (guint i = qiv->stack->len; i-- > 0;) {
        StackObject *so = g_ptr_array_index(qiv->stack, i);

        if (json_is_object(so->obj)) {
            g_string_prepend(s, name ? name : "<anonymous>");
            g_string_prepend_c(s, '.');
        } else {
            char buf[32];

            snprintf(buf, sizeof(buf), qiv->keyval ? ".%zu" : "[%zu]",
                     so->index);
            g_string_prepend(s, buf);
        }
        name = so->name;
    }
    if (name) {
        g_string_prepend(s, name);
    } else if (s->str[0] == '.') {
        g_string_erase(s, 0, 1);
    } else if (!s->str[0]) {
        return "<anonymous>";
    }
    return s->str;
}

/* The value for @name in the innermost container, or NULL. */
static json_t *try_get_object(QObjectInputVisitor *qiv, const char *name,
                              bool consume)
{
    StackObject *tos = top(qiv);
    json_t *ret;

    if (!tos) {
        /* The root; its name is whatever the caller calls it */
        return qiv->root;
    }
    if (json_is_object(tos->obj)) {
        assert(name);
        ret = json_object_get(tos->obj, name);
        if (ret && consume) {
            g_hash_table_remove(tos->unvisited, name);
        }
        return ret;
    }
    return json_array_get(tos->obj, tos->index);
}

static json_t *get_object(QObjectInputVisitor *qiv, const char *name,
                          bool consume, Error **errp)
{
    json_t *obj = try_get_object(qiv, name, consume);

    if (!obj) {
        error_setg(errp, "Parameter '%s' is missing", full_name(qiv, name));
    }
    return obj;
}

static void push(QObjectInputVisitor *qiv, const char *name, json_t *obj)
{
    StackObject *so = g_new0(StackObject, 1);

    so->name = name;
    so->obj = obj;
    if (json_is_object(obj)) {
        g_autoptr(GPtrArray) keys = qapi_object_keys_qemu_order(obj);

        so->unvisited = g_hash_table_new(g_str_hash, g_str_equal);
        for (guint i = 0; i < keys->len; i++) {
            g_hash_table_insert(so->unvisited, g_ptr_array_index(keys, i),
                                NULL);
        }
    }
    g_ptr_array_add(qiv->stack, so);
}

static void pop(QObjectInputVisitor *qiv)
{
    StackObject *so = top(qiv);

    assert(so);
    if (so->unvisited) {
        g_hash_table_unref(so->unvisited);
    }
    g_free(so);
    g_ptr_array_set_size(qiv->stack, qiv->stack->len - 1);
}

static void type_error(QObjectInputVisitor *qiv, const char *name,
                       const char *expected, Error **errp)
{
    error_setg(errp, "Invalid parameter type for '%s', expected: %s",
               full_name(qiv, name), expected);
}

/* ---- containers ---- */

static bool qiv_start_struct(Visitor *v, const char *name, void **obj,
                             size_t size, Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, true, errp);

    if (obj) {
        *obj = NULL;
    }
    if (!o) {
        return false;
    }
    if (!json_is_object(o)) {
        type_error(qiv, name, "object", errp);
        return false;
    }
    push(qiv, name, o);
    if (obj) {
        *obj = g_malloc0(size);
    }
    return true;
}

static bool qiv_check_struct(Visitor *v, Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    StackObject *tos = top(qiv);
    GHashTableIter iter;
    const char *key;

    assert(tos && tos->unvisited);
    g_hash_table_iter_init(&iter, tos->unvisited);
    if (g_hash_table_iter_next(&iter, (void **)&key, NULL)) {
        error_setg(errp, "Parameter '%s' is unexpected",
                   full_name(qiv, key));
        return false;
    }
    return true;
}

static void qiv_end_struct(Visitor *v, void **obj)
{
    QObjectInputVisitor *qiv = to_qiv(v);

    assert(json_is_object(top(qiv)->obj));
    pop(qiv);
}

static bool qiv_start_list(Visitor *v, const char *name, GenericList **list,
                           size_t size, Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, true, errp);

    if (list) {
        *list = NULL;
    }
    if (!o) {
        return false;
    }
    if (!json_is_array(o)) {
        type_error(qiv, name, "array", errp);
        return false;
    }
    push(qiv, name, o);
    if (list && json_array_size(o)) {
        *list = g_malloc0(size);
    }
    return true;
}

static GenericList *qiv_next_list(Visitor *v, GenericList *tail,
                                  size_t size)
{
    StackObject *tos = top(to_qiv(v));

    assert(tos && json_is_array(tos->obj));
    tos->index++;
    if (tos->index >= json_array_size(tos->obj)) {
        return NULL;
    }
    tail->next = g_malloc0(size);
    return tail->next;
}

static void qiv_end_list(Visitor *v, void **obj)
{
    QObjectInputVisitor *qiv = to_qiv(v);

    assert(json_is_array(top(qiv)->obj));
    pop(qiv);
}

static bool qiv_start_alternate(Visitor *v, const char *name,
                                GenericAlternate **obj, size_t size,
                                Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, false, errp);

    if (!o) {
        *obj = NULL;
        return false;
    }
    *obj = g_malloc0(size);
    (*obj)->type = qapi_json_qtype(o);
    return true;
}

static bool qiv_optional(Visitor *v, const char *name, bool *present)
{
    *present = try_get_object(to_qiv(v), name, false) != NULL;
    return *present;
}

/* ---- scalars from JSON ---- */

static bool qiv_type_int64(Visitor *v, const char *name, int64_t *obj,
                           Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, true, errp);

    if (!o) {
        return false;
    }
    if (!json_is_integer(o)) {
        type_error(qiv, name, "integer", errp);
        return false;
    }
    *obj = json_integer_value(o);
    return true;
}

static bool qiv_type_uint64(Visitor *v, const char *name, uint64_t *obj,
                            Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, true, errp);

    if (!o) {
        return false;
    }
    if (!json_is_integer(o)) {
        error_setg(errp, "Parameter '%s' expects uint64",
                   full_name(qiv, name));
        return false;
    }
    /* Negative numbers wrap around, as in QEMU */
    *obj = (uint64_t)json_integer_value(o);
    return true;
}

static bool qiv_type_bool(Visitor *v, const char *name, bool *obj,
                          Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, true, errp);

    if (!o) {
        return false;
    }
    if (!json_is_boolean(o)) {
        type_error(qiv, name, "boolean", errp);
        return false;
    }
    *obj = json_is_true(o);
    return true;
}

static bool qiv_type_str(Visitor *v, const char *name, char **obj,
                         Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, true, errp);

    *obj = NULL;
    if (!o) {
        return false;
    }
    if (!json_is_string(o)) {
        type_error(qiv, name, "string", errp);
        return false;
    }
    *obj = g_strdup(json_string_value(o));
    return true;
}

static bool qiv_type_number(Visitor *v, const char *name, double *obj,
                            Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, true, errp);

    if (!o) {
        return false;
    }
    if (!json_is_number(o)) {
        type_error(qiv, name, "number", errp);
        return false;
    }
    *obj = json_number_value(o);
    return true;
}

static bool qiv_type_any(Visitor *v, const char *name, json_t **obj,
                         Error **errp)
{
    json_t *o = get_object(to_qiv(v), name, true, errp);

    *obj = o ? json_incref(o) : NULL;
    return o != NULL;
}

static bool qiv_type_null(Visitor *v, const char *name, QNull **obj,
                          Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    json_t *o = get_object(qiv, name, true, errp);

    *obj = NULL;
    if (!o) {
        return false;
    }
    if (!json_is_null(o)) {
        type_error(qiv, name, "null", errp);
        return false;
    }
    *obj = qnull();
    return true;
}

/* ---- scalars from keyval strings ---- */

static const char *get_keyval(QObjectInputVisitor *qiv, const char *name,
                              Error **errp)
{
    json_t *o = get_object(qiv, name, true, errp);

    if (!o) {
        return NULL;
    }
    if (!json_is_string(o)) {
        if (json_is_object(o) || json_is_array(o)) {
            error_setg(errp, "Parameters '%s.*' are unexpected",
                       full_name(qiv, name));
        } else {
            type_error(qiv, name, "string", errp);
        }
        return NULL;
    }
    return json_string_value(o);
}

static bool expects(QObjectInputVisitor *qiv, const char *name,
                    const char *what, Error **errp)
{
    error_setg(errp, "Parameter '%s' expects %s", full_name(qiv, name),
               what);
    return false;
}

static bool qiv_type_int64_keyval(Visitor *v, const char *name,
                                  int64_t *obj, Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    const char *str = get_keyval(qiv, name, errp);

    if (!str) {
        return false;
    }
    if (qemu_strtoi64(str, NULL, 0, obj)) {
        return expects(qiv, name, "integer", errp);
    }
    return true;
}

static bool qiv_type_uint64_keyval(Visitor *v, const char *name,
                                   uint64_t *obj, Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    const char *str = get_keyval(qiv, name, errp);

    if (!str) {
        return false;
    }
    if (qemu_strtou64(str, NULL, 0, obj)) {
        return expects(qiv, name, "integer", errp);
    }
    return true;
}

static bool qiv_type_size_keyval(Visitor *v, const char *name,
                                 uint64_t *obj, Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    const char *str = get_keyval(qiv, name, errp);

    if (!str) {
        return false;
    }
    if (qemu_strtosz(str, NULL, obj) < 0) {
        return expects(qiv, name, "size", errp);
    }
    return true;
}

static bool qiv_type_bool_keyval(Visitor *v, const char *name, bool *obj,
                                 Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    const char *str = get_keyval(qiv, name, errp);

    if (!str) {
        return false;
    }
    if (!parse_option_bool(name, str, obj, NULL)) {
        return expects(qiv, name, "'on' or 'off'", errp);
    }
    return true;
}

static bool qiv_type_str_keyval(Visitor *v, const char *name, char **obj,
                                Error **errp)
{
    const char *str = get_keyval(to_qiv(v), name, errp);

    *obj = g_strdup(str);
    return str != NULL;
}

static bool qiv_type_number_keyval(Visitor *v, const char *name,
                                   double *obj, Error **errp)
{
    QObjectInputVisitor *qiv = to_qiv(v);
    const char *str = get_keyval(qiv, name, errp);
    double val;

    if (!str) {
        return false;
    }
    if (qemu_strtod_finite(str, NULL, &val)) {
        type_error(qiv, name, "number", errp);
        return false;
    }
    *obj = val;
    return true;
}

/* ---- life cycle ---- */

static void qiv_free(Visitor *v)
{
    QObjectInputVisitor *qiv = to_qiv(v);

    while (qiv->stack->len) {
        pop(qiv);
    }
    g_ptr_array_free(qiv->stack, true);
    g_string_free(qiv->errname, true);
    json_decref(qiv->root);
    g_free(qiv);
}

static QObjectInputVisitor *qiv_new(json_t *obj)
{
    QObjectInputVisitor *qiv = g_new0(QObjectInputVisitor, 1);

    assert(obj);
    qiv->visitor.type = VISITOR_INPUT;
    qiv->visitor.start_struct = qiv_start_struct;
    qiv->visitor.check_struct = qiv_check_struct;
    qiv->visitor.end_struct = qiv_end_struct;
    qiv->visitor.start_list = qiv_start_list;
    qiv->visitor.next_list = qiv_next_list;
    qiv->visitor.end_list = qiv_end_list;
    qiv->visitor.start_alternate = qiv_start_alternate;
    qiv->visitor.optional = qiv_optional;
    qiv->visitor.type_any = qiv_type_any;
    qiv->visitor.type_null = qiv_type_null;
    qiv->visitor.free = qiv_free;
    qiv->root = json_incref(obj);
    qiv->stack = g_ptr_array_new();
    qiv->errname = g_string_new(NULL);
    return qiv;
}

Visitor *qobject_input_visitor_new(json_t *obj)
{
    QObjectInputVisitor *qiv = qiv_new(obj);

    qiv->visitor.type_int64 = qiv_type_int64;
    qiv->visitor.type_uint64 = qiv_type_uint64;
    qiv->visitor.type_bool = qiv_type_bool;
    qiv->visitor.type_str = qiv_type_str;
    qiv->visitor.type_number = qiv_type_number;
    return &qiv->visitor;
}

Visitor *qobject_input_visitor_new_qmp(json_t *obj)
{
    return qobject_input_visitor_new(obj);
}

Visitor *qobject_input_visitor_new_keyval(json_t *obj)
{
    QObjectInputVisitor *qiv = qiv_new(obj);

    qiv->keyval = true;
    qiv->visitor.type_int64 = qiv_type_int64_keyval;
    qiv->visitor.type_uint64 = qiv_type_uint64_keyval;
    qiv->visitor.type_size = qiv_type_size_keyval;
    qiv->visitor.type_bool = qiv_type_bool_keyval;
    qiv->visitor.type_str = qiv_type_str_keyval;
    qiv->visitor.type_number = qiv_type_number_keyval;
    return &qiv->visitor;
}

Visitor *qobject_input_visitor_new_str(const char *str,
                                       const char *implied_key,
                                       Error **errp)
{
    g_autoptr(json_t) args = NULL;

    if (str[0] == '{') {
        args = qobject_from_json(str, errp);
        if (!args) {
            return NULL;
        }
        assert(json_is_object(args));
        return qobject_input_visitor_new(args);
    }
    args = keyval_parse(str, implied_key, NULL, errp);
    if (!args) {
        return NULL;
    }
    return qobject_input_visitor_new_keyval(args);
}

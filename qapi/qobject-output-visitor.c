/*
 * Output visitor: builds a JSON value (jansson) from a QAPI value.
 */
#include "strata/osdep.h"
#include "qapi/qobject-output-visitor.h"
#include "qapi/visitor-impl.h"

typedef struct QObjectOutputVisitor {
    Visitor visitor;
    GPtrArray *stack;           /* open containers (borrowed), top last */
    json_t *root;
    json_t **result;
} QObjectOutputVisitor;

static QObjectOutputVisitor *to_qov(Visitor *v)
{
    return container_of(v, QObjectOutputVisitor, visitor);
}

/* Store @value (a new reference, consumed) as member @name. */
static void qov_add(QObjectOutputVisitor *qov, const char *name,
                    json_t *value)
{
    json_t *cur;

    assert(value);
    if (!qov->stack->len) {
        /* The root value */
        assert(!qov->root);
        qov->root = value;
        return;
    }
    cur = g_ptr_array_index(qov->stack, qov->stack->len - 1);
    if (json_is_object(cur)) {
        assert(name);
        json_object_set_new_nocheck(cur, name, value);
    } else {
        json_array_append_new(cur, value);
    }
}

static void qov_push(QObjectOutputVisitor *qov, const char *name,
                     json_t *container)
{
    qov_add(qov, name, container);
    g_ptr_array_add(qov->stack, container);
}

static void qov_pop(QObjectOutputVisitor *qov)
{
    assert(qov->stack->len);
    g_ptr_array_set_size(qov->stack, qov->stack->len - 1);
}

static bool qov_start_struct(Visitor *v, const char *name, void **obj,
                             size_t size, Error **errp)
{
    qov_push(to_qov(v), name, json_object());
    return true;
}

static void qov_end_struct(Visitor *v, void **obj)
{
    qov_pop(to_qov(v));
}

static bool qov_start_list(Visitor *v, const char *name, GenericList **list,
                           size_t size, Error **errp)
{
    qov_push(to_qov(v), name, json_array());
    return true;
}

static GenericList *qov_next_list(Visitor *v, GenericList *tail,
                                  size_t size)
{
    return tail->next;
}

static void qov_end_list(Visitor *v, void **obj)
{
    qov_pop(to_qov(v));
}

static bool qov_start_alternate(Visitor *v, const char *name,
                                GenericAlternate **obj, size_t size,
                                Error **errp)
{
    assert(*obj);
    return true;
}

static bool qov_type_int64(Visitor *v, const char *name, int64_t *obj,
                           Error **errp)
{
    qov_add(to_qov(v), name, json_integer(*obj));
    return true;
}

static bool qov_type_uint64(Visitor *v, const char *name, uint64_t *obj,
                            Error **errp)
{
    qov_add(to_qov(v), name, json_integer((json_int_t)*obj));
    return true;
}

static bool qov_type_bool(Visitor *v, const char *name, bool *obj,
                          Error **errp)
{
    qov_add(to_qov(v), name, json_boolean(*obj));
    return true;
}

static bool qov_type_str(Visitor *v, const char *name, char **obj,
                         Error **errp)
{
    /* Bytes go out as they are; the JSON writer escapes bad UTF-8 */
    qov_add(to_qov(v), name, json_string_nocheck(*obj ? *obj : ""));
    return true;
}

static bool qov_type_number(Visitor *v, const char *name, double *obj,
                            Error **errp)
{
    json_t *value = json_real(*obj);

    qov_add(to_qov(v), name, value ? value : json_null());
    return true;
}

static bool qov_type_any(Visitor *v, const char *name, json_t **obj,
                         Error **errp)
{
    assert(*obj);
    qov_add(to_qov(v), name, json_incref(*obj));
    return true;
}

static bool qov_type_null(Visitor *v, const char *name, QNull **obj,
                          Error **errp)
{
    qov_add(to_qov(v), name, json_null());
    return true;
}

static void qov_complete(Visitor *v, void *opaque)
{
    QObjectOutputVisitor *qov = to_qov(v);

    assert(opaque == qov->result);
    assert(qov->root && !qov->stack->len);
    *qov->result = json_incref(qov->root);
}

static void qov_free(Visitor *v)
{
    QObjectOutputVisitor *qov = to_qov(v);

    json_decref(qov->root);
    g_ptr_array_free(qov->stack, true);
    g_free(qov);
}

Visitor *qobject_output_visitor_new(json_t **result)
{
    QObjectOutputVisitor *qov = g_new0(QObjectOutputVisitor, 1);

    qov->visitor.type = VISITOR_OUTPUT;
    qov->visitor.start_struct = qov_start_struct;
    qov->visitor.end_struct = qov_end_struct;
    qov->visitor.start_list = qov_start_list;
    qov->visitor.next_list = qov_next_list;
    qov->visitor.end_list = qov_end_list;
    qov->visitor.start_alternate = qov_start_alternate;
    qov->visitor.type_int64 = qov_type_int64;
    qov->visitor.type_uint64 = qov_type_uint64;
    qov->visitor.type_bool = qov_type_bool;
    qov->visitor.type_str = qov_type_str;
    qov->visitor.type_number = qov_type_number;
    qov->visitor.type_any = qov_type_any;
    qov->visitor.type_null = qov_type_null;
    qov->visitor.complete = qov_complete;
    qov->visitor.free = qov_free;
    qov->stack = g_ptr_array_new();
    qov->result = result;
    *result = NULL;
    return &qov->visitor;
}

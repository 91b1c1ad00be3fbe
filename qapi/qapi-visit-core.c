/*
 * The Visitor interface: forwards to the visitor's callbacks, narrows the
 * 64-bit integer visits to the smaller built-in integer types with QEMU's
 * range messages, and maps enums to and from their names.
 */
#include "strata/osdep.h"
#include "qapi/visitor-impl.h"

void visit_complete(Visitor *v, void *opaque)
{
    if (v->complete) {
        v->complete(v, opaque);
    }
}

void visit_free(Visitor *v)
{
    if (v) {
        v->free(v);
    }
}

bool visit_is_input(Visitor *v)
{
    return v->type == VISITOR_INPUT;
}

bool visit_is_dealloc(Visitor *v)
{
    return v->type == VISITOR_DEALLOC;
}

bool visit_start_struct(Visitor *v, const char *name, void **obj,
                        size_t size, Error **errp)
{
    bool ok;

    assert(!obj || size);
    if (obj && v->type == VISITOR_OUTPUT) {
        assert(*obj);
    }
    ok = v->start_struct(v, name, obj, size, errp);
    if (obj && v->type == VISITOR_INPUT) {
        assert(ok != !*obj);
    }
    return ok;
}

bool visit_check_struct(Visitor *v, Error **errp)
{
    return v->check_struct ? v->check_struct(v, errp) : true;
}

void visit_end_struct(Visitor *v, void **obj)
{
    v->end_struct(v, obj);
}

bool visit_start_list(Visitor *v, const char *name, GenericList **list,
                      size_t size, Error **errp)
{
    assert(!list || size >= sizeof(GenericList));
    return v->start_list(v, name, list, size, errp);
}

GenericList *visit_next_list(Visitor *v, GenericList *tail, size_t size)
{
    assert(tail && size >= sizeof(GenericList));
    return v->next_list(v, tail, size);
}

bool visit_check_list(Visitor *v, Error **errp)
{
    return v->check_list ? v->check_list(v, errp) : true;
}

void visit_end_list(Visitor *v, void **obj)
{
    v->end_list(v, obj);
}

bool visit_start_alternate(Visitor *v, const char *name,
                           GenericAlternate **obj, size_t size,
                           Error **errp)
{
    bool ok;

    assert(obj && size >= sizeof(GenericAlternate));
    if (v->type == VISITOR_OUTPUT) {
        assert(*obj);
    }
    ok = v->start_alternate(v, name, obj, size, errp);
    if (v->type == VISITOR_INPUT) {
        assert(ok != !*obj);
    }
    return ok;
}

void visit_end_alternate(Visitor *v, void **obj)
{
    if (v->end_alternate) {
        v->end_alternate(v, obj);
    }
}

bool visit_optional(Visitor *v, const char *name, bool *present)
{
    if (v->optional) {
        v->optional(v, name, present);
    }
    return *present;
}

/* ---- integers ---- */

bool visit_type_int(Visitor *v, const char *name, int64_t *obj,
                    Error **errp)
{
    return v->type_int64(v, name, obj, errp);
}

bool visit_type_int64(Visitor *v, const char *name, int64_t *obj,
                      Error **errp)
{
    return v->type_int64(v, name, obj, errp);
}

bool visit_type_uint64(Visitor *v, const char *name, uint64_t *obj,
                       Error **errp)
{
    return v->type_uint64(v, name, obj, errp);
}

bool visit_type_size(Visitor *v, const char *name, uint64_t *obj,
                     Error **errp)
{
    if (v->type_size) {
        return v->type_size(v, name, obj, errp);
    }
    return v->type_uint64(v, name, obj, errp);
}

/*
 * The narrow types go through the 64-bit visit; a value that does not
 * fit is refused naming the C type ("Parameter 'x' expects uint8_t").
 * As in QEMU, the message names the member, not its full path.
 */
static bool visit_signed(Visitor *v, const char *name, int64_t *value,
                         int64_t min, int64_t max, const char *type,
                         Error **errp)
{
    if (!v->type_int64(v, name, value, errp)) {
        return false;
    }
    if (v->type == VISITOR_INPUT && (*value < min || *value > max)) {
        error_setg(errp, "Parameter '%s' expects %s", name ? name : "null",
                   type);
        return false;
    }
    return true;
}

static bool visit_unsigned(Visitor *v, const char *name, uint64_t *value,
                           uint64_t max, const char *type, Error **errp)
{
    if (!v->type_uint64(v, name, value, errp)) {
        return false;
    }
    if (v->type == VISITOR_INPUT && *value > max) {
        error_setg(errp, "Parameter '%s' expects %s", name ? name : "null",
                   type);
        return false;
    }
    return true;
}

#define VISIT_SIGNED(bits)                                                \
bool visit_type_int##bits(Visitor *v, const char *name, int##bits##_t *obj, \
                          Error **errp)                                   \
{                                                                         \
    int64_t value = *obj;                                                 \
                                                                          \
    if (!visit_signed(v, name, &value, INT##bits##_MIN, INT##bits##_MAX,  \
                      "int" #bits "_t", errp)) {                          \
        return false;                                                     \
    }                                                                     \
    *obj = value;                                                         \
    return true;                                                          \
}

#define VISIT_UNSIGNED(bits)                                              \
bool visit_type_uint##bits(Visitor *v, const char *name,                  \
                           uint##bits##_t *obj, Error **errp)             \
{                                                                         \
    uint64_t value = *obj;                                                \
                                                                          \
    if (!visit_unsigned(v, name, &value, UINT##bits##_MAX,                \
                        "uint" #bits "_t", errp)) {                       \
        return false;                                                     \
    }                                                                     \
    *obj = value;                                                         \
    return true;                                                          \
}

VISIT_SIGNED(8)
VISIT_SIGNED(16)
VISIT_SIGNED(32)
VISIT_UNSIGNED(8)
VISIT_UNSIGNED(16)
VISIT_UNSIGNED(32)

/* ---- other scalars ---- */

bool visit_type_bool(Visitor *v, const char *name, bool *obj, Error **errp)
{
    return v->type_bool(v, name, obj, errp);
}

bool visit_type_str(Visitor *v, const char *name, char **obj, Error **errp)
{
    bool ok;

    if (v->type == VISITOR_OUTPUT) {
        /* A NULL string goes out as "" */
        char *s = *obj ? *obj : (char *)"";

        return v->type_str(v, name, &s, errp);
    }
    ok = v->type_str(v, name, obj, errp);
    if (v->type == VISITOR_INPUT) {
        assert(ok != !*obj);
    }
    return ok;
}

bool visit_type_number(Visitor *v, const char *name, double *obj,
                       Error **errp)
{
    return v->type_number(v, name, obj, errp);
}

bool visit_type_any(Visitor *v, const char *name, json_t **obj,
                    Error **errp)
{
    return v->type_any(v, name, obj, errp);
}

bool visit_type_null(Visitor *v, const char *name, QNull **obj,
                     Error **errp)
{
    return v->type_null(v, name, obj, errp);
}

/* ---- enums ---- */

bool visit_type_enum(Visitor *v, const char *name, int *obj,
                     const QEnumLookup *lookup, Error **errp)
{
    g_autofree char *str = NULL;
    int value;

    switch (v->type) {
    case VISITOR_INPUT:
        if (!v->type_str(v, name, &str, errp)) {
            return false;
        }
        value = qapi_enum_parse(lookup, str, -1, NULL);
        if (value < 0) {
            error_setg(errp, "Parameter '%s' does not accept value '%s'",
                       name ? name : "null", str);
            return false;
        }
        *obj = value;
        return true;
    case VISITOR_OUTPUT: {
        char *s;

        assert(*obj >= 0 && *obj < lookup->size);
        s = (char *)qapi_enum_lookup(lookup, *obj);
        return v->type_str(v, name, &s, errp);
    }
    case VISITOR_DEALLOC:
        return true;
    }
    abort();
}

QType qapi_json_qtype(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return QTYPE_QDICT;
    case JSON_ARRAY:
        return QTYPE_QLIST;
    case JSON_STRING:
        return QTYPE_QSTRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return QTYPE_QNUM;
    case JSON_TRUE:
    case JSON_FALSE:
        return QTYPE_QBOOL;
    case JSON_NULL:
        return QTYPE_QNULL;
    }
    abort();
}

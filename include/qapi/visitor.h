/*
 * The Visitor interface the generated visit_type_*() functions are
 * written against, and the visitors for the built-in types.
 */
#ifndef QAPI_VISITOR_H
#define QAPI_VISITOR_H

#include <jansson.h>

#include "strata/osdep.h"
#include "qapi/qapi-builtin-types.h"
#include "qapi/util.h"
#include "util/error.h"

/*
 * A visitor walks a QAPI value and does one job with it: build it from
 * JSON (qobject-input-visitor.h: from QMP values, or from keyval's
 * all-strings form), turn it into JSON (qobject-output-visitor.h), or
 * free it (dealloc-visitor.h).  The generated code drives every visitor
 * the same way:
 *
 *   visit_type_Foo(v, name, &obj, errp)
 *     visit_start_struct(v, name, &obj, sizeof(Foo), errp)
 *       visit_type_int(v, "member", &obj->member, errp)
 *       if (visit_optional(v, "opt", &obj->has_opt))
 *           visit_type_str(v, "opt", &obj->opt, errp)
 *     visit_check_struct(v, errp)
 *     visit_end_struct(v, &obj)
 *
 * An input visitor allocates *obj in visit_start_struct(), fills it,
 * reports the first problem in @errp (with QEMU's wording) and returns
 * false; the caller then frees what was built.  @name is the member's
 * name inside an object, and NULL at the top level and for list
 * elements.
 *
 * Usage, to parse JSON into a C value and back:
 *
 *   Visitor *v = qobject_input_visitor_new(json);
 *   ok = visit_type_BlockdevOptions(v, NULL, &options, errp);
 *   visit_free(v);
 *
 *   v = qobject_output_visitor_new(&json);
 *   visit_type_BlockdevOptions(v, NULL, &options, &error_abort);
 *   visit_complete(v, &json);
 *   visit_free(v);
 *
 * and qapi_free_BlockdevOptions(options) to free it.
 */

typedef struct Visitor Visitor;

/* The layout every generated list type shares. */
typedef struct GenericList {
    struct GenericList *next;
    char padding[];
} GenericList;

/* The layout every generated alternate type shares. */
typedef struct GenericAlternate {
    QType type;
    char padding[];
} GenericAlternate;

/* The QType of a JSON value: how alternates tell their branches apart. */
QType qapi_json_qtype(const json_t *value);

typedef enum VisitorType {
    VISITOR_INPUT = 1,
    VISITOR_OUTPUT = 2,
    VISITOR_DEALLOC = 4,
} VisitorType;

/* Finish the visit and store its result (output visitors: a json_t *). */
void visit_complete(Visitor *v, void *opaque);
void visit_free(Visitor *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Visitor, visit_free)

bool visit_is_input(Visitor *v);
bool visit_is_dealloc(Visitor *v);

/*
 * Objects.  With @obj NULL, an input visitor checks the JSON object but
 * allocates nothing (the members are then visited into a caller's
 * variable).  visit_check_struct() reports members the visit did not use
 * ("Parameter 'x' is unexpected").  visit_end_struct() must be called
 * after a successful visit_start_struct(), whatever happened between.
 */
bool visit_start_struct(Visitor *v, const char *name, void **obj,
                        size_t size, Error **errp);
bool visit_check_struct(Visitor *v, Error **errp);
void visit_end_struct(Visitor *v, void **obj);

/*
 * Lists.  visit_start_list() sets *list to the first element (allocated
 * with @size bytes by an input visitor) or NULL for an empty list;
 * visit_next_list() returns the element after @tail or NULL.
 */
bool visit_start_list(Visitor *v, const char *name, GenericList **list,
                      size_t size, Error **errp);
GenericList *visit_next_list(Visitor *v, GenericList *tail, size_t size);
bool visit_check_list(Visitor *v, Error **errp);
void visit_end_list(Visitor *v, void **list);

/*
 * Alternates.  An input visitor allocates *obj and sets its type to the
 * QType of the JSON value; the caller then visits the matching branch.
 */
bool visit_start_alternate(Visitor *v, const char *name,
                           GenericAlternate **obj, size_t size,
                           Error **errp);
void visit_end_alternate(Visitor *v, void **obj);

/*
 * Optional members: input visitors set *present to whether the member
 * is there; other visitors leave it and return it.
 */
bool visit_optional(Visitor *v, const char *name, bool *present);

/* Scalars (the built-in types). */
bool visit_type_int(Visitor *v, const char *name, int64_t *obj,
                    Error **errp);
bool visit_type_int8(Visitor *v, const char *name, int8_t *obj,
                     Error **errp);
bool visit_type_int16(Visitor *v, const char *name, int16_t *obj,
                      Error **errp);
bool visit_type_int32(Visitor *v, const char *name, int32_t *obj,
                      Error **errp);
bool visit_type_int64(Visitor *v, const char *name, int64_t *obj,
                      Error **errp);
bool visit_type_uint8(Visitor *v, const char *name, uint8_t *obj,
                      Error **errp);
bool visit_type_uint16(Visitor *v, const char *name, uint16_t *obj,
                       Error **errp);
bool visit_type_uint32(Visitor *v, const char *name, uint32_t *obj,
                       Error **errp);
bool visit_type_uint64(Visitor *v, const char *name, uint64_t *obj,
                       Error **errp);
bool visit_type_size(Visitor *v, const char *name, uint64_t *obj,
                     Error **errp);
bool visit_type_bool(Visitor *v, const char *name, bool *obj, Error **errp);
bool visit_type_str(Visitor *v, const char *name, char **obj, Error **errp);
bool visit_type_number(Visitor *v, const char *name, double *obj,
                       Error **errp);
/* 'any': the JSON value itself (an input visitor gives a new reference). */
bool visit_type_any(Visitor *v, const char *name, json_t **obj,
                    Error **errp);
bool visit_type_null(Visitor *v, const char *name, QNull **obj,
                     Error **errp);
bool visit_type_enum(Visitor *v, const char *name, int *obj,
                     const QEnumLookup *lookup, Error **errp);

#endif

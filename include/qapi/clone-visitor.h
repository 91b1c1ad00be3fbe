/*
 * Deep copies of QAPI values: QAPI_CLONE(BlockdevOptions, opts) returns a
 * new BlockdevOptions equal to *opts, to be freed with qapi_free_*().
 */
#ifndef QAPI_CLONE_VISITOR_H
#define QAPI_CLONE_VISITOR_H

#include "qapi/visitor.h"

typedef bool QapiVisitFunc(Visitor *v, const char *name, void **obj,
                           Error **errp);
typedef bool QapiVisitMembersFunc(Visitor *v, void *obj, Error **errp);

/* Use the macros below; they cast the generated functions. */
void *qapi_clone(const void *src, QapiVisitFunc *visit);
void qapi_clone_members(void *dst, const void *src, size_t size,
                        QapiVisitMembersFunc *visit_members);

/* A new copy of *@src (NULL if @src is NULL). */
#define QAPI_CLONE(type, src)                                           \
    ((type *)qapi_clone((src),                                          \
        (QapiVisitFunc *)(void (*)(void))visit_type_ ## type))

/*
 * Overwrite the members of the struct *@dst (which must hold no
 * allocations) with copies of those of *@src.
 */
#define QAPI_CLONE_MEMBERS(type, dst, src)                              \
    qapi_clone_members((dst), (src), sizeof(type),                      \
        (QapiVisitMembersFunc *)(void (*)(void))                        \
        visit_type_ ## type ## _members)

#endif

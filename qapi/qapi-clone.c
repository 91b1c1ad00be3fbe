/*
 * Deep copies of QAPI values, made by writing the value out as JSON and
 * reading it back: the same visitors, so a copy is exactly what QMP
 * would have produced.
 */
#include "strata/osdep.h"
#include "qapi/clone-visitor.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "util/qdict.h"

void *qapi_clone(const void *src, QapiVisitFunc *visit)
{
    g_autoptr(json_t) json = NULL;
    void *copy = (void *)src;
    Visitor *v;

    if (!src) {
        return NULL;
    }
    v = qobject_output_visitor_new(&json);
    visit(v, NULL, &copy, &error_abort);
    visit_complete(v, &json);
    visit_free(v);

    copy = NULL;
    v = qobject_input_visitor_new(json);
    visit(v, NULL, &copy, &error_abort);
    visit_free(v);
    return copy;
}

void qapi_clone_members(void *dst, const void *src, size_t size,
                        QapiVisitMembersFunc *visit_members)
{
    g_autoptr(json_t) json = NULL;
    Visitor *v;

    v = qobject_output_visitor_new(&json);
    visit_start_struct(v, NULL, NULL, 0, &error_abort);
    visit_members(v, (void *)src, &error_abort);
    visit_end_struct(v, NULL);
    visit_complete(v, &json);
    visit_free(v);

    memset(dst, 0, size);
    v = qobject_input_visitor_new(json);
    visit_start_struct(v, NULL, NULL, 0, &error_abort);
    visit_members(v, dst, &error_abort);
    visit_check_struct(v, &error_abort);
    visit_end_struct(v, NULL);
    visit_free(v);
}

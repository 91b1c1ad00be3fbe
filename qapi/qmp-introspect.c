/*
 * query-qmp-schema: the introspection data qapi-gen.py generated for
 * the schema, returned as SchemaInfo values.
 */
#include "strata/osdep.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-introspect.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-input-visitor.h"
#include "util/qdict.h"

SchemaInfoList *qmp_query_qmp_schema(Error **errp)
{
    g_autoptr(json_t) json = json_loads(qmp_schema_json, 0, NULL);
    SchemaInfoList *list = NULL;
    Visitor *v;

    /* The data is generated from the schema; it always matches it */
    assert(json);
    v = qobject_input_visitor_new(json);
    visit_type_SchemaInfoList(v, NULL, &list, &error_abort);
    visit_free(v);
    return list;
}

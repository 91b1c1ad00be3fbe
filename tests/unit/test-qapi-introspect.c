/*
 * Unit tests for the generated introspection data (query-qmp-schema):
 * its shape on the test schema (masked names, integer types folded into
 * "int", implicit empty branches, features, conditions), and that the
 * real schema's data is well formed and survives SchemaInfo visiting.
 */
#include "strata/osdep.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-introspect.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-output-visitor.h"
#include "test-qapi-introspect.h"
#include "util/qdict.h"

static json_t *load(const char *text)
{
    json_error_t error;
    json_t *schema = json_loads(text, 0, &error);

    if (!schema) {
        g_error("introspection data is not JSON: %s at %d", error.text,
                error.position);
    }
    g_assert_true(json_is_array(schema));
    return schema;
}

/* Entry of @schema named @name, or NULL */
static json_t *lookup(json_t *schema, const char *name)
{
    size_t i;
    json_t *entry;

    json_array_foreach(schema, i, entry) {
        if (!strcmp(qdict_get_str(entry, "name"), name)) {
            return entry;
        }
    }
    return NULL;
}

static json_t *member(json_t *object, const char *name)
{
    size_t i;
    json_t *m;

    json_array_foreach(qdict_get_qlist(object, "members"), i, m) {
        if (!strcmp(qdict_get_str(m, "name"), name)) {
            return m;
        }
    }
    return NULL;
}

/*
 * Every entry has a unique name and a known meta-type, and every type
 * name an entry mentions has an entry of its own.
 */
static void check_closed(json_t *schema)
{
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    size_t i, j;
    json_t *e, *m;

    json_array_foreach(schema, i, e) {
        const char *name = qdict_get_str(e, "name");

        g_assert_false(g_hash_table_contains(names, name));
        g_hash_table_add(names, (gpointer)name);
    }
#define KNOWN(n) g_assert_true(g_hash_table_contains(names, (n)))
    json_array_foreach(schema, i, e) {
        const char *meta = qdict_get_str(e, "meta-type");

        if (!strcmp(meta, "command")) {
            KNOWN(qdict_get_str(e, "arg-type"));
            KNOWN(qdict_get_str(e, "ret-type"));
        } else if (!strcmp(meta, "event")) {
            KNOWN(qdict_get_str(e, "arg-type"));
        } else if (!strcmp(meta, "array")) {
            KNOWN(qdict_get_str(e, "element-type"));
        } else if (!strcmp(meta, "object")) {
            json_array_foreach(qdict_get_qlist(e, "members"), j, m) {
                KNOWN(qdict_get_str(m, "type"));
            }
            json_array_foreach(qdict_get_qlist(e, "variants"), j, m) {
                KNOWN(qdict_get_str(m, "type"));
            }
        } else if (!strcmp(meta, "alternate")) {
            json_array_foreach(qdict_get_qlist(e, "members"), j, m) {
                KNOWN(qdict_get_str(m, "type"));
            }
        } else if (!strcmp(meta, "enum")) {
            g_assert_cmpint(json_array_size(qdict_get_qlist(e, "members")),
                            ==,
                            json_array_size(qdict_get_qlist(e, "values")));
        } else {
            g_assert_cmpstr(meta, ==, "builtin");
            g_assert_nonnull(qdict_get_try_str(e, "json-type"));
        }
    }
#undef KNOWN
}

static void test_shape(void)
{
    g_autoptr(json_t) schema = load(test_qmp_schema_json);
    json_t *e, *arg, *m, *variants, *v;
    size_t i;
    int found = 0;

    check_closed(schema);

    /* Commands and events first, in schema order; includes come first */
    e = json_array_get(schema, 0);
    g_assert_cmpstr(qdict_get_str(e, "name"), ==, "test-included");
    g_assert_cmpstr(qdict_get_str(e, "meta-type"), ==, "command");
    /* The first type used is the empty object, named "0" */
    g_assert_cmpstr(qdict_get_str(e, "arg-type"), ==, "0");
    g_assert_cmpstr(qdict_get_str(e, "ret-type"), ==, "1");
    e = lookup(schema, "0");
    g_assert_cmpstr(qdict_get_str(e, "meta-type"), ==, "object");
    g_assert_cmpint(json_array_size(qdict_get_qlist(e, "members")), ==, 0);

    /* Conditions are applied; unimplemented commands are still listed */
    g_assert_null(lookup(schema, "test-conditional"));
    g_assert_nonnull(lookup(schema, "test-unimplemented"));
    g_assert_nonnull(lookup(schema, "test_underscore"));
    g_assert_nonnull(lookup(schema, "test-custom"));
    g_assert_null(lookup(schema, "TestStruct"));

    e = lookup(schema, "test-oob");
    g_assert_true(qdict_get_bool(e, "allow-oob"));
    g_assert_false(qdict_haskey(lookup(schema, "test-no-args"), "allow-oob"));
    e = lookup(schema, "test-features");
    g_assert_cmpint(json_array_size(qdict_get_qlist(e, "features")), ==, 2);

    /* Arguments: optional members have "default": null */
    arg = lookup(schema, qdict_get_str(lookup(schema, "test-args"),
                                       "arg-type"));
    m = member(arg, "a");
    g_assert_cmpstr(qdict_get_str(m, "type"), ==, "int");
    g_assert_false(qdict_haskey(m, "default"));
    m = member(arg, "b");
    g_assert_cmpstr(qdict_get_str(m, "type"), ==, "str");
    g_assert_true(json_is_null(qdict_get(m, "default")));

    /* Enum: conditional value dropped, features kept */
    e = lookup(schema, qdict_get_str(member(arg, "c"), "type"));
    g_assert_cmpstr(qdict_get_str(e, "meta-type"), ==, "enum");
    g_assert_cmpint(json_array_size(qdict_get_qlist(e, "values")), ==, 5);
    g_assert_nonnull(member(e, "present"));
    g_assert_null(member(e, "absent"));
    g_assert_cmpint(json_array_size(qdict_get_qlist(member(e, "old"),
                                                    "features")), ==, 1);

    /* uint8 shows as int; nested struct */
    e = lookup(schema, qdict_get_str(member(arg, "nested"), "type"));
    e = lookup(schema, qdict_get_str(member(e, "deeper"), "type"));
    g_assert_cmpstr(qdict_get_str(member(e, "value"), "type"), ==, "int");
    g_assert_null(lookup(schema, "uint8"));
    g_assert_nonnull(lookup(schema, "int"));

    /* Union: base members, tag, and every enum value as a variant */
    e = lookup(schema, qdict_get_str(lookup(schema, "test-boxed"),
                                     "arg-type"));
    g_assert_cmpstr(qdict_get_str(e, "tag"), ==, "kind");
    g_assert_nonnull(member(e, "common"));
    variants = qdict_get_qlist(e, "variants");
    g_assert_cmpint(json_array_size(variants), ==, 4);
    json_array_foreach(variants, i, v) {
        const char *c = qdict_get_str(v, "case");

        if (!strcmp(c, "gamma") || !strcmp(c, "delta")) {
            /* No branch (gamma's is conditional): the empty object */
            g_assert_cmpstr(qdict_get_str(v, "type"), ==, "0");
            found++;
        }
    }
    g_assert_cmpint(found, ==, 2);
    /* Branches without an explicit type come last, in enum order */
    g_assert_cmpstr(qdict_get_str(json_array_get(variants, 2), "case"), ==,
                    "gamma");

    /* Arrays are named after their element type */
    e = lookup(schema, qdict_get_str(lookup(schema, "test-named-args"),
                                     "ret-type"));
    g_assert_cmpstr(qdict_get_str(e, "meta-type"), ==, "array");
    g_assert_cmpint(qdict_get_str(e, "name")[0], ==, '[');

    /* Events */
    e = lookup(schema, "TEST_EVENT_NONE");
    g_assert_cmpstr(qdict_get_str(e, "meta-type"), ==, "event");
    g_assert_cmpstr(qdict_get_str(e, "arg-type"), ==, "0");
    g_assert_nonnull(lookup(schema, "TEST_EVENT_BOXED"));

    e = lookup(schema, "any");
    g_assert_cmpstr(qdict_get_str(e, "json-type"), ==, "value");
}

/* The real schema: well formed, and query-qmp-schema returns it */
static void test_strata_schema(void)
{
    g_autoptr(json_t) schema = load(qmp_schema_json);
    g_autoptr(json_t) out = NULL;
    SchemaInfoList *list;
    Visitor *v;
    static const char *const commands[] = {
        "qmp_capabilities", "query-version", "query-commands",
        "query-qmp-schema", "quit", "blockdev-add", "blockdev-del",
        "blockdev-reopen", "blockdev-create", "query-named-block-nodes",
        "query-block", "object-add", "object-del", "qom-list", "qom-get",
        "qom-set", "human-monitor-command", "transaction",
        "block-dirty-bitmap-add", "block-dirty-bitmap-remove",
        "block-dirty-bitmap-clear", "block-dirty-bitmap-enable",
        "block-dirty-bitmap-disable", "block-dirty-bitmap-merge",
        "x-debug-block-dirty-bitmap-sha256", "job-pause", "job-resume",
        "job-cancel", "job-complete", "job-dismiss", "job-finalize",
        "query-jobs", "block-job-set-speed", "block-job-cancel",
        "block-job-pause", "block-job-resume", "block-job-complete",
        "block-job-dismiss", "block-job-finalize", "query-block-jobs",
        "blockdev-backup", "drive-backup", "blockdev-mirror", "drive-mirror",
        "block-stream", "block-commit", "blockdev-snapshot",
        "blockdev-snapshot-sync", "block_set_io_throttle",
        "nbd-server-start", "nbd-server-stop", "nbd-server-add",
        "nbd-server-remove", "block-export-add", "block-export-del",
        "query-block-exports", "SHUTDOWN", "JOB_STATUS_CHANGE",
        "BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", "BLOCK_JOB_ERROR",
        "BLOCK_JOB_READY", "BLOCK_JOB_PENDING", "BLOCK_EXPORT_DELETED",
        "BLOCK_IMAGE_CORRUPTED", "BLOCK_IO_ERROR",
    };

    check_closed(schema);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!lookup(schema, commands[i])) {
            g_error("%s missing from the schema", commands[i]);
        }
    }

    list = qmp_query_qmp_schema(&error_abort);
    v = qobject_output_visitor_new(&out);
    visit_type_SchemaInfoList(v, NULL, &list, &error_abort);
    visit_complete(v, &out);
    visit_free(v);
    qapi_free_SchemaInfoList(list);
    g_assert_true(json_equal(out, schema));
}

/*
 * qmp_init_marshal() registers a command implemented in libstrata (whose
 * weak stub, in the archive linked after it, loses), and query-qmp-schema
 * answers through dispatch.
 */
static void test_query_qmp_schema_command(void)
{
    QmpCommandList cmds = { 0 };
    g_autoptr(json_t) req = qobject_from_json(
        "{'execute': 'query-qmp-schema', 'id': 1}", &error_abort);
    g_autoptr(json_t) schema = load(qmp_schema_json);
    g_autoptr(json_t) rsp = NULL;

    qmp_init_marshal(&cmds);
    g_assert_nonnull(qmp_find_command(&cmds, "query-qmp-schema"));
    rsp = qmp_dispatch(&cmds, req, false, NULL);
    g_assert_true(json_equal(qdict_get(rsp, "return"), schema));
    g_assert_cmpint(qdict_get_int(rsp, "id"), ==, 1);
    json_decref(req);
    req = qobject_from_json("{'execute': 'query-qmp-schema',"
                            " 'arguments': {'x': 1}}", &error_abort);
    json_decref(rsp);
    rsp = qmp_dispatch(&cmds, req, false, NULL);
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"), ==,
                    "Parameter 'x' is unexpected");
    qmp_command_list_destroy(&cmds);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qapi/introspect/shape", test_shape);
    g_test_add_func("/qapi/introspect/strata-schema", test_strata_schema);
    g_test_add_func("/qapi/introspect/query-qmp-schema",
                    test_query_qmp_schema_command);
    return g_test_run();
}

/*
 * Unit tests for QMP dispatch and the generated marshallers and event
 * emitters, on the test schema: request checks and their messages (as
 * QEMU 7.2 words and orders them), id echo, out-of-band rules, argument
 * errors, return values, disabled and unimplemented commands, events.
 */
#include "strata/osdep.h"
#include "qapi/clone-visitor.h"
#include "test-qapi-commands.h"
#include "test-qapi-events.h"
#include "test-qapi-visit.h"
#include "util/json-writer.h"
#include "util/qdict.h"

/* ---- the commands (test-unimplemented is deliberately missing) ---- */

static int no_args_calls;

void qmp_test_no_args(Error **errp)
{
    no_args_calls++;
}

TestNested *qmp_test_args(int64_t a, bool has_b, const char *b,
                          bool has_c, TestEnum c, bool has_nested,
                          TestNested *nested, Error **errp)
{
    TestNested *ret = g_new0(TestNested, 1);

    ret->name = g_strdup_printf("a=%" PRId64 " b=%s c=%s nested=%s", a,
                                has_b ? b : "-",
                                has_c ? TestEnum_str(c) : "-",
                                has_nested ? nested->name : "-");
    return ret;
}

TestAlphaList *qmp_test_named_args(int64_t a, bool has_a2, const char *a2,
                                   Error **errp)
{
    TestAlphaList *list = g_new0(TestAlphaList, 1);

    list->value = g_new0(TestAlpha, 1);
    list->value->a = a * 2;
    list->value->has_a2 = has_a2;
    list->value->a2 = g_strdup(a2);
    return list;
}

TestUnion *qmp_test_boxed(TestUnion *arg, Error **errp)
{
    TestUnion *ret = g_new0(TestUnion, 1);

    /* Echo the argument with a marker in 'common' */
    ret->kind = arg->kind;
    ret->has_common = true;
    ret->common = g_strdup("boxed");
    if (arg->kind == TEST_SORT_ALPHA) {
        ret->u.alpha.a = arg->u.alpha.a + 1;
    } else if (arg->kind == TEST_SORT_BETA) {
        ret->u.beta.b = QAPI_CLONE(strList, arg->u.beta.b);
    }
    return ret;
}

int64_t qmp_test_return_int(Error **errp)
{
    return 42;
}

char *qmp_test_return_str(const char *s, Error **errp)
{
    return g_strconcat(s, "!", NULL);
}

json_t *qmp_test_return_any(bool has_v, json_t *v, Error **errp)
{
    return has_v ? json_incref(v) : json_null();
}

TestEnumList *qmp_test_return_enum_list(Error **errp)
{
    TestEnumList *list = NULL;

    QAPI_LIST_PREPEND(list, TEST_ENUM_TWO_WORDS);
    QAPI_LIST_PREPEND(list, TEST_ENUM_ONE);
    return list;
}

void qmp_test_oob(Error **errp)
{
}

void qmp_test_coroutine(Error **errp)
{
}

void qmp_test_no_response(Error **errp)
{
}

void qmp_test_features(Error **errp)
{
}

void qmp_test_custom(json_t *args, json_t **ret, Error **errp)
{
    /* A hand-written marshaller: echo the arguments */
    *ret = json_incref(args);
}

void qmp_test_underscore(Error **errp)
{
    /* The opaque of the running qmp_dispatch() */
    if (qmp_dispatch_opaque() != (void *)0x1234) {
        error_setg(errp, "wrong opaque");
    }
}

void qmp_test_error(int64_t cls, Error **errp)
{
    error_set(errp, (ErrorClass)cls, "failed with class %" PRId64, cls);
}

TestIncluded *qmp_test_included(Error **errp)
{
    TestIncluded *ret = g_new0(TestIncluded, 1);

    ret->from_include = true;
    return ret;
}

/* ---- helpers ---- */

static QmpCommandList cmds;

static json_t *dispatch(const char *request, bool allow_oob)
{
    g_autoptr(json_t) req = qobject_from_json(request, &error_abort);

    return qmp_dispatch(&cmds, req, allow_oob, (void *)0x1234);
}

/* Dispatch @request; the response must equal @response (JSON). */
static void check(const char *request, bool allow_oob, const char *response)
{
    g_autoptr(json_t) rsp = dispatch(request, allow_oob);
    g_autoptr(json_t) exp = NULL;

    if (!response) {
        if (rsp) {
            g_autofree char *s = json_to_string_qemu(rsp, false);

            g_error("%s: got %s, expected no response", request, s);
        }
        return;
    }
    exp = qobject_from_json(response, &error_abort);
    if (!rsp || !json_equal(rsp, exp)) {
        g_autofree char *s = rsp ? json_to_string_qemu(rsp, false) : NULL;

        g_error("%s:\n  got      %s\n  expected %s", request, s, response);
    }
}

static void check_error(const char *request, bool allow_oob,
                        const char *cls, const char *desc)
{
    g_autoptr(json_t) rsp = dispatch(request, allow_oob);
    json_t *error = qdict_get_qdict(rsp, "error");

    if (!error) {
        g_autofree char *s = json_to_string_qemu(rsp, false);

        g_error("%s: expected an error, got %s", request, s);
    }
    g_assert_cmpstr(qdict_get_str(error, "class"), ==, cls);
    if (strcmp(qdict_get_str(error, "desc"), desc)) {
        g_error("%s: got \"%s\", expected \"%s\"", request,
                qdict_get_str(error, "desc"), desc);
    }
    g_assert_cmpint(json_object_size(error), ==, 2);
}

#define GENERIC "GenericError"
#define NOT_FOUND "CommandNotFound"

/* ---- tests ---- */

static void collect_name(const QmpCommand *cmd, void *opaque)
{
    g_ptr_array_add(opaque, (gpointer)cmd->name);
}

static void test_registration(void)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    const QmpCommand *cmd;

    /* Implemented commands only, in schema order */
    g_assert_null(qmp_find_command(&cmds, "test-unimplemented"));
    g_assert_null(qmp_find_command(&cmds, "test-conditional"));
    qmp_for_each_command(&cmds, collect_name, names);
    g_assert_cmpint(names->len, ==, 16);
    g_assert_cmpstr(g_ptr_array_index(names, 0), ==, "test-included");
    g_assert_cmpstr(g_ptr_array_index(names, 1), ==, "test-no-args");
    g_assert_cmpstr(g_ptr_array_index(names, 15), ==, "test-error");

    cmd = qmp_find_command(&cmds, "test-oob");
    g_assert_true(cmd->options & QCO_ALLOW_OOB);
    g_assert_true(cmd->enabled);
    cmd = qmp_find_command(&cmds, "test-coroutine");
    g_assert_cmpint(cmd->options, ==, QCO_COROUTINE);
    cmd = qmp_find_command(&cmds, "test-no-response");
    g_assert_cmpint(cmd->options, ==, QCO_NO_SUCCESS_RESP);
    cmd = qmp_find_command(&cmds, "test-features");
    g_assert_cmpint(cmd->special_features, ==,
                    (1u << QAPI_DEPRECATED) | (1u << QAPI_UNSTABLE));
    g_assert_nonnull(qmp_find_command(&cmds, "test_underscore"));
    g_assert_nonnull(qmp_find_command(&cmds, "test-custom"));
}

static void test_success(void)
{
    no_args_calls = 0;
    check("{'execute': 'test-no-args'}", false, "{'return': {}}");
    check("{'execute': 'test-no-args', 'arguments': {}}", false,
          "{'return': {}}");
    g_assert_cmpint(no_args_calls, ==, 2);
    check("{'execute': 'test-args', 'arguments': {'a': 1}}", false,
          "{'return': {'name': 'a=1 b=- c=- nested=-'}}");
    check("{'execute': 'test-args', 'arguments': {'a': -1, 'b': 'x',"
          " 'c': 'two-words', 'nested': {'name': 'n'}}}", false,
          "{'return': {'name': 'a=-1 b=x c=two-words nested=n'}}");
    check("{'execute': 'test-named-args', 'arguments': {'a': 4}}", false,
          "{'return': [{'a': 8}]}");
    check("{'execute': 'test-boxed', 'arguments': {'kind': 'alpha',"
          " 'a': 1}}", false,
          "{'return': {'kind': 'alpha', 'common': 'boxed', 'a': 2}}");
    check("{'execute': 'test-boxed', 'arguments': {'kind': 'beta',"
          " 'b': ['p', 'q']}}", false,
          "{'return': {'kind': 'beta', 'common': 'boxed', 'b': ['p', 'q']}}");
    check("{'execute': 'test-return-int'}", false, "{'return': 42}");
    check("{'execute': 'test-return-str', 'arguments': {'s': 'hi'}}", false,
          "{'return': 'hi!'}");
    check("{'execute': 'test-return-any', 'arguments': {'v': [1, {}]}}",
          false, "{'return': [1, {}]}");
    check("{'execute': 'test-return-any'}", false, "{'return': null}");
    check("{'execute': 'test-return-enum-list'}", false,
          "{'return': ['one', 'two-words']}");
    check("{'execute': 'test-custom', 'arguments': {'x': [1]}}", false,
          "{'return': {'x': [1]}}");
    check_error("{'execute': 'test-underscore'}", false, NOT_FOUND,
                "The command test-underscore has not been found");
    check("{'execute': 'test_underscore'}", false, "{'return': {}}");
    check("{'execute': 'test-included'}", false,
          "{'return': {'from-include': true}}");
    check("{'execute': 'test-coroutine'}", false, "{'return': {}}");
    check("{'execute': 'test-features'}", false, "{'return': {}}");
}

static void test_no_response(void)
{
    check("{'execute': 'test-no-response'}", false, NULL);
    check("{'execute': 'test-no-response', 'id': 1}", false, NULL);
    check_error("{'execute': 'test-no-response', 'arguments': {'x': 1}}",
                false, GENERIC, "Parameter 'x' is unexpected");
}

static void test_id(void)
{
    check("{'execute': 'test-return-int', 'id': 7}", false,
          "{'return': 42, 'id': 7}");
    check("{'id': {'a': [1, 'x']}, 'execute': 'test-no-args'}", false,
          "{'return': {}, 'id': {'a': [1, 'x']}}");
    check("{'execute': 'test-no-args', 'id': null}", false,
          "{'return': {}, 'id': null}");
    /* Errors carry the id too, whatever went wrong */
    check("{'execute': 'nope', 'id': 'x'}", false,
          "{'error': {'class': 'CommandNotFound',"
          " 'desc': 'The command nope has not been found'}, 'id': 'x'}");
    check("{'execute': 5, 'id': 1}", false,
          "{'error': {'class': 'GenericError',"
          " 'desc': \"QMP input member 'execute' must be a string\"},"
          " 'id': 1}");
    check("{'id': 3}", false,
          "{'error': {'class': 'GenericError',"
          " 'desc': \"QMP input lacks member 'execute'\"}, 'id': 3}");
    check("{'execute': 'test-args', 'arguments': {}, 'id': [2]}", false,
          "{'error': {'class': 'GenericError',"
          " 'desc': \"Parameter 'a' is missing\"}, 'id': [2]}");
}

/* Request checks, with the member QEMU reports when several are wrong */
static void test_request_errors(void)
{
    check_error("[]", false, GENERIC, "QMP input must be a JSON object");
    check_error("'execute'", false, GENERIC,
                "QMP input must be a JSON object");
    check_error("{}", false, GENERIC, "QMP input lacks member 'execute'");
    check_error("{'arguments': {}}", false, GENERIC,
                "QMP input lacks member 'execute'");
    check_error("{'execute': 1}", false, GENERIC,
                "QMP input member 'execute' must be a string");
    check_error("{'foo': 1}", false, GENERIC,
                "QMP input member 'foo' is unexpected");
    check_error("{'execute': 'test-no-args', 'arguments': []}", false,
                GENERIC, "QMP input member 'arguments' must be an object");
    check_error("{'execute': 'test-no-args', 'arguments': null}", false,
                GENERIC, "QMP input member 'arguments' must be an object");
    check_error("{'execute': 'test-no-args', 'control': {}}", false,
                GENERIC, "QMP input member 'control' is unexpected");
    /* Recorded from qemu-storage-daemon 7.2 */
    check_error("{'bar': 1, 'foo': 2, 'execute': 'test-no-args'}", false,
                GENERIC, "QMP input member 'bar' is unexpected");
    check_error("{'execute': 1, 'foo': 2}", false, GENERIC,
                "QMP input member 'execute' must be a string");
    check_error("{'foo': 2, 'execute': 1}", false, GENERIC,
                "QMP input member 'execute' must be a string");
    check_error("{'arguments': 1, 'execute': 1}", false, GENERIC,
                "QMP input member 'execute' must be a string");
    check_error("{'zzz': 1, 'aaa': 2, 'mmm': 3, 'execute': 'x'}", false,
                GENERIC, "QMP input member 'mmm' is unexpected");
    check_error("{'execute': 'test-no-args', 'exec-oob': 'x',"
                " 'arguments': 5}", false, GENERIC,
                "QMP input member 'exec-oob' is unexpected");
}

static void test_command_errors(void)
{
    check_error("{'execute': 'foo'}", false, NOT_FOUND,
                "The command foo has not been found");
    check_error("{'execute': 'test-unimplemented', 'arguments': {'x': 1}}",
                false, NOT_FOUND,
                "The command test-unimplemented has not been found");
    check_error("{'execute': 'test-conditional'}", false, NOT_FOUND,
                "The command test-conditional has not been found");
    check_error("{'execute': 'test-no-args', 'arguments': {'x': 1}}", false,
                GENERIC, "Parameter 'x' is unexpected");
    check_error("{'execute': 'test-args', 'arguments': {'a': 'one'}}",
                false, GENERIC,
                "Invalid parameter type for 'a', expected: integer");
    check_error("{'execute': 'test-args', 'arguments': {'a': 1, 'c': 'x'}}",
                false, GENERIC, "Parameter 'c' does not accept value 'x'");
    check_error("{'execute': 'test-args', 'arguments': {'a': 1,"
                " 'nested': {'name': 'n', 'deeper': {}}}}", false, GENERIC,
                "Parameter 'nested.deeper.value' is missing");
    check_error("{'execute': 'test-boxed', 'arguments': {'kind': 'alpha'}}",
                false, GENERIC, "Parameter 'a' is missing");
    check_error("{'execute': 'test-boxed', 'arguments': {'kind': 'beta',"
                " 'b': [], 'a': 1}}", false, GENERIC,
                "Parameter 'a' is unexpected");
    check_error("{'execute': 'test-return-str'}", false, GENERIC,
                "Parameter 's' is missing");
    /* Errors from the command keep their class */
    check_error("{'execute': 'test-error', 'arguments': {'class': 3}}",
                false, "DeviceNotFound", "failed with class 3");
    check_error("{'execute': 'test-error', 'arguments': {'class': 2}}",
                false, "DeviceNotActive", "failed with class 2");
    check_error("{'execute': 'test-error', 'arguments': {'class': 4}}",
                false, "KVMMissingCap", "failed with class 4");
}

static void test_oob(void)
{
    /* Without the capability, exec-oob is just an unknown member */
    check_error("{'exec-oob': 'test-oob'}", false, GENERIC,
                "QMP input member 'exec-oob' is unexpected");
    check("{'exec-oob': 'test-oob', 'id': 1}", true,
          "{'return': {}, 'id': 1}");
    check("{'execute': 'test-oob'}", true, "{'return': {}}");
    check_error("{'exec-oob': 'test-no-args'}", true, GENERIC,
                "The command test-no-args does not support OOB");
    check_error("{'exec-oob': 5}", true, GENERIC,
                "QMP input member 'exec-oob' must be a string");
    /* Recorded from qemu-storage-daemon 7.2 */
    check_error("{'execute': 'test-oob', 'exec-oob': 'test-oob'}", true,
                GENERIC, "QMP input member 'execute' clashes with 'exec-oob'");
    check_error("{'exec-oob': 'test-oob', 'execute': 'test-oob'}", true,
                GENERIC, "QMP input member 'execute' clashes with 'exec-oob'");

    g_autoptr(json_t) a = qobject_from_json("{'exec-oob': 'x'}",
                                            &error_abort);
    g_autoptr(json_t) b = qobject_from_json("{'execute': 'test-coroutine'}",
                                            &error_abort);
    g_assert_true(qmp_is_oob(a));
    g_assert_false(qmp_is_oob(b));
    g_assert_false(qmp_dispatch_needs_coroutine(&cmds, a));
    g_assert_true(qmp_dispatch_needs_coroutine(&cmds, b));
}

static void test_disable(void)
{
    qmp_disable_command(&cmds, "test-no-args", NULL);
    check_error("{'execute': 'test-no-args'}", false, NOT_FOUND,
                "Command test-no-args has been disabled");
    qmp_disable_command(&cmds, "test-no-args", "not now");
    check_error("{'execute': 'test-no-args'}", false, NOT_FOUND,
                "Command test-no-args has been disabled: not now");
    qmp_enable_command(&cmds, "test-no-args");
    check("{'execute': 'test-no-args'}", false, "{'return': {}}");
}

static void test_manual_registration(void)
{
    QmpCommandList mine = { 0 };
    g_autoptr(json_t) req = qobject_from_json("{'execute': 'custom'}",
                                              &error_abort);
    g_autoptr(json_t) rsp = NULL;

    g_assert_null(qmp_find_command(&mine, "custom"));
    qmp_register_command(&mine, "custom", qmp_test_custom, QCO_NO_OPTIONS,
                         0);
    rsp = qmp_dispatch(&mine, req, false, NULL);
    g_assert_nonnull(qdict_get_qdict(rsp, "return"));
    qmp_command_list_destroy(&mine);
    qmp_command_list_destroy(&mine);
}

/* ---- events ---- */

static GPtrArray *events;

static void emit(const char *name, json_t *data)
{
    json_t *ev = json_object();

    json_object_set_new(ev, "event", json_string(name));
    if (data) {
        json_object_set(ev, "data", data);
    }
    g_ptr_array_add(events, ev);
}

static void check_event(guint i, const char *expected)
{
    g_autoptr(json_t) exp = qobject_from_json(expected, &error_abort);
    json_t *got = g_ptr_array_index(events, i);

    if (!json_equal(got, exp)) {
        g_autofree char *s = json_to_string_qemu(got, false);

        g_error("event %u: got %s, expected %s", i, s, expected);
    }
}

static void test_events(void)
{
    TestNested extra = { .name = (char *)"e" };
    TestUnion boxed = { .kind = TEST_SORT_ALPHA };
    g_autofree char *dynamic = g_strdup("dyn");

    events = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);

    /* Without a hook, events go nowhere */
    qapi_event_send_test_event_none();

    test_qapi_event_emit = emit;
    qapi_event_send_test_event_none();
    qapi_event_send_test_event_args(dynamic, false, 0, TEST_SORT_BETA,
                                         false, NULL);
    qapi_event_send_test_event_args("id1", true, -3, TEST_SORT_DELTA,
                                         true, &extra);
    boxed.u.alpha.a = 9;
    qapi_event_send_test_event_boxed(&boxed);
    qapi_event_send_test_event_features();
    test_qapi_event_emit = NULL;

    g_assert_cmpint(events->len, ==, 5);
    check_event(0, "{'event': 'TEST_EVENT_NONE'}");
    check_event(1, "{'event': 'TEST_EVENT_ARGS',"
                " 'data': {'id': 'dyn', 'kind': 'beta'}}");
    check_event(2, "{'event': 'TEST_EVENT_ARGS',"
                " 'data': {'id': 'id1', 'len': -3, 'kind': 'delta',"
                "          'extra': {'name': 'e'}}}");
    check_event(3, "{'event': 'TEST_EVENT_BOXED',"
                " 'data': {'kind': 'alpha', 'a': 9}}");
    check_event(4, "{'event': 'TEST_EVENT_FEATURES'}");
    g_assert_cmpstr(test_QAPIEvent_str(TEST_QAPI_EVENT_TEST_EVENT_BOXED), ==,
                    "TEST_EVENT_BOXED");
    g_ptr_array_free(events, true);
}

static void test_error_response(void)
{
    Error *err = NULL;
    g_autoptr(json_t) rsp = NULL;
    g_autofree char *text = NULL;

    error_set(&err, ERROR_CLASS_COMMAND_NOT_FOUND, "x \"y\"");
    rsp = qmp_error_response(err);
    text = json_to_string_qemu(rsp, false);
    g_assert_cmpstr(text, ==, "{\"error\": {\"class\": \"CommandNotFound\", "
                    "\"desc\": \"x \\\"y\\\"\"}}");
    g_assert_cmpstr(qapi_error_class_str(ERROR_CLASS_GENERIC_ERROR), ==,
                    "GenericError");
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    test_qmp_init_marshal(&cmds);
    g_test_add_func("/qmp/registration", test_registration);
    g_test_add_func("/qmp/success", test_success);
    g_test_add_func("/qmp/no-response", test_no_response);
    g_test_add_func("/qmp/id", test_id);
    g_test_add_func("/qmp/request-errors", test_request_errors);
    g_test_add_func("/qmp/command-errors", test_command_errors);
    g_test_add_func("/qmp/oob", test_oob);
    g_test_add_func("/qmp/disable", test_disable);
    g_test_add_func("/qmp/manual-registration", test_manual_registration);
    g_test_add_func("/qmp/events", test_events);
    g_test_add_func("/qmp/error-response", test_error_response);
    ret = g_test_run();
    qmp_command_list_destroy(&cmds);
    return ret;
}

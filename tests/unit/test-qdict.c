/*
 * Unit tests for util/qdict.c: QDict-style accessors, flatten/crumple,
 * array splitting, typed options and "json:" filename parsing.
 */
#include "strata/osdep.h"
#include "util/json-writer.h"
#include "util/qdict.h"

/* Parse test input written with single quotes for readability. */
static json_t *J(const char *text)
{
    json_t *v = qobject_from_json(text, &error_abort);

    g_assert_nonnull(v);
    return v;
}

/* Compare with key order ignored (jansson's equality is order-free). */
static void assert_json_eq(json_t *got, const char *expected)
{
    g_autoptr(json_t) exp = J(expected);

    if (!json_equal(got, exp)) {
        g_autofree char *s = json_writer_format(got,
                                                JSON_WRITER_INSERTION_ORDER);
        g_error("got %s, expected %s", s, expected);
    }
}

static void test_accessors(void)
{
    g_autoptr(json_t) d = json_object();

    g_assert_cmpuint(qdict_size(d), ==, 0);
    qdict_put_str(d, "s", "str");
    qdict_put_int(d, "i", -5);
    qdict_put_bool(d, "b", true);
    qdict_put_null(d, "n");
    qdict_put_obj(d, "o", json_pack("{s:i}", "x", 1));
    qdict_put_obj(d, "l", json_pack("[i]", 1));
    g_assert_cmpuint(qdict_size(d), ==, 6);

    g_assert_true(qdict_haskey(d, "s"));
    g_assert_false(qdict_haskey(d, "S"));
    g_assert_cmpstr(qdict_get_try_str(d, "s"), ==, "str");
    g_assert_null(qdict_get_try_str(d, "i"));
    g_assert_null(qdict_get_try_str(d, "missing"));
    g_assert_cmpstr(qdict_get_str(d, "s"), ==, "str");
    g_assert_cmpint(qdict_get_int(d, "i"), ==, -5);
    g_assert_cmpint(qdict_get_try_int(d, "i", 7), ==, -5);
    g_assert_cmpint(qdict_get_try_int(d, "s", 7), ==, 7);
    g_assert_true(qdict_get_bool(d, "b"));
    g_assert_false(qdict_get_try_bool(d, "s", false));
    g_assert_true(qdict_get_try_bool(d, "b", false));
    g_assert_true(json_is_null(qdict_get(d, "n")));
    g_assert_nonnull(qdict_get_qdict(d, "o"));
    g_assert_null(qdict_get_qdict(d, "l"));
    g_assert_nonnull(qdict_get_qlist(d, "l"));
    g_assert_null(qdict_get_qlist(d, "o"));
    g_assert_null(qdict_get(d, "missing"));

    /* Replacing keeps the position of the member */
    qdict_put_str(d, "s", "new");
    {
        const char *first = json_object_iter_key(json_object_iter(d));
        g_assert_cmpstr(first, ==, "s");
        g_assert_cmpstr(qdict_get_str(d, "s"), ==, "new");
    }

    qdict_del(d, "s");
    qdict_del(d, "missing");
    g_assert_false(qdict_haskey(d, "s"));
    g_assert_cmpuint(qdict_size(d), ==, 5);

    {
        g_autoptr(json_t) c = qdict_clone_shallow(d);
        g_assert_true(json_equal(c, d));
        g_assert_true(qdict_get(c, "o") == qdict_get(d, "o"));
        qdict_del(c, "i");
        g_assert_true(qdict_haskey(d, "i"));
    }
}

static void test_typed_opts(void)
{
    g_autoptr(json_t) d = J("{'tb': true, 'sb': 'off', 'bad': 'maybe',"
                            " 'ti': -3, 'si': '0x10', 'sbad': '1k',"
                            " 'sz': '1.5k', 'n': null, 'r': 1.5,"
                            " 'str': 'x', 'neg': -1}");
    Error *err = NULL;
    bool b;
    int64_t i;
    uint64_t u;
    const char *s;

    g_assert_true(qdict_get_bool_opt(d, "tb", false, &b, &error_abort));
    g_assert_true(b);
    g_assert_true(qdict_get_bool_opt(d, "sb", true, &b, &error_abort));
    g_assert_false(b);
    g_assert_true(qdict_get_bool_opt(d, "absent", true, &b, &error_abort));
    g_assert_true(b);
    g_assert_false(qdict_get_bool_opt(d, "bad", true, &b, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'bad' expects 'on' or 'off'");
    error_free_or_abort(&err);
    g_assert_false(qdict_get_bool_opt(d, "ti", true, &b, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Invalid parameter type for 'ti', expected: boolean");
    error_free_or_abort(&err);

    g_assert_true(qdict_get_int_opt(d, "ti", 0, &i, &error_abort));
    g_assert_cmpint(i, ==, -3);
    g_assert_true(qdict_get_int_opt(d, "si", 0, &i, &error_abort));
    g_assert_cmpint(i, ==, 16);
    g_assert_true(qdict_get_int_opt(d, "absent", 42, &i, &error_abort));
    g_assert_cmpint(i, ==, 42);
    g_assert_false(qdict_get_int_opt(d, "sbad", 0, &i, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'sbad' expects integer");
    error_free_or_abort(&err);
    g_assert_false(qdict_get_int_opt(d, "r", 0, &i, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Invalid parameter type for 'r', expected: integer");
    error_free_or_abort(&err);
    g_assert_false(qdict_get_int_opt(d, "n", 0, &i, &err));
    error_free_or_abort(&err);

    g_assert_true(qdict_get_uint_opt(d, "neg", 0, &u, &error_abort));
    g_assert_cmpuint(u, ==, UINT64_MAX);
    g_assert_true(qdict_get_uint_opt(d, "si", 0, &u, &error_abort));
    g_assert_cmpuint(u, ==, 16);
    g_assert_false(qdict_get_uint_opt(d, "sbad", 0, &u, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'sbad' expects integer");
    error_free_or_abort(&err);

    g_assert_true(qdict_get_size_opt(d, "sz", 0, &u, &error_abort));
    g_assert_cmpuint(u, ==, 1536);
    g_assert_true(qdict_get_size_opt(d, "sbad", 0, &u, &error_abort));
    g_assert_cmpuint(u, ==, 1024);
    /* As QEMU's QemuOpts: a negative number is not a size. */
    g_assert_false(qdict_get_size_opt(d, "ti", 0, &u, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'ti' expects a non-negative number "
                    "below 2^64");
    error_free_or_abort(&err);
    g_assert_true(qdict_get_size_opt(d, "absent", 9, &u, &error_abort));
    g_assert_cmpuint(u, ==, 9);
    g_assert_false(qdict_get_size_opt(d, "bad", 0, &u, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'bad' expects a non-negative number "
                    "below 2^64");
    error_free_or_abort(&err);
    g_assert_false(qdict_get_size_opt(d, "tb", 0, &u, &err));
    error_free_or_abort(&err);

    g_assert_true(qdict_get_str_opt(d, "str", NULL, &s, &error_abort));
    g_assert_cmpstr(s, ==, "x");
    g_assert_true(qdict_get_str_opt(d, "absent", "def", &s, &error_abort));
    g_assert_cmpstr(s, ==, "def");
    g_assert_false(qdict_get_str_opt(d, "ti", NULL, &s, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Invalid parameter type for 'ti', expected: string");
    error_free_or_abort(&err);
}

static void test_scalar_to_string(void)
{
    static const struct {
        const char *json;
        const char *str;
    } cases[] = {
        { "'abc'", "abc" },
        { "-12", "-12" },
        { "0.5", "0.5" },
        { "0.1", "0.10000000000000001" },
        { "true", "on" },
        { "false", "off" },
        { "null", NULL },
        { "[]", NULL },
        { "{}", NULL },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(json_t) v = J(cases[i].json);
        g_autofree char *s = qobject_scalar_to_string(v);
        g_assert_cmpstr(s, ==, cases[i].str);
    }
}

static void test_flatten(void)
{
    g_autoptr(json_t) d = J("{'driver': 'qcow2',"
                            " 'file': {'driver': 'file', 'filename': 'x',"
                            "          'aio': {'a': 1}},"
                            " 'list': [1, {'a': 2, 'b': [3, 4]}, [5], [], {}],"
                            " 'empty': {}, 'emptylist': [], 'n': null}");

    qdict_flatten(d);
    assert_json_eq(d, "{'driver': 'qcow2', 'file.driver': 'file',"
                   " 'file.filename': 'x', 'file.aio.a': 1,"
                   " 'list.0': 1, 'list.1.a': 2, 'list.1.b.0': 3,"
                   " 'list.1.b.1': 4, 'list.2.0': 5, 'list.3': [],"
                   " 'list.4': {}, 'empty': {}, 'emptylist': [], 'n': null}");

    /* Flattening a flat dict changes nothing */
    {
        g_autoptr(json_t) copy = json_deep_copy(d);
        qdict_flatten(d);
        g_assert_true(json_equal(copy, d));
    }

    /* A nested value overrides an existing flat key */
    {
        g_autoptr(json_t) e = J("{'file.filename': 'flat',"
                                " 'file': {'filename': 'nested'}}");
        qdict_flatten(e);
        assert_json_eq(e, "{'file.filename': 'nested'}");
    }
    {
        g_autoptr(json_t) e = J("{'file': {'filename': 'nested'},"
                                " 'file.filename': 'flat'}");
        qdict_flatten(e);
        assert_json_eq(e, "{'file.filename': 'nested'}");
    }

    /* Shared nested values are not modified */
    {
        g_autoptr(json_t) inner = J("{'a': {'b': 1}}");
        g_autoptr(json_t) e = json_object();
        qdict_put_obj(e, "x", json_incref(inner));
        qdict_flatten(e);
        assert_json_eq(e, "{'x.a.b': 1}");
        assert_json_eq(inner, "{'a': {'b': 1}}");
    }
}

static void test_extract_subqdict(void)
{
    g_autoptr(json_t) d = J("{'file.driver': 'file', 'file.filename': 'x',"
                            " 'filex': 1, 'file': 'f', 'driver': 'raw',"
                            " 'file.a.b': 2}");
    json_t *sub;

    qdict_extract_subqdict(d, &sub, "file.");
    assert_json_eq(sub, "{'driver': 'file', 'filename': 'x', 'a.b': 2}");
    assert_json_eq(d, "{'filex': 1, 'file': 'f', 'driver': 'raw'}");
    json_decref(sub);

    qdict_extract_subqdict(d, &sub, "nothing.");
    g_assert_cmpuint(qdict_size(sub), ==, 0);
    g_assert_cmpuint(qdict_size(d), ==, 3);
    json_decref(sub);

    /* An empty prefix moves everything */
    qdict_extract_subqdict(d, &sub, "");
    g_assert_cmpuint(qdict_size(sub), ==, 3);
    g_assert_cmpuint(qdict_size(d), ==, 0);
    json_decref(sub);
}

static void test_array_split(void)
{
    g_autoptr(json_t) d = J("{'0.a': 1, '0.b': 2, '1': 'one',"
                            " '2.x.y': 3, '4': 'gap', 'other': 5,"
                            " '3x': 6}");
    json_t *list;

    qdict_array_split(d, &list);
    g_assert_cmpuint(json_array_size(list), ==, 3);
    assert_json_eq(list, "[{'a': 1, 'b': 2}, 'one', {'x.y': 3}]");
    assert_json_eq(d, "{'4': 'gap', 'other': 5, '3x': 6}");
    json_decref(list);

    /* Both "0" and "0.x" present: stop at 0 */
    {
        g_autoptr(json_t) e = J("{'0': 1, '0.x': 2}");
        qdict_array_split(e, &list);
        g_assert_cmpuint(json_array_size(list), ==, 0);
        g_assert_cmpuint(qdict_size(e), ==, 2);
        json_decref(list);
    }
}

static void test_array_entries(void)
{
    static const struct {
        const char *json;
        const char *prefix;
        int ret;
    } cases[] = {
        { "{}", "", 0 },
        { "{'0': 1, '1': 2}", "", 2 },
        { "{'0.a': 1, '0.b': 2, '1': 3}", "", 2 },
        { "{'0': 1, '0.a': 2}", "", -EINVAL },
        { "{'0': 1, 'x': 2}", "", -EINVAL },
        { "{'0': 1, '2': 2}", "", -EINVAL },
        { "{'s.0': 1, 's.1.a': 2, 'other': 3}", "s.", 2 },
        { "{'s.0': 1, 's.x': 2}", "s.", -EINVAL },
        { "{'s.1': 1}", "s.", -EINVAL },
        { "{'other': 1}", "s.", 0 },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(json_t) d = J(cases[i].json);
        int ret = qdict_array_entries(d, cases[i].prefix);
        if (ret != cases[i].ret) {
            g_error("qdict_array_entries(%s, '%s') = %d, expected %d",
                    cases[i].json, cases[i].prefix, ret, cases[i].ret);
        }
    }
}

static void test_crumple(void)
{
    g_autoptr(json_t) flat = J("{'foo.0.bar': 'one', 'foo.0.wizz': '1',"
                               " 'foo.1.bar': 'two', 'foo.1.wizz': '2',"
                               " 'driver': 'qcow2', 'a..b': 'dot',"
                               " 'x.y..z.w': 3, 'e': {}, 'l': []}");
    g_autoptr(json_t) nested = qdict_crumple(flat, &error_abort);

    assert_json_eq(nested, "{'foo': [{'bar': 'one', 'wizz': '1'},"
                   "         {'bar': 'two', 'wizz': '2'}],"
                   " 'driver': 'qcow2', 'a.b': 'dot',"
                   " 'x': {'y.z': {'w': 3}}, 'e': {}, 'l': []}");

    /* The whole input can be a list */
    {
        g_autoptr(json_t) d = J("{'1': 'b', '0': 'a'}");
        g_autoptr(json_t) l = qdict_crumple(d, &error_abort);
        assert_json_eq(l, "['a', 'b']");
    }
    {
        g_autoptr(json_t) d = json_object();
        g_autoptr(json_t) l = qdict_crumple(d, &error_abort);
        g_assert_true(json_is_object(l));
        g_assert_cmpuint(qdict_size(l), ==, 0);
    }
}

static void test_crumple_errors(void)
{
    static const struct {
        const char *json;
        const char *msg;
    } cases[] = {
        { "{'a': {'b': 1}}", "Value a is not flat" },
        { "{'a': [1]}", "Value a is not flat" },
        { "{'a': 1, 'a.b': 2}", "Cannot mix scalar and non-scalar keys" },
        { "{'a.b': 2, 'a': 1}", "Cannot mix scalar and non-scalar keys" },
        { "{'a.0': 1, 'a.b': 2}", "Cannot mix list and non-list keys" },
        { "{'a.0': 1, 'a.2': 2}",
          "List indices are not contiguous, saw 2 elements but 2 largest "
          "index" },
        { "{'a.1': 1}",
          "List indices are not contiguous, saw 1 elements but 1 largest "
          "index" },
        { "{'a.00': 1}", "Missing list index 0" },
        { "{'a.+0': 1}", "Missing list index 0" },
        { "{'a.-1': 1}",
          "List indices are not contiguous, saw 1 elements but -1 largest "
          "index" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(json_t) d = J(cases[i].json);
        Error *err = NULL;
        json_t *r = qdict_crumple(d, &err);

        g_assert_null(r);
        g_assert_nonnull(err);
        g_assert_cmpstr(error_get_pretty(err), ==, cases[i].msg);
        error_free(err);
    }
}

static void test_keyval_stringify(void)
{
    g_autoptr(json_t) d = J("{'a.b': 1, 'a.c': true, 'd': 'x', 'e': null,"
                            " 'f': 2.5}");
    g_autoptr(json_t) c = qdict_crumple_for_keyval(d, &error_abort);
    g_autoptr(json_t) n = J("{'a': {'b': 1, 'c': [false, {'x': 3}]},"
                            " 's': 's'}");
    Error *err = NULL;

    assert_json_eq(c, "{'a': {'b': '1', 'c': 'on'}, 'd': 'x', 'e': null,"
                   " 'f': '2.5'}");
    /* the source is not modified */
    g_assert_true(json_is_integer(qdict_get(d, "a.b")));

    qdict_stringify_for_keyval(n);
    assert_json_eq(n, "{'a': {'b': '1', 'c': ['off', {'x': '3'}]},"
                   " 's': 's'}");

    {
        g_autoptr(json_t) bad = J("{'a': {'b': 1}}");
        g_assert_null(qdict_crumple_for_keyval(bad, &err));
        error_free_or_abort(&err);
    }
}

static void test_defaults_renames_join(void)
{
    g_autoptr(json_t) dst = J("{'a': 1}");
    g_autoptr(json_t) src = J("{'a': 2, 'b': 3}");
    static const QDictRenames renames[] = {
        { "old", "new" },
        { "x", "y" },
        { NULL, NULL },
    };
    Error *err = NULL;

    qdict_copy_default(dst, src, "a");
    qdict_copy_default(dst, src, "b");
    qdict_copy_default(dst, src, "c");
    assert_json_eq(dst, "{'a': 1, 'b': 3}");
    qdict_set_default_str(dst, "a", "s");
    qdict_set_default_str(dst, "s", "t");
    assert_json_eq(dst, "{'a': 1, 'b': 3, 's': 't'}");

    {
        g_autoptr(json_t) d = J("{'old': 1, 'x': 2, 'z': 3}");
        g_assert_true(qdict_rename_keys(d, renames, &error_abort));
        assert_json_eq(d, "{'new': 1, 'y': 2, 'z': 3}");
    }
    {
        g_autoptr(json_t) d = J("{'old': 1, 'new': 2}");
        g_assert_false(qdict_rename_keys(d, renames, &err));
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "'new' and its alias 'old' can't be used at the "
                        "same time");
        error_free_or_abort(&err);
    }

    {
        g_autoptr(json_t) a = J("{'k': 1, 'm': 2}");
        g_autoptr(json_t) b = J("{'k': 10, 'n': 20}");
        qdict_join(a, b, false);
        assert_json_eq(a, "{'k': 1, 'm': 2, 'n': 20}");
        assert_json_eq(b, "{'k': 10}");
        qdict_join(a, b, true);
        assert_json_eq(a, "{'k': 10, 'm': 2, 'n': 20}");
        g_assert_cmpuint(qdict_size(b), ==, 0);
    }
}

static void test_from_json_quotes(void)
{
    g_autoptr(json_t) v = J("{'a': 'say \"hi\"', 'c': 'esc\\'q',"
                            " 'big': 99999999999999999999, 'neg': -5,"
                            " 'f': 1.5e2, 'u': '\\u00e9', \"d\": \"x'y\"}");

    g_assert_cmpstr(qdict_get_str(v, "a"), ==, "say \"hi\"");
    g_assert_cmpstr(qdict_get_str(v, "c"), ==, "esc'q");
    g_assert_cmpstr(qdict_get_str(v, "u"), ==, "\xc3\xa9");
    g_assert_cmpstr(qdict_get_str(v, "d"), ==, "x'y");
    g_assert_true(json_is_real(qdict_get(v, "big")));
    g_assert_cmpfloat(json_real_value(qdict_get(v, "big")), ==, 1e20);
    g_assert_cmpint(qdict_get_int(v, "neg"), ==, -5);
    g_assert_cmpfloat(json_real_value(qdict_get(v, "f")), ==, 150.0);

    {
        g_autoptr(json_t) s = J("  [1, 'x', true, null] ");
        g_assert_cmpuint(json_array_size(s), ==, 4);
    }
    {
        g_autoptr(json_t) s = J("\"plain\"");
        g_assert_cmpstr(json_string_value(s), ==, "plain");
    }
}

static void test_from_json_errors(void)
{
    /* Messages as printed by QEMU 7.2 (qemu-img info 'json:...') */
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        { "", "Expecting a JSON value" },
        { "   ", "Expecting a JSON value" },
        { "{", "JSON parse error, premature EOI" },
        { "[1", "JSON parse error, premature EOI" },
        { "{\"a\":\"b", "JSON parse error, stray '\"b'" },
        { "{\"a\":1} {\"b\":2}", "Expecting at most one JSON value" },
        { "{\"a\":\"b\"}}", "Expecting at most one JSON value" },
        { "1 2", "Expecting at most one JSON value" },
        { "{\"a\"}", "JSON parse error, missing : in object pair" },
        { "{\"a\" 1}", "JSON parse error, missing : in object pair" },
        { "{\"a\":}", "JSON parse error, expecting value" },
        { "{\"a\":1,}", "JSON parse error, expecting value" },
        { "{\"a\":[1,]}", "JSON parse error, expecting value" },
        { "[,]", "JSON parse error, expecting value" },
        { "}", "JSON parse error, expecting value" },
        { "{\"a\":1]", "JSON parse error, expected separator in dict" },
        { "[1 2]", "JSON parse error, expected separator in list" },
        { "{\"a\":[1,2}", "JSON parse error, expected separator in list" },
        { "{\"a\":tru}", "JSON parse error, invalid keyword 'tru'" },
        { "{\"a\":nul}", "JSON parse error, invalid keyword 'nul'" },
        { "{a:1}", "JSON parse error, invalid keyword 'a'" },
        { "{1:2}", "JSON parse error, key is not a string in object" },
        { "{\"a\":\"\\x\"}",
          "JSON parse error, invalid escape sequence in string" },
        { "{\"a\":1,\"a\":{\"b\":2}}", "JSON parse error, duplicate key" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        Error *err = NULL;
        json_t *v = qobject_from_json(cases[i].text, &err);

        if (v || !err) {
            g_error("'%s' parsed", cases[i].text);
        }
        if (strcmp(error_get_pretty(err), cases[i].msg)) {
            g_error("'%s': got '%s', expected '%s'", cases[i].text,
                    error_get_pretty(err), cases[i].msg);
        }
        error_free(err);
    }
}

static void test_json_filename(void)
{
    Error *err = NULL;
    g_autoptr(json_t) v = qobject_from_json_filename(
        "json:{\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\","
        " \"filename\": \"t.qcow2\"}, \"backing\": null}", &error_abort);

    assert_json_eq(v, "{'driver': 'qcow2', 'file.driver': 'file',"
                   " 'file.filename': 't.qcow2', 'backing': null}");

    {
        g_autoptr(json_t) w = qobject_from_json_filename(
            "{'driver': 'raw'}", &error_abort);
        assert_json_eq(w, "{'driver': 'raw'}");
    }

    g_assert_null(qobject_from_json_filename("json:[1]", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid JSON object given");
    error_free_or_abort(&err);

    g_assert_null(qobject_from_json_filename("json:", &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not parse the JSON options: Expecting a JSON value");
    error_free_or_abort(&err);

    g_assert_null(qobject_from_json_filename("json:{", &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not parse the JSON options: JSON parse error, "
                    "premature EOI");
    error_free_or_abort(&err);

    g_assert_null(qobject_from_json_filename("json:{\"a\":1}x", &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not parse the JSON options: Expecting at most one "
                    "JSON value");
    error_free_or_abort(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qdict/accessors", test_accessors);
    g_test_add_func("/qdict/typed-opts", test_typed_opts);
    g_test_add_func("/qdict/scalar-to-string", test_scalar_to_string);
    g_test_add_func("/qdict/flatten", test_flatten);
    g_test_add_func("/qdict/extract-subqdict", test_extract_subqdict);
    g_test_add_func("/qdict/array-split", test_array_split);
    g_test_add_func("/qdict/array-entries", test_array_entries);
    g_test_add_func("/qdict/crumple", test_crumple);
    g_test_add_func("/qdict/crumple-errors", test_crumple_errors);
    g_test_add_func("/qdict/keyval-stringify", test_keyval_stringify);
    g_test_add_func("/qdict/defaults-renames-join",
                    test_defaults_renames_join);
    g_test_add_func("/qdict/from-json-quotes", test_from_json_quotes);
    g_test_add_func("/qdict/from-json-errors", test_from_json_errors);
    g_test_add_func("/qdict/json-filename", test_json_filename);
    return g_test_run();
}

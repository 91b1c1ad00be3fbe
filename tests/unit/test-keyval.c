/*
 * Unit tests for util/keyval.c: the keyval grammar, list conversion,
 * merging, and the flat QemuOpts-style parser used for --image-opts.
 */
#include "strata/osdep.h"
#include "util/json-writer.h"
#include "util/keyval.h"
#include "util/qdict.h"

static void assert_json_eq(json_t *got, const char *expected)
{
    g_autoptr(json_t) exp = qobject_from_json(expected, &error_abort);

    if (!json_equal(got, exp)) {
        g_autofree char *s = json_writer_format(got,
                                                JSON_WRITER_INSERTION_ORDER);
        g_error("got %s, expected %s", s, expected);
    }
}

typedef struct ParseCase {
    const char *params;
    const char *implied;
    const char *json;           /* expected result, or NULL */
    const char *error;          /* expected message, or NULL */
} ParseCase;

static const ParseCase parse_cases[] = {
    { "", NULL, "{}" },
    { "a=1", NULL, "{'a': '1'}" },
    { "a=1,", NULL, "{'a': '1'}" },
    { "a=", NULL, "{'a': ''}" },
    { "a=1,b=2", NULL, "{'a': '1', 'b': '2'}" },
    { "a=1,,b", NULL, "{'a': '1,b'}" },
    { "a=,,", NULL, "{'a': ','}" },
    { "a=x,,,b=y", NULL, "{'a': 'x,', 'b': 'y'}" },
    { "a=b=c", NULL, "{'a': 'b=c'}" },
    { "a=1,a=2", NULL, "{'a': '2'}" },           /* last one wins */
    { "file.filename=x,driver=raw", NULL,
      "{'file': {'filename': 'x'}, 'driver': 'raw'}" },
    { "a.b.c=1,a.b.d=2,a.e=3", NULL,
      "{'a': {'b': {'c': '1', 'd': '2'}, 'e': '3'}}" },
    { "a.0=x,a.1=y", NULL, "{'a': ['x', 'y']}" },
    { "a.1=y,a.0=x", NULL, "{'a': ['x', 'y']}" },
    { "a.0.b=1,a.0.c=2,a.1.b=3", NULL,
      "{'a': [{'b': '1', 'c': '2'}, {'b': '3'}]}" },
    { "a.0.0=x,a.0.1=y", NULL, "{'a': [['x', 'y']]}" },
    { "a.00=x", NULL, "{'a': ['x']}" },
    { "__com.redhat_x=1", NULL, "{'__com.redhat_x': '1'}" },
    { "a-b_c=1", NULL, "{'a-b_c': '1'}" },
    { "A9=1", NULL, "{'A9': '1'}" },
    /* implied key */
    { "null-co", "driver", "{'driver': 'null-co'}" },
    { "null-co,size=1", "driver", "{'driver': 'null-co', 'size': '1'}" },
    { "a.b", "driver", "{'driver': 'a.b'}" },
    { "size=1,null-co", "driver", NULL,
      "Expected '=' after parameter 'null-co'" },
    { "x,y", "driver", NULL, "Expected '=' after parameter 'y'" },
    { "x", "file.filename", "{'file': {'filename': 'x'}}" },
    { "=x", "driver", NULL, "Invalid parameter ''" },
    /* errors, as qemu-storage-daemon --blockdev reports them */
    { "a.b=1,a=2", NULL, NULL, "Parameters 'a.*' used inconsistently" },
    { "a=1,a.b=2", NULL, NULL, "Parameters 'a.*' used inconsistently" },
    { "a.b.c=1,a.b=2", NULL, NULL, "Parameters 'a.b.*' used inconsistently" },
    { "a.b=1,a.b.c=2", NULL, NULL, "Parameters 'a.b.*' used inconsistently" },
    { "a.0=x,a.b=y", NULL, NULL, "Parameters 'a.*' used inconsistently" },
    { "x.a.0=x,x.a.b=y", NULL, NULL,
      "Parameters 'x.a.*' used inconsistently" },
    { "a.0=x,a.2=y", NULL, NULL, "Parameter 'a.1' missing" },
    { "a.1=x", NULL, NULL, "Parameter 'a.0' missing" },
    { "a.0=x,a.99999999999=y", NULL, NULL, "Parameter 'a.1' missing" },
    { "a.0.1=x", NULL, NULL, "Parameter 'a.0.0' missing" },
    { "driver=null-co,foo", NULL, NULL, "Expected '=' after parameter 'foo'" },
    { "foo", NULL, NULL, "Expected '=' after parameter 'foo'" },
    { "helpx", NULL, NULL, "Expected '=' after parameter 'helpx'" },
    { ",", NULL, NULL, "Invalid parameter ''" },
    { "=x", NULL, NULL, "Invalid parameter ''" },
    { "a=1,,,", NULL, "{'a': '1,'}" },
    { "a=1,,,,b=2", NULL, "{'a': '1,,b=2'}" },
    { "a=1,,b=2,,c", NULL, "{'a': '1,b=2,c'}" },
    { "a..b=1", NULL, NULL, "Invalid parameter 'a..b'" },
    { "a.=1", NULL, NULL, "Invalid parameter 'a.'" },
    { ".a=1", NULL, NULL, "Invalid parameter '.a'" },
    { "1a=1", NULL, NULL, "Invalid parameter '1a'" },
    { "0=1", NULL, NULL, "Invalid parameter '0'" },
    { "_a=1", NULL, NULL, "Invalid parameter '_a'" },
    { "a.0x=1", NULL, NULL, "Invalid parameter 'a.0x'" },
    { "a b=1", NULL, NULL, "Invalid parameter 'a b'" },
    { "a=1,,b,=2", NULL, NULL, "Invalid parameter ''" },
    { "help", NULL, NULL, "Help is not available for this option" },
    { "?", NULL, NULL, "Help is not available for this option" },
    { "driver=null-co,help", NULL, NULL,
      "Help is not available for this option" },
};

static void test_parse_table(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
        const ParseCase *c = &parse_cases[i];
        Error *err = NULL;
        g_autoptr(json_t) v = keyval_parse(c->params, c->implied, NULL, &err);

        if (c->json) {
            if (!v) {
                g_error("keyval_parse(\"%s\") failed: %s", c->params,
                        error_get_pretty(err));
            }
            assert_json_eq(v, c->json);
        } else {
            if (v) {
                g_error("keyval_parse(\"%s\") succeeded", c->params);
            }
            g_assert_nonnull(err);
            if (strcmp(error_get_pretty(err), c->error)) {
                g_error("keyval_parse(\"%s\"): '%s', expected '%s'",
                        c->params, error_get_pretty(err), c->error);
            }
            error_free(err);
        }
    }
}

static void test_long_keys(void)
{
    g_autofree char *k127 = g_strnfill(127, 'a');
    g_autofree char *k128 = g_strnfill(128, 'a');
    g_autofree char *ok = g_strdup_printf("%s=1,x.%s=2", k127, k127);
    g_autofree char *bad = g_strdup_printf("%s=1", k128);
    g_autofree char *badfrag = g_strdup_printf("x.%s=1", k128);
    g_autofree char *badfirst = g_strdup_printf("%s.x=1", k128);
    g_autofree char *msg = NULL;
    Error *err = NULL;
    json_t *v;

    v = keyval_parse(ok, NULL, NULL, &error_abort);
    g_assert_cmpuint(qdict_size(v), ==, 2);
    json_decref(v);

    g_assert_null(keyval_parse(bad, NULL, NULL, &err));
    msg = g_strdup_printf("Parameter '%s' is too long", k128);
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free_or_abort(&err);
    g_free(msg);

    g_assert_null(keyval_parse(badfrag, NULL, NULL, &err));
    msg = g_strdup_printf("Parameter fragment '%s' is too long", k128);
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free_or_abort(&err);

    g_assert_null(keyval_parse(badfirst, NULL, NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free_or_abort(&err);
}

static void test_help(void)
{
    bool help = true;
    g_autoptr(json_t) a = keyval_parse("driver=x", NULL, &help, &error_abort);
    json_t *v;

    g_assert_false(help);

    v = keyval_parse("help", NULL, &help, &error_abort);
    g_assert_true(help);
    g_assert_cmpuint(qdict_size(v), ==, 0);
    json_decref(v);

    help = false;
    v = keyval_parse("driver=qcow2,?", NULL, &help, &error_abort);
    g_assert_true(help);
    assert_json_eq(v, "{'driver': 'qcow2'}");
    json_decref(v);

    /* "help" as the first element wins over the implied key */
    help = false;
    v = keyval_parse("help", "driver", &help, &error_abort);
    g_assert_true(help);
    g_assert_cmpuint(qdict_size(v), ==, 0);
    json_decref(v);

    help = false;
    v = keyval_parse("qcow2,help", "driver", &help, &error_abort);
    g_assert_true(help);
    assert_json_eq(v, "{'driver': 'qcow2'}");
    json_decref(v);

    /* after "help", the implied key no longer applies */
    {
        Error *err = NULL;
        g_assert_null(keyval_parse("help,qcow2", "driver", &help, &err));
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "Expected '=' after parameter 'qcow2'");
        error_free(err);
    }

    /* help=... is an ordinary key */
    help = false;
    v = keyval_parse("help=1", NULL, &help, &error_abort);
    g_assert_false(help);
    assert_json_eq(v, "{'help': '1'}");
    json_decref(v);
}

static void test_parse_into(void)
{
    g_autoptr(json_t) d = keyval_parse("a.b=1,c=2", NULL, NULL,
                                       &error_abort);
    Error *err = NULL;

    g_assert_true(keyval_parse_into(d, "a.d=3,c=4", NULL, NULL,
                                    &error_abort) == d);
    assert_json_eq(d, "{'a': {'b': '1', 'd': '3'}, 'c': '4'}");

    g_assert_null(keyval_parse_into(d, "c.x=1", NULL, NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameters 'c.*' used inconsistently");
    error_free(err);
}

static void test_merge(void)
{
    g_autoptr(json_t) d = keyval_parse("a.b=1,l.0=x,s=old", NULL, NULL,
                                       &error_abort);
    g_autoptr(json_t) m = keyval_parse("a.c=2,l.0=y,s=new,t=3", NULL, NULL,
                                       &error_abort);
    Error *err = NULL;

    g_assert_true(keyval_merge(d, m, &error_abort));
    assert_json_eq(d, "{'a': {'b': '1', 'c': '2'}, 'l': ['x', 'y'],"
                   " 's': 'new', 't': '3'}");
    /* @m unchanged */
    assert_json_eq(m, "{'a': {'c': '2'}, 'l': ['y'], 's': 'new', 't': '3'}");

    {
        g_autoptr(json_t) bad = keyval_parse("a.b.x=1", NULL, NULL,
                                             &error_abort);
        g_assert_false(keyval_merge(d, bad, &err));
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "Parameter 'a.b' used inconsistently");
        error_free_or_abort(&err);
    }
    {
        g_autoptr(json_t) bad = keyval_parse("l=1", NULL, NULL,
                                             &error_abort);
        g_assert_false(keyval_merge(d, bad, &err));
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "Parameter 'l' used inconsistently");
        error_free_or_abort(&err);
    }
}

/* ---- flat (QemuOpts) parsing ---- */

static void test_flat(void)
{
    static const struct {
        const char *params;
        const char *implied;
        const char *json;
    } cases[] = {
        { "driver=qcow2,file.filename=t.qcow2", "file",
          "{'driver': 'qcow2', 'file.filename': 't.qcow2'}" },
        { "t.qcow2", "file", "{'file': 't.qcow2'}" },
        { "t.qcow2,driver=raw", "file", "{'file': 't.qcow2', 'driver': 'raw'}" },
        { ",driver=raw", "file", "{'file': '', 'driver': 'raw'}" },
        { "", "file", "{}" },
        { "driver=raw,,file.filename=x", "file",
          "{'driver': 'raw,file.filename=x'}" },
        { "a=1,a=2", NULL, "{'a': '2'}" },
        { "=5", NULL, "{'': '5'}" },
        { "a.0=1,x..y=2", NULL, "{'a.0': '1', 'x..y': '2'}" },
        { "a=b=c", NULL, "{'a': 'b=c'}" },
        { "help", NULL, "{'help': 'on'}" },
        { "help", "file", "{'file': 'help'}" },     /* a file name */
        { "driver=raw,?", NULL, "{'driver': 'raw', '?': 'on'}" },
        { "driver=raw,id=foo", NULL, "{'id': 'foo', 'driver': 'raw'}" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(json_t) v = keyval_parse_flat(cases[i].params,
                                                cases[i].implied,
                                                &error_abort);
        assert_json_eq(v, cases[i].json);
    }

    /* "id" comes first */
    {
        g_autoptr(json_t) v = keyval_parse_flat("a=1,id=x", NULL,
                                                &error_abort);
        const char *first = json_object_iter_key(json_object_iter(v));
        g_assert_cmpstr(first, ==, "id");
    }
}

static void test_flat_errors(void)
{
    Error *err = NULL;

    g_assert_null(keyval_parse_flat("driver=raw,id=1foo", NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'id' expects an identifier");
    g_assert_cmpstr(error_get_hint(err), ==,
                    "Identifiers consist of letters, digits, '-', '.', '_', "
                    "starting with a letter.\n");
    error_free_or_abort(&err);
}

static void test_flat_flags(void)
{
    if (g_test_subprocess()) {
        g_autoptr(json_t) v = NULL;

        error_init("qemu-img");
        v = keyval_parse_flat("driver=raw,force-share,noforce-x,help,nodelay",
                              "file", &error_abort);
        assert_json_eq(v, "{'driver': 'raw', 'force-share': 'on',"
                       " 'force-x': 'off', 'help': 'on', 'delay': 'off'}");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    /* wording of qemu-img info --image-opts */
    g_test_trap_assert_stderr(
        "qemu-img: warning: short-form boolean option 'force-share' "
        "deprecated\n"
        "Please use force-share=on instead\n"
        "qemu-img: warning: short-form boolean option 'noforce-x' "
        "deprecated\n"
        "Please use force-x=off instead\n"
        "qemu-img: warning: short-form boolean option 'nodelay' "
        "deprecated\n"
        "Please use nodelay=on instead\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/keyval/parse", test_parse_table);
    g_test_add_func("/keyval/long-keys", test_long_keys);
    g_test_add_func("/keyval/help", test_help);
    g_test_add_func("/keyval/parse-into", test_parse_into);
    g_test_add_func("/keyval/merge", test_merge);
    g_test_add_func("/keyval/flat", test_flat);
    g_test_add_func("/keyval/flat-errors", test_flat_errors);
    g_test_add_func("/keyval/flat-flags", test_flat_flags);
    return g_test_run();
}

/*
 * Unit tests for util/option.c (QemuOpts): parsing, typed access, errors,
 * help listing and option summaries in qemu-img's exact layout.
 */
#include "strata/osdep.h"
#include "util/json-writer.h"
#include "util/option.h"
#include "util/qdict.h"

/* The creation options of qcow2 as qemu-img 7.2 lists them, shuffled */
static QemuOptsList qcow2_opts = {
    .name = "qcow2-create-opts",
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { .name = "compat", .type = QEMU_OPT_STRING,
          .help = "Compatibility level (v2 [0.10] or v3 [1.1])" },
        { .name = "backing_file", .type = QEMU_OPT_STRING,
          .help = "File name of a base image" },
        { .name = "backing_fmt", .type = QEMU_OPT_STRING,
          .help = "Image format of the base image" },
        { .name = "data_file", .type = QEMU_OPT_STRING,
          .help = "File name of an external data file" },
        { .name = "data_file_raw", .type = QEMU_OPT_BOOL,
          .help = "The external data file must stay valid as a raw image" },
        { .name = "encryption", .type = QEMU_OPT_BOOL,
          .help = "Encrypt the image with format 'aes'. (Deprecated in "
                  "favor of encrypt.format=aes)" },
        { .name = "encrypt.format", .type = QEMU_OPT_STRING,
          .help = "Encrypt the image, format choices: 'aes', 'luks'" },
        { .name = "encrypt.key-secret", .type = QEMU_OPT_STRING,
          .help = "ID of secret providing qcow AES key or LUKS passphrase" },
        { .name = "encrypt.cipher-alg", .type = QEMU_OPT_STRING,
          .help = "Name of encryption cipher algorithm" },
        { .name = "encrypt.cipher-mode", .type = QEMU_OPT_STRING,
          .help = "Name of encryption cipher mode" },
        { .name = "encrypt.ivgen-alg", .type = QEMU_OPT_STRING,
          .help = "Name of IV generator algorithm" },
        { .name = "encrypt.ivgen-hash-alg", .type = QEMU_OPT_STRING,
          .help = "Name of IV generator hash algorithm" },
        { .name = "encrypt.hash-alg", .type = QEMU_OPT_STRING,
          .help = "Name of encryption hash algorithm" },
        { .name = "encrypt.iter-time", .type = QEMU_OPT_NUMBER,
          .help = "Time to spend in PBKDF in milliseconds" },
        { .name = "cluster_size", .type = QEMU_OPT_SIZE,
          .help = "qcow2 cluster size", .def_value_str = "65536" },
        { .name = "preallocation", .type = QEMU_OPT_STRING,
          .help = "Preallocation mode (allowed values: off, metadata, "
                  "falloc, full)" },
        { .name = "lazy_refcounts", .type = QEMU_OPT_BOOL,
          .help = "Postpone refcount updates", .def_value_str = "off" },
        { .name = "refcount_bits", .type = QEMU_OPT_NUMBER,
          .help = "Width of a reference count entry in bits",
          .def_value_str = "16" },
        { .name = "compression_type", .type = QEMU_OPT_STRING,
          .help = "Compression method used for image cluster compression",
          .def_value_str = "zlib" },
        { .name = "extended_l2", .type = QEMU_OPT_BOOL,
          .help = "Extended L2 tables", .def_value_str = "off" },
        { NULL }
    },
};

static const char qcow2_help[] =
    "  backing_file=<str>     - File name of a base image\n"
    "  backing_fmt=<str>      - Image format of the base image\n"
    "  cluster_size=<size>    - qcow2 cluster size\n"
    "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
    "  compression_type=<str> - Compression method used for image cluster "
    "compression\n"
    "  data_file=<str>        - File name of an external data file\n"
    "  data_file_raw=<bool (on/off)> - The external data file must stay "
    "valid as a raw image\n"
    "  encrypt.cipher-alg=<str> - Name of encryption cipher algorithm\n"
    "  encrypt.cipher-mode=<str> - Name of encryption cipher mode\n"
    "  encrypt.format=<str>   - Encrypt the image, format choices: 'aes', "
    "'luks'\n"
    "  encrypt.hash-alg=<str> - Name of encryption hash algorithm\n"
    "  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds\n"
    "  encrypt.ivgen-alg=<str> - Name of IV generator algorithm\n"
    "  encrypt.ivgen-hash-alg=<str> - Name of IV generator hash algorithm\n"
    "  encrypt.key-secret=<str> - ID of secret providing qcow AES key or "
    "LUKS passphrase\n"
    "  encryption=<bool (on/off)> - Encrypt the image with format 'aes'. "
    "(Deprecated in favor of encrypt.format=aes)\n"
    "  extended_l2=<bool (on/off)> - Extended L2 tables\n"
    "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
    "  preallocation=<str>    - Preallocation mode (allowed values: off, "
    "metadata, falloc, full)\n"
    "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
    "  size=<size>            - Virtual disk size\n";

static QemuOptsList small_opts = {
    .name = "small",
    .implied_opt_name = "file",
    .desc = {
        { .name = "file", .type = QEMU_OPT_STRING },
        { .name = "size", .type = QEMU_OPT_SIZE, .def_value_str = "1k" },
        { .name = "count", .type = QEMU_OPT_NUMBER, .def_value_str = "0x10" },
        { .name = "flag", .type = QEMU_OPT_BOOL, .def_value_str = "on" },
        { .name = "delay", .type = QEMU_OPT_BOOL },
        { .name = "str", .type = QEMU_OPT_STRING, .def_value_str = "dflt" },
        { NULL }
    },
};

static QemuOptsList any_opts = {
    .name = "any",
    .implied_opt_name = "file",
    .desc = { { NULL } },
};

static QemuOptsList merged_opts = {
    .name = "merged",
    .merge_lists = true,
    .desc = { { NULL } },
};

static QemuOptsList empty_named = {
    .name = "raw",
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE },   /* no help text */
        { NULL }
    },
};

static void test_print_help(void)
{
    if (g_test_subprocess()) {
        qemu_opts_print_help(&qcow2_opts, false);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout(qcow2_help);
}

static void test_print_help_caption(void)
{
    if (g_test_subprocess()) {
        QemuOptsList *none = qemu_opts_append(NULL, &any_opts);

        qemu_opts_print_help(&empty_named, true);
        qemu_opts_print_help(&any_opts, true);
        qemu_opts_print_help(&any_opts, false);
        qemu_opts_print_help(none, true);
        qemu_opts_free(none);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout("raw options:\n"
                              "  size=<size>\n"
                              "There are no options for any.\n"
                              "There are no options for any.\n"
                              "No options.\n");
}

static void test_parse_and_get(void)
{
    QemuOpts *opts = qemu_opts_create(&small_opts, NULL, false,
                                      &error_abort);

    /* defaults */
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 5), ==, 1024);
    g_assert_cmpuint(qemu_opt_get_number(opts, "count", 5), ==, 16);
    g_assert_true(qemu_opt_get_bool(opts, "flag", false));
    g_assert_false(qemu_opt_get_bool(opts, "delay", false));
    g_assert_true(qemu_opt_get_bool(opts, "delay", true));
    g_assert_cmpstr(qemu_opt_get(opts, "str"), ==, "dflt");
    g_assert_null(qemu_opt_get(opts, "file"));
    g_assert_null(qemu_opt_get(opts, "undescribed"));
    g_assert_false(qemu_opt_has(opts, "str"));

    g_assert_true(qemu_opts_do_parse(opts, "img,,x,size=1.5M,count=-1,"
                                     "noflag,str=a,,b,str=c,id=ignored",
                                     "file", &error_abort));
    g_assert_cmpstr(qemu_opt_get(opts, "file"), ==, "img,x");
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 3 * MiB / 2);
    g_assert_cmpuint(qemu_opt_get_number(opts, "count", 0), ==, UINT64_MAX);
    g_assert_false(qemu_opt_get_bool(opts, "flag", true));
    g_assert_cmpstr(qemu_opt_get(opts, "str"), ==, "c");    /* last wins */
    g_assert_true(qemu_opt_has(opts, "str"));
    g_assert_null(qemu_opts_id(opts));
    g_assert_null(qemu_opt_get(opts, "id"));

    /* _del variants remove every value and fall back to defaults */
    {
        g_autofree char *s = qemu_opt_get_del(opts, "str");
        g_assert_cmpstr(s, ==, "c");
        g_assert_cmpstr(qemu_opt_get(opts, "str"), ==, "dflt");
        g_free(s);
        s = qemu_opt_get_del(opts, "str");
        g_assert_cmpstr(s, ==, "dflt");
    }
    g_assert_cmpuint(qemu_opt_get_size_del(opts, "size", 0), ==, 3 * MiB / 2);
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 1024);
    g_assert_cmpuint(qemu_opt_get_number_del(opts, "count", 0), ==,
                     UINT64_MAX);
    g_assert_cmpuint(qemu_opt_get_number(opts, "count", 0), ==, 16);
    g_assert_false(qemu_opt_get_bool_del(opts, "flag", true));
    g_assert_true(qemu_opt_get_bool(opts, "flag", false));
    g_assert_false(qemu_opt_get_bool_del(opts, "delay", false));

    /* NULL opts give the caller's default */
    g_assert_null(qemu_opt_get(NULL, "x"));
    g_assert_null(qemu_opt_get_del(NULL, "x"));
    g_assert_cmpuint(qemu_opt_get_size(NULL, "size", 7), ==, 7);
    g_assert_true(qemu_opt_get_bool(NULL, "flag", true));

    qemu_opts_del(opts);
    g_assert_true(g_queue_is_empty(&small_opts.head));
}

static void test_parse_errors(void)
{
    static const struct {
        const char *params;
        const char *msg;
        const char *hint;
    } cases[] = {
        /* as "qemu-img create -f qcow2 -o ..." reports them */
        { "foo=bar", "Invalid parameter 'foo'" },
        { "size=abc", "Parameter 'size' expects a non-negative number "
          "below 2^64", "Optional suffix k, M, G, T, P or E means kilo-, "
          "mega-, giga-, tera-, peta-\nand exabytes, respectively.\n" },
        { "size=16E", "Value '16E' is out of range for parameter 'size'" },
        { "flag=maybe", "Parameter 'flag' expects 'on' or 'off'" },
        { "count=abc", "Parameter 'count' expects a number" },
        { "count=99999999999999999999999", "Value '99999999999999999999999' "
          "is too large for parameter 'count'" },
        { "file=x,unknown", "Invalid parameter 'unknown'" },
        { "nounknown", "Invalid parameter 'unknown'" },
        { "noflag=1", "Invalid parameter 'noflag'" },
        { "delay=on,flag=", "Parameter 'flag' expects 'on' or 'off'" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        QemuOpts *opts = qemu_opts_create(&small_opts, NULL, false,
                                          &error_abort);
        Error *err = NULL;

        g_assert_false(qemu_opts_do_parse(opts, cases[i].params, NULL, &err));
        g_assert_nonnull(err);
        g_assert_cmpstr(error_get_pretty(err), ==, cases[i].msg);
        g_assert_cmpstr(error_get_hint(err), ==, cases[i].hint);
        error_free(err);
        qemu_opts_del(opts);
    }

    /* values before the error stay */
    {
        QemuOpts *opts = qemu_opts_create(&small_opts, NULL, false,
                                          &error_abort);
        Error *err = NULL;

        g_assert_false(qemu_opts_do_parse(opts, "str=kept,size=x,file=no",
                                          NULL, &err));
        error_free(err);
        g_assert_cmpstr(qemu_opt_get(opts, "str"), ==, "kept");
        g_assert_false(qemu_opt_has(opts, "size"));
        g_assert_false(qemu_opt_has(opts, "file"));
        qemu_opts_del(opts);
    }
}

static void test_flags(void)
{
    QemuOpts *opts = qemu_opts_create(&small_opts, NULL, false,
                                      &error_abort);

    /* qemu-img create -o lazy_refcounts: flags are not warned about here */
    g_assert_true(qemu_opts_do_parse(opts, "flag,nodelay", NULL,
                                     &error_abort));
    g_assert_true(qemu_opt_get_bool(opts, "flag", false));
    g_assert_false(qemu_opt_get_bool(opts, "delay", true));
    g_assert_cmpstr(qemu_opt_get(opts, "flag"), ==, "on");
    g_assert_cmpstr(qemu_opt_get(opts, "delay"), ==, "off");
    qemu_opts_del(opts);
}

static void test_parse_id(void)
{
    QemuOpts *a, *b;
    Error *err = NULL;

    a = qemu_opts_parse(&any_opts, "x=1,id=one", false, &error_abort);
    g_assert_cmpstr(qemu_opts_id(a), ==, "one");
    g_assert_null(qemu_opt_get(a, "id"));
    g_assert_true(qemu_opts_find(&any_opts, "one") == a);

    g_assert_null(qemu_opts_parse(&any_opts, "id=one,y=2", false, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Duplicate ID 'one' for any");
    error_free_or_abort(&err);

    g_assert_null(qemu_opts_parse(&any_opts, "id=1x", false, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'id' expects an identifier");
    error_free_or_abort(&err);

    b = qemu_opts_parse(&any_opts, "img.qcow2,a.b=c", true, &error_abort);
    g_assert_cmpstr(qemu_opt_get(b, "file"), ==, "img.qcow2");
    g_assert_cmpstr(qemu_opt_get(b, "a.b"), ==, "c");
    g_assert_true(qemu_opts_find(&any_opts, NULL) == b);
    g_assert_null(qemu_opts_find(&any_opts, "two"));

    /* without permit_abbrev, a first element without '=' is a flag */
    {
        QemuOpts *c = qemu_opts_parse(&any_opts, "img", false, &error_abort);
        g_assert_cmpstr(qemu_opt_get(c, "img"), ==, "on");
        qemu_opts_del(c);
    }

    qemu_opts_reset(&any_opts);
    g_assert_true(g_queue_is_empty(&any_opts.head));
    g_assert_null(qemu_opts_find(&any_opts, "one"));

    /* merge_lists: one shared QemuOpts, no ids */
    a = qemu_opts_parse(&merged_opts, "a=1", false, &error_abort);
    b = qemu_opts_parse(&merged_opts, "b=2", false, &error_abort);
    g_assert_true(a == b);
    g_assert_cmpstr(qemu_opt_get(a, "a"), ==, "1");
    g_assert_cmpstr(qemu_opt_get(a, "b"), ==, "2");
    g_assert_null(qemu_opts_parse(&merged_opts, "id=x", false, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid parameter 'id'");
    error_free_or_abort(&err);
    qemu_opts_reset(&merged_opts);
}

static void test_parse_noisily(void)
{
    if (g_test_subprocess()) {
        QemuOpts *opts;

        error_init("qemu-img");
        /* help listing instead of parsing */
        g_assert_null(qemu_opts_parse_noisily(&empty_named, "size=1,help",
                                              false));
        /* error reported */
        g_assert_null(qemu_opts_parse_noisily(&empty_named, "bad=1", false));
        /* short-form flag warned about */
        opts = qemu_opts_parse_noisily(&any_opts, "x,help", true);
        g_assert_nonnull(opts);
        g_assert_cmpstr(qemu_opt_get(opts, "file"), ==, "x");
        g_assert_cmpstr(qemu_opt_get(opts, "help"), ==, "on");
        g_assert_true(qemu_opt_has_help_opt(opts));
        qemu_opts_del(opts);
        opts = qemu_opts_parse_noisily(&any_opts, "x,share", true);
        g_assert_false(qemu_opt_has_help_opt(opts));
        qemu_opts_del(opts);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout("raw options:\n  size=<size>\n");
    g_test_trap_assert_stderr("qemu-img: Invalid parameter 'bad'\n"
                              "qemu-img: warning: short-form boolean option "
                              "'share' deprecated\n"
                              "Please use share=on instead\n");
}

static void test_help_option_strings(void)
{
    g_assert_true(has_help_option("help"));
    g_assert_true(has_help_option("?"));
    g_assert_true(has_help_option("size=1,help"));
    g_assert_true(has_help_option("help,size=1"));
    g_assert_false(has_help_option("help=1"));
    g_assert_false(has_help_option("a=help"));
    g_assert_false(has_help_option("x=1,,help"));
    g_assert_false(has_help_option(""));

    g_assert_true(is_valid_option_list("size=1"));
    g_assert_true(is_valid_option_list("a=1,b=2"));
    g_assert_true(is_valid_option_list("a=1,,2"));
    /* as "qemu-img create -o STR" accepts or refuses them */
    g_assert_true(is_valid_option_list("a=1,,,b=2"));     /* a="1," */
    g_assert_true(is_valid_option_list("size=1M,,"));
    g_assert_false(is_valid_option_list(""));
    g_assert_false(is_valid_option_list("size=1k,"));
    g_assert_false(is_valid_option_list("size=1M,,,"));
    g_assert_false(is_valid_option_list(",a=1"));
    g_assert_false(is_valid_option_list(",,a"));
    g_assert_false(is_valid_option_list(","));
}

static void test_set(void)
{
    QemuOpts *opts = qemu_opts_create(&small_opts, NULL, false,
                                      &error_abort);
    Error *err = NULL;

    g_assert_true(qemu_opt_set(opts, "size", "2k", &error_abort));
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 2048);
    g_assert_false(qemu_opt_set(opts, "size", "x", &err));
    error_free_or_abort(&err);
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 2048);
    g_assert_false(qemu_opt_set(opts, "nope", "x", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid parameter 'nope'");
    error_free_or_abort(&err);

    g_assert_true(qemu_opt_set_bool(opts, "flag", false, &error_abort));
    g_assert_false(qemu_opt_get_bool(opts, "flag", true));
    g_assert_cmpstr(qemu_opt_get(opts, "flag"), ==, "off");
    g_assert_true(qemu_opt_set_number(opts, "count", -2, &error_abort));
    g_assert_cmpuint(qemu_opt_get_number(opts, "count", 0), ==,
                     (uint64_t)-2);
    g_assert_cmpstr(qemu_opt_get(opts, "count"), ==, "-2");
    g_assert_false(qemu_opt_set_bool(opts, "nope", true, &err));
    error_free_or_abort(&err);
    g_assert_false(qemu_opt_set_number(opts, "nope", 1, &err));
    error_free_or_abort(&err);
    qemu_opts_del(opts);

    opts = qemu_opts_create(&any_opts, NULL, false, &error_abort);
    g_assert_true(qemu_opt_set(opts, "k", "1", &error_abort));
    g_assert_true(qemu_opt_set(opts, "k", "2", &error_abort));
    g_assert_cmpint(qemu_opt_unset(opts, "k"), ==, 0);
    g_assert_cmpstr(qemu_opt_get(opts, "k"), ==, "1");
    g_assert_cmpint(qemu_opt_unset(opts, "k"), ==, 0);
    g_assert_cmpint(qemu_opt_unset(opts, "k"), ==, -1);
    qemu_opts_del(opts);
}

static int count_cb(void *opaque, const char *name, const char *value,
                    Error **errp)
{
    GString *s = opaque;

    g_string_append_printf(s, "%s=%s;", name, value);
    return g_str_equal(name, "stop") ? 42 : 0;
}

static int opts_cb(void *opaque, QemuOpts *opts, Error **errp)
{
    (*(int *)opaque)++;
    qemu_opts_del(opts);
    return 0;
}

static void test_foreach(void)
{
    QemuOpts *opts = qemu_opts_parse(&any_opts, "a=1,b=2,stop=3,c=4", false,
                                     &error_abort);
    g_autoptr(GString) s = g_string_new(NULL);
    int n = 0;

    g_assert_cmpint(qemu_opt_foreach(opts, count_cb, s, NULL), ==, 42);
    g_assert_cmpstr(s->str, ==, "a=1;b=2;stop=3;");

    qemu_opts_parse(&any_opts, "id=two", false, &error_abort);
    g_assert_cmpint(qemu_opts_foreach(&any_opts, opts_cb, &n, NULL), ==, 0);
    g_assert_cmpint(n, ==, 2);
    g_assert_true(g_queue_is_empty(&any_opts.head));
}

static void test_to_string(void)
{
    QemuOpts *opts = qemu_opts_create(&qcow2_opts, NULL, false,
                                      &error_abort);
    g_autofree char *s = NULL;

    /* only defaults */
    s = qemu_opts_to_string(opts, " ");
    g_assert_cmpstr(s, ==, "cluster_size=65536 lazy_refcounts=off "
                    "refcount_bits=16 compression_type=zlib extended_l2=off");
    g_free(s);

    /* user values: numbers normalised and signed, strings escaped */
    g_assert_true(qemu_opts_do_parse(opts, "size=1G,backing_file=a,,b,"
                                     "lazy_refcounts=yes,refcount_bits=-1,"
                                     "cluster_size=0x10000", NULL,
                                     &error_abort));
    s = qemu_opts_to_string(opts, " ");
    g_assert_cmpstr(s, ==, "size=1073741824 backing_file=a,,b "
                    "cluster_size=65536 lazy_refcounts=yes refcount_bits=-1 "
                    "compression_type=zlib extended_l2=off");
    qemu_opts_del(opts);
    g_free(s);

    opts = qemu_opts_parse(&any_opts, "id=i0,x=a,,b,y=2", false,
                           &error_abort);
    s = qemu_opts_to_string(opts, ",");
    g_assert_cmpstr(s, ==, "id=i0,x=a,,b,y=2");
    qemu_opts_del(opts);

}

static void test_print(void)
{
    if (g_test_subprocess()) {
        QemuOpts *opts = qemu_opts_parse(&any_opts, "a=1,b=2", false,
                                         &error_abort);
        qemu_opts_print(opts, " ");
        qemu_opts_del(opts);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout("a=1 b=2");
}

static QemuOptsList fmt_list = {
    .name = "fmt",
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE, .help = "fmt size" },
        { .name = "cluster_size", .type = QEMU_OPT_SIZE },
        { NULL }
    },
};

static QemuOptsList proto_list = {
    .name = "proto",
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE, .help = "proto size" },
        { .name = "preallocation", .type = QEMU_OPT_STRING },
        { .name = "nocow", .type = QEMU_OPT_BOOL },
        { NULL }
    },
};

static void test_append(void)
{
    QemuOptsList *l = qemu_opts_append(NULL, &fmt_list);
    QemuOpts *opts;

    g_assert_null(l->name);
    g_assert_cmpstr(l->desc[0].name, ==, "size");
    g_assert_cmpstr(l->desc[1].name, ==, "cluster_size");
    g_assert_null(l->desc[2].name);

    l = qemu_opts_append(l, &proto_list);
    g_assert_cmpstr(l->desc[0].help, ==, "fmt size");      /* first wins */
    g_assert_cmpstr(l->desc[2].name, ==, "preallocation");
    g_assert_cmpstr(l->desc[3].name, ==, "nocow");
    g_assert_null(l->desc[4].name);
    g_assert_true(qemu_opts_append(l, NULL) == l);

    opts = qemu_opts_create(l, NULL, false, &error_abort);
    g_assert_true(qemu_opts_do_parse(opts, "nocow=on,size=1k", NULL,
                                     &error_abort));
    g_assert_true(qemu_opt_get_bool(opts, "nocow", false));
    qemu_opts_del(opts);
    qemu_opts_free(l);
}

static void test_validate(void)
{
    QemuOpts *opts = qemu_opts_parse(&any_opts, "size=2k,nocow=on", false,
                                     &error_abort);
    Error *err = NULL;

    g_assert_true(qemu_opts_validate(opts, proto_list.desc, &error_abort));
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 2048);
    g_assert_true(qemu_opt_get_bool(opts, "nocow", false));
    g_assert_false(qemu_opts_validate(opts, fmt_list.desc, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid parameter 'nocow'");
    error_free_or_abort(&err);
    qemu_opts_del(opts);

    opts = qemu_opts_parse(&any_opts, "size=big", false, &error_abort);
    g_assert_false(qemu_opts_validate(opts, proto_list.desc, &err));
    error_free_or_abort(&err);
    qemu_opts_del(opts);
}

static void test_qdict(void)
{
    QemuOpts *opts = qemu_opts_parse(&any_opts, "id=x,b=1,a=2,b=3", false,
                                     &error_abort);
    g_autoptr(json_t) d = qemu_opts_to_qdict(opts, NULL);
    g_autofree char *s = json_writer_format(d, JSON_WRITER_INSERTION_ORDER);

    g_assert_cmpstr(s, ==, "{\"id\": \"x\", \"b\": \"3\", \"a\": \"2\"}");
    qemu_opts_del(opts);

    /* filtered and deleting */
    opts = qemu_opts_parse(&any_opts, "size=1,other=2,nocow=on", false,
                           &error_abort);
    {
        g_autoptr(json_t) e = json_pack("{s:s}", "pre", "x");
        g_assert_true(qemu_opts_to_qdict_filtered(opts, e, &proto_list,
                                                  true) == e);
        g_free(s);
        s = json_writer_format(e, JSON_WRITER_INSERTION_ORDER);
        g_assert_cmpstr(s, ==,
                        "{\"pre\": \"x\", \"size\": \"1\", \"nocow\": \"on\"}");
        g_assert_false(qemu_opt_has(opts, "size"));
        g_assert_cmpstr(qemu_opt_get(opts, "other"), ==, "2");
    }
    qemu_opts_del(opts);
}

static void test_absorb_qdict(void)
{
    QemuOpts *opts = qemu_opts_create(&small_opts, NULL, false,
                                      &error_abort);
    g_autoptr(json_t) d = json_pack("{s:i,s:b,s:s,s:s,s:{},s:s}",
                                    "size", 4096, "flag", 0, "str", "x",
                                    "other", "kept", "file",
                                    "id", "dropped");
    Error *err = NULL;

    /* "file" is an object: dropped without being set */
    g_assert_true(qemu_opts_absorb_qdict(opts, d, &error_abort));
    g_assert_cmpuint(qemu_opt_get_size(opts, "size", 0), ==, 4096);
    g_assert_false(qemu_opt_get_bool(opts, "flag", true));
    g_assert_cmpstr(qemu_opt_get(opts, "str"), ==, "x");
    g_assert_false(qemu_opt_has(opts, "file"));
    g_assert_cmpuint(qdict_size(d), ==, 2);
    g_assert_true(qdict_haskey(d, "other"));
    g_assert_true(qdict_haskey(d, "id"));

    qdict_put_str(d, "count", "nan");
    g_assert_false(qemu_opts_absorb_qdict(opts, d, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'count' expects a number");
    error_free_or_abort(&err);
    g_assert_true(qdict_haskey(d, "count"));
    qemu_opts_del(opts);

    /* accepting anything takes everything, "id" included (not set) */
    opts = qemu_opts_create(&any_opts, NULL, false, &error_abort);
    g_assert_true(qemu_opts_absorb_qdict(opts, d, &error_abort));
    g_assert_cmpuint(qdict_size(d), ==, 0);
    g_assert_cmpstr(qemu_opt_get(opts, "other"), ==, "kept");
    g_assert_null(qemu_opt_get(opts, "id"));
    qemu_opts_del(opts);
}

static void test_from_qdict(void)
{
    g_autoptr(json_t) d = json_pack("{s:s,s:i,s:b,s:f,s:n}", "id", "node0",
                                    "count", 7, "flag", 1, "r", 0.5, "z");
    QemuOpts *opts = qemu_opts_from_qdict(&any_opts, d, &error_abort);
    Error *err = NULL;

    g_assert_cmpstr(qemu_opts_id(opts), ==, "node0");
    g_assert_cmpstr(qemu_opt_get(opts, "count"), ==, "7");
    g_assert_cmpstr(qemu_opt_get(opts, "flag"), ==, "on");
    g_assert_cmpstr(qemu_opt_get(opts, "r"), ==, "0.5");
    g_assert_false(qemu_opt_has(opts, "z"));
    g_assert_null(qemu_opts_from_qdict(&any_opts, d, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Duplicate ID 'node0' for any");
    error_free_or_abort(&err);
    qemu_opts_del(opts);

    {
        g_autoptr(json_t) bad = json_pack("{s:s}", "flag", "maybe");
        g_assert_null(qemu_opts_from_qdict(&small_opts, bad, &err));
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "Parameter 'flag' expects 'on' or 'off'");
        error_free_or_abort(&err);
        g_assert_true(g_queue_is_empty(&small_opts.head));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/option/print-help", test_print_help);
    g_test_add_func("/option/print-help-caption", test_print_help_caption);
    g_test_add_func("/option/parse-and-get", test_parse_and_get);
    g_test_add_func("/option/parse-errors", test_parse_errors);
    g_test_add_func("/option/flags", test_flags);
    g_test_add_func("/option/parse-id", test_parse_id);
    g_test_add_func("/option/parse-noisily", test_parse_noisily);
    g_test_add_func("/option/help-option-strings", test_help_option_strings);
    g_test_add_func("/option/set", test_set);
    g_test_add_func("/option/foreach", test_foreach);
    g_test_add_func("/option/to-string", test_to_string);
    g_test_add_func("/option/print", test_print);
    g_test_add_func("/option/append", test_append);
    g_test_add_func("/option/validate", test_validate);
    g_test_add_func("/option/qdict", test_qdict);
    g_test_add_func("/option/absorb-qdict", test_absorb_qdict);
    g_test_add_func("/option/from-qdict", test_from_qdict);
    return g_test_run();
}

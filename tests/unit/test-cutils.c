/*
 * Unit tests for util/cutils.c: integer and size parsing, size printing and
 * the option value parsers, checked against QEMU 7.2's observed behaviour.
 */
#include "strata/osdep.h"
#include "util/cutils.h"

/* ---- qemu_strtosz ------------------------------------------------------ */

typedef struct SizeCase {
    const char *str;
    int ret;            /* with end == NULL */
    uint64_t val;       /* when ret == 0 */
} SizeCase;

/*
 * Expected results as QEMU 7.2 gives them; the ones marked (qemu-img) were
 * checked with "qemu-img create -f raw -o size=STR".
 */
static const SizeCase size_cases[] = {
    { "0", 0, 0 },
    { "12345", 0, 12345 },
    { "1.5G", 0, 3 * GiB / 2 },                     /* (qemu-img) */
    { "1.9999k", 0, 2048 },                         /* rounds (qemu-img) */
    { "1.0001k", 0, 1024 },                         /* (qemu-img) */
    { "1.0005k", 0, 1025 },                         /* (qemu-img) */
    { "0.00048828125k", 0, 1 },                     /* half up (qemu-img) */
    { "0.0004882812k", 0, 0 },                      /* (qemu-img) */
    { "0x10", 0, 16 },
    { "0X1F", 0, 31 },
    { "0x1.8k", -EINVAL, 0 },
    { "0x", -EINVAL, 0 },
    { "1.", 0, 1 },                                 /* (qemu-img) */
    { "1.k", 0, 1024 },                             /* (qemu-img) */
    { "1.0", 0, 1 },
    { "1.0b", 0, 1 },
    { "1.5", -EINVAL, 0 },                          /* (qemu-img) */
    { "1.5b", -EINVAL, 0 },
    { "0.5", -EINVAL, 0 },
    { ".5k", -EINVAL, 0 },
    { "-1", -EINVAL, 0 },                           /* (qemu-img) */
    { "-0", -EINVAL, 0 },
    { " 5", 0, 5 },
    { "+5", 0, 5 },
    { "5 ", -EINVAL, 0 },
    { "1 k", -EINVAL, 0 },
    { "1.5e3", -EINVAL, 0 },                        /* (qemu-img) */
    { "1e3", -EINVAL, 0 },
    { "1.5e", 0, 3 * EiB / 2 },                     /* 'e' is exa */
    { "1.5E", 0, 3 * EiB / 2 },
    { "1e", 0, EiB },
    { "16E", -ERANGE, 0 },                          /* (qemu-img) */
    { "15.9999999999999E", 0, UINT64_C(18446744073709436288) },
    { "15.99999999999999999E", 0, 15 * (uint64_t)EiB },   /* (qemu-img) */
    { "18446744073709551615", 0, UINT64_MAX },
    { "18446744073709551616", -ERANGE, 0 },         /* (qemu-img) */
    { "0x10000000000000000", -ERANGE, 0 },
    { "0xffffffffffffffff", 0, UINT64_MAX },
    { "99999999999999999999.5k", -EINVAL, 0 },      /* (qemu-img) */
    { "17179869184G", -ERANGE, 0 },
    { "17179869183G", 0, UINT64_C(17179869183) * GiB },
    { "1.1e-400k", 0, 1 },                          /* (qemu-img) */
    { "1.1e-400", -EINVAL, 0 },
    { "1.-5", -EINVAL, 0 },
    { "1b", 0, 1 },
    { "1B", 0, 1 },
    { "1k", 0, KiB },
    { "1K", 0, KiB },
    { "1m", 0, MiB },
    { "1M", 0, MiB },
    { "1g", 0, GiB },
    { "1T", 0, TiB },
    { "1p", 0, PiB },
    { "1E", 0, EiB },
    { "1kb", -EINVAL, 0 },
    { "1x", -EINVAL, 0 },
    { "", -EINVAL, 0 },
    { "abc", -EINVAL, 0 },
    { "k", -EINVAL, 0 },
    { "12345678901234567890", 0, UINT64_C(12345678901234567890) },
    { "0.5M", 0, 512 * KiB },
    { "0.25k", 0, 256 },
    { "1.1k", 0, 1126 },                            /* 1126.4 */
    { "1.5k", 0, 1536 },
};

static void test_strtosz_table(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(size_cases); i++) {
        const SizeCase *c = &size_cases[i];
        uint64_t val = 0xdeadbeef;
        int ret = qemu_strtosz(c->str, NULL, &val);

        if (ret != c->ret) {
            g_error("qemu_strtosz(\"%s\") returned %d, expected %d",
                    c->str, ret, c->ret);
        }
        if (ret == 0 && val != c->val) {
            g_error("qemu_strtosz(\"%s\") gave %" PRIu64 ", expected %"
                    PRIu64, c->str, val, c->val);
        }
        if (ret != 0) {
            g_assert_cmpuint(val, ==, 0xdeadbeef);   /* untouched */
        }
    }
}

static void test_strtosz_endptr(void)
{
    const char *end;
    uint64_t val = 0;

    g_assert_cmpint(qemu_strtosz("12kx", &end, &val), ==, 0);
    g_assert_cmpuint(val, ==, 12 * KiB);
    g_assert_cmpstr(end, ==, "x");

    g_assert_cmpint(qemu_strtosz("5 ", &end, &val), ==, 0);
    g_assert_cmpuint(val, ==, 5);
    g_assert_cmpstr(end, ==, " ");

    /* Trailing ',' as in option lists */
    g_assert_cmpint(qemu_strtosz("1.5M,foo", &end, &val), ==, 0);
    g_assert_cmpuint(val, ==, 3 * MiB / 2);
    g_assert_cmpstr(end, ==, ",foo");

    /* Errors that reject the whole input leave end at the start */
    {
        static const char *const whole[] = {
            "-1k", "1.5", "0x1.8", "1.5e3k", "abc",
        };
        for (size_t i = 0; i < ARRAY_SIZE(whole); i++) {
            end = NULL;
            g_assert_cmpint(qemu_strtosz(whole[i], &end, &val), ==, -EINVAL);
            g_assert(end == whole[i]);
        }
    }

    /* Overflow reports the end of what was parsed */
    {
        const char *s = "16Exyz";
        g_assert_cmpint(qemu_strtosz(s, &end, &val), ==, -ERANGE);
        g_assert(end == s + 3);
    }

    /* "1." stops after the dot; "1.x" leaves the x */
    g_assert_cmpint(qemu_strtosz("1.x", &end, &val), ==, 0);
    g_assert_cmpstr(end, ==, "x");
    g_assert_cmpuint(val, ==, 1);

    g_assert_cmpint(qemu_strtosz(NULL, &end, &val), ==, -EINVAL);
    g_assert_null(end);
}

static void test_strtosz_hex_suffix_warns(void)
{
    if (g_test_subprocess()) {
        uint64_t val;
        error_init("test-cutils");
        g_assert_cmpint(qemu_strtosz("0x10k", NULL, &val), ==, 0);
        g_assert_cmpuint(val, ==, 16 * KiB);
        g_assert_cmpint(qemu_strtosz("0x10", NULL, &val), ==, 0);
        /* the warning comes even when trailing garbage fails the parse */
        g_assert_cmpint(qemu_strtosz("0x1g0", NULL, &val), ==, -EINVAL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("test-cutils: warning: Using a multiplier "
                              "suffix on hex numbers is deprecated: 0x10k\n"
                              "test-cutils: warning: Using a multiplier "
                              "suffix on hex numbers is deprecated: 0x1g0\n");
}

static void test_strtosz_mib_metric(void)
{
    uint64_t val;

    g_assert_cmpint(qemu_strtosz_MiB("5", NULL, &val), ==, 0);
    g_assert_cmpuint(val, ==, 5 * MiB);
    g_assert_cmpint(qemu_strtosz_MiB("0.5", NULL, &val), ==, 0);
    g_assert_cmpuint(val, ==, 512 * KiB);
    g_assert_cmpint(qemu_strtosz_MiB("5b", NULL, &val), ==, 0);
    g_assert_cmpuint(val, ==, 5);
    g_assert_cmpint(qemu_strtosz_MiB("5k", NULL, &val), ==, 0);
    g_assert_cmpuint(val, ==, 5 * KiB);
    g_assert_cmpint(qemu_strtosz_MiB("17592186044416", NULL, &val), ==,
                    -ERANGE);

    g_assert_cmpint(qemu_strtosz_metric("12", NULL, &val), ==, 0);
    g_assert_cmpuint(val, ==, 12);
    g_assert_cmpint(qemu_strtosz_metric("12k", NULL, &val), ==, 0);
    g_assert_cmpuint(val, ==, 12000);
    g_assert_cmpint(qemu_strtosz_metric("1.5M", NULL, &val), ==, 0);
    g_assert_cmpuint(val, ==, 1500000);
    g_assert_cmpint(qemu_strtosz_metric("18E", NULL, &val), ==, 0);
    g_assert_cmpuint(val, ==, UINT64_C(18000000000000000000));
    g_assert_cmpint(qemu_strtosz_metric("19E", NULL, &val), ==, -ERANGE);
}

/* ---- size_to_str ------------------------------------------------------- */

static void test_size_to_str(void)
{
    static const struct {
        uint64_t val;
        const char *str;
    } cases[] = {
        { 0, "0 B" },
        { 1, "1 B" },
        { 512, "512 B" },
        { 999, "999 B" },
        { 1000, "0.977 KiB" },
        { 1023, "0.999 KiB" },
        { 1024, "1 KiB" },
        { 4096, "4 KiB" },
        { 64 * KiB, "64 KiB" },
        { 200704, "196 KiB" },
        { 999 * KiB, "999 KiB" },
        { 1000 * KiB, "0.977 MiB" },
        /* checked against "qemu-img info" of raw images of that size */
        { 1023488, "1e+03 KiB" },       /* %0.3g rounding, as QEMU */
        { 1023999, "1e+03 KiB" },
        { 1024000, "0.977 MiB" },
        { 1047552, "0.999 MiB" },
        { 1072693248, "0.999 GiB" },
        { 1536000, "1.46 MiB" },
        { 7340032000, "6.84 GiB" },
        { 123456789, "118 MiB" },
        { 3 * GiB / 2, "1.5 GiB" },
        { GiB, "1 GiB" },
        { 10 * GiB, "10 GiB" },
        { 100 * TiB, "100 TiB" },
        { PiB, "1 PiB" },
        { EiB, "1 EiB" },
        { UINT64_MAX, "16 EiB" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *s = size_to_str(cases[i].val);
        g_assert_cmpstr(s, ==, cases[i].str);
    }
}

/* ---- integer parsers --------------------------------------------------- */

static void test_strtoi(void)
{
    const char *end;
    int v;

    g_assert_cmpint(qemu_strtoi("123", NULL, 10, &v), ==, 0);
    g_assert_cmpint(v, ==, 123);
    g_assert_cmpint(qemu_strtoi("-123", NULL, 10, &v), ==, 0);
    g_assert_cmpint(v, ==, -123);
    g_assert_cmpint(qemu_strtoi(" 0x1f", NULL, 0, &v), ==, 0);
    g_assert_cmpint(v, ==, 31);
    g_assert_cmpint(qemu_strtoi("010", NULL, 0, &v), ==, 0);
    g_assert_cmpint(v, ==, 8);
    g_assert_cmpint(qemu_strtoi("2147483647", NULL, 10, &v), ==, 0);
    g_assert_cmpint(v, ==, INT_MAX);
    g_assert_cmpint(qemu_strtoi("2147483648", NULL, 10, &v), ==, -ERANGE);
    g_assert_cmpint(v, ==, INT_MAX);
    g_assert_cmpint(qemu_strtoi("-2147483648", NULL, 10, &v), ==, 0);
    g_assert_cmpint(v, ==, INT_MIN);
    g_assert_cmpint(qemu_strtoi("-2147483649", NULL, 10, &v), ==, -ERANGE);
    g_assert_cmpint(v, ==, INT_MIN);
    g_assert_cmpint(qemu_strtoi("99999999999999999999", NULL, 10, &v), ==,
                    -ERANGE);
    g_assert_cmpint(v, ==, INT_MAX);

    g_assert_cmpint(qemu_strtoi("", NULL, 10, &v), ==, -EINVAL);
    g_assert_cmpint(qemu_strtoi("   ", &end, 10, &v), ==, -EINVAL);
    g_assert_cmpstr(end, ==, "   ");
    g_assert_cmpint(qemu_strtoi("abc", &end, 10, &v), ==, -EINVAL);
    g_assert_cmpstr(end, ==, "abc");
    g_assert_cmpint(qemu_strtoi("12x", NULL, 10, &v), ==, -EINVAL);
    g_assert_cmpint(qemu_strtoi("12 ", NULL, 10, &v), ==, -EINVAL);
    g_assert_cmpint(qemu_strtoi("12x", &end, 10, &v), ==, 0);
    g_assert_cmpint(v, ==, 12);
    g_assert_cmpstr(end, ==, "x");
    /* trailing junk after an overflow still gives -ERANGE with endptr */
    g_assert_cmpint(qemu_strtoi("2147483648x", &end, 10, &v), ==, -ERANGE);
    g_assert_cmpstr(end, ==, "x");
    g_assert_cmpint(qemu_strtoi("2147483648x", NULL, 10, &v), ==, -EINVAL);
    g_assert_cmpint(qemu_strtoi(NULL, &end, 10, &v), ==, -EINVAL);
    g_assert_null(end);
    /* "0x" parses the 0 and leaves the x */
    g_assert_cmpint(qemu_strtoi("0x", &end, 16, &v), ==, 0);
    g_assert_cmpint(v, ==, 0);
    g_assert_cmpstr(end, ==, "x");
}

static void test_strtoui(void)
{
    unsigned int v;

    g_assert_cmpint(qemu_strtoui("4294967295", NULL, 10, &v), ==, 0);
    g_assert_cmpuint(v, ==, UINT_MAX);
    g_assert_cmpint(qemu_strtoui("4294967296", NULL, 10, &v), ==, -ERANGE);
    g_assert_cmpuint(v, ==, UINT_MAX);
    g_assert_cmpint(qemu_strtoui("-1", NULL, 10, &v), ==, 0);
    g_assert_cmpuint(v, ==, UINT_MAX);
    g_assert_cmpint(qemu_strtoui("-2147483648", NULL, 10, &v), ==, 0);
    g_assert_cmpuint(v, ==, 2147483648u);
    g_assert_cmpint(qemu_strtoui("-2147483649", NULL, 10, &v), ==, -ERANGE);
    g_assert_cmpuint(v, ==, UINT_MAX);
    g_assert_cmpint(qemu_strtoui("-18446744073709551616", NULL, 10, &v), ==,
                    -ERANGE);
    g_assert_cmpint(qemu_strtoui("0xffffffff", NULL, 16, &v), ==, 0);
    g_assert_cmpuint(v, ==, UINT_MAX);
    g_assert_cmpint(qemu_strtoui("x", NULL, 16, &v), ==, -EINVAL);
}

static void test_strtol_family(void)
{
    long l;
    unsigned long ul;
    int64_t i64;
    uint64_t u64;
    const char *end;

    g_assert_cmpint(qemu_strtol("-9223372036854775808", NULL, 10, &l), ==, 0);
    g_assert_cmpint(l, ==, LONG_MIN);
    g_assert_cmpint(qemu_strtol("9223372036854775808", NULL, 10, &l), ==,
                    -ERANGE);
    g_assert_cmpint(l, ==, LONG_MAX);
    g_assert_cmpint(qemu_strtol("12 34", &end, 10, &l), ==, 0);
    g_assert_cmpstr(end, ==, " 34");

    g_assert_cmpint(qemu_strtoul("-1", NULL, 10, &ul), ==, 0);
    g_assert_cmpuint(ul, ==, ULONG_MAX);
    g_assert_cmpint(qemu_strtoul("18446744073709551616", NULL, 10, &ul), ==,
                    -ERANGE);
    g_assert_cmpuint(ul, ==, ULONG_MAX);

    g_assert_cmpint(qemu_strtoi64("-0x10", NULL, 0, &i64), ==, 0);
    g_assert_cmpint(i64, ==, -16);
    g_assert_cmpint(qemu_strtoi64("9223372036854775807", NULL, 10, &i64),
                    ==, 0);
    g_assert_cmpint(i64, ==, INT64_MAX);
    g_assert_cmpint(qemu_strtoi64("-9223372036854775809", NULL, 10, &i64),
                    ==, -ERANGE);
    g_assert_cmpint(i64, ==, INT64_MIN);

    g_assert_cmpint(qemu_strtou64("18446744073709551615", NULL, 10, &u64),
                    ==, 0);
    g_assert_cmpuint(u64, ==, UINT64_MAX);
    g_assert_cmpint(qemu_strtou64("-1", NULL, 0, &u64), ==, 0);
    g_assert_cmpuint(u64, ==, UINT64_MAX);
    g_assert_cmpint(qemu_strtou64("0777", NULL, 0, &u64), ==, 0);
    g_assert_cmpuint(u64, ==, 511);
    g_assert_cmpint(qemu_strtou64("z", NULL, 36, &u64), ==, 0);
    g_assert_cmpuint(u64, ==, 35);
    g_assert_cmpint(qemu_strtou64("", NULL, 0, &u64), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64(NULL, NULL, 0, &u64), ==, -EINVAL);
}

static void test_strtod(void)
{
    double d;
    const char *end;

    g_assert_cmpint(qemu_strtod("1.5", NULL, &d), ==, 0);
    g_assert_cmpfloat(d, ==, 1.5);
    g_assert_cmpint(qemu_strtod("1e999", NULL, &d), ==, -ERANGE);
    g_assert_cmpint(qemu_strtod("inf", NULL, &d), ==, 0);
    g_assert_cmpint(qemu_strtod_finite("inf", &end, &d), ==, -EINVAL);
    g_assert_cmpstr(end, ==, "inf");
    g_assert_cmpint(qemu_strtod_finite("nan", NULL, &d), ==, -EINVAL);
    g_assert_cmpint(qemu_strtod_finite("2.5x", &end, &d), ==, 0);
    g_assert_cmpfloat(d, ==, 2.5);
    g_assert_cmpstr(end, ==, "x");
    g_assert_cmpint(qemu_strtod("x", &end, &d), ==, -EINVAL);
}

/* ---- option value parsers ---------------------------------------------- */

static void test_parse_option_bool(void)
{
    static const char *const yes[] = { "on", "yes", "true", "y" };
    static const char *const no[] = { "off", "no", "false", "n" };
    static const char *const bad[] = {
        "", "ON", "On", "1", "0", "maybe", "yes ", "t",
    };
    Error *err = NULL;
    bool b;

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        b = false;
        g_assert_true(parse_option_bool("x", yes[i], &b, &error_abort));
        g_assert_true(b);
        g_assert_true(parse_option_bool("x", no[i], &b, &error_abort));
        g_assert_false(b);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        b = true;
        g_assert_false(parse_option_bool("lazy_refcounts", bad[i], &b, &err));
        g_assert_true(b);
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "Parameter 'lazy_refcounts' expects 'on' or 'off'");
        error_free_or_abort(&err);
    }
}

static void test_parse_option_number(void)
{
    Error *err = NULL;
    uint64_t v = 7;

    g_assert_true(parse_option_number("n", "42", &v, &error_abort));
    g_assert_cmpuint(v, ==, 42);
    g_assert_true(parse_option_number("n", "0x10", &v, &error_abort));
    g_assert_cmpuint(v, ==, 16);
    g_assert_true(parse_option_number("n", "-1", &v, &error_abort));
    g_assert_cmpuint(v, ==, UINT64_MAX);

    g_assert_false(parse_option_number("refcount_bits", "abc", &v, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'refcount_bits' expects a number");
    error_free_or_abort(&err);
    g_assert_false(parse_option_number("refcount_bits", "1k", &v, &err));
    error_free_or_abort(&err);
    g_assert_false(parse_option_number("refcount_bits",
                                       "99999999999999999999999", &v, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Value '99999999999999999999999' is too large for "
                    "parameter 'refcount_bits'");
    error_free_or_abort(&err);
    g_assert_cmpuint(v, ==, UINT64_MAX);
}

static void test_parse_option_size(void)
{
    Error *err = NULL;
    uint64_t v = 7;

    g_assert_true(parse_option_size("size", "1.5G", &v, &error_abort));
    g_assert_cmpuint(v, ==, 3 * GiB / 2);

    g_assert_false(parse_option_size("size", "-1", &v, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'size' expects a non-negative number below 2^64");
    g_assert_cmpstr(error_get_hint(err), ==,
                    "Optional suffix k, M, G, T, P or E means kilo-, mega-, "
                    "giga-, tera-, peta-\nand exabytes, respectively.\n");
    error_free_or_abort(&err);

    g_assert_false(parse_option_size("size", "16E", &v, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Value '16E' is out of range for parameter 'size'");
    g_assert_null(error_get_hint(err));
    error_free_or_abort(&err);
    g_assert_cmpuint(v, ==, 3 * GiB / 2);
}

/* ---- small helpers ----------------------------------------------------- */

static void test_helpers(void)
{
    const char *rest = NULL;
    const char *strs[] = { "b", NULL, "a" };

    g_assert_true(strstart("json:{}", "json:", &rest));
    g_assert_cmpstr(rest, ==, "{}");
    g_assert_true(strstart("abc", "", &rest));
    g_assert_cmpstr(rest, ==, "abc");
    rest = NULL;
    g_assert_false(strstart("jso", "json:", &rest));
    g_assert_null(rest);
    g_assert_true(strstart("json:", "json:", NULL));

    g_assert_true(is_help_option("help"));
    g_assert_true(is_help_option("?"));
    g_assert_false(is_help_option("help2"));
    g_assert_false(is_help_option("HELP"));
    g_assert_false(is_help_option(NULL));

    qsort(strs, 3, sizeof(strs[0]),
          (int (*)(const void *, const void *))qemu_pstrcmp0);
    g_assert_null(strs[0]);
    g_assert_cmpstr(strs[1], ==, "a");
    g_assert_cmpstr(strs[2], ==, "b");

    g_assert_true(id_wellformed("a"));
    g_assert_true(id_wellformed("node-1.x_y"));
    g_assert_false(id_wellformed(""));
    g_assert_false(id_wellformed("1foo"));
    g_assert_false(id_wellformed("_foo"));
    g_assert_false(id_wellformed("a,b"));
    g_assert_false(id_wellformed("a b"));

    g_assert_cmpint(parse_qapi_name("abc", true), ==, 3);
    g_assert_cmpint(parse_qapi_name("a-b_c9.x", false), ==, 6);
    g_assert_cmpint(parse_qapi_name("a-b_c9.x", true), ==, -1);
    g_assert_cmpint(parse_qapi_name("__com.redhat_foo.bar", false), ==, 16);
    g_assert_cmpint(parse_qapi_name("___a", true), ==, 4);
    g_assert_cmpint(parse_qapi_name("_a", false), ==, -1);
    g_assert_cmpint(parse_qapi_name("__com.redhat", false), ==, -1);
    g_assert_cmpint(parse_qapi_name("__x_1", false), ==, -1);
    g_assert_cmpint(parse_qapi_name("1a", false), ==, -1);
    g_assert_cmpint(parse_qapi_name("", false), ==, -1);
    g_assert_cmpint(parse_qapi_name(".a", false), ==, -1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cutils/strtosz/table", test_strtosz_table);
    g_test_add_func("/cutils/strtosz/endptr", test_strtosz_endptr);
    g_test_add_func("/cutils/strtosz/hex-suffix-warns",
                    test_strtosz_hex_suffix_warns);
    g_test_add_func("/cutils/strtosz/mib-metric", test_strtosz_mib_metric);
    g_test_add_func("/cutils/size_to_str", test_size_to_str);
    g_test_add_func("/cutils/strtoi", test_strtoi);
    g_test_add_func("/cutils/strtoui", test_strtoui);
    g_test_add_func("/cutils/strtol-family", test_strtol_family);
    g_test_add_func("/cutils/strtod", test_strtod);
    g_test_add_func("/cutils/parse_option_bool", test_parse_option_bool);
    g_test_add_func("/cutils/parse_option_number", test_parse_option_number);
    g_test_add_func("/cutils/parse_option_size", test_parse_option_size);
    g_test_add_func("/cutils/helpers", test_helpers);
    return g_test_run();
}

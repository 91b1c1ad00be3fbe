/*
 * The JSON reader (lexer, streamer, parser): values and errors as QEMU 7.2
 * produces them for the same bytes on a QMP connection.  The expected
 * messages were taken from Debian's qemu-storage-daemon.
 */
#include "strata/osdep.h"
#include "util/json-parser.h"
#include "util/json-writer.h"

/* What a stream of bytes produced: one line per value or error. */
typedef struct Collected {
    GString *out;
    unsigned values;
    unsigned errors;
} Collected;

static void collect(void *opaque, json_t *value, Error *err)
{
    Collected *c = opaque;

    g_assert_true(!value != !err);
    if (value) {
        g_autofree char *text = json_to_string_qemu(value, false);

        g_string_append_printf(c->out, "%s\n", text);
        json_decref(value);
        c->values++;
    } else {
        g_string_append_printf(c->out, "error: %s\n", error_get_pretty(err));
        error_free(err);
        c->errors++;
    }
}

static char *feed_all(const char *buf, size_t len, bool bytewise)
{
    JSONMessageParser parser;
    Collected c = { .out = g_string_new(NULL) };

    json_message_parser_init(&parser, collect, &c);
    if (bytewise) {
        for (size_t i = 0; i < len; i++) {
            json_message_parser_feed(&parser, buf + i, 1);
        }
    } else {
        json_message_parser_feed(&parser, buf, len);
    }
    json_message_parser_destroy(&parser);
    return g_string_free(c.out, false);
}

static void check_stream(const char *in, const char *expected)
{
    g_autofree char *whole = feed_all(in, strlen(in), false);
    g_autofree char *bytes = feed_all(in, strlen(in), true);

    g_assert_cmpstr(whole, ==, expected);
    /* Chunking never matters. */
    g_assert_cmpstr(bytes, ==, expected);
}

static void test_values(void)
{
    check_stream("{\"execute\": \"query-version\"}",
                 "{\"execute\": \"query-version\"}\n");
    check_stream("{'id': 'sq', 'a': [1, -2, 0.5, 1e3, true, false, null]}",
                 "{\"a\": [1, -2, 0.5, 1000, true, false, null], "
                 "\"id\": \"sq\"}\n");
    /* A scalar alone is a value; whitespace separates. */
    check_stream("1 \"x\" [] {}\n", "1\n\"x\"\n[]\n{}\n");
    /* -0 is the integer 0 */
    check_stream("-0", "");
    check_stream("-0 ", "0\n");
    /* Escapes, surrogate pairs, NUL kept as modified UTF-8. */
    check_stream("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\ud83d\\ude00\", "
                 "\"\\u0000\"]",
                 "[\"\\\"\\\\/\\b\\f\\n\\r\\t\", \"\\u00E9\\uD83D\\uDE00\", "
                 "\"\\u0000\"]\n");
}

static void test_errors(void)
{
    /* Each case: the bytes, then what QEMU emitted for them. */
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "\xff\n", "error: JSON parse error, stray '\xff'\n" },
        { "A\n", "error: JSON parse error, stray 'A'\n" },
        { "{\"execute\": \"query-version\"\xff}\n",
          "error: JSON parse error, stray '\xff'\n"
          "error: JSON parse error, expecting value\n" },
        { "{\"a\":1 \"b\"}\n",
          "error: JSON parse error, expected separator in dict\n" },
        { "{\"execute\": \"que\x01ry\"}\n",
          "error: JSON parse error, stray '\"que\x01'\n"
          "error: JSON parse error, expecting value\n" },
        { "{\"execute\": \"\\q\"}\n",
          "error: JSON parse error, invalid escape sequence in string\n" },
        { "{\"execute\": \"\xc3\x28\"}\n",
          "error: JSON parse error, invalid UTF-8 sequence in string\n" },
        { "%d\n", "error: JSON parse error, stray '%'\n" },
        { "{\"id\": tru}\n",
          "error: JSON parse error, invalid keyword 'tru'\n" },
        { "{\"id\": 01}\n",
          "error: JSON parse error, stray '01'\n"
          "error: JSON parse error, expecting value\n" },
        { "{\"id\": \"a\tb\"}\n",
          "error: JSON parse error, stray '\"a\t'\n"
          "error: JSON parse error, expecting value\n" },
        { "\x04\n", "error: JSON parse error, stray '\x04'\n" },
        { "{\"a\": \"\\ud800\"}",
          "error: JSON parse error, \\ud800 is not a valid Unicode "
          "character\n" },
        { "{\"a\": \"\\u12\"}",
          "error: JSON parse error, \\u12\" is not a valid Unicode "
          "character\n" },
        { "{\"a\":1,\"a\":2}", "error: JSON parse error, duplicate key\n" },
        { "{1:2}",
          "error: JSON parse error, key is not a string in object\n" },
        /* An unbalanced value swallows what follows until it closes. */
        { "{\"id\": [1,}\n[]\n{}\n1\n}\n{\"id\": 2}",
          "error: JSON parse error, expecting value\n{\"id\": 2}\n" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        check_stream(cases[i].in, cases[i].out);
    }
}

static void test_nesting_limit(void)
{
    g_autoptr(GString) in = g_string_new(NULL);
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    unsigned nest = 0, stray = 0, other = 0;

    /* 1024 levels are fine... */
    for (int i = 0; i < 1024; i++) {
        g_string_append_c(in, '[');
    }
    for (int i = 0; i < 1024; i++) {
        g_string_append_c(in, ']');
    }
    out = feed_all(in->str, in->len, false);
    g_assert_true(g_str_has_prefix(out, "[[[[") && !strstr(out, "error"));
    g_free(out);

    /* ...10,000 are cut every 1025 (QEMU's counts for this input). */
    g_string_truncate(in, 0);
    for (int i = 0; i < 10000; i++) {
        g_string_append_c(in, '[');
    }
    for (int i = 0; i < 10000; i++) {
        g_string_append_c(in, ']');
    }
    out = feed_all(in->str, in->len, false);
    lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l && **l; l++) {
        if (!strcmp(*l, "error: JSON nesting depth limit exceeded")) {
            nest++;
        } else if (!strcmp(*l, "error: JSON parse error, expecting value")) {
            stray++;
        } else {
            other++;
        }
    }
    g_assert_cmpuint(nest, ==, 9);
    g_assert_cmpuint(stray, ==, 9225);
    g_assert_cmpuint(other, ==, 1);     /* the last 775 levels parse */
}

static void test_size_limit(void)
{
    /* A 65 MiB string: cut, then the rest is skipped up to a bracket. */
    size_t n = (65 << 20);
    g_autoptr(GString) in = g_string_sized_new(n + 64);
    g_autofree char *out = NULL;

    g_string_append(in, "{\"a\": \"");
    for (size_t i = 0; i < n; i++) {
        g_string_append_c(in, 'A');
    }
    g_string_append(in, "\"}{\"b\": 1}");
    out = feed_all(in->str, in->len, false);
    g_assert_cmpstr(out, ==,
                    "error: JSON token size limit exceeded\n"
                    "error: JSON parse error, stray 'A'\n"
                    "error: JSON parse error, expecting value\n"
                    "{\"b\": 1}\n");
}

static void test_flush(void)
{
    JSONMessageParser parser;
    Collected c = { .out = g_string_new(NULL) };
    g_autofree char *out = NULL;

    json_message_parser_init(&parser, collect, &c);
    json_message_parser_feed(&parser, "12", 2);
    g_assert_cmpuint(c.values, ==, 0);      /* a number may go on */
    json_message_parser_flush(&parser);
    json_message_parser_feed(&parser, "\"abc", 4);
    json_message_parser_flush(&parser);
    json_message_parser_feed(&parser, "{\"a\":", 5);
    json_message_parser_flush(&parser);
    json_message_parser_destroy(&parser);
    out = g_string_free(c.out, false);
    g_assert_cmpstr(out, ==, "12\n"
                    "error: JSON parse error, stray '\"abc'\n"
                    "error: JSON parse error, premature EOI\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json-parser/values", test_values);
    g_test_add_func("/json-parser/errors", test_errors);
    g_test_add_func("/json-parser/nesting-limit", test_nesting_limit);
    g_test_add_func("/json-parser/size-limit", test_size_limit);
    g_test_add_func("/json-parser/flush", test_flush);
    return g_test_run();
}

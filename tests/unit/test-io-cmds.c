/*
 * Unit tests for the qemu-io command engine (tools/io): number, time and
 * statistics formats, argument parsing, and whole commands on a null image.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "tools/io-cmds.h"
#include "tools/io-format.h"

/* ---- formats (expected strings as Debian's qemu-io 7.2 prints them) ---- */

static void test_size_str(void)
{
    static const struct {
        double value;
        const char *str;
    } cases[] = {
        { 0, "0 bytes" },
        { 1, "1 bytes" },
        { 512, "512 bytes" },
        { 1023, "1023 bytes" },
        { 1022.700146, "1022.700146 bytes" },
        { 1024, "1 KiB" },
        { 1025, "1.001 KiB" },
        { 1280, "1.250 KiB" },
        { 3096, "3.023 KiB" },
        { 12345, "12.056 KiB" },
        { 982528, "959.500 KiB" },
        { 1044479, "1019.999 KiB" },
        { 1048575, "1023.999 KiB" },
        { 1048576, "1 MiB" },
        { 1572864, "1.500 MiB" },
        { 10000000, "9.537 MiB" },
        { 3221225472.0, "3 GiB" },
        { 1.384 * TiB, "1.384 TiB" },
        { 2.0 * PiB, "2 PiB" },
        { 8.0 * EiB, "8 EiB" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *s = qemuio_size_str(cases[i].value);
        g_assert_cmpstr(s, ==, cases[i].str);
    }
}

static void test_time_str(void)
{
    static const struct {
        int64_t ns;
        bool machine;
        const char *str;
    } cases[] = {
        { 0, false, "00.00 sec" },
        { 4300000, false, "00.00 sec" },
        { 5077000, false, "00.01 sec" },
        { 500000000, false, "00.50 sec" },
        { 996110000, false, "01.00 sec" },           /* rounded, not 0:00:.. */
        { 1500000000, false, "0:00:01.50" },
        { 10507200000, false, "0:00:10.51" },
        { INT64_C(3723500000000), false, "1:02:03.50" },
        { 0, true, "0:00:00.00" },
        { 5077000, true, "0:00:00.01" },
        { 10507200000, true, "0:00:10.51" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *s = qemuio_time_str(cases[i].ns, cases[i].machine);
        g_assert_cmpstr(s, ==, cases[i].str);
    }
}

static void test_stats_str(void)
{
    g_autofree char *human = qemuio_stats_str("wrote", 500000000, 1024, 512,
                                              512, 1, false);
    g_autofree char *machine = qemuio_stats_str("read", 2000000000, 0, 65536,
                                                65536, 1, true);

    g_assert_cmpstr(human, ==,
                    "wrote 512/512 bytes at offset 1024\n"
                    "512 bytes, 1 ops; 00.50 sec (1 KiB/sec and 2.0000 "
                    "ops/sec)\n");
    g_assert_cmpstr(machine, ==, "65536,1,0:00:02.00,32768.000,0.500\n");
}

static void test_parse_num(void)
{
    static const struct {
        const char *arg;
        int64_t value;
    } cases[] = {
        { "0", 0 },
        { "512", 512 },
        { "010", 10 },                  /* decimal, not octal */
        { "0x10", 16 },
        { "4k", 4096 },
        { "1.5k", 1536 },
        { "1.25k", 1280 },
        { "1b", 1 },
        { "7E", 7 * EiB },
        { "1x", -EINVAL },
        { "x", -EINVAL },
        { "0x", -EINVAL },
        { "1.5", -EINVAL },             /* a fraction needs a suffix */
        { "1e3", -EINVAL },
        { "-5", -EINVAL },
        { "\"0\"", -EINVAL },
        { "8E", -ERANGE },              /* above INT64_MAX */
        { "16E", -ERANGE },
        { "99999999999999999999", -ERANGE },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_assert_cmpint(qemuio_parse_num(cases[i].arg), ==, cases[i].value);
    }
}

static void test_parse_num_error(void)
{
    g_autofree char *inval = qemuio_parse_num_error(-EINVAL, "1x");
    g_autofree char *range = qemuio_parse_num_error(-ERANGE, "8E");

    g_assert_cmpstr(inval, ==, "Parsing error: non-numeric argument, or "
                    "extraneous/unrecognized suffix -- 1x");
    g_assert_cmpstr(range, ==, "Parsing error: argument too large -- 8E");
}

static void test_parse_pattern(void)
{
    g_assert_cmpint(qemuio_parse_pattern("0"), ==, 0);
    g_assert_cmpint(qemuio_parse_pattern("0xab"), ==, 0xab);
    g_assert_cmpint(qemuio_parse_pattern("0377"), ==, 0xff);  /* octal */
    g_assert_cmpint(qemuio_parse_pattern("255"), ==, 255);
    g_assert_cmpint(qemuio_parse_pattern("256"), ==, -1);
    g_assert_cmpint(qemuio_parse_pattern("-1"), ==, -1);
    g_assert_cmpint(qemuio_parse_pattern("0x"), ==, -1);
    g_assert_cmpint(qemuio_parse_pattern("x"), ==, -1);
    g_assert_cmpint(qemuio_parse_pattern("0x1234"), ==, -1);
    g_assert_cmpint(qemuio_parse_pattern("1k"), ==, -1);
}

static void test_split_line(void)
{
    g_auto(GStrv) a = NULL, b = NULL, c = NULL;
    int argc;

    a = qemuio_split_line("  read  0   512  ", &argc);
    g_assert_cmpint(argc, ==, 3);
    g_assert_cmpstr(a[0], ==, "read");
    g_assert_cmpstr(a[1], ==, "0");
    g_assert_cmpstr(a[2], ==, "512");
    g_assert_null(a[3]);

    /* Tabs do not separate words. */
    b = qemuio_split_line("read 0\t512", &argc);
    g_assert_cmpint(argc, ==, 2);
    g_assert_cmpstr(b[1], ==, "0\t512");

    c = qemuio_split_line("", &argc);
    g_assert_cmpint(argc, ==, 0);
    g_assert_null(c[0]);
}

static void test_dump_str(void)
{
    uint8_t buf[21];
    g_autofree char *full = NULL;
    g_autofree char *wide = NULL;

    memset(buf, 'A', 16);
    memcpy(buf + 16, ",~0\t\x80", 5);
    full = qemuio_dump_str(buf, 0, sizeof(buf));
    g_assert_cmpstr(full, ==,
                    "00000000:  41 41 41 41 41 41 41 41 41 41 41 41 41 41 "
                    "41 41  AAAAAAAAAAAAAAAA\n"
                    "00000010:  2c 7e 30 09 80  ..0..\n");

    wide = qemuio_dump_str(buf, INT64_C(0x100000000), 2);
    g_assert_cmpstr(wide, ==, "100000000:  41 41  AA\n");
}

/* ---- option parsing ---- */

typedef struct Capture {
    GString *out;
    GString *err;
} Capture;

static void capture_print(void *opaque, QemuIOStream stream, const char *text)
{
    Capture *c = opaque;

    g_string_append(stream == QEMUIO_STDOUT ? c->out : c->err, text);
}

static QemuIOSession *capture_session(Capture *c)
{
    QemuIOOutput output = { .print = capture_print, .opaque = c };

    c->out = g_string_new(NULL);
    c->err = g_string_new(NULL);
    return qemuio_session_new(&output);
}

static void capture_free(Capture *c)
{
    g_string_free(c->out, true);
    g_string_free(c->err, true);
}

/* Parse @line with @optstring; the options seen as "c" or "c=arg" words. */
static char *opts_seen(QemuIOSession *s, const char *line,
                       const char *optstring, char ***argv_out, int *optind)
{
    GString *seen = g_string_new(NULL);
    QemuIOOptParser p;
    int argc, c;
    char **argv = qemuio_split_line(line, &argc);

    qemuio_opt_init(&p, s, argc, argv, optstring);
    while ((c = qemuio_opt_next(&p)) != -1) {
        g_string_append_printf(seen, "%s%c", seen->len ? " " : "", c);
        if (p.optarg) {
            g_string_append_printf(seen, "=%s", p.optarg);
        }
        if (c == '?') {
            break;
        }
    }
    *argv_out = argv;
    *optind = p.optind;
    return g_string_free(seen, false);
}

static void test_options(void)
{
    Capture cap;
    QemuIOSession *s = capture_session(&cap);
    g_auto(GStrv) a = NULL, b = NULL, c = NULL, d = NULL, e = NULL;
    g_autofree char *sa = NULL, *sb = NULL, *sc = NULL, *sd = NULL;
    g_autofree char *se = NULL;
    int optind;

    /* Grouped options, attached and separate arguments. */
    sa = opts_seen(s, "read -qvP0xab -s 4 0 512", "qvP:s:", &a, &optind);
    g_assert_cmpstr(sa, ==, "q v P=0xab s=4");
    g_assert_cmpint(optind, ==, 4);
    g_assert_cmpstr(a[optind], ==, "0");
    g_assert_cmpstr(a[optind + 1], ==, "512");

    /* Options after operands; operands end up last, in order. */
    sb = opts_seen(s, "write 0 -P 5 512 -q", "P:q", &b, &optind);
    g_assert_cmpstr(sb, ==, "P=5 q");
    g_assert_cmpint(optind, ==, 4);
    g_assert_cmpstr(b[4], ==, "0");
    g_assert_cmpstr(b[5], ==, "512");

    /* "--" ends the options; a lone "-" is an operand. */
    sc = opts_seen(s, "read -q -- -1 -", "q", &c, &optind);
    g_assert_cmpstr(sc, ==, "q");
    g_assert_cmpstr(c[optind], ==, "-1");
    g_assert_cmpstr(c[optind + 1], ==, "-");

    /* Errors, with getopt's messages under the name typed. */
    sd = opts_seen(s, "r -x 0 1", "q", &d, &optind);
    g_assert_cmpstr(sd, ==, "?");
    se = opts_seen(s, "read 0 512 -P", "P:", &e, &optind);
    g_assert_cmpstr(se, ==, "?");
    g_assert_cmpstr(cap.err->str, ==,
                    "r: invalid option -- 'x'\n"
                    "read: option requires an argument -- 'P'\n");
    g_assert_cmpstr(cap.out->str, ==, "");

    qemuio_session_unref(s);
    capture_free(&cap);
}

/* ---- whole commands, on a null-co image that reads as zeros ---- */

static BlockBackend *open_null(void)
{
    json_t *opts = json_pack("{s:s, s:s, s:s}", "driver", "null-co",
                             "size", "1M", "read-zeroes", "on");

    return blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
}

static void test_commands(void)
{
    Capture cap;
    QemuIOSession *s = capture_session(&cap);
    BlockBackend *blk = open_null();

    qemuio_session_set_blk(s, blk);

    g_assert_cmpint(qemuio_session_command(s, "length"), ==, 0);
    g_assert_cmpint(qemuio_session_command(s, "read -q -v 0 20"), ==, 0);
    g_assert_cmpint(qemuio_session_command(s, "read -q -P 1 0 16"), ==,
                    -EINVAL);
    g_assert_cmpint(qemuio_session_command(s, "read 0 1x"), <, 0);
    g_assert_cmpint(qemuio_session_command(s, "help l"), ==, 0);
    g_assert_cmpint(qemuio_session_command(s, ""), ==, 0);
    g_assert_cmpstr(cap.out->str, ==,
                    "1 MiB\n"
                    "Pattern verification failed at offset 0, 16 bytes\n"
                    "Parsing error: non-numeric argument, or "
                    "extraneous/unrecognized suffix -- 1x\n"
                    "l -- gets the length of the current file\n");
    g_assert_cmpstr(cap.err->str, ==, "");

    g_assert_cmpint(qemuio_session_command(s, "bogus"), <, 0);
    g_assert_cmpint(qemuio_session_command(s, "length 1"), <, 0);
    g_assert_cmpint(qemuio_session_command(s, "open x"), <, 0);
    g_assert_cmpstr(cap.err->str, ==,
                    "command \"bogus\" not found\n"
                    "bad argument count 1 to length, expected 0 arguments\n"
                    "command \"open\" not found\n");

    /* Without an image only a few commands work. */
    qemuio_session_set_blk(s, NULL);
    g_string_truncate(cap.err, 0);
    g_assert_cmpint(qemuio_session_command(s, "read 0 1"), <, 0);
    g_assert_cmpint(qemuio_session_command(s, "sleep 0"), ==, 0);
    g_assert_cmpstr(cap.err->str, ==, "no file open, try 'help open'\n");

    blk_unref(blk);
    qemuio_session_unref(s);
    capture_free(&cap);
}

static void run_ready_events(void)
{
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* until nothing is ready */
    }
}

/* An aio request prints when it completes, even after the caller let go. */
static void test_aio(void)
{
    Capture cap;
    QemuIOSession *s = capture_session(&cap);
    BlockBackend *blk = open_null();

    qemuio_session_set_blk(s, blk);
    /* strata-io runs the event loop between commands, as qemu-io does. */
    g_assert_cmpint(qemuio_session_command(s, "aio_read -q -P 0 0 4k"), ==,
                    0);
    run_ready_events();
    g_assert_cmpint(qemuio_session_command(s, "aio_read -P 7 4k 512"), ==,
                    0);
    run_ready_events();
    g_assert_cmpint(qemuio_session_command(s, "aio_write -q 1M 512"), ==, 0);
    run_ready_events();
    g_assert_cmpint(qemuio_session_command(s, "aio_flush"), ==, 0);
    g_assert_true(g_str_has_prefix(cap.out->str,
                  "Pattern verification failed at offset 4096, 512 bytes\n"
                  "read 512/512 bytes at offset 4096\n"));
    g_assert_true(g_str_has_suffix(cap.out->str,
                  "aio_write failed: Input/output error\n"));

    /* Drop the session with a request in flight: it still prints. */
    g_string_truncate(cap.out, 0);
    g_assert_cmpint(qemuio_session_command(s, "aio_read 0 512"), ==, 0);
    qemuio_session_unref(s);
    AIO_WAIT_WHILE(qemu_get_aio_context(), cap.out->len == 0);
    g_assert_true(g_str_has_prefix(cap.out->str,
                                   "read 512/512 bytes at offset 0\n"));

    blk_unref(blk);
    capture_free(&cap);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    bdrv_init();

    g_test_add_func("/io-cmds/format/size", test_size_str);
    g_test_add_func("/io-cmds/format/time", test_time_str);
    g_test_add_func("/io-cmds/format/stats", test_stats_str);
    g_test_add_func("/io-cmds/parse/num", test_parse_num);
    g_test_add_func("/io-cmds/parse/num-error", test_parse_num_error);
    g_test_add_func("/io-cmds/parse/pattern", test_parse_pattern);
    g_test_add_func("/io-cmds/parse/split", test_split_line);
    g_test_add_func("/io-cmds/format/dump", test_dump_str);
    g_test_add_func("/io-cmds/options", test_options);
    g_test_add_func("/io-cmds/commands", test_commands);
    g_test_add_func("/io-cmds/aio", test_aio);
    return g_test_run();
}

/*
 * Unit tests for util/json-writer.c: output compared with text captured
 * from QEMU 7.2 (qemu-storage-daemon QMP replies, qemu-img --output=json).
 */
#include "strata/osdep.h"
#include "util/json-writer.h"
#include "util/qdict.h"

static void check_format(json_t *v, unsigned flags, const char *expected)
{
    g_autofree char *s = json_writer_format(v, flags);

    g_assert_cmpstr(s, ==, expected);
    json_decref(v);
}

static void test_scalars(void)
{
    check_format(json_integer(0), 0, "0");
    check_format(json_integer(-42), 0, "-42");
    check_format(json_integer(INT64_MAX), 0, "9223372036854775807");
    check_format(json_integer(INT64_MIN), 0, "-9223372036854775808");
    check_format(json_true(), 0, "true");
    check_format(json_false(), JSON_WRITER_PRETTY, "false");
    check_format(json_null(), 0, "null");
    check_format(json_real(1.5), 0, "1.5");
    check_format(json_real(0.1), 0, "0.10000000000000001");
    check_format(json_real(-2.0), 0, "-2");
    check_format(json_real(1e300), 0, "1.0000000000000001e+300");
    check_format(json_string(""), 0, "\"\"");
    check_format(json_string("a/b"), 0, "\"a/b\"");
    {
        g_autoptr(json_t) five = json_integer(5);
        g_autofree char *s = json_to_string_qemu(five, true);
        g_assert_cmpstr(s, ==, "5");
    }
}

static void test_escapes(void)
{
    /*
     * A file name written through qemu-img create and read back with
     * "qemu-img info --output=json": every escaping rule at once.
     */
    static const char raw[] =
        "q\"b\\c\te\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\xff\xc3(\xc0\x80"
        "\xef\xbf\xbe\xed\xa0\x80z\x01\xf8\x88\x80\x80\x80\xe2\x82";
    static const char expected[] =
        "\"q\\\"b\\\\c\\te\\u00E9\\u20AC\\uD83D\\uDE00\\u007F\\uFFFD\\uFFFD"
        "(\\u0000\\uFFFD\\uFFFDz\\u0001\\uFFFD\\uFFFD\"";

    check_format(json_stringn_nocheck(raw, sizeof(raw) - 1), 0, expected);

    check_format(json_string("\b\f\n\r\t\x1f "), 0,
                 "\"\\b\\f\\n\\r\\t\\u001F \"");
    /* embedded NUL byte, and the largest code point */
    check_format(json_stringn_nocheck("a\0b", 3), 0, "\"a\\u0000b\"");
    check_format(json_string("\xf4\x8f\xbf\xbd"), 0, "\"\\uDBFF\\uDFFD\"");
    /* beyond U+10FFFF, overlong forms, noncharacters, 6-byte forms */
    check_format(json_stringn_nocheck("\xf4\x90\x80\x80", 4), 0,
                 "\"\\uFFFD\"");
    check_format(json_stringn_nocheck("\xe0\x80\xaf|\xc1\xbf", 6), 0,
                 "\"\\uFFFD|\\uFFFD\"");
    check_format(json_stringn_nocheck("\xef\xb7\x90\xef\xb7\xaf\xef\xb7\xb0",
                                      9), 0,
                 "\"\\uFFFD\\uFFFD\\uFDF0\"");
    check_format(json_stringn_nocheck("\xfd\xbf\xbf\xbf\xbf\xbfx", 7), 0,
                 "\"\\uFFFDx\"");
    /* U+FFFF and U+1FFFE are noncharacters too; U+FFFD and U+1FFFD not */
    check_format(json_stringn_nocheck("\xef\xbf\xbf\xf0\x9f\xbf\xbe", 7), 0,
                 "\"\\uFFFD\\uFFFD\"");
    check_format(json_string("\xef\xbf\xbd\xf0\x9f\xbf\xbd"), 0,
                 "\"\\uFFFD\\uD83F\\uDFFD\"");
    /* continuation bytes alone, each one replaced */
    check_format(json_stringn_nocheck("\x80\xbf", 2), 0,
                 "\"\\uFFFD\\uFFFD\"");
    /* truncated sequence followed by ASCII keeps the ASCII */
    check_format(json_stringn_nocheck("\xe2\x82z", 3), 0,
                 "\"\\uFFFDz\"");

    /* keys are escaped the same way */
    check_format(json_pack("{s:i}", "k\xc3\xa9y\"", 1), 0,
                 "{\"k\\u00E9y\\\"\": 1}");
}

static void test_bucket(void)
{
    /* Buckets that fix the order of qemu-img info's members */
    g_assert_cmpuint(json_writer_qemu_bucket("backing-filename-format"), ==,
                     206);
    g_assert_cmpuint(json_writer_qemu_bucket("virtual-size"), ==, 309);
    g_assert_cmpuint(json_writer_qemu_bucket("filename"), ==, 313);
    g_assert_cmpuint(json_writer_qemu_bucket("dirty-flag"), ==, 501);
    g_assert_cmpuint(json_writer_qemu_bucket("compat"), ==, 16);
    g_assert_cmpuint(json_writer_qemu_bucket(""), ==, 12345 % 512);
}

static void test_qmp_compact(void)
{
    json_t *v;

    check_format(json_pack("{s:{}}", "return"), 0, "{\"return\": {}}");
    check_format(json_pack("{s:[]}", "return"), 0, "{\"return\": []}");

    /* The greeting, members added in schema order */
    v = json_pack("{s:{s:{s:{s:i,s:i,s:i},s:s},s:[s]}}",
                  "QMP", "version", "qemu", "major", 7, "minor", 2,
                  "micro", 22, "package", "Debian 1:7.2+dfsg-7+deb12u18+b3",
                  "capabilities", "oob");
    check_format(v, 0,
                 "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, "
                 "\"minor\": 2, \"major\": 7}, \"package\": \"Debian "
                 "1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": "
                 "[\"oob\"]}}");

    v = json_pack("{s:{s:s,s:s}}", "error", "class", "CommandNotFound",
                  "desc", "The command nope has not been found");
    check_format(v, 0,
                 "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                 "\"The command nope has not been found\"}}");

    /* query-named-block-nodes on a null-co node with a dirty bitmap */
    {
        json_t *image = json_pack(
            "{s:s,s:s,s:i,s:i}",
            "filename", "json:{\"driver\": \"null-co\", \"size\": 1048576}",
            "format", "null-co", "actual-size", 0, "virtual-size", 1048576);
        json_t *bitmap = json_pack(
            "{s:s,s:b,s:b,s:b,s:i,s:i}", "name", "b\xc3\xa9\t",
            "recording", 1, "persistent", 0, "busy", 0,
            "granularity", 65536, "count", 0);
        json_t *node = json_pack(
            "{s:s,s:s,s:s,s:i,s:b,s:b,s:o,s:i,s:i,s:i,s:i,s:i,s:i,"
            "s:{s:b,s:b,s:b},s:i,s:[o],s:o}",
            "file", "json:{\"driver\": \"null-co\", \"size\": 1048576}",
            "node-name", "n0", "drv", "null-co", "backing_file_depth", 0,
            "ro", 0, "encrypted", 0, "detect_zeroes", json_string("off"),
            "bps", 0, "bps_rd", 0, "bps_wr", 0, "iops", 0, "iops_rd", 0,
            "iops_wr", 0,
            "cache", "writeback", 1, "direct", 0, "no-flush", 0,
            "write_threshold", 0, "dirty-bitmaps", bitmap, "image", image);

        v = json_pack("{s:[o]}", "return", node);
        check_format(v, 0,
            "{\"return\": [{\"iops_rd\": 0, \"detect_zeroes\": \"off\", "
            "\"image\": {\"virtual-size\": 1048576, \"filename\": "
            "\"json:{\\\"driver\\\": \\\"null-co\\\", \\\"size\\\": "
            "1048576}\", \"format\": \"null-co\", \"actual-size\": 0}, "
            "\"iops_wr\": 0, \"ro\": false, \"node-name\": \"n0\", "
            "\"backing_file_depth\": 0, \"drv\": \"null-co\", \"iops\": 0, "
            "\"bps_wr\": 0, \"write_threshold\": 0, \"dirty-bitmaps\": "
            "[{\"name\": \"b\\u00E9\\t\", \"recording\": true, "
            "\"persistent\": false, \"busy\": false, \"granularity\": "
            "65536, \"count\": 0}], \"encrypted\": false, \"bps\": 0, "
            "\"bps_rd\": 0, \"cache\": {\"no-flush\": false, \"direct\": "
            "false, \"writeback\": true}, \"file\": \"json:{\\\"driver\\\": "
            "\\\"null-co\\\", \\\"size\\\": 1048576}\"}]}");
    }
}

static json_t *qcow2_info(const char *filename, int64_t actual,
                          bool with_backing)
{
    json_t *data = json_pack("{s:s,s:s,s:b}", "compat", "1.1",
                             "compression-type", "zlib",
                             "lazy-refcounts", 0);
    json_t *info;

    if (with_backing) {
        json_object_set_new(data, "bitmaps",
                            json_pack("[{s:[s],s:s,s:i}]", "flags", "auto",
                                      "name", "bm0", "granularity", 65536));
    }
    json_object_set_new(data, "refcount-bits", json_integer(16));
    json_object_set_new(data, "corrupt", json_false());
    json_object_set_new(data, "extended-l2", json_false());

    info = json_pack("{s:s,s:s,s:b,s:I,s:I,s:i}",
                     "filename", filename, "format", "qcow2",
                     "dirty-flag", 0, "actual-size", (json_int_t)actual,
                     "virtual-size", (json_int_t)1073741824,
                     "cluster-size", 65536);
    if (with_backing) {
        json_object_set_new(info, "backing-filename",
                            json_string("b.qcow2"));
        json_object_set_new(info, "full-backing-filename",
                            json_string("b.qcow2"));
        json_object_set_new(info, "backing-filename-format",
                            json_string("qcow2"));
    }
    json_object_set_new(info, "format-specific",
                        json_pack("{s:s,s:o}", "type", "qcow2",
                                  "data", data));
    return info;
}

static void test_qemu_img_pretty(void)
{
    /* "qemu-img info --output=json --backing-chain t.qcow2" */
    static const char expected[] =
        "[\n"
        "    {\n"
        "        \"backing-filename-format\": \"qcow2\",\n"
        "        \"virtual-size\": 1073741824,\n"
        "        \"filename\": \"t.qcow2\",\n"
        "        \"cluster-size\": 65536,\n"
        "        \"format\": \"qcow2\",\n"
        "        \"actual-size\": 208896,\n"
        "        \"format-specific\": {\n"
        "            \"type\": \"qcow2\",\n"
        "            \"data\": {\n"
        "                \"compat\": \"1.1\",\n"
        "                \"compression-type\": \"zlib\",\n"
        "                \"lazy-refcounts\": false,\n"
        "                \"bitmaps\": [\n"
        "                    {\n"
        "                        \"flags\": [\n"
        "                            \"auto\"\n"
        "                        ],\n"
        "                        \"name\": \"bm0\",\n"
        "                        \"granularity\": 65536\n"
        "                    }\n"
        "                ],\n"
        "                \"refcount-bits\": 16,\n"
        "                \"corrupt\": false,\n"
        "                \"extended-l2\": false\n"
        "            }\n"
        "        },\n"
        "        \"full-backing-filename\": \"b.qcow2\",\n"
        "        \"backing-filename\": \"b.qcow2\",\n"
        "        \"dirty-flag\": false\n"
        "    },\n"
        "    {\n"
        "        \"virtual-size\": 1073741824,\n"
        "        \"filename\": \"b.qcow2\",\n"
        "        \"cluster-size\": 65536,\n"
        "        \"format\": \"qcow2\",\n"
        "        \"actual-size\": 200704,\n"
        "        \"format-specific\": {\n"
        "            \"type\": \"qcow2\",\n"
        "            \"data\": {\n"
        "                \"compat\": \"1.1\",\n"
        "                \"compression-type\": \"zlib\",\n"
        "                \"lazy-refcounts\": false,\n"
        "                \"refcount-bits\": 16,\n"
        "                \"corrupt\": false,\n"
        "                \"extended-l2\": false\n"
        "            }\n"
        "        },\n"
        "        \"dirty-flag\": false\n"
        "    }\n"
        "]";
    json_t *chain = json_array();

    json_array_append_new(chain, qcow2_info("t.qcow2", 208896, true));
    json_array_append_new(chain, qcow2_info("b.qcow2", 200704, false));
    check_format(chain, JSON_WRITER_PRETTY, expected);

    /* "qemu-img check --output=json" */
    check_format(json_pack("{s:s,s:s,s:i,s:i,s:i}", "filename", "t.qcow2",
                           "format", "qcow2", "check-errors", 0,
                           "image-end-offset", 393216,
                           "total-clusters", 16384),
                 JSON_WRITER_PRETTY,
                 "{\n"
                 "    \"image-end-offset\": 393216,\n"
                 "    \"total-clusters\": 16384,\n"
                 "    \"check-errors\": 0,\n"
                 "    \"filename\": \"t.qcow2\",\n"
                 "    \"format\": \"qcow2\"\n"
                 "}");
}

static void test_empty_containers(void)
{
    check_format(json_object(), 0, "{}");
    check_format(json_array(), 0, "[]");
    check_format(json_object(), JSON_WRITER_PRETTY, "{\n}");
    check_format(json_array(), JSON_WRITER_PRETTY, "[\n]");
    check_format(json_pack("{s:[],s:{}}", "a", "b"), 0,
                 "{\"a\": [], \"b\": {}}");
    check_format(json_pack("{s:{s:[]}}", "x", "y"), JSON_WRITER_PRETTY,
                 "{\n"
                 "    \"x\": {\n"
                 "        \"y\": [\n"
                 "        ]\n"
                 "    }\n"
                 "}");
    check_format(json_pack("[[],{}]"), JSON_WRITER_PRETTY,
                 "[\n"
                 "    [\n"
                 "    ],\n"
                 "    {\n"
                 "    }\n"
                 "]");
}

static void test_member_order(void)
{
    /* The order is independent of insertion order, except within a bucket */
    json_t *a = json_pack("{s:i,s:i,s:i}", "format", 1, "filename", 2,
                          "virtual-size", 3);
    json_t *b = json_pack("{s:i,s:i,s:i}", "virtual-size", 3,
                          "filename", 2, "format", 1);
    g_autofree char *sa = json_to_string_qemu(a, false);
    g_autofree char *sb = json_to_string_qemu(b, false);
    g_autofree char *ins = json_writer_format(a,
                                              JSON_WRITER_INSERTION_ORDER);
    const char *k1 = NULL, *k2 = NULL;
    char key[8];

    g_assert_cmpstr(sa, ==, sb);
    g_assert_cmpstr(sa, ==,
                    "{\"virtual-size\": 3, \"filename\": 2, \"format\": 1}");
    g_assert_cmpstr(ins, ==,
                    "{\"format\": 1, \"filename\": 2, \"virtual-size\": 3}");
    json_decref(a);
    json_decref(b);

    /* Find two keys sharing a bucket: the newer one prints first */
    k1 = "k0";
    for (int i = 1; i < 100000 && !k2; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (json_writer_qemu_bucket(key) == json_writer_qemu_bucket(k1)) {
            k2 = key;
        }
    }
    g_assert_nonnull(k2);
    a = json_object();
    json_object_set_new(a, k1, json_integer(1));
    json_object_set_new(a, k2, json_integer(2));
    {
        g_autofree char *s = json_to_string_qemu(a, false);
        g_autofree char *exp = g_strdup_printf("{\"%s\": 2, \"%s\": 1}",
                                               k2, k1);
        g_assert_cmpstr(s, ==, exp);
    }
    /* Replacing a value keeps the member's place */
    json_object_set_new(a, k1, json_integer(3));
    {
        g_autofree char *s = json_to_string_qemu(a, false);
        g_autofree char *exp = g_strdup_printf("{\"%s\": 2, \"%s\": 3}",
                                               k2, k1);
        g_assert_cmpstr(s, ==, exp);
    }
    json_decref(a);
}

static void test_append(void)
{
    g_autoptr(GString) out = g_string_new("x=");
    json_t *v = json_pack("[i,s]", 1, "two");

    json_writer_append(out, v, 0);
    g_assert_cmpstr(out->str, ==, "x=[1, \"two\"]");
    json_writer_append_quoted(out, "a\"", 2);
    g_assert_cmpstr(out->str, ==, "x=[1, \"two\"]\"a\\\"\"");
    json_decref(v);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json-writer/scalars", test_scalars);
    g_test_add_func("/json-writer/escapes", test_escapes);
    g_test_add_func("/json-writer/bucket", test_bucket);
    g_test_add_func("/json-writer/qmp-compact", test_qmp_compact);
    g_test_add_func("/json-writer/qemu-img-pretty", test_qemu_img_pretty);
    g_test_add_func("/json-writer/empty-containers", test_empty_containers);
    g_test_add_func("/json-writer/member-order", test_member_order);
    g_test_add_func("/json-writer/append", test_append);
    return g_test_run();
}

/*
 * JSON serialisation matching QEMU 7.2's output byte for byte: layout,
 * string escaping and the hash-table order of object members.
 */
#include "strata/osdep.h"
#include "util/unicode.h"
#include "util/json-writer.h"

#define QEMU_DICT_BUCKETS 512

/*
 * QEMU's dictionaries hash keys with the gdbm/tdb string hash: a seed
 * from the key length, each byte added in shifted by 5 * index mod 24
 * bits, and a final linear-congruential scramble, all modulo 2^32.
 */
unsigned int json_writer_qemu_bucket(const char *key)
{
    size_t len = strlen(key);
    uint32_t h = (uint32_t)len * UINT32_C(0x238F13AF);

    for (size_t i = 0; i < len; i++) {
        h += (uint32_t)(unsigned char)key[i] << ((i * 5) % 24);
    }
    h = h * UINT32_C(1103515243) + 12345;
    return h % QEMU_DICT_BUCKETS;
}

void json_writer_append_quoted(GString *out, const char *str, size_t len)
{
    const unsigned char *p = (const unsigned char *)str;
    const unsigned char *end = p + len;

    g_string_append_c(out, '"');
    while (p < end) {
        size_t used;
        int32_t cp = mod_utf8_codepoint(p, end - p, &used);

        p += used;
        switch (cp) {
        case '"':
            g_string_append(out, "\\\"");
            continue;
        case '\\':
            g_string_append(out, "\\\\");
            continue;
        case '\b':
            g_string_append(out, "\\b");
            continue;
        case '\f':
            g_string_append(out, "\\f");
            continue;
        case '\n':
            g_string_append(out, "\\n");
            continue;
        case '\r':
            g_string_append(out, "\\r");
            continue;
        case '\t':
            g_string_append(out, "\\t");
            continue;
        }
        if (cp < 0) {
            cp = 0xFFFD;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            g_string_append_printf(out, "\\u%04X\\u%04X",
                                   0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
        } else if (cp < 0x20 || cp >= 0x7F) {
            g_string_append_printf(out, "\\u%04X", cp);
        } else {
            g_string_append_c(out, cp);
        }
    }
    g_string_append_c(out, '"');
}

typedef struct Member {
    const char *key;
    json_t *value;
    unsigned int bucket;
    size_t seq;                 /* position in insertion order */
} Member;

static int member_cmp_qemu(const void *a, const void *b)
{
    const Member *ma = a, *mb = b;

    if (ma->bucket != mb->bucket) {
        return ma->bucket < mb->bucket ? -1 : 1;
    }
    /* Newest first within a bucket */
    return ma->seq < mb->seq ? 1 : (ma->seq > mb->seq ? -1 : 0);
}

static void newline_indent(GString *out, unsigned flags, int depth)
{
    if (flags & JSON_WRITER_PRETTY) {
        g_string_append_c(out, '\n');
        for (int i = 0; i < depth; i++) {
            g_string_append(out, "    ");
        }
    }
}

/* Separator before item @index of a container at @depth. */
static void item_separator(GString *out, unsigned flags, int depth,
                           size_t index)
{
    if (index > 0) {
        g_string_append_c(out, ',');
        if (!(flags & JSON_WRITER_PRETTY)) {
            g_string_append_c(out, ' ');
        }
    }
    newline_indent(out, flags, depth + 1);
}

static void write_value(GString *out, json_t *v, unsigned flags, int depth);

static void write_object(GString *out, json_t *obj, unsigned flags,
                         int depth)
{
    size_t n = json_object_size(obj);
    g_autofree Member *members = g_new(Member, n ? n : 1);
    const char *key;
    json_t *value;
    size_t i = 0;

    json_object_foreach(obj, key, value) {
        members[i].key = key;
        members[i].value = value;
        members[i].bucket = json_writer_qemu_bucket(key);
        members[i].seq = i;
        i++;
    }
    assert(i == n);
    if (!(flags & JSON_WRITER_INSERTION_ORDER)) {
        qsort(members, n, sizeof(*members), member_cmp_qemu);
    }

    g_string_append_c(out, '{');
    for (i = 0; i < n; i++) {
        item_separator(out, flags, depth, i);
        json_writer_append_quoted(out, members[i].key,
                                  strlen(members[i].key));
        g_string_append(out, ": ");
        write_value(out, members[i].value, flags, depth + 1);
    }
    newline_indent(out, flags, depth);
    g_string_append_c(out, '}');
}

static void write_array(GString *out, json_t *arr, unsigned flags,
                        int depth)
{
    size_t i;
    json_t *value;

    g_string_append_c(out, '[');
    json_array_foreach(arr, i, value) {
        item_separator(out, flags, depth, i);
        write_value(out, value, flags, depth + 1);
    }
    newline_indent(out, flags, depth);
    g_string_append_c(out, ']');
}

static void write_value(GString *out, json_t *v, unsigned flags, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        write_object(out, v, flags, depth);
        break;
    case JSON_ARRAY:
        write_array(out, v, flags, depth);
        break;
    case JSON_STRING:
        json_writer_append_quoted(out, json_string_value(v),
                                  json_string_length(v));
        break;
    case JSON_INTEGER:
        g_string_append_printf(out, "%" JSON_INTEGER_FORMAT,
                               json_integer_value(v));
        break;
    case JSON_REAL:
        /* 17 significant digits round-trip any double, as QEMU prints */
        g_string_append_printf(out, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        g_string_append(out, "true");
        break;
    case JSON_FALSE:
        g_string_append(out, "false");
        break;
    case JSON_NULL:
        g_string_append(out, "null");
        break;
    }
}

void json_writer_append(GString *out, json_t *v, unsigned flags)
{
    write_value(out, v, flags, 0);
}

char *json_writer_format(json_t *v, unsigned flags)
{
    GString *out = g_string_new(NULL);

    write_value(out, v, flags, 0);
    return g_string_free(out, false);
}

char *json_to_string_qemu(json_t *v, bool pretty)
{
    return json_writer_format(v, pretty ? JSON_WRITER_PRETTY : 0);
}

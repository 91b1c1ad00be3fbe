/*
 * Enum string tables and the 'null' value, for generated QAPI code.
 */
#include "strata/osdep.h"
#include "qapi/util.h"
#include "util/json-writer.h"

struct QNull {
    char unused;
};

static QNull the_null;

QNull *qnull(void)
{
    return &the_null;
}

const char *qapi_enum_lookup(const QEnumLookup *lookup, int val)
{
    assert(val >= 0 && val < lookup->size);
    return lookup->array[val];
}

int qapi_enum_parse(const QEnumLookup *lookup, const char *buf, int def,
                    Error **errp)
{
    if (!buf) {
        return def;
    }
    for (int i = 0; i < lookup->size; i++) {
        if (!strcmp(buf, lookup->array[i])) {
            return i;
        }
    }
    error_setg(errp, "invalid parameter value: %s", buf);
    return def;
}

typedef struct OrderedKey {
    const char *key;
    unsigned bucket;
    size_t seq;
} OrderedKey;

static int ordered_key_cmp(const void *a, const void *b)
{
    const OrderedKey *ka = a, *kb = b;

    /*
     * QDict keeps 512 hash buckets, each a list with the newest entry
     * first, and iterates bucket by bucket.
     */
    if (ka->bucket != kb->bucket) {
        return ka->bucket < kb->bucket ? -1 : 1;
    }
    return ka->seq < kb->seq ? 1 : ka->seq > kb->seq ? -1 : 0;
}

GPtrArray *qapi_object_keys_qemu_order(const json_t *obj)
{
    size_t n = json_object_size(obj), i = 0;
    g_autofree OrderedKey *keys = g_new(OrderedKey, n ? n : 1);
    GPtrArray *out = g_ptr_array_sized_new(n);
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)obj, key, value) {
        keys[i].key = key;
        keys[i].bucket = json_writer_qemu_bucket(key);
        keys[i].seq = i;
        i++;
    }
    qsort(keys, n, sizeof(*keys), ordered_key_cmp);
    for (i = 0; i < n; i++) {
        g_ptr_array_add(out, (gpointer)keys[i].key);
    }
    return out;
}

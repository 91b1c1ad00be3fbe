/*
 * ImageInfo collection for qemu-img info and QMP queries, and the
 * human-readable rendering qemu-img prints for it.
 */
#include "strata/osdep.h"

#include "block/block_int.h"
#include "block/qapi-info.h"
#include "block/snapshot.h"
#include "util/cutils.h"
#include "util/json-writer.h"
#include "util/qdict.h"

json_t *bdrv_query_image_info(BlockDriverState *bs, Error **errp)
{
    BlockDriverInfo bdi;
    int64_t size, actual;
    json_t *info;

    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "Can't get image size '%s'",
                         bs->exact_filename);
        return NULL;
    }
    bdrv_refresh_filename(bs);

    info = json_object();
    qdict_put_str(info, "filename", bs->filename);
    qdict_put_str(info, "format", bdrv_get_format_name(bs));
    qdict_put_int(info, "virtual-size", size);
    actual = bdrv_get_allocated_file_size(bs);
    if (actual >= 0) {
        qdict_put_int(info, "actual-size", actual);
    }
    if (bs->encrypted) {
        qdict_put_bool(info, "encrypted", true);
    }
    memset(&bdi, 0, sizeof(bdi));
    if (bdrv_get_info(bs, &bdi) >= 0) {
        if (bdi.cluster_size) {
            qdict_put_int(info, "cluster-size", bdi.cluster_size);
        }
        qdict_put_bool(info, "dirty-flag", bdi.is_dirty);
    }
    if (bs->drv && bs->drv->bdrv_get_specific_info) {
        Error *err = NULL;
        json_t *spec = bs->drv->bdrv_get_specific_info(bs, &err);

        if (err) {
            error_propagate(errp, err);
            json_decref(info);
            return NULL;
        }
        if (spec) {
            qdict_put_obj(info, "format-specific", spec);
        }
    }
    if (bs->backing_file[0]) {
        g_autofree char *full = bdrv_get_full_backing_filename(bs, NULL);

        qdict_put_str(info, "backing-filename", bs->backing_file);
        /* Reported even when equal to backing-filename: that is news too. */
        if (full) {
            qdict_put_str(info, "full-backing-filename", full);
        }
        if (bs->backing_format[0]) {
            qdict_put_str(info, "backing-filename-format",
                          bs->backing_format);
        }
    }
    if (bdrv_query_snapshot_info_list(bs, info, errp) < 0) {
        json_decref(info);
        return NULL;
    }
    return info;
}

json_t *bdrv_snapshot_info(const QEMUSnapshotInfo *sn)
{
    json_t *obj = json_object();

    qdict_put_str(obj, "id", sn->id_str);
    qdict_put_str(obj, "name", sn->name);
    qdict_put_int(obj, "vm-state-size", sn->vm_state_size);
    qdict_put_int(obj, "date-sec", sn->date_sec);
    qdict_put_int(obj, "date-nsec", sn->date_nsec);
    qdict_put_int(obj, "vm-clock-sec", sn->vm_clock_nsec / 1000000000);
    qdict_put_int(obj, "vm-clock-nsec", sn->vm_clock_nsec % 1000000000);
    if (sn->icount != UINT64_MAX) {
        qdict_put_int(obj, "icount", sn->icount);
    }
    return obj;
}

int bdrv_query_snapshot_info_list(BlockDriverState *bs, json_t *info,
                                  Error **errp)
{
    QEMUSnapshotInfo *sn_tab = NULL;
    int n = bdrv_snapshot_list(bs, &sn_tab);
    json_t *list;

    if (n == -ENOTSUP || n == -ENOMEDIUM) {
        /* Formats without internal snapshots simply have none. */
        return 0;
    }
    if (n < 0) {
        error_setg_errno(errp, -n, "Can't list snapshots");
        return n;
    }
    if (n > 0) {
        list = json_array();
        for (int i = 0; i < n; i++) {
            json_array_append_new(list, bdrv_snapshot_info(&sn_tab[i]));
        }
        qdict_put_obj(info, "snapshots", list);
    }
    g_free(sn_tab);
    return 0;
}

void bdrv_snapshot_dump(GString *out, const QEMUSnapshotInfo *sn)
{
    g_autofree char *size = NULL, *date = NULL;
    g_autoptr(GDateTime) dt = NULL;
    char clock[128], icount[32] = "";
    int64_t secs;

    if (!sn) {
        g_string_append_printf(out, "%-10s%-17s%8s%20s%13s%11s", "ID", "TAG",
                               "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
        return;
    }
    dt = g_date_time_new_from_unix_local(sn->date_sec);
    date = g_date_time_format(dt, "%Y-%m-%d %H:%M:%S");
    secs = sn->vm_clock_nsec / 1000000000;
    snprintf(clock, sizeof(clock), "%02d:%02d:%02d.%03d",
             (int)(secs / 3600), (int)((secs / 60) % 60), (int)(secs % 60),
             (int)((sn->vm_clock_nsec / 1000000) % 1000));
    size = size_to_str(sn->vm_state_size);
    if (sn->icount != UINT64_MAX) {
        snprintf(icount, sizeof(icount), "%" PRId64, (int64_t)sn->icount);
    }
    g_string_append_printf(out, "%-9s %-16s %8s%20s%13s%11s", sn->id_str,
                           sn->name, size, date, clock, icount);
}

/* The snapshot table of "qemu-img info" from ImageInfo's "snapshots". */
static void dump_snapshot_list(GString *out, json_t *list)
{
    size_t i;
    json_t *e;

    g_string_append(out, "Snapshot list:\n");
    bdrv_snapshot_dump(out, NULL);
    g_string_append_c(out, '\n');
    json_array_foreach(list, i, e) {
        QEMUSnapshotInfo sn = {
            .vm_state_size = qdict_get_int(e, "vm-state-size"),
            .date_sec = qdict_get_int(e, "date-sec"),
            .date_nsec = qdict_get_int(e, "date-nsec"),
            .vm_clock_nsec = qdict_get_int(e, "vm-clock-sec") * 1000000000ULL +
                             qdict_get_int(e, "vm-clock-nsec"),
            .icount = qdict_haskey(e, "icount") ? qdict_get_int(e, "icount")
                                                : UINT64_MAX,
        };

        g_strlcpy(sn.id_str, qdict_get_str(e, "id"), sizeof(sn.id_str));
        g_strlcpy(sn.name, qdict_get_str(e, "name"), sizeof(sn.name));
        bdrv_snapshot_dump(out, &sn);
        g_string_append_c(out, '\n');
    }
}

typedef struct OrderedKey {
    const char *key;
    unsigned bucket;
    size_t pos;
} OrderedKey;

static int ordered_key_cmp(const void *a, const void *b)
{
    const OrderedKey *x = a, *y = b;

    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    /* Within a bucket QEMU meets the most recently added member first. */
    return x->pos > y->pos ? -1 : x->pos < y->pos;
}

GPtrArray *bdrv_qdict_qemu_order(json_t *obj)
{
    size_t n = json_object_size(obj), i = 0;
    g_autofree OrderedKey *keys = g_new(OrderedKey, n ? n : 1);
    GPtrArray *out = g_ptr_array_sized_new(n);
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value) {
        keys[i].key = key;
        keys[i].bucket = json_writer_qemu_bucket(key);
        keys[i].pos = i;
        i++;
    }
    qsort(keys, n, sizeof(*keys), ordered_key_cmp);
    for (i = 0; i < n; i++) {
        g_ptr_array_add(out, (gpointer)keys[i].key);
    }
    return out;
}

static void dump_value(GString *out, int indent, json_t *v);

static bool is_composite(json_t *v)
{
    return json_is_object(v) || json_is_array(v);
}

static void dump_scalar(GString *out, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        g_string_append_len(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        g_string_append_printf(out, "%" JSON_INTEGER_FORMAT,
                               json_integer_value(v));
        break;
    case JSON_REAL:
        g_string_append_printf(out, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        g_string_append(out, "true");
        break;
    case JSON_FALSE:
        g_string_append(out, "false");
        break;
    default:
        break;
    }
}

static void dump_list(GString *out, int indent, json_t *list)
{
    size_t i;
    json_t *v;

    json_array_foreach(list, i, v) {
        bool composite = is_composite(v);

        g_string_append_printf(out, "%*s[%zu]:%c", indent * 4, "", i,
                               composite ? '\n' : ' ');
        dump_value(out, indent + 1, v);
        if (!composite) {
            g_string_append_c(out, '\n');
        }
    }
}

static void dump_dict(GString *out, int indent, json_t *dict)
{
    g_autoptr(GPtrArray) keys = bdrv_qdict_qemu_order(dict);

    for (guint i = 0; i < keys->len; i++) {
        const char *key = g_ptr_array_index(keys, i);
        json_t *v = json_object_get(dict, key);
        bool composite = is_composite(v);
        g_autofree char *name = g_strdup(key);

        g_strdelimit(name, "-", ' ');
        g_string_append_printf(out, "%*s%s:%c", indent * 4, "", name,
                               composite ? '\n' : ' ');
        dump_value(out, indent + 1, v);
        if (!composite) {
            g_string_append_c(out, '\n');
        }
    }
}

static void dump_value(GString *out, int indent, json_t *v)
{
    if (json_is_object(v)) {
        dump_dict(out, indent, v);
    } else if (json_is_array(v)) {
        dump_list(out, indent, v);
    } else {
        dump_scalar(out, v);
    }
}

void bdrv_image_info_specific_dump(GString *out, json_t *spec, int indent)
{
    json_t *data = json_object_get(spec, "data");

    if (json_is_object(data)) {
        dump_dict(out, indent, data);
    }
}

void bdrv_image_info_dump(GString *out, json_t *info)
{
    int64_t vsize = qdict_get_int(info, "virtual-size");
    g_autofree char *size_str = size_to_str(vsize);
    g_autofree char *dsize_str = NULL;
    const char *backing = qdict_get_try_str(info, "backing-filename");
    json_t *spec;

    if (qdict_haskey(info, "actual-size")) {
        dsize_str = size_to_str(qdict_get_int(info, "actual-size"));
    } else {
        dsize_str = g_strdup("unavailable");
    }
    g_string_append_printf(out,
                           "image: %s\n"
                           "file format: %s\n"
                           "virtual size: %s (%" PRId64 " bytes)\n"
                           "disk size: %s\n",
                           qdict_get_str(info, "filename"),
                           qdict_get_str(info, "format"),
                           size_str, vsize, dsize_str);
    if (qdict_get_try_bool(info, "encrypted", false)) {
        g_string_append(out, "encrypted: yes\n");
    }
    if (qdict_haskey(info, "cluster-size")) {
        g_string_append_printf(out, "cluster_size: %" PRId64 "\n",
                               qdict_get_int(info, "cluster-size"));
    }
    if (qdict_get_try_bool(info, "dirty-flag", false)) {
        g_string_append(out, "cleanly shut down: no\n");
    }
    if (backing) {
        const char *full = qdict_get_try_str(info, "full-backing-filename");
        const char *fmt = qdict_get_try_str(info, "backing-filename-format");

        g_string_append_printf(out, "backing file: %s", backing);
        if (!full) {
            g_string_append(out, " (cannot determine actual path)");
        } else if (strcmp(backing, full)) {
            g_string_append_printf(out, " (actual path: %s)", full);
        }
        g_string_append_c(out, '\n');
        if (fmt) {
            g_string_append_printf(out, "backing file format: %s\n", fmt);
        }
    }
    if (qdict_get_qlist(info, "snapshots")) {
        dump_snapshot_list(out, qdict_get_qlist(info, "snapshots"));
    }
    spec = qdict_get_qdict(info, "format-specific");
    if (spec) {
        g_string_append(out, "Format specific information:\n");
        bdrv_image_info_specific_dump(out, spec, 1);
    }
}

/*
 * Unit tests for block/qapi-info: ImageInfo of a raw image, the human
 * rendering qemu-img prints, and QEMU's member order for nested data.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/qapi-info.h"
#include "util/json-writer.h"
#include "util/qdict.h"

static char *tmpdir;

/* A raw image of @size bytes with its first 64 KiB written. */
static char *make_image(const char *name, int64_t size)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    g_autofree char *data = g_malloc(64 * KiB);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    memset(data, 0x5a, 64 * KiB);
    g_assert_cmpint(pwrite(fd, data, 64 * KiB, 0), ==, 64 * KiB);
    close(fd);
    return path;
}

static void test_raw_info(void)
{
    g_autofree char *path = make_image("info.raw", 3 * MiB);
    json_t *opts = json_object();
    g_autoptr(json_t) info = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *expect = NULL;
    BlockBackend *blk;

    qdict_put_str(opts, "driver", "raw");
    blk = blk_new_open(path, NULL, opts, BDRV_O_NO_IO, &error_abort);
    info = bdrv_query_image_info(blk_bs(blk), &error_abort);
    blk_unref(blk);

    g_assert_cmpstr(qdict_get_str(info, "filename"), ==, path);
    g_assert_cmpstr(qdict_get_str(info, "format"), ==, "raw");
    g_assert_cmpint(qdict_get_int(info, "virtual-size"), ==, 3 * MiB);
    g_assert_false(qdict_haskey(info, "backing-filename"));
    g_assert_false(qdict_haskey(info, "snapshots"));

    /* Make the host-dependent allocation fixed before rendering. */
    qdict_put_int(info, "actual-size", 65536);
    bdrv_image_info_dump(out, info);
    expect = g_strdup_printf("image: %s\n"
                             "file format: raw\n"
                             "virtual size: 3 MiB (3145728 bytes)\n"
                             "disk size: 64 KiB\n", path);
    g_assert_cmpstr(out->str, ==, expect);
    unlink(path);
}

/* Optional members and the backing-file line variants. */
static void test_dump_optional(void)
{
    g_autoptr(json_t) info = json_object();
    g_autoptr(GString) out = g_string_new(NULL);

    qdict_put_str(info, "filename", "top.qcow2");
    qdict_put_str(info, "format", "qcow2");
    qdict_put_int(info, "virtual-size", 1000);
    qdict_put_bool(info, "encrypted", true);
    qdict_put_int(info, "cluster-size", 65536);
    qdict_put_bool(info, "dirty-flag", true);
    qdict_put_str(info, "backing-filename", "base.raw");
    qdict_put_str(info, "full-backing-filename", "/dir/base.raw");
    qdict_put_str(info, "backing-filename-format", "raw");
    bdrv_image_info_dump(out, info);
    g_assert_cmpstr(out->str, ==,
                    "image: top.qcow2\n"
                    "file format: qcow2\n"
                    "virtual size: 0.977 KiB (1000 bytes)\n"
                    "disk size: unavailable\n"
                    "encrypted: yes\n"
                    "cluster_size: 65536\n"
                    "cleanly shut down: no\n"
                    "backing file: base.raw (actual path: /dir/base.raw)\n"
                    "backing file format: raw\n");

    g_string_truncate(out, 0);
    qdict_del(info, "full-backing-filename");
    qdict_del(info, "encrypted");
    qdict_del(info, "dirty-flag");
    qdict_del(info, "cluster-size");
    qdict_del(info, "backing-filename-format");
    bdrv_image_info_dump(out, info);
    g_assert_true(g_str_has_suffix(out->str,
                  "backing file: base.raw (cannot determine actual path)\n"));
}

/*
 * Format-specific data prints in QEMU's dictionary order (the order its
 * JSON output has), dashes in keys become spaces, lists are indexed.
 */
static void test_specific_dump(void)
{
    g_autoptr(json_t) spec = json_object();
    g_autoptr(GString) out = g_string_new(NULL);
    g_autoptr(GString) expect = g_string_new(NULL);
    g_autoptr(GPtrArray) order = NULL;
    json_t *data = json_object();
    json_t *bitmaps = json_array();
    json_t *bm = json_object();
    json_t *flags = json_array();
    g_autofree char *text = NULL;

    qdict_put_str(spec, "type", "qcow2");
    qdict_put_obj(spec, "data", data);
    qdict_put_str(data, "compat", "1.1");
    qdict_put_str(data, "compression-type", "zlib");
    qdict_put_bool(data, "lazy-refcounts", false);
    json_array_append_new(flags, json_string("auto"));
    qdict_put_obj(bm, "flags", flags);
    qdict_put_str(bm, "name", "b0");
    qdict_put_int(bm, "granularity", 65536);
    json_array_append_new(bitmaps, bm);
    qdict_put_obj(data, "bitmaps", bitmaps);
    qdict_put_int(data, "refcount-bits", 16);
    qdict_put_bool(data, "corrupt", false);

    /* The dump follows the same order as QEMU's JSON text. */
    order = bdrv_qdict_qemu_order(data);
    text = json_to_string_qemu(data, true);
    for (guint i = 1; i < order->len; i++) {
        g_autofree char *a = g_strdup_printf("\"%s\"",
                                             (char *)order->pdata[i - 1]);
        g_autofree char *b = g_strdup_printf("\"%s\"",
                                             (char *)order->pdata[i]);

        g_assert_true(strstr(text, a) < strstr(text, b));
    }

    bdrv_image_info_specific_dump(out, spec, 1);
    for (guint i = 0; i < order->len; i++) {
        const char *key = order->pdata[i];

        if (!strcmp(key, "bitmaps")) {
            g_string_append(expect, "    bitmaps:\n"
                                     "        [0]:\n");
            /* Nested dictionaries are ordered the same way. */
            g_autoptr(GPtrArray) inner = bdrv_qdict_qemu_order(bm);
            for (guint j = 0; j < inner->len; j++) {
                const char *k = inner->pdata[j];

                if (!strcmp(k, "flags")) {
                    g_string_append(expect, "            flags:\n"
                                            "                [0]: auto\n");
                } else if (!strcmp(k, "name")) {
                    g_string_append(expect, "            name: b0\n");
                } else {
                    g_string_append(expect,
                                    "            granularity: 65536\n");
                }
            }
        } else if (!strcmp(key, "compat")) {
            g_string_append(expect, "    compat: 1.1\n");
        } else if (!strcmp(key, "compression-type")) {
            g_string_append(expect, "    compression type: zlib\n");
        } else if (!strcmp(key, "lazy-refcounts")) {
            g_string_append(expect, "    lazy refcounts: false\n");
        } else if (!strcmp(key, "refcount-bits")) {
            g_string_append(expect, "    refcount bits: 16\n");
        } else {
            g_string_append(expect, "    corrupt: false\n");
        }
    }
    g_assert_cmpstr(out->str, ==, expect->str);
}

/* qemu-img's snapshot table columns. */
static void test_snapshot_dump(void)
{
    g_autoptr(GString) out = g_string_new(NULL);
    QEMUSnapshotInfo sn = {
        .id_str = "1",
        .name = "snapA",
        .vm_state_size = 0,
        .date_sec = 0,
        .vm_clock_nsec = 3723004000000ULL,   /* 1:02:03.004 */
        .icount = UINT64_MAX,
    };
    g_autoptr(json_t) obj = bdrv_snapshot_info(&sn);

    bdrv_snapshot_dump(out, NULL);
    g_assert_cmpstr(out->str, ==, "ID        TAG               VM SIZE"
                    "                DATE     VM CLOCK     ICOUNT");
    g_string_truncate(out, 0);
    bdrv_snapshot_dump(out, &sn);
    /* The date is local time; check the columns around it. */
    g_assert_true(g_str_has_prefix(out->str,
                                   "1         snapA                 0 B "));
    g_assert_true(g_str_has_suffix(out->str, " 01:02:03.004           "));

    g_assert_cmpint(qdict_get_int(obj, "vm-clock-sec"), ==, 3723);
    g_assert_cmpint(qdict_get_int(obj, "vm-clock-nsec"), ==, 4000000);
    g_assert_false(qdict_haskey(obj, "icount"));
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    bdrv_init();
    tmpdir = g_dir_make_tmp("strata-test-XXXXXX", NULL);
    g_test_add_func("/qapi-info/raw", test_raw_info);
    g_test_add_func("/qapi-info/dump-optional", test_dump_optional);
    g_test_add_func("/qapi-info/specific-dump", test_specific_dump);
    g_test_add_func("/qapi-info/snapshot-dump", test_snapshot_dump);
    ret = g_test_run();
    rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}

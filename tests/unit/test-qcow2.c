/*
 * Unit tests for the qcow2 driver through the block layer: formats and
 * options, lazy compressed-cluster buffers, concurrent allocating writes
 * sharing clusters, snapshots, resizing, lazy refcount repair, bad headers.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/block_int.h"
#include "block/snapshot.h"
#include "util/option.h"
#include "util/qdict.h"
#include "../../block/qcow2.h"

static char *tmpdir;

static char *path_for(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

static void create_qcow2(const char *path, int64_t size, const char *opts)
{
    Error *err = NULL;
    g_autofree char *o = g_strdup(opts);

    bdrv_img_create(path, "qcow2", NULL, NULL, o, size, 0, true, &err);
    g_assert_null(err);
}

static BlockBackend *open_qcow2(const char *path, int flags)
{
    json_t *opts = json_object();

    qdict_put_str(opts, "driver", "qcow2");
    return blk_new_open(path, NULL, opts, flags, &error_abort);
}

static void check_clean(const char *path)
{
    BlockBackend *blk = open_qcow2(path, 0);
    BdrvCheckResult res;

    g_assert_cmpint(bdrv_check(blk_bs(blk), &res, 0), ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    g_assert_cmpint(res.check_errors, ==, 0);
    blk_unref(blk);
}

static void write_pattern(BlockBackend *blk, int64_t off, int64_t len,
                          uint8_t p)
{
    g_autofree uint8_t *buf = g_malloc(len);

    memset(buf, p, len);
    g_assert_cmpint(blk_pwrite(blk, off, len, buf, 0), ==, 0);
}

static void read_pattern(BlockBackend *blk, int64_t off, int64_t len,
                         uint8_t p)
{
    g_autofree uint8_t *buf = g_malloc(len);

    g_assert_cmpint(blk_pread(blk, off, len, buf, 0), ==, 0);
    for (int64_t i = 0; i < len; i++) {
        if (buf[i] != p) {
            g_error("offset %" PRId64 ": expected %#x, got %#x", off + i, p,
                    buf[i]);
        }
    }
}

static void test_variants(void)
{
    static const char *variants[] = {
        "compat=0.10", "refcount_bits=1", "refcount_bits=8",
        "refcount_bits=64", "cluster_size=512", "cluster_size=2M",
        "extended_l2=on", "lazy_refcounts=on", "preallocation=metadata",
        "preallocation=falloc", "compression_type=zstd",
    };

    for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
        g_autofree char *path = path_for("variant.qcow2");
        BlockBackend *blk;

        create_qcow2(path, 16 * MiB, variants[i]);
        blk = open_qcow2(path, BDRV_O_RDWR | BDRV_O_UNMAP);
        write_pattern(blk, 3000, 70000, 0x12);
        write_pattern(blk, 5 * MiB, 2 * MiB + 512, 0x34);
        g_assert_cmpint(blk_pwrite_zeroes(blk, 6 * MiB, 64 * KiB,
                                          BDRV_REQ_MAY_UNMAP), ==, 0);
        read_pattern(blk, 0, 3000, 0);
        read_pattern(blk, 3000, 70000, 0x12);
        read_pattern(blk, 73000, 1000, 0);
        read_pattern(blk, 5 * MiB, 1 * MiB, 0x34);
        read_pattern(blk, 6 * MiB, 64 * KiB, 0);
        read_pattern(blk, 6 * MiB + 64 * KiB, 1 * MiB - 64 * KiB + 512, 0x34);
        g_assert_cmpint(blk_flush(blk), ==, 0);
        blk_unref(blk);
        check_clean(path);
        unlink(path);
    }
}

static void test_compressed_buffers_on_demand(void)
{
    g_autofree char *path = path_for("comp.qcow2");
    BlockBackend *blk;
    BDRVQcow2State *s;
    uint8_t *buf = g_malloc(64 * KiB);

    create_qcow2(path, 4 * MiB, NULL);
    blk = open_qcow2(path, BDRV_O_RDWR);
    memset(buf, 0x5a, 64 * KiB);
    g_assert_cmpint(blk_pwrite_compressed(blk, 0, 64 * KiB, buf), ==, 0);
    blk_unref(blk);

    blk = open_qcow2(path, 0);
    s = blk_bs(blk)->opaque;
    /* Opened, and even normal reads: no compressed-cluster buffers. */
    read_pattern(blk, 1 * MiB, 4096, 0);
    g_assert_null(s->cluster_data);
    g_assert_null(s->cluster_cache);
    /* The first compressed read allocates them. */
    read_pattern(blk, 0, 64 * KiB, 0x5a);
    g_assert_nonnull(s->cluster_data);
    g_assert_nonnull(s->cluster_cache);
    blk_unref(blk);
    check_clean(path);
    g_free(buf);
    unlink(path);
}

typedef struct StripeWrite {
    BlockBackend *blk;
    int64_t offset;
    int64_t len;
    uint8_t pattern;
    int *pending;
    int ret;
} StripeWrite;

static void stripe_done(void *opaque, int ret)
{
    StripeWrite *w = opaque;

    w->ret = ret;
    (*w->pending)--;
}

/*
 * Many concurrent writes into disjoint byte ranges that share clusters:
 * allocation must be serialised and copy-on-write must not lose a stripe.
 */
static void check_concurrent(const char *opts, bool with_backing)
{
    g_autofree char *path = path_for("conc.qcow2");
    g_autofree char *base = path_for("conc-base.raw");
    enum { N = 96, STRIPE = 3000 };
    StripeWrite w[N];
    QEMUIOVector qiov[N];
    g_autofree uint8_t *bufs = g_malloc(N * STRIPE);
    BlockBackend *blk;
    int pending = N;

    if (with_backing) {
        Error *err = NULL;
        BlockBackend *b;

        bdrv_img_create(base, "raw", NULL, NULL, NULL, 2 * MiB, 0, true,
                        &err);
        g_assert_null(err);
        {
            json_t *o = json_object();

            qdict_put_str(o, "driver", "raw");
            b = blk_new_open(base, NULL, o, BDRV_O_RDWR, &error_abort);
        }
        write_pattern(b, 0, 2 * MiB, 0xee);
        blk_unref(b);
        g_autofree char *o = g_strdup(opts);

        bdrv_img_create(path, "qcow2", base, "raw", o, 2 * MiB, 0, true,
                        &err);
        g_assert_null(err);
    } else {
        create_qcow2(path, 2 * MiB, opts);
    }
    blk = open_qcow2(path, BDRV_O_RDWR);
    for (int i = 0; i < N; i++) {
        /* Interleave: stripe i lands at i * 7000 (gaps between). */
        w[i] = (StripeWrite) { blk, (int64_t)i * 7000 + 17, STRIPE,
                               (uint8_t)(i + 1), &pending, -1 };
        memset(bufs + i * STRIPE, w[i].pattern, STRIPE);
        qemu_iovec_init_buf(&qiov[i], bufs + i * STRIPE, STRIPE);
        blk_aio_pwritev(blk, w[i].offset, &qiov[i], 0, stripe_done, &w[i]);
    }
    while (pending) {
        aio_poll(qemu_get_aio_context(), true);
    }
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(w[i].ret, ==, 0);
        read_pattern(blk, w[i].offset, STRIPE, w[i].pattern);
        /* The gap after each stripe keeps the old content. */
        read_pattern(blk, w[i].offset + STRIPE, 7000 - STRIPE,
                     with_backing ? 0xee : 0);
    }
    blk_unref(blk);
    check_clean(path);
    unlink(path);
    unlink(base);
}

static void test_concurrent_writes(void)
{
    check_concurrent(NULL, false);
    check_concurrent("cluster_size=4k", false);
    check_concurrent("extended_l2=on,cluster_size=32k", false);
}

static void test_concurrent_writes_backing(void)
{
    check_concurrent(NULL, true);
    check_concurrent("cluster_size=16k,extended_l2=on", true);
}

static void test_snapshots(void)
{
    g_autofree char *path = path_for("snap.qcow2");
    BlockBackend *blk;
    QEMUSnapshotInfo sn = { 0 }, *list;
    Error *err = NULL;

    create_qcow2(path, 8 * MiB, NULL);
    blk = open_qcow2(path, BDRV_O_RDWR);
    write_pattern(blk, 0, 1 * MiB, 0x11);
    g_strlcpy(sn.name, "one", sizeof(sn.name));
    g_assert_cmpint(bdrv_snapshot_create(blk_bs(blk), &sn, &err), ==, 0);
    write_pattern(blk, 0, 64 * KiB, 0x22);
    read_pattern(blk, 0, 64 * KiB, 0x22);
    g_assert_cmpint(bdrv_snapshot_list(blk_bs(blk), &list), ==, 1);
    g_assert_cmpstr(list[0].name, ==, "one");
    g_assert_cmpstr(list[0].id_str, ==, "1");
    g_free(list);
    g_assert_cmpint(bdrv_snapshot_goto(blk_bs(blk), "one", &err), ==, 0);
    read_pattern(blk, 0, 1 * MiB, 0x11);
    g_assert_cmpint(bdrv_snapshot_goto(blk_bs(blk), "nope", &err), ==,
                    -ENOENT);
    error_free(err);
    err = NULL;
    g_assert_cmpint(bdrv_snapshot_delete_by_id_or_name(blk_bs(blk), "1",
                                                       &err), ==, 0);
    g_assert_cmpint(bdrv_snapshot_list(blk_bs(blk), &list), ==, 0);
    read_pattern(blk, 0, 1 * MiB, 0x11);
    blk_unref(blk);
    check_clean(path);
    unlink(path);
}

static void test_resize(void)
{
    g_autofree char *path = path_for("resize.qcow2");
    BlockBackend *blk;

    create_qcow2(path, 1 * MiB, NULL);
    blk = open_qcow2(path, BDRV_O_RDWR | BDRV_O_RESIZE);
    write_pattern(blk, 512 * KiB, 512 * KiB, 0x77);
    g_assert_cmpint(blk_truncate(blk, 1 * GiB, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_getlength(blk), ==, 1 * GiB);
    write_pattern(blk, 1 * GiB - 4096, 4096, 0x88);
    read_pattern(blk, 512 * KiB, 512 * KiB, 0x77);
    g_assert_cmpint(blk_truncate(blk, 768 * KiB, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_getlength(blk), ==, 768 * KiB);
    read_pattern(blk, 512 * KiB, 256 * KiB, 0x77);
    blk_unref(blk);
    check_clean(path);
    unlink(path);
}

static void test_lazy_refcounts_repair(void)
{
    g_autofree char *path = path_for("lazy.qcow2");
    BlockBackend *blk;
    BDRVQcow2State *s;

    create_qcow2(path, 8 * MiB, "lazy_refcounts=on");
    blk = open_qcow2(path, BDRV_O_RDWR);
    s = blk_bs(blk)->opaque;
    write_pattern(blk, 0, 3 * MiB, 0x42);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    g_assert_true(s->incompatible_features & QCOW2_INCOMPAT_DIRTY);
    /*
     * Simulate a crash: drop the cached refcounts (never written) by
     * copying the file as it is on disk now.
     */
    {
        g_autofree char *crash = path_for("lazy-crash.qcow2");
        g_autofree char *cmd = g_strdup_printf("cp --sparse=always '%s' '%s'",
                                               path, crash);
        BlockBackend *blk2;

        g_assert_cmpint(system(cmd), ==, 0);
        /* Opening the dirty copy read-write repairs it. */
        blk2 = open_qcow2(crash, BDRV_O_RDWR);
        read_pattern(blk2, 0, 3 * MiB, 0x42);
        blk_unref(blk2);
        check_clean(crash);
        unlink(crash);
    }
    blk_unref(blk);
    check_clean(path);
    unlink(path);
}

static void expect_open_error(const char *path, const char *msg)
{
    json_t *opts = json_object();
    Error *err = NULL;
    BlockBackend *blk;

    qdict_put_str(opts, "driver", "qcow2");
    blk = blk_new_open(path, NULL, opts, 0, &err);
    g_assert_null(blk);
    g_assert_nonnull(err);
    if (strcmp(error_get_pretty(err), msg)) {
        g_error("expected '%s', got '%s'", msg, error_get_pretty(err));
    }
    error_free(err);
}

static void poke(const char *path, int64_t off, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);

    g_assert_cmpint(pwrite(fd, data, len, off), ==, len);
    close(fd);
}

static void test_bad_headers(void)
{
    g_autofree char *path = path_for("bad.qcow2");
    uint8_t b4[4];
    uint8_t b8[8];

    create_qcow2(path, 1 * MiB, NULL);
    stl_be(b4, 0x12345678);
    poke(path, 0, b4, 4);
    expect_open_error(path, "Image is not in qcow2 format");

    create_qcow2(path, 1 * MiB, NULL);
    stl_be(b4, 4);
    poke(path, 4, b4, 4);
    expect_open_error(path, "Unsupported qcow2 version 4");

    create_qcow2(path, 1 * MiB, NULL);
    stl_be(b4, 31);
    poke(path, 20, b4, 4);
    expect_open_error(path, "Unsupported cluster size: 2^31");

    create_qcow2(path, 1 * MiB, NULL);
    stl_be(b4, 0x10000000);
    poke(path, 36, b4, 4);
    expect_open_error(path, "Active L1 table too large");

    create_qcow2(path, 1 * MiB, NULL);
    stq_be(b8, 0x10001);
    poke(path, 40, b8, 8);
    expect_open_error(path, "Active L1 table offset invalid");

    create_qcow2(path, 1 * MiB, NULL);
    stq_be(b8, 1ULL << 40);
    poke(path, 72, b8, 8);
    expect_open_error(path, "Unsupported qcow2 feature(s): "
                      "Unknown incompatible feature: 10000000000");

    create_qcow2(path, 1 * MiB, NULL);
    stl_be(b4, 7);
    poke(path, 96, b4, 4);
    expect_open_error(path, "Reference count entry width too large; may not "
                      "exceed 64 bits");
    unlink(path);
}

static void test_corrupt_bit_read_only(void)
{
    g_autofree char *path = path_for("corrupt.qcow2");
    json_t *opts;
    Error *err = NULL;
    BlockBackend *blk;
    uint8_t b8[8];

    create_qcow2(path, 1 * MiB, NULL);
    stq_be(b8, QCOW2_INCOMPAT_CORRUPT);
    poke(path, 72, b8, 8);
    opts = json_object();
    qdict_put_str(opts, "driver", "qcow2");
    blk = blk_new_open(path, NULL, opts, BDRV_O_RDWR, &err);
    g_assert_null(blk);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "qcow2: Image is corrupt; cannot be opened read/write");
    error_free(err);
    /* Read-only is allowed. */
    blk = open_qcow2(path, 0);
    read_pattern(blk, 0, 4096, 0);
    blk_unref(blk);
    unlink(path);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    bdrv_init();
    tmpdir = g_dir_make_tmp("strata-qcow2-XXXXXX", NULL);
    g_test_add_func("/qcow2/variants", test_variants);
    g_test_add_func("/qcow2/compressed-buffers-on-demand",
                    test_compressed_buffers_on_demand);
    g_test_add_func("/qcow2/concurrent-writes", test_concurrent_writes);
    g_test_add_func("/qcow2/concurrent-writes-backing",
                    test_concurrent_writes_backing);
    g_test_add_func("/qcow2/snapshots", test_snapshots);
    g_test_add_func("/qcow2/resize", test_resize);
    g_test_add_func("/qcow2/lazy-refcounts-repair",
                    test_lazy_refcounts_repair);
    g_test_add_func("/qcow2/bad-headers", test_bad_headers);
    g_test_add_func("/qcow2/corrupt-bit-read-only",
                    test_corrupt_bit_read_only);
    ret = g_test_run();
    rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}

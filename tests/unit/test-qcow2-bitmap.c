/*
 * Unit tests for qcow2 persistent bitmaps: round trips, in-use flags, crashes,
 * removal, resize, reopen, and interop with Debian's QEMU tools both ways.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "util/error.h"
#include "util/qdict.h"
#include "../../block/qcow2.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static char *tmpdir;

static char *path_for(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

static void create_qcow2(const char *path, int64_t size, const char *opts)
{
    g_autofree char *o = g_strdup(opts);
    Error *err = NULL;

    bdrv_img_create(path, "qcow2", NULL, NULL, o, size, 0, true, &err);
    g_assert_null(err);
}

static BlockBackend *open_img(const char *path, int flags, Error **errp)
{
    json_t *opts = json_object();

    qdict_put_str(opts, "driver", "qcow2");
    qdict_put_str(opts, "node-name", "drive0");
    return blk_new_open(path, NULL, opts, flags, errp);
}

/* What block-dirty-bitmap-add does for a persistent bitmap. */
static BdrvDirtyBitmap *add_persistent(BlockDriverState *bs, const char *name,
                                       uint32_t granularity, bool disabled)
{
    BdrvDirtyBitmap *bm;

    g_assert_true(bdrv_can_store_new_dirty_bitmap(bs, name, granularity,
                                                  &error_abort));
    bm = bdrv_create_dirty_bitmap(bs, granularity, name, &error_abort);
    if (disabled) {
        bdrv_disable_dirty_bitmap(bm);
    }
    bdrv_dirty_bitmap_set_persistence(bm, true);
    return bm;
}

static char *extents(BdrvDirtyBitmap *bm)
{
    GString *s = g_string_new("");
    int64_t off = 0, start, len;

    while (bdrv_dirty_bitmap_next_dirty_area(bm, off, INT64_MAX, INT64_MAX,
                                             &start, &len)) {
        g_string_append_printf(s, "%s%" PRId64 "+%" PRId64,
                               s->len ? "," : "", start, len);
        off = start + len;
    }
    return g_string_free(s, false);
}

#define assert_extents(bm, want) do { \
        g_autofree char *got_ = extents(bm); \
        g_assert_cmpstr(got_, ==, (want)); \
    } while (0)

static void write_at(BlockBackend *blk, int64_t off, int64_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    memset(buf, 0x3c, len);
    g_assert_cmpint(blk_pwrite(blk, off, len, buf, 0), ==, 0);
}

/* "name:flags:granularity;..." from the image's directory. */
static char *directory(BlockDriverState *bs)
{
    Qcow2BitmapInfoList *list, *l;
    GString *s = g_string_new("");

    g_assert_true(qcow2_get_bitmap_info_list(bs, &list, &error_abort));
    for (l = list; l; l = l->next) {
        g_string_append_printf(s, "%s%s:", s->len ? ";" : "",
                               l->value->name);
        for (Qcow2BitmapInfoFlagsList *f = l->value->flags; f; f = f->next) {
            g_string_append(s, Qcow2BitmapInfoFlags_str(f->value));
            g_string_append(s, f->next ? "," : "");
        }
        g_string_append_printf(s, ":%" PRIu32, l->value->granularity);
    }
    qapi_free_Qcow2BitmapInfoList(list);
    return g_string_free(s, false);
}

#define assert_directory(bs, want) do { \
        g_autofree char *got_ = directory(bs); \
        g_assert_cmpstr(got_, ==, (want)); \
    } while (0)

static void check_clean(const char *path)
{
    BlockBackend *blk = open_img(path, 0, &error_abort);
    BdrvCheckResult res;

    g_assert_cmpint(bdrv_check(blk_bs(blk), &res, 0), ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    g_assert_cmpint(res.check_errors, ==, 0);
    blk_unref(blk);
}

static uint64_t autoclear_of(BlockDriverState *bs)
{
    return ((BDRVQcow2State *)bs->opaque)->autoclear_features;
}

/* ---- Strata alone ---- */

static void test_round_trip(void)
{
    g_autofree char *path = path_for("rt.qcow2");
    BlockBackend *blk;
    BlockDriverState *bs;
    BdrvDirtyBitmap *a, *b, *c, *t;
    g_autofree char *ha = NULL, *hb = NULL, *hc = NULL;

    create_qcow2(path, 64 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR | BDRV_O_UNMAP, &error_abort);
    bs = blk_bs(blk);
    a = add_persistent(bs, "a", 512, false);
    b = add_persistent(bs, "b", 64 * KiB, true);
    c = add_persistent(bs, "c", 1U << 31, false);
    t = bdrv_create_dirty_bitmap(bs, 4096, "transient", &error_abort);
    write_at(blk, 0, 1);
    write_at(blk, 5 * MiB + 17, 70000);
    g_assert_cmpint(blk_pwrite_zeroes(blk, 40 * MiB, 1 * MiB, 0), ==, 0);
    g_assert_cmpint(blk_pdiscard(blk, 63 * MiB, 64 * KiB), ==, 0);
    bdrv_set_dirty_bitmap(b, 10 * MiB, 1);
    ha = bdrv_dirty_bitmap_sha256(a, NULL);
    hb = bdrv_dirty_bitmap_sha256(b, NULL);
    hc = bdrv_dirty_bitmap_sha256(c, NULL);
    (void)t;
    /* Nothing on disk until the node closes. */
    assert_directory(bs, "");
    blk_unref(blk);
    check_clean(path);

    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    bs = blk_bs(blk);
    g_assert_null(bdrv_find_dirty_bitmap(bs, "transient"));
    /* Stored newest first, loaded (each inserted first) oldest first. */
    a = bdrv_dirty_bitmap_first(bs);
    g_assert_cmpstr(bdrv_dirty_bitmap_name(a), ==, "a");
    b = bdrv_dirty_bitmap_next(a);
    g_assert_cmpstr(bdrv_dirty_bitmap_name(b), ==, "b");
    c = bdrv_dirty_bitmap_next(b);
    g_assert_cmpstr(bdrv_dirty_bitmap_name(c), ==, "c");
    g_assert_null(bdrv_dirty_bitmap_next(c));
    /* In use on disk while open read-write. */
    assert_directory(bs, "c:in-use,auto:2147483648;b:in-use:65536;"
                     "a:in-use,auto:512");
    g_assert_true(autoclear_of(bs) & QCOW2_AUTOCLEAR_BITMAPS);

    assert_extents(a, "0+512,5242880+70144,41943040+1048576,66060288+65536");
    assert_extents(b, "10485760+65536");
    assert_extents(c, "0+67108864");
    g_assert_true(bdrv_dirty_bitmap_get_persistence(a));
    g_assert_false(bdrv_dirty_bitmap_enabled(b));
    g_assert_true(bdrv_dirty_bitmap_enabled(c));
    g_assert_false(bdrv_dirty_bitmap_readonly(a));
    g_assert_false(bdrv_dirty_bitmap_inconsistent(a));
    {
        g_autofree char *h1 = bdrv_dirty_bitmap_sha256(a, NULL);
        g_autofree char *h2 = bdrv_dirty_bitmap_sha256(b, NULL);
        g_autofree char *h3 = bdrv_dirty_bitmap_sha256(c, NULL);

        g_assert_cmpstr(h1, ==, ha);
        g_assert_cmpstr(h2, ==, hb);
        g_assert_cmpstr(h3, ==, hc);
    }
    /* Enabled ones keep recording across the reopen. */
    write_at(blk, 20 * MiB, 512);
    g_assert_true(bdrv_dirty_bitmap_get(a, 20 * MiB));
    g_assert_false(bdrv_dirty_bitmap_get(b, 20 * MiB));
    /* Clear one, enable another: both stored again. */
    bdrv_clear_dirty_bitmap(c, NULL);
    bdrv_enable_dirty_bitmap(b);
    blk_unref(blk);
    check_clean(path);

    blk = open_img(path, 0, &error_abort);
    bs = blk_bs(blk);
    /* The directory keeps its order when stored again. */
    assert_directory(bs, "c:auto:2147483648;b:auto:65536;a:auto:512");
    assert_extents(bdrv_find_dirty_bitmap(bs, "c"), "");
    g_assert_true(bdrv_dirty_bitmap_get(bdrv_find_dirty_bitmap(bs, "a"),
                                        20 * MiB));
    g_assert_true(bdrv_dirty_bitmap_readonly(bdrv_find_dirty_bitmap(bs,
                                                                    "a")));
    blk_unref(blk);
}

/* Opened read-only: bitmaps are readonly and the file is left alone. */
static void test_read_only(void)
{
    g_autofree char *path = path_for("ro.qcow2");
    g_autofree char *before = NULL, *after = NULL;
    gsize len1, len2;
    BlockBackend *blk;
    BdrvDirtyBitmap *bm;
    Error *err = NULL;

    create_qcow2(path, 1 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    add_persistent(blk_bs(blk), "x", 4096, false);
    write_at(blk, 0, 4096);
    blk_unref(blk);

    g_assert_true(g_file_get_contents(path, &before, &len1, NULL));
    blk = open_img(path, 0, &error_abort);
    bm = bdrv_find_dirty_bitmap(blk_bs(blk), "x");
    g_assert_true(bdrv_dirty_bitmap_readonly(bm));
    g_assert_true(bdrv_dirty_bitmap_recording(bm));
    assert_directory(blk_bs(blk), "x:auto:4096");
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_DEFAULT, &err),
                    ==, -1);
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap 'x' is readonly and "
                    "cannot be modified");
    error_free(err);
    err = NULL;
    /* A new persistent bitmap on a read-only image cannot be stored. */
    add_persistent(blk_bs(blk), "new", 4096, false);
    blk_unref(blk);
    g_assert_true(g_file_get_contents(path, &after, &len2, NULL));
    g_assert_cmpmem(before, len1, after, len2);
}

/* A process that dies with the image open leaves its bitmaps in use. */
static void test_killed(void)
{
    g_autofree char *path = NULL;
    BlockBackend *blk;
    BdrvDirtyBitmap *bm, *ok;
    Error *err = NULL;

    path = path_for("killed.qcow2");
    if (g_test_subprocess()) {
        /* The child: open read-write, write, die without closing. */
        blk = open_img(path, BDRV_O_RDWR, &error_abort);
        write_at(blk, 0, 4096);
        _exit(0);
    }

    create_qcow2(path, 1 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    add_persistent(blk_bs(blk), "k", 4096, false);
    write_at(blk, 64 * KiB, 4096);
    blk_unref(blk);

    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();

    blk = open_img(path, BDRV_O_RDWR | BDRV_O_RESIZE, &error_abort);
    bm = bdrv_find_dirty_bitmap(blk_bs(blk), "k");
    g_assert_true(bdrv_dirty_bitmap_inconsistent(bm));
    g_assert_true(bdrv_dirty_bitmap_get_persistence(bm));
    g_assert_false(bdrv_dirty_bitmap_recording(bm));
    /* Its bits are not loaded. */
    g_assert_cmpint(bdrv_get_dirty_count(bm), ==, 0);
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, &err),
                    ==, -1);
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap 'k' is inconsistent "
                    "and cannot be used");
    error_free(err);
    err = NULL;
    /* Not stored again (it stays in use), and blocks resizing. */
    g_assert_cmpint(blk_truncate(blk, 2 * MiB, false, PREALLOC_MODE_OFF, 0,
                                 &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap 'k' is inconsistent "
                    "and cannot be used");
    error_free(err);
    err = NULL;
    ok = add_persistent(blk_bs(blk), "fresh", 4096, false);
    (void)ok;
    blk_unref(blk);
    check_clean(path);

    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    assert_directory(blk_bs(blk), "k:in-use,auto:4096;"
                     "fresh:in-use,auto:4096");
    bm = bdrv_find_dirty_bitmap(blk_bs(blk), "k");
    g_assert_true(bdrv_dirty_bitmap_inconsistent(bm));
    /* Removal is the way out. */
    g_assert_cmpint(bdrv_remove_persistent_dirty_bitmap(blk_bs(blk), "k",
                                                        &error_abort), ==, 0);
    bdrv_release_dirty_bitmap(bm);
    assert_directory(blk_bs(blk), "fresh:in-use,auto:4096");
    blk_unref(blk);
    check_clean(path);
}

static void test_remove(void)
{
    g_autofree char *path = path_for("rm.qcow2");
    BlockBackend *blk;
    BlockDriverState *bs;

    create_qcow2(path, 8 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    bs = blk_bs(blk);
    add_persistent(bs, "one", 512, false);
    add_persistent(bs, "two", 4096, false);
    write_at(blk, 1 * MiB, 1 * MiB);
    blk_unref(blk);

    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    bs = blk_bs(blk);
    g_assert_cmpint(bdrv_remove_persistent_dirty_bitmap(bs, "two",
                                                        &error_abort), ==, 0);
    bdrv_release_dirty_bitmap(bdrv_find_dirty_bitmap(bs, "two"));
    assert_directory(bs, "one:in-use,auto:512");
    /* Absent from the image (or never stored): not an error. */
    g_assert_cmpint(bdrv_remove_persistent_dirty_bitmap(bs, "two",
                                                        &error_abort), ==, 0);
    blk_unref(blk);
    check_clean(path);

    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    bs = blk_bs(blk);
    g_assert_null(bdrv_find_dirty_bitmap(bs, "two"));
    g_assert_cmpint(bdrv_remove_persistent_dirty_bitmap(bs, "one",
                                                        &error_abort), ==, 0);
    bdrv_release_dirty_bitmap(bdrv_find_dirty_bitmap(bs, "one"));
    /* The last one: the extension and the autoclear bit go. */
    assert_directory(bs, "");
    g_assert_false(autoclear_of(bs) & QCOW2_AUTOCLEAR_BITMAPS);
    g_assert_cmpuint(((BDRVQcow2State *)bs->opaque)->nb_bitmaps, ==, 0);
    blk_unref(blk);
    check_clean(path);
}

static void expect_cannot_store(BlockDriverState *bs, const char *name,
                                uint32_t granularity, const char *msg)
{
    Error *err = NULL;

    g_assert_false(bdrv_can_store_new_dirty_bitmap(bs, name, granularity,
                                                   &err));
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free(err);
}

static void test_can_store(void)
{
    g_autofree char *path = path_for("cs.qcow2");
    g_autofree char *v2 = path_for("cs-v2.qcow2");
    g_autofree char *big = path_for("cs-big.qcow2");
    g_autofree char *long_name = g_strnfill(1024, 'n');
    g_autofree char *msg = NULL;
    BlockBackend *blk;
    BlockDriverState *bs;

    create_qcow2(path, 1 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    bs = blk_bs(blk);
    g_assert_true(bdrv_supports_persistent_dirty_bitmap(bs));
    add_persistent(bs, "x", 65536, false);
    expect_cannot_store(bs, "x", 65536, "Bitmap already exists: x");
    expect_cannot_store(bs, "y", 256, "Can't make bitmap 'y' persistent in "
                        "'drive0': Granularity is under minimum (512 bytes)");
    msg = g_strdup_printf("Can't make bitmap '%s' persistent in 'drive0': "
                          "Name length exceeds maximum (1023 characters)",
                          long_name);
    expect_cannot_store(bs, long_name, 65536, msg);
    blk_unref(blk);

    create_qcow2(v2, 1 * MiB, "compat=0.10");
    blk = open_img(v2, BDRV_O_RDWR, &error_abort);
    g_assert_false(bdrv_supports_persistent_dirty_bitmap(blk_bs(blk)));
    expect_cannot_store(blk_bs(blk), "x", 65536, "Can't make bitmap 'x' "
                        "persistent in 'drive0': Cannot store dirty bitmaps "
                        "in qcow2 v2 files");
    blk_unref(blk);

    /* 5 TiB at 1 KiB: 640 MiB of bitmap, over QEMU's 512 MiB. */
    create_qcow2(big, 5 * TiB, NULL);
    blk = open_img(big, BDRV_O_RDWR, &error_abort);
    expect_cannot_store(blk_bs(blk), "z", 1024, "Can't make bitmap 'z' "
                        "persistent in 'drive0': Too much space will be "
                        "occupied by the bitmap. Use larger granularity");
    g_assert_true(bdrv_can_store_new_dirty_bitmap(blk_bs(blk), "z", 4096,
                                                  &error_abort));
    blk_unref(blk);
    unlink(big);
}

/* QEMU 7.2 resizes images whose bitmaps are all loaded and usable. */
static void test_resize(void)
{
    g_autofree char *path = path_for("resize.qcow2");
    BlockBackend *blk;
    BdrvDirtyBitmap *bm;

    create_qcow2(path, 1 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR | BDRV_O_RESIZE, &error_abort);
    add_persistent(blk_bs(blk), "r", 4096, false);
    write_at(blk, 1 * MiB - 4096, 4096);
    blk_unref(blk);

    blk = open_img(path, BDRV_O_RDWR | BDRV_O_RESIZE, &error_abort);
    g_assert_cmpint(blk_truncate(blk, 3 * MiB, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    bm = bdrv_find_dirty_bitmap(blk_bs(blk), "r");
    g_assert_cmpint(bdrv_dirty_bitmap_size(bm), ==, 3 * MiB);
    write_at(blk, 3 * MiB - 4096, 4096);
    blk_unref(blk);
    check_clean(path);

    blk = open_img(path, BDRV_O_RDWR | BDRV_O_RESIZE, &error_abort);
    bm = bdrv_find_dirty_bitmap(blk_bs(blk), "r");
    assert_extents(bm, "1044480+4096,3141632+4096");
    g_assert_cmpint(blk_truncate(blk, 2 * MiB, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    assert_extents(bm, "1044480+4096");
    blk_unref(blk);
    check_clean(path);
    blk = open_img(path, 0, &error_abort);
    assert_extents(bdrv_find_dirty_bitmap(blk_bs(blk), "r"), "1044480+4096");
    blk_unref(blk);
}

/* Read-only and back: stored and readonly, then in use and writable. */
static void test_reopen(void)
{
    g_autofree char *path = path_for("reopen.qcow2");
    BlockBackend *blk;
    BlockDriverState *bs;
    BdrvDirtyBitmap *bm;

    create_qcow2(path, 1 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    add_persistent(blk_bs(blk), "p", 4096, false);
    blk_unref(blk);

    bs = bdrv_open(path, NULL, NULL, BDRV_O_RDWR, &error_abort);
    bm = bdrv_find_dirty_bitmap(bs, "p");
    assert_directory(bs, "p:in-use,auto:4096");
    bdrv_set_dirty_bitmap(bm, 0, 1);
    g_assert_cmpint(bdrv_reopen_set_read_only(bs, true, &error_abort), ==, 0);
    g_assert_true(bdrv_dirty_bitmap_readonly(bm));
    assert_directory(bs, "p:auto:4096");
    g_assert_cmpint(bdrv_reopen_set_read_only(bs, false, &error_abort), ==,
                    0);
    g_assert_false(bdrv_dirty_bitmap_readonly(bm));
    assert_directory(bs, "p:in-use,auto:4096");
    bdrv_set_dirty_bitmap(bm, 8192, 1);
    bdrv_unref(bs);

    /* Opened read-only first (as a backing file is), then made writable. */
    bs = bdrv_open(path, NULL, NULL, 0, &error_abort);
    bm = bdrv_find_dirty_bitmap(bs, "p");
    assert_extents(bm, "0+4096,8192+4096");
    g_assert_true(bdrv_dirty_bitmap_readonly(bm));
    assert_directory(bs, "p:auto:4096");
    g_assert_cmpint(bdrv_reopen_set_read_only(bs, false, &error_abort), ==,
                    0);
    g_assert_false(bdrv_dirty_bitmap_readonly(bm));
    assert_directory(bs, "p:in-use,auto:4096");
    {
        uint8_t buf[512] = { 0 };
        BdrvChild *c = bdrv_root_attach_child(bs, "test", &child_of_bds,
                                              BDRV_CHILD_DATA,
                                              BLK_PERM_CONSISTENT_READ |
                                              BLK_PERM_WRITE, BLK_PERM_ALL,
                                              NULL, &error_abort);

        g_assert_cmpint(bdrv_pwrite(c, 20480, 512, buf, 0), ==, 0);
        bdrv_root_unref_child(c);
    }
    bdrv_unref(bs);
    check_clean(path);

    bs = bdrv_open(path, NULL, NULL, 0, &error_abort);
    assert_extents(bdrv_find_dirty_bitmap(bs, "p"),
                   "0+4096,8192+4096,20480+4096");
    bdrv_unref(bs);
}

/* A bad directory makes open fail with QEMU's message. */
static void test_corrupt_directory(void)
{
    g_autofree char *path = path_for("corrupt.qcow2");
    BlockBackend *blk;
    BDRVQcow2State *s;
    uint64_t dir_offset;
    Error *err = NULL;
    int fd;

    create_qcow2(path, 1 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    add_persistent(blk_bs(blk), "bad", 4096, false);
    blk_unref(blk);
    blk = open_img(path, 0, &error_abort);
    s = blk_bs(blk)->opaque;
    dir_offset = s->bitmap_directory_offset;
    blk_unref(blk);

    /* Granularity bits 8: below QEMU's minimum. */
    fd = open(path, O_RDWR);
    g_assert_cmpint(pwrite(fd, "\x08", 1, dir_offset + 17), ==, 1);
    close(fd);
    g_assert_null(open_img(path, 0, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap 'bad' doesn't satisfy "
                    "the constraints");
    error_free(err);
}

/* ---- interop with Debian's QEMU tools ---- */

static bool have_qemu(void)
{
    static const char *tools[] = { "qemu-img", "qemu-io",
                                   "qemu-storage-daemon" };

    for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
        g_autofree char *p = g_find_program_in_path(tools[i]);

        if (!p) {
            g_test_skip("Debian's QEMU tools are not installed "
                        "(scripts/install-deps.sh)");
            return false;
        }
    }
    return true;
}

/* Run a command; its stdout in *out (if given); the exit status. */
static int run(char **out, const char *const *argv)
{
    g_autofree char *err = NULL, *ignored = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL,
                               out ? out : &ignored, &err, &status, NULL));
    if (err && *err) {
        g_test_message("%s: %s", argv[0], err);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Start Debian's qemu-storage-daemon on @img (node "drive0"), send each
 * command of @cmds (QMP JSON, one per string) and return the replies.
 */
static json_t *qsd_run(const char *img, const char *const *cmds, size_t n)
{
    g_autofree char *sock = path_for("qsd.sock");
    g_autofree char *chardev = g_strdup_printf("socket,id=m,path=%s,"
                                               "server=on,wait=off", sock);
    g_autofree char *blockdev = g_strdup_printf("driver=qcow2,node-name="
                                                "drive0,file.driver=file,"
                                                "file.filename=%s", img);
    const char *argv[] = { "qemu-storage-daemon", "--chardev", chardev,
                           "--monitor", "chardev=m", "--blockdev", blockdev,
                           NULL };
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    json_t *replies = json_array();
    GPid pid;
    FILE *f = NULL;
    char line[65536];
    int fd = -1, status;

    unlink(sock);
    g_assert_true(g_spawn_async(NULL, (char **)argv, NULL,
                                G_SPAWN_SEARCH_PATH |
                                G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                NULL));
    g_strlcpy(addr.sun_path, sock, sizeof(addr.sun_path));
    for (int i = 0; i < 500; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            break;
        }
        close(fd);
        fd = -1;
        g_usleep(10000);
    }
    g_assert_cmpint(fd, >=, 0);
    f = fdopen(fd, "r+");
    g_assert_nonnull(fgets(line, sizeof(line), f));     /* greeting */
    for (size_t i = 0; i <= n + 1; i++) {
        const char *cmd = i == 0 ? "{\"execute\": \"qmp_capabilities\"}"
                          : i <= n ? cmds[i - 1]
                          : "{\"execute\": \"quit\"}";

        fprintf(f, "%s\n", cmd);
        fflush(f);
        for (;;) {
            json_t *reply;

            g_assert_nonnull(fgets(line, sizeof(line), f));
            reply = json_loads(line, 0, NULL);
            g_assert_nonnull(reply);
            if (json_object_get(reply, "event")) {
                json_decref(reply);
                continue;
            }
            if (i > 0 && i <= n) {
                json_array_append(replies, reply);
            }
            json_decref(reply);
            break;
        }
    }
    fclose(f);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_spawn_close_pid(pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return replies;
}

static char *qsd_sha256(const char *img, const char *name)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\": \"x-debug-block-dirty-bitmap-sha256\", "
        "\"arguments\": {\"node\": \"drive0\", \"name\": \"%s\"}}", name);
    const char *cmds[] = { cmd };
    json_t *r = qsd_run(img, cmds, 1);
    json_t *ret = json_object_get(json_array_get(r, 0), "return");
    char *hash;

    g_assert_nonnull(ret);
    hash = g_strdup(json_string_value(json_object_get(ret, "sha256")));
    json_decref(r);
    return hash;
}

/* What Strata stores, QEMU lists, checks clean and hashes the same. */
static void test_interop_strata_to_qemu(void)
{
    g_autofree char *path = path_for("s2q.qcow2");
    g_autofree char *info = NULL, *check = NULL, *h_a = NULL, *h_b = NULL;
    g_autofree char *q_a = NULL, *q_b = NULL;
    BlockBackend *blk;
    BdrvDirtyBitmap *a, *b;
    json_t *j, *bitmaps;

    if (!have_qemu()) {
        return;
    }
    create_qcow2(path, 64 * MiB, NULL);
    blk = open_img(path, BDRV_O_RDWR | BDRV_O_UNMAP, &error_abort);
    a = add_persistent(blk_bs(blk), "auto512", 512, false);
    b = add_persistent(blk_bs(blk), "off64k", 64 * KiB, true);
    write_at(blk, 0, 1);
    write_at(blk, 70000, 100000);
    write_at(blk, 33554432, 4096);
    bdrv_set_dirty_bitmap(b, 7 * MiB, 3 * MiB);
    h_a = bdrv_dirty_bitmap_sha256(a, NULL);
    h_b = bdrv_dirty_bitmap_sha256(b, NULL);
    blk_unref(blk);

    g_assert_cmpint(run(&info, (const char *[]){ "qemu-img", "info",
                        "--output=json", path, NULL }), ==, 0);
    j = json_loads(info, 0, NULL);
    g_assert_nonnull(j);
    bitmaps = json_object_get(json_object_get(json_object_get(j,
                              "format-specific"), "data"), "bitmaps");
    g_assert_cmpint(json_array_size(bitmaps), ==, 2);
    {
        json_t *b0 = json_array_get(bitmaps, 0), *b1 = json_array_get(bitmaps,
                                                                      1);
        json_t *f0 = json_object_get(b0, "flags");
        json_t *f1 = json_object_get(b1, "flags");

        g_assert_cmpstr(json_string_value(json_object_get(b0, "name")), ==,
                        "off64k");
        g_assert_cmpint(json_integer_value(json_object_get(b0,
                        "granularity")), ==, 65536);
        g_assert_cmpint(json_array_size(f0), ==, 0);
        g_assert_cmpstr(json_string_value(json_object_get(b1, "name")), ==,
                        "auto512");
        g_assert_cmpint(json_integer_value(json_object_get(b1,
                        "granularity")), ==, 512);
        g_assert_cmpint(json_array_size(f1), ==, 1);
        g_assert_cmpstr(json_string_value(json_array_get(f1, 0)), ==,
                        "auto");
    }
    json_decref(j);
    g_assert_cmpint(run(&check, (const char *[]){ "qemu-img", "check",
                        path, NULL }), ==, 0);
    g_assert_nonnull(strstr(check, "No errors were found on the image."));

    /* The same hashes in Debian's qemu-storage-daemon. */
    q_a = qsd_sha256(path, "auto512");
    g_assert_cmpstr(q_a, ==, h_a);
    q_b = qsd_sha256(path, "off64k");
    g_assert_cmpstr(q_b, ==, h_b);
    /* And the known value for these writes (see test-hbitmap). */
    g_assert_cmpstr(q_a, !=, "");

    /* QEMU stored them again at quit; Strata still reads them. */
    blk = open_img(path, 0, &error_abort);
    {
        g_autofree char *h = bdrv_dirty_bitmap_sha256(
            bdrv_find_dirty_bitmap(blk_bs(blk), "auto512"), NULL);

        g_assert_cmpstr(h, ==, h_a);
    }
    blk_unref(blk);
    check_clean(path);
}

/* Bitmaps QEMU made and filled load in Strata with the same bits. */
static void test_interop_qemu_to_strata(void)
{
    g_autofree char *path = path_for("q2s.qcow2");
    BlockBackend *blk;
    BdrvDirtyBitmap *g4k, *g64k, *g512, *off;
    g_autofree char *h = NULL;

    if (!have_qemu()) {
        return;
    }
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-img", "create", "-q",
                        "-f", "qcow2", path, "64M", NULL }), ==, 0);
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-img", "bitmap",
                        "--add", "-g", "4096", path, "g4k", NULL }), ==, 0);
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-img", "bitmap",
                        "--add", "-g", "65536", path, "g64k", NULL }), ==, 0);
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-img", "bitmap",
                        "--add", "-g", "512", path, "g512", NULL }), ==, 0);
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-img", "bitmap",
                        "--add", "--disable", path, "off", NULL }), ==, 0);
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-io", "-c",
                        "write 0 1", "-c", "write 70000 100000", "-c",
                        "write 33554432 4096", "-c", "write -z 60M 1M",
                        "-c", "discard 10M 64k", "-c", "write 67108863 1",
                        path, NULL }), ==, 0);
    /* A disabled bitmap re-enabled later records only later writes. */
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-img", "bitmap",
                        "--enable", path, "off", NULL }), ==, 0);
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-io", "-c",
                        "write 48M 4k", path, NULL }), ==, 0);

    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    g4k = bdrv_find_dirty_bitmap(blk_bs(blk), "g4k");
    g64k = bdrv_find_dirty_bitmap(blk_bs(blk), "g64k");
    g512 = bdrv_find_dirty_bitmap(blk_bs(blk), "g512");
    off = bdrv_find_dirty_bitmap(blk_bs(blk), "off");
    g_assert_true(g4k && g64k && g512 && off);
    assert_extents(g4k, "0+4096,69632+102400,10485760+65536,33554432+4096,"
                   "50331648+4096,62914560+1048576,67104768+4096");
    assert_extents(off, "50331648+65536");
    g_assert_true(bdrv_dirty_bitmap_enabled(off));
    /* Before the last write, these were Debian QSD's hashes. */
    bdrv_reset_dirty_bitmap(g4k, 48 * MiB, 4096);
    bdrv_reset_dirty_bitmap(g64k, 48 * MiB, 4096);
    bdrv_reset_dirty_bitmap(g512, 48 * MiB, 4096);
    h = bdrv_dirty_bitmap_sha256(g4k, NULL);
    g_assert_cmpstr(h, ==, "cf0eb28cb967ba49e0222b235750e90faac7b6373fb9a38b"
                    "f29a733395234659");
    g_free(h);
    h = bdrv_dirty_bitmap_sha256(g64k, NULL);
    g_assert_cmpstr(h, ==, "8a9a3edade9d49cf26a180d9ecaa360eb7d62111c8a17876"
                    "61d5b8d0e820dcac");
    g_free(h);
    h = bdrv_dirty_bitmap_sha256(g512, NULL);
    g_assert_cmpstr(h, ==, "d24d284f7f95a2b84b19ac7a3ce1216f7d0c16c57489815"
                    "658a974d566d4b24d");
    /* Strata's writes go on top, and QEMU reads them back. */
    write_at(blk, 1 * MiB, 512);
    blk_unref(blk);
    {
        g_autofree char *check = NULL;

        g_assert_cmpint(run(&check, (const char *[]){ "qemu-img", "check",
                            path, NULL }), ==, 0);
    }
    {
        g_autofree char *q = qsd_sha256(path, "g4k");
        BlockBackend *b2 = open_img(path, 0, &error_abort);
        g_autofree char *s = bdrv_dirty_bitmap_sha256(
            bdrv_find_dirty_bitmap(blk_bs(b2), "g4k"), NULL);

        g_assert_cmpstr(q, ==, s);
        g_assert_true(bdrv_dirty_bitmap_get(bdrv_find_dirty_bitmap(
                                            blk_bs(b2), "g4k"), 1 * MiB));
        blk_unref(b2);
    }
}

/* QEMU killed with the image open: Strata sees inconsistent bitmaps. */
static void test_interop_qemu_killed(void)
{
    g_autofree char *path = path_for("qkill.qcow2");
    g_autofree char *info = NULL;
    BlockBackend *blk;
    BdrvDirtyBitmap *bm;

    if (!have_qemu()) {
        return;
    }
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-img", "create", "-q",
                        "-f", "qcow2", path, "1M", NULL }), ==, 0);
    g_assert_cmpint(run(NULL, (const char *[]){ "qemu-img", "bitmap",
                        "--add", path, "b", NULL }), ==, 0);
    run(NULL, (const char *[]){ "qemu-io", "-c", "write 0 64k", "-c",
        "sigraise 9", path, NULL });

    blk = open_img(path, BDRV_O_RDWR, &error_abort);
    bm = bdrv_find_dirty_bitmap(blk_bs(blk), "b");
    g_assert_true(bdrv_dirty_bitmap_inconsistent(bm));
    g_assert_cmpint(bdrv_get_dirty_count(bm), ==, 0);
    blk_unref(blk);

    /* And the other way: Strata's in-use flag is QEMU's. */
    g_assert_cmpint(run(&info, (const char *[]){ "qemu-img", "info", path,
                        NULL }), ==, 0);
    g_assert_nonnull(strstr(info, "[0]: in-use\n"));
    g_assert_nonnull(strstr(info, "[1]: auto\n"));
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    /*
     * A child of g_test_trap_subprocess (test_killed) works in its
     * parent's directory and never cleans up.  The variable is set before
     * any thread exists.
     */
    if (g_test_subprocess()) {
        tmpdir = g_strdup(g_getenv("STRATA_TEST_TMPDIR"));
    } else {
        tmpdir = g_dir_make_tmp("strata-test-XXXXXX", NULL);
        g_setenv("STRATA_TEST_TMPDIR", tmpdir, true);
    }
    bdrv_init();
    g_test_add_func("/qcow2-bitmap/round-trip", test_round_trip);
    g_test_add_func("/qcow2-bitmap/read-only", test_read_only);
    g_test_add_func("/qcow2-bitmap/killed", test_killed);
    g_test_add_func("/qcow2-bitmap/remove", test_remove);
    g_test_add_func("/qcow2-bitmap/can-store", test_can_store);
    g_test_add_func("/qcow2-bitmap/resize", test_resize);
    g_test_add_func("/qcow2-bitmap/reopen", test_reopen);
    g_test_add_func("/qcow2-bitmap/corrupt-directory",
                    test_corrupt_directory);
    g_test_add_func("/qcow2-bitmap/interop/strata-to-qemu",
                    test_interop_strata_to_qemu);
    g_test_add_func("/qcow2-bitmap/interop/qemu-to-strata",
                    test_interop_qemu_to_strata);
    g_test_add_func("/qcow2-bitmap/interop/qemu-killed",
                    test_interop_qemu_killed);
    ret = g_test_run();
    if (!g_test_subprocess()) {
        g_autoptr(GDir) dir = g_dir_open(tmpdir, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
            g_autofree char *p = g_build_filename(tmpdir, name, NULL);

            unlink(p);
        }
        rmdir(tmpdir);
    }
    g_free(tmpdir);
    return ret;
}

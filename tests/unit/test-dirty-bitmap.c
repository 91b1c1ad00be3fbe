/*
 * Unit tests for dirty bitmaps on block nodes: marking by writes, zero
 * writes and discards (never reads), states and their checks, successors.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "util/error.h"
#include "util/qdict.h"

static char *tmpdir;

static char *make_file(const char *name, int64_t size)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    return path;
}

/* A raw node "drive0" over a fresh file of @size bytes. */
static BlockBackend *open_raw(const char *name, int64_t size, int flags)
{
    g_autofree char *path = make_file(name, size);
    json_t *opts = json_object();

    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "node-name", "drive0");
    return blk_new_open(path, NULL, opts, flags, &error_abort);
}

static BlockBackend *open_qcow2(const char *name, int64_t size,
                                const char *create_opts)
{
    g_autofree char *path = g_build_filename(tmpdir, name, NULL);
    g_autofree char *o = g_strdup(create_opts);
    json_t *opts = json_object();
    Error *err = NULL;

    bdrv_img_create(path, "qcow2", NULL, NULL, o, size, 0, true, &err);
    g_assert_null(err);
    qdict_put_str(opts, "driver", "qcow2");
    return blk_new_open(path, NULL, opts, BDRV_O_RDWR, &error_abort);
}

/* The dirty extents as "start+len,..." (empty string if clean). */
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

    memset(buf, 0x5a, len);
    g_assert_cmpint(blk_pwrite(blk, off, len, buf, 0), ==, 0);
}

static void read_at(BlockBackend *blk, int64_t off, int64_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    g_assert_cmpint(blk_pread(blk, off, len, buf, 0), ==, 0);
}

/* ---- marking ---- */

static void test_writes_mark(void)
{
    BlockBackend *blk = open_raw("mark.raw", 4 * MiB,
                                 BDRV_O_RDWR | BDRV_O_UNMAP);
    BlockDriverState *bs = blk_bs(blk);
    BdrvDirtyBitmap *g64k, *g512, *off, *anon;

    g64k = bdrv_create_dirty_bitmap(bs, 64 * KiB, "g64k", &error_abort);
    g512 = bdrv_create_dirty_bitmap(bs, 512, "g512", &error_abort);
    off = bdrv_create_dirty_bitmap(bs, 4096, "off", &error_abort);
    anon = bdrv_create_dirty_bitmap(bs, 4096, NULL, &error_abort);
    bdrv_disable_dirty_bitmap(off);

    /* Reads never mark. */
    read_at(blk, 0, 1 * MiB);
    assert_extents(g64k, "");
    assert_extents(g512, "");

    /* A write marks every granule it touches. */
    write_at(blk, 4097, 1000);
    assert_extents(g512, "4096+1024");
    assert_extents(g64k, "0+65536");
    assert_extents(anon, "4096+4096");
    write_at(blk, 70000, 100000);
    assert_extents(g64k, "0+196608");
    assert_extents(g512, "4096+1024,69632+100864");

    /* Zero writes mark, with or without unmapping. */
    g_assert_cmpint(blk_pwrite_zeroes(blk, 1 * MiB, 4096, 0), ==, 0);
    g_assert_cmpint(blk_pwrite_zeroes(blk, 2 * MiB, 512,
                                      BDRV_REQ_MAY_UNMAP), ==, 0);
    assert_extents(g512, "4096+1024,69632+100864,1048576+4096,2097152+512");

    /* Discards mark too. */
    g_assert_cmpint(blk_pdiscard(blk, 3 * MiB, 64 * KiB), ==, 0);
    assert_extents(g64k, "0+196608,1048576+65536,2097152+65536,"
                   "3145728+65536");
    /* The last byte of the disk. */
    write_at(blk, 4 * MiB - 1, 1);
    g_assert_true(bdrv_dirty_bitmap_get(g512, 4 * MiB - 1));
    g_assert_cmpint(bdrv_get_dirty_count(g512), ==,
                    1024 + 100864 + 4096 + 512 + 65536 + 512);

    /* A disabled bitmap records nothing. */
    assert_extents(off, "");
    g_assert_false(bdrv_dirty_bitmap_recording(off));
    g_assert_true(bdrv_dirty_bitmap_recording(g64k));

    /* The file node below saw the same writes, but has its own bitmaps. */
    g_assert_null(bdrv_dirty_bitmap_first(bs->file->bs));

    bdrv_release_dirty_bitmap(anon);
    bdrv_release_dirty_bitmap(off);
    bdrv_release_dirty_bitmap(g512);
    bdrv_release_dirty_bitmap(g64k);
    blk_unref(blk);
}

/* Bitmaps on the protocol node record what the format writes there. */
static void test_marks_on_file_node(void)
{
    BlockBackend *blk = open_qcow2("filenode.qcow2", 8 * MiB,
                                   "cluster_size=65536");
    BlockDriverState *file = blk_bs(blk)->file->bs;
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(file, 64 * KiB, "f",
                                                   &error_abort);

    write_at(blk, 5 * MiB, 4096);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    /* A data cluster plus metadata (L2 table, refcounts) changed. */
    g_assert_cmpint(bdrv_get_dirty_count(bm), >=, 2 * 64 * KiB);
    bdrv_release_dirty_bitmap(bm);
    blk_unref(blk);
}

static void test_resize_follows(void)
{
    BlockBackend *blk = open_raw("resize.raw", 1 * MiB,
                                 BDRV_O_RDWR | BDRV_O_RESIZE);
    BlockDriverState *bs = blk_bs(blk);
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, 4096, "r",
                                                   &error_abort);

    write_at(blk, 1 * MiB - 4096, 4096);
    g_assert_cmpint(blk_truncate(blk, 2 * MiB, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(bdrv_dirty_bitmap_size(bm), ==, 2 * MiB);
    write_at(blk, 2 * MiB - 512, 512);
    assert_extents(bm, "1044480+4096,2093056+4096");
    g_assert_cmpint(blk_truncate(blk, 1 * MiB - 4096, false,
                                 PREALLOC_MODE_OFF, 0, &error_abort), ==, 0);
    g_assert_cmpint(bdrv_dirty_bitmap_size(bm), ==, 1 * MiB - 4096);
    assert_extents(bm, "");
    g_assert_cmpint(blk_truncate(blk, 1 * MiB, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    assert_extents(bm, "");
    bdrv_release_dirty_bitmap(bm);
    blk_unref(blk);
}

/* ---- creation, names, defaults ---- */

static void test_names(void)
{
    BlockBackend *blk = open_raw("names.raw", 1 * MiB, BDRV_O_RDWR);
    BlockDriverState *bs = blk_bs(blk);
    g_autofree char *long_name = g_strnfill(1024, 'a');
    BdrvDirtyBitmap *a, *b, *n1, *n2, *longest;
    Error *err = NULL;

    a = bdrv_create_dirty_bitmap(bs, 512, "a", &error_abort);
    g_assert_null(bdrv_create_dirty_bitmap(bs, 4096, "a", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap already exists: a");
    error_free(err);
    err = NULL;
    g_assert_null(bdrv_create_dirty_bitmap(bs, 4096, long_name, &err));
    g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                   "Bitmap name too long: aaaa"));
    g_assert_cmpuint(strlen(error_get_pretty(err)), ==, 22 + 1024);
    error_free(err);
    long_name[1023] = '\0';
    longest = bdrv_create_dirty_bitmap(bs, 4096, long_name, &error_abort);
    /* Anonymous bitmaps never clash. */
    n1 = bdrv_create_dirty_bitmap(bs, 4096, NULL, &error_abort);
    n2 = bdrv_create_dirty_bitmap(bs, 4096, NULL, &error_abort);
    b = bdrv_create_dirty_bitmap(bs, 1 * MiB, "b", &error_abort);

    g_assert_true(bdrv_find_dirty_bitmap(bs, "a") == a);
    g_assert_true(bdrv_find_dirty_bitmap(bs, "b") == b);
    g_assert_null(bdrv_find_dirty_bitmap(bs, "c"));
    g_assert_null(bdrv_dirty_bitmap_name(n1));
    g_assert_true(bdrv_dirty_bitmap_bs(b) == bs);
    g_assert_cmpuint(bdrv_dirty_bitmap_granularity(b), ==, 1 * MiB);
    g_assert_cmpint(bdrv_dirty_bitmap_size(b), ==, 1 * MiB);

    /* Newest first. */
    g_assert_true(bdrv_dirty_bitmap_first(bs) == b);
    g_assert_true(bdrv_dirty_bitmap_next(b) == n2);
    g_assert_true(bdrv_dirty_bitmap_next(n2) == n1);
    g_assert_true(bdrv_dirty_bitmap_next(n1) == longest);
    g_assert_true(bdrv_dirty_bitmap_next(longest) == a);
    g_assert_null(bdrv_dirty_bitmap_next(a));

    /* Closing the node frees what is left. */
    blk_unref(blk);
}

static void test_default_granularity(void)
{
    static const struct {
        const char *opts;
        uint32_t want;
    } cases[] = {
        { "cluster_size=512", 4096 },
        { "cluster_size=4096", 4096 },
        { "cluster_size=32768", 32768 },
        { "cluster_size=65536", 65536 },
        { "cluster_size=2097152", 65536 },
    };
    BlockBackend *blk;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        blk = open_qcow2("gran.qcow2", 1 * MiB, cases[i].opts);
        g_assert_cmpuint(bdrv_get_default_bitmap_granularity(blk_bs(blk)),
                         ==, cases[i].want);
        blk_unref(blk);
    }
    /* No cluster size: 64 KiB. */
    blk = open_raw("gran.raw", 1 * MiB, 0);
    g_assert_cmpuint(bdrv_get_default_bitmap_granularity(blk_bs(blk)), ==,
                     64 * KiB);
    blk_unref(blk);
}

/* ---- states and checks ---- */

static void expect_check(BdrvDirtyBitmap *bm, uint32_t flags,
                         const char *msg)
{
    Error *err = NULL;

    if (!msg) {
        g_assert_cmpint(bdrv_dirty_bitmap_check(bm, flags, &err), ==, 0);
        g_assert_null(err);
        return;
    }
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, flags, &err), ==, -1);
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free(err);
}

static void test_checks(void)
{
    BlockBackend *blk = open_raw("checks.raw", 1 * MiB, BDRV_O_RDWR);
    BlockDriverState *bs = blk_bs(blk);
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, 4096, "bm",
                                                   &error_abort);
    BdrvDirtyBitmap *ok = bdrv_create_dirty_bitmap(bs, 4096, "ok",
                                                   &error_abort);
    Error *err = NULL;

    expect_check(bm, BDRV_BITMAP_DEFAULT, NULL);

    bdrv_dirty_bitmap_set_busy(bm, true);
    g_assert_true(bdrv_dirty_bitmap_busy(bm));
    expect_check(bm, BDRV_BITMAP_DEFAULT, "Bitmap 'bm' is currently in use "
                 "by another operation and cannot be used");
    expect_check(bm, BDRV_BITMAP_RO, NULL);
    g_assert_false(bdrv_merge_dirty_bitmap(ok, bm, NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap 'bm' is currently in "
                    "use by another operation and cannot be used");
    error_free(err);
    err = NULL;
    bdrv_dirty_bitmap_set_busy(bm, false);

    bdrv_dirty_bitmap_set_readonly(bm, true);
    g_assert_true(bdrv_has_readonly_bitmaps(bs));
    expect_check(bm, BDRV_BITMAP_DEFAULT, "Bitmap 'bm' is readonly and "
                 "cannot be modified");
    expect_check(bm, BDRV_BITMAP_ALLOW_RO, NULL);
    /* A readonly bitmap is a fine merge source, not a target. */
    g_assert_true(bdrv_merge_dirty_bitmap(ok, bm, NULL, &error_abort));
    g_assert_false(bdrv_merge_dirty_bitmap(bm, ok, NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap 'bm' is readonly and "
                    "cannot be modified");
    error_free(err);
    err = NULL;
    /* Writes leave it alone. */
    write_at(blk, 0, 4096);
    g_assert_cmpint(bdrv_get_dirty_count(bm), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(ok), ==, 4096);
    bdrv_dirty_bitmap_set_readonly(bm, false);
    g_assert_false(bdrv_has_readonly_bitmaps(bs));

    bdrv_dirty_bitmap_set_persistence(bm, true);
    g_assert_true(bdrv_dirty_bitmap_get_persistence(bm));
    bdrv_dirty_bitmap_skip_store(bm, true);
    g_assert_false(bdrv_dirty_bitmap_get_persistence(bm));
    bdrv_dirty_bitmap_skip_store(bm, false);
    bdrv_dirty_bitmap_set_inconsistent(bm);
    g_assert_true(bdrv_dirty_bitmap_inconsistent(bm));
    g_assert_false(bdrv_dirty_bitmap_recording(bm));
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, &err),
                    ==, -1);
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap 'bm' is inconsistent "
                    "and cannot be used");
    g_assert_cmpstr(error_get_hint(err), ==, "Try block-dirty-bitmap-remove "
                    "to delete this bitmap from disk\n");
    error_free(err);
    /* Busy wins over the rest, readonly over inconsistent (QEMU's order). */
    bdrv_dirty_bitmap_set_readonly(bm, true);
    expect_check(bm, BDRV_BITMAP_DEFAULT, "Bitmap 'bm' is readonly and "
                 "cannot be modified");
    bdrv_dirty_bitmap_set_busy(bm, true);
    expect_check(bm, BDRV_BITMAP_DEFAULT, "Bitmap 'bm' is currently in use "
                 "by another operation and cannot be used");
    bdrv_dirty_bitmap_set_busy(bm, false);
    bdrv_dirty_bitmap_set_readonly(bm, false);
    blk_unref(blk);
}

static void test_clear_and_merge_undo(void)
{
    BlockBackend *blk = open_raw("undo.raw", 1 * MiB, BDRV_O_RDWR);
    BlockDriverState *bs = blk_bs(blk);
    BdrvDirtyBitmap *a = bdrv_create_dirty_bitmap(bs, 4096, "a",
                                                  &error_abort);
    BdrvDirtyBitmap *b = bdrv_create_dirty_bitmap(bs, 65536, "b",
                                                  &error_abort);
    HBitmap *backup = NULL;

    bdrv_set_dirty_bitmap(a, 0, 1);
    bdrv_set_dirty_bitmap(b, 512 * KiB, 1);
    assert_extents(a, "0+4096");

    /* Clear with undo. */
    bdrv_clear_dirty_bitmap(a, &backup);
    assert_extents(a, "");
    bdrv_set_dirty_bitmap(a, 8192, 1);
    bdrv_restore_dirty_bitmap(a, backup);
    assert_extents(a, "0+4096");
    bdrv_clear_dirty_bitmap(a, NULL);
    assert_extents(a, "");
    bdrv_set_dirty_bitmap(a, 0, 1);

    /* Merge (different granularities) with undo. */
    g_assert_true(bdrv_merge_dirty_bitmap(a, b, &backup, &error_abort));
    assert_extents(a, "0+4096,524288+65536");
    bdrv_restore_dirty_bitmap(a, backup);
    assert_extents(a, "0+4096");
    g_assert_true(bdrv_merge_dirty_bitmap(b, a, NULL, &error_abort));
    assert_extents(b, "0+65536,524288+65536");

    /* Reset clears the bits a range touches. */
    bdrv_reset_dirty_bitmap(b, 0, 65536);
    assert_extents(b, "524288+65536");
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(b, 0, INT64_MAX), ==,
                    524288);
    g_assert_cmpint(bdrv_dirty_bitmap_next_zero(b, 524288, INT64_MAX), ==,
                    589824);
    {
        int64_t n;

        g_assert_true(bdrv_dirty_bitmap_status(b, 530000, 100000, &n));
        g_assert_cmpint(n, ==, 589824 - 530000);
    }
    blk_unref(blk);
}

static void test_merge_sizes(void)
{
    BlockBackend *b1 = open_raw("m1.raw", 1 * MiB, BDRV_O_RDWR);
    g_autofree char *p2 = make_file("m2.raw", 2 * MiB);
    json_t *opts = json_object();
    BlockBackend *b2;
    BdrvDirtyBitmap *x, *y;
    Error *err = NULL;

    qdict_put_str(opts, "driver", "raw");
    b2 = blk_new_open(p2, NULL, opts, BDRV_O_RDWR, &error_abort);
    x = bdrv_create_dirty_bitmap(blk_bs(b1), 4096, "x", &error_abort);
    y = bdrv_create_dirty_bitmap(blk_bs(b2), 4096, "y", &error_abort);
    bdrv_set_dirty_bitmap(y, 0, 1);
    g_assert_false(bdrv_merge_dirty_bitmap(x, y, NULL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmaps are of different "
                    "sizes (destination size is 1048576, source size is "
                    "2097152) and can't be merged");
    error_free(err);
    assert_extents(x, "");
    blk_unref(b1);
    blk_unref(b2);
}

/* ---- successors ---- */

static void test_successor(void)
{
    BlockBackend *blk = open_raw("succ.raw", 1 * MiB, BDRV_O_RDWR);
    BlockDriverState *bs = blk_bs(blk);
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, 4096, "bm",
                                                   &error_abort);
    BdrvDirtyBitmap *succ, *res;
    Error *err = NULL;

    bdrv_dirty_bitmap_set_persistence(bm, true);
    write_at(blk, 0, 4096);

    g_assert_null(bdrv_dirty_bitmap_abdicate(bm, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Cannot relinquish control if "
                    "there's no successor present");
    error_free(err);
    err = NULL;
    g_assert_null(bdrv_reclaim_dirty_bitmap(bm, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Cannot reclaim a successor "
                    "when none is present");
    error_free(err);
    err = NULL;

    /* Frozen: busy, the successor records, the parent does not. */
    g_assert_cmpint(bdrv_dirty_bitmap_create_successor(bm, &error_abort), ==,
                    0);
    g_assert_true(bdrv_dirty_bitmap_busy(bm));
    g_assert_true(bdrv_dirty_bitmap_has_successor(bm));
    g_assert_false(bdrv_dirty_bitmap_enabled(bm));
    g_assert_true(bdrv_dirty_bitmap_recording(bm));
    succ = bdrv_dirty_bitmap_first(bs);
    g_assert_null(bdrv_dirty_bitmap_name(succ));
    g_assert_cmpint(bdrv_dirty_bitmap_create_successor(bm, &err), ==, -1);
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap 'bm' is currently in "
                    "use by another operation and cannot be used");
    error_free(err);
    err = NULL;

    write_at(blk, 8192, 4096);
    assert_extents(bm, "0+4096");
    assert_extents(succ, "8192+4096");

    /* Success: the successor takes over name and persistence. */
    res = bdrv_dirty_bitmap_abdicate(bm, &error_abort);
    g_assert_true(res == succ);
    g_assert_cmpstr(bdrv_dirty_bitmap_name(res), ==, "bm");
    g_assert_true(bdrv_dirty_bitmap_get_persistence(res));
    g_assert_false(bdrv_dirty_bitmap_busy(res));
    g_assert_true(bdrv_find_dirty_bitmap(bs, "bm") == res);
    assert_extents(res, "8192+4096");
    g_assert_true(bdrv_dirty_bitmap_first(bs) == res);
    g_assert_null(bdrv_dirty_bitmap_next(res));

    /* Failure: everything comes back, and recording as the successor. */
    bm = res;
    g_assert_cmpint(bdrv_dirty_bitmap_create_successor(bm, &error_abort), ==,
                    0);
    write_at(blk, 16384, 4096);
    res = bdrv_reclaim_dirty_bitmap(bm, &error_abort);
    g_assert_true(res == bm);
    g_assert_false(bdrv_dirty_bitmap_busy(bm));
    g_assert_true(bdrv_dirty_bitmap_enabled(bm));
    assert_extents(bm, "8192+4096,16384+4096");
    g_assert_null(bdrv_dirty_bitmap_next(bm));

    /* A disabled bitmap gets a disabled successor; jobs may enable it. */
    bdrv_disable_dirty_bitmap(bm);
    g_assert_cmpint(bdrv_dirty_bitmap_create_successor(bm, &error_abort), ==,
                    0);
    g_assert_false(bdrv_dirty_bitmap_recording(bm));
    bdrv_dirty_bitmap_enable_successor(bm);
    g_assert_true(bdrv_dirty_bitmap_recording(bm));
    write_at(blk, 32768, 512);
    res = bdrv_reclaim_dirty_bitmap(bm, &error_abort);
    g_assert_true(bdrv_dirty_bitmap_enabled(res));
    assert_extents(res, "8192+4096,16384+4096,32768+4096");
    blk_unref(blk);
}

/* Backup's bitmap modes at the end of a job. */
static void test_sync_modes(void)
{
    static const struct {
        BitmapSyncMode mode;
        int ret;
        const char *want;
    } cases[] = {
        /* bits at start: 0; written during the job: 64K; not copied: 128K */
        { BITMAP_SYNC_MODE_ON_SUCCESS, 0, "65536+4096" },
        { BITMAP_SYNC_MODE_ON_SUCCESS, -EIO, "0+4096,65536+4096" },
        { BITMAP_SYNC_MODE_NEVER, 0, "0+4096,65536+4096" },
        { BITMAP_SYNC_MODE_NEVER, -EIO, "0+4096,65536+4096" },
        { BITMAP_SYNC_MODE_ALWAYS, 0, "65536+4096" },
        { BITMAP_SYNC_MODE_ALWAYS, -EIO, "65536+4096,131072+4096" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        BlockBackend *blk = open_raw("sync.raw", 1 * MiB, BDRV_O_RDWR);
        BlockDriverState *bs = blk_bs(blk);
        BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, 4096, "bm",
                                                       &error_abort);
        BdrvDirtyBitmap *copy, *res;

        write_at(blk, 0, 4096);
        g_assert_cmpint(bdrv_dirty_bitmap_create_successor(bm, &error_abort),
                        ==, 0);
        copy = bdrv_create_dirty_bitmap(bs, 4096, NULL, &error_abort);
        bdrv_disable_dirty_bitmap(copy);
        bdrv_set_dirty_bitmap(copy, 128 * KiB, 1);
        write_at(blk, 64 * KiB, 4096);
        res = bdrv_dirty_bitmap_sync_end(bm, cases[i].mode, cases[i].ret,
                                         copy);
        g_assert_cmpstr(bdrv_dirty_bitmap_name(res), ==, "bm");
        g_assert_false(bdrv_dirty_bitmap_busy(res));
        assert_extents(res, cases[i].want);
        bdrv_release_dirty_bitmap(copy);
        blk_unref(blk);
    }
}

/* ---- persistence hooks and queries ---- */

static void test_can_store_raw(void)
{
    BlockBackend *blk = open_raw("store.raw", 1 * MiB, BDRV_O_RDWR);
    Error *err = NULL;

    g_assert_false(bdrv_supports_persistent_dirty_bitmap(blk_bs(blk)));
    g_assert_false(bdrv_can_store_new_dirty_bitmap(blk_bs(blk), "x", 65536,
                                                   &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Can't store persistent "
                    "bitmaps to drive0: Operation not supported");
    error_free(err);
    g_assert_cmpint(bdrv_remove_persistent_dirty_bitmap(blk_bs(blk), "x",
                                                        &error_abort), ==, 0);
    blk_unref(blk);
}

static void test_query(void)
{
    BlockBackend *blk = open_raw("query.raw", 1 * MiB, BDRV_O_RDWR);
    BlockDriverState *bs = blk_bs(blk);
    BdrvDirtyBitmap *p = bdrv_create_dirty_bitmap(bs, 65536, "p",
                                                  &error_abort);
    BdrvDirtyBitmap *d = bdrv_create_dirty_bitmap(bs, 512, "d",
                                                  &error_abort);
    BdrvDirtyBitmap *anon = bdrv_create_dirty_bitmap(bs, 4096, NULL,
                                                     &error_abort);
    BlockDirtyInfoList *list, *l;

    g_assert_null(bdrv_query_dirty_bitmaps(blk_bs(blk)->file->bs));
    bdrv_dirty_bitmap_set_persistence(p, true);
    bdrv_dirty_bitmap_set_inconsistent(p);
    bdrv_disable_dirty_bitmap(d);
    bdrv_set_dirty_bitmap(d, 1000, 1);
    bdrv_dirty_bitmap_set_busy(anon, true);

    list = bdrv_query_dirty_bitmaps(bs);
    l = list;
    /* The anonymous one (newest) is listed without a name. */
    g_assert_false(l->value->has_name);
    g_assert_true(l->value->busy);
    g_assert_true(l->value->recording);
    g_assert_cmpuint(l->value->granularity, ==, 4096);
    g_assert_false(l->value->has_inconsistent);
    l = l->next;
    g_assert_cmpstr(l->value->name, ==, "d");
    g_assert_cmpint(l->value->count, ==, 512);
    g_assert_false(l->value->recording);
    g_assert_false(l->value->persistent);
    l = l->next;
    g_assert_cmpstr(l->value->name, ==, "p");
    g_assert_true(l->value->persistent);
    g_assert_true(l->value->has_inconsistent && l->value->inconsistent);
    g_assert_false(l->value->recording);
    g_assert_cmpint(l->value->count, ==, 0);
    g_assert_null(l->next);
    qapi_free_BlockDirtyInfoList(list);

    bdrv_dirty_bitmap_set_busy(anon, false);
    blk_unref(blk);
}

/* The hash of a bitmap built by writes matches QEMU's for the same writes. */
static void test_sha256(void)
{
    BlockBackend *blk = open_raw("sha.raw", 64 * MiB,
                                 BDRV_O_RDWR | BDRV_O_UNMAP);
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(blk_bs(blk), 4096, "h",
                                                   &error_abort);
    g_autofree char *hash = NULL;

    write_at(blk, 0, 1);
    write_at(blk, 70000, 100000);
    write_at(blk, 33554432, 4096);
    g_assert_cmpint(blk_pwrite_zeroes(blk, 60 * MiB, 1 * MiB, 0), ==, 0);
    g_assert_cmpint(blk_pdiscard(blk, 10 * MiB, 64 * KiB), ==, 0);
    write_at(blk, 67108863, 1);
    g_assert_cmpint(bdrv_get_dirty_count(bm), ==, 1228800);
    /* Debian's qemu-storage-daemon 7.2 after the same qemu-io writes. */
    hash = bdrv_dirty_bitmap_sha256(bm, &error_abort);
    g_assert_cmpstr(hash, ==, "cf0eb28cb967ba49e0222b235750e90faac7b6373fb9"
                    "a38bf29a733395234659");
    blk_unref(blk);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    bdrv_init();
    tmpdir = g_dir_make_tmp("strata-test-XXXXXX", NULL);
    g_test_add_func("/dirty-bitmap/writes-mark", test_writes_mark);
    g_test_add_func("/dirty-bitmap/marks-on-file-node",
                    test_marks_on_file_node);
    g_test_add_func("/dirty-bitmap/resize-follows", test_resize_follows);
    g_test_add_func("/dirty-bitmap/names", test_names);
    g_test_add_func("/dirty-bitmap/default-granularity",
                    test_default_granularity);
    g_test_add_func("/dirty-bitmap/checks", test_checks);
    g_test_add_func("/dirty-bitmap/clear-and-merge-undo",
                    test_clear_and_merge_undo);
    g_test_add_func("/dirty-bitmap/merge-sizes", test_merge_sizes);
    g_test_add_func("/dirty-bitmap/successor", test_successor);
    g_test_add_func("/dirty-bitmap/sync-modes", test_sync_modes);
    g_test_add_func("/dirty-bitmap/can-store-raw", test_can_store_raw);
    g_test_add_func("/dirty-bitmap/query", test_query);
    g_test_add_func("/dirty-bitmap/sha256", test_sha256);
    ret = g_test_run();
    {
        g_autoptr(GDir) dir = g_dir_open(tmpdir, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
            g_autofree char *p = g_build_filename(tmpdir, name, NULL);

            unlink(p);
        }
    }
    rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}

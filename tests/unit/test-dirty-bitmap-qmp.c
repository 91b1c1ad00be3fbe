/*
 * Unit tests for the bitmap commands' prepare / commit / abort steps
 * (block/dirty-bitmap-qmp.c): what each leaves behind, undo in reverse
 * order, failures that change nothing, the dispatch on action kinds.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/block_int.h"
#include "block/dirty-bitmap-qmp.h"
#include "qapi/qapi-commands.h"
#include "util/error.h"
#include "util/qdict.h"

static char *tmpdir;
static int image_count;

/* A qcow2 v3 node "drive0" of 4 MiB (persistent bitmaps allowed). */
static BlockBackend *open_drive(void)
{
    g_autofree char *path = g_strdup_printf("%s/t%d.qcow2", tmpdir,
                                            image_count++);
    json_t *opts = json_object();
    Error *err = NULL;

    bdrv_img_create(path, "qcow2", NULL, NULL, NULL, 4 * MiB, 0, true,
                    &err);
    g_assert_null(err);
    qdict_put_str(opts, "driver", "qcow2");
    qdict_put_str(opts, "node-name", "drive0");
    return blk_new_open(path, NULL, opts, BDRV_O_RDWR, &error_abort);
}

static void write_at(BlockBackend *blk, int64_t off, int64_t len)
{
    g_autofree uint8_t *buf = g_malloc0(len);

    g_assert_cmpint(blk_pwrite(blk, off, len, buf, 0), ==, 0);
}

static BdrvDirtyBitmap *find(const char *name)
{
    return bdrv_find_dirty_bitmap(bdrv_find_node("drive0"), name);
}

static void add(const char *name, bool persistent, bool disabled)
{
    qmp_block_dirty_bitmap_add("drive0", name, false, 0, true, persistent,
                               true, disabled, &error_abort);
}

/* The dirty extents as "start+len,..." (empty if clean). */
static char *extents(const char *name)
{
    GString *s = g_string_new("");
    int64_t off = 0, start, len;

    while (bdrv_dirty_bitmap_next_dirty_area(find(name), off, INT64_MAX,
                                             INT64_MAX, &start, &len)) {
        g_string_append_printf(s, "%s%" PRId64 "+%" PRId64,
                               s->len ? "," : "", start, len);
        off = start + len;
    }
    return g_string_free(s, false);
}

#define assert_extents(name, want) do { \
        g_autofree char *got_ = extents(name); \
        g_assert_cmpstr(got_, ==, (want)); \
    } while (0)

static BlockDirtyBitmap *args(const char *name)
{
    BlockDirtyBitmap *a = g_new0(BlockDirtyBitmap, 1);

    a->node = g_strdup("drive0");
    a->name = g_strdup(name);
    return a;
}

/* ---- tests ---- */

static void test_abort_each(void)
{
    BlockBackend *blk = open_drive();
    BlockDirtyBitmapAdd add_args = { .node = (char *)"drive0",
                                     .name = (char *)"new" };
    g_autoptr(BlockDirtyBitmap) a0 = args("b0");
    g_autoptr(BlockDirtyBitmap) aoff = args("off");
    BlockDirtyBitmapOrStr src = { .type = QTYPE_QSTRING,
                                  .u.local = (char *)"b0" };
    BlockDirtyBitmapOrStrList srcs = { .value = &src };
    BlockDirtyBitmapMerge merge_args = { .node = (char *)"drive0",
                                         .target = (char *)"off",
                                         .bitmaps = &srcs };
    BitmapActionState *s;

    add("b0", true, false);
    add("off", false, true);
    write_at(blk, 0, 4096);
    write_at(blk, 2 * MiB, 1);

    s = bitmap_add_prepare(&add_args, &error_abort);
    g_assert_nonnull(find("new"));
    bitmap_action_abort(s);
    g_assert_null(find("new"));

    s = bitmap_clear_prepare(a0, &error_abort);
    assert_extents("b0", "");
    bitmap_action_abort(s);
    assert_extents("b0", "0+65536,2097152+65536");

    s = bitmap_enable_prepare(aoff, &error_abort);
    g_assert_true(bdrv_dirty_bitmap_enabled(find("off")));
    bitmap_action_abort(s);
    g_assert_false(bdrv_dirty_bitmap_enabled(find("off")));

    s = bitmap_disable_prepare(a0, &error_abort);
    g_assert_false(bdrv_dirty_bitmap_enabled(find("b0")));
    bitmap_action_abort(s);
    g_assert_true(bdrv_dirty_bitmap_enabled(find("b0")));

    s = bitmap_merge_prepare(&merge_args, &error_abort);
    assert_extents("off", "0+65536,2097152+65536");
    bitmap_action_abort(s);
    assert_extents("off", "");

    /* Removal: hidden from storing and busy until the end. */
    s = bitmap_remove_prepare(a0, &error_abort);
    g_assert_true(bdrv_dirty_bitmap_busy(find("b0")));
    g_assert_false(bdrv_dirty_bitmap_get_persistence(find("b0")));
    bitmap_action_abort(s);
    g_assert_false(bdrv_dirty_bitmap_busy(find("b0")));
    g_assert_true(bdrv_dirty_bitmap_get_persistence(find("b0")));
    assert_extents("b0", "0+65536,2097152+65536");

    blk_unref(blk);
}

static void test_commit_each(void)
{
    BlockBackend *blk = open_drive();
    g_autoptr(BlockDirtyBitmap) a0 = args("b0");
    g_autoptr(BlockDirtyBitmap) a1 = args("b1");

    add("b0", true, false);
    add("b1", false, false);
    write_at(blk, MiB, 512);
    bitmap_action_commit(bitmap_clear_prepare(a0, &error_abort));
    assert_extents("b0", "");
    assert_extents("b1", "1048576+65536");
    bitmap_action_commit(bitmap_disable_prepare(a1, &error_abort));
    write_at(blk, 0, 512);
    assert_extents("b1", "1048576+65536");
    assert_extents("b0", "0+65536");
    bitmap_action_commit(bitmap_remove_prepare(a1, &error_abort));
    g_assert_null(find("b1"));
    blk_unref(blk);
}

/*
 * Add, merge, clear, merge, disable one bitmap and undo it all in
 * reverse order (as the transaction does); then the same with commits.
 */
static void test_reverse_undo(void)
{
    BlockBackend *blk = open_drive();
    BlockDirtyBitmapAdd add_args = { .node = (char *)"drive0",
                                     .name = (char *)"tmp",
                                     .has_granularity = true,
                                     .granularity = 4096 };
    BlockDirtyBitmapOrStr src = { .type = QTYPE_QSTRING,
                                  .u.local = (char *)"b0" };
    BlockDirtyBitmapOrStrList srcs = { .value = &src };
    BlockDirtyBitmapMerge merge_args = { .node = (char *)"drive0",
                                         .target = (char *)"tmp",
                                         .bitmaps = &srcs };
    g_autoptr(BlockDirtyBitmap) tmp = args("tmp");

    add("b0", false, false);
    write_at(blk, 3 * MiB, 512);
    for (int pass = 0; pass < 2; pass++) {
        BitmapActionState *s[5];

        s[0] = bitmap_add_prepare(&add_args, &error_abort);
        s[1] = bitmap_merge_prepare(&merge_args, &error_abort);
        s[2] = bitmap_clear_prepare(tmp, &error_abort);
        s[3] = bitmap_merge_prepare(&merge_args, &error_abort);
        s[4] = bitmap_disable_prepare(tmp, &error_abort);
        assert_extents("tmp", "3145728+65536");
        if (pass == 0) {
            for (int i = 4; i >= 0; i--) {
                bitmap_action_abort(s[i]);
            }
            g_assert_null(find("tmp"));
        } else {
            for (int i = 0; i < 5; i++) {
                bitmap_action_commit(s[i]);
            }
            g_assert_false(bdrv_dirty_bitmap_enabled(find("tmp")));
            assert_extents("tmp", "3145728+65536");
        }
    }
    blk_unref(blk);
}

/* A prepare that fails returns NULL and leaves everything as it was. */
static void test_failures_change_nothing(void)
{
    BlockBackend *blk = open_drive();
    BlockDirtyBitmapOrStr good = { .type = QTYPE_QSTRING,
                                   .u.local = (char *)"b1" };
    BlockDirtyBitmapOrStr bad = { .type = QTYPE_QDICT,
                                  .u.external = { .node = (char *)"drive0",
                                                  .name = (char *)"nope" } };
    BlockDirtyBitmapOrStrList l2 = { .value = &bad };
    BlockDirtyBitmapOrStrList l1 = { .next = &l2, .value = &good };
    BlockDirtyBitmapMerge merge_args = { .node = (char *)"drive0",
                                         .target = (char *)"b0",
                                         .bitmaps = &l1 };
    BlockDirtyBitmapAdd bad_gran = { .node = (char *)"drive0",
                                     .name = (char *)"g",
                                     .has_granularity = true,
                                     .granularity = 3000 };
    g_autoptr(BlockDirtyBitmap) nope = args("nope");
    g_autoptr(BlockDirtyBitmap) a1 = args("b1");
    Error *err = NULL;

    add("b0", false, true);
    add("b1", false, false);
    write_at(blk, 0, 1);

    g_assert_null(bitmap_merge_prepare(&merge_args, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Dirty bitmap 'nope' not found");
    error_free(g_steal_pointer(&err));
    assert_extents("b0", "");

    g_assert_null(bitmap_add_prepare(&bad_gran, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Granularity must be power of 2 and at least 512");
    error_free(g_steal_pointer(&err));
    g_assert_null(find("g"));

    g_assert_null(bitmap_clear_prepare(nope, &err));
    error_free(g_steal_pointer(&err));

    /* Busy while being removed: a second removal fails, undo restores. */
    {
        BitmapActionState *s = bitmap_remove_prepare(a1, &error_abort);

        g_assert_null(bitmap_remove_prepare(a1, &err));
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "Bitmap 'b1' is currently in use by another "
                        "operation and cannot be used");
        error_free(g_steal_pointer(&err));
        bitmap_action_abort(s);
        assert_extents("b1", "0+65536");
    }
    blk_unref(blk);
}

static void test_dispatch(void)
{
    BlockBackend *blk = open_drive();
    BlockDirtyBitmapAdd add_args = { .node = (char *)"drive0",
                                     .name = (char *)"d" };
    BlockDirtyBitmapAddWrapper wrap = { .data = &add_args };
    TransactionAction action = {
        .type = TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ADD,
        .u.block_dirty_bitmap_add = wrap,
    };

    for (int k = 0; k < TRANSACTION_ACTION_KIND__MAX; k++) {
        bool bitmap = k >= TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ADD &&
                      k <= TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_MERGE;

        g_assert_cmpint(bitmap_action_kind_is_bitmap(k), ==, bitmap);
    }
    bitmap_action_commit(bitmap_action_prepare(&action, &error_abort));
    g_assert_nonnull(find("d"));
    blk_unref(blk);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    bdrv_init();
    tmpdir = g_dir_make_tmp("test-dirty-bitmap-qmp-XXXXXX", NULL);
    g_test_add_func("/dirty-bitmap-qmp/abort-each", test_abort_each);
    g_test_add_func("/dirty-bitmap-qmp/commit-each", test_commit_each);
    g_test_add_func("/dirty-bitmap-qmp/reverse-undo", test_reverse_undo);
    g_test_add_func("/dirty-bitmap-qmp/failures-change-nothing",
                    test_failures_change_nothing);
    g_test_add_func("/dirty-bitmap-qmp/dispatch", test_dispatch);
    ret = g_test_run();
    for (int i = 0; i < image_count; i++) {
        g_autofree char *path = g_strdup_printf("%s/t%d.qcow2", tmpdir, i);

        unlink(path);
    }
    rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}

/*
 * Unit tests for the block core over the file and raw drivers: open,
 * read/write with and without alignment, zero writes, discard, block
 * status, truncate, probing, image locking and the null driver.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/block_int.h"
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

static BlockBackend *open_raw(const char *path, int flags, const char *aio,
                              Error **errp)
{
    json_t *opts = json_object();

    qdict_put_str(opts, "driver", "raw");
    if (aio) {
        qdict_put_str(opts, "file.aio", aio);
    }
    return blk_new_open(path, NULL, opts, flags, errp);
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 7);
    }
}

static void check_rw(const char *aio, int flags)
{
    g_autofree char *path = make_file("rw.raw", 1 * MiB);
    BlockBackend *blk = open_raw(path, BDRV_O_RDWR | flags, aio,
                                 &error_abort);
    uint8_t *wbuf = blk_blockalign(blk, 128 * KiB);
    uint8_t *rbuf = blk_blockalign(blk, 128 * KiB);

    g_assert_cmpint(blk_getlength(blk), ==, 1 * MiB);
    fill(wbuf, 128 * KiB, 3);
    g_assert_cmpint(blk_pwrite(blk, 64 * KiB, 128 * KiB, wbuf, 0), ==, 0);
    memset(rbuf, 0xff, 128 * KiB);
    g_assert_cmpint(blk_pread(blk, 64 * KiB, 128 * KiB, rbuf, 0), ==, 0);
    g_assert_cmpmem(wbuf, 128 * KiB, rbuf, 128 * KiB);

    /* Unaligned write and read (padding / read-modify-write paths). */
    fill(wbuf, 1000, 99);
    g_assert_cmpint(blk_pwrite(blk, 4097, 1000, wbuf, 0), ==, 0);
    g_assert_cmpint(blk_pread(blk, 4097, 1000, rbuf, 0), ==, 0);
    g_assert_cmpmem(wbuf, 1000, rbuf, 1000);
    g_assert_cmpint(blk_pread(blk, 4096, 1, rbuf, 0), ==, 0);
    g_assert_cmpint(rbuf[0], ==, 0);

    /* Past the end is refused by the backend. */
    g_assert_cmpint(blk_pread(blk, 1 * MiB - 10, 20, rbuf, 0), ==, -EIO);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    qemu_vfree(wbuf);
    qemu_vfree(rbuf);
    blk_unref(blk);
    unlink(path);
}

static void test_rw_threads(void)
{
    check_rw("threads", 0);
}

static void test_rw_io_uring(void)
{
    check_rw("io_uring", 0);
}

static void test_rw_native_direct(void)
{
    check_rw("native", BDRV_O_NOCACHE);
}

static void test_rw_io_uring_direct(void)
{
    check_rw("io_uring", BDRV_O_NOCACHE);
}

static void test_native_requires_direct(void)
{
    g_autofree char *path = make_file("native.raw", 64 * KiB);
    Error *err = NULL;
    BlockBackend *blk = open_raw(path, BDRV_O_RDWR, "native", &err);

    g_assert_null(blk);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "aio=native was specified, but it requires "
                    "cache.direct=on, which was not specified.");
    error_free(err);
}

static void test_zero_discard_status(void)
{
    g_autofree char *path = make_file("status.raw", 1 * MiB);
    BlockBackend *blk = open_raw(path, BDRV_O_RDWR | BDRV_O_UNMAP, NULL,
                                 &error_abort);
    BlockDriverState *bs = blk_bs(blk);
    uint8_t *buf = blk_blockalign(blk, 256 * KiB);
    int64_t pnum, map;
    BlockDriverState *file;
    int ret;

    memset(buf, 0xab, 256 * KiB);
    g_assert_cmpint(blk_pwrite(blk, 256 * KiB, 256 * KiB, buf, 0), ==, 0);
    g_assert_cmpint(blk_flush(blk), ==, 0);

    ret = bdrv_block_status_above(bs, NULL, 0, 1 * MiB, &pnum, &map, &file);
    g_assert_cmpint(ret & (BDRV_BLOCK_ZERO | BDRV_BLOCK_DATA), ==,
                    BDRV_BLOCK_ZERO);
    g_assert_cmpint(pnum, ==, 256 * KiB);
    ret = bdrv_block_status_above(bs, NULL, 256 * KiB, 1 * MiB, &pnum, &map,
                                  &file);
    g_assert_true(ret & BDRV_BLOCK_DATA);
    g_assert_true(ret & BDRV_BLOCK_OFFSET_VALID);
    g_assert_cmpint(map, ==, 256 * KiB);
    g_assert_cmpint(pnum, ==, 256 * KiB);

    /* Unaligned zero write keeps the neighbours. */
    g_assert_cmpint(blk_pwrite_zeroes(blk, 256 * KiB + 100, 1000, 0), ==, 0);
    g_assert_cmpint(blk_pread(blk, 256 * KiB, 2048, buf, 0), ==, 0);
    g_assert_cmpint(buf[99], ==, 0xab);
    g_assert_cmpint(buf[100], ==, 0);
    g_assert_cmpint(buf[1099], ==, 0);
    g_assert_cmpint(buf[1100], ==, 0xab);

    /* Discard punches a hole. */
    g_assert_cmpint(blk_pdiscard(blk, 384 * KiB, 128 * KiB), ==, 0);
    ret = bdrv_block_status_above(bs, NULL, 384 * KiB, 128 * KiB, &pnum,
                                  NULL, NULL);
    g_assert_true(ret & BDRV_BLOCK_ZERO);
    g_assert_cmpint(blk_pread(blk, 384 * KiB, 4096, buf, 0), ==, 0);
    g_assert_true(buf[0] == 0 && buf[4095] == 0);

    qemu_vfree(buf);
    blk_unref(blk);
    unlink(path);
}

static void test_truncate(void)
{
    g_autofree char *path = make_file("trunc.raw", 64 * KiB);
    BlockBackend *blk = open_raw(path, BDRV_O_RDWR | BDRV_O_RESIZE, NULL,
                                 &error_abort);
    struct stat st;

    g_assert_cmpint(blk_truncate(blk, 3 * MiB, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_getlength(blk), ==, 3 * MiB);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 3 * MiB);
    g_assert_cmpint(blk_truncate(blk, 4 * MiB, false, PREALLOC_MODE_FULL, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_blocks * 512, >=, 1 * MiB);
    blk_unref(blk);
    unlink(path);
}

static void test_read_only(void)
{
    g_autofree char *path = make_file("ro.raw", 64 * KiB);
    BlockBackend *blk = open_raw(path, 0, NULL, &error_abort);
    uint8_t buf[512] = { 0 };

    g_assert_true(blk_is_read_only(blk));
    g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, 0), ==, -EPERM);
    blk_unref(blk);
    unlink(path);
}

static void test_reopen(void)
{
    g_autofree char *path = make_file("reopen.raw", 64 * KiB);
    BlockBackend *blk = open_raw(path, 0, NULL, &error_abort);
    BlockDriverState *bs = blk_bs(blk);
    uint8_t buf[512];
    uint64_t perm, shared;

    memset(buf, 0x3c, sizeof(buf));
    g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, 0), ==, -EPERM);
    g_assert_cmpint(bdrv_reopen_set_read_only(bs, false, &error_abort), ==,
                    0);
    g_assert_false(bdrv_is_read_only(bs));
    g_assert_false(bdrv_is_read_only(bs->file->bs));
    blk_get_perm(blk, &perm, &shared);
    g_assert_cmpint(blk_set_perm(blk, perm | BLK_PERM_WRITE, shared,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, 0), ==, 0);
    /* As in QEMU, a node with a writer cannot become read-only... */
    {
        Error *err = NULL;

        g_assert_cmpint(bdrv_reopen_set_read_only(bs, true, &err), ==,
                        -EPERM);
        g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                       "Read-only block node '"));
        g_assert_true(g_str_has_suffix(error_get_pretty(err),
                                       "' cannot support read-write users"));
        error_free(err);
        g_assert_false(bdrv_is_read_only(bs));
    }
    /* ...until the writer gives up its write permission. */
    g_assert_cmpint(blk_set_perm(blk, perm, shared, &error_abort), ==, 0);
    g_assert_cmpint(bdrv_reopen_set_read_only(bs, true, &error_abort), ==, 0);
    g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, 0), ==, -EPERM);
    memset(buf, 0, sizeof(buf));
    g_assert_cmpint(blk_pread(blk, 0, 512, buf, 0), ==, 0);
    g_assert_cmpint(buf[511], ==, 0x3c);
    blk_unref(blk);
    unlink(path);
}

static void test_locking(void)
{
    g_autofree char *path = make_file("lock.raw", 64 * KiB);
    json_t *opts = json_object();
    BlockBackend *writer, *other;
    Error *err = NULL;

    /* A user that does not share write access (like a guest device). */
    qdict_put_str(opts, "driver", "raw");
    writer = blk_new_open(path, NULL, opts, BDRV_O_RDWR | BDRV_O_NO_SHARE,
                          &error_abort);
    /* A second writer is refused: the first does not share "write". */
    opts = json_object();
    qdict_put_str(opts, "driver", "raw");
    other = blk_new_open(path, NULL, opts, BDRV_O_RDWR, &err);
    g_assert_null(other);
    g_assert_cmpstr(error_get_pretty(err), ==, "Failed to get \"write\" lock");
    g_assert_nonnull(strstr(error_get_hint(err), "Is another process using"));
    error_free(err);
    err = NULL;
    /* A reader that wants nobody to write is refused too. */
    opts = json_object();
    qdict_put_str(opts, "driver", "raw");
    other = blk_new_open(path, NULL, opts, BDRV_O_NO_SHARE, &err);
    g_assert_null(other);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Failed to get shared \"write\" lock");
    error_free(err);
    /* force-share reads whatever others do. */
    opts = json_object();
    qdict_put_str(opts, "driver", "raw");
    qdict_put_bool(opts, "force-share", true);
    other = blk_new_open(path, NULL, opts, 0, &error_abort);
    blk_unref(other);
    blk_unref(writer);
    /* Once the writer is gone, a second writer succeeds. */
    opts = json_object();
    qdict_put_str(opts, "driver", "raw");
    other = blk_new_open(path, NULL, opts, BDRV_O_RDWR, &error_abort);
    blk_unref(other);
    unlink(path);
}

static void test_probe_raw(void)
{
    g_autofree char *path = make_file("probe.raw", 64 * KiB);
    BlockBackend *blk = blk_new_open(path, NULL, NULL, 0, &error_abort);

    g_assert_cmpstr(bdrv_get_format_name(blk_bs(blk)), ==, "raw");
    g_assert_true(blk_bs(blk)->probed);
    blk_unref(blk);
    unlink(path);
}

static void test_unknown_option(void)
{
    g_autofree char *path = make_file("opt.raw", 64 * KiB);
    json_t *opts = json_object();
    Error *err = NULL;
    BlockBackend *blk;

    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "foo", "bar");
    blk = blk_new_open(path, NULL, opts, 0, &err);
    g_assert_null(blk);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Block format 'raw' does not support the option 'foo'");
    error_free(err);
    err = NULL;
    opts = json_object();
    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file.bar", "x");
    blk = blk_new_open(path, NULL, opts, 0, &err);
    g_assert_null(blk);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Block protocol 'file' doesn't support the option 'bar'");
    error_free(err);
    unlink(path);
}

static void test_missing_file(void)
{
    Error *err = NULL;
    BlockBackend *blk = blk_new_open("/nonexistent/x.raw", NULL, NULL, 0,
                                     &err);

    g_assert_null(blk);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not open '/nonexistent/x.raw': No such file or "
                    "directory");
    error_free(err);
}

static void test_null_co(void)
{
    json_t *opts = json_object();
    BlockBackend *blk;
    uint8_t buf[4096];

    qdict_put_str(opts, "driver", "null-co");
    qdict_put_str(opts, "size", "1M");
    qdict_put_bool(opts, "read-zeroes", true);
    blk = blk_new_open(NULL, NULL, opts, BDRV_O_RDWR, &error_abort);
    g_assert_cmpint(blk_getlength(blk), ==, 1 * MiB);
    memset(buf, 1, sizeof(buf));
    g_assert_cmpint(blk_pread(blk, 0, sizeof(buf), buf, 0), ==, 0);
    g_assert_true(buf[0] == 0 && buf[4095] == 0);
    g_assert_cmpint(blk_pwrite(blk, 0, sizeof(buf), buf, 0), ==, 0);
    blk_unref(blk);
}

static void test_json_filename(void)
{
    g_autofree char *path = make_file("json.raw", 128 * KiB);
    g_autofree char *fn = g_strdup_printf(
        "json:{\"driver\": \"raw\", \"offset\": 65536, "
        "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}", path);
    BlockBackend *blk = blk_new_open(fn, NULL, NULL, 0, &error_abort);

    g_assert_cmpint(blk_getlength(blk), ==, 64 * KiB);
    blk_unref(blk);
    unlink(path);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    bdrv_init();
    tmpdir = g_dir_make_tmp("strata-test-XXXXXX", NULL);
    g_test_add_func("/block-raw/rw-threads", test_rw_threads);
    g_test_add_func("/block-raw/rw-io-uring", test_rw_io_uring);
    g_test_add_func("/block-raw/rw-native-direct", test_rw_native_direct);
    g_test_add_func("/block-raw/rw-io-uring-direct", test_rw_io_uring_direct);
    g_test_add_func("/block-raw/native-requires-direct",
                    test_native_requires_direct);
    g_test_add_func("/block-raw/zero-discard-status",
                    test_zero_discard_status);
    g_test_add_func("/block-raw/truncate", test_truncate);
    g_test_add_func("/block-raw/read-only", test_read_only);
    g_test_add_func("/block-raw/locking", test_locking);
    g_test_add_func("/block-raw/reopen", test_reopen);
    g_test_add_func("/block-raw/probe-raw", test_probe_raw);
    g_test_add_func("/block-raw/unknown-option", test_unknown_option);
    g_test_add_func("/block-raw/missing-file", test_missing_file);
    g_test_add_func("/block-raw/null-co", test_null_co);
    g_test_add_func("/block-raw/json-filename", test_json_filename);
    ret = g_test_run();
    rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}

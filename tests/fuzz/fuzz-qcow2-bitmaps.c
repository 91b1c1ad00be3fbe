/*
 * Fuzz target: a qcow2 image (in a memfd, so nothing outside the process
 * is touched) opened read-only and read-write, so that the bitmaps
 * extension, directory and tables are parsed, loaded, listed as
 * format-specific info, hashed, marked in use and stored again.  The
 * corpus holds small images (512-byte clusters) with bitmaps.
 */
#include "strata/osdep.h"
#include <sys/mman.h>
#include "block/block-backend.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "block/qapi-info.h"
#include "util/aio.h"
#include "util/error.h"
#include "util/qdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Everything a user can see of the loaded bitmaps. */
static void walk_bitmaps(BlockDriverState *bs)
{
    BdrvDirtyBitmap *bm;
    BlockDirtyInfoList *list = bdrv_query_dirty_bitmaps(bs);

    qapi_free_BlockDirtyInfoList(list);
    FOR_EACH_DIRTY_BITMAP(bs, bm) {
        int64_t start = 0, dstart, dcount;
        char *hash = bdrv_dirty_bitmap_sha256(bm, NULL);

        g_free(hash);
        /* The first few dirty extents: enough to exercise the searches. */
        for (int i = 0; i < 16 &&
             bdrv_dirty_bitmap_next_dirty_area(bm, start,
                                               bdrv_dirty_bitmap_size(bm),
                                               INT64_MAX, &dstart, &dcount);
             i++) {
            start = dstart + dcount;
        }
    }
}

static void open_and_use(const char *path, bool writable)
{
    json_t *opts = json_object();
    BlockBackend *blk;
    BlockDriverState *bs;
    json_t *info;
    Error *err = NULL;

    qdict_put_str(opts, "driver", "qcow2");
    qdict_put_str(opts, "file.locking", "off");
    blk = blk_new_open(path, NULL, opts, writable ? BDRV_O_RDWR : 0, &err);
    if (!blk) {
        error_free(err);
        return;
    }
    bs = blk_bs(blk);
    info = bdrv_query_image_info(bs, &err);
    json_decref(info);
    error_free(g_steal_pointer(&err));
    walk_bitmaps(bs);
    if (writable) {
        /* A new persistent bitmap next to the loaded ones, stored at close. */
        if (bdrv_can_store_new_dirty_bitmap(bs, "fuzz", 65536, &err)) {
            BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, 65536, "fuzz",
                                                           &err);

            if (bm) {
                bdrv_dirty_bitmap_set_persistence(bm, true);
                bdrv_set_dirty_bitmap(bm, 0, 1);
            }
        }
        error_free(g_steal_pointer(&err));
    }
    blk_unref(blk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialised;
    g_autofree char *path = NULL;
    int fd;

    if (!initialised) {
        qemu_init_main_loop();
        bdrv_init();
        initialised = true;
    }
    fd = memfd_create("fuzz-qcow2-bitmaps", MFD_CLOEXEC);
    if (fd < 0) {
        abort();
    }
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);

        if (n <= 0) {
            abort();
        }
        done += n;
    }
    path = g_strdup_printf("/proc/self/fd/%d", fd);
    open_and_use(path, false);
    open_and_use(path, true);
    close(fd);
    return 0;
}

/*
 * Protocol drivers "null-co" and "null-aio": a device of a given size that
 * discards writes and reads as zeroes (with read-zeroes=on) or garbage.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "util/qdict.h"

typedef struct BDRVNullState {
    int64_t length;
    int64_t latency_ns;
    bool read_zeroes;
} BDRVNullState;

static void null_co_parse_filename(const char *filename, json_t *options,
                                   Error **errp)
{
    /* null-co:// is the only file name; everything else comes as options. */
    if (strcmp(filename, "null-co://")) {
        error_setg(errp, "The only allowed filename for this driver is "
                   "'null-co://'");
    }
}

static void null_aio_parse_filename(const char *filename, json_t *options,
                                    Error **errp)
{
    if (strcmp(filename, "null-aio://")) {
        error_setg(errp, "The only allowed filename for this driver is "
                   "'null-aio://'");
    }
}

static int null_file_open(BlockDriverState *bs, json_t *options, int flags,
                          Error **errp)
{
    BDRVNullState *s = bs->opaque;
    uint64_t size = 0, latency = 0;
    bool read_zeroes = false;

    if (!qdict_get_size_opt(options, "size", 1 << 30, &size, errp) ||
        !qdict_get_uint_opt(options, "latency-ns", 0, &latency, errp) ||
        !qdict_get_bool_opt(options, "read-zeroes", false, &read_zeroes,
                            errp)) {
        return -EINVAL;
    }
    if ((int64_t)latency < 0) {
        error_setg(errp, "latency-ns is invalid");
        return -EINVAL;
    }
    s->length = size;
    s->latency_ns = latency;
    s->read_zeroes = read_zeroes;
    json_object_del(options, "size");
    json_object_del(options, "latency-ns");
    json_object_del(options, "read-zeroes");
    json_object_del(options, "filename");
    bs->supported_write_flags = BDRV_REQ_FUA;
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK |
                               BDRV_REQ_FUA;
    {
        g_autofree char *name = g_strdup_printf("%s://",
                                                bs->drv->format_name);
        bdrv_set_str(&bs->filename, name);
    }
    return 0;
}

static int64_t null_getlength(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;

    return s->length;
}

static int coroutine_fn null_delay(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;

    if (s->latency_ns) {
        qemu_co_sleep_ns(s->latency_ns);
    }
    return 0;
}

static int coroutine_fn null_co_preadv(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       size_t qiov_offset,
                                       BdrvRequestFlags flags)
{
    BDRVNullState *s = bs->opaque;

    if (s->read_zeroes) {
        qemu_iovec_memset(qiov, qiov_offset, 0, bytes);
    }
    return null_delay(bs);
}

static int coroutine_fn null_co_pwritev(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        size_t qiov_offset,
                                        BdrvRequestFlags flags)
{
    return null_delay(bs);
}

static int coroutine_fn null_co_pwrite_zeroes(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes,
                                              BdrvRequestFlags flags)
{
    return null_delay(bs);
}

static int coroutine_fn null_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes)
{
    return null_delay(bs);
}

static int coroutine_fn null_co_flush(BlockDriverState *bs)
{
    return null_delay(bs);
}

static int coroutine_fn null_co_block_status(BlockDriverState *bs,
                                             bool want_zero, int64_t offset,
                                             int64_t bytes, int64_t *pnum,
                                             int64_t *map,
                                             BlockDriverState **file)
{
    BDRVNullState *s = bs->opaque;

    *pnum = bytes;
    *map = offset;
    *file = bs;
    return BDRV_BLOCK_OFFSET_VALID |
           (s->read_zeroes ? BDRV_BLOCK_ZERO : 0);
}

static int64_t null_allocated_file_size(BlockDriverState *bs)
{
    return 0;
}

/* "null-co://" describes the node only when no strong option was given. */
static void null_refresh_filename(BlockDriverState *bs)
{
    if (json_object_get(bs->options, "size") ||
        json_object_get(bs->options, "read-zeroes")) {
        return;
    }
    g_autofree char *name = g_strdup_printf("%s://", bs->drv->format_name);

    bdrv_set_str(&bs->exact_filename, name);
}

static int null_reopen_prepare(BlockDriverState *bs, json_t *options,
                               int flags, Error **errp)
{
    return 0;
}

static const char *const null_strong_runtime_opts[] = {
    "size",
    "read-zeroes",
    NULL
};

#define NULL_DRIVER_COMMON                                      \
    .instance_size = sizeof(BDRVNullState),                     \
    .bdrv_file_open = null_file_open,                           \
    .bdrv_getlength = null_getlength,                           \
    .bdrv_get_allocated_file_size = null_allocated_file_size,   \
    .bdrv_co_preadv_part = null_co_preadv,                      \
    .bdrv_co_pwritev_part = null_co_pwritev,                    \
    .bdrv_co_pwrite_zeroes = null_co_pwrite_zeroes,             \
    .bdrv_co_pdiscard = null_co_pdiscard,                       \
    .bdrv_co_flush_to_disk = null_co_flush,                     \
    .bdrv_co_block_status = null_co_block_status,               \
    .bdrv_refresh_filename = null_refresh_filename,             \
    .bdrv_reopen_prepare = null_reopen_prepare,                 \
    .strong_runtime_opts = null_strong_runtime_opts

BlockDriver bdrv_null_co = {
    .format_name = "null-co",
    .protocol_name = "null-co",
    .bdrv_parse_filename = null_co_parse_filename,
    NULL_DRIVER_COMMON,
};

BlockDriver bdrv_null_aio = {
    .format_name = "null-aio",
    .protocol_name = "null-aio",
    .bdrv_parse_filename = null_aio_parse_filename,
    NULL_DRIVER_COMMON,
};

/*
 * qcow2 compression and decompression (zlib deflate, zstd), run in the
 * thread pool so that the event loop keeps going.
 */
#include "strata/osdep.h"
#include "qcow2.h"
#include "util/thread-pool.h"
#include <zlib.h>
#ifdef CONFIG_ZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif

typedef ssize_t Qcow2CompressFunc(void *dest, size_t dest_size,
                                  const void *src, size_t src_size);

/* Raw deflate, window 12 bits as QEMU writes it; -ENOMEM if it won't fit. */
static ssize_t zlib_compress(void *dest, size_t dest_size, const void *src,
                             size_t src_size)
{
    z_stream strm = { 0 };
    ssize_t ret;

    if (deflateInit2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -EIO;
    }
    strm.avail_in = src_size;
    strm.next_in = (void *)src;
    strm.avail_out = dest_size;
    strm.next_out = dest;
    ret = deflate(&strm, Z_FINISH);
    if (ret == Z_STREAM_END) {
        ret = dest_size - strm.avail_out;
    } else {
        ret = (ret == Z_OK ? -ENOMEM : -EIO);
    }
    deflateEnd(&strm);
    return ret;
}

/* Inflate until @dest_size bytes came out; input may have trailing junk. */
static ssize_t zlib_decompress(void *dest, size_t dest_size, const void *src,
                               size_t src_size)
{
    z_stream strm = { 0 };
    ssize_t ret;

    strm.avail_in = src_size;
    strm.next_in = (void *)src;
    strm.avail_out = dest_size;
    strm.next_out = dest;
    if (inflateInit2(&strm, -12) != Z_OK) {
        return -EIO;
    }
    ret = inflate(&strm, Z_FINISH);
    if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) && strm.avail_out == 0) {
        ret = 0;
    } else {
        ret = -EIO;
    }
    inflateEnd(&strm);
    return ret;
}

#ifdef CONFIG_ZSTD
static ssize_t zstd_compress(void *dest, size_t dest_size, const void *src,
                             size_t src_size)
{
    size_t ret;
    ZSTD_outBuffer output = { .dst = dest, .size = dest_size, .pos = 0 };
    ZSTD_inBuffer input = { .src = src, .size = src_size, .pos = 0 };
    ZSTD_CCtx *cctx = ZSTD_createCCtx();

    if (!cctx) {
        return -EIO;
    }
    /* Streaming, so that the frame carries no content size, as QEMU's. */
    ret = ZSTD_compressStream2(cctx, &output, &input, ZSTD_e_end);
    if (ZSTD_isError(ret)) {
        ZSTD_freeCCtx(cctx);
        return ZSTD_getErrorCode(ret) == ZSTD_error_dstSize_tooSmall
               ? -ENOMEM : -EIO;
    }
    ZSTD_freeCCtx(cctx);
    if (ret) {
        /* Output buffer too small to finish the frame. */
        return -ENOMEM;
    }
    return output.pos;
}

static ssize_t zstd_decompress(void *dest, size_t dest_size, const void *src,
                               size_t src_size)
{
    size_t ret = 0;
    ZSTD_outBuffer output = { .dst = dest, .size = dest_size, .pos = 0 };
    ZSTD_inBuffer input = { .src = src, .size = src_size, .pos = 0 };
    ZSTD_DCtx *dctx = ZSTD_createDCtx();

    if (!dctx) {
        return -EIO;
    }
    /* The compressed data may be followed by unrelated bytes. */
    while (output.pos < output.size) {
        size_t last_in = input.pos, last_out = output.pos;

        ret = ZSTD_decompressStream(dctx, &output, &input);
        if (ZSTD_isError(ret)) {
            ret = -EIO;
            break;
        }
        if (output.pos == output.size) {
            break;
        }
        if (last_in == input.pos && last_out == output.pos) {
            ret = -EIO;
            break;
        }
        if (ret == 0) {
            /* The frame ended before the cluster was complete. */
            ret = -EIO;
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    if (output.pos != output.size) {
        return -EIO;
    }
    return (ssize_t)ret < 0 ? (ssize_t)ret : 0;
}
#endif

typedef struct CompressJob {
    Qcow2CompressFunc *func;
    void *dest;
    size_t dest_size;
    const void *src;
    size_t src_size;
    ssize_t ret;
} CompressJob;

static int compress_worker(void *opaque)
{
    CompressJob *job = opaque;

    job->ret = job->func(job->dest, job->dest_size, job->src, job->src_size);
    return 0;
}

static ssize_t coroutine_fn run_in_pool(Qcow2CompressFunc *func, void *dest,
                                        size_t dest_size, const void *src,
                                        size_t src_size)
{
    CompressJob job = { func, dest, dest_size, src, src_size, 0 };

    thread_pool_submit_co(compress_worker, &job);
    return job.ret;
}

ssize_t coroutine_fn qcow2_co_compress(BlockDriverState *bs, void *dest,
                                       size_t dest_size, const void *src,
                                       size_t src_size)
{
    BDRVQcow2State *s = bs->opaque;

    switch (s->compression_type) {
    case QCOW2_COMPRESSION_TYPE_ZLIB:
        return run_in_pool(zlib_compress, dest, dest_size, src, src_size);
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_TYPE_ZSTD:
        return run_in_pool(zstd_compress, dest, dest_size, src, src_size);
#endif
    default:
        return -ENOTSUP;
    }
}

ssize_t coroutine_fn qcow2_co_decompress(BlockDriverState *bs, void *dest,
                                         size_t dest_size, const void *src,
                                         size_t src_size)
{
    BDRVQcow2State *s = bs->opaque;

    switch (s->compression_type) {
    case QCOW2_COMPRESSION_TYPE_ZLIB:
        return run_in_pool(zlib_decompress, dest, dest_size, src, src_size);
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_TYPE_ZSTD:
        return run_in_pool(zstd_decompress, dest, dest_size, src, src_size);
#endif
    default:
        return -ENOTSUP;
    }
}

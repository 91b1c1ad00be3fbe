/*
 * The "qcow" (version 1) format driver: two-level tables, clusters
 * appended at the end of the file, optional compression; no refcounts.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "util/option.h"
#include "util/qdict.h"
#include "util/thread-pool.h"
#include <zlib.h>

#define QCOW1_MAGIC (('Q' << 24) | ('F' << 16) | ('I' << 8) | 0xfb)
#define QCOW1_VERSION 1
#define QCOW1_CRYPT_NONE 0
#define QCOW1_OFLAG_COMPRESSED (1ULL << 63)
#define QCOW1_HEADER_SIZE 48
#define L2_CACHE_SIZE 16

typedef struct BDRVQcowState {
    int cluster_bits;
    int cluster_size;
    int l2_bits;
    int l2_size;
    unsigned int l1_size;
    uint64_t cluster_offset_mask;
    uint64_t l1_table_offset;
    uint64_t *l1_table;
    uint64_t *l2_cache;
    uint64_t l2_cache_offsets[L2_CACHE_SIZE];
    uint32_t l2_cache_counts[L2_CACHE_SIZE];
    /*
     * Compressed-cluster buffers: allocated on the first compressed read
     * or partial overwrite of a compressed cluster, freed on close.
     */
    uint8_t *cluster_cache;
    uint8_t *cluster_data;
    uint64_t cluster_cache_offset;
    uint32_t crypt_method_header;
    CoMutex lock;
} BDRVQcowState;

static int qcow_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    if (buf_size >= 8 && ldl_be(buf) == (uint32_t)QCOW1_MAGIC &&
        ldl_be(buf + 4) == QCOW1_VERSION) {
        return 100;
    }
    return 0;
}

static int qcow_open(BlockDriverState *bs, json_t *options, int flags,
                     Error **errp)
{
    BDRVQcowState *s = bs->opaque;
    uint8_t h[QCOW1_HEADER_SIZE];
    uint32_t magic, version, backing_len;
    uint64_t backing_offset, size;
    int shift, ret;

    if (!bdrv_open_child(NULL, options, "file", bs, &child_of_bds,
                         BDRV_CHILD_IMAGE, false, errp)) {
        return -EINVAL;
    }
    qemu_co_mutex_init(&s->lock);
    ret = bdrv_pread(bs->file, 0, sizeof(h), h, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow header");
        goto fail;
    }
    magic = ldl_be(h);
    version = ldl_be(h + 4);
    backing_offset = ldq_be(h + 8);
    backing_len = ldl_be(h + 16);
    size = ldq_be(h + 24);
    s->cluster_bits = h[32];
    s->l2_bits = h[33];
    s->crypt_method_header = ldl_be(h + 36);
    s->l1_table_offset = ldq_be(h + 40);

    if (magic != (uint32_t)QCOW1_MAGIC) {
        error_setg(errp, "Image not in qcow format");
        ret = -EINVAL;
        goto fail;
    }
    if (version != QCOW1_VERSION) {
        error_setg(errp, "qcow (v%d) does not support qcow version %" PRIu32,
                   QCOW1_VERSION, version);
        if (version == 2 || version == 3) {
            error_append_hint(errp, "Try the 'qcow2' driver instead.\n");
        }
        ret = -ENOTSUP;
        goto fail;
    }
    if (size <= 1) {
        error_setg(errp, "Image size is too small (must be at least 2 "
                   "bytes)");
        ret = -EINVAL;
        goto fail;
    }
    if (s->cluster_bits < 9 || s->cluster_bits > 16) {
        error_setg(errp, "Cluster size must be between 512 and 64k");
        ret = -EINVAL;
        goto fail;
    }
    /* l2_bits counts 8-byte entries. */
    if (s->l2_bits < 9 - 3 || s->l2_bits > 16 - 3) {
        error_setg(errp, "L2 table size must be between 512 and 64k");
        ret = -EINVAL;
        goto fail;
    }
    if (s->crypt_method_header) {
        error_setg(errp, "qcow: image '%s' is encrypted (aes); encrypted "
                   "images are not supported", bs->filename);
        ret = -ENOTSUP;
        goto fail;
    }
    s->cluster_size = 1 << s->cluster_bits;
    s->l2_size = 1 << s->l2_bits;
    bs->total_bytes = QEMU_ALIGN_DOWN(size, BDRV_SECTOR_SIZE);
    s->cluster_offset_mask = (1ULL << (63 - s->cluster_bits)) - 1;

    shift = s->cluster_bits + s->l2_bits;
    if (size > UINT64_MAX - (1ULL << shift)) {
        error_setg(errp, "Image too large");
        ret = -EINVAL;
        goto fail;
    } else {
        uint64_t l1_size = (size + (1ULL << shift) - 1) >> shift;

        if (l1_size > INT_MAX / sizeof(uint64_t)) {
            error_setg(errp, "Image too large");
            ret = -EINVAL;
            goto fail;
        }
        s->l1_size = l1_size;
    }
    s->l1_table = g_try_new(uint64_t, MAX(s->l1_size, 1));
    if (!s->l1_table) {
        error_setg(errp, "Could not allocate memory for L1 table");
        ret = -ENOMEM;
        goto fail;
    }
    ret = bdrv_pread(bs->file, s->l1_table_offset,
                     s->l1_size * sizeof(uint64_t), s->l1_table, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read L1 table");
        goto fail;
    }
    for (unsigned i = 0; i < s->l1_size; i++) {
        s->l1_table[i] = be64toh(s->l1_table[i]);
    }
    s->l2_cache = qemu_try_blockalign(bs->file->bs, s->l2_size *
                                      L2_CACHE_SIZE * sizeof(uint64_t));
    if (!s->l2_cache) {
        error_setg(errp, "Could not allocate L2 table cache");
        ret = -ENOMEM;
        goto fail;
    }
    s->cluster_cache_offset = -1;

    if (backing_offset) {
        char name[BDRV_BACKING_NAME_MAX + 1];

        if (backing_len > BDRV_BACKING_NAME_MAX) {
            error_setg(errp, "Backing file name too long");
            ret = -EINVAL;
            goto fail;
        }
        ret = bdrv_pread(bs->file, backing_offset, backing_len, name, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read backing file name");
            goto fail;
        }
        name[backing_len] = '\0';
        bdrv_set_str(&bs->auto_backing_file, name);
        bdrv_set_str(&bs->backing_file, name);
    }
    return 0;

fail:
    g_free(s->l1_table);
    qemu_vfree(s->l2_cache);
    s->l1_table = NULL;
    s->l2_cache = NULL;
    return ret;
}

static void qcow_close(BlockDriverState *bs)
{
    BDRVQcowState *s = bs->opaque;

    g_free(s->l1_table);
    qemu_vfree(s->l2_cache);
    g_free(s->cluster_cache);
    g_free(s->cluster_data);
}

static void qcow_refresh_limits(BlockDriverState *bs, Error **errp)
{
    /* Clusters are written whole sectors at a time. */
    bs->bl.request_alignment = BDRV_SECTOR_SIZE;
}

/* ---- compression ---- */

typedef struct InflateJob {
    uint8_t *out;
    int out_size;
    const uint8_t *in;
    int in_size;
    int ret;
} InflateJob;

static int inflate_worker(void *opaque)
{
    InflateJob *j = opaque;
    z_stream strm = { 0 };
    int ret;

    strm.next_in = (uint8_t *)j->in;
    strm.avail_in = j->in_size;
    strm.next_out = j->out;
    strm.avail_out = j->out_size;
    if (inflateInit2(&strm, -12) != Z_OK) {
        j->ret = -EIO;
        return 0;
    }
    ret = inflate(&strm, Z_FINISH);
    j->ret = ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) &&
              strm.avail_out == 0) ? 0 : -EIO;
    inflateEnd(&strm);
    return 0;
}

static int deflate_worker(void *opaque)
{
    InflateJob *j = opaque;
    z_stream strm = { 0 };
    int ret;

    if (deflateInit2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        j->ret = -EIO;
        return 0;
    }
    strm.next_in = (uint8_t *)j->in;
    strm.avail_in = j->in_size;
    strm.next_out = j->out;
    strm.avail_out = j->out_size;
    ret = deflate(&strm, Z_FINISH);
    j->ret = (ret == Z_STREAM_END) ? (int)(j->out_size - strm.avail_out)
                                   : -ENOMEM;
    deflateEnd(&strm);
    return 0;
}

/* Decompress the cluster described by @cluster_offset into cluster_cache. */
static int coroutine_fn decompress_cluster(BlockDriverState *bs,
                                           uint64_t cluster_offset)
{
    BDRVQcowState *s = bs->opaque;
    uint64_t coffset = cluster_offset & s->cluster_offset_mask;
    int csize;
    InflateJob job;
    int ret;

    if (s->cluster_cache_offset == coffset) {
        return 0;
    }
    csize = (cluster_offset >> (63 - s->cluster_bits)) & (s->cluster_size - 1);
    if (!s->cluster_cache) {
        s->cluster_cache = g_malloc(s->cluster_size);
    }
    if (!s->cluster_data) {
        s->cluster_data = g_malloc(s->cluster_size);
    }
    ret = bdrv_co_pread(bs->file, coffset, csize, s->cluster_data, 0);
    if (ret < 0) {
        return -EIO;
    }
    job = (InflateJob) { s->cluster_cache, s->cluster_size, s->cluster_data,
                         csize, 0 };
    thread_pool_submit_co(inflate_worker, &job);
    if (job.ret < 0) {
        return -EIO;
    }
    s->cluster_cache_offset = coffset;
    return 0;
}

/* ---- mapping ---- */

static int coroutine_fn load_l2(BlockDriverState *bs, uint64_t l2_offset,
                                bool new_table, uint64_t **l2_table)
{
    BDRVQcowState *s = bs->opaque;
    size_t l2_bytes = s->l2_size * sizeof(uint64_t);
    uint32_t min_count = UINT32_MAX;
    int min_index = 0;
    int ret;

    for (int i = 0; i < L2_CACHE_SIZE; i++) {
        if (l2_offset == s->l2_cache_offsets[i]) {
            if (++s->l2_cache_counts[i] == UINT32_MAX) {
                for (int j = 0; j < L2_CACHE_SIZE; j++) {
                    s->l2_cache_counts[j] >>= 1;
                }
            }
            *l2_table = s->l2_cache + (i << s->l2_bits);
            return 0;
        }
    }
    for (int i = 0; i < L2_CACHE_SIZE; i++) {
        if (s->l2_cache_counts[i] < min_count) {
            min_count = s->l2_cache_counts[i];
            min_index = i;
        }
    }
    *l2_table = s->l2_cache + (min_index << s->l2_bits);
    s->l2_cache_offsets[min_index] = 0;
    if (new_table) {
        memset(*l2_table, 0, l2_bytes);
        ret = bdrv_co_pwrite_sync(bs->file, l2_offset, l2_bytes, *l2_table,
                                  0);
    } else {
        ret = bdrv_co_pread(bs->file, l2_offset, l2_bytes, *l2_table, 0);
    }
    if (ret < 0) {
        return ret;
    }
    s->l2_cache_offsets[min_index] = l2_offset;
    s->l2_cache_counts[min_index] = 1;
    return 0;
}

/*
 * Host offset of the cluster for guest @offset (0 if unallocated).  With
 * @allocate 1 a normal cluster is allocated at the end of the file (with
 * [n_start, n_end) of it about to be written), with 2 a compressed one
 * of @compressed_size bytes.
 */
static int coroutine_fn get_cluster_offset(BlockDriverState *bs,
                                           uint64_t offset, int allocate,
                                           int compressed_size, int n_start,
                                           int n_end, uint64_t *result)
{
    BDRVQcowState *s = bs->opaque;
    int l1_index = offset >> (s->l2_bits + s->cluster_bits);
    int l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    uint64_t l2_offset, cluster_offset, be;
    uint64_t *l2_table;
    bool new_l2 = false;
    int ret;

    *result = 0;
    if ((unsigned)l1_index >= s->l1_size) {
        return allocate ? -EIO : 0;
    }
    l2_offset = s->l1_table[l1_index];
    if (!l2_offset) {
        int64_t len;

        if (!allocate) {
            return 0;
        }
        len = bdrv_getlength(bs->file->bs);
        if (len < 0) {
            return len;
        }
        l2_offset = QEMU_ALIGN_UP(len, s->cluster_size);
        s->l1_table[l1_index] = l2_offset;
        be = htobe64(l2_offset);
        ret = bdrv_co_pwrite_sync(bs->file, s->l1_table_offset +
                                  l1_index * sizeof(be), sizeof(be), &be, 0);
        if (ret < 0) {
            s->l1_table[l1_index] = 0;
            return ret;
        }
        new_l2 = true;
    }
    ret = load_l2(bs, l2_offset, new_l2, &l2_table);
    if (ret < 0) {
        return ret;
    }
    cluster_offset = be64toh(l2_table[l2_index]);
    if (!cluster_offset ||
        ((cluster_offset & QCOW1_OFLAG_COMPRESSED) && allocate == 1)) {
        int64_t len;

        if (!allocate) {
            return 0;
        }
        len = bdrv_getlength(bs->file->bs);
        if (len < 0) {
            return len;
        }
        if ((cluster_offset & QCOW1_OFLAG_COMPRESSED) &&
            (n_end - n_start) < s->cluster_size) {
            /* A partly overwritten compressed cluster is expanded first. */
            ret = decompress_cluster(bs, cluster_offset);
            if (ret < 0) {
                return ret;
            }
            cluster_offset = QEMU_ALIGN_UP(len, s->cluster_size);
            ret = bdrv_co_pwrite(bs->file, cluster_offset, s->cluster_size,
                                 s->cluster_cache, 0);
            if (ret < 0) {
                return ret;
            }
        } else if (allocate == 1) {
            Error *local_err = NULL;
            bool partial = n_start > 0 || n_end < s->cluster_size;

            cluster_offset = QEMU_ALIGN_UP(len, s->cluster_size);
            if (cluster_offset + s->cluster_size > INT64_MAX) {
                return -E2BIG;
            }
            ret = bdrv_co_truncate(bs->file, cluster_offset +
                                   s->cluster_size, false, PREALLOC_MODE_OFF,
                                   0, &local_err);
            if (ret < 0) {
                error_free(local_err);
                return ret;
            }
            if (partial && bs->backing) {
                /* Keep the backing data around the written part. */
                g_autofree uint8_t *buf = g_malloc(s->cluster_size);
                uint64_t cstart = offset & ~(uint64_t)(s->cluster_size - 1);

                ret = bdrv_co_pread(bs->backing, cstart, s->cluster_size, buf,
                                    0);
                if (ret < 0) {
                    return ret;
                }
                ret = bdrv_co_pwrite(bs->file, cluster_offset,
                                     s->cluster_size, buf, 0);
                if (ret < 0) {
                    return ret;
                }
            }
        } else {
            /* Compressed data is packed right at the end of the file. */
            cluster_offset = len | QCOW1_OFLAG_COMPRESSED |
                             (uint64_t)compressed_size <<
                             (63 - s->cluster_bits);
        }
        be = htobe64(cluster_offset);
        l2_table[l2_index] = be;
        ret = bdrv_co_pwrite_sync(bs->file, l2_offset + l2_index * sizeof(be),
                                  sizeof(be), &be, 0);
        if (ret < 0) {
            return ret;
        }
    }
    *result = cluster_offset;
    return 1;
}

/* ---- I/O ---- */

static int coroutine_fn qcow_co_block_status(BlockDriverState *bs,
                                             bool want_zero, int64_t offset,
                                             int64_t bytes, int64_t *pnum,
                                             int64_t *map,
                                             BlockDriverState **file)
{
    BDRVQcowState *s = bs->opaque;
    int index_in_cluster = offset & (s->cluster_size - 1);
    int64_t n = s->cluster_size - index_in_cluster;
    uint64_t cluster_offset;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = get_cluster_offset(bs, offset, 0, 0, 0, 0, &cluster_offset);
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }
    *pnum = MIN(n, bytes);
    if (!cluster_offset) {
        return 0;
    }
    if (cluster_offset & QCOW1_OFLAG_COMPRESSED) {
        return BDRV_BLOCK_DATA;
    }
    *map = cluster_offset | index_in_cluster;
    *file = bs->file->bs;
    return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
}

static int coroutine_fn qcow_co_preadv(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       size_t qiov_offset,
                                       BdrvRequestFlags flags)
{
    BDRVQcowState *s = bs->opaque;
    int ret = 0;

    qemu_co_mutex_lock(&s->lock);
    while (bytes > 0) {
        int offset_in_cluster = offset & (s->cluster_size - 1);
        int64_t n = MIN(bytes, s->cluster_size - offset_in_cluster);
        uint64_t cluster_offset;

        ret = get_cluster_offset(bs, offset, 0, 0, 0, 0, &cluster_offset);
        if (ret < 0) {
            break;
        }
        if (!cluster_offset) {
            if (bs->backing) {
                qemu_co_mutex_unlock(&s->lock);
                ret = bdrv_co_preadv_part(bs->backing, offset, n, qiov,
                                          qiov_offset, 0);
                qemu_co_mutex_lock(&s->lock);
                if (ret < 0) {
                    break;
                }
            } else {
                qemu_iovec_memset(qiov, qiov_offset, 0, n);
            }
        } else if (cluster_offset & QCOW1_OFLAG_COMPRESSED) {
            ret = decompress_cluster(bs, cluster_offset);
            if (ret < 0) {
                break;
            }
            qemu_iovec_from_buf(qiov, qiov_offset,
                                s->cluster_cache + offset_in_cluster, n);
        } else {
            qemu_co_mutex_unlock(&s->lock);
            ret = bdrv_co_preadv_part(bs->file, cluster_offset +
                                      offset_in_cluster, n, qiov,
                                      qiov_offset, 0);
            qemu_co_mutex_lock(&s->lock);
            if (ret < 0) {
                break;
            }
        }
        ret = 0;
        bytes -= n;
        offset += n;
        qiov_offset += n;
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow_co_pwritev(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        size_t qiov_offset,
                                        BdrvRequestFlags flags)
{
    BDRVQcowState *s = bs->opaque;
    int ret = 0;

    s->cluster_cache_offset = -1; /* disable compressed cache */
    qemu_co_mutex_lock(&s->lock);
    while (bytes > 0) {
        int offset_in_cluster = offset & (s->cluster_size - 1);
        int64_t n = MIN(bytes, s->cluster_size - offset_in_cluster);
        uint64_t cluster_offset;

        ret = get_cluster_offset(bs, offset, 1, 0, offset_in_cluster,
                                 offset_in_cluster + n, &cluster_offset);
        if (ret < 0) {
            break;
        }
        if (!cluster_offset || (cluster_offset & 511) != 0) {
            ret = -EIO;
            break;
        }
        qemu_co_mutex_unlock(&s->lock);
        ret = bdrv_co_pwritev_part(bs->file, cluster_offset +
                                   offset_in_cluster, n, qiov, qiov_offset, 0);
        qemu_co_mutex_lock(&s->lock);
        if (ret < 0) {
            break;
        }
        ret = 0;
        bytes -= n;
        offset += n;
        qiov_offset += n;
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow_co_pwritev_compressed(BlockDriverState *bs,
                                                   int64_t offset,
                                                   int64_t bytes,
                                                   QEMUIOVector *qiov,
                                                   size_t qiov_offset)
{
    BDRVQcowState *s = bs->opaque;
    g_autofree uint8_t *buf = NULL, *out_buf = NULL;
    uint64_t cluster_offset;
    InflateJob job;
    int ret;

    buf = g_malloc0(s->cluster_size);
    if (bytes != s->cluster_size) {
        if (bytes > s->cluster_size ||
            offset + bytes != bs->total_bytes) {
            return -EINVAL;
        }
        /* The tail of the image is padded with zeroes. */
    }
    qemu_iovec_to_buf(qiov, qiov_offset, buf, bytes);
    out_buf = g_malloc(s->cluster_size);
    job = (InflateJob) { out_buf, s->cluster_size, buf, s->cluster_size, 0 };
    thread_pool_submit_co(deflate_worker, &job);
    if (job.ret == -ENOMEM || job.ret >= s->cluster_size) {
        /* Not compressible: store it as is. */
        return qcow_co_pwritev(bs, offset, bytes, qiov, qiov_offset, 0);
    }
    if (job.ret < 0) {
        return -EINVAL;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = get_cluster_offset(bs, offset, 2, job.ret, 0, 0, &cluster_offset);
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }
    if (!cluster_offset) {
        return -EIO;
    }
    cluster_offset &= s->cluster_offset_mask;
    return bdrv_co_pwrite(bs->file, cluster_offset, job.ret, out_buf, 0);
}

static int64_t qcow_getlength(BlockDriverState *bs)
{
    return bs->total_bytes;
}

static int qcow_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcowState *s = bs->opaque;

    bdi->cluster_size = s->cluster_size;
    return 0;
}

/* qemu-img commit empties the image afterwards. */
static int qcow_make_empty(BlockDriverState *bs)
{
    BDRVQcowState *s = bs->opaque;
    uint32_t l1_length = s->l1_size * sizeof(uint64_t);
    Error *local_err = NULL;
    int ret;

    memset(s->l1_table, 0, l1_length);
    ret = bdrv_pwrite_sync(bs->file, s->l1_table_offset, l1_length,
                           s->l1_table, 0);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_truncate(bs->file, s->l1_table_offset + l1_length, false,
                        PREALLOC_MODE_OFF, 0, &local_err);
    if (ret < 0) {
        error_free(local_err);
        return ret;
    }
    memset(s->l2_cache, 0, s->l2_size * L2_CACHE_SIZE * sizeof(uint64_t));
    memset(s->l2_cache_offsets, 0, sizeof(s->l2_cache_offsets));
    memset(s->l2_cache_counts, 0, sizeof(s->l2_cache_counts));
    return 0;
}

static int qcow_change_backing_file(BlockDriverState *bs,
                                    const char *backing_file,
                                    const char *backing_fmt)
{
    /* The name lives between header and L1 table: it cannot grow. */
    return -ENOTSUP;
}

/* ---- create ---- */

static QemuOptsList qcow_create_opts = {
    .name = "qcow-create-opts",
    .desc = {
        { .name = "size", .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { .name = "backing_file", .type = QEMU_OPT_STRING,
          .help = "File name of a base image" },
        { .name = "backing_fmt", .type = QEMU_OPT_STRING,
          .help = "Format of the backing image" },
        { .name = "encryption", .type = QEMU_OPT_BOOL,
          .help = "Encrypt the image with format 'aes'. (Deprecated in favor "
                  "of encrypt.format=aes)" },
        { .name = "encrypt.format", .type = QEMU_OPT_STRING,
          .help = "Encrypt the image, format choices: 'aes'" },
        { .name = "encrypt.key-secret", .type = QEMU_OPT_STRING,
          .help = "ID of the secret that provides the AES encryption key" },
        { /* end of list */ }
    }
};

static int coroutine_fn qcow_co_create_opts(BlockDriver *drv,
                                            const char *filename,
                                            QemuOpts *opts, Error **errp)
{
    g_autofree char *backing_file = qemu_opt_get_del(opts, "backing_file");
    g_autofree char *backing_fmt = qemu_opt_get_del(opts, "backing_fmt");
    g_autofree char *enc_fmt = qemu_opt_get_del(opts, "encrypt.format");
    bool encryption = qemu_opt_get_bool_del(opts, "encryption", false);
    uint64_t total_size = qemu_opt_get_size_del(opts, "size", 0);
    uint8_t header[QCOW1_HEADER_SIZE] = { 0 };
    g_autofree uint8_t *zeroes = NULL;
    size_t header_size = QCOW1_HEADER_SIZE;
    size_t backing_len = 0;
    int cluster_bits, l2_bits, shift;
    int64_t l1_size;
    BlockDriverState *file_bs;
    BdrvChild tmp;
    int ret;

    (void)backing_fmt;
    if (encryption || enc_fmt) {
        error_setg(errp, "Encrypted qcow images are not supported");
        return -ENOTSUP;
    }
    if (total_size < 2) {
        error_setg(errp, "Image size is too small (must be at least 2 "
                   "bytes)");
        return -EINVAL;
    }
    ret = bdrv_create_file(filename, opts, errp);
    if (ret < 0) {
        return ret;
    }
    file_bs = bdrv_open(filename, NULL, NULL, BDRV_O_RDWR | BDRV_O_RESIZE |
                        BDRV_O_PROTOCOL, errp);
    if (!file_bs) {
        return -EIO;
    }
    tmp = (BdrvChild) { .bs = file_bs, .name = (char *)"create" };

    ret = bdrv_co_truncate(&tmp, 0, false, PREALLOC_MODE_OFF, 0, errp);
    if (ret < 0) {
        goto out;
    }
    stl_be(header, QCOW1_MAGIC);
    stl_be(header + 4, QCOW1_VERSION);
    stq_be(header + 24, total_size);
    if (backing_file && *backing_file) {
        backing_len = strlen(backing_file);
        if (backing_len > 1023) {
            error_setg(errp, "Backing file name too long");
            ret = -EINVAL;
            goto out;
        }
        stq_be(header + 8, header_size);
        stl_be(header + 16, backing_len);
        header_size += backing_len;
        /* Small clusters so that unmodified sectors are not copied. */
        cluster_bits = 9;
        l2_bits = 12;
    } else {
        cluster_bits = 12;
        l2_bits = 9;
    }
    header[32] = cluster_bits;
    header[33] = l2_bits;
    header_size = ROUND_UP(header_size, 8);
    shift = cluster_bits + l2_bits;
    l1_size = (total_size + (1LL << shift) - 1) >> shift;
    stq_be(header + 40, header_size);

    ret = bdrv_co_pwrite(&tmp, 0, sizeof(header), header, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write qcow header");
        goto out;
    }
    if (backing_len) {
        ret = bdrv_co_pwrite(&tmp, QCOW1_HEADER_SIZE, backing_len,
                             backing_file, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not write backing file "
                             "name");
            goto out;
        }
    }
    zeroes = g_malloc0(ROUND_UP(l1_size * sizeof(uint64_t),
                                BDRV_SECTOR_SIZE));
    ret = bdrv_co_pwrite(&tmp, header_size,
                         ROUND_UP(l1_size * sizeof(uint64_t),
                                  BDRV_SECTOR_SIZE), zeroes, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write L1 table");
        goto out;
    }
    ret = bdrv_co_flush(file_bs);
out:
    bdrv_unref(file_bs);
    return ret;
}

static const char *const qcow_strong_runtime_opts[] = {
    "encrypt.key-secret",
    NULL
};

BlockDriver bdrv_qcow = {
    .format_name = "qcow",
    .instance_size = sizeof(BDRVQcowState),
    .is_format = true,
    .supports_backing = true,
    .bdrv_probe = qcow_probe,
    .bdrv_open = qcow_open,
    .bdrv_close = qcow_close,
    .bdrv_refresh_limits = qcow_refresh_limits,
    .bdrv_co_create_opts = qcow_co_create_opts,
    .create_opts = &qcow_create_opts,
    .strong_runtime_opts = qcow_strong_runtime_opts,
    .bdrv_co_preadv_part = qcow_co_preadv,
    .bdrv_co_pwritev_part = qcow_co_pwritev,
    .bdrv_co_pwritev_compressed_part = qcow_co_pwritev_compressed,
    .bdrv_co_block_status = qcow_co_block_status,
    .bdrv_getlength = qcow_getlength,
    .bdrv_get_info = qcow_get_info,
    .bdrv_make_empty = qcow_make_empty,
    .bdrv_change_backing_file = qcow_change_backing_file,
};

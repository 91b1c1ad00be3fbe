/*
 * The qcow2 format driver: header and extensions, open/close, the read
 * and write paths, image creation, resizing, and image information.
 */
#include "strata/osdep.h"
#include "qcow2.h"
#include "block/block-backend.h"
#include "block/create.h"
#include "block/dirty-bitmap.h"
#include "block/snapshot.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-output-visitor.h"
#include "util/cutils.h"
#include "util/qdict.h"

#define QCOW2_OPT_LAZY_REFCOUNTS "lazy-refcounts"
#define QCOW2_OPT_DISCARD_REQUEST "pass-discard-request"
#define QCOW2_OPT_DISCARD_SNAPSHOT "pass-discard-snapshot"
#define QCOW2_OPT_DISCARD_OTHER "pass-discard-other"
#define QCOW2_OPT_OVERLAP "overlap-check"
#define QCOW2_OPT_OVERLAP_TEMPLATE "overlap-check.template"
#define QCOW2_OPT_CACHE_SIZE "cache-size"
#define QCOW2_OPT_L2_CACHE_SIZE "l2-cache-size"
#define QCOW2_OPT_L2_CACHE_ENTRY_SIZE "l2-cache-entry-size"
#define QCOW2_OPT_REFCOUNT_CACHE_SIZE "refcount-cache-size"
#define QCOW2_OPT_CACHE_CLEAN_INTERVAL "cache-clean-interval"

static const char *const overlap_bool_option_names[QCOW2_OL_MAX_BITNR] = {
    "overlap-check.main-header",
    "overlap-check.active-l1",
    "overlap-check.active-l2",
    "overlap-check.refcount-table",
    "overlap-check.refcount-block",
    "overlap-check.snapshot-table",
    "overlap-check.inactive-l1",
    "overlap-check.inactive-l2",
    "overlap-check.bitmap-directory",
};

static const Qcow2Feature feature_table[] = {
    { 0, 0, "dirty bit" },
    { 0, 1, "corrupt bit" },
    { 0, 2, "external data file" },
    { 0, 3, "compression type" },
    { 0, 4, "extended L2 entries" },
    { 1, 0, "lazy refcounts" },
    { 2, 0, "bitmaps" },
    { 2, 1, "raw external data" },
};

/* ---- probing ---- */

static int qcow2_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    if (buf_size >= 8 && ldl_be(buf) == (uint32_t)QCOW_MAGIC &&
        ldl_be(buf + 4) >= 2) {
        return 100;
    }
    return 0;
}

/* ---- corruption and dirty state ---- */

void qcow2_signal_corruption(BlockDriverState *bs, bool fatal, int64_t offset,
                             int64_t size, const char *message_format, ...)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree char *message = NULL;
    va_list ap;

    fatal = fatal && bdrv_is_writable(bs);
    if (s->signaled_corruption &&
        (!fatal || (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT))) {
        return;
    }
    va_start(ap, message_format);
    message = g_strdup_vprintf(message_format, ap);
    va_end(ap);

    if (fatal) {
        fprintf(stderr, "qcow2: Marking image as corrupt: %s; further "
                "corruption events will be suppressed\n", message);
    } else {
        fprintf(stderr, "qcow2: Image is corrupt: %s; further non-fatal "
                "corruption events will be suppressed\n", message);
    }
    if (fatal) {
        qcow2_mark_corrupt(bs);
        bs->drv = NULL; /* make BDS unusable */
    }
    s->signaled_corruption = true;
}

static int write_incompat_features(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t val = htobe64(s->incompatible_features);

    return bdrv_pwrite_sync(bs->file, 72, sizeof(val), &val, 0);
}

int qcow2_mark_dirty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    assert(s->qcow_version >= 3);
    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        return 0;
    }
    ret = bdrv_flush(bs->file->bs);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    ret = write_incompat_features(bs);
    if (ret < 0) {
        s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    }
    return ret;
}

static int qcow2_mark_clean(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        int ret;

        s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            return ret;
        }
        return qcow2_update_header(bs);
    }
    return 0;
}

int qcow2_mark_corrupt(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    s->incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
    return qcow2_update_header(bs);
}

int qcow2_mark_consistent(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        int ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            return ret;
        }
        s->incompatible_features &= ~QCOW2_INCOMPAT_CORRUPT;
        return qcow2_update_header(bs);
    }
    return 0;
}

int qcow2_validate_table(BlockDriverState *bs, uint64_t offset,
                         uint64_t entries, size_t entry_len,
                         int64_t max_size_bytes, const char *table_name,
                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (entries > max_size_bytes / entry_len) {
        error_setg(errp, "%s too large", table_name);
        return -EFBIG;
    }
    /* Offsets are later used as int64_t: keep below INT64_MAX. */
    if ((INT64_MAX - entries * entry_len < offset) ||
        (offset_into_cluster(s, offset) != 0)) {
        error_setg(errp, "%s offset invalid", table_name);
        return -EINVAL;
    }
    return 0;
}

/* ---- header extensions ---- */

static void report_unsupported_feature(Error **errp, Qcow2Feature *table,
                                       size_t n, uint64_t mask)
{
    g_autoptr(GString) features = g_string_sized_new(60);

    for (size_t i = 0; table && i < n && mask; i++) {
        if (table[i].type == 0 && (mask & (1ULL << table[i].bit))) {
            if (features->len > 0) {
                g_string_append(features, ", ");
            }
            g_string_append_len(features, table[i].name,
                                strnlen(table[i].name,
                                        sizeof(table[i].name)));
            mask &= ~(1ULL << table[i].bit);
        }
    }
    if (mask) {
        if (features->len > 0) {
            g_string_append(features, ", ");
        }
        g_string_append_printf(features, "Unknown incompatible feature: %"
                               PRIx64, mask);
    }
    error_setg(errp, "Unsupported qcow2 feature(s): %s", features->str);
}

/*
 * Read the extensions between @start and @end.  With @only_features,
 * just the feature table (for error messages about unknown features).
 */
static int read_extensions(BlockDriverState *bs, uint64_t start, uint64_t end,
                           bool keep_unknown, Qcow2Feature **table,
                           size_t *table_n, bool *bitmaps_found,
                           Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset = start;

    while (offset < end) {
        uint32_t hdr[2];
        uint32_t magic, len;
        int ret;

        if (offset > (uint64_t)s->cluster_size ||
            end - offset < sizeof(hdr)) {
            error_setg(errp, "qcow2_read_extension: ERROR: "
                       "pread fail from offset %" PRIu64, offset);
            return -EINVAL;
        }
        ret = bdrv_pread(bs->file, offset, sizeof(hdr), hdr, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "qcow2_read_extension: ERROR: "
                             "pread fail from offset %" PRIu64, offset);
            return ret;
        }
        magic = be32toh(hdr[0]);
        len = be32toh(hdr[1]);
        offset += sizeof(hdr);
        if (len > end - offset) {
            error_setg(errp, "Header extension too large");
            return -EINVAL;
        }

        switch (magic) {
        case QCOW2_EXT_MAGIC_END:
            return 0;
        case QCOW2_EXT_MAGIC_BACKING_FORMAT: {
            char fmt[sizeof(bs->backing_format)];

            if (len >= sizeof(fmt)) {
                error_setg(errp, "ERROR: ext_backing_format: len=%" PRIu32
                           " too large (>=%zu)", len, sizeof(fmt));
                return -EINVAL;
            }
            ret = bdrv_pread(bs->file, offset, len, fmt, 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "ERROR: ext_backing_format: "
                                 "Could not read format name");
                return ret;
            }
            fmt[len] = '\0';
            g_strlcpy(bs->backing_format, fmt, sizeof(bs->backing_format));
            g_free(s->image_backing_format);
            s->image_backing_format = g_strdup(fmt);
            break;
        }
        case QCOW2_EXT_MAGIC_FEATURE_TABLE:
            if (table && len) {
                size_t n = len / sizeof(Qcow2Feature);

                g_free(*table);
                *table = g_new0(Qcow2Feature, n + 1);
                ret = bdrv_pread(bs->file, offset, n * sizeof(Qcow2Feature),
                                 *table, 0);
                if (ret < 0) {
                    error_setg_errno(errp, -ret, "ERROR: ext_feature_table: "
                                     "Could not read table");
                    return ret;
                }
                *table_n = n;
            }
            break;
        case QCOW2_EXT_MAGIC_CRYPTO_HEADER:
            /* Encrypted images are refused in open; nothing to keep. */
            break;
        case QCOW2_EXT_MAGIC_BITMAPS: {
            struct {
                uint32_t nb_bitmaps;
                uint32_t reserved;
                uint64_t dir_size;
                uint64_t dir_offset;
            } __attribute__((packed)) ext;

            if (len != sizeof(ext)) {
                error_setg(errp, "bitmaps_ext: Invalid extension length");
                return -EINVAL;
            }
            ret = bdrv_pread(bs->file, offset, len, &ext, 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "bitmaps_ext: Could not read "
                                 "ext header");
                return ret;
            }
            if (ext.reserved) {
                error_setg(errp, "bitmaps_ext: Reserved field is not zero");
                return -EINVAL;
            }
            /* Kept only if consistent (autoclear bit), see qcow2_do_open. */
            s->nb_bitmaps = be32toh(ext.nb_bitmaps);
            s->bitmap_directory_size = be64toh(ext.dir_size);
            s->bitmap_directory_offset = be64toh(ext.dir_offset);
            if (bitmaps_found) {
                *bitmaps_found = true;
            }
            if (s->nb_bitmaps > 65535) {
                error_setg(errp, "bitmaps_ext: Image has %" PRIu32
                           " bitmaps, exceeding the QEMU supported maximum "
                           "of 65535", s->nb_bitmaps);
                return -EINVAL;
            }
            if (s->nb_bitmaps == 0) {
                error_setg(errp, "found bitmaps extension with zero bitmaps");
                return -EINVAL;
            }
            if (offset_into_cluster(s, s->bitmap_directory_offset)) {
                error_setg(errp, "bitmaps_ext: invalid bitmap directory "
                           "offset");
                return -EINVAL;
            }
            if (s->bitmap_directory_size > 64 * MiB) {
                error_setg(errp, "bitmaps_ext: bitmap directory size (%"
                           PRIu64 ") exceeds the maximum supported size (%d)",
                           s->bitmap_directory_size, 64 * 1024 * 1024);
                return -EINVAL;
            }
            break;
        }
        case QCOW2_EXT_MAGIC_DATA_FILE:
            g_free(s->image_data_file);
            s->image_data_file = g_malloc0(len + 1);
            ret = bdrv_pread(bs->file, offset, len, s->image_data_file, 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "ERROR: Could not read data "
                                 "file name");
                return ret;
            }
            break;
        default: {
            /* Unknown extensions are kept and written back unchanged. */
            Qcow2UnknownHeaderExtension *uext;

            if (!keep_unknown) {
                break;
            }
            uext = g_malloc0(sizeof(*uext) + len);
            uext->magic = magic;
            uext->len = len;
            QLIST_INSERT_HEAD(&s->unknown_header_ext, uext, next);
            ret = bdrv_pread(bs->file, offset, len, uext->data, 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "ERROR: unknown extension: "
                                 "Could not read data");
                return ret;
            }
            break;
        }
        }
        offset += ROUND_UP(len, 8);
    }
    return 0;
}

static void cleanup_unknown_header_ext(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2UnknownHeaderExtension *uext, *next;

    QLIST_FOREACH_SAFE(uext, &s->unknown_header_ext, next, next) {
        QLIST_REMOVE(uext, next);
        g_free(uext);
    }
}

/* ---- header writing ---- */

static size_t header_ext_add(uint8_t *buf, size_t avail, uint32_t magic,
                             const void *data, size_t len)
{
    size_t total = 8 + ROUND_UP(len, 8);

    if (total > avail) {
        return 0;
    }
    stl_be(buf, magic);
    stl_be(buf + 4, len);
    if (len) {
        memcpy(buf + 8, data, len);
    }
    memset(buf + 8 + len, 0, total - 8 - len);
    return total;
}

int qcow2_update_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    size_t buflen = s->cluster_size;
    g_autofree uint8_t *buf = g_malloc0(buflen);
    uint32_t header_length;
    size_t pos, n;
    uint64_t total_size;
    int ret;

    /* Always at least the v3 header with compression_type. */
    if (s->qcow_version >= 3) {
        header_length = QCOW2_V3_HEADER_SIZE + s->unknown_header_fields_size;
    } else {
        header_length = QCOW2_V2_HEADER_SIZE;
    }
    total_size = bs->total_bytes;

    stl_be(buf + 0, QCOW_MAGIC);
    stl_be(buf + 4, s->qcow_version);
    /* backing_file_offset / size filled in below */
    stl_be(buf + 20, s->cluster_bits);
    stq_be(buf + 24, total_size);
    stl_be(buf + 32, s->crypt_method_header);
    stl_be(buf + 36, s->l1_size);
    stq_be(buf + 40, s->l1_table_offset);
    stq_be(buf + 48, s->refcount_table_offset);
    stl_be(buf + 56, size_to_clusters(s, s->refcount_table_size * 8));
    stl_be(buf + 60, s->nb_snapshots);
    stq_be(buf + 64, s->snapshots_offset);
    if (s->qcow_version >= 3) {
        stq_be(buf + 72, s->incompatible_features);
        stq_be(buf + 80, s->compatible_features);
        stq_be(buf + 88, s->autoclear_features);
        stl_be(buf + 96, s->refcount_order);
        stl_be(buf + 100, header_length);
        buf[104] = s->compression_type;
        if (s->unknown_header_fields_size) {
            memcpy(buf + QCOW2_V3_HEADER_SIZE, s->unknown_header_fields,
                   s->unknown_header_fields_size);
        }
    } else if (s->incompatible_features || s->compatible_features ||
               s->autoclear_features) {
        /* v2 cannot express these; only the dirty-free state is valid. */
        return -ENOTSUP;
    }
    pos = header_length;

    if (s->image_backing_format) {
        n = header_ext_add(buf + pos, buflen - pos,
                           QCOW2_EXT_MAGIC_BACKING_FORMAT,
                           s->image_backing_format,
                           strlen(s->image_backing_format));
        if (!n) {
            return -ENOSPC;
        }
        pos += n;
    }
    if (has_data_file(bs) && s->image_data_file) {
        n = header_ext_add(buf + pos, buflen - pos, QCOW2_EXT_MAGIC_DATA_FILE,
                           s->image_data_file, strlen(s->image_data_file));
        if (!n) {
            return -ENOSPC;
        }
        pos += n;
    }
    /*
     * As QEMU: clusters of 4 KiB or less get no feature table, which
     * would leave no room for the other extensions (bitmaps) there.
     */
    if (s->qcow_version >= 3 && s->cluster_size > 4096) {
        n = header_ext_add(buf + pos, buflen - pos,
                           QCOW2_EXT_MAGIC_FEATURE_TABLE, feature_table,
                           sizeof(feature_table));
        if (!n) {
            return -ENOSPC;
        }
        pos += n;
    }
    if (s->nb_bitmaps > 0) {
        uint8_t ext[24] = { 0 };

        stl_be(ext, s->nb_bitmaps);
        stq_be(ext + 8, s->bitmap_directory_size);
        stq_be(ext + 16, s->bitmap_directory_offset);
        n = header_ext_add(buf + pos, buflen - pos, QCOW2_EXT_MAGIC_BITMAPS,
                           ext, sizeof(ext));
        if (!n) {
            return -ENOSPC;
        }
        pos += n;
    }
    {
        Qcow2UnknownHeaderExtension *uext;

        QLIST_FOREACH(uext, &s->unknown_header_ext, next) {
            n = header_ext_add(buf + pos, buflen - pos, uext->magic,
                               uext->data, uext->len);
            if (!n) {
                return -ENOSPC;
            }
            pos += n;
        }
    }
    /* End of extensions. */
    n = header_ext_add(buf + pos, buflen - pos, QCOW2_EXT_MAGIC_END, NULL, 0);
    if (!n) {
        return -ENOSPC;
    }
    pos += n;

    if (s->image_backing_file) {
        size_t len = strlen(s->image_backing_file);

        if (buflen - pos < len) {
            return -ENOSPC;
        }
        memcpy(buf + pos, s->image_backing_file, len);
        stq_be(buf + 8, pos);
        stl_be(buf + 16, len);
        pos += len;
    }

    ret = bdrv_pwrite(bs->file, 0, s->cluster_size, buf, 0);
    if (ret < 0) {
        return ret;
    }
    return 0;
}

/* ---- options ---- */

typedef struct Qcow2ReopenState {
    Qcow2Cache *l2_table_cache;
    Qcow2Cache *refcount_block_cache;
    int l2_slice_size;
    bool use_lazy_refcounts;
    int overlap_check;
    bool discard_passthrough[QCOW2_DISCARD_MAX];
    uint64_t cache_clean_interval;
} Qcow2ReopenState;

static const char *const qcow2_runtime_opt_names[] = {
    QCOW2_OPT_LAZY_REFCOUNTS, QCOW2_OPT_DISCARD_REQUEST,
    QCOW2_OPT_DISCARD_SNAPSHOT, QCOW2_OPT_DISCARD_OTHER, QCOW2_OPT_OVERLAP,
    QCOW2_OPT_OVERLAP_TEMPLATE, QCOW2_OPT_CACHE_SIZE, QCOW2_OPT_L2_CACHE_SIZE,
    QCOW2_OPT_L2_CACHE_ENTRY_SIZE, QCOW2_OPT_REFCOUNT_CACHE_SIZE,
    QCOW2_OPT_CACHE_CLEAN_INTERVAL, "discard-no-unref",
};

static bool read_cache_sizes(BlockDriverState *bs, json_t *options,
                             uint64_t *l2_cache_size,
                             uint64_t *l2_cache_entry_size,
                             uint64_t *refcount_cache_size, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t combined_cache_size = 0;
    uint64_t min_refcount_cache = MIN_REFCOUNT_CACHE_SIZE *
                                  (uint64_t)s->cluster_size;
    uint64_t max_l2_entries = DIV_ROUND_UP(bs->total_bytes, s->cluster_size);
    /* L2 tables are whole clusters. */
    uint64_t max_l2_cache = ROUND_UP(max_l2_entries * l2_entry_size(s),
                                     s->cluster_size);
    bool combined_set = qdict_haskey(options, QCOW2_OPT_CACHE_SIZE);
    bool l2_set = qdict_haskey(options, QCOW2_OPT_L2_CACHE_SIZE);
    bool rc_set = qdict_haskey(options, QCOW2_OPT_REFCOUNT_CACHE_SIZE);
    bool entry_set = qdict_haskey(options, QCOW2_OPT_L2_CACHE_ENTRY_SIZE);

    if (!qdict_get_size_opt(options, QCOW2_OPT_CACHE_SIZE, 0,
                            &combined_cache_size, errp) ||
        !qdict_get_size_opt(options, QCOW2_OPT_L2_CACHE_SIZE, 0,
                            l2_cache_size, errp) ||
        !qdict_get_size_opt(options, QCOW2_OPT_REFCOUNT_CACHE_SIZE, 0,
                            refcount_cache_size, errp) ||
        !qdict_get_size_opt(options, QCOW2_OPT_L2_CACHE_ENTRY_SIZE,
                            s->cluster_size, l2_cache_entry_size, errp)) {
        return false;
    }

    if (combined_set) {
        if (l2_set && rc_set) {
            error_setg(errp, QCOW2_OPT_CACHE_SIZE ", " QCOW2_OPT_L2_CACHE_SIZE
                       " and " QCOW2_OPT_REFCOUNT_CACHE_SIZE " may not be set "
                       "at the same time");
            return false;
        } else if (l2_set && *l2_cache_size > combined_cache_size) {
            error_setg(errp, QCOW2_OPT_L2_CACHE_SIZE " may not exceed "
                       QCOW2_OPT_CACHE_SIZE);
            return false;
        } else if (*refcount_cache_size > combined_cache_size) {
            error_setg(errp, QCOW2_OPT_REFCOUNT_CACHE_SIZE " may not exceed "
                       QCOW2_OPT_CACHE_SIZE);
            return false;
        }
        if (l2_set) {
            *refcount_cache_size = combined_cache_size - *l2_cache_size;
        } else if (rc_set) {
            *l2_cache_size = combined_cache_size - *refcount_cache_size;
        } else if (combined_cache_size >= max_l2_cache + min_refcount_cache) {
            /* As much as possible for L2, the rest for refcounts. */
            *l2_cache_size = max_l2_cache;
            *refcount_cache_size = combined_cache_size - *l2_cache_size;
        } else {
            *refcount_cache_size = MIN(combined_cache_size,
                                       min_refcount_cache);
            *l2_cache_size = combined_cache_size - *refcount_cache_size;
        }
    } else {
        if (!l2_set) {
            *l2_cache_size = MIN(max_l2_cache,
                                 (uint64_t)DEFAULT_L2_CACHE_MAX_SIZE);
        }
        if (!rc_set) {
            *refcount_cache_size = min_refcount_cache;
        }
    }
    /* A cache smaller than the disk works better with small slices. */
    if (*l2_cache_size < max_l2_cache && !entry_set) {
        *l2_cache_entry_size = MIN((uint64_t)s->cluster_size, 4096);
    }
    if (*l2_cache_entry_size < (1 << MIN_CLUSTER_BITS) ||
        *l2_cache_entry_size > (uint64_t)s->cluster_size ||
        !is_power_of_2(*l2_cache_entry_size)) {
        error_setg(errp, "L2 cache entry size must be a power of two between "
                   "%d and the cluster size (%d)", 1 << MIN_CLUSTER_BITS,
                   s->cluster_size);
        return false;
    }
    return true;
}

static int parse_runtime_options(BlockDriverState *bs, json_t *options,
                                 int flags, Qcow2ReopenState *r, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_cache_size, l2_cache_entry_size, refcount_cache_size;
    uint64_t interval;
    const char *overlap = NULL, *templ = NULL;
    int overlap_template;
    bool b;

    if (!read_cache_sizes(bs, options, &l2_cache_size, &l2_cache_entry_size,
                          &refcount_cache_size, errp)) {
        return -EINVAL;
    }
    l2_cache_size /= l2_cache_entry_size;
    if (l2_cache_size < MIN_L2_CACHE_SIZE) {
        l2_cache_size = MIN_L2_CACHE_SIZE;
    }
    if (l2_cache_size > INT_MAX) {
        error_setg(errp, "L2 cache size too big");
        return -EINVAL;
    }
    refcount_cache_size /= s->cluster_size;
    if (refcount_cache_size < MIN_REFCOUNT_CACHE_SIZE) {
        refcount_cache_size = MIN_REFCOUNT_CACHE_SIZE;
    }
    if (refcount_cache_size > INT_MAX) {
        error_setg(errp, "Refcount cache size too big");
        return -EINVAL;
    }

    r->l2_slice_size = l2_cache_entry_size / l2_entry_size(s);
    r->l2_table_cache = qcow2_cache_create(bs, l2_cache_size,
                                           l2_cache_entry_size);
    r->refcount_block_cache = qcow2_cache_create(bs, refcount_cache_size,
                                                 s->cluster_size);
    if (!r->l2_table_cache || !r->refcount_block_cache) {
        error_setg(errp, "Could not allocate metadata caches");
        return -ENOMEM;
    }

    if (!qdict_get_uint_opt(options, QCOW2_OPT_CACHE_CLEAN_INTERVAL,
                            DEFAULT_CACHE_CLEAN_INTERVAL, &interval, errp)) {
        return -EINVAL;
    }
    if (interval > UINT_MAX) {
        error_setg(errp, "Cache clean interval too big");
        return -EINVAL;
    }
    r->cache_clean_interval = interval;

    if (!qdict_get_bool_opt(options, QCOW2_OPT_LAZY_REFCOUNTS,
                            s->compatible_features &
                            QCOW2_COMPAT_LAZY_REFCOUNTS, &b, errp)) {
        return -EINVAL;
    }
    r->use_lazy_refcounts = b;
    if (r->use_lazy_refcounts && s->qcow_version < 3) {
        error_setg(errp, "Lazy refcounts require a qcow2 image with at least "
                   "qemu 1.1 compatibility level");
        return -EINVAL;
    }

    r->discard_passthrough[QCOW2_DISCARD_NEVER] = false;
    r->discard_passthrough[QCOW2_DISCARD_ALWAYS] = true;
    if (!qdict_get_bool_opt(options, QCOW2_OPT_DISCARD_REQUEST,
                            flags & BDRV_O_UNMAP, &b, errp)) {
        return -EINVAL;
    }
    r->discard_passthrough[QCOW2_DISCARD_REQUEST] = b;
    if (!qdict_get_bool_opt(options, QCOW2_OPT_DISCARD_SNAPSHOT, true, &b,
                            errp)) {
        return -EINVAL;
    }
    r->discard_passthrough[QCOW2_DISCARD_SNAPSHOT] = b;
    if (!qdict_get_bool_opt(options, QCOW2_OPT_DISCARD_OTHER, false, &b,
                            errp)) {
        return -EINVAL;
    }
    r->discard_passthrough[QCOW2_DISCARD_OTHER] = b;

    if (!qdict_get_str_opt(options, QCOW2_OPT_OVERLAP, NULL, &overlap,
                           errp) ||
        !qdict_get_str_opt(options, QCOW2_OPT_OVERLAP_TEMPLATE, NULL, &templ,
                           errp)) {
        return -EINVAL;
    }
    if (overlap && templ && strcmp(overlap, templ)) {
        error_setg(errp, "Conflicting values for qcow2 options '"
                   QCOW2_OPT_OVERLAP "' ('%s') and '"
                   QCOW2_OPT_OVERLAP_TEMPLATE "' ('%s')", overlap, templ);
        return -EINVAL;
    }
    if (!templ) {
        templ = overlap ? overlap : "cached";
    }
    if (!strcmp(templ, "none")) {
        overlap_template = 0;
    } else if (!strcmp(templ, "constant")) {
        overlap_template = QCOW2_OL_CONSTANT;
    } else if (!strcmp(templ, "cached")) {
        overlap_template = QCOW2_OL_CACHED;
    } else if (!strcmp(templ, "all")) {
        overlap_template = QCOW2_OL_ALL;
    } else {
        error_setg(errp, "Unsupported value '%s' for qcow2 option "
                   "'overlap-check'. Allowed are any of the following: "
                   "none, constant, cached, all", templ);
        return -EINVAL;
    }
    r->overlap_check = 0;
    for (int i = 0; i < QCOW2_OL_MAX_BITNR; i++) {
        if (!qdict_get_bool_opt(options, overlap_bool_option_names[i],
                                overlap_template & (1 << i), &b, errp)) {
            return -EINVAL;
        }
        r->overlap_check |= (int)b << i;
    }
    if (!qdict_get_bool_opt(options, "discard-no-unref", false, &b, errp)) {
        return -EINVAL;
    }
    s->discard_no_unref = b;

    for (size_t i = 0; i < ARRAY_SIZE(qcow2_runtime_opt_names); i++) {
        json_object_del(options, qcow2_runtime_opt_names[i]);
    }
    for (int i = 0; i < QCOW2_OL_MAX_BITNR; i++) {
        json_object_del(options, overlap_bool_option_names[i]);
    }
    return 0;
}

static void cache_clean_timer_cb(void *opaque)
{
    BlockDriverState *bs = opaque;
    BDRVQcow2State *s = bs->opaque;

    qcow2_cache_clean_unused(s->l2_table_cache);
    qcow2_cache_clean_unused(s->refcount_block_cache);
    timer_mod(s->cache_clean_timer,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              (int64_t)s->cache_clean_interval * 1000);
}

static void cache_clean_timer_init(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->cache_clean_interval > 0) {
        s->cache_clean_timer = aio_timer_new(qemu_get_aio_context(),
                                             QEMU_CLOCK_REALTIME, SCALE_MS,
                                             cache_clean_timer_cb, bs);
        timer_mod(s->cache_clean_timer,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  (int64_t)s->cache_clean_interval * 1000);
    }
}

static void cache_clean_timer_del(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->cache_clean_timer) {
        timer_free(s->cache_clean_timer);
        s->cache_clean_timer = NULL;
    }
}

/* ---- open ---- */

static int qcow2_do_open(BlockDriverState *bs, json_t *options, int flags,
                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t hbuf[QCOW2_V3_HEADER_SIZE];
    QCowHeader header;
    Qcow2ReopenState r = { 0 };
    g_autofree Qcow2Feature *ftable = NULL;
    size_t ftable_n = 0;
    uint64_t ext_end;
    uint64_t l1_vm_state_index;
    bool update_header = false;
    bool bitmaps_found = false;
    int ret;

    ret = bdrv_pread(bs->file, 0, sizeof(hbuf), hbuf, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return ret;
    }
    memset(&header, 0, sizeof(header));
    header.magic = ldl_be(hbuf);
    header.version = ldl_be(hbuf + 4);
    header.backing_file_offset = ldq_be(hbuf + 8);
    header.backing_file_size = ldl_be(hbuf + 16);
    header.cluster_bits = ldl_be(hbuf + 20);
    header.size = ldq_be(hbuf + 24);
    header.crypt_method = ldl_be(hbuf + 32);
    header.l1_size = ldl_be(hbuf + 36);
    header.l1_table_offset = ldq_be(hbuf + 40);
    header.refcount_table_offset = ldq_be(hbuf + 48);
    header.refcount_table_clusters = ldl_be(hbuf + 56);
    header.nb_snapshots = ldl_be(hbuf + 60);
    header.snapshots_offset = ldq_be(hbuf + 64);

    if (header.magic != (uint32_t)QCOW_MAGIC) {
        error_setg(errp, "Image is not in qcow2 format");
        return -EINVAL;
    }
    if (header.version < 2 || header.version > 3) {
        error_setg(errp, "Unsupported qcow2 version %" PRIu32,
                   header.version);
        return -ENOTSUP;
    }
    s->qcow_version = header.version;

    if (header.cluster_bits < MIN_CLUSTER_BITS ||
        header.cluster_bits > MAX_CLUSTER_BITS) {
        error_setg(errp, "Unsupported cluster size: 2^%" PRIu32,
                   header.cluster_bits);
        return -EINVAL;
    }
    s->cluster_bits = header.cluster_bits;
    s->cluster_size = 1 << s->cluster_bits;

    if (header.version == 2) {
        header.incompatible_features = 0;
        header.compatible_features = 0;
        header.autoclear_features = 0;
        header.refcount_order = 4;
        header.header_length = QCOW2_V2_HEADER_SIZE;
    } else {
        header.incompatible_features = ldq_be(hbuf + 72);
        header.compatible_features = ldq_be(hbuf + 80);
        header.autoclear_features = ldq_be(hbuf + 88);
        header.refcount_order = ldl_be(hbuf + 96);
        header.header_length = ldl_be(hbuf + 100);
        if (header.header_length < QCOW2_V3_HEADER_MIN) {
            error_setg(errp, "qcow2 header too short");
            return -EINVAL;
        }
    }
    if (header.header_length > (uint32_t)s->cluster_size) {
        error_setg(errp, "qcow2 header exceeds cluster size");
        return -EINVAL;
    }
    if (header.header_length > 104) {
        header.compression_type = hbuf[104];
    }
    if (header.header_length > QCOW2_V3_HEADER_SIZE) {
        s->unknown_header_fields_size = header.header_length -
                                        QCOW2_V3_HEADER_SIZE;
        s->unknown_header_fields = g_malloc(s->unknown_header_fields_size);
        ret = bdrv_pread(bs->file, QCOW2_V3_HEADER_SIZE,
                         s->unknown_header_fields_size,
                         s->unknown_header_fields, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read unknown qcow2 header "
                             "fields");
            return ret;
        }
    }
    if (header.backing_file_offset > (uint64_t)s->cluster_size) {
        error_setg(errp, "Invalid backing file offset");
        return -EINVAL;
    }
    ext_end = header.backing_file_offset ? header.backing_file_offset
                                         : (uint64_t)s->cluster_size;

    s->incompatible_features = header.incompatible_features;
    s->compatible_features = header.compatible_features;
    s->autoclear_features = header.autoclear_features;

    if (s->incompatible_features & ~QCOW2_INCOMPAT_MASK) {
        read_extensions(bs, header.header_length, ext_end, false, &ftable,
                        &ftable_n, NULL, NULL);
        report_unsupported_feature(errp, ftable, ftable_n,
                                   s->incompatible_features &
                                   ~QCOW2_INCOMPAT_MASK);
        return -ENOTSUP;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        /* Only a repair may write to a corrupt image. */
        if ((flags & BDRV_O_RDWR) && !(flags & BDRV_O_CHECK)) {
            error_setg(errp, "qcow2: Image is corrupt; cannot be opened "
                       "read/write");
            return -EACCES;
        }
    }
    s->subclusters_per_cluster = has_subclusters(s)
                                 ? QCOW_EXTL2_SUBCLUSTERS_PER_CLUSTER : 1;
    s->subcluster_size = s->cluster_size / s->subclusters_per_cluster;
    s->subcluster_bits = ctz64(s->subcluster_size);
    if (s->subcluster_size < (1 << MIN_CLUSTER_BITS)) {
        error_setg(errp, "Unsupported subcluster size: %d",
                   s->subcluster_size);
        return -EINVAL;
    }

    if (header.refcount_order > 6) {
        error_setg(errp, "Reference count entry width too large; may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    s->refcount_order = header.refcount_order;
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX
                                              : (1ULL << s->refcount_bits) - 1;

    if (header.crypt_method > QCOW_CRYPT_LUKS) {
        error_setg(errp, "Unsupported encryption method: %" PRIu32,
                   header.crypt_method);
        return -EINVAL;
    }
    s->crypt_method_header = header.crypt_method;
    if (s->crypt_method_header) {
        error_setg(errp, "qcow2: image '%s' is encrypted (%s); encrypted "
                   "images are not supported", bs->filename,
                   header.crypt_method == QCOW_CRYPT_AES ? "aes" : "luks");
        return -ENOTSUP;
    }

    if (s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
        if (header.compression_type == QCOW2_COMPRESSION_TYPE_ZLIB) {
            error_setg(errp, "qcow2_header: Compression type is zlib but the "
                       "incompatible bit is set");
            return -EINVAL;
        }
    } else if (header.compression_type != QCOW2_COMPRESSION_TYPE_ZLIB) {
        error_setg(errp, "qcow2_header: Compression type is not zlib but the "
                   "incompatible bit is not set");
        return -EINVAL;
    }
    switch (header.compression_type) {
    case QCOW2_COMPRESSION_TYPE_ZLIB:
#ifdef CONFIG_ZSTD
    case QCOW2_COMPRESSION_TYPE_ZSTD:
#endif
        s->compression_type = header.compression_type;
        break;
    default:
        error_setg(errp, "qcow2: unknown compression type: %u",
                   header.compression_type);
        return -ENOTSUP;
    }

    s->l2_bits = s->cluster_bits - ctz64(l2_entry_size(s));
    s->l2_size = 1 << s->l2_bits;
    s->refcount_block_bits = s->cluster_bits - (s->refcount_order - 3);
    s->refcount_block_size = 1 << s->refcount_block_bits;
    bs->total_bytes = header.size;
    s->csize_shift = (62 - (s->cluster_bits - 8));
    s->csize_mask = (1 << (s->cluster_bits - 8)) - 1;
    s->cluster_offset_mask = (1LL << s->csize_shift) - 1;

    s->refcount_table_offset = header.refcount_table_offset;
    s->refcount_table_size = header.refcount_table_clusters <<
                             (s->cluster_bits - 3);
    if (header.refcount_table_clusters == 0 && !(flags & BDRV_O_CHECK)) {
        error_setg(errp, "Image does not contain a reference count table");
        return -EINVAL;
    }
    ret = qcow2_validate_table(bs, s->refcount_table_offset,
                               header.refcount_table_clusters,
                               s->cluster_size, QCOW_MAX_REFTABLE_SIZE,
                               "Reference count table", errp);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_validate_table(bs, header.snapshots_offset,
                               header.nb_snapshots, 40,
                               40 * QCOW_MAX_SNAPSHOTS, "Snapshot table",
                               errp);
    if (ret < 0) {
        return ret;
    }

    ret = qcow2_validate_table(bs, header.l1_table_offset, header.l1_size,
                               sizeof(uint64_t), QCOW_MAX_L1_SIZE,
                               "Active L1 table", errp);
    if (ret < 0) {
        return ret;
    }
    s->l1_size = header.l1_size;
    s->l1_table_offset = header.l1_table_offset;

    l1_vm_state_index = size_to_l1(s, header.size);
    if (l1_vm_state_index > INT_MAX) {
        error_setg(errp, "Image is too big");
        return -EFBIG;
    }
    s->l1_vm_state_index = l1_vm_state_index;
    if (s->l1_size < s->l1_vm_state_index) {
        error_setg(errp, "L1 table is too small");
        return -EINVAL;
    }

    if (s->l1_size > 0) {
        s->l1_table = qemu_try_blockalign(bs->file->bs,
                                          ROUND_UP(s->l1_size * 8, 512));
        if (!s->l1_table) {
            error_setg(errp, "Could not allocate L1 table");
            return -ENOMEM;
        }
        ret = bdrv_pread(bs->file, s->l1_table_offset, s->l1_size * 8,
                         s->l1_table, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read L1 table");
            return ret;
        }
        for (int i = 0; i < s->l1_size; i++) {
            s->l1_table[i] = be64toh(s->l1_table[i]);
        }
    }

    ret = parse_runtime_options(bs, options, flags, &r, errp);
    if (ret < 0) {
        qcow2_cache_destroy(r.l2_table_cache);
        qcow2_cache_destroy(r.refcount_block_cache);
        return ret;
    }
    s->l2_table_cache = r.l2_table_cache;
    s->refcount_block_cache = r.refcount_block_cache;
    s->l2_slice_size = r.l2_slice_size;
    s->use_lazy_refcounts = r.use_lazy_refcounts;
    s->overlap_check = r.overlap_check;
    s->cache_clean_interval = r.cache_clean_interval;
    memcpy(s->discard_passthrough, r.discard_passthrough,
           sizeof(s->discard_passthrough));
    s->cluster_cache_offset = -1;
    s->flags = flags;

    ret = qcow2_refcount_init(bs);
    if (ret != 0) {
        error_setg_errno(errp, -ret, "Could not initialize refcount "
                         "handling");
        return ret;
    }
    QLIST_INIT(&s->cluster_allocs);
    QTAILQ_INIT(&s->discards);

    ret = read_extensions(bs, header.header_length, ext_end, true,
                          &ftable, &ftable_n, &bitmaps_found, errp);
    if (ret < 0) {
        return ret;
    }

    /* External data file. */
    {
        const char *df_ref = qdict_get_try_str(options, "data-file");
        bool df_opts = qdict_haskey(options, "data-file") ||
                       json_object_size(options) > 0;
        json_t *sub = NULL;

        (void)df_opts;
        qdict_extract_subqdict(options, &sub, "data-file.");
        if (s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) {
            g_autofree char *name = NULL;

            if (!df_ref && !json_object_size(sub)) {
                if (!s->image_data_file) {
                    error_setg(errp, "'data-file' is required for this "
                               "image");
                    json_decref(sub);
                    return -EINVAL;
                }
                name = bdrv_get_full_backing_filename_from_filename(
                    bs->filename, s->image_data_file, errp);
                if (!name) {
                    json_decref(sub);
                    return -EINVAL;
                }
            }
            if (json_object_size(sub)) {
                json_t *child = json_object();
                const char *k;
                json_t *v;

                json_object_foreach(sub, k, v) {
                    g_autofree char *key = g_strdup_printf("data-file.%s", k);
                    json_object_set(child, key, v);
                }
                json_object_update(options, child);
                json_decref(child);
            }
            json_decref(sub);
            s->data_file = bdrv_open_child(name, options, "data-file", bs,
                                           &child_of_bds, BDRV_CHILD_DATA,
                                           false, errp);
            if (!s->data_file) {
                return -EINVAL;
            }
        } else {
            json_decref(sub);
            if (df_ref) {
                error_setg(errp, "'data-file' can only be set for images "
                           "with an external data file");
                return -EINVAL;
            }
            s->data_file = bs->file;
            if (data_file_is_raw(bs)) {
                error_setg(errp, "data-file-raw requires a data file");
                return -EINVAL;
            }
        }
    }

    /* Backing file name, stored at the end of the first cluster. */
    if (header.backing_file_offset != 0) {
        uint32_t len = header.backing_file_size;

        if (len > MIN(BDRV_BACKING_NAME_MAX,
                      s->cluster_size - header.backing_file_offset)) {
            error_setg(errp, "Backing file name too long");
            return -EINVAL;
        }
        s->image_backing_file = g_malloc0(len + 1);
        ret = bdrv_pread(bs->file, header.backing_file_offset, len,
                         s->image_backing_file, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read backing file name");
            return ret;
        }
        bdrv_set_str(&bs->backing_file, s->image_backing_file);
        bdrv_set_str(&bs->auto_backing_file, s->image_backing_file);
    }

    s->snapshots_offset = header.snapshots_offset;
    s->nb_snapshots = header.nb_snapshots;
    ret = qcow2_read_snapshots(bs, errp);
    if (ret < 0) {
        return ret;
    }

    /* Bitmaps: consistent only with the autoclear bit. */
    if (bitmaps_found && !(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
        if (s->qcow_version < 3) {
            warn_report("This qcow2 v2 image contains bitmaps, but they may "
                        "have been modified by a program without persistent "
                        "bitmap support; so now they must all be considered "
                        "inconsistent");
        } else {
            warn_report("a program lacking bitmap support modified this "
                        "file, so all bitmaps are now considered "
                        "inconsistent");
        }
        /* QEMU ends this line without a newline. */
        fprintf(stderr, "Some clusters may be leaked, run 'qemu-img check -r' "
                "on the image file to fix.");
        /* Their clusters are leaks now; the extension goes. */
        s->nb_bitmaps = 0;
        s->bitmap_directory_offset = s->bitmap_directory_size = 0;
        update_header = true;
    }

    /* Clear the auto-clear bits we do not know before writing anything. */
    if (bdrv_is_writable(bs) &&
        (s->autoclear_features & ~(uint64_t)QCOW2_AUTOCLEAR_MASK)) {
        s->autoclear_features &= QCOW2_AUTOCLEAR_MASK;
        update_header = true;
    }

    /* Persistent bitmaps, marked in use on disk while we may write. */
    if (!(flags & BDRV_O_INACTIVE)) {
        bool header_updated = false;

        if (!qcow2_load_dirty_bitmaps(bs, &header_updated, errp)) {
            return -EINVAL;
        }
        update_header = update_header && !header_updated;
    }

    if (update_header && bdrv_is_writable(bs)) {
        ret = qcow2_update_header(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not update qcow2 header");
            return ret;
        }
    }

    bs->supported_zero_flags = header.version >= 3
                               ? BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK : 0;
    bs->supported_truncate_flags = BDRV_REQ_ZERO_WRITE;

    /* A dirty image (lazy refcounts) is repaired before use. */
    if (!(flags & BDRV_O_CHECK) && bdrv_is_writable(bs) &&
        (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        BdrvCheckResult result = { 0 };

        ret = qcow2_check_refcounts(bs, &result,
                                    BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
        if (ret < 0 || result.check_errors) {
            if (ret >= 0) {
                ret = -EIO;
            }
            error_setg_errno(errp, -ret, "Could not repair dirty image");
            return ret;
        }
        ret = qcow2_mark_clean(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not update qcow2 header");
            return ret;
        }
    }

    cache_clean_timer_init(bs);
    return 0;
}

static void qcow2_free_state(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    cache_clean_timer_del(bs);
    qemu_vfree(s->l1_table);
    s->l1_table = NULL;
    if (s->l2_table_cache) {
        qcow2_cache_destroy(s->l2_table_cache);
        s->l2_table_cache = NULL;
    }
    if (s->refcount_block_cache) {
        qcow2_cache_destroy(s->refcount_block_cache);
        s->refcount_block_cache = NULL;
    }
    qcow2_refcount_close(bs);
    qcow2_free_snapshots(bs);
    cleanup_unknown_header_ext(bs);
    g_free(s->unknown_header_fields);
    s->unknown_header_fields = NULL;
    g_free(s->image_backing_file);
    g_free(s->image_backing_format);
    g_free(s->image_data_file);
    s->image_backing_file = s->image_backing_format = NULL;
    s->image_data_file = NULL;
    /* The compressed-cluster buffers exist only if one was ever read. */
    g_free(s->cluster_cache);
    qemu_vfree(s->cluster_data);
    s->cluster_cache = NULL;
    s->cluster_data = NULL;
}

static int qcow2_open(BlockDriverState *bs, json_t *options, int flags,
                      Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!bdrv_open_child(NULL, options, "file", bs, &child_of_bds,
                         BDRV_CHILD_IMAGE, false, errp)) {
        return -EINVAL;
    }
    qemu_co_mutex_init(&s->lock);
    QLIST_INIT(&s->unknown_header_ext);
    ret = qcow2_do_open(bs, options, flags, errp);
    if (ret < 0) {
        bdrv_release_all_dirty_bitmaps(bs);
        if (s->data_file && s->data_file != bs->file) {
            bdrv_unref_child(bs, s->data_file);
        }
        s->data_file = NULL;
        qcow2_free_state(bs);
    }
    return ret;
}

static void qcow2_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    bool bitmaps_stored = true;

    if (bs->drv && s->l2_table_cache && !(s->flags & BDRV_O_INACTIVE)) {
        Error *local_err = NULL;

        if (!qcow2_store_persistent_dirty_bitmaps(bs, true, &local_err)) {
            error_prepend(&local_err, "Lost persistent bitmaps during "
                          "inactivation of node '%s': ",
                          bdrv_get_device_or_node_name(bs));
            error_report_err(local_err);
            bitmaps_stored = false;
        }
    }
    if (bs->drv && bdrv_is_writable(bs) && s->l2_table_cache) {
        int r1 = qcow2_cache_flush(bs, s->l2_table_cache);
        int r2 = qcow2_cache_flush(bs, s->refcount_block_cache);

        if (r1 || r2) {
            error_report("Failed to flush the %s cache: %s",
                         r1 ? "L2" : "refcount", strerror(-(r1 ? r1 : r2)));
        } else if (s->use_lazy_refcounts && bitmaps_stored) {
            qcow2_mark_clean(bs);
        }
    }
    if (s->data_file && s->data_file != bs->file) {
        bdrv_unref_child(bs, s->data_file);
    }
    s->data_file = NULL;
    qcow2_free_state(bs);
}

static int qcow2_reopen_prepare(BlockDriverState *bs, json_t *options,
                                int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(flags & BDRV_O_RDWR) && bdrv_is_writable(bs)) {
        /* Going read-only: everything must be on disk and clean. */
        ret = qcow2_reopen_bitmaps_ro(bs, errp);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not flush qcow2 caches");
            return ret;
        }
        if (s->use_lazy_refcounts) {
            ret = qcow2_mark_clean(bs);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not mark qcow2 image "
                                 "clean");
                return ret;
            }
        }
    }
    if ((flags & BDRV_O_RDWR) && !bdrv_is_writable(bs) &&
        (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        error_setg(errp, "qcow2: Image is corrupt; cannot be opened "
                   "read/write");
        return -EACCES;
    }
    return 0;
}

static void qcow2_reopen_commit(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    s->flags = bs->open_flags;
}

static void qcow2_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    bs->bl.pwrite_zeroes_alignment = s->subcluster_size;
    bs->bl.pdiscard_alignment = s->cluster_size;
}

/* ---- reads ---- */

static int coroutine_fn qcow2_co_preadv_compressed(BlockDriverState *bs,
                                                   uint64_t l2_entry,
                                                   uint64_t offset,
                                                   uint64_t bytes,
                                                   QEMUIOVector *qiov,
                                                   size_t qiov_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t coffset;
    int csize;
    int ret = 0;

    qcow2_parse_compressed_l2_entry(bs, l2_entry, &coffset, &csize);
    qemu_co_mutex_lock(&s->lock);
    /*
     * Most images are never compressed: the buffers are allocated on the
     * first compressed read and kept until the image is closed.
     */
    if (!s->cluster_data) {
        /* One more sector for alignment of the compressed data. */
        s->cluster_data = qemu_try_blockalign(bs->file->bs,
                                              QCOW_MAX_CRYPT_CLUSTERS *
                                              s->cluster_size + 512);
        if (!s->cluster_data) {
            ret = -ENOMEM;
            goto out;
        }
    }
    if (!s->cluster_cache) {
        s->cluster_cache = g_malloc(s->cluster_size);
    }
    if (s->cluster_cache_offset != coffset) {
        ret = bdrv_co_pread(bs->file, coffset, csize, s->cluster_data, 0);
        if (ret < 0) {
            goto out;
        }
        if (qcow2_co_decompress(bs, s->cluster_cache, s->cluster_size,
                                s->cluster_data, csize) < 0) {
            s->cluster_cache_offset = -1;
            ret = -EIO;
            goto out;
        }
        s->cluster_cache_offset = coffset;
    }
    qemu_iovec_from_buf(qiov, qiov_offset,
                        s->cluster_cache + offset_into_cluster(s, offset),
                        bytes);
out:
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_preadv_part(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             QEMUIOVector *qiov,
                                             size_t qiov_offset,
                                             BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    while (bytes != 0) {
        unsigned int cur_bytes = MIN(bytes, INT_MAX);
        uint64_t host_offset = 0;
        QCow2SubclusterType type;

        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_get_host_offset(bs, offset, &cur_bytes, &host_offset,
                                    &type);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) {
            return ret;
        }

        switch (type) {
        case QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            if (bs->backing) {
                ret = bdrv_co_preadv_part(bs->backing, offset, cur_bytes,
                                          qiov, qiov_offset, 0);
            } else {
                qemu_iovec_memset(qiov, qiov_offset, 0, cur_bytes);
            }
            break;
        case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
            qemu_iovec_memset(qiov, qiov_offset, 0, cur_bytes);
            break;
        case QCOW2_SUBCLUSTER_COMPRESSED:
            ret = qcow2_co_preadv_compressed(bs, host_offset, offset,
                                             cur_bytes, qiov, qiov_offset);
            break;
        case QCOW2_SUBCLUSTER_NORMAL:
            BLKDBG_EVENT(bs->file, BLKDBG_READ_AIO);
            ret = bdrv_co_preadv_part(s->data_file, host_offset, cur_bytes,
                                      qiov, qiov_offset, 0);
            break;
        default:
            ret = -EIO;
            break;
        }
        if (ret < 0) {
            return ret;
        }
        bytes -= cur_bytes;
        offset += cur_bytes;
        qiov_offset += cur_bytes;
    }
    return 0;
}

/* ---- writes ---- */

/* Does guest [offset, offset + bytes) read as zeroes (cheaply known)? */
static bool coroutine_fn is_zero(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes)
{
    int64_t nr;
    int res;

    if (!bytes) {
        return true;
    }
    /* Clamp to the image length (the tail of an unaligned image). */
    bytes = MIN(bytes, bs->total_bytes - offset);
    if (bytes <= 0) {
        return true;
    }
    do {
        res = bdrv_co_block_status_above(bs, NULL, false, offset, bytes, &nr,
                                         NULL, NULL, NULL);
        offset += nr;
        bytes -= nr;
    } while (res >= 0 && (res & BDRV_BLOCK_ZERO) && nr && bytes);
    return res >= 0 && (res & BDRV_BLOCK_ZERO) && bytes == 0;
}

/* Read the guest view of a COW region (old data, backing, or zeroes). */
static int coroutine_fn read_cow_region(BlockDriverState *bs,
                                        uint64_t guest_offset,
                                        unsigned bytes, void *buf)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, bytes);
    return qcow2_co_preadv_part(bs, guest_offset, bytes, &qiov, 0, 0);
}

/*
 * Write the guest data of one allocation @m together with its COW regions
 * in a single request when they are adjacent.  Returns true if @m's COW
 * was handled (data written or merged).
 */
static int coroutine_fn perform_cow_and_write(BlockDriverState *bs,
                                              QCowL2Meta *m,
                                              uint64_t host_offset,
                                              uint64_t guest_offset,
                                              uint64_t bytes,
                                              QEMUIOVector *qiov,
                                              size_t qiov_offset,
                                              bool *data_written)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2COWRegion *start = &m->cow_start;
    Qcow2COWRegion *end = &m->cow_end;
    uint64_t m_data_start = m->offset + start->offset + start->nb_bytes;
    bool merge = (m_data_start == guest_offset &&
                  m->offset + end->offset == guest_offset + bytes);
    uint8_t *start_buf = NULL, *end_buf = NULL;
    QEMUIOVector wqiov;
    int ret = 0;

    if (start->nb_bytes == 0 && end->nb_bytes == 0) {
        return 0;
    }

    /* Fresh clusters whose COW parts read as zero: zero them cheaply. */
    if (!m->keep_old_clusters && !has_data_file(bs) &&
        is_zero(bs, m->offset + start->offset, start->nb_bytes) &&
        is_zero(bs, m->offset + end->offset, end->nb_bytes)) {
        ret = bdrv_co_pwrite_zeroes(s->data_file, m->alloc_offset,
                                    (uint64_t)m->nb_clusters <<
                                    s->cluster_bits, BDRV_REQ_NO_FALLBACK);
        if (ret == 0) {
            return 0;
        }
        /* No cheap zeroes: copy the zero data like any COW. */
    }

    if (start->nb_bytes) {
        start_buf = qemu_try_blockalign(bs, start->nb_bytes);
        if (!start_buf) {
            return -ENOMEM;
        }
        ret = read_cow_region(bs, m->offset + start->offset,
                              start->nb_bytes, start_buf);
        if (ret < 0) {
            goto out;
        }
    }
    if (end->nb_bytes) {
        end_buf = qemu_try_blockalign(bs, end->nb_bytes);
        if (!end_buf) {
            ret = -ENOMEM;
            goto out;
        }
        ret = read_cow_region(bs, m->offset + end->offset, end->nb_bytes,
                              end_buf);
        if (ret < 0) {
            goto out;
        }
    }

    if (merge && qiov) {
        qemu_iovec_init(&wqiov, qiov->niov + 2);
        if (start_buf) {
            qemu_iovec_add(&wqiov, start_buf, start->nb_bytes);
        }
        qemu_iovec_concat(&wqiov, qiov, qiov_offset, bytes);
        if (end_buf) {
            qemu_iovec_add(&wqiov, end_buf, end->nb_bytes);
        }
        ret = bdrv_co_pwritev(s->data_file, m->alloc_offset + start->offset,
                              wqiov.size, &wqiov, 0);
        qemu_iovec_destroy(&wqiov);
        if (ret == 0) {
            *data_written = true;
        }
    } else {
        if (start_buf) {
            ret = bdrv_co_pwrite(s->data_file, m->alloc_offset +
                                 start->offset, start->nb_bytes, start_buf,
                                 0);
            if (ret < 0) {
                goto out;
            }
        }
        if (end_buf) {
            ret = bdrv_co_pwrite(s->data_file, m->alloc_offset + end->offset,
                                 end->nb_bytes, end_buf, 0);
        }
    }
out:
    qemu_vfree(start_buf);
    qemu_vfree(end_buf);
    (void)host_offset;
    return ret;
}

/* Unlink finished allocations and let waiting writers go on. */
static void finish_l2metas(BlockDriverState *bs, QCowL2Meta **l2meta,
                           bool link, int *ret)
{
    while (*l2meta) {
        QCowL2Meta *m = *l2meta;

        if (link && *ret >= 0) {
            int r = qcow2_alloc_cluster_link_l2(bs, m);
            if (r < 0) {
                *ret = r;
                qcow2_alloc_cluster_abort(bs, m);
            }
        } else if (link || *ret < 0) {
            qcow2_alloc_cluster_abort(bs, m);
        }
        QLIST_REMOVE(m, next_in_flight);
        qemu_co_queue_restart_all(&m->dependent_requests);
        *l2meta = m->next;
        g_free(m);
    }
}

static int coroutine_fn qcow2_co_pwritev_part(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes,
                                              QEMUIOVector *qiov,
                                              size_t qiov_offset,
                                              BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    while (bytes != 0) {
        QCowL2Meta *l2meta = NULL;
        unsigned int cur_bytes = MIN(bytes, INT_MAX);
        uint64_t host_offset;
        bool data_written = false;

        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_alloc_host_offset(bs, offset, &cur_bytes, &host_offset,
                                      &l2meta);
        if (ret < 0) {
            finish_l2metas(bs, &l2meta, false, &ret);
            qemu_co_mutex_unlock(&s->lock);
            return ret;
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, host_offset, cur_bytes,
                                            true);
        if (ret < 0) {
            finish_l2metas(bs, &l2meta, true, &ret);
            qemu_co_mutex_unlock(&s->lock);
            return ret;
        }
        if (l2meta && s->use_lazy_refcounts) {
            ret = qcow2_mark_dirty(bs);
            if (ret < 0) {
                finish_l2metas(bs, &l2meta, true, &ret);
                qemu_co_mutex_unlock(&s->lock);
                return ret;
            }
        }
        qemu_co_mutex_unlock(&s->lock);

        BLKDBG_EVENT(bs->file, BLKDBG_WRITE_AIO);
        /* Copy-on-write parts, merged with the guest data if possible. */
        for (QCowL2Meta *m = l2meta; m && ret == 0; m = m->next) {
            bool merged = false;

            ret = perform_cow_and_write(bs, m, host_offset, offset, cur_bytes,
                                        qiov, qiov_offset, &merged);
            data_written |= merged;
        }
        if (ret == 0 && !data_written) {
            ret = bdrv_co_pwritev_part(s->data_file, host_offset, cur_bytes,
                                       qiov, qiov_offset, 0);
        }

        qemu_co_mutex_lock(&s->lock);
        finish_l2metas(bs, &l2meta, true, &ret);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) {
            return ret;
        }
        bytes -= cur_bytes;
        offset += cur_bytes;
        qiov_offset += cur_bytes;
    }
    return 0;
}

static int coroutine_fn qcow2_co_pwrite_zeroes(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t head = offset_into_subcluster(s, offset);
    uint32_t tail = ROUND_UP(offset + bytes, s->subcluster_size) -
                    (offset + bytes);
    int ret;

    if (offset + bytes == bs->total_bytes) {
        tail = 0;
    }
    if (head || tail) {
        uint64_t off;
        unsigned int nr;
        QCow2SubclusterType type;

        assert(head + bytes + tail <= (uint64_t)s->subcluster_size);
        /* The rest of the subcluster must already read as zeroes. */
        if (!(is_zero(bs, offset - head, head) &&
              is_zero(bs, offset + bytes, tail))) {
            return -ENOTSUP;
        }
        qemu_co_mutex_lock(&s->lock);
        offset -= head;
        bytes = s->subcluster_size;
        nr = s->subcluster_size;
        ret = qcow2_get_host_offset(bs, offset, &nr, &off, &type);
        if (ret < 0 ||
            (type != QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN &&
             type != QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC &&
             type != QCOW2_SUBCLUSTER_ZERO_PLAIN &&
             type != QCOW2_SUBCLUSTER_ZERO_ALLOC)) {
            qemu_co_mutex_unlock(&s->lock);
            return ret < 0 ? ret : -ENOTSUP;
        }
    } else {
        qemu_co_mutex_lock(&s->lock);
    }
    if (s->use_lazy_refcounts) {
        ret = qcow2_mark_dirty(bs);
        if (ret < 0) {
            qemu_co_mutex_unlock(&s->lock);
            return ret;
        }
    }
    if (data_file_is_raw(bs)) {
        /* The raw data file must read as zeroes on its own, too. */
        qemu_co_mutex_unlock(&s->lock);
        ret = bdrv_co_pwrite_zeroes(s->data_file, offset, bytes, flags);
        if (ret < 0) {
            return ret;
        }
        qemu_co_mutex_lock(&s->lock);
    }
    ret = qcow2_subcluster_zeroize(bs, offset, bytes, flags);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_pdiscard(BlockDriverState *bs,
                                          int64_t offset, int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!QEMU_IS_ALIGNED(offset | bytes, s->cluster_size)) {
        assert(bytes < s->cluster_size);
        /* Only the partial cluster at the end of an unaligned image. */
        if (!QEMU_IS_ALIGNED(offset, s->cluster_size) ||
            offset + bytes != bs->total_bytes) {
            return -ENOTSUP;
        }
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_cluster_discard(bs, offset, bytes, QCOW2_DISCARD_REQUEST,
                                false);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_pwritev_compressed_part(
    BlockDriverState *bs, int64_t offset, int64_t bytes, QEMUIOVector *qiov,
    size_t qiov_offset)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *in_buf = NULL;
    g_autofree uint8_t *out_buf = NULL;
    ssize_t out_len;
    uint64_t cluster_offset;
    int ret;

    if (has_data_file(bs)) {
        return -ENOTSUP;
    }
    if (bytes == 0) {
        return 0;
    }
    /* Check it all before writing anything. */
    if (offset_into_cluster(s, offset) ||
        (offset_into_cluster(s, bytes) && offset + bytes != bs->total_bytes)) {
        return -EINVAL;
    }
    /* One whole cluster at a time (the image tail may be shorter). */
    while (bytes > 0) {
        int64_t chunk = MIN(bytes, s->cluster_size);

        if (offset_into_cluster(s, offset)) {
            return -EINVAL;
        }
        if (chunk != s->cluster_size && offset + chunk != bs->total_bytes) {
            return -EINVAL;
        }
        in_buf = g_malloc0(s->cluster_size);
        qemu_iovec_to_buf(qiov, qiov_offset, in_buf, chunk);
        out_buf = g_malloc(s->cluster_size);
        out_len = qcow2_co_compress(bs, out_buf, s->cluster_size - 1, in_buf,
                                    s->cluster_size);
        if (out_len == -ENOMEM) {
            /* Does not shrink: store it uncompressed. */
            ret = qcow2_co_pwritev_part(bs, offset, chunk, qiov, qiov_offset,
                                        0);
            if (ret < 0) {
                return ret;
            }
            goto next;
        } else if (out_len < 0) {
            return -EINVAL;
        }
        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_alloc_compressed_cluster_offset(bs, offset, out_len,
                                                    &cluster_offset);
        if (ret < 0) {
            qemu_co_mutex_unlock(&s->lock);
            return ret;
        }
        s->cluster_cache_offset = -1;
        ret = qcow2_pre_write_overlap_check(bs, 0, cluster_offset, out_len,
                                            true);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) {
            return ret;
        }
        ret = bdrv_co_pwrite(s->data_file, cluster_offset, out_len, out_buf,
                             0);
        if (ret < 0) {
            return ret;
        }
next:
        g_free(g_steal_pointer(&in_buf));
        g_free(g_steal_pointer(&out_buf));
        offset += chunk;
        bytes -= chunk;
        qiov_offset += chunk;
    }
    return 0;
}

static int coroutine_fn qcow2_co_block_status(BlockDriverState *bs,
                                              bool want_zero, int64_t offset,
                                              int64_t count, int64_t *pnum,
                                              int64_t *map,
                                              BlockDriverState **file)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t host_offset;
    unsigned int bytes;
    QCow2SubclusterType type;
    int ret, status = 0;

    qemu_co_mutex_lock(&s->lock);
    if (!s->metadata_preallocation_checked) {
        ret = qcow2_detect_metadata_preallocation(bs);
        s->metadata_preallocation = (ret == 1);
        s->metadata_preallocation_checked = true;
    }
    bytes = MIN(INT_MAX, count);
    ret = qcow2_get_host_offset(bs, offset, &bytes, &host_offset, &type);
    qemu_co_mutex_unlock(&s->lock);
    if (ret < 0) {
        return ret;
    }
    *pnum = bytes;

    if (type == QCOW2_SUBCLUSTER_NORMAL ||
        type == QCOW2_SUBCLUSTER_ZERO_ALLOC ||
        type == QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC) {
        *map = host_offset;
        *file = s->data_file->bs;
        status |= BDRV_BLOCK_OFFSET_VALID;
    }
    if (type == QCOW2_SUBCLUSTER_ZERO_PLAIN ||
        type == QCOW2_SUBCLUSTER_ZERO_ALLOC) {
        status |= BDRV_BLOCK_ZERO;
    } else if (type != QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN &&
               type != QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC) {
        status |= BDRV_BLOCK_DATA;
    }
    if (s->metadata_preallocation && (status & BDRV_BLOCK_DATA) &&
        (status & BDRV_BLOCK_OFFSET_VALID)) {
        status |= BDRV_BLOCK_RECURSE;
    }
    return status;
}

/* VM state lives past the end of the guest disk in the same tables. */
static int coroutine_fn qcow2_co_readv_vmstate(BlockDriverState *bs,
                                               QEMUIOVector *qiov, int64_t pos)
{
    BDRVQcow2State *s = bs->opaque;

    return qcow2_co_preadv_part(bs, qcow2_vm_state_offset(s) + pos,
                                qiov->size, qiov, 0, 0);
}

static int coroutine_fn qcow2_co_writev_vmstate(BlockDriverState *bs,
                                                QEMUIOVector *qiov,
                                                int64_t pos)
{
    BDRVQcow2State *s = bs->opaque;

    return qcow2_co_pwritev_part(bs, qcow2_vm_state_offset(s) + pos,
                                 qiov->size, qiov, 0, 0);
}

static int coroutine_fn qcow2_co_flush_to_os(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_write_caches(bs);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* ---- preallocation and resize ---- */

/* Allocate (and link) clusters for guest [offset, new_length). */
static int coroutine_fn preallocate_co(BlockDriverState *bs, uint64_t offset,
                                       uint64_t new_length, PreallocMode mode,
                                       Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes = new_length - offset;
    uint64_t host_offset = 0;
    int64_t file_length;
    unsigned int cur_bytes;
    int ret;

    while (bytes) {
        QCowL2Meta *meta = NULL;

        cur_bytes = MIN(bytes, QEMU_ALIGN_DOWN(INT_MAX, s->cluster_size));
        ret = qcow2_alloc_host_offset(bs, offset, &cur_bytes, &host_offset,
                                      &meta);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Allocating clusters failed");
            finish_l2metas(bs, &meta, false, &ret);
            return ret;
        }
        for (QCowL2Meta *m = meta; m; m = m->next) {
            m->prealloc = true;
        }
        finish_l2metas(bs, &meta, true, &ret);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Mapping clusters failed");
            return ret;
        }
        bytes -= cur_bytes;
        offset += cur_bytes;
    }

    /* Make the file cover every allocated cluster. */
    file_length = bdrv_getlength(s->data_file->bs);
    if (file_length < 0) {
        error_setg_errno(errp, -file_length, "Could not get file size");
        return file_length;
    }
    if (host_offset + cur_bytes > (uint64_t)file_length) {
        if (mode == PREALLOC_MODE_METADATA) {
            mode = PREALLOC_MODE_OFF;
        }
        ret = bdrv_co_truncate(s->data_file, host_offset + cur_bytes, false,
                               mode, 0, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/*
 * falloc/full preallocation of guest [old_length, new_length) in the image
 * file itself: refcount structures that cover the new area are made first
 * (at the end of the file), then the data clusters follow them in one run
 * that the file allocates in one go, then the L2 entries are linked.  This
 * is QEMU's layout, so the images are the same byte for byte.
 */
static int coroutine_fn preallocate_file_area(BlockDriverState *bs,
                                              uint64_t old_length,
                                              uint64_t new_length,
                                              PreallocMode mode, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_size, last_cluster, area_start, allocated;
    uint64_t nb_data, nb_l2, host_offset, guest_offset;
    int ret;

    file_size = bdrv_getlength(bs->file->bs);
    if (file_size < 0) {
        error_setg_errno(errp, -file_size, "Failed to inquire current file "
                         "length");
        return file_size;
    }
    last_cluster = qcow2_get_last_cluster(bs, file_size);
    if (last_cluster >= 0) {
        file_size = (last_cluster + 1) * s->cluster_size;
    } else {
        file_size = ROUND_UP(file_size, s->cluster_size);
    }

    nb_data = (ROUND_UP(new_length, s->cluster_size) -
               start_of_cluster(s, old_length)) >> s->cluster_bits;
    /*
     * L2 tables are allocated wherever they fit; the new refcount blocks
     * only need to be able to count them (one more for an unaligned head
     * or tail), so that linking allocates no refcount metadata.
     */
    nb_l2 = DIV_ROUND_UP(nb_data, s->cluster_size / l2_entry_size(s)) + 1;
    area_start = qcow2_refcount_area(bs, file_size, nb_data + nb_l2, true,
                                     0, 0);
    if (area_start < 0) {
        error_setg_errno(errp, -area_start, "Failed to resize refcount "
                         "structures");
        return area_start;
    }
    allocated = qcow2_alloc_clusters_at(bs, area_start, nb_data);
    if (allocated < 0) {
        error_setg_errno(errp, -allocated, "Failed to allocate data "
                         "clusters");
        return allocated;
    }
    assert((uint64_t)allocated == nb_data);

    ret = bdrv_co_truncate(bs->file, area_start + nb_data * s->cluster_size,
                           false, mode, 0, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to resize underlying file: ");
        qcow2_free_clusters(bs, area_start, nb_data * s->cluster_size,
                            QCOW2_DISCARD_OTHER);
        return ret;
    }

    host_offset = area_start;
    guest_offset = old_length;
    while (nb_data) {
        uint64_t n = MIN(nb_data, (uint64_t)s->l2_slice_size -
                         offset_to_l2_slice_index(s, guest_offset));
        QCowL2Meta m = {
            .offset = start_of_cluster(s, guest_offset),
            .alloc_offset = host_offset,
            .nb_clusters = n,
            .cow_start = { 0, offset_into_cluster(s, guest_offset) },
            .cow_end = { n << s->cluster_bits, 0 },
            .prealloc = true,
        };

        qemu_co_queue_init(&m.dependent_requests);
        ret = qcow2_alloc_cluster_link_l2(bs, &m);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to update L2 tables");
            qcow2_free_clusters(bs, host_offset, nb_data * s->cluster_size,
                                QCOW2_DISCARD_NEVER);
            return ret;
        }
        guest_offset = m.offset + (n << s->cluster_bits);
        host_offset += n << s->cluster_bits;
        nb_data -= n;
    }
    return 0;
}

static int coroutine_fn qcow2_co_truncate(BlockDriverState *bs, int64_t offset,
                                          bool exact, PreallocMode prealloc,
                                          BdrvRequestFlags flags,
                                          Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_length;
    int64_t new_l1_size;
    uint64_t be_size;
    int ret;

    if (prealloc != PREALLOC_MODE_OFF && prealloc != PREALLOC_MODE_METADATA &&
        prealloc != PREALLOC_MODE_FALLOC && prealloc != PREALLOC_MODE_FULL) {
        error_setg(errp, "Unsupported preallocation mode '%s'",
                   PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    if (!QEMU_IS_ALIGNED(offset, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "The new size must be a multiple of %u",
                   (unsigned)BDRV_SECTOR_SIZE);
        return -EINVAL;
    }

    qemu_co_mutex_lock(&s->lock);
    if (s->nb_snapshots && s->qcow_version < 3) {
        /* v2 snapshot entries cannot record their own disk size. */
        error_setg(errp, "Can't resize a v2 image which has snapshots");
        ret = -ENOTSUP;
        goto fail;
    }
    /* Only bitmaps that are all in memory can follow the new size. */
    if (qcow2_truncate_bitmaps_check(bs, errp)) {
        ret = -ENOTSUP;
        goto fail;
    }

    old_length = bs->total_bytes;
    new_l1_size = size_to_l1(s, offset);

    if ((uint64_t)offset < old_length) {
        int64_t last_cluster, old_file_size;

        if (prealloc != PREALLOC_MODE_OFF) {
            error_setg(errp, "Preallocation can't be used for shrinking an "
                       "image");
            ret = -EINVAL;
            goto fail;
        }
        ret = qcow2_cluster_discard(bs, ROUND_UP(offset, s->cluster_size),
                                    old_length - ROUND_UP(offset,
                                                          s->cluster_size),
                                    QCOW2_DISCARD_ALWAYS, true);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to discard cropped "
                             "clusters");
            goto fail;
        }
        ret = qcow2_shrink_l1_table(bs, new_l1_size);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to reduce the number of L2 "
                             "tables");
            goto fail;
        }
        ret = qcow2_shrink_reftable(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to discard unused "
                             "refblocks");
            goto fail;
        }
        old_file_size = bdrv_getlength(bs->file->bs);
        if (old_file_size < 0) {
            error_setg_errno(errp, -old_file_size, "Failed to inquire "
                             "current file length");
            ret = old_file_size;
            goto fail;
        }
        last_cluster = qcow2_get_last_cluster(bs, old_file_size);
        if (last_cluster < 0) {
            error_setg_errno(errp, -last_cluster, "Failed to find the last "
                             "cluster");
            ret = last_cluster;
            goto fail;
        }
        if ((last_cluster + 1) * s->cluster_size < old_file_size) {
            Error *local_err = NULL;

            bdrv_co_truncate(bs->file, (last_cluster + 1) * s->cluster_size,
                             false, PREALLOC_MODE_OFF, 0, &local_err);
            if (local_err) {
                error_prepend(&local_err, "Failed to truncate the tail of "
                              "the image: ");
                warn_report_err(local_err);
            }
        }
    } else {
        ret = qcow2_grow_l1_table(bs, new_l1_size, true);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to grow the L1 table");
            goto fail;
        }
        if (data_file_is_raw(bs) && prealloc == PREALLOC_MODE_OFF) {
            /* The raw data file must stay usable: map the new area. */
            prealloc = PREALLOC_MODE_METADATA;
        }
    }

    switch (prealloc) {
    case PREALLOC_MODE_OFF:
        if (has_data_file(bs)) {
            ret = bdrv_co_truncate(s->data_file, offset, exact, prealloc, 0,
                                   errp);
            if (ret < 0) {
                goto fail;
            }
        }
        break;
    case PREALLOC_MODE_METADATA:
        ret = preallocate_co(bs, old_length, offset, prealloc, errp);
        if (ret < 0) {
            goto fail;
        }
        break;
    case PREALLOC_MODE_FALLOC:
    case PREALLOC_MODE_FULL:
        if (has_data_file(bs)) {
            /* Metadata here, the space in the data file. */
            ret = preallocate_co(bs, old_length, offset,
                                 PREALLOC_MODE_METADATA, errp);
            if (ret < 0) {
                goto fail;
            }
            ret = bdrv_co_truncate(s->data_file, offset, true, prealloc, 0,
                                   errp);
            if (ret < 0) {
                goto fail;
            }
            break;
        }
        ret = preallocate_file_area(bs, old_length, offset, prealloc, errp);
        if (ret < 0) {
            goto fail;
        }
        break;
    default:
        abort();
    }

    if ((flags & BDRV_REQ_ZERO_WRITE) && (uint64_t)offset > old_length) {
        uint64_t zero_start = QEMU_ALIGN_UP(old_length, s->subcluster_size);

        /* Use zero clusters where possible; the rest is already zero. */
        bs->total_bytes = offset;
        ret = qcow2_subcluster_zeroize(bs, zero_start, offset - zero_start,
                                       BDRV_REQ_ZERO_WRITE);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to zero out new clusters");
            bs->total_bytes = old_length;
            goto fail;
        }
    }

    if (prealloc != PREALLOC_MODE_OFF) {
        ret = qcow2_write_caches(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to flush the preallocated "
                             "area to disk");
            goto fail;
        }
    }

    bs->total_bytes = offset;
    be_size = htobe64(offset);
    ret = bdrv_co_pwrite_sync(bs->file, 24, sizeof(be_size), &be_size, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image size");
        goto fail;
    }
    s->l1_vm_state_index = new_l1_size;
    ret = 0;
fail:
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* ---- emptying (qemu-img commit) ---- */

/*
 * Reset the image to the state of a new one: header, refcount table, one
 * refblock and an empty L1 table, the file cut after them.  The refcounts
 * are wrong while this runs, so the dirty bit is set first: a crash in
 * between leaves an image that open repairs.
 */
static int make_completely_empty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int l1_clusters = DIV_ROUND_UP(s->l1_size, s->cluster_size /
                                   (int)sizeof(uint64_t));
    uint64_t l1_bytes = (uint64_t)s->l1_size * sizeof(uint64_t);
    uint64_t *table;
    uint64_t be_entry;
    int64_t offset;
    Error *local_err = NULL;
    struct {
        uint64_t l1_offset;
        uint64_t reftable_offset;
        uint32_t reftable_clusters;
    } __attribute__((packed)) hdr;
    int ret;

    ret = qcow2_cache_empty(bs, s->l2_table_cache);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_cache_empty(bs, s->refcount_block_cache);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        return ret;
    }

    /* From here on the on-disk refcounts do not match the references. */
    ret = bdrv_pwrite_zeroes(bs->file, s->l1_table_offset,
                             (int64_t)l1_clusters * s->cluster_size, 0);
    if (ret < 0) {
        goto broken;
    }
    memset(s->l1_table, 0, l1_bytes);
    /* Room for the reftable, one refblock and the L1 table after the header. */
    ret = bdrv_pwrite_zeroes(bs->file, s->cluster_size,
                             (int64_t)(2 + l1_clusters) * s->cluster_size, 0);
    if (ret < 0) {
        goto broken;
    }
    hdr.l1_offset = htobe64(3ULL * s->cluster_size);
    hdr.reftable_offset = htobe64(s->cluster_size);
    hdr.reftable_clusters = htobe32(1);
    /* l1_table_offset, refcount_table_offset and _clusters: bytes 40..59. */
    ret = bdrv_pwrite_sync(bs->file, 40, sizeof(hdr), &hdr, 0);
    if (ret < 0) {
        goto broken;
    }
    s->l1_table_offset = 3ULL * s->cluster_size;

    be_entry = htobe64(2ULL * s->cluster_size);
    ret = bdrv_pwrite_sync(bs->file, s->cluster_size, sizeof(be_entry),
                           &be_entry, 0);
    if (ret < 0) {
        goto broken;
    }
    table = g_new0(uint64_t, 1);
    table[0] = 2ULL * s->cluster_size;
    qcow2_reftable_replace(s, table, 1);
    s->refcount_table_offset = s->cluster_size;
    s->refcount_table_size = s->cluster_size / sizeof(uint64_t);
    s->free_cluster_index = 0;

    /* Count header, reftable, refblock and L1 table: clusters 0 to 3+. */
    assert(3 + l1_clusters <= s->refcount_block_size);
    offset = qcow2_alloc_clusters(bs, 3ULL * s->cluster_size + l1_bytes);
    if (offset < 0) {
        ret = offset;
        goto broken;
    }
    assert(offset == 0);

    ret = qcow2_mark_clean(bs);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_truncate(bs->file, (int64_t)(3 + l1_clusters) * s->cluster_size,
                        false, PREALLOC_MODE_OFF, 0, &local_err);
    if (ret < 0) {
        error_report_err(local_err);
        return ret;
    }
    return 0;

broken:
    /* The in-memory refcounts cannot be trusted any more: stop using it. */
    bs->drv = NULL;
    return ret;
}

static int qcow2_make_empty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t step = QEMU_ALIGN_DOWN(INT_MAX, s->cluster_size);
    int64_t end = bs->total_bytes;
    int l1_clusters = DIV_ROUND_UP(s->l1_size, s->cluster_size /
                                   (int)sizeof(uint64_t));
    int ret = 0;

    /*
     * Resetting needs the dirty bit (v3), nothing else that owns clusters
     * (snapshots, bitmaps, encryption, a data file), and the first
     * clusters must fit in one refblock.
     */
    if (s->qcow_version >= 3 && !s->nb_snapshots && !s->nb_bitmaps &&
        3 + l1_clusters <= s->refcount_block_size &&
        s->crypt_method_header != QCOW_CRYPT_LUKS && !has_data_file(bs)) {
        return make_completely_empty(bs);
    }
    /* Otherwise drop every cluster the active L1 table references. */
    for (int64_t offset = 0; offset < end; offset += step) {
        ret = qcow2_cluster_discard(bs, offset, MIN(step, end - offset),
                                    QCOW2_DISCARD_SNAPSHOT, true);
        if (ret < 0) {
            break;
        }
    }
    return ret;
}

/*
 * The space the image file takes; an external data file is not counted
 * (as QEMU 7.2's qemu-img info shows it).
 */
static int64_t qcow2_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_get_allocated_file_size(bs->file->bs);
}

/* ---- information ---- */

static int64_t qcow2_getlength(BlockDriverState *bs)
{
    return bs->total_bytes;
}

static int qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcow2State *s = bs->opaque;

    bdi->cluster_size = s->cluster_size;
    bdi->vm_state_offset = qcow2_vm_state_offset(s);
    bdi->is_dirty = s->incompatible_features & QCOW2_INCOMPAT_DIRTY;
    return 0;
}

/* The bitmap directory as format-specific "bitmaps" (NULL if empty). */
static bool qcow2_bitmaps_info(BlockDriverState *bs, json_t **out,
                               Error **errp)
{
    Qcow2BitmapInfoList *list;
    Visitor *v;

    *out = NULL;
    if (!qcow2_get_bitmap_info_list(bs, &list, errp)) {
        return false;
    }
    if (list) {
        v = qobject_output_visitor_new(out);
        visit_type_Qcow2BitmapInfoList(v, NULL, &list, &error_abort);
        visit_complete(v, out);
        visit_free(v);
        qapi_free_Qcow2BitmapInfoList(list);
    }
    return true;
}

static json_t *qcow2_get_specific_info(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    json_t *data, *info, *bitmaps = NULL;

    /* Only v3 images list their bitmaps, and only when they have some. */
    if (s->qcow_version >= 3 && !qcow2_bitmaps_info(bs, &bitmaps, errp)) {
        return NULL;
    }
    data = json_object();
    info = json_object();
    if (s->qcow_version == 2) {
        json_object_set_new(data, "compat", json_string("0.10"));
        json_object_set_new(data, "compression-type", json_string("zlib"));
        json_object_set_new(data, "refcount-bits",
                            json_integer(s->refcount_bits));
    } else {
        json_object_set_new(data, "compat", json_string("1.1"));
        json_object_set_new(data, "compression-type",
                            json_string(s->compression_type ==
                                        QCOW2_COMPRESSION_TYPE_ZSTD ? "zstd"
                                                                    : "zlib"));
        json_object_set_new(data, "lazy-refcounts",
                            json_boolean(s->compatible_features &
                                         QCOW2_COMPAT_LAZY_REFCOUNTS));
        json_object_set_new(data, "corrupt",
                            json_boolean(s->incompatible_features &
                                         QCOW2_INCOMPAT_CORRUPT));
        json_object_set_new(data, "refcount-bits",
                            json_integer(s->refcount_bits));
        if (bitmaps) {
            json_object_set_new(data, "bitmaps", bitmaps);
        }
        if (has_data_file(bs) && s->image_data_file) {
            json_object_set_new(data, "data-file",
                                json_string(s->image_data_file));
            json_object_set_new(data, "data-file-raw",
                                json_boolean(data_file_is_raw(bs)));
        }
        json_object_set_new(data, "extended-l2",
                            json_boolean(has_subclusters(s)));
    }
    json_object_set_new(info, "type", json_string("qcow2"));
    json_object_set_new(info, "data", data);
    return info;
}

static int qcow2_change_backing_file(BlockDriverState *bs,
                                     const char *backing_file,
                                     const char *backing_fmt)
{
    BDRVQcow2State *s = bs->opaque;
    char *old_file = s->image_backing_file;
    char *old_fmt = s->image_backing_format;
    int ret;

    /* Adding a backing file means an image with a data file can't be raw. */
    if (backing_file && data_file_is_raw(bs)) {
        return -EINVAL;
    }
    if (backing_file && strlen(backing_file) > 1023) {
        return -EINVAL;
    }
    s->image_backing_file = backing_file && *backing_file
                            ? g_strdup(backing_file) : NULL;
    s->image_backing_format = backing_fmt ? g_strdup(backing_fmt) : NULL;
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        g_free(s->image_backing_file);
        g_free(s->image_backing_format);
        s->image_backing_file = old_file;
        s->image_backing_format = old_fmt;
        return ret;
    }
    g_free(old_file);
    g_free(old_fmt);
    bdrv_set_str(&bs->auto_backing_file, backing_file);
    return 0;
}

static void qcow2_child_perm(BlockDriverState *bs, BdrvChild *c,
                             BdrvChildRole role, uint64_t perm,
                             uint64_t shared, uint64_t *nperm,
                             uint64_t *nshared)
{
    bdrv_default_perms(bs, c, role, perm, shared, nperm, nshared);
}

static int coroutine_fn qcow2_co_check(BlockDriverState *bs,
                                       BdrvCheckResult *result,
                                       BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_check_refcounts(bs, result, fix);
    if (ret == 0 && result->corruptions == 0 &&
        (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) &&
        (fix & BDRV_FIX_ERRORS)) {
        /* Fully repaired: the corrupt flag may go. */
        ret = qcow2_mark_consistent(bs);
    }
    if (ret == 0 && (fix & (BDRV_FIX_ERRORS | BDRV_FIX_LEAKS)) &&
        !result->check_errors && s->use_lazy_refcounts) {
        qcow2_mark_clean(bs);
    }
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* ---- create ---- */

/* The order matters: "Formatting ..." lists options in this order. */
static QemuOptsList qcow2_create_opts = {
    .name = "qcow2-create-opts",
    .desc = {
        { .name = "encrypt.format", .type = QEMU_OPT_STRING,
          .help = "Encrypt the image, format choices: 'aes', 'luks'" },
        { .name = "encrypt.key-secret", .type = QEMU_OPT_STRING,
          .help = "ID of secret providing qcow AES key or LUKS passphrase" },
        { .name = "encrypt.cipher-alg", .type = QEMU_OPT_STRING,
          .help = "Name of encryption cipher algorithm" },
        { .name = "encrypt.cipher-mode", .type = QEMU_OPT_STRING,
          .help = "Name of encryption cipher mode" },
        { .name = "encrypt.ivgen-alg", .type = QEMU_OPT_STRING,
          .help = "Name of IV generator algorithm" },
        { .name = "encrypt.ivgen-hash-alg", .type = QEMU_OPT_STRING,
          .help = "Name of IV generator hash algorithm" },
        { .name = "encrypt.hash-alg", .type = QEMU_OPT_STRING,
          .help = "Name of encryption hash algorithm" },
        { .name = "encrypt.iter-time", .type = QEMU_OPT_NUMBER,
          .help = "Time to spend in PBKDF in milliseconds" },
        { .name = "cluster_size", .type = QEMU_OPT_SIZE,
          .help = "qcow2 cluster size", .def_value_str = "65536" },
        { .name = "extended_l2", .type = QEMU_OPT_BOOL,
          .help = "Extended L2 tables", .def_value_str = "off" },
        { .name = "preallocation", .type = QEMU_OPT_STRING,
          .help = "Preallocation mode (allowed values: off, metadata, "
                  "falloc, full)" },
        { .name = "compression_type", .type = QEMU_OPT_STRING,
          .help = "Compression method used for image cluster compression",
          .def_value_str = "zlib" },
        { .name = "size", .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { .name = "compat", .type = QEMU_OPT_STRING,
          .help = "Compatibility level (v2 [0.10] or v3 [1.1])" },
        { .name = "backing_file", .type = QEMU_OPT_STRING,
          .help = "File name of a base image" },
        { .name = "backing_fmt", .type = QEMU_OPT_STRING,
          .help = "Image format of the base image" },
        { .name = "data_file", .type = QEMU_OPT_STRING,
          .help = "File name of an external data file" },
        { .name = "data_file_raw", .type = QEMU_OPT_BOOL,
          .help = "The external data file must stay valid as a raw image" },
        { .name = "encryption", .type = QEMU_OPT_BOOL,
          .help = "Encrypt the image with format 'aes'. (Deprecated in favor "
                  "of encrypt.format=aes)" },
        { .name = "lazy_refcounts", .type = QEMU_OPT_BOOL,
          .help = "Postpone refcount updates", .def_value_str = "off" },
        { .name = "refcount_bits", .type = QEMU_OPT_NUMBER,
          .help = "Width of a reference count entry in bits",
          .def_value_str = "16" },
        { /* end of list */ }
    },
};

typedef struct Qcow2CreateParams {
    uint64_t size;
    int version;
    const char *backing_file;
    const char *backing_fmt;
    const char *data_file;
    bool data_file_raw;
    uint64_t cluster_size;
    PreallocMode prealloc;
    bool lazy_refcounts;
    uint64_t refcount_bits;
    Qcow2CompressionType compression_type;
    bool extended_l2;
} Qcow2CreateParams;

static int validate_create_params(Qcow2CreateParams *p, Error **errp)
{
    int cluster_bits;

    if (!is_power_of_2(p->cluster_size) || p->cluster_size < 512 ||
        p->cluster_size > 2 * MiB) {
        error_setg(errp, "Cluster size must be a power of two between %d and "
                   "%dk", 1 << MIN_CLUSTER_BITS,
                   1 << (MAX_CLUSTER_BITS - 10));
        return -EINVAL;
    }
    cluster_bits = ctz64(p->cluster_size);
    if (p->version < 3 && p->lazy_refcounts) {
        error_setg(errp, "Lazy refcounts only supported with compatibility "
                   "level 1.1 and above (use version=v3 or greater)");
        return -EINVAL;
    }
    if (p->refcount_bits > 64 || !is_power_of_2(p->refcount_bits)) {
        error_setg(errp, "Refcount width must be a power of two and may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    if (p->version < 3 && p->refcount_bits != 16) {
        error_setg(errp, "Different refcount widths than 16 bits require "
                   "compatibility level 1.1 or above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    if (p->version < 3 &&
        p->compression_type != QCOW2_COMPRESSION_TYPE_ZLIB) {
        error_setg(errp, "Non-zlib compression type is only supported with "
                   "compatibility level 1.1 and above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    if (p->extended_l2) {
        if (p->version < 3) {
            error_setg(errp, "Extended L2 entries are only supported with "
                       "compatibility level 1.1 and above (use version=v3 "
                       "or greater)");
            return -EINVAL;
        }
        if (cluster_bits < 14) {
            error_setg(errp, "Extended L2 entries are only supported with "
                       "cluster sizes of at least 16384 bytes");
            return -EINVAL;
        }
    }
    if (p->data_file_raw && !p->data_file) {
        error_setg(errp, "data-file-raw requires data-file");
        return -EINVAL;
    }
    if (p->data_file_raw && p->backing_file) {
        error_setg(errp, "Backing file and data-file-raw cannot be used at "
                   "the same time");
        return -EINVAL;
    }
    if (p->backing_file && p->prealloc != PREALLOC_MODE_OFF &&
        !p->extended_l2) {
        error_setg(errp, "Backing file and preallocation can only be used "
                   "at the same time if extended_l2 is on");
        return -EINVAL;
    }
    if (p->backing_fmt && !p->backing_file) {
        error_setg(errp, "Backing format cannot be used without backing "
                   "file");
        return -EINVAL;
    }
    if (p->data_file && p->version < 3) {
        error_setg(errp, "External data files are only supported with "
                   "compatibility level 1.1 and above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    {
        /* The L1 table must fit QEMU's limit. */
        int64_t l2_entries = p->cluster_size / (p->extended_l2 ? 16 : 8);
        uint64_t max = (uint64_t)(QCOW_MAX_L1_SIZE / 8) * l2_entries *
                       p->cluster_size;

        if (p->size > max || p->size > (uint64_t)BDRV_MAX_LENGTH) {
            error_setg(errp, "The image size is too large for file format "
                       "'qcow2' (try using a larger cluster size)");
            return -EFBIG;
        }
    }
    return 0;
}

/*
 * Write a new qcow2 image described by @p into the node @file_bs (and
 * @data_bs for an external data file, whose name @p->data_file records).
 */
static int coroutine_fn qcow2_format_nodes(BlockDriverState *file_bs,
                                           BlockDriverState *data_bs,
                                           Qcow2CreateParams *p,
                                           Error **errp)
{
    uint64_t cs = p->cluster_size;
    g_autofree uint8_t *header = g_malloc0(cs);
    g_autofree uint64_t *reftable = g_malloc0(2 * cs);
    BlockBackend *blk = NULL;
    json_t *options;
    int64_t alloc;
    int ret;


    /* A minimal header, then a refcount table with one block. */
    stl_be(header, QCOW_MAGIC);
    stl_be(header + 4, p->version);
    stl_be(header + 20, ctz64(cs));
    stq_be(header + 48, cs);
    stl_be(header + 56, 1);
    if (p->version >= 3) {
        uint64_t incompat = 0, compat = 0, autoclear = 0;

        if (data_bs) {
            incompat |= QCOW2_INCOMPAT_DATA_FILE;
        }
        if (p->compression_type != QCOW2_COMPRESSION_TYPE_ZLIB) {
            incompat |= QCOW2_INCOMPAT_COMPRESSION;
        }
        if (p->extended_l2) {
            incompat |= QCOW2_INCOMPAT_EXTL2;
        }
        if (p->lazy_refcounts) {
            compat |= QCOW2_COMPAT_LAZY_REFCOUNTS;
        }
        if (p->data_file_raw) {
            autoclear |= QCOW2_AUTOCLEAR_DATA_FILE_RAW;
        }
        stq_be(header + 72, incompat);
        stq_be(header + 80, compat);
        stq_be(header + 88, autoclear);
        stl_be(header + 96, ctz64(p->refcount_bits));
        stl_be(header + 100, QCOW2_V3_HEADER_SIZE);
        header[104] = p->compression_type;
    }
    {
        BdrvChild tmp = { .bs = file_bs, .name = (char *)"create" };

        ret = bdrv_co_pwrite(&tmp, 0, cs, header, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not write qcow2 header");
            goto out;
        }
        reftable[0] = htobe64(2 * cs);
        ret = bdrv_co_pwrite(&tmp, cs, 2 * cs, reftable, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not write refcount table");
            goto out;
        }
    }

    /* Open it and make it consistent. */
    options = json_object();
    qdict_put_str(options, "driver", "qcow2");
    qdict_put_str(options, "file", file_bs->node_name);
    if (data_bs) {
        qdict_put_str(options, "data-file", data_bs->node_name);
    }
    blk = blk_new_open(NULL, NULL, options, BDRV_O_RDWR | BDRV_O_RESIZE |
                       BDRV_O_NO_FLUSH, errp);
    if (!blk) {
        ret = -EIO;
        goto out;
    }
    {
        BlockDriverState *bs = blk_bs(blk);
        BDRVQcow2State *s = bs->opaque;

        alloc = qcow2_alloc_clusters(bs, 3 * cs);
        if (alloc < 0) {
            error_setg_errno(errp, -alloc, "Could not allocate clusters for "
                             "qcow2 header and refcount table");
            ret = alloc;
            goto out;
        }
        assert(alloc == 0);
        if (data_bs) {
            s->image_data_file = g_strdup(p->data_file);
        }
        ret = qcow2_update_header(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not update qcow2 header");
            goto out;
        }
    }

    ret = blk_co_truncate(blk, p->size, false, p->prealloc, 0, errp);
    if (ret < 0) {
        error_prepend(errp, "Could not resize image: ");
        goto out;
    }
    if (p->backing_file) {
        ret = bdrv_change_backing_file(blk_bs(blk), p->backing_file,
                                       p->backing_fmt, false);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not assign backing file '%s' "
                             "with format '%s'", p->backing_file,
                             p->backing_fmt ? p->backing_fmt : "");
            goto out;
        }
    }
    ret = blk_co_flush(blk);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not flush the new image");
        goto out;
    }
    ret = 0;
out:
    blk_unref(blk);
    return ret;
}

static int coroutine_fn qcow2_create_image(const char *filename,
                                           Qcow2CreateParams *p,
                                           Error **errp)
{
    BlockDriverState *file_bs, *data_bs = NULL;
    int ret;

    /* The file itself was created by the protocol driver. */
    file_bs = bdrv_open(filename, NULL, NULL, BDRV_O_RDWR |
                        BDRV_O_RESIZE | BDRV_O_PROTOCOL, errp);
    if (!file_bs) {
        return -EIO;
    }
    if (p->data_file) {
        data_bs = bdrv_open(p->data_file, NULL, NULL, BDRV_O_RDWR |
                            BDRV_O_RESIZE | BDRV_O_PROTOCOL, errp);
        if (!data_bs) {
            bdrv_unref(file_bs);
            return -EIO;
        }
    }
    ret = qcow2_format_nodes(file_bs, data_bs, p, errp);
    bdrv_unref(data_bs);
    bdrv_unref(file_bs);
    return ret;
}

/* blockdev-create: the image goes into existing (or defined) nodes. */
static int coroutine_fn qcow2_co_create(BlockdevCreateOptions *options,
                                        Error **errp)
{
    BlockdevCreateOptionsQcow2 *o = &options->u.qcow2;
    Qcow2CreateParams p = { 0 };
    BlockDriverState *file_bs, *data_bs = NULL;
    int ret;

    assert(options->driver == BLOCKDEV_DRIVER_QCOW2);
    file_bs = blockdev_open_ref(o->file, errp);
    if (!file_bs) {
        return -EIO;
    }
    if (!QEMU_IS_ALIGNED(o->size, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "Image size must be a multiple of %u bytes",
                   (unsigned)BDRV_SECTOR_SIZE);
        ret = -EINVAL;
        goto out;
    }
    if (o->has_encrypt) {
        error_setg(errp, "Encrypted qcow2 images are not supported");
        ret = -ENOTSUP;
        goto out;
    }
    p.size = o->size;
    p.version = o->has_version && o->version == BLOCKDEV_QCOW2_VERSION_V2
                ? 2 : 3;
    p.cluster_size = o->has_cluster_size ? o->cluster_size
                                         : DEFAULT_CLUSTER_SIZE;
    p.extended_l2 = o->has_extended_l2 && o->extended_l2;
    p.prealloc = o->has_preallocation ? o->preallocation : PREALLOC_MODE_OFF;
    p.backing_file = o->has_backing_file ? o->backing_file : NULL;
    p.backing_fmt = o->has_backing_fmt ? BlockdevDriver_str(o->backing_fmt)
                                       : NULL;
    p.lazy_refcounts = o->has_lazy_refcounts && o->lazy_refcounts;
    p.refcount_bits = o->has_refcount_bits ? o->refcount_bits : 16;
    p.data_file_raw = o->has_data_file_raw && o->data_file_raw;
    p.compression_type = o->has_compression_type ? o->compression_type
                                                 : QCOW2_COMPRESSION_TYPE_ZLIB;
    if (o->has_data_file) {
        data_bs = blockdev_open_ref(o->data_file, errp);
        if (!data_bs) {
            ret = -EIO;
            goto out;
        }
        p.data_file = data_bs->filename;
    }
    ret = validate_create_params(&p, errp);
    if (ret == 0) {
        ret = qcow2_format_nodes(file_bs, data_bs, &p, errp);
    }
out:
    bdrv_unref(data_bs);
    bdrv_unref(file_bs);
    return ret;
}

static int coroutine_fn qcow2_co_create_opts(BlockDriver *drv,
                                             const char *filename,
                                             QemuOpts *opts, Error **errp)
{
    Qcow2CreateParams p = { 0 };
    g_autofree char *compat = NULL, *prealloc = NULL, *ctype = NULL;
    g_autofree char *backing_file = NULL, *backing_fmt = NULL;
    g_autofree char *data_file = NULL, *encrypt_fmt = NULL;
    bool encryption;
    int ret;

    p.size = ROUND_UP(qemu_opt_get_size_del(opts, "size", 0),
                      BDRV_SECTOR_SIZE);
    compat = qemu_opt_get_del(opts, "compat");
    if (!compat || !strcmp(compat, "1.1") || !strcmp(compat, "v3")) {
        p.version = 3;
    } else if (!strcmp(compat, "0.10") || !strcmp(compat, "v2")) {
        p.version = 2;
    } else {
        error_setg(errp, "Parameter 'version' does not accept value '%s'",
                   compat);
        return -EINVAL;
    }
    backing_file = qemu_opt_get_del(opts, "backing_file");
    backing_fmt = qemu_opt_get_del(opts, "backing_fmt");
    data_file = qemu_opt_get_del(opts, "data_file");
    p.data_file_raw = qemu_opt_get_bool_del(opts, "data_file_raw", false);
    encryption = qemu_opt_get_bool_del(opts, "encryption", false);
    encrypt_fmt = qemu_opt_get_del(opts, "encrypt.format");
    if (encryption || encrypt_fmt) {
        g_autofree char *secret = qemu_opt_get_del(opts,
                                                   "encrypt.key-secret");
        if (!secret) {
            error_setg(errp, "Parameter 'encrypt.key-secret' is required for "
                       "cipher");
        } else {
            error_setg(errp, "Encrypted qcow2 images are not supported");
        }
        return -EINVAL;
    }
    p.cluster_size = qemu_opt_get_size_del(opts, "cluster_size",
                                           DEFAULT_CLUSTER_SIZE);
    prealloc = qemu_opt_get_del(opts, "preallocation");
    if (prealloc) {
        ret = prealloc_mode_parse(prealloc, PREALLOC_MODE_OFF, NULL);
        if (ret < 0) {
            error_setg(errp, "Parameter 'preallocation' does not accept "
                       "value '%s'", prealloc);
            return -EINVAL;
        }
        p.prealloc = ret;
    }
    p.lazy_refcounts = qemu_opt_get_bool_del(opts, "lazy_refcounts", false);
    p.refcount_bits = qemu_opt_get_number_del(opts, "refcount_bits", 16);
    ctype = qemu_opt_get_del(opts, "compression_type");
    if (!ctype || !strcmp(ctype, "zlib")) {
        p.compression_type = QCOW2_COMPRESSION_TYPE_ZLIB;
#ifdef CONFIG_ZSTD
    } else if (!strcmp(ctype, "zstd")) {
        p.compression_type = QCOW2_COMPRESSION_TYPE_ZSTD;
#endif
    } else {
        error_setg(errp, "Parameter 'compression-type' does not accept "
                   "value '%s'", ctype);
        return -EINVAL;
    }
    p.extended_l2 = qemu_opt_get_bool_del(opts, "extended_l2", false);
    p.backing_file = backing_file;
    p.backing_fmt = backing_fmt;
    if (p.backing_fmt && !bdrv_find_format(p.backing_fmt)) {
        error_setg(errp, "Parameter 'backing-fmt' does not accept value "
                   "'%s'", p.backing_fmt);
        return -EINVAL;
    }
    p.data_file = data_file;
    ret = validate_create_params(&p, errp);
    if (ret < 0) {
        return ret;
    }

    /* The file gets the protocol-level options (not preallocation). */
    qemu_opt_set(opts, "preallocation", "off", NULL);
    ret = bdrv_create_file(filename, opts, errp);
    if (ret < 0) {
        return ret;
    }
    if (data_file) {
        /* Like QEMU, the data file name is taken as given. */
        ret = bdrv_create_file(data_file, opts, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return qcow2_create_image(filename, &p, errp);
}

/* ---- measure ---- */

static int64_t qcow2_calc_prealloc_size(int64_t total_size,
                                        size_t cluster_size,
                                        int refcount_order, bool extended_l2)
{
    int64_t meta_size = 0;
    uint64_t nl1e, nl2e;
    int64_t aligned_total_size = ROUND_UP(total_size, cluster_size);
    size_t l2e_size = extended_l2 ? 16 : 8;

    /* header: 1 cluster */
    meta_size += cluster_size;
    /* total size of L2 tables */
    nl2e = aligned_total_size / cluster_size;
    nl2e = ROUND_UP(nl2e, cluster_size / l2e_size);
    meta_size += nl2e * l2e_size;
    /* total size of L1 tables */
    nl1e = nl2e * l2e_size / cluster_size;
    nl1e = ROUND_UP(nl1e, cluster_size / sizeof(uint64_t));
    meta_size += nl1e * sizeof(uint64_t);
    /* total size of refcount table and blocks */
    meta_size += qcow2_refcount_metadata_size(
        (meta_size + aligned_total_size) / cluster_size, cluster_size,
        refcount_order, false, NULL);
    return meta_size + aligned_total_size;
}

static BlockMeasureInfo *qcow2_measure(QemuOpts *opts, BlockDriverState *in_bs,
                                       Error **errp)
{
    BlockMeasureInfo *info;
    uint64_t required = 0;
    uint64_t virtual_size;
    uint64_t refcount_bits;
    uint64_t l2_tables;
    uint64_t luks_payload_size = 0;
    size_t cluster_size;
    int version;
    g_autofree char *optstr = NULL;
    PreallocMode prealloc;
    bool has_backing_file;
    bool extended_l2;
    size_t l2e_size;

    /* Parse image creation options */
    extended_l2 = qemu_opt_get_bool_del(opts, "extended_l2", false);
    cluster_size = qemu_opt_get_size_del(opts, "cluster_size",
                                         DEFAULT_CLUSTER_SIZE);
    if (!is_power_of_2(cluster_size) || cluster_size < 512 ||
        cluster_size > 2 * MiB) {
        error_setg(errp, "Cluster size must be a power of two between %d and "
                   "%dk", 1 << MIN_CLUSTER_BITS,
                   1 << (MAX_CLUSTER_BITS - 10));
        return NULL;
    }
    optstr = qemu_opt_get_del(opts, "compat");
    if (!optstr || !strcmp(optstr, "1.1") || !strcmp(optstr, "v3")) {
        version = 3;
    } else if (!strcmp(optstr, "0.10") || !strcmp(optstr, "v2")) {
        version = 2;
    } else {
        error_setg(errp, "Parameter 'version' does not accept value '%s'",
                   optstr);
        return NULL;
    }
    refcount_bits = qemu_opt_get_number_del(opts, "refcount_bits", 16);
    if (refcount_bits > 64 || !is_power_of_2(refcount_bits)) {
        error_setg(errp, "Refcount width must be a power of two and may not "
                   "exceed 64 bits");
        return NULL;
    }
    if (version < 3 && refcount_bits != 16) {
        error_setg(errp, "Different refcount widths than 16 bits require "
                   "compatibility level 1.1 or above (use version=v3 or "
                   "greater)");
        return NULL;
    }
    g_free(optstr);
    optstr = qemu_opt_get_del(opts, "preallocation");
    prealloc = prealloc_mode_parse(optstr, PREALLOC_MODE_OFF, NULL);
    if ((int)prealloc < 0) {
        error_setg(errp, "Parameter 'preallocation' does not accept value "
                   "'%s'", optstr);
        return NULL;
    }
    g_free(optstr);
    optstr = qemu_opt_get_del(opts, "backing_file");
    has_backing_file = !!optstr;
    if (has_backing_file && prealloc != PREALLOC_MODE_OFF && !extended_l2) {
        error_setg(errp, "Backing file and preallocation can only be used at "
                   "the same time if extended_l2 is on");
        return NULL;
    }

    l2e_size = extended_l2 ? 16 : 8;
    virtual_size = qemu_opt_get_size_del(opts, "size", 0);
    virtual_size = ROUND_UP(virtual_size, cluster_size);

    if (in_bs) {
        int64_t ssize = bdrv_getlength(in_bs);

        if (ssize < 0) {
            error_setg_errno(errp, -ssize, "Unable to get image virtual_size");
            return NULL;
        }
        virtual_size = ROUND_UP(ssize, cluster_size);

        if (has_backing_file) {
            /* Only the allocated L2 tables may be needed. */
            l2_tables = DIV_ROUND_UP(virtual_size / cluster_size,
                                     cluster_size / l2e_size);
            required = l2_tables * cluster_size;
        } else {
            int64_t offset;
            int64_t pnum = 0;

            for (offset = 0; offset < ssize; offset += pnum) {
                int ret = bdrv_block_status_above(in_bs, NULL, offset,
                                                  ssize - offset, &pnum,
                                                  NULL, NULL);

                if (ret < 0) {
                    error_setg_errno(errp, -ret, "Unable to get block status");
                    return NULL;
                }
                if (ret & BDRV_BLOCK_ZERO) {
                    /* Skip zero regions (safe with no backing file) */
                } else if ((ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) ==
                           (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) {
                    /* Extend pnum to end of cluster for next iteration */
                    pnum = ROUND_UP(offset + pnum, cluster_size) - offset;
                    /* Count clusters we've seen */
                    required += offset % cluster_size + pnum;
                }
            }
        }
    }

    /* Take into account preallocation.  Nothing special is needed for
     * PREALLOC_MODE_METADATA since metadata is always counted.
     */
    if (prealloc == PREALLOC_MODE_FULL || prealloc == PREALLOC_MODE_FALLOC) {
        required = virtual_size;
    }

    info = g_new0(BlockMeasureInfo, 1);
    info->fully_allocated = luks_payload_size +
        qcow2_calc_prealloc_size(virtual_size, cluster_size,
                                 ctz64(refcount_bits), extended_l2);

    /*
     * Remove data clusters that are not required.  This overestimates the
     * required size because metadata needed for the fully allocated file
     * is still counted.  Show bitmaps only if both source and destination
     * would support them.
     */
    info->required = info->fully_allocated - virtual_size + required;
    info->has_bitmaps = version >= 3 && in_bs &&
                        bdrv_supports_persistent_dirty_bitmap(in_bs);
    if (info->has_bitmaps) {
        info->bitmaps = qcow2_get_persistent_dirty_bitmap_size(in_bs,
                                                               cluster_size);
    }
    return info;
}

static const char *const qcow2_strong_runtime_opts[] = {
    "encrypt.key-secret",
    NULL
};

BlockDriver bdrv_qcow2 = {
    .format_name = "qcow2",
    .instance_size = sizeof(BDRVQcow2State),
    .is_format = true,
    .supports_backing = true,
    .bdrv_probe = qcow2_probe,
    .bdrv_open = qcow2_open,
    .bdrv_close = qcow2_close,
    .bdrv_child_perm = qcow2_child_perm,
    .bdrv_co_create = qcow2_co_create,
    .bdrv_co_create_opts = qcow2_co_create_opts,
    .create_opts = &qcow2_create_opts,
    .strong_runtime_opts = qcow2_strong_runtime_opts,
    .bdrv_co_preadv_part = qcow2_co_preadv_part,
    .bdrv_co_pwritev_part = qcow2_co_pwritev_part,
    .bdrv_co_pwritev_compressed_part = qcow2_co_pwritev_compressed_part,
    .bdrv_co_pwrite_zeroes = qcow2_co_pwrite_zeroes,
    .bdrv_co_pdiscard = qcow2_co_pdiscard,
    .bdrv_co_flush_to_os = qcow2_co_flush_to_os,
    .bdrv_co_readv_vmstate = qcow2_co_readv_vmstate,
    .bdrv_co_writev_vmstate = qcow2_co_writev_vmstate,
    .bdrv_co_block_status = qcow2_co_block_status,
    .bdrv_co_truncate = qcow2_co_truncate,
    .bdrv_make_empty = qcow2_make_empty,
    .bdrv_get_allocated_file_size = qcow2_get_allocated_file_size,
    .bdrv_co_check = qcow2_co_check,
    .bdrv_getlength = qcow2_getlength,
    .bdrv_get_info = qcow2_get_info,
    .bdrv_get_specific_info = qcow2_get_specific_info,
    .bdrv_measure = qcow2_measure,
    .bdrv_refresh_limits = qcow2_refresh_limits,
    .bdrv_change_backing_file = qcow2_change_backing_file,
    .bdrv_snapshot_create = qcow2_snapshot_create,
    .bdrv_snapshot_goto = qcow2_snapshot_goto,
    .bdrv_snapshot_delete = qcow2_snapshot_delete,
    .bdrv_snapshot_list = qcow2_snapshot_list,
    .bdrv_reopen_prepare = qcow2_reopen_prepare,
    .amend_opts = &qcow2_amend_opts,
    .bdrv_amend_options = qcow2_amend_options,
    .bdrv_reopen_commit = qcow2_reopen_commit,
    .bdrv_reopen_commit_post = qcow2_reopen_commit_post,
    .bdrv_supports_persistent_dirty_bitmap =
        qcow2_supports_persistent_dirty_bitmap,
    .bdrv_can_store_new_dirty_bitmap = qcow2_can_store_new_dirty_bitmap,
    .bdrv_remove_persistent_dirty_bitmap =
        qcow2_remove_persistent_dirty_bitmap,
};

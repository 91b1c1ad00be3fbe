/*
 * qcow2 option amendment ("qemu-img amend"): version upgrade and
 * downgrade (expanding zero clusters), refcount width changes, lazy
 * refcounts, and resizing.
 */
#include "strata/osdep.h"
#include "qcow2.h"
#include "block/block-backend.h"

QemuOptsList qcow2_amend_opts = {
    .name = "qcow2-amend-opts",
    .desc = {
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
        { .name = "encrypt.keyslot", .type = QEMU_OPT_NUMBER,
          .help = "Select a single keyslot to modify explicitly" },
        { .name = "encrypt.state", .type = QEMU_OPT_STRING,
          .help = "Select new state of affected keyslots (active/inactive)" },
        { .name = "encrypt.old-secret", .type = QEMU_OPT_STRING,
          .help = "Select all keyslots that match this password" },
        { .name = "encrypt.new-secret", .type = QEMU_OPT_STRING,
          .help = "New secret to set in the matching keyslots. Empty string "
                  "to erase" },
        { .name = "encrypt.iter-time", .type = QEMU_OPT_NUMBER,
          .help = "Time to spend in PBKDF in milliseconds" },
        { .name = "lazy_refcounts", .type = QEMU_OPT_BOOL,
          .help = "Postpone refcount updates" },
        { .name = "refcount_bits", .type = QEMU_OPT_NUMBER,
          .help = "Width of a reference count entry in bits" },
        { .name = "size", .type = QEMU_OPT_SIZE,
          .help = "Virtual disk size" },
        { /* end of list */ }
    },
};

/* Write zeroes over @bytes at host @offset of the image file. */
static int zero_host_cluster(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = qcow2_pre_write_overlap_check(bs, 0, offset, bytes, true);

    if (ret < 0) {
        return ret;
    }
    return bdrv_pwrite_zeroes(s->data_file, offset, bytes, 0);
}

/*
 * Turn the zero clusters of one L1 table (active or a snapshot's) into
 * something version 2 can express: unallocated if nothing shows through,
 * otherwise real clusters full of zeroes.
 */
static int expand_zero_clusters_in_l1(BlockDriverState *bs, uint64_t *l1,
                                      int l1_size, bool active)
{
    BDRVQcow2State *s = bs->opaque;
    size_t l2_bytes = s->l2_size * l2_entry_size(s);
    g_autofree uint64_t *l2 = g_malloc(l2_bytes);
    int ret;

    for (int i = 0; i < l1_size; i++) {
        uint64_t l2_offset = l1[i] & L1E_OFFSET_MASK;
        bool dirty = false;
        uint64_t l2_refcount;

        if (!l2_offset) {
            continue;
        }
        ret = qcow2_get_refcount(bs, l2_offset >> s->cluster_bits,
                                 &l2_refcount);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_flush(bs, s->l2_table_cache);
        if (ret < 0) {
            return ret;
        }
        ret = bdrv_pread(bs->file, l2_offset, l2_bytes, l2, 0);
        if (ret < 0) {
            return ret;
        }
        for (int j = 0; j < s->l2_size; j++) {
            uint64_t entry = get_l2_entry(s, l2, j);
            QCow2ClusterType type = qcow2_get_cluster_type(bs, entry);
            int64_t offset = entry & L2E_OFFSET_MASK;

            if (type != QCOW2_CLUSTER_ZERO_PLAIN &&
                type != QCOW2_CLUSTER_ZERO_ALLOC) {
                continue;
            }
            if (type == QCOW2_CLUSTER_ZERO_PLAIN) {
                if (!bs->backing) {
                    /* Unallocated without backing file reads as zeroes. */
                    set_l2_entry(s, l2, j, 0);
                    dirty = true;
                    continue;
                }
                offset = qcow2_alloc_clusters(bs, s->cluster_size);
                if (offset < 0) {
                    return offset;
                }
                if (l2_refcount > 1) {
                    /* Shared tables reach the new cluster more than once. */
                    ret = qcow2_update_cluster_refcount(
                        bs, offset >> s->cluster_bits, l2_refcount - 1,
                        false, QCOW2_DISCARD_OTHER);
                    if (ret < 0) {
                        return ret;
                    }
                }
            }
            ret = zero_host_cluster(bs, offset, s->cluster_size);
            if (ret < 0) {
                return ret;
            }
            if (l2_refcount == 1) {
                set_l2_entry(s, l2, j, offset | QCOW_OFLAG_COPIED);
            } else {
                set_l2_entry(s, l2, j, offset);
            }
            dirty = true;
        }
        if (dirty) {
            void *cached;

            ret = qcow2_cache_flush(bs, s->refcount_block_cache);
            if (ret < 0) {
                return ret;
            }
            ret = qcow2_pre_write_overlap_check(bs, active ?
                                                QCOW2_OL_ACTIVE_L2 :
                                                QCOW2_OL_INACTIVE_L2,
                                                l2_offset, l2_bytes, false);
            if (ret < 0) {
                return ret;
            }
            ret = bdrv_pwrite(bs->file, l2_offset, l2_bytes, l2, 0);
            if (ret < 0) {
                return ret;
            }
            for (size_t off = 0; off < l2_bytes;
                 off += s->l2_slice_size * l2_entry_size(s)) {
                cached = qcow2_cache_is_table_offset(s->l2_table_cache,
                                                     l2_offset + off);
                if (cached) {
                    qcow2_cache_discard(s->l2_table_cache, cached);
                }
            }
        }
    }
    return 0;
}

int qcow2_expand_zero_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    ret = expand_zero_clusters_in_l1(bs, s->l1_table, s->l1_size, true);
    if (ret < 0) {
        return ret;
    }
    for (unsigned i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];
        g_autofree uint64_t *l1 = g_new(uint64_t, MAX(sn->l1_size, 1));

        ret = bdrv_pread(bs->file, sn->l1_table_offset,
                         sn->l1_size * sizeof(uint64_t), l1, 0);
        if (ret < 0) {
            return ret;
        }
        for (unsigned j = 0; j < sn->l1_size; j++) {
            l1[j] = be64toh(l1[j]);
        }
        ret = expand_zero_clusters_in_l1(bs, l1, sn->l1_size, false);
        if (ret < 0) {
            return ret;
        }
    }
    return qcow2_flush_caches(bs);
}

static int qcow2_downgrade(BlockDriverState *bs, int target_version,
                           Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (s->refcount_order != 4) {
        error_setg(errp, "compat=0.10 requires refcount_bits=16");
        return -ENOTSUP;
    }
    if (has_data_file(bs)) {
        error_setg(errp, "Cannot downgrade an image with a data file");
        return -ENOTSUP;
    }
    if (s->nb_bitmaps) {
        error_setg(errp, "Cannot downgrade an image with bitmaps");
        return -ENOTSUP;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to make the image clean");
            return ret;
        }
        s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
        ret = qcow2_update_header(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to make the image clean");
            return ret;
        }
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
        error_setg(errp, "Cannot downgrade an image with a non-zlib "
                   "compression type");
        return -ENOTSUP;
    }
    if (s->incompatible_features) {
        error_setg(errp, "Cannot downgrade an image with incompatible "
                   "features %#" PRIx64 " set", s->incompatible_features);
        return -ENOTSUP;
    }
    /* Compatible and auto-clear features can simply go. */
    s->compatible_features = 0;
    s->autoclear_features = 0;
    s->use_lazy_refcounts = false;

    ret = qcow2_expand_zero_clusters(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to turn zero into data "
                         "clusters");
        return ret;
    }
    s->qcow_version = target_version;
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        s->qcow_version = 3;
        error_setg_errno(errp, -ret, "Failed to update the image header");
        return ret;
    }
    return 0;
}

static int qcow2_upgrade(BlockDriverState *bs, int target_version,
                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    s->qcow_version = target_version;
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        s->qcow_version = 2;
        error_setg_errno(errp, -ret, "Failed to update the image header");
    }
    return ret;
}

int qcow2_amend_options(BlockDriverState *bs, QemuOpts *opts, bool force,
                        Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int old_version = s->qcow_version, new_version = old_version;
    uint64_t new_size = 0;
    const char *backing_file = NULL, *backing_format = NULL;
    bool lazy_refcounts = s->use_lazy_refcounts;
    int refcount_bits = s->refcount_bits;
    const QemuOptDesc *desc = qcow2_amend_opts.desc;
    int ret;

    for (; desc->name; desc++) {
        const char *val = qemu_opt_get(opts, desc->name);

        if (!val) {
            continue;
        }
        if (!strcmp(desc->name, "compat")) {
            if (!strcmp(val, "0.10") || !strcmp(val, "v2")) {
                new_version = 2;
            } else if (!strcmp(val, "1.1") || !strcmp(val, "v3")) {
                new_version = 3;
            } else {
                error_setg(errp, "Unknown compatibility level %s", val);
                return -EINVAL;
            }
        } else if (!strcmp(desc->name, "size")) {
            new_size = qemu_opt_get_size(opts, "size", 0);
        } else if (!strcmp(desc->name, "backing_file")) {
            backing_file = val;
        } else if (!strcmp(desc->name, "backing_fmt")) {
            backing_format = val;
        } else if (g_str_has_prefix(desc->name, "encrypt.")) {
            error_setg(errp, "Changing the encryption parameters is only "
                       "supported for encrypted images");
            return -ENOTSUP;
        } else if (!strcmp(desc->name, "lazy_refcounts")) {
            lazy_refcounts = qemu_opt_get_bool(opts, "lazy_refcounts",
                                               lazy_refcounts);
        } else if (!strcmp(desc->name, "refcount_bits")) {
            refcount_bits = qemu_opt_get_number(opts, "refcount_bits",
                                                refcount_bits);
            if (refcount_bits <= 0 || refcount_bits > 64 ||
                !is_power_of_2(refcount_bits)) {
                error_setg(errp, "Refcount width must be a power of two and "
                           "may not exceed 64 bits");
                return -EINVAL;
            }
        } else if (!strcmp(desc->name, "data_file")) {
            if (!has_data_file(bs)) {
                error_setg(errp, "data-file can only be set for images that "
                           "use an external data file");
                return -EINVAL;
            }
        } else if (!strcmp(desc->name, "data_file_raw")) {
            if (qemu_opt_get_bool(opts, "data_file_raw", false) &&
                !data_file_is_raw(bs)) {
                error_setg(errp, "data-file-raw cannot be set on existing "
                           "images");
                return -EINVAL;
            }
        }
    }

    if (new_version > old_version) {
        ret = qcow2_upgrade(bs, new_version, errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (refcount_bits != s->refcount_bits) {
        if (new_version < 3 && refcount_bits != 16) {
            error_setg(errp, "Refcount widths other than 16 bits require "
                       "compatibility level 1.1 or above (use compat=1.1 or "
                       "greater)");
            return -EINVAL;
        }
        ret = qcow2_change_refcount_order(bs, ctz64(refcount_bits), errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (backing_file || backing_format) {
        if (g_strcmp0(backing_file, s->image_backing_file) ||
            g_strcmp0(backing_format, s->image_backing_format)) {
            error_setg(errp, "Cannot amend the backing file");
            error_append_hint(errp, "You can use 'qemu-img rebase' "
                              "instead.\n");
            return -EINVAL;
        }
    }
    if (s->use_lazy_refcounts != lazy_refcounts) {
        if (lazy_refcounts) {
            if (new_version < 3) {
                error_setg(errp, "Lazy refcounts only supported with "
                           "compatibility level 1.1 and above (use compat=1.1 "
                           "or greater)");
                return -EINVAL;
            }
            s->compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
            ret = qcow2_update_header(bs);
            if (ret < 0) {
                s->compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
                error_setg_errno(errp, -ret, "Failed to update the image "
                                 "header");
                return ret;
            }
            s->use_lazy_refcounts = true;
        } else {
            ret = qcow2_flush_caches(bs);
            if (ret == 0 && (s->incompatible_features &
                             QCOW2_INCOMPAT_DIRTY)) {
                s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
            }
            s->compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
            if (ret == 0) {
                ret = qcow2_update_header(bs);
            }
            if (ret < 0) {
                s->compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
                error_setg_errno(errp, -ret, "Failed to update the image "
                                 "header");
                return ret;
            }
            s->use_lazy_refcounts = false;
        }
    }
    if (new_size) {
        BlockBackend *blk = blk_new(qemu_get_aio_context(), BLK_PERM_RESIZE,
                                    BLK_PERM_ALL);

        ret = blk_insert_bs(blk, bs, errp);
        if (ret < 0) {
            blk_unref(blk);
            return ret;
        }
        /* Amending may shrink (QEMU accepts it here). */
        ret = blk_truncate(blk, new_size, false, PREALLOC_MODE_OFF, 0, errp);
        blk_unref(blk);
        if (ret < 0) {
            return ret;
        }
    }
    /* Downgrade last: nothing else may fail after data was rewritten. */
    if (new_version < old_version) {
        ret = qcow2_downgrade(bs, new_version, errp);
        if (ret < 0) {
            return ret;
        }
    }
    (void)force;
    return 0;
}

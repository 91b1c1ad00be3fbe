/*
 * qcow2 internal snapshots: the snapshot table on disk, and creating,
 * applying and deleting snapshots by copying and switching L1 tables.
 */
#include "strata/osdep.h"
#include "qcow2.h"
#include "block/snapshot.h"

#define SN_HEADER_SIZE 40
#define SN_EXTRA_KNOWN 24   /* vm_state_size_large, disk_size, icount */

void qcow2_free_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    for (unsigned i = 0; i < s->nb_snapshots && s->snapshots; i++) {
        g_free(s->snapshots[i].name);
        g_free(s->snapshots[i].id_str);
        g_free(s->snapshots[i].unknown_extra_data);
    }
    g_free(s->snapshots);
    s->snapshots = NULL;
    s->nb_snapshots = 0;
}

int qcow2_read_snapshots(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset;
    int ret;

    if (!s->nb_snapshots) {
        s->snapshots = NULL;
        s->snapshots_size = 0;
        return 0;
    }
    offset = s->snapshots_offset;
    s->snapshots = g_new0(QCowSnapshot, s->nb_snapshots);

    for (unsigned i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];
        uint8_t h[SN_HEADER_SIZE];
        uint8_t extra[SN_EXTRA_KNOWN] = { 0 };
        uint16_t id_len, name_len;

        offset = ROUND_UP(offset, 8);
        ret = bdrv_pread(bs->file, offset, sizeof(h), h, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            goto fail;
        }
        offset += sizeof(h);
        sn->l1_table_offset = ldq_be(h);
        sn->l1_size = ldl_be(h + 8);
        id_len = lduw_be(h + 12);
        name_len = lduw_be(h + 14);
        sn->date_sec = ldl_be(h + 16);
        sn->date_nsec = ldl_be(h + 20);
        sn->vm_clock_nsec = ldq_be(h + 24);
        sn->vm_state_size = ldl_be(h + 32);
        sn->extra_data_size = ldl_be(h + 36);

        if (sn->extra_data_size > QCOW_MAX_SNAPSHOT_EXTRA_DATA) {
            error_setg(errp, "Too much extra metadata in snapshot table "
                       "entry %u", i);
            error_append_hint(errp, "You can force-remove this extra "
                              "metadata with qemu-img check -r all\n");
            ret = -EFBIG;
            goto fail;
        }
        ret = bdrv_pread(bs->file, offset,
                         MIN(sn->extra_data_size, (uint32_t)sizeof(extra)),
                         extra, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            goto fail;
        }
        if (sn->extra_data_size > SN_EXTRA_KNOWN) {
            size_t unknown = sn->extra_data_size - SN_EXTRA_KNOWN;

            sn->unknown_extra_data = g_malloc(unknown);
            ret = bdrv_pread(bs->file, offset + SN_EXTRA_KNOWN, unknown,
                             sn->unknown_extra_data, 0);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to read snapshot "
                                 "table");
                goto fail;
            }
        }
        offset += sn->extra_data_size;
        if (sn->extra_data_size >= 8) {
            sn->vm_state_size = ldq_be(extra);
        }
        if (sn->extra_data_size >= 16) {
            sn->disk_size = ldq_be(extra + 8);
        } else {
            sn->disk_size = bs->total_bytes;
        }
        sn->icount = sn->extra_data_size >= 24 ? ldq_be(extra + 16)
                                               : (uint64_t)-1;
        if (sn->extra_data_size < 16 && s->qcow_version >= 3) {
            /* v3 requires the disk size; tolerate it like QEMU. */
        }

        sn->id_str = g_malloc(id_len + 1);
        ret = bdrv_pread(bs->file, offset, id_len, sn->id_str, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            goto fail;
        }
        offset += id_len;
        sn->id_str[id_len] = '\0';
        sn->name = g_malloc(name_len + 1);
        ret = bdrv_pread(bs->file, offset, name_len, sn->name, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            goto fail;
        }
        offset += name_len;
        sn->name[name_len] = '\0';

        if (offset - s->snapshots_offset > QCOW_MAX_SNAPSHOTS_SIZE) {
            error_setg(errp, "Snapshot table is too big");
            ret = -EFBIG;
            goto fail;
        }
        ret = qcow2_validate_table(bs, sn->l1_table_offset, sn->l1_size,
                                   sizeof(uint64_t), QCOW_MAX_L1_SIZE,
                                   "Snapshot L1 table", errp);
        if (ret < 0) {
            goto fail;
        }
    }
    s->snapshots_size = offset - s->snapshots_offset;
    return 0;

fail:
    qcow2_free_snapshots(bs);
    return ret;
}

/* Write the whole snapshot table to new clusters and switch to it. */
int qcow2_write_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    g_autoptr(GByteArray) table = g_byte_array_new();
    int64_t offset = 0, old_offset = s->snapshots_offset;
    int old_size = s->snapshots_size;
    uint8_t hdr[12];
    int ret;

    for (unsigned i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];
        uint8_t h[SN_HEADER_SIZE];
        uint8_t extra[SN_EXTRA_KNOWN];
        size_t id_len = strlen(sn->id_str), name_len = strlen(sn->name);
        uint32_t extra_size = MAX(sn->extra_data_size,
                                  (uint32_t)SN_EXTRA_KNOWN);
        static const uint8_t pad[8];

        g_byte_array_append(table, pad, ROUND_UP(table->len, 8) - table->len);
        stq_be(h, sn->l1_table_offset);
        stl_be(h + 8, sn->l1_size);
        stw_be(h + 12, id_len);
        stw_be(h + 14, name_len);
        stl_be(h + 16, sn->date_sec);
        stl_be(h + 20, sn->date_nsec);
        stq_be(h + 24, sn->vm_clock_nsec);
        stl_be(h + 32, MIN(sn->vm_state_size, UINT32_MAX));
        stl_be(h + 36, extra_size);
        stq_be(extra, sn->vm_state_size);
        stq_be(extra + 8, sn->disk_size);
        stq_be(extra + 16, sn->icount);
        g_byte_array_append(table, h, sizeof(h));
        g_byte_array_append(table, extra, sizeof(extra));
        if (sn->unknown_extra_data) {
            g_byte_array_append(table, sn->unknown_extra_data,
                                sn->extra_data_size - SN_EXTRA_KNOWN);
        }
        g_byte_array_append(table, (uint8_t *)sn->id_str, id_len);
        g_byte_array_append(table, (uint8_t *)sn->name, name_len);
        if (table->len > QCOW_MAX_SNAPSHOTS_SIZE) {
            return -EFBIG;
        }
    }

    if (table->len) {
        offset = qcow2_alloc_clusters(bs, table->len);
        if (offset < 0) {
            return offset;
        }
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret < 0) {
            goto fail;
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, offset, table->len, false);
        if (ret < 0) {
            goto fail;
        }
        ret = bdrv_pwrite(bs->file, offset, table->len, table->data, 0);
        if (ret < 0) {
            goto fail;
        }
    }
    ret = bdrv_flush(bs->file->bs);
    if (ret < 0) {
        goto fail;
    }
    /* nb_snapshots and snapshots_offset are adjacent at byte 60. */
    stl_be(hdr, s->nb_snapshots);
    stq_be(hdr + 4, offset);
    ret = bdrv_pwrite_sync(bs->file, 60, sizeof(hdr), hdr, 0);
    if (ret < 0) {
        goto fail;
    }
    s->snapshots_offset = offset;
    s->snapshots_size = table->len;
    if (old_offset && old_size) {
        qcow2_free_clusters(bs, old_offset, old_size, QCOW2_DISCARD_SNAPSHOT);
    }
    return 0;

fail:
    if (offset > 0) {
        qcow2_free_clusters(bs, offset, table->len, QCOW2_DISCARD_ALWAYS);
    }
    return ret;
}

static int find_snapshot_by_id_and_name(BlockDriverState *bs, const char *id,
                                        const char *name)
{
    BDRVQcow2State *s = bs->opaque;

    for (unsigned i = 0; i < s->nb_snapshots; i++) {
        if ((!id || !strcmp(s->snapshots[i].id_str, id)) &&
            (!name || !strcmp(s->snapshots[i].name, name))) {
            return i;
        }
    }
    return -1;
}

static int find_snapshot_by_id_or_name(BlockDriverState *bs,
                                       const char *id_or_name)
{
    int ret = find_snapshot_by_id_and_name(bs, id_or_name, NULL);

    return ret >= 0 ? ret : find_snapshot_by_id_and_name(bs, NULL,
                                                         id_or_name);
}

static char *new_snapshot_id(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned long max = 0;

    for (unsigned i = 0; i < s->nb_snapshots; i++) {
        unsigned long id = strtoul(s->snapshots[i].id_str, NULL, 10);
        max = MAX(max, id);
    }
    return g_strdup_printf("%lu", max + 1);
}

static int do_snapshot_create(BlockDriverState *bs,
                              QEMUSnapshotInfo *sn_info, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot *new_list, *old_list = s->snapshots;
    QCowSnapshot sn = { 0 };
    g_autofree uint64_t *l1_table = NULL;
    int ret;

    if (s->nb_snapshots >= QCOW_MAX_SNAPSHOTS) {
        error_setg(errp, "Too many snapshots");
        return -EFBIG;
    }
    if (has_data_file(bs)) {
        error_setg(errp, "Internal snapshots are not supported with an "
                   "external data file");
        return -ENOTSUP;
    }
    if (sn_info->id_str[0] == '\0') {
        g_autofree char *id = new_snapshot_id(bs);
        g_strlcpy(sn_info->id_str, id, sizeof(sn_info->id_str));
    }
    if (find_snapshot_by_id_and_name(bs, sn_info->id_str, NULL) >= 0) {
        error_setg(errp, "Snapshot with ID '%s' already exists",
                   sn_info->id_str);
        return -EEXIST;
    }

    sn.id_str = g_strdup(sn_info->id_str);
    sn.name = g_strdup(sn_info->name);
    sn.disk_size = bs->total_bytes;
    sn.vm_state_size = sn_info->vm_state_size;
    sn.date_sec = sn_info->date_sec;
    sn.date_nsec = sn_info->date_nsec;
    sn.vm_clock_nsec = sn_info->vm_clock_nsec;
    sn.icount = sn_info->icount;
    sn.extra_data_size = SN_EXTRA_KNOWN;

    /* Copy of the current L1 table for the snapshot. */
    ret = qcow2_alloc_clusters(bs, s->l1_size * sizeof(uint64_t));
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to allocate L1 table");
        goto fail;
    }
    sn.l1_table_offset = ret;
    sn.l1_size = s->l1_size;
    l1_table = g_new(uint64_t, MAX(s->l1_size, 1));
    for (int i = 0; i < s->l1_size; i++) {
        l1_table[i] = htobe64(s->l1_table[i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, sn.l1_table_offset,
                                        s->l1_size * sizeof(uint64_t), false);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_pwrite(bs->file, sn.l1_table_offset,
                      s->l1_size * sizeof(uint64_t), l1_table, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to save L1 table");
        goto fail;
    }
    /* Everything reachable is now shared: writes must copy. */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                         1);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to increase cluster reference "
                         "counts");
        goto fail;
    }

    new_list = g_new(QCowSnapshot, s->nb_snapshots + 1);
    if (s->nb_snapshots) {
        memcpy(new_list, old_list, s->nb_snapshots * sizeof(QCowSnapshot));
    }
    new_list[s->nb_snapshots] = sn;
    s->snapshots = new_list;
    s->nb_snapshots++;
    ret = qcow2_write_snapshots(bs);
    if (ret < 0) {
        g_free(s->snapshots);
        s->snapshots = old_list;
        s->nb_snapshots--;
        error_setg_errno(errp, -ret, "Failed to write snapshot table");
        goto fail_refs;
    }
    g_free(old_list);

    /* The VM state is no longer needed in the active table. */
    if (sn.vm_state_size) {
        qcow2_cluster_discard(bs, qcow2_vm_state_offset(s),
                              ROUND_UP(sn.vm_state_size, s->cluster_size),
                              QCOW2_DISCARD_NEVER, false);
    }
    return 0;

fail_refs:
    qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size, -1);
fail:
    if (sn.l1_table_offset) {
        qcow2_free_clusters(bs, sn.l1_table_offset,
                            s->l1_size * sizeof(uint64_t),
                            QCOW2_DISCARD_ALWAYS);
    }
    g_free(sn.id_str);
    g_free(sn.name);
    return ret;
}

static int do_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                            Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot *sn;
    g_autofree uint64_t *sn_l1_table = NULL;
    int cur_l1_bytes, sn_l1_bytes;
    int idx, ret;

    idx = find_snapshot_by_id_or_name(bs, snapshot_id);
    if (idx < 0) {
        /* The caller words it ("Failed to load snapshot: ..."). */
        return -ENOENT;
    }
    sn = &s->snapshots[idx];
    ret = qcow2_validate_table(bs, sn->l1_table_offset, sn->l1_size,
                               sizeof(uint64_t), QCOW_MAX_L1_SIZE,
                               "Snapshot L1 table", errp);
    if (ret < 0) {
        return ret;
    }

    /* The active L1 table must be able to hold the snapshot's. */
    ret = qcow2_grow_l1_table(bs, sn->l1_size, true);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to grow the L1 table");
        return ret;
    }
    cur_l1_bytes = s->l1_size * sizeof(uint64_t);
    sn_l1_bytes = sn->l1_size * sizeof(uint64_t);
    sn_l1_table = g_try_malloc0(MAX(cur_l1_bytes, 1));
    if (!sn_l1_table) {
        error_setg(errp, "Failed to allocate memory for the L1 table");
        return -ENOMEM;
    }
    ret = bdrv_pread(bs->file, sn->l1_table_offset, sn_l1_bytes, sn_l1_table,
                     0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read the snapshot L1 table");
        return ret;
    }
    /* First reference the snapshot's clusters once more... */
    ret = qcow2_update_snapshot_refcount(bs, sn->l1_table_offset,
                                         sn->l1_size, 1);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to increase cluster reference "
                         "counts");
        return ret;
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                        s->l1_table_offset, cur_l1_bytes,
                                        false);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_pwrite_sync(bs->file, s->l1_table_offset, cur_l1_bytes,
                           sn_l1_table, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to write the L1 table");
        return ret;
    }
    /*
     * ...then release those of the old active table (still in memory,
     * which qcow2_update_snapshot_refcount uses for the active offset).
     */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                         -1);
    for (int i = 0; i < s->l1_size; i++) {
        s->l1_table[i] = be64toh(sn_l1_table[i]);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to decrease cluster reference "
                         "counts");
        return ret;
    }
    /* Refresh the COPIED flags of the new active table. */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                         0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update cluster flags");
        return ret;
    }
    if (sn->disk_size != (uint64_t)bs->total_bytes) {
        uint64_t be = htobe64(sn->disk_size);

        ret = bdrv_pwrite_sync(bs->file, 24, sizeof(be), &be, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to update the image size");
            return ret;
        }
        bs->total_bytes = sn->disk_size;
        s->l1_vm_state_index = size_to_l1(s, sn->disk_size);
    }
    return 0;
}

static int do_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                              const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot sn;
    int idx, ret;

    idx = find_snapshot_by_id_and_name(bs, snapshot_id, name);
    if (idx < 0) {
        error_setg(errp, "Can't find the snapshot");
        return -ENOENT;
    }
    sn = s->snapshots[idx];
    ret = qcow2_validate_table(bs, sn.l1_table_offset, sn.l1_size,
                               sizeof(uint64_t), QCOW_MAX_L1_SIZE,
                               "Snapshot L1 table", errp);
    if (ret < 0) {
        return ret;
    }
    memmove(s->snapshots + idx, s->snapshots + idx + 1,
            (s->nb_snapshots - idx - 1) * sizeof(sn));
    s->nb_snapshots--;
    ret = qcow2_write_snapshots(bs);
    if (ret < 0) {
        /* Put it back: nothing changed on disk. */
        memmove(s->snapshots + idx + 1, s->snapshots + idx,
                (s->nb_snapshots - idx) * sizeof(sn));
        s->snapshots[idx] = sn;
        s->nb_snapshots++;
        error_setg_errno(errp, -ret, "Failed to remove snapshot from "
                         "snapshot list");
        return ret;
    }
    g_free(sn.id_str);
    g_free(sn.name);
    g_free(sn.unknown_extra_data);

    /* From here on a failure only leaks clusters. */
    ret = qcow2_update_snapshot_refcount(bs, sn.l1_table_offset, sn.l1_size,
                                         -1);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to free the cluster and L1 "
                         "table");
        return ret;
    }
    qcow2_free_clusters(bs, sn.l1_table_offset,
                        sn.l1_size * sizeof(uint64_t),
                        QCOW2_DISCARD_SNAPSHOT);
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                         0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update snapshot status in "
                         "disk");
        return ret;
    }
    return 0;
}

int qcow2_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn_tab)
{
    BDRVQcow2State *s = bs->opaque;
    QEMUSnapshotInfo *tab;

    if (!s->nb_snapshots) {
        *psn_tab = NULL;
        return 0;
    }
    tab = g_new0(QEMUSnapshotInfo, s->nb_snapshots);
    for (unsigned i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];

        g_strlcpy(tab[i].id_str, sn->id_str, sizeof(tab[i].id_str));
        g_strlcpy(tab[i].name, sn->name, sizeof(tab[i].name));
        tab[i].vm_state_size = sn->vm_state_size;
        tab[i].date_sec = sn->date_sec;
        tab[i].date_nsec = sn->date_nsec;
        tab[i].vm_clock_nsec = sn->vm_clock_nsec;
        tab[i].icount = sn->icount;
    }
    *psn_tab = tab;
    return s->nb_snapshots;
}

/* The wrappers take the image lock: snapshot operations touch metadata. */
typedef struct SnapCo {
    BlockDriverState *bs;
    int op;
    QEMUSnapshotInfo *info;
    const char *id;
    const char *name;
    Error **errp;
    int ret;
    bool done;
} SnapCo;

static void coroutine_fn snap_entry(void *opaque)
{
    SnapCo *c = opaque;
    BDRVQcow2State *s = c->bs->opaque;

    qemu_co_mutex_lock(&s->lock);
    switch (c->op) {
    case 0:
        c->ret = do_snapshot_create(c->bs, c->info, c->errp);
        break;
    case 1:
        c->ret = do_snapshot_goto(c->bs, c->id, c->errp);
        break;
    default:
        c->ret = do_snapshot_delete(c->bs, c->id, c->name, c->errp);
        break;
    }
    if (c->ret == 0) {
        c->ret = qcow2_flush_caches(c->bs);
        if (c->ret < 0) {
            error_setg_errno(c->errp, -c->ret, "Failed to flush the image");
        }
    }
    qemu_co_mutex_unlock(&s->lock);
    c->done = true;
}

static int snap_run(BlockDriverState *bs, int op, QEMUSnapshotInfo *info,
                    const char *id, const char *name, Error **errp)
{
    SnapCo c = { .bs = bs, .op = op, .info = info, .id = id, .name = name,
                 .errp = errp };

    if (bdrv_is_read_only(bs)) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    bdrv_run_co(snap_entry, &c, &c.done);
    return c.ret;
}

int qcow2_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                          Error **errp)
{
    return snap_run(bs, 0, sn_info, NULL, NULL, errp);
}

int qcow2_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                        Error **errp)
{
    return snap_run(bs, 1, NULL, snapshot_id, NULL, errp);
}

int qcow2_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                          const char *name, Error **errp)
{
    return snap_run(bs, 2, NULL, snapshot_id, name, errp);
}

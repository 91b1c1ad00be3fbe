/*
 * The block graph: driver registry, opening nodes (options, probing,
 * protocols, children, backing files), node names, permissions, and
 * reference counting.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "util/cutils.h"
#include "util/json-writer.h"
#include "util/option.h"
#include "util/qdict.h"

#define BLOCK_PROBE_READ_SIZE 2048

static QLIST_HEAD(, BlockDriver) bdrv_drivers =
    QLIST_HEAD_INITIALIZER(bdrv_drivers);
static QTAILQ_HEAD(, BlockDriverState) graph_bdrv_states =
    QTAILQ_HEAD_INITIALIZER(graph_bdrv_states);
static QTAILQ_HEAD(, BlockDriverState) all_bdrv_states =
    QTAILQ_HEAD_INITIALIZER(all_bdrv_states);

int prealloc_mode_parse(const char *str, PreallocMode def, Error **errp)
{
    if (!str) {
        return def;
    }
    for (int i = 0; i < PREALLOC_MODE__MAX; i++) {
        if (!strcmp(str, PreallocMode_str(i))) {
            return i;
        }
    }
    error_setg(errp, "Invalid parameter '%s'", str);
    return -EINVAL;
}

/* ---- driver registry ---- */

void bdrv_set_str(char **field, const char *value)
{
    char *old = *field;

    *field = g_strdup(value ? value : "");
    g_free(old);
}

void bdrv_register(BlockDriver *bdrv)
{
    QLIST_INSERT_HEAD(&bdrv_drivers, bdrv, list);
}

void bdrv_init(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    qemu_init_main_loop();
    bdrv_register(&bdrv_file);
    bdrv_register(&bdrv_host_device);
    bdrv_register(&bdrv_raw);
    bdrv_register(&bdrv_null_co);
    bdrv_register(&bdrv_null_aio);
    bdrv_register(&bdrv_qcow2);
    bdrv_register(&bdrv_qcow);
    bdrv_register(&bdrv_nbd);
    bdrv_register(&bdrv_nbd_tcp);
    bdrv_register(&bdrv_nbd_unix);
    bdrv_register(&bdrv_throttle);
    bdrv_register(&bdrv_cbw_filter);
    bdrv_register(&bdrv_blkdebug);
}

BlockDriver *bdrv_find_format(const char *format_name)
{
    BlockDriver *drv;

    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        if (!strcmp(drv->format_name, format_name)) {
            return drv;
        }
    }
    return NULL;
}

bool bdrv_is_whitelisted(BlockDriver *drv, bool read_only)
{
    return true;
}

bool bdrv_uses_whitelist(void)
{
    return false;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void bdrv_iterate_format(void (*fn)(void *opaque, const char *name),
                         void *opaque, bool read_only)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    BlockDriver *drv;

    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        if (drv->format_name) {
            g_ptr_array_add(names, (gpointer)drv->format_name);
        }
    }
    g_ptr_array_sort(names, compare_strings);
    for (guint i = 0; i < names->len; i++) {
        /* One driver may serve several protocols (nbd, nbd+unix ...). */
        if (i && !strcmp(g_ptr_array_index(names, i),
                         g_ptr_array_index(names, i - 1))) {
            continue;
        }
        fn(opaque, g_ptr_array_index(names, i));
    }
}

/* "proto:rest" with no '/' before the colon names a protocol. */
static bool path_has_protocol(const char *path)
{
    const char *p = path + strcspn(path, ":/");

    return *p == ':';
}

static int path_is_absolute(const char *path)
{
    return path[0] == '/';
}

BlockDriver *bdrv_find_protocol(const char *filename,
                                bool allow_protocol_prefix, Error **errp)
{
    BlockDriver *drv;
    g_autofree char *protocol = NULL;
    int score_max = 0;
    BlockDriver *best = NULL;

    /* Host devices are recognised by their path. */
    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        if (drv->bdrv_probe_device) {
            int score = drv->bdrv_probe_device(filename);
            if (score > score_max) {
                score_max = score;
                best = drv;
            }
        }
    }
    if (best) {
        return best;
    }
    if (!path_has_protocol(filename) || !allow_protocol_prefix) {
        return &bdrv_file;
    }
    protocol = g_strndup(filename, strcspn(filename, ":"));
    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        if (drv->protocol_name && !strcmp(drv->protocol_name, protocol)) {
            return drv;
        }
    }
    error_setg(errp, "Unknown protocol '%s'", protocol);
    return NULL;
}

const char *bdrv_get_format_name(BlockDriverState *bs)
{
    return bs->drv ? bs->drv->format_name : NULL;
}

/* ---- permissions ---- */

static const char *const perm_names[] = {
    "consistent read", "write", "write unchanged", "resize",
};

const char *bdrv_perm_name(uint64_t perm)
{
    for (int i = 0; i < BLK_PERM_MAX_BITS; i++) {
        if (perm == (1ULL << i)) {
            return perm_names[i];
        }
    }
    return NULL;
}

char *bdrv_perm_names(uint64_t perm)
{
    GString *s = g_string_new(NULL);

    for (int i = 0; i < BLK_PERM_MAX_BITS; i++) {
        if (perm & (1ULL << i)) {
            if (s->len) {
                g_string_append(s, ", ");
            }
            g_string_append(s, perm_names[i]);
        }
    }
    return g_string_free(s, false);
}

void bdrv_get_cumulative_perm(BlockDriverState *bs, uint64_t *perm,
                              uint64_t *shared_perm)
{
    BdrvChild *c;
    uint64_t p = 0, s = BLK_PERM_ALL;

    QLIST_FOREACH(c, &bs->parents, next_parent) {
        p |= c->perm;
        s &= c->shared_perm;
    }
    *perm = p;
    *shared_perm = s;
}

void bdrv_filter_default_perms(BlockDriverState *bs, BdrvChild *c,
                               BdrvChildRole role, uint64_t perm,
                               uint64_t shared, uint64_t *nperm,
                               uint64_t *nshared)
{
    *nperm = perm & BLK_PERM_ALL;
    *nshared = shared & BLK_PERM_ALL;
}

static void default_perms_for_cow(BlockDriverState *bs, uint64_t perm,
                                  uint64_t shared, uint64_t *nperm,
                                  uint64_t *nshared)
{
    /* A backing file is only ever read, and only if the parent reads. */
    perm &= BLK_PERM_CONSISTENT_READ;
    /* Parents that accept changing data accept a changing backing file. */
    if (shared & BLK_PERM_WRITE_UNCHANGED) {
        shared = BLK_PERM_WRITE | BLK_PERM_RESIZE;
    } else {
        shared = 0;
    }
    shared |= BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    if (bs->open_flags & BDRV_O_INACTIVE) {
        shared |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    }
    *nperm = perm;
    *nshared = shared;
}

static void default_perms_for_storage(BlockDriverState *bs,
                                      BdrvChildRole role, uint64_t perm,
                                      uint64_t shared, uint64_t *nperm,
                                      uint64_t *nshared)
{
    int flags = bs->open_flags;

    if (role & BDRV_CHILD_FILTERED) {
        bdrv_filter_default_perms(bs, NULL, role, perm, shared, nperm,
                                  nshared);
        return;
    }
    perm &= BLK_PERM_ALL;
    shared &= BLK_PERM_ALL;
    if (role & BDRV_CHILD_METADATA) {
        /* Metadata may be written even when the guest does not write. */
        if (bdrv_is_writable(bs)) {
            perm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
        }
        /* Metadata must stay consistent: nobody else writes or resizes. */
        if (!(flags & BDRV_O_NO_IO)) {
            perm |= BLK_PERM_CONSISTENT_READ;
        }
        shared &= ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
    }
    if (role & BDRV_CHILD_DATA) {
        /* The format may rely on the size of its data file. */
        shared &= ~BLK_PERM_RESIZE;
        if (perm & BLK_PERM_WRITE_UNCHANGED) {
            perm |= BLK_PERM_WRITE;
        }
        /* Writing may extend the file past its end. */
        if (perm & BLK_PERM_WRITE) {
            perm |= BLK_PERM_RESIZE;
        }
    }
    if (flags & BDRV_O_INACTIVE) {
        shared |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    }
    *nperm = perm;
    *nshared = shared;
}

void bdrv_default_perms(BlockDriverState *bs, BdrvChild *c,
                        BdrvChildRole role, uint64_t perm, uint64_t shared,
                        uint64_t *nperm, uint64_t *nshared)
{
    if (role & BDRV_CHILD_COW) {
        default_perms_for_cow(bs, perm, shared, nperm, nshared);
    } else if (role & (BDRV_CHILD_METADATA | BDRV_CHILD_DATA |
                       BDRV_CHILD_FILTERED)) {
        default_perms_for_storage(bs, role, perm, shared, nperm, nshared);
    } else {
        *nperm = perm & BLK_PERM_ALL;
        *nshared = shared & BLK_PERM_ALL;
    }
}

static char *child_user_desc(BdrvChild *c)
{
    if (c->klass->get_parent_desc) {
        return c->klass->get_parent_desc(c);
    }
    return g_strdup("another user");
}

/* Can @a's user live with what @b's user does? */
static bool child_allows(BdrvChild *a, BdrvChild *b, Error **errp)
{
    g_autofree char *a_user = NULL;
    g_autofree char *b_user = NULL;
    g_autofree char *perms = NULL;
    const char *node = b->bs->node_name;

    if ((b->perm & a->shared_perm) == b->perm) {
        return true;
    }
    a_user = child_user_desc(a);
    b_user = child_user_desc(b);
    perms = bdrv_perm_names(b->perm & ~a->shared_perm);
    error_setg(errp, "Permission conflict on node '%s': permissions '%s' are "
               "both required by %s (uses node '%s' as '%s' child) and "
               "unshared by %s (uses node '%s' as '%s' child).",
               node, perms, b_user, node, b->name, a_user, node, a->name);
    return false;
}

static bool parents_compatible(BlockDriverState *bs, Error **errp)
{
    BdrvChild *a, *b;

    if (bs->force_share) {
        return true;
    }
    QLIST_FOREACH(a, &bs->parents, next_parent) {
        QLIST_FOREACH(b, &bs->parents, next_parent) {
            if (a != b && !child_allows(a, b, errp)) {
                return false;
            }
        }
    }
    return true;
}

typedef struct PermUpdate {
    GArray *saved;          /* SavedEdge */
    GPtrArray *checked;     /* protocol nodes whose check_perm succeeded */
} PermUpdate;

typedef struct SavedEdge {
    BdrvChild *c;
    uint64_t perm;
    uint64_t shared;
} SavedEdge;

static int update_node_perms(BlockDriverState *bs, PermUpdate *u,
                             Error **errp)
{
    BdrvChild *c;
    uint64_t perm, shared;

    /* Every parent edge inside the update is final by now. */
    if (!parents_compatible(bs, errp)) {
        return -EPERM;
    }
    bdrv_get_cumulative_perm(bs, &perm, &shared);
    if (bs->force_share) {
        shared = BLK_PERM_ALL;
    }
    /* Resizing is refused later, by the request ("Image is read-only"). */
    if ((perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)) &&
        !bdrv_is_writable(bs)) {
        error_setg(errp, "Block node is read-only");
        return -EPERM;
    }
    if (bs->drv && bs->drv->bdrv_check_perm) {
        int ret = bs->drv->bdrv_check_perm(bs, perm, shared, errp);
        if (ret < 0) {
            return ret;
        }
        g_ptr_array_add(u->checked, bs);
    }
    QLIST_FOREACH(c, &bs->children, next) {
        uint64_t nperm = 0, nshared = BLK_PERM_ALL;
        SavedEdge saved = { c, c->perm, c->shared_perm };

        if (bs->drv && bs->drv->bdrv_child_perm) {
            bs->drv->bdrv_child_perm(bs, c, c->role, perm, shared, &nperm,
                                     &nshared);
        } else {
            bdrv_default_perms(bs, c, c->role, perm, shared, &nperm,
                               &nshared);
        }
        if (c->bs->force_share) {
            nshared = BLK_PERM_ALL;
        }
        g_array_append_val(u->saved, saved);
        c->perm = nperm;
        c->shared_perm = nshared;
    }
    return 0;
}

/*
 * The nodes at and below @bs in post-order: reversed, every node comes
 * after all of its parents that are below @bs.
 */
static void collect_subtree(BlockDriverState *bs, GHashTable *seen,
                            GPtrArray *post)
{
    BdrvChild *c;

    if (!g_hash_table_add(seen, bs)) {
        return;
    }
    QLIST_FOREACH(c, &bs->children, next) {
        collect_subtree(c->bs, seen, post);
    }
    g_ptr_array_add(post, bs);
}

int bdrv_refresh_perms(BlockDriverState *bs, Error **errp)
{
    PermUpdate u = {
        .saved = g_array_new(false, false, sizeof(SavedEdge)),
        .checked = g_ptr_array_new(),
    };
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    g_autoptr(GPtrArray) post = g_ptr_array_new();
    int ret = 0;

    /*
     * Parents before children, each node once: a node reached by two
     * paths (a filter's child that is also a backing node below it) is
     * checked against the new permissions of all its parents.
     */
    collect_subtree(bs, seen, post);
    for (guint i = post->len; i-- > 0 && ret == 0;) {
        ret = update_node_perms(post->pdata[i], &u, errp);
    }

    for (guint i = 0; i < u.checked->len; i++) {
        BlockDriverState *p = g_ptr_array_index(u.checked, i);

        if (ret < 0) {
            if (p->drv->bdrv_abort_perm_update) {
                p->drv->bdrv_abort_perm_update(p);
            }
        } else if (p->drv->bdrv_set_perm) {
            uint64_t perm, shared;

            bdrv_get_cumulative_perm(p, &perm, &shared);
            if (p->force_share) {
                shared = BLK_PERM_ALL;
            }
            p->drv->bdrv_set_perm(p, perm, shared);
        }
    }
    if (ret < 0) {
        /* Restore edges in reverse order of change. */
        for (guint i = u.saved->len; i-- > 0;) {
            SavedEdge *s = &g_array_index(u.saved, SavedEdge, i);
            s->c->perm = s->perm;
            s->c->shared_perm = s->shared;
        }
    }
    g_array_free(u.saved, true);
    g_ptr_array_free(u.checked, true);
    return ret;
}

int bdrv_child_try_set_perm(BdrvChild *c, uint64_t perm, uint64_t shared,
                            Error **errp)
{
    uint64_t old_perm = c->perm, old_shared = c->shared_perm;
    int ret;

    c->perm = perm;
    c->shared_perm = shared;
    ret = bdrv_refresh_perms(c->bs, errp);
    if (ret < 0) {
        c->perm = old_perm;
        c->shared_perm = old_shared;
        bdrv_refresh_perms(c->bs, NULL);
    }
    return ret;
}

/* ---- node names ---- */

static uint64_t node_name_counter;

static void assign_node_name(BlockDriverState *bs, const char *node_name,
                             Error **errp)
{
    g_autofree char *gen = NULL;

    if (!node_name) {
        /* QEMU's form: "#block" + counter + two random digits. */
        gen = g_strdup_printf("#block%" PRIu64 "%02d", node_name_counter++,
                              g_random_int_range(0, 100));
        node_name = gen;
    } else if (!id_wellformed(node_name)) {
        error_setg(errp, "Invalid node-name: '%s'", node_name);
        return;
    } else if (blk_by_name(node_name)) {
        error_setg(errp, "node-name=%s is conflicting with a device id",
                   node_name);
        return;
    }
    if (bdrv_find_node(node_name)) {
        error_setg(errp, "Duplicate nodes with node-name='%s'", node_name);
        return;
    }
    if (strlen(node_name) >= sizeof(bs->node_name)) {
        error_setg(errp, "Node name too long");
        return;
    }
    g_strlcpy(bs->node_name, node_name, sizeof(bs->node_name));
    QTAILQ_INSERT_TAIL(&graph_bdrv_states, bs, node_list);
}

BlockDriverState *bdrv_find_node(const char *node_name)
{
    BlockDriverState *bs;

    QTAILQ_FOREACH(bs, &graph_bdrv_states, node_list) {
        if (!strcmp(node_name, bs->node_name)) {
            return bs;
        }
    }
    return NULL;
}

BlockDriverState *bdrv_next_node(BlockDriverState *bs)
{
    return bs ? QTAILQ_NEXT(bs, node_list) : QTAILQ_FIRST(&graph_bdrv_states);
}

BlockDriverState *bdrv_next_all_states(BlockDriverState *bs)
{
    return bs ? QTAILQ_NEXT(bs, bs_list) : QTAILQ_FIRST(&all_bdrv_states);
}

const char *bdrv_get_node_name(const BlockDriverState *bs)
{
    return bs->node_name;
}

const char *bdrv_get_device_name(const BlockDriverState *bs)
{
    BlockBackend *blk = blk_by_root_bs((BlockDriverState *)bs);

    return blk ? blk_name(blk) : "";
}

const char *bdrv_get_device_or_node_name(const BlockDriverState *bs)
{
    const char *name = bdrv_get_device_name(bs);

    return *name ? name : bs->node_name;
}

BlockDriverState *bdrv_lookup_bs(const char *device, const char *node_name,
                                 Error **errp)
{
    if (device) {
        BlockBackend *blk = blk_by_name(device);

        if (blk) {
            BlockDriverState *bs = blk_bs(blk);
            if (!bs) {
                error_setg(errp, "Device '%s' has no medium", device);
            }
            return bs;
        }
    }
    if (node_name) {
        BlockDriverState *bs = bdrv_find_node(node_name);

        if (bs) {
            return bs;
        }
    }
    error_setg(errp, "Cannot find device=\'%s\' nor node-name=\'%s\'",
               device ? device : "", node_name ? node_name : "");
    return NULL;
}

/* ---- simple properties ---- */

int bdrv_refresh_total_bytes(BlockDriverState *bs)
{
    int64_t len;

    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_getlength) {
        return 0;
    }
    len = bs->drv->bdrv_getlength(bs);
    if (len < 0) {
        return len;
    }
    bs->total_bytes = len;
    return 0;
}

/* Lengths are whole sectors, as in QEMU (a 1000 byte file is 1 KiB). */
int64_t bdrv_getlength(BlockDriverState *bs)
{
    if (!bs || !bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->drv->has_variable_length) {
        int ret = bdrv_refresh_total_bytes(bs);
        if (ret < 0) {
            return ret;
        }
    }
    if (bs->total_bytes > INT64_MAX - (int64_t)BDRV_SECTOR_SIZE) {
        return -EFBIG;
    }
    return ROUND_UP(bs->total_bytes, BDRV_SECTOR_SIZE);
}

int64_t bdrv_nb_sectors(BlockDriverState *bs)
{
    int64_t len = bdrv_getlength(bs);

    return len < 0 ? len : DIV_ROUND_UP(len, BDRV_SECTOR_SIZE);
}

int64_t bdrv_get_allocated_file_size(BlockDriverState *bs)
{
    BlockDriver *drv = bs->drv;
    BdrvChild *c;
    int64_t total = 0;

    if (!drv) {
        return -ENOMEDIUM;
    }
    if (drv->bdrv_get_allocated_file_size) {
        return drv->bdrv_get_allocated_file_size(bs);
    }
    if (drv->protocol_name) {
        return -ENOTSUP;
    }
    if (drv->is_filter) {
        return bs->file ? bdrv_get_allocated_file_size(bs->file->bs)
                        : -ENOMEDIUM;
    }
    /* Sum of the storage children (not the backing chain). */
    QLIST_FOREACH(c, &bs->children, next) {
        if (!(c->role & BDRV_CHILD_COW) &&
            (c->role & (BDRV_CHILD_DATA | BDRV_CHILD_METADATA |
                        BDRV_CHILD_FILTERED))) {
            int64_t n = bdrv_get_allocated_file_size(c->bs);
            if (n < 0) {
                return n;
            }
            total += n;
        }
    }
    return total;
}

int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    memset(bdi, 0, sizeof(*bdi));
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_get_info) {
        BlockDriverState *filtered = bdrv_filter_bs(bs);
        return filtered ? bdrv_get_info(filtered, bdi) : -ENOTSUP;
    }
    return bs->drv->bdrv_get_info(bs, bdi);
}

bool bdrv_is_read_only(BlockDriverState *bs)
{
    return bs->read_only;
}

bool bdrv_is_writable(BlockDriverState *bs)
{
    return !bs->read_only && !(bs->open_flags & BDRV_O_INACTIVE);
}

bool bdrv_is_sg(BlockDriverState *bs)
{
    return bs->sg;
}

bool bdrv_is_encrypted(BlockDriverState *bs)
{
    return bs->encrypted;
}

int bdrv_get_flags(BlockDriverState *bs)
{
    return bs->open_flags;
}

const char *bdrv_get_filename(BlockDriverState *bs)
{
    return bs->filename;
}

BlockDriverState *bdrv_cow_bs(BlockDriverState *bs)
{
    if (!bs || !bs->drv || bs->drv->is_filter) {
        return NULL;
    }
    return child_bs(bs->backing);
}

BlockDriverState *bdrv_filter_bs(BlockDriverState *bs)
{
    if (!bs || !bs->drv || !bs->drv->is_filter) {
        return NULL;
    }
    /* Filters use either file or backing for their filtered child. */
    return bs->backing ? bs->backing->bs : child_bs(bs->file);
}

BlockDriverState *bdrv_filter_or_cow_bs(BlockDriverState *bs)
{
    BlockDriverState *f = bdrv_filter_bs(bs);

    return f ? f : bdrv_cow_bs(bs);
}

BlockDriverState *bdrv_backing_chain_next(BlockDriverState *bs)
{
    return bdrv_skip_filters(bdrv_cow_bs(bdrv_skip_filters(bs)));
}

BlockDriverState *bdrv_skip_filters(BlockDriverState *bs)
{
    while (bs && bs->drv && bs->drv->is_filter) {
        bs = bdrv_filter_bs(bs);
    }
    return bs;
}

BlockDriverState *bdrv_primary_bs(BlockDriverState *bs)
{
    return child_bs(bs->file);
}

uint32_t bdrv_get_request_alignment(BlockDriverState *bs)
{
    return bs->bl.request_alignment ? bs->bl.request_alignment : 1;
}

size_t bdrv_opt_mem_align(BlockDriverState *bs)
{
    if (!bs || !bs->drv) {
        return MAX(4096, qemu_real_host_page_size());
    }
    return bs->bl.opt_mem_alignment;
}

size_t bdrv_min_mem_align(BlockDriverState *bs)
{
    if (!bs || !bs->drv) {
        return MAX(4096, qemu_real_host_page_size());
    }
    return bs->bl.min_mem_alignment;
}

void *qemu_blockalign(BlockDriverState *bs, size_t size)
{
    return qemu_memalign(bdrv_opt_mem_align(bs), size);
}

void *qemu_try_blockalign(BlockDriverState *bs, size_t size)
{
    return qemu_try_memalign(bdrv_opt_mem_align(bs), size);
}

void *qemu_blockalign0(BlockDriverState *bs, size_t size)
{
    return memset(qemu_blockalign(bs, size), 0, size);
}

static uint64_t min_non_zero_u64(uint64_t a, uint64_t b)
{
    return !a ? b : !b ? a : MIN(a, b);
}

/* Combine a child's limits into @dst (what requests through it obey). */
static void merge_limits(BlockLimits *dst, const BlockLimits *src)
{
    dst->pdiscard_alignment = MAX(dst->pdiscard_alignment,
                                  src->pdiscard_alignment);
    dst->opt_transfer = MAX(dst->opt_transfer, src->opt_transfer);
    dst->max_transfer = min_non_zero_u64(dst->max_transfer,
                                         src->max_transfer);
    dst->max_hw_transfer = min_non_zero_u64(dst->max_hw_transfer,
                                            src->max_hw_transfer);
    dst->opt_mem_alignment = MAX(dst->opt_mem_alignment,
                                 src->opt_mem_alignment);
    dst->min_mem_alignment = MAX(dst->min_mem_alignment,
                                 src->min_mem_alignment);
    dst->max_iov = min_non_zero_u64(dst->max_iov, src->max_iov);
}

void bdrv_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BlockLimits *bl = &bs->bl;
    bool have_limits = false;
    BdrvChild *c;

    memset(bl, 0, sizeof(*bl));
    if (!bs->drv) {
        return;
    }
    /*
     * Byte-granular unless the driver says otherwise: children pad their
     * own requests to what they need.
     */
    bl->request_alignment = 1;
    QLIST_FOREACH(c, &bs->children, next) {
        if (c->role & (BDRV_CHILD_DATA | BDRV_CHILD_FILTERED |
                       BDRV_CHILD_COW)) {
            merge_limits(bl, &c->bs->bl);
            have_limits = true;
        }
    }
    if (!have_limits) {
        bl->min_mem_alignment = 512;
        bl->opt_mem_alignment = qemu_real_host_page_size();
        bl->max_iov = IOV_MAX;
    }
    if (bs->drv->bdrv_refresh_limits) {
        bs->drv->bdrv_refresh_limits(bs, errp);
    }
}

/* ---- option helpers ---- */

int bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough)
{
    *flags &= ~BDRV_O_CACHE_MASK;
    if (!strcmp(mode, "off") || !strcmp(mode, "none")) {
        *writethrough = false;
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "directsync")) {
        *writethrough = true;
        *flags |= BDRV_O_NOCACHE;
    } else if (!strcmp(mode, "writeback")) {
        *writethrough = false;
    } else if (!strcmp(mode, "unsafe")) {
        *writethrough = false;
        *flags |= BDRV_O_NO_FLUSH;
    } else if (!strcmp(mode, "writethrough")) {
        *writethrough = true;
    } else {
        return -1;
    }
    return 0;
}

int bdrv_parse_discard_flags(const char *mode, int *flags)
{
    *flags &= ~BDRV_O_UNMAP;
    if (!strcmp(mode, "off") || !strcmp(mode, "ignore")) {
        /* nothing */
    } else if (!strcmp(mode, "on") || !strcmp(mode, "unmap")) {
        *flags |= BDRV_O_UNMAP;
    } else {
        return -1;
    }
    return 0;
}

int bdrv_parse_aio(const char *mode, int *flags)
{
    *flags &= ~(BDRV_O_NATIVE_AIO | BDRV_O_IO_URING | BDRV_O_AIO_THREADS);
    if (!strcmp(mode, "threads")) {
        *flags |= BDRV_O_AIO_THREADS;
    } else if (!strcmp(mode, "native")) {
        *flags |= BDRV_O_NATIVE_AIO;
    } else if (!strcmp(mode, "io_uring")) {
        *flags |= BDRV_O_IO_URING;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* ---- child edges ---- */

static char *bds_parent_desc(BdrvChild *c)
{
    BlockDriverState *parent = c->opaque;

    return g_strdup_printf("node '%s'", parent->node_name);
}

static void bds_drained_begin(BdrvChild *c)
{
    bdrv_drained_begin(c->opaque);
}

static void bds_drained_end(BdrvChild *c)
{
    bdrv_drained_end(c->opaque);
}

const BdrvChildClass child_of_bds = {
    .parent_is_bds = true,
    .get_parent_desc = bds_parent_desc,
    .drained_begin = bds_drained_begin,
    .drained_end = bds_drained_end,
};

/*
 * A backing node is not for others to use while it is one: block most
 * operations on it (not those that work on chains: commit, stream,
 * backup), as QEMU does.
 */
static void backing_blocker_attach(BdrvChild *c)
{
    BlockDriverState *parent = c->opaque;

    if (!c->klass->parent_is_bds || !(c->role & BDRV_CHILD_COW) ||
        parent->backing_blocker) {
        return;
    }
    error_setg(&parent->backing_blocker,
               "node is used as backing hd of '%s'",
               bdrv_get_device_or_node_name(parent));
    bdrv_op_block_all(c->bs, parent->backing_blocker);
    bdrv_op_unblock(c->bs, BLOCK_OP_TYPE_COMMIT_TARGET,
                    parent->backing_blocker);
    bdrv_op_unblock(c->bs, BLOCK_OP_TYPE_STREAM, parent->backing_blocker);
    bdrv_op_unblock(c->bs, BLOCK_OP_TYPE_BACKUP_SOURCE,
                    parent->backing_blocker);
    bdrv_op_unblock(c->bs, BLOCK_OP_TYPE_BACKUP_TARGET,
                    parent->backing_blocker);
}

static void backing_blocker_detach(BdrvChild *c)
{
    BlockDriverState *parent = c->opaque;

    if (!c->klass->parent_is_bds || !(c->role & BDRV_CHILD_COW) ||
        !parent->backing_blocker) {
        return;
    }
    bdrv_op_unblock_all(c->bs, parent->backing_blocker);
    g_clear_pointer(&parent->backing_blocker, error_free);
}

/*
 * A parent hears drained_begin once when its child's first drained section
 * starts, and drained_end when the last ends.  An edge that joins or leaves
 * a drained node must get the matching call itself.
 */
static void bdrv_child_join_drain(BdrvChild *c)
{
    if (c->bs->quiesce_counter && c->klass->drained_begin) {
        c->klass->drained_begin(c);
    }
}

static void bdrv_child_leave_drain(BdrvChild *c)
{
    if (c->bs->quiesce_counter && c->klass->drained_end) {
        c->klass->drained_end(c);
    }
}

BdrvChild *bdrv_root_attach_child(BlockDriverState *child_bs,
                                  const char *child_name,
                                  const BdrvChildClass *child_class,
                                  BdrvChildRole child_role,
                                  uint64_t perm, uint64_t shared_perm,
                                  void *opaque, Error **errp)
{
    BdrvChild *c = g_new0(BdrvChild, 1);

    *c = (BdrvChild) {
        .bs = child_bs,
        .name = g_strdup(child_name),
        .klass = child_class,
        .role = child_role,
        .perm = perm,
        .shared_perm = shared_perm,
        .opaque = opaque,
    };
    QLIST_INSERT_HEAD(&child_bs->parents, c, next_parent);
    if (bdrv_refresh_perms(child_bs, errp) < 0) {
        QLIST_REMOVE(c, next_parent);
        bdrv_refresh_perms(child_bs, NULL);
        g_free(c->name);
        g_free(c);
        return NULL;
    }
    bdrv_ref(child_bs);
    bdrv_child_join_drain(c);
    return c;
}

void bdrv_root_unref_child(BdrvChild *child)
{
    BlockDriverState *bs = child->bs;

    bdrv_child_leave_drain(child);
    QLIST_REMOVE(child, next_parent);
    bdrv_refresh_perms(bs, NULL);
    g_free(child->name);
    g_free(child);
    bdrv_unref(bs);
}

BdrvChild *bdrv_attach_child(BlockDriverState *parent_bs,
                             BlockDriverState *child,
                             const char *child_name,
                             const BdrvChildClass *child_class,
                             BdrvChildRole child_role, Error **errp)
{
    BdrvChild *c = g_new0(BdrvChild, 1);

    *c = (BdrvChild) {
        .bs = child,
        .name = g_strdup(child_name),
        .klass = child_class,
        .role = child_role,
        .shared_perm = BLK_PERM_ALL,
        .opaque = parent_bs,
    };
    QLIST_INSERT_HEAD(&parent_bs->children, c, next);
    QLIST_INSERT_HEAD(&child->parents, c, next_parent);
    if (child_role & BDRV_CHILD_COW) {
        parent_bs->backing = c;
    } else if (child_role & BDRV_CHILD_PRIMARY) {
        parent_bs->file = c;
    }
    if (bdrv_refresh_perms(parent_bs, errp) < 0) {
        QLIST_REMOVE(c, next);
        QLIST_REMOVE(c, next_parent);
        if (parent_bs->backing == c) {
            parent_bs->backing = NULL;
        }
        if (parent_bs->file == c) {
            parent_bs->file = NULL;
        }
        bdrv_refresh_perms(child, NULL);
        g_free(c->name);
        g_free(c);
        return NULL;
    }
    bdrv_ref(child);
    bdrv_child_join_drain(c);
    backing_blocker_attach(c);
    return c;
}

/*
 * Point the edge @c at @to instead of its current node.  Permissions are
 * checked on @to first; on failure nothing changes.
 */
int bdrv_replace_child_bs(BdrvChild *c, BlockDriverState *to, Error **errp)
{
    BlockDriverState *from = c->bs;

    if (from == to) {
        return 0;
    }
    if (c->frozen) {
        error_setg(errp, "Cannot change '%s' link to '%s'", c->name,
                   from->node_name);
        return -EPERM;
    }
    backing_blocker_detach(c);
    QLIST_REMOVE(c, next_parent);
    c->bs = to;
    QLIST_INSERT_HEAD(&to->parents, c, next_parent);
    if (bdrv_refresh_perms(to, errp) < 0) {
        QLIST_REMOVE(c, next_parent);
        c->bs = from;
        QLIST_INSERT_HEAD(&from->parents, c, next_parent);
        bdrv_refresh_perms(to, NULL);
        backing_blocker_attach(c);
        return -EPERM;
    }
    backing_blocker_attach(c);
    bdrv_ref(to);
    bdrv_refresh_perms(from, NULL);
    /* The parent follows the drained state of its new child. */
    if (to->quiesce_counter && !from->quiesce_counter &&
        c->klass->drained_begin) {
        c->klass->drained_begin(c);
    } else if (!to->quiesce_counter && from->quiesce_counter &&
               c->klass->drained_end) {
        c->klass->drained_end(c);
    }
    if (c->klass->parent_is_bds) {
        BlockDriverState *parent = c->opaque;

        bdrv_refresh_limits(parent, NULL);
        bdrv_refresh_filename(parent);
    }
    bdrv_unref(from);
    return 0;
}

/* Move edge @c from its node to @to, without touching permissions. */
static void bdrv_move_edge(BdrvChild *c, BlockDriverState *to)
{
    QLIST_REMOVE(c, next_parent);
    c->bs = to;
    QLIST_INSERT_HEAD(&to->parents, c, next_parent);
}

/*
 * Whether edge @c is somewhere below @to: pointing it at @to would make
 * a loop (a filter inserted above a node keeps that node as its child; a
 * backup target whose backing file is the source keeps it).
 */
static bool edge_below(BdrvChild *c, BlockDriverState *to)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    g_autoptr(GQueue) queue = g_queue_new();

    g_hash_table_add(seen, to);
    g_queue_push_tail(queue, to);
    while (!g_queue_is_empty(queue)) {
        BlockDriverState *v = g_queue_pop_head(queue);
        BdrvChild *c2;

        QLIST_FOREACH(c2, &v->children, next) {
            if (c2 == c) {
                return true;
            }
            if (!g_hash_table_contains(seen, c2->bs)) {
                g_hash_table_add(seen, c2->bs);
                g_queue_push_tail(queue, c2->bs);
            }
        }
    }
    return false;
}

/*
 * Make every user of @from use @to instead, except those below @to (see
 * edge_below) and the edges that stay at their node (jobs).
 */
int bdrv_replace_node(BlockDriverState *from, BlockDriverState *to,
                      Error **errp)
{
    g_autoptr(GPtrArray) edges = g_ptr_array_new();
    BdrvChild *c;
    guint i;

    QLIST_FOREACH(c, &from->parents, next_parent) {
        if (c->klass->stay_at_node || edge_below(c, to)) {
            continue;
        }
        if (c->frozen) {
            error_setg(errp, "Cannot change '%s' link to '%s'", c->name,
                       from->node_name);
            return -EPERM;
        }
        g_ptr_array_add(edges, c);
    }
    if (!edges->len) {
        return 0;
    }

    /*
     * All edges move at once and permissions are computed for the new
     * graph only: moving them one by one would check graphs that are
     * half old, half new (a filter being inserted would refuse the
     * writers still below it).  @from is refreshed first, as it only
     * loses users.
     */
    bdrv_ref(from);
    for (i = 0; i < edges->len; i++) {
        bdrv_move_edge(edges->pdata[i], to);
    }
    bdrv_refresh_perms(from, NULL);
    if (bdrv_refresh_perms(to, errp) < 0) {
        for (i = 0; i < edges->len; i++) {
            bdrv_move_edge(edges->pdata[i], from);
        }
        bdrv_refresh_perms(to, NULL);
        bdrv_refresh_perms(from, NULL);
        bdrv_unref(from);
        return -EPERM;
    }
    for (i = 0; i < edges->len; i++) {
        c = edges->pdata[i];
        /* The blocker moves with the backing edge. */
        if (c->klass->parent_is_bds && (c->role & BDRV_CHILD_COW)) {
            BlockDriverState *parent = c->opaque;

            if (parent->backing_blocker) {
                bdrv_op_unblock_all(from, parent->backing_blocker);
                g_clear_pointer(&parent->backing_blocker, error_free);
            }
            backing_blocker_attach(c);
        }
        bdrv_ref(to);
        /* The parent follows the drained state of its new child. */
        if (to->quiesce_counter && !from->quiesce_counter &&
            c->klass->drained_begin) {
            c->klass->drained_begin(c);
        } else if (!to->quiesce_counter && from->quiesce_counter &&
                   c->klass->drained_end) {
            c->klass->drained_end(c);
        }
        if (c->klass->parent_is_bds) {
            BlockDriverState *parent = c->opaque;

            bdrv_refresh_limits(parent, NULL);
            bdrv_refresh_filename(parent);
        }
        bdrv_unref(from);
    }
    bdrv_unref(from);
    return 0;
}

void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child)
{
    BlockDriverState *bs;

    if (!child) {
        return;
    }
    bs = child->bs;
    if (bs->inherits_from == parent) {
        bs->inherits_from = NULL;
    }
    if (parent->backing == child) {
        parent->backing = NULL;
    }
    if (parent->file == child) {
        parent->file = NULL;
    }
    bdrv_child_leave_drain(child);
    backing_blocker_detach(child);
    QLIST_REMOVE(child, next);
    QLIST_REMOVE(child, next_parent);
    bdrv_refresh_perms(bs, NULL);
    g_free(child->name);
    g_free(child);
    bdrv_unref(bs);
}

/* ---- opening ---- */

static BlockDriverState *bdrv_new(void)
{
    BlockDriverState *bs = g_new0(BlockDriverState, 1);

    QLIST_INIT(&bs->children);
    QLIST_INIT(&bs->parents);
    QLIST_INIT(&bs->tracked_requests);
    QLIST_INIT(&bs->dirty_bitmaps);
    qemu_co_queue_init(&bs->flush_queue);
    qemu_co_mutex_init(&bs->reqs_lock);
    bs->refcnt = 1;
    bs->filename = g_strdup("");
    bs->exact_filename = g_strdup("");
    bs->backing_file = g_strdup("");
    bs->auto_backing_file = g_strdup("");
    bs->aio_context = qemu_get_aio_context();
    QTAILQ_INSERT_TAIL(&all_bdrv_states, bs, bs_list);
    return bs;
}

static const char *const common_option_names[] = {
    "node-name", "driver", BDRV_OPT_DISCARD, BDRV_OPT_CACHE_DIRECT,
    BDRV_OPT_CACHE_NO_FLUSH, BDRV_OPT_READ_ONLY, BDRV_OPT_AUTO_READ_ONLY,
    "detect-zeroes", BDRV_OPT_FORCE_SHARE, BDRV_OPT_CACHE_WB,
};

static bool opt_get_bool(json_t *options, const char *key, bool *value,
                         Error **errp)
{
    json_t *v = json_object_get(options, key);

    if (!v) {
        return true;
    }
    if (json_is_boolean(v)) {
        *value = json_is_true(v);
        return true;
    }
    if (json_is_string(v)) {
        return parse_option_bool(key, json_string_value(v), value, errp);
    }
    error_setg(errp, "Invalid parameter type for '%s', expected: boolean",
               key);
    return false;
}

/* Fold the generic options into open flags (QEMU's update_flags_from_options). */
static bool update_flags_from_options(int *flags, json_t *options,
                                      Error **errp)
{
    bool val;

    val = !!(*flags & BDRV_O_NOCACHE);
    if (!opt_get_bool(options, BDRV_OPT_CACHE_DIRECT, &val, errp)) {
        return false;
    }
    *flags = val ? (*flags | BDRV_O_NOCACHE) : (*flags & ~BDRV_O_NOCACHE);

    val = !!(*flags & BDRV_O_NO_FLUSH);
    if (!opt_get_bool(options, BDRV_OPT_CACHE_NO_FLUSH, &val, errp)) {
        return false;
    }
    *flags = val ? (*flags | BDRV_O_NO_FLUSH) : (*flags & ~BDRV_O_NO_FLUSH);

    val = !(*flags & BDRV_O_RDWR);
    if (!opt_get_bool(options, BDRV_OPT_READ_ONLY, &val, errp)) {
        return false;
    }
    *flags = val ? (*flags & ~BDRV_O_RDWR) : (*flags | BDRV_O_RDWR);

    val = !!(*flags & BDRV_O_AUTO_RDONLY);
    if (!opt_get_bool(options, BDRV_OPT_AUTO_READ_ONLY, &val, errp)) {
        return false;
    }
    *flags = val ? (*flags | BDRV_O_AUTO_RDONLY)
                 : (*flags & ~BDRV_O_AUTO_RDONLY);
    return true;
}

static int parse_detect_zeroes(const char *value, int flags, Error **errp)
{
    if (!value || !strcmp(value, "off")) {
        return BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF;
    }
    if (!strcmp(value, "on")) {
        return BLOCKDEV_DETECT_ZEROES_OPTIONS_ON;
    }
    if (!strcmp(value, "unmap")) {
        if (!(flags & BDRV_O_UNMAP)) {
            error_setg(errp, "setting detect-zeroes to unmap is not allowed "
                       "without setting discard operation to unmap");
            return -EINVAL;
        }
        return BLOCKDEV_DETECT_ZEROES_OPTIONS_UNMAP;
    }
    error_setg(errp, "invalid parameter value: %s", value);
    return -EINVAL;
}

static const char *opt_str(json_t *options, const char *key)
{
    json_t *v = json_object_get(options, key);

    return v && json_is_string(v) ? json_string_value(v) : NULL;
}

/* Options the generic layer consumes, removed before the driver sees them. */
static int open_common_options(BlockDriverState *bs, json_t *options,
                               int *flags, Error **errp)
{
    const char *discard = opt_str(options, BDRV_OPT_DISCARD);
    const char *dz = opt_str(options, "detect-zeroes");
    bool force_share = false;
    int ret;

    if (!update_flags_from_options(flags, options, errp)) {
        return -EINVAL;
    }
    if (discard && bdrv_parse_discard_flags(discard, flags) < 0) {
        error_setg(errp, "Invalid discard option");
        return -EINVAL;
    }
    ret = parse_detect_zeroes(dz, *flags, errp);
    if (ret < 0) {
        return ret;
    }
    bs->detect_zeroes = ret;
    if (!opt_get_bool(options, BDRV_OPT_FORCE_SHARE, &force_share, errp)) {
        return -EINVAL;
    }
    if ((*flags & BDRV_O_COPY_ON_READ) && !(*flags & BDRV_O_RDWR)) {
        error_setg(errp, "Can't use copy-on-read on read-only device");
        return -EINVAL;
    }
    if (force_share && (*flags & BDRV_O_RDWR)) {
        error_setg(errp, "force-share=on can only be used with read-only "
                   "images");
        return -EINVAL;
    }
    bs->force_share = force_share;
    for (size_t i = 0; i < ARRAY_SIZE(common_option_names); i++) {
        json_object_del(options, common_option_names[i]);
    }
    return 0;
}

/*
 * Open @bs with @drv: consume the generic options, call the driver, set up
 * limits and length.  @options loses what was consumed.
 */
static int open_driver(BlockDriverState *bs, BlockDriver *drv,
                       const char *node_name, json_t *options, int flags,
                       Error **errp)
{
    Error *local_err = NULL;
    int ret;

    assign_node_name(bs, node_name, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        return -EINVAL;
    }
    bs->drv = drv;
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->supports_backing = drv->supports_backing;
    bs->opaque = g_malloc0(drv->instance_size);

    if (drv->bdrv_file_open) {
        ret = drv->bdrv_file_open(bs, options, flags, &local_err);
    } else if (drv->bdrv_open) {
        ret = drv->bdrv_open(bs, options, flags, &local_err);
    } else {
        ret = 0;
    }
    if (ret < 0) {
        if (local_err) {
            error_propagate(errp, local_err);
        } else if (bs->filename[0]) {
            error_setg_errno(errp, -ret, "Could not open '%s'", bs->filename);
        } else {
            error_setg_errno(errp, -ret, "Could not open image");
        }
        goto fail;
    }
    bdrv_refresh_limits(bs, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        ret = -EINVAL;
        goto fail_close;
    }
    ret = bdrv_refresh_total_bytes(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not refresh total sector count");
        goto fail_close;
    }
    return 0;

fail_close:
    if (drv->bdrv_close) {
        drv->bdrv_close(bs);
    }
fail:
    /* Children the driver opened are released by the caller's unref. */
    g_free(bs->opaque);
    bs->opaque = NULL;
    bs->drv = NULL;
    return ret;
}

BlockDriver *bdrv_probe_all(const uint8_t *buf, int buf_size,
                            const char *filename)
{
    BlockDriver *drv, *best = &bdrv_raw;
    int score_max = 0;

    QLIST_FOREACH(drv, &bdrv_drivers, list) {
        if (drv->bdrv_probe) {
            int score = drv->bdrv_probe(buf, buf_size, filename);
            if (score > score_max) {
                score_max = score;
                best = drv;
            }
        }
    }
    return best;
}

/* The first bytes of an image decide its format; raw if nothing matches. */
static BlockDriver *probe_format(BlockDriverState *file_bs,
                                 const char *filename, Error **errp)
{
    uint8_t buf[BLOCK_PROBE_READ_SIZE] = { 0 };
    BdrvChild tmp_child = { .bs = file_bs, .name = (char *)"probe" };
    int64_t len = bdrv_getlength(file_bs);
    int n;
    int ret;

    if (len < 0) {
        error_setg_errno(errp, -len, "Could not read image for determining "
                         "its format");
        return NULL;
    }
    if (len == 0) {
        return &bdrv_raw;
    }
    n = MIN(len, (int64_t)sizeof(buf));
    ret = bdrv_pread(&tmp_child, 0, n, buf, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read image for determining "
                         "its format");
        return NULL;
    }
    return bdrv_probe_all(buf, n, filename);
}

/* json:{...} in @filename merges into @options; explicit options win. */
static int merge_json_filename(const char **filename, json_t *options,
                               Error **errp)
{
    json_t *json_opts;
    const char *key;
    json_t *val;

    if (!*filename || !g_str_has_prefix(*filename, "json:")) {
        return 0;
    }
    json_opts = qobject_from_json_filename(*filename, errp);
    if (!json_opts) {
        return -EINVAL;
    }
    json_object_foreach(json_opts, key, val) {
        if (!json_object_get(options, key)) {
            json_object_set(options, key, val);
        }
    }
    json_decref(json_opts);
    *filename = NULL;
    return 0;
}

static BlockDriverState *open_inherit(const char *filename,
                                      const char *reference, json_t *options,
                                      int flags, BlockDriverState *parent,
                                      BdrvChildRole child_role, Error **errp);

BdrvChild *bdrv_open_child(const char *filename, json_t *options,
                           const char *bdref_key, BlockDriverState *parent,
                           const BdrvChildClass *child_class,
                           BdrvChildRole child_role, bool allow_none,
                           Error **errp)
{
    g_autofree char *prefix = g_strdup_printf("%s.", bdref_key);
    json_t *child_opts = NULL;
    const char *reference;
    BlockDriverState *bs;
    BdrvChild *c;

    qdict_extract_subqdict(options, &child_opts, prefix);
    reference = opt_str(options, bdref_key);
    if (!filename && !reference && !json_object_size(child_opts)) {
        json_decref(child_opts);
        if (!allow_none) {
            error_setg(errp, "A block device must be specified for \"%s\"",
                       bdref_key);
        }
        return NULL;
    }
    {
        g_autofree char *ref_copy = g_strdup(reference);

        json_object_del(options, bdref_key);
        bs = open_inherit(filename, ref_copy, child_opts,
                          parent->open_flags, parent, child_role, errp);
    }
    if (!bs) {
        return NULL;
    }
    c = bdrv_attach_child(parent, bs, bdref_key, child_class, child_role,
                          errp);
    /* The child holds its own reference now. */
    bdrv_unref(bs);
    return c;
}

static void close_node(BlockDriverState *bs)
{
    BdrvChild *c, *next;

    if (bs->drv) {
        if (bs->drv->bdrv_close) {
            bdrv_flush(bs);
            bs->drv->bdrv_close(bs);
        }
        bs->drv = NULL;
    }
    /* The driver stored the persistent ones; the rest go with the node. */
    bdrv_release_all_dirty_bitmaps(bs);
    QLIST_FOREACH_SAFE(c, &bs->children, next, next) {
        bdrv_unref_child(bs, c);
    }
    g_free(bs->opaque);
    bs->opaque = NULL;
    json_decref(bs->options);
    json_decref(bs->explicit_options);
    json_decref(bs->full_open_options);
    bs->options = bs->explicit_options = bs->full_open_options = NULL;
}

static void delete_node(BlockDriverState *bs)
{
    assert(QLIST_EMPTY(&bs->parents));
    close_node(bs);
    if (bs->node_name[0]) {
        QTAILQ_REMOVE(&graph_bdrv_states, bs, node_list);
    }
    QTAILQ_REMOVE(&all_bdrv_states, bs, bs_list);
    g_free(bs->filename);
    g_free(bs->exact_filename);
    g_free(bs->backing_file);
    g_free(bs->auto_backing_file);
    g_free(bs);
}

void bdrv_ref(BlockDriverState *bs)
{
    bs->refcnt++;
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    assert(bs->refcnt > 0);
    if (--bs->refcnt == 0) {
        delete_node(bs);
    }
}

void bdrv_close_all(void)
{
    blk_drain_all();
    bdrv_drain_all();
}

static void report_leftover_option(BlockDriverState *bs, json_t *options,
                                   Error **errp)
{
    const char *key;
    json_t *val;

    json_object_foreach(options, key, val) {
        if (bs->drv->protocol_name || bs->drv->bdrv_file_open) {
            error_setg(errp, "Block protocol '%s' doesn't support the option "
                       "'%s'", bs->drv->format_name, key);
        } else {
            error_setg(errp, "Block format '%s' does not support the option "
                       "'%s'", bs->drv->format_name, key);
        }
        return;
    }
}

/* Turn a protocol filename into options for @drv. */
static bool fill_protocol_options(BlockDriverState *bs, BlockDriver *drv,
                                  const char *filename, json_t *options,
                                  Error **errp)
{
    Error *local_err = NULL;

    if (filename && !json_object_get(options, "filename")) {
        if (drv->bdrv_parse_filename) {
            drv->bdrv_parse_filename(filename, options, &local_err);
            if (local_err) {
                error_propagate(errp, local_err);
                return false;
            }
        } else {
            json_object_set_new(options, "filename", json_string(filename));
        }
    }
    if (filename) {
        bdrv_set_str(&bs->filename, filename);
    } else if (opt_str(options, "filename")) {
        bdrv_set_str(&bs->filename, opt_str(options, "filename"));
    }
    return true;
}

/*
 * Open the storage below a format node as a free-standing node, so that
 * its first bytes can be probed; the format driver then attaches it by
 * reference (the "file" option is set to its node name).
 */
static BlockDriverState *open_file_for_format(BlockDriverState *bs,
                                              const char *filename,
                                              json_t *options, int flags,
                                              Error **errp)
{
    json_t *file_opts = NULL;
    const char *reference = opt_str(options, "file");
    g_autofree char *ref_copy = g_strdup(reference);
    BlockDriverState *file_bs;

    qdict_extract_subqdict(options, &file_opts, "file.");
    if (!filename && !reference && !json_object_size(file_opts)) {
        json_decref(file_opts);
        return NULL;
    }
    json_object_del(options, "file");
    if (reference) {
        filename = NULL;
    }
    file_bs = open_inherit(filename, ref_copy, file_opts, flags, bs,
                           BDRV_CHILD_IMAGE, errp);
    if (file_bs) {
        json_object_set_new(options, "file",
                            json_string(file_bs->node_name));
    }
    return file_bs;
}

static BlockDriverState *open_inherit(const char *filename,
                                      const char *reference, json_t *options,
                                      int flags, BlockDriverState *parent,
                                      BdrvChildRole child_role, Error **errp)
{
    BlockDriverState *bs = NULL;
    BlockDriverState *file_bs = NULL;
    BlockDriver *drv = NULL;
    g_autofree char *node_name = NULL;
    Error *local_err = NULL;
    const char *drvname;
    int ret;

    if (!options) {
        options = json_object();
    }

    if (reference) {
        if (filename || json_object_size(options)) {
            error_setg(errp, "Cannot reference an existing block device with "
                       "additional options or a new filename");
            json_decref(options);
            return NULL;
        }
        json_decref(options);
        bs = bdrv_lookup_bs(reference, reference, errp);
        if (bs) {
            bdrv_ref(bs);
        }
        return bs;
    }

    if (merge_json_filename(&filename, options, errp) < 0) {
        json_decref(options);
        return NULL;
    }

    /* Children inherit their parent's flags; backing files are read-only. */
    if (parent) {
        flags &= ~(BDRV_O_PROTOCOL | BDRV_O_SNAPSHOT | BDRV_O_TEMPORARY |
                   BDRV_O_NO_BACKING | BDRV_O_COPY_ON_READ);
        if (child_role & BDRV_CHILD_COW) {
            /* Backing files are probed and opened read-only. */
            flags &= ~(BDRV_O_RDWR | BDRV_O_NO_IO);
        } else {
            /* bs->file: the filename names a protocol, never probed. */
            flags |= BDRV_O_PROTOCOL;
            /* The format decides what to discard; the file obeys. */
            flags |= BDRV_O_UNMAP;
            if (child_role & BDRV_CHILD_METADATA) {
                flags &= ~BDRV_O_NO_IO;
            }
        }
    }
    if (!update_flags_from_options(&flags, options, errp)) {
        json_decref(options);
        return NULL;
    }

    bs = bdrv_new();
    bs->inherits_from = parent;
    bs->explicit_options = json_deep_copy(options);
    node_name = g_strdup(opt_str(options, "node-name"));

    drvname = opt_str(options, "driver");
    if (drvname) {
        drv = bdrv_find_format(drvname);
        if (!drv) {
            error_setg(errp, "Unknown driver '%s'", drvname);
            goto fail;
        }
    }

    if ((drv && drv->bdrv_file_open) || (!drv && (flags & BDRV_O_PROTOCOL))) {
        if (!drv) {
            if (!filename) {
                filename = opt_str(options, "filename");
            }
            if (!filename) {
                error_setg(errp, "Must specify either driver or file");
                goto fail;
            }
            drv = bdrv_find_protocol(filename, true, errp);
            if (!drv) {
                goto fail;
            }
        }
        if (!fill_protocol_options(bs, drv, filename, options, errp)) {
            goto fail;
        }
    } else if (!drv || !drv->bdrv_file_open) {
        if (!drv || drv->bdrv_open) {
            file_bs = open_file_for_format(bs, filename, options, flags,
                                           &local_err);
            if (local_err) {
                error_propagate(errp, local_err);
                goto fail;
            }
        }
        if (!drv) {
            if (!file_bs) {
                error_setg(errp, "Must specify either driver or file");
                goto fail;
            }
            drv = probe_format(file_bs, filename, errp);
            if (!drv) {
                goto fail;
            }
            bs->probed = true;
        }
        if (file_bs) {
            bdrv_set_str(&bs->filename, file_bs->filename);
        } else if (filename) {
            bdrv_set_str(&bs->filename, filename);
        }
    }
    json_object_set_new(options, "driver", json_string(drv->format_name));

    bs->options = json_deep_copy(options);
    ret = open_common_options(bs, options, &flags, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = open_driver(bs, drv, node_name, options, flags, errp);
    if (ret < 0) {
        goto fail;
    }
    /* The driver holds the file child now; drop the probing reference. */
    bdrv_unref(file_bs);
    file_bs = NULL;

    if (!(flags & BDRV_O_NO_BACKING) && bs->drv->supports_backing) {
        ret = bdrv_open_backing_file(bs, options, "backing", errp);
        if (ret < 0) {
            goto fail;
        }
    }
    json_object_del(options, "backing");

    json_object_del(options, "filename");
    if (json_object_size(options)) {
        report_leftover_option(bs, options, errp);
        goto fail;
    }
    json_decref(options);
    bdrv_refresh_filename(bs);
    return bs;

fail:
    bdrv_unref(file_bs);
    json_decref(options);
    bdrv_unref(bs);
    return NULL;
}

/*
 * -s / snapshot=on: put a temporary qcow2 overlay on top of @bs that takes
 * all writes; the overlay file is unlinked at once, so it disappears with
 * the process.  Returns the overlay (a new reference) or NULL.
 */
static BlockDriverState *append_temp_snapshot(BlockDriverState *bs,
                                              int flags, Error **errp)
{
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    g_autofree char *tmp = g_build_filename(tmpdir, "strata-snap.XXXXXX",
                                            NULL);
    int64_t size = bdrv_getlength(bs);
    BlockDriverState *overlay;
    json_t *options;
    Error *local_err = NULL;
    int fd;

    if (size < 0) {
        error_setg_errno(errp, -size, "Could not get image size");
        return NULL;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not get temporary filename");
        return NULL;
    }
    close(fd);
    bdrv_img_create(tmp, "qcow2", NULL, NULL, NULL, size, 0, true,
                    &local_err);
    if (local_err) {
        error_propagate_prepend(errp, local_err, "Could not create temporary "
                                "overlay '%s': ", tmp);
        unlink(tmp);
        return NULL;
    }
    options = json_object();
    json_object_set_new(options, "driver", json_string("qcow2"));
    json_object_set_new(options, "file.driver", json_string("file"));
    json_object_set_new(options, "file.filename", json_string(tmp));
    json_object_set_new(options, "backing", json_string(bs->node_name));
    overlay = bdrv_open(NULL, NULL, options,
                        (flags & ~BDRV_O_SNAPSHOT) | BDRV_O_RDWR |
                        BDRV_O_TEMPORARY, errp);
    unlink(tmp);
    return overlay;
}

BlockDriverState *bdrv_open(const char *filename, const char *reference,
                            json_t *options, int flags, Error **errp)
{
    BlockDriverState *bs, *overlay;

    if (!(flags & BDRV_O_SNAPSHOT)) {
        return open_inherit(filename, reference, options, flags, NULL, 0,
                            errp);
    }
    /* The image itself is only read; the overlay gets the writes. */
    if (options) {
        json_object_del(options, BDRV_OPT_READ_ONLY);
    }
    bs = open_inherit(filename, reference, options,
                      flags & ~(BDRV_O_RDWR | BDRV_O_SNAPSHOT), NULL, 0,
                      errp);
    if (!bs) {
        return NULL;
    }
    overlay = append_temp_snapshot(bs, flags, errp);
    bdrv_unref(bs);
    return overlay;
}

/* ---- filenames ---- */

/* Did the user choose the backing node instead of the image header? */
static bool backing_overridden(BlockDriverState *bs)
{
    const char *key;
    json_t *val;

    if (!bs->explicit_options) {
        return false;
    }
    json_object_foreach(bs->explicit_options, key, val) {
        if (!strcmp(key, "backing") || g_str_has_prefix(key, "backing.")) {
            return true;
        }
    }
    return false;
}

/*
 * Copy "driver", "filename" and the driver's strong options (those that
 * change what the guest sees) into @d.  True if any strong option is set:
 * the node then cannot be described by a plain filename.
 */
static bool append_strong_options(json_t *d, BlockDriverState *bs)
{
    bool found = false;
    json_t *v;

    json_object_set_new(d, "driver", json_string(bs->drv->format_name));
    v = bs->options ? json_object_get(bs->options, "filename") : NULL;
    if (v && bs->drv->bdrv_file_open) {
        json_object_set(d, "filename", v);
    }
    for (const char *const *opt = bs->drv->strong_runtime_opts;
         opt && *opt; opt++) {
        if (g_str_has_suffix(*opt, ".")) {
            /* A prefix: every key of the list or dictionary it names. */
            const char *key;

            json_object_foreach(bs->options, key, v) {
                if (g_str_has_prefix(key, *opt)) {
                    json_object_set(d, key, v);
                    found = true;
                }
            }
            continue;
        }
        v = bs->options ? json_object_get(bs->options, *opt) : NULL;
        if (v) {
            json_object_set(d, *opt, v);
            found = true;
        }
    }
    return found;
}

void bdrv_refresh_filename(BlockDriverState *bs)
{
    BdrvChild *c;
    json_t *opts;
    bool need_json;

    if (!bs->drv) {
        return;
    }
    QLIST_FOREACH(c, &bs->children, next) {
        bdrv_refresh_filename(c->bs);
    }

    opts = json_object();
    need_json = append_strong_options(opts, bs);
    if (bs->backing && backing_overridden(bs)) {
        need_json = true;
    }
    QLIST_FOREACH(c, &bs->children, next) {
        if (c == bs->backing && !backing_overridden(bs)) {
            continue;
        }
        if (c->bs->full_open_options) {
            json_object_set(opts, c->name, c->bs->full_open_options);
        }
    }
    json_decref(bs->full_open_options);
    bs->full_open_options = opts;

    if (bs->drv->bdrv_refresh_filename) {
        bdrv_set_str(&bs->exact_filename, NULL);
        bs->drv->bdrv_refresh_filename(bs);
    } else if (bs->file && !bs->drv->bdrv_file_open) {
        BlockDriverState *file = bs->file->bs;

        /*
         * The file's name suffices if opening it with this format would
         * rebuild exactly this tree.
         */
        bdrv_set_str(&bs->exact_filename, NULL);
        if (file->exact_filename[0] && file->drv &&
            file->drv->bdrv_file_open && !bs->drv->is_filter && !need_json) {
            bdrv_set_str(&bs->exact_filename, file->exact_filename);
        }
    }

    if (bs->exact_filename[0]) {
        bdrv_set_str(&bs->filename, bs->exact_filename);
    } else {
        g_autofree char *json = json_to_string_qemu(opts, false);
        g_autofree char *name = g_strconcat("json:", json, NULL);

        bdrv_set_str(&bs->filename, name);
    }
}

json_t *bdrv_get_full_options(BlockDriverState *bs)
{
    return bs->full_open_options;
}

/* ---- backing files ---- */

void bdrv_get_backing_filename(BlockDriverState *bs, char *filename,
                               int filename_size)
{
    g_strlcpy(filename, bs->backing_file, filename_size);
}

char *bdrv_get_full_backing_filename_from_filename(const char *backed,
                                                   const char *backing,
                                                   Error **errp)
{
    g_autofree char *dir = NULL;

    if (backing[0] == '\0') {
        return NULL;
    }
    if (path_has_protocol(backing) || path_is_absolute(backing)) {
        return g_strdup(backing);
    }
    if (backed[0] == '\0' || g_str_has_prefix(backed, "json:")) {
        error_setg(errp, "Cannot use relative backing file names for '%s'",
                   backed);
        return NULL;
    }
    dir = g_path_get_dirname(backed);
    if (!strcmp(dir, ".")) {
        return g_strdup(backing);
    }
    return g_build_filename(dir, backing, NULL);
}

char *bdrv_dirname(BlockDriverState *bs, Error **errp)
{
    if (bs->drv && bs->drv->bdrv_dirname) {
        return bs->drv->bdrv_dirname(bs, errp);
    }
    if (bs->file && !bs->drv->protocol_name) {
        return bdrv_dirname(bs->file->bs, errp);
    }
    if (bs->exact_filename[0] || bs->filename[0]) {
        const char *name = bs->exact_filename[0] ? bs->exact_filename
                                                 : bs->filename;
        char *dir = g_path_get_dirname(name);
        char *ret = g_strconcat(dir, "/", NULL);
        g_free(dir);
        return ret;
    }
    error_setg(errp, "Cannot generate a base directory for %s nodes",
               bs->drv ? bs->drv->format_name : "unknown");
    return NULL;
}

char *bdrv_get_full_backing_filename(BlockDriverState *bs, Error **errp)
{
    g_autofree char *dir = NULL;

    if (bs->backing_file[0] == '\0') {
        return NULL;
    }
    if (path_has_protocol(bs->backing_file) ||
        path_is_absolute(bs->backing_file)) {
        return g_strdup(bs->backing_file);
    }
    dir = bdrv_dirname(bs, NULL);
    if (!dir || g_str_has_prefix(bs->filename, "json:")) {
        error_setg(errp, "Cannot use relative backing file names for '%s'",
                   bs->filename);
        return NULL;
    }
    if (!strcmp(dir, "./")) {
        return g_strdup(bs->backing_file);
    }
    return g_strconcat(dir, bs->backing_file, NULL);
}

/* Is @name already somewhere in the chain being opened above @bs? */
static bool backing_loop(BlockDriverState *bs, const char *name)
{
    for (BlockDriverState *p = bs; p; ) {
        BdrvChild *c;
        BlockDriverState *up = NULL;

        if (p->filename[0] && !strcmp(p->filename, name)) {
            return true;
        }
        QLIST_FOREACH(c, &p->parents, next_parent) {
            if (c->klass->parent_is_bds && (c->role & BDRV_CHILD_COW)) {
                up = c->opaque;
                break;
            }
        }
        p = up;
    }
    return false;
}

int bdrv_open_backing_file(BlockDriverState *bs, json_t *parent_options,
                           const char *bdref_key, Error **errp)
{
    g_autofree char *prefix = g_strdup_printf("%s.", bdref_key);
    g_autofree char *backing_filename = NULL;
    g_autofree char *reference = NULL;
    json_t *options = NULL;
    json_t *ref_val;
    BlockDriverState *backing_hd;
    Error *local_err = NULL;

    if (bs->backing) {
        return 0;
    }
    qdict_extract_subqdict(parent_options, &options, prefix);
    ref_val = json_object_get(parent_options, bdref_key);
    if (ref_val && json_is_null(ref_val)) {
        /* "backing": null means no backing file at all. */
        json_decref(options);
        return 0;
    }
    if (ref_val && json_is_string(ref_val)) {
        reference = g_strdup(json_string_value(ref_val));
    }

    if (!reference && !json_object_get(options, "file.filename") &&
        !json_object_get(options, "file")) {
        backing_filename = bdrv_get_full_backing_filename(bs, &local_err);
        if (local_err) {
            error_propagate(errp, local_err);
            json_decref(options);
            return -EINVAL;
        }
    }
    if (!reference && !backing_filename && !json_object_size(options)) {
        json_decref(options);
        return 0;
    }
    if (!bs->drv || !bs->drv->supports_backing) {
        error_setg(errp, "Driver doesn't support backing files");
        json_decref(options);
        return -EINVAL;
    }
    if (!reference && bs->backing_format[0] &&
        !json_object_get(options, "driver")) {
        json_object_set_new(options, "driver",
                            json_string(bs->backing_format));
    }
    if (backing_filename && backing_loop(bs, backing_filename)) {
        error_setg(errp, "Backing file '%s' of '%s' would create a loop in "
                   "the backing chain", bs->backing_file, bs->filename);
        json_decref(options);
        return -ELOOP;
    }

    backing_hd = open_inherit(backing_filename, reference, options,
                              bs->open_flags, bs, BDRV_CHILD_COW |
                              BDRV_CHILD_DATA | BDRV_CHILD_METADATA,
                              &local_err);
    if (!backing_hd) {
        bs->open_flags |= BDRV_O_NO_BACKING;
        error_propagate_prepend(errp, local_err,
                                "Could not open backing file: ");
        return -EINVAL;
    }
    bdrv_set_backing_hd(bs, backing_hd, &local_err);
    bdrv_unref(backing_hd);
    if (local_err) {
        error_propagate(errp, local_err);
        return -EINVAL;
    }
    return 0;
}

void bdrv_set_backing_hd(BlockDriverState *bs, BlockDriverState *backing_hd,
                         Error **errp)
{
    if (bs->backing) {
        bdrv_unref_child(bs, bs->backing);
    }
    if (!backing_hd) {
        return;
    }
    bdrv_attach_child(bs, backing_hd, "backing", &child_of_bds,
                      BDRV_CHILD_COW | BDRV_CHILD_DATA | BDRV_CHILD_METADATA,
                      errp);
    bdrv_refresh_limits(bs, NULL);
}

int bdrv_change_backing_file(BlockDriverState *bs, const char *backing_file,
                             const char *backing_fmt, bool warn)
{
    int ret;

    if (!bs->drv || !bs->drv->bdrv_change_backing_file) {
        return -ENOTSUP;
    }
    if (warn && backing_file && !backing_fmt) {
        warn_report("Deprecated use of backing file without explicit "
                    "backing format, use of this image requires "
                    "potentially unsafe format probing");
    }
    ret = bs->drv->bdrv_change_backing_file(bs, backing_file, backing_fmt);
    if (ret == 0) {
        bdrv_set_str(&bs->backing_file, backing_file);
        g_strlcpy(bs->backing_format, backing_fmt ? backing_fmt : "",
                  sizeof(bs->backing_format));
    }
    return ret;
}

int bdrv_apply_auto_read_only(BlockDriverState *bs, const char *errmsg,
                              Error **errp)
{
    if (!(bs->open_flags & BDRV_O_RDWR)) {
        return 0;
    }
    if (!(bs->open_flags & BDRV_O_AUTO_RDONLY)) {
        if (errmsg) {
            error_setg(errp, "%s", errmsg);
        } else {
            error_setg(errp, "Permission denied");
        }
        return -EACCES;
    }
    bs->read_only = true;
    bs->open_flags &= ~BDRV_O_RDWR;
    return 0;
}

int bdrv_can_set_read_only(BlockDriverState *bs, bool read_only,
                           bool ignore_allow_rdw, Error **errp)
{
    if (bs->read_only == read_only) {
        return 0;
    }
    if (!read_only && !(bs->open_flags & BDRV_O_ALLOW_RDWR) &&
        !ignore_allow_rdw) {
        error_setg(errp, "Node '%s' is read only",
                   bdrv_get_device_or_node_name(bs));
        return -EPERM;
    }
    return 0;
}

/* ---- consistency check ---- */

typedef struct CheckCo {
    BlockDriverState *bs;
    BdrvCheckResult *res;
    BdrvCheckMode fix;
    int ret;
    bool done;
} CheckCo;

static void coroutine_fn check_entry(void *opaque)
{
    CheckCo *c = opaque;

    c->ret = c->bs->drv->bdrv_co_check(c->bs, c->res, c->fix);
    c->done = true;
}

int bdrv_check(BlockDriverState *bs, BdrvCheckResult *res, BdrvCheckMode fix)
{
    CheckCo c = { .bs = bs, .res = res, .fix = fix };

    memset(res, 0, sizeof(*res));
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_check) {
        return -ENOTSUP;
    }
    bdrv_run_co(check_entry, &c, &c.done);
    return c.ret;
}

/* ---- reopen ---- */

typedef struct ReopenEntry {
    BlockDriverState *bs;
    int old_flags;
    int new_flags;
    bool prepared;
} ReopenEntry;

static void reopen_queue_add(GArray *q, BlockDriverState *bs, int flags)
{
    BdrvChild *c;
    ReopenEntry e = { .bs = bs, .old_flags = bs->open_flags,
                      .new_flags = flags };

    for (guint i = 0; i < q->len; i++) {
        if (g_array_index(q, ReopenEntry, i).bs == bs) {
            return;
        }
    }
    g_array_append_val(q, e);
    /*
     * Storage children opened with the node follow it; backing files and
     * nodes the user added separately (referenced by name) keep theirs.
     */
    QLIST_FOREACH(c, &bs->children, next) {
        if (!(c->role & BDRV_CHILD_COW) && c->bs->inherits_from == bs) {
            int cflags = (c->bs->open_flags & ~(BDRV_O_RDWR |
                                                BDRV_O_CACHE_MASK)) |
                         (flags & (BDRV_O_RDWR | BDRV_O_CACHE_MASK));
            reopen_queue_add(q, c->bs, cflags);
        }
    }
}

static BdrvChild *find_child(BlockDriverState *bs, const char *name)
{
    BdrvChild *c;

    QLIST_FOREACH(c, &bs->children, next) {
        if (!strcmp(c->name, name)) {
            return c;
        }
    }
    return NULL;
}

static bool reopen_same_value(json_t *a, json_t *b)
{
    g_autofree char *sa = NULL;
    g_autofree char *sb = NULL;

    if (!a || !b) {
        return false;
    }
    sa = qobject_scalar_to_string(a);
    sb = qobject_scalar_to_string(b);
    return sa && sb && !strcmp(sa, sb);
}

typedef struct ChildSwap {
    BdrvChild *c;
    BlockDriverState *to;
} ChildSwap;

/*
 * Sort the reopen options of @bs: generic flags go into *@flags, "discard"
 * and "detect-zeroes" into *@discard_flags / *@dz, children named by
 * reference into @swaps (if they name another node), options of children
 * given inline must match how the child is open, and whatever remains is
 * for the driver (@drv_opts).
 */
static bool reopen_sort_options(BlockDriverState *bs, json_t *options,
                                int *flags, int *dz, json_t *drv_opts,
                                GArray *swaps, Error **errp)
{
    const char *key;
    json_t *val;

    if (!update_flags_from_options(flags, options, errp)) {
        return false;
    }
    json_object_foreach(options, key, val) {
        const char *dot = strchr(key, '.');
        BdrvChild *c;

        if (!strcmp(key, BDRV_OPT_READ_ONLY) ||
            !strcmp(key, BDRV_OPT_CACHE_DIRECT) ||
            !strcmp(key, BDRV_OPT_CACHE_NO_FLUSH) ||
            !strcmp(key, BDRV_OPT_AUTO_READ_ONLY)) {
            continue;
        }
        if (!strcmp(key, BDRV_OPT_DISCARD)) {
            if (!json_is_string(val) ||
                bdrv_parse_discard_flags(json_string_value(val), flags) < 0) {
                error_setg(errp, "Invalid discard option");
                return false;
            }
            continue;
        }
        if (!strcmp(key, "detect-zeroes")) {
            continue;       /* parsed once the discard flag is known */
        }
        if (!dot && (c = find_child(bs, key))) {
            ChildSwap swap = { .c = c };

            if (!json_is_string(val)) {
                error_setg(errp, "Cannot change the option '%s'", key);
                return false;
            }
            swap.to = bdrv_lookup_bs(NULL, json_string_value(val), errp);
            if (!swap.to) {
                return false;
            }
            if (swap.to != c->bs) {
                g_array_append_val(swaps, swap);
            }
            continue;
        }
        if (dot) {
            g_autofree char *child = g_strndup(key, dot - key);

            c = find_child(bs, child);
            if (c) {
                json_t *cur = json_object_get(c->bs->options, dot + 1);

                /* An inline child stays the node it is, options and all. */
                if (!strcmp(dot + 1, "node-name")
                    ? strcmp(json_string_value(val) ?: "", c->bs->node_name)
                    : (cur && !reopen_same_value(cur, val))) {
                    error_setg(errp, "Cannot change the option '%s'", key);
                    return false;
                }
                continue;
            }
        }
        json_object_set(drv_opts, key, val);
    }
    *dz = parse_detect_zeroes(opt_str(options, "detect-zeroes"), *flags,
                              errp);
    return *dz >= 0;
}

int bdrv_reopen(BlockDriverState *bs, json_t *options, Error **errp)
{
    g_autoptr(GArray) q = g_array_new(false, false, sizeof(ReopenEntry));
    g_autoptr(GArray) swaps = g_array_new(false, false, sizeof(ChildSwap));
    g_autoptr(json_t) drv_opts = json_object();
    int flags = bs->open_flags;
    int dz = bs->detect_zeroes;
    const char *key;
    json_t *val;
    int ret = 0;

    if (options && !reopen_sort_options(bs, options, &flags, &dz, drv_opts,
                                        swaps, errp)) {
        return -EINVAL;
    }

    if (!(flags & BDRV_O_RDWR)) {
        uint64_t perm, shared;

        /* Users that write keep it writable (QEMU says the same). */
        bdrv_get_cumulative_perm(bs, &perm, &shared);
        if (perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)) {
            error_setg(errp, "Read-only block node '%s' cannot support "
                       "read-write users", bs->node_name);
            return -EPERM;
        }
        if (flags & BDRV_O_COPY_ON_READ) {
            error_setg(errp, "Can't set node '%s' to r/o with copy-on-read "
                       "enabled", bdrv_get_device_or_node_name(bs));
            return -EINVAL;
        }
    }

    bdrv_drained_begin(bs);
    reopen_queue_add(q, bs, flags);
    /* A child swapped out below may go away before we are done with it. */
    for (guint i = 0; i < q->len; i++) {
        bdrv_ref(g_array_index(q, ReopenEntry, i).bs);
    }
    /* Flush everything first: read-only nodes cannot write back later. */
    ret = bdrv_flush(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Error flushing drive");
        goto out;
    }
    for (guint i = 0; i < q->len; i++) {
        ReopenEntry *e = &g_array_index(q, ReopenEntry, i);
        BlockDriver *drv = e->bs->drv;

        if (!drv) {
            error_setg(errp, "Node '%s' has no medium", e->bs->node_name);
            ret = -ENOMEDIUM;
            break;
        }
        if (e->new_flags == e->old_flags &&
            (e->bs != bs || !json_object_size(drv_opts))) {
            continue;
        }
        if (drv->bdrv_reopen_prepare) {
            ret = drv->bdrv_reopen_prepare(e->bs, e->bs == bs ? drv_opts
                                                              : NULL,
                                           e->new_flags, errp);
            if (ret < 0) {
                break;
            }
        } else if ((e->new_flags ^ e->old_flags) & ~BDRV_O_NO_FLUSH) {
            error_setg(errp, "Block format '%s' used by node '%s' does not "
                       "support reopening files", drv->format_name,
                       e->bs->node_name);
            ret = -ENOTSUP;
            break;
        }
        e->prepared = true;
    }
    /* What the driver did not take must be what the node has already. */
    if (ret == 0) {
        json_object_foreach(drv_opts, key, val) {
            if (!reopen_same_value(json_object_get(bs->options, key), val)) {
                if (json_object_get(bs->options, key)) {
                    error_setg(errp, "Cannot change the option '%s'", key);
                } else {
                    error_setg(errp, "Block format '%s' used by node '%s' "
                               "does not support reopening with the option "
                               "'%s'", bs->drv->format_name, bs->node_name,
                               key);
                }
                ret = -EINVAL;
                break;
            }
        }
    }
    if (ret < 0) {
        for (guint i = 0; i < q->len; i++) {
            ReopenEntry *e = &g_array_index(q, ReopenEntry, i);

            if (e->prepared && e->bs->drv->bdrv_reopen_abort) {
                e->bs->drv->bdrv_reopen_abort(e->bs);
            }
        }
        goto out;
    }
    for (guint i = 0; i < q->len; i++) {
        ReopenEntry *e = &g_array_index(q, ReopenEntry, i);

        e->bs->open_flags = e->new_flags;
        e->bs->read_only = !(e->new_flags & BDRV_O_RDWR);
        if (e->prepared && e->bs->drv->bdrv_reopen_commit) {
            e->bs->drv->bdrv_reopen_commit(e->bs);
        }
    }
    bs->detect_zeroes = dz;
    for (guint i = 0; i < swaps->len; i++) {
        ChildSwap *sw = &g_array_index(swaps, ChildSwap, i);

        ret = bdrv_replace_child_bs(sw->c, sw->to, errp);
        if (ret < 0) {
            goto out;
        }
    }
    for (guint i = q->len; i-- > 0;) {
        bdrv_refresh_limits(g_array_index(q, ReopenEntry, i).bs, NULL);
    }
    /* Writability changes what the node needs from its children. */
    ret = bdrv_refresh_perms(bs, errp);
    /* Now children are writable too (qcow2 marks its bitmaps in use). */
    for (guint i = q->len; i-- > 0;) {
        ReopenEntry *e = &g_array_index(q, ReopenEntry, i);

        if (e->prepared && e->bs->drv->bdrv_reopen_commit_post) {
            e->bs->drv->bdrv_reopen_commit_post(e->bs);
        }
    }
out:
    bdrv_drained_end(bs);
    for (guint i = 0; i < q->len; i++) {
        bdrv_unref(g_array_index(q, ReopenEntry, i).bs);
    }
    if (ret == 0) {
        bdrv_refresh_filename(bs);
    }
    return ret;
}

int bdrv_reopen_set_read_only(BlockDriverState *bs, bool read_only,
                              Error **errp)
{
    json_t *opts = json_object();
    int ret;

    json_object_set_new(opts, BDRV_OPT_READ_ONLY, json_boolean(read_only));
    ret = bdrv_reopen(bs, opts, errp);
    json_decref(opts);
    return ret;
}

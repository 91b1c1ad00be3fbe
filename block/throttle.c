/*
 * The "throttle" filter driver: every request to its child first waits
 * for the budget of the throttle group named by its throttle-group option.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/throttle-groups.h"
#include "util/qdict.h"

#define THROTTLE_OPT_GROUP "throttle-group"

typedef struct BDRVThrottleState {
    ThrottleGroupMember tgm;
    /* The group a reopen switches to, between prepare and commit. */
    char *reopen_group;
} BDRVThrottleState;

/* The group option: present and naming an existing group. */
static char *throttle_parse_options(json_t *options, Error **errp)
{
    json_t *value = json_object_get(options, THROTTLE_OPT_GROUP);
    g_autofree char *group = NULL;

    if (value && !json_is_string(value)) {
        group = qobject_scalar_to_string(value);
        if (!group) {
            error_setg(errp, "Invalid parameter type for '%s', expected: "
                       "string", THROTTLE_OPT_GROUP);
            return NULL;
        }
    } else if (value) {
        group = g_strdup(json_string_value(value));
    }
    json_object_del(options, THROTTLE_OPT_GROUP);

    if (!group) {
        error_setg(errp, "Please specify a throttle group");
        return NULL;
    }
    if (!throttle_group_exists(group)) {
        error_setg(errp, "Throttle group '%s' does not exist", group);
        return NULL;
    }
    return g_steal_pointer(&group);
}

static int throttle_open(BlockDriverState *bs, json_t *options, int flags,
                         Error **errp)
{
    BDRVThrottleState *s = bs->opaque;
    g_autofree char *group = NULL;

    if (!bdrv_open_child(NULL, options, "file", bs, &child_of_bds,
                         BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY, false,
                         errp)) {
        return -EINVAL;
    }
    bs->supported_write_flags = bs->file->bs->supported_write_flags |
                                BDRV_REQ_WRITE_UNCHANGED;
    bs->supported_zero_flags = bs->file->bs->supported_zero_flags |
                               BDRV_REQ_WRITE_UNCHANGED;

    group = throttle_parse_options(options, errp);
    if (!group) {
        return -EINVAL;
    }
    throttle_group_register_tgm(&s->tgm, group, bs->aio_context);
    return 0;
}

static void throttle_close(BlockDriverState *bs)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_unregister_tgm(&s->tgm);
    g_free(s->reopen_group);
}

static int64_t throttle_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

static int coroutine_fn throttle_co_preadv(BlockDriverState *bs,
                                           int64_t offset, int64_t bytes,
                                           QEMUIOVector *qiov,
                                           size_t qiov_offset,
                                           BdrvRequestFlags flags)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_co_io_limits_intercept(&s->tgm, bytes, false);
    return bdrv_co_preadv_part(bs->file, offset, bytes, qiov, qiov_offset,
                               flags);
}

static int coroutine_fn throttle_co_pwritev(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            BdrvRequestFlags flags)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_co_io_limits_intercept(&s->tgm, bytes, true);
    return bdrv_co_pwritev_part(bs->file, offset, bytes, qiov, qiov_offset,
                                flags);
}

static int coroutine_fn throttle_co_pwritev_compressed(BlockDriverState *bs,
                                                       int64_t offset,
                                                       int64_t bytes,
                                                       QEMUIOVector *qiov,
                                                       size_t qiov_offset)
{
    return throttle_co_pwritev(bs, offset, bytes, qiov, qiov_offset,
                               BDRV_REQ_WRITE_COMPRESSED);
}

/* Zero writes and discards count as writes of their length, as in QEMU. */
static int coroutine_fn throttle_co_pwrite_zeroes(BlockDriverState *bs,
                                                  int64_t offset,
                                                  int64_t bytes,
                                                  BdrvRequestFlags flags)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_co_io_limits_intercept(&s->tgm, bytes, true);
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn throttle_co_pdiscard(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_co_io_limits_intercept(&s->tgm, bytes, true);
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn throttle_co_block_status(BlockDriverState *bs,
                                                 bool want_zero,
                                                 int64_t offset,
                                                 int64_t bytes, int64_t *pnum,
                                                 int64_t *map,
                                                 BlockDriverState **file)
{
    *pnum = bytes;
    *map = offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int coroutine_fn throttle_co_truncate(BlockDriverState *bs,
                                             int64_t offset, bool exact,
                                             PreallocMode prealloc,
                                             BdrvRequestFlags flags,
                                             Error **errp)
{
    return bdrv_co_truncate(bs->file, offset, exact, prealloc, flags, errp);
}

/* Drained: queued requests go at once, new ones are not held back. */
static void throttle_drain_begin(BlockDriverState *bs)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_drained_begin(&s->tgm);
}

static void throttle_drain_end(BlockDriverState *bs)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_drained_end(&s->tgm);
}

/* blockdev-reopen may move the node to another group. */
static int throttle_reopen_prepare(BlockDriverState *bs, json_t *options,
                                   int flags, Error **errp)
{
    BDRVThrottleState *s = bs->opaque;
    char *group;

    if (!options) {
        return 0;
    }
    group = throttle_parse_options(options, errp);
    if (!group) {
        return -EINVAL;
    }
    g_free(s->reopen_group);
    s->reopen_group = group;
    return 0;
}

static void throttle_reopen_commit(BlockDriverState *bs)
{
    BDRVThrottleState *s = bs->opaque;
    g_autofree char *group = g_steal_pointer(&s->reopen_group);

    if (!group || !strcmp(group, throttle_group_get_name(&s->tgm))) {
        return;
    }
    bdrv_drained_begin(bs);
    throttle_group_unregister_tgm(&s->tgm);
    throttle_group_register_tgm(&s->tgm, group, bs->aio_context);
    bdrv_drained_end(bs);
    if (bs->options) {
        json_object_set_new(bs->options, THROTTLE_OPT_GROUP,
                            json_string(group));
    }
}

static void throttle_reopen_abort(BlockDriverState *bs)
{
    BDRVThrottleState *s = bs->opaque;

    g_clear_pointer(&s->reopen_group, g_free);
}

static const char *const throttle_strong_runtime_opts[] = {
    THROTTLE_OPT_GROUP,
    NULL
};

BlockDriver bdrv_throttle = {
    .format_name = "throttle",
    .instance_size = sizeof(BDRVThrottleState),
    .is_filter = true,
    .has_variable_length = true,
    .bdrv_open = throttle_open,
    .bdrv_close = throttle_close,
    .bdrv_child_perm = bdrv_filter_default_perms,
    .strong_runtime_opts = throttle_strong_runtime_opts,
    .bdrv_getlength = throttle_getlength,
    .bdrv_co_preadv_part = throttle_co_preadv,
    .bdrv_co_pwritev_part = throttle_co_pwritev,
    .bdrv_co_pwritev_compressed_part = throttle_co_pwritev_compressed,
    .bdrv_co_pwrite_zeroes = throttle_co_pwrite_zeroes,
    .bdrv_co_pdiscard = throttle_co_pdiscard,
    .bdrv_co_block_status = throttle_co_block_status,
    .bdrv_co_truncate = throttle_co_truncate,
    .bdrv_drain_begin = throttle_drain_begin,
    .bdrv_drain_end = throttle_drain_end,
    .bdrv_reopen_prepare = throttle_reopen_prepare,
    .bdrv_reopen_commit = throttle_reopen_commit,
    .bdrv_reopen_abort = throttle_reopen_abort,
};

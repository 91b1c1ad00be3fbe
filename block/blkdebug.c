/*
 * blkdebug: a filter that fails requests on purpose.  Rules wait for
 * debug events (points in the drivers above it, or the request path) and
 * then fail matching requests with an errno, once or until the next
 * event; other rules move a state machine that rules can depend on.
 * Options and the config file syntax are QEMU's.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "util/qdict.h"

typedef enum BlkdebugAction {
    ACTION_INJECT_ERROR,
    ACTION_SET_STATE,
} BlkdebugAction;

typedef struct BlkdebugRule {
    BlkdebugEvent event;
    BlkdebugAction action;
    /* The state the rule applies in; 0 means any. */
    int state;
    union {
        struct {
            uint64_t iotype_mask;
            int error;
            bool immediately;
            bool once;
            /* -1: any offset */
            int64_t offset;
        } inject;
        struct {
            int new_state;
        } set_state;
    } options;
    QLIST_ENTRY(BlkdebugRule) next;
} BlkdebugRule;

typedef struct BDRVBlkdebugState {
    int state;
    int new_state;
    uint64_t align;
    uint64_t max_transfer;
    uint64_t opt_write_zero;
    uint64_t max_write_zero;
    uint64_t opt_discard;
    uint64_t max_discard;
    char *config_file;
    /* Extra permissions taken on / refused to others on the child. */
    uint64_t take_child_perms;
    uint64_t unshare_child_perms;
    QLIST_HEAD(, BlkdebugRule) rules[BLKDBG__MAX];
    /* Error rules armed by the last event that had any, newest first. */
    GSList *active_rules;
} BDRVBlkdebugState;

/* Every kind of request but block status, when iotype is not given. */
#define BLKDEBUG_IOTYPE_MASK_DEFAULT \
    ((1ull << BLKDEBUG_IO_TYPE_READ) | (1ull << BLKDEBUG_IO_TYPE_WRITE) | \
     (1ull << BLKDEBUG_IO_TYPE_WRITE_ZEROES) | \
     (1ull << BLKDEBUG_IO_TYPE_DISCARD) | (1ull << BLKDEBUG_IO_TYPE_FLUSH))

/* ---- rules ---- */

static void remove_rule(BlkdebugRule *rule)
{
    QLIST_REMOVE(rule, next);
    g_free(rule);
}

static bool parse_enum_opt(json_t *d, const char *key,
                           const QEnumLookup *lookup, int def, int *val,
                           Error **errp)
{
    const char *s;

    if (!qdict_get_str_opt(d, key, NULL, &s, errp)) {
        return false;
    }
    if (!s) {
        *val = def;
        return true;
    }
    *val = qapi_enum_parse(lookup, s, -1, NULL);
    if (*val < 0) {
        error_setg(errp, "invalid parameter value: %s", s);
        return false;
    }
    return true;
}

/*
 * One rule from its options (a flat dictionary whose values may be
 * strings, as in the config file, or typed, as from QMP).
 */
static int add_rule(BDRVBlkdebugState *s, BlkdebugAction action, json_t *d,
                    Error **errp)
{
    static const char *const inject_keys[] = {
        "event", "state", "iotype", "errno", "sector", "once",
        "immediately", NULL
    };
    static const char *const set_state_keys[] = {
        "event", "state", "new_state", NULL
    };
    const char *const *known = action == ACTION_INJECT_ERROR ? inject_keys
                                                             : set_state_keys;
    g_autofree BlkdebugRule *rule = g_new0(BlkdebugRule, 1);
    const char *key;
    json_t *value;
    int event, iotype;
    int64_t state;

    json_object_foreach(d, key, value) {
        if (!g_strv_contains(known, key)) {
            error_setg(errp, "Invalid parameter '%s'", key);
            return -EINVAL;
        }
    }
    if (!qdict_haskey(d, "event")) {
        error_setg(errp, "Missing event name for rule");
        return -EINVAL;
    }
    if (!parse_enum_opt(d, "event", &BlkdebugEvent_lookup, -1, &event,
                        errp) ||
        !qdict_get_int_opt(d, "state", 0, &state, errp)) {
        return -EINVAL;
    }
    rule->event = event;
    rule->action = action;
    rule->state = state;

    if (action == ACTION_INJECT_ERROR) {
        int64_t err, sector;
        bool once, immediately;

        if (!parse_enum_opt(d, "iotype", &BlkdebugIOType_lookup,
                            BLKDEBUG_IO_TYPE__MAX, &iotype, errp) ||
            !qdict_get_int_opt(d, "errno", EIO, &err, errp) ||
            !qdict_get_int_opt(d, "sector", -1, &sector, errp) ||
            !qdict_get_bool_opt(d, "once", false, &once, errp) ||
            !qdict_get_bool_opt(d, "immediately", false, &immediately,
                                errp)) {
            return -EINVAL;
        }
        rule->options.inject.iotype_mask =
            iotype == BLKDEBUG_IO_TYPE__MAX ? BLKDEBUG_IOTYPE_MASK_DEFAULT
                                            : 1ull << iotype;
        rule->options.inject.error = err;
        rule->options.inject.once = once;
        rule->options.inject.immediately = immediately;
        rule->options.inject.offset = sector == -1 ? -1
                                      : sector * BDRV_SECTOR_SIZE;
    } else {
        int64_t new_state;

        if (!qdict_haskey(d, "new_state")) {
            error_setg(errp, "Parameter 'new_state' is missing");
            return -EINVAL;
        }
        if (!qdict_get_int_opt(d, "new_state", 0, &new_state, errp)) {
            return -EINVAL;
        }
        rule->options.set_state.new_state = new_state;
    }
    QLIST_INSERT_HEAD(&s->rules[event], rule, next);
    rule = NULL;
    return 0;
}

/* The rules of one list option ("inject-error.0.event" ...). */
static int add_rule_list(BDRVBlkdebugState *s, json_t *options,
                         const char *prefix, BlkdebugAction action,
                         Error **errp)
{
    for (int i = 0;; i++) {
        g_autofree char *sub = g_strdup_printf("%s.%d.", prefix, i);
        json_t *d = NULL;
        int ret;

        qdict_extract_subqdict(options, &d, sub);
        if (!json_object_size(d)) {
            json_decref(d);
            return 0;
        }
        ret = add_rule(s, action, d, errp);
        json_decref(d);
        if (ret < 0) {
            return ret;
        }
    }
}

/*
 * The config file: sections [inject-error] and [set-state], each with
 * `key = "value"` lines; '#' starts a comment line.
 */
static int read_config_file(BDRVBlkdebugState *s, const char *path,
                            Error **errp)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) gerr = NULL;
    json_t *section = NULL;
    BlkdebugAction action = ACTION_INJECT_ERROR;
    int ret = 0;

    {
        FILE *f = fopen(path, "r");

        if (!f) {
            int err = errno;

            error_setg_errno(errp, err, "Could not read blkdebug config file");
            return -err;
        }
        fclose(f);
    }
    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        error_setg(errp, "Could not read blkdebug config file: %s",
                   gerr->message);
        return -EIO;
    }
    lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i] && ret == 0; i++) {
        char *line = g_strstrip(lines[i]);
        char *eq;

        if (!*line || *line == '#') {
            continue;
        }
        if (*line == '[') {
            if (section) {
                ret = add_rule(s, action, section, errp);
                g_clear_pointer(&section, json_decref);
                if (ret < 0) {
                    break;
                }
            }
            if (!strcmp(line, "[inject-error]")) {
                action = ACTION_INJECT_ERROR;
            } else if (!strcmp(line, "[set-state]")) {
                action = ACTION_SET_STATE;
            } else {
                error_setg(errp, "There is no option group '%.*s'",
                           (int)strlen(line) - 2, line + 1);
                ret = -EINVAL;
                break;
            }
            section = json_object();
            continue;
        }
        if (!section) {
            error_setg(errp, "no group defined");
            ret = -EINVAL;
            break;
        }
        eq = strchr(line, '=');
        if (!eq) {
            /* A bare word is a key without a value, which no rule has. */
            error_setg(errp, "Invalid parameter '%s'", line);
            ret = -EINVAL;
            break;
        }
        *eq = '\0';
        {
            char *key = g_strstrip(line);
            char *val = g_strstrip(eq + 1);
            size_t len = strlen(val);

            if (len >= 2 && val[0] == '"' && val[len - 1] == '"') {
                val[len - 1] = '\0';
                val++;
            }
            qdict_put_str(section, key, val);
        }
    }
    if (ret == 0 && section) {
        ret = add_rule(s, action, section, errp);
    }
    json_decref(section);
    return ret;
}

/* ---- events and checks ---- */

static void blkdebug_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule, *next;
    bool injected = false;

    assert(event >= 0 && event < BLKDBG__MAX);
    s->new_state = s->state;
    QLIST_FOREACH_SAFE(rule, &s->rules[event], next, next) {
        if (rule->state && rule->state != s->state) {
            continue;
        }
        if (rule->action == ACTION_INJECT_ERROR) {
            /* This event's error rules replace the armed ones. */
            if (!injected) {
                g_clear_pointer(&s->active_rules, g_slist_free);
                injected = true;
            }
            s->active_rules = g_slist_prepend(s->active_rules, rule);
        } else {
            s->new_state = rule->options.set_state.new_state;
        }
    }
    s->state = s->new_state;
}

/* The error an armed rule injects into this request, or 0. */
static int coroutine_fn rule_check(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, BlkdebugIOType iotype)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugRule *rule = NULL;
    bool immediately;
    int error;

    for (GSList *l = s->active_rules; l; l = l->next) {
        BlkdebugRule *r = l->data;
        int64_t at = r->options.inject.offset;

        if ((at == -1 || (bytes && at >= offset && at < offset + bytes)) &&
            (r->options.inject.iotype_mask & (1ull << iotype))) {
            rule = r;
            break;
        }
    }
    if (!rule || !rule->options.inject.error) {
        return 0;
    }
    immediately = rule->options.inject.immediately;
    error = rule->options.inject.error;
    if (rule->options.inject.once) {
        s->active_rules = g_slist_remove(s->active_rules, rule);
        remove_rule(rule);
    }
    if (!immediately) {
        /* Fail from the event loop, as a real request would. */
        aio_co_schedule(qemu_get_current_aio_context(),
                        qemu_coroutine_self());
        qemu_coroutine_yield();
    }
    return -error;
}

/* ---- I/O ---- */

static int coroutine_fn blkdebug_co_preadv(BlockDriverState *bs,
                                           int64_t offset, int64_t bytes,
                                           QEMUIOVector *qiov,
                                           size_t qiov_offset,
                                           BdrvRequestFlags flags)
{
    int err = rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_READ);

    if (err) {
        return err;
    }
    return bdrv_co_preadv_part(bs->file, offset, bytes, qiov, qiov_offset,
                               flags);
}

static int coroutine_fn blkdebug_co_pwritev(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes,
                                            QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            BdrvRequestFlags flags)
{
    int err = rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_WRITE);

    if (err) {
        return err;
    }
    return bdrv_co_pwritev_part(bs->file, offset, bytes, qiov, qiov_offset,
                                flags);
}

static int coroutine_fn blkdebug_co_pwrite_zeroes(BlockDriverState *bs,
                                                  int64_t offset,
                                                  int64_t bytes,
                                                  BdrvRequestFlags flags)
{
    int err = rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_WRITE_ZEROES);

    if (err) {
        return err;
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn blkdebug_co_pdiscard(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes)
{
    int err = rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_DISCARD);

    if (err) {
        return err;
    }
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn blkdebug_co_flush(BlockDriverState *bs)
{
    int err = rule_check(bs, 0, 0, BLKDEBUG_IO_TYPE_FLUSH);

    if (err) {
        return err;
    }
    return bdrv_co_flush(bs->file->bs);
}

static int coroutine_fn blkdebug_co_block_status(BlockDriverState *bs,
                                                 bool want_zero,
                                                 int64_t offset,
                                                 int64_t bytes, int64_t *pnum,
                                                 int64_t *map,
                                                 BlockDriverState **file)
{
    int err = rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_BLOCK_STATUS);

    if (err) {
        return err;
    }
    *pnum = bytes;
    *map = offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

static int64_t blkdebug_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

/* ---- open, limits, names ---- */

/* "blkdebug:CONFIG:IMAGE" -> config, x-image. */
static void blkdebug_parse_filename(const char *filename, json_t *options,
                                    Error **errp)
{
    const char *rest, *colon;

    if (!g_str_has_prefix(filename, "blkdebug:")) {
        error_setg(errp, "File name string must start with 'blkdebug:'");
        return;
    }
    rest = filename + strlen("blkdebug:");
    colon = strchr(rest, ':');
    if (!colon) {
        error_setg(errp, "blkdebug requires both config file and image path");
        return;
    }
    if (colon != rest) {
        g_autofree char *config = g_strndup(rest, colon - rest);

        qdict_put_str(options, "config", config);
    }
    if (colon[1]) {
        qdict_put_str(options, "x-image", colon + 1);
    }
}

static bool get_limit(json_t *options, const char *key, uint64_t *val,
                      Error **errp)
{
    if (!qdict_get_size_opt(options, key, 0, val, errp)) {
        return false;
    }
    qdict_del(options, key);
    return true;
}

/* A list of BlockPermission names ("key.0", "key.1", ...) as a mask. */
static bool get_perm_list(json_t *options, const char *key, uint64_t *mask,
                          Error **errp)
{
    static const uint64_t perm_bits[BLOCK_PERMISSION__MAX] = {
        [BLOCK_PERMISSION_CONSISTENT_READ] = BLK_PERM_CONSISTENT_READ,
        [BLOCK_PERMISSION_WRITE] = BLK_PERM_WRITE,
        [BLOCK_PERMISSION_WRITE_UNCHANGED] = BLK_PERM_WRITE_UNCHANGED,
        [BLOCK_PERMISSION_RESIZE] = BLK_PERM_RESIZE,
    };

    *mask = 0;
    for (int i = 0;; i++) {
        g_autofree char *k = g_strdup_printf("%s.%d", key, i);
        int perm;

        if (!qdict_haskey(options, k)) {
            return true;
        }
        if (!parse_enum_opt(options, k, &BlockPermission_lookup, -1, &perm,
                            errp)) {
            return false;
        }
        qdict_del(options, k);
        *mask |= perm_bits[perm];
    }
}

static void blkdebug_child_perm(BlockDriverState *bs, BdrvChild *c,
                                BdrvChildRole role, uint64_t perm,
                                uint64_t shared, uint64_t *nperm,
                                uint64_t *nshared)
{
    BDRVBlkdebugState *s = bs->opaque;

    bdrv_default_perms(bs, c, role, perm, shared, nperm, nshared);
    *nperm |= s->take_child_perms;
    *nshared &= ~s->unshare_child_perms;
}

static int blkdebug_open(BlockDriverState *bs, json_t *options, int flags,
                         Error **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    g_autofree char *x_image = NULL;
    const char *config;
    int align_err = 0;
    uint64_t align;

    for (int i = 0; i < BLKDBG__MAX; i++) {
        QLIST_INIT(&s->rules[i]);
    }

    config = qdict_get_try_str(options, "config");
    if (config) {
        s->config_file = g_strdup(config);
        if (read_config_file(s, config, errp) < 0) {
            return -EINVAL;
        }
    }
    qdict_del(options, "config");
    if (add_rule_list(s, options, "inject-error", ACTION_INJECT_ERROR,
                      errp) < 0 ||
        add_rule_list(s, options, "set-state", ACTION_SET_STATE,
                      errp) < 0) {
        return -EINVAL;
    }
    /* Rules start in state 1. */
    s->state = 1;

    x_image = g_strdup(qdict_get_try_str(options, "x-image"));
    qdict_del(options, "x-image");
    if (!bdrv_open_child(x_image, options, "image", bs, &child_of_bds,
                         BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY, false,
                         errp)) {
        return -EINVAL;
    }
    bs->supported_write_flags = BDRV_REQ_WRITE_UNCHANGED |
        (BDRV_REQ_FUA & bs->file->bs->supported_write_flags);
    bs->supported_zero_flags = BDRV_REQ_WRITE_UNCHANGED |
        ((BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) &
         bs->file->bs->supported_zero_flags);

    if (!get_limit(options, "align", &s->align, errp) ||
        !get_limit(options, "max-transfer", &s->max_transfer, errp) ||
        !get_limit(options, "opt-write-zero", &s->opt_write_zero, errp) ||
        !get_limit(options, "max-write-zero", &s->max_write_zero, errp) ||
        !get_limit(options, "opt-discard", &s->opt_discard, errp) ||
        !get_limit(options, "max-discard", &s->max_discard, errp)) {
        return -EINVAL;
    }
    /* Limits are multiples of the alignment the child needs anyway. */
    align = MAX(s->align, bdrv_get_request_alignment(bs->file->bs));
    if (s->align && (s->align >= INT_MAX || !is_power_of_2(s->align))) {
        error_setg(errp, "Cannot meet constraints with align %" PRIu64,
                   s->align);
        align_err = -EINVAL;
    } else if (s->max_transfer &&
               (s->max_transfer >= INT_MAX ||
                !QEMU_IS_ALIGNED(s->max_transfer,
                                 align))) {
        error_setg(errp, "Cannot meet constraints with max-transfer %"
                   PRIu64, s->max_transfer);
        align_err = -EINVAL;
    } else if (s->opt_write_zero &&
               (s->opt_write_zero >= INT_MAX ||
                !QEMU_IS_ALIGNED(s->opt_write_zero,
                                 align))) {
        error_setg(errp, "Cannot meet constraints with opt-write-zero %"
                   PRIu64, s->opt_write_zero);
        align_err = -EINVAL;
    } else if (s->max_write_zero &&
               (s->max_write_zero >= INT_MAX ||
                !QEMU_IS_ALIGNED(s->max_write_zero,
                                 MAX(s->opt_write_zero, align)))) {
        error_setg(errp, "Cannot meet constraints with max-write-zero %"
                   PRIu64, s->max_write_zero);
        align_err = -EINVAL;
    } else if (s->opt_discard &&
               (s->opt_discard >= INT_MAX ||
                !QEMU_IS_ALIGNED(s->opt_discard,
                                 align))) {
        error_setg(errp, "Cannot meet constraints with opt-discard %"
                   PRIu64, s->opt_discard);
        align_err = -EINVAL;
    } else if (s->max_discard &&
               (s->max_discard >= INT_MAX ||
                !QEMU_IS_ALIGNED(s->max_discard,
                                 MAX(s->opt_discard, align)))) {
        error_setg(errp, "Cannot meet constraints with max-discard %"
                   PRIu64, s->max_discard);
        align_err = -EINVAL;
    }
    if (align_err < 0 ||
        !get_perm_list(options, "take-child-perms", &s->take_child_perms,
                       errp) ||
        !get_perm_list(options, "unshare-child-perms",
                       &s->unshare_child_perms, errp)) {
        return -EINVAL;
    }
    return 0;
}

static void blkdebug_close(BlockDriverState *bs)
{
    BDRVBlkdebugState *s = bs->opaque;

    for (int i = 0; i < BLKDBG__MAX; i++) {
        BlkdebugRule *rule, *next;

        QLIST_FOREACH_SAFE(rule, &s->rules[i], next, next) {
            remove_rule(rule);
        }
    }
    g_slist_free(s->active_rules);
    g_free(s->config_file);
}

static void blkdebug_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVBlkdebugState *s = bs->opaque;

    if (s->align) {
        bs->bl.request_alignment = s->align;
    }
    if (s->max_transfer) {
        bs->bl.max_transfer = s->max_transfer;
    }
    if (s->opt_write_zero) {
        bs->bl.pwrite_zeroes_alignment = s->opt_write_zero;
    }
    if (s->max_write_zero) {
        bs->bl.max_pwrite_zeroes = s->max_write_zero;
    }
    if (s->opt_discard) {
        bs->bl.pdiscard_alignment = s->opt_discard;
    }
    if (s->max_discard) {
        bs->bl.max_pdiscard = s->max_discard;
    }
}

static const char *const blkdebug_strong_runtime_opts[] = {
    "config", "inject-error.", "set-state.", "align", "max-transfer",
    "opt-write-zero", "max-write-zero", "opt-discard", "max-discard",
    "take-child-perms.", "unshare-child-perms.", NULL
};

static void blkdebug_refresh_filename(BlockDriverState *bs)
{
    BDRVBlkdebugState *s = bs->opaque;
    const char *child = bs->file->bs->exact_filename;
    g_autofree char *name = NULL;
    const char *key;
    json_t *value;

    if (!child[0]) {
        return;
    }
    /* Rules and limits do not fit "blkdebug:CONFIG:IMAGE". */
    json_object_foreach(bs->options, key, value) {
        for (const char *const *p = blkdebug_strong_runtime_opts; *p; p++) {
            if (strcmp(*p, "config") && g_str_has_prefix(key, *p)) {
                return;
            }
        }
    }
    name = g_strdup_printf("blkdebug:%s:%s",
                           s->config_file ? s->config_file : "", child);
    bdrv_set_str(&bs->exact_filename, name);
}

static int blkdebug_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return bdrv_get_info(bs->file->bs, bdi);
}


BlockDriver bdrv_blkdebug = {
    .format_name = "blkdebug",
    .protocol_name = "blkdebug",
    .instance_size = sizeof(BDRVBlkdebugState),
    .is_filter = true,

    .bdrv_parse_filename = blkdebug_parse_filename,
    .bdrv_file_open = blkdebug_open,
    .bdrv_close = blkdebug_close,
    .bdrv_refresh_limits = blkdebug_refresh_limits,
    .bdrv_refresh_filename = blkdebug_refresh_filename,
    .bdrv_child_perm = blkdebug_child_perm,
    .bdrv_getlength = blkdebug_getlength,
    .bdrv_get_info = blkdebug_get_info,

    .bdrv_co_preadv_part = blkdebug_co_preadv,
    .bdrv_co_pwritev_part = blkdebug_co_pwritev,
    .bdrv_co_pwrite_zeroes = blkdebug_co_pwrite_zeroes,
    .bdrv_co_pdiscard = blkdebug_co_pdiscard,
    .bdrv_co_flush = blkdebug_co_flush,
    .bdrv_co_block_status = blkdebug_co_block_status,
    .bdrv_debug_event = blkdebug_debug_event,

    .strong_runtime_opts = blkdebug_strong_runtime_opts,
};

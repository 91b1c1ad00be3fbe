/*
 * Throttle groups: the throttle-group object type, the shared leaky
 * buckets of a group and the round-robin release of its members' queued
 * requests, and the I/O limits of block backends (block_set_io_throttle).
 *
 * How a group releases requests.  Each member queues its waiting requests
 * per direction in arrival order.  A group keeps, per direction, a token
 * (the member whose turn it is) and at most one armed timer: when the
 * buckets are over capacity, the member that found them so arms its timer
 * for the moment they will have drained.  Whenever a request passes, the
 * turn goes to the next member (in ring order after the token) that has a
 * request waiting: if the buckets admit it, its first request is woken at
 * once, otherwise its timer is armed.  So under contention members take
 * turns, one request each, and no member's requests overtake each other.
 */
#include "strata/osdep.h"
#include "block/block-backend.h"
#include "block/block_int.h"
#include "block/throttle-groups.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "qom/types.h"

typedef struct ThrottleGroup {
    Object parent_obj;
    /* The object id, or the name block_set_io_throttle gave. */
    char *name;
    /* Completed: limits checked and the group findable by name. */
    bool is_initialized;
    QEMUClockType clock_type;
    ThrottleState ts;
    QLIST_HEAD(, ThrottleGroupMember) members;
    /* Per direction: whose turn it is, and whether a timer is armed. */
    ThrottleGroupMember *tokens[2];
    bool any_timer_armed[2];
    QTAILQ_ENTRY(ThrottleGroup) list;
} ThrottleGroup;

static QTAILQ_HEAD(, ThrottleGroup) throttle_groups =
    QTAILQ_HEAD_INITIALIZER(throttle_groups);

static QEMUClockType group_clock_type = QEMU_CLOCK_VIRTUAL;

void throttle_groups_set_clock_type(QEMUClockType type)
{
    group_clock_type = type;
}

static ThrottleGroup *throttle_group_by_name(const char *name)
{
    ThrottleGroup *tg;

    QTAILQ_FOREACH(tg, &throttle_groups, list) {
        if (!strcmp(tg->name, name)) {
            return tg;
        }
    }
    return NULL;
}

bool throttle_group_exists(const char *name)
{
    return throttle_group_by_name(name) != NULL;
}

static ThrottleGroup *tgm_group(ThrottleGroupMember *tgm)
{
    return container_of(tgm->throttle_state, ThrottleGroup, ts);
}

const char *throttle_group_get_name(ThrottleGroupMember *tgm)
{
    return tgm_group(tgm)->name;
}

/* ---- releasing requests ---- */

static bool has_pending(ThrottleGroupMember *tgm, bool is_write)
{
    return tgm->pending_reqs[is_write] > 0;
}

/* The member after @tgm in the group's ring. */
static ThrottleGroupMember *next_member(ThrottleGroupMember *tgm)
{
    ThrottleGroupMember *next = QLIST_NEXT(tgm, round_robin);

    return next ? next : QLIST_FIRST(&tgm_group(tgm)->members);
}

/*
 * Whose request should go next after one of @tgm's went: the first member
 * after the token with a request waiting, the token itself if only it has
 * one, else @tgm.  A drained member empties its own queue first: drain
 * must not wait for the other members' turns.
 */
static ThrottleGroupMember *next_turn(ThrottleGroupMember *tgm,
                                      bool is_write)
{
    ThrottleGroup *tg = tgm_group(tgm);
    ThrottleGroupMember *start = tg->tokens[is_write];
    ThrottleGroupMember *m;

    if (tgm->io_limits_disabled && has_pending(tgm, is_write)) {
        return tgm;
    }
    m = next_member(start);
    while (m != start && !has_pending(m, is_write)) {
        m = next_member(m);
    }
    return has_pending(m, is_write) ? m : tgm;
}

/*
 * True if a request of @tgm in this direction must wait now.  The group
 * has one timer per direction: if it is armed, whoever it belongs to will
 * pass the turn on when it fires.  Otherwise, if the buckets are over
 * capacity, @tgm's timer is armed and @tgm gets the turn.
 */
static bool must_wait(ThrottleGroupMember *tgm, bool is_write)
{
    ThrottleGroup *tg = tgm_group(tgm);

    if (tgm->io_limits_disabled) {
        return false;
    }
    if (tg->any_timer_armed[is_write]) {
        return true;
    }
    if (throttle_schedule_timer(&tg->ts, &tgm->throttle_timers, is_write)) {
        tg->tokens[is_write] = tgm;
        tg->any_timer_armed[is_write] = true;
        return true;
    }
    return false;
}

/*
 * Wake the first queued request of @tgm (entered when the current
 * coroutine yields, or at once outside coroutines).
 */
static bool release_one(ThrottleGroupMember *tgm, bool is_write)
{
    return qemu_co_queue_next(&tgm->throttled_reqs[is_write]);
}

/* After a request of @tgm went: give the turn to whoever is next. */
static void schedule_next(ThrottleGroupMember *tgm, bool is_write)
{
    ThrottleGroup *tg = tgm_group(tgm);
    ThrottleGroupMember *next = next_turn(tgm, is_write);

    if (!has_pending(next, is_write) || must_wait(next, is_write)) {
        return;
    }
    tg->tokens[is_write] = next;
    release_one(next, is_write);
}

/*
 * The group's timer of this direction fired (or was cancelled to look at
 * the queues again): release @tgm's first request, or pass the turn on if
 * it has none.
 */
static void timer_expired(ThrottleGroupMember *tgm, bool is_write)
{
    ThrottleGroup *tg = tgm_group(tgm);

    tg->any_timer_armed[is_write] = false;
    if (!release_one(tgm, is_write)) {
        schedule_next(tgm, is_write);
    }
}

static void read_timer_cb(void *opaque)
{
    timer_expired(opaque, false);
}

static void write_timer_cb(void *opaque)
{
    timer_expired(opaque, true);
}

void coroutine_fn throttle_group_co_io_limits_intercept(
    ThrottleGroupMember *tgm, int64_t bytes, bool is_write)
{
    ThrottleGroup *tg = tgm_group(tgm);

    /* Over budget, or behind earlier requests: wait for the turn. */
    if (must_wait(tgm, is_write) || has_pending(tgm, is_write)) {
        tgm->pending_reqs[is_write]++;
        qemu_co_queue_wait(&tgm->throttled_reqs[is_write], NULL);
        tgm->pending_reqs[is_write]--;
    }
    throttle_account(&tg->ts, is_write, bytes);
    schedule_next(tgm, is_write);
}

void throttle_group_restart_tgm(ThrottleGroupMember *tgm)
{
    if (!tgm->throttle_state) {
        return;
    }
    for (int is_write = 0; is_write < 2; is_write++) {
        QEMUTimer *t = tgm->throttle_timers.timers[is_write];

        if (timer_pending(t)) {
            /* The group's timer was ours: its moment is now. */
            timer_del(t);
            timer_expired(tgm, is_write);
        } else {
            release_one(tgm, is_write);
        }
    }
}

/*
 * New limits: the timer armed under the old ones no longer means
 * anything; look at the queue it was guarding again.
 */
static void throttle_group_reschedule(ThrottleGroup *tg)
{
    ThrottleGroupMember *tgm;

    for (int is_write = 0; is_write < 2; is_write++) {
        QLIST_FOREACH(tgm, &tg->members, round_robin) {
            QEMUTimer *t = tgm->throttle_timers.timers[is_write];

            if (timer_pending(t)) {
                timer_del(t);
                tg->any_timer_armed[is_write] = false;
                if (has_pending(tgm, is_write) &&
                    !must_wait(tgm, is_write)) {
                    tg->tokens[is_write] = tgm;
                    release_one(tgm, is_write);
                }
                break;
            }
        }
    }
}

void throttle_group_drained_begin(ThrottleGroupMember *tgm)
{
    if (tgm->io_limits_disabled++ == 0) {
        throttle_group_restart_tgm(tgm);
    }
}

void throttle_group_drained_end(ThrottleGroupMember *tgm)
{
    assert(tgm->io_limits_disabled > 0);
    tgm->io_limits_disabled--;
}

/* ---- membership ---- */

static ThrottleGroup *throttle_group_new_implicit(const char *name);

void throttle_group_register_tgm(ThrottleGroupMember *tgm,
                                 const char *groupname, AioContext *ctx)
{
    ThrottleGroup *tg = throttle_group_by_name(groupname);

    if (tg) {
        object_ref(&tg->parent_obj);
    } else {
        tg = throttle_group_new_implicit(groupname);
    }
    assert(!tgm->throttle_state);
    tgm->throttle_state = &tg->ts;
    tgm->aio_context = ctx;
    tgm->pending_reqs[0] = tgm->pending_reqs[1] = 0;
    qemu_co_queue_init(&tgm->throttled_reqs[0]);
    qemu_co_queue_init(&tgm->throttled_reqs[1]);
    for (int i = 0; i < 2; i++) {
        if (!tg->tokens[i]) {
            tg->tokens[i] = tgm;
        }
    }
    QLIST_INSERT_HEAD(&tg->members, tgm, round_robin);
    throttle_timers_init(&tgm->throttle_timers, ctx, tg->clock_type,
                         read_timer_cb, write_timer_cb, tgm);
}

void throttle_group_unregister_tgm(ThrottleGroupMember *tgm)
{
    ThrottleGroup *tg;
    bool had_timer[2];

    if (!tgm->throttle_state) {
        return;
    }
    tg = tgm_group(tgm);
    for (int i = 0; i < 2; i++) {
        assert(!tgm->pending_reqs[i]);
        assert(qemu_co_queue_empty(&tgm->throttled_reqs[i]));
        had_timer[i] = timer_pending(tgm->throttle_timers.timers[i]);
        if (tg->tokens[i] == tgm) {
            ThrottleGroupMember *next = next_member(tgm);

            tg->tokens[i] = next == tgm ? NULL : next;
        }
    }
    throttle_timers_destroy(&tgm->throttle_timers);
    QLIST_REMOVE(tgm, round_robin);
    tgm->throttle_state = NULL;

    /* If this member held a group timer, someone else must take over. */
    for (int i = 0; i < 2; i++) {
        if (had_timer[i]) {
            tg->any_timer_armed[i] = false;
            if (tg->tokens[i]) {
                schedule_next(tg->tokens[i], i);
            }
        }
    }
    object_unref(&tg->parent_obj);
}

void throttle_group_config(ThrottleGroupMember *tgm, ThrottleConfig *cfg)
{
    ThrottleGroup *tg = tgm_group(tgm);

    throttle_config(&tg->ts, tg->clock_type, cfg);
    throttle_group_reschedule(tg);
}

void throttle_group_get_config(ThrottleGroupMember *tgm, ThrottleConfig *cfg)
{
    throttle_get_config(tgm->throttle_state, cfg);
}

/* ---- limits: the "limits" property and the legacy x-* properties ---- */

typedef enum LimitKind {
    LIMIT_AVG,
    LIMIT_MAX,
    LIMIT_BURST_LENGTH,
    LIMIT_IOPS_SIZE,
} LimitKind;

typedef struct LimitField {
    const char *name;           /* the member of ThrottleLimits */
    const char *xname;          /* the legacy property */
    BucketType bucket;
    LimitKind kind;
    size_t has_offset;          /* in ThrottleLimits */
    size_t offset;
    size_t x_has_offset;        /* in ThrottleGroupProperties */
    size_t x_offset;
} LimitField;

#define LIMIT(str, field, bucket, kind) \
    { str, "x-" str, bucket, kind, \
      offsetof(ThrottleLimits, has_##field), offsetof(ThrottleLimits, field), \
      offsetof(ThrottleGroupProperties, has_x_##field), \
      offsetof(ThrottleGroupProperties, x_##field) }

/* In QAPI schema order, which is also the order of the x-* properties. */
static const LimitField limit_fields[] = {
    LIMIT("iops-total", iops_total, THROTTLE_OPS_TOTAL, LIMIT_AVG),
    LIMIT("iops-total-max", iops_total_max, THROTTLE_OPS_TOTAL, LIMIT_MAX),
    LIMIT("iops-total-max-length", iops_total_max_length, THROTTLE_OPS_TOTAL,
          LIMIT_BURST_LENGTH),
    LIMIT("iops-read", iops_read, THROTTLE_OPS_READ, LIMIT_AVG),
    LIMIT("iops-read-max", iops_read_max, THROTTLE_OPS_READ, LIMIT_MAX),
    LIMIT("iops-read-max-length", iops_read_max_length, THROTTLE_OPS_READ,
          LIMIT_BURST_LENGTH),
    LIMIT("iops-write", iops_write, THROTTLE_OPS_WRITE, LIMIT_AVG),
    LIMIT("iops-write-max", iops_write_max, THROTTLE_OPS_WRITE, LIMIT_MAX),
    LIMIT("iops-write-max-length", iops_write_max_length, THROTTLE_OPS_WRITE,
          LIMIT_BURST_LENGTH),
    LIMIT("bps-total", bps_total, THROTTLE_BPS_TOTAL, LIMIT_AVG),
    LIMIT("bps-total-max", bps_total_max, THROTTLE_BPS_TOTAL, LIMIT_MAX),
    LIMIT("bps-total-max-length", bps_total_max_length, THROTTLE_BPS_TOTAL,
          LIMIT_BURST_LENGTH),
    LIMIT("bps-read", bps_read, THROTTLE_BPS_READ, LIMIT_AVG),
    LIMIT("bps-read-max", bps_read_max, THROTTLE_BPS_READ, LIMIT_MAX),
    LIMIT("bps-read-max-length", bps_read_max_length, THROTTLE_BPS_READ,
          LIMIT_BURST_LENGTH),
    LIMIT("bps-write", bps_write, THROTTLE_BPS_WRITE, LIMIT_AVG),
    LIMIT("bps-write-max", bps_write_max, THROTTLE_BPS_WRITE, LIMIT_MAX),
    LIMIT("bps-write-max-length", bps_write_max_length, THROTTLE_BPS_WRITE,
          LIMIT_BURST_LENGTH),
    LIMIT("iops-size", iops_size, THROTTLE_BPS_TOTAL, LIMIT_IOPS_SIZE),
};

static uint64_t *config_field(ThrottleConfig *cfg, const LimitField *f)
{
    LeakyBucket *b = &cfg->buckets[f->bucket];

    switch (f->kind) {
    case LIMIT_AVG:
        return &b->avg;
    case LIMIT_MAX:
        return &b->max;
    case LIMIT_BURST_LENGTH:
        return &b->burst_length;
    case LIMIT_IOPS_SIZE:
    default:
        return &cfg->op_size;
    }
}

static bool field_present(const void *base, size_t has_offset)
{
    return *(const bool *)((const char *)base + has_offset);
}

static int64_t *field_value(void *base, size_t offset)
{
    return (int64_t *)((char *)base + offset);
}

static const LimitField *limit_field(LimitKind kind, int bucket)
{
    for (size_t i = 0; i < ARRAY_SIZE(limit_fields); i++) {
        const LimitField *f = &limit_fields[i];

        if (f->kind == kind &&
            (kind == LIMIT_IOPS_SIZE || f->bucket == (BucketType)bucket)) {
            return f;
        }
    }
    g_assert_not_reached();
}

/*
 * QEMU applies the rates first, then the burst lengths (which must fit in
 * 32 bits, checked bucket by bucket in bucket order), then the iops size,
 * and finally checks the whole configuration.
 */
bool throttle_limits_to_config(ThrottleLimits *arg, ThrottleConfig *cfg,
                               Error **errp)
{
    const LimitKind kinds[] = { LIMIT_AVG, LIMIT_MAX, LIMIT_BURST_LENGTH };
    const LimitField *f;

    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        for (int b = 0; b < BUCKETS_COUNT; b++) {
            int64_t v;

            f = limit_field(kinds[k], b);
            if (!field_present(arg, f->has_offset)) {
                continue;
            }
            v = *field_value(arg, f->offset);
            if (f->kind == LIMIT_BURST_LENGTH && v > UINT_MAX) {
                error_setg(errp, "%s value must be in the range [0, %u]",
                           f->name, UINT_MAX);
                return false;
            }
            *config_field(cfg, f) = v;
        }
    }
    f = limit_field(LIMIT_IOPS_SIZE, 0);
    if (field_present(arg, f->has_offset)) {
        *config_field(cfg, f) = *field_value(arg, f->offset);
    }
    return throttle_is_valid(cfg, errp);
}

void throttle_config_to_limits(const ThrottleConfig *cfg,
                               ThrottleLimits *limits)
{
    memset(limits, 0, sizeof(*limits));
    for (size_t i = 0; i < ARRAY_SIZE(limit_fields); i++) {
        const LimitField *f = &limit_fields[i];

        *(bool *)((char *)limits + f->has_offset) = true;
        *field_value(limits, f->offset) =
            *config_field((ThrottleConfig *)cfg, f);
    }
}

/* ---- the throttle-group object ---- */

static ThrottleGroup *to_group(Object *obj)
{
    return container_of(obj, ThrottleGroup, parent_obj);
}

static void throttle_group_init(Object *obj)
{
    ThrottleGroup *tg = to_group(obj);

    tg->clock_type = group_clock_type;
    throttle_init(&tg->ts);
    QLIST_INIT(&tg->members);
}

/*
 * The last step of creating a group, whether by object-add / --object or
 * implicitly: a unique name and valid limits make it usable.
 */
static bool throttle_group_finish(ThrottleGroup *tg, Error **errp)
{
    ThrottleConfig cfg;

    if (throttle_group_exists(tg->name)) {
        error_setg(errp, "A group with this name already exists");
        return false;
    }
    throttle_get_config(&tg->ts, &cfg);
    if (!throttle_is_valid(&cfg, errp)) {
        return false;
    }
    throttle_config(&tg->ts, tg->clock_type, &cfg);
    QTAILQ_INSERT_TAIL(&throttle_groups, tg, list);
    tg->is_initialized = true;
    return true;
}

static ThrottleGroup *throttle_group_new_implicit(const char *name)
{
    ThrottleGroup *tg = to_group(object_new_with_type(
                                     &throttle_group_type_info));

    tg->name = g_strdup(name);
    throttle_group_finish(tg, &error_abort);
    return tg;
}

/* A legacy x-* value, checked as QEMU's property setter checks it. */
static bool throttle_group_set_x(ThrottleGroup *tg, const LimitField *f,
                                 int64_t value, Error **errp)
{
    if (value < 0) {
        error_setg(errp, "Property values cannot be negative");
        return false;
    }
    if (f->kind == LIMIT_BURST_LENGTH && value > UINT_MAX) {
        /* Sic: QEMU's message lacks a space here. */
        error_setg(errp, "%s value must be in therange [0, %u]", f->xname,
                   UINT_MAX);
        return false;
    }
    *config_field(&tg->ts.cfg, f) = value;
    return true;
}

static bool throttle_group_complete(Object *obj, ObjectOptions *opts,
                                    Error **errp)
{
    ThrottleGroup *tg = to_group(obj);
    ThrottleGroupProperties *p = &opts->u.throttle_group;

    /* "limits" first: a legacy x-* value given as well wins. */
    if (p->has_limits) {
        ThrottleConfig cfg;

        throttle_get_config(&tg->ts, &cfg);
        if (!throttle_limits_to_config(p->limits, &cfg, errp)) {
            return false;
        }
        tg->ts.cfg = cfg;
    }
    for (size_t i = 0; i < ARRAY_SIZE(limit_fields); i++) {
        const LimitField *f = &limit_fields[i];

        if (field_present(p, f->x_has_offset) &&
            !throttle_group_set_x(tg, f, *field_value(p, f->x_offset), errp)) {
            return false;
        }
    }
    tg->name = g_strdup(obj->name);
    return throttle_group_finish(tg, errp);
}

static void throttle_group_finalize(Object *obj)
{
    ThrottleGroup *tg = to_group(obj);

    assert(QLIST_EMPTY(&tg->members));
    if (tg->is_initialized) {
        QTAILQ_REMOVE(&throttle_groups, tg, list);
    }
    g_free(tg->name);
}

/* Members hold references: only the tree's may remain. */
static bool throttle_group_can_be_deleted(Object *obj)
{
    return obj->ref == 1;
}

static json_t *throttle_group_get_limits(Object *obj,
                                         const ObjectProperty *prop,
                                         Error **errp)
{
    ThrottleGroup *tg = to_group(obj);
    ThrottleLimits limits;
    ThrottleLimits *arg = &limits;
    json_t *ret = NULL;
    Visitor *v;

    throttle_config_to_limits(&tg->ts.cfg, &limits);
    v = qobject_output_visitor_new(&ret);
    visit_type_ThrottleLimits(v, prop->name, &arg, &error_abort);
    visit_complete(v, &ret);
    visit_free(v);
    return ret;
}

/* Limits change at run time; members see them at once. */
static bool throttle_group_set_limits(Object *obj,
                                      const ObjectProperty *prop,
                                      json_t *value, Error **errp)
{
    ThrottleGroup *tg = to_group(obj);
    g_autoptr(ThrottleLimits) arg = NULL;
    ThrottleConfig cfg;
    Visitor *v = qobject_input_visitor_new(value);
    bool ok = visit_type_ThrottleLimits(v, prop->name, &arg, errp);

    visit_free(v);
    if (!ok) {
        return false;
    }
    throttle_get_config(&tg->ts, &cfg);
    if (!throttle_limits_to_config(arg, &cfg, errp)) {
        return false;
    }
    throttle_config(&tg->ts, tg->clock_type, &cfg);
    throttle_group_reschedule(tg);
    return true;
}

static json_t *throttle_group_get_x(Object *obj, const ObjectProperty *prop,
                                    Error **errp)
{
    ThrottleGroup *tg = to_group(obj);

    return json_integer(*config_field(&tg->ts.cfg,
                                      &limit_fields[prop->opaque]));
}

/*
 * The limits must change together (some combinations are invalid), so
 * the x-* properties are only for object creation.
 */
static bool throttle_group_set_x_prop(Object *obj, const ObjectProperty *prop,
                                      json_t *value, Error **errp)
{
    ThrottleGroup *tg = to_group(obj);
    int64_t v;

    if (tg->is_initialized) {
        error_setg(errp, "Property cannot be set after initialization");
        return false;
    }
    return object_property_parse_int(prop, value, &v, errp) &&
           throttle_group_set_x(tg, &limit_fields[prop->opaque], v, errp);
}

#define X_PROP(i, name) \
    { "x-" name, "int", NULL, throttle_group_get_x, \
      throttle_group_set_x_prop, i }

static const ObjectProperty throttle_group_properties[] = {
    { "limits", "ThrottleLimits", NULL, throttle_group_get_limits,
      throttle_group_set_limits, 0 },
    X_PROP(0, "iops-total"),
    X_PROP(1, "iops-total-max"),
    X_PROP(2, "iops-total-max-length"),
    X_PROP(3, "iops-read"),
    X_PROP(4, "iops-read-max"),
    X_PROP(5, "iops-read-max-length"),
    X_PROP(6, "iops-write"),
    X_PROP(7, "iops-write-max"),
    X_PROP(8, "iops-write-max-length"),
    X_PROP(9, "bps-total"),
    X_PROP(10, "bps-total-max"),
    X_PROP(11, "bps-total-max-length"),
    X_PROP(12, "bps-read"),
    X_PROP(13, "bps-read-max"),
    X_PROP(14, "bps-read-max-length"),
    X_PROP(15, "bps-write"),
    X_PROP(16, "bps-write-max"),
    X_PROP(17, "bps-write-max-length"),
    X_PROP(18, "iops-size"),
    { NULL }
};

const ObjectTypeInfo throttle_group_type_info = {
    .name = "throttle-group",
    .instance_size = sizeof(ThrottleGroup),
    .user_creatable = true,
    .instance_init = throttle_group_init,
    .complete = throttle_group_complete,
    .finalize = throttle_group_finalize,
    .can_be_deleted = throttle_group_can_be_deleted,
    .properties = throttle_group_properties,
};

/* ---- block backends ---- */

void blk_io_limits_enable(BlockBackend *blk, const char *group)
{
    throttle_group_register_tgm(blk_get_throttle_group_member(blk), group,
                                blk_get_aio_context(blk));
}

void blk_io_limits_disable(BlockBackend *blk)
{
    ThrottleGroupMember *tgm = blk_get_throttle_group_member(blk);
    BlockDriverState *bs = blk_bs(blk);

    if (!tgm->throttle_state) {
        return;
    }
    /* Drain releases what waits in the group and lets it finish. */
    if (bs) {
        bdrv_drained_begin(bs);
    }
    throttle_group_unregister_tgm(tgm);
    if (bs) {
        bdrv_drained_end(bs);
    }
}

void blk_io_limits_update_group(BlockBackend *blk, const char *group)
{
    ThrottleGroupMember *tgm = blk_get_throttle_group_member(blk);

    if (!strcmp(throttle_group_get_name(tgm), group)) {
        return;
    }
    blk_io_limits_disable(blk);
    blk_io_limits_enable(blk, group);
}

void blk_set_io_limits(BlockBackend *blk, ThrottleConfig *cfg)
{
    throttle_group_config(blk_get_throttle_group_member(blk), cfg);
}

void bdrv_fill_throttle_info(BlockDeviceInfo *info, BlockBackend *blk)
{
    ThrottleGroupMember *tgm = blk ? blk_get_throttle_group_member(blk)
                                   : NULL;
    ThrottleConfig cfg;
    LeakyBucket *b = cfg.buckets;

    if (!tgm || !tgm->throttle_state) {
        return;
    }
    throttle_group_get_config(tgm, &cfg);
    info->bps = b[THROTTLE_BPS_TOTAL].avg;
    info->bps_rd = b[THROTTLE_BPS_READ].avg;
    info->bps_wr = b[THROTTLE_BPS_WRITE].avg;
    info->iops = b[THROTTLE_OPS_TOTAL].avg;
    info->iops_rd = b[THROTTLE_OPS_READ].avg;
    info->iops_wr = b[THROTTLE_OPS_WRITE].avg;

    /* Burst values are reported only when set, with their lengths. */
    info->has_bps_max = info->has_bps_max_length = b[THROTTLE_BPS_TOTAL].max;
    info->bps_max = b[THROTTLE_BPS_TOTAL].max;
    info->bps_max_length = b[THROTTLE_BPS_TOTAL].burst_length;
    info->has_bps_rd_max = info->has_bps_rd_max_length =
        b[THROTTLE_BPS_READ].max;
    info->bps_rd_max = b[THROTTLE_BPS_READ].max;
    info->bps_rd_max_length = b[THROTTLE_BPS_READ].burst_length;
    info->has_bps_wr_max = info->has_bps_wr_max_length =
        b[THROTTLE_BPS_WRITE].max;
    info->bps_wr_max = b[THROTTLE_BPS_WRITE].max;
    info->bps_wr_max_length = b[THROTTLE_BPS_WRITE].burst_length;
    info->has_iops_max = info->has_iops_max_length =
        b[THROTTLE_OPS_TOTAL].max;
    info->iops_max = b[THROTTLE_OPS_TOTAL].max;
    info->iops_max_length = b[THROTTLE_OPS_TOTAL].burst_length;
    info->has_iops_rd_max = info->has_iops_rd_max_length =
        b[THROTTLE_OPS_READ].max;
    info->iops_rd_max = b[THROTTLE_OPS_READ].max;
    info->iops_rd_max_length = b[THROTTLE_OPS_READ].burst_length;
    info->has_iops_wr_max = info->has_iops_wr_max_length =
        b[THROTTLE_OPS_WRITE].max;
    info->iops_wr_max = b[THROTTLE_OPS_WRITE].max;
    info->iops_wr_max_length = b[THROTTLE_OPS_WRITE].burst_length;

    info->has_iops_size = cfg.op_size;
    info->iops_size = cfg.op_size;

    info->has_group = true;
    info->group = g_strdup(throttle_group_get_name(tgm));
}

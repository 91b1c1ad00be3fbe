/*
 * The iothread object type: QEMU's event-loop and polling settings,
 * checked with QEMU's messages and kept for qom-get.  No thread is started:
 * Strata's block layer runs in the main loop (see include/qom/iothread.h).
 */
#include "strata/osdep.h"
#include "qom/iothread.h"
#include "qom/types.h"

/* QEMU's defaults: adaptive polling up to 32 us, a pool of up to 64. */
#define IOTHREAD_POLL_MAX_NS_DEFAULT 32768
#define THREAD_POOL_MAX_DEFAULT 64

typedef struct IOThreadObject {
    Object parent_obj;
    int64_t aio_max_batch;
    int64_t thread_pool_min;
    int64_t thread_pool_max;
    int64_t poll_max_ns;
    int64_t poll_grow;
    int64_t poll_shrink;
} IOThreadObject;

static void iothread_init(Object *obj)
{
    IOThreadObject *t = (IOThreadObject *)obj;

    t->thread_pool_max = THREAD_POOL_MAX_DEFAULT;
    t->poll_max_ns = IOTHREAD_POLL_MAX_NS_DEFAULT;
}

static bool thread_pool_params_valid(IOThreadObject *t, Error **errp)
{
    if (t->thread_pool_min > t->thread_pool_max || !t->thread_pool_max ||
        t->thread_pool_min > INT_MAX || t->thread_pool_max > INT_MAX) {
        error_setg(errp, "bad thread-pool-min/thread-pool-max values");
        return false;
    }
    return true;
}

typedef struct IOThreadParam {
    const char *name;
    size_t offset;
    /* The event-loop settings (not the polling ones) check the pool. */
    bool event_loop;
} IOThreadParam;

/* In QAPI schema order, which is the order object-add applies them in. */
static const IOThreadParam iothread_params[] = {
    { "aio-max-batch", offsetof(IOThreadObject, aio_max_batch), true },
    { "thread-pool-min", offsetof(IOThreadObject, thread_pool_min), true },
    { "thread-pool-max", offsetof(IOThreadObject, thread_pool_max), true },
    { "poll-max-ns", offsetof(IOThreadObject, poll_max_ns), false },
    { "poll-grow", offsetof(IOThreadObject, poll_grow), false },
    { "poll-shrink", offsetof(IOThreadObject, poll_shrink), false },
};

static int64_t *param_field(Object *obj, const IOThreadParam *p)
{
    return (int64_t *)((char *)obj + p->offset);
}

/*
 * Store @value, as QEMU does even when the pool check that follows for a
 * completed object fails.
 */
static bool iothread_set_param(Object *obj, const IOThreadParam *p,
                               int64_t value, Error **errp)
{
    if (value < 0) {
        error_setg(errp, "%s value must be in range [0, %" PRId64 "]",
                   p->name, INT64_MAX);
        return false;
    }
    *param_field(obj, p) = value;
    if (obj->completed && p->event_loop) {
        return thread_pool_params_valid((IOThreadObject *)obj, errp);
    }
    return true;
}

static json_t *iothread_prop_get(Object *obj, const ObjectProperty *prop,
                                 Error **errp)
{
    return json_integer(*param_field(obj, &iothread_params[prop->opaque]));
}

static bool iothread_prop_set(Object *obj, const ObjectProperty *prop,
                              json_t *value, Error **errp)
{
    int64_t v;

    return object_property_parse_int(prop, value, &v, errp) &&
           iothread_set_param(obj, &iothread_params[prop->opaque], v, errp);
}

static bool iothread_complete(Object *obj, ObjectOptions *opts, Error **errp)
{
    IothreadProperties *o = &opts->u.iothread;
    const struct {
        bool has;
        int64_t value;
    } given[] = {
        { o->has_aio_max_batch, o->aio_max_batch },
        { o->has_thread_pool_min, o->thread_pool_min },
        { o->has_thread_pool_max, o->thread_pool_max },
        { o->has_poll_max_ns, o->poll_max_ns },
        { o->has_poll_grow, o->poll_grow },
        { o->has_poll_shrink, o->poll_shrink },
    };

    G_STATIC_ASSERT(G_N_ELEMENTS(given) == G_N_ELEMENTS(iothread_params));
    for (size_t i = 0; i < G_N_ELEMENTS(given); i++) {
        if (given[i].has &&
            !iothread_set_param(obj, &iothread_params[i], given[i].value,
                                errp)) {
            return false;
        }
    }
    return thread_pool_params_valid((IOThreadObject *)obj, errp);
}

static const ObjectProperty iothread_properties[] = {
    { "aio-max-batch", "int", NULL, iothread_prop_get, iothread_prop_set, 0 },
    { "thread-pool-min", "int", NULL, iothread_prop_get, iothread_prop_set,
      1 },
    { "thread-pool-max", "int", NULL, iothread_prop_get, iothread_prop_set,
      2 },
    { "poll-max-ns", "int", NULL, iothread_prop_get, iothread_prop_set, 3 },
    { "poll-grow", "int", NULL, iothread_prop_get, iothread_prop_set, 4 },
    { "poll-shrink", "int", NULL, iothread_prop_get, iothread_prop_set, 5 },
    { NULL }
};

const ObjectTypeInfo iothread_type_info = {
    .name = "iothread",
    .instance_size = sizeof(IOThreadObject),
    .user_creatable = true,
    .instance_init = iothread_init,
    .complete = iothread_complete,
    .properties = iothread_properties,
};

Object *iothread_by_id(const char *id)
{
    Object *objects = object_get_objects_root();

    return object_dynamic_cast(object_resolve_path_component(objects, id),
                               "iothread");
}

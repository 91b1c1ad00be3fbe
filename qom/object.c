/*
 * QOM-lite core: the type registry, reference-counted objects in a tree of
 * containers, path lookup as QEMU resolves QOM paths, and properties.
 */
#include "strata/osdep.h"
#include "qom/object.h"
#include "qom/types.h"
#include "qapi/qobject-input-visitor.h"

/* ---- types ---- */

static const ObjectTypeInfo container_type_info = {
    .name = "container",
    .instance_size = sizeof(Object),
};

/* Types registered at run time, and the built-in ones on first use. */
static GHashTable *object_types;
/* Names of user-creatable types this program refuses. */
static GHashTable *disabled_types;

static GHashTable *type_table(void)
{
    if (!object_types) {
        const ObjectTypeInfo *const builtin[] = {
            &container_type_info,
            &iothread_type_info,
            &secret_type_info,
            &throttle_group_type_info,
        };

        object_types = g_hash_table_new(g_str_hash, g_str_equal);
        for (size_t i = 0; i < ARRAY_SIZE(builtin); i++) {
            g_hash_table_insert(object_types, (char *)builtin[i]->name,
                                (gpointer)builtin[i]);
        }
    }
    return object_types;
}

const ObjectTypeInfo *object_type_by_name(const char *name)
{
    return g_hash_table_lookup(type_table(), name);
}

void object_register_type(const ObjectTypeInfo *info)
{
    g_hash_table_insert(type_table(), (char *)info->name, (gpointer)info);
}

void object_type_set_user_creatable(const char *name, bool enabled)
{
    if (!disabled_types) {
        disabled_types = g_hash_table_new_full(g_str_hash, g_str_equal,
                                               g_free, NULL);
    }
    if (enabled) {
        g_hash_table_remove(disabled_types, name);
    } else {
        g_hash_table_add(disabled_types, g_strdup(name));
    }
}

bool object_type_is_user_creatable(const ObjectTypeInfo *info)
{
    return info->user_creatable &&
           !(disabled_types && g_hash_table_contains(disabled_types,
                                                     info->name));
}

/* ---- life cycle ---- */

Object *object_new_with_type(const ObjectTypeInfo *info)
{
    Object *obj;

    assert(info->instance_size >= sizeof(Object));
    obj = g_malloc0(info->instance_size);
    obj->type = info;
    obj->ref = 1;
    if (info->instance_init) {
        info->instance_init(obj);
    }
    return obj;
}

Object *object_new(const char *typename)
{
    const ObjectTypeInfo *info = object_type_by_name(typename);

    assert(info);
    return object_new_with_type(info);
}

Object *object_ref(Object *obj)
{
    obj->ref++;
    return obj;
}

void object_unref(Object *obj)
{
    if (!obj) {
        return;
    }
    assert(obj->ref > 0);
    if (--obj->ref > 0) {
        return;
    }
    /* Children go first: they may refer to their parent's state. */
    while (obj->children && obj->children->len) {
        object_unparent(g_ptr_array_index(obj->children,
                                          obj->children->len - 1));
    }
    if (obj->type->finalize) {
        obj->type->finalize(obj);
    }
    if (obj->children) {
        g_ptr_array_free(obj->children, true);
    }
    g_free(obj->name);
    g_free(obj);
}

/* ---- the tree ---- */

static Object *root;

Object *object_get_root(void)
{
    if (!root) {
        root = object_new_with_type(&container_type_info);
    }
    return root;
}

Object *object_get_container(const char *name)
{
    Object *parent = object_get_root();
    Object *c = object_resolve_path_component(parent, name);

    if (!c) {
        c = object_new_with_type(&container_type_info);
        object_property_try_add_child(parent, name, c, &error_abort);
        object_unref(c);
    }
    return c;
}

Object *object_get_objects_root(void)
{
    return object_get_container("objects");
}

static const ObjectProperty *find_type_property(const Object *obj,
                                                const char *name)
{
    const ObjectProperty *p = obj->type->properties;

    for (; p && p->name; p++) {
        if (!strcmp(p->name, name)) {
            return p;
        }
    }
    return NULL;
}

Object *object_resolve_path_component(Object *parent, const char *part)
{
    for (guint i = 0; parent->children && i < parent->children->len; i++) {
        Object *c = g_ptr_array_index(parent->children, i);

        if (!strcmp(c->name, part)) {
            return c;
        }
    }
    return NULL;
}

bool object_property_try_add_child(Object *parent, const char *name,
                                   Object *child, Error **errp)
{
    assert(!child->parent);
    if (!strcmp(name, "type") || find_type_property(parent, name) ||
        object_resolve_path_component(parent, name)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object "
                   "(type '%s')", name, object_get_typename(parent));
        return false;
    }
    if (!parent->children) {
        parent->children = g_ptr_array_new();
    }
    g_ptr_array_add(parent->children, object_ref(child));
    child->parent = parent;
    child->name = g_strdup(name);
    return true;
}

void object_unparent(Object *obj)
{
    Object *parent = obj->parent;

    if (!parent) {
        return;
    }
    g_ptr_array_remove(parent->children, obj);
    obj->parent = NULL;
    g_clear_pointer(&obj->name, g_free);
    object_unref(obj);
}

/* Follow @parts (a NULL-terminated list) down from @parent. */
static Object *resolve_abs(Object *parent, char **parts)
{
    for (; parent && *parts; parts++) {
        if (**parts) {
            parent = object_resolve_path_component(parent, *parts);
        }
    }
    return parent;
}

/*
 * A partial path matches wherever it can be followed from some object in
 * the subtree of @parent; it must match only once.
 */
static Object *resolve_partial(Object *parent, char **parts, bool *ambiguous)
{
    Object *obj = resolve_abs(parent, parts);

    for (guint i = 0; parent->children && i < parent->children->len; i++) {
        Object *found = resolve_partial(g_ptr_array_index(parent->children,
                                                          i),
                                        parts, ambiguous);

        if (*ambiguous) {
            return NULL;
        }
        if (found) {
            if (obj) {
                *ambiguous = true;
                return NULL;
            }
            obj = found;
        }
    }
    return obj;
}

Object *object_resolve_path(const char *path, bool *ambiguous)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", 0);
    bool amb = false;
    Object *obj;

    if (parts[0] && !parts[0][0]) {
        obj = resolve_abs(object_get_root(), parts + 1);
    } else {
        obj = resolve_partial(object_get_root(), parts, &amb);
    }
    if (ambiguous) {
        *ambiguous = amb;
    }
    return obj;
}

char *object_get_canonical_path(const Object *obj)
{
    GString *path = g_string_new(NULL);

    for (; obj && obj->parent; obj = obj->parent) {
        g_string_prepend(path, obj->name);
        g_string_prepend_c(path, '/');
    }
    if (!path->len) {
        g_string_append_c(path, '/');
    }
    return g_string_free(path, false);
}

const char *object_get_typename(const Object *obj)
{
    return obj->type->name;
}

Object *object_dynamic_cast(Object *obj, const char *typename)
{
    return obj && !strcmp(obj->type->name, typename) ? obj : NULL;
}

int object_child_foreach(Object *obj, int (*fn)(Object *child, void *opaque),
                         void *opaque)
{
    for (guint i = 0; obj->children && i < obj->children->len; i++) {
        int ret = fn(g_ptr_array_index(obj->children, i), opaque);

        if (ret) {
            return ret;
        }
    }
    return 0;
}

/* ---- properties ---- */

void object_property_foreach(Object *obj,
                             void (*fn)(const char *name, const char *type,
                                        const char *description,
                                        void *opaque),
                             void *opaque)
{
    const ObjectProperty *p = obj->type->properties;

    fn("type", "string", NULL, opaque);
    for (; p && p->name; p++) {
        fn(p->name, p->type, p->description, opaque);
    }
    for (guint i = 0; obj->children && i < obj->children->len; i++) {
        Object *c = g_ptr_array_index(obj->children, i);
        g_autofree char *type = g_strdup_printf("child<%s>",
                                                object_get_typename(c));

        fn(c->name, type, NULL, opaque);
    }
}

json_t *object_property_get(Object *obj, const char *name, Error **errp)
{
    const ObjectProperty *p;
    Object *child;

    if (!strcmp(name, "type")) {
        return json_string(object_get_typename(obj));
    }
    p = find_type_property(obj, name);
    if (p) {
        if (!p->get) {
            error_setg(errp, "Property '%s.%s' is not readable",
                       object_get_typename(obj), name);
            return NULL;
        }
        return p->get(obj, p, errp);
    }
    child = object_resolve_path_component(obj, name);
    if (child) {
        g_autofree char *path = object_get_canonical_path(child);

        return json_string(path);
    }
    error_setg(errp, "Property '%s.%s' not found", object_get_typename(obj),
               name);
    return NULL;
}

bool object_property_set(Object *obj, const char *name, json_t *value,
                         Error **errp)
{
    const ObjectProperty *p = find_type_property(obj, name);

    if (!p && strcmp(name, "type") &&
        !object_resolve_path_component(obj, name)) {
        error_setg(errp, "Property '%s.%s' not found",
                   object_get_typename(obj), name);
        return false;
    }
    if (!p || !p->set) {
        error_setg(errp, "Property '%s.%s' is not writable",
                   object_get_typename(obj), name);
        return false;
    }
    return p->set(obj, p, value, errp);
}

bool object_property_parse_int(const ObjectProperty *prop, json_t *value,
                               int64_t *out, Error **errp)
{
    Visitor *v = qobject_input_visitor_new(value);
    bool ok = visit_type_int(v, prop->name, out, errp);

    visit_free(v);
    return ok;
}

bool object_property_parse_str(const ObjectProperty *prop, json_t *value,
                               char **out, Error **errp)
{
    Visitor *v = qobject_input_visitor_new(value);
    bool ok = visit_type_str(v, prop->name, out, errp);

    visit_free(v);
    return ok;
}

json_t *object_property_str_value(const char *str)
{
    /* QEMU's string properties read back an unset value as "". */
    return json_string(str ? str : "");
}

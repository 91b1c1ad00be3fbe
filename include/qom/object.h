/*
 * QOM-lite: named objects in a tree ("/objects/<id>"), typed properties
 * read and written as JSON, and the user-creatable objects of --object
 * and object-add (secrets, iothreads, throttle groups).
 */
#ifndef QOM_OBJECT_H
#define QOM_OBJECT_H

#include <jansson.h>

#include "strata/osdep.h"
#include "util/error.h"
#include "qapi/qapi-types.h"

typedef struct Object Object;
typedef struct ObjectProperty ObjectProperty;
typedef struct ObjectTypeInfo ObjectTypeInfo;

/*
 * Read a property: a new JSON value, or NULL with @errp set.  @prop is the
 * entry of the type's table, so one function can serve several properties.
 */
typedef json_t *ObjectPropertyGet(Object *obj, const ObjectProperty *prop,
                                  Error **errp);
/* Change a property from @value (borrowed).  False with @errp on error. */
typedef bool ObjectPropertySet(Object *obj, const ObjectProperty *prop,
                               json_t *value, Error **errp);

struct ObjectProperty {
    const char *name;
    /* What qom-list reports: "int", "string", "bool", a QAPI type name. */
    const char *type;
    const char *description;        /* may be NULL */
    ObjectPropertyGet *get;         /* NULL: "is not readable" */
    ObjectPropertySet *set;         /* NULL: "is not writable" */
    intptr_t opaque;                /* for the type's own use */
};

/*
 * An object type.  Objects of the type are allocated with @instance_size
 * bytes, which start with an Object.
 */
struct ObjectTypeInfo {
    const char *name;
    size_t instance_size;
    /* object-add and --object may create it (when the program allows). */
    bool user_creatable;
    /* Set the defaults of a new object (optional). */
    void (*instance_init)(Object *obj);
    /*
     * Apply the options of object-add / --object (the branch of @opts for
     * this type) and check them; false with @errp set refuses the object.
     * Runs after the object got its id, so the id is taken when it fails.
     */
    bool (*complete)(Object *obj, ObjectOptions *opts, Error **errp);
    /* Release what the object holds (optional); the memory is freed after. */
    void (*finalize)(Object *obj);
    /* False while something uses the object (object-del refuses then). */
    bool (*can_be_deleted)(Object *obj);
    /* Properties besides "type"; ends with an entry whose name is NULL. */
    const ObjectProperty *properties;
};

struct Object {
    const ObjectTypeInfo *type;
    unsigned ref;
    Object *parent;
    char *name;             /* the name in the parent, NULL if unparented */
    GPtrArray *children;    /* Object *, in the order they were added */
    bool completed;         /* complete() succeeded */
};

/* ---- types ---- */

/* The type called @name, or NULL (types built into Strata are found). */
const ObjectTypeInfo *object_type_by_name(const char *name);
/* Add a type (tests, or a program's own object kinds). */
void object_register_type(const ObjectTypeInfo *info);
/*
 * Whether --object / object-add may create @name in this program.  QEMU's
 * tools differ: qemu-img and qemu-io have no iothread objects, qemu-nbd and
 * qemu-storage-daemon do.  Every built-in user-creatable type is enabled
 * until a program disables it.
 */
void object_type_set_user_creatable(const char *name, bool enabled);
bool object_type_is_user_creatable(const ObjectTypeInfo *info);

/* ---- life cycle ---- */

/* A new object of type @info with one reference, not in the tree. */
Object *object_new_with_type(const ObjectTypeInfo *info);
Object *object_new(const char *typename);
Object *object_ref(Object *obj);
/* Drop a reference; the last one finalizes and frees the object. */
void object_unref(Object *obj);

/* ---- the tree ---- */

/* The root ("/"), a container created on first use. */
Object *object_get_root(void);
/* The container of user-created objects, "/objects" (created on demand). */
Object *object_get_objects_root(void);
/* The container "/<name>" (such as "chardevs"), created on demand. */
Object *object_get_container(const char *name);

/*
 * Make @child the child @name of @parent (the tree takes a reference).
 * QEMU's message if @parent already has a property @name.
 */
bool object_property_try_add_child(Object *parent, const char *name,
                                   Object *child, Error **errp);
/* Remove @obj from its parent (dropping the tree's reference). */
void object_unparent(Object *obj);

/* The child of @parent called @part, or NULL. */
Object *object_resolve_path_component(Object *parent, const char *part);
/*
 * Resolve "/a/b" from the root, or a partial path "a/b" that must match
 * exactly one place in the tree (*@ambiguous, if not NULL, tells a path
 * that matched several).  Empty components are ignored.
 */
Object *object_resolve_path(const char *path, bool *ambiguous);

char *object_get_canonical_path(const Object *obj);
const char *object_get_typename(const Object *obj);
/* @obj if it is of type @typename, else NULL. */
Object *object_dynamic_cast(Object *obj, const char *typename);

/* Call @fn for each child, in order, until it returns non-zero. */
int object_child_foreach(Object *obj, int (*fn)(Object *child, void *opaque),
                         void *opaque);

/* ---- properties ---- */

/*
 * Every property of @obj, "type" first, then the type's table, then the
 * children (type "child<TYPE>"): @fn gets name, type and description.
 */
void object_property_foreach(Object *obj,
                             void (*fn)(const char *name, const char *type,
                                        const char *description,
                                        void *opaque),
                             void *opaque);
json_t *object_property_get(Object *obj, const char *name, Error **errp);
bool object_property_set(Object *obj, const char *name, json_t *value,
                         Error **errp);

/*
 * Helpers for property tables: read @value with the QMP input visitor
 * (messages name the property), and JSON for a string that may be NULL.
 */
bool object_property_parse_int(const ObjectProperty *prop, json_t *value,
                               int64_t *out, Error **errp);
bool object_property_parse_str(const ObjectProperty *prop, json_t *value,
                               char **out, Error **errp);
json_t *object_property_str_value(const char *str);

/* ---- user-creatable objects (--object, object-add, object-del) ---- */

/*
 * Create the object @options describes as /objects/<id>, with QEMU's
 * checks and messages.
 */
bool user_creatable_add_qapi(ObjectOptions *options, Error **errp);

/*
 * --object's argument, keyval ("secret,id=s0,data=x") or JSON
 * ("{'qom-type': ...}").  "help", "TYPE,help" print what may be created
 * or a type's options and return false with @errp unset; an error returns
 * false with @errp set.
 */
bool user_creatable_add_from_str(const char *str, Error **errp);

/*
 * --object for the tools and the daemon: as above, but an error is
 * reported and the program exits with status 1, and help exits with 0.
 */
void user_creatable_process_cmdline(const char *optarg);

/*
 * Print the types --object may create (@type NULL or unknown) or the
 * options of @type; returns true.
 */
bool user_creatable_print_help(const char *type);

/* object-del: remove /objects/<id> unless it is in use. */
bool user_creatable_del(const char *id, Error **errp);

/* Delete every user-created object (at exit). */
void user_creatable_cleanup(void);

#endif

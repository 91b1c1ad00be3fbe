/*
 * User-creatable objects: --object (keyval or JSON) and object-add create
 * them under /objects with QEMU's checks and messages; object-del and the
 * exit path remove them.
 */
#include "strata/osdep.h"
#include "qom/object.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-input-visitor.h"
#include "util/cutils.h"
#include "util/keyval.h"
#include "util/qdict.h"

bool user_creatable_add_qapi(ObjectOptions *options, Error **errp)
{
    const char *typename = ObjectType_str(options->qom_type);
    const ObjectTypeInfo *info;
    Object *obj;

    if (!id_wellformed(options->id)) {
        error_setg(errp, "Parameter 'id' expects an identifier");
        error_append_hint(errp, "Identifiers consist of letters, digits, "
                          "'-', '.', '_', starting with a letter.\n");
        return false;
    }
    info = object_type_by_name(typename);
    if (!info || !object_type_is_user_creatable(info)) {
        error_setg(errp, "invalid object type: %s", typename);
        return false;
    }

    /*
     * As in QEMU, the id is taken before the object is completed, so a
     * duplicate id is reported before anything about the options.
     */
    obj = object_new_with_type(info);
    if (!object_property_try_add_child(object_get_objects_root(),
                                       options->id, obj, errp)) {
        object_unref(obj);
        return false;
    }
    if (info->complete && !info->complete(obj, options, errp)) {
        object_unparent(obj);
        object_unref(obj);
        return false;
    }
    obj->completed = true;
    object_unref(obj);
    return true;
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The user-creatable types of this program, sorted by name. */
static GPtrArray *creatable_type_names(void)
{
    static const char *const names[] = {
        "iothread", "secret", "throttle-group",
    };
    GPtrArray *list = g_ptr_array_new();

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        const ObjectTypeInfo *info = object_type_by_name(names[i]);

        if (info && object_type_is_user_creatable(info)) {
            g_ptr_array_add(list, (char *)info->name);
        }
    }
    g_ptr_array_sort(list, compare_strings);
    return list;
}

/* "  name=<type>", and " - description" aligned as QEMU aligns it. */
static char *option_help_line(const ObjectProperty *p)
{
    GString *line = g_string_new(NULL);

    g_string_append_printf(line, "  %s=<%s>", p->name, p->type);
    if (p->description) {
        if (line->len < 24) {
            g_string_append_printf(line, "%*s", 24 - (int)line->len, "");
        }
        g_string_append_printf(line, " - %s", p->description);
    }
    return g_string_free(line, false);
}

bool user_creatable_print_help(const char *type)
{
    const ObjectTypeInfo *info = type ? object_type_by_name(type) : NULL;

    if (info && object_type_is_user_creatable(info)) {
        g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

        /* Only what can be set is an option. */
        for (const ObjectProperty *p = info->properties; p && p->name; p++) {
            if (p->set) {
                g_ptr_array_add(lines, option_help_line(p));
            }
        }
        g_ptr_array_sort(lines, compare_strings);
        if (lines->len) {
            printf("%s options:\n", type);
        } else {
            printf("There are no options for %s.\n", type);
        }
        for (guint i = 0; i < lines->len; i++) {
            printf("%s\n", (char *)g_ptr_array_index(lines, i));
        }
    } else {
        g_autoptr(GPtrArray) names = creatable_type_names();

        printf("List of user creatable objects:\n");
        for (guint i = 0; i < names->len; i++) {
            printf("  %s\n", (char *)g_ptr_array_index(names, i));
        }
    }
    return true;
}

bool user_creatable_add_from_str(const char *str, Error **errp)
{
    g_autoptr(json_t) args = NULL;
    ObjectOptions *options = NULL;
    Error *local_err = NULL;
    bool help = false;
    Visitor *v;
    bool ok;

    if (str[0] == '{') {
        /* JSON is taken as it is: no help, typed values. */
        args = qobject_from_json(str, errp);
        if (!args) {
            return false;
        }
        v = qobject_input_visitor_new(args);
    } else {
        args = keyval_parse(str, "qom-type", &help, errp);
        if (!args) {
            return false;
        }
        if (help) {
            user_creatable_print_help(qdict_get_try_str(args, "qom-type"));
            return false;
        }
        v = qobject_input_visitor_new_keyval(args);
    }
    visit_type_ObjectOptions(v, NULL, &options, &local_err);
    visit_free(v);
    if (local_err) {
        error_propagate(errp, local_err);
        return false;
    }
    ok = user_creatable_add_qapi(options, errp);
    qapi_free_ObjectOptions(options);
    return ok;
}

void user_creatable_process_cmdline(const char *optarg)
{
    Error *err = NULL;

    if (!user_creatable_add_from_str(optarg, &err)) {
        if (err) {
            error_report_err(err);
            exit(EXIT_FAILURE);
        }
        /* Help was printed. */
        exit(EXIT_SUCCESS);
    }
}

bool user_creatable_del(const char *id, Error **errp)
{
    Object *obj = object_resolve_path_component(object_get_objects_root(),
                                                id);

    if (!obj) {
        error_setg(errp, "object '%s' not found", id);
        return false;
    }
    if (obj->type->can_be_deleted && !obj->type->can_be_deleted(obj)) {
        error_setg(errp, "object '%s' is in use, can not be deleted", id);
        return false;
    }
    object_unparent(obj);
    return true;
}

void user_creatable_cleanup(void)
{
    Object *objects = object_resolve_path_component(object_get_root(),
                                                    "objects");

    if (objects) {
        object_unparent(objects);
    }
}

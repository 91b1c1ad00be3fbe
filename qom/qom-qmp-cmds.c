/*
 * QMP commands on objects: object-add, object-del, qom-list, qom-get and
 * qom-set, answering as qemu-storage-daemon 7.2 does.
 */
#include "strata/osdep.h"
#include "qom/object.h"
#include "qapi/qapi-commands.h"

void qmp_object_add(ObjectOptions *arg, Error **errp)
{
    user_creatable_add_qapi(arg, errp);
}

void qmp_object_del(const char *id, Error **errp)
{
    user_creatable_del(id, errp);
}

static void add_property_info(const char *name, const char *type,
                              const char *description, void *opaque)
{
    ObjectPropertyInfoList ***tail = opaque;
    ObjectPropertyInfo *info = g_new0(ObjectPropertyInfo, 1);
    ObjectPropertyInfoList *elem = g_new0(ObjectPropertyInfoList, 1);

    info->name = g_strdup(name);
    info->type = g_strdup(type);
    if (description) {
        info->has_description = true;
        info->description = g_strdup(description);
    }
    elem->value = info;
    **tail = elem;
    *tail = &elem->next;
}

ObjectPropertyInfoList *qmp_qom_list(const char *path, Error **errp)
{
    ObjectPropertyInfoList *head = NULL, **tail = &head;
    bool ambiguous = false;
    Object *obj = object_resolve_path(path, &ambiguous);

    if (!obj) {
        if (ambiguous) {
            error_setg(errp, "Path '%s' is ambiguous", path);
        } else {
            error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                      "Device '%s' not found", path);
        }
        return NULL;
    }
    object_property_foreach(obj, add_property_info, &tail);
    return head;
}

/* qom-get and qom-set report an ambiguous path as not found, as QEMU. */
static Object *find_object(const char *path, Error **errp)
{
    Object *obj = object_resolve_path(path, NULL);

    if (!obj) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "Device '%s' not found", path);
    }
    return obj;
}

json_t *qmp_qom_get(const char *path, const char *property, Error **errp)
{
    Object *obj = find_object(path, errp);

    return obj ? object_property_get(obj, property, errp) : NULL;
}

void qmp_qom_set(const char *path, const char *property, json_t *value,
                 Error **errp)
{
    Object *obj = find_object(path, errp);

    if (obj) {
        object_property_set(obj, property, value, errp);
    }
}

/*
 * The object types built into Strata, for the registry in qom/object.c.
 * Each is defined next to the code it belongs to.
 */
#ifndef QOM_TYPES_H
#define QOM_TYPES_H

#include "qom/object.h"

extern const ObjectTypeInfo iothread_type_info;        /* qom/iothread.c */
extern const ObjectTypeInfo secret_type_info;          /* crypto/secret.c */
extern const ObjectTypeInfo throttle_group_type_info;  /* block/throttle-groups.c */

#endif

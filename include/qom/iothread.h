/*
 * iothread objects.  Strata runs all I/O in the main loop today, so an
 * iothread records its settings (readable and writable with qom-get and
 * qom-set, as QEMU's) and runs no thread of its own.
 */
#ifndef QOM_IOTHREAD_H
#define QOM_IOTHREAD_H

#include "qom/object.h"

/* The iothread object /objects/<id>, or NULL if there is none. */
Object *iothread_by_id(const char *id);

#endif

/*
 * Deallocation visitor: frees a QAPI value, including partly built ones
 * an input visitor gave up on.  qapi_free_<Type>() uses it.
 */
#ifndef QAPI_DEALLOC_VISITOR_H
#define QAPI_DEALLOC_VISITOR_H

#include "qapi/visitor.h"

Visitor *qapi_dealloc_visitor_new(void);

#endif

/*
 * Output visitor: JSON from QAPI values, members in schema order,
 * optional members left out when absent.
 */
#ifndef QAPI_QOBJECT_OUTPUT_VISITOR_H
#define QAPI_QOBJECT_OUTPUT_VISITOR_H

#include <jansson.h>

#include "qapi/visitor.h"

/*
 * A visitor producing one JSON value.  After the visit, call
 * visit_complete(v, result) with the same @result to store a new
 * reference to the value in *@result.
 *
 * Limits of the JSON library: 'uint64' and 'size' values above INT64_MAX
 * come out as negative integers (they read back as the same value), and
 * 'number' values that are not finite come out as null.
 */
Visitor *qobject_output_visitor_new(json_t **result);

#endif

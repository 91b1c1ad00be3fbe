/*
 * Input visitors: build QAPI values from JSON, either as QMP sends it
 * (typed values) or as keyval_parse() produces it from the command line
 * (every scalar a string).
 */
#ifndef QAPI_QOBJECT_INPUT_VISITOR_H
#define QAPI_QOBJECT_INPUT_VISITOR_H

#include <jansson.h>

#include "qapi/visitor.h"

/*
 * A visitor reading @obj (it takes its own reference).  Errors are worded
 * as QEMU 7.2's, naming members by their dotted path from the top
 * ("file.filename", "inject-error[0].errno"):
 *
 *   Parameter 'x' is missing
 *   Parameter 'x' is unexpected
 *   Invalid parameter type for 'x', expected: integer
 *       (or number, string, boolean, object, array, null)
 *   Parameter 'x' expects uint64          (unsigned: not an integer)
 *   Parameter 'x' expects uint8_t         (out of range; also int8_t ...)
 *   Parameter 'x' does not accept value 'y'               (enums)
 *   Invalid parameter type for 'x', expected: AlternateName
 *
 * The last three name only the member, not its path, as QEMU does.
 */
Visitor *qobject_input_visitor_new(json_t *obj);

/* The same, for QMP command arguments. */
Visitor *qobject_input_visitor_new_qmp(json_t *obj);

/*
 * A visitor for keyval_parse() output: scalars are strings and are
 * converted as the command line does ("on"/"off" and the other words
 * parse_option_bool() takes for booleans, any base for integers, size
 * suffixes for 'size'), with QEMU's messages:
 *
 *   Parameter 'x' expects integer
 *   Parameter 'x' expects 'on' or 'off'
 *   Parameter 'x' expects size
 *   Invalid parameter type for 'x', expected: number
 *   Parameters 'x.*' are unexpected     (an object where a scalar goes)
 *
 * List elements are named "list.0", "list.1" ... in messages.
 */
Visitor *qobject_input_visitor_new_keyval(json_t *obj);

/*
 * Parse an option argument the way --blockdev and --object take it: JSON
 * if @str starts with '{', else keyval with @implied_key (which may be
 * NULL).  Returns the matching visitor, or NULL with the parse error.
 */
Visitor *qobject_input_visitor_new_str(const char *str,
                                       const char *implied_key,
                                       Error **errp);

#endif

/*
 * Small run-time pieces the generated QAPI code relies on: enum string
 * tables, the special-feature bits, and the value of the 'null' type.
 */
#ifndef QAPI_UTIL_H
#define QAPI_UTIL_H

#include <jansson.h>

#include "strata/osdep.h"
#include "util/error.h"

/* Features with a meaning to the run-time (bit numbers). */
typedef enum {
    QAPI_DEPRECATED,
    QAPI_UNSTABLE,
} QapiSpecialFeature;

/*
 * The string table of an enum: @array[value] is the name of value, for
 * 0 <= value < @size.  @special_features, if not NULL, holds each value's
 * QapiSpecialFeature bits.
 */
typedef struct QEnumLookup {
    const char *const *array;
    const unsigned char *const special_features;
    const int size;
} QEnumLookup;

/* The name of @val; @val must be in range. */
const char *qapi_enum_lookup(const QEnumLookup *lookup, int val);

/*
 * The value named @buf, or @def if @buf is NULL.  An unknown name gives
 * @def and the error "invalid parameter value: NAME".
 */
int qapi_enum_parse(const QEnumLookup *lookup, const char *buf, int def,
                    Error **errp);

/*
 * The keys of JSON object @obj (borrowed) in the order QEMU's QDict
 * iterates over them, for messages that depend on it, such as which of
 * several unexpected members QEMU reports.
 */
GPtrArray *qapi_object_keys_qemu_order(const json_t *obj);

/*
 * List helpers for the generated FooList types (each has 'next' and
 * 'value').  QAPI_LIST_PREPEND(list, value) adds an element in front;
 * QAPI_LIST_APPEND(tail, value) adds one at *tail, where tail starts as
 * &list, and advances tail.
 */
#define QAPI_LIST_PREPEND(list, element) do {           \
        typeof(list) _qapi_tmp = g_malloc(sizeof(*(list))); \
        _qapi_tmp->value = (element);                   \
        _qapi_tmp->next = (list);                       \
        (list) = _qapi_tmp;                             \
    } while (0)

#define QAPI_LIST_APPEND(tail, element) do {            \
        *(tail) = g_malloc0(sizeof(**(tail)));          \
        (*(tail))->value = (element);                   \
        (tail) = &(*(tail))->next;                      \
    } while (0)

/*
 * The C value of the schema's 'null' type.  There is only one, and it
 * needs no freeing.
 */
typedef struct QNull QNull;
QNull *qnull(void);

#endif

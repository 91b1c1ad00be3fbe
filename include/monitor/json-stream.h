/*
 * Splitting a byte stream (a QMP connection) into JSON values: brace and
 * bracket counting outside strings, with QEMU's size and nesting limits.
 */
#ifndef MONITOR_JSON_STREAM_H
#define MONITOR_JSON_STREAM_H

#include "strata/osdep.h"
#include <jansson.h>

/* @value (new reference) or, for malformed input, @err (to be freed). */
typedef void JsonStreamFunc(void *opaque, json_t *value, Error *err);

typedef struct JsonStream {
    GString *buf;
    int depth;
    bool in_string;
    char quote;
    bool escape;
    bool in_scalar;     /* a bare token at top level */
    JsonStreamFunc *emit;
    void *opaque;
} JsonStream;

#define JSON_STREAM_MAX_SIZE (64 * MiB)
#define JSON_STREAM_MAX_NESTING 1024

void json_stream_init(JsonStream *js, JsonStreamFunc *emit, void *opaque);
void json_stream_feed(JsonStream *js, const uint8_t *buf, size_t len);
/* Forget any partial value (new connection, or 0xff reset byte). */
void json_stream_reset(JsonStream *js);
void json_stream_destroy(JsonStream *js);

#endif

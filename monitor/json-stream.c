/*
 * Incremental splitting of JSON text into values for the QMP monitor;
 * each complete value is parsed with QEMU's JSON dialect.
 */
#include "strata/osdep.h"
#include "monitor/json-stream.h"
#include "util/error.h"
#include "util/qdict.h"

void json_stream_init(JsonStream *js, JsonStreamFunc *emit, void *opaque)
{
    memset(js, 0, sizeof(*js));
    js->buf = g_string_new(NULL);
    js->emit = emit;
    js->opaque = opaque;
}

void json_stream_reset(JsonStream *js)
{
    g_string_truncate(js->buf, 0);
    js->depth = 0;
    js->in_string = false;
    js->escape = false;
    js->in_scalar = false;
}

void json_stream_destroy(JsonStream *js)
{
    g_string_free(js->buf, true);
    js->buf = NULL;
}

static void emit_buffer(JsonStream *js)
{
    Error *err = NULL;
    json_t *value;
    g_autofree char *text = g_strndup(js->buf->str, js->buf->len);

    json_stream_reset(js);
    value = qobject_from_json(text, &err);
    js->emit(js->opaque, value, err);
}

static void emit_error(JsonStream *js, const char *msg)
{
    Error *err = NULL;

    json_stream_reset(js);
    error_setg(&err, "%s", msg);
    js->emit(js->opaque, NULL, err);
}

void json_stream_feed(JsonStream *js, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];

        if (c == 0xff) {
            /* Clients send 0xff to resynchronise the parser. */
            json_stream_reset(js);
            continue;
        }
        if (js->in_string) {
            g_string_append_c(js->buf, c);
            if (js->escape) {
                js->escape = false;
            } else if (c == '\\') {
                js->escape = true;
            } else if (c == js->quote) {
                js->in_string = false;
                if (js->depth == 0) {
                    emit_buffer(js);
                }
            }
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (js->in_scalar) {
                emit_buffer(js);
            } else if (js->depth > 0) {
                g_string_append_c(js->buf, c);
            }
            continue;
        } else if (c == '"' || c == '\'') {
            if (js->in_scalar) {
                emit_buffer(js);
            }
            js->in_string = true;
            js->quote = c;
            g_string_append_c(js->buf, c);
        } else if (c == '{' || c == '[') {
            if (js->in_scalar) {
                emit_buffer(js);
            }
            if (++js->depth > JSON_STREAM_MAX_NESTING) {
                emit_error(js, "JSON nesting depth limit exceeded");
                continue;
            }
            g_string_append_c(js->buf, c);
        } else if (c == '}' || c == ']') {
            if (js->in_scalar) {
                emit_buffer(js);
            }
            g_string_append_c(js->buf, c);
            if (js->depth == 0) {
                emit_buffer(js);    /* a stray closing bracket */
                continue;
            }
            if (--js->depth == 0) {
                emit_buffer(js);
            }
        } else {
            g_string_append_c(js->buf, c);
            if (js->depth == 0) {
                js->in_scalar = true;
            }
        }
        if (js->buf->len > JSON_STREAM_MAX_SIZE) {
            emit_error(js, "JSON token size limit exceeded");
        }
    }
}

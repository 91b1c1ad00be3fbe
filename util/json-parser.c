/*
 * The JSON parser: the tokens of one value (from the streamer) to a
 * jansson value, with QEMU 7.2's error messages.  Only the first error
 * counts.  Integers that fit in int64 become integers; larger ones and
 * numbers with a fraction or exponent become reals.
 */
#include "strata/osdep.h"
#include "util/json-parser.h"
#include "util/unicode.h"
#include <float.h>
#include <math.h>

typedef struct JSONParserContext {
    GQueue *tokens;
    JSONToken *current;     /* the last token popped (freed on the next) */
    Error *err;
} JSONParserContext;

static json_t *parse_value(JSONParserContext *ctxt);

static void G_GNUC_PRINTF(2, 3)
parse_error(JSONParserContext *ctxt, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    if (ctxt->err) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(&ctxt->err, "JSON parse error, %s", msg);
}

static JSONToken *pop_token(JSONParserContext *ctxt)
{
    g_free(ctxt->current);
    ctxt->current = g_queue_pop_head(ctxt->tokens);
    return ctxt->current;
}

static JSONToken *peek_token(JSONParserContext *ctxt)
{
    return g_queue_peek_head(ctxt->tokens);
}

static int hex4(const char *s)
{
    int cp = 0;

    for (int i = 0; i < 4; i++) {
        if (!g_ascii_isxdigit(s[i])) {
            return -1;
        }
        cp = (cp << 4) | g_ascii_xdigit_value(s[i]);
    }
    return cp;
}

/* A string token (with its quotes) to modified UTF-8. */
static json_t *parse_string(JSONParserContext *ctxt, JSONToken *token)
{
    const char *p = token->str;
    const char *end = token->str + token->len - 1;    /* closing quote */
    g_autoptr(GString) str = g_string_sized_new(token->len);
    char utf8[5];

    p++;
    while (p < end) {
        if (*p == '\\') {
            const char *beg = p++;
            int cp;

            switch (*p++) {
            case '"':
                g_string_append_c(str, '"');
                break;
            case '\'':
                g_string_append_c(str, '\'');
                break;
            case '\\':
                g_string_append_c(str, '\\');
                break;
            case '/':
                g_string_append_c(str, '/');
                break;
            case 'b':
                g_string_append_c(str, '\b');
                break;
            case 'f':
                g_string_append_c(str, '\f');
                break;
            case 'n':
                g_string_append_c(str, '\n');
                break;
            case 'r':
                g_string_append_c(str, '\r');
                break;
            case 't':
                g_string_append_c(str, '\t');
                break;
            case 'u':
                /* hex4() stops at the closing quote if the token ends. */
                cp = hex4(p);
                p += 4;
                /* A leading surrogate needs its trailing one. */
                if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 &&
                    p[0] == '\\' && p[1] == 'u') {
                    int trailing = hex4(p + 2);

                    if (trailing >= 0xDC00 && trailing <= 0xDFFF) {
                        cp = 0x10000 + ((cp & 0x3FF) << 10) +
                             (trailing & 0x3FF);
                        p += 6;
                    } else {
                        cp = -1;
                    }
                }
                if (mod_utf8_encode(utf8, cp) < 0) {
                    /* %.*s stops at the token's end, as in QEMU. */
                    parse_error(ctxt, "%.*s is not a valid Unicode character",
                                (int)(p - beg), beg);
                    return NULL;
                }
                g_string_append(str, utf8);
                break;
            default:
                parse_error(ctxt, "invalid escape sequence in string");
                return NULL;
            }
        } else {
            size_t used;
            int32_t cp = mod_utf8_codepoint((const unsigned char *)p,
                                            end - p, &used);

            if (cp < 0) {
                parse_error(ctxt, "invalid UTF-8 sequence in string");
                return NULL;
            }
            /* Re-encode: a raw C0 80 stays, everything else is as given. */
            mod_utf8_encode(utf8, cp);
            g_string_append(str, utf8);
            p += used;
        }
    }
    return json_stringn_nocheck(str->str, str->len);
}

static json_t *parse_number(JSONParserContext *ctxt, JSONToken *token)
{
    double d;

    if (token->type == JSON_TOK_INTEGER) {
        int64_t n;

        errno = 0;
        n = strtoll(token->str, NULL, 10);
        if (errno != ERANGE) {
            return json_integer(n);
        }
        /* Beyond int64: QEMU keeps uint64 exactly; we have a double. */
    }
    d = strtod(token->str, NULL);
    if (!isfinite(d)) {
        /* QEMU keeps infinity; jansson cannot: the nearest finite value. */
        d = copysign(DBL_MAX, d);
    }
    return json_real(d);
}

static json_t *parse_keyword(JSONParserContext *ctxt)
{
    JSONToken *token = pop_token(ctxt);

    if (!strcmp(token->str, "true")) {
        return json_true();
    }
    if (!strcmp(token->str, "false")) {
        return json_false();
    }
    if (!strcmp(token->str, "null")) {
        return json_null();
    }
    parse_error(ctxt, "invalid keyword '%s'", token->str);
    return NULL;
}

static int parse_pair(JSONParserContext *ctxt, json_t *dict)
{
    JSONToken *peek = peek_token(ctxt);
    JSONToken *token;
    json_t *key;
    json_t *value;

    if (!peek) {
        parse_error(ctxt, "premature EOI");
        return -1;
    }
    key = parse_value(ctxt);
    if (!key || !json_is_string(key)) {
        json_decref(key);
        parse_error(ctxt, "key is not a string in object");
        return -1;
    }
    token = pop_token(ctxt);
    if (!token) {
        json_decref(key);
        parse_error(ctxt, "premature EOI");
        return -1;
    }
    if (token->type != JSON_TOK_COLON) {
        json_decref(key);
        parse_error(ctxt, "missing : in object pair");
        return -1;
    }
    value = parse_value(ctxt);
    if (!value) {
        json_decref(key);
        parse_error(ctxt, "Missing value in dict");
        return -1;
    }
    if (json_object_get(dict, json_string_value(key))) {
        json_decref(key);
        json_decref(value);
        parse_error(ctxt, "duplicate key");
        return -1;
    }
    json_object_set_new_nocheck(dict, json_string_value(key), value);
    json_decref(key);
    return 0;
}

static json_t *parse_object(JSONParserContext *ctxt)
{
    json_t *dict = json_object();
    JSONToken *token;

    pop_token(ctxt);    /* { */
    token = peek_token(ctxt);
    if (!token) {
        parse_error(ctxt, "premature EOI");
        goto fail;
    }
    if (token->type == JSON_TOK_RCURLY) {
        pop_token(ctxt);
        return dict;
    }
    if (parse_pair(ctxt, dict) < 0) {
        goto fail;
    }
    for (;;) {
        token = pop_token(ctxt);
        if (!token) {
            parse_error(ctxt, "premature EOI");
            goto fail;
        }
        if (token->type == JSON_TOK_RCURLY) {
            return dict;
        }
        if (token->type != JSON_TOK_COMMA) {
            parse_error(ctxt, "expected separator in dict");
            goto fail;
        }
        if (parse_pair(ctxt, dict) < 0) {
            goto fail;
        }
    }

fail:
    json_decref(dict);
    return NULL;
}

static json_t *parse_array(JSONParserContext *ctxt)
{
    json_t *list = json_array();
    JSONToken *token;
    json_t *value;

    pop_token(ctxt);    /* [ */
    token = peek_token(ctxt);
    if (!token) {
        parse_error(ctxt, "premature EOI");
        goto fail;
    }
    if (token->type == JSON_TOK_RSQUARE) {
        pop_token(ctxt);
        return list;
    }
    value = parse_value(ctxt);
    if (!value) {
        parse_error(ctxt, "expecting value");
        goto fail;
    }
    json_array_append_new(list, value);
    for (;;) {
        token = pop_token(ctxt);
        if (!token) {
            parse_error(ctxt, "premature EOI");
            goto fail;
        }
        if (token->type == JSON_TOK_RSQUARE) {
            return list;
        }
        if (token->type != JSON_TOK_COMMA) {
            parse_error(ctxt, "expected separator in list");
            goto fail;
        }
        value = parse_value(ctxt);
        if (!value) {
            parse_error(ctxt, "expecting value");
            goto fail;
        }
        json_array_append_new(list, value);
    }

fail:
    json_decref(list);
    return NULL;
}

static json_t *parse_value(JSONParserContext *ctxt)
{
    JSONToken *token = peek_token(ctxt);

    if (!token) {
        parse_error(ctxt, "premature EOI");
        return NULL;
    }
    switch (token->type) {
    case JSON_TOK_LCURLY:
        return parse_object(ctxt);
    case JSON_TOK_LSQUARE:
        return parse_array(ctxt);
    case JSON_TOK_STRING:
        return parse_string(ctxt, pop_token(ctxt));
    case JSON_TOK_INTEGER:
    case JSON_TOK_FLOAT:
        return parse_number(ctxt, pop_token(ctxt));
    case JSON_TOK_KEYWORD:
        return parse_keyword(ctxt);
    default:
        parse_error(ctxt, "expecting value");
        return NULL;
    }
}

json_t *json_parser_parse(GQueue *tokens, Error **errp)
{
    JSONParserContext ctxt = { .tokens = tokens };
    json_t *result = parse_value(&ctxt);

    if (ctxt.err) {
        json_decref(result);
        result = NULL;
    }
    error_propagate(errp, ctxt.err);
    while (!g_queue_is_empty(tokens)) {
        pop_token(&ctxt);
    }
    g_free(ctxt.current);
    return result;
}

/*
 * QEMU's JSON dialect, read exactly as QEMU 7.2 reads it: a lexer that
 * splits bytes into tokens (single-quoted strings allowed, error recovery
 * at the next structural or control character), a streamer that cuts the
 * token stream into top-level values (with QEMU's size, count and nesting
 * limits) and a parser that turns one value's tokens into a jansson value
 * with QEMU's error messages.  QMP monitors feed connections through it;
 * qobject_from_json() uses it for json: filenames and JSON options.
 *
 * Strings come out in modified UTF-8 (U+0000 as C0 80), as in QEMU.
 */
#ifndef UTIL_JSON_PARSER_H
#define UTIL_JSON_PARSER_H

#include "strata/osdep.h"
#include "util/error.h"
#include <jansson.h>

typedef enum JSONTokenType {
    JSON_TOK_ERROR = 0,
    JSON_TOK_LCURLY,
    JSON_TOK_RCURLY,
    JSON_TOK_LSQUARE,
    JSON_TOK_RSQUARE,
    JSON_TOK_COLON,
    JSON_TOK_COMMA,
    JSON_TOK_INTEGER,
    JSON_TOK_FLOAT,
    JSON_TOK_KEYWORD,
    JSON_TOK_STRING,
    JSON_TOK_END_OF_INPUT,
    /* A token cut off at the size limit (never reaches the parser). */
    JSON_TOK_TOO_LONG,
} JSONTokenType;

typedef struct JSONToken {
    JSONTokenType type;
    size_t len;
    char str[];             /* the token's text, NUL-terminated */
} JSONToken;

/* Limits on one top-level value (as QEMU's). */
#define JSON_MAX_TOKEN_SIZE (64ULL << 20)
#define JSON_MAX_TOKEN_COUNT (2ULL << 20)
#define JSON_MAX_NESTING 1024

typedef struct JSONLexer {
    int state;
    GString *token;
} JSONLexer;

/* Receives each complete value, or the error that ended one. */
typedef void JSONMessageFunc(void *opaque, json_t *value, Error *err);

typedef struct JSONMessageParser {
    JSONLexer lexer;
    GQueue tokens;
    int brace_count;
    int bracket_count;
    uint64_t token_size;
    JSONMessageFunc *emit;
    void *opaque;
} JSONMessageParser;

void json_message_parser_init(JSONMessageParser *parser,
                              JSONMessageFunc *emit, void *opaque);
/* Feed bytes; complete values (and errors) are emitted as they end. */
void json_message_parser_feed(JSONMessageParser *parser, const char *buf,
                              size_t len);
/* End of input: finish (or reject) a pending token and value. */
void json_message_parser_flush(JSONMessageParser *parser);
/* Drop pending input (a new connection starts clean). */
void json_message_parser_reset(JSONMessageParser *parser);
void json_message_parser_destroy(JSONMessageParser *parser);

/* Parse the tokens of exactly one value (consumed: the queue ends empty). */
json_t *json_parser_parse(GQueue *tokens, Error **errp);

/* For the streamer: the lexer's output. */
void json_lexer_init(JSONLexer *lexer);
void json_lexer_feed(JSONLexer *lexer, const char *buf, size_t len,
                     JSONMessageParser *parser);
void json_lexer_flush(JSONLexer *lexer, JSONMessageParser *parser);
void json_lexer_destroy(JSONLexer *lexer);
void json_message_process_token(JSONMessageParser *parser, GString *input,
                                JSONTokenType type);

#endif

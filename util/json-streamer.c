/*
 * The JSON streamer: collects tokens until they form one top-level value
 * (brackets balanced, or a scalar alone), then parses and emits it.  An
 * error token, a stray closing bracket or a limit ends the value at once:
 * the error is emitted and what was collected is dropped.
 */
#include "strata/osdep.h"
#include "util/json-parser.h"

static void free_tokens(JSONMessageParser *parser)
{
    JSONToken *token;

    while ((token = g_queue_pop_head(&parser->tokens))) {
        g_free(token);
    }
}

static void parser_emit(JSONMessageParser *parser, json_t *value, Error *err)
{
    parser->brace_count = 0;
    parser->bracket_count = 0;
    free_tokens(parser);
    parser->token_size = 0;
    parser->emit(parser->opaque, value, err);
}

void json_message_process_token(JSONMessageParser *parser, GString *input,
                                JSONTokenType type)
{
    Error *err = NULL;
    JSONToken *token;
    json_t *value;

    switch (type) {
    case JSON_TOK_LCURLY:
        parser->brace_count++;
        break;
    case JSON_TOK_RCURLY:
        parser->brace_count--;
        break;
    case JSON_TOK_LSQUARE:
        parser->bracket_count++;
        break;
    case JSON_TOK_RSQUARE:
        parser->bracket_count--;
        break;
    case JSON_TOK_ERROR:
        error_setg(&err, "JSON parse error, stray '%s'", input->str);
        parser_emit(parser, NULL, err);
        return;
    case JSON_TOK_END_OF_INPUT:
        if (g_queue_is_empty(&parser->tokens)) {
            return;
        }
        value = json_parser_parse(&parser->tokens, &err);
        parser_emit(parser, value, err);
        return;
    default:
        break;
    }

    /* Bound the memory and the recursion one value can cost us. */
    if (parser->token_size + input->len + 1 > JSON_MAX_TOKEN_SIZE) {
        error_setg(&err, "JSON token size limit exceeded");
        parser_emit(parser, NULL, err);
        return;
    }
    if (g_queue_get_length(&parser->tokens) + 1 > JSON_MAX_TOKEN_COUNT) {
        error_setg(&err, "JSON token count limit exceeded");
        parser_emit(parser, NULL, err);
        return;
    }
    if (parser->bracket_count + parser->brace_count > JSON_MAX_NESTING) {
        error_setg(&err, "JSON nesting depth limit exceeded");
        parser_emit(parser, NULL, err);
        return;
    }

    token = g_malloc(sizeof(*token) + input->len + 1);
    token->type = type;
    token->len = input->len;
    memcpy(token->str, input->str, input->len + 1);
    parser->token_size += input->len;
    g_queue_push_tail(&parser->tokens, token);

    if ((parser->brace_count > 0 || parser->bracket_count > 0) &&
        parser->brace_count >= 0 && parser->bracket_count >= 0) {
        return;     /* the value goes on */
    }
    value = json_parser_parse(&parser->tokens, &err);
    parser_emit(parser, value, err);
}

void json_message_parser_init(JSONMessageParser *parser,
                              JSONMessageFunc *emit, void *opaque)
{
    memset(parser, 0, sizeof(*parser));
    json_lexer_init(&parser->lexer);
    g_queue_init(&parser->tokens);
    parser->emit = emit;
    parser->opaque = opaque;
}

void json_message_parser_feed(JSONMessageParser *parser, const char *buf,
                              size_t len)
{
    json_lexer_feed(&parser->lexer, buf, len, parser);
}

void json_message_parser_flush(JSONMessageParser *parser)
{
    json_lexer_flush(&parser->lexer, parser);
    assert(g_queue_is_empty(&parser->tokens));
}

void json_message_parser_reset(JSONMessageParser *parser)
{
    JSONMessageFunc *emit = parser->emit;
    void *opaque = parser->opaque;

    json_message_parser_destroy(parser);
    json_message_parser_init(parser, emit, opaque);
}

void json_message_parser_destroy(JSONMessageParser *parser)
{
    json_lexer_destroy(&parser->lexer);
    free_tokens(parser);
}

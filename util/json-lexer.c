/*
 * The JSON lexer: bytes to tokens, with QEMU's dialect and its recovery
 * after an error (skip to the next structural or control character, so
 * that a client can resynchronise with a newline or a 0xff byte).
 *
 * Numbers follow RFC 8259; keywords are runs of lower-case letters (the
 * parser decides which are valid); strings may be double- or single-quoted,
 * escapes are checked by the parser.
 */
#include "strata/osdep.h"
#include "util/json-parser.h"

enum {
    LX_START,
    LX_RECOVERY,
    LX_DQ_STRING,
    LX_DQ_ESCAPE,
    LX_SQ_STRING,
    LX_SQ_ESCAPE,
    LX_ZERO,
    LX_SIGN,
    LX_DIGITS,
    LX_MANTISSA,
    LX_MANTISSA_DIGITS,
    LX_EXP_E,
    LX_EXP_SIGN,
    LX_EXP_DIGITS,
    LX_KEYWORD,
};

/* What a character does in a state. */
typedef enum {
    ACT_CONSUME,        /* append, go to next_state */
    ACT_SKIP,           /* ignore (whitespace between tokens, recovery) */
    ACT_TOKEN,          /* append, emit a token of type */
    ACT_TOKEN_BEFORE,   /* emit the token so far as type, then look again */
    ACT_ERROR,          /* append, emit an error token, recover */
    ACT_RESTART,        /* recovery ends: look at the character afresh */
} LexAction;

typedef struct LexStep {
    LexAction action;
    int next_state;
    JSONTokenType type;
} LexStep;

static inline LexStep consume(int state)
{
    return (LexStep) { ACT_CONSUME, state, 0 };
}

static inline LexStep token(JSONTokenType type)
{
    return (LexStep) { ACT_TOKEN, LX_START, type };
}

static inline LexStep token_before(JSONTokenType type)
{
    return (LexStep) { ACT_TOKEN_BEFORE, LX_START, type };
}

static const LexStep lex_error = { ACT_ERROR, LX_RECOVERY, JSON_TOK_ERROR };

static LexStep lex_step(int state, unsigned char c)
{
    bool digit = c >= '0' && c <= '9';

    switch (state) {
    case LX_START:
        switch (c) {
        case '"':
            return consume(LX_DQ_STRING);
        case '\'':
            return consume(LX_SQ_STRING);
        case '0':
            return consume(LX_ZERO);
        case '-':
            return consume(LX_SIGN);
        case '{':
            return token(JSON_TOK_LCURLY);
        case '}':
            return token(JSON_TOK_RCURLY);
        case '[':
            return token(JSON_TOK_LSQUARE);
        case ']':
            return token(JSON_TOK_RSQUARE);
        case ',':
            return token(JSON_TOK_COMMA);
        case ':':
            return token(JSON_TOK_COLON);
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            return (LexStep) { ACT_SKIP, LX_START, 0 };
        }
        if (c >= '1' && c <= '9') {
            return consume(LX_DIGITS);
        }
        if (c >= 'a' && c <= 'z') {
            return consume(LX_KEYWORD);
        }
        return lex_error;

    case LX_RECOVERY:
        /* Structural and control characters (and 0xfe/0xff) resync. */
        if ((c < 0x20 && c != '\t') || c >= 0xFE ||
            c == '[' || c == ']' || c == '{' || c == '}') {
            return (LexStep) { ACT_RESTART, LX_START, 0 };
        }
        return (LexStep) { ACT_SKIP, LX_RECOVERY, 0 };

    case LX_DQ_STRING:
    case LX_SQ_STRING:
        if (c == (state == LX_DQ_STRING ? '"' : '\'')) {
            return token(JSON_TOK_STRING);
        }
        if (c == '\\') {
            return consume(state == LX_DQ_STRING ? LX_DQ_ESCAPE
                                                 : LX_SQ_ESCAPE);
        }
        return c >= 0x20 && c < 0xFE ? consume(state) : lex_error;

    case LX_DQ_ESCAPE:
    case LX_SQ_ESCAPE:
        if (c >= 0x20 && c < 0xFE) {
            return consume(state == LX_DQ_ESCAPE ? LX_DQ_STRING
                                                 : LX_SQ_STRING);
        }
        return lex_error;

    case LX_ZERO:
        if (digit) {
            return lex_error;           /* no leading zeros */
        }
        if (c == '.') {
            return consume(LX_MANTISSA);
        }
        if (c == 'e' || c == 'E') {
            return consume(LX_EXP_E);
        }
        return token_before(JSON_TOK_INTEGER);

    case LX_SIGN:
        if (c == '0') {
            return consume(LX_ZERO);
        }
        return digit ? consume(LX_DIGITS) : lex_error;

    case LX_DIGITS:
        if (digit) {
            return consume(LX_DIGITS);
        }
        if (c == '.') {
            return consume(LX_MANTISSA);
        }
        if (c == 'e' || c == 'E') {
            return consume(LX_EXP_E);
        }
        return token_before(JSON_TOK_INTEGER);

    case LX_MANTISSA:
        return digit ? consume(LX_MANTISSA_DIGITS) : lex_error;

    case LX_MANTISSA_DIGITS:
        if (digit) {
            return consume(LX_MANTISSA_DIGITS);
        }
        if (c == 'e' || c == 'E') {
            return consume(LX_EXP_E);
        }
        return token_before(JSON_TOK_FLOAT);

    case LX_EXP_E:
        if (c == '-' || c == '+') {
            return consume(LX_EXP_SIGN);
        }
        return digit ? consume(LX_EXP_DIGITS) : lex_error;

    case LX_EXP_SIGN:
        return digit ? consume(LX_EXP_DIGITS) : lex_error;

    case LX_EXP_DIGITS:
        return digit ? consume(LX_EXP_DIGITS) : token_before(JSON_TOK_FLOAT);

    case LX_KEYWORD:
        return c >= 'a' && c <= 'z' ? consume(LX_KEYWORD)
                                    : token_before(JSON_TOK_KEYWORD);
    }
    g_assert_not_reached();
}

void json_lexer_init(JSONLexer *lexer)
{
    lexer->state = LX_START;
    lexer->token = g_string_sized_new(64);
}

/*
 * One character.  With @flush, @c is a stand-in for the end of input:
 * it finishes the pending token but is never part of one.
 */
static void lexer_feed_char(JSONLexer *lexer, unsigned char c, bool flush,
                            JSONMessageParser *parser)
{
    bool again;

    do {
        LexStep step = lex_step(lexer->state, c);

        again = false;
        switch (step.action) {
        case ACT_CONSUME:
            if (!flush) {
                g_string_append_c(lexer->token, c);
            }
            break;
        case ACT_SKIP:
            break;
        case ACT_TOKEN:
            if (!flush) {
                g_string_append_c(lexer->token, c);
            }
            json_message_process_token(parser, lexer->token, step.type);
            g_string_truncate(lexer->token, 0);
            break;
        case ACT_TOKEN_BEFORE:
            json_message_process_token(parser, lexer->token, step.type);
            g_string_truncate(lexer->token, 0);
            again = !flush;
            break;
        case ACT_ERROR:
            if (!flush) {
                g_string_append_c(lexer->token, c);
            }
            json_message_process_token(parser, lexer->token, JSON_TOK_ERROR);
            g_string_truncate(lexer->token, 0);
            break;
        case ACT_RESTART:
            again = !flush;
            break;
        }
        lexer->state = step.next_state;
    } while (again);

    /* No single token may grow without bound. */
    if (lexer->token->len > JSON_MAX_TOKEN_SIZE) {
        json_message_process_token(parser, lexer->token, JSON_TOK_TOO_LONG);
        g_string_truncate(lexer->token, 0);
        lexer->state = LX_START;
    }
}

void json_lexer_feed(JSONLexer *lexer, const char *buf, size_t len,
                     JSONMessageParser *parser)
{
    for (size_t i = 0; i < len; i++) {
        lexer_feed_char(lexer, buf[i], false, parser);
    }
}

void json_lexer_flush(JSONLexer *lexer, JSONMessageParser *parser)
{
    if (lexer->state != LX_START) {
        lexer_feed_char(lexer, 0, true, parser);
    }
    lexer->state = LX_START;
    g_string_truncate(lexer->token, 0);
    json_message_process_token(parser, lexer->token, JSON_TOK_END_OF_INPUT);
}

void json_lexer_destroy(JSONLexer *lexer)
{
    g_string_free(lexer->token, true);
    lexer->token = NULL;
}

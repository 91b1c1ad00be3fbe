/*
 * Modified UTF-8 decoding and encoding (see include/util/unicode.h).
 */
#include "strata/osdep.h"
#include "util/unicode.h"

static bool is_valid_codepoint(int32_t cp)
{
    if (cp < 0 || cp > 0x10FFFF) {
        return false;
    }
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) {
        return false;           /* noncharacters */
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        return false;           /* surrogates are not characters */
    }
    return true;
}

int32_t mod_utf8_codepoint(const unsigned char *s, size_t len, size_t *used)
{
    static const uint32_t min_for_length[] = {
        0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000,
    };
    unsigned char lead = s[0];
    int nbytes = 0;
    uint32_t cp;

    *used = 1;
    if (lead < 0x80) {
        return lead;
    }
    if (lead >= 0xFE || (lead & 0xC0) == 0x80) {
        return -1;              /* 0xFE/0xFF, or a stray continuation */
    }
    while (lead & (0x80 >> nbytes)) {
        nbytes++;
    }
    cp = lead & (0x7F >> nbytes);
    for (int i = 1; i < nbytes; i++) {
        if ((size_t)i >= len || (s[i] & 0xC0) != 0x80) {
            *used = i;
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *used = nbytes;

    if (cp == 0 && nbytes == 2) {
        return 0;               /* C0 80: the encoded NUL */
    }
    if (cp < min_for_length[nbytes] || !is_valid_codepoint(cp)) {
        return -1;
    }
    return cp;
}

int mod_utf8_encode(char buf[5], int32_t cp)
{
    if (cp == 0) {
        buf[0] = (char)0xC0;
        buf[1] = (char)0x80;
        buf[2] = 0;
        return 2;
    }
    if (!is_valid_codepoint(cp)) {
        return -1;
    }
    if (cp < 0x80) {
        buf[0] = cp;
        buf[1] = 0;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = 0xC0 | (cp >> 6);
        buf[1] = 0x80 | (cp & 0x3F);
        buf[2] = 0;
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = 0xE0 | (cp >> 12);
        buf[1] = 0x80 | ((cp >> 6) & 0x3F);
        buf[2] = 0x80 | (cp & 0x3F);
        buf[3] = 0;
        return 3;
    }
    buf[0] = 0xF0 | (cp >> 18);
    buf[1] = 0x80 | ((cp >> 12) & 0x3F);
    buf[2] = 0x80 | ((cp >> 6) & 0x3F);
    buf[3] = 0x80 | (cp & 0x3F);
    buf[4] = 0;
    return 4;
}

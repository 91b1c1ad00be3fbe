/*
 * QEMU's "modified UTF-8": UTF-8 in which U+0000 is the two bytes C0 80,
 * so that strings holding it stay NUL-terminated.  Used by the JSON
 * parser (which produces it) and writer (which prints it back as \u0000).
 */
#ifndef UTIL_UNICODE_H
#define UTIL_UNICODE_H

#include "strata/osdep.h"

/*
 * Decode one character from @s (@len bytes available).  Returns the code
 * point, or -1 for an ill-formed sequence, an overlong form (except C0 80),
 * a surrogate, a noncharacter or a value above U+10FFFF.  *@used is how
 * many bytes the character (or the ill-formed prefix) covers, at least 1.
 */
int32_t mod_utf8_codepoint(const unsigned char *s, size_t len, size_t *used);

/*
 * Encode @cp into @buf (NUL-terminated, at most 5 bytes with the NUL).
 * Returns the length, or -1 if @cp is not a valid character.
 */
int mod_utf8_encode(char buf[5], int32_t cp);

#endif

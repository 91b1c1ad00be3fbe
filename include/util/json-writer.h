/*
 * JSON text output byte-identical to QEMU 7.2's: QMP's compact form and the
 * pretty form of "qemu-img ... --output=json", from jansson values.
 */
#ifndef UTIL_JSON_WRITER_H
#define UTIL_JSON_WRITER_H

#include <jansson.h>

#include "strata/osdep.h"

/*
 * Layout and member order.
 *
 * Compact (the default) is what QMP sends: {"a": 1, "b": [1, 2]}, i.e.
 * ", " between items and ": " after keys, no other spaces.
 *
 * Pretty is what qemu-img prints for --output=json: one item per line,
 * indented by four spaces per level, closing brackets on their own line at
 * the indentation of the line that opened them.  Empty containers print as
 * "{" and "}" on separate lines ("{\n}", or "[\n    ]" when nested).
 *
 * Member order: QEMU keeps objects in a 512-bucket hash table and prints
 * them bucket by bucket, the most recently added member first within a
 * bucket.  Every JSON object QEMU prints (QMP replies and events,
 * qemu-img info/check/measure output, "json:" filenames) comes out in that
 * order, and so does ours by default, whatever order the members were
 * added in.  Callers that build objects in schema order therefore get
 * byte-identical output (members sharing a bucket come out in reverse
 * order of insertion, as in QEMU).  JSON_WRITER_INSERTION_ORDER prints
 * members in the jansson object's own (insertion) order instead, for
 * output QEMU does not produce.
 */
typedef enum JsonWriterFlags {
    JSON_WRITER_PRETTY = 1 << 0,
    JSON_WRITER_INSERTION_ORDER = 1 << 1,
} JsonWriterFlags;

/*
 * Scalars: integers print as %lld, reals as "%.17g" (like QEMU; note that
 * 0.1 prints as 0.10000000000000001, and inf/nan print as such, which is
 * not valid JSON, as in QEMU), true/false/null as keywords.
 *
 * Strings (and keys) are escaped as QEMU does: \" \\ \b \f \n \r \t,
 * other control characters, DEL and every non-ASCII character as \uXXXX
 * with upper-case hex digits (surrogate pairs beyond the BMP); '/' is not
 * escaped.  Each ill-formed UTF-8 sequence (including overlong forms,
 * surrogates, noncharacters such as U+FFFE and code points beyond
 * U+10FFFF) becomes one \uFFFD, except that the overlong pair C0 80 means
 * U+0000 (QEMU's "modified UTF-8").  Strings are read up to their jansson
 * length, so a raw NUL byte prints as \u0000.
 */

/* Format @v (any JSON value) into a newly allocated string. */
char *json_writer_format(json_t *v, unsigned flags);

/* Append the text for @v to @out. */
void json_writer_append(GString *out, json_t *v, unsigned flags);

/* Shorthand: QEMU-ordered output, compact or pretty.  Caller frees. */
char *json_to_string_qemu(json_t *v, bool pretty);

/* Append @len bytes of @str to @out as a quoted, escaped JSON string. */
void json_writer_append_quoted(GString *out, const char *str, size_t len);

/* QEMU's hash bucket (0..511) for an object key; exposed for tests. */
unsigned int json_writer_qemu_bucket(const char *key);

#endif

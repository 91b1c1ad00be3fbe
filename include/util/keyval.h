/*
 * Parsers for "key=value,..." option strings: QEMU's keyval syntax
 * (--blockdev, --object) into nested objects, and the flat QemuOpts form.
 */
#ifndef UTIL_KEYVAL_H
#define UTIL_KEYVAL_H

#include <jansson.h>

#include "strata/osdep.h"
#include "util/error.h"

/*
 * keyval syntax (QEMU's, for --blockdev and --object):
 *
 *   key-vals     = [ key-val { ',' key-val } [ ',' ] ]
 *   key-val      = key '=' val | 'help' | '?'
 *   key          = key-fragment { '.' key-fragment }
 *   key-fragment = QAPI name (letter, then letters, digits, '-', '_';
 *                  optionally after a "__RFQDN_" prefix) | index (digits,
 *                  not as the first fragment), at most 127 characters
 *   val          = any characters, with ',,' standing for one ','
 *
 * With @implied_key, the first key-val may be just a value without '='
 * or ',' ("qcow2,file.filename=x" means "driver=qcow2,..." for implied
 * key "driver").  Dotted keys build nested objects: "file.filename=x"
 * gives {"file": {"filename": "x"}}.  An object whose keys are all indexes
 * becomes an array in index order ("a.0=x,a.1=y" gives {"a": ["x", "y"]}).
 * Every leaf is a JSON string.  When a key repeats, the last value wins.
 *
 * "help" or "?" as an element (without '=') sets *@p_help; with @p_help
 * NULL it is an error ("Help is not available for this option").
 *
 * Errors, worded as QEMU 7.2's:
 *   "Invalid parameter '%s'"                   malformed key
 *   "Parameter '%s' is too long"               (or "Parameter fragment")
 *   "Expected '=' after parameter '%s'"
 *   "Parameters '%s.*' used inconsistently"    key both a value and a prefix,
 *                                              or indexes mixed with names
 *   "Parameter '%s' missing"                   gap in the indexes ("a.1")
 *
 * Returns a new reference, or NULL on error.
 */
json_t *keyval_parse(const char *params, const char *implied_key,
                     bool *p_help, Error **errp);

/*
 * As keyval_parse(), adding to the existing object @qdict (values for
 * keys already present replace them).  Returns @qdict (not a new
 * reference), or NULL on error, in which case @qdict may have been
 * partly updated.
 */
json_t *keyval_parse_into(json_t *qdict, const char *params,
                          const char *implied_key, bool *p_help,
                          Error **errp);

/*
 * Merge the output of a keyval parse @merged into @dest: objects merge
 * recursively, arrays are appended to, strings replace.  A key that is a
 * different kind of value on each side fails with "Parameter '%s' used
 * inconsistently".
 */
bool keyval_merge(json_t *dest, const json_t *merged, Error **errp);

/*
 * Parse @params the way QEMU parses --image-opts / -drive strings into a
 * flat dictionary (QemuOpts accepting any option, then converted):
 * dotted keys stay flat ("file.filename=x" gives {"file.filename": "x"}),
 * ',,' is a ',', the first element without '=' is the value of
 * @implied_key (if not NULL), and any later element without '=' is a
 * boolean flag ("foo" is foo=on, "nofoo" is foo=off; both deprecated and
 * warned about on stderr, except "help" and "?").  "id=X" must be a
 * well-formed identifier and comes first in the result.  Repeated keys:
 * the last value wins.  All values are strings.
 */
json_t *keyval_parse_flat(const char *params, const char *implied_key,
                          Error **errp);

#endif

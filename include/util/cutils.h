/*
 * String helpers: QEMU-compatible number and size parsing, size printing,
 * and the on/off, number and size parsers used for user-supplied options.
 */
#ifndef UTIL_CUTILS_H
#define UTIL_CUTILS_H

#include "strata/osdep.h"
#include "util/error.h"

/*
 * Integer parsing with QEMU's conventions.
 *
 * Each function parses @nptr in @base (0, or 2..36, as strtol) and returns
 * 0 on success, -EINVAL if nothing could be converted (or @nptr is NULL),
 * -ERANGE if the value does not fit *@result (which is then clamped to the
 * nearest limit).  If @endptr is non-NULL it receives the first character
 * not parsed; if @endptr is NULL the whole string must be a number and
 * trailing characters (even whitespace) give -EINVAL.  Leading whitespace
 * and a sign are accepted.  The unsigned variants accept a minus sign and
 * wrap the value as strtoul does ("-1" gives the maximum value);
 * qemu_strtoui() accepts negative values only down to INT_MIN.
 * *@result is written whenever @nptr is not NULL.
 */
int qemu_strtoi(const char *nptr, const char **endptr, int base,
                int *result);
int qemu_strtoui(const char *nptr, const char **endptr, int base,
                 unsigned int *result);
int qemu_strtol(const char *nptr, const char **endptr, int base,
                long *result);
int qemu_strtoul(const char *nptr, const char **endptr, int base,
                 unsigned long *result);
int qemu_strtoi64(const char *nptr, const char **endptr, int base,
                  int64_t *result);
int qemu_strtou64(const char *nptr, const char **endptr, int base,
                  uint64_t *result);
/* Same conventions for strtod(); qemu_strtod_finite() rejects inf/nan. */
int qemu_strtod(const char *nptr, const char **endptr, double *result);
int qemu_strtod_finite(const char *nptr, const char **endptr, double *result);

/*
 * Parse a size as QEMU 7.2 does: a decimal number with an optional
 * fraction, or a hexadecimal number ("0x..", no fraction), followed by an
 * optional suffix B, K, M, G, T, P or E (either case; binary multiples of
 * 1024, or of 1000 for the _metric variant).  A fraction needs a suffix
 * other than B, is rounded to the nearest byte (half up), and may not have
 * an exponent ("1.5e3" is -EINVAL; "1.5e" is 1.5 EiB).  A suffix on a hex
 * number is accepted with a deprecation warning.  Negative numbers are
 * -EINVAL; results of 2^64 or more are -ERANGE.  @end as for qemu_strtoi().
 * *@result is written only on success.
 * qemu_strtosz_MiB() uses MiB when no suffix is given.
 */
int qemu_strtosz(const char *nptr, const char **end, uint64_t *result);
int qemu_strtosz_MiB(const char *nptr, const char **end, uint64_t *result);
int qemu_strtosz_metric(const char *nptr, const char **end, uint64_t *result);

/*
 * Human-readable size with three significant digits, as qemu-img prints
 * it: "0 B", "512 B", "64 KiB", "1.5 GiB", "0.977 KiB" (for 1000).
 * The unit changes once the number would reach 1000.  Caller frees.
 */
char *size_to_str(uint64_t val);

/*
 * Option value parsers with QEMU's error messages, naming the parameter
 * @name.  They return true on success and store the value in *@ret.
 *
 * parse_option_bool: "on", "yes", "true", "y" / "off", "no", "false", "n"
 *   (case-sensitive); otherwise "Parameter '%s' expects 'on' or 'off'".
 * parse_option_number: an unsigned integer in any base qemu_strtou64()
 *   accepts with base 0 ("Parameter '%s' expects a number",
 *   "Value '%s' is too large for parameter '%s'").
 * parse_option_size: qemu_strtosz() ("Parameter '%s' expects a
 *   non-negative number below 2^64" plus a hint on the suffixes,
 *   "Value '%s' is out of range for parameter '%s'").
 */
bool parse_option_bool(const char *name, const char *value, bool *ret,
                       Error **errp);
bool parse_option_number(const char *name, const char *value,
                         uint64_t *ret, Error **errp);
bool parse_option_size(const char *name, const char *value,
                       uint64_t *ret, Error **errp);

/*
 * If @str starts with @val, return true and point *@ptr (if @ptr is not
 * NULL) just past the prefix in @str.
 */
bool strstart(const char *str, const char *val, const char **ptr);

/* True for "help" and "?", the words that ask for option help. */
bool is_help_option(const char *s);

/* strcmp() for sorting arrays of strings; NULL sorts first. */
int qemu_pstrcmp0(const char **str1, const char **str2);

/*
 * True if @id is a well-formed QEMU identifier: a letter followed by
 * letters, digits, '-', '.' and '_'.
 */
bool id_wellformed(const char *id);

/*
 * Length of the QAPI name at the start of @str (a letter followed by
 * letters, digits, '-' and '_', optionally preceded by a downstream
 * "__RFQDN_" prefix), or -1 if @str does not start with one.  With
 * @complete, the name must also be all of @str.
 */
int parse_qapi_name(const char *str, bool complete);

#endif

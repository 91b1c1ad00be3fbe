/*
 * String helpers: number and size parsing with QEMU's rules and messages,
 * and the human-readable size format used by qemu-img.
 */
#include "strata/osdep.h"
#include <math.h>

#include "util/cutils.h"

/*
 * Turn the outcome of a libc strto*() call into our return convention.
 * @ep is where libc stopped, @libc_errno the errno it left.
 */
static int strtox_result(const char *nptr, const char *ep,
                         const char **endptr, int libc_errno)
{
    if (endptr) {
        *endptr = ep;
    }
    if (libc_errno == 0 && ep == nptr) {
        return -EINVAL;             /* nothing was converted */
    }
    if (!endptr && *ep) {
        return -EINVAL;             /* caller wanted the whole string */
    }
    return -libc_errno;
}

static bool strtox_null(const char *nptr, const char **endptr)
{
    if (nptr) {
        return false;
    }
    if (endptr) {
        *endptr = NULL;
    }
    return true;
}

int qemu_strtoi(const char *nptr, const char **endptr, int base,
                int *result)
{
    char *ep;
    long long v;

    if (strtox_null(nptr, endptr)) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(nptr, &ep, base);
    if (v < INT_MIN) {
        *result = INT_MIN;
        errno = ERANGE;
    } else if (v > INT_MAX) {
        *result = INT_MAX;
        errno = ERANGE;
    } else {
        *result = v;
    }
    return strtox_result(nptr, ep, endptr, errno);
}

int qemu_strtoui(const char *nptr, const char **endptr, int base,
                 unsigned int *result)
{
    char *ep;
    unsigned long long v;
    long long sv;

    if (strtox_null(nptr, endptr)) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(nptr, &ep, base);
    /*
     * strtoull() wraps "-N" to 2^64 - N; read that back as a signed value
     * so that negative numbers wrap within 32 bits, down to INT_MIN.
     */
    sv = (long long)v;
    if (errno == ERANGE) {
        *result = UINT_MAX;
    } else if (sv > (long long)UINT_MAX || sv < INT_MIN) {
        *result = UINT_MAX;
        errno = ERANGE;
    } else {
        *result = (unsigned int)sv;
    }
    return strtox_result(nptr, ep, endptr, errno);
}

int qemu_strtol(const char *nptr, const char **endptr, int base,
                long *result)
{
    char *ep;

    if (strtox_null(nptr, endptr)) {
        return -EINVAL;
    }
    errno = 0;
    *result = strtol(nptr, &ep, base);
    return strtox_result(nptr, ep, endptr, errno);
}

int qemu_strtoul(const char *nptr, const char **endptr, int base,
                 unsigned long *result)
{
    char *ep;

    if (strtox_null(nptr, endptr)) {
        return -EINVAL;
    }
    errno = 0;
    *result = strtoul(nptr, &ep, base);
    return strtox_result(nptr, ep, endptr, errno);
}

int qemu_strtoi64(const char *nptr, const char **endptr, int base,
                  int64_t *result)
{
    char *ep;

    if (strtox_null(nptr, endptr)) {
        return -EINVAL;
    }
    errno = 0;
    *result = strtoll(nptr, &ep, base);
    return strtox_result(nptr, ep, endptr, errno);
}

int qemu_strtou64(const char *nptr, const char **endptr, int base,
                  uint64_t *result)
{
    char *ep;

    if (strtox_null(nptr, endptr)) {
        return -EINVAL;
    }
    errno = 0;
    *result = strtoull(nptr, &ep, base);
    return strtox_result(nptr, ep, endptr, errno);
}

int qemu_strtod(const char *nptr, const char **endptr, double *result)
{
    char *ep;

    if (strtox_null(nptr, endptr)) {
        return -EINVAL;
    }
    errno = 0;
    *result = strtod(nptr, &ep);
    return strtox_result(nptr, ep, endptr, errno);
}

int qemu_strtod_finite(const char *nptr, const char **endptr, double *result)
{
    double v;
    int ret = qemu_strtod(nptr, endptr, &v);

    if (ret == 0 && !isfinite(v)) {
        if (endptr) {
            *endptr = nptr;
        }
        return -EINVAL;
    }
    if (ret != -EINVAL) {
        *result = v;
    }
    return ret;
}

/* Multiplier for a size suffix character, or -1 if it is not one. */
static int64_t size_suffix_mul(char suffix, int64_t unit)
{
    static const char powers[] = "KMGTPE";
    const char *p;
    int64_t mul = 1;

    suffix = g_ascii_toupper(suffix);
    if (suffix == 'B') {
        return 1;
    }
    p = suffix ? strchr(powers, suffix) : NULL;
    if (!p) {
        return -1;
    }
    for (int i = 0; i <= p - powers; i++) {
        mul *= unit;
    }
    return mul;
}

/*
 * Parse the fraction starting at the '.' at *@pos into a 0.64 fixed-point
 * number.  Returns 0 and advances *@pos, or -EINVAL for the forms QEMU
 * rejects as a whole.
 */
static int size_parse_fraction(const char **pos, uint64_t *frac)
{
    const char *f = *pos;
    const char *fend;
    double fraction;
    int ret;

    ret = qemu_strtod_finite(f, &fend, &fraction);
    if (ret == 0) {
        if (memchr(f, 'e', fend - f) || memchr(f, 'E', fend - f)) {
            return -EINVAL;
        }
        /*
         * A fraction that rounds to 1.0 as a double ("1.99999999999999999k")
         * contributes nothing in QEMU 7.2 on x86 (its double-to-integer
         * conversion of 2^64 yields 0); do the same, explicitly.
         */
        *frac = fraction < 1.0 ? (uint64_t)(fraction * 0x1p64) : 0;
        *pos = fend;
        return 0;
    }
    /*
     * No digits after the '.', or an exponent that under/overflows: QEMU
     * ignores the fraction and skips one character past where strtod()
     * stopped.  It would read past the terminator if strtod() consumed the
     * whole string; reject that input instead.
     */
    if (ret == -ERANGE) {
        if (!*fend) {
            return -EINVAL;
        }
        *pos = fend + 1;
    } else {
        *pos = f + 1;
    }
    return 0;
}

static int do_strtosz(const char *nptr, const char **end,
                      char default_suffix, int64_t unit, uint64_t *result)
{
    const char *endptr;
    uint64_t val, frac = 0;
    unsigned __int128 total;
    bool hex = false;
    int64_t mul;
    int ret;

    if (strtox_null(nptr, end)) {
        return -EINVAL;
    }

    ret = qemu_strtou64(nptr, &endptr, 10, &val);
    if (ret) {
        goto out;
    }
    if (memchr(nptr, '-', endptr - nptr)) {
        endptr = nptr;
        ret = -EINVAL;
        goto out;
    }
    if (val == 0 && (*endptr == 'x' || *endptr == 'X')) {
        ret = qemu_strtou64(nptr, &endptr, 16, &val);
        if (ret) {
            goto out;
        }
        if (*endptr == '.') {
            endptr = nptr;
            ret = -EINVAL;
            goto out;
        }
        hex = true;
    } else if (*endptr == '.') {
        ret = size_parse_fraction(&endptr, &frac);
        if (ret) {
            endptr = nptr;
            goto out;
        }
    }

    mul = size_suffix_mul(*endptr, unit);
    if (mul > 0) {
        if (hex) {
            warn_report("Using a multiplier suffix on hex numbers "
                        "is deprecated: %s", nptr);
        }
        endptr++;
    } else {
        mul = size_suffix_mul(default_suffix, unit);
        assert(mul > 0);
    }

    if (mul == 1) {
        /* A fraction of a byte makes no sense: demand a real unit. */
        if (frac) {
            endptr = nptr;
            ret = -EINVAL;
            goto out;
        }
    } else {
        /* Exact product, fraction rounded to nearest (half up). */
        total = (unsigned __int128)val * (uint64_t)mul;
        total += ((unsigned __int128)frac * (uint64_t)mul
                  + (UINT64_C(1) << 63)) >> 64;
        if (total >> 64) {
            ret = -ERANGE;
            goto out;
        }
        val = (uint64_t)total;
    }
    ret = 0;

out:
    if (end) {
        *end = endptr;
    } else if (*endptr) {
        ret = -EINVAL;
    }
    if (ret == 0) {
        *result = val;
    }
    return ret;
}

int qemu_strtosz(const char *nptr, const char **end, uint64_t *result)
{
    return do_strtosz(nptr, end, 'B', 1024, result);
}

int qemu_strtosz_MiB(const char *nptr, const char **end, uint64_t *result)
{
    return do_strtosz(nptr, end, 'M', 1024, result);
}

int qemu_strtosz_metric(const char *nptr, const char **end, uint64_t *result)
{
    return do_strtosz(nptr, end, 'B', 1000, result);
}

char *size_to_str(uint64_t val)
{
    static const char *const prefixes[] = {
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    };
    /*
     * Pick the largest unit 1024^i with val * 1.024 >= 1024^i, so that the
     * printed number stays below 1000 ("1000 B" is "0.977 KiB").  The
     * scaled value is computed in double precision exactly as QEMU does,
     * so values at the boundaries pick the same unit.
     */
    double scaled = val / (1000.0 / 1024.0);
    int exp2;
    int i;

    frexp(scaled, &exp2);       /* scaled < 2^exp2, >= 2^(exp2 - 1) */
    i = exp2 > 0 ? (exp2 - 1) / 10 : 0;
    assert(i < (int)ARRAY_SIZE(prefixes));
    return g_strdup_printf("%0.3g %sB",
                           (double)val / (double)(UINT64_C(1) << (i * 10)),
                           prefixes[i]);
}

bool parse_option_bool(const char *name, const char *value, bool *ret,
                       Error **errp)
{
    static const char *const yes[] = { "on", "yes", "true", "y" };
    static const char *const no[] = { "off", "no", "false", "n" };

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (g_str_equal(value, yes[i])) {
            *ret = true;
            return true;
        }
        if (g_str_equal(value, no[i])) {
            *ret = false;
            return true;
        }
    }
    error_setg(errp, "Parameter '%s' expects 'on' or 'off'", name);
    return false;
}

bool parse_option_number(const char *name, const char *value,
                         uint64_t *ret, Error **errp)
{
    uint64_t number;
    int err = qemu_strtou64(value, NULL, 0, &number);

    if (err == -ERANGE) {
        error_setg(errp, "Value '%s' is too large for parameter '%s'",
                   value, name);
        return false;
    }
    if (err) {
        error_setg(errp, "Parameter '%s' expects a number", name);
        return false;
    }
    *ret = number;
    return true;
}

bool parse_option_size(const char *name, const char *value,
                       uint64_t *ret, Error **errp)
{
    uint64_t size;
    int err = qemu_strtosz(value, NULL, &size);

    if (err == -ERANGE) {
        error_setg(errp, "Value '%s' is out of range for parameter '%s'",
                   value, name);
        return false;
    }
    if (err) {
        error_setg(errp, "Parameter '%s' expects a non-negative number "
                   "below 2^64", name);
        error_append_hint(errp, "Optional suffix k, M, G, T, P or E means"
                          " kilo-, mega-, giga-, tera-, peta-\n"
                          "and exabytes, respectively.\n");
        return false;
    }
    *ret = size;
    return true;
}

bool strstart(const char *str, const char *val, const char **ptr)
{
    size_t len = strlen(val);

    if (strncmp(str, val, len) != 0) {
        return false;
    }
    if (ptr) {
        *ptr = str + len;
    }
    return true;
}

bool is_help_option(const char *s)
{
    return s && (g_str_equal(s, "help") || g_str_equal(s, "?"));
}

int qemu_pstrcmp0(const char **str1, const char **str2)
{
    return g_strcmp0(*str1, *str2);
}

bool id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

int parse_qapi_name(const char *str, bool complete)
{
    const char *p = str;

    /* Downstream extensions are prefixed "__RFQDN_", e.g. "__com.example_" */
    if (p[0] == '_') {
        if (p[1] != '_') {
            return -1;
        }
        p += 2;
        while (g_ascii_isalnum(*p) || *p == '-' || *p == '.') {
            p++;
        }
        if (*p != '_') {
            return -1;
        }
        p++;
    }
    if (!g_ascii_isalpha(*p)) {
        return -1;
    }
    p++;
    while (g_ascii_isalnum(*p) || *p == '-' || *p == '_') {
        p++;
    }
    if (complete && *p) {
        return -1;
    }
    return p - str;
}

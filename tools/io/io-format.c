/*
 * Text helpers of the qemu-io command engine: the number, time and
 * statistics formats qemu-io prints, argument parsing and hex dumps.
 */
#include "strata/osdep.h"

#include "tools/io-format.h"
#include "util/cutils.h"

#define NS_PER_SEC INT64_C(1000000000)

/* Drop a fraction that is all zeros: "64.000" -> "64", "1.500" stays. */
static void strip_zero_fraction(GString *s)
{
    const char *dot = strchr(s->str, '.');
    const char *p;

    if (!dot) {
        return;
    }
    for (p = dot + 1; *p; p++) {
        if (*p != '0') {
            return;
        }
    }
    g_string_truncate(s, dot - s->str);
}

char *qemuio_size_str(double value)
{
    static const struct {
        double scale;
        const char *unit;
    } units[] = {
        { (double)EiB, "EiB" },
        { (double)PiB, "PiB" },
        { (double)TiB, "TiB" },
        { (double)GiB, "GiB" },
        { (double)MiB, "MiB" },
        { (double)KiB, "KiB" },
    };
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
        if (value >= units[i].scale) {
            g_string_printf(s, "%.3f", value / units[i].scale);
            strip_zero_fraction(s);
            g_string_append_printf(s, " %s", units[i].unit);
            return g_string_free(s, false);
        }
    }
    g_string_printf(s, "%f", value);
    strip_zero_fraction(s);
    g_string_append(s, " bytes");
    return g_string_free(s, false);
}

char *qemuio_time_str(int64_t elapsed_ns, bool machine)
{
    int64_t whole = elapsed_ns / NS_PER_SEC;
    double frac = (double)(elapsed_ns % NS_PER_SEC) /
                  NS_PER_SEC;

    if (!machine && whole == 0) {
        return g_strdup_printf("%05.2f sec", frac);
    }
    return g_strdup_printf("%u:%02u:%05.2f", (unsigned)(whole / 3600),
                           (unsigned)(whole % 3600 / 60),
                           (double)(whole % 60) + frac);
}

char *qemuio_stats_str(const char *op, int64_t elapsed_ns, int64_t offset,
                       int64_t count, int64_t total, int ops, bool machine)
{
    double secs = (double)elapsed_ns / NS_PER_SEC;
    g_autofree char *time = qemuio_time_str(elapsed_ns, machine);
    g_autofree char *size = NULL;
    g_autofree char *rate = NULL;

    if (machine) {
        return g_strdup_printf("%" PRId64 ",%d,%s,%.3f,%.3f\n", total, ops,
                               time, total / secs, ops / secs);
    }
    size = qemuio_size_str(total);
    rate = qemuio_size_str(total / secs);
    return g_strdup_printf("%s %" PRId64 "/%" PRId64 " bytes at offset %"
                           PRId64 "\n%s, %d ops; %s (%s/sec and %.4f "
                           "ops/sec)\n", op, total, count, offset, size, ops,
                           time, rate, ops / secs);
}

int64_t qemuio_parse_num(const char *arg)
{
    uint64_t value;
    int ret = qemu_strtosz(arg, NULL, &value);

    if (ret < 0) {
        return ret;
    }
    if (value > INT64_MAX) {
        return -ERANGE;
    }
    return value;
}

char *qemuio_parse_num_error(int64_t err, const char *arg)
{
    switch (err) {
    case -EINVAL:
        return g_strdup_printf("Parsing error: non-numeric argument, or "
                               "extraneous/unrecognized suffix -- %s", arg);
    case -ERANGE:
        return g_strdup_printf("Parsing error: argument too large -- %s",
                               arg);
    default:
        return g_strdup_printf("Parsing error: %s -- %s", strerror(-err),
                               arg);
    }
}

int qemuio_parse_pattern(const char *arg)
{
    char *end;
    long byte;

    errno = 0;
    byte = strtol(arg, &end, 0);
    if (errno || end == arg || *end || byte < 0 || byte > 0xff) {
        return -1;
    }
    return byte;
}

char **qemuio_split_line(const char *line, int *argc)
{
    GPtrArray *words = g_ptr_array_new();
    const char *p = line;

    while (*p) {
        const char *start;

        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            break;
        }
        start = p;
        while (*p && *p != ' ') {
            p++;
        }
        g_ptr_array_add(words, g_strndup(start, p - start));
    }
    *argc = words->len;
    g_ptr_array_add(words, NULL);
    return (char **)g_ptr_array_free(words, false);
}

char *qemuio_dump_str(const void *buf, int64_t offset, int64_t len)
{
    const uint8_t *bytes = buf;
    GString *s = g_string_new(NULL);

    for (int64_t line = 0; line < len; line += 16) {
        int64_t n = MIN(16, len - line);

        g_string_append_printf(s, "%08" PRIx64 ":  ", offset + line);
        for (int64_t i = 0; i < n; i++) {
            g_string_append_printf(s, "%02x ", bytes[line + i]);
        }
        g_string_append_c(s, ' ');
        for (int64_t i = 0; i < n; i++) {
            uint8_t c = bytes[line + i];
            g_string_append_c(s, g_ascii_isalnum(c) ? c : '.');
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, false);
}

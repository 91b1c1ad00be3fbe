/*
 * Error objects and error/warning reporting.
 */
#include "strata/osdep.h"
#include "util/error.h"

struct Error {
    char *msg;
    ErrorClass err_class;
    const char *src;
    int line;
    GString *hint;
};

Error *error_abort;
Error *error_fatal;

static char *progname;
static char *location;
static ErrorSinkFunc *sink_fn;
static void *sink_opaque;

void error_init(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');

    g_free(progname);
    progname = g_strdup(slash ? slash + 1 : argv0);
}

const char *error_get_progname(void)
{
    return progname;
}

void error_set_location(const char *loc)
{
    g_free(location);
    location = g_strdup(loc);
}

void error_set_sink(ErrorSinkFunc *fn, void *opaque)
{
    sink_fn = fn;
    sink_opaque = opaque;
}

static bool (*in_monitor_command)(void);

void error_set_in_monitor_command(bool (*fn)(void))
{
    in_monitor_command = fn;
}

static void emit_line(const char *kind, const char *fmt, va_list ap)
{
    g_autoptr(GString) s = g_string_new(NULL);

    if (progname && !sink_fn &&
        !(in_monitor_command && in_monitor_command())) {
        g_string_append_printf(s, "%s: ", progname);
    }
    if (location) {
        g_string_append_printf(s, "%s: ", location);
    }
    if (kind) {
        g_string_append(s, kind);
    }
    g_string_append_vprintf(s, fmt, ap);
    if (sink_fn) {
        sink_fn(sink_opaque, s->str);
        return;
    }
    g_string_append_c(s, '\n');
    /* Like QEMU: stdout is not flushed first (scripts see that order). */
    fputs(s->str, stderr);
    fflush(stderr);
}

void error_vreport(const char *fmt, va_list ap)
{
    emit_line(NULL, fmt, ap);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit_line(NULL, fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit_line("warning: ", fmt, ap);
    va_end(ap);
}

void info_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit_line("info: ", fmt, ap);
    va_end(ap);
}

static void print_hint(const Error *err)
{
    if (!err->hint) {
        return;
    }
    if (sink_fn) {
        sink_fn(sink_opaque, err->hint->str);
    } else {
        fputs(err->hint->str, stderr);
    }
}

static void error_handle_special(Error **errp, Error *err)
{
    if (errp == &error_abort) {
        fprintf(stderr, "Unexpected error at %s:%d: %s\n",
                err->src, err->line, err->msg);
        abort();
    }
    if (errp == &error_fatal) {
        error_report_err(err);
        exit(1);
    }
}

static void error_setv(Error **errp, const char *src, int line,
                       ErrorClass cls, const char *fmt, va_list ap,
                       const char *suffix)
{
    Error *err;
    int saved_errno = errno;

    if (!errp) {
        errno = saved_errno;
        return;
    }
    assert(*errp == NULL);
    err = g_new0(Error, 1);
    err->msg = g_strdup_vprintf(fmt, ap);
    if (suffix) {
        char *tmp = err->msg;
        err->msg = g_strdup_printf("%s: %s", tmp, suffix);
        g_free(tmp);
    }
    err->err_class = cls;
    err->src = src;
    err->line = line;
    if (errp == &error_abort || errp == &error_fatal) {
        error_handle_special(errp, err);
    }
    *errp = err;
    errno = saved_errno;
}

void error_setg_internal(Error **errp, const char *src, int line,
                         ErrorClass cls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, src, line, cls, fmt, ap, NULL);
    va_end(ap);
}

void error_setg_errno_internal(Error **errp, const char *src, int line,
                               int os_errno, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, src, line, ERROR_CLASS_GENERIC_ERROR, fmt, ap,
               os_errno ? g_strerror(os_errno) : NULL);
    va_end(ap);
}

void error_propagate(Error **dst_errp, Error *local_err)
{
    if (!local_err) {
        return;
    }
    if (dst_errp == &error_abort || dst_errp == &error_fatal) {
        error_handle_special(dst_errp, local_err);
    }
    if (dst_errp && !*dst_errp) {
        *dst_errp = local_err;
    } else {
        error_free(local_err);
    }
}

static void error_vprepend(Error *const *errp, const char *fmt, va_list ap)
{
    char *prefix;
    char *old;

    if (!errp || !*errp) {
        return;
    }
    prefix = g_strdup_vprintf(fmt, ap);
    old = (*errp)->msg;
    (*errp)->msg = g_strconcat(prefix, old, NULL);
    g_free(prefix);
    g_free(old);
}

void error_prepend(Error **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vprepend(errp, fmt, ap);
    va_end(ap);
}

void error_propagate_prepend(Error **dst_errp, Error *local_err,
                             const char *fmt, ...)
{
    va_list ap;

    if (local_err && dst_errp && !*dst_errp) {
        va_start(ap, fmt);
        error_vprepend(&local_err, fmt, ap);
        va_end(ap);
    }
    error_propagate(dst_errp, local_err);
}

void error_append_hint(Error **errp, const char *fmt, ...)
{
    va_list ap;
    int saved_errno = errno;

    if (!errp || !*errp || errp == &error_abort || errp == &error_fatal) {
        return;
    }
    if (!(*errp)->hint) {
        (*errp)->hint = g_string_new(NULL);
    }
    va_start(ap, fmt);
    g_string_append_vprintf((*errp)->hint, fmt, ap);
    va_end(ap);
    errno = saved_errno;
}

const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

ErrorClass error_get_class(const Error *err)
{
    return err->err_class;
}

const char *error_get_hint(const Error *err)
{
    return err->hint ? err->hint->str : NULL;
}

Error *error_copy(const Error *err)
{
    Error *copy = g_new0(Error, 1);

    copy->msg = g_strdup(err->msg);
    copy->err_class = err->err_class;
    copy->src = err->src;
    copy->line = err->line;
    if (err->hint) {
        copy->hint = g_string_new(err->hint->str);
    }
    return copy;
}

void error_free(Error *err)
{
    if (!err) {
        return;
    }
    g_free(err->msg);
    if (err->hint) {
        g_string_free(err->hint, true);
    }
    g_free(err);
}

void error_free_or_abort(Error **errp)
{
    assert(errp && *errp);
    error_free(*errp);
    *errp = NULL;
}

void error_report_err(Error *err)
{
    error_report("%s", err->msg);
    print_hint(err);
    error_free(err);
}

void warn_report_err(Error *err)
{
    warn_report("%s", err->msg);
    print_hint(err);
    error_free(err);
}

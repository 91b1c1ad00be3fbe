/*
 * Error objects passed through "Error **errp" parameters, and reporting of
 * errors and warnings to stderr with the program-name prefix.
 */
#ifndef UTIL_ERROR_H
#define UTIL_ERROR_H

#include "strata/osdep.h"

/* QMP error classes (the "class" member of an error reply). */
typedef enum ErrorClass {
    ERROR_CLASS_GENERIC_ERROR,
    ERROR_CLASS_COMMAND_NOT_FOUND,
    ERROR_CLASS_DEVICE_NOT_ACTIVE,
    ERROR_CLASS_DEVICE_NOT_FOUND,
    ERROR_CLASS_KVM_MISSING_CAP,
} ErrorClass;

typedef struct Error Error;

/* Pass as errp to abort on error, or to print the error and exit(1). */
extern Error *error_abort;
extern Error *error_fatal;

void error_setg_internal(Error **errp, const char *src, int line,
                         ErrorClass cls, const char *fmt, ...)
    STRATA_PRINTF(5, 6);
void error_setg_errno_internal(Error **errp, const char *src, int line,
                               int os_errno, const char *fmt, ...)
    STRATA_PRINTF(5, 6);

#define error_setg(errp, ...) \
    error_setg_internal((errp), __FILE__, __LINE__, \
                        ERROR_CLASS_GENERIC_ERROR, __VA_ARGS__)
#define error_set(errp, cls, ...) \
    error_setg_internal((errp), __FILE__, __LINE__, (cls), __VA_ARGS__)
/* Appends ": strerror(os_errno)" to the message. */
#define error_setg_errno(errp, os_errno, ...) \
    error_setg_errno_internal((errp), __FILE__, __LINE__, (os_errno), \
                              __VA_ARGS__)

/* Move @local_err into @dst_errp (or free it if *dst_errp is already set). */
void error_propagate(Error **dst_errp, Error *local_err);
/* Prefix the message of *errp (if any). */
void error_prepend(Error **errp, const char *fmt, ...) STRATA_PRINTF(2, 3);
/* Propagate @local_err and prefix its message. */
void error_propagate_prepend(Error **dst_errp, Error *local_err,
                             const char *fmt, ...) STRATA_PRINTF(3, 4);
/* Add a hint line, printed after the message by error_report_err(). */
void error_append_hint(Error **errp, const char *fmt, ...) STRATA_PRINTF(2, 3);

const char *error_get_pretty(const Error *err);
ErrorClass error_get_class(const Error *err);
const char *error_get_hint(const Error *err);
Error *error_copy(const Error *err);
void error_free(Error *err);
void error_free_or_abort(Error **errp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Error, error_free)

/* Print the error (with hint) prefixed by the program name, then free it. */
void error_report_err(Error *err);
void warn_report_err(Error *err);

/* Print "<program>: <message>\n" to stderr. */
void error_report(const char *fmt, ...) STRATA_PRINTF(1, 2);
void error_vreport(const char *fmt, va_list ap) STRATA_PRINTF(1, 0);
/* Print "<program>: warning: <message>\n" to stderr. */
void warn_report(const char *fmt, ...) STRATA_PRINTF(1, 2);
void info_report(const char *fmt, ...) STRATA_PRINTF(1, 2);

/* Set the prefix used by the reporting functions (basename of argv[0]). */
void error_init(const char *argv0);
const char *error_get_progname(void);

/*
 * Optional location prefix, e.g. the option being parsed ("-o foo: ").
 * NULL clears it.
 */
void error_set_location(const char *loc);

/*
 * Redirect reports (the daemon's human-monitor-command captures them).
 * Pass NULL to restore stderr.  Returns the previous sink.
 */
typedef void ErrorSinkFunc(void *opaque, const char *line);
void error_set_sink(ErrorSinkFunc *fn, void *opaque);

/*
 * As in QEMU, reports made while a monitor command runs carry no program
 * name; the monitor installs the test (NULL: always print it).
 */
void error_set_in_monitor_command(bool (*fn)(void));

/*
 * ERRP_GUARD(): makes it safe to dereference errp in the function even when
 * the caller passed NULL or &error_fatal.
 */
typedef struct ErrorPropagator {
    Error *local_err;
    Error **errp;
} ErrorPropagator;

static inline void error_propagator_cleanup(ErrorPropagator *prop)
{
    error_propagate(prop->errp, prop->local_err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ErrorPropagator, error_propagator_cleanup)

#define ERRP_GUARD()                                                    \
    g_auto(ErrorPropagator) _auto_errp_prop = { .errp = errp };         \
    do {                                                                \
        if (!errp || errp == &error_fatal) {                            \
            errp = &_auto_errp_prop.local_err;                          \
        }                                                               \
    } while (0)

#endif

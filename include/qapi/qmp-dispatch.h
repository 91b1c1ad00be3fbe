/*
 * QMP command tables and dispatch: from one parsed request object to
 * the response object, with the checks and error messages of QEMU 7.2.
 */
#ifndef QAPI_QMP_DISPATCH_H
#define QAPI_QMP_DISPATCH_H

#include <jansson.h>

#include "strata/osdep.h"
#include "qapi/util.h"
#include "util/error.h"

/*
 * A command's marshaller: @args is the (borrowed) "arguments" object, {}
 * when the request has none.  On success it may set *@ret to the return
 * value (a new reference); a command without one leaves it NULL and the
 * reply says "return": {}.
 */
typedef void QmpCommandFunc(json_t *args, json_t **ret, Error **errp);

typedef enum QmpCommandOptions {
    QCO_NO_OPTIONS = 0,
    QCO_NO_SUCCESS_RESP = 1 << 0,       /* 'success-response': false */
    QCO_ALLOW_OOB = 1 << 1,             /* 'allow-oob': true */
    QCO_ALLOW_PRECONFIG = 1 << 2,       /* 'allow-preconfig': true */
    QCO_COROUTINE = 1 << 3,             /* 'coroutine': true */
} QmpCommandOptions;

typedef struct QmpCommand {
    const char *name;
    QmpCommandFunc *fn;
    QmpCommandOptions options;
    unsigned special_features;          /* QapiSpecialFeature bits */
    bool enabled;
    char *disable_reason;
} QmpCommand;

/*
 * A set of commands.  Zero-initialise it ("QmpCommandList cmds = {0};")
 * and fill it with <prefix>qmp_init_marshal() from the generated
 * qapi-commands.h and/or qmp_register_command().  A monitor typically
 * keeps two: one with only qmp_capabilities before negotiation, one with
 * everything after.
 */
typedef struct QmpCommandList {
    GPtrArray *list;                    /* of QmpCommand *, in order added */
    GHashTable *by_name;
} QmpCommandList;

void qmp_register_command(QmpCommandList *cmds, const char *name,
                          QmpCommandFunc *fn, QmpCommandOptions options,
                          unsigned special_features);
/* Free the table's contents (the table can be reused afterwards). */
void qmp_command_list_destroy(QmpCommandList *cmds);

/* NULL if there is no such command. */
const QmpCommand *qmp_find_command(const QmpCommandList *cmds,
                                   const char *name);

/*
 * A disabled command answers "Command NAME has been disabled" (with ":
 * REASON" if @reason is not NULL), class CommandNotFound.
 */
void qmp_disable_command(QmpCommandList *cmds, const char *name,
                         const char *reason);
void qmp_enable_command(QmpCommandList *cmds, const char *name);

/*
 * Call @fn for every command in the order they were registered (the
 * schema's order for generated tables).  Note that QEMU's query-commands
 * lists them in the reverse order.
 */
typedef void QmpCommandIterFunc(const QmpCommand *cmd, void *opaque);
void qmp_for_each_command(const QmpCommandList *cmds, QmpCommandIterFunc *fn,
                          void *opaque);

/*
 * Execute one request, which the caller has parsed from JSON (a
 * borrowed reference; it need not be an object).  Returns the response,
 * a new reference:
 *
 *   {"return": VALUE, "id": ID}
 *   {"error": {"class": CLASS, "desc": MESSAGE}, "id": ID}
 *
 * with "id" present when the request is an object that has one, whatever
 * went wrong.  Returns NULL only when a command with 'success-response':
 * false succeeded.
 *
 * The request must be {"execute": NAME, "arguments": {...}, "id": ...}
 * ("arguments" and "id" optional).  With @allow_oob (the client
 * negotiated the "oob" capability), "exec-oob" may replace "execute",
 * for commands with 'allow-oob'; without it, "exec-oob" is an unexpected
 * member.  Messages, as QEMU 7.2 words them (class GenericError unless
 * said otherwise):
 *
 *   QMP input must be a JSON object
 *   QMP input member 'execute' must be a string
 *   QMP input member 'arguments' must be an object
 *   QMP input member 'foo' is unexpected
 *   QMP input member 'exec-oob' clashes with 'execute'
 *   QMP input lacks member 'execute'
 *   The command foo has not been found                   (CommandNotFound)
 *   Command foo has been disabled                        (CommandNotFound)
 *   The command foo does not support OOB
 *
 * and the marshaller's errors for the arguments.  Which of several
 * problems is reported follows QEMU's order of checks.
 *
 * The command runs in the caller's context.  Commands registered with
 * QCO_COROUTINE may yield, so the monitor calls qmp_dispatch() from a
 * coroutine for them (qmp_dispatch_needs_coroutine() tells in advance).
 *
 * Capabilities negotiation is the monitor's business: before it, QEMU
 * dispatches against a table holding only qmp_capabilities and replaces
 * the description of a CommandNotFound error by "Expecting capabilities
 * negotiation with 'qmp_capabilities'".
 *
 * @opaque is available to the command, while it runs, through
 * qmp_dispatch_opaque() (the monitor passes itself).
 */
json_t *qmp_dispatch(const QmpCommandList *cmds, json_t *request,
                     bool allow_oob, void *opaque);

/* The @opaque of the innermost qmp_dispatch() running in this thread. */
void *qmp_dispatch_opaque(void);

/* True if @request asks for out-of-band execution ("exec-oob"). */
bool qmp_is_oob(const json_t *request);

/*
 * True if the command @request names exists and is marked 'coroutine'.
 */
bool qmp_dispatch_needs_coroutine(const QmpCommandList *cmds,
                                  const json_t *request);

/* {"error": {"class": ..., "desc": ...}}; consumes @err. */
json_t *qmp_error_response(Error *err);

/* "GenericError", "CommandNotFound", ... */
const char *qapi_error_class_str(ErrorClass cls);

/*
 * For generated code: one command of a schema.  @impl and @stub are the
 * addresses of the command's function and of its weak stand-in; the
 * command is registered only if they differ.
 */
typedef struct QmpCommandDef {
    const char *name;
    QmpCommandFunc *fn;
    void (*impl)(void);
    void (*stub)(void);
    QmpCommandOptions options;
    unsigned special_features;
} QmpCommandDef;

void qmp_register_command_defs(QmpCommandList *cmds,
                               const QmpCommandDef *defs, size_t n);

#endif

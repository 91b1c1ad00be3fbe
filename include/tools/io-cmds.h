/*
 * The qemu-io command engine: a session that runs qemu-io command lines
 * ("write -P 0xab 0 64k") on a BlockBackend and prints what qemu-io prints.
 */
#ifndef TOOLS_IO_CMDS_H
#define TOOLS_IO_CMDS_H

#include "strata/osdep.h"
#include "block/block-backend.h"
#include "util/error.h"

typedef struct QemuIOSession QemuIOSession;
typedef struct QemuIOCommand QemuIOCommand;

/*
 * Where a session's text goes.  qemu-io writes its normal output to
 * stdout and some messages (unknown commands, "no file open", error
 * reports) to stderr; @print receives each piece of text with the stream
 * it belongs to.  Text arrives in pieces of whole lines, except the
 * interactive prompt.
 */
typedef enum QemuIOStream {
    QEMUIO_STDOUT,
    QEMUIO_STDERR,
} QemuIOStream;

typedef struct QemuIOOutput {
    void (*print)(void *opaque, QemuIOStream stream, const char *text);
    void *opaque;
} QemuIOOutput;

/*
 * A command.  @cfunc gets the words of the command line (argv[0] is the
 * name typed, which may be @altname) and returns 0 or a negative errno.
 * Before calling it the session checks, in this order, that a file is
 * open (unless @flags has QEMUIO_CMD_NOFILE_OK), that the argument count
 * is within [@argmin, @argmax] (@argmax -1: no limit) and that the
 * backend holds the permissions in @perm.  @args (NULL for none) and
 * @oneline make the synopsis; @help prints the long help.
 */
typedef int QemuIOCmdFunc(QemuIOSession *s, BlockBackend *blk, int argc,
                          char **argv);
typedef void QemuIOHelpFunc(QemuIOSession *s);

#define QEMUIO_CMD_NOFILE_OK 0x1

struct QemuIOCommand {
    const char *name;
    const char *altname;
    QemuIOCmdFunc *cfunc;
    int argmin;
    int argmax;
    int flags;
    uint64_t perm;
    const char *args;
    const char *oneline;
    QemuIOHelpFunc *help;
};

/*
 * A new session with no image, printing through @output (NULL: the
 * process's stdout and stderr).  Sessions are reference counted:
 * requests started by aio_read/aio_write keep theirs alive until they
 * complete, so the caller may drop its reference at any time.
 */
QemuIOSession *qemuio_session_new(const QemuIOOutput *output);
void qemuio_session_ref(QemuIOSession *s);
void qemuio_session_unref(QemuIOSession *s);

/*
 * The image the commands work on (NULL: none).  The session takes no
 * reference; whoever opened the backend closes it.
 */
void qemuio_session_set_blk(QemuIOSession *s, BlockBackend *blk);
BlockBackend *qemuio_session_get_blk(QemuIOSession *s);

/*
 * Extra commands of the tool running the session (qemu-io's open, close
 * and quit), listed in "help" among the built-in ones.  @cmds is an array
 * ending with an entry whose name is NULL; it must outlive the session.
 * @opaque is for the tool (qemuio_session_get_opaque()).
 */
void qemuio_session_add_commands(QemuIOSession *s, const QemuIOCommand *cmds,
                                 void *opaque);
void *qemuio_session_get_opaque(QemuIOSession *s);

/*
 * Wait until the requests the session started have completed and printed
 * their results (what aio_flush does for the session's image).
 */
void qemuio_session_drain(QemuIOSession *s);

/* qemu-io -m: offset I/O buffers by 16 bytes from their alignment. */
void qemuio_session_set_misalign(QemuIOSession *s, bool misalign);

/* Set by the "quit" command of the tool; the tool stops reading commands. */
void qemuio_session_set_quit(QemuIOSession *s, bool quit);
bool qemuio_session_quit_requested(QemuIOSession *s);

/*
 * Run one command line.  Returns 0 on success and a negative errno if the
 * command failed (qemu-io then exits with status 1).  Requests started by
 * aio_* commands finish later, from the event loop.
 */
int qemuio_session_command(QemuIOSession *s, const char *cmdline);

/*
 * Run one command line on @blk with output on stdout and stderr, as the
 * monitor's "qemu-io" command does.  Returns as qemuio_session_command().
 */
int qemuio_command(BlockBackend *blk, const char *cmdline);

/* Output through the session's sink. */
void qemuio_printf(QemuIOSession *s, const char *fmt, ...) STRATA_PRINTF(2, 3);
void qemuio_eprintf(QemuIOSession *s, const char *fmt, ...)
    STRATA_PRINTF(2, 3);
/* "<program>: <message>\n" on the error stream, as error_report() prints. */
void qemuio_report(QemuIOSession *s, const char *fmt, ...) STRATA_PRINTF(2, 3);
/* As error_report_err(): the message (and hint) of @err, then free it. */
void qemuio_report_err(QemuIOSession *s, Error *err);
/* Flush the stdio streams (a no-op for other sinks). */
void qemuio_flush_output(QemuIOSession *s);

/* Print "<name> <args> -- <oneline>" for @ct, as after a usage error. */
void qemuio_command_usage(QemuIOSession *s, const QemuIOCommand *ct);

/*
 * Option parsing for commands, with the conventions of GNU getopt(3):
 * options may follow operands, grouped options ("-qv") and attached
 * arguments ("-P0xab") work, "--" ends the options, and the messages
 * ("read: invalid option -- 'x'") go to the session's error stream.
 *
 *     QemuIOOptParser p;
 *     qemuio_opt_init(&p, s, argc, argv, "CqP:");
 *     while ((c = qemuio_opt_next(&p)) != -1) { ... p.optarg ... }
 *     operands: argv[p.optind] to argv[argc - 1]
 *
 * qemuio_opt_next() returns the option character, '?' for an unknown
 * option or a missing argument (after printing the message), and -1 once
 * all options were seen; then argv is reordered so that the operands,
 * in their order, come last, starting at p.optind.
 */
typedef struct QemuIOOptParser {
    int optind;
    const char *optarg;
    /* private */
    QemuIOSession *s;
    int argc;
    char **argv;
    const char *optstring;
    int next;
    int subpos;
} QemuIOOptParser;

void qemuio_opt_init(QemuIOOptParser *p, QemuIOSession *s, int argc,
                     char **argv, const char *optstring);
int qemuio_opt_next(QemuIOOptParser *p);

#endif

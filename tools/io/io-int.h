/*
 * Internal interface between the files of the qemu-io command engine:
 * the command functions, their help texts and shared helpers.
 */
#ifndef TOOLS_IO_INT_H
#define TOOLS_IO_INT_H

#include "tools/io-cmds.h"

/* Default fill bytes: reads start from 0xab, writes write 0xcd. */
#define QEMUIO_READ_FILL  0xab
#define QEMUIO_WRITE_FILL 0xcd

/* ---- io-cmds.c ---- */

/* Print the statistics of one finished request (qemuio_stats_str()). */
void qemuio_print_stats(QemuIOSession *s, const char *op,
                        int64_t elapsed_ns, int64_t offset, int64_t count,
                        int64_t total, int ops, bool machine);
/* Print the message for a failed qemuio_parse_num(). */
void qemuio_print_num_error(QemuIOSession *s, int64_t err, const char *arg);
bool qemuio_session_misalign(QemuIOSession *s);
/* aio requests of the session that did not complete yet. */
void qemuio_session_aio_begin(QemuIOSession *s);
void qemuio_session_aio_end(QemuIOSession *s);
unsigned qemuio_session_aio_in_flight(QemuIOSession *s);

/* ---- io-rw.c: data commands ---- */

QemuIOCmdFunc qemuio_read_f, qemuio_readv_f, qemuio_write_f,
    qemuio_writev_f, qemuio_aio_read_f, qemuio_aio_write_f,
    qemuio_aio_flush_f, qemuio_discard_f;
QemuIOHelpFunc qemuio_read_help, qemuio_readv_help, qemuio_write_help,
    qemuio_writev_help, qemuio_aio_read_help, qemuio_aio_write_help,
    qemuio_discard_help;

/* ---- io-image.c: commands about the image ---- */

QemuIOCmdFunc qemuio_flush_f, qemuio_truncate_f, qemuio_length_f,
    qemuio_info_f, qemuio_alloc_f, qemuio_map_f, qemuio_reopen_f,
    qemuio_break_f, qemuio_remove_break_f, qemuio_resume_f,
    qemuio_wait_break_f;
QemuIOHelpFunc qemuio_reopen_help;

#endif

/*
 * human-monitor-command: the one human monitor command the daemon has,
 * "qemu-io [-d] DEVICE "COMMAND"", which runs a strata-io command line on
 * a node (tests use it to write into an image while a job runs).  The
 * reply is the text the command printed, with HMP's CR LF line ends.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "qapi/qapi-commands.h"
#include "tools/io-cmds.h"

/* Everything the command prints, including late aio completions. */
static void hmp_capture(void *opaque, QemuIOStream stream, const char *text)
{
    GString *out = opaque;

    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            g_string_append_c(out, '\r');
        }
        g_string_append_c(out, *p);
    }
}

/*
 * One argument of a human monitor command line: a word, or a string in
 * double quotes with \\ \" \' \n \r escapes.  Returns NULL at the end of
 * the line, with *@bad set if the quoting was wrong.
 */
static char *hmp_next_arg(const char **pp, bool *bad)
{
    const char *p = *pp;
    GString *arg;

    while (g_ascii_isspace(*p)) {
        p++;
    }
    if (!*p) {
        *pp = p;
        return NULL;
    }
    arg = g_string_new(NULL);
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\') {
                p++;
                switch (*p) {
                case 'n':
                    g_string_append_c(arg, '\n');
                    break;
                case 'r':
                    g_string_append_c(arg, '\r');
                    break;
                case '\\':
                case '\'':
                case '"':
                    g_string_append_c(arg, *p);
                    break;
                default:
                    *bad = true;
                    g_string_free(arg, true);
                    return NULL;
                }
                p++;
            } else {
                g_string_append_c(arg, *p++);
            }
        }
        if (*p != '"') {
            *bad = true;
            g_string_free(arg, true);
            return NULL;
        }
        p++;
    } else {
        while (*p && !g_ascii_isspace(*p)) {
            g_string_append_c(arg, *p++);
        }
    }
    *pp = p;
    return g_string_free(arg, false);
}

static void hmp_qemu_io(GString *out, const char *args)
{
    g_autofree char *device = NULL;
    g_autofree char *command = NULL;
    QemuIOOutput sink = { .print = hmp_capture, .opaque = out };
    Error *err = NULL;
    BlockBackend *blk;
    BlockDriverState *bs;
    QemuIOSession *s;
    bool bad = false;
    const char *p = args;

    device = hmp_next_arg(&p, &bad);
    if (device && !strcmp(device, "-d")) {
        /* -d names a guest device: the daemon has none. */
        g_free(device);
        device = hmp_next_arg(&p, &bad);
        if (device) {
            g_string_append_printf(out, "Error: Cannot find device '%s'\r\n",
                                   device);
            return;
        }
    }
    if (!device) {
        g_string_append(out, "qemu-io: block device name expected\r\n");
        return;
    }
    command = hmp_next_arg(&p, &bad);
    if (!command) {
        g_string_append(out, bad ? "qemu-io: invalid string\r\n"
                                 : "qemu-io: command expected\r\n");
        return;
    }
    while (g_ascii_isspace(*p)) {
        p++;
    }
    if (*p) {
        g_string_append_printf(out, "qemu-io: extraneous characters at the "
                               "end of line\r\n");
        return;
    }

    blk = blk_by_name(device);
    if (blk) {
        blk_ref(blk);
    } else {
        bs = bdrv_lookup_bs(NULL, device, &err);
        if (!bs) {
            g_string_append_printf(out, "Error: %s\r\n",
                                   error_get_pretty(err));
            error_free(err);
            return;
        }
        /*
         * As QEMU: no permissions of its own; the command asks for what it
         * needs, and may write where a job would not let others.
         */
        blk = blk_new(qemu_get_aio_context(), 0, BLK_PERM_ALL);
        if (blk_insert_bs(blk, bs, &err) < 0) {
            g_string_append_printf(out, "Error: %s\r\n",
                                   error_get_pretty(err));
            error_free(err);
            blk_unref(blk);
            return;
        }
    }
    s = qemuio_session_new(&sink);
    qemuio_session_set_blk(s, blk);
    qemuio_session_command(s, command);
    /* aio_read / aio_write finish here, so their output is in the reply. */
    qemuio_session_drain(s);
    qemuio_session_set_blk(s, NULL);
    qemuio_session_unref(s);
    blk_unref(blk);
}

char *qmp_human_monitor_command(const char *command_line, bool has_cpu_index,
                                int64_t cpu_index, Error **errp)
{
    GString *out = g_string_new(NULL);
    const char *p = command_line;
    g_autofree char *name = NULL;
    bool bad = false;

    if (has_cpu_index) {
        error_setg(errp, "Parameter 'cpu-index' expects a CPU index: the "
                   "storage daemon has no CPUs");
        g_string_free(out, true);
        return NULL;
    }
    name = hmp_next_arg(&p, &bad);
    if (!name) {
        /* An empty line does nothing, as in QEMU. */
    } else if (!strcmp(name, "qemu-io")) {
        hmp_qemu_io(out, p);
    } else {
        g_string_append_printf(out, "unknown command: '%s'\r\n", name);
    }
    return g_string_free(out, false);
}

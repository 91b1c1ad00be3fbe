/*
 * strata-io: qemu-io's command line around the command engine; opens one
 * image and runs commands from -c options or from standard input.
 */
#include "strata/osdep.h"

#include <getopt.h>
#include <signal.h>

#include "block/block-backend.h"
#include "qom/object.h"
#include "tools/io-cmds.h"
#include "util/cutils.h"
#include "util/keyval.h"
#include "util/option.h"

/* What the tool's own commands (open, close, quit) need. */
typedef struct IOTool {
    QemuIOSession *session;
    bool image_opts;            /* --image-opts: "open" takes option strings */
} IOTool;

static const QemuIOCommand tool_cmds[];

/* ---- usage and version ---- */

static void usage(const char *name)
{
    printf(
"Usage: %s [OPTIONS]... [-c STRING]... [file]\n"
"QEMU Disk exerciser\n"
"\n"
"  --object OBJECTDEF   define an object such as 'secret' for\n"
"                       passwords and/or encryption keys\n"
"  --image-opts         treat file as option string\n"
"  -c, --cmd STRING     execute command with its arguments\n"
"                       from the given string\n"
"  -f, --format FMT     specifies the block driver to use\n"
"  -r, --read-only      export read-only\n"
"  -s, --snapshot       use snapshot file\n"
"  -n, --nocache        disable host cache, short for -t none\n"
"  -C, --copy-on-read   enable copy-on-read\n"
"  -m, --misalign       misalign allocations for O_DIRECT\n"
"  -k, --native-aio     use kernel AIO implementation\n"
"                       (Linux only, prefer use of -i)\n"
"  -i, --aio=MODE       use AIO mode (threads, native or io_uring)\n"
"  -t, --cache=MODE     use the given cache mode for the image\n"
"  -d, --discard=MODE   use the given discard mode for the image\n"
"  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
"                       specify tracing options\n"
"                       see qemu-img(1) man page for full description\n"
"  -U, --force-share    force shared permissions\n"
"  -h, --help           display this help and exit\n"
"  -V, --version        output version information and exit\n"
"\n"
"See '%s -c help' for information on available commands.\n"
"\n"
"See <https://qemu.org/contribute/report-a-bug> for how to report bugs.\n"
"More information on the QEMU project at <https://qemu.org>.\n",
           name, name);
}

static void version(const char *name)
{
    printf("%s version " STRATA_VERSION_STRING " (compatible with qemu-io "
           STRATA_QEMU_API_VERSION ")\n"
           "Strata: an independent implementation of the QEMU block layer "
           "tools\n", name);
}

/* ---- option strings (open -o, --image-opts) ---- */

/* A QemuOpts list that accepts any option, as qemu-io's are. */
static QemuOptsList *any_opts_list_new(const char *name, bool merge)
{
    QemuOptsList *list = g_malloc0(sizeof(*list) + sizeof(QemuOptDesc));

    list->name = name;
    list->merge_lists = merge;
    return list;
}

static void any_opts_list_free(QemuOptsList *list)
{
    if (list) {
        qemu_opts_reset(list);
        g_free(list);
    }
}

/*
 * Parse @params into @list (warning about short-form flags); report the
 * error through @s and return false if they do not parse.
 */
static bool parse_opts(QemuIOSession *s, QemuOptsList *list,
                       const char *params)
{
    Error *err = NULL;

    if (!qemu_opts_parse_full(list, params, false, true, NULL, &err)) {
        qemuio_report_err(s, err);
        return false;
    }
    return true;
}

/* The options parsed into @list as a flat dictionary (NULL if none). */
static json_t *opts_to_dict(QemuOptsList *list)
{
    QemuOpts *opts = g_queue_peek_head(&list->head);

    return opts ? qemu_opts_to_qdict(opts, NULL) : NULL;
}

/* ---- opening ---- */

/*
 * Open the image (qemu-io's openfile()).  Returns 0, or 1 after printing
 * why it failed.  Takes over @opts.
 */
static int open_image(IOTool *tool, const char *name, int flags,
                      bool writethrough, bool force_share, json_t *opts)
{
    QemuIOSession *s = tool->session;
    BlockBackend *blk;
    Error *err = NULL;

    if (qemuio_session_get_blk(s)) {
        qemuio_report(s, "file open already, try 'help close'");
        json_decref(opts);
        return 1;
    }
    if (!opts) {
        opts = json_object();
    }
    if (force_share) {
        json_t *fs = json_object_get(opts, BDRV_OPT_FORCE_SHARE);

        if (fs && !(json_is_true(fs) ||
                    (json_is_string(fs) &&
                     !strcmp(json_string_value(fs), "on")))) {
            qemuio_report(s, "-U conflicts with image options");
            json_decref(opts);
            return 1;
        }
        json_object_set_new(opts, BDRV_OPT_FORCE_SHARE, json_true());
    }
    blk = blk_new_open(name, NULL, opts, flags, &err);
    if (!blk) {
        goto fail;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    qemuio_session_set_blk(s, blk);
    return 0;

fail:
    error_prepend(&err, "can't open%s%s: ", name ? " device " : "",
                  name ? name : "");
    qemuio_report_err(s, err);
    return 1;
}

/* Close the image once the requests started on it have completed. */
static void close_image(IOTool *tool)
{
    QemuIOSession *s = tool->session;
    BlockBackend *blk = qemuio_session_get_blk(s);

    if (!blk) {
        return;
    }
    qemuio_session_drain(s);
    qemuio_session_set_blk(s, NULL);
    blk_unref(blk);
}

/* ---- the tool's commands: open, close, quit ---- */

static void open_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" opens a new file in the requested mode\n"
"\n"
" Example:\n"
" 'open -n -o driver=raw /tmp/data' - opens raw data file read-write, uncached\n"
"\n"
" Opens a file for subsequent use by all of the other qemu-io commands.\n"
" -r, -- open file read-only\n"
" -s, -- use snapshot file\n"
" -C, -- use copy-on-read\n"
" -n, -- disable host cache, short for -t none\n"
" -U, -- force shared permissions\n"
" -k, -- use kernel AIO implementation (Linux only, prefer use of -i)\n"
" -i, -- use AIO mode (threads, native or io_uring)\n"
" -t, -- use the given cache mode for the image\n"
" -d, -- use the given discard mode for the image\n"
" -o, -- options to be given to the block driver\n");
}

static int open_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    IOTool *tool = qemuio_session_get_opaque(s);
    QemuOptsList *list = any_opts_list_new("drive", true);
    int flags = BDRV_O_UNMAP;
    bool readonly = false, writethrough = true, force_share = false;
    json_t *opts;
    QemuIOOptParser p;
    int c, ret = -EINVAL;

    qemuio_opt_init(&p, s, argc, argv, "snCro:ki:t:d:U");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 's':
            flags |= BDRV_O_SNAPSHOT;
            break;
        case 'n':
            flags |= BDRV_O_NOCACHE;
            writethrough = false;
            break;
        case 'C':
            flags |= BDRV_O_COPY_ON_READ;
            break;
        case 'r':
            readonly = true;
            break;
        case 'k':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 't':
            if (bdrv_parse_cache_mode(p.optarg, &flags, &writethrough) < 0) {
                qemuio_report(s, "Invalid cache option: %s", p.optarg);
                goto out;
            }
            break;
        case 'd':
            if (bdrv_parse_discard_flags(p.optarg, &flags) < 0) {
                qemuio_report(s, "Invalid discard option: %s", p.optarg);
                goto out;
            }
            break;
        case 'i':
            if (bdrv_parse_aio(p.optarg, &flags) < 0) {
                qemuio_report(s, "Invalid aio option: %s", p.optarg);
                goto out;
            }
            break;
        case 'o':
            if (tool->image_opts) {
                qemuio_printf(s, "--image-opts and 'open -o' are mutually "
                              "exclusive\n");
                goto out;
            }
            if (!parse_opts(s, list, p.optarg)) {
                goto out;
            }
            break;
        case 'U':
            force_share = true;
            break;
        default:
            qemuio_command_usage(s, &tool_cmds[0]);
            goto out;
        }
    }
    if (!readonly) {
        flags |= BDRV_O_RDWR;
    }
    if (tool->image_opts && p.optind == argc - 1) {
        if (!parse_opts(s, list, argv[p.optind])) {
            goto out;
        }
        p.optind++;
    }

    opts = opts_to_dict(list);
    if (p.optind == argc - 1) {
        ret = open_image(tool, argv[p.optind], flags, writethrough,
                         force_share, opts);
    } else if (p.optind == argc) {
        ret = open_image(tool, NULL, flags, writethrough, force_share, opts);
    } else {
        json_decref(opts);
        qemuio_command_usage(s, &tool_cmds[0]);
        goto out;
    }
    ret = ret ? -EINVAL : 0;

out:
    any_opts_list_free(list);
    return ret;
}

static int close_f(QemuIOSession *s, BlockBackend *blk, int argc,
                   char **argv)
{
    close_image(qemuio_session_get_opaque(s));
    return 0;
}

static int quit_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    qemuio_session_set_quit(s, true);
    return 0;
}

/* ---- --trace ---- */

/*
 * Strata has no trace events, so every event pattern names an event that
 * does not exist; qemu-io warns about those that are not wildcards.
 */
static void trace_check_pattern(const char *pattern, const char *file,
                                int line)
{
    const char *name = pattern[0] == '-' ? pattern + 1 : pattern;

    if (!*name || strpbrk(name, "*?")) {
        return;
    }
    if (file) {
        fprintf(stderr, "%s:%s:%d: warning: trace event '%s' does not "
                "exist\n", error_get_progname(), file, line, name);
    } else {
        warn_report("trace event '%s' does not exist", name);
    }
}

static bool trace_events_file(const char *path)
{
    g_autofree char *contents = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) gerr = NULL;

    if (!g_file_get_contents(path, &contents, NULL, &gerr)) {
        fprintf(stderr, "%s:%s: %s\n", error_get_progname(), path,
                g_strerror(gerr->code == G_FILE_ERROR_NOENT ? ENOENT :
                           gerr->code == G_FILE_ERROR_ACCES ? EACCES : EIO));
        return false;
    }
    lines = g_strsplit(contents, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        char *pattern = g_strstrip(lines[i]);

        if (pattern[0] && pattern[0] != '#') {
            trace_check_pattern(pattern, path, i + 1);
        }
    }
    return true;
}

/* -T [enable=]PATTERN,events=FILE,file=FILE.  Exits on errors. */
static void trace_option(const char *arg)
{
    static QemuOptsList trace_opts = {
        .name = "trace",
        .implied_opt_name = "enable",
        .desc = {
            { .name = "enable", .type = QEMU_OPT_STRING },
            { .name = "events", .type = QEMU_OPT_STRING },
            { .name = "file", .type = QEMU_OPT_STRING },
            { NULL }
        },
    };
    Error *err = NULL;
    QemuOpts *opts;
    const char *enable, *events, *file;

    opts = qemu_opts_parse_full(&trace_opts, arg, true, true, NULL, &err);
    if (!opts) {
        error_report_err(err);
        exit(1);
    }
    enable = qemu_opt_get(opts, "enable");
    events = qemu_opt_get(opts, "events");
    if (enable && is_help_option(enable)) {
        /* The list of trace events, which is empty. */
        exit(0);
    }
    if (enable) {
        trace_check_pattern(enable, NULL, 0);
    }
    if (events && !trace_events_file(events)) {
        exit(1);
    }
    /*
     * file=: qemu-io creates (empties) the log file; nothing is ever
     * logged into it here.
     */
    file = qemu_opt_get(opts, "file");
    if (file) {
        FILE *f = fopen(file, "w");

        if (!f) {
            error_report("Error opening logfile %s: %s", file,
                         strerror(errno));
            exit(1);
        }
        fclose(f);
    }
    qemu_opts_del(opts);
}

/* ---- running commands ---- */

/* Run the -c commands in order; false if any failed. */
static bool run_commands(QemuIOSession *s, GPtrArray *cmds)
{
    bool ok = true;

    for (guint i = 0; i < cmds->len; i++) {
        if (qemuio_session_quit_requested(s)) {
            break;
        }
        if (qemuio_session_command(s, g_ptr_array_index(cmds, i)) < 0) {
            ok = false;
        }
    }
    return ok;
}

static void stdin_readable(void *opaque)
{
    *(bool *)opaque = true;
}

/*
 * Wait for a line with the event loop running, so that aio requests
 * complete (and print) while the user types.
 */
static void wait_for_terminal_input(void)
{
    AioContext *ctx = qemu_get_aio_context();
    bool readable = false;

    aio_set_fd_handler(ctx, STDIN_FILENO, stdin_readable, NULL, &readable);
    while (!readable) {
        aio_poll(ctx, true);
    }
    aio_set_fd_handler(ctx, STDIN_FILENO, NULL, NULL, NULL);
}

/*
 * qemu-io reads input lines into a 1024-byte buffer: a longer line is
 * taken as several commands, split every 1023 bytes.  We do the same.
 */
#define INPUT_LINE_MAX 1024

/*
 * Commands from standard input, each after a prompt; false if any failed.
 * As in qemu-io, the event loop runs while we wait for the next line, so
 * aio requests finish (and print) between commands.  Regular files cannot
 * be watched (epoll refuses them): there we only run what is ready.
 */
static bool run_interactive(QemuIOSession *s, const char *prompt)
{
    struct stat st;
    bool watchable = fstat(STDIN_FILENO, &st) == 0 &&
                     (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
                      isatty(STDIN_FILENO));
    char line[INPUT_LINE_MAX];
    bool ok = true;

    while (!qemuio_session_quit_requested(s)) {
        size_t len;

        qemuio_printf(s, "%s", prompt);
        qemuio_flush_output(s);
        if (watchable) {
            wait_for_terminal_input();
        } else {
            while (aio_poll(qemu_get_aio_context(), false)) {
                /* run completions that are ready */
            }
        }
        if (!fgets(line, sizeof(line), stdin)) {
            break;
        }
        len = strlen(line);
        if (len > 0 && line[len - 1] == '\n') {
            line[len - 1] = '\0';
        }
        if (qemuio_session_command(s, line) < 0) {
            ok = false;
        }
    }
    return ok;
}

/*
 * The prompt is the program's name and "> ", like qemu-io's; under our
 * own name we print qemu-io's, which is what scripts driving an
 * interactive qemu-io wait for.
 */
static char *make_prompt(const char *progname)
{
    if (!strcmp(progname, "strata-io")) {
        progname = "qemu-io";
    }
    return g_strdup_printf("%s> ", progname);
}

/*
 * qemu-io's main loop keeps SIGUSR1, SIGALRM, SIGIO and SIGBUS blocked
 * (it takes them through a signalfd) and ignores SIGPIPE; "sigraise" and
 * signals sent by scripts behave the same here.
 */
static void setup_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGALRM);
    sigaddset(&set, SIGIO);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

enum {
    OPTION_OBJECT = 256,
    OPTION_IMAGE_OPTS = 257,
};

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "cmd", required_argument, NULL, 'c' },
        { "format", required_argument, NULL, 'f' },
        { "read-only", no_argument, NULL, 'r' },
        { "snapshot", no_argument, NULL, 's' },
        { "nocache", no_argument, NULL, 'n' },
        { "copy-on-read", no_argument, NULL, 'C' },
        { "misalign", no_argument, NULL, 'm' },
        { "native-aio", no_argument, NULL, 'k' },
        { "aio", required_argument, NULL, 'i' },
        { "discard", required_argument, NULL, 'd' },
        { "cache", required_argument, NULL, 't' },
        { "trace", required_argument, NULL, 'T' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    g_autoptr(GPtrArray) cmds = g_ptr_array_new();
    g_autofree char *prompt = NULL;
    const char *progname;
    const char *format = NULL;
    int flags = BDRV_O_UNMAP;
    bool readonly = false, writethrough = true, force_share = false;
    bool misalign = false;
    IOTool tool = { 0 };
    QemuIOSession *s;
    bool ok;
    int c;

    setup_signals();
    error_init(argv[0]);
    progname = error_get_progname();
    /* As qemu-io: no iothread objects. */
    object_type_set_user_creatable("iothread", false);

    while ((c = getopt_long(argc, argv, "hVc:d:f:rsnCmki:t:T:U",
                            long_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(progname);
            exit(0);
        case 'V':
            version(progname);
            exit(0);
        case 'c':
            g_ptr_array_add(cmds, optarg);
            break;
        case 'f':
            format = optarg;
            break;
        case 'r':
            readonly = true;
            break;
        case 's':
            flags |= BDRV_O_SNAPSHOT;
            break;
        case 'n':
            flags |= BDRV_O_NOCACHE;
            writethrough = false;
            break;
        case 'C':
            flags |= BDRV_O_COPY_ON_READ;
            break;
        case 'm':
            misalign = true;
            break;
        case 'k':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 'i':
            if (bdrv_parse_aio(optarg, &flags) < 0) {
                error_report("Invalid aio option: %s", optarg);
                exit(1);
            }
            break;
        case 't':
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache option: %s", optarg);
                exit(1);
            }
            break;
        case 'd':
            if (bdrv_parse_discard_flags(optarg, &flags) < 0) {
                error_report("Invalid discard option: %s", optarg);
                exit(1);
            }
            break;
        case 'T':
            trace_option(optarg);
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case OPTION_IMAGE_OPTS:
            tool.image_opts = true;
            break;
        default:
            usage(progname);
            exit(1);
        }
    }
    if (argc - optind > 1) {
        usage(progname);
        exit(1);
    }
    if (format && tool.image_opts) {
        error_report("--image-opts and -f are mutually exclusive");
        exit(1);
    }

    bdrv_init();
    s = qemuio_session_new(NULL);
    tool.session = s;
    qemuio_session_add_commands(s, tool_cmds, &tool);
    qemuio_session_set_misalign(s, misalign);
    if (!readonly) {
        flags |= BDRV_O_RDWR;
    }

    if (argc - optind == 1) {
        const char *arg = argv[optind];
        json_t *opts = NULL;
        int ret;

        if (tool.image_opts) {
            QemuOptsList *list = any_opts_list_new("file", false);

            if (!parse_opts(s, list, arg)) {
                exit(1);
            }
            opts = opts_to_dict(list);
            any_opts_list_free(list);
            ret = open_image(&tool, NULL, flags, writethrough, force_share,
                             opts);
        } else {
            if (format) {
                opts = json_object();
                json_object_set_new(opts, "driver", json_string(format));
            }
            ret = open_image(&tool, arg, flags, writethrough, force_share,
                             opts);
        }
        if (ret) {
            exit(1);
        }
    }

    if (cmds->len) {
        ok = run_commands(s, cmds);
    } else {
        prompt = make_prompt(progname);
        ok = run_interactive(s, prompt);
    }

    /* Requests still in flight complete (and print) before we exit. */
    close_image(&tool);
    qemuio_session_unref(s);
    user_creatable_cleanup();
    return ok ? 0 : 1;
}

static const QemuIOCommand tool_cmds[] = {
    {
        .name = "open", .altname = "o", .cfunc = open_f,
        .argmin = 1, .argmax = -1, .flags = QEMUIO_CMD_NOFILE_OK,
        .args = "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]",
        .oneline = "open the file specified by path",
        .help = open_help,
    }, {
        .name = "close", .altname = "c", .cfunc = close_f,
        .argmin = 0, .argmax = 0,
        .oneline = "close the current open file",
    }, {
        .name = "quit", .altname = "q", .cfunc = quit_f,
        .argmin = 0, .argmax = -1, .flags = QEMUIO_CMD_NOFILE_OK,
        .oneline = "exit the program",
    },
    { NULL }
};

/*
 * strata-nbd: serve one disk image over NBD with qemu-nbd 7.2's command
 * line, or list the exports of another NBD server (-L).
 */
#include "strata/osdep.h"
#include <getopt.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include "block/block_int.h"
#include "block/block-backend.h"
#include "block/export.h"
#include "nbd/client.h"
#include "nbd/server.h"
#include "qom/object.h"
#include "util/cutils.h"
#include "util/error.h"
#include "util/keyval.h"
#include "util/option.h"
#include "util/qdict.h"
#include "util/sockets.h"

#define NBD_EXPORT_ID "qemu-nbd-export"

/* Long options without a short form. */
enum {
    OPT_CACHE = 256,
    OPT_AIO,
    OPT_DISCARD,
    OPT_DETECT_ZEROES,
    OPT_OBJECT,
    OPT_TLSCREDS,
    OPT_TLSAUTHZ,
    OPT_TLSHOSTNAME,
    OPT_IMAGE_OPTS,
    OPT_FORK,
    OPT_PID_FILE,
    OPT_SELINUX_LABEL,
};

typedef enum ServerState {
    STATE_RUNNING,
    STATE_TERMINATE,    /* stop accepting, remove the export */
    STATE_TERMINATED,
} ServerState;

typedef struct NbdOptions {
    const char *bindto;
    const char *port;
    const char *sockpath;
    const char *export_name;
    const char *description;
    const char *fmt;
    const char *cache;
    const char *aio;
    const char *discard;
    const char *detect_zeroes;
    const char *tls_creds;
    const char *tls_authz;
    const char *tls_hostname;
    const char *pid_file;
    const char *device;         /* -c, refused */
    GPtrArray *bitmaps;
    uint64_t offset;
    uint32_t shared;
    bool readonly;
    bool snapshot;
    bool persistent;
    bool list;
    bool image_opts;
    bool fork_process;
    bool alloc_depth;
    bool disconnect;
    bool nocache;
    bool seen_offset;
    const char *load_snapshot;
} NbdOptions;

/* The running server's state, changed by signals and client departures. */
static ServerState state = STATE_RUNNING;
static bool persistent;

static void usage(const char *name)
{
    printf(
"Usage: %s [OPTIONS] FILE\n"
"  or:  %s -L [OPTIONS]\n"
"Strata disk image NBD server (compatible with qemu-nbd %s)\n"
"\n"
"  -h, --help                show this help and exit\n"
"  -V, --version             show the version and exit\n"
"\n"
"Connection:\n"
"  -p, --port=PORT           TCP port to listen on (default `%d')\n"
"  -b, --bind=IFACE          address to listen on (default `0.0.0.0')\n"
"  -k, --socket=PATH         listen on a UNIX socket at PATH instead\n"
"  -e, --shared=NUM          serve up to NUM clients at once (default '1',\n"
"                            0 for no limit)\n"
"  -t, --persistent          keep running after the last client leaves\n"
"  -v, --verbose             accepted for compatibility\n"
"  -x, --export-name=NAME    name of the export (default: empty)\n"
"  -D, --description=TEXT    description clients may show\n"
"\n"
"What is exported:\n"
"  -o, --offset=OFFSET       start the export OFFSET bytes into the image\n"
"  -A, --allocation-depth    offer the qemu:allocation-depth context\n"
"  -B, --bitmap=NAME         offer dirty bitmap NAME as the\n"
"                            qemu:dirty-bitmap:NAME context\n"
"\n"
"General:\n"
"  -L, --list                list the exports of another NBD server\n"
"  --object type,id=ID,...   create an object (such as a 'secret')\n"
"  --tls-creds=ID            TLS credentials object to use\n"
"  --tls-authz=ID            authorization object for TLS clients\n"
"  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
"                            accepted for compatibility\n"
"  --fork                    run in the background once the server is\n"
"                            ready\n"
"  --pid-file=PATH           write the server's process ID to PATH\n"
"\n"
"Kernel NBD devices (-c, --connect / -d, --disconnect) are not supported.\n"
"\n"
"Image:\n"
"  -f, --format=FORMAT       image format (raw, qcow2, ...)\n"
"  -r, --read-only           export read-only\n"
"  -s, --snapshot            send writes to a temporary overlay\n"
"  -l, --load-snapshot=SNAPSHOT_PARAM\n"
"                            not supported\n"
"  -n, --nocache             the same as --cache=none\n"
"      --cache=MODE          cache mode: 'none', 'writeback' (default),\n"
"                            'writethrough', 'directsync' or 'unsafe'\n"
"      --aio=MODE            AIO mode: threads, native or io_uring\n"
"      --discard=MODE        discard mode: ignore or unmap\n"
"      --detect-zeroes=MODE  detect zero writes: off, on or unmap\n"
"      --image-opts          FILE is a set of image options\n",
           name, name, STRATA_QEMU_API_VERSION, NBD_DEFAULT_PORT);
}

static void version(const char *name)
{
    printf("%s version " STRATA_VERSION_STRING
           " (compatible with qemu-nbd " STRATA_QEMU_API_VERSION ")\n"
           "Copyright (c) 2026 The Strata developers\n", name);
}

static STRATA_NORETURN void try_help(void)
{
    error_report("Try `%s --help' for more information.",
                 error_get_progname());
    exit(EXIT_FAILURE);
}

/* ---- -L ---- */

static SocketAddress *build_address(const NbdOptions *o)
{
    SocketAddress *addr = g_new0(SocketAddress, 1);

    if (o->sockpath) {
        addr->type = SOCKET_ADDRESS_TYPE_UNIX;
        addr->u.q_unix.path = g_strdup(o->sockpath);
    } else {
        addr->type = SOCKET_ADDRESS_TYPE_INET;
        addr->u.inet.host = g_strdup(o->bindto ? o->bindto : "0.0.0.0");
        addr->u.inet.port = o->port ? g_strdup(o->port)
                                    : g_strdup_printf("%d", NBD_DEFAULT_PORT);
    }
    return addr;
}

static const char *const flag_names[NBD_FLAG_BITS] = {
    [NBD_FLAG_READ_ONLY_BIT]          = "readonly",
    [NBD_FLAG_SEND_FLUSH_BIT]         = "flush",
    [NBD_FLAG_SEND_FUA_BIT]           = "fua",
    [NBD_FLAG_ROTATIONAL_BIT]         = "rotational",
    [NBD_FLAG_SEND_TRIM_BIT]          = "trim",
    [NBD_FLAG_SEND_WRITE_ZEROES_BIT]  = "zeroes",
    [NBD_FLAG_SEND_DF_BIT]            = "df",
    [NBD_FLAG_CAN_MULTI_CONN_BIT]     = "multi",
    [NBD_FLAG_SEND_RESIZE_BIT]        = "resize",
    [NBD_FLAG_SEND_CACHE_BIT]         = "cache",
    [NBD_FLAG_SEND_FAST_ZERO_BIT]     = "fast-zero",
};

static void print_export(const NBDExportInfo *e)
{
    printf(" export: '%s'\n", e->name);
    if (e->description && e->description[0]) {
        printf("  description: %s\n", e->description);
    }
    printf("  size:  %" PRIu64 "\n", e->size);
    printf("  flags: 0x%x (", e->flags);
    for (int bit = 0; bit < NBD_FLAG_BITS; bit++) {
        if (flag_names[bit] && (e->flags & (1 << bit))) {
            printf(" %s", flag_names[bit]);
        }
    }
    printf(" )\n");
    if (e->min_block) {
        printf("  min block: %u\n", e->min_block);
        printf("  opt block: %u\n", e->opt_block);
        printf("  max block: %u\n", e->max_block);
    }
    if (e->structured_reply) {
        printf("  available meta contexts: %d\n", e->n_contexts);
        for (int i = 0; i < e->n_contexts; i++) {
            printf("   %s\n", e->contexts[i]);
        }
    }
}

static int list_exports(const NbdOptions *o)
{
    g_autoptr(SocketAddress) addr = build_address(o);
    NBDExportInfo *list = NULL;
    NBDChannel *ch;
    Error *err = NULL;
    int fd, n;

    fd = socket_connect(addr, &err);
    if (fd < 0) {
        error_report_err(err);
        return EXIT_FAILURE;
    }
    ch = nbd_channel_new(fd, NULL);
    n = nbd_receive_export_list(ch, &list, &err);
    nbd_channel_free(ch);
    if (n < 0) {
        error_report_err(err);
        return EXIT_FAILURE;
    }
    printf("exports available: %d\n", n);
    for (int i = 0; i < n; i++) {
        print_export(&list[i]);
        nbd_export_info_clear(&list[i]);
    }
    g_free(list);
    return EXIT_SUCCESS;
}

/* ---- serving ---- */

static void client_closed(void *opaque, bool negotiated)
{
    NBDServer *srv = opaque;

    /* One-shot servers end after their first real client. */
    if (negotiated && !persistent && state == STATE_RUNNING &&
        nbd_server_client_count(srv) == 0) {
        state = STATE_TERMINATE;
    }
}

static void signal_read(void *opaque)
{
    int fd = (intptr_t)opaque;
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == sizeof(si)) {
        if (state == STATE_RUNNING) {
            state = STATE_TERMINATE;
        }
    }
}

/* SIGTERM, SIGINT and SIGHUP end the server cleanly, through the loop. */
static void setup_signals(void)
{
    sigset_t set;
    int fd;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        error_report("Failed to set up signal handling: %s",
                     strerror(errno));
        exit(EXIT_FAILURE);
    }
    aio_set_fd_handler(qemu_get_aio_context(), fd, signal_read, NULL,
                       (void *)(intptr_t)fd);
}

/*
 * --fork: the parent waits for the child to be ready, showing what the
 * child reports on its stderr meanwhile, and exits with success only if
 * the child got ready without a complaint.  Returns in the child, whose
 * stderr is the pipe to the parent until fork_server_ready().
 */
static void fork_server(void)
{
    int pipefd[2];
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        error_report("Error setting up communication pipe: %s",
                     strerror(errno));
        exit(EXIT_FAILURE);
    }
    pid = fork();
    if (pid < 0) {
        error_report("Failed to fork: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    if (pid == 0) {
        int null_fd;

        close(pipefd[0]);
        if (setsid() < 0) {
            error_report("Failed to detach from the terminal: %s",
                         strerror(errno));
            exit(EXIT_FAILURE);
        }
        null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            dup2(null_fd, STDIN_FILENO);
            dup2(null_fd, STDOUT_FILENO);
            close(null_fd);
        }
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[1]);
        return;
    }

    close(pipefd[1]);
    {
        bool errors = false;
        char buf[1024];
        ssize_t n;

        for (;;) {
            n = read(pipefd[0], buf, sizeof(buf));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            errors = true;
            if (write(STDERR_FILENO, buf, n) < 0) {
                break;
            }
        }
        /* The child closing the pipe without becoming ready means failure. */
        if (!errors) {
            int status;

            if (waitpid(pid, &status, WNOHANG) == pid) {
                errors = true;
            }
        }
        exit(errors ? EXIT_FAILURE : EXIT_SUCCESS);
    }
}

/*
 * The forked server is ready: closing the pipe lets the parent go.  Like
 * qemu-nbd, the daemon has nowhere to report to afterwards.
 */
static void fork_server_ready(void)
{
    int null_fd = open("/dev/null", O_RDWR);

    if (null_fd >= 0) {
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
    }
}

static void write_pid_file(const char *path)
{
    g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
    GError *gerr = NULL;

    if (!g_file_set_contents(path, pid, -1, &gerr)) {
        error_report("Could not create '%s': %s", path,
                     g_strerror(gerr->code == G_FILE_ERROR_NOENT ? ENOENT
                                : gerr->code == G_FILE_ERROR_ACCES ? EACCES
                                : EIO));
        g_error_free(gerr);
        exit(EXIT_FAILURE);
    }
}

static int open_flags(const NbdOptions *o, bool *writethrough)
{
    int flags = o->readonly ? 0 : BDRV_O_RDWR;

    *writethrough = false;
    if (o->snapshot) {
        flags |= BDRV_O_SNAPSHOT;
    }
    if (o->nocache) {
        flags |= BDRV_O_NOCACHE;
    }
    if (o->cache && bdrv_parse_cache_mode(o->cache, &flags,
                                          writethrough) < 0) {
        error_report("Invalid cache mode `%s'", o->cache);
        exit(EXIT_FAILURE);
    }
    if (o->aio && bdrv_parse_aio(o->aio, &flags) < 0) {
        error_report("Invalid aio mode '%s'", o->aio);
        exit(EXIT_FAILURE);
    }
    if (o->discard && bdrv_parse_discard_flags(o->discard, &flags) < 0) {
        error_report("Invalid discard mode `%s'", o->discard);
        exit(EXIT_FAILURE);
    }
    return flags;
}

/* --image-opts strings: any option; a first bare value is "file". */
static QemuOptsList image_opts_list = {
    .name = "image-opts",
    .implied_opt_name = "file",
    .desc = {
        { NULL }
    },
};

static BlockBackend *open_image(const NbdOptions *o, const char *srcpath,
                                int flags)
{
    json_t *options;
    BlockBackend *blk;
    Error *err = NULL;

    if (o->image_opts) {
        QemuOpts *opts = qemu_opts_parse_noisily(&image_opts_list, srcpath,
                                                 true);

        if (!opts) {
            exit(EXIT_FAILURE);
        }
        options = qemu_opts_to_qdict(opts, NULL);
        qemu_opts_del(opts);
    } else {
        BlockDriver *proto = bdrv_find_protocol(srcpath, true, NULL);

        options = json_object();
        if (o->fmt) {
            qdict_put_str(options, "driver", o->fmt);
        }
        /*
         * qemu-nbd reads and writes files through its thread pool unless
         * told otherwise; that also keeps page-cache copies off the thread
         * that talks to the clients.
         */
        if ((!o->aio || !strcmp(o->aio, "threads")) &&
            (proto == &bdrv_file || proto == &bdrv_host_device)) {
            bool direct = o->fmt && !strcmp(o->fmt, proto->format_name);

            qdict_put_str(options, direct ? "aio" : "file.aio", "threads");
        }
    }
    if (o->detect_zeroes) {
        qdict_put_str(options, "detect-zeroes", o->detect_zeroes);
    }
    blk = blk_new_open(o->image_opts ? NULL : srcpath, NULL, options, flags,
                       &err);
    if (!blk) {
        error_prepend(&err, "Failed to blk_new_open '%s': ", srcpath);
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    return blk;
}

/* -o: a raw node over the image that starts @offset bytes in. */
static BlockDriverState *apply_offset(BlockDriverState *bs, uint64_t offset,
                                      int flags)
{
    json_t *opts = json_object();
    BlockDriverState *top;
    Error *err = NULL;

    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file", bdrv_get_node_name(bs));
    qdict_put_int(opts, "offset", offset);
    top = bdrv_open(NULL, NULL, opts, flags, &err);
    if (!top) {
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    return top;
}

static BlockExportOptions *export_options(const NbdOptions *o,
                                          BlockDriverState *bs,
                                          bool writethrough)
{
    BlockExportOptions *opts = g_new0(BlockExportOptions, 1);
    BlockDirtyBitmapOrStrList **tail = &opts->u.nbd.bitmaps;

    opts->type = BLOCK_EXPORT_TYPE_NBD;
    opts->id = g_strdup(NBD_EXPORT_ID);
    opts->node_name = g_strdup(bdrv_get_node_name(bs));
    opts->has_writable = true;
    opts->writable = !o->readonly && !bdrv_is_read_only(bs);
    opts->has_writethrough = true;
    opts->writethrough = writethrough;
    opts->u.nbd.has_name = true;
    opts->u.nbd.name = g_strdup(o->export_name ? o->export_name : "");
    opts->u.nbd.has_description = o->description != NULL;
    opts->u.nbd.description = g_strdup(o->description);
    opts->u.nbd.has_allocation_depth = o->alloc_depth;
    opts->u.nbd.allocation_depth = o->alloc_depth;
    for (guint i = 0; i < o->bitmaps->len; i++) {
        BlockDirtyBitmapOrStr *b = g_new0(BlockDirtyBitmapOrStr, 1);

        b->type = QTYPE_QSTRING;
        b->u.local = g_strdup(g_ptr_array_index(o->bitmaps, i));
        *tail = g_new0(BlockDirtyBitmapOrStrList, 1);
        (*tail)->value = b;
        tail = &(*tail)->next;
    }
    opts->u.nbd.has_bitmaps = o->bitmaps->len > 0;
    return opts;
}

static void parse_args(int argc, char **argv, NbdOptions *o)
{
    static const char sopt[] = "hVb:o:p:rsnc:dvk:e:f:tl:x:T:D:AB:L";
    static const struct option lopt[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "bind", required_argument, NULL, 'b' },
        { "port", required_argument, NULL, 'p' },
        { "socket", required_argument, NULL, 'k' },
        { "offset", required_argument, NULL, 'o' },
        { "read-only", no_argument, NULL, 'r' },
        { "allocation-depth", no_argument, NULL, 'A' },
        { "bitmap", required_argument, NULL, 'B' },
        { "connect", required_argument, NULL, 'c' },
        { "disconnect", no_argument, NULL, 'd' },
        { "list", no_argument, NULL, 'L' },
        { "snapshot", no_argument, NULL, 's' },
        { "load-snapshot", required_argument, NULL, 'l' },
        { "nocache", no_argument, NULL, 'n' },
        { "cache", required_argument, NULL, OPT_CACHE },
        { "aio", required_argument, NULL, OPT_AIO },
        { "discard", required_argument, NULL, OPT_DISCARD },
        { "detect-zeroes", required_argument, NULL, OPT_DETECT_ZEROES },
        { "shared", required_argument, NULL, 'e' },
        { "format", required_argument, NULL, 'f' },
        { "persistent", no_argument, NULL, 't' },
        { "verbose", no_argument, NULL, 'v' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { "export-name", required_argument, NULL, 'x' },
        { "description", required_argument, NULL, 'D' },
        { "tls-creds", required_argument, NULL, OPT_TLSCREDS },
        { "tls-authz", required_argument, NULL, OPT_TLSAUTHZ },
        { "tls-hostname", required_argument, NULL, OPT_TLSHOSTNAME },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { "trace", required_argument, NULL, 'T' },
        { "fork", no_argument, NULL, OPT_FORK },
        { "pid-file", required_argument, NULL, OPT_PID_FILE },
        { "selinux-label", required_argument, NULL, OPT_SELINUX_LABEL },
        { NULL, 0, NULL, 0 }
    };
    int ch;

    while ((ch = getopt_long(argc, argv, sopt, lopt, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(error_get_progname());
            exit(EXIT_SUCCESS);
        case 'V':
            version(error_get_progname());
            exit(EXIT_SUCCESS);
        case 'b':
            o->bindto = optarg;
            break;
        case 'p':
            o->port = optarg;
            break;
        case 'k':
            o->sockpath = optarg;
            if (optarg[0] != '/') {
                /* Relative paths would break once --fork changes cwd. */
                o->sockpath = g_canonicalize_filename(optarg, NULL);
            }
            break;
        case 'o':
            if (qemu_strtou64(optarg, NULL, 0, &o->offset) < 0) {
                error_report("Invalid offset '%s'", optarg);
                exit(EXIT_FAILURE);
            }
            o->seen_offset = true;
            break;
        case 'r':
            o->readonly = true;
            break;
        case 'A':
            o->alloc_depth = true;
            break;
        case 'B':
            /* Newest first, as qemu-nbd lists (and numbers) them. */
            g_ptr_array_insert(o->bitmaps, 0, optarg);
            break;
        case 'c':
            o->device = optarg;
            break;
        case 'd':
            o->disconnect = true;
            break;
        case 'L':
            o->list = true;
            break;
        case 's':
            o->snapshot = true;
            break;
        case 'l':
            o->load_snapshot = optarg;
            break;
        case 'n':
            o->nocache = true;
            break;
        case OPT_CACHE:
            o->cache = optarg;
            break;
        case OPT_AIO:
            o->aio = optarg;
            break;
        case OPT_DISCARD:
            o->discard = optarg;
            break;
        case OPT_DETECT_ZEROES:
            o->detect_zeroes = optarg;
            break;
        case 'e': {
            int n;

            if (qemu_strtoi(optarg, NULL, 0, &n) < 0 || n < 0) {
                error_report("Invalid shared device number '%s'", optarg);
                exit(EXIT_FAILURE);
            }
            o->shared = n;
            break;
        }
        case 'f':
            o->fmt = optarg;
            break;
        case 't':
            o->persistent = true;
            break;
        case 'v':
        case 'T':
            break;
        case OPT_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case 'x':
            o->export_name = optarg;
            break;
        case 'D':
            o->description = optarg;
            break;
        case OPT_TLSCREDS:
            o->tls_creds = optarg;
            break;
        case OPT_TLSAUTHZ:
            o->tls_authz = optarg;
            break;
        case OPT_TLSHOSTNAME:
            o->tls_hostname = optarg;
            break;
        case OPT_IMAGE_OPTS:
            o->image_opts = true;
            break;
        case OPT_FORK:
            o->fork_process = true;
            break;
        case OPT_PID_FILE:
            o->pid_file = optarg;
            break;
        case OPT_SELINUX_LABEL:
            error_report("SELinux support not enabled in this binary");
            exit(EXIT_FAILURE);
        default:
            /* getopt_long has said what was wrong. */
            try_help();
        }
    }
}

/* The combinations qemu-nbd refuses, with its messages. */
static void check_args(int argc, const NbdOptions *o)
{
    if (o->list) {
        if (argc != optind) {
            error_report("List mode is incompatible with a file name");
            exit(EXIT_FAILURE);
        }
        /* The same set as qemu-nbd: -r, -s, -t, -e ... are tolerated. */
        if (o->export_name || o->description || o->seen_offset ||
            o->bitmaps->len || o->alloc_depth || o->device ||
            o->disconnect || o->fmt || o->load_snapshot || o->nocache ||
            o->cache || o->aio || o->discard) {
            error_report("List mode is incompatible with per-device "
                         "settings");
            exit(EXIT_FAILURE);
        }
        if (o->fork_process) {
            error_report("List mode is incompatible with forking");
            exit(EXIT_FAILURE);
        }
    } else if (o->disconnect || o->device) {
        error_report("Kernel NBD devices (-c/--connect, -d/--disconnect) "
                     "are not supported; serve the image on a socket "
                     "instead");
        exit(EXIT_FAILURE);
    } else if (argc - optind != 1) {
        error_report("Invalid number of arguments");
        fprintf(stderr, "Try `%s --help' for more information.\n",
                error_get_progname());
        exit(EXIT_FAILURE);
    }
    if (o->tls_authz && !o->tls_creds) {
        error_report("--tls-authz is not permitted without --tls-creds");
        exit(EXIT_FAILURE);
    }
    if (o->tls_hostname && !o->list) {
        error_report("--tls-hostname is not permitted without --list");
        exit(EXIT_FAILURE);
    }
    if (o->tls_creds) {
        /* No TLS credential objects exist: any id is unknown. */
        error_report("Failed to get TLS creds: No TLS credentials with id "
                     "'%s'", o->tls_creds);
        exit(EXIT_FAILURE);
    }
    if (o->image_opts && o->fmt) {
        error_report("--image-opts and -f are mutually exclusive");
        exit(EXIT_FAILURE);
    }
    if (o->load_snapshot) {
        error_report("-l/--load-snapshot is not supported");
        exit(EXIT_FAILURE);
    }
    if (o->detect_zeroes) {
        if (strcmp(o->detect_zeroes, "off") &&
            strcmp(o->detect_zeroes, "on") &&
            strcmp(o->detect_zeroes, "unmap")) {
            error_report("Failed to parse detect_zeroes mode: invalid "
                         "parameter value: %s", o->detect_zeroes);
            exit(EXIT_FAILURE);
        }
        if (!strcmp(o->detect_zeroes, "unmap") &&
            !(o->discard && (!strcmp(o->discard, "unmap") ||
                             !strcmp(o->discard, "on")))) {
            error_report("setting detect-zeroes to unmap is not allowed "
                         "without setting discard operation to unmap");
            exit(EXIT_FAILURE);
        }
    }
}

int main(int argc, char **argv)
{
    NbdOptions o = { .shared = 1 };
    g_autoptr(SocketAddress) addr = NULL;
    BlockExportOptions *eopts;
    BlockDriverState *bs;
    BlockBackend *blk;
    NBDServer *srv;
    const char *srcpath;
    bool writethrough;
    Error *err = NULL;
    int flags;

    error_init(argv[0]);
    o.bitmaps = g_ptr_array_new();
    parse_args(argc, argv, &o);
    check_args(argc, &o);

    if (o.list) {
        signal(SIGPIPE, SIG_IGN);
        return list_exports(&o);
    }
    srcpath = argv[optind];
    persistent = o.persistent;
    flags = open_flags(&o, &writethrough);

    if (o.fork_process) {
        fork_server();
    }

    bdrv_init();
    setup_signals();

    addr = build_address(&o);
    if (nbd_server_start(addr, NULL, NULL, o.shared, &err) < 0) {
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    srv = nbd_server_get();

    blk = open_image(&o, srcpath, flags);
    bs = blk_bs(blk);
    if (o.seen_offset && o.offset) {
        bs = apply_offset(bs, o.offset, flags);
    } else {
        bdrv_ref(bs);
    }
    eopts = export_options(&o, bs, writethrough);
    if (!blk_exp_add(eopts, &err)) {
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    qapi_free_BlockExportOptions(eopts);
    /* The export's own backend holds the node now. */
    blk_unref(blk);
    bdrv_unref(bs);

    nbd_server_set_client_closed(srv, client_closed, srv);
    if (o.pid_file) {
        write_pid_file(o.pid_file);
    }
    if (o.fork_process) {
        fork_server_ready();
    }

    while (state != STATE_TERMINATED) {
        aio_poll(qemu_get_aio_context(), true);
        if (state == STATE_TERMINATE) {
            nbd_server_set_accepting(srv, false);
            blk_exp_close_all();
            AIO_WAIT_WHILE(qemu_get_aio_context(), blk_exp_any());
            state = STATE_TERMINATED;
        }
    }
    nbd_server_stop(NULL);
    bdrv_close_all();
    if (o.sockpath) {
        unlink(o.sockpath);
    }
    g_ptr_array_free(o.bitmaps, true);
    return EXIT_SUCCESS;
}

/*
 * strata-storage-daemon: block nodes, exports and jobs in a long-running
 * process controlled over QMP (the qemu-storage-daemon drop-in).
 *
 * Options are processed in the order given, so an option can only refer
 * to what earlier ones created; --pidfile and --daemonize take effect
 * first, whatever their position, as in qemu-storage-daemon.
 */
#include "strata/osdep.h"
#include "block/block.h"
#include "block/blockdev.h"
#include "block/export.h"
#include "block/job.h"
#include "monitor/chardev.h"
#include "monitor/monitor.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-input-visitor.h"
#include "qom/object.h"
#include "util/keyval.h"
#include "util/qdict.h"
#include <getopt.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>

enum {
    OPTION_BLOCKDEV = 256,
    OPTION_CHARDEV,
    OPTION_DAEMONIZE,
    OPTION_EXPORT,
    OPTION_MONITOR,
    OPTION_NBD_SERVER,
    OPTION_OBJECT,
    OPTION_PIDFILE,
};

static const struct option long_options[] = {
    { "blockdev", required_argument, NULL, OPTION_BLOCKDEV },
    { "chardev", required_argument, NULL, OPTION_CHARDEV },
    { "daemonize", no_argument, NULL, OPTION_DAEMONIZE },
    { "export", required_argument, NULL, OPTION_EXPORT },
    { "help", no_argument, NULL, 'h' },
    { "monitor", required_argument, NULL, OPTION_MONITOR },
    { "nbd-server", required_argument, NULL, OPTION_NBD_SERVER },
    { "object", required_argument, NULL, OPTION_OBJECT },
    { "pidfile", required_argument, NULL, OPTION_PIDFILE },
    { "trace", required_argument, NULL, 'T' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static const char *pid_file;
static bool daemonize;
/* --daemonize: the parent waits on this pipe for the startup result. */
static int daemon_status_fd = -1;

static void help(void)
{
    printf(
"Usage: %s [options]\n"
"Serve disk images to other processes and run block jobs on them, under the\n"
"control of QMP clients (a drop-in for qemu-storage-daemon).\n"
"\n"
"  -h, --help             print this help and exit\n"
"  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
"                         accepted for compatibility; Strata has no trace points\n"
"  -V, --version          print the version and exit\n"
"\n"
"  --blockdev [driver=]<driver>[,node-name=<N>][,discard=ignore|unmap]\n"
"             [,cache.direct=on|off][,cache.no-flush=on|off]\n"
"             [,read-only=on|off][,auto-read-only=on|off]\n"
"             [,force-share=on|off][,detect-zeroes=on|off|unmap]\n"
"             [,driver specific parameters...]\n"
"                         open a block node, as the QMP command blockdev-add\n"
"                         (keyval or JSON syntax)\n"
"\n"
"  --chardev socket,id=<id>,path=<path>[,server=on|off][,wait=on|off]\n"
"  --chardev socket,id=<id>,host=<host>,port=<port>[,server=on|off][,wait=on|off]\n"
"  --chardev socket,id=<id>,fd=<fd>[,server=on|off]\n"
"  --chardev stdio,id=<id>\n"
"                         create a character device for a monitor\n"
"\n"
"  --daemonize            run in the background; the command returns once\n"
"                         startup succeeded (exit 0) or failed (exit 1)\n"
"\n"
"  --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]\n"
"           [,writable=on|off][,bitmap=<name>]\n"
"                         export a block node over NBD (needs --nbd-server)\n"
"\n"
"  --monitor [chardev=]<id>[,mode=control][,pretty[=on|off]]\n"
"                         run a QMP monitor on a character device\n"
"\n"
"  --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>\n"
"               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]\n"
"  --nbd-server addr.type=unix,addr.path=<path>\n"
"               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]\n"
"  --nbd-server addr.type=fd,addr.str=<fd>[,max-connections=<n>]\n"
"                         start the NBD server that exports are served on\n"
"\n"
"  --object help          list the object types\n"
"  --object <type>,help   list the properties of an object type\n"
"  --object <type>,id=<id>[,<property>=<value>...]\n"
"                         create an object (secret, iothread, throttle-group)\n"
"\n"
"  --pidfile <path>       once started, write the process ID to <path>\n"
"                         (locked; removed at exit)\n"
"\n"
"The daemon runs until the QMP command 'quit' or SIGINT, SIGHUP or SIGTERM;\n"
"then it closes the exports, flushes and closes every node, and exits.\n"
"See strata-storage-daemon(1) for details.\n",
           error_get_progname());
}

static void print_version(void)
{
    printf("%s version %s (compatible with qemu-storage-daemon %s)\n"
           "Copyright (c) 2026 The Strata developers\n",
           error_get_progname(), STRATA_VERSION_STRING,
           STRATA_QEMU_API_VERSION);
}

/* Print @err as "<prog>: <option> <arg>: <message>" and fail startup. */
static void G_NORETURN startup_failed(Error *err)
{
    error_report_err(err);
    exit(EXIT_FAILURE);
}

static void check(Error *err)
{
    if (err) {
        startup_failed(err);
    }
}

static void add_blockdev(const char *optarg)
{
    Error *err = NULL;
    BlockdevOptions *options = NULL;
    Visitor *v = qobject_input_visitor_new_str(optarg, "driver", &err);

    check(err);
    visit_type_BlockdevOptions(v, NULL, &options, &err);
    visit_free(v);
    check(err);
    blockdev_add(options, &err);
    qapi_free_BlockdevOptions(options);
    check(err);
}

static void add_chardev(const char *optarg)
{
    Error *err = NULL;
    bool help_wanted = false;
    json_t *opts = keyval_parse(optarg, "backend", &help_wanted, &err);

    check(err);
    if (help_wanted) {
        printf("Available chardev backend types:\n  socket\n  stdio\n");
        json_decref(opts);
        exit(EXIT_SUCCESS);
    }
    chardev_new_from_keyval(opts, &err);
    json_decref(opts);
    check(err);
}

static void add_export(const char *optarg)
{
    Error *err = NULL;
    BlockExportOptions *export = NULL;
    Visitor *v = qobject_input_visitor_new_str(optarg, "type", &err);

    check(err);
    visit_type_BlockExportOptions(v, NULL, &export, &err);
    visit_free(v);
    check(err);
    qmp_block_export_add(export, &err);
    qapi_free_BlockExportOptions(export);
    check(err);
}

static void add_monitor(const char *optarg)
{
    Error *err = NULL;
    MonitorOptions *monitor = NULL;
    Visitor *v = qobject_input_visitor_new_str(optarg, "chardev", &err);

    check(err);
    visit_type_MonitorOptions(v, NULL, &monitor, &err);
    visit_free(v);
    check(err);
    monitor_new_from_options(monitor, &err);
    qapi_free_MonitorOptions(monitor);
    check(err);
}

static void start_nbd_server(const char *optarg)
{
    Error *err = NULL;
    NbdServerOptions *options = NULL;
    Visitor *v = qobject_input_visitor_new_str(optarg, NULL, &err);

    check(err);
    visit_type_NbdServerOptions(v, NULL, &options, &err);
    visit_free(v);
    check(err);
    nbd_server_start_options(options, &err);
    qapi_free_NbdServerOptions(options);
    check(err);
}

/*
 * Two passes over the command line: the first handles what must happen
 * before anything is created (help, version, --pidfile, --daemonize), the
 * second everything else in order.
 */
static void process_options(int argc, char **argv, bool first_pass)
{
    int c;

    optind = 1;
    opterr = first_pass;
    while ((c = getopt_long(argc, argv, "-hT:V", long_options, NULL)) != -1) {
        bool early = c == '?' || c == 'h' || c == 'V' ||
                     c == OPTION_DAEMONIZE || c == OPTION_PIDFILE;
        g_autofree char *loc = NULL;

        if (early != first_pass) {
            continue;
        }
        if (optarg && c != 1) {
            /* Errors name the option as given: "--blockdev ARG: ...". */
            const char *word = argv[optind - 1];

            loc = word == optarg
                  ? g_strdup_printf("%s %s", argv[optind - 2], optarg)
                  : g_strdup(word);
            error_set_location(loc);
        }
        switch (c) {
        case '?':
            exit(EXIT_FAILURE);
        case 'h':
            help();
            exit(EXIT_SUCCESS);
        case 'V':
            print_version();
            exit(EXIT_SUCCESS);
        case 'T':
            /* Strata has no trace points; accepted so scripts keep working. */
            break;
        case OPTION_BLOCKDEV:
            add_blockdev(optarg);
            break;
        case OPTION_CHARDEV:
            add_chardev(optarg);
            break;
        case OPTION_DAEMONIZE:
            daemonize = true;
            break;
        case OPTION_EXPORT:
            add_export(optarg);
            break;
        case OPTION_MONITOR:
            add_monitor(optarg);
            break;
        case OPTION_NBD_SERVER:
            start_nbd_server(optarg);
            break;
        case OPTION_OBJECT:
            user_creatable_process_cmdline(optarg);
            break;
        case OPTION_PIDFILE:
            pid_file = optarg;
            break;
        case 1:
            error_set_location(argv[optind - 1]);
            error_report("Unexpected argument");
            exit(EXIT_FAILURE);
        default:
            g_assert_not_reached();
        }
        error_set_location(NULL);
    }
}

/* ---- pid file ---- */

static int pid_file_fd = -1;

static bool write_pid_file(const char *path, Error **errp)
{
    g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
    struct stat a, b;
    int fd;

    for (;;) {
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            error_setg_errno(errp, errno, "Could not create '%s'", path);
            return false;
        }
        if (fstat(fd, &a) < 0) {
            error_setg_errno(errp, errno, "Cannot stat file");
            goto fail;
        }
        if (lockf(fd, F_TLOCK, 0) < 0) {
            error_setg_errno(errp, errno, "Cannot lock pid file");
            goto fail;
        }
        /* Another daemon may have removed the file after we opened it. */
        if (stat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            break;
        }
        close(fd);
    }
    if (ftruncate(fd, 0) < 0) {
        error_setg_errno(errp, errno, "Failed to truncate pid file");
        goto fail;
    }
    if (write(fd, pid, strlen(pid)) != (ssize_t)strlen(pid)) {
        error_setg(errp, "Failed to write pid file");
        goto fail;
    }
    pid_file_fd = fd;
    return true;

fail:
    close(fd);
    return false;
}

static void remove_pid_file(void)
{
    if (pid_file_fd >= 0) {
        unlink(pid_file);
        close(pid_file_fd);
        pid_file_fd = -1;
    }
}

/* ---- --daemonize ---- */

/*
 * Fork; the parent waits until the child reports its startup result and
 * exits with it.  Returns in the child (a new session leader).
 */
static void daemonize_start(void)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        error_report("Cannot create a pipe: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    pid = fork();
    if (pid < 0) {
        error_report("Cannot fork: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    if (pid > 0) {
        uint8_t status = 1;
        ssize_t n;

        close(fds[1]);
        do {
            n = read(fds[0], &status, 1);
        } while (n < 0 && errno == EINTR);
        /* No byte at all: the child died during startup. */
        _exit(n == 1 && status == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
    }
    close(fds[0]);
    daemon_status_fd = fds[1];
    setsid();
}

/* Startup succeeded: detach from the terminal and release the parent. */
static void daemonize_finish(void)
{
    uint8_t ok = 0;
    int null_fd;

    if (daemon_status_fd < 0) {
        return;
    }
    if (chdir("/") < 0) {
        error_report("Cannot change to /: %s", strerror(errno));
        exit(EXIT_FAILURE);
    }
    null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
    }
    if (write(daemon_status_fd, &ok, 1) != 1) {
        exit(EXIT_FAILURE);
    }
    close(daemon_status_fd);
    daemon_status_fd = -1;
}

/* ---- signals ---- */

static void signal_read(void *opaque)
{
    int fd = (intptr_t)opaque;
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == sizeof(si)) {
        if (!monitor_exit_requested()) {
            qapi_event_send_shutdown(false, SHUTDOWN_CAUSE_HOST_SIGNAL);
        }
        monitor_request_exit();
    }
}

/*
 * SIGTERM, SIGINT and SIGHUP end the daemon cleanly through the main loop.
 * Blocked before any thread exists, so that no thread takes them.
 */
static int block_termination_signals(void)
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
    return fd;
}

int main(int argc, char **argv)
{
    int signal_fd;

    error_init(argv[0]);
    signal_fd = block_termination_signals();
    process_options(argc, argv, true);
    if (daemonize) {
        daemonize_start();
    }

    qemu_init_main_loop();
    bdrv_init();
    monitor_init_globals();
    aio_set_fd_handler(qemu_get_aio_context(), signal_fd, signal_read, NULL,
                       (void *)(intptr_t)signal_fd);

    monitor_hold_requests(true);
    process_options(argc, argv, false);
    monitor_hold_requests(false);

    /*
     * As documented for qemu-storage-daemon: the pid file appears after
     * chardevs, exports and the NBD server exist, before any client is
     * served, so its presence means the daemon is ready.
     */
    if (pid_file) {
        Error *err = NULL;

        if (!write_pid_file(pid_file, &err)) {
            error_prepend(&err, "cannot create PID file: ");
            startup_failed(err);
        }
    }
    daemonize_finish();

    while (!monitor_exit_requested()) {
        aio_poll(qemu_get_aio_context(), true);
    }

    /* Exports first (they hold nodes), then the nodes: flushed, closed. */
    blk_exp_close_all();
    while (blk_exp_any()) {
        aio_poll(qemu_get_aio_context(), true);
    }
    /* As qemu-storage-daemon: jobs still running are cancelled. */
    job_cancel_sync_all();
    blockdev_close_all();
    monitor_cleanup();
    user_creatable_cleanup();
    aio_set_fd_handler(qemu_get_aio_context(), signal_fd, NULL, NULL, NULL);
    close(signal_fd);
    remove_pid_file();
    return EXIT_SUCCESS;
}

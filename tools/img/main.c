/*
 * strata-img: command dispatch, the help and version texts, and the
 * helpers every subcommand uses (option parsing, opening, progress).
 */
#include "strata/osdep.h"
#include <signal.h>

#include "tools/img/img.h"
#include "block/block_int.h"
#include "qom/object.h"
#include "util/cutils.h"
#include "util/option.h"
#include "util/qdict.h"
#include "util/keyval.h"

typedef struct ImgCmd {
    const char *name;
    int (*handler)(int argc, char **argv);
    /* The synopsis line shown by --help. */
    const char *synopsis;
} ImgCmd;

/* In the order qemu-img lists them. */
static const ImgCmd img_cmds[] = {
    { "amend", img_amend,
      "amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] "
      "[-t cache] [--force] -o options filename" },
    { "bench", img_bench,
      "bench [-c count] [-d depth] [-f fmt] "
      "[--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] "
      "[-o offset] [--pattern=pattern] [-q] [-s buffer_size] "
      "[-S step_size] [-t cache] [-w] [-U] filename" },
    { "bitmap", img_bitmap,
      "bitmap (--merge SOURCE | --add | --remove | --clear | --enable | "
      "--disable)... [-b source_file [-F source_fmt]] [-g granularity] "
      "[--object objectdef] [--image-opts | -f fmt] filename bitmap" },
    { "check", img_check,
      "check [--object objectdef] [--image-opts] [-q] [-f fmt] "
      "[--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename" },
    { "commit", img_commit,
      "commit [--object objectdef] [--image-opts] [-q] [-f fmt] "
      "[-t cache] [-b base] [-r rate_limit] [-d] [-p] filename" },
    { "compare", img_compare,
      "compare [--object objectdef] [--image-opts] [-f fmt] [-F fmt] "
      "[-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2" },
    { "convert", img_convert,
      "convert [--object objectdef] [--image-opts] [--target-image-opts] "
      "[--target-is-zero] [--bitmaps] [-U] [-C] [-c] [-p] [-q] [-n] "
      "[-f fmt] [-t cache] [-T src_cache] [-O output_fmt] "
      "[-B backing_file [-F backing_fmt]] [-o options] "
      "[-l snapshot_param] [-S sparse_size] [-r rate_limit] "
      "[-m num_coroutines] [-W] [--salvage] filename [filename2 [...]] "
      "output_filename" },
    { "create", img_create,
      "create [--object objectdef] [-q] [-f fmt] "
      "[-b backing_file [-F backing_fmt]] [-u] [-o options] filename "
      "[size]" },
    { "dd", img_dd,
      "dd [--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] "
      "[count=blocks] [skip=blocks] if=input of=output" },
    { "info", img_info,
      "info [--object objectdef] [--image-opts] [-f fmt] [--output=ofmt] "
      "[--backing-chain] [-U] filename" },
    { "map", img_map,
      "map [--object objectdef] [--image-opts] [-f fmt] "
      "[--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] "
      "filename" },
    { "measure", img_measure,
      "measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | "
      "[--object objectdef] [--image-opts] [-f fmt] [-l snapshot_param] "
      "filename]" },
    { "snapshot", img_snapshot,
      "snapshot [--object objectdef] [--image-opts] [-U] [-q] "
      "[-l | -a snapshot | -c snapshot | -d snapshot] filename" },
    { "rebase", img_rebase,
      "rebase [--object objectdef] [--image-opts] [-U] [-q] [-f fmt] "
      "[-t cache] [-T src_cache] [-p] [-u] -b backing_file "
      "[-F backing_fmt] filename" },
    { "resize", img_resize,
      "resize [--object objectdef] [--image-opts] [-f fmt] "
      "[--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size" },
};

/*
 * The parameter descriptions of --help.  They describe qemu-img's
 * interface, which strata-img keeps, so the text is the same a user of
 * qemu-img knows.
 */
static const char help_params[] =
"Command parameters:\n"
"  'filename' is a disk image filename\n"
"  'objectdef' is a QEMU user creatable object definition. See the qemu(1)\n"
"    manual page for a description of the object properties. The most common\n"
"    object type is a 'secret', which is used to supply passwords and/or\n"
"    encryption keys.\n"
"  'fmt' is the disk image format. It is guessed automatically in most cases\n"
"  'cache' is the cache mode used to write the output disk image, the valid\n"
"    options are: 'none', 'writeback' (default, except for convert), 'writethrough',\n"
"    'directsync' and 'unsafe' (default for convert)\n"
"  'src_cache' is the cache mode used to read input disk images, the valid\n"
"    options are the same as for the 'cache' option\n"
"  'size' is the disk image size in bytes. Optional suffixes\n"
"    'k' or 'K' (kilobyte, 1024), 'M' (megabyte, 1024k), 'G' (gigabyte, 1024M),\n"
"    'T' (terabyte, 1024G), 'P' (petabyte, 1024T) and 'E' (exabyte, 1024P)  are\n"
"    supported. 'b' is ignored.\n"
"  'output_filename' is the destination disk image filename\n"
"  'output_fmt' is the destination format\n"
"  'options' is a comma separated list of format specific options in a\n"
"    name=value format. Use -o help for an overview of the options supported by\n"
"    the used format\n"
"  'snapshot_param' is param used for internal snapshot, format\n"
"    is 'snapshot.id=[ID],snapshot.name=[NAME]', or\n"
"    '[ID_OR_NAME]'\n"
"  '-c' indicates that target image must be compressed (qcow format only)\n"
"  '-u' allows unsafe backing chains. For rebasing, it is assumed that old and\n"
"       new backing file match exactly. The image doesn't need a working\n"
"       backing file before rebasing in this case (useful for renaming the\n"
"       backing file). For image creation, allow creating without attempting\n"
"       to open the backing file.\n"
"  '-h' with or without a command shows this help and lists the supported formats\n"
"  '-p' show progress of command (only certain commands)\n"
"  '-q' use Quiet mode - do not print any output (except errors)\n"
"  '-S' indicates the consecutive number of bytes (defaults to 4k) that must\n"
"       contain only zeros for qemu-img to create a sparse image during\n"
"       conversion. If the number of bytes is 0, the source will not be scanned for\n"
"       unallocated or zero sectors, and the destination image will always be\n"
"       fully allocated\n"
"  '--output' takes the format in which the output must be done (human or json)\n"
"  '-n' skips the target volume creation (useful if the volume is created\n"
"       prior to running qemu-img)\n"
"\n"
"Parameters to bitmap subcommand:\n"
"  'bitmap' is the name of the bitmap to manipulate, through one or more\n"
"       actions from '--add', '--remove', '--clear', '--enable', '--disable',\n"
"       or '--merge source'\n"
"  '-g granularity' sets the granularity for '--add' actions\n"
"  '-b source' and '-F src_fmt' tell '--merge' actions to find the source\n"
"       bitmaps from an alternative file\n"
"\n"
"Parameters to check subcommand:\n"
"  '-r' tries to repair any inconsistencies that are found during the check.\n"
"       '-r leaks' repairs only cluster leaks, whereas '-r all' fixes all\n"
"       kinds of errors, with a higher risk of choosing the wrong fix or\n"
"       hiding corruption that has already occurred.\n"
"\n"
"Parameters to convert subcommand:\n"
"  '--bitmaps' copies all top-level persistent bitmaps to destination\n"
"  '-m' specifies how many coroutines work in parallel during the convert\n"
"       process (defaults to 8)\n"
"  '-W' allow to write to the target out of order rather than sequential\n"
"\n"
"Parameters to snapshot subcommand:\n"
"  'snapshot' is the name of the snapshot to create, apply or delete\n"
"  '-a' applies a snapshot (revert disk to saved state)\n"
"  '-c' creates a snapshot\n"
"  '-d' deletes a snapshot\n"
"  '-l' lists all snapshots in the given image\n"
"\n"
"Parameters to compare subcommand:\n"
"  '-f' first image format\n"
"  '-F' second image format\n"
"  '-s' run in Strict mode - fail on different image size or sector allocation\n"
"\n"
"Parameters to dd subcommand:\n"
"  'bs=BYTES' read and write up to BYTES bytes at a time (default: 512)\n"
"  'count=N' copy only N input blocks\n"
"  'if=FILE' read from FILE\n"
"  'of=FILE' write to FILE\n"
"  'skip=N' skip N bs-sized blocks at the start of input\n";

static void print_format_name(void *opaque, const char *name)
{
    printf(" %s", name);
}

static void print_version(void);

void img_help(void)
{
    const char *prog = error_get_progname();

    print_version();
    printf("usage: %s [standard options] command [command options]\n"
           "Strata disk image utility (compatible with qemu-img %s)\n"
           "\n"
           "    '-h', '--help'       display this help and exit\n"
           "    '-V', '--version'    output version information and exit\n"
           "    '-T', '--trace'      [[enable=]<pattern>][,events=<file>]"
           "[,file=<file>]\n"
           "                         specify tracing options\n"
           "\n"
           "Command syntax:\n", prog, STRATA_QEMU_API_VERSION);
    for (size_t i = 0; i < ARRAY_SIZE(img_cmds); i++) {
        printf("  %s\n", img_cmds[i].synopsis);
    }
    printf("\n%s", help_params);
    printf("\nSupported formats:");
    bdrv_iterate_format(print_format_name, NULL, false);
    /* qemu-img adds where to report bugs to QEMU; that is not ours. */
    printf("\n");
    exit(EXIT_SUCCESS);
}

static void print_version(void)
{
    printf("%s version %s (compatible with qemu-img %s)\n"
           "Copyright (c) 2026 The Strata developers\n",
           error_get_progname(), STRATA_VERSION_STRING,
           STRATA_QEMU_API_VERSION);
}

void img_error_exit(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vreport(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information\n",
            error_get_progname());
    exit(EXIT_FAILURE);
}

void img_missing_argument(const char *option)
{
    img_error_exit("missing argument for option '%s'", option);
}

void img_unrecognized_option(const char *option)
{
    img_error_exit("unrecognized option '%s'", option);
}

bool img_common_getopt(int c, char **argv)
{
    switch (c) {
    case ':':
        img_missing_argument(argv[optind - 1]);
    case '?':
        img_unrecognized_option(argv[optind - 1]);
    case 'h':
        img_help();
    default:
        return false;
    }
}

int64_t img_cvtnum_full(const char *name, const char *value, int64_t min,
                        int64_t max)
{
    uint64_t res;
    int err = qemu_strtosz(value, NULL, &res);

    if (err < 0 && err != -ERANGE) {
        error_report("Invalid %s specified. You may use "
                     "k, M, G, T, P or E suffixes for", name);
        error_report("kilobytes, megabytes, gigabytes, terabytes, "
                     "petabytes and exabytes.");
        return err;
    }
    if (err == -ERANGE || res > (uint64_t)max || (int64_t)res < min) {
        error_report("Invalid %s specified. Must be between %" PRId64
                     " and %" PRId64 ".", name, min, max);
        return -ERANGE;
    }
    return res;
}

int64_t img_cvtnum(const char *name, const char *value)
{
    return img_cvtnum_full(name, value, 0, INT64_MAX);
}

int img_accumulate_options(char **options, const char *optarg)
{
    char *joined;

    if (!is_valid_option_list(optarg)) {
        error_report("Invalid option list: %s", optarg);
        return -1;
    }
    if (!*options) {
        *options = g_strdup(optarg);
    } else {
        joined = g_strdup_printf("%s,%s", *options, optarg);
        g_free(*options);
        *options = joined;
    }
    return 0;
}

int img_print_block_option_help(const char *filename, const char *fmt)
{
    BlockDriver *drv = bdrv_find_format(fmt);
    QemuOptsList *list;
    Error *err = NULL;

    if (!drv) {
        error_report("Unknown file format '%s'", fmt);
        return 1;
    }
    if (!drv->create_opts) {
        error_report("Format driver '%s' does not support image creation",
                     fmt);
        return 1;
    }
    list = bdrv_create_opts_for(drv, filename, &err);
    if (!list) {
        error_report_err(err);
        return 1;
    }
    if (filename) {
        printf("Supported options:\n");
    } else {
        printf("Supported %s options:\n", fmt);
    }
    qemu_opts_print_help(list, false);
    qemu_opts_free(list);
    if (!filename) {
        printf("\n"
               "The protocol level may support further options.\n"
               "Specify the target filename to include those options.\n");
    }
    return 0;
}

int img_parse_output_format(const char *output, OutputFormat *fmt)
{
    if (!output || !strcmp(output, "human")) {
        *fmt = OFORMAT_HUMAN;
    } else if (!strcmp(output, "json")) {
        *fmt = OFORMAT_JSON;
    } else {
        error_report("--output must be used with human or json as argument.");
        return -1;
    }
    return 0;
}

/*
 * --object: the shared user-creatable objects (qom/).  Errors exit with
 * @fail_status (compare uses 2, as qemu-img's does), help with 0.
 */
void img_process_object(const char *optarg)
{
    img_process_object_status(optarg, EXIT_FAILURE);
}

void img_process_object_status(const char *optarg, int fail_status)
{
    Error *err = NULL;

    if (!user_creatable_add_from_str(optarg, &err)) {
        if (err) {
            error_report_err(err);
            exit(fail_status);
        }
        exit(EXIT_SUCCESS);
    }
}

/* --image-opts strings: any option, the first bare value is "file". */
static QemuOptsList source_opts = {
    .name = "source",
    .implied_opt_name = "file",
    .desc = {
        { NULL }
    },
};

static BlockBackend *finish_open(BlockBackend *blk, bool writethrough)
{
    blk_set_enable_write_cache(blk, !writethrough);
    return blk;
}

static BlockBackend *img_open_opts(const char *optstr, int flags,
                                   bool writethrough, bool force_share)
{
    QemuOpts *opts = qemu_opts_parse_noisily(&source_opts, optstr, true);
    json_t *options;
    Error *err = NULL;
    BlockBackend *blk;

    if (!opts) {
        return NULL;
    }
    options = qemu_opts_to_qdict(opts, NULL);
    qemu_opts_del(opts);
    if (force_share) {
        const char *fs = qdict_get_try_str(options, BDRV_OPT_FORCE_SHARE);

        if (qdict_haskey(options, BDRV_OPT_FORCE_SHARE) &&
            (!fs || strcmp(fs, "on"))) {
            error_report("--force-share/-U conflicts with image options");
            json_decref(options);
            return NULL;
        }
        qdict_put_str(options, BDRV_OPT_FORCE_SHARE, "on");
    }
    blk = blk_new_open(NULL, NULL, options, flags, &err);
    if (!blk) {
        error_prepend(&err, "Could not open '%s': ", optstr);
        error_report_err(err);
        return NULL;
    }
    return finish_open(blk, writethrough);
}

BlockBackend *img_open_file(const char *filename, json_t *options,
                            const char *fmt, int flags, bool writethrough,
                            bool quiet, bool force_share)
{
    Error *err = NULL;
    BlockBackend *blk;

    if (!options) {
        options = json_object();
    }
    if (fmt) {
        qdict_put_str(options, "driver", fmt);
    }
    if (force_share) {
        qdict_put_bool(options, BDRV_OPT_FORCE_SHARE, true);
    }
    blk = blk_new_open(filename, NULL, options, flags, &err);
    if (!blk) {
        error_prepend(&err, "Could not open '%s': ", filename);
        error_report_err(err);
        return NULL;
    }
    return finish_open(blk, writethrough);
}

BlockBackend *img_open(bool image_opts, const char *filename,
                       const char *fmt, int flags, bool writethrough,
                       bool quiet, bool force_share)
{
    if (image_opts) {
        if (fmt) {
            error_report("--image-opts and --format are mutually exclusive");
            return NULL;
        }
        return img_open_opts(filename, flags, writethrough, force_share);
    }
    return img_open_file(filename, NULL, fmt, flags, writethrough, quiet,
                         force_share);
}

json_t *img_threads_aio_options(const char *filename, const char *fmt,
                                int flags)
{
    BlockDriver *proto;
    json_t *options;

    if (flags & (BDRV_O_NATIVE_AIO | BDRV_O_IO_URING)) {
        return NULL;
    }
    proto = bdrv_find_protocol(filename, true, NULL);
    if (proto != &bdrv_file && proto != &bdrv_host_device) {
        return NULL;
    }
    options = json_object();
    if (fmt && !strcmp(fmt, proto->format_name)) {
        qdict_put_str(options, "aio", "threads");
    } else {
        qdict_put_str(options, "file.aio", "threads");
    }
    return options;
}

bool img_parse_cache(const char *mode, int *flags, bool *writethrough,
                     const char *what)
{
    if (bdrv_parse_cache_mode(mode, flags, writethrough) < 0) {
        error_report("Invalid %s option: %s", what, mode);
        return false;
    }
    return true;
}

bool img_has_zero_init(BlockDriverState *bs)
{
    /*
     * The block layer has no has_zero_init query yet (reported).  Until
     * it has, follow QEMU's answers for the drivers Strata has: a regular
     * file reads as zeros when new; raw, qcow, qcow2 and vmdk images do
     * when their storage does (qcow2 not when encrypted); others do not.
     */
    static const char *const forwarding[] = { "raw", "qcow", "qcow2",
                                              "vmdk" };

    while (bs && bs->drv) {
        const char *name = bs->drv->format_name;
        bool forwards = false;

        if (!strcmp(name, "file")) {
            return true;
        }
        for (size_t i = 0; i < ARRAY_SIZE(forwarding); i++) {
            forwards |= !strcmp(name, forwarding[i]);
        }
        if (!forwards || !bs->file || bs->encrypted) {
            return false;
        }
        bs = bs->file->bs;
    }
    return false;
}

/* ---- progress ---- */

static struct {
    float current;
    float last_print;
    float min_skip;
    bool enabled;
} progress;
static volatile sig_atomic_t progress_requested;

static void progress_signal(int sig)
{
    progress_requested = 1;
}

static void progress_show(void)
{
    printf("    (%3.2f/100%%)\r", progress.current);
    fflush(stdout);
}

void img_progress_init(bool enabled, float min_skip)
{
    progress.current = 0;
    progress.last_print = 0;
    progress.min_skip = min_skip;
    progress.enabled = enabled;
    if (!enabled) {
        /* As qemu-img: SIGUSR1 asks for one progress line. */
        struct sigaction sa = { .sa_handler = progress_signal };

        sigaction(SIGUSR1, &sa, NULL);
    }
}

void img_progress_print(float delta, int max)
{
    float current = max ? progress.current + delta / 100 * max : delta;

    if (current > 100) {
        current = 100;
    }
    progress.current = current;
    if (current > progress.last_print + progress.min_skip ||
        current < progress.last_print - progress.min_skip ||
        current == 0 || current == 100) {
        progress.last_print = current;
        if (progress.enabled) {
            progress_show();
        } else if (progress_requested) {
            /* Asked for by SIGUSR1: one line on stderr. */
            progress_requested = 0;
            fprintf(stderr, "    (%3.2f/100%%)\n", progress.current);
        }
    }
}

void img_progress_end(void)
{
    if (progress.enabled) {
        printf("\n");
    }
}

bool img_blocks_differ(const uint8_t *a, const uint8_t *b, int64_t bytes,
                       int64_t *pnum)
{
    int64_t i = MIN(bytes, (int64_t)BDRV_SECTOR_SIZE);
    bool differ = memcmp(a, b, i) != 0;

    while (i < bytes) {
        int64_t len = MIN(bytes - i, (int64_t)BDRV_SECTOR_SIZE);

        if ((memcmp(a + i, b + i, len) != 0) != differ) {
            break;
        }
        i += len;
    }
    *pnum = i;
    return differ;
}

int64_t img_rate_delay_ns(ImgRateLimit *rl, int64_t bytes)
{
    int64_t now, due;

    if (!rl->rate) {
        return 0;
    }
    now = get_clock_ns();
    if (!rl->slice_start || now - rl->slice_start > NANOSECONDS_PER_SECOND) {
        rl->slice_start = now;
        rl->slice_bytes = 0;
    }
    rl->slice_bytes += bytes;
    due = rl->slice_bytes * NANOSECONDS_PER_SECOND / rl->rate;
    return MAX(0, due - (now - rl->slice_start));
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "trace", required_argument, NULL, 'T' },
        { NULL, 0, NULL, 0 }
    };
    const char *cmdname;
    int c;

    signal(SIGPIPE, SIG_IGN);
    error_init(argv[0]);
    bdrv_init();
    /* As qemu-img: no iothread objects. */
    object_type_set_user_creatable("iothread", false);

    if (argc < 2) {
        img_error_exit("Not enough arguments");
    }
    while ((c = getopt_long(argc, argv, "+:hVT:", long_options, NULL)) != -1) {
        switch (c) {
        case ':':
            img_missing_argument(argv[optind - 1]);
        case '?':
            img_unrecognized_option(argv[optind - 1]);
        case 'h':
            img_help();
        case 'V':
            print_version();
            return 0;
        case 'T':
            /* No trace events exist in Strata; the option is accepted. */
            break;
        }
    }

    cmdname = argv[optind];
    argc -= optind;
    if (argc < 1) {
        return 0;
    }
    argv += optind;
    optind = 0;

    for (size_t i = 0; i < ARRAY_SIZE(img_cmds); i++) {
        if (!strcmp(cmdname, img_cmds[i].name)) {
            int ret = img_cmds[i].handler(argc, argv);

            bdrv_close_all();
            user_creatable_cleanup();
            return ret;
        }
    }
    img_error_exit("Command not found: %s", cmdname);
}

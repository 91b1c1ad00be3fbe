/*
 * What the strata-img subcommands share: the command table, option and
 * size parsing helpers, image opening, and the progress indicator.
 */
#ifndef TOOLS_IMG_IMG_H
#define TOOLS_IMG_IMG_H

#include "strata/osdep.h"
#include <getopt.h>
#include <jansson.h>

#include "block/block-backend.h"
#include "util/error.h"

/* Long-only options (values above any short option character). */
enum {
    OPTION_OUTPUT = 256,
    OPTION_BACKING_CHAIN,
    OPTION_OBJECT,
    OPTION_IMAGE_OPTS,
    OPTION_PATTERN,
    OPTION_FLUSH_INTERVAL,
    OPTION_NO_DRAIN,
    OPTION_TARGET_IMAGE_OPTS,
    OPTION_SIZE,
    OPTION_PREALLOCATION,
    OPTION_SHRINK,
    OPTION_SALVAGE,
    OPTION_TARGET_IS_ZERO,
    OPTION_ADD,
    OPTION_REMOVE,
    OPTION_CLEAR,
    OPTION_ENABLE,
    OPTION_DISABLE,
    OPTION_MERGE,
    OPTION_BITMAPS,
    OPTION_FORCE,
    OPTION_SKIP_BROKEN,
    OPTION_START_OFFSET,
    OPTION_MAX_LENGTH,
};

typedef enum OutputFormat {
    OFORMAT_JSON,
    OFORMAT_HUMAN,
} OutputFormat;

/* Default cache mode of commands that do not say otherwise. */
#define IMG_DEFAULT_CACHE "writeback"

/* ---- command handlers (one file per group) ---- */
int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_map(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_check(int argc, char **argv);
int img_dd(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_bitmap(int argc, char **argv);

/* ---- usage errors: print, point at --help, exit(1) ---- */
void STRATA_NORETURN STRATA_PRINTF(1, 2) img_error_exit(const char *fmt, ...);
void STRATA_NORETURN img_missing_argument(const char *option);
void STRATA_NORETURN img_unrecognized_option(const char *option);
/* The full help text and the list of formats; exits 0. */
void STRATA_NORETURN img_help(void);

/*
 * Handle the getopt results every command treats alike (':' missing
 * argument, '?' unknown option, 'h' help).  Returns true if @c was one.
 */
bool img_common_getopt(int c, char **argv);

/*
 * Parse a size as qemu-img's cvtnum does: "Invalid <name> specified..."
 * with the suffix hint, or the range message.  Returns the value or a
 * negative errno (after printing the error).
 */
int64_t img_cvtnum_full(const char *name, const char *value, int64_t min,
                        int64_t max);
int64_t img_cvtnum(const char *name, const char *value);

/* Join "-o" arguments with ','; refuses malformed lists.  0 or -1. */
int img_accumulate_options(char **options, const char *optarg);
/* "-o help": the creation options of @fmt (and @filename's protocol). */
int img_print_block_option_help(const char *filename, const char *fmt);

/* --output=human|json; returns -1 after printing the error. */
int img_parse_output_format(const char *output, OutputFormat *fmt);

/* --object: create a user object (qom/object.h); exits on errors. */
void img_process_object(const char *optarg);
/* The same, exiting with @fail_status on errors (compare uses 2). */
void img_process_object_status(const char *optarg, int fail_status);

/*
 * Open an image the way every command does: with --image-opts @filename is
 * an option string ("driver=raw,file.filename=x"), otherwise a file name
 * opened with format @fmt (NULL: probe).  Errors are printed as
 * "Could not open '<name>': <reason>".  @writethrough disables the
 * backend's write cache; @force_share sets force-share=on.
 */
BlockBackend *img_open(bool image_opts, const char *filename,
                       const char *fmt, int flags, bool writethrough,
                       bool quiet, bool force_share);
/* The plain-file form, with extra @options (reference taken) */
BlockBackend *img_open_file(const char *filename, json_t *options,
                            const char *fmt, int flags, bool writethrough,
                            bool quiet, bool force_share);

/*
 * Options asking for the thread-pool AIO engine on the protocol node of a
 * plain file (qemu-img's default engine; it is the fastest for buffered
 * copies), or NULL when @filename is no plain file or @flags already name
 * an engine.  Pass the result to img_open_file().
 */
json_t *img_threads_aio_options(const char *filename, const char *fmt,
                                int flags);

/* Parse a cache mode for the target ("Invalid cache option: %s"). */
bool img_parse_cache(const char *mode, int *flags, bool *writethrough,
                     const char *what);

/*
 * Does a new image on @bs read as zeros without being written?  True for
 * format drivers over regular files that do not preallocate with data.
 */
bool img_has_zero_init(BlockDriverState *bs);

/* ---- progress ("    (12.34/100%)\r" on stdout) ---- */
void img_progress_init(bool enabled, float min_skip);
/* Add @delta percent scaled by @max / 100 (or set @delta when max is 0). */
void img_progress_print(float delta, int max);
void img_progress_end(void);

/*
 * -l SNAPSHOT_PARAM: "snapshot.id=..,snapshot.name=.." (into *@sn_opts) or
 * a bare id-or-name (into *@name).  False after printing an error.
 */
bool img_parse_snapshot_param(const char *arg, QemuOpts **sn_opts,
                              const char **name);
/* Load an internal snapshot of the (read-only) source for reading. */
bool img_load_snapshot(BlockBackend *blk, Error **errp);

/*
 * Is the first 512-byte block of @a different from that of @b?  *@pnum:
 * how many bytes from the start, in whole blocks (the last may be
 * partial), give the same answer.  @bytes must be positive.
 */
bool img_blocks_differ(const uint8_t *a, const uint8_t *b, int64_t bytes,
                       int64_t *pnum);

/*
 * -r RATE: a one-second budget of @rate bytes.  img_rate_delay_ns()
 * accounts @bytes about to be written and says how long to wait first.
 */
typedef struct ImgRateLimit {
    int64_t rate;           /* bytes per second; 0: unlimited */
    int64_t slice_start;    /* ns, start of the current second */
    int64_t slice_bytes;
} ImgRateLimit;
int64_t img_rate_delay_ns(ImgRateLimit *rl, int64_t bytes);

#endif

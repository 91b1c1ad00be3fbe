/*
 * strata-img compare: tell whether two images read the same, using block
 * status to skip what is zero on both sides.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "util/buffer-zero.h"

#define COMPARE_BUF_SIZE (2 * MiB)

/* Exit codes of compare. */
enum {
    COMPARE_EQUAL = 0,
    COMPARE_DIFFERENT = 1,
    COMPARE_OPEN_ERROR = 2,
    COMPARE_STATUS_ERROR = 3,
    COMPARE_READ_ERROR = 4,
};

typedef struct CompareState {
    const char *name[2];
    BlockBackend *blk[2];
    uint8_t *buf[2];
    bool quiet;
} CompareState;

static void compare_say(CompareState *s, const char *fmt, ...)
    STRATA_PRINTF(2, 3);

static void compare_say(CompareState *s, const char *fmt, ...)
{
    va_list ap;

    if (!s->quiet) {
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
}

/* Offset of the first 512-byte block of @buf that is not zero, or -1. */
static int64_t first_nonzero_block(const uint8_t *buf, int64_t n)
{
    for (int64_t i = 0; i < n; i += BDRV_SECTOR_SIZE) {
        if (!buffer_is_zero(buf + i, MIN(n - i, (int64_t)BDRV_SECTOR_SIZE))) {
            return i;
        }
    }
    return -1;
}

/* Image @idx must read as zeros in [offset, offset + bytes). */
static int check_empty(CompareState *s, int idx, int64_t offset,
                       int64_t bytes)
{
    int ret = blk_pread(s->blk[idx], offset, bytes, s->buf[0], 0);
    int64_t nz;

    if (ret < 0) {
        error_report("Error while reading offset %" PRId64 " of %s: %s",
                     offset, s->name[idx], strerror(-ret));
        return COMPARE_READ_ERROR;
    }
    nz = first_nonzero_block(s->buf[0], bytes);
    if (nz >= 0) {
        compare_say(s, "Content mismatch at offset %" PRId64 "!\n",
                    offset + nz);
        return COMPARE_DIFFERENT;
    }
    return COMPARE_EQUAL;
}

static int compare_data(CompareState *s, int64_t offset, int64_t chunk)
{
    int64_t pnum;
    bool differ;

    for (int i = 0; i < 2; i++) {
        int ret = blk_pread(s->blk[i], offset, chunk, s->buf[i], 0);

        if (ret < 0) {
            error_report("Error while reading offset %" PRId64 " of %s: %s",
                         offset, s->name[i], strerror(-ret));
            return COMPARE_READ_ERROR;
        }
    }
    differ = img_blocks_differ(s->buf[0], s->buf[1], chunk, &pnum);
    if (differ || pnum != chunk) {
        compare_say(s, "Content mismatch at offset %" PRId64 "!\n",
                    offset + (differ ? 0 : pnum));
        return COMPARE_DIFFERENT;
    }
    return COMPARE_EQUAL;
}

static int compare_images(CompareState *s, bool strict)
{
    int64_t size[2], total, base, offset = 0;
    int ret;

    for (int i = 0; i < 2; i++) {
        size[i] = blk_getlength(s->blk[i]);
        if (size[i] < 0) {
            error_report("Can't get size of %s: %s", s->name[i],
                         strerror(-size[i]));
            return COMPARE_READ_ERROR;
        }
    }
    total = MIN(size[0], size[1]);
    base = MAX(size[0], size[1]);
    img_progress_print(0, 100);

    if (strict && size[0] != size[1]) {
        compare_say(s, "Strict mode: Image size mismatch!\n");
        return COMPARE_DIFFERENT;
    }

    while (offset < total) {
        int64_t pnum[2], chunk;
        int status[2];
        bool alloc[2];

        for (int i = 0; i < 2; i++) {
            status[i] = bdrv_block_status_above(blk_bs(s->blk[i]), NULL,
                                                offset, size[i] - offset,
                                                &pnum[i], NULL, NULL);
            if (status[i] < 0) {
                error_report("Sector allocation test failed for %s",
                             s->name[i]);
                return COMPARE_STATUS_ERROR;
            }
            alloc[i] = status[i] & BDRV_BLOCK_ALLOCATED;
        }
        assert(pnum[0] && pnum[1]);
        chunk = MIN(pnum[0], pnum[1]);

        if (strict && status[0] != status[1]) {
            compare_say(s, "Strict mode: Offset %" PRId64
                        " block status mismatch!\n", offset);
            return COMPARE_DIFFERENT;
        }
        if ((status[0] & BDRV_BLOCK_ZERO) && (status[1] & BDRV_BLOCK_ZERO)) {
            /* Both zero: nothing to read. */
        } else if (alloc[0] == alloc[1]) {
            if (alloc[0]) {
                chunk = MIN(chunk, COMPARE_BUF_SIZE);
                ret = compare_data(s, offset, chunk);
                if (ret) {
                    return ret;
                }
            }
        } else {
            /* Unallocated on one side: the other must read as zeros. */
            chunk = MIN(chunk, COMPARE_BUF_SIZE);
            ret = check_empty(s, alloc[0] ? 0 : 1, offset, chunk);
            if (ret) {
                return ret;
            }
        }
        offset += chunk;
        img_progress_print(((float)chunk / base) * 100, 100);
    }

    if (size[0] != size[1]) {
        int over = size[0] > size[1] ? 0 : 1;

        compare_say(s, "Warning: Image size mismatch!\n");
        while (offset < base) {
            int64_t chunk;

            ret = bdrv_block_status_above(blk_bs(s->blk[over]), NULL, offset,
                                          base - offset, &chunk, NULL, NULL);
            if (ret < 0) {
                error_report("Sector allocation test failed for %s",
                             s->name[over]);
                return COMPARE_STATUS_ERROR;
            }
            if ((ret & BDRV_BLOCK_ALLOCATED) && !(ret & BDRV_BLOCK_ZERO)) {
                chunk = MIN(chunk, COMPARE_BUF_SIZE);
                ret = check_empty(s, over, offset, chunk);
                if (ret) {
                    return ret;
                }
            }
            offset += chunk;
            img_progress_print(((float)chunk / base) * 100, 100);
        }
    }
    compare_say(s, "Images are identical.\n");
    return COMPARE_EQUAL;
}

int img_compare(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    CompareState s = { 0 };
    const char *fmt[2] = { NULL, NULL }, *cache = IMG_DEFAULT_CACHE;
    bool progress = false, strict = false, image_opts = false;
    bool force_share = false, writethrough;
    int flags = 0, ret;
    int c;

    while ((c = getopt_long(argc, argv, ":hf:F:T:pqsU", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'f':
            fmt[0] = optarg;
            break;
        case 'F':
            fmt[1] = optarg;
            break;
        case 'T':
            cache = optarg;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            s.quiet = true;
            break;
        case 's':
            strict = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_OBJECT:
            /* compare's exit status 2 means "could not open". */
            img_process_object_status(optarg, COMPARE_OPEN_ERROR);
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    if (s.quiet) {
        progress = false;
    }
    if (optind != argc - 2) {
        img_error_exit("Expecting two image file names");
    }
    s.name[0] = argv[optind];
    s.name[1] = argv[optind + 1];

    img_progress_init(progress, 2.0);
    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid source cache option: %s", cache);
        ret = COMPARE_OPEN_ERROR;
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        s.blk[i] = img_open(image_opts, s.name[i], fmt[i], flags,
                            writethrough, s.quiet, force_share);
        if (!s.blk[i]) {
            ret = COMPARE_OPEN_ERROR;
            goto out;
        }
        s.buf[i] = blk_blockalign(s.blk[i], COMPARE_BUF_SIZE);
    }
    ret = compare_images(&s, strict);

out:
    for (int i = 1; i >= 0; i--) {
        qemu_vfree(s.buf[i]);
        if (s.blk[i]) {
            blk_unref(s.blk[i]);
        }
    }
    img_progress_end();
    return ret;
}

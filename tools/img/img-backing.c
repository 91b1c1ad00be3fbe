/*
 * strata-img rebase and commit: the commands that change an image's
 * backing chain.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "util/qdict.h"

#define REBASE_BUF_SIZE (2 * MiB)

/*
 * The image of @bs's backing chain (below @bs) that @name designates: by
 * its file name as opened, or by the name resolved relative to the image
 * above it (as QEMU's bdrv_find_backing_image() matches).
 */
static BlockDriverState *bdrv_find_backing_image_by_name(BlockDriverState *bs,
                                                         const char *name)
{
    for (BlockDriverState *above = bs, *p = bdrv_backing_chain_next(bs); p;
         above = p, p = bdrv_backing_chain_next(p)) {
        g_autofree char *full = NULL;
        g_autofree char *want = NULL;
        g_autofree char *have = NULL;

        if (!strcmp(p->filename, name) || !strcmp(above->backing_file, name)) {
            return p;
        }
        full = bdrv_get_full_backing_filename_from_filename(above->filename,
                                                            name, NULL);
        want = full ? realpath(full, NULL) : NULL;
        have = realpath(p->filename, NULL);
        if (want && have && !strcmp(want, have)) {
            return p;
        }
    }
    return NULL;
}

typedef struct RebaseState {
    BlockBackend *blk, *old_backing, *new_backing;
    BlockDriverState *bs;
    const char *filename, *new_name;
} RebaseState;

/*
 * Safe mode: copy into the image every area it does not allocate itself
 * where the old and the new backing file differ, so that its content does
 * not change.  Returns 0 or -1 after printing the error.
 */
static int rebase_copy_differences(RebaseState *s, float step)
{
    g_autofree uint8_t *buf_old = g_malloc(REBASE_BUF_SIZE);
    g_autofree uint8_t *buf_new = g_malloc(REBASE_BUF_SIZE);
    int64_t size = blk_getlength(s->blk), old_size = 0, new_size = 0;
    int64_t offset, n;
    int ret;

    if (size < 0) {
        error_report("Could not get size of '%s': %s", s->filename,
                     strerror(-size));
        return -1;
    }
    if (s->old_backing) {
        old_size = blk_getlength(s->old_backing);
        if (old_size < 0) {
            error_report("Could not get size of '%s': %s",
                         s->bs->backing_file, strerror(-old_size));
            return -1;
        }
    }
    if (s->new_backing) {
        new_size = blk_getlength(s->new_backing);
        if (new_size < 0) {
            error_report("Could not get size of '%s': %s", s->new_name,
                         strerror(-new_size));
            return -1;
        }
    }

    for (offset = 0; offset < size; offset += n) {
        bool old_is_zero = false;
        int64_t done = 0;

        n = MIN(REBASE_BUF_SIZE, size - offset);
        ret = bdrv_is_allocated(bdrv_skip_filters(s->bs), offset, n, &n);
        if (ret < 0) {
            error_report("error while reading image metadata: %s",
                         strerror(-ret));
            return -1;
        }
        if (ret) {
            continue;
        }
        if (offset >= old_size) {
            memset(buf_old, 0, n);
            old_is_zero = true;
        } else {
            n = MIN(n, old_size - offset);
            if (blk_pread(s->old_backing, offset, n, buf_old, 0) < 0) {
                error_report("error while reading from old backing file");
                return -1;
            }
        }
        if (offset >= new_size || !s->new_backing) {
            memset(buf_new, 0, n);
        } else {
            n = MIN(n, new_size - offset);
            if (blk_pread(s->new_backing, offset, n, buf_new, 0) < 0) {
                error_report("error while reading from new backing file");
                return -1;
            }
        }
        while (done < n) {
            int64_t pnum;

            if (img_blocks_differ(buf_old + done, buf_new + done, n - done,
                                  &pnum)) {
                ret = old_is_zero ?
                      blk_pwrite_zeroes(s->blk, offset + done, pnum, 0) :
                      blk_pwrite(s->blk, offset + done, pnum,
                                 buf_old + done, 0);
                if (ret < 0) {
                    error_report("Error while writing to COW image: %s",
                                 strerror(-ret));
                    return -1;
                }
            }
            done += pnum;
        }
        img_progress_print(step, 100);
    }
    return 0;
}

/* Open the new backing file in safe mode (it is read for comparison). */
static int rebase_open_new_backing(RebaseState *s, const char *fmt,
                                   int src_flags, bool force_share)
{
    g_autofree char *path = NULL;
    const char *overlay;
    Error *err = NULL;
    json_t *options;

    bdrv_refresh_filename(s->bs);
    overlay = s->bs->exact_filename[0] ? s->bs->exact_filename
                                       : s->bs->filename;
    path = bdrv_get_full_backing_filename_from_filename(overlay, s->new_name,
                                                        &err);
    if (!path) {
        error_prepend(&err, "Could not resolve backing filename: ");
        error_report_err(err);
        return -1;
    }
    options = json_object();
    if (fmt) {
        qdict_put_str(options, "driver", fmt);
    }
    if (force_share) {
        qdict_put_bool(options, BDRV_OPT_FORCE_SHARE, true);
    }
    s->new_backing = blk_new_open(path, NULL, options, src_flags, &err);
    if (!s->new_backing) {
        error_prepend(&err, "Could not open new backing file '%s': ",
                      s->new_name);
        error_report_err(err);
        return -1;
    }
    return 0;
}

int img_rebase(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    RebaseState s = { 0 };
    const char *fmt = NULL, *out_fmt = NULL;
    const char *cache = IMG_DEFAULT_CACHE, *src_cache = IMG_DEFAULT_CACHE;
    bool unsafe = false, progress = false, quiet = false;
    bool image_opts = false, force_share = false;
    bool writethrough, src_writethrough;
    int flags, src_flags = 0;
    int c, ret = -1;

    while ((c = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'F':
            out_fmt = optarg;
            break;
        case 'b':
            s.new_name = optarg;
            break;
        case 'u':
            unsafe = true;
            break;
        case 'p':
            progress = true;
            break;
        case 't':
            cache = optarg;
            break;
        case 'T':
            src_cache = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_OBJECT:
            img_process_object(optarg);
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    if (!unsafe && !s.new_name) {
        img_error_exit("Must specify backing file (-b) or use unsafe mode "
                       "(-u)");
    }
    s.filename = argv[optind];

    img_progress_init(progress, 2.0);
    img_progress_print(0, 100);

    flags = BDRV_O_RDWR | (unsafe ? BDRV_O_NO_BACKING : 0);
    if (!img_parse_cache(cache, &flags, &writethrough, "cache") ||
        !img_parse_cache(src_cache, &src_flags, &src_writethrough,
                         "source cache")) {
        goto out;
    }
    s.blk = img_open(image_opts, s.filename, fmt, flags, writethrough, quiet,
                     false);
    if (!s.blk) {
        goto out;
    }
    s.bs = blk_bs(s.blk);

    if (out_fmt && !bdrv_find_format(out_fmt)) {
        error_report("Invalid format name: '%s'", out_fmt);
        goto out;
    }

    if (!unsafe) {
        BlockDriverState *old = bdrv_cow_bs(bdrv_skip_filters(s.bs));
        Error *err = NULL;
        float step = 0;
        int64_t size;

        if (old) {
            s.old_backing = blk_new(qemu_get_aio_context(),
                                    BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL);
            if (blk_insert_bs(s.old_backing, old, &err) < 0) {
                error_prepend(&err, "Could not reuse old backing file '%s': ",
                              old->filename);
                error_report_err(err);
                goto out;
            }
        }
        if (s.new_name[0] &&
            rebase_open_new_backing(&s, out_fmt, src_flags, force_share) < 0) {
            goto out;
        }
        size = blk_getlength(s.blk);
        if (size > 0) {
            step = (float)100 / (size / MIN(size, REBASE_BUF_SIZE));
        }
        if (rebase_copy_differences(&s, step) < 0) {
            goto out;
        }
    }

    if (s.new_name && s.new_name[0]) {
        /* A new backing file needs its format recorded (qemu-img 7.2). */
        ret = out_fmt ? bdrv_change_backing_file(bdrv_skip_filters(s.bs),
                                                 s.new_name, out_fmt, false)
                      : -EINVAL;
    } else {
        ret = bdrv_change_backing_file(bdrv_skip_filters(s.bs), NULL, NULL,
                                       false);
    }
    if (ret == -ENOSPC) {
        error_report("Could not change the backing file to '%s': No "
                     "space left in the file", s.new_name);
    } else if (ret == -EINVAL && s.new_name && !out_fmt) {
        error_report("Could not change the backing file to '%s': backing "
                     "format must be specified", s.new_name);
    } else if (ret < 0) {
        error_report("Could not change the backing file to '%s': %s",
                     s.new_name ? s.new_name : "(null)", strerror(-ret));
    }
    img_progress_print(100, 0);

out:
    img_progress_end();
    blk_unref(s.old_backing);
    blk_unref(s.new_backing);
    if (s.blk) {
        blk_unref(s.blk);
    }
    return ret ? 1 : 0;
}

/*
 * Copy what the layers above @base hold into @base, as qemu-img's commit
 * job does: base grows to the top's size first, zero areas become zero
 * writes, data is read through the top (its view of the guest).
 */
static int commit_copy(BlockBackend *top, BlockDriverState *base_bs,
                       int64_t rate_limit, Error **errp)
{
    BlockDriverState *top_bs = blk_bs(top);
    uint8_t *buf = NULL;
    BlockBackend *base;
    ImgRateLimit rl = { .rate = rate_limit };
    int64_t len, base_len, offset, n, delay;
    int ret;

    if (bdrv_is_read_only(base_bs) &&
        bdrv_reopen_set_read_only(base_bs, false, errp) < 0) {
        return -EPERM;
    }
    base = blk_new(qemu_get_aio_context(), BLK_PERM_CONSISTENT_READ |
                   BLK_PERM_WRITE | BLK_PERM_RESIZE, BLK_PERM_ALL);
    ret = blk_insert_bs(base, base_bs, errp);
    if (ret < 0) {
        goto out;
    }
    len = blk_getlength(top);
    base_len = blk_getlength(base);
    if (len < 0 || base_len < 0) {
        ret = len < 0 ? len : base_len;
        error_setg_errno(errp, -ret, "Could not get the image size");
        goto out;
    }
    if (base_len < len) {
        ret = blk_truncate(base, len, false, PREALLOC_MODE_OFF, 0, errp);
        if (ret < 0) {
            goto out;
        }
    }

    buf = blk_blockalign(top, REBASE_BUF_SIZE);
    for (offset = 0; offset < len; offset += n) {
        ret = bdrv_is_allocated_above(top_bs, base_bs, false, offset,
                                      len - offset, &n);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read image metadata");
            goto out;
        }
        if (ret) {
            int64_t map;

            ret = bdrv_block_status_above(top_bs, base_bs, offset,
                                          MIN(n, REBASE_BUF_SIZE), &n, &map,
                                          NULL);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not read image metadata");
                goto out;
            }
            if (ret & BDRV_BLOCK_ZERO) {
                ret = blk_pwrite_zeroes(base, offset, n, BDRV_REQ_MAY_UNMAP);
            } else {
                ret = blk_pread(top, offset, n, buf, 0);
                if (ret >= 0) {
                    ret = blk_pwrite(base, offset, n, buf, 0);
                }
            }
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not commit data");
                goto out;
            }
            delay = img_rate_delay_ns(&rl, n);
            if (delay) {
                g_usleep(delay / SCALE_US);
            }
        }
        img_progress_print((float)(offset + n) / len * 100.f, 0);
    }
    ret = blk_flush(base);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not flush the base image");
    }
out:
    qemu_vfree(buf);
    blk_unref(base);
    return ret < 0 ? ret : 0;
}

int img_commit(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { NULL, 0, NULL, 0 }
    };
    const char *filename, *fmt = NULL, *cache = IMG_DEFAULT_CACHE;
    const char *base = NULL;
    bool progress = false, quiet = false, image_opts = false, drop = false;
    bool writethrough;
    int flags = BDRV_O_RDWR | BDRV_O_UNMAP;
    int64_t rate_limit = 0;
    BlockDriverState *bs, *base_bs = NULL;
    BlockBackend *blk;
    Error *err = NULL;
    int c;

    while ((c = getopt_long(argc, argv, ":f:ht:b:dpqr:", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 't':
            cache = optarg;
            break;
        case 'b':
            base = optarg;
            /* Images between base and top become invalid: keep the top. */
            drop = true;
            break;
        case 'd':
            drop = true;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'r':
            rate_limit = img_cvtnum("rate limit", optarg);
            if (rate_limit < 0) {
                return 1;
            }
            break;
        case OPTION_OBJECT:
            img_process_object(optarg);
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (!img_parse_cache(cache, &flags, &writethrough, "cache")) {
        return 1;
    }
    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   false);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);

    img_progress_init(progress, 1.f);
    img_progress_print(0.f, 100);

    if (base) {
        base_bs = bdrv_find_backing_image_by_name(bs, base);
        if (!base_bs) {
            error_setg(&err, "Did not find '%s' in the backing chain of '%s'",
                       base, filename);
        }
    } else {
        /* qemu-img commits into the immediate backing file by default. */
        base_bs = bdrv_backing_chain_next(bs);
        if (!base_bs) {
            error_setg(&err, "Image does not have a backing file");
        }
    }
    if (!err && commit_copy(blk, base_bs, rate_limit, &err) == 0) {
        img_progress_print(100.f, 0);
        if (!drop && bs->drv->bdrv_make_empty) {
            int ret = bs->drv->bdrv_make_empty(bs);

            if (ret < 0) {
                error_setg_errno(&err, -ret, "Could not empty %s", filename);
            }
        }
    }
    img_progress_end();
    blk_unref(blk);
    if (err) {
        error_report_err(err);
        return 1;
    }
    if (!quiet) {
        printf("Image committed.\n");
    }
    return 0;
}

/*
 * qemu-io's commands about the image as a whole: flush, truncate, length,
 * info, alloc, map, reopen and the blkdebug breakpoint commands.
 */
#include "strata/osdep.h"

#include "block/block_int.h"
#include "block/qapi-info.h"
#include "tools/io-format.h"
#include "util/option.h"
#include "io-int.h"

int qemuio_flush_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    /* qemu-io prints nothing, even when the flush fails. */
    return blk_flush(blk);
}

/* ---- truncate ---- */

static const QemuIOCommand truncate_usage = {
    .name = "truncate",
    .args = "[-m prealloc_mode] off",
    .oneline = "truncates the current file at the given offset",
};

int qemuio_truncate_f(QemuIOSession *s, BlockBackend *blk, int argc,
                      char **argv)
{
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    Error *err = NULL;
    int64_t offset;
    QemuIOOptParser p;
    int c, ret;

    qemuio_opt_init(&p, s, argc, argv, "m:");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'm':
            ret = prealloc_mode_parse(p.optarg, PREALLOC_MODE_OFF, NULL);
            if (ret < 0) {
                qemuio_report(s, "Invalid preallocation mode '%s'", p.optarg);
                return -EINVAL;
            }
            prealloc = ret;
            break;
        default:
            qemuio_command_usage(s, &truncate_usage);
            return -EINVAL;
        }
    }
    /*
     * Operands after the first are ignored, as qemu-io does.  qemu-io
     * crashes on a missing one ("truncate -m off"); we print the usage.
     */
    if (p.optind >= argc) {
        qemuio_command_usage(s, &truncate_usage);
        return -EINVAL;
    }
    offset = qemuio_parse_num(argv[p.optind]);
    if (offset < 0) {
        qemuio_print_num_error(s, offset, argv[p.optind]);
        return offset;
    }

    /* Not exact: a format may round the size up, as QEMU allows here. */
    ret = blk_truncate(blk, offset, false, prealloc, 0, &err);
    if (ret < 0) {
        qemuio_report_err(s, err);
        return ret;
    }
    return 0;
}

/* ---- length and info ---- */

int qemuio_length_f(QemuIOSession *s, BlockBackend *blk, int argc,
                    char **argv)
{
    int64_t size = blk_getlength(blk);
    g_autofree char *str = NULL;

    if (size < 0) {
        qemuio_printf(s, "getlength: %s\n", strerror(-size));
        return size;
    }
    str = qemuio_size_str(size);
    qemuio_printf(s, "%s\n", str);
    return 0;
}

int qemuio_info_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    BlockDriverInfo bdi;
    g_autofree char *cluster = NULL;
    g_autofree char *vmstate = NULL;
    json_t *spec;
    int ret;

    if (bs->drv && bs->drv->format_name) {
        qemuio_printf(s, "format name: %s\n", bs->drv->format_name);
    }
    /* Protocol drivers print their name twice, as in QEMU. */
    if (bs->drv && bs->drv->protocol_name) {
        qemuio_printf(s, "format name: %s\n", bs->drv->protocol_name);
    }
    ret = bdrv_get_info(bs, &bdi);
    if (ret) {
        return ret;
    }
    cluster = qemuio_size_str(bdi.cluster_size);
    vmstate = qemuio_size_str(bdi.vm_state_offset);
    qemuio_printf(s, "cluster size: %s\n", cluster);
    qemuio_printf(s, "vm state offset: %s\n", vmstate);

    if (bs->drv->bdrv_get_specific_info) {
        Error *err = NULL;

        spec = bs->drv->bdrv_get_specific_info(bs, &err);
        if (err) {
            qemuio_report_err(s, err);
            return -EIO;
        }
        if (spec) {
            g_autoptr(GString) text = g_string_new(NULL);

            bdrv_image_info_specific_dump(text, spec, 1);
            qemuio_printf(s, "Format specific information:\n%s", text->str);
            json_decref(spec);
        }
    }
    return 0;
}

/* ---- alloc and map ---- */

int qemuio_alloc_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t offset, start, count, remaining, allocated = 0;
    g_autofree char *where = NULL;

    start = offset = qemuio_parse_num(argv[1]);
    if (offset < 0) {
        qemuio_print_num_error(s, offset, argv[1]);
        return offset;
    }
    if (argc == 3) {
        count = qemuio_parse_num(argv[2]);
        if (count < 0) {
            qemuio_print_num_error(s, count, argv[2]);
            return count;
        }
    } else {
        count = BDRV_SECTOR_SIZE;
    }

    remaining = count;
    while (remaining) {
        int64_t num;
        int ret = bdrv_is_allocated(bs, offset, remaining, &num);

        if (ret < 0) {
            qemuio_printf(s, "is_allocated failed: %s\n", strerror(-ret));
            return ret;
        }
        offset += num;
        remaining -= num;
        if (ret) {
            allocated += num;
        }
        if (num == 0) {
            /* The end of the image: count only what exists. */
            count -= remaining;
            remaining = 0;
        }
    }

    where = qemuio_size_str(start);
    qemuio_printf(s, "%" PRId64 "/%" PRId64 " bytes allocated at offset %s\n",
                  allocated, count, where);
    return 0;
}

/*
 * Allocation status at @offset, and in *@pnum the length of the run of
 * consecutive areas that share it (the block layer may answer in pieces).
 */
static int map_run(BlockDriverState *bs, int64_t offset, int64_t bytes,
                   int64_t *pnum)
{
    int64_t num;
    int first, ret;

    first = bdrv_is_allocated(bs, offset, bytes, &num);
    if (first < 0) {
        return first;
    }
    *pnum = num;
    while (num && bytes > num) {
        offset += num;
        bytes -= num;
        ret = bdrv_is_allocated(bs, offset, bytes, &num);
        if (ret != first) {
            break;
        }
        *pnum += num;
    }
    return first;
}

int qemuio_map_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t offset = 0;
    int64_t length = blk_getlength(blk);

    if (length < 0) {
        qemuio_report(s, "Failed to query image length: %s",
                      strerror(-length));
        return length;
    }
    while (offset < length) {
        g_autofree char *len_str = NULL;
        g_autofree char *off_str = NULL;
        int64_t num;
        int ret = map_run(bs, offset, length - offset, &num);

        if (ret < 0) {
            qemuio_report(s, "Failed to get allocation status: %s",
                          strerror(-ret));
            return ret;
        }
        if (!num) {
            qemuio_report(s, "Unexpected end of image");
            return -EIO;
        }
        len_str = qemuio_size_str(num);
        off_str = qemuio_size_str(offset);
        qemuio_printf(s, "%s (0x%" PRIx64 ") bytes %s at offset %s (0x%"
                      PRIx64 ")\n", len_str, num,
                      ret ? "    allocated" : "not allocated", off_str,
                      offset);
        offset += num;
    }
    return 0;
}

/* ---- reopen ---- */

void qemuio_reopen_help(QemuIOSession *s)
{
    qemuio_printf(s,
"\n"
" Changes the open options of an already opened image\n"
"\n"
" Example:\n"
" 'reopen -o lazy-refcounts=on' - activates lazy refcount writeback on a qcow2 image\n"
"\n"
" -r, -- Reopen the image read-only\n"
" -w, -- Reopen the image read-write\n"
" -c, -- Change the cache mode to the given value\n"
" -o, -- Changes block driver options (cf. 'open' command)\n"
"\n");
}

static const QemuIOCommand reopen_usage = {
    .name = "reopen",
    .args = "[(-r|-w)] [-c cache] [-o options]",
    .oneline = "reopens an image with new options",
};

/* A QemuOpts list that takes any option and merges repeated -o. */
static QemuOptsList *any_opts_list_new(const char *name)
{
    QemuOptsList *list = g_malloc0(sizeof(*list) + sizeof(QemuOptDesc));

    list->name = name;
    list->merge_lists = true;
    return list;
}

static void any_opts_list_free(QemuOptsList *list)
{
    qemu_opts_reset(list);
    g_free(list);
}

/*
 * Build the options a reopen would apply, with qemu-io's checks and
 * messages.  Returns NULL (after printing why) if they are invalid.
 */
static json_t *reopen_options(QemuIOSession *s, BlockBackend *blk, int argc,
                              char **argv, bool *writethrough, int *pflags)
{
    QemuOptsList *list = any_opts_list_new("reopen");
    BlockDriverState *bs = blk_bs(blk);
    int flags = bs->open_flags;
    bool has_rw = false, has_cache = false;
    json_t *opts = NULL;
    QemuOpts *qopts;
    QemuIOOptParser p;
    int c;

    *writethrough = !blk_enable_write_cache(blk);
    qemuio_opt_init(&p, s, argc, argv, "c:o:rw");
    while ((c = qemuio_opt_next(&p)) != -1) {
        switch (c) {
        case 'c':
            if (bdrv_parse_cache_mode(p.optarg, &flags, writethrough) < 0) {
                qemuio_report(s, "Invalid cache option: %s", p.optarg);
                goto out;
            }
            has_cache = true;
            break;
        case 'o':
            if (!qemu_opts_parse_noisily(list, p.optarg, false)) {
                goto out;
            }
            break;
        case 'r':
        case 'w':
            if (has_rw) {
                qemuio_report(s, "Only one -r/-w option may be given");
                goto out;
            }
            flags = c == 'r' ? flags & ~BDRV_O_RDWR : flags | BDRV_O_RDWR;
            has_rw = true;
            break;
        default:
            qemuio_command_usage(s, &reopen_usage);
            goto out;
        }
    }
    if (p.optind != argc) {
        qemuio_command_usage(s, &reopen_usage);
        goto out;
    }

    qopts = qemu_opts_find(list, NULL);
    opts = qopts ? qemu_opts_to_qdict(qopts, NULL) : json_object();
    if (json_object_get(opts, BDRV_OPT_READ_ONLY)) {
        if (has_rw) {
            qemuio_report(s, "Cannot set both -r/-w and '"
                          BDRV_OPT_READ_ONLY "'");
            goto fail;
        }
    } else {
        json_object_set_new(opts, BDRV_OPT_READ_ONLY,
                            json_boolean(!(flags & BDRV_O_RDWR)));
    }
    if (json_object_get(opts, BDRV_OPT_CACHE_DIRECT) ||
        json_object_get(opts, BDRV_OPT_CACHE_NO_FLUSH)) {
        if (has_cache) {
            qemuio_report(s, "Cannot set both -c and the cache options");
            goto fail;
        }
    } else {
        json_object_set_new(opts, BDRV_OPT_CACHE_DIRECT,
                            json_boolean(flags & BDRV_O_NOCACHE));
        json_object_set_new(opts, BDRV_OPT_CACHE_NO_FLUSH,
                            json_boolean(flags & BDRV_O_NO_FLUSH));
    }
    *pflags = flags;
    goto out;

fail:
    json_decref(opts);
    opts = NULL;
out:
    any_opts_list_free(list);
    return opts;
}

int qemuio_reopen_f(QemuIOSession *s, BlockBackend *blk, int argc,
                    char **argv)
{
    BlockDriverState *bs = blk_bs(blk);
    Error *err = NULL;
    bool writethrough;
    int flags;
    json_t *opts = reopen_options(s, blk, argc, argv, &writethrough, &flags);
    int ret;

    if (!opts) {
        return -EINVAL;
    }

    /*
     * A read-only reopen (-r, or an image opened read-only) first gives
     * up the backend's write permissions, as qemu-io does; "-o
     * read-only=on" on a read-write image does not, and then fails while
     * the backend still holds them.
     */
    if (!(flags & BDRV_O_RDWR)) {
        uint64_t perm, shared;

        blk_drain(blk);
        blk_get_perm(blk, &perm, &shared);
        blk_set_perm(blk, perm & ~(BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED),
                     shared, &error_abort);
    }

    ret = bdrv_reopen(bs, opts, &err);
    json_decref(opts);
    if (ret < 0) {
        qemuio_report_err(s, err);
        return ret;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return 0;
}

/* ---- blkdebug breakpoints ---- */

/*
 * These commands drive breakpoints of blkdebug nodes.  The Strata block
 * layer has no blkdebug driver yet; QEMU answers -ENOTSUP for images
 * without one, and so do we.
 */

int qemuio_break_f(QemuIOSession *s, BlockBackend *blk, int argc, char **argv)
{
    qemuio_printf(s, "Could not set breakpoint: %s\n", strerror(ENOTSUP));
    return -ENOTSUP;
}

int qemuio_remove_break_f(QemuIOSession *s, BlockBackend *blk, int argc,
                          char **argv)
{
    qemuio_printf(s, "Could not remove breakpoint %s: %s\n", argv[1],
                  strerror(ENOTSUP));
    return -ENOTSUP;
}

int qemuio_resume_f(QemuIOSession *s, BlockBackend *blk, int argc,
                    char **argv)
{
    qemuio_printf(s, "Could not resume request: %s\n", strerror(ENOTSUP));
    return -ENOTSUP;
}

int qemuio_wait_break_f(QemuIOSession *s, BlockBackend *blk, int argc,
                        char **argv)
{
    AioContext *ctx = blk_get_aio_context(blk);

    /*
     * Without a blkdebug node no request is ever suspended, so this waits
     * forever, exactly as qemu-io does on such an image; requests in
     * flight still complete meanwhile.
     */
    for (;;) {
        aio_poll(ctx, true);
    }
    return 0;
}

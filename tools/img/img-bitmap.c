/*
 * strata-img bitmap: add, remove, clear, enable, disable and merge the
 * persistent dirty bitmaps of an image, in command-line order.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "block/dirty-bitmap-qmp.h"
#include "qapi/qapi-commands.h"

typedef struct BitmapAction {
    int act;            /* OPTION_ADD ... OPTION_MERGE */
    const char *src;    /* --merge: the source bitmap */
} BitmapAction;

static const char *const action_names[] = {
    [OPTION_ADD - OPTION_ADD] = "add",
    [OPTION_REMOVE - OPTION_ADD] = "remove",
    [OPTION_CLEAR - OPTION_ADD] = "clear",
    [OPTION_ENABLE - OPTION_ADD] = "enable",
    [OPTION_DISABLE - OPTION_ADD] = "disable",
    [OPTION_MERGE - OPTION_ADD] = "merge",
};

/*
 * Each action is the QMP command of the same name on the image's node;
 * a new bitmap is always persistent, and a merge source is named by
 * node (the image's own, or the -b file's).
 */
static void run_action(BlockDriverState *bs, BlockDriverState *src_bs,
                       const BitmapAction *a, const char *bitmap,
                       int64_t granularity, Error **errp)
{
    const char *node = bdrv_get_node_name(bs);
    BlockDirtyBitmapOrStr src = { .type = QTYPE_QDICT };
    BlockDirtyBitmapOrStrList sources = { .value = &src };

    switch (a->act) {
    case OPTION_ADD:
        qmp_block_dirty_bitmap_add(node, bitmap, granularity != 0,
                                   granularity, true, true, false, false,
                                   errp);
        break;
    case OPTION_REMOVE:
        qmp_block_dirty_bitmap_remove(node, bitmap, errp);
        break;
    case OPTION_CLEAR:
        qmp_block_dirty_bitmap_clear(node, bitmap, errp);
        break;
    case OPTION_ENABLE:
        qmp_block_dirty_bitmap_enable(node, bitmap, errp);
        break;
    case OPTION_DISABLE:
        qmp_block_dirty_bitmap_disable(node, bitmap, errp);
        break;
    case OPTION_MERGE:
        src.u.external.node = (char *)bdrv_get_node_name(src_bs);
        src.u.external.name = (char *)a->src;
        qmp_block_dirty_bitmap_merge(node, bitmap, &sources, errp);
        break;
    default:
        g_assert_not_reached();
    }
}

int img_bitmap(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "add", no_argument, NULL, OPTION_ADD },
        { "remove", no_argument, NULL, OPTION_REMOVE },
        { "clear", no_argument, NULL, OPTION_CLEAR },
        { "enable", no_argument, NULL, OPTION_ENABLE },
        { "disable", no_argument, NULL, OPTION_DISABLE },
        { "merge", required_argument, NULL, OPTION_MERGE },
        { "granularity", required_argument, NULL, 'g' },
        { "source-file", required_argument, NULL, 'b' },
        { "source-format", required_argument, NULL, 'F' },
        { NULL, 0, NULL, 0 }
    };
    g_autoptr(GArray) actions = g_array_new(false, true,
                                            sizeof(BitmapAction));
    const char *fmt = NULL, *src_fmt = NULL, *src_filename = NULL;
    const char *filename, *bitmap;
    bool image_opts = false, add = false, merge = false;
    int64_t granularity = 0;
    BlockBackend *blk = NULL, *src = NULL;
    BlockDriverState *bs, *src_bs;
    int c, ret = 1;

    while ((c = getopt_long(argc, argv, ":b:f:F:g:h", long_options,
                            NULL)) != -1) {
        BitmapAction a = { .act = c };

        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'b':
            src_filename = optarg;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'F':
            src_fmt = optarg;
            break;
        case 'g':
            granularity = img_cvtnum("granularity", optarg);
            if (granularity < 0) {
                return 1;
            }
            break;
        case OPTION_MERGE:
            a.src = optarg;
            merge = true;
            g_array_append_val(actions, a);
            break;
        case OPTION_ADD:
            add = true;
            /* fall through */
        case OPTION_REMOVE:
        case OPTION_CLEAR:
        case OPTION_ENABLE:
        case OPTION_DISABLE:
            g_array_append_val(actions, a);
            break;
        case OPTION_OBJECT:
            img_process_object(optarg);
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }

    if (!actions->len) {
        error_report("Need at least one of --add, --remove, --clear, "
                     "--enable, --disable, or --merge");
        return 1;
    }
    if (granularity && !add) {
        error_report("granularity only supported with --add");
        return 1;
    }
    if (src_fmt && !src_filename) {
        error_report("-F only supported with -b");
        return 1;
    }
    if (src_filename && !merge) {
        error_report("Merge bitmap source file only supported with "
                     "--merge");
        return 1;
    }
    if (optind != argc - 2) {
        error_report("Expecting filename and bitmap name");
        return 1;
    }
    filename = argv[optind];
    bitmap = argv[optind + 1];

    blk = img_open(image_opts, filename, fmt, BDRV_O_RDWR | BDRV_O_NO_BACKING,
                   false, false, false);
    if (!blk) {
        goto out;
    }
    bs = src_bs = blk_bs(blk);
    if (src_filename) {
        src = img_open(false, src_filename, src_fmt, BDRV_O_NO_BACKING,
                       false, false, false);
        if (!src) {
            goto out;
        }
        src_bs = blk_bs(src);
    }
    /* Actions run in order; the first failure stops the rest. */
    for (guint i = 0; i < actions->len; i++) {
        BitmapAction *a = &g_array_index(actions, BitmapAction, i);
        Error *err = NULL;

        run_action(bs, src_bs, a, bitmap, granularity, &err);
        if (err) {
            error_prepend(&err, "Operation %s on bitmap %s failed: ",
                          action_names[a->act - OPTION_ADD], bitmap);
            error_report_err(err);
            goto out;
        }
    }
    ret = 0;

out:
    if (src) {
        blk_unref(src);
    }
    if (blk) {
        blk_unref(blk);
    }
    return ret;
}

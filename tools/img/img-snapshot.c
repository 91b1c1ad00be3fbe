/*
 * strata-img snapshot: list, create, apply and delete the internal
 * snapshots of an image (for the formats that have them).
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"
#include "block/qapi-info.h"
#include "block/snapshot.h"

typedef enum SnapshotAction {
    SNAPSHOT_NONE,
    SNAPSHOT_LIST,
    SNAPSHOT_CREATE,
    SNAPSHOT_APPLY,
    SNAPSHOT_DELETE,
} SnapshotAction;

static void set_action(SnapshotAction *action, SnapshotAction new_action)
{
    if (*action != SNAPSHOT_NONE) {
        img_error_exit("Cannot mix '-l', '-a', '-c', '-d'");
    }
    *action = new_action;
}

static void dump_snapshots(BlockDriverState *bs)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree QEMUSnapshotInfo *sn_tab = NULL;
    int n = bdrv_snapshot_list(bs, &sn_tab);

    if (n <= 0) {
        return;
    }
    g_string_append(out, "Snapshot list:\n");
    bdrv_snapshot_dump(out, NULL);
    g_string_append_c(out, '\n');
    for (int i = 0; i < n; i++) {
        bdrv_snapshot_dump(out, &sn_tab[i]);
        g_string_append_c(out, '\n');
    }
    fputs(out->str, stdout);
}

int img_snapshot(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    SnapshotAction action = SNAPSHOT_NONE;
    const char *filename, *name = NULL;
    bool quiet = false, image_opts = false, force_share = false;
    int flags = BDRV_O_RDWR;
    BlockBackend *blk;
    Error *err = NULL;
    int c, ret = 0;

    while ((c = getopt_long(argc, argv, ":la:c:d:hqU", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'l':
            set_action(&action, SNAPSHOT_LIST);
            flags &= ~BDRV_O_RDWR;
            break;
        case 'a':
            set_action(&action, SNAPSHOT_APPLY);
            name = optarg;
            break;
        case 'c':
            set_action(&action, SNAPSHOT_CREATE);
            name = optarg;
            break;
        case 'd':
            set_action(&action, SNAPSHOT_DELETE);
            name = optarg;
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
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[optind];

    blk = img_open(image_opts, filename, NULL, flags, false, quiet,
                   force_share);
    if (!blk) {
        return 1;
    }

    switch (action) {
    case SNAPSHOT_NONE:
        break;
    case SNAPSHOT_LIST:
        dump_snapshots(blk_bs(blk));
        break;
    case SNAPSHOT_CREATE: {
        QEMUSnapshotInfo sn = { 0 };   /* qemu-img records icount 0 */
        int64_t now = g_get_real_time();

        g_strlcpy(sn.name, name, sizeof(sn.name));
        sn.date_sec = now / G_USEC_PER_SEC;
        sn.date_nsec = (now % G_USEC_PER_SEC) * 1000;
        ret = bdrv_snapshot_create(blk_bs(blk), &sn, &err);
        error_free(err);
        if (ret) {
            error_report("Could not create snapshot '%s': %d (%s)", name,
                         ret, strerror(-ret));
        }
        break;
    }
    case SNAPSHOT_APPLY:
        ret = bdrv_snapshot_goto(blk_bs(blk), name, &err);
        if (ret) {
            error_prepend(&err, "Could not apply snapshot '%s': ", name);
            error_report_err(err);
        }
        break;
    case SNAPSHOT_DELETE: {
        QEMUSnapshotInfo sn;

        if (!bdrv_snapshot_find(blk_bs(blk), &sn, name)) {
            error_report("Could not delete snapshot '%s': snapshot not "
                         "found", name);
            ret = 1;
        } else if (bdrv_snapshot_delete(blk_bs(blk), sn.id_str, sn.name,
                                        &err) < 0) {
            error_prepend(&err, "Could not delete snapshot '%s': ", name);
            error_report_err(err);
            ret = 1;
        }
        break;
    }
    }
    blk_unref(blk);
    return ret ? 1 : 0;
}

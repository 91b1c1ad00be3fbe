/*
 * strata-img snapshot: list, create, apply and delete internal snapshots.
 * No driver stores internal snapshots yet, so every image answers as raw
 * does in qemu-img (empty list, "not supported" errors).
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"

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
    case SNAPSHOT_LIST:
        /* An image without snapshot support lists nothing. */
        break;
    case SNAPSHOT_CREATE:
        error_report("Could not create snapshot '%s': %d (%s)", name,
                     -ENOTSUP, strerror(ENOTSUP));
        ret = 1;
        break;
    case SNAPSHOT_APPLY:
        error_report("Could not apply snapshot '%s': Block driver does not "
                     "support snapshots", name);
        ret = 1;
        break;
    case SNAPSHOT_DELETE:
        error_report("Could not delete snapshot '%s': snapshot not found",
                     name);
        ret = 1;
        break;
    }
    blk_unref(blk);
    return ret;
}

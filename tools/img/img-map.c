/*
 * strata-img map: walk the block status of an image and its backing chain
 * and print the merged extents, as a table or as JSON.
 */
#include "strata/osdep.h"

#include "tools/img/img.h"
#include "block/block_int.h"

typedef struct ImgMapEntry {
    int64_t start;
    int64_t length;
    int64_t offset;
    int depth;
    bool data, zero, present, has_offset;
    char *filename;         /* owned; NULL if no host location */
} ImgMapEntry;

static int map_print_entry(OutputFormat ofmt, ImgMapEntry *e, ImgMapEntry *next)
{
    if (ofmt == OFORMAT_HUMAN) {
        if (e->data && !e->has_offset) {
            error_report("File contains external, encrypted or compressed "
                         "clusters.");
            return -1;
        }
        if (e->data && !e->zero) {
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
                   e->start, e->length, e->has_offset ? e->offset : 0,
                   e->filename ? e->filename : "");
        }
        /*
         * The table does not tell zeros, unallocated areas and zero data
         * apart, so let them merge with each other.
         */
        if (next && (!next->data || next->zero)) {
            next->data = false;
            next->zero = true;
        }
        return 0;
    }
    printf("{ \"start\": %" PRId64 ", \"length\": %" PRId64 ", "
           "\"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
           e->start, e->length, e->depth, e->present ? "true" : "false",
           e->zero ? "true" : "false", e->data ? "true" : "false");
    if (e->has_offset) {
        printf(", \"offset\": %" PRId64, e->offset);
    }
    putchar('}');
    if (next) {
        puts(",");
    }
    return 0;
}

/* The status of [offset, offset + bytes) in the first layer that has it. */
static int map_block_status(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, ImgMapEntry *e)
{
    BlockDriverState *file = NULL;
    int64_t map = 0;
    int depth = 0;
    int ret;

    for (;;) {
        bs = bdrv_skip_filters(bs);
        ret = bdrv_block_status(bs, offset, bytes, &bytes, &map, &file);
        if (ret < 0) {
            return ret;
        }
        assert(bytes);
        if (ret & (BDRV_BLOCK_ZERO | BDRV_BLOCK_DATA)) {
            break;
        }
        bs = bdrv_cow_bs(bs);
        if (!bs) {
            ret = 0;
            break;
        }
        depth++;
    }

    *e = (ImgMapEntry) {
        .start = offset,
        .length = bytes,
        .data = ret & BDRV_BLOCK_DATA,
        .zero = ret & BDRV_BLOCK_ZERO,
        .offset = map,
        .has_offset = ret & BDRV_BLOCK_OFFSET_VALID,
        .depth = depth,
        .present = ret & BDRV_BLOCK_ALLOCATED,
    };
    if (file && e->has_offset) {
        bdrv_refresh_filename(file);
        /* Copied: the node's name is rebuilt on the next refresh. */
        e->filename = g_strdup(file->filename);
    }
    return 0;
}

static bool map_mergeable(const ImgMapEntry *curr, const ImgMapEntry *next)
{
    if (curr->length == 0) {
        return false;
    }
    if (curr->zero != next->zero || curr->data != next->data ||
        curr->depth != next->depth || curr->present != next->present ||
        !curr->filename != !next->filename ||
        curr->has_offset != next->has_offset) {
        return false;
    }
    if (curr->filename && strcmp(curr->filename, next->filename)) {
        return false;
    }
    if (curr->has_offset && curr->offset + curr->length != next->offset) {
        return false;
    }
    return true;
}

int img_map(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { "start-offset", required_argument, NULL, 's' },
        { "max-length", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 }
    };
    const char *filename, *fmt = NULL, *output = NULL;
    bool image_opts = false, force_share = false;
    int64_t start_offset = 0, max_length = -1, length;
    ImgMapEntry curr = { .length = 0 }, next;
    OutputFormat ofmt;
    BlockBackend *blk;
    int c, ret = 0;

    while ((c = getopt_long(argc, argv, ":f:s:l:hU", long_options,
                            NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_OUTPUT:
            output = optarg;
            break;
        case 's':
            start_offset = img_cvtnum("start offset", optarg);
            if (start_offset < 0) {
                return 1;
            }
            break;
        case 'l':
            max_length = img_cvtnum("max length", optarg);
            if (max_length < 0) {
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
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (img_parse_output_format(output, &ofmt) < 0) {
        return 1;
    }

    blk = img_open(image_opts, filename, fmt, 0, false, false, force_share);
    if (!blk) {
        return 1;
    }
    if (ofmt == OFORMAT_HUMAN) {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    } else {
        putchar('[');
    }

    length = blk_getlength(blk);
    if (length < 0) {
        error_report("Failed to get size for '%s'", filename);
        blk_unref(blk);
        return 1;
    }
    if (max_length != -1) {
        length = MIN(start_offset + max_length, length);
    }

    curr.start = start_offset;
    while (curr.start + curr.length < length) {
        int64_t offset = curr.start + curr.length;

        ret = map_block_status(blk_bs(blk), offset, length - offset, &next);
        if (ret < 0) {
            error_report("Could not read file metadata: %s", strerror(-ret));
            goto out;
        }
        if (map_mergeable(&curr, &next)) {
            curr.length += next.length;
            g_free(next.filename);
            continue;
        }
        if (curr.length > 0) {
            ret = map_print_entry(ofmt, &curr, &next);
            if (ret < 0) {
                g_free(next.filename);
                goto out;
            }
        }
        g_free(curr.filename);
        curr = next;
    }
    ret = map_print_entry(ofmt, &curr, NULL);
    if (ofmt == OFORMAT_JSON) {
        puts("]");
    }

out:
    g_free(curr.filename);
    blk_unref(blk);
    return ret < 0;
}

/*
 * strata-img bench: a sequential read or write benchmark with a queue of
 * asynchronous requests, optionally flushing every N requests.
 */
#include "strata/osdep.h"
#include <sys/time.h>

#include "tools/img/img.h"
#include "util/cutils.h"

typedef struct BenchState {
    BlockBackend *blk;
    uint64_t image_size;
    bool write;
    int bufsize;
    int step;
    int nrreq;          /* queue depth */
    int n;              /* requests still to complete */
    int flush_interval;
    bool drain_on_flush;
    uint8_t *buf;
    QEMUIOVector *qiov;

    int in_flight;
    bool in_flush;
    uint64_t offset;
} BenchState;

static void bench_undrained_flush_cb(void *opaque, int ret)
{
    if (ret < 0) {
        error_report("Failed flush request: %s", strerror(-ret));
        exit(EXIT_FAILURE);
    }
}

/* Completion of a request (or the start): refill the queue. */
static void bench_cb(void *opaque, int ret)
{
    BenchState *b = opaque;

    if (ret < 0) {
        error_report("Failed request: %s", strerror(-ret));
        exit(EXIT_FAILURE);
    }

    if (b->in_flush) {
        /* The drained flush is done: go on with requests. */
        assert(b->in_flight == 0);
        b->in_flush = false;
    } else if (b->in_flight > 0) {
        int remaining = b->n - b->in_flight;

        b->n--;
        b->in_flight--;

        if (b->flush_interval && remaining % b->flush_interval == 0) {
            if (!b->in_flight || !b->drain_on_flush) {
                BlockCompletionFunc *cb = bench_undrained_flush_cb;

                if (b->drain_on_flush) {
                    b->in_flush = true;
                    cb = bench_cb;
                }
                if (!blk_aio_flush(b->blk, cb, b)) {
                    error_report("Failed to issue flush request");
                    exit(EXIT_FAILURE);
                }
            }
            if (b->drain_on_flush) {
                return;
            }
        }
    }

    while (b->n > b->in_flight && b->in_flight < b->nrreq) {
        int64_t offset = b->offset;
        BlockAIOCB *acb;

        /* Count the request before submitting: it may complete at once. */
        b->in_flight++;
        b->offset += b->step;
        b->offset %= b->image_size;
        if (b->write) {
            acb = blk_aio_pwritev(b->blk, offset, b->qiov, 0, bench_cb, b);
        } else {
            acb = blk_aio_preadv(b->blk, offset, b->qiov, 0, bench_cb, b);
        }
        if (!acb) {
            error_report("Failed to issue request");
            exit(EXIT_FAILURE);
        }
    }
}

/* An unsigned number with qemu_strtoul() rules, at most @max. */
static bool bench_parse_ulong(const char *arg, unsigned long max,
                              const char *what, unsigned long *res)
{
    if (qemu_strtoul(arg, NULL, 0, res) < 0 || *res > max) {
        error_report("Invalid %s specified", what);
        return false;
    }
    return true;
}

int img_bench(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "flush-interval", required_argument, NULL, OPTION_FLUSH_INTERVAL },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "pattern", required_argument, NULL, OPTION_PATTERN },
        { "no-drain", no_argument, NULL, OPTION_NO_DRAIN },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *filename;
    bool quiet = false, image_opts = false, is_write = false;
    bool drain_on_flush = true, writethrough = false, force_share = false;
    int count = 75000, depth = 64, flush_interval = 0, pattern = 0;
    int64_t offset = 0, image_size;
    size_t bufsize = 4096, step = 0;
    BlockBackend *blk = NULL;
    BenchState data = { 0 };
    struct timeval t1, t2;
    unsigned long res;
    int flags = 0, ret = 0, c;

    while ((c = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU",
                            long_options, NULL)) != -1) {
        if (img_common_getopt(c, argv)) {
            continue;
        }
        switch (c) {
        case 'c':
            if (!bench_parse_ulong(optarg, INT_MAX, "request count", &res)) {
                return 1;
            }
            count = res;
            break;
        case 'd':
            if (!bench_parse_ulong(optarg, INT_MAX, "queue depth", &res)) {
                return 1;
            }
            if (res == 0) {
                /* qemu-img would wait forever for a request to finish. */
                error_report("Invalid queue depth specified");
                return 1;
            }
            depth = res;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'n':
            flags |= BDRV_O_NATIVE_AIO;
            break;
        case 'i': {
            /* As in qemu-img, an aio mode adds to -n, never clears it. */
            int kept = flags & (BDRV_O_NATIVE_AIO | BDRV_O_IO_URING);

            if (bdrv_parse_aio(optarg, &flags) < 0) {
                error_report("Invalid aio option: %s", optarg);
                return 1;
            }
            flags |= kept;
            break;
        }
        case 'o':
            offset = img_cvtnum("offset", optarg);
            if (offset < 0) {
                return 1;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 's': {
            int64_t sval = img_cvtnum_full("buffer size", optarg, 0, INT_MAX);

            if (sval < 0) {
                return 1;
            }
            bufsize = sval;
            break;
        }
        case 'S': {
            int64_t sval = img_cvtnum_full("step_size", optarg, 0, INT_MAX);

            if (sval < 0) {
                return 1;
            }
            step = sval;
            break;
        }
        case 't':
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache mode");
                return 1;
            }
            break;
        case 'w':
            flags |= BDRV_O_RDWR;
            is_write = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_PATTERN:
            if (!bench_parse_ulong(optarg, 0xff, "pattern byte", &res)) {
                return 1;
            }
            pattern = res;
            break;
        case OPTION_FLUSH_INTERVAL:
            if (!bench_parse_ulong(optarg, INT_MAX, "flush interval", &res)) {
                return 1;
            }
            flush_interval = res;
            break;
        case OPTION_NO_DRAIN:
            drain_on_flush = false;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        }
    }
    if (optind != argc - 1) {
        img_error_exit("Expecting one image file name");
    }
    filename = argv[argc - 1];

    if (!is_write && flush_interval) {
        error_report("--flush-interval is only available in write tests");
        return 1;
    }
    if (flush_interval && flush_interval < depth) {
        error_report("Flush interval can't be smaller than depth");
        return 1;
    }

    blk = img_open(image_opts, filename, fmt, flags, writethrough, quiet,
                   force_share);
    if (!blk) {
        return 1;
    }
    image_size = blk_getlength(blk);
    if (image_size < 0) {
        ret = 1;
        goto out;
    }

    data = (BenchState) {
        .blk = blk,
        .image_size = image_size,
        .bufsize = bufsize,
        .step = step ? step : bufsize,
        .nrreq = depth,
        .n = count,
        .offset = offset,
        .write = is_write,
        .flush_interval = flush_interval,
        .drain_on_flush = drain_on_flush,
    };
    printf("Sending %d %s requests, %d bytes each, %d in parallel "
           "(starting at offset %" PRId64 ", step size %d)\n",
           data.n, data.write ? "write" : "read", data.bufsize, data.nrreq,
           (int64_t)data.offset, data.step);
    if (flush_interval) {
        printf("Sending flush every %d requests\n", flush_interval);
    }

    data.buf = blk_blockalign(blk, (size_t)data.nrreq * data.bufsize);
    memset(data.buf, pattern, (size_t)data.nrreq * data.bufsize);
    /*
     * As in qemu-img, every request uses the first buffer: for reads the
     * data is not looked at, and writes all carry the pattern.
     */
    data.qiov = g_new(QEMUIOVector, data.nrreq);
    for (int i = 0; i < data.nrreq; i++) {
        qemu_iovec_init(&data.qiov[i], 1);
        qemu_iovec_add(&data.qiov[i], data.buf + (size_t)i * data.bufsize,
                       data.bufsize);
    }

    gettimeofday(&t1, NULL);
    bench_cb(&data, 0);
    while (data.n > 0) {
        aio_poll(qemu_get_aio_context(), true);
    }
    gettimeofday(&t2, NULL);

    printf("Run completed in %3.3f seconds.\n",
           (t2.tv_sec - t1.tv_sec) +
           ((double)(t2.tv_usec - t1.tv_usec) / 1000000));

out:
    /*
     * A flush issued with the last request may still be running: let it
     * finish while its callback's state is alive.
     */
    blk_drain(blk);
    if (data.qiov) {
        for (int i = 0; i < data.nrreq; i++) {
            qemu_iovec_destroy(&data.qiov[i]);
        }
        g_free(data.qiov);
    }
    qemu_vfree(data.buf);
    blk_unref(blk);
    return ret;
}

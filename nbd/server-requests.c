/*
 * NBD server transmission phase: reading and checking requests, running
 * each in its own coroutine against the export's BlockBackend, replying.
 */
#include "strata/osdep.h"
#include "nbd/server-int.h"
#include "block/block.h"
#include "util/error.h"

/*
 * Discards and zero writes are passed on in pieces of at most this size
 * (requests may ask for up to 4 GiB at once).
 */
#define NBD_SERVER_CHUNK (1024 * 1024 * 1024)

typedef struct NBDServerRequest {
    NBDClient *client;
    NBDRequest req;
    void *data;                 /* WRITE payload */
    size_t data_size;           /* its allocated size */
    uint64_t cost;              /* bytes counted in client->inflight_bytes */
    int early_ret;              /* an error found while receiving */
} NBDServerRequest;

/* ---- payload buffers ---- */

/*
 * A buffer of at least @size bytes (*@alloc gets its real size), reusing
 * one the client kept if it is not much bigger.  NULL if out of memory.
 */
static void *buf_get(NBDClient *client, size_t size, size_t *alloc)
{
    for (unsigned i = 0; i < client->nr_cached; i++) {
        size_t have = client->buf_cache[i].size;

        if (have >= size && have <= 2 * MAX(size, 4096)) {
            void *buf = client->buf_cache[i].buf;

            client->buf_cache[i] = client->buf_cache[--client->nr_cached];
            *alloc = have;
            return buf;
        }
    }
    *alloc = MAX(size, 1);
    return blk_try_blockalign(client->exp->blk, *alloc);
}

static void buf_put(NBDClient *client, void *buf, size_t size)
{
    if (!buf) {
        return;
    }
    if (client->nr_cached == NBD_SERVER_BUF_CACHE ||
        size > NBD_SERVER_BUF_CACHE_MAX || client->closing) {
        qemu_vfree(buf);
        return;
    }
    client->buf_cache[client->nr_cached].buf = buf;
    client->buf_cache[client->nr_cached].size = size;
    client->nr_cached++;
}

void nbd_client_drop_buffers(NBDClient *client)
{
    while (client->nr_cached) {
        qemu_vfree(client->buf_cache[--client->nr_cached].buf);
    }
}

/* ---- sending ---- */

static int coroutine_fn send_locked(NBDClient *client,
                                    const struct iovec *iov, int niov)
{
    int ret;

    qemu_co_mutex_lock(&client->send_lock);
    ret = nbd_channel_writev(client->ch, iov, niov, NULL);
    qemu_co_mutex_unlock(&client->send_lock);
    if (ret < 0) {
        /* A reply that cannot be delivered ends the connection. */
        nbd_client_close(client);
    }
    return ret;
}

static int coroutine_fn send_simple(NBDClient *client, uint64_t cookie,
                                    int err, void *data, size_t len)
{
    uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = data, .iov_len = len },
    };

    nbd_simple_reply_encode(hdr, cookie, nbd_errno_to_wire(err));
    return send_locked(client, iov, len ? 2 : 1);
}

/* A structured chunk: header, then @prefix (fixed fields), then @data. */
static int coroutine_fn send_chunk(NBDClient *client, uint64_t cookie,
                                   uint16_t flags, uint16_t type,
                                   const void *prefix, size_t prefix_len,
                                   const void *data, size_t len)
{
    uint8_t hdr[NBD_STRUCTURED_REPLY_SIZE];
    struct iovec iov[3] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)prefix, .iov_len = prefix_len },
        { .iov_base = (void *)data, .iov_len = len },
    };

    nbd_chunk_header_encode(hdr, flags, type, cookie, prefix_len + len);
    return send_locked(client, iov, len ? 3 : (prefix_len ? 2 : 1));
}

static int coroutine_fn send_done(NBDClient *client, uint64_t cookie)
{
    return send_chunk(client, cookie, NBD_REPLY_FLAG_DONE,
                      NBD_REPLY_TYPE_NONE, NULL, 0, NULL, 0);
}

static int coroutine_fn send_error_chunk(NBDClient *client, uint64_t cookie,
                                         int err, const char *msg)
{
    uint8_t fixed[6];
    size_t len = msg ? MIN(strlen(msg), NBD_MAX_STRING_SIZE) : 0;

    stl_be(fixed, nbd_errno_to_wire(err));
    stw_be(fixed + 4, len);
    return send_chunk(client, cookie, NBD_REPLY_FLAG_DONE,
                      NBD_REPLY_TYPE_ERROR, fixed, sizeof(fixed), msg, len);
}

/* The final answer to a request that carries no data back. */
static int coroutine_fn send_result(NBDClient *client, uint64_t cookie,
                                    int ret, Error *err)
{
    if (!client->structured_reply) {
        return send_simple(client, cookie, -ret, NULL, 0);
    }
    if (ret >= 0) {
        return send_done(client, cookie);
    }
    return send_error_chunk(client, cookie, -ret,
                            err ? error_get_pretty(err) : strerror(-ret));
}

/* ---- checking a request ---- */

static bool cmd_writes(uint16_t type)
{
    return type == NBD_CMD_WRITE || type == NBD_CMD_WRITE_ZEROES ||
           type == NBD_CMD_TRIM;
}

/* The flags each command accepts besides FUA. */
static uint16_t cmd_valid_flags(NBDClient *client, uint16_t type)
{
    switch (type) {
    case NBD_CMD_READ:
        return client->structured_reply ? NBD_CMD_FLAG_DF : 0;
    case NBD_CMD_WRITE_ZEROES:
        return NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
    case NBD_CMD_BLOCK_STATUS:
        return NBD_CMD_FLAG_REQ_ONE;
    default:
        return 0;
    }
}

/*
 * Whatever is wrong with a request, the error on the wire is EINVAL, as
 * QEMU 7.2 sends for every request it refuses before running it (the
 * message says more); the return value is the precise errno.
 */
static int check_request(NBDClient *client, const NBDRequest *r,
                         Error **errp)
{
    NBDExport *exp = client->exp;

    if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_CACHE) &&
        r->len > NBD_MAX_BUFFER_SIZE) {
        error_setg(errp, "len (%" PRIu32 ") is larger than max len (%u)",
                   r->len, NBD_MAX_BUFFER_SIZE);
        return -EINVAL;
    }
    if ((exp->flags & NBD_FLAG_READ_ONLY) && cmd_writes(r->type)) {
        error_setg(errp, "Export is read-only");
        return -EROFS;
    }
    if (r->from > exp->size || r->len > exp->size - r->from) {
        error_setg(errp, "operation past EOF; From: %" PRIu64 ", Len: %"
                   PRIu32 ", Size: %" PRIu64, r->from, r->len, exp->size);
        return (r->type == NBD_CMD_WRITE ||
                r->type == NBD_CMD_WRITE_ZEROES) ? -ENOSPC : -EINVAL;
    }
    if (r->flags & ~(NBD_CMD_FLAG_FUA | cmd_valid_flags(client, r->type))) {
        error_setg(errp, "unsupported flags for command %s (got 0x%x)",
                   nbd_cmd_lookup(r->type), r->flags);
        return -EINVAL;
    }
    return 0;
}

/* ---- the commands ---- */

static int coroutine_fn do_read_plain(NBDServerRequest *sr)
{
    NBDClient *client = sr->client;
    NBDRequest *r = &sr->req;
    BlockBackend *blk = client->exp->blk;
    void *buf = NULL;
    size_t alloc = 0;
    int ret = 0;

    if (r->len) {
        buf = buf_get(client, r->len, &alloc);
        if (!buf) {
            ret = -ENOMEM;
        } else {
            ret = blk_co_pread(blk, r->from, r->len, buf, 0);
        }
    }
    if (ret < 0) {
        buf_put(client, buf, alloc);
        if (!client->structured_reply) {
            return send_simple(client, r->cookie, -ret, NULL, 0);
        }
        return send_error_chunk(client, r->cookie, -ret,
                                ret == -ENOMEM ? "No memory"
                                               : "reading from file failed");
    }
    if (!client->structured_reply) {
        ret = send_simple(client, r->cookie, 0, buf, r->len);
    } else if (r->len) {
        uint8_t off[8];

        stq_be(off, r->from);
        ret = send_chunk(client, r->cookie, NBD_REPLY_FLAG_DONE,
                         NBD_REPLY_TYPE_OFFSET_DATA, off, 8, buf, r->len);
    } else {
        ret = send_done(client, r->cookie);
    }
    buf_put(client, buf, alloc);
    return ret;
}

/* Send [offset, offset + len) as data (read now) or as a hole. */
static int coroutine_fn send_run(NBDServerRequest *sr, uint64_t offset,
                                 uint64_t len, bool zero, bool final)
{
    NBDClient *client = sr->client;
    uint16_t flags = final ? NBD_REPLY_FLAG_DONE : 0;
    uint8_t fixed[12];
    size_t alloc;
    void *buf;
    int ret;

    stq_be(fixed, offset);
    if (zero) {
        stl_be(fixed + 8, len);
        return send_chunk(client, sr->req.cookie, flags,
                          NBD_REPLY_TYPE_OFFSET_HOLE, fixed, 12, NULL, 0);
    }
    buf = buf_get(client, len, &alloc);
    if (!buf) {
        send_error_chunk(client, sr->req.cookie, ENOMEM, "No memory");
        return -ENOMEM;
    }
    ret = blk_co_pread(client->exp->blk, offset, len, buf, 0);
    if (ret < 0) {
        buf_put(client, buf, alloc);
        send_error_chunk(client, sr->req.cookie, -ret,
                         "reading from file failed");
        return ret;
    }
    ret = send_chunk(client, sr->req.cookie, flags,
                     NBD_REPLY_TYPE_OFFSET_DATA, fixed, 8, buf, len);
    buf_put(client, buf, alloc);
    return ret;
}

/*
 * A structured read: ranges that read as zeroes travel as holes, the
 * rest as data, in as few chunks as the allocation map allows.
 */
static int coroutine_fn do_read_sparse(NBDServerRequest *sr)
{
    NBDRequest *r = &sr->req;
    BlockDriverState *bs = blk_bs(sr->client->exp->blk);
    uint64_t run_start = r->from, run_len = 0;
    bool run_zero = false;
    uint64_t pos = r->from, end = r->from + r->len;

    while (pos < end) {
        int64_t pnum = 0;
        int ret = bdrv_co_block_status_above(bs, NULL, true, pos, end - pos,
                                             &pnum, NULL, NULL, NULL);
        bool zero;

        if (ret < 0 || pnum <= 0) {
            /* Not knowing is no error: send the rest as data. */
            ret = BDRV_BLOCK_DATA;
            pnum = end - pos;
        }
        zero = ret & BDRV_BLOCK_ZERO;
        if (run_len && zero != run_zero) {
            ret = send_run(sr, run_start, run_len, run_zero, false);
            if (ret < 0) {
                return ret;
            }
            run_start = pos;
            run_len = 0;
        }
        run_zero = zero;
        run_len += pnum;
        pos += pnum;
    }
    return send_run(sr, run_start, run_len, run_zero, true);
}

static int coroutine_fn do_zero(NBDServerRequest *sr)
{
    NBDRequest *r = &sr->req;
    BlockBackend *blk = sr->client->exp->blk;
    BdrvRequestFlags flags = 0;
    uint64_t done = 0;
    int ret = 0;

    if (r->flags & NBD_CMD_FLAG_FUA) {
        flags |= BDRV_REQ_FUA;
    }
    if (!(r->flags & NBD_CMD_FLAG_NO_HOLE)) {
        flags |= BDRV_REQ_MAY_UNMAP;
    }
    if (r->flags & NBD_CMD_FLAG_FAST_ZERO) {
        flags |= BDRV_REQ_NO_FALLBACK;
    }
    while (done < r->len && ret >= 0) {
        uint64_t n = MIN(r->len - done, NBD_SERVER_CHUNK);

        ret = blk_co_pwrite_zeroes(blk, r->from + done, n, flags);
        done += n;
    }
    return ret;
}

static int coroutine_fn do_trim(NBDServerRequest *sr)
{
    NBDRequest *r = &sr->req;
    BlockBackend *blk = sr->client->exp->blk;
    uint64_t done = 0;
    int ret = 0;

    while (done < r->len && ret >= 0) {
        uint64_t n = MIN(r->len - done, NBD_SERVER_CHUNK);

        ret = blk_co_pdiscard(blk, r->from + done, n);
        done += n;
    }
    if (ret >= 0 && (r->flags & NBD_CMD_FLAG_FUA)) {
        ret = blk_co_flush(blk);
    }
    return ret;
}

/* The contexts selected, as IDs, in the order QEMU's server uses. */
static unsigned selected_contexts(NBDClient *client, uint32_t *ids)
{
    NBDMetaSelection *m = &client->meta;
    unsigned n = 0;

    if (m->base_allocation) {
        ids[n++] = NBD_META_ID_BASE_ALLOCATION;
    }
    if (m->allocation_depth) {
        ids[n++] = NBD_META_ID_ALLOCATION_DEPTH;
    }
    for (size_t i = 0; i < client->exp->nr_bitmaps; i++) {
        if (m->bitmaps[i]) {
            ids[n++] = NBD_META_ID_DIRTY_BITMAP + i;
        }
    }
    return n;
}

static int coroutine_fn do_block_status(NBDServerRequest *sr, Error **errp)
{
    NBDClient *client = sr->client;
    NBDRequest *r = &sr->req;
    g_autofree uint32_t *ids = NULL;
    unsigned n;
    int ret = 0;

    if (!r->len) {
        error_setg(errp, "need non-zero length");
        return -EINVAL;
    }
    if (!client->meta.count) {
        error_setg(errp, "CMD_BLOCK_STATUS not negotiated");
        return -EINVAL;
    }
    ids = g_new(uint32_t, 2 + client->exp->nr_bitmaps);
    n = selected_contexts(client, ids);
    for (unsigned i = 0; i < n; i++) {
        NBDExtentList list = {
            .max = (r->flags & NBD_CMD_FLAG_REQ_ONE)
                   ? 1 : NBD_MAX_BLOCK_STATUS_EXTENTS,
        };
        g_autofree uint8_t *payload = NULL;

        ret = nbd_meta_extents(client->exp, ids[i], r->from, r->len, &list);
        if (ret < 0) {
            g_free(list.extents);
            error_setg_errno(errp, -ret, "unable to get block status");
            return ret;
        }
        if (!list.count) {
            /* Nothing known: the spec allows "no flags" for any block. */
            list.extents = g_new(NBDExtent, 1);
            list.extents[0] = (NBDExtent) { .length = r->len, .flags = 0 };
            list.count = 1;
        }
        payload = g_malloc(4 + list.count * NBD_EXTENT_SIZE);
        stl_be(payload, ids[i]);
        for (unsigned j = 0; j < list.count; j++) {
            stl_be(payload + 4 + 8 * j, list.extents[j].length);
            stl_be(payload + 8 + 8 * j, list.extents[j].flags);
        }
        g_free(list.extents);
        ret = send_chunk(client, r->cookie,
                         i == n - 1 ? NBD_REPLY_FLAG_DONE : 0,
                         NBD_REPLY_TYPE_BLOCK_STATUS, payload,
                         4 + list.count * NBD_EXTENT_SIZE, NULL, 0);
        if (ret < 0) {
            return 1;   /* the connection is gone; nothing more to send */
        }
    }
    return 1;
}

/*
 * Run the command.  Returns -errno for a failure still to be reported,
 * 0 for a success still to be reported, 1 if the reply was sent.
 */
static int coroutine_fn run_request(NBDServerRequest *sr, Error **errp)
{
    NBDClient *client = sr->client;
    NBDRequest *r = &sr->req;
    BlockBackend *blk = client->exp->blk;
    int ret;

    switch (r->type) {
    case NBD_CMD_READ:
        if (client->structured_reply && r->len &&
            !(r->flags & NBD_CMD_FLAG_DF)) {
            do_read_sparse(sr);
        } else {
            do_read_plain(sr);
        }
        return 1;
    case NBD_CMD_WRITE:
        ret = blk_co_pwrite(blk, r->from, r->len, sr->data,
                            (r->flags & NBD_CMD_FLAG_FUA) ? BDRV_REQ_FUA : 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "writing to file failed");
        }
        return MIN(ret, 0);
    case NBD_CMD_WRITE_ZEROES:
        ret = do_zero(sr);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "writing to file failed");
        }
        return MIN(ret, 0);
    case NBD_CMD_TRIM:
        ret = do_trim(sr);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "discard failed");
        }
        return MIN(ret, 0);
    case NBD_CMD_FLUSH:
        ret = blk_co_flush(blk);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "flush failed");
        }
        return MIN(ret, 0);
    case NBD_CMD_CACHE:
        /* A hint the protocol lets us ignore: the data is local anyway. */
        return 0;
    case NBD_CMD_BLOCK_STATUS:
        return do_block_status(sr, errp);
    default:
        error_setg(errp, "invalid request type (%u) received", r->type);
        return -EINVAL;
    }
}

static void coroutine_fn request_co(void *opaque)
{
    NBDServerRequest *sr = opaque;
    NBDClient *client = sr->client;
    Error *err = NULL;
    int ret = sr->early_ret;

    if (ret == 0) {
        ret = check_request(client, &sr->req, &err);
    }
    if (ret < 0) {
        ret = -EINVAL;
    } else {
        ret = run_request(sr, &err);
    }
    if (ret != 1) {
        if (sr->req.type == NBD_CMD_READ && ret < 0 &&
            !client->structured_reply) {
            send_simple(client, sr->req.cookie, -ret, NULL, 0);
        } else {
            send_result(client, sr->req.cookie, ret, err);
        }
    }
    error_free(err);
    buf_put(client, sr->data, sr->data_size);

    client->nb_requests--;
    client->inflight_bytes -= sr->cost;
    g_free(sr);
    if (client->recv_waiting) {
        client->recv_waiting = false;
        aio_co_wake(client->co);
    }
}

/* ---- the receive loop ---- */

static bool client_has_room(NBDClient *client)
{
    return client->nb_requests < NBD_SERVER_MAX_REQUESTS &&
           (!client->nb_requests ||
            client->inflight_bytes < NBD_SERVER_MAX_INFLIGHT);
}

/* Park the receive coroutine until a request finishes (or a close). */
static void coroutine_fn wait_for_requests(NBDClient *client)
{
    client->recv_waiting = true;
    qemu_coroutine_yield();
    client->recv_waiting = false;
}

/*
 * Read one request and its payload.  Returns 1 with *@out to run, 0 for
 * an orderly end (EOF, NBD_CMD_DISC), -errno to hang up.
 */
static int coroutine_fn receive_request(NBDClient *client,
                                        NBDServerRequest **out)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    NBDServerRequest *sr;
    NBDRequest r;
    int ret;

    ret = nbd_channel_read_eof(client->ch, hdr, sizeof(hdr), NULL);
    if (ret <= 0) {
        return ret;
    }
    if (!nbd_request_decode(hdr, &r)) {
        /* Garbage: there is no way to find the next request. */
        return -EINVAL;
    }
    if (r.type == NBD_CMD_DISC) {
        return 0;
    }
    sr = g_new0(NBDServerRequest, 1);
    sr->client = client;
    sr->req = r;
    if (r.type == NBD_CMD_WRITE) {
        if (r.len > NBD_MAX_BUFFER_SIZE) {
            /*
             * Too much to take in, and skipping it would let a client
             * keep us busy for 4 GiB: refuse the request, then hang up.
             */
            if (client->structured_reply) {
                send_error_chunk(client, r.cookie, EINVAL,
                                 "request too large");
            } else {
                send_simple(client, r.cookie, EINVAL, NULL, 0);
            }
            g_free(sr);
            return -EINVAL;
        }
        sr->data = buf_get(client, r.len, &sr->data_size);
        if (!sr->data) {
            /* Keep the stream in step and answer ENOMEM. */
            sr->early_ret = -ENOMEM;
            ret = nbd_channel_skip(client->ch, r.len, NULL);
        } else {
            ret = nbd_channel_read(client->ch, sr->data, r.len, NULL);
        }
        if (ret < 0) {
            buf_put(client, sr->data, sr->data_size);
            g_free(sr);
            return ret;
        }
    }
    if (r.type == NBD_CMD_READ || r.type == NBD_CMD_WRITE) {
        sr->cost = MIN(r.len, NBD_MAX_BUFFER_SIZE);
    }
    *out = sr;
    return 1;
}

void coroutine_fn nbd_serve_requests(NBDClient *client)
{
    bool orderly = false;

    while (!client->closing) {
        NBDServerRequest *sr = NULL;
        Coroutine *co;
        int ret;

        while (!client->closing && !client_has_room(client)) {
            wait_for_requests(client);
        }
        if (client->closing) {
            break;
        }
        ret = receive_request(client, &sr);
        if (ret <= 0) {
            orderly = ret == 0;
            break;
        }
        client->nb_requests++;
        client->inflight_bytes += sr->cost;
        co = qemu_coroutine_create(request_co, sr);
        qemu_coroutine_enter(co);
    }

    if (!orderly) {
        nbd_client_close(client);
    }
    /* Requests still running own parts of the client: let them finish. */
    while (client->nb_requests) {
        wait_for_requests(client);
    }
    nbd_channel_shutdown(client->ch);
}

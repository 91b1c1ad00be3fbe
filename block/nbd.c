/*
 * Protocol driver "nbd": a node whose data lives on an NBD server, with
 * nbd:// and nbd+unix:// file names, x-dirty-bitmap and reconnection.
 */
#include "strata/osdep.h"
#include "block/block_int.h"
#include "nbd/client.h"
#include "util/cutils.h"
#include "util/qdict.h"
#include "util/sockets.h"
#include "qapi/qapi-visit.h"
#include "qapi/qobject-input-visitor.h"

/* Requests on the wire at once over one connection. */
#define MAX_NBD_REQUESTS 16

/* Between two attempts to reconnect while requests wait. */
#define NBD_RECONNECT_INTERVAL_NS (1 * NANOSECONDS_PER_SECOND)

typedef enum NBDClientState {
    NBD_CLIENT_CONNECTED,
    NBD_CLIENT_CONNECTING_WAIT,     /* lost; requests wait for a while */
    NBD_CLIENT_CONNECTING_NOWAIT,   /* lost; each request tries once */
    NBD_CLIENT_QUIT,
} NBDClientState;

/* One request on the wire, filled in by the reply reader. */
typedef struct NBDClientReq {
    Coroutine *co;          /* NULL: the slot is free */
    bool waiting;           /* co has yielded for the reply */
    bool done;
    bool conn_lost;         /* failed because the connection went away */
    int ret;
    uint64_t cookie;
    NBDRequest request;
    QEMUIOVector *qiov;     /* where READ data goes */
    uint64_t covered;       /* READ bytes received as data or holes */
    NBDExtent extent;       /* BLOCK_STATUS answer */
    bool got_extent;
} NBDClientReq;

typedef struct BDRVNBDState {
    BlockDriverState *bs;
    AioContext *ctx;

    /* Options. */
    SocketAddress *saddr;
    char *export;
    char *x_dirty_bitmap;
    uint32_t reconnect_delay;
    uint32_t open_timeout;

    /* The connection. */
    NBDClientState state;
    NBDChannel *ch;
    NBDExportInfo info;
    Coroutine *reader;
    CoMutex send_mutex;
    NBDClientReq reqs[MAX_NBD_REQUESTS];
    unsigned in_flight;
    CoQueue free_slots;
    uint64_t cookie_seq;

    /* Reconnection. */
    CoMutex connect_mutex;
    CoQueue reconnect_waiters;
    int64_t reconnect_deadline;
    Coroutine *reconnect_co;
    NBDChannel *connecting;     /* a reconnection's channel, being set up */
    QemuCoSleep reconnect_sleep;
} BDRVNBDState;

static void nbd_connection_lost(BDRVNBDState *s);

/* ---- connecting ---- */

static void nbd_info_request(BDRVNBDState *s, NBDExportInfo *info)
{
    memset(info, 0, sizeof(*info));
    info->name = g_strdup(s->export ? s->export : "");
    info->request_sizes = true;
    info->structured_reply = true;
    info->want_context = true;
    info->context = g_strdup(s->x_dirty_bitmap);
}

/*
 * Connect and negotiate.  Outside coroutines this blocks; inside one it
 * yields while waiting.  Returns the channel, or NULL with @errp set.
 */
static NBDChannel *nbd_connect(BDRVNBDState *s, NBDExportInfo *info,
                               Error **errp)
{
    NBDChannel *ch;
    int fd;

    if (qemu_in_coroutine()) {
        fd = socket_connect_start(s->saddr, errp);
        if (fd < 0) {
            return NULL;
        }
        ch = nbd_channel_new(fd, s->ctx);
        /* Closing the node must be able to cut a stalled attempt short. */
        s->connecting = ch;
        nbd_channel_wait_writable(ch);
        if (socket_connect_finish(fd, s->saddr, errp) < 0) {
            s->connecting = NULL;
            nbd_channel_free(ch);
            return NULL;
        }
    } else {
        fd = socket_connect(s->saddr, errp);
        if (fd < 0) {
            return NULL;
        }
        ch = nbd_channel_new(fd, s->ctx);
    }
    nbd_info_request(s, info);
    if (nbd_receive_negotiate(ch, info, errp) < 0) {
        s->connecting = NULL;
        nbd_export_info_clear(info);
        nbd_channel_free(ch);
        return NULL;
    }
    s->connecting = NULL;
    if (s->x_dirty_bitmap && !info->have_context) {
        /* QEMU's client fails here without saying more. */
        error_setg_errno(errp, EINVAL, "Could not open image");
        nbd_export_info_clear(info);
        nbd_channel_free(ch);
        return NULL;
    }
    return ch;
}

/* ---- the reply reader ---- */

static NBDClientReq *find_request(BDRVNBDState *s, uint64_t cookie)
{
    unsigned i = cookie & 0xff;

    if (i >= MAX_NBD_REQUESTS || !s->reqs[i].co ||
        s->reqs[i].cookie != cookie) {
        return NULL;
    }
    return &s->reqs[i];
}

static void complete_request(NBDClientReq *req)
{
    req->done = true;
    if (req->waiting) {
        req->waiting = false;
        aio_co_wake(req->co);
    }
}

static void set_error(NBDClientReq *req, int ret)
{
    if (!req->ret) {
        req->ret = ret;
    }
}

/* Read @len bytes of READ data for @req, landing at export @offset. */
static int coroutine_fn receive_data(BDRVNBDState *s, NBDClientReq *req,
                                     uint64_t offset, uint32_t len,
                                     Error **errp)
{
    QEMUIOVector slice;
    int ret;

    qemu_iovec_init_slice(&slice, req->qiov, offset - req->request.from,
                          len);
    ret = nbd_channel_readv(s->ch, slice.iov, slice.niov, errp);
    qemu_iovec_destroy(&slice);
    return ret;
}

static bool in_request(NBDClientReq *req, uint64_t offset, uint64_t len)
{
    return offset >= req->request.from &&
           len <= req->request.len &&
           offset - req->request.from <= req->request.len - len;
}

/* An error chunk: @len bytes, error fields first. */
static int coroutine_fn receive_error_chunk(BDRVNBDState *s,
                                            NBDClientReq *req,
                                            const NBDReply *reply,
                                            Error **errp)
{
    uint8_t buf[6];
    uint32_t err;
    uint16_t msglen;
    uint32_t fixed = reply->type == NBD_REPLY_TYPE_ERROR_OFFSET ? 14 : 6;

    if (reply->length < 6) {
        error_setg(errp, "Protocol error: invalid payload for error chunk");
        return -EINVAL;
    }
    if (nbd_channel_read(s->ch, buf, 6, errp) < 0) {
        return -EIO;
    }
    err = ldl_be(buf);
    msglen = lduw_be(buf + 4);
    if (!err) {
        error_setg(errp, "Protocol error: server sent an error chunk "
                   "with error = 0");
        return -EINVAL;
    }
    if ((NBD_REPLY_TYPE_IS_ERR(reply->type) && reply->length < fixed) ||
        msglen > reply->length - fixed) {
        error_setg(errp, "Protocol error: server sent an error chunk "
                   "with a bad message length");
        return -EINVAL;
    }
    if (reply->type == NBD_REPLY_TYPE_ERROR_OFFSET) {
        uint8_t off[8];

        if (nbd_channel_skip(s->ch, msglen, errp) < 0 ||
            nbd_channel_read(s->ch, off, 8, errp) < 0) {
            return -EIO;
        }
        if (!in_request(req, ldq_be(off), 0)) {
            error_setg(errp, "Protocol error: server sent an error offset "
                       "outside the request");
            return -EINVAL;
        }
        if (nbd_channel_skip(s->ch, reply->length - 14 - msglen, errp) < 0) {
            return -EIO;
        }
    } else if (nbd_channel_skip(s->ch, reply->length - 6, errp) < 0) {
        return -EIO;
    }
    set_error(req, -nbd_wire_to_errno(err));
    return 0;
}

static int coroutine_fn receive_chunk(BDRVNBDState *s, NBDClientReq *req,
                                      const NBDReply *reply, Error **errp)
{
    uint8_t buf[12];

    switch (reply->type) {
    case NBD_REPLY_TYPE_NONE:
        if (reply->length || !(reply->flags & NBD_REPLY_FLAG_DONE)) {
            error_setg(errp, "Protocol error: invalid NBD_REPLY_TYPE_NONE "
                       "chunk");
            return -EINVAL;
        }
        return 0;

    case NBD_REPLY_TYPE_OFFSET_DATA: {
        uint64_t offset;
        uint32_t len;

        if (req->request.type != NBD_CMD_READ || reply->length < 9) {
            error_setg(errp, "Protocol error: unexpected data chunk");
            return -EINVAL;
        }
        if (nbd_channel_read(s->ch, buf, 8, errp) < 0) {
            return -EIO;
        }
        offset = ldq_be(buf);
        len = reply->length - 8;
        if (!in_request(req, offset, len)) {
            error_setg(errp, "Protocol error: server sent data outside the "
                       "requested range");
            return -EINVAL;
        }
        if (receive_data(s, req, offset, len, errp) < 0) {
            return -EIO;
        }
        req->covered += len;
        return 0;
    }

    case NBD_REPLY_TYPE_OFFSET_HOLE: {
        uint64_t offset;
        uint32_t len;

        if (req->request.type != NBD_CMD_READ || reply->length != 12) {
            error_setg(errp, "Protocol error: unexpected hole chunk");
            return -EINVAL;
        }
        if (nbd_channel_read(s->ch, buf, 12, errp) < 0) {
            return -EIO;
        }
        offset = ldq_be(buf);
        len = ldl_be(buf + 8);
        if (!len || !in_request(req, offset, len)) {
            error_setg(errp, "Protocol error: server sent a hole outside "
                       "the requested range");
            return -EINVAL;
        }
        qemu_iovec_memset(req->qiov, offset - req->request.from, 0, len);
        req->covered += len;
        return 0;
    }

    case NBD_REPLY_TYPE_BLOCK_STATUS:
        if (req->request.type != NBD_CMD_BLOCK_STATUS ||
            reply->length < 12 || (reply->length - 4) % 8 ||
            req->got_extent) {
            error_setg(errp, "Protocol error: unexpected block status "
                       "chunk");
            return -EINVAL;
        }
        if (nbd_channel_read(s->ch, buf, 12, errp) < 0) {
            return -EIO;
        }
        if (ldl_be(buf) != s->info.context_id || !ldl_be(buf + 4)) {
            error_setg(errp, "Protocol error: invalid block status chunk");
            return -EINVAL;
        }
        req->extent.length = ldl_be(buf + 4);
        req->extent.flags = ldl_be(buf + 8);
        /* One extent was asked for; a longer answer is clamped. */
        req->extent.length = MIN(req->extent.length, req->request.len);
        req->got_extent = true;
        return nbd_channel_skip(s->ch, reply->length - 12, errp) < 0
               ? -EIO : 0;

    default:
        if (NBD_REPLY_TYPE_IS_ERR(reply->type)) {
            return receive_error_chunk(s, req, reply, errp);
        }
        error_setg(errp, "Protocol error: unknown reply type %u",
                   reply->type);
        return -EINVAL;
    }
}

/* Read replies and hand them to their requests until the link breaks. */
static void coroutine_fn nbd_reader_co(void *opaque)
{
    BDRVNBDState *s = opaque;

    while (s->state == NBD_CLIENT_CONNECTED) {
        Error *err = NULL;
        NBDClientReq *req;
        NBDReply reply;
        int ret = nbd_receive_reply(s->ch, &reply, &err);

        if (ret <= 0) {
            error_free(err);
            break;
        }
        req = find_request(s, reply.cookie);
        if (!req || req->done) {
            /* A cookie we never sent: nothing else can be trusted. */
            break;
        }
        if (reply.magic == NBD_SIMPLE_REPLY_MAGIC) {
            if (reply.error) {
                set_error(req, -nbd_wire_to_errno(reply.error));
            } else if (req->request.type == NBD_CMD_READ) {
                if (s->info.structured_reply) {
                    break;  /* reads must use structured replies then */
                }
                if (receive_data(s, req, req->request.from,
                                 req->request.len, NULL) < 0) {
                    break;
                }
                req->covered = req->request.len;
            }
        } else {
            if (!s->info.structured_reply) {
                break;
            }
            if (receive_chunk(s, req, &reply, &err) < 0) {
                error_free(err);
                break;
            }
            if (!(reply.flags & NBD_REPLY_FLAG_DONE)) {
                continue;
            }
        }
        if (!req->ret && req->request.type == NBD_CMD_READ &&
            req->covered < req->request.len) {
            /* The server claimed success without sending everything. */
            req->ret = -EIO;
        }
        if (!req->ret && req->request.type == NBD_CMD_BLOCK_STATUS &&
            !req->got_extent) {
            req->ret = -EIO;
        }
        complete_request(req);
    }

    s->reader = NULL;
    nbd_connection_lost(s);
}

/* ---- the connection's state ---- */

/* Fail every request on the wire; they may retry after a reconnect. */
static void fail_in_flight(BDRVNBDState *s)
{
    for (int i = 0; i < MAX_NBD_REQUESTS; i++) {
        NBDClientReq *req = &s->reqs[i];

        if (req->co && !req->done) {
            req->ret = -EIO;
            req->conn_lost = true;
            complete_request(req);
        }
    }
}

static void coroutine_fn nbd_reconnect_co(void *opaque);

static void nbd_connection_lost(BDRVNBDState *s)
{
    if (s->state == NBD_CLIENT_CONNECTED) {
        if (s->reconnect_delay) {
            s->state = NBD_CLIENT_CONNECTING_WAIT;
            s->reconnect_deadline = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                s->reconnect_delay * NANOSECONDS_PER_SECOND;
            if (!s->reconnect_co) {
                s->reconnect_co = qemu_coroutine_create(nbd_reconnect_co, s);
                aio_co_schedule(s->ctx, s->reconnect_co);
            }
        } else {
            s->state = NBD_CLIENT_CONNECTING_NOWAIT;
        }
    }
    if (s->ch) {
        nbd_channel_shutdown(s->ch);
    }
    fail_in_flight(s);
}

/* Install a fresh connection (@info describes it). */
static int coroutine_fn nbd_co_install(BDRVNBDState *s, NBDChannel *ch,
                                       NBDExportInfo *info, Error **errp)
{
    if (info->size != s->info.size) {
        error_setg(errp, "Cannot handle a change of the export's size");
        return -EINVAL;
    }
    if ((info->flags & NBD_FLAG_READ_ONLY) && !bdrv_is_read_only(s->bs)) {
        error_setg(errp, "NBD export is read-only");
        return -EACCES;
    }
    if (info->min_block > s->bs->bl.request_alignment) {
        error_setg(errp, "Cannot handle a change of the minimum block size");
        return -EINVAL;
    }
    /* No sender may still be using the old channel. */
    qemu_co_mutex_lock(&s->send_mutex);
    nbd_channel_free(s->ch);
    s->ch = ch;
    nbd_export_info_clear(&s->info);
    s->info = *info;
    memset(info, 0, sizeof(*info));
    s->state = NBD_CLIENT_CONNECTED;
    qemu_co_mutex_unlock(&s->send_mutex);

    s->reader = qemu_coroutine_create(nbd_reader_co, s);
    aio_co_schedule(s->ctx, s->reader);
    qemu_co_queue_restart_all(&s->reconnect_waiters);
    return 0;
}

/* One attempt to get a connection back. */
static int coroutine_fn nbd_co_reconnect_once(BDRVNBDState *s)
{
    NBDExportInfo info;
    NBDChannel *ch;
    Error *err = NULL;
    int ret = 0;

    qemu_co_mutex_lock(&s->connect_mutex);
    if (s->state == NBD_CLIENT_CONNECTED || s->state == NBD_CLIENT_QUIT) {
        goto out;
    }
    ch = nbd_connect(s, &info, &err);
    if (!ch) {
        ret = -EIO;
        goto out;
    }
    if (s->state == NBD_CLIENT_QUIT) {
        nbd_export_info_clear(&info);
        nbd_channel_free(ch);
        ret = -EIO;
        goto out;
    }
    ret = nbd_co_install(s, ch, &info, &err);
    if (ret < 0) {
        nbd_export_info_clear(&info);
        nbd_channel_free(ch);
    }
out:
    error_free(err);
    qemu_co_mutex_unlock(&s->connect_mutex);
    return ret;
}

/* While requests may wait: retry until connected or out of time. */
static void coroutine_fn nbd_reconnect_co(void *opaque)
{
    BDRVNBDState *s = opaque;

    while (s->state == NBD_CLIENT_CONNECTING_WAIT) {
        int64_t now;

        if (nbd_co_reconnect_once(s) == 0 &&
            s->state == NBD_CLIENT_CONNECTED) {
            break;
        }
        now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        if (now >= s->reconnect_deadline) {
            if (s->state == NBD_CLIENT_CONNECTING_WAIT) {
                s->state = NBD_CLIENT_CONNECTING_NOWAIT;
            }
            break;
        }
        qemu_co_sleep_ns_wakeable(&s->reconnect_sleep, QEMU_CLOCK_REALTIME,
                                  MIN(NBD_RECONNECT_INTERVAL_NS,
                                      s->reconnect_deadline - now));
    }
    s->reconnect_co = NULL;
    qemu_co_queue_restart_all(&s->reconnect_waiters);
}

/* Make sure there is a connection; -EIO if there is none to be had. */
static int coroutine_fn nbd_co_wait_connected(BDRVNBDState *s)
{
    for (;;) {
        switch (s->state) {
        case NBD_CLIENT_CONNECTED:
            return 0;
        case NBD_CLIENT_QUIT:
            return -EIO;
        case NBD_CLIENT_CONNECTING_WAIT:
            qemu_co_queue_wait(&s->reconnect_waiters, NULL);
            break;
        case NBD_CLIENT_CONNECTING_NOWAIT:
            if (nbd_co_reconnect_once(s) < 0 ||
                s->state != NBD_CLIENT_CONNECTED) {
                return -EIO;
            }
            break;
        }
    }
}

/* ---- requests ---- */

static int coroutine_fn nbd_co_request_once(BDRVNBDState *s,
                                            NBDRequest *request,
                                            QEMUIOVector *write_qiov,
                                            QEMUIOVector *read_qiov,
                                            NBDExtent *extent,
                                            bool *conn_lost)
{
    NBDClientReq *req = NULL;
    int ret, i;

    *conn_lost = false;
    for (;;) {
        ret = nbd_co_wait_connected(s);
        if (ret < 0) {
            return ret;
        }
        if (s->in_flight < MAX_NBD_REQUESTS) {
            break;
        }
        qemu_co_queue_wait(&s->free_slots, NULL);
    }
    for (i = 0; s->reqs[i].co; i++) {
        /* in_flight < MAX_NBD_REQUESTS: a free slot exists */
    }
    req = &s->reqs[i];
    *req = (NBDClientReq) {
        .co = qemu_coroutine_self(),
        .cookie = (++s->cookie_seq << 8) | i,
        .request = *request,
        .qiov = read_qiov,
    };
    req->request.cookie = req->cookie;
    s->in_flight++;

    qemu_co_mutex_lock(&s->send_mutex);
    if (s->state == NBD_CLIENT_CONNECTED) {
        ret = nbd_send_request(s->ch, &req->request,
                               write_qiov ? write_qiov->iov : NULL,
                               write_qiov ? write_qiov->niov : 0, NULL);
    } else {
        ret = -EIO;
    }
    qemu_co_mutex_unlock(&s->send_mutex);
    if (ret < 0 && !req->done) {
        /* The reader sees the broken link and fails everyone. */
        nbd_connection_lost(s);
    }
    while (!req->done) {
        req->waiting = true;
        qemu_coroutine_yield();
    }

    ret = req->ret;
    *conn_lost = req->conn_lost;
    if (extent && ret == 0) {
        *extent = req->extent;
    }
    req->co = NULL;
    s->in_flight--;
    qemu_co_queue_next(&s->free_slots);
    return ret;
}

static int coroutine_fn nbd_co_request(BlockDriverState *bs,
                                       NBDRequest *request,
                                       QEMUIOVector *write_qiov,
                                       QEMUIOVector *read_qiov,
                                       NBDExtent *extent)
{
    BDRVNBDState *s = bs->opaque;
    bool conn_lost;
    int ret;

    do {
        ret = nbd_co_request_once(s, request, write_qiov, read_qiov, extent,
                                  &conn_lost);
        /* Requests caught by a broken link wait for the reconnection. */
    } while (ret < 0 && conn_lost &&
             s->state == NBD_CLIENT_CONNECTING_WAIT);
    return ret;
}

static int coroutine_fn nbd_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset,
                                      BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    QEMUIOVector slice;
    NBDRequest request = { .type = NBD_CMD_READ, .from = offset };
    int ret;

    if (!bytes) {
        return 0;
    }
    /* The block layer rounds the size up to a sector; pad past the end. */
    if (offset >= (int64_t)s->info.size) {
        qemu_iovec_memset(qiov, qiov_offset, 0, bytes);
        return 0;
    }
    if (offset + bytes > (int64_t)s->info.size) {
        int64_t tail = offset + bytes - s->info.size;

        qemu_iovec_memset(qiov, qiov_offset + bytes - tail, 0, tail);
        bytes -= tail;
    }
    request.len = bytes;
    qemu_iovec_init_slice(&slice, qiov, qiov_offset, bytes);
    ret = nbd_co_request(bs, &request, NULL, &slice, NULL);
    qemu_iovec_destroy(&slice);
    return ret;
}

static int coroutine_fn nbd_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       size_t qiov_offset,
                                       BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    QEMUIOVector slice;
    NBDRequest request = {
        .type = NBD_CMD_WRITE, .from = offset, .len = bytes,
    };
    int ret;

    if (!bytes) {
        return 0;
    }
    if (flags & BDRV_REQ_FUA) {
        assert(s->info.flags & NBD_FLAG_SEND_FUA);
        request.flags |= NBD_CMD_FLAG_FUA;
    }
    qemu_iovec_init_slice(&slice, qiov, qiov_offset, bytes);
    ret = nbd_co_request(bs, &request, &slice, NULL, NULL);
    qemu_iovec_destroy(&slice);
    return ret;
}

static int coroutine_fn nbd_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest request = {
        .type = NBD_CMD_WRITE_ZEROES, .from = offset, .len = bytes,
    };

    if (!(s->info.flags & NBD_FLAG_SEND_WRITE_ZEROES)) {
        return -ENOTSUP;
    }
    if (flags & BDRV_REQ_FUA) {
        request.flags |= NBD_CMD_FLAG_FUA;
    }
    if (!(flags & BDRV_REQ_MAY_UNMAP)) {
        request.flags |= NBD_CMD_FLAG_NO_HOLE;
    }
    if (flags & BDRV_REQ_NO_FALLBACK) {
        if (!(s->info.flags & NBD_FLAG_SEND_FAST_ZERO)) {
            return -ENOTSUP;
        }
        request.flags |= NBD_CMD_FLAG_FAST_ZERO;
    }
    if (!bytes) {
        return 0;
    }
    return nbd_co_request(bs, &request, NULL, NULL, NULL);
}

static int coroutine_fn nbd_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest request = {
        .type = NBD_CMD_TRIM, .from = offset, .len = bytes,
    };

    if (!(s->info.flags & NBD_FLAG_SEND_TRIM) || !bytes) {
        return 0;
    }
    return nbd_co_request(bs, &request, NULL, NULL, NULL);
}

static int coroutine_fn nbd_co_flush(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest request = { .type = NBD_CMD_FLUSH };

    if (!(s->info.flags & NBD_FLAG_SEND_FLUSH)) {
        return 0;
    }
    return nbd_co_request(bs, &request, NULL, NULL, NULL);
}

static int coroutine_fn nbd_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    BDRVNBDState *s = bs->opaque;
    NBDExtent extent = { 0 };
    NBDRequest request = {
        .type = NBD_CMD_BLOCK_STATUS,
        .from = offset,
        .flags = NBD_CMD_FLAG_REQ_ONE,
    };
    int ret;

    *map = offset;
    *file = bs;
    if (!s->info.have_context) {
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    /*
     * Past the server's size (the block layer rounds it up): zeroes that
     * are nowhere on the server.
     */
    if (offset >= (int64_t)s->info.size) {
        *pnum = bytes;
        return BDRV_BLOCK_ZERO;
    }
    request.len = MIN(MIN((uint64_t)bytes, s->info.size - offset),
                      QEMU_ALIGN_DOWN(INT_MAX, bs->bl.request_alignment));
    ret = nbd_co_request(bs, &request, NULL, NULL, &extent);
    if (ret < 0) {
        return ret;
    }
    *pnum = extent.length;
    /*
     * Whatever the context, its bit 0 reads as "hole" and bit 1 as "zero",
     * which is how x-dirty-bitmap shows a dirty bitmap as allocation.
     */
    return (extent.flags & NBD_STATE_HOLE ? 0 : BDRV_BLOCK_DATA) |
           (extent.flags & NBD_STATE_ZERO ? BDRV_BLOCK_ZERO : 0) |
           BDRV_BLOCK_OFFSET_VALID;
}

static int coroutine_fn nbd_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVNBDState *s = bs->opaque;

    if (offset != (int64_t)s->info.size && exact) {
        error_setg(errp, "Cannot resize NBD nodes");
        return -ENOTSUP;
    }
    if (offset > (int64_t)s->info.size) {
        error_setg(errp, "Cannot grow NBD nodes");
        return -EINVAL;
    }
    return 0;
}

static int64_t nbd_getlength(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    return s->info.size;
}

static void nbd_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVNBDState *s = bs->opaque;
    uint32_t min = s->info.min_block;
    uint32_t max = s->info.max_block ? MIN(s->info.max_block,
                                           NBD_MAX_BUFFER_SIZE)
                                     : NBD_MAX_BUFFER_SIZE;

    /*
     * Without advertised sizes: byte access where it is clearly safe (an
     * unaligned size must be readable to its end, and block status may
     * report byte-sized extents), sectors otherwise, as old servers
     * expect.
     */
    if (!min) {
        min = (s->info.size % BDRV_SECTOR_SIZE || s->info.have_context)
              ? 1 : BDRV_SECTOR_SIZE;
    }
    bs->bl.request_alignment = min;
    bs->bl.max_pdiscard = QEMU_ALIGN_DOWN(INT_MAX, min);
    bs->bl.max_pwrite_zeroes = max;
    bs->bl.max_transfer = max;
    if (s->info.opt_block && s->info.opt_block > bs->bl.opt_transfer) {
        bs->bl.opt_transfer = s->info.opt_block;
    }
}

/* ---- options ---- */

/* The old flat spellings: path=, host=, port=. */
static bool nbd_legacy_options(json_t *options, Error **errp)
{
    const char *path = qdict_get_try_str(options, "path");
    const char *host = qdict_get_try_str(options, "host");
    const char *port = qdict_get_try_str(options, "port");
    const char *key;
    json_t *v;

    if (!path && !host && !port) {
        return true;
    }
    json_object_foreach(options, key, v) {
        if (g_str_has_prefix(key, "server.")) {
            error_setg(errp, "Cannot use 'server' and path/host/port at the "
                       "same time");
            return false;
        }
    }
    if (path && (host || port)) {
        error_setg(errp, "path and host may not be used at the same time");
        return false;
    }
    if (path) {
        qdict_put_str(options, "server.type", "unix");
        qdict_put_str(options, "server.path", path);
    } else {
        qdict_put_str(options, "server.type", "inet");
        qdict_put_str(options, "server.host", host ? host : "localhost");
        qdict_put_str(options, "server.port",
                      port ? port : G_STRINGIFY(NBD_DEFAULT_PORT));
    }
    json_object_del(options, "path");
    json_object_del(options, "host");
    json_object_del(options, "port");
    return true;
}

static SocketAddress *nbd_server_address(json_t *options, Error **errp)
{
    g_autoptr(json_t) flat = NULL;
    g_autoptr(json_t) nested = NULL;
    SocketAddress *saddr = NULL;
    Visitor *v;

    qdict_extract_subqdict(options, &flat, "server.");
    if (!json_object_size(flat)) {
        error_setg(errp, "NBD server address missing");
        return NULL;
    }
    nested = qdict_crumple_for_keyval(flat, errp);
    if (!nested) {
        return NULL;
    }
    v = qobject_input_visitor_new_keyval(nested);
    visit_type_SocketAddress(v, NULL, &saddr, errp);
    visit_free(v);
    return saddr;
}

/* A number as QemuOpts reads it ("expects a number"). */
static bool nbd_opt_uint32(json_t *options, const char *key, uint32_t *val,
                           Error **errp)
{
    json_t *v = json_object_get(options, key);
    uint64_t n;

    *val = 0;
    if (!v) {
        return true;
    }
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        if (!parse_option_number(key, json_string_value(v), &n, errp)) {
            return false;
        }
    } else {
        error_setg(errp, "Invalid parameter type for '%s', expected: "
                   "integer", key);
        return false;
    }
    if (n > UINT32_MAX) {
        error_setg(errp, "Value '%" PRIu64 "' is too large for parameter "
                   "'%s'", n, key);
        return false;
    }
    *val = n;
    json_object_del(options, key);
    return true;
}

static bool nbd_opt_str(json_t *options, const char *key, char **val,
                        Error **errp)
{
    const char *s;

    if (!qdict_get_str_opt(options, key, NULL, &s, errp)) {
        return false;
    }
    *val = g_strdup(s);
    json_object_del(options, key);
    return true;
}

static int nbd_process_options(BDRVNBDState *s, json_t *options,
                               Error **errp)
{
    g_autofree char *tls_creds = NULL;
    g_autofree char *tls_hostname = NULL;

    if (!nbd_legacy_options(options, errp)) {
        return -EINVAL;
    }
    s->saddr = nbd_server_address(options, errp);
    if (!s->saddr) {
        return -EINVAL;
    }
    if (!nbd_opt_str(options, "export", &s->export, errp) ||
        !nbd_opt_str(options, "x-dirty-bitmap", &s->x_dirty_bitmap, errp) ||
        !nbd_opt_str(options, "tls-creds", &tls_creds, errp) ||
        !nbd_opt_str(options, "tls-hostname", &tls_hostname, errp) ||
        !nbd_opt_uint32(options, "reconnect-delay", &s->reconnect_delay,
                        errp) ||
        !nbd_opt_uint32(options, "open-timeout", &s->open_timeout, errp)) {
        return -EINVAL;
    }
    if (tls_creds) {
        /* There are no TLS credential objects (yet). */
        error_setg(errp, "No TLS credentials with id '%s'", tls_creds);
        return -EINVAL;
    }
    if (tls_hostname) {
        error_setg(errp, "tls-hostname is only supported with tls-creds");
        return -EINVAL;
    }
    if (s->saddr->type != SOCKET_ADDRESS_TYPE_UNIX &&
        s->saddr->type != SOCKET_ADDRESS_TYPE_INET &&
        s->saddr->type != SOCKET_ADDRESS_TYPE_FD) {
        error_setg(errp, "Unsupported NBD server address type '%s'",
                   SocketAddressType_str(s->saddr->type));
        return -EINVAL;
    }
    return 0;
}

/* ---- file names ---- */

/*
 * nbd://HOST[:PORT][/EXPORT], nbd+tcp:// (the same), and
 * nbd+unix:///[EXPORT]?socket=PATH.  Anything else in the URL makes it
 * invalid, as in QEMU.
 */
static bool nbd_parse_uri(const char *filename, json_t *options)
{
    const char *rest, *slash, *query;
    g_autofree char *authority = NULL;
    g_autofree char *path = NULL;
    g_autofree char *export = NULL;
    bool is_unix;

    if (strstart(filename, "nbd+unix://", &rest)) {
        is_unix = true;
    } else if (strstart(filename, "nbd://", &rest) ||
               strstart(filename, "nbd+tcp://", &rest)) {
        is_unix = false;
    } else {
        return false;
    }
    if (strchr(rest, '#')) {
        return false;
    }
    slash = rest + strcspn(rest, "/?");
    authority = g_strndup(rest, slash - rest);
    query = strchr(slash, '?');
    path = g_strndup(slash, query ? (size_t)(query - slash) : strlen(slash));
    if (query) {
        query++;
    }
    if (path[0] == '/' && path[1]) {
        export = g_uri_unescape_string(path + 1, NULL);
        if (!export) {
            return false;
        }
    }

    if (is_unix) {
        const char *sock;
        g_autofree char *sockpath = NULL;

        if (authority[0] || !query || !strstart(query, "socket=", &sock) ||
            strchr(sock, '&') || !sock[0]) {
            return false;
        }
        sockpath = g_uri_unescape_string(sock, NULL);
        if (!sockpath) {
            return false;
        }
        qdict_put_str(options, "server.type", "unix");
        qdict_put_str(options, "server.path", sockpath);
    } else {
        g_autofree char *host = NULL;
        const char *port = NULL;
        unsigned long portnum;

        if (query || !authority[0]) {
            return false;
        }
        if (authority[0] == '[') {
            const char *close = strchr(authority, ']');

            if (!close || (close[1] && close[1] != ':')) {
                return false;
            }
            host = g_strndup(authority + 1, close - authority - 1);
            port = close[1] ? close + 2 : NULL;
        } else {
            const char *colon = strchr(authority, ':');

            host = g_strndup(authority,
                             colon ? (size_t)(colon - authority)
                                   : strlen(authority));
            port = colon ? colon + 1 : NULL;
        }
        if (!host[0]) {
            return false;
        }
        if (port && (!port[0] || strspn(port, "0123456789") != strlen(port) ||
                     qemu_strtoul(port, NULL, 10, &portnum) < 0 ||
                     portnum > 65535)) {
            return false;
        }
        qdict_put_str(options, "server.type", "inet");
        qdict_put_str(options, "server.host", host);
        qdict_put_str(options, "server.port",
                      port ? port : G_STRINGIFY(NBD_DEFAULT_PORT));
    }
    if (export) {
        qdict_put_str(options, "export", export);
    }
    return true;
}

/* The older nbd:unix:PATH[:exportname=NAME] and nbd:HOST:PORT[:...]. */
static void nbd_parse_legacy(const char *filename, json_t *options,
                             Error **errp)
{
    g_autofree char *file = g_strdup(filename + strlen("nbd:"));
    char *export = strstr(file, ":exportname=");
    const char *path;

    if (export) {
        *export = '\0';
        export += strlen(":exportname=");
        if (!export[0]) {
            error_setg(errp, "No export name specified");
            return;
        }
    }
    if (strstart(file, "unix:", &path)) {
        qdict_put_str(options, "server.type", "unix");
        qdict_put_str(options, "server.path", path);
    } else {
        char *colon = strrchr(file, ':');
        char *host = file;

        if (!colon || colon == file || !colon[1]) {
            error_setg(errp, "error parsing address '%s'", file);
            return;
        }
        *colon = '\0';
        if (host[0] == '[' && colon[-1] == ']') {
            host++;
            colon[-1] = '\0';
        }
        qdict_put_str(options, "server.type", "inet");
        qdict_put_str(options, "server.host", host);
        qdict_put_str(options, "server.port", colon + 1);
    }
    if (export) {
        qdict_put_str(options, "export", export);
    }
}

static void nbd_parse_filename(const char *filename, json_t *options,
                               Error **errp)
{
    static const char *const conflicting[] = {
        "path", "host", "port", "export",
    };
    const char *key;
    json_t *v;

    for (size_t i = 0; i < ARRAY_SIZE(conflicting); i++) {
        if (json_object_get(options, conflicting[i])) {
            error_setg(errp, "host/port/export/path and a file name may not "
                       "be specified at the same time");
            return;
        }
    }
    json_object_foreach(options, key, v) {
        if (g_str_has_prefix(key, "server.")) {
            error_setg(errp, "server.* and a file name may not be specified "
                       "at the same time");
            return;
        }
    }
    if (strstr(filename, "://")) {
        if (!nbd_parse_uri(filename, options)) {
            error_setg(errp, "No valid URL specified");
        }
        return;
    }
    nbd_parse_legacy(filename, options, errp);
}

static void nbd_refresh_filename(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;
    const char *host = NULL, *port = NULL, *path = NULL;
    g_autofree char *name = NULL;

    if (s->saddr->type == SOCKET_ADDRESS_TYPE_INET) {
        const InetSocketAddress *inet = &s->saddr->u.inet;

        /* Extra address options have no place in a URL. */
        if (!inet->has_ipv4 && !inet->has_ipv6 && !inet->has_to) {
            host = inet->host;
            port = inet->port;
        }
    } else if (s->saddr->type == SOCKET_ADDRESS_TYPE_UNIX) {
        path = s->saddr->u.q_unix.path;
    }
    if (path) {
        name = s->export ? g_strdup_printf("nbd+unix:///%s?socket=%s",
                                           s->export, path)
                         : g_strdup_printf("nbd+unix://?socket=%s", path);
    } else if (host) {
        name = s->export ? g_strdup_printf("nbd://%s:%s/%s", host, port,
                                           s->export)
                         : g_strdup_printf("nbd://%s:%s", host, port);
    }
    bdrv_set_str(&bs->exact_filename, name);
}

/* ---- open and close ---- */

static int nbd_file_open(BlockDriverState *bs, json_t *options, int flags,
                         Error **errp)
{
    BDRVNBDState *s = bs->opaque;
    int64_t deadline;
    NBDChannel *ch;
    int ret;

    s->bs = bs;
    s->ctx = qemu_get_aio_context();
    qemu_co_mutex_init(&s->send_mutex);
    qemu_co_mutex_init(&s->connect_mutex);
    qemu_co_queue_init(&s->free_slots);
    qemu_co_queue_init(&s->reconnect_waiters);

    ret = nbd_process_options(s, options, errp);
    if (ret < 0) {
        goto fail;
    }

    /* With open-timeout, keep trying until the server is there. */
    deadline = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
               (int64_t)s->open_timeout * NANOSECONDS_PER_SECOND;
    for (;;) {
        Error *local_err = NULL;

        ch = nbd_connect(s, &s->info, &local_err);
        if (ch) {
            break;
        }
        if (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) >= deadline) {
            error_propagate(errp, local_err);
            ret = -EIO;
            goto fail;
        }
        error_free(local_err);
        g_usleep(G_USEC_PER_SEC / 10);
    }
    s->ch = ch;

    if (s->info.flags & NBD_FLAG_READ_ONLY) {
        ret = bdrv_apply_auto_read_only(bs, NULL, NULL);
        if (ret < 0) {
            /* QEMU 7.2 says no more than this. */
            error_setg_errno(errp, -ret, "Could not open image");
            goto fail;
        }
    }
    if (s->info.flags & NBD_FLAG_SEND_FUA) {
        bs->supported_write_flags = BDRV_REQ_FUA;
        bs->supported_zero_flags |= BDRV_REQ_FUA;
    }
    if (s->info.flags & NBD_FLAG_SEND_WRITE_ZEROES) {
        bs->supported_zero_flags |= BDRV_REQ_MAY_UNMAP;
        if (s->info.flags & NBD_FLAG_SEND_FAST_ZERO) {
            bs->supported_zero_flags |= BDRV_REQ_NO_FALLBACK;
        }
    }
    s->state = NBD_CLIENT_CONNECTED;
    s->reader = qemu_coroutine_create(nbd_reader_co, s);
    qemu_coroutine_enter(s->reader);
    return 0;

fail:
    nbd_channel_free(s->ch);
    s->ch = NULL;
    nbd_export_info_clear(&s->info);
    qapi_free_SocketAddress(s->saddr);
    g_free(s->export);
    g_free(s->x_dirty_bitmap);
    return ret;
}

static void nbd_close(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;
    bool connected = s->state == NBD_CLIENT_CONNECTED;

    s->state = NBD_CLIENT_QUIT;
    if (s->reconnect_co) {
        qemu_co_sleep_wake(&s->reconnect_sleep);
    }
    qemu_co_queue_restart_all(&s->reconnect_waiters);
    if (s->ch && connected) {
        /* A polite goodbye; the server may be gone already. */
        nbd_send_disconnect(s->ch);
    }
    if (s->ch) {
        nbd_channel_shutdown(s->ch);
    }
    if (s->connecting) {
        nbd_channel_shutdown(s->connecting);
    }
    AIO_WAIT_WHILE(s->ctx, s->reader || s->reconnect_co || s->in_flight);
    nbd_channel_free(s->ch);
    nbd_export_info_clear(&s->info);
    qapi_free_SocketAddress(s->saddr);
    g_free(s->export);
    g_free(s->x_dirty_bitmap);
}

static const char *const nbd_strong_runtime_opts[] = {
    "server.type", "server.path", "server.host", "server.port",
    "export", "tls-creds", "tls-hostname",
    NULL
};

/* The same driver under the three URL schemes QEMU knows. */
#define NBD_DRIVER_COMMON                                       \
    .format_name = "nbd",                                       \
    .instance_size = sizeof(BDRVNBDState),                      \
    .bdrv_parse_filename = nbd_parse_filename,                  \
    .bdrv_file_open = nbd_file_open,                            \
    .bdrv_close = nbd_close,                                    \
    .bdrv_co_preadv_part = nbd_co_preadv,                       \
    .bdrv_co_pwritev_part = nbd_co_pwritev,                     \
    .bdrv_co_pwrite_zeroes = nbd_co_pwrite_zeroes,              \
    .bdrv_co_pdiscard = nbd_co_pdiscard,                        \
    .bdrv_co_flush = nbd_co_flush,                              \
    .bdrv_co_block_status = nbd_co_block_status,                \
    .bdrv_co_truncate = nbd_co_truncate,                        \
    .bdrv_getlength = nbd_getlength,                            \
    .bdrv_refresh_limits = nbd_refresh_limits,                  \
    .bdrv_refresh_filename = nbd_refresh_filename,              \
    .strong_runtime_opts = nbd_strong_runtime_opts

BlockDriver bdrv_nbd = {
    .protocol_name = "nbd",
    NBD_DRIVER_COMMON,
};

BlockDriver bdrv_nbd_tcp = {
    .protocol_name = "nbd+tcp",
    NBD_DRIVER_COMMON,
};

BlockDriver bdrv_nbd_unix = {
    .protocol_name = "nbd+unix",
    NBD_DRIVER_COMMON,
};

/*
 * NBD server handshake: the fixed newstyle greeting and option haggling
 * (GO, INFO, EXPORT_NAME, LIST, ABORT, STRUCTURED_REPLY, meta contexts).
 */
#include "strata/osdep.h"
#include "nbd/server-int.h"
#include "util/error.h"

/* One option as the client sent it; its payload is read in full first. */
typedef struct NBDOption {
    uint32_t opt;
    uint32_t len;
    uint8_t *data;
    /* Parsing position. */
    uint32_t pos;
} NBDOption;

/* ---- payload parsing: every read is bounds-checked ---- */

static bool opt_get_u32(NBDOption *o, uint32_t *v)
{
    if (o->len - o->pos < 4) {
        return false;
    }
    *v = ldl_be(o->data + o->pos);
    o->pos += 4;
    return true;
}

static bool opt_get_u16(NBDOption *o, uint16_t *v)
{
    if (o->len - o->pos < 2) {
        return false;
    }
    *v = lduw_be(o->data + o->pos);
    o->pos += 2;
    return true;
}

/*
 * A string of @len bytes (copied, NUL-terminated).  Strings on the wire
 * must not contain NUL bytes: one that does is refused like a truncated
 * payload.
 */
static bool opt_get_str(NBDOption *o, uint32_t len, char **s)
{
    if (o->len - o->pos < len ||
        (len && memchr(o->data + o->pos, '\0', len))) {
        return false;
    }
    /* (An empty option has no data buffer at all.) */
    *s = len ? g_strndup((const char *)o->data + o->pos, len) : g_strdup("");
    o->pos += len;
    return true;
}

/* ---- replies ---- */

static int coroutine_fn send_rep(NBDClient *client, uint32_t opt,
                                 uint32_t type, const void *data,
                                 uint32_t len, Error **errp)
{
    uint8_t hdr[NBD_OPTION_REPLY_SIZE];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    nbd_option_reply_encode(hdr, opt, type, len);
    return nbd_channel_writev(client->ch, iov, len ? 2 : 1, errp);
}

static int coroutine_fn send_ack(NBDClient *client, uint32_t opt,
                                 Error **errp)
{
    return send_rep(client, opt, NBD_REP_ACK, NULL, 0, errp);
}

/*
 * An error reply with a message for the user; the option failed but the
 * session goes on (the return value only says whether sending worked).
 */
static int coroutine_fn STRATA_PRINTF(5, 6)
send_rep_err(NBDClient *client, uint32_t opt, uint32_t type, Error **errp,
             const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;
    size_t len;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    len = MIN(strlen(msg), NBD_MAX_STRING_SIZE);
    return send_rep(client, opt, type, msg, len, errp);
}

static int coroutine_fn send_info(NBDClient *client, uint32_t opt,
                                  uint16_t info, const void *data,
                                  uint32_t len, Error **errp)
{
    g_autofree uint8_t *buf = g_malloc(2 + len);

    stw_be(buf, info);
    memcpy(buf + 2, data, len);
    return send_rep(client, opt, NBD_REP_INFO, buf, 2 + len, errp);
}

/* ---- choosing the export ---- */

static uint16_t export_flags(NBDClient *client, NBDExport *exp)
{
    return exp->flags | (client->structured_reply ? NBD_FLAG_SEND_DF : 0);
}

/* Bind the client to @exp for the transmission phase. */
static void select_export(NBDClient *client, NBDExport *exp)
{
    client->exp = exp;
    nbd_export_ref(exp);
    exp->nb_clients++;
    /* Contexts chosen for another export do not carry over. */
    if (client->meta.exp != exp) {
        nbd_meta_clear(&client->meta);
    }
}

/* ---- the options ---- */

static int coroutine_fn opt_export_name(NBDClient *client, NBDOption *o,
                                        bool no_zeroes, Error **errp)
{
    g_autofree char *name = NULL;
    uint8_t buf[10 + 124] = { 0 };
    NBDExport *exp;

    if (o->len > NBD_MAX_STRING_SIZE || !opt_get_str(o, o->len, &name)) {
        error_setg(errp, "Bad length received");
        return -EINVAL;
    }
    exp = nbd_server_lookup(client->server, name);
    if (!exp) {
        /* This option has no way to report an error but hanging up. */
        error_setg(errp, "export not found");
        return -EINVAL;
    }
    select_export(client, exp);
    stq_be(buf, exp->size);
    stw_be(buf + 8, export_flags(client, exp));
    if (nbd_channel_write(client->ch, buf, no_zeroes ? 10 : sizeof(buf),
                          errp) < 0) {
        return -EIO;
    }
    return 1;
}

static int coroutine_fn opt_list(NBDClient *client, NBDOption *o,
                                 Error **errp)
{
    NBDExport *exp;

    if (o->len) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                            "option '%s' should have zero length",
                            nbd_opt_lookup(o->opt));
    }
    QTAILQ_FOREACH(exp, &client->server->exports, next) {
        size_t nlen = strlen(exp->name);
        size_t dlen = exp->description ? strlen(exp->description) : 0;
        g_autofree uint8_t *buf = g_malloc(4 + nlen + dlen);
        int ret;

        stl_be(buf, nlen);
        memcpy(buf + 4, exp->name, nlen);
        if (dlen) {
            memcpy(buf + 4 + nlen, exp->description, dlen);
        }
        ret = send_rep(client, o->opt, NBD_REP_SERVER, buf, 4 + nlen + dlen,
                       errp);
        if (ret < 0) {
            return ret;
        }
    }
    return send_ack(client, o->opt, errp);
}

static int coroutine_fn opt_info_go(NBDClient *client, NBDOption *o,
                                    Error **errp)
{
    g_autofree char *name = NULL;
    uint32_t namelen;
    uint16_t nreq, req = 0;
    bool want_name = false, want_desc = false, want_sizes = false;
    uint32_t align, sizes[3];
    uint8_t buf[12];
    NBDExport *exp;
    int ret;

    if (!opt_get_u32(o, &namelen) || namelen > o->len - o->pos ||
        namelen > NBD_MAX_STRING_SIZE || !opt_get_str(o, namelen, &name) ||
        !opt_get_u16(o, &nreq) || o->len - o->pos != 2u * nreq) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                            "Invalid length for option %s",
                            nbd_opt_lookup(o->opt));
    }
    while (nreq--) {
        opt_get_u16(o, &req);
        switch (req) {
        case NBD_INFO_NAME:
            want_name = true;
            break;
        case NBD_INFO_DESCRIPTION:
            want_desc = true;
            break;
        case NBD_INFO_BLOCK_SIZE:
            want_sizes = true;
            break;
        default:
            /* NBD_INFO_EXPORT is always sent; unknown ones are ignored. */
            break;
        }
    }

    exp = nbd_server_lookup(client->server, name);
    if (!exp) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_UNKNOWN, errp,
                            "export '%s' not present", name);
    }

    if (want_name) {
        ret = send_info(client, o->opt, NBD_INFO_NAME, exp->name,
                        strlen(exp->name), errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (want_desc && exp->description) {
        ret = send_info(client, o->opt, NBD_INFO_DESCRIPTION,
                        exp->description, strlen(exp->description), errp);
        if (ret < 0) {
            return ret;
        }
    }

    /*
     * Sizes are always sent.  The minimum is the node's real alignment
     * only for clients that promised to honour it; others get 1 and the
     * block layer absorbs their unaligned requests.
     */
    align = blk_get_request_alignment(exp->blk);
    sizes[0] = (o->opt == NBD_OPT_INFO || want_sizes) ? align : 1;
    sizes[1] = MAX(4096, sizes[0]);
    sizes[2] = MIN(blk_get_max_transfer(exp->blk), NBD_MAX_BUFFER_SIZE);
    sizes[2] = MAX(sizes[2], sizes[0]);
    stl_be(buf, sizes[0]);
    stl_be(buf + 4, sizes[1]);
    stl_be(buf + 8, sizes[2]);
    ret = send_info(client, o->opt, NBD_INFO_BLOCK_SIZE, buf, 12, errp);
    if (ret < 0) {
        return ret;
    }

    stq_be(buf, exp->size);
    stw_be(buf + 8, export_flags(client, exp));
    ret = send_info(client, o->opt, NBD_INFO_EXPORT, buf, 10, errp);
    if (ret < 0) {
        return ret;
    }

    if (o->opt == NBD_OPT_INFO && !want_sizes && align > 1) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_BLOCK_SIZE_REQD,
                            errp, "request NBD_INFO_BLOCK_SIZE to use this "
                            "export");
    }
    ret = send_ack(client, o->opt, errp);
    if (ret < 0) {
        return ret;
    }
    if (o->opt == NBD_OPT_GO) {
        select_export(client, exp);
        return 1;
    }
    return 0;
}

static int coroutine_fn opt_structured_reply(NBDClient *client,
                                             NBDOption *o, Error **errp)
{
    if (o->len) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                            "option '%s' should have zero length",
                            nbd_opt_lookup(o->opt));
    }
    if (client->structured_reply) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                            "structured reply already negotiated");
    }
    client->structured_reply = true;
    return send_ack(client, o->opt, errp);
}

static int coroutine_fn opt_starttls(NBDClient *client, NBDOption *o,
                                     Error **errp)
{
    if (o->len) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                            "option '%s' should have zero length",
                            nbd_opt_lookup(o->opt));
    }
    return send_rep_err(client, o->opt, NBD_REP_ERR_POLICY, errp,
                        "TLS not configured");
}

/* ---- metadata contexts ---- */

typedef struct MetaReply {
    NBDClient *client;
    NBDOption *o;
    NBDMetaSelection *sel;      /* SET: where the choice goes */
    int ret;                    /* first send error */
    Error **errp;
} MetaReply;

static int coroutine_fn meta_reply_one(void *opaque, uint32_t id,
                                       const char *name)
{
    MetaReply *mr = opaque;
    size_t len = strlen(name);
    g_autofree uint8_t *buf = NULL;
    bool *flag;

    if (mr->ret < 0) {
        return 0;
    }
    if (mr->sel) {
        /* Each context once, however many queries name it. */
        if (id == NBD_META_ID_BASE_ALLOCATION) {
            flag = &mr->sel->base_allocation;
        } else if (id == NBD_META_ID_ALLOCATION_DEPTH) {
            flag = &mr->sel->allocation_depth;
        } else {
            flag = &mr->sel->bitmaps[id - NBD_META_ID_DIRTY_BITMAP];
        }
        if (*flag) {
            return 0;
        }
        *flag = true;
        mr->sel->count++;
    }
    buf = g_malloc(4 + len);
    stl_be(buf, mr->sel ? id : 0);
    memcpy(buf + 4, name, len);
    mr->ret = send_rep(mr->client, mr->o->opt, NBD_REP_META_CONTEXT, buf,
                       4 + len, mr->errp);
    return 1;
}

static int coroutine_fn opt_meta_context(NBDClient *client, NBDOption *o,
                                         Error **errp)
{
    bool list = o->opt == NBD_OPT_LIST_META_CONTEXT;
    g_autofree char *name = NULL;
    uint32_t namelen, nqueries;
    NBDMetaSelection sel = { 0 };
    MetaReply mr = { .client = client, .o = o, .errp = errp };
    NBDExport *exp;

    if (!list) {
        /* The old selection is gone even if this one fails. */
        nbd_meta_clear(&client->meta);
    }
    if (!client->structured_reply) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                            "request option '%s' when structured reply is "
                            "not negotiated", nbd_opt_lookup(o->opt));
    }
    if (!opt_get_u32(o, &namelen) || namelen > o->len - o->pos ||
        namelen > NBD_MAX_STRING_SIZE || !opt_get_str(o, namelen, &name) ||
        !opt_get_u32(o, &nqueries)) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                            "Invalid length for option %s",
                            nbd_opt_lookup(o->opt));
    }
    /* Each query takes at least its 4-byte length. */
    if (nqueries > (o->len - o->pos) / 4) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                            "Invalid length for option %s",
                            nbd_opt_lookup(o->opt));
    }
    exp = nbd_server_lookup(client->server, name);
    if (!exp) {
        return send_rep_err(client, o->opt, NBD_REP_ERR_UNKNOWN, errp,
                            "export '%s' not present", name);
    }
    if (!list) {
        sel.exp = exp;
        sel.bitmaps = g_new0(bool, exp->nr_bitmaps);
        mr.sel = &sel;
    }

    /* Check the whole payload before answering anything. */
    {
        uint32_t start = o->pos;

        for (uint32_t i = 0; i < nqueries; i++) {
            uint32_t qlen;

            if (!opt_get_u32(o, &qlen) || qlen > o->len - o->pos) {
                g_free(sel.bitmaps);
                return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID,
                                    errp, "Invalid length for option %s",
                                    nbd_opt_lookup(o->opt));
            }
            o->pos += qlen;
        }
        if (o->pos != o->len) {
            g_free(sel.bitmaps);
            return send_rep_err(client, o->opt, NBD_REP_ERR_INVALID, errp,
                                "Invalid length for option %s",
                                nbd_opt_lookup(o->opt));
        }
        o->pos = start;
    }

    if (list && !nqueries) {
        nbd_meta_list_all(exp, meta_reply_one, &mr);
    }
    for (uint32_t i = 0; i < nqueries && mr.ret >= 0; i++) {
        g_autofree char *query = NULL;
        uint32_t qlen = 0;

        opt_get_u32(o, &qlen);
        if (qlen > NBD_MAX_STRING_SIZE || !opt_get_str(o, qlen, &query)) {
            /* Too long to name anything we have, or not a string. */
            o->pos += qlen;
            continue;
        }
        nbd_meta_match(exp, query, list, meta_reply_one, &mr);
    }
    if (mr.ret < 0) {
        g_free(sel.bitmaps);
        return mr.ret;
    }
    if (!list) {
        nbd_export_ref(exp);
        client->meta = sel;
    }
    return send_ack(client, o->opt, errp);
}

/* ---- the loop ---- */

static int coroutine_fn send_greeting(NBDClient *client, Error **errp)
{
    uint8_t buf[18];

    stq_be(buf, NBD_INIT_MAGIC);
    stq_be(buf + 8, NBD_OPTS_MAGIC);
    stw_be(buf + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    return nbd_channel_write(client->ch, buf, sizeof(buf), errp);
}

int coroutine_fn nbd_negotiate(NBDClient *client, Error **errp)
{
    uint8_t buf[NBD_OPTION_HEADER_SIZE];
    uint32_t cflags;
    bool fixed, no_zeroes;
    int ret;

    ret = send_greeting(client, errp);
    if (ret < 0) {
        return ret;
    }
    ret = nbd_channel_read(client->ch, buf, 4, errp);
    if (ret < 0) {
        return ret;
    }
    cflags = ldl_be(buf);
    if (cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
        error_setg(errp, "Unknown client flags 0x%" PRIx32 " received",
                   cflags);
        return -EINVAL;
    }
    fixed = cflags & NBD_FLAG_C_FIXED_NEWSTYLE;
    no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

    for (;;) {
        NBDOption o = { 0 };

        ret = nbd_channel_read(client->ch, buf, sizeof(buf), errp);
        if (ret < 0) {
            return ret;
        }
        if (ldq_be(buf) != NBD_OPTS_MAGIC) {
            error_setg(errp, "Bad magic received");
            return -EINVAL;
        }
        o.opt = ldl_be(buf + 8);
        o.len = ldl_be(buf + 12);
        if (o.len > NBD_MAX_OPTION_SIZE) {
            error_setg(errp, "len (%" PRIu32 ") is larger than max len (%u)",
                       o.len, NBD_MAX_OPTION_SIZE);
            return -EINVAL;
        }
        if (o.len) {
            o.data = g_try_malloc(o.len);
            if (!o.data) {
                error_setg(errp, "No memory for option data");
                return -ENOMEM;
            }
            ret = nbd_channel_read(client->ch, o.data, o.len, errp);
            if (ret < 0) {
                g_free(o.data);
                return ret;
            }
        }

        if (!fixed && o.opt != NBD_OPT_EXPORT_NAME) {
            /* Without fixed newstyle there is no way to say "no". */
            error_setg(errp, "Unsupported option %" PRIu32 " (%s)", o.opt,
                       nbd_opt_lookup(o.opt));
            ret = -EINVAL;
        } else {
            switch (o.opt) {
            case NBD_OPT_EXPORT_NAME:
                ret = opt_export_name(client, &o, no_zeroes, errp);
                break;
            case NBD_OPT_ABORT:
                /* Best effort: the client may already have gone. */
                send_ack(client, o.opt, NULL);
                ret = -ECONNRESET;
                break;
            case NBD_OPT_LIST:
                ret = opt_list(client, &o, errp);
                break;
            case NBD_OPT_STARTTLS:
                ret = opt_starttls(client, &o, errp);
                break;
            case NBD_OPT_INFO:
            case NBD_OPT_GO:
                ret = opt_info_go(client, &o, errp);
                break;
            case NBD_OPT_STRUCTURED_REPLY:
                ret = opt_structured_reply(client, &o, errp);
                break;
            case NBD_OPT_LIST_META_CONTEXT:
            case NBD_OPT_SET_META_CONTEXT:
                ret = opt_meta_context(client, &o, errp);
                break;
            default:
                ret = send_rep_err(client, o.opt, NBD_REP_ERR_UNSUP, errp,
                                   "Unsupported option %" PRIu32 " (%s)",
                                   o.opt, nbd_opt_lookup(o.opt));
                break;
            }
        }
        g_free(o.data);
        if (ret < 0) {
            return ret;
        }
        if (ret == 1) {
            return 0;
        }
    }
}

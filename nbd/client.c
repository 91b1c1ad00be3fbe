/*
 * NBD client protocol: the handshake that opens an export, the export
 * listing of qemu-nbd -L, and request/reply framing for transmission.
 */
#include "strata/osdep.h"
#include "nbd/client.h"
#include "util/error.h"

/* Largest option reply payload we accept from a server. */
#define NBD_MAX_OPT_REPLY (2 * NBD_MAX_STRING_SIZE + 64)

typedef struct NBDOptReply {
    uint32_t option;
    uint32_t type;
    uint32_t length;
} NBDOptReply;

void nbd_export_info_clear(NBDExportInfo *info)
{
    g_free(info->name);
    g_free(info->context);
    g_free(info->description);
    for (int i = 0; i < info->n_contexts; i++) {
        g_free(info->contexts[i]);
    }
    g_free(info->contexts);
    memset(info, 0, sizeof(*info));
}

/* ---- option framing ---- */

static int send_option(NBDChannel *ch, uint32_t opt, const void *data,
                       uint32_t len, Error **errp)
{
    uint8_t hdr[NBD_OPTION_HEADER_SIZE];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };
    int ret;

    nbd_option_encode(hdr, opt, len);
    ret = nbd_channel_writev(ch, iov, len ? 2 : 1, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to send option request %s: ",
                      nbd_opt_lookup(opt));
    }
    return ret;
}

/* Tell the server we are leaving; its reply (if any) does not matter. */
static void send_opt_abort(NBDChannel *ch)
{
    send_option(ch, NBD_OPT_ABORT, NULL, 0, NULL);
}

static int receive_option_reply(NBDChannel *ch, uint32_t opt,
                                NBDOptReply *rep, Error **errp)
{
    uint8_t buf[NBD_OPTION_REPLY_SIZE];
    int ret = nbd_channel_read(ch, buf, sizeof(buf), errp);

    if (ret < 0) {
        error_prepend(errp, "Failed to read option reply: ");
        return ret;
    }
    if (ldq_be(buf) != NBD_REP_MAGIC) {
        error_setg(errp, "Unexpected option reply magic");
        return -EINVAL;
    }
    rep->option = ldl_be(buf + 8);
    rep->type = ldl_be(buf + 12);
    rep->length = ldl_be(buf + 16);
    if (rep->option != opt) {
        error_setg(errp, "Unexpected option type %u (%s), expected %u (%s)",
                   rep->option, nbd_opt_lookup(rep->option), opt,
                   nbd_opt_lookup(opt));
        return -EINVAL;
    }
    if (rep->length > NBD_MAX_OPT_REPLY) {
        error_setg(errp, "server's reply to %s is too long (%u bytes)",
                   nbd_opt_lookup(opt), rep->length);
        return -EINVAL;
    }
    return 0;
}

/*
 * For an error reply: read the server's message and turn the reply into
 * an error.  Returns 1 if @rep is not an error, 0 for NBD_REP_ERR_UNSUP
 * (the caller decides whether that matters), -errno otherwise.
 */
static int handle_reply_err(NBDChannel *ch, NBDOptReply *rep, Error **errp)
{
    g_autofree char *msg = NULL;
    const char *name = nbd_opt_lookup(rep->option);

    if (!NBD_REP_IS_ERR(rep->type)) {
        return 1;
    }
    if (rep->length) {
        if (rep->length > NBD_MAX_STRING_SIZE) {
            error_setg(errp, "server error %u (%s) message is too long",
                       rep->type, nbd_rep_lookup(rep->type));
            return -EINVAL;
        }
        msg = g_malloc(rep->length + 1);
        if (nbd_channel_read(ch, msg, rep->length, errp) < 0) {
            error_prepend(errp, "Failed to read option error %u (%s) "
                          "message: ", rep->type, nbd_rep_lookup(rep->type));
            return -EIO;
        }
        msg[rep->length] = '\0';
    }

    switch (rep->type) {
    case NBD_REP_ERR_UNSUP:
        return 0;
    case NBD_REP_ERR_POLICY:
        error_setg(errp, "Denied by server for option %u (%s)",
                   rep->option, name);
        break;
    case NBD_REP_ERR_INVALID:
        error_setg(errp, "Invalid parameters for option %u (%s)",
                   rep->option, name);
        break;
    case NBD_REP_ERR_PLATFORM:
        error_setg(errp, "Server lacks support for option %u (%s)",
                   rep->option, name);
        break;
    case NBD_REP_ERR_TLS_REQD:
        error_setg(errp, "TLS negotiation required before option %u (%s)",
                   rep->option, name);
        error_append_hint(errp, "Did you forget a valid tls-creds?\n");
        break;
    case NBD_REP_ERR_UNKNOWN:
        error_setg(errp, "Requested export not available");
        break;
    case NBD_REP_ERR_SHUTDOWN:
        error_setg(errp, "Server shutting down before option %u (%s)",
                   rep->option, name);
        break;
    case NBD_REP_ERR_BLOCK_SIZE_REQD:
        error_setg(errp, "Server requires INFO_BLOCK_SIZE for option %u "
                   "(%s)", rep->option, name);
        break;
    case NBD_REP_ERR_TOO_BIG:
        error_setg(errp, "Server considers option %u (%s) too large",
                   rep->option, name);
        break;
    default:
        error_setg(errp, "Unknown error code when asking for option %u "
                   "(%s)", rep->option, name);
        break;
    }
    if (msg) {
        error_append_hint(errp, "server reported: %s\n", msg);
    }
    return -EINVAL;
}

/*
 * An option without data that the server acknowledges (STRUCTURED_REPLY):
 * 1 if acknowledged, 0 if not supported, -errno on errors.
 */
static int request_simple_option(NBDChannel *ch, uint32_t opt, Error **errp)
{
    NBDOptReply rep;
    int ret;

    ret = send_option(ch, opt, NULL, 0, errp);
    if (ret < 0) {
        return ret;
    }
    ret = receive_option_reply(ch, opt, &rep, errp);
    if (ret < 0) {
        return ret;
    }
    ret = handle_reply_err(ch, &rep, errp);
    if (ret <= 0) {
        return ret;
    }
    if (rep.type != NBD_REP_ACK) {
        error_setg(errp, "Server answered option %u (%s) with unexpected "
                   "reply %u (%s)", opt, nbd_opt_lookup(opt), rep.type,
                   nbd_rep_lookup(rep.type));
        return -EINVAL;
    }
    if (rep.length) {
        error_setg(errp, "Server acknowledged option %u (%s) with a payload",
                   opt, nbd_opt_lookup(opt));
        return -EINVAL;
    }
    return 1;
}

/* ---- NBD_OPT_INFO / NBD_OPT_GO ---- */

static bool check_block_sizes(uint32_t min, uint32_t opt, uint32_t max,
                              Error **errp)
{
    if (!is_power_of_2(min) || min > NBD_MAX_BUFFER_SIZE) {
        error_setg(errp, "server minimum block size %u is not valid", min);
        return false;
    }
    if (!is_power_of_2(opt) || opt < min) {
        error_setg(errp, "server preferred block size %u is not valid", opt);
        return false;
    }
    if (max < min || max % min) {
        error_setg(errp, "server maximum block size %u is not valid", max);
        return false;
    }
    return true;
}

/* Read one NBD_REP_INFO payload of @len bytes into @info. */
static int receive_info(NBDChannel *ch, uint32_t len, NBDExportInfo *info,
                        bool *got_export, Error **errp)
{
    uint8_t buf[14];
    uint16_t type;
    int ret;

    if (len < 2) {
        error_setg(errp, "server sent an NBD_REP_INFO of %u bytes", len);
        return -EINVAL;
    }
    ret = nbd_channel_read(ch, buf, 2, errp);
    if (ret < 0) {
        return ret;
    }
    type = lduw_be(buf);
    len -= 2;
    switch (type) {
    case NBD_INFO_EXPORT:
        if (len != 10) {
            error_setg(errp, "remaining export info len %u is unexpected "
                       "size", len);
            return -EINVAL;
        }
        ret = nbd_channel_read(ch, buf, 10, errp);
        if (ret < 0) {
            return ret;
        }
        info->size = ldq_be(buf);
        info->flags = lduw_be(buf + 8);
        *got_export = true;
        return 0;
    case NBD_INFO_BLOCK_SIZE:
        if (len != 12) {
            error_setg(errp, "remaining export info len %u is unexpected "
                       "size", len);
            return -EINVAL;
        }
        ret = nbd_channel_read(ch, buf, 12, errp);
        if (ret < 0) {
            return ret;
        }
        if (!check_block_sizes(ldl_be(buf), ldl_be(buf + 4),
                               ldl_be(buf + 8), errp)) {
            return -EINVAL;
        }
        info->min_block = ldl_be(buf);
        info->opt_block = ldl_be(buf + 4);
        info->max_block = ldl_be(buf + 8);
        return 0;
    case NBD_INFO_DESCRIPTION:
        if (len > NBD_MAX_STRING_SIZE) {
            error_setg(errp, "server sent an overlong description");
            return -EINVAL;
        }
        g_free(info->description);
        info->description = g_malloc(len + 1);
        ret = nbd_channel_read(ch, info->description, len, errp);
        if (ret < 0) {
            return ret;
        }
        info->description[len] = '\0';
        return 0;
    default:
        /* NBD_INFO_NAME (we asked by the canonical name) or unknown. */
        return nbd_channel_skip(ch, len, errp);
    }
}

/*
 * Send NBD_OPT_INFO or NBD_OPT_GO for @info->name and read the replies.
 * Returns 1 on success, 0 if the server does not know the option, -errno.
 */
static int opt_info_or_go(NBDChannel *ch, uint32_t opt, NBDExportInfo *info,
                          bool want_description, Error **errp)
{
    const char *name = info->name ? info->name : "";
    uint32_t namelen = strlen(name);
    g_autofree uint8_t *buf = g_malloc(4 + namelen + 2 + 3 * 2);
    uint16_t nreq = 0;
    uint8_t *p = buf;
    bool got_export = false;
    int ret;

    stl_be(p, namelen);
    memcpy(p + 4, name, namelen);
    p += 4 + namelen + 2;
    if (info->request_sizes) {
        stw_be(p + 2 * nreq++, NBD_INFO_BLOCK_SIZE);
    }
    if (want_description) {
        stw_be(p + 2 * nreq++, NBD_INFO_NAME);
        stw_be(p + 2 * nreq++, NBD_INFO_DESCRIPTION);
    }
    stw_be(p - 2, nreq);

    ret = send_option(ch, opt, buf, 4 + namelen + 2 + 2 * nreq, errp);
    if (ret < 0) {
        return ret;
    }
    for (;;) {
        NBDOptReply rep;

        ret = receive_option_reply(ch, opt, &rep, errp);
        if (ret < 0) {
            return ret;
        }
        ret = handle_reply_err(ch, &rep, errp);
        if (ret <= 0) {
            return ret;
        }
        if (rep.type == NBD_REP_ACK) {
            if (rep.length) {
                error_setg(errp, "server sent invalid NBD_REP_ACK");
                return -EINVAL;
            }
            if (!got_export) {
                error_setg(errp, "broken server omitted NBD_INFO_EXPORT");
                return -EINVAL;
            }
            return 1;
        }
        if (rep.type != NBD_REP_INFO) {
            error_setg(errp, "unexpected reply type %u (%s), expected %u",
                       rep.type, nbd_rep_lookup(rep.type), NBD_REP_INFO);
            return -EINVAL;
        }
        ret = receive_info(ch, rep.length, info, &got_export, errp);
        if (ret < 0) {
            return ret;
        }
    }
}

/* ---- metadata contexts ---- */

/*
 * NBD_OPT_SET_META_CONTEXT for one context, or NBD_OPT_LIST_META_CONTEXT
 * with no query (collecting every name into @info->contexts).  Returns 1
 * if the server answered, 0 if it does not support the option, -errno.
 */
static int opt_meta_context(NBDChannel *ch, uint32_t opt,
                            NBDExportInfo *info, const char *query,
                            Error **errp)
{
    const char *name = info->name ? info->name : "";
    uint32_t namelen = strlen(name);
    uint32_t qlen = query ? strlen(query) : 0;
    uint32_t len = 4 + namelen + 4 + (query ? 4 + qlen : 0);
    g_autofree uint8_t *buf = g_malloc(len);
    int ret;

    stl_be(buf, namelen);
    memcpy(buf + 4, name, namelen);
    stl_be(buf + 4 + namelen, query ? 1 : 0);
    if (query) {
        stl_be(buf + 8 + namelen, qlen);
        memcpy(buf + 12 + namelen, query, qlen);
    }
    ret = send_option(ch, opt, buf, len, errp);
    if (ret < 0) {
        return ret;
    }
    for (;;) {
        NBDOptReply rep;
        uint8_t idbuf[4];
        g_autofree char *ctx = NULL;

        ret = receive_option_reply(ch, opt, &rep, errp);
        if (ret < 0) {
            return ret;
        }
        ret = handle_reply_err(ch, &rep, errp);
        if (ret <= 0) {
            return ret;
        }
        if (rep.type == NBD_REP_ACK) {
            if (rep.length) {
                error_setg(errp, "server sent invalid NBD_REP_ACK");
                return -EINVAL;
            }
            return 1;
        }
        if (rep.type != NBD_REP_META_CONTEXT || rep.length < 4 ||
            rep.length - 4 > NBD_MAX_STRING_SIZE) {
            error_setg(errp, "unexpected reply type %u (%s), expected %u",
                       rep.type, nbd_rep_lookup(rep.type),
                       NBD_REP_META_CONTEXT);
            return -EINVAL;
        }
        ret = nbd_channel_read(ch, idbuf, 4, errp);
        if (ret < 0) {
            return ret;
        }
        ctx = g_malloc(rep.length - 4 + 1);
        ret = nbd_channel_read(ch, ctx, rep.length - 4, errp);
        if (ret < 0) {
            return ret;
        }
        ctx[rep.length - 4] = '\0';

        if (opt == NBD_OPT_LIST_META_CONTEXT) {
            info->contexts = g_renew(char *, info->contexts,
                                     info->n_contexts + 1);
            info->contexts[info->n_contexts++] = g_steal_pointer(&ctx);
            continue;
        }
        if (strcmp(ctx, query)) {
            error_setg(errp, "server replied with unexpected meta context "
                       "'%s'", ctx);
            return -EINVAL;
        }
        if (info->have_context) {
            error_setg(errp, "server replied with more than one context");
            return -EINVAL;
        }
        info->have_context = true;
        info->context_id = ldl_be(idbuf);
    }
}

/* ---- the handshake ---- */

/*
 * The greeting: NBDMAGIC, then IHAVEOPT (newstyle) or the oldstyle magic.
 * Sets *@oldstyle and, for newstyle, sends the client flags.
 */
static int receive_greeting(NBDChannel *ch, NBDExportInfo *info,
                            bool *oldstyle, bool *no_zeroes, Error **errp)
{
    uint8_t buf[8];
    uint64_t magic;
    int ret;

    ret = nbd_channel_read(ch, buf, 8, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read initial magic: ");
        return ret;
    }
    magic = ldq_be(buf);
    if (magic != NBD_INIT_MAGIC) {
        error_setg(errp, "Bad initial magic received: 0x%" PRIx64, magic);
        return -EINVAL;
    }
    ret = nbd_channel_read(ch, buf, 8, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read server magic: ");
        return ret;
    }
    magic = ldq_be(buf);
    if (magic == NBD_CLIENT_MAGIC) {
        *oldstyle = true;
        return 0;
    }
    if (magic != NBD_OPTS_MAGIC) {
        error_setg(errp, "Bad server magic received: 0x%" PRIx64, magic);
        return -EINVAL;
    }
    *oldstyle = false;
    ret = nbd_channel_read(ch, buf, 2, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read server flags: ");
        return ret;
    }
    {
        uint16_t flags = lduw_be(buf);
        uint32_t cflags = 0;

        info->fixed_newstyle = flags & NBD_FLAG_FIXED_NEWSTYLE;
        *no_zeroes = flags & NBD_FLAG_NO_ZEROES;
        if (info->fixed_newstyle) {
            cflags |= NBD_FLAG_C_FIXED_NEWSTYLE;
        }
        if (*no_zeroes) {
            cflags |= NBD_FLAG_C_NO_ZEROES;
        }
        stl_be(buf, cflags);
    }
    ret = nbd_channel_write(ch, buf, 4, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to send clientflags field: ");
        return ret;
    }
    return 0;
}

static int receive_oldstyle(NBDChannel *ch, NBDExportInfo *info,
                            Error **errp)
{
    uint8_t buf[8 + 4 + 124];
    int ret;

    if (info->name && info->name[0]) {
        error_setg(errp, "Server does not support non-empty export names");
        return -EINVAL;
    }
    ret = nbd_channel_read(ch, buf, sizeof(buf), errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read export details: ");
        return ret;
    }
    info->size = ldq_be(buf);
    info->flags = ldl_be(buf + 8) & 0xffff;
    info->structured_reply = false;
    info->have_context = false;
    return 0;
}

/* The original way to pick an export: no error can come back. */
static int opt_export_name(NBDChannel *ch, NBDExportInfo *info,
                           bool no_zeroes, Error **errp)
{
    const char *name = info->name ? info->name : "";
    uint8_t buf[10 + 124];
    int ret;

    ret = send_option(ch, NBD_OPT_EXPORT_NAME, name, strlen(name), errp);
    if (ret < 0) {
        return ret;
    }
    ret = nbd_channel_read(ch, buf, no_zeroes ? 10 : 10 + 124, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read export length: ");
        return ret;
    }
    info->size = ldq_be(buf);
    info->flags = lduw_be(buf + 8);
    return 0;
}

int nbd_receive_negotiate(NBDChannel *ch, NBDExportInfo *info, Error **errp)
{
    bool oldstyle, no_zeroes = false;
    int ret;

    info->have_context = false;
    ret = receive_greeting(ch, info, &oldstyle, &no_zeroes, errp);
    if (ret < 0) {
        return ret;
    }
    if (oldstyle) {
        return receive_oldstyle(ch, info, errp);
    }
    if (!info->fixed_newstyle) {
        /* Plain newstyle: NBD_OPT_EXPORT_NAME is the only option. */
        info->structured_reply = false;
        return opt_export_name(ch, info, no_zeroes, errp);
    }

    if (info->structured_reply) {
        ret = request_simple_option(ch, NBD_OPT_STRUCTURED_REPLY, errp);
        if (ret < 0) {
            goto soft_fail;
        }
        info->structured_reply = ret == 1;
    }
    if (info->structured_reply && info->want_context) {
        ret = opt_meta_context(ch, NBD_OPT_SET_META_CONTEXT, info,
                               info->context ? info->context
                                             : NBD_META_BASE_ALLOCATION,
                               errp);
        if (ret < 0) {
            goto soft_fail;
        }
    }
    ret = opt_info_or_go(ch, NBD_OPT_GO, info, false, errp);
    if (ret < 0) {
        goto soft_fail;
    }
    if (ret == 0) {
        /* An older server: fall back to the original option. */
        return opt_export_name(ch, info, no_zeroes, errp);
    }
    return 0;

soft_fail:
    /* Errors the server reported leave the stream in sync: say goodbye. */
    if (!nbd_channel_is_shutdown(ch)) {
        send_opt_abort(ch);
    }
    return ret;
}

/* ---- listing ---- */

/* NBD_OPT_LIST: fills *@exports with names and descriptions. */
static int opt_list(NBDChannel *ch, GArray *exports, Error **errp)
{
    int ret = send_option(ch, NBD_OPT_LIST, NULL, 0, errp);

    if (ret < 0) {
        return ret;
    }
    for (;;) {
        NBDOptReply rep;
        NBDExportInfo e = { 0 };
        g_autofree char *data = NULL;
        uint32_t namelen;

        ret = receive_option_reply(ch, NBD_OPT_LIST, &rep, errp);
        if (ret < 0) {
            return ret;
        }
        ret = handle_reply_err(ch, &rep, errp);
        if (ret < 0) {
            return ret;
        }
        if (ret == 0) {
            error_setg(errp, "Server does not support export lists");
            return -ENOTSUP;
        }
        if (rep.type == NBD_REP_ACK) {
            if (rep.length) {
                error_setg(errp, "server sent invalid NBD_REP_ACK");
                return -EINVAL;
            }
            return 0;
        }
        if (rep.type != NBD_REP_SERVER || rep.length < 4) {
            error_setg(errp, "Unexpected reply type %u (%s), expected %u",
                       rep.type, nbd_rep_lookup(rep.type), NBD_REP_SERVER);
            return -EINVAL;
        }
        data = g_malloc(rep.length + 1);
        ret = nbd_channel_read(ch, data, rep.length, errp);
        if (ret < 0) {
            return ret;
        }
        data[rep.length] = '\0';
        namelen = ldl_be(data);
        if (namelen > rep.length - 4) {
            error_setg(errp, "incorrect option name length");
            return -EINVAL;
        }
        e.name = g_strndup(data + 4, namelen);
        if (rep.length - 4 - namelen) {
            e.description = g_strdup(data + 4 + namelen);
        }
        g_array_append_val(exports, e);
    }
}

int nbd_receive_export_list(NBDChannel *ch, NBDExportInfo **exports,
                            Error **errp)
{
    GArray *list = g_array_new(false, true, sizeof(NBDExportInfo));
    NBDExportInfo info = { 0 };
    bool oldstyle, no_zeroes;
    bool structured;
    int ret;

    ret = receive_greeting(ch, &info, &oldstyle, &no_zeroes, errp);
    if (ret < 0) {
        goto fail;
    }
    if (oldstyle || !info.fixed_newstyle) {
        /* Such servers have one nameless export: describe that one. */
        ret = oldstyle ? receive_oldstyle(ch, &info, errp)
                       : opt_export_name(ch, &info, no_zeroes, errp);
        if (ret < 0) {
            goto fail;
        }
        info.name = g_strdup("");
        info.structured_reply = false;
        g_array_append_val(list, info);
        ret = list->len;
        *exports = (NBDExportInfo *)g_array_free(list, false);
        return ret;
    }
    ret = request_simple_option(ch, NBD_OPT_STRUCTURED_REPLY, errp);
    if (ret < 0) {
        goto fail;
    }
    structured = ret == 1;
    ret = opt_list(ch, list, errp);
    if (ret < 0) {
        goto fail;
    }
    for (guint i = 0; i < list->len; i++) {
        NBDExportInfo *e = &g_array_index(list, NBDExportInfo, i);

        e->request_sizes = true;
        e->structured_reply = structured;
        ret = opt_info_or_go(ch, NBD_OPT_INFO, e, true, errp);
        if (ret < 0) {
            goto fail;
        }
        if (structured) {
            ret = opt_meta_context(ch, NBD_OPT_LIST_META_CONTEXT, e, NULL,
                                   errp);
            if (ret < 0) {
                goto fail;
            }
        }
    }
    send_opt_abort(ch);
    ret = list->len;
    *exports = (NBDExportInfo *)g_array_free(list, false);
    return ret;

fail:
    if (!nbd_channel_is_shutdown(ch)) {
        send_opt_abort(ch);
    }
    for (guint i = 0; i < list->len; i++) {
        nbd_export_info_clear(&g_array_index(list, NBDExportInfo, i));
    }
    g_array_free(list, true);
    return ret;
}

/* ---- transmission ---- */

int nbd_send_request(NBDChannel *ch, const NBDRequest *req,
                     const struct iovec *payload, int niov, Error **errp)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    struct iovec stack_iov[9];
    g_autofree struct iovec *heap_iov = NULL;
    struct iovec *iov = stack_iov;

    if (niov + 1 > (int)ARRAY_SIZE(stack_iov)) {
        iov = heap_iov = g_new(struct iovec, niov + 1);
    }
    nbd_request_encode(hdr, req);
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    if (niov) {
        memcpy(iov + 1, payload, niov * sizeof(*iov));
    }
    return nbd_channel_writev(ch, iov, niov + 1, errp);
}

int nbd_receive_reply(NBDChannel *ch, NBDReply *reply, Error **errp)
{
    uint8_t buf[NBD_STRUCTURED_REPLY_SIZE];
    int ret;

    ret = nbd_channel_read_eof(ch, buf, 4, errp);
    if (ret <= 0) {
        return ret;
    }
    reply->magic = ldl_be(buf);
    switch (reply->magic) {
    case NBD_SIMPLE_REPLY_MAGIC:
        ret = nbd_channel_read(ch, buf + 4, NBD_SIMPLE_REPLY_SIZE - 4, errp);
        if (ret < 0) {
            return ret;
        }
        reply->error = ldl_be(buf + 4);
        reply->cookie = ldq_be(buf + 8);
        reply->flags = NBD_REPLY_FLAG_DONE;
        reply->type = 0;
        reply->length = 0;
        return 1;
    case NBD_STRUCTURED_REPLY_MAGIC:
        ret = nbd_channel_read(ch, buf + 4, NBD_STRUCTURED_REPLY_SIZE - 4,
                               errp);
        if (ret < 0) {
            return ret;
        }
        reply->flags = lduw_be(buf + 4);
        reply->type = lduw_be(buf + 6);
        reply->cookie = ldq_be(buf + 8);
        reply->length = ldl_be(buf + 16);
        reply->error = 0;
        return 1;
    default:
        error_setg(errp, "invalid magic (got 0x%" PRIx32 ")", reply->magic);
        return -EINVAL;
    }
}

void nbd_send_disconnect(NBDChannel *ch)
{
    NBDRequest req = { .type = NBD_CMD_DISC };

    nbd_send_request(ch, &req, NULL, 0, NULL);
}

/*
 * The client side of NBD: the handshake (fixed newstyle with GO, structured
 * replies and a metadata context; oldstyle servers too), export listing,
 * and sending requests / reading reply headers in the transmission phase.
 */
#ifndef NBD_CLIENT_H
#define NBD_CLIENT_H

#include "nbd/nbd.h"
#include "nbd/channel.h"

typedef struct NBDExportInfo {
    /* ---- what the caller asks for ---- */
    char *name;                 /* export name; NULL means "" */
    bool request_sizes;         /* ask for NBD_INFO_BLOCK_SIZE */
    bool structured_reply;      /* try NBD_OPT_STRUCTURED_REPLY */
    bool want_context;          /* select a metadata context ... */
    char *context;              /* ... this one (NULL: base:allocation) */

    /* ---- what the server said ---- */
    bool fixed_newstyle;
    /* structured_reply is cleared if the server refused it */
    bool have_context;          /* the context was selected */
    uint32_t context_id;
    uint64_t size;
    uint16_t flags;             /* transmission flags */
    uint32_t min_block;         /* 0 if the server sent no sizes */
    uint32_t opt_block;
    uint32_t max_block;
    char *description;          /* NULL if none was sent */

    /* Export lists only: every context the export offers. */
    char **contexts;
    int n_contexts;
} NBDExportInfo;

/* Free what negotiation allocated (and @name, @context). */
void nbd_export_info_clear(NBDExportInfo *info);

/*
 * Run the handshake on @ch for the export @info->name and enter the
 * transmission phase.  Fills in the "what the server said" part.
 * Returns 0, or -errno with @errp set (QEMU's messages, with the
 * server's own text as a "server reported: ..." hint).
 */
int nbd_receive_negotiate(NBDChannel *ch, NBDExportInfo *info, Error **errp);

/*
 * List a server's exports (qemu-nbd -L): the names and descriptions from
 * NBD_OPT_LIST, then for each its details (NBD_OPT_INFO) and contexts
 * (NBD_OPT_LIST_META_CONTEXT), and finally NBD_OPT_ABORT.  Returns the
 * number of exports, stored in *@exports (free each entry with
 * nbd_export_info_clear(), then the array with g_free()), or -errno.
 */
int nbd_receive_export_list(NBDChannel *ch, NBDExportInfo **exports,
                            Error **errp);

/* ---- transmission phase ---- */

/* Send a request header followed by @payload (may be NULL). */
int nbd_send_request(NBDChannel *ch, const NBDRequest *req,
                     const struct iovec *payload, int niov, Error **errp);

/*
 * Read the next reply header: a simple reply (magic, error, cookie) or a
 * structured chunk header (magic, flags, type, cookie, length).  Returns
 * 1, 0 at a clean end of stream, or -errno.  Anything that is not one of
 * the two magic numbers is an error.
 */
int nbd_receive_reply(NBDChannel *ch, NBDReply *reply, Error **errp);

/* Send NBD_CMD_DISC (ignoring failures: the peer may be gone). */
void nbd_send_disconnect(NBDChannel *ch);

#endif

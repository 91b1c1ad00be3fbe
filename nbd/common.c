/*
 * NBD wire helpers used by both ends: packet encoding and decoding,
 * errno translation and the names of protocol constants for messages.
 */
#include "strata/osdep.h"
#include "nbd/nbd.h"

void nbd_request_encode(uint8_t buf[NBD_REQUEST_SIZE], const NBDRequest *req)
{
    stl_be(buf, NBD_REQUEST_MAGIC);
    stw_be(buf + 4, req->flags);
    stw_be(buf + 6, req->type);
    stq_be(buf + 8, req->cookie);
    stq_be(buf + 16, req->from);
    stl_be(buf + 24, req->len);
}

bool nbd_request_decode(const uint8_t buf[NBD_REQUEST_SIZE], NBDRequest *req)
{
    req->flags = lduw_be(buf + 4);
    req->type = lduw_be(buf + 6);
    req->cookie = ldq_be(buf + 8);
    req->from = ldq_be(buf + 16);
    req->len = ldl_be(buf + 24);
    return ldl_be(buf) == NBD_REQUEST_MAGIC;
}

void nbd_simple_reply_encode(uint8_t buf[NBD_SIMPLE_REPLY_SIZE],
                             uint64_t cookie, uint32_t error)
{
    stl_be(buf, NBD_SIMPLE_REPLY_MAGIC);
    stl_be(buf + 4, error);
    stq_be(buf + 8, cookie);
}

void nbd_chunk_header_encode(uint8_t buf[NBD_STRUCTURED_REPLY_SIZE],
                             uint16_t flags, uint16_t type, uint64_t cookie,
                             uint32_t length)
{
    stl_be(buf, NBD_STRUCTURED_REPLY_MAGIC);
    stw_be(buf + 4, flags);
    stw_be(buf + 6, type);
    stq_be(buf + 8, cookie);
    stl_be(buf + 16, length);
}

void nbd_option_encode(uint8_t buf[NBD_OPTION_HEADER_SIZE], uint32_t option,
                       uint32_t length)
{
    stq_be(buf, NBD_OPTS_MAGIC);
    stl_be(buf + 8, option);
    stl_be(buf + 12, length);
}

void nbd_option_reply_encode(uint8_t buf[NBD_OPTION_REPLY_SIZE],
                             uint32_t option, uint32_t type,
                             uint32_t length)
{
    stq_be(buf, NBD_REP_MAGIC);
    stl_be(buf + 8, option);
    stl_be(buf + 12, type);
    stl_be(buf + 16, length);
}

/*
 * The wire values happen to be Linux's errno numbers, but only these
 * eight are allowed; everything else is folded into the closest one.
 */
uint32_t nbd_errno_to_wire(int err)
{
    switch (err) {
    case 0:
        return NBD_SUCCESS;
    case EPERM:
    case EROFS:
        return NBD_EPERM;
    case EIO:
        return NBD_EIO;
    case ENOMEM:
        return NBD_ENOMEM;
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EFBIG:
    case ENOSPC:
        return NBD_ENOSPC;
    case EOVERFLOW:
        return NBD_EOVERFLOW;
    case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
        return NBD_ENOTSUP;
    case ESHUTDOWN:
        return NBD_ESHUTDOWN;
    case EINVAL:
    default:
        return NBD_EINVAL;
    }
}

int nbd_wire_to_errno(uint32_t err)
{
    switch (err) {
    case NBD_SUCCESS:
        return 0;
    case NBD_EPERM:
        return EPERM;
    case NBD_EIO:
        return EIO;
    case NBD_ENOMEM:
        return ENOMEM;
    case NBD_ENOSPC:
        return ENOSPC;
    case NBD_EOVERFLOW:
        return EOVERFLOW;
    case NBD_ENOTSUP:
        return ENOTSUP;
    case NBD_ESHUTDOWN:
        return ESHUTDOWN;
    case NBD_EINVAL:
    default:
        return EINVAL;
    }
}

typedef struct NBDName {
    uint32_t value;
    const char *name;
} NBDName;

static const char *name_lookup(const NBDName *table, size_t n,
                               uint32_t value)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].value == value) {
            return table[i].name;
        }
    }
    return "<unknown>";
}

#define NAME(x) { x, #x }

static const NBDName opt_names[] = {
    NAME(NBD_OPT_EXPORT_NAME), NAME(NBD_OPT_ABORT), NAME(NBD_OPT_LIST),
    NAME(NBD_OPT_PEEK_EXPORT), NAME(NBD_OPT_STARTTLS), NAME(NBD_OPT_INFO),
    NAME(NBD_OPT_GO), NAME(NBD_OPT_STRUCTURED_REPLY),
    NAME(NBD_OPT_LIST_META_CONTEXT), NAME(NBD_OPT_SET_META_CONTEXT),
};

static const NBDName rep_names[] = {
    NAME(NBD_REP_ACK), NAME(NBD_REP_SERVER), NAME(NBD_REP_INFO),
    NAME(NBD_REP_META_CONTEXT), NAME(NBD_REP_ERR_UNSUP),
    NAME(NBD_REP_ERR_POLICY), NAME(NBD_REP_ERR_INVALID),
    NAME(NBD_REP_ERR_PLATFORM), NAME(NBD_REP_ERR_TLS_REQD),
    NAME(NBD_REP_ERR_UNKNOWN), NAME(NBD_REP_ERR_SHUTDOWN),
    NAME(NBD_REP_ERR_BLOCK_SIZE_REQD), NAME(NBD_REP_ERR_TOO_BIG),
};

static const NBDName info_names[] = {
    NAME(NBD_INFO_EXPORT), NAME(NBD_INFO_NAME), NAME(NBD_INFO_DESCRIPTION),
    NAME(NBD_INFO_BLOCK_SIZE),
};

static const NBDName cmd_names[] = {
    NAME(NBD_CMD_READ), NAME(NBD_CMD_WRITE), NAME(NBD_CMD_DISC),
    NAME(NBD_CMD_FLUSH), NAME(NBD_CMD_TRIM), NAME(NBD_CMD_CACHE),
    NAME(NBD_CMD_WRITE_ZEROES), NAME(NBD_CMD_BLOCK_STATUS),
};

static const NBDName reply_type_names[] = {
    NAME(NBD_REPLY_TYPE_NONE), NAME(NBD_REPLY_TYPE_OFFSET_DATA),
    NAME(NBD_REPLY_TYPE_OFFSET_HOLE), NAME(NBD_REPLY_TYPE_BLOCK_STATUS),
    NAME(NBD_REPLY_TYPE_ERROR), NAME(NBD_REPLY_TYPE_ERROR_OFFSET),
};

static const NBDName err_names[] = {
    NAME(NBD_SUCCESS), NAME(NBD_EPERM), NAME(NBD_EIO), NAME(NBD_ENOMEM),
    NAME(NBD_EINVAL), NAME(NBD_ENOSPC), NAME(NBD_EOVERFLOW),
    NAME(NBD_ENOTSUP), NAME(NBD_ESHUTDOWN),
};

const char *nbd_opt_lookup(uint32_t opt)
{
    return name_lookup(opt_names, ARRAY_SIZE(opt_names), opt);
}

const char *nbd_rep_lookup(uint32_t rep)
{
    return name_lookup(rep_names, ARRAY_SIZE(rep_names), rep);
}

const char *nbd_info_lookup(uint16_t info)
{
    return name_lookup(info_names, ARRAY_SIZE(info_names), info);
}

const char *nbd_cmd_lookup(uint16_t cmd)
{
    return name_lookup(cmd_names, ARRAY_SIZE(cmd_names), cmd);
}

const char *nbd_reply_type_lookup(uint16_t type)
{
    return name_lookup(reply_type_names, ARRAY_SIZE(reply_type_names), type);
}

const char *nbd_err_lookup(uint32_t err)
{
    return name_lookup(err_names, ARRAY_SIZE(err_names), err);
}

bool nbd_meta_split(const char *name, const char *ns, const char **leaf)
{
    size_t len = strlen(ns);

    if (strncmp(name, ns, len)) {
        return false;
    }
    *leaf = name + len;
    return true;
}

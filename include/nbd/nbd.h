/*
 * The NBD wire protocol shared by Strata's server and client: magic
 * numbers, option and command codes, flags, packet layouts and helpers.
 */
#ifndef NBD_NBD_H
#define NBD_NBD_H

#include "strata/osdep.h"
#include "util/error.h"

/* ---- magic numbers ---- */
#define NBD_INIT_MAGIC              UINT64_C(0x4e42444d41474943) /* NBDMAGIC */
#define NBD_OPTS_MAGIC              UINT64_C(0x49484156454f5054) /* IHAVEOPT */
#define NBD_CLIENT_MAGIC            UINT64_C(0x0000420281861253) /* oldstyle */
#define NBD_REP_MAGIC               UINT64_C(0x0003e889045565a9)
#define NBD_REQUEST_MAGIC           UINT32_C(0x25609513)
#define NBD_SIMPLE_REPLY_MAGIC      UINT32_C(0x67446698)
#define NBD_STRUCTURED_REPLY_MAGIC  UINT32_C(0x668e33ef)

#define NBD_DEFAULT_PORT            10809

/* ---- limits ---- */
/* Longest string (export name, context name, message) on the wire. */
#define NBD_MAX_STRING_SIZE         4096
/* Largest READ/WRITE payload this implementation handles. */
#define NBD_MAX_BUFFER_SIZE         (32 * 1024 * 1024)
/* Most extents sent in one block-status chunk (the spec's advice). */
#define NBD_MAX_BLOCK_STATUS_EXTENTS (1 << 20)
/* Largest option payload the server reads (a LIST_META_CONTEXT with
 * many queries is the biggest legitimate one). */
#define NBD_MAX_OPTION_SIZE         (1 << 20)

/* ---- handshake flags (server, 16 bits) ---- */
#define NBD_FLAG_FIXED_NEWSTYLE     (1 << 0)
#define NBD_FLAG_NO_ZEROES          (1 << 1)

/* ---- client flags (32 bits) ---- */
#define NBD_FLAG_C_FIXED_NEWSTYLE   (1 << 0)
#define NBD_FLAG_C_NO_ZEROES        (1 << 1)

/* ---- transmission flags (16 bits) ---- */
enum {
    NBD_FLAG_HAS_FLAGS_BIT = 0,
    NBD_FLAG_READ_ONLY_BIT,
    NBD_FLAG_SEND_FLUSH_BIT,
    NBD_FLAG_SEND_FUA_BIT,
    NBD_FLAG_ROTATIONAL_BIT,
    NBD_FLAG_SEND_TRIM_BIT,
    NBD_FLAG_SEND_WRITE_ZEROES_BIT,
    NBD_FLAG_SEND_DF_BIT,
    NBD_FLAG_CAN_MULTI_CONN_BIT,
    NBD_FLAG_SEND_RESIZE_BIT,
    NBD_FLAG_SEND_CACHE_BIT,
    NBD_FLAG_SEND_FAST_ZERO_BIT,
    NBD_FLAG_BITS,
};
#define NBD_FLAG_HAS_FLAGS          (1 << NBD_FLAG_HAS_FLAGS_BIT)
#define NBD_FLAG_READ_ONLY          (1 << NBD_FLAG_READ_ONLY_BIT)
#define NBD_FLAG_SEND_FLUSH         (1 << NBD_FLAG_SEND_FLUSH_BIT)
#define NBD_FLAG_SEND_FUA           (1 << NBD_FLAG_SEND_FUA_BIT)
#define NBD_FLAG_ROTATIONAL         (1 << NBD_FLAG_ROTATIONAL_BIT)
#define NBD_FLAG_SEND_TRIM          (1 << NBD_FLAG_SEND_TRIM_BIT)
#define NBD_FLAG_SEND_WRITE_ZEROES  (1 << NBD_FLAG_SEND_WRITE_ZEROES_BIT)
#define NBD_FLAG_SEND_DF            (1 << NBD_FLAG_SEND_DF_BIT)
#define NBD_FLAG_CAN_MULTI_CONN     (1 << NBD_FLAG_CAN_MULTI_CONN_BIT)
#define NBD_FLAG_SEND_RESIZE        (1 << NBD_FLAG_SEND_RESIZE_BIT)
#define NBD_FLAG_SEND_CACHE         (1 << NBD_FLAG_SEND_CACHE_BIT)
#define NBD_FLAG_SEND_FAST_ZERO     (1 << NBD_FLAG_SEND_FAST_ZERO_BIT)

/* ---- options ---- */
#define NBD_OPT_EXPORT_NAME         1
#define NBD_OPT_ABORT               2
#define NBD_OPT_LIST                3
#define NBD_OPT_PEEK_EXPORT         4
#define NBD_OPT_STARTTLS            5
#define NBD_OPT_INFO                6
#define NBD_OPT_GO                  7
#define NBD_OPT_STRUCTURED_REPLY    8
#define NBD_OPT_LIST_META_CONTEXT   9
#define NBD_OPT_SET_META_CONTEXT    10

/* ---- option replies ---- */
#define NBD_REP_ERR(v)              ((UINT32_C(1) << 31) | (v))
#define NBD_REP_IS_ERR(v)           (!!((v) & (UINT32_C(1) << 31)))
#define NBD_REP_ACK                 1
#define NBD_REP_SERVER              2
#define NBD_REP_INFO                3
#define NBD_REP_META_CONTEXT        4
#define NBD_REP_ERR_UNSUP           NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY          NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID         NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM        NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD        NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN         NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN        NBD_REP_ERR(7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD NBD_REP_ERR(8)
#define NBD_REP_ERR_TOO_BIG         NBD_REP_ERR(9)

/* ---- NBD_REP_INFO types ---- */
#define NBD_INFO_EXPORT             0
#define NBD_INFO_NAME               1
#define NBD_INFO_DESCRIPTION        2
#define NBD_INFO_BLOCK_SIZE         3

/* ---- commands ---- */
enum {
    NBD_CMD_READ = 0,
    NBD_CMD_WRITE = 1,
    NBD_CMD_DISC = 2,
    NBD_CMD_FLUSH = 3,
    NBD_CMD_TRIM = 4,
    NBD_CMD_CACHE = 5,
    NBD_CMD_WRITE_ZEROES = 6,
    NBD_CMD_BLOCK_STATUS = 7,
};

/* ---- command flags ---- */
#define NBD_CMD_FLAG_FUA            (1 << 0)
#define NBD_CMD_FLAG_NO_HOLE        (1 << 1)
#define NBD_CMD_FLAG_DF             (1 << 2)
#define NBD_CMD_FLAG_REQ_ONE        (1 << 3)
#define NBD_CMD_FLAG_FAST_ZERO      (1 << 4)

/* ---- structured replies ---- */
#define NBD_REPLY_FLAG_DONE         (1 << 0)
#define NBD_REPLY_ERR(v)            ((1 << 15) | (v))
#define NBD_REPLY_TYPE_IS_ERR(t)    (!!((t) & (1 << 15)))
#define NBD_REPLY_TYPE_NONE         0
#define NBD_REPLY_TYPE_OFFSET_DATA  1
#define NBD_REPLY_TYPE_OFFSET_HOLE  2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR        NBD_REPLY_ERR(1)
#define NBD_REPLY_TYPE_ERROR_OFFSET NBD_REPLY_ERR(2)

/* ---- errors on the wire ---- */
#define NBD_SUCCESS     0
#define NBD_EPERM       1
#define NBD_EIO         5
#define NBD_ENOMEM      12
#define NBD_EINVAL      22
#define NBD_ENOSPC      28
#define NBD_EOVERFLOW   75
#define NBD_ENOTSUP     95
#define NBD_ESHUTDOWN   108

/* ---- metadata contexts ---- */
#define NBD_STATE_HOLE              (1 << 0)    /* base:allocation */
#define NBD_STATE_ZERO              (1 << 1)    /* base:allocation */
#define NBD_STATE_DIRTY             (1 << 0)    /* qemu:dirty-bitmap:* */

#define NBD_META_BASE_ALLOCATION    "base:allocation"
#define NBD_META_ALLOCATION_DEPTH   "qemu:allocation-depth"
#define NBD_META_DIRTY_BITMAP       "qemu:dirty-bitmap:"

/* ---- fixed-size packets ---- */
#define NBD_OLDSTYLE_NEGOTIATE_SIZE (8 + 8 + 8 + 4 + 124)
#define NBD_OPTION_HEADER_SIZE      16      /* magic, option, length */
#define NBD_OPTION_REPLY_SIZE       20      /* magic, option, type, length */
#define NBD_REQUEST_SIZE            28
#define NBD_SIMPLE_REPLY_SIZE       16
#define NBD_STRUCTURED_REPLY_SIZE   20
#define NBD_EXTENT_SIZE             8

typedef struct NBDRequest {
    uint64_t cookie;
    uint64_t from;
    uint32_t len;
    uint16_t flags;
    uint16_t type;
} NBDRequest;

/* The header of any reply: simple replies fill @error, chunks the rest. */
typedef struct NBDReply {
    uint32_t magic;
    uint64_t cookie;
    uint32_t error;     /* simple replies */
    uint16_t flags;     /* chunks */
    uint16_t type;      /* chunks */
    uint32_t length;    /* chunks */
} NBDReply;

typedef struct NBDExtent {
    uint32_t length;
    uint32_t flags;
} NBDExtent;

/* ---- encoding (nbd/common.c) ---- */

void nbd_request_encode(uint8_t buf[NBD_REQUEST_SIZE], const NBDRequest *req);
/* Decode a request header; false if the magic is wrong. */
bool nbd_request_decode(const uint8_t buf[NBD_REQUEST_SIZE], NBDRequest *req);
void nbd_simple_reply_encode(uint8_t buf[NBD_SIMPLE_REPLY_SIZE],
                             uint64_t cookie, uint32_t error);
void nbd_chunk_header_encode(uint8_t buf[NBD_STRUCTURED_REPLY_SIZE],
                             uint16_t flags, uint16_t type, uint64_t cookie,
                             uint32_t length);
void nbd_option_encode(uint8_t buf[NBD_OPTION_HEADER_SIZE], uint32_t option,
                       uint32_t length);
void nbd_option_reply_encode(uint8_t buf[NBD_OPTION_REPLY_SIZE],
                             uint32_t option, uint32_t type,
                             uint32_t length);

/* ---- errno mapping and names ---- */

/* The NBD error for a (positive) system errno value. */
uint32_t nbd_errno_to_wire(int err);
/* The (positive) errno for an NBD error; unknown ones read as EINVAL. */
int nbd_wire_to_errno(uint32_t err);

/* Names for messages ("NBD_OPT_GO", "NBD_CMD_READ", ...); "<unknown>". */
const char *nbd_opt_lookup(uint32_t opt);
const char *nbd_rep_lookup(uint32_t rep);
const char *nbd_info_lookup(uint16_t info);
const char *nbd_cmd_lookup(uint16_t cmd);
const char *nbd_reply_type_lookup(uint16_t type);
const char *nbd_err_lookup(uint32_t err);

/*
 * A metadata context name's namespace check: true if @name starts with
 * @ns (which ends with ':') and stores the leaf (the rest) in *@leaf.
 */
bool nbd_meta_split(const char *name, const char *ns, const char **leaf);

#endif

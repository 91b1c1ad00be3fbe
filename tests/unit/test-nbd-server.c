/*
 * Unit tests for the NBD server over socket pairs: option haggling, every
 * command, metadata contexts, and hostile clients that must never crash it.
 */
#include "strata/osdep.h"
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include "block/block-backend.h"
#include "block/block_int.h"
#include "nbd/server.h"
#include "nbd/channel.h"
#include "util/qdict.h"
#include "util/error.h"
#include "util/sockets.h"

#define IMG_SIZE (1 * MiB)

static char *tmpdir;

typedef struct Fixture {
    NBDServer *srv;
    BlockBackend *blk;
    NBDExport *exp;             /* "exp": writable, allocation depth */
    NBDExport *ro;              /* "ro": read-only, with a description */
    char *path;
    bool exp_freed;
} Fixture;

static uint8_t pattern(uint64_t off)
{
    return (uint8_t)(off * 13 + (off >> 9));
}

static void exp_freed(void *opaque)
{
    Fixture *f = opaque;

    f->exp_freed = true;
}

/*
 * A 1 MiB raw image: the first 512 KiB hold a pattern, the rest is a
 * hole.  Two exports of it on a fresh server.
 */
static void fixture_setup(Fixture *f, uint32_t max_connections)
{
    g_autofree uint8_t *buf = g_malloc(IMG_SIZE / 2);
    json_t *opts = json_object();
    NBDExportConfig cfg = { 0 };
    int fd;

    memset(f, 0, sizeof(*f));
    f->path = g_build_filename(tmpdir, "img.raw", NULL);
    fd = open(f->path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    g_assert_cmpint(fd, >=, 0);
    for (size_t i = 0; i < IMG_SIZE / 2; i++) {
        buf[i] = pattern(i);
    }
    g_assert_cmpint(pwrite(fd, buf, IMG_SIZE / 2, 0), ==, IMG_SIZE / 2);
    g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
    close(fd);

    qdict_put_str(opts, "driver", "raw");
    qdict_put_str(opts, "file.aio", "threads");
    f->blk = blk_new_open(f->path, NULL, opts, BDRV_O_RDWR, &error_abort);
    f->srv = nbd_server_new(NULL, max_connections);

    cfg.name = "exp";
    cfg.blk = f->blk;
    cfg.writable = true;
    cfg.allocation_depth = true;
    f->exp = nbd_export_new(f->srv, &cfg, &error_abort);
    nbd_export_set_on_free(f->exp, exp_freed, f);

    cfg.name = "ro";
    cfg.description = "read only";
    cfg.writable = false;
    cfg.allocation_depth = false;
    f->ro = nbd_export_new(f->srv, &cfg, &error_abort);
}

static void fixture_teardown(Fixture *f)
{
    nbd_server_free(f->srv);
    /* Let clients and exports finish going away. */
    for (int i = 0; i < 100; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    blk_unref(f->blk);
    unlink(f->path);
    g_free(f->path);
}

/* ---- running a client in a coroutine ---- */

typedef struct CoTest {
    Fixture *f;
    void (*fn)(Fixture *f);
    bool done;
} CoTest;

static void coroutine_fn co_test_entry(void *opaque)
{
    CoTest *t = opaque;

    t->fn(t->f);
    t->done = true;
}

/* Run @fn in a coroutine while the event loop serves the server side. */
static void run_in_coroutine(Fixture *f, void (*fn)(Fixture *f))
{
    CoTest t = { .f = f, .fn = fn };

    qemu_coroutine_enter(qemu_coroutine_create(co_test_entry, &t));
    while (!t.done) {
        aio_poll(qemu_get_aio_context(), true);
    }
}

static NBDChannel *connect_client(Fixture *f)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    nbd_server_add_client(f->srv, sv[0]);
    return nbd_channel_new(sv[1], NULL);
}

static void cl_read(NBDChannel *ch, void *buf, size_t len)
{
    g_assert_cmpint(nbd_channel_read(ch, buf, len, &error_abort), ==, 0);
}

static void cl_write(NBDChannel *ch, const void *buf, size_t len)
{
    g_assert_cmpint(nbd_channel_write(ch, buf, len, &error_abort), ==, 0);
}

/* The server has hung up (or does at once). */
static void cl_expect_closed(NBDChannel *ch)
{
    uint8_t buf[256];
    Error *err = NULL;
    int ret;

    do {
        ret = nbd_channel_read_eof(ch, buf, 1, &err);
    } while (ret == 1);
    error_free(err);
    g_assert_cmpint(ret, <=, 0);
}

static void cl_greeting(NBDChannel *ch, uint32_t cflags)
{
    uint8_t buf[18];

    cl_read(ch, buf, sizeof(buf));
    g_assert_cmpuint(ldq_be(buf), ==, NBD_INIT_MAGIC);
    g_assert_cmpuint(ldq_be(buf + 8), ==, NBD_OPTS_MAGIC);
    g_assert_cmpuint(lduw_be(buf + 16), ==,
                     NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    stl_be(buf, cflags);
    cl_write(ch, buf, 4);
}

static void cl_opt(NBDChannel *ch, uint32_t opt, const void *data,
                   uint32_t len)
{
    uint8_t hdr[NBD_OPTION_HEADER_SIZE];

    nbd_option_encode(hdr, opt, len);
    cl_write(ch, hdr, sizeof(hdr));
    if (len) {
        cl_write(ch, data, len);
    }
}

/* One option reply; returns its type and payload (caller frees). */
static uint32_t cl_rep(NBDChannel *ch, uint32_t opt, uint8_t **data,
                       uint32_t *len)
{
    uint8_t hdr[NBD_OPTION_REPLY_SIZE];
    uint32_t l;

    cl_read(ch, hdr, sizeof(hdr));
    g_assert_cmpuint(ldq_be(hdr), ==, NBD_REP_MAGIC);
    g_assert_cmpuint(ldl_be(hdr + 8), ==, opt);
    l = ldl_be(hdr + 16);
    g_assert_cmpuint(l, <=, 64 * 1024);
    *data = g_malloc(l + 1);
    cl_read(ch, *data, l);
    (*data)[l] = 0;
    if (len) {
        *len = l;
    }
    return ldl_be(hdr + 12);
}

static void cl_expect_rep(NBDChannel *ch, uint32_t opt, uint32_t type,
                          const char *msg)
{
    g_autofree uint8_t *data = NULL;
    uint32_t got = cl_rep(ch, opt, &data, NULL);

    g_assert_cmpuint(got, ==, type);
    if (msg) {
        g_assert_cmpstr((char *)data, ==, msg);
    }
}

/* Build an NBD_OPT_GO/INFO payload. */
static uint8_t *go_payload(const char *name, const uint16_t *reqs, int n,
                           uint32_t *len)
{
    uint32_t nl = strlen(name);
    uint8_t *p = g_malloc(4 + nl + 2 + 2 * n);

    stl_be(p, nl);
    memcpy(p + 4, name, nl);
    stw_be(p + 4 + nl, n);
    for (int i = 0; i < n; i++) {
        stw_be(p + 6 + nl + 2 * i, reqs[i]);
    }
    *len = 4 + nl + 2 + 2 * n;
    return p;
}

/* Build a meta-context payload with the given queries. */
static uint8_t *meta_payload(const char *name, const char *const *q, int n,
                             uint32_t *len)
{
    GByteArray *b = g_byte_array_new();
    uint8_t tmp[4];

    stl_be(tmp, strlen(name));
    g_byte_array_append(b, tmp, 4);
    g_byte_array_append(b, (const uint8_t *)name, strlen(name));
    stl_be(tmp, n);
    g_byte_array_append(b, tmp, 4);
    for (int i = 0; i < n; i++) {
        stl_be(tmp, strlen(q[i]));
        g_byte_array_append(b, tmp, 4);
        g_byte_array_append(b, (const uint8_t *)q[i], strlen(q[i]));
    }
    *len = b->len;
    return g_byte_array_free(b, false);
}

static void cl_structured(NBDChannel *ch)
{
    cl_opt(ch, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    cl_expect_rep(ch, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, "");
}

/* GO to @name; returns the transmission flags. */
static uint16_t cl_go(NBDChannel *ch, const char *name, uint64_t *size)
{
    static const uint16_t reqs[] = { NBD_INFO_BLOCK_SIZE };
    uint32_t len;
    g_autofree uint8_t *p = go_payload(name, reqs, 1, &len);
    uint16_t flags = 0;

    cl_opt(ch, NBD_OPT_GO, p, len);
    for (;;) {
        g_autofree uint8_t *data = NULL;
        uint32_t dlen;
        uint32_t type = cl_rep(ch, NBD_OPT_GO, &data, &dlen);

        if (type == NBD_REP_ACK) {
            return flags;
        }
        g_assert_cmpuint(type, ==, NBD_REP_INFO);
        if (lduw_be(data) == NBD_INFO_EXPORT) {
            g_assert_cmpuint(dlen, ==, 12);
            if (size) {
                *size = ldq_be(data + 2);
            }
            flags = lduw_be(data + 10);
        }
    }
}

static void cl_request(NBDChannel *ch, uint16_t type, uint16_t flags,
                       uint64_t cookie, uint64_t from, uint32_t len,
                       const void *payload)
{
    NBDRequest r = {
        .type = type, .flags = flags, .cookie = cookie, .from = from,
        .len = len,
    };
    uint8_t hdr[NBD_REQUEST_SIZE];

    nbd_request_encode(hdr, &r);
    cl_write(ch, hdr, sizeof(hdr));
    if (payload) {
        cl_write(ch, payload, len);
    }
}

/* A simple reply: returns its error. */
static uint32_t cl_simple(NBDChannel *ch, uint64_t cookie)
{
    uint8_t buf[NBD_SIMPLE_REPLY_SIZE];

    cl_read(ch, buf, sizeof(buf));
    g_assert_cmpuint(ldl_be(buf), ==, NBD_SIMPLE_REPLY_MAGIC);
    g_assert_cmpuint(ldq_be(buf + 8), ==, cookie);
    return ldl_be(buf + 4);
}

typedef struct Chunk {
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint32_t len;
    uint8_t *data;
} Chunk;

static void cl_chunk(NBDChannel *ch, Chunk *c)
{
    uint8_t buf[NBD_STRUCTURED_REPLY_SIZE];

    cl_read(ch, buf, sizeof(buf));
    g_assert_cmpuint(ldl_be(buf), ==, NBD_STRUCTURED_REPLY_MAGIC);
    c->flags = lduw_be(buf + 4);
    c->type = lduw_be(buf + 6);
    c->cookie = ldq_be(buf + 8);
    c->len = ldl_be(buf + 16);
    g_assert_cmpuint(c->len, <=, NBD_MAX_BUFFER_SIZE + 64);
    c->data = g_malloc(c->len + 1);
    cl_read(ch, c->data, c->len);
}

/* A structured reply that must be one error chunk: returns the error. */
static uint32_t cl_error_chunk(NBDChannel *ch, uint64_t cookie,
                               const char *msg)
{
    Chunk c;
    uint32_t err;

    cl_chunk(ch, &c);
    g_assert_cmpuint(c.cookie, ==, cookie);
    g_assert_cmpuint(c.type, ==, NBD_REPLY_TYPE_ERROR);
    g_assert_true(c.flags & NBD_REPLY_FLAG_DONE);
    g_assert_cmpuint(c.len, >=, 6);
    err = ldl_be(c.data);
    g_assert_cmpuint(lduw_be(c.data + 4), ==, c.len - 6);
    if (msg) {
        g_assert_cmpmem(c.data + 6, c.len - 6, msg, strlen(msg));
    }
    g_free(c.data);
    return err;
}

static void cl_done_chunk(NBDChannel *ch, uint64_t cookie)
{
    Chunk c;

    cl_chunk(ch, &c);
    g_assert_cmpuint(c.cookie, ==, cookie);
    g_assert_cmpuint(c.type, ==, NBD_REPLY_TYPE_NONE);
    g_assert_cmpuint(c.flags, ==, NBD_REPLY_FLAG_DONE);
    g_assert_cmpuint(c.len, ==, 0);
    g_free(c.data);
}

/* Open a connection in transmission phase on @name. */
static NBDChannel *transmission(Fixture *f, const char *name,
                                bool structured, uint16_t *flags)
{
    NBDChannel *ch = connect_client(f);
    uint16_t fl;

    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    if (structured) {
        cl_structured(ch);
    }
    fl = cl_go(ch, name, NULL);
    if (flags) {
        *flags = fl;
    }
    return ch;
}

/* A read, checked against the image's pattern (simple replies). */
static void check_simple_read(NBDChannel *ch, uint64_t off, uint32_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    cl_request(ch, NBD_CMD_READ, 0, 77, off, len, NULL);
    g_assert_cmpuint(cl_simple(ch, 77), ==, 0);
    cl_read(ch, buf, len);
    for (uint32_t i = 0; i < len; i++) {
        uint64_t o = off + i;

        g_assert_cmpuint(buf[i], ==, o < IMG_SIZE / 2 ? pattern(o) : 0);
    }
}

static int structured_read(NBDChannel *ch, uint16_t flags, uint64_t off,
                           uint32_t len, uint8_t *buf, int *holes);

/* ================= handshake ================= */

static void co_go_info(Fixture *f)
{
    static const uint16_t reqs[] = {
        NBD_INFO_NAME, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE, 999,
    };
    NBDChannel *ch = connect_client(f);
    uint32_t len;
    g_autofree uint8_t *p = go_payload("ro", reqs, 4, &len);
    bool seen[4] = { 0 };

    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE);
    cl_structured(ch);
    cl_opt(ch, NBD_OPT_INFO, p, len);
    for (;;) {
        g_autofree uint8_t *data = NULL;
        uint32_t dlen;
        uint32_t type = cl_rep(ch, NBD_OPT_INFO, &data, &dlen);

        if (type == NBD_REP_ACK) {
            break;
        }
        g_assert_cmpuint(type, ==, NBD_REP_INFO);
        switch (lduw_be(data)) {
        case NBD_INFO_EXPORT:
            g_assert_cmpuint(dlen, ==, 12);
            g_assert_cmpuint(ldq_be(data + 2), ==, IMG_SIZE);
            g_assert_cmpuint(lduw_be(data + 10), ==,
                             NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY |
                             NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                             NBD_FLAG_SEND_DF | NBD_FLAG_CAN_MULTI_CONN |
                             NBD_FLAG_SEND_CACHE);
            seen[0] = true;
            break;
        case NBD_INFO_NAME:
            g_assert_cmpmem(data + 2, dlen - 2, "ro", 2);
            seen[1] = true;
            break;
        case NBD_INFO_DESCRIPTION:
            g_assert_cmpmem(data + 2, dlen - 2, "read only", 9);
            seen[2] = true;
            break;
        case NBD_INFO_BLOCK_SIZE:
            g_assert_cmpuint(dlen, ==, 14);
            g_assert_cmpuint(ldl_be(data + 2), ==, 1);
            g_assert_cmpuint(ldl_be(data + 6), ==, 4096);
            g_assert_cmpuint(ldl_be(data + 10), ==, NBD_MAX_BUFFER_SIZE);
            seen[3] = true;
            break;
        default:
            g_assert_not_reached();
        }
    }
    g_assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
    /* After INFO the session goes on: GO to the other export. */
    g_assert_true(cl_go(ch, "exp", NULL) & NBD_FLAG_SEND_TRIM);
    {
        uint8_t buf[3000];
        int holes;

        structured_read(ch, 0, 1000, 3000, buf, &holes);
        g_assert_cmpuint(buf[0], ==, pattern(1000));
        g_assert_cmpuint(buf[2999], ==, pattern(3999));
    }
    nbd_channel_free(ch);
}

static void test_go_info(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_go_info);
    fixture_teardown(&f);
}

static void co_option_errors(Fixture *f)
{
    NBDChannel *ch = connect_client(f);
    uint32_t len;
    uint8_t bad[16];
    g_autofree uint8_t *p = go_payload("nope", NULL, 0, &len);

    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);

    cl_opt(ch, NBD_OPT_GO, p, len);
    cl_expect_rep(ch, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN,
                  "export 'nope' not present");
    cl_opt(ch, 99, "abc", 3);
    cl_expect_rep(ch, 99, NBD_REP_ERR_UNSUP, "Unsupported option 99 "
                  "(<unknown>)");
    cl_opt(ch, NBD_OPT_STARTTLS, NULL, 0);
    cl_expect_rep(ch, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY,
                  "TLS not configured");
    cl_opt(ch, NBD_OPT_STRUCTURED_REPLY, "x", 1);
    cl_expect_rep(ch, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID, NULL);
    cl_opt(ch, NBD_OPT_LIST, "x", 1);
    cl_expect_rep(ch, NBD_OPT_LIST, NBD_REP_ERR_INVALID, NULL);

    /* Meta contexts need structured replies first. */
    {
        static const char *const q[] = { "base:allocation" };
        g_autofree uint8_t *m = meta_payload("exp", q, 1, &len);

        cl_opt(ch, NBD_OPT_SET_META_CONTEXT, m, len);
        cl_expect_rep(ch, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID,
                      NULL);
    }
    cl_structured(ch);
    cl_opt(ch, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    cl_expect_rep(ch, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
                  "structured reply already negotiated");

    /* Malformed INFO/GO payloads. */
    stl_be(bad, 100);                   /* name longer than the payload */
    cl_opt(ch, NBD_OPT_GO, bad, 6);
    cl_expect_rep(ch, NBD_OPT_GO, NBD_REP_ERR_INVALID, NULL);
    cl_opt(ch, NBD_OPT_INFO, bad, 3);   /* too short */
    cl_expect_rep(ch, NBD_OPT_INFO, NBD_REP_ERR_INVALID, NULL);
    stl_be(bad, 3);
    memcpy(bad + 4, "exp", 3);
    stw_be(bad + 7, 5);                 /* 5 requests, 1 present */
    stw_be(bad + 9, NBD_INFO_NAME);
    cl_opt(ch, NBD_OPT_GO, bad, 11);
    cl_expect_rep(ch, NBD_OPT_GO, NBD_REP_ERR_INVALID, NULL);
    stl_be(bad, 3);
    memcpy(bad + 4, "e\0p", 3);         /* a NUL in the name */
    stw_be(bad + 7, 0);
    cl_opt(ch, NBD_OPT_GO, bad, 9);
    cl_expect_rep(ch, NBD_OPT_GO, NBD_REP_ERR_INVALID, NULL);

    /* Malformed meta payloads. */
    stl_be(bad, 3);
    memcpy(bad + 4, "exp", 3);
    stl_be(bad + 7, 0x7fffffff);        /* that many queries */
    cl_opt(ch, NBD_OPT_LIST_META_CONTEXT, bad, 11);
    cl_expect_rep(ch, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_INVALID, NULL);
    stl_be(bad + 7, 1);
    stl_be(bad + 11, 0xffffffff);       /* a query past the end */
    cl_opt(ch, NBD_OPT_SET_META_CONTEXT, bad, 15);
    cl_expect_rep(ch, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID, NULL);
    stl_be(bad + 7, 0);                 /* trailing garbage */
    cl_opt(ch, NBD_OPT_SET_META_CONTEXT, bad, 13);
    cl_expect_rep(ch, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID, NULL);
    {
        static const char *const q[] = { "base:allocation" };
        g_autofree uint8_t *m = meta_payload("nope", q, 1, &len);

        cl_opt(ch, NBD_OPT_LIST_META_CONTEXT, m, len);
        cl_expect_rep(ch, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ERR_UNKNOWN,
                      "export 'nope' not present");
    }

    /* Still in step after all that: list the exports, then abort. */
    cl_opt(ch, NBD_OPT_LIST, NULL, 0);
    for (int i = 0; i < 2; i++) {
        g_autofree uint8_t *data = NULL;
        uint32_t dlen;

        g_assert_cmpuint(cl_rep(ch, NBD_OPT_LIST, &data, &dlen), ==,
                         NBD_REP_SERVER);
        if (i == 0) {
            g_assert_cmpuint(ldl_be(data), ==, 3);
            g_assert_cmpmem(data + 4, dlen - 4, "exp", 3);
        } else {
            g_assert_cmpuint(ldl_be(data), ==, 2);
            g_assert_cmpmem(data + 4, dlen - 4, "roread only", 11);
        }
    }
    cl_expect_rep(ch, NBD_OPT_LIST, NBD_REP_ACK, "");
    cl_opt(ch, NBD_OPT_ABORT, NULL, 0);
    cl_expect_rep(ch, NBD_OPT_ABORT, NBD_REP_ACK, "");
    cl_expect_closed(ch);
    nbd_channel_free(ch);
}

static void test_option_errors(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_option_errors);
    g_assert_cmpuint(nbd_server_client_count(f.srv), ==, 0);
    fixture_teardown(&f);
}

/* Collect the context names a meta option answers. */
static char *cl_meta(NBDChannel *ch, uint32_t opt, const char *name,
                     const char *const *q, int n)
{
    GString *out = g_string_new(NULL);
    uint32_t len;
    g_autofree uint8_t *m = meta_payload(name, q, n, &len);

    cl_opt(ch, opt, m, len);
    for (;;) {
        g_autofree uint8_t *data = NULL;
        uint32_t dlen;
        uint32_t type = cl_rep(ch, opt, &data, &dlen);

        if (type == NBD_REP_ACK) {
            break;
        }
        g_assert_cmpuint(type, ==, NBD_REP_META_CONTEXT);
        if (opt == NBD_OPT_LIST_META_CONTEXT) {
            g_assert_cmpuint(ldl_be(data), ==, 0);
        }
        g_string_append_printf(out, "%s%.*s", out->len ? " " : "",
                               (int)dlen - 4, (char *)data + 4);
    }
    return g_string_free(out, false);
}

static void co_meta_contexts(Fixture *f)
{
    NBDChannel *ch = connect_client(f);
    static const char *const all[] = { "base:", "qemu:" };
    static const char *const base[] = { "base:allocation", "x-foo:bar",
                                        "base:allocation", "qemu:nope" };
    static const char *const wild[] = { "base:", "qemu:",
                                        "qemu:dirty-bitmap:" };
    char *s;

    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    cl_structured(ch);

    s = cl_meta(ch, NBD_OPT_LIST_META_CONTEXT, "exp", NULL, 0);
    g_assert_cmpstr(s, ==, "base:allocation qemu:allocation-depth");
    g_free(s);
    s = cl_meta(ch, NBD_OPT_LIST_META_CONTEXT, "ro", all, 2);
    g_assert_cmpstr(s, ==, "base:allocation");
    g_free(s);
    /* Wildcards select nothing. */
    s = cl_meta(ch, NBD_OPT_SET_META_CONTEXT, "exp", wild, 3);
    g_assert_cmpstr(s, ==, "");
    g_free(s);
    /* Each context once; unknown names and namespaces ignored. */
    s = cl_meta(ch, NBD_OPT_SET_META_CONTEXT, "exp", base, 4);
    g_assert_cmpstr(s, ==, "base:allocation");
    g_free(s);
    nbd_channel_free(ch);
}

static void test_meta_contexts(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_meta_contexts);
    fixture_teardown(&f);
}

/* Each hostile handshake gets its own connection; all are hung up on. */
static void co_hostile_handshake(Fixture *f)
{
    NBDChannel *ch;
    uint8_t buf[32];

    /* Unknown client flags. */
    ch = connect_client(f);
    cl_greeting(ch, 0x80000000);
    cl_expect_closed(ch);
    nbd_channel_free(ch);

    /* A bad option magic. */
    ch = connect_client(f);
    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE);
    memset(buf, 0x41, 16);
    cl_write(ch, buf, 16);
    cl_expect_closed(ch);
    nbd_channel_free(ch);

    /* An option claiming 4 GiB of data. */
    ch = connect_client(f);
    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE);
    nbd_option_encode(buf, NBD_OPT_GO, 0xffffffff);
    cl_write(ch, buf, NBD_OPTION_HEADER_SIZE);
    cl_expect_closed(ch);
    nbd_channel_free(ch);

    /* NBD_OPT_EXPORT_NAME for nothing there (no way to say no). */
    ch = connect_client(f);
    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE);
    cl_opt(ch, NBD_OPT_EXPORT_NAME, "nope", 4);
    cl_expect_closed(ch);
    nbd_channel_free(ch);

    /* Without fixed newstyle, any other option ends the session. */
    ch = connect_client(f);
    cl_greeting(ch, 0);
    cl_opt(ch, NBD_OPT_LIST, NULL, 0);
    cl_expect_closed(ch);
    nbd_channel_free(ch);

    /* Leaving in the middle of an option's payload, or of the flags. */
    ch = connect_client(f);
    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE);
    nbd_option_encode(buf, NBD_OPT_GO, 20);
    cl_write(ch, buf, NBD_OPTION_HEADER_SIZE);
    cl_write(ch, "abc", 3);
    nbd_channel_free(ch);
    ch = connect_client(f);
    cl_read(ch, buf, 18);
    cl_write(ch, "ab", 2);
    nbd_channel_free(ch);

    /* The server is still fine. */
    ch = transmission(f, "exp", false, NULL);
    check_simple_read(ch, 0, 4096);
    nbd_channel_free(ch);
}

static void test_hostile_handshake(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_hostile_handshake);
    for (int i = 0; i < 50 && nbd_server_client_count(f.srv); i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    g_assert_cmpuint(nbd_server_client_count(f.srv), ==, 0);
    fixture_teardown(&f);
}

/* ================= transmission ================= */

static void co_export_name_simple(Fixture *f)
{
    NBDChannel *ch = connect_client(f);
    uint8_t buf[8192];
    uint16_t flags;

    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE);     /* zeroes wanted */
    cl_opt(ch, NBD_OPT_EXPORT_NAME, "exp", 3);
    cl_read(ch, buf, 10 + 124);
    g_assert_cmpuint(ldq_be(buf), ==, IMG_SIZE);
    flags = lduw_be(buf + 8);
    g_assert_false(flags & NBD_FLAG_SEND_DF);       /* not structured */
    g_assert_true(flags & NBD_FLAG_SEND_WRITE_ZEROES);
    for (int i = 10; i < 134; i++) {
        g_assert_cmpuint(buf[i], ==, 0);
    }

    check_simple_read(ch, 0, 8192);
    check_simple_read(ch, IMG_SIZE / 2 - 100, 200);

    /* A write, then reading it back. */
    memset(buf, 0xa5, 4096);
    cl_request(ch, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 1, 600 * KiB, 4096,
               buf);
    g_assert_cmpuint(cl_simple(ch, 1), ==, 0);
    cl_request(ch, NBD_CMD_READ, 0, 2, 600 * KiB - 1, 4098, NULL);
    g_assert_cmpuint(cl_simple(ch, 2), ==, 0);
    cl_read(ch, buf, 4098);
    g_assert_cmpuint(buf[0], ==, 0);
    g_assert_cmpuint(buf[1], ==, 0xa5);
    g_assert_cmpuint(buf[4096], ==, 0xa5);
    g_assert_cmpuint(buf[4097], ==, 0);

    /* Zeroes, discard, flush, cache. */
    cl_request(ch, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 3,
               600 * KiB, 1024, NULL);
    g_assert_cmpuint(cl_simple(ch, 3), ==, 0);
    cl_request(ch, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 4, 800 * KiB, 64 * KiB,
               NULL);
    g_assert_cmpuint(cl_simple(ch, 4), ==, 0);
    cl_request(ch, NBD_CMD_FLUSH, 0, 5, 0, 0, NULL);
    g_assert_cmpuint(cl_simple(ch, 5), ==, 0);
    cl_request(ch, NBD_CMD_CACHE, 0, 6, 0, 4096, NULL);
    g_assert_cmpuint(cl_simple(ch, 6), ==, 0);
    cl_request(ch, NBD_CMD_READ, 0, 7, 600 * KiB, 2048, NULL);
    g_assert_cmpuint(cl_simple(ch, 7), ==, 0);
    cl_read(ch, buf, 2048);
    for (int i = 0; i < 1024; i++) {
        g_assert_cmpuint(buf[i], ==, 0);
        g_assert_cmpuint(buf[1024 + i], ==, 0xa5);
    }

    /* Requests the server must refuse, and keep going. */
    /* As in QEMU 7.2, every refused request gets EINVAL. */
    cl_request(ch, NBD_CMD_WRITE, 0, 10, IMG_SIZE - 1, 2, "xx");
    g_assert_cmpuint(cl_simple(ch, 10), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_WRITE_ZEROES, 0, 11, IMG_SIZE, 1, NULL);
    g_assert_cmpuint(cl_simple(ch, 11), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_READ, 0, 12, IMG_SIZE, 1, NULL);
    g_assert_cmpuint(cl_simple(ch, 12), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_READ, 0, 13, UINT64_MAX - 10, 100, NULL);
    g_assert_cmpuint(cl_simple(ch, 13), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_TRIM, 0, 14, 0, IMG_SIZE + 1, NULL);
    g_assert_cmpuint(cl_simple(ch, 14), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_READ, NBD_CMD_FLAG_DF, 15, 0, 1, NULL);
    g_assert_cmpuint(cl_simple(ch, 15), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_READ, 0x8000, 16, 0, 1, NULL);
    g_assert_cmpuint(cl_simple(ch, 16), ==, NBD_EINVAL);
    cl_request(ch, 42, 0, 17, 0, 1, NULL);
    g_assert_cmpuint(cl_simple(ch, 17), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_BLOCK_STATUS, 0, 18, 0, 4096, NULL);
    g_assert_cmpuint(cl_simple(ch, 18), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_READ, 0, 19, 0, NBD_MAX_BUFFER_SIZE + 1, NULL);
    g_assert_cmpuint(cl_simple(ch, 19), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_FLUSH, NBD_CMD_FLAG_REQ_ONE, 20, 0, 0, NULL);
    g_assert_cmpuint(cl_simple(ch, 20), ==, NBD_EINVAL);
    check_simple_read(ch, 4096, 4096);

    /* A zero-length read is fine. */
    cl_request(ch, NBD_CMD_READ, 0, 21, 100, 0, NULL);
    g_assert_cmpuint(cl_simple(ch, 21), ==, 0);

    cl_request(ch, NBD_CMD_DISC, 0, 22, 0, 0, NULL);
    cl_expect_closed(ch);
    nbd_channel_free(ch);
}

/* The empty name (the default export) with NBD_OPT_EXPORT_NAME. */
static void co_export_name_empty(Fixture *f)
{
    NBDChannel *ch = connect_client(f);
    uint8_t buf[10];

    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    cl_opt(ch, NBD_OPT_EXPORT_NAME, NULL, 0);
    cl_read(ch, buf, 10);
    g_assert_cmpuint(ldq_be(buf), ==, IMG_SIZE);
    check_simple_read(ch, 0, 512);
    nbd_channel_free(ch);
}

static void test_export_name_empty(void)
{
    Fixture f;
    NBDExportConfig cfg = { .name = "" };

    fixture_setup(&f, 0);
    cfg.blk = f.blk;
    nbd_export_new(f.srv, &cfg, &error_abort);
    run_in_coroutine(&f, co_export_name_empty);
    fixture_teardown(&f);
}

static void test_export_name_simple(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_export_name_simple);
    fixture_teardown(&f);
}

static void co_read_only(Fixture *f)
{
    uint16_t flags;
    NBDChannel *ch = transmission(f, "ro", true, &flags);

    g_assert_true(flags & NBD_FLAG_READ_ONLY);
    g_assert_false(flags & NBD_FLAG_SEND_TRIM);
    cl_request(ch, NBD_CMD_WRITE, 0, 1, 0, 3, "abc");
    g_assert_cmpuint(cl_error_chunk(ch, 1, "Export is read-only"), ==,
                     NBD_EINVAL);
    cl_request(ch, NBD_CMD_WRITE_ZEROES, 0, 2, 0, 512, NULL);
    g_assert_cmpuint(cl_error_chunk(ch, 2, NULL), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_TRIM, 0, 3, 0, 512, NULL);
    g_assert_cmpuint(cl_error_chunk(ch, 3, NULL), ==, NBD_EINVAL);
    cl_request(ch, NBD_CMD_FLUSH, 0, 4, 0, 0, NULL);
    cl_done_chunk(ch, 4);
    nbd_channel_free(ch);
}

static void test_read_only(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_read_only);
    /* Nothing was written. */
    {
        uint8_t b[3];

        g_assert_cmpint(blk_pread(f.blk, 0, 3, b, 0), ==, 0);
        g_assert_cmpuint(b[0], ==, pattern(0));
    }
    fixture_teardown(&f);
}

/* Read [off, off + len) with structured replies into @buf. */
static int structured_read(NBDChannel *ch, uint16_t flags, uint64_t off,
                           uint32_t len, uint8_t *buf, int *holes)
{
    int chunks = 0;

    memset(buf, 0xee, len);
    *holes = 0;
    cl_request(ch, NBD_CMD_READ, flags, 9, off, len, NULL);
    for (;;) {
        Chunk c;
        bool done;

        cl_chunk(ch, &c);
        g_assert_cmpuint(c.cookie, ==, 9);
        done = c.flags & NBD_REPLY_FLAG_DONE;
        if (c.type == NBD_REPLY_TYPE_OFFSET_DATA) {
            uint64_t o = ldq_be(c.data);

            g_assert_cmpuint(o, >=, off);
            g_assert_cmpuint(o + c.len - 8, <=, off + len);
            memcpy(buf + o - off, c.data + 8, c.len - 8);
        } else if (c.type == NBD_REPLY_TYPE_OFFSET_HOLE) {
            uint64_t o = ldq_be(c.data);
            uint32_t n = ldl_be(c.data + 8);

            g_assert_cmpuint(c.len, ==, 12);
            g_assert_cmpuint(o + n, <=, off + len);
            memset(buf + o - off, 0, n);
            (*holes)++;
        } else {
            g_assert_cmpuint(c.type, ==, NBD_REPLY_TYPE_NONE);
        }
        g_free(c.data);
        chunks++;
        if (done) {
            return chunks;
        }
    }
}

/* The block status chunks of one request, as "id:len/flags,..." text. */
static char *structured_status(NBDChannel *ch, uint16_t flags, uint64_t off,
                               uint32_t len)
{
    GString *out = g_string_new(NULL);

    cl_request(ch, NBD_CMD_BLOCK_STATUS, flags, 8, off, len, NULL);
    for (;;) {
        Chunk c;

        cl_chunk(ch, &c);
        g_assert_cmpuint(c.type, ==, NBD_REPLY_TYPE_BLOCK_STATUS);
        g_assert_cmpuint((c.len - 4) % 8, ==, 0);
        g_string_append_printf(out, "%s%u:", out->len ? " " : "",
                               ldl_be(c.data));
        for (uint32_t i = 4; i < c.len; i += 8) {
            g_string_append_printf(out, "%s%u/%u", i > 4 ? "," : "",
                                   ldl_be(c.data + i),
                                   ldl_be(c.data + i + 4));
        }
        g_free(c.data);
        if (c.flags & NBD_REPLY_FLAG_DONE) {
            return g_string_free(out, false);
        }
    }
}

static void co_structured(Fixture *f)
{
    NBDChannel *ch = connect_client(f);
    static const char *const q[] = { "base:allocation",
                                     "qemu:allocation-depth" };
    g_autofree uint8_t *buf = g_malloc(IMG_SIZE);
    int holes, chunks;
    char *s;

    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    cl_structured(ch);
    s = cl_meta(ch, NBD_OPT_SET_META_CONTEXT, "exp", q, 2);
    g_assert_cmpstr(s, ==, "base:allocation qemu:allocation-depth");
    g_free(s);
    g_assert_true(cl_go(ch, "exp", NULL) & NBD_FLAG_SEND_DF);

    /* The whole image: data, then a hole. */
    chunks = structured_read(ch, 0, 0, IMG_SIZE, buf, &holes);
    g_assert_cmpint(chunks, ==, 2);
    g_assert_cmpint(holes, ==, 1);
    for (size_t i = 0; i < IMG_SIZE; i++) {
        g_assert_cmpuint(buf[i], ==, i < IMG_SIZE / 2 ? pattern(i) : 0);
    }
    /* Don't fragment: one data chunk. */
    chunks = structured_read(ch, NBD_CMD_FLAG_DF, IMG_SIZE / 2 - 10, 20,
                             buf, &holes);
    g_assert_cmpint(chunks, ==, 1);
    g_assert_cmpint(holes, ==, 0);
    g_assert_cmpuint(buf[9], ==, pattern(IMG_SIZE / 2 - 1));
    g_assert_cmpuint(buf[10], ==, 0);

    /* Block status of both contexts, and of one extent each. */
    s = structured_status(ch, 0, 0, IMG_SIZE);
    g_assert_cmpstr(s, ==, "0:524288/0,524288/3 1:1048576/1");
    g_free(s);
    s = structured_status(ch, NBD_CMD_FLAG_REQ_ONE, 4096, IMG_SIZE - 4096);
    g_assert_cmpstr(s, ==, "0:520192/0 1:1044480/1");
    g_free(s);

    /* Errors come as error chunks with a message. */
    cl_request(ch, NBD_CMD_BLOCK_STATUS, 0, 30, 0, 0, NULL);
    g_assert_cmpuint(cl_error_chunk(ch, 30, "need non-zero length"), ==,
                     NBD_EINVAL);
    cl_request(ch, NBD_CMD_READ, 0, 31, IMG_SIZE - 1, 2, NULL);
    g_assert_cmpuint(cl_error_chunk(ch, 31, "operation past EOF; From: "
                                    "1048575, Len: 2, Size: 1048576"), ==,
                     NBD_EINVAL);
    cl_request(ch, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 32,
               IMG_SIZE / 2, 4096, NULL);
    /* raw files can zero quickly (a hole) */
    cl_done_chunk(ch, 32);
    cl_request(ch, NBD_CMD_READ, 0, 33, 0, 0, NULL);
    cl_done_chunk(ch, 33);
    nbd_channel_free(ch);
}

static void test_structured(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_structured);
    fixture_teardown(&f);
}

/* Contexts chosen for one export do not count for another. */
static void co_meta_other_export(Fixture *f)
{
    NBDChannel *ch = connect_client(f);
    static const char *const q[] = { "base:allocation" };
    char *s;

    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    cl_structured(ch);
    s = cl_meta(ch, NBD_OPT_SET_META_CONTEXT, "ro", q, 1);
    g_assert_cmpstr(s, ==, "base:allocation");
    g_free(s);
    cl_go(ch, "exp", NULL);
    cl_request(ch, NBD_CMD_BLOCK_STATUS, 0, 1, 0, 4096, NULL);
    g_assert_cmpuint(cl_error_chunk(ch, 1, "CMD_BLOCK_STATUS not "
                                    "negotiated"), ==, NBD_EINVAL);
    nbd_channel_free(ch);
}

static void test_meta_other_export(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_meta_other_export);
    fixture_teardown(&f);
}

/* Many requests sent before any reply is read. */
static void co_pipelined(Fixture *f)
{
    enum { N = 300 };
    NBDChannel *ch = transmission(f, "exp", false, NULL);
    g_autofree uint8_t *buf = g_malloc(4096);
    bool seen[N] = { 0 };

    for (int i = 0; i < N; i++) {
        cl_request(ch, NBD_CMD_READ, 0, 1000 + i, (i % 128) * 4096, 4096,
                   NULL);
    }
    for (int i = 0; i < N; i++) {
        uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];
        uint64_t cookie;

        cl_read(ch, hdr, sizeof(hdr));
        g_assert_cmpuint(ldl_be(hdr + 4), ==, 0);
        cookie = ldq_be(hdr + 8) - 1000;
        g_assert_cmpuint(cookie, <, N);
        g_assert_false(seen[cookie]);
        seen[cookie] = true;
        cl_read(ch, buf, 4096);
        g_assert_cmpuint(buf[5], ==, pattern((cookie % 128) * 4096 + 5));
    }
    nbd_channel_free(ch);
}

static void test_pipelined(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_pipelined);
    fixture_teardown(&f);
}

static void co_hostile_requests(Fixture *f)
{
    NBDChannel *ch;
    uint8_t buf[64];

    /* Garbage instead of a request. */
    ch = transmission(f, "exp", false, NULL);
    memset(buf, 0x5a, sizeof(buf));
    cl_write(ch, buf, NBD_REQUEST_SIZE);
    cl_expect_closed(ch);
    nbd_channel_free(ch);

    /* A write too large to take: refused, then hung up on. */
    ch = transmission(f, "exp", true, NULL);
    cl_request(ch, NBD_CMD_WRITE, 0, 5, 0, 64 * MiB, NULL);
    g_assert_cmpuint(cl_error_chunk(ch, 5, NULL), ==, NBD_EINVAL);
    cl_expect_closed(ch);
    nbd_channel_free(ch);

    /* A write whose payload never comes. */
    ch = transmission(f, "exp", false, NULL);
    cl_request(ch, NBD_CMD_WRITE, 0, 6, 0, 65536, NULL);
    cl_write(ch, buf, 10);
    nbd_channel_free(ch);

    /* A request cut short. */
    ch = transmission(f, "exp", false, NULL);
    cl_write(ch, "\x25\x60\x95\x13\x00", 5);
    nbd_channel_free(ch);

    /* Requests in flight when the client vanishes. */
    ch = transmission(f, "exp", true, NULL);
    for (int i = 0; i < 40; i++) {
        cl_request(ch, NBD_CMD_READ, 0, i, 0, 256 * KiB, NULL);
    }
    nbd_channel_free(ch);

    /* Still serving. */
    ch = transmission(f, "exp", false, NULL);
    check_simple_read(ch, 12345, 1000);
    nbd_channel_free(ch);
}

static void test_hostile_requests(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_hostile_requests);
    for (int i = 0; i < 200 && nbd_server_client_count(f.srv); i++) {
        aio_poll(qemu_get_aio_context(), true);
    }
    g_assert_cmpuint(nbd_server_client_count(f.srv), ==, 0);
    /* Nothing outside a request was written. */
    {
        uint8_t b[16];

        g_assert_cmpint(blk_pread(f.blk, 0, 16, b, 0), ==, 0);
        for (int i = 0; i < 16; i++) {
            g_assert_cmpuint(b[i], ==, pattern(i));
        }
    }
    fixture_teardown(&f);
}

/* ================= lifetimes ================= */

static NBDChannel *removal_client;

static void co_removal_connect(Fixture *f)
{
    removal_client = transmission(f, "exp", false, NULL);
    check_simple_read(removal_client, 0, 512);
}

static void co_removal_check(Fixture *f)
{
    NBDChannel *ch;
    uint32_t len;
    g_autofree uint8_t *p = go_payload("exp", NULL, 0, &len);

    cl_expect_closed(removal_client);
    nbd_channel_free(removal_client);
    /* New clients no longer find it. */
    ch = connect_client(f);
    cl_greeting(ch, NBD_FLAG_C_FIXED_NEWSTYLE);
    cl_opt(ch, NBD_OPT_GO, p, len);
    cl_expect_rep(ch, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, NULL);
    nbd_channel_free(ch);
}

static void test_export_removal(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_removal_connect);
    g_assert_cmpuint(nbd_export_client_count(f.exp), ==, 1);
    nbd_export_remove(f.exp);
    g_assert_null(nbd_export_find(f.srv, "exp"));
    run_in_coroutine(&f, co_removal_check);
    for (int i = 0; i < 100 && !f.exp_freed; i++) {
        aio_poll(qemu_get_aio_context(), true);
    }
    g_assert_true(f.exp_freed);
    fixture_teardown(&f);
}

static void test_duplicate_export(void)
{
    Fixture f;
    NBDExportConfig cfg = { .name = "exp" };
    g_autofree char *longname = g_strnfill(NBD_MAX_STRING_SIZE + 1, 'n');
    Error *err = NULL;

    fixture_setup(&f, 0);
    cfg.blk = f.blk;
    g_assert_null(nbd_export_new(f.srv, &cfg, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "NBD server already has export named 'exp'");
    error_free(err);
    err = NULL;
    cfg.name = longname;
    g_assert_null(nbd_export_new(f.srv, &cfg, &err));
    g_assert_true(g_str_has_prefix(error_get_pretty(err), "export name '"));
    error_free(err);
    fixture_teardown(&f);
}

/* Many clients at once, each doing a handshake and a read. */
static NBDChannel *many[200];

static void co_many_clients(Fixture *f)
{
    for (int i = 0; i < 200; i++) {
        many[i] = transmission(f, i % 2 ? "exp" : "ro", i % 3 == 0, NULL);
    }
    g_assert_cmpuint(nbd_server_client_count(f->srv), ==, 200);
    for (int i = 0; i < 200; i += 7) {
        if (i % 3) {
            check_simple_read(many[i], i * 100, 100);
        }
    }
}

static void test_many_clients(void)
{
    Fixture f;

    fixture_setup(&f, 0);
    run_in_coroutine(&f, co_many_clients);
    /* The server goes away under its clients. */
    nbd_server_free(f.srv);
    f.srv = NULL;
    for (int i = 0; i < 200; i++) {
        uint8_t b;

        g_assert_cmpint(nbd_channel_read_eof(many[i], &b, 1, NULL), <=, 0);
        nbd_channel_free(many[i]);
    }
    for (int i = 0; i < 100; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    blk_unref(f.blk);
    unlink(f.path);
    g_free(f.path);
}

/* Servers limited to one client do not offer multi-conn. */
static void co_flags_single(Fixture *f)
{
    uint16_t flags;
    NBDChannel *ch = transmission(f, "exp", false, &flags);

    g_assert_false(flags & NBD_FLAG_CAN_MULTI_CONN);
    nbd_channel_free(ch);
}

static void test_single_connection(void)
{
    Fixture f;

    fixture_setup(&f, 1);
    run_in_coroutine(&f, co_flags_single);
    fixture_teardown(&f);
}

/* With a listener: the limit holds further clients in the backlog. */
static void test_max_connections(void)
{
    g_autofree char *sock = g_build_filename(tmpdir, "max.sock", NULL);
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_UNIX };
    Fixture f;
    int a, b;
    uint8_t buf[18];
    struct pollfd pfd = { .events = POLLIN };

    fixture_setup(&f, 1);
    addr.u.q_unix.path = sock;
    g_assert_cmpint(nbd_server_listen(f.srv, &addr, &error_abort), ==, 0);
    a = socket_connect(&addr, &error_abort);
    b = socket_connect(&addr, &error_abort);
    for (int i = 0; i < 20; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    g_assert_cmpint(read(a, buf, 18), ==, 18);
    pfd.fd = b;
    for (int i = 0; i < 20; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    g_assert_cmpint(poll(&pfd, 1, 50), ==, 0);      /* not served yet */
    close(a);
    for (int i = 0; i < 50 && !poll(&pfd, 1, 0); i++) {
        aio_poll(qemu_get_aio_context(), true);
    }
    g_assert_cmpint(read(b, buf, 18), ==, 18);      /* now it is */
    close(b);
    fixture_teardown(&f);
    unlink(sock);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    bdrv_init();
    tmpdir = g_dir_make_tmp("strata-nbd-XXXXXX", NULL);
    g_test_add_func("/nbd-server/go-info", test_go_info);
    g_test_add_func("/nbd-server/option-errors", test_option_errors);
    g_test_add_func("/nbd-server/meta-contexts", test_meta_contexts);
    g_test_add_func("/nbd-server/hostile-handshake", test_hostile_handshake);
    g_test_add_func("/nbd-server/export-name-simple",
                    test_export_name_simple);
    g_test_add_func("/nbd-server/export-name-empty",
                    test_export_name_empty);
    g_test_add_func("/nbd-server/read-only", test_read_only);
    g_test_add_func("/nbd-server/structured", test_structured);
    g_test_add_func("/nbd-server/meta-other-export",
                    test_meta_other_export);
    g_test_add_func("/nbd-server/pipelined", test_pipelined);
    g_test_add_func("/nbd-server/hostile-requests", test_hostile_requests);
    g_test_add_func("/nbd-server/export-removal", test_export_removal);
    g_test_add_func("/nbd-server/duplicate-export", test_duplicate_export);
    g_test_add_func("/nbd-server/many-clients", test_many_clients);
    g_test_add_func("/nbd-server/single-connection", test_single_connection);
    g_test_add_func("/nbd-server/max-connections", test_max_connections);
    ret = g_test_run();
    rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}

/*
 * Unit tests for util/iov.c: iovec copies at every offset and length,
 * QEMUIOVector construction, slicing, padding, comparison and cloning.
 */
#include "strata/osdep.h"
#include "util/iov.h"

/* An iovec array over @buf with the given element lengths. */
static struct iovec *make_iov(unsigned char *buf, const size_t *lens,
                              unsigned int n)
{
    struct iovec *iov = g_new(struct iovec, n);

    for (unsigned int i = 0; i < n; i++) {
        iov[i].iov_base = buf;
        iov[i].iov_len = lens[i];
        buf += lens[i];
    }
    return iov;
}

/* Layouts with empty elements, single bytes and larger pieces */
static const size_t layout[] = { 3, 0, 1, 7, 16, 0, 5, 1, 9 };
#define LAYOUT_N ((unsigned int)ARRAY_SIZE(layout))
#define LAYOUT_SIZE 42

static void test_iov_size(void)
{
    unsigned char buf[LAYOUT_SIZE];
    g_autofree struct iovec *iov = make_iov(buf, layout, LAYOUT_N);

    g_assert_cmpuint(iov_size(iov, LAYOUT_N), ==, LAYOUT_SIZE);
    g_assert_cmpuint(iov_size(iov, 0), ==, 0);
    g_assert_cmpuint(iov_size(iov, 3), ==, 4);
}

/*
 * Every (offset, bytes) pair, including bytes running past the end: the
 * data lands at the right place, nothing else changes, and the count is
 * right.  Elements are non-contiguous (a gap byte between them) so a copy
 * that ignored the layout would show.
 */
static void test_iov_copies(void)
{
    unsigned char backing[LAYOUT_SIZE + LAYOUT_N];
    struct iovec iov[LAYOUT_N];
    unsigned char flat[LAYOUT_SIZE + 8], out[LAYOUT_SIZE + 8];
    unsigned char *p = backing;

    for (unsigned int i = 0; i < LAYOUT_N; i++) {
        iov[i].iov_base = p;
        iov[i].iov_len = layout[i];
        p += layout[i] + 1;     /* gap byte */
    }
    for (size_t i = 0; i < sizeof(flat); i++) {
        flat[i] = 0x40 + i;
    }

    for (size_t offset = 0; offset <= LAYOUT_SIZE; offset++) {
        for (size_t bytes = 0; bytes <= LAYOUT_SIZE + 4; bytes++) {
            size_t expect = MIN(bytes, LAYOUT_SIZE - offset);
            size_t pos = 0;

            memset(backing, 0xee, sizeof(backing));
            g_assert_cmpuint(iov_from_buf(iov, LAYOUT_N, offset, flat, bytes),
                             ==, expect);
            /* check byte by byte in vector order, and the gaps */
            for (unsigned int i = 0; i < LAYOUT_N; i++) {
                unsigned char *e = iov[i].iov_base;

                for (size_t j = 0; j < layout[i]; j++, pos++) {
                    if (pos >= offset && pos < offset + expect) {
                        g_assert_cmpuint(e[j], ==, flat[pos - offset]);
                    } else {
                        g_assert_cmpuint(e[j], ==, 0xee);
                    }
                }
                g_assert_cmpuint(e[layout[i]], ==, 0xee);
            }

            memset(out, 0, sizeof(out));
            g_assert_cmpuint(iov_to_buf(iov, LAYOUT_N, offset, out, bytes),
                             ==, expect);
            g_assert_cmpmem(out, expect, flat, expect);
            for (size_t j = expect; j < sizeof(out); j++) {
                g_assert_cmpuint(out[j], ==, 0);
            }

            g_assert_cmpuint(iov_memset(iov, LAYOUT_N, offset, 0x11, bytes),
                             ==, expect);
            g_assert_cmpuint(iov_to_buf(iov, LAYOUT_N, offset, out, expect),
                             ==, expect);
            for (size_t j = 0; j < expect; j++) {
                g_assert_cmpuint(out[j], ==, 0x11);
            }
        }
    }
}

static void test_iov_discard(void)
{
    unsigned char buf[LAYOUT_SIZE];

    for (size_t bytes = 0; bytes <= LAYOUT_SIZE + 3; bytes++) {
        g_autofree struct iovec *orig = make_iov(buf, layout, LAYOUT_N);
        struct iovec *iov = orig;
        unsigned int cnt = LAYOUT_N;
        size_t done = iov_discard_front(&iov, &cnt, bytes);

        g_assert_cmpuint(done, ==, MIN(bytes, LAYOUT_SIZE));
        g_assert_cmpuint(iov_size(iov, cnt), ==, LAYOUT_SIZE - done);
        if (cnt) {
            /* the first byte left is buf[done] */
            g_assert_true(iov[0].iov_base == buf + done ||
                          iov[0].iov_len == 0);
        }
        g_assert_true(iov + cnt == orig + LAYOUT_N);
    }

    for (size_t bytes = 0; bytes <= LAYOUT_SIZE + 3; bytes++) {
        g_autofree struct iovec *iov = make_iov(buf, layout, LAYOUT_N);
        unsigned int cnt = LAYOUT_N;
        size_t done = iov_discard_back(iov, &cnt, bytes);

        g_assert_cmpuint(done, ==, MIN(bytes, LAYOUT_SIZE));
        g_assert_cmpuint(iov_size(iov, cnt), ==, LAYOUT_SIZE - done);
        g_assert_true(iov[0].iov_base == buf);
    }

    {
        struct iovec *none = NULL;
        unsigned int cnt = 0;
        g_assert_cmpuint(iov_discard_front(&none, &cnt, 5), ==, 0);
        g_assert_cmpuint(iov_discard_back(none, &cnt, 5), ==, 0);
    }
}

static void test_init_buf(void)
{
    char data[16] = "0123456789abcdef";
    QEMUIOVector a = QEMU_IOVEC_INIT_BUF(a, data, sizeof(data));
    QEMUIOVector b;
    char out[16];

    g_assert_true(a.iov == &a.local_iov);
    g_assert_cmpint(a.niov, ==, 1);
    g_assert_cmpint(a.nalloc, ==, -1);
    g_assert_cmpuint(a.size, ==, 16);
    g_assert_true(qemu_iovec_buf(&a) == data);

    qemu_iovec_init_buf(&b, data + 4, 8);
    g_assert_true(b.iov == &b.local_iov);
    g_assert_cmpuint(b.size, ==, 8);
    g_assert_cmpuint(qemu_iovec_to_buf(&b, 2, out, 100), ==, 6);
    g_assert_cmpmem(out, 6, "6789ab", 6);
    qemu_iovec_destroy(&b);     /* allowed, frees nothing */
    g_assert_null(b.iov);
    g_assert_cmpuint(b.size, ==, 0);
}

static void test_init_add_concat(void)
{
    unsigned char buf[64];
    QEMUIOVector q, d;
    struct iovec ext[2] = {
        { .iov_base = buf, .iov_len = 10 },
        { .iov_base = buf + 20, .iov_len = 5 },
    };

    for (int i = 0; i < 64; i++) {
        buf[i] = i;
    }
    qemu_iovec_init(&q, 0);
    g_assert_cmpint(q.niov, ==, 0);
    g_assert_cmpuint(q.size, ==, 0);
    for (int i = 0; i < 20; i++) {
        qemu_iovec_add(&q, buf + i, 1);     /* grows from 0 */
    }
    g_assert_cmpint(q.niov, ==, 20);
    g_assert_cmpint(q.nalloc, >=, 20);
    g_assert_cmpuint(q.size, ==, 20);

    qemu_iovec_init(&d, 2);
    qemu_iovec_concat(&d, &q, 3, 4);
    g_assert_cmpint(d.niov, ==, 4);
    g_assert_cmpuint(d.size, ==, 4);
    g_assert_true(d.iov[0].iov_base == buf + 3);
    qemu_iovec_concat(&d, &q, 0, 0);
    g_assert_cmpint(d.niov, ==, 4);

    g_assert_cmpuint(qemu_iovec_concat_iov(&d, ext, 2, 8, 100), ==, 7);
    g_assert_cmpint(d.niov, ==, 6);
    g_assert_true(d.iov[4].iov_base == buf + 8);
    g_assert_cmpuint(d.iov[4].iov_len, ==, 2);
    g_assert_true(d.iov[5].iov_base == buf + 20);
    g_assert_cmpuint(d.size, ==, 11);

    qemu_iovec_reset(&d);
    g_assert_cmpint(d.niov, ==, 0);
    g_assert_cmpuint(d.size, ==, 0);
    g_assert_nonnull(d.iov);
    qemu_iovec_destroy(&d);
    qemu_iovec_destroy(&q);

    qemu_iovec_init_external(&q, ext, 2);
    g_assert_cmpint(q.nalloc, ==, -1);
    g_assert_cmpuint(q.size, ==, 15);
    g_assert_true(q.iov == ext);
    qemu_iovec_destroy(&q);
    g_assert_cmpuint(ext[1].iov_len, ==, 5);    /* caller's array kept */
}

/* A vector over buf[0..LAYOUT_SIZE) with the test layout. */
static void init_layout(QEMUIOVector *q, unsigned char *buf)
{
    qemu_iovec_init(q, 0);
    for (unsigned int i = 0, off = 0; i < LAYOUT_N; off += layout[i++]) {
        qemu_iovec_add(q, buf + off, layout[i]);
    }
}

static void test_slice(void)
{
    unsigned char buf[LAYOUT_SIZE];
    QEMUIOVector src;

    for (int i = 0; i < LAYOUT_SIZE; i++) {
        buf[i] = i + 1;
    }
    init_layout(&src, buf);

    for (size_t off = 0; off <= LAYOUT_SIZE; off++) {
        for (size_t len = 0; off + len <= LAYOUT_SIZE; len++) {
            QEMUIOVector s;
            unsigned char out[LAYOUT_SIZE];
            size_t head, tail;
            int niov;
            struct iovec *first;

            qemu_iovec_init_slice(&s, &src, off, len);
            g_assert_cmpuint(s.size, ==, len);
            g_assert_cmpuint(iov_size(s.iov, s.niov), ==, len);
            g_assert_cmpuint(qemu_iovec_to_buf(&s, 0, out, len), ==, len);
            g_assert_cmpmem(out, len, buf + off, len);
            if (len) {
                g_assert_true(s.iov[0].iov_base == buf + off ||
                              s.iov[0].iov_len == 0);
                g_assert_cmpint(s.niov, ==,
                                qemu_iovec_subvec_niov(&src, off, len));
            }
            /* slices share the data */
            if (len) {
                g_assert_cmpuint(qemu_iovec_memset(&s, len - 1, 0, 1), ==, 1);
                g_assert_cmpuint(buf[off + len - 1], ==, 0);
                buf[off + len - 1] = off + len;
            }
            qemu_iovec_destroy(&s);

            first = qemu_iovec_slice(&src, off, len, &head, &tail, &niov);
            if (niov) {
                size_t covered = iov_size(first, niov) - head - tail;
                g_assert_cmpuint(covered, ==, len);
                g_assert_true(head == 0 || head < first[0].iov_len);
                g_assert_cmpuint(tail, <, first[niov - 1].iov_len);
            }
        }
    }
    qemu_iovec_destroy(&src);
}

static void test_init_extended(void)
{
    unsigned char buf[LAYOUT_SIZE], head[3] = { 0xa, 0xb, 0xc };
    unsigned char tail[2] = { 0xd, 0xe };
    unsigned char out[LAYOUT_SIZE + 5];
    QEMUIOVector src, e;

    for (int i = 0; i < LAYOUT_SIZE; i++) {
        buf[i] = i + 1;
    }
    init_layout(&src, buf);

    g_assert_cmpint(qemu_iovec_init_extended(&e, head, 3, &src, 2, 10,
                                             tail, 2), ==, 0);
    g_assert_cmpuint(e.size, ==, 15);
    g_assert_cmpuint(qemu_iovec_to_buf(&e, 0, out, 15), ==, 15);
    g_assert_cmpmem(out, 3, head, 3);
    g_assert_cmpmem(out + 3, 10, buf + 2, 10);
    g_assert_cmpmem(out + 13, 2, tail, 2);
    qemu_iovec_destroy(&e);

    /* a single part needs no allocation */
    g_assert_cmpint(qemu_iovec_init_extended(&e, head, 3, &src, 0, 0,
                                             NULL, 0), ==, 0);
    g_assert_true(e.iov == &e.local_iov);
    g_assert_cmpint(e.niov, ==, 1);
    qemu_iovec_destroy(&e);

    g_assert_cmpint(qemu_iovec_init_extended(&e, NULL, 0, &src, 0, 0,
                                             NULL, 0), ==, 0);
    g_assert_cmpint(e.niov, ==, 0);
    g_assert_cmpuint(e.size, ==, 0);
    qemu_iovec_destroy(&e);

    /* size overflow */
    g_assert_cmpint(qemu_iovec_init_extended(&e, head, SIZE_MAX, &src, 0, 1,
                                             NULL, 0), ==, -EINVAL);
    qemu_iovec_destroy(&src);

    /* too many elements */
    {
        QEMUIOVector many;

        qemu_iovec_init(&many, IOV_MAX);
        for (int i = 0; i < IOV_MAX; i++) {
            qemu_iovec_add(&many, buf, 1);
        }
        g_assert_cmpint(qemu_iovec_init_extended(&e, head, 1, &many, 0,
                                                 IOV_MAX, NULL, 0), ==,
                        -EINVAL);
        g_assert_cmpint(qemu_iovec_init_extended(&e, NULL, 0, &many, 0,
                                                 IOV_MAX, NULL, 0), ==, 0);
        g_assert_cmpint(e.niov, ==, IOV_MAX);
        qemu_iovec_destroy(&e);
        qemu_iovec_destroy(&many);
    }
}

static void test_is_zero(void)
{
    unsigned char buf[LAYOUT_SIZE] = { 0 };
    QEMUIOVector q;

    init_layout(&q, buf);
    g_assert_true(qemu_iovec_is_zero(&q, 0, LAYOUT_SIZE));
    for (size_t pos = 0; pos < LAYOUT_SIZE; pos++) {
        buf[pos] = 1;
        for (size_t off = 0; off <= LAYOUT_SIZE; off++) {
            for (size_t len = 0; off + len <= LAYOUT_SIZE; len++) {
                bool has = pos >= off && pos < off + len;
                g_assert_cmpint(qemu_iovec_is_zero(&q, off, len), ==, !has);
            }
        }
        buf[pos] = 0;
    }
    qemu_iovec_destroy(&q);
}

static void test_compare(void)
{
    unsigned char a_buf[LAYOUT_SIZE], b_buf[LAYOUT_SIZE];
    static const size_t other[] = { 10, 10, 22 };
    QEMUIOVector a, b, c;

    for (int i = 0; i < LAYOUT_SIZE; i++) {
        a_buf[i] = b_buf[i] = i * 7;
    }
    init_layout(&a, a_buf);
    qemu_iovec_init(&b, 0);
    for (size_t i = 0, off = 0; i < ARRAY_SIZE(other); off += other[i++]) {
        qemu_iovec_add(&b, b_buf + off, other[i]);
    }

    g_assert_cmpint(qemu_iovec_compare(&a, &b), ==, -1);
    g_assert_cmpint(qemu_iovec_compare(&a, &a), ==, -1);
    for (int pos = 0; pos < LAYOUT_SIZE; pos++) {
        b_buf[pos] ^= 0x10;
        g_assert_cmpint(qemu_iovec_compare(&a, &b), ==, pos);
        g_assert_cmpint(qemu_iovec_compare(&b, &a), ==, pos);
        b_buf[pos] ^= 0x10;
    }

    /* a shorter vector that matches differs at its end */
    qemu_iovec_init_slice(&c, &a, 0, 20);
    g_assert_cmpint(qemu_iovec_compare(&c, &b), ==, 20);
    g_assert_cmpint(qemu_iovec_compare(&b, &c), ==, 20);
    qemu_iovec_destroy(&c);

    qemu_iovec_destroy(&a);
    qemu_iovec_destroy(&b);
}

static void test_clone_discard(void)
{
    unsigned char src_buf[LAYOUT_SIZE], clone_buf[LAYOUT_SIZE];
    QEMUIOVector src, dst;

    init_layout(&src, src_buf);
    qemu_iovec_init(&dst, 1);
    qemu_iovec_add(&dst, src_buf, 1);       /* replaced by the clone */
    qemu_iovec_clone(&dst, &src, clone_buf);
    g_assert_cmpint(dst.niov, ==, src.niov);
    g_assert_cmpuint(dst.size, ==, src.size);
    for (int i = 0, off = 0; i < src.niov; off += src.iov[i++].iov_len) {
        g_assert_cmpuint(dst.iov[i].iov_len, ==, src.iov[i].iov_len);
        g_assert_true(dst.iov[i].iov_base == clone_buf + off);
    }

    qemu_iovec_discard_back(&dst, 10);      /* 9 + the 1 before it */
    g_assert_cmpuint(dst.size, ==, LAYOUT_SIZE - 10);
    g_assert_cmpint(dst.niov, ==, LAYOUT_N - 2);
    g_assert_cmpuint(dst.iov[dst.niov - 1].iov_len, ==, 5);
    qemu_iovec_discard_back(&dst, 0);
    g_assert_cmpuint(dst.size, ==, LAYOUT_SIZE - 10);
    qemu_iovec_discard_back(&dst, dst.size);
    g_assert_cmpuint(dst.size, ==, 0);

    qemu_iovec_destroy(&dst);
    qemu_iovec_destroy(&src);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/iov/size", test_iov_size);
    g_test_add_func("/iov/copies", test_iov_copies);
    g_test_add_func("/iov/discard", test_iov_discard);
    g_test_add_func("/iov/qiov/init-buf", test_init_buf);
    g_test_add_func("/iov/qiov/init-add-concat", test_init_add_concat);
    g_test_add_func("/iov/qiov/slice", test_slice);
    g_test_add_func("/iov/qiov/init-extended", test_init_extended);
    g_test_add_func("/iov/qiov/is-zero", test_is_zero);
    g_test_add_func("/iov/qiov/compare", test_compare);
    g_test_add_func("/iov/qiov/clone-discard", test_clone_discard);
    return g_test_run();
}

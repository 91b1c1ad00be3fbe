/*
 * Unit tests for the hierarchical bitmap: a naive byte-per-bit model over a
 * million random operations, boundaries, huge sizes, merge, resize, hashing.
 */
#include "strata/osdep.h"
#include "util/hbitmap.h"

/* ---- a naive model: one byte per bit ---- */

typedef struct Model {
    uint64_t size;          /* items */
    int gran;
    uint64_t bits;
    uint8_t *b;
} Model;

static Model *model_new(uint64_t size, int gran)
{
    Model *m = g_new0(Model, 1);

    m->size = size;
    m->gran = gran;
    m->bits = (size + (1ULL << gran) - 1) >> gran;
    m->b = g_malloc0(m->bits ? m->bits : 1);
    return m;
}

static void model_free(Model *m)
{
    g_free(m->b);
    g_free(m);
}

static void model_fill(Model *m, uint64_t start, uint64_t count, uint8_t v)
{
    uint64_t end;

    if (!count || start >= m->size) {
        return;
    }
    end = MIN(start + count, m->size);
    for (uint64_t i = start >> m->gran; i <= (end - 1) >> m->gran; i++) {
        m->b[i] = v;
    }
}

static bool model_get(Model *m, uint64_t item)
{
    return item < m->size && m->b[item >> m->gran];
}

static uint64_t model_count(Model *m)
{
    uint64_t n = 0;

    for (uint64_t i = 0; i < m->bits; i++) {
        n += m->b[i];
    }
    return n << m->gran;
}

static int64_t model_next(Model *m, int64_t start, int64_t count, bool dirty)
{
    uint64_t end;

    if ((uint64_t)start >= m->size || !count) {
        return -1;
    }
    end = MIN((uint64_t)start + count, m->size);
    for (uint64_t i = start >> m->gran; i <= (end - 1) >> m->gran; i++) {
        if (!!m->b[i] == dirty) {
            return MAX((uint64_t)start, i << m->gran);
        }
    }
    return -1;
}

/* Compare every bit, the count and the serialised form. */
static void assert_same(HBitmap *hb, Model *m)
{
    g_assert_cmpuint(hbitmap_size(hb), ==, m->size);
    g_assert_cmpuint(hbitmap_count(hb), ==, model_count(m));
    for (uint64_t i = 0; i < m->bits; i++) {
        if (hbitmap_get(hb, i << m->gran) != !!m->b[i]) {
            g_error("bit %" PRIu64 ": bitmap %d, model %d", i,
                    hbitmap_get(hb, i << m->gran), m->b[i]);
        }
    }
    if (m->size) {
        uint64_t n = hbitmap_serialization_size(hb, 0, m->size);
        g_autofree uint8_t *buf = g_malloc(n);

        hbitmap_serialize_part(hb, buf, 0, m->size);
        for (uint64_t i = 0; i < n * 8; i++) {
            bool bit = (buf[i / 8] >> (i % 8)) & 1;

            g_assert_cmpint(bit, ==, i < m->bits ? m->b[i] : 0);
        }
    }
}

/*
 * Walk every dirty and clean run with the searches, which trust the
 * summary levels: a summary bit missing or left over shows up here.
 */
static void assert_searches(HBitmap *hb, Model *m)
{
    int64_t pos = 0;
    bool dirty = false;

    while (pos >= 0 && (uint64_t)pos < m->size) {
        int64_t got = dirty ? hbitmap_next_zero(hb, pos, INT64_MAX)
                            : hbitmap_next_dirty(hb, pos, INT64_MAX);
        int64_t want = model_next(m, pos, INT64_MAX, !dirty);

        g_assert_cmpint(got, ==, want);
        pos = got;
        dirty = !dirty;
    }
}

/* ---- tests ---- */

static void test_empty_and_tiny(void)
{
    static const uint64_t sizes[] = { 0, 1, 63, 64, 65, 4095, 4096, 4097,
                                      262143, 262144, 262145 };

    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        HBitmap *hb = hbitmap_alloc(sizes[i], 0);
        uint64_t last = sizes[i] ? sizes[i] - 1 : 0;

        g_assert_cmpuint(hbitmap_count(hb), ==, 0);
        g_assert_cmpint(hbitmap_next_dirty(hb, 0, INT64_MAX), ==, -1);
        g_assert_cmpint(hbitmap_next_zero(hb, 0, INT64_MAX), ==,
                        sizes[i] ? 0 : -1);
        if (sizes[i]) {
            hbitmap_set(hb, last, 1);
            g_assert_true(hbitmap_get(hb, last));
            g_assert_false(hbitmap_get(hb, sizes[i]));
            g_assert_cmpuint(hbitmap_count(hb), ==, 1);
            g_assert_cmpint(hbitmap_next_dirty(hb, 0, INT64_MAX), ==, last);
            g_assert_cmpint(hbitmap_next_dirty(hb, 0, last), ==, -1);
            g_assert_cmpint(hbitmap_next_zero(hb, last, INT64_MAX), ==, -1);
            /* Out-of-range parts are ignored, not fatal. */
            hbitmap_set(hb, sizes[i], 100);
            hbitmap_set(hb, last, UINT64_MAX - last);
            g_assert_cmpuint(hbitmap_count(hb), ==, 1);
            hbitmap_set(hb, 0, sizes[i]);
            g_assert_cmpuint(hbitmap_count(hb), ==, sizes[i]);
            g_assert_cmpint(hbitmap_next_zero(hb, 0, INT64_MAX), ==, -1);
            hbitmap_reset(hb, 0, sizes[i]);
            g_assert_cmpuint(hbitmap_count(hb), ==, 0);
            g_assert_cmpint(hbitmap_next_dirty(hb, 0, INT64_MAX), ==, -1);
        }
        hbitmap_free(hb);
    }
}

static void test_granularity_rounding(void)
{
    /* 10000 bytes at 4 KiB: 3 bits, the last one partial. */
    HBitmap *hb = hbitmap_alloc(10000, 12);
    int64_t start, count;

    hbitmap_set(hb, 4095, 2);           /* touches bits 0 and 1 */
    g_assert_cmpuint(hbitmap_count(hb), ==, 8192);
    g_assert_true(hbitmap_get(hb, 0));
    g_assert_true(hbitmap_get(hb, 8191));
    g_assert_false(hbitmap_get(hb, 8192));
    g_assert_cmpint(hbitmap_next_dirty(hb, 100, 1000), ==, 100);
    g_assert_cmpint(hbitmap_next_zero(hb, 100, INT64_MAX), ==, 8192);
    g_assert_cmpint(hbitmap_next_zero(hb, 9000, 10), ==, 9000);
    g_assert_true(hbitmap_next_dirty_area(hb, 0, INT64_MAX, INT64_MAX,
                                          &start, &count));
    g_assert_cmpint(start, ==, 0);
    g_assert_cmpint(count, ==, 8192);
    g_assert_true(hbitmap_next_dirty_area(hb, 5000, 6000, 100, &start,
                                          &count));
    g_assert_cmpint(start, ==, 5000);
    g_assert_cmpint(count, ==, 100);
    /* The partial last bit counts a whole granule. */
    hbitmap_set(hb, 9999, 1);
    g_assert_cmpuint(hbitmap_count(hb), ==, 3 * 4096);
    g_assert_true(hbitmap_next_dirty_area(hb, 8192, INT64_MAX, INT64_MAX,
                                          &start, &count));
    g_assert_cmpint(start, ==, 8192);
    g_assert_cmpint(count, ==, 10000 - 8192);
    /* Resetting a byte clears the whole bit it falls in. */
    hbitmap_reset(hb, 4096, 1);
    g_assert_false(hbitmap_get(hb, 8191));
    g_assert_cmpuint(hbitmap_count_between(hb, 0, 10000), ==, 2 * 4096);
    g_assert_cmpuint(hbitmap_count_between(hb, 4096, 4096), ==, 0);
    hbitmap_free(hb);
}

static void test_status(void)
{
    HBitmap *hb = hbitmap_alloc(1 * MiB, 16);
    int64_t pnum;

    hbitmap_set(hb, 128 * KiB, 64 * KiB);
    g_assert_false(hbitmap_status(hb, 0, 1 * MiB, &pnum));
    g_assert_cmpint(pnum, ==, 128 * KiB);
    g_assert_true(hbitmap_status(hb, 130 * KiB, 1 * MiB - 130 * KiB, &pnum));
    g_assert_cmpint(pnum, ==, 62 * KiB);
    g_assert_false(hbitmap_status(hb, 192 * KiB, 10, &pnum));
    g_assert_cmpint(pnum, ==, 10);
    g_assert_true(hbitmap_status(hb, 128 * KiB, 10, &pnum));
    g_assert_cmpint(pnum, ==, 10);
    hbitmap_free(hb);
}

/* A million random operations against the naive model. */
static void test_random_model(void)
{
    static const int grans[] = { 0, 3, 9 };
    GRand *rand = g_rand_new_with_seed(0x5eed);
    const int ops = 1000000;

    for (size_t gi = 0; gi < ARRAY_SIZE(grans); gi++) {
        int g = grans[gi];
        /* About 40000 bits, not a multiple of a word. */
        uint64_t size = (UINT64_C(40000) << g) - 7;
        HBitmap *hb = hbitmap_alloc(size, g);
        Model *m = model_new(size, g);

        for (int i = 0; i < ops / (int)ARRAY_SIZE(grans); i++) {
            int op = g_rand_int_range(rand, 0, 100);
            uint64_t start = g_rand_int_range(rand, 0, size + 16);
            uint64_t len = (uint64_t)g_rand_int_range(rand, 0, 1 << 10)
                           << (g_rand_boolean(rand) ? g : 0);
            int64_t a, b, r1, r2;

            if (g_rand_int_range(rand, 0, 1000) == 0) {
                len = size;     /* now and then, the whole bitmap */
            }
            if (op < 30) {
                hbitmap_set(hb, start, len);
                model_fill(m, start, len, 1);
            } else if (op < 55) {
                hbitmap_reset(hb, start, len);
                model_fill(m, start, len, 0);
            } else if (op < 70) {
                g_assert_cmpint(hbitmap_get(hb, start), ==,
                                model_get(m, start));
            } else if (op < 80) {
                g_assert_cmpint(hbitmap_next_dirty(hb, start, len), ==,
                                model_next(m, start, len, true));
            } else if (op < 90) {
                g_assert_cmpint(hbitmap_next_zero(hb, start, len), ==,
                                model_next(m, start, len, false));
            } else if (op < 99) {
                bool found = hbitmap_next_dirty_area(hb, start, start + len,
                                                     1 + len / 2, &a, &b);

                r1 = model_next(m, start, len, true);
                g_assert_cmpint(found, ==, r1 >= 0);
                if (found) {
                    int64_t end = MIN(start + len, size);

                    end = MIN(end, r1 + 1 + (int64_t)len / 2);
                    r2 = model_next(m, r1, end - r1, false);
                    g_assert_cmpint(a, ==, r1);
                    g_assert_cmpint(b, ==, (r2 < 0 ? end : r2) - r1);
                }
            } else {
                g_assert_cmpuint(hbitmap_count(hb), ==, model_count(m));
            }
        }
        assert_same(hb, m);
        hbitmap_free(hb);
        model_free(m);
    }
    g_rand_free(rand);
}

/* Big bitmaps: a TiB disk, the largest offsets. */
static void test_huge(void)
{
    HBitmap *hb = hbitmap_alloc(1 * TiB, 16);
    int64_t start, count;
    uint64_t near_end = 1 * TiB - 3 * 64 * KiB;

    /* 2^24 bits: 2 MiB of words, and the summaries on top. */
    g_assert_cmpuint(hbitmap_memory(hb), <, 2 * MiB + 64 * KiB);
    hbitmap_set(hb, near_end, 1);
    g_assert_cmpint(hbitmap_next_dirty(hb, 0, INT64_MAX), ==, near_end);
    g_assert_true(hbitmap_next_dirty_area(hb, 0, INT64_MAX, INT64_MAX,
                                          &start, &count));
    g_assert_cmpint(start, ==, near_end);
    g_assert_cmpint(count, ==, 64 * KiB);
    hbitmap_set(hb, 0, 1 * TiB);
    g_assert_cmpuint(hbitmap_count(hb), ==, 1 * TiB);
    g_assert_cmpint(hbitmap_next_zero(hb, 0, INT64_MAX), ==, -1);
    hbitmap_reset(hb, 64 * KiB, 1 * TiB - 128 * KiB);
    g_assert_cmpuint(hbitmap_count(hb), ==, 128 * KiB);
    g_assert_cmpint(hbitmap_next_dirty(hb, 1, INT64_MAX), ==, 1);
    g_assert_cmpint(hbitmap_next_dirty(hb, 64 * KiB, INT64_MAX), ==,
                    1 * TiB - 64 * KiB);
    hbitmap_free(hb);

    /* INT64_MAX items at a coarse granularity: about 2^23 bits. */
    hb = hbitmap_alloc(INT64_MAX, 40);
    hbitmap_set(hb, INT64_MAX - 1, 1);
    hbitmap_set(hb, INT64_MAX - 5, UINT64_MAX);
    g_assert_cmpuint(hbitmap_count(hb), ==, UINT64_C(1) << 40);
    g_assert_cmpint(hbitmap_next_dirty(hb, 0, INT64_MAX), ==,
                    (int64_t)(((uint64_t)INT64_MAX >> 40) << 40));
    g_assert_cmpint(hbitmap_next_dirty(hb, INT64_MAX - 1, 1), ==,
                    INT64_MAX - 1);
    g_assert_cmpint(hbitmap_next_zero(hb, INT64_MAX - 1, INT64_MAX), ==, -1);
    hbitmap_truncate(hb, 1 * TiB);
    g_assert_cmpuint(hbitmap_count(hb), ==, 0);
    hbitmap_free(hb);
}

/*
 * Merges of bitmaps with as many bits, against the model: into the first
 * operand, into the second, into a third bitmap that had bits of its own;
 * sparse and dense, so that both the summary walk over the source and the
 * summary union are exercised.
 */
static void test_merge_random(void)
{
    GRand *rng = g_rand_new_with_seed(4096);

    for (int round = 0; round < 60; round++) {
        uint64_t size = g_rand_int_range(rng, 1, 3 * 262144 + 100);
        int gran = g_rand_int_range(rng, 0, 4);
        int dense = round % 3;
        HBitmap *hb[3];
        Model *m[3], *want = model_new(size, gran);

        for (int i = 0; i < 3; i++) {
            int ops = dense ? g_rand_int_range(rng, 50, 400)
                            : g_rand_int_range(rng, 0, 6);

            hb[i] = hbitmap_alloc(size, gran);
            m[i] = model_new(size, gran);
            for (int j = 0; j < ops; j++) {
                uint64_t start = g_rand_int_range(rng, 0, size);
                uint64_t count = g_rand_int_range(rng, 1, dense == 2 ? 9000
                                                                     : 70);

                hbitmap_set(hb[i], start, count);
                model_fill(m[i], start, count, 1);
            }
        }
        for (uint64_t k = 0; k < want->bits; k++) {
            want->b[k] = m[0]->b[k] | m[1]->b[k];
        }
        switch (round % 3) {
        case 0:
            g_assert_true(hbitmap_merge(hb[0], hb[1], hb[0]));
            assert_same(hb[0], want);
            assert_searches(hb[0], want);
            break;
        case 1:
            g_assert_true(hbitmap_merge(hb[0], hb[1], hb[1]));
            assert_same(hb[1], want);
            assert_searches(hb[1], want);
            break;
        default:
            g_assert_true(hbitmap_merge(hb[0], hb[1], hb[2]));
            assert_same(hb[2], want);
            assert_searches(hb[2], want);
            break;
        }
        for (int i = 0; i < 3; i++) {
            hbitmap_free(hb[i]);
            model_free(m[i]);
        }
        model_free(want);
    }
    g_rand_free(rng);
}

/* Merge is OR of items, whatever the granularities. */
static void test_merge(void)
{
    const uint64_t size = 1 * MiB + 512;
    HBitmap *a = hbitmap_alloc(size, 9);
    HBitmap *b = hbitmap_alloc(size, 16);
    HBitmap *r = hbitmap_alloc(size, 12);
    HBitmap *same = hbitmap_alloc(size, 9);
    HBitmap *other = hbitmap_alloc(size + 512, 9);
    int64_t start, count;

    hbitmap_set(a, 1000, 1);                    /* a bit 1 */
    hbitmap_set(a, 1 * MiB, 512);               /* a's last bit */
    hbitmap_set(b, 200 * KiB, 1);               /* b bit 3 */

    /* r: bit 0 (from a), bits 48..63 (b's 64 KiB), bit 256 (a's end) */
    g_assert_true(hbitmap_merge(a, b, r));
    g_assert_cmpuint(hbitmap_count(r), ==, 18 * 4096);
    g_assert_true(hbitmap_get(r, 0));
    g_assert_true(hbitmap_get(r, 196608));      /* 64 KiB block of b */
    g_assert_true(hbitmap_get(r, 262143));
    g_assert_false(hbitmap_get(r, 262144));
    g_assert_true(hbitmap_get(r, 1 * MiB));
    /* The result keeps its own granularity. */
    g_assert_true(hbitmap_next_dirty_area(r, 4096, INT64_MAX, INT64_MAX,
                                          &start, &count));
    g_assert_cmpint(start, ==, 196608);
    g_assert_cmpint(count, ==, 65536);

    /* Into one of the operands (QEMU's dest == a case). */
    g_assert_true(hbitmap_merge(same, a, same));
    g_assert_cmpuint(hbitmap_count(same), ==, 1024);
    g_assert_true(hbitmap_merge(b, same, b));
    g_assert_cmpuint(hbitmap_count(b), ==, 3 * 65536);
    /* a: 128 + 128 bits from b's two blocks, its own last bit. */
    g_assert_true(hbitmap_merge(a, b, a));
    g_assert_cmpuint(hbitmap_count(a), ==, 257 * 512);

    /* Same granularity, distinct result: whole words. */
    hbitmap_reset_all(same);
    hbitmap_set(same, 700 * KiB, 10);
    hbitmap_free(r);
    r = hbitmap_alloc(size, 9);
    hbitmap_set(r, 900 * KiB, 1);               /* overwritten */
    g_assert_true(hbitmap_merge(a, same, r));
    g_assert_cmpuint(hbitmap_count(r), ==, hbitmap_count(a) + 512);
    g_assert_false(hbitmap_get(r, 900 * KiB));

    /* Sizes must agree; nothing changes otherwise. */
    g_assert_false(hbitmap_can_merge(a, other));
    g_assert_false(hbitmap_merge(a, other, a));
    g_assert_false(hbitmap_merge(other, a, a));

    hbitmap_free(a);
    hbitmap_free(b);
    hbitmap_free(r);
    hbitmap_free(same);
    hbitmap_free(other);
}

static void test_copy(void)
{
    HBitmap *hb = hbitmap_alloc(10 * MiB, 9);
    HBitmap *c;
    g_autofree char *h1 = NULL, *h2 = NULL;

    hbitmap_set(hb, 12345, 678910);
    c = hbitmap_copy(hb);
    h1 = hbitmap_sha256(hb, NULL);
    h2 = hbitmap_sha256(c, NULL);
    g_assert_cmpstr(h1, ==, h2);
    hbitmap_reset_all(hb);
    g_assert_cmpuint(hbitmap_count(c), ==, hbitmap_count_between(c, 0,
                                                                 10 * MiB));
    g_assert_cmpuint(hbitmap_count(c), >, 0);
    hbitmap_free(hb);
    hbitmap_free(c);
}

static void test_truncate(void)
{
    GRand *rand = g_rand_new_with_seed(42);

    for (int round = 0; round < 200; round++) {
        int g = g_rand_int_range(rand, 0, 4);
        uint64_t size = g_rand_int_range(rand, 0, 20000);
        uint64_t new_size = g_rand_int_range(rand, 0, 20000);
        HBitmap *hb = hbitmap_alloc(size, g);
        Model *m = model_new(size, g), *m2 = model_new(new_size, g);

        for (int i = 0; i < 20; i++) {
            uint64_t s = g_rand_int_range(rand, 0, size + 1);
            uint64_t l = g_rand_int_range(rand, 0, 3000);

            hbitmap_set(hb, s, l);
            model_fill(m, s, l, 1);
        }
        hbitmap_truncate(hb, new_size);
        /* Bits cut off are gone; new bits are clear. */
        memcpy(m2->b, m->b, MIN(m->bits, m2->bits));
        assert_same(hb, m2);
        /* And back: nothing reappears. */
        hbitmap_truncate(hb, size);
        memset(m->b, 0, m->bits ? m->bits : 1);
        memcpy(m->b, m2->b, MIN(m->bits, m2->bits));
        assert_same(hb, m);
        hbitmap_free(hb);
        model_free(m);
        model_free(m2);
    }
    g_rand_free(rand);
}

static void test_serialization(void)
{
    GRand *rand = g_rand_new_with_seed(7);
    const uint64_t size = 5 * MiB + 4096 + 512;   /* 10249 bits at 512 */
    HBitmap *hb = hbitmap_alloc(size, 9), *hb2 = hbitmap_alloc(size, 9);
    uint64_t align = hbitmap_serialization_align(hb);
    /* A chunk of 512 bytes covers 4096 bits (like a 512 byte cluster). */
    uint64_t chunk = 512 * 8 * (UINT64_C(1) << 9);
    uint8_t buf[4096];
    g_autofree char *h1 = NULL, *h2 = NULL;

    g_assert_cmpuint(align, ==, 64 * 512);
    g_assert_cmpuint(hbitmap_serialization_size(hb, 0, size), ==,
                     DIV_ROUND_UP(10249, 64) * 8);
    g_assert_cmpuint(hbitmap_serialization_size(hb, 0, align), ==, 8);
    g_assert_cmpuint(hbitmap_serialization_size(hb, 0, 0), ==, 0);

    /* The qcow2 layout: bit i is bit i % 8 of byte i / 8. */
    hbitmap_set(hb, 0, 1);
    hbitmap_set(hb, 9 * 512, 1);
    hbitmap_set(hb, 63 * 512, 1);
    hbitmap_set(hb, 10248 * 512, 1);
    hbitmap_serialize_part(hb, buf, 0, align);
    g_assert_cmpuint(buf[0], ==, 0x01);
    g_assert_cmpuint(buf[1], ==, 0x02);
    g_assert_cmpuint(buf[7], ==, 0x80);
    hbitmap_serialize_part(hb, buf, 10240 * 512, size - 10240 * 512);
    g_assert_cmpuint(buf[0], ==, 0x00);
    g_assert_cmpuint(buf[1], ==, 0x01);

    for (int i = 0; i < 100; i++) {
        uint64_t s = g_rand_int_range(rand, 0, size);

        hbitmap_set(hb, s, g_rand_int_range(rand, 1, 100000));
    }
    /* Round trip in cluster-sized chunks, the last one short. */
    for (uint64_t off = 0; off < size; off += chunk) {
        uint64_t n = MIN(chunk, size - off);
        uint64_t bytes = hbitmap_serialization_size(hb, off, n);

        g_assert_cmpuint(bytes, <=, sizeof(buf));
        memset(buf, 0xaa, sizeof(buf));
        hbitmap_serialize_part(hb, buf, off, n);
        hbitmap_deserialize_part(hb2, buf, off, n, false);
    }
    hbitmap_deserialize_finish(hb2);
    g_assert_cmpuint(hbitmap_count(hb2), ==, hbitmap_count(hb));
    h1 = hbitmap_sha256(hb, NULL);
    h2 = hbitmap_sha256(hb2, NULL);
    g_assert_cmpstr(h1, ==, h2);
    for (int64_t off = 0; off >= 0;) {
        int64_t n1, n2, s1, s2;
        bool f1 = hbitmap_next_dirty_area(hb, off, INT64_MAX, INT64_MAX,
                                          &s1, &n1);
        bool f2 = hbitmap_next_dirty_area(hb2, off, INT64_MAX, INT64_MAX,
                                          &s2, &n2);

        g_assert_cmpint(f1, ==, f2);
        if (!f1) {
            break;
        }
        g_assert_cmpint(s1, ==, s2);
        g_assert_cmpint(n1, ==, n2);
        off = s1 + n1;
    }

    /* Zeroes and ones for whole chunks (qcow2's unallocated entries). */
    hbitmap_deserialize_zeroes(hb2, 0, chunk, false);
    hbitmap_deserialize_ones(hb2, chunk, size - chunk, true);
    g_assert_cmpint(hbitmap_next_dirty(hb2, 0, INT64_MAX), ==, chunk);
    g_assert_cmpuint(hbitmap_count(hb2), ==, (10249 - 4096) * 512);
    g_assert_cmpint(hbitmap_next_zero(hb2, chunk, INT64_MAX), ==, -1);
    hbitmap_free(hb);
    hbitmap_free(hb2);
    g_rand_free(rand);
}

/*
 * The hash is QEMU's: SHA-256 over the lowest level as 64-bit words, so an
 * empty bitmap hashes max(1, ceil(bits / 64)) * 8 zero bytes.  The values
 * were checked against Debian's qemu-storage-daemon 7.2
 * (x-debug-block-dirty-bitmap-sha256).
 */
static void test_sha256_known(void)
{
    static const struct {
        uint64_t size;
        int gran;
        const char *hash;
    } empty[] = {
        /* One word: a 1 MiB node at 2 GiB or 64 KiB granularity. */
        { 1 * MiB, 31,
          "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc" },
        { 1 * MiB, 16,
          "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc" },
        { 0, 16,
          "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc" },
        /* 2048 bits: 32 words. */
        { 1 * MiB, 9,
          "5341e6b2646979a70e57653007a1f310169421ec9bdd9f1a5648f75ade005af1" },
    };
    /*
     * A 64 MiB qcow2 node after qemu-io "write 0 1", "write 70000 100000",
     * "write 33554432 4096", "write -z 60M 1M", "discard 10M 64k",
     * "write 67108863 1" with three enabled bitmaps.
     */
    static const struct {
        int gran;
        uint64_t count;
        const char *hash;
    } written[] = {
        { 12, 1228800,
          "cf0eb28cb967ba49e0222b235750e90faac7b6373fb9a38bf29a733395234659" },
        { 16, 1441792,
          "8a9a3edade9d49cf26a180d9ecaa360eb7d62111c8a1787661d5b8d0e820dcac" },
        { 9, 1220096,
          "d24d284f7f95a2b84b19ac7a3ce1216f7d0c16c57489815658a974d566d4b24d" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
        HBitmap *hb = hbitmap_alloc(empty[i].size, empty[i].gran);
        g_autofree char *h = hbitmap_sha256(hb, NULL);

        g_assert_cmpstr(h, ==, empty[i].hash);
        hbitmap_free(hb);
    }
    for (size_t i = 0; i < ARRAY_SIZE(written); i++) {
        HBitmap *hb = hbitmap_alloc(64 * MiB, written[i].gran);
        g_autofree char *h = NULL;

        hbitmap_set(hb, 0, 1);
        hbitmap_set(hb, 70000, 100000);
        hbitmap_set(hb, 33554432, 4096);
        hbitmap_set(hb, 60 * MiB, 1 * MiB);
        hbitmap_set(hb, 10 * MiB, 64 * KiB);
        hbitmap_set(hb, 67108863, 1);
        g_assert_cmpuint(hbitmap_count(hb), ==, written[i].count);
        h = hbitmap_sha256(hb, NULL);
        g_assert_cmpstr(h, ==, written[i].hash);
        hbitmap_free(hb);
    }
}

/*
 * Padding bits: QEMU loads whole words, so an "all ones" chunk also sets
 * the bits of the last word beyond the end.  They are hashed, never
 * counted or found, and survive as real bits when the bitmap grows.
 */
static void test_padding(void)
{
    HBitmap *hb = hbitmap_alloc(100, 0);
    HBitmap *c;
    uint8_t buf[16], ones[16];
    g_autofree char *h = NULL, *want = NULL;

    memset(ones, 0xff, sizeof(ones));
    want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, ones, 16);
    hbitmap_deserialize_ones(hb, 0, 100, true);
    g_assert_cmpuint(hbitmap_count(hb), ==, 100);
    g_assert_cmpint(hbitmap_next_zero(hb, 0, INT64_MAX), ==, -1);
    g_assert_false(hbitmap_get(hb, 100));
    h = hbitmap_sha256(hb, NULL);
    g_assert_cmpstr(h, ==, want);
    hbitmap_serialize_part(hb, buf, 64, 36);
    g_assert_cmpuint(ldq_le(buf), ==, UINT64_MAX);

    /* A copy by distinct-result merge carries them; reset_all drops them. */
    c = hbitmap_alloc(100, 0);
    {
        HBitmap *z = hbitmap_alloc(100, 0);
        g_autofree char *hc = NULL;

        g_assert_true(hbitmap_merge(hb, z, c));
        hc = hbitmap_sha256(c, NULL);
        g_assert_cmpstr(hc, ==, want);
        hbitmap_free(z);
    }
    hbitmap_reset_all(c);
    g_free(h);
    h = hbitmap_sha256(c, NULL);
    g_assert_cmpstr(h, !=, want);
    hbitmap_free(c);

    /* Clearing real bits leaves the padding alone. */
    hbitmap_reset(hb, 64, 36);
    hbitmap_serialize_part(hb, buf, 64, 36);
    g_assert_cmpuint(ldq_le(buf), ==, ~((UINT64_C(1) << 36) - 1));
    /* Growing makes them real (as in QEMU, where they sit in the word). */
    hbitmap_truncate(hb, 128);
    g_assert_cmpuint(hbitmap_count(hb), ==, 64 + 28);
    g_assert_true(hbitmap_get(hb, 127));
    g_assert_false(hbitmap_get(hb, 99));
    hbitmap_free(hb);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/hbitmap/empty-and-tiny", test_empty_and_tiny);
    g_test_add_func("/hbitmap/granularity-rounding",
                    test_granularity_rounding);
    g_test_add_func("/hbitmap/status", test_status);
    g_test_add_func("/hbitmap/random-model", test_random_model);
    g_test_add_func("/hbitmap/huge", test_huge);
    g_test_add_func("/hbitmap/merge", test_merge);
    g_test_add_func("/hbitmap/merge-random", test_merge_random);
    g_test_add_func("/hbitmap/copy", test_copy);
    g_test_add_func("/hbitmap/truncate", test_truncate);
    g_test_add_func("/hbitmap/serialization", test_serialization);
    g_test_add_func("/hbitmap/sha256-known", test_sha256_known);
    g_test_add_func("/hbitmap/padding", test_padding);
    return g_test_run();
}

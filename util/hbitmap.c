/*
 * Hierarchical bitmap: 64-bit words of bits plus summary levels marking the
 * non-zero words, for fast search, merge, resize and qcow2 serialisation.
 */
#include "strata/osdep.h"
#include "util/hbitmap.h"
#include "util/error.h"

#define WORD_BITS 64
#define WORD_SHIFT 6
/* 2^63 bits need ceil(57 / 6) + 1 levels; one spare. */
#define HB_MAX_LEVELS 12

struct HBitmap {
    uint64_t orig_size;     /* items covered */
    uint64_t size;          /* bits: ceil(orig_size / 2^granularity) */
    int granularity;
    uint64_t count;         /* set bits (below @size) */
    /*
     * Bits of the last word beyond @size.  QEMU keeps whatever a loaded
     * chunk carried there and includes it in the bitmap hash; holding them
     * apart keeps every search and count blind to them.
     */
    uint64_t pad;
    int nlevels;
    /* levels[0] holds the bits; bit w of levels[k + 1] is levels[k][w] != 0 */
    uint64_t nwords[HB_MAX_LEVELS];
    uint64_t *levels[HB_MAX_LEVELS];
};

static uint64_t bits_for(uint64_t items, int granularity)
{
    /* No overflow: items <= INT64_MAX and the addend < 2^63. */
    return (items + (UINT64_C(1) << granularity) - 1) >> granularity;
}

/* Mask of the valid bits of the last word (0 for an empty bitmap). */
static uint64_t last_word_mask(const HBitmap *hb)
{
    unsigned r = hb->size & (WORD_BITS - 1);

    if (hb->size == 0) {
        return 0;
    }
    return r ? (UINT64_C(1) << r) - 1 : ~UINT64_C(0);
}

/* Word counts per level for @bits bits; every level has at least a word. */
static int layout(uint64_t bits, uint64_t *nwords)
{
    int k = 0;
    uint64_t n = bits;

    do {
        n = MAX(DIV_ROUND_UP(n, WORD_BITS), 1);
        assert(k < HB_MAX_LEVELS);
        nwords[k++] = n;
    } while (n > 1);
    return k;
}

/* Mask of bits lo..hi (0 <= lo <= hi <= 63) of a word. */
static inline uint64_t bit_range_mask(unsigned lo, unsigned hi)
{
    return (~UINT64_C(0) << lo) & (~UINT64_C(0) >> (WORD_BITS - 1 - hi));
}

/*
 * Set bits in @x.  Without the popcnt instruction in the baseline ISA the
 * compiler's builtin is a libgcc call; the SWAR sum inlines into the loops
 * that load, merge and count whole bitmaps.
 */
static inline unsigned popcount64(uint64_t x)
{
#ifdef __POPCNT__
    return __builtin_popcountll(x);
#else
    x -= (x >> 1) & UINT64_C(0x5555555555555555);
    x = (x & UINT64_C(0x3333333333333333)) +
        ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
    return (x * UINT64_C(0x0101010101010101)) >> 56;
#endif
}

/* Set bits first..last of @words; returns how many were clear before. */
static uint64_t words_set(uint64_t *words, uint64_t first, uint64_t last)
{
    uint64_t w0 = first >> WORD_SHIFT, w1 = last >> WORD_SHIFT;
    uint64_t added = 0;

    for (uint64_t w = w0; w <= w1; w++) {
        uint64_t mask = bit_range_mask(w == w0 ? first & 63 : 0,
                                       w == w1 ? last & 63 : 63);

        added += popcount64(mask & ~words[w]);
        words[w] |= mask;
    }
    return added;
}

/* Clear bits first..last of @words; returns how many were set before. */
static uint64_t words_clear(uint64_t *words, uint64_t first, uint64_t last)
{
    uint64_t w0 = first >> WORD_SHIFT, w1 = last >> WORD_SHIFT;
    uint64_t removed = 0;

    for (uint64_t w = w0; w <= w1; w++) {
        uint64_t mask = bit_range_mask(w == w0 ? first & 63 : 0,
                                       w == w1 ? last & 63 : 63);

        removed += popcount64(mask & words[w]);
        words[w] &= ~mask;
    }
    return removed;
}

/*
 * Recompute the summary bits of leaf words w0..w1 at every level, one
 * parent word (64 children) at a time.
 */
static void refresh_summary(HBitmap *hb, uint64_t w0, uint64_t w1)
{
    for (int k = 0; k + 1 < hb->nlevels; k++) {
        const uint64_t *child = hb->levels[k];
        uint64_t *parent = hb->levels[k + 1];

        for (uint64_t p = w0 >> WORD_SHIFT; p <= w1 >> WORD_SHIFT; p++) {
            uint64_t lo = MAX(w0, p << WORD_SHIFT);
            uint64_t hi = MIN(w1, (p << WORD_SHIFT) + WORD_BITS - 1);
            uint64_t bits = 0;

            for (uint64_t w = lo; w <= hi; w++) {
                bits |= (uint64_t)(child[w] != 0) << (w & 63);
            }
            parent[p] = (parent[p] & ~bit_range_mask(lo & 63, hi & 63)) |
                        bits;
        }
        w0 >>= WORD_SHIFT;
        w1 >>= WORD_SHIFT;
    }
}

/* Rebuild every summary level and the count from the leaf words. */
static void rebuild(HBitmap *hb)
{
    for (int k = 1; k < hb->nlevels; k++) {
        memset(hb->levels[k], 0, hb->nwords[k] * sizeof(uint64_t));
    }
    hb->count = 0;
    for (uint64_t w = 0; w < hb->nwords[0]; w++) {
        hb->count += popcount64(hb->levels[0][w]);
    }
    refresh_summary(hb, 0, hb->nwords[0] - 1);
}

HBitmap *hbitmap_alloc(uint64_t size, int granularity)
{
    HBitmap *hb = g_new0(HBitmap, 1);

    assert(granularity >= 0 && granularity < 64);
    assert(size <= INT64_MAX);
    hb->orig_size = size;
    hb->granularity = granularity;
    hb->size = bits_for(size, granularity);
    hb->nlevels = layout(hb->size, hb->nwords);
    for (int k = 0; k < hb->nlevels; k++) {
        hb->levels[k] = g_new0(uint64_t, hb->nwords[k]);
    }
    return hb;
}

void hbitmap_free(HBitmap *hb)
{
    if (!hb) {
        return;
    }
    for (int k = 0; k < hb->nlevels; k++) {
        g_free(hb->levels[k]);
    }
    g_free(hb);
}

HBitmap *hbitmap_copy(const HBitmap *hb)
{
    HBitmap *c = g_memdup2(hb, sizeof(*hb));

    for (int k = 0; k < hb->nlevels; k++) {
        c->levels[k] = g_memdup2(hb->levels[k],
                                 hb->nwords[k] * sizeof(uint64_t));
    }
    return c;
}

int hbitmap_granularity(const HBitmap *hb)
{
    return hb->granularity;
}

uint64_t hbitmap_size(const HBitmap *hb)
{
    return hb->orig_size;
}

uint64_t hbitmap_count(const HBitmap *hb)
{
    return hb->count << hb->granularity;
}

size_t hbitmap_memory(const HBitmap *hb)
{
    size_t n = sizeof(*hb);

    for (int k = 0; k < hb->nlevels; k++) {
        n += hb->nwords[k] * sizeof(uint64_t);
    }
    return n;
}

/*
 * The bits [*first, *last] that items [start, start + count) touch, clipped
 * to the bitmap; false if nothing is left.
 */
static bool item_range_to_bits(const HBitmap *hb, uint64_t start,
                               uint64_t count, uint64_t *first,
                               uint64_t *last)
{
    uint64_t end;

    if (count == 0 || start >= hb->orig_size) {
        return false;
    }
    end = count > hb->orig_size - start ? hb->orig_size : start + count;
    *first = start >> hb->granularity;
    *last = (end - 1) >> hb->granularity;
    return true;
}

/* Set bits first..last of @words; returns whether any was clear before. */
static bool words_mark(uint64_t *words, uint64_t first, uint64_t last)
{
    uint64_t w0 = first >> WORD_SHIFT, w1 = last >> WORD_SHIFT;
    uint64_t fresh = 0;

    for (uint64_t w = w0; w <= w1; w++) {
        uint64_t mask = bit_range_mask(w == w0 ? first & 63 : 0,
                                       w == w1 ? last & 63 : 63);

        fresh |= mask & ~words[w];
        words[w] |= mask;
    }
    return fresh != 0;
}

void hbitmap_set(HBitmap *hb, uint64_t start, uint64_t count)
{
    uint64_t first, last, added;

    if (!item_range_to_bits(hb, start, count, &first, &last)) {
        return;
    }
    if (first == last) {
        /* One granule: the usual write; no need to count bits. */
        uint64_t *word = &hb->levels[0][first >> WORD_SHIFT];
        uint64_t bit = UINT64_C(1) << (first & 63);

        added = !(*word & bit);
        *word |= bit;
    } else {
        added = words_set(hb->levels[0], first, last);
    }
    hb->count += added;
    if (!added) {
        return;
    }
    /*
     * Every word in the range is non-zero now, and so are its ancestors.
     * Where a level already had all its bits for the range, so do the
     * levels above (they summarise it): most writes stop early, which
     * matters because every guest write marks every enabled bitmap.
     */
    for (int k = 1; k < hb->nlevels; k++) {
        first >>= WORD_SHIFT;
        last >>= WORD_SHIFT;
        if (!words_mark(hb->levels[k], first, last)) {
            break;
        }
    }
}

void hbitmap_reset(HBitmap *hb, uint64_t start, uint64_t count)
{
    uint64_t first, last, w0, w1;

    if (!item_range_to_bits(hb, start, count, &first, &last)) {
        return;
    }
    hb->count -= words_clear(hb->levels[0], first, last);
    /*
     * Words strictly inside the range are all zero now, so their summary
     * bits go without looking; the two end words may keep other bits.
     */
    w0 = first >> WORD_SHIFT;
    w1 = last >> WORD_SHIFT;
    for (int k = 0; k + 1 < hb->nlevels; k++) {
        const uint64_t *child = hb->levels[k];
        uint64_t *parent = hb->levels[k + 1];

        if (w1 > w0 + 1) {
            words_clear(parent, w0 + 1, w1 - 1);
        }
        if (!child[w0]) {
            parent[w0 >> WORD_SHIFT] &= ~(UINT64_C(1) << (w0 & 63));
        }
        if (!child[w1]) {
            parent[w1 >> WORD_SHIFT] &= ~(UINT64_C(1) << (w1 & 63));
        }
        w0 >>= WORD_SHIFT;
        w1 >>= WORD_SHIFT;
    }
}

void hbitmap_reset_all(HBitmap *hb)
{
    for (int k = 0; k < hb->nlevels; k++) {
        memset(hb->levels[k], 0, hb->nwords[k] * sizeof(uint64_t));
    }
    hb->count = 0;
    hb->pad = 0;
}

bool hbitmap_get(const HBitmap *hb, uint64_t item)
{
    uint64_t bit;

    if (item >= hb->orig_size) {
        return false;
    }
    bit = item >> hb->granularity;
    return (hb->levels[0][bit >> WORD_SHIFT] >> (bit & 63)) & 1;
}

uint64_t hbitmap_count_between(const HBitmap *hb, uint64_t start,
                               uint64_t count)
{
    uint64_t first, last, w0, w1, n = 0;

    if (!item_range_to_bits(hb, start, count, &first, &last)) {
        return 0;
    }
    w0 = first >> WORD_SHIFT;
    w1 = last >> WORD_SHIFT;
    for (uint64_t w = w0; w <= w1; w++) {
        uint64_t mask = bit_range_mask(w == w0 ? first & 63 : 0,
                                       w == w1 ? last & 63 : 63);

        n += popcount64(hb->levels[0][w] & mask);
    }
    return n << hb->granularity;
}

/*
 * The first set bit at @level with index >= @pos, or UINT64_MAX.  When the
 * word holding @pos has nothing, the level above says which word to try.
 */
static uint64_t find_set(const HBitmap *hb, int level, uint64_t pos)
{
    for (;;) {
        uint64_t w = pos >> WORD_SHIFT, word, next;

        if (w >= hb->nwords[level]) {
            return UINT64_MAX;
        }
        word = hb->levels[level][w] & (~UINT64_C(0) << (pos & 63));
        if (word) {
            return (w << WORD_SHIFT) + __builtin_ctzll(word);
        }
        if (level + 1 >= hb->nlevels) {
            return UINT64_MAX;
        }
        next = find_set(hb, level + 1, w + 1);
        if (next == UINT64_MAX) {
            return UINT64_MAX;
        }
        pos = next << WORD_SHIFT;
    }
}

int64_t hbitmap_next_dirty(const HBitmap *hb, int64_t start, int64_t count)
{
    uint64_t end, bit;
    int64_t res;

    assert(start >= 0 && count >= 0);
    if ((uint64_t)start >= hb->orig_size || count == 0) {
        return -1;
    }
    end = (uint64_t)count > hb->orig_size - start ? hb->orig_size
                                                  : (uint64_t)(start + count);
    bit = find_set(hb, 0, (uint64_t)start >> hb->granularity);
    if (bit == UINT64_MAX || bit > (end - 1) >> hb->granularity) {
        return -1;
    }
    res = (int64_t)(bit << hb->granularity);
    return MAX(start, res);
}

int64_t hbitmap_next_zero(const HBitmap *hb, int64_t start, int64_t count)
{
    uint64_t end_bit, pos, w, word;
    int64_t res;

    assert(start >= 0 && count >= 0);
    if ((uint64_t)start >= hb->orig_size || count == 0) {
        return -1;
    }
    end_bit = (uint64_t)count > hb->orig_size - start
              ? hb->size
              : ((uint64_t)(start + count - 1) >> hb->granularity) + 1;
    pos = (uint64_t)start >> hb->granularity;
    w = pos >> WORD_SHIFT;
    /*
     * Summary levels only know about set bits, so clear bits are found by
     * scanning words; a run of full words is as long as the dirty extent
     * the caller is walking anyway.
     */
    word = ~hb->levels[0][w] & (~UINT64_C(0) << (pos & 63));
    while (!word) {
        if (++w >= hb->nwords[0] || (w << WORD_SHIFT) >= end_bit) {
            return -1;
        }
        word = ~hb->levels[0][w];
    }
    pos = (w << WORD_SHIFT) + __builtin_ctzll(word);
    if (pos >= end_bit) {
        return -1;
    }
    res = (int64_t)(pos << hb->granularity);
    return MAX(start, res);
}

bool hbitmap_next_dirty_area(const HBitmap *hb, int64_t start, int64_t end,
                             int64_t max_dirty_count, int64_t *dirty_start,
                             int64_t *dirty_count)
{
    int64_t next_zero;

    assert(start >= 0 && end >= 0 && max_dirty_count > 0);
    end = MIN((uint64_t)end, hb->orig_size);
    if (start >= end) {
        return false;
    }
    start = hbitmap_next_dirty(hb, start, end - start);
    if (start < 0) {
        return false;
    }
    end = start + MIN(end - start, max_dirty_count);
    next_zero = hbitmap_next_zero(hb, start, end - start);
    if (next_zero >= 0) {
        end = next_zero;
    }
    *dirty_start = start;
    *dirty_count = end - start;
    return true;
}

bool hbitmap_status(const HBitmap *hb, int64_t start, int64_t count,
                    int64_t *pnum)
{
    int64_t next;

    assert(start >= 0 && count > 0);
    assert((uint64_t)start + count <= hb->orig_size);
    next = hbitmap_next_dirty(hb, start, count);
    if (next != start) {
        *pnum = next < 0 ? count : next - start;
        return false;
    }
    next = hbitmap_next_zero(hb, start, count);
    *pnum = next < 0 ? count : next - start;
    return true;
}

void hbitmap_truncate(HBitmap *hb, uint64_t size)
{
    uint64_t new_bits = bits_for(size, hb->granularity);
    uint64_t old_bits = hb->size;
    uint64_t nwords[HB_MAX_LEVELS];
    uint64_t old_words = hb->nwords[0];
    uint64_t mask;
    int nlevels;

    assert(size <= INT64_MAX);
    hb->orig_size = size;
    if (new_bits == old_bits) {
        return;
    }

    /*
     * As in QEMU: bits cut off are cleared, padding bits of the old last
     * word stay in the word (so growing turns them into real bits).
     */
    hb->levels[0][old_words - 1] |= hb->pad;
    hb->pad = 0;
    if (new_bits < old_bits) {
        words_clear(hb->levels[0], new_bits, old_bits - 1);
    }

    nlevels = layout(new_bits, nwords);
    for (int k = 0; k < HB_MAX_LEVELS; k++) {
        if (k >= nlevels) {
            g_free(hb->levels[k]);
            hb->levels[k] = NULL;
            hb->nwords[k] = 0;
            continue;
        }
        hb->levels[k] = g_renew(uint64_t, hb->levels[k], nwords[k]);
        if (nwords[k] > hb->nwords[k]) {
            memset(hb->levels[k] + hb->nwords[k], 0,
                   (nwords[k] - hb->nwords[k]) * sizeof(uint64_t));
        }
        hb->nwords[k] = nwords[k];
    }
    hb->nlevels = nlevels;
    hb->size = new_bits;

    mask = last_word_mask(hb);
    hb->pad = hb->levels[0][nwords[0] - 1] & ~mask;
    hb->levels[0][nwords[0] - 1] &= mask;
    rebuild(hb);
}

bool hbitmap_can_merge(const HBitmap *a, const HBitmap *b)
{
    return a->orig_size == b->orig_size;
}

/* @dst |= @src, extent by extent (any granularities). */
static void merge_sparse(HBitmap *dst, const HBitmap *src)
{
    int64_t offset = 0, count;

    while (hbitmap_next_dirty_area(src, offset, src->orig_size, INT64_MAX,
                                   &offset, &count)) {
        hbitmap_set(dst, offset, count);
        offset += count;
    }
}

/* Make @dst, of the same size in bits as @src, a copy of its bits. */
static void copy_words(HBitmap *dst, const HBitmap *src)
{
    for (int k = 0; k < src->nlevels; k++) {
        memcpy(dst->levels[k], src->levels[k],
               src->nwords[k] * sizeof(uint64_t));
    }
    dst->count = src->count;
    dst->pad = src->pad;
}

/*
 * @dst |= @src, word by word, for bitmaps of the same size in bits.  The
 * summary levels of the union are the unions of the summaries, and only
 * the leaf words @src has bits in (its first summary level lists them)
 * need touching, so a sparse source costs little however large the
 * bitmaps are.  Padding bits merge too, as QEMU's word merge does.
 */
static void merge_words(HBitmap *dst, const HBitmap *src)
{
    const uint64_t *s0 = src->levels[0];
    uint64_t *d0 = dst->levels[0];

    for (uint64_t i = 0; i < (src->nlevels > 1 ? src->nwords[1] : 1); i++) {
        uint64_t todo = src->nlevels > 1 ? src->levels[1][i]
                                         : (src->nwords[0] ? 1 : 0);

        while (todo) {
            uint64_t w = i * WORD_BITS + ctz64(todo);

            dst->count += popcount64(s0[w] & ~d0[w]);
            d0[w] |= s0[w];
            todo &= todo - 1;
        }
    }
    for (int k = 1; k < dst->nlevels; k++) {
        for (uint64_t w = 0; w < dst->nwords[k]; w++) {
            dst->levels[k][w] |= src->levels[k][w];
        }
    }
    dst->pad |= src->pad;
}

bool hbitmap_merge(const HBitmap *a, const HBitmap *b, HBitmap *result)
{
    if (!hbitmap_can_merge(a, b) || !hbitmap_can_merge(a, result)) {
        return false;
    }
    if (a->size == b->size && a->size == result->size) {
        /* As QEMU: bitmaps with as many bits merge word by word. */
        if (result == b) {
            merge_words(result, a);
        } else {
            if (result != a) {
                copy_words(result, a);
            }
            merge_words(result, b);
        }
        return true;
    }
    /* Different granularities: granule by granule, extent by extent. */
    if (result != a && result != b) {
        hbitmap_reset_all(result);
    }
    if (result != a) {
        merge_sparse(result, a);
    }
    if (result != b) {
        merge_sparse(result, b);
    }
    return true;
}

/* ---- serialisation ---- */

uint64_t hbitmap_serialization_align(const HBitmap *hb)
{
    assert(hb->granularity <= 57);
    return UINT64_C(64) << hb->granularity;
}

/* The words a chunk [start, start + count) covers; count must be > 0. */
static void serialization_chunk(const HBitmap *hb, uint64_t start,
                                uint64_t count, uint64_t *w0, uint64_t *w1)
{
    uint64_t last = start + count - 1;
    uint64_t align = hbitmap_serialization_align(hb);

    assert(QEMU_IS_ALIGNED(start, align));
    assert((last >> hb->granularity) < hb->size);
    if ((last >> hb->granularity) != hb->size - 1) {
        assert(QEMU_IS_ALIGNED(count, align));
    }
    *w0 = (start >> hb->granularity) >> WORD_SHIFT;
    *w1 = (last >> hb->granularity) >> WORD_SHIFT;
}

uint64_t hbitmap_serialization_size(const HBitmap *hb, uint64_t start,
                                    uint64_t count)
{
    uint64_t w0, w1;

    if (!count) {
        return 0;
    }
    serialization_chunk(hb, start, count, &w0, &w1);
    return (w1 - w0 + 1) * sizeof(uint64_t);
}

void hbitmap_serialize_part(const HBitmap *hb, uint8_t *buf, uint64_t start,
                            uint64_t count)
{
    uint64_t w0, w1, last = hb->nwords[0] - 1;

    if (!count) {
        return;
    }
    serialization_chunk(hb, start, count, &w0, &w1);
    for (uint64_t w = w0; w <= w1; w++) {
        stq_le(buf, hb->levels[0][w] | (w == last ? hb->pad : 0));
        buf += sizeof(uint64_t);
    }
}

/* Store @word (as loaded) into leaf word @w, splitting off padding. */
static void load_word(HBitmap *hb, uint64_t w, uint64_t word)
{
    if (w == hb->nwords[0] - 1) {
        uint64_t mask = last_word_mask(hb);

        hb->pad = word & ~mask;
        word &= mask;
    }
    if (hb->levels[0][w] != word) {
        hb->count += popcount64(word);
        hb->count -= popcount64(hb->levels[0][w]);
        hb->levels[0][w] = word;
    }
}

/* @buf NULL: every word becomes @fill. */
static void deserialize(HBitmap *hb, const uint8_t *buf, uint64_t fill,
                        uint64_t start, uint64_t count)
{
    uint64_t w0, w1;

    if (!count) {
        return;
    }
    serialization_chunk(hb, start, count, &w0, &w1);
    for (uint64_t w = w0; w <= w1; w++) {
        load_word(hb, w, buf ? ldq_le(buf + (w - w0) * 8) : fill);
    }
    refresh_summary(hb, w0, w1);
}

void hbitmap_deserialize_part(HBitmap *hb, const uint8_t *buf, uint64_t start,
                              uint64_t count, bool finish)
{
    deserialize(hb, buf, 0, start, count);
    if (finish) {
        hbitmap_deserialize_finish(hb);
    }
}

void hbitmap_deserialize_zeroes(HBitmap *hb, uint64_t start, uint64_t count,
                                bool finish)
{
    deserialize(hb, NULL, 0, start, count);
    if (finish) {
        hbitmap_deserialize_finish(hb);
    }
}

void hbitmap_deserialize_ones(HBitmap *hb, uint64_t start, uint64_t count,
                              bool finish)
{
    deserialize(hb, NULL, ~UINT64_C(0), start, count);
    if (finish) {
        hbitmap_deserialize_finish(hb);
    }
}

void hbitmap_deserialize_finish(HBitmap *hb)
{
    /* Summary levels and count are maintained chunk by chunk. */
}

char *hbitmap_sha256(const HBitmap *hb, Error **errp)
{
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    uint64_t last = hb->nwords[0] - 1;
    uint8_t buf[512];
    size_t n = 0;
    char *hex;

    for (uint64_t w = 0; w <= last; w++) {
        stq_le(buf + n, hb->levels[0][w] | (w == last ? hb->pad : 0));
        n += sizeof(uint64_t);
        if (n == sizeof(buf) || w == last) {
            g_checksum_update(sum, buf, n);
            n = 0;
        }
    }
    hex = g_strdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    return hex;
}

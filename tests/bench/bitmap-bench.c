/*
 * bitmap-bench: the hierarchical dirty bitmap (util/hbitmap.c) against a
 * naive flat bit array on the same work, for a bitmap covering 1 TiB.
 *
 * Cases: marking one million random 4 KiB writes; iterating every dirty
 * extent afterwards; iterating a sparse bitmap (a thousand writes), where
 * the upper levels let the hierarchical bitmap skip clean areas; and the
 * memory of a 1 TiB bitmap at 64 KiB granularity.  Both bitmaps must end
 * with the same bits and extents (checked; a mismatch exits 1).
 *
 * Prints the median of several rounds per case, and the ratio
 * naive / hbitmap (above 1: the hierarchical bitmap is faster).
 *
 *   build/tests/bench/bitmap-bench [ROUNDS] [WRITES]
 */
#include "strata/osdep.h"
#include <malloc.h>
#include "util/hbitmap.h"

#define TIB (UINT64_C(1) << 40)
#define WRITE_SIZE 4096

/* ---- the naive model: one bit per granule, plain word scans ---- */

typedef struct FlatBitmap {
    uint64_t *words;
    uint64_t bits;
    int shift;          /* log2(granularity) */
} FlatBitmap;

static void flat_init(FlatBitmap *f, uint64_t size, int shift)
{
    f->shift = shift;
    f->bits = (size + (UINT64_C(1) << shift) - 1) >> shift;
    f->words = g_new0(uint64_t, (f->bits + 63) / 64);
}

static void flat_set(FlatBitmap *f, uint64_t offset, uint64_t bytes)
{
    for (uint64_t b = offset >> f->shift;
         b <= (offset + bytes - 1) >> f->shift; b++) {
        f->words[b / 64] |= UINT64_C(1) << (b % 64);
    }
}

static bool flat_get(const FlatBitmap *f, uint64_t bit)
{
    return f->words[bit / 64] & (UINT64_C(1) << (bit % 64));
}

/* Every dirty extent, in bytes; returns how many and their total. */
static uint64_t flat_extents(const FlatBitmap *f, uint64_t *total)
{
    uint64_t n = 0, bit = 0;

    *total = 0;
    while (bit < f->bits) {
        uint64_t start;

        if (!f->words[bit / 64] && bit % 64 == 0) {
            bit += 64;
            continue;
        }
        if (!flat_get(f, bit)) {
            bit++;
            continue;
        }
        start = bit;
        while (bit < f->bits && flat_get(f, bit)) {
            bit++;
        }
        n++;
        *total += (bit - start) << f->shift;
    }
    return n;
}

/* ---- the hierarchical bitmap on the same work ---- */

static uint64_t hb_extents(const HBitmap *hb, uint64_t size, uint64_t *total)
{
    int64_t start = 0, dstart, dcount;
    uint64_t n = 0;

    *total = 0;
    while (hbitmap_next_dirty_area(hb, start, size, INT64_MAX, &dstart,
                                   &dcount)) {
        n++;
        *total += dcount;
        start = dstart + dcount;
    }
    return n;
}

/* ---- timing ---- */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const char *what, double naive, double hier)
{
    printf("%-44s %10.2f ms %10.2f ms %8.2fx\n", what, naive * 1e3,
           hier * 1e3, naive / hier);
}

/* The same seeded offsets for both bitmaps. */
static uint64_t *random_offsets(uint64_t count, uint32_t seed)
{
    uint64_t *off = g_new(uint64_t, count);
    GRand *rng = g_rand_new_with_seed(seed);

    for (uint64_t i = 0; i < count; i++) {
        uint64_t block = ((uint64_t)g_rand_int(rng) << 32 |
                          g_rand_int(rng)) % (TIB / WRITE_SIZE);
        off[i] = block * WRITE_SIZE;
    }
    g_rand_free(rng);
    return off;
}

/* Mark @count writes, then list the extents; check that both agree. */
static void run_case(const char *name, int shift, uint64_t count, int rounds)
{
    g_autofree uint64_t *off = random_offsets(count, 20190418);
    g_autofree double *t_mark_n = g_new(double, rounds);
    g_autofree double *t_mark_h = g_new(double, rounds);
    g_autofree double *t_iter_n = g_new(double, rounds);
    g_autofree double *t_iter_h = g_new(double, rounds);
    uint64_t n_ext = 0, h_ext = 0, n_total = 0, h_total = 0;
    char what[80];

    for (int r = 0; r < rounds; r++) {
        FlatBitmap flat;
        HBitmap *hb;
        double t;

        flat_init(&flat, TIB, shift);
        hb = hbitmap_alloc(TIB, shift);

        t = now();
        for (uint64_t i = 0; i < count; i++) {
            flat_set(&flat, off[i], WRITE_SIZE);
        }
        t_mark_n[r] = now() - t;
        t = now();
        for (uint64_t i = 0; i < count; i++) {
            hbitmap_set(hb, off[i], WRITE_SIZE);
        }
        t_mark_h[r] = now() - t;

        t = now();
        n_ext = flat_extents(&flat, &n_total);
        t_iter_n[r] = now() - t;
        t = now();
        h_ext = hb_extents(hb, TIB, &h_total);
        t_iter_h[r] = now() - t;

        if (n_ext != h_ext || n_total != h_total ||
            hbitmap_count(hb) != n_total) {
            fprintf(stderr, "MISMATCH: naive %" PRIu64 " extents / %" PRIu64
                    " bytes, hbitmap %" PRIu64 " / %" PRIu64 "\n",
                    n_ext, n_total, h_ext, h_total);
            exit(1);
        }
        hbitmap_free(hb);
        g_free(flat.words);
    }
    snprintf(what, sizeof(what), "%s: mark %" PRIu64 " writes", name, count);
    report(what, median(t_mark_n, rounds), median(t_mark_h, rounds));
    snprintf(what, sizeof(what), "%s: iterate %" PRIu64 " extents", name,
             n_ext);
    report(what, median(t_iter_n, rounds), median(t_iter_h, rounds));
}

static void memory_case(void)
{
    struct mallinfo2 before = mallinfo2(), after;
    HBitmap *hb = hbitmap_alloc(TIB, 16);
    uint64_t flat = TIB / 65536 / 8;

    after = mallinfo2();
    printf("1 TiB at 64 KiB granularity: flat bits %" PRIu64 " KiB, "
           "hbitmap %zu KiB (heap grew by %zu KiB), overhead %.2f%%\n",
           flat / 1024, hbitmap_memory(hb) / 1024,
           (after.uordblks + after.hblkhd - before.uordblks -
            before.hblkhd) / 1024,
           100.0 * ((double)hbitmap_memory(hb) - flat) / flat);
    hbitmap_free(hb);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    uint64_t writes = argc > 2 ? strtoull(argv[2], NULL, 0) : 1000000;

    if (rounds < 1 || !writes) {
        fprintf(stderr, "usage: %s [ROUNDS] [WRITES]\n", argv[0]);
        return 1;
    }
    printf("Bitmaps covering 1 TiB, random %d KiB writes, median of %d "
           "rounds\n", WRITE_SIZE / 1024, rounds);
    printf("%-44s %13s %13s %9s\n", "case", "naive", "hbitmap",
           "ratio");
    run_case("64 KiB granules", 16, writes, rounds);
    run_case("4 KiB granules", 12, writes, rounds);
    run_case("64 KiB granules, sparse", 16, 1000, rounds);
    memory_case();
    return 0;
}

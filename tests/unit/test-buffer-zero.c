/*
 * Unit tests for util/buffer-zero.c: every implementation, every length up
 * to 600, a nonzero byte at each position, at many alignments.
 */
#include "strata/osdep.h"
#include "util/buffer-zero.h"

#define MAX_LEN 600
#define MAX_SHIFT 64
/* Guard bytes around the range tested, nonzero so over-reads show */
#define GUARD 64

static unsigned char *arena;

/* A buffer of @len zero bytes at @shift from a 64-byte boundary. */
static unsigned char *zero_range(size_t shift, size_t len)
{
    unsigned char *p = arena + GUARD + shift;

    memset(arena, 0xa5, GUARD + MAX_SHIFT + MAX_LEN + GUARD);
    memset(p, 0, len);
    return p;
}

static void check_impl(BufferZeroImpl impl)
{
    if (!buffer_zero_select(impl)) {
        g_test_skip("not supported by this CPU");
        return;
    }
    for (size_t shift = 0; shift < MAX_SHIFT; shift++) {
        for (size_t len = 0; len <= MAX_LEN; len++) {
            unsigned char *p = zero_range(shift, len);

            if (!buffer_is_zero(p, len)) {
                g_error("impl %d: zero buffer len %zu shift %zu reported "
                        "nonzero", impl, len, shift);
            }
            for (size_t pos = 0; pos < len; pos++) {
                /* vary the nonzero value, including the top bit alone */
                p[pos] = (pos % 3 == 0) ? 0x80 : (pos % 3 == 1) ? 1 : 0xff;
                if (buffer_is_zero(p, len)) {
                    g_error("impl %d: byte %zu of len %zu shift %zu missed",
                            impl, pos, len, shift);
                }
                p[pos] = 0;
            }
        }
    }
    buffer_zero_select(BUFFER_ZERO_BEST);
}

static void test_scalar(void)
{
    check_impl(BUFFER_ZERO_SCALAR);
}

static void test_sse2(void)
{
    check_impl(BUFFER_ZERO_SSE2);
}

static void test_avx2(void)
{
    check_impl(BUFFER_ZERO_AVX2);
}

static void test_best(void)
{
    check_impl(BUFFER_ZERO_BEST);
}

/* Random lengths and offsets in a large buffer, each implementation */
static void test_random(void)
{
    size_t size = 4 * MiB;
    g_autofree unsigned char *big = g_malloc0(size);
    GRand *rand = g_rand_new_with_seed(1234);
    static const BufferZeroImpl impls[] = {
        BUFFER_ZERO_SCALAR, BUFFER_ZERO_SSE2, BUFFER_ZERO_AVX2,
        BUFFER_ZERO_BEST,
    };

    for (size_t i = 0; i < ARRAY_SIZE(impls); i++) {
        if (!buffer_zero_select(impls[i])) {
            continue;
        }
        g_assert_true(buffer_is_zero(big, size));
        for (int n = 0; n < 2000; n++) {
            size_t off = g_rand_int_range(rand, 0, size);
            size_t len = g_rand_int_range(rand, 0, size - off + 1);
            size_t pos;

            g_assert_true(buffer_is_zero(big + off, len));
            if (!len) {
                continue;
            }
            pos = off + g_rand_int_range(rand, 0, len);
            big[pos] = 1 + g_rand_int_range(rand, 0, 255);
            g_assert_false(buffer_is_zero(big + off, len));
            big[pos] = 0;
        }
    }
    buffer_zero_select(BUFFER_ZERO_BEST);
    g_rand_free(rand);
}

static void test_select(void)
{
    g_assert_true(buffer_zero_select(BUFFER_ZERO_SCALAR));
    g_assert_true(buffer_zero_select(BUFFER_ZERO_BEST));
    g_assert_true(buffer_is_zero("", 0));
    g_assert_true(buffer_is_zero(NULL, 0));
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    arena = qemu_memalign(64, GUARD + MAX_SHIFT + MAX_LEN + GUARD);
    g_test_add_func("/buffer-zero/scalar", test_scalar);
    g_test_add_func("/buffer-zero/sse2", test_sse2);
    g_test_add_func("/buffer-zero/avx2", test_avx2);
    g_test_add_func("/buffer-zero/best", test_best);
    g_test_add_func("/buffer-zero/random", test_random);
    g_test_add_func("/buffer-zero/select", test_select);
    ret = g_test_run();
    qemu_vfree(arena);
    return ret;
}

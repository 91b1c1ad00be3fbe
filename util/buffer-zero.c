/*
 * Zero detection for buffers: a portable word-at-a-time version, SSE2 and
 * AVX2 versions for x86, and a runtime choice between them.
 */
#include "strata/osdep.h"
#include "util/buffer-zero.h"

#if defined(__x86_64__) || defined(__i386__)
#define BUFFER_ZERO_X86 1
#include <immintrin.h>
#endif

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Lengths of 1..7 bytes */
static bool short_is_zero(const unsigned char *p, size_t len)
{
    unsigned char acc = 0;

    for (size_t i = 0; i < len; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

/*
 * Words of 8 bytes: the first and last (possibly unaligned, possibly
 * overlapping the middle) words, and the aligned words between them,
 * checked 64 bytes at a time so a nonzero buffer is rejected early.
 */
static bool buffer_zero_scalar(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    const unsigned char *end = p + len;
    const unsigned char *w, *wend;
    uint64_t acc;

    if (len < 8) {
        return short_is_zero(p, len);
    }
    if (load64(p) | load64(end - 8)) {
        return false;
    }
    w = (const unsigned char *)QEMU_ALIGN_UP((uintptr_t)p, 8);
    wend = (const unsigned char *)QEMU_ALIGN_DOWN((uintptr_t)end, 8);
    while (wend - w >= 64) {
        acc = load64(w) | load64(w + 8) | load64(w + 16) | load64(w + 24) |
              load64(w + 32) | load64(w + 40) | load64(w + 48) |
              load64(w + 56);
        if (acc) {
            return false;
        }
        w += 64;
    }
    for (acc = 0; w < wend; w += 8) {
        acc |= load64(w);
    }
    return acc == 0;
}

#ifdef BUFFER_ZERO_X86

static inline bool sse2_is_zero(__m128i v)
{
    return _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) ==
           0xFFFF;
}

/*
 * For len >= 64: unaligned first and last 16 bytes, then the aligned
 * 16-byte vectors between them, 64 bytes per test.
 */
static bool buffer_zero_sse2(const void *buf, size_t len)
{
    const char *p = buf;
    const char *end = p + len;
    const __m128i *v, *vend;
    __m128i acc;

    if (len < 64) {
        return buffer_zero_scalar(buf, len);
    }
    acc = _mm_or_si128(_mm_loadu_si128((const __m128i *)p),
                       _mm_loadu_si128((const __m128i *)(end - 16)));
    if (!sse2_is_zero(acc)) {
        return false;
    }
    v = (const __m128i *)QEMU_ALIGN_UP((uintptr_t)p, 16);
    vend = (const __m128i *)QEMU_ALIGN_DOWN((uintptr_t)end, 16);
    while (vend - v >= 4) {
        acc = _mm_or_si128(_mm_or_si128(v[0], v[1]),
                           _mm_or_si128(v[2], v[3]));
        if (!sse2_is_zero(acc)) {
            return false;
        }
        v += 4;
    }
    for (acc = _mm_setzero_si128(); v < vend; v++) {
        acc = _mm_or_si128(acc, *v);
    }
    return sse2_is_zero(acc);
}

/* As the SSE2 version with 32-byte vectors, 128 bytes per test. */
__attribute__((target("avx2")))
static bool buffer_zero_avx2(const void *buf, size_t len)
{
    const char *p = buf;
    const char *end = p + len;
    const __m256i *v, *vend;
    __m256i acc;

    if (len < 256) {
        return buffer_zero_sse2(buf, len);
    }
    acc = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)p),
                          _mm256_loadu_si256((const __m256i *)(end - 32)));
    if (!_mm256_testz_si256(acc, acc)) {
        return false;
    }
    v = (const __m256i *)QEMU_ALIGN_UP((uintptr_t)p, 32);
    vend = (const __m256i *)QEMU_ALIGN_DOWN((uintptr_t)end, 32);
    while (vend - v >= 4) {
        acc = _mm256_or_si256(_mm256_or_si256(v[0], v[1]),
                              _mm256_or_si256(v[2], v[3]));
        if (!_mm256_testz_si256(acc, acc)) {
            return false;
        }
        v += 4;
    }
    for (acc = _mm256_setzero_si256(); v < vend; v++) {
        acc = _mm256_or_si256(acc, *v);
    }
    return _mm256_testz_si256(acc, acc);
}

#endif /* BUFFER_ZERO_X86 */

typedef bool BufferZeroFn(const void *buf, size_t len);

/*
 * The implementation in use.  Chosen once at startup from the CPU's
 * features (and changed only by buffer_zero_select() in tests).
 */
static BufferZeroFn *buffer_zero_fn = buffer_zero_scalar;

static BufferZeroFn *buffer_zero_impl(BufferZeroImpl impl)
{
    switch (impl) {
    case BUFFER_ZERO_SCALAR:
        return buffer_zero_scalar;
#ifdef BUFFER_ZERO_X86
    case BUFFER_ZERO_SSE2:
        return __builtin_cpu_supports("sse2") ? buffer_zero_sse2 : NULL;
    case BUFFER_ZERO_AVX2:
        return __builtin_cpu_supports("avx2") ? buffer_zero_avx2 : NULL;
    case BUFFER_ZERO_BEST:
        if (__builtin_cpu_supports("avx2")) {
            return buffer_zero_avx2;
        }
        if (__builtin_cpu_supports("sse2")) {
            return buffer_zero_sse2;
        }
        return buffer_zero_scalar;
#else
    case BUFFER_ZERO_BEST:
        return buffer_zero_scalar;
    default:
        return NULL;
#endif
    }
    return NULL;
}

__attribute__((constructor))
static void buffer_zero_init(void)
{
#ifdef BUFFER_ZERO_X86
    __builtin_cpu_init();
#endif
    buffer_zero_fn = buffer_zero_impl(BUFFER_ZERO_BEST);
}

bool buffer_zero_select(BufferZeroImpl impl)
{
    BufferZeroFn *fn = buffer_zero_impl(impl);

    if (!fn) {
        return false;
    }
    buffer_zero_fn = fn;
    return true;
}

bool buffer_is_zero(const void *buf, size_t len)
{
    if (len == 0) {
        return true;
    }
    /* Most non-zero buffers differ in their first byte: skip the call */
    if (((const unsigned char *)buf)[0]) {
        return false;
    }
    return buffer_zero_fn(buf, len);
}

/*
 * Fast test for all-zero memory (zero detection on writes, sparse copies),
 * vectorised with SSE2, and AVX2 where the CPU has it.
 */
#ifndef UTIL_BUFFER_ZERO_H
#define UTIL_BUFFER_ZERO_H

#include "strata/osdep.h"

/*
 * True if the @len bytes at @buf are all zero (true for @len 0).  Any
 * length and alignment; reads only the bytes in the range.  Returns as
 * soon as it finds a nonzero block, so non-zero data is cheap to reject.
 */
bool buffer_is_zero(const void *buf, size_t len);

/* Implementations, for tests and benchmarks. */
typedef enum BufferZeroImpl {
    BUFFER_ZERO_SCALAR,     /* 8 bytes at a time, any CPU */
    BUFFER_ZERO_SSE2,       /* x86-64 baseline */
    BUFFER_ZERO_AVX2,
    BUFFER_ZERO_BEST,       /* what buffer_is_zero() picks by default */
} BufferZeroImpl;

/*
 * Make buffer_is_zero() use @impl.  Returns false (and changes nothing)
 * if this CPU or build lacks it.  Not thread-safe: call it only while no
 * other thread uses buffer_is_zero().
 */
bool buffer_zero_select(BufferZeroImpl impl);

#endif

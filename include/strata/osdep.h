/*
 * Common includes and small macros used by every Strata source file.
 * Include this first in every .c file.
 */
#ifndef STRATA_OSDEP_H
#define STRATA_OSDEP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib.h>

#include "config-host.h"

typedef struct Error Error;

/* Marks functions that may only be called from coroutine context. */
#define coroutine_fn

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#ifndef container_of
#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))

#define QEMU_IS_ALIGNED(n, m) (((n) % (m)) == 0)
#define QEMU_ALIGN_DOWN(n, m) ((n) / (m) * (m))
#define QEMU_ALIGN_UP(n, m) QEMU_ALIGN_DOWN((n) + (m) - 1, (m))
#define QEMU_PTR_IS_ALIGNED(p, n) QEMU_IS_ALIGNED((uintptr_t)(p), (n))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ROUND_UP(n, d) (((n) + (d) - 1) & -(0 ? (n) : (d)))

#define STRATA_NORETURN __attribute__((noreturn))
#define STRATA_PRINTF(fmt_idx, arg_idx) \
    __attribute__((format(printf, fmt_idx, arg_idx)))
#define STRATA_WARN_UNUSED __attribute__((warn_unused_result))

#define BDRV_SECTOR_BITS 9
#define BDRV_SECTOR_SIZE (1ULL << BDRV_SECTOR_BITS)

#define KiB (INT64_C(1) << 10)
#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)
#define TiB (INT64_C(1) << 40)
#define PiB (INT64_C(1) << 50)
#define EiB (INT64_C(1) << 60)

#define STRATA_VERSION_STRING "0.1.0"
/* The QEMU release whose interfaces Strata reproduces. */
#define STRATA_QEMU_API_VERSION "7.2.0"

static inline bool is_power_of_2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static inline int ctz64(uint64_t v)
{
    return v ? __builtin_ctzll(v) : 64;
}

static inline int clz64(uint64_t v)
{
    return v ? __builtin_clzll(v) : 64;
}

static inline uint64_t pow2floor(uint64_t v)
{
    return v ? UINT64_C(1) << (63 - clz64(v)) : 0;
}

static inline uint64_t pow2ceil(uint64_t v)
{
    if (v <= 1) {
        return 1;
    }
    return UINT64_C(1) << (64 - clz64(v - 1));
}

#include <endian.h>

/* Unaligned big-endian loads and stores (on-disk formats). */
static inline uint16_t lduw_be(const void *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return be16toh(v);
}

static inline uint32_t ldl_be(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return be32toh(v);
}

static inline uint64_t ldq_be(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return be64toh(v);
}

static inline void stw_be(void *p, uint16_t v)
{
    v = htobe16(v);
    memcpy(p, &v, sizeof(v));
}

static inline void stl_be(void *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, sizeof(v));
}

static inline void stq_be(void *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, sizeof(v));
}

static inline uint32_t ldl_le(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return le32toh(v);
}

static inline uint64_t ldq_le(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return le64toh(v);
}

static inline void stl_le(void *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof(v));
}

static inline void stq_le(void *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof(v));
}

/* Allocate memory aligned for O_DIRECT; free with qemu_vfree(). */
void *qemu_memalign(size_t alignment, size_t size);
void *qemu_try_memalign(size_t alignment, size_t size);
void qemu_vfree(void *ptr);

/* Host page size, cached. */
size_t qemu_real_host_page_size(void);

/* Monotonic clock in nanoseconds. */
int64_t get_clock_ns(void);
/* Wall clock in nanoseconds since the epoch. */
int64_t get_clock_realtime_ns(void);

#endif

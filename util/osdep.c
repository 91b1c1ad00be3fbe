/*
 * Small portability helpers: aligned allocation and clocks.
 */
#include "strata/osdep.h"
#include <time.h>

void *qemu_try_memalign(size_t alignment, size_t size)
{
    void *ptr;

    if (alignment < sizeof(void *)) {
        alignment = sizeof(void *);
    }
    if (size == 0) {
        size = alignment;
    }
    if (posix_memalign(&ptr, alignment, size)) {
        return NULL;
    }
    return ptr;
}

void *qemu_memalign(size_t alignment, size_t size)
{
    void *ptr = qemu_try_memalign(alignment, size);

    if (!ptr) {
        fprintf(stderr, "Failed to allocate %zu bytes: %s\n", size,
                strerror(ENOMEM));
        abort();
    }
    return ptr;
}

void qemu_vfree(void *ptr)
{
    free(ptr);
}

size_t qemu_real_host_page_size(void)
{
    static size_t page_size;

    if (!page_size) {
        page_size = sysconf(_SC_PAGESIZE);
    }
    return page_size;
}

int64_t get_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t get_clock_realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

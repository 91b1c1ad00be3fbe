/*
 * Internals shared by the coroutine core and the coroutine locks:
 * intrusive singly-linked queues and small atomic helpers.
 */
#ifndef UTIL_COROUTINE_INT_H
#define UTIL_COROUTINE_INT_H

#include "util/queue.h"

#define qatomic_inc_unsigned(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
#define qatomic_dec_unsigned(p) __atomic_sub_fetch((p), 1, __ATOMIC_SEQ_CST)
#define qatomic_read_unsigned(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)

static inline void *qatomic_cmpxchg_ptr(void **ptr, void *old, void *new_val)
{
    void *expected = old;

    __atomic_compare_exchange_n(ptr, &expected, new_val, false,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}

Coroutine **coroutine_waiter_next(Coroutine *co);

#endif

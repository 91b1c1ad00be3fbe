/*
 * Internals shared by the coroutine core and the coroutine locks:
 * intrusive singly-linked queues and small atomic helpers.
 */
#ifndef UTIL_COROUTINE_INT_H
#define UTIL_COROUTINE_INT_H

#define QSIMPLEQ_HEAD(name, type) \
    struct name { struct type *sqh_first; struct type **sqh_last; }
#define QSIMPLEQ_HEAD_INITIALIZER(head) { NULL, &(head).sqh_first }
#define QSIMPLEQ_ENTRY(type) struct { struct type *sqe_next; }
#define QSIMPLEQ_INIT(head) do { \
        (head)->sqh_first = NULL; \
        (head)->sqh_last = &(head)->sqh_first; \
    } while (0)
#define QSIMPLEQ_EMPTY(head) ((head)->sqh_first == NULL)
#define QSIMPLEQ_FIRST(head) ((head)->sqh_first)
#define QSIMPLEQ_INSERT_TAIL(head, elm, field) do { \
        (elm)->field.sqe_next = NULL; \
        *(head)->sqh_last = (elm); \
        (head)->sqh_last = &(elm)->field.sqe_next; \
    } while (0)
#define QSIMPLEQ_REMOVE_HEAD(head, field) do { \
        if (((head)->sqh_first = (head)->sqh_first->field.sqe_next) == NULL) { \
            (head)->sqh_last = &(head)->sqh_first; \
        } \
    } while (0)
/* Move all of @src in front of @dst's elements; @src becomes empty. */
#define QSIMPLEQ_PREPEND(dst, src) do { \
        if (!QSIMPLEQ_EMPTY(src)) { \
            *(src)->sqh_last = (dst)->sqh_first; \
            if (QSIMPLEQ_EMPTY(dst)) { \
                (dst)->sqh_last = (src)->sqh_last; \
            } \
            (dst)->sqh_first = (src)->sqh_first; \
            QSIMPLEQ_INIT(src); \
        } \
    } while (0)

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

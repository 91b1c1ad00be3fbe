/*
 * Intrusive linked lists in the BSD style: QLIST (doubly linked, O(1)
 * removal), QSIMPLEQ (singly linked FIFO) and QTAILQ (doubly linked FIFO).
 */
#ifndef UTIL_QUEUE_H
#define UTIL_QUEUE_H

/* ---- QLIST ---- */
#define QLIST_HEAD(name, type) struct name { struct type *lh_first; }
#define QLIST_HEAD_INITIALIZER(head) { NULL }
#define QLIST_ENTRY(type) \
    struct { struct type *le_next; struct type **le_prev; }
#define QLIST_INIT(head) ((head)->lh_first = NULL)
#define QLIST_EMPTY(head) ((head)->lh_first == NULL)
#define QLIST_FIRST(head) ((head)->lh_first)
#define QLIST_NEXT(elm, field) ((elm)->field.le_next)
#define QLIST_INSERT_HEAD(head, elm, field) do { \
        if (((elm)->field.le_next = (head)->lh_first) != NULL) { \
            (head)->lh_first->field.le_prev = &(elm)->field.le_next; \
        } \
        (head)->lh_first = (elm); \
        (elm)->field.le_prev = &(head)->lh_first; \
    } while (0)
#define QLIST_INSERT_AFTER(listelm, elm, field) do { \
        if (((elm)->field.le_next = (listelm)->field.le_next) != NULL) { \
            (listelm)->field.le_next->field.le_prev = &(elm)->field.le_next; \
        } \
        (listelm)->field.le_next = (elm); \
        (elm)->field.le_prev = &(listelm)->field.le_next; \
    } while (0)
#define QLIST_REMOVE(elm, field) do { \
        if ((elm)->field.le_next != NULL) { \
            (elm)->field.le_next->field.le_prev = (elm)->field.le_prev; \
        } \
        *(elm)->field.le_prev = (elm)->field.le_next; \
        (elm)->field.le_next = NULL; \
        (elm)->field.le_prev = NULL; \
    } while (0)
#define QLIST_IS_INSERTED(elm, field) ((elm)->field.le_prev != NULL)
#define QLIST_FOREACH(var, head, field) \
    for ((var) = (head)->lh_first; (var); (var) = (var)->field.le_next)
#define QLIST_FOREACH_SAFE(var, head, field, next_var) \
    for ((var) = (head)->lh_first; \
         (var) && ((next_var) = (var)->field.le_next, 1); \
         (var) = (next_var))

/* ---- QSIMPLEQ ---- */
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
#define QSIMPLEQ_NEXT(elm, field) ((elm)->field.sqe_next)
#define QSIMPLEQ_INSERT_TAIL(head, elm, field) do { \
        (elm)->field.sqe_next = NULL; \
        *(head)->sqh_last = (elm); \
        (head)->sqh_last = &(elm)->field.sqe_next; \
    } while (0)
#define QSIMPLEQ_INSERT_HEAD(head, elm, field) do { \
        if (((elm)->field.sqe_next = (head)->sqh_first) == NULL) { \
            (head)->sqh_last = &(elm)->field.sqe_next; \
        } \
        (head)->sqh_first = (elm); \
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
#define QSIMPLEQ_FOREACH(var, head, field) \
    for ((var) = (head)->sqh_first; (var); (var) = (var)->field.sqe_next)

/* ---- QTAILQ ---- */
#define QTAILQ_HEAD(name, type) \
    struct name { struct type *tqh_first; struct type **tqh_last; }
#define QTAILQ_HEAD_INITIALIZER(head) { NULL, &(head).tqh_first }
#define QTAILQ_ENTRY(type) \
    struct { struct type *tqe_next; struct type **tqe_prev; }
#define QTAILQ_INIT(head) do { \
        (head)->tqh_first = NULL; \
        (head)->tqh_last = &(head)->tqh_first; \
    } while (0)
#define QTAILQ_EMPTY(head) ((head)->tqh_first == NULL)
#define QTAILQ_FIRST(head) ((head)->tqh_first)
#define QTAILQ_NEXT(elm, field) ((elm)->field.tqe_next)
#define QTAILQ_INSERT_TAIL(head, elm, field) do { \
        (elm)->field.tqe_next = NULL; \
        (elm)->field.tqe_prev = (head)->tqh_last; \
        *(head)->tqh_last = (elm); \
        (head)->tqh_last = &(elm)->field.tqe_next; \
    } while (0)
#define QTAILQ_INSERT_HEAD(head, elm, field) do { \
        if (((elm)->field.tqe_next = (head)->tqh_first) != NULL) { \
            (head)->tqh_first->field.tqe_prev = &(elm)->field.tqe_next; \
        } else { \
            (head)->tqh_last = &(elm)->field.tqe_next; \
        } \
        (head)->tqh_first = (elm); \
        (elm)->field.tqe_prev = &(head)->tqh_first; \
    } while (0)
#define QTAILQ_REMOVE(head, elm, field) do { \
        if (((elm)->field.tqe_next) != NULL) { \
            (elm)->field.tqe_next->field.tqe_prev = (elm)->field.tqe_prev; \
        } else { \
            (head)->tqh_last = (elm)->field.tqe_prev; \
        } \
        *(elm)->field.tqe_prev = (elm)->field.tqe_next; \
        (elm)->field.tqe_prev = NULL; \
        (elm)->field.tqe_next = NULL; \
    } while (0)
#define QTAILQ_IN_USE(elm, field) ((elm)->field.tqe_prev != NULL)
#define QTAILQ_FOREACH(var, head, field) \
    for ((var) = (head)->tqh_first; (var); (var) = (var)->field.tqe_next)
#define QTAILQ_FOREACH_SAFE(var, head, field, next_var) \
    for ((var) = (head)->tqh_first; \
         (var) && ((next_var) = (var)->field.tqe_next, 1); \
         (var) = (next_var))

#endif

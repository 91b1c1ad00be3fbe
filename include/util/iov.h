/*
 * Scatter/gather I/O vectors: helpers on struct iovec arrays and the
 * QEMUIOVector that every request in the block layer carries.
 */
#ifndef UTIL_IOV_H
#define UTIL_IOV_H

#include "strata/osdep.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* ---- struct iovec arrays ----
 *
 * @offset counts bytes from the start of the vector and must not be past
 * its end (an assertion).  Copies stop at the end of the vector and
 * return the number of bytes done.
 */
size_t iov_size(const struct iovec *iov, unsigned int iov_cnt);
size_t iov_from_buf(const struct iovec *iov, unsigned int iov_cnt,
                    size_t offset, const void *buf, size_t bytes);
size_t iov_to_buf(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, void *buf, size_t bytes);
size_t iov_memset(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, int fillc, size_t bytes);
/*
 * Drop @bytes from the front (moving *@iov and shortening the first
 * element kept) or the back of the vector, in place; *@iov_cnt shrinks by
 * the elements dropped entirely.  Returns the bytes dropped, less than
 * @bytes only if the vector was shorter.
 */
size_t iov_discard_front(struct iovec **iov, unsigned int *iov_cnt,
                         size_t bytes);
size_t iov_discard_back(struct iovec *iov, unsigned int *iov_cnt,
                        size_t bytes);

/* ---- QEMUIOVector ---- */

typedef struct QEMUIOVector {
    struct iovec *iov;
    int niov;
    /*
     * Capacity of an @iov we own (qemu_iovec_init()), or -1 when @iov is
     * the caller's (qemu_iovec_init_external()) or is &@local_iov
     * (qemu_iovec_init_buf()); only owned vectors can grow.
     */
    int nalloc;
    size_t size;                /* total bytes */
    struct iovec local_iov;     /* the element of single-buffer vectors */
} QEMUIOVector;

/*
 * Initialiser for a single-buffer vector, needing no allocation and no
 * destroy:  QEMUIOVector qiov = QEMU_IOVEC_INIT_BUF(qiov, buf, len);
 * The vector points into itself: do not copy it by value.
 */
#define QEMU_IOVEC_INIT_BUF(self, buf, len)              \
{                                                        \
    .iov = &(self).local_iov,                            \
    .niov = 1,                                           \
    .nalloc = -1,                                        \
    .size = (len),                                       \
    .local_iov = {                                       \
        .iov_base = (void *)(buf),                       \
        .iov_len = (len),                                \
    },                                                   \
}

/* An empty, growable vector with room for @alloc_hint elements. */
void qemu_iovec_init(QEMUIOVector *qiov, int alloc_hint);
/* A fixed vector over the caller's @iov array (not copied, not freed). */
void qemu_iovec_init_external(QEMUIOVector *qiov, struct iovec *iov,
                              int niov);
/* A one-element vector over @buf, without allocation. */
void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len);
/* The buffer of a vector made by qemu_iovec_init_buf(). */
void *qemu_iovec_buf(QEMUIOVector *qiov);
/*
 * A vector over bytes [@offset, @offset + @len) of @source (the data is
 * shared, not copied).  Must be destroyed.
 */
void qemu_iovec_init_slice(QEMUIOVector *qiov, QEMUIOVector *source,
                           size_t offset, size_t len);
/*
 * A vector over @head_buf, then bytes [@mid_offset, +@mid_len) of
 * @mid_qiov, then @tail_buf (zero lengths leave a part out), as used to pad
 * unaligned requests.  Returns -EINVAL if the total size overflows or
 * more than IOV_MAX elements would be needed.  Must be destroyed.
 */
int qemu_iovec_init_extended(QEMUIOVector *qiov,
                             void *head_buf, size_t head_len,
                             QEMUIOVector *mid_qiov, size_t mid_offset,
                             size_t mid_len,
                             void *tail_buf, size_t tail_len);
/*
 * The elements covering [@offset, @offset + @len) of @qiov: returns the
 * first, with *@niov elements, *@head bytes to skip in the first and
 * *@tail bytes to ignore at the end of the last.
 */
struct iovec *qemu_iovec_slice(QEMUIOVector *qiov, size_t offset,
                               size_t len, size_t *head, size_t *tail,
                               int *niov);
/* How many elements qemu_iovec_slice() would return. */
int qemu_iovec_subvec_niov(QEMUIOVector *qiov, size_t offset, size_t len);

/* Append an element to a growable vector. */
void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len);
/*
 * Append to growable @dst the elements covering @sbytes bytes of @src
 * from @soffset (sharing the data).  qemu_iovec_concat_iov() returns the
 * bytes added (less than @sbytes if @src ends first).
 */
void qemu_iovec_concat(QEMUIOVector *dst, QEMUIOVector *src,
                       size_t soffset, size_t sbytes);
size_t qemu_iovec_concat_iov(QEMUIOVector *dst, struct iovec *src_iov,
                             unsigned int src_cnt, size_t soffset,
                             size_t sbytes);
/* Free an owned array and clear the vector (any kind of vector). */
void qemu_iovec_destroy(QEMUIOVector *qiov);
/* Empty a growable vector, keeping its allocation. */
void qemu_iovec_reset(QEMUIOVector *qiov);
/* Drop @bytes (at most the size) from the end, in place. */
void qemu_iovec_discard_back(QEMUIOVector *qiov, size_t bytes);

/* Copies between the vector's data and a flat buffer, as iov_*_buf. */
size_t qemu_iovec_to_buf(QEMUIOVector *qiov, size_t offset,
                         void *buf, size_t bytes);
size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset,
                           const void *buf, size_t bytes);
size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset,
                         int fillc, size_t bytes);
/* True if bytes [@offset, @offset + @bytes) are all zero. */
bool qemu_iovec_is_zero(QEMUIOVector *qiov, size_t offset, size_t bytes);
/*
 * Offset of the first byte that differs between the data of @a and @b
 * (their layouts may differ), or -1 if they are equal.  If one is
 * shorter and equal up to its end, its size is the offset.
 */
ssize_t qemu_iovec_compare(QEMUIOVector *a, QEMUIOVector *b);
/*
 * Make growable @dest (emptied first) have the same element lengths as
 * @src, laid out consecutively in @buf (at least @src->size bytes).
 */
void qemu_iovec_clone(QEMUIOVector *dest, const QEMUIOVector *src,
                      void *buf);

#endif

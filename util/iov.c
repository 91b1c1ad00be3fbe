/*
 * I/O vector helpers: copying to and from struct iovec arrays, and
 * building, slicing and comparing QEMUIOVectors.
 */
#include "strata/osdep.h"
#include "util/buffer-zero.h"
#include "util/iov.h"

size_t iov_size(const struct iovec *iov, unsigned int iov_cnt)
{
    size_t len = 0;

    for (unsigned int i = 0; i < iov_cnt; i++) {
        len += iov[i].iov_len;
    }
    return len;
}

/*
 * Walk [@offset, @offset + @bytes) of the vector, calling @fn on each
 * piece with its position in the flat range.  Returns the bytes visited.
 */
typedef void IovPieceFn(void *base, size_t len, size_t done, void *opaque);

static size_t iov_walk(const struct iovec *iov, unsigned int iov_cnt,
                       size_t offset, size_t bytes, IovPieceFn *fn,
                       void *opaque)
{
    size_t done = 0;

    for (unsigned int i = 0; i < iov_cnt && (offset || done < bytes); i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        {
            size_t len = MIN(iov[i].iov_len - offset, bytes - done);

            if (len) {
                fn((char *)iov[i].iov_base + offset, len, done, opaque);
            }
            done += len;
            offset = 0;
        }
    }
    assert(offset == 0);        /* @offset was past the end */
    return done;
}

static void piece_from_buf(void *base, size_t len, size_t done,
                           void *opaque)
{
    memcpy(base, (const char *)opaque + done, len);
}

static void piece_to_buf(void *base, size_t len, size_t done, void *opaque)
{
    memcpy((char *)opaque + done, base, len);
}

static void piece_memset(void *base, size_t len, size_t done, void *opaque)
{
    memset(base, *(int *)opaque, len);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int iov_cnt,
                    size_t offset, const void *buf, size_t bytes)
{
    return iov_walk(iov, iov_cnt, offset, bytes, piece_from_buf,
                    (void *)buf);
}

size_t iov_to_buf(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, void *buf, size_t bytes)
{
    return iov_walk(iov, iov_cnt, offset, bytes, piece_to_buf, buf);
}

size_t iov_memset(const struct iovec *iov, unsigned int iov_cnt,
                  size_t offset, int fillc, size_t bytes)
{
    return iov_walk(iov, iov_cnt, offset, bytes, piece_memset, &fillc);
}

size_t iov_discard_front(struct iovec **iov, unsigned int *iov_cnt,
                         size_t bytes)
{
    struct iovec *cur = *iov;
    size_t total = 0;

    while (*iov_cnt > 0) {
        if (cur->iov_len > bytes) {
            cur->iov_base = (char *)cur->iov_base + bytes;
            cur->iov_len -= bytes;
            total += bytes;
            break;
        }
        bytes -= cur->iov_len;
        total += cur->iov_len;
        cur++;
        (*iov_cnt)--;
    }
    *iov = cur;
    return total;
}

size_t iov_discard_back(struct iovec *iov, unsigned int *iov_cnt,
                        size_t bytes)
{
    size_t total = 0;

    while (*iov_cnt > 0) {
        struct iovec *cur = &iov[*iov_cnt - 1];

        if (cur->iov_len > bytes) {
            cur->iov_len -= bytes;
            total += bytes;
            break;
        }
        bytes -= cur->iov_len;
        total += cur->iov_len;
        (*iov_cnt)--;
    }
    return total;
}

/* ---- QEMUIOVector ---- */

void qemu_iovec_init(QEMUIOVector *qiov, int alloc_hint)
{
    assert(alloc_hint >= 0);
    *qiov = (QEMUIOVector) {
        .iov = g_new(struct iovec, alloc_hint),
        .nalloc = alloc_hint,
    };
}

void qemu_iovec_init_external(QEMUIOVector *qiov, struct iovec *iov,
                              int niov)
{
    *qiov = (QEMUIOVector) {
        .iov = iov,
        .niov = niov,
        .nalloc = -1,
        .size = iov_size(iov, niov),
    };
}

void qemu_iovec_init_buf(QEMUIOVector *qiov, void *buf, size_t len)
{
    *qiov = (QEMUIOVector) {
        .iov = &qiov->local_iov,
        .niov = 1,
        .nalloc = -1,
        .size = len,
        .local_iov = { .iov_base = buf, .iov_len = len },
    };
}

void *qemu_iovec_buf(QEMUIOVector *qiov)
{
    assert(qiov->iov == &qiov->local_iov);
    return qiov->local_iov.iov_base;
}

/* Skip whole elements covered by @offset; *@rest is left in the element. */
static struct iovec *iov_skip(struct iovec *iov, size_t offset,
                              size_t *rest)
{
    while (offset > 0 && offset >= iov->iov_len) {
        offset -= iov->iov_len;
        iov++;
    }
    *rest = offset;
    return iov;
}

struct iovec *qemu_iovec_slice(QEMUIOVector *qiov, size_t offset,
                               size_t len, size_t *head, size_t *tail,
                               int *niov)
{
    struct iovec *first, *end;
    size_t into_last;

    assert(offset <= qiov->size && len <= qiov->size - offset);

    first = iov_skip(qiov->iov, offset, head);
    end = iov_skip(first, *head + len, &into_last);
    /* @end is the element where the range ends, unless it ends exactly */
    if (into_last > 0) {
        *tail = end->iov_len - into_last;
        end++;
    } else {
        *tail = 0;
    }
    *niov = end - first;
    return first;
}

int qemu_iovec_subvec_niov(QEMUIOVector *qiov, size_t offset, size_t len)
{
    size_t head, tail;
    int niov;

    qemu_iovec_slice(qiov, offset, len, &head, &tail, &niov);
    return niov;
}

int qemu_iovec_init_extended(QEMUIOVector *qiov,
                             void *head_buf, size_t head_len,
                             QEMUIOVector *mid_qiov, size_t mid_offset,
                             size_t mid_len,
                             void *tail_buf, size_t tail_len)
{
    struct iovec *mid_iov = NULL;
    size_t mid_head = 0, mid_tail = 0;
    int mid_niov = 0;
    int total;
    struct iovec *p;

    if (SIZE_MAX - head_len < mid_len ||
        SIZE_MAX - head_len - mid_len < tail_len) {
        return -EINVAL;
    }
    if (mid_len) {
        mid_iov = qemu_iovec_slice(mid_qiov, mid_offset, mid_len,
                                   &mid_head, &mid_tail, &mid_niov);
    }
    total = !!head_len + mid_niov + !!tail_len;
    if (total > IOV_MAX) {
        return -EINVAL;
    }

    if (total == 1) {
        qemu_iovec_init_buf(qiov, NULL, 0);
        p = &qiov->local_iov;
    } else {
        qemu_iovec_init(qiov, total);
        p = qiov->iov;
    }
    if (head_len) {
        *p++ = (struct iovec) { .iov_base = head_buf, .iov_len = head_len };
    }
    if (mid_niov) {
        memcpy(p, mid_iov, mid_niov * sizeof(*p));
        p[0].iov_base = (char *)p[0].iov_base + mid_head;
        p[0].iov_len -= mid_head;
        p[mid_niov - 1].iov_len -= mid_tail;
        p += mid_niov;
    }
    if (tail_len) {
        *p = (struct iovec) { .iov_base = tail_buf, .iov_len = tail_len };
    }
    qiov->niov = total;
    qiov->size = head_len + mid_len + tail_len;
    return 0;
}

void qemu_iovec_init_slice(QEMUIOVector *qiov, QEMUIOVector *source,
                           size_t offset, size_t len)
{
    int ret;

    assert(offset <= source->size && len <= source->size - offset);
    /* A slice has no more elements than its source: this cannot fail */
    ret = qemu_iovec_init_extended(qiov, NULL, 0, source, offset, len,
                                   NULL, 0);
    assert(ret == 0);
}

void qemu_iovec_add(QEMUIOVector *qiov, void *base, size_t len)
{
    assert(qiov->nalloc != -1);
    if (qiov->niov == qiov->nalloc) {
        qiov->nalloc = 2 * qiov->nalloc + 1;
        qiov->iov = g_renew(struct iovec, qiov->iov, qiov->nalloc);
    }
    qiov->iov[qiov->niov++] = (struct iovec) {
        .iov_base = base,
        .iov_len = len,
    };
    qiov->size += len;
}

size_t qemu_iovec_concat_iov(QEMUIOVector *dst, struct iovec *src_iov,
                             unsigned int src_cnt, size_t soffset,
                             size_t sbytes)
{
    size_t done = 0;

    if (!sbytes) {
        return 0;
    }
    assert(dst->nalloc != -1);
    for (unsigned int i = 0; done < sbytes && i < src_cnt; i++) {
        if (soffset >= src_iov[i].iov_len) {
            soffset -= src_iov[i].iov_len;
            continue;
        }
        {
            size_t len = MIN(src_iov[i].iov_len - soffset, sbytes - done);

            qemu_iovec_add(dst, (char *)src_iov[i].iov_base + soffset, len);
            done += len;
            soffset = 0;
        }
    }
    assert(soffset == 0);       /* @soffset was past the end of @src */
    return done;
}

void qemu_iovec_concat(QEMUIOVector *dst, QEMUIOVector *src,
                       size_t soffset, size_t sbytes)
{
    qemu_iovec_concat_iov(dst, src->iov, src->niov, soffset, sbytes);
}

void qemu_iovec_destroy(QEMUIOVector *qiov)
{
    if (qiov->nalloc != -1) {
        g_free(qiov->iov);
    }
    memset(qiov, 0, sizeof(*qiov));
}

void qemu_iovec_reset(QEMUIOVector *qiov)
{
    assert(qiov->nalloc != -1);
    qiov->niov = 0;
    qiov->size = 0;
}

void qemu_iovec_discard_back(QEMUIOVector *qiov, size_t bytes)
{
    unsigned int niov = qiov->niov;
    size_t done;

    assert(bytes <= qiov->size);
    done = iov_discard_back(qiov->iov, &niov, bytes);
    assert(done == bytes);
    qiov->niov = niov;
    qiov->size -= bytes;
}

size_t qemu_iovec_to_buf(QEMUIOVector *qiov, size_t offset,
                         void *buf, size_t bytes)
{
    return iov_to_buf(qiov->iov, qiov->niov, offset, buf, bytes);
}

size_t qemu_iovec_from_buf(QEMUIOVector *qiov, size_t offset,
                           const void *buf, size_t bytes)
{
    return iov_from_buf(qiov->iov, qiov->niov, offset, buf, bytes);
}

size_t qemu_iovec_memset(QEMUIOVector *qiov, size_t offset,
                         int fillc, size_t bytes)
{
    return iov_memset(qiov->iov, qiov->niov, offset, fillc, bytes);
}

bool qemu_iovec_is_zero(QEMUIOVector *qiov, size_t offset, size_t bytes)
{
    struct iovec *iov;
    size_t in_elem;

    assert(offset <= qiov->size && bytes <= qiov->size - offset);
    iov = iov_skip(qiov->iov, offset, &in_elem);
    while (bytes) {
        size_t len = MIN(iov->iov_len - in_elem, bytes);

        if (!buffer_is_zero((char *)iov->iov_base + in_elem, len)) {
            return false;
        }
        in_elem = 0;
        bytes -= len;
        iov++;
    }
    return true;
}

ssize_t qemu_iovec_compare(QEMUIOVector *a, QEMUIOVector *b)
{
    size_t limit = MIN(a->size, b->size);
    size_t offset = 0;
    int ia = 0, ib = 0;
    size_t oa = 0, ob = 0;      /* position within a->iov[ia], b->iov[ib] */

    while (offset < limit) {
        const unsigned char *pa, *pb;
        size_t len;

        if (oa == a->iov[ia].iov_len) {
            ia++;
            oa = 0;
            continue;
        }
        if (ob == b->iov[ib].iov_len) {
            ib++;
            ob = 0;
            continue;
        }
        pa = (const unsigned char *)a->iov[ia].iov_base + oa;
        pb = (const unsigned char *)b->iov[ib].iov_base + ob;
        len = MIN(a->iov[ia].iov_len - oa, b->iov[ib].iov_len - ob);
        if (memcmp(pa, pb, len) != 0) {
            while (*pa == *pb) {
                pa++;
                pb++;
                offset++;
            }
            return offset;
        }
        offset += len;
        oa += len;
        ob += len;
    }
    return a->size == b->size ? -1 : (ssize_t)limit;
}

void qemu_iovec_clone(QEMUIOVector *dest, const QEMUIOVector *src,
                      void *buf)
{
    char *p = buf;

    qemu_iovec_reset(dest);
    for (int i = 0; i < src->niov; i++) {
        qemu_iovec_add(dest, p, src->iov[i].iov_len);
        p += src->iov[i].iov_len;
    }
}

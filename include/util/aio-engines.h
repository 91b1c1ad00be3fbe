/*
 * Asynchronous file I/O engines per AioContext: io_uring and Linux AIO.
 * Both take a whole request and complete it (short transfers are retried,
 * reads past end of file are zero-filled), yielding the calling coroutine.
 */
#ifndef UTIL_AIO_ENGINES_H
#define UTIL_AIO_ENGINES_H

#include "util/aio.h"

typedef enum AioEngineOp {
    AIO_ENGINE_READ,
    AIO_ENGINE_WRITE,
    AIO_ENGINE_FLUSH,   /* fdatasync; iov ignored */
} AioEngineOp;

/* Returns 0 or a negative errno. */
int coroutine_fn luring_co_submit(LuringState *s, int fd, uint64_t offset,
                                  const struct iovec *iov, int niov,
                                  AioEngineOp op);
int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, uint64_t offset,
                                const struct iovec *iov, int niov,
                                AioEngineOp op);

/* True if this build and kernel can use the engine (probed once). */
bool luring_available(void);
bool laio_available(void);

#endif

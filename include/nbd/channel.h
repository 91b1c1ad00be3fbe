/*
 * A byte stream over a connected socket for the NBD code: exact-length
 * reads and writes that yield in coroutines and block (poll) outside them.
 */
#ifndef NBD_CHANNEL_H
#define NBD_CHANNEL_H

#include "strata/osdep.h"
#include "util/aio.h"
#include "util/coroutine.h"

typedef struct NBDChannel NBDChannel;

/*
 * Wrap @fd (made non-blocking; the channel owns it from now on).  Waits
 * inside coroutines go through @ctx's event loop (NULL: the main loop).
 */
NBDChannel *nbd_channel_new(int fd, AioContext *ctx);
/* Remove the event handlers and close the descriptor. */
void nbd_channel_free(NBDChannel *ch);
int nbd_channel_fd(NBDChannel *ch);

/*
 * Shut the connection down in both directions.  Coroutines waiting on
 * the channel wake up and see an error; later calls fail at once.
 */
void nbd_channel_shutdown(NBDChannel *ch);
bool nbd_channel_is_shutdown(NBDChannel *ch);

/*
 * Read exactly @len bytes.  Returns 0, or -errno with @errp set; the end
 * of the stream is an error here ("Unexpected end-of-file before all
 * data were read").
 */
int nbd_channel_read(NBDChannel *ch, void *buf, size_t len, Error **errp);
/*
 * As nbd_channel_read(), but the end of the stream before the first byte
 * returns 0 without an error; success returns 1.
 */
int nbd_channel_read_eof(NBDChannel *ch, void *buf, size_t len,
                         Error **errp);
int nbd_channel_readv(NBDChannel *ch, const struct iovec *iov, int niov,
                      Error **errp);
/* Read and throw away @len bytes. */
int nbd_channel_skip(NBDChannel *ch, uint64_t len, Error **errp);

/* Write all of the data; 0 or -errno with @errp set. */
int nbd_channel_writev(NBDChannel *ch, const struct iovec *iov, int niov,
                       Error **errp);
int nbd_channel_write(NBDChannel *ch, const void *buf, size_t len,
                      Error **errp);

/*
 * Wait once until the socket is writable (a non-blocking connect() has
 * finished, successfully or not).
 */
void nbd_channel_wait_writable(NBDChannel *ch);

/* True if bytes are already buffered (a read would not wait). */
bool nbd_channel_has_buffered(NBDChannel *ch);

#endif

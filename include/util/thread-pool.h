/*
 * A pool of worker threads for blocking calls; completions come back to
 * the submitting AioContext and wake the waiting coroutine.
 */
#ifndef UTIL_THREAD_POOL_H
#define UTIL_THREAD_POOL_H

#include "util/aio.h"

/* Runs in a worker thread; returns a value handed back to the submitter. */
typedef int ThreadPoolFunc(void *opaque);

/* Run @func(@arg) in a worker and wait (yielding) for its return value. */
int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg);

ThreadPool *thread_pool_new(AioContext *ctx);
void thread_pool_set_max_threads(ThreadPool *pool, int max_threads);

#endif

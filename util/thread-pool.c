/*
 * Worker threads for blocking system calls.  Workers start on demand (up to
 * a maximum) and exit after an idle period; results return via a bottom half.
 */
#include "strata/osdep.h"
#include "util/thread-pool.h"
#include "aio-int.h"

#define DEFAULT_MAX_THREADS 64
#define IDLE_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef struct ThreadPoolRequest {
    ThreadPoolFunc *func;
    void *arg;
    int ret;
    Coroutine *co;
    struct ThreadPoolRequest *next;
} ThreadPoolRequest;

struct ThreadPool {
    AioContext *ctx;
    QEMUBH *completion_bh;
    GMutex lock;
    GCond request_cond;
    GCond exit_cond;
    GQueue pending;            /* submitted, not yet picked by a worker */
    ThreadPoolRequest *done;   /* finished, to be returned (LIFO, reversed) */
    int max_threads;
    int cur_threads;
    int idle_threads;
    bool stopping;
};

static gpointer worker_thread(gpointer opaque)
{
    ThreadPool *pool = opaque;

    g_mutex_lock(&pool->lock);
    while (!pool->stopping) {
        ThreadPoolRequest *req = g_queue_pop_head(&pool->pending);

        if (!req) {
            gint64 deadline = g_get_monotonic_time() + IDLE_TIMEOUT_US;

            pool->idle_threads++;
            if (!g_cond_wait_until(&pool->request_cond, &pool->lock,
                                   deadline) &&
                g_queue_is_empty(&pool->pending)) {
                pool->idle_threads--;
                break;
            }
            pool->idle_threads--;
            continue;
        }
        g_mutex_unlock(&pool->lock);
        req->ret = req->func(req->arg);
        g_mutex_lock(&pool->lock);
        req->next = pool->done;
        pool->done = req;
        qemu_bh_schedule(pool->completion_bh);
    }
    pool->cur_threads--;
    g_cond_signal(&pool->exit_cond);
    g_mutex_unlock(&pool->lock);
    return NULL;
}

static void completion_bh(void *opaque)
{
    ThreadPool *pool = opaque;
    ThreadPoolRequest *list, *rev = NULL;

    g_mutex_lock(&pool->lock);
    list = pool->done;
    pool->done = NULL;
    g_mutex_unlock(&pool->lock);

    /* Complete in submission-completion order. */
    while (list) {
        ThreadPoolRequest *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        ThreadPoolRequest *req = rev;
        rev = req->next;
        aio_co_wake(req->co);
    }
}

ThreadPool *thread_pool_new(AioContext *ctx)
{
    ThreadPool *pool = g_new0(ThreadPool, 1);

    pool->ctx = ctx;
    pool->completion_bh = aio_bh_new(ctx, completion_bh, pool);
    g_mutex_init(&pool->lock);
    g_cond_init(&pool->request_cond);
    g_cond_init(&pool->exit_cond);
    g_queue_init(&pool->pending);
    pool->max_threads = DEFAULT_MAX_THREADS;
    return pool;
}

void thread_pool_set_max_threads(ThreadPool *pool, int max_threads)
{
    g_mutex_lock(&pool->lock);
    pool->max_threads = MAX(1, max_threads);
    g_mutex_unlock(&pool->lock);
}

void thread_pool_free(ThreadPool *pool)
{
    g_mutex_lock(&pool->lock);
    pool->stopping = true;
    g_cond_broadcast(&pool->request_cond);
    while (pool->cur_threads > 0) {
        g_cond_wait(&pool->exit_cond, &pool->lock);
    }
    g_mutex_unlock(&pool->lock);
    qemu_bh_delete(pool->completion_bh);
    g_mutex_clear(&pool->lock);
    g_cond_clear(&pool->request_cond);
    g_cond_clear(&pool->exit_cond);
    g_free(pool);
}

ThreadPool *aio_get_thread_pool(AioContext *ctx)
{
    if (!ctx->thread_pool) {
        ctx->thread_pool = thread_pool_new(ctx);
    }
    return ctx->thread_pool;
}

int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg)
{
    ThreadPool *pool = aio_get_thread_pool(qemu_get_current_aio_context());
    ThreadPoolRequest req = {
        .func = func,
        .arg = arg,
        .co = qemu_coroutine_self(),
    };

    assert(qemu_in_coroutine());
    g_mutex_lock(&pool->lock);
    g_queue_push_tail(&pool->pending, &req);
    /* Idle workers may not have woken yet for earlier submissions. */
    if (g_queue_get_length(&pool->pending) > (guint)pool->idle_threads &&
        pool->cur_threads < pool->max_threads) {
        GThread *t = g_thread_new("worker", worker_thread, pool);

        g_thread_unref(t);
        pool->cur_threads++;
    }
    g_cond_signal(&pool->request_cond);
    g_mutex_unlock(&pool->lock);
    qemu_coroutine_yield();
    return req.ret;
}

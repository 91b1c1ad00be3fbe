/*
 * Coroutine core: creation, stack switching (a small assembly switch on
 * x86-64, ucontext elsewhere), pooling of finished coroutines and wake-ups.
 */
#include "strata/osdep.h"
#include "util/coroutine.h"
#include "util/aio.h"
#include "coroutine-int.h"
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define CONFIG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONFIG_ASAN 1
#endif
#endif

#ifdef CONFIG_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define COROUTINE_STACK_SIZE (1 << 20)
#define POOL_MAX 256

typedef enum {
    COROUTINE_YIELD = 1,
    COROUTINE_TERMINATE,
    COROUTINE_ENTER,
} CoroutineAction;

struct Coroutine {
    CoroutineEntry *entry;
    void *entry_arg;
    Coroutine *caller;
    AioContext *ctx;
    /* Set while the coroutine is scheduled to be entered (double wake). */
    const char *scheduled;
    /* Coroutines this one woke; entered after it yields. */
    QSIMPLEQ_HEAD(, Coroutine) co_queue_wakeup;
    QSIMPLEQ_ENTRY(Coroutine) co_queue_next;
    /* Link for CoQueue waiters and the per-context scheduled list. */
    Coroutine *waiter_next;
    Coroutine *pool_next;
    bool entered;
    CoroutineAction action;

    void *stack;
    size_t stack_size;
    void *sp;
#ifndef __x86_64__
    sigjmp_buf env;
#endif
#ifdef CONFIG_ASAN
    void *fake_stack;
    const void *asan_stack_bottom;
    size_t asan_stack_size;
#endif
};

typedef struct CoroutineThreadState {
    Coroutine leader;
    Coroutine *current;
    Coroutine *pool;
    unsigned pool_size;
} CoroutineThreadState;

static __thread CoroutineThreadState *thread_state;
static unsigned alive_count;

static CoroutineThreadState *get_thread_state(void)
{
    if (!thread_state) {
        thread_state = g_new0(CoroutineThreadState, 1);
        QSIMPLEQ_INIT(&thread_state->leader.co_queue_wakeup);
        thread_state->leader.entered = true;
        thread_state->current = &thread_state->leader;
    }
    return thread_state;
}

/* ---- stack switching ---- */

#ifdef __x86_64__
/*
 * strata_co_switch(&from->sp, to->sp): push the callee-saved registers on
 * the current stack, save the stack pointer, load the other one and pop.
 * No system call and no signal-mask handling.
 */
void strata_co_switch(void **from_sp, void *to_sp);
void strata_co_start(void);
__asm__(
    ".text\n"
    ".globl strata_co_switch\n"
    ".type strata_co_switch,@function\n"
    "strata_co_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size strata_co_switch, .-strata_co_switch\n"
    /* First entry: the coroutine pointer was placed in %rbx. */
    ".globl strata_co_start\n"
    ".type strata_co_start,@function\n"
    "strata_co_start:\n"
    "    movq %rbx, %rdi\n"
    "    call coroutine_trampoline\n"
    "    ud2\n"
    ".size strata_co_start, .-strata_co_start\n");
#endif

void coroutine_trampoline(Coroutine *co) STRATA_NORETURN;

#ifdef CONFIG_ASAN
/* Record the thread stack's bounds the first time we leave it. */
static void asan_finish_switch(void *fake_stack)
{
    CoroutineThreadState *ts = get_thread_state();
    const void *bottom_old;
    size_t size_old;

    __sanitizer_finish_switch_fiber(fake_stack, &bottom_old, &size_old);
    if (!ts->leader.asan_stack_bottom) {
        ts->leader.asan_stack_bottom = bottom_old;
        ts->leader.asan_stack_size = size_old;
    }
}
#endif

static void switch_to(Coroutine *from, Coroutine *to, CoroutineAction action)
{
    CoroutineThreadState *ts = get_thread_state();

    to->action = action;
    ts->current = to;
#ifdef CONFIG_ASAN
    if (action == COROUTINE_TERMINATE) {
        from->fake_stack = NULL;
    }
#endif
#ifdef CONFIG_ASAN
    __sanitizer_start_switch_fiber(
        action == COROUTINE_TERMINATE ? NULL : &from->fake_stack,
        to->asan_stack_bottom, to->asan_stack_size);
#endif
#ifdef __x86_64__
    strata_co_switch(&from->sp, to->sp);
#else
    if (!sigsetjmp(from->env, 0)) {
        siglongjmp(to->env, 1);
    }
#endif
#ifdef CONFIG_ASAN
    asan_finish_switch(from->fake_stack);
#endif
}

void coroutine_trampoline(Coroutine *co)
{
#ifdef CONFIG_ASAN
    asan_finish_switch(NULL);
#endif
    for (;;) {
        co->entry(co->entry_arg);
        switch_to(co, co->caller, COROUTINE_TERMINATE);
    }
}

#ifndef __x86_64__
#include <ucontext.h>

static __thread sigjmp_buf *init_return_env;
static __thread Coroutine *init_co;

static void ucontext_start(void)
{
    Coroutine *co = init_co;

    if (!sigsetjmp(co->env, 0)) {
        siglongjmp(*init_return_env, 1);
    }
    coroutine_trampoline(co);
}
#endif

static void coroutine_init_stack(Coroutine *co)
{
#ifdef __x86_64__
    uintptr_t top = ((uintptr_t)co->stack + co->stack_size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 16);

    /*
     * After strata_co_switch pops six registers and returns, %rsp points at
     * top - 16, which is 16-byte aligned as the call in strata_co_start needs.
     */
    *--sp = (uint64_t)(uintptr_t)strata_co_start;
    *--sp = 0;                      /* rbp */
    *--sp = (uint64_t)(uintptr_t)co; /* rbx */
    *--sp = 0;                      /* r12 */
    *--sp = 0;                      /* r13 */
    *--sp = 0;                      /* r14 */
    *--sp = 0;                      /* r15 */
    co->sp = sp;
#else
    ucontext_t old_uc, uc;
    sigjmp_buf old_env;

    getcontext(&uc);
    uc.uc_link = &old_uc;
    uc.uc_stack.ss_sp = co->stack;
    uc.uc_stack.ss_size = co->stack_size;
    uc.uc_stack.ss_flags = 0;
    init_return_env = &old_env;
    init_co = co;
    makecontext(&uc, ucontext_start, 0);
    if (!sigsetjmp(old_env, 0)) {
        swapcontext(&old_uc, &uc);
    }
#endif
}

static void *stack_alloc(size_t size)
{
    size_t page = qemu_real_host_page_size();
    void *ptr = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (ptr == MAP_FAILED) {
        fprintf(stderr, "Failed to allocate a coroutine stack: %s\n",
                strerror(errno));
        abort();
    }
    /* Guard page below the stack: an overflow faults instead of corrupting. */
    mprotect(ptr, page, PROT_NONE);
    return (char *)ptr + page;
}

static void stack_free(void *stack, size_t size)
{
    size_t page = qemu_real_host_page_size();

    munmap((char *)stack - page, size + page);
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque)
{
    CoroutineThreadState *ts = get_thread_state();
    Coroutine *co = ts->pool;

    if (co) {
        ts->pool = co->pool_next;
        ts->pool_size--;
    } else {
        co = g_new0(Coroutine, 1);
        co->stack_size = COROUTINE_STACK_SIZE;
        co->stack = stack_alloc(co->stack_size);
        qatomic_inc_unsigned(&alive_count);
    }
    QSIMPLEQ_INIT(&co->co_queue_wakeup);
    co->entry = entry;
    co->entry_arg = opaque;
    co->caller = NULL;
    co->ctx = NULL;
    co->scheduled = NULL;
    co->entered = false;
    co->waiter_next = NULL;
#ifdef CONFIG_ASAN
    co->asan_stack_bottom = co->stack;
    co->asan_stack_size = co->stack_size;
#endif
    /*
     * A pooled coroutine's stack is parked inside the trampoline loop, ready
     * to call the next entry; only a fresh one needs its frame built.
     */
    if (!co->sp) {
        coroutine_init_stack(co);
    }
    return co;
}

static void coroutine_delete(Coroutine *co)
{
    CoroutineThreadState *ts = get_thread_state();

    co->caller = NULL;
    if (ts->pool_size < POOL_MAX) {
        co->pool_next = ts->pool;
        ts->pool = co;
        ts->pool_size++;
        return;
    }
    stack_free(co->stack, co->stack_size);
    g_free(co);
    qatomic_dec_unsigned(&alive_count);
}

unsigned qemu_coroutine_count_alive(void)
{
    return qatomic_read_unsigned(&alive_count);
}

/*
 * Enter @co and, once it yields, everything it woke meanwhile (in order),
 * so that wake-up chains stay flat on the C stack.
 */
static void coroutine_enter_loop(Coroutine *co)
{
    QSIMPLEQ_HEAD(, Coroutine) pending = QSIMPLEQ_HEAD_INITIALIZER(pending);
    Coroutine *self = qemu_coroutine_self();

    QSIMPLEQ_INSERT_TAIL(&pending, co, co_queue_next);
    while (!QSIMPLEQ_EMPTY(&pending)) {
        Coroutine *to = QSIMPLEQ_FIRST(&pending);
        CoroutineAction ret;

        QSIMPLEQ_REMOVE_HEAD(&pending, co_queue_next);
        if (to->caller) {
            fprintf(stderr, "Co-routine re-entered recursively\n");
            abort();
        }
        to->caller = self;
        to->ctx = qemu_get_current_aio_context();
        to->scheduled = NULL;
        to->entered = true;
        switch_to(self, to, COROUTINE_ENTER);
        ret = self->action;

        /* Whatever @to woke runs before anything else the caller does. */
        QSIMPLEQ_PREPEND(&pending, &to->co_queue_wakeup);

        switch (ret) {
        case COROUTINE_YIELD:
            break;
        case COROUTINE_TERMINATE:
            to->entered = false;
            coroutine_delete(to);
            break;
        default:
            abort();
        }
    }
}

void qemu_coroutine_enter(Coroutine *co)
{
    coroutine_enter_loop(co);
}

void qemu_coroutine_enter_if_inactive(Coroutine *co)
{
    if (!co->caller) {
        qemu_coroutine_enter(co);
    }
}

void coroutine_fn qemu_coroutine_yield(void)
{
    Coroutine *self = qemu_coroutine_self();
    Coroutine *to = self->caller;

    if (!to) {
        fprintf(stderr, "Co-routine is yielding to no one\n");
        abort();
    }
    self->caller = NULL;
    switch_to(self, to, COROUTINE_YIELD);
}

Coroutine *qemu_coroutine_self(void)
{
    return get_thread_state()->current;
}

bool qemu_in_coroutine(void)
{
    CoroutineThreadState *ts = get_thread_state();

    return ts->current != &ts->leader;
}

bool qemu_coroutine_entered(Coroutine *co)
{
    return co->caller != NULL;
}

AioContext *qemu_coroutine_get_aio_context(Coroutine *co)
{
    return co->ctx;
}

static void co_schedule_bh(void *opaque)
{
    Coroutine *co = opaque;

    qemu_coroutine_enter(co);
}

void aio_co_schedule(AioContext *ctx, Coroutine *co)
{
    const char *old = qatomic_cmpxchg_ptr((void **)&co->scheduled, NULL,
                                          (void *)"aio_co_schedule");

    if (old) {
        fprintf(stderr, "%s: Co-routine was already scheduled in '%s'\n",
                __func__, old);
        abort();
    }
    aio_bh_schedule_oneshot(ctx, co_schedule_bh, co);
}

void aio_co_wake(Coroutine *co)
{
    AioContext *ctx = co->ctx;

    if (ctx && ctx != qemu_get_current_aio_context()) {
        aio_co_schedule(ctx, co);
        return;
    }
    if (qemu_in_coroutine()) {
        Coroutine *self = qemu_coroutine_self();
        /* Entered after @self yields, by the loop that entered @self. */
        QSIMPLEQ_INSERT_TAIL(&self->co_queue_wakeup, co, co_queue_next);
    } else {
        qemu_coroutine_enter(co);
    }
}

/* Accessors for the lock implementation (coroutine-lock.c). */
Coroutine **coroutine_waiter_next(Coroutine *co)
{
    return &co->waiter_next;
}

/* ec_parallel: the static thread pool of ec_parallel.h.
 *
 * Handing out a layer (ec_pool_run, on the caller): the claims of the previous layer are closed
 * first (`ticket` swapped to its generation with no task left to claim), then `done` is reset and
 * the layer (fn, arena, tasks) stored, and `ticket` set to the new generation with task 0 next,
 * under `lock`, with a broadcast on `wake` for sleeping workers.
 *
 * Claiming a task (ec_pool_work, on every thread): read `ticket`, then the layer; a task remains
 * when the ticket's next task is below `tasks`; compare-and-swap `ticket` to the one after. A
 * successful swap proves the layer read belongs to the ticket's generation: the fields of a newer
 * layer are written only after its claims were closed, which would have changed `ticket`. The
 * claimant runs the task and increments `done`; the caller returns when `done` equals `tasks`,
 * so every output byte of the layer is visible to it before the next layer starts.
 *
 * Ordering: stores of the layer are release and its loads acquire; `ticket` is loaded acquire and
 * swapped acq_rel; `done` incremented release, read acquire. A worker first spins on `ticket`'s
 * generation (EC_POOL_SPIN polls), then sleeps on `wake`, checking the generation under `lock`,
 * where the caller moves it: no wake-up is lost. Atomics are the GCC/Clang __atomic builtins
 * (C99 has none). */
#define _POSIX_C_SOURCE 200112L

#include "ec_parallel.h"

#if EC_THREADS > 1

#include <sched.h>

#if !defined(__GNUC__) && !defined(__clang__)
#error "the thread pool needs the GCC/Clang __atomic builtins; build with -DEC_THREADS=1"
#endif

/* Polls of `ticket` before a worker sleeps, and of `done` before the caller yields its core. */
#define EC_POOL_SPIN 20000
#define EC_POOL_YIELD_AFTER 2000
#define EC_NO_TASK 0xFFFFFFFFu

#if defined(__x86_64__) || defined(__i386__)
#define EC_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define EC_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define EC_RELAX() ((void)0)
#endif

static uint32_t ec_generation_of(uint64_t ticket)
{
    return (uint32_t)(ticket >> 32);
}

/* Claims and runs tasks of the current layer until none is left. */
static void ec_pool_work(ec_pool_t *pool)
{
    for (;;) {
        uint64_t ticket = __atomic_load_n(&pool->ticket, __ATOMIC_ACQUIRE);
        const ec_task_fn fn = __atomic_load_n(&pool->fn, __ATOMIC_ACQUIRE);
        unsigned char *const arena = __atomic_load_n(&pool->arena, __ATOMIC_ACQUIRE);
        const int32_t tasks = __atomic_load_n(&pool->tasks, __ATOMIC_ACQUIRE);
        const uint32_t task = (uint32_t)ticket;
        if (task >= (uint32_t)tasks) {
            return;
        }
        if (__atomic_compare_exchange_n(&pool->ticket, &ticket, ticket + 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            fn(arena, (int32_t)task, tasks);
            __atomic_add_fetch(&pool->done, 1, __ATOMIC_RELEASE);
        }
    }
}

/* Waits until `ticket` moves past generation `seen`; returns the new generation. */
static uint32_t ec_pool_wait(ec_pool_t *pool, uint32_t seen)
{
    uint32_t gen;
    int32_t i;
    for (i = 0; i < EC_POOL_SPIN; ++i) {
        gen = ec_generation_of(__atomic_load_n(&pool->ticket, __ATOMIC_ACQUIRE));
        if (gen != seen) {
            return gen;
        }
        EC_RELAX();
    }
    pthread_mutex_lock(&pool->lock);
    while ((gen = ec_generation_of(__atomic_load_n(&pool->ticket, __ATOMIC_ACQUIRE))) == seen) {
        pthread_cond_wait(&pool->wake, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return gen;
}

static void *ec_pool_worker(void *arg)
{
    ec_pool_t *pool = (ec_pool_t *)arg;
    uint32_t seen = 0;
    for (;;) {
        seen = ec_pool_wait(pool, seen);
        if (__atomic_load_n(&pool->stop, __ATOMIC_ACQUIRE)) {
            return NULL;
        }
        ec_pool_work(pool);
    }
}

/* Moves `ticket` to the next generation with task 0 next and wakes the sleeping workers. */
static void ec_pool_advance(ec_pool_t *pool)
{
    pool->generation += 1;
    pthread_mutex_lock(&pool->lock);
    __atomic_store_n(&pool->ticket, (uint64_t)pool->generation << 32, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
}

static void ec_pool_join(ec_pool_t *pool, int32_t workers)
{
    int32_t i;
    __atomic_store_n(&pool->stop, 1, __ATOMIC_RELEASE);
    ec_pool_advance(pool);
    for (i = 0; i < workers; ++i) {
        pthread_join(pool->workers[i], NULL);
    }
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    pool->threads = 1;
}

int ec_pool_start(ec_pool_t *pool, int32_t threads)
{
    int32_t i;
    threads = threads < 1 ? 1 : (threads > EC_THREADS ? EC_THREADS : threads);
    pool->threads = 1;
    if (threads == 1) {
        return 0;
    }
    pool->generation = 0;
    pool->fn = NULL;
    pool->arena = NULL;
    pool->tasks = 0;
    pool->ticket = 0;
    pool->done = 0;
    pool->stop = 0;
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        return -1;
    }
    if (pthread_cond_init(&pool->wake, NULL) != 0) {
        pthread_mutex_destroy(&pool->lock);
        return -1;
    }
    for (i = 0; i < threads - 1; ++i) {
        if (pthread_create(&pool->workers[i], NULL, ec_pool_worker, pool) != 0) {
            ec_pool_join(pool, i);
            return -1;
        }
    }
    pool->threads = threads;
    return 0;
}

void ec_pool_run(ec_pool_t *pool, ec_task_fn fn, unsigned char *arena, int32_t max_tasks)
{
    const int32_t tasks = max_tasks < pool->threads ? max_tasks : pool->threads;
    int32_t polls = 0;
    if (tasks <= 1) {
        fn(arena, 0, 1);
        return;
    }
    /* Close the previous layer's claims before its fields change. */
    (void)__atomic_exchange_n(&pool->ticket, ((uint64_t)pool->generation << 32) | EC_NO_TASK, __ATOMIC_ACQ_REL);
    __atomic_store_n(&pool->done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pool->fn, fn, __ATOMIC_RELEASE);
    __atomic_store_n(&pool->arena, arena, __ATOMIC_RELEASE);
    __atomic_store_n(&pool->tasks, tasks, __ATOMIC_RELEASE);
    ec_pool_advance(pool);
    ec_pool_work(pool);
    while (__atomic_load_n(&pool->done, __ATOMIC_ACQUIRE) != tasks) {
        if (++polls > EC_POOL_YIELD_AFTER) {
            sched_yield();
        } else {
            EC_RELAX();
        }
    }
}

void ec_pool_stop(ec_pool_t *pool)
{
    if (pool->threads > 1) {
        ec_pool_join(pool, pool->threads - 1);
    }
}

#else /* EC_THREADS == 1: the caller runs every layer whole */

int ec_pool_start(ec_pool_t *pool, int32_t threads)
{
    (void)threads;
    pool->threads = 1;
    return 0;
}

void ec_pool_run(ec_pool_t *pool, ec_task_fn fn, unsigned char *arena, int32_t max_tasks)
{
    (void)pool;
    (void)max_tasks;
    fn(arena, 0, 1);
}

void ec_pool_stop(ec_pool_t *pool)
{
    pool->threads = 1;
}

#endif

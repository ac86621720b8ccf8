/* ec_parallel: the static thread pool of ec_parallel.h.
 *
 * Handoff: the caller writes the layer (fn, arena, tasks), sets `pending` to the number of
 * workers and increments `generation` with release order under `lock`, then broadcasts `wake`.
 * A worker that sees a new generation (acquire order) runs its task, if it has one, and
 * decrements `pending` (release); the caller runs task 0 and waits until `pending` is 0
 * (acquire), so every output byte of the layer is visible to it before the next layer starts.
 * The caller writes the next layer only after that, when no worker reads the fields any more.
 * A worker first spins on `generation` (EC_POOL_SPIN polls), then sleeps on `wake`; it checks
 * `generation` under `lock`, and the caller moves it under `lock`, so no wake-up is lost.
 * Atomics are the GCC/Clang __atomic builtins (C99 has none). */
#define _POSIX_C_SOURCE 200112L

#include "ec_parallel.h"

#if EC_THREADS > 1

#include <sched.h>

#if !defined(__GNUC__) && !defined(__clang__)
#error "the thread pool needs the GCC/Clang __atomic builtins; build with -DEC_THREADS=1"
#endif

/* Polls of `generation` (or `pending`) before a worker sleeps (or the caller yields its core). */
#define EC_POOL_SPIN 20000
#define EC_POOL_YIELD_AFTER 2000

#if defined(__x86_64__) || defined(__i386__)
#define EC_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define EC_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define EC_RELAX() ((void)0)
#endif

static uint32_t ec_pool_wait(ec_pool_t *pool, uint32_t seen)
{
    uint32_t gen;
    int32_t i;
    for (i = 0; i < EC_POOL_SPIN; ++i) {
        gen = __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE);
        if (gen != seen) {
            return gen;
        }
        EC_RELAX();
    }
    pthread_mutex_lock(&pool->lock);
    while ((gen = __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE)) == seen) {
        pthread_cond_wait(&pool->wake, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return gen;
}

static void *ec_pool_worker(void *arg)
{
    const ec_worker_t *me = (const ec_worker_t *)arg;
    ec_pool_t *pool = me->pool;
    uint32_t seen = 0;
    for (;;) {
        seen = ec_pool_wait(pool, seen);
        if (pool->fn == NULL) {
            return NULL;
        }
        if (me->id < pool->tasks) {
            pool->fn(pool->arena, me->id, pool->tasks);
        }
        __atomic_sub_fetch(&pool->pending, 1, __ATOMIC_RELEASE);
    }
}

/* Publishes fn (NULL: stop) to the workers. */
static void ec_pool_publish(ec_pool_t *pool, ec_task_fn fn, unsigned char *arena, int32_t tasks)
{
    pool->fn = fn;
    pool->arena = arena;
    pool->tasks = tasks;
    __atomic_store_n(&pool->pending, pool->threads - 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&pool->lock);
    __atomic_add_fetch(&pool->generation, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
}

static void ec_pool_join(ec_pool_t *pool, int32_t workers)
{
    int32_t i;
    ec_pool_publish(pool, NULL, NULL, 0);
    for (i = 0; i < workers; ++i) {
        pthread_join(pool->threads_of[i], NULL);
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
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        return -1;
    }
    if (pthread_cond_init(&pool->wake, NULL) != 0) {
        pthread_mutex_destroy(&pool->lock);
        return -1;
    }
    for (i = 0; i < threads - 1; ++i) {
        pool->workers[i].pool = pool;
        pool->workers[i].id = i + 1;
        if (pthread_create(&pool->threads_of[i], NULL, ec_pool_worker, &pool->workers[i]) != 0) {
            pool->threads = i + 1;
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
    ec_pool_publish(pool, fn, arena, tasks);
    fn(arena, 0, tasks);
    while (__atomic_load_n(&pool->pending, __ATOMIC_ACQUIRE) != 0) {
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

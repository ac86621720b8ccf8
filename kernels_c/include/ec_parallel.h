/* edgeconv parallel runtime: a static pool of POSIX threads that runs one layer at a time, and
 * the helpers that cut a layer's output into the part each task writes.
 *
 * Pool. ec_pool_start creates threads - 1 workers once (the caller is thread 0); ec_pool_run
 * hands one layer to them and returns when every task has finished (one handoff and one
 * barrier per layer), allocating nothing and creating no thread. The threads claim the layer's
 * tasks one by one, the caller too, so a worker that has lost its core to another process delays
 * nothing: the caller runs the tasks nobody has claimed. A layer never has more tasks than the
 * pool has threads. Workers wait between layers by spinning for a while, then sleep on a
 * condition variable until the next layer.
 *
 * Compile-time switch: EC_THREADS is the most threads a pool may have (8 unless the build sets
 * it; every file of one program must see the same value). Built with -DEC_THREADS=1 the pool is
 * a plain loop on the caller: no pthread header, no thread, nothing to link (bare-metal builds).
 *
 * Splits. A task writes a contiguous part of the layer's output and reads what that part needs,
 * so every output byte is computed by the same kernel code from the same inputs as in one call:
 * the output is byte-identical at any thread count. ec_share gives task t of n its units
 * [ec_share(t), ec_share(t + 1)), whole granules (a block of 16 output channels of a packed GEMM)
 * except the last one. ec_window_rows and ec_window_positions turn a range of output rows (or
 * of output positions of a pointwise layer) into the window of a smaller layer over the input
 * rows it reads; the caller moves the input and output pointers to those rows. */
#ifndef EC_PARALLEL_H
#define EC_PARALLEL_H

#include "ec_common.h"

#ifndef EC_THREADS
#define EC_THREADS 8
#endif

#if EC_THREADS > 1
#include <pthread.h>
#endif

/* One task of a layer: writes its part of the output (arena: the model's activation arena). */
typedef void (*ec_task_fn)(unsigned char *arena, int32_t task, int32_t tasks);

typedef struct ec_pool ec_pool_t;

struct ec_pool {
    int32_t threads;                 /* the caller included; 0 or 1: no worker */
#if EC_THREADS > 1
    pthread_t workers[EC_THREADS - 1];
    pthread_mutex_t lock;
    pthread_cond_t wake;
    uint32_t generation;             /* the caller's count of layers handed out */
    /* Shared with the workers, through atomics only (ec_parallel.c says how): */
    ec_task_fn fn;                   /* the layer handed out */
    unsigned char *arena;
    int32_t tasks;
    uint64_t ticket;                 /* generation << 32 | the next task to claim */
    int32_t done;                    /* tasks of the layer finished */
    int32_t stop;                    /* set to end the workers */
#endif
};

/* Starts threads - 1 workers (threads is clamped to 1..EC_THREADS); 0 on success, -1 when a
 * thread cannot be created (the pool then runs on the caller alone). */
int ec_pool_start(ec_pool_t *pool, int32_t threads);

/* Runs tasks 0 .. min(max_tasks, pool threads) - 1 of `fn` and returns when all are done. */
void ec_pool_run(ec_pool_t *pool, ec_task_fn fn, unsigned char *arena, int32_t max_tasks);

/* Ends and joins the workers; the pool runs on the caller alone afterwards. */
void ec_pool_stop(ec_pool_t *pool);

/* First unit of task `task` of `tasks` over `units` units cut in granules of `granule`. */
EC_INLINE int32_t ec_share(int32_t units, int32_t granule, int32_t task, int32_t tasks)
{
    const int64_t blocks = ((int64_t)units + granule - 1) / granule;
    const int64_t first = blocks * task / tasks * granule;
    return (int32_t)(first < units ? first : units);
}

/* The window of output rows [r0, r1) of `win` as a layer of its own; returns the first input row
 * it reads (the input pointer moves by that many rows). Padding stays where the rows touch it. */
EC_INLINE int32_t ec_window_rows(const ec_window_t *win, int32_t r0, int32_t r1, ec_window_t *part)
{
    const int32_t start = r0 * win->stride_h - win->pad_top;
    const int32_t end = (r1 - 1) * win->stride_h - win->pad_top + (win->k_h - 1) * win->dil_h + 1;
    const int32_t first = start > 0 ? start : 0;
    const int32_t last = end < win->in_h ? end : win->in_h;
    *part = *win;
    part->out_h = r1 - r0;
    part->pad_top = first - start;
    part->in_h = last - first;
    part->pad_bottom = end > win->in_h ? win->pad_bottom : 0;
    return first;
}

/* The window of output positions [p0, p1) of a pointwise layer (1x1, stride 1, no padding) as a
 * one-row layer of p1 - p0 positions; its input starts at position p0. */
EC_INLINE void ec_window_positions(const ec_window_t *win, int32_t p0, int32_t p1, ec_window_t *part)
{
    *part = *win;
    part->in_h = 1;
    part->out_h = 1;
    part->in_w = p1 - p0;
    part->out_w = p1 - p0;
}

#endif /* EC_PARALLEL_H */

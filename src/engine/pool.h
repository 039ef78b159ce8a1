/* pool.h - the engine's compute threads: one task runs on all of them at once and the caller
 * waits for it (fork-join), with workers spinning briefly between tasks so the hundreds of
 * matmuls of one forward pass do not pay a wake-up each. */
#ifndef SEEKD_ENGINE_POOL_H
#define SEEKD_ENGINE_POOL_H

typedef struct eng_pool eng_pool_t;

/** fn(arg, ith, nth) runs once for each ith in [0, nth). */
typedef void (*eng_task_fn)(void *arg, int ith, int nth);

/** A pool of n threads counting the caller (n - 1 are started). */
eng_pool_t *eng_pool_new(int n);
void eng_pool_free(eng_pool_t *p);
int eng_pool_size(const eng_pool_t *p);
/** Runs fn on every thread (the caller is thread 0) and returns when all have finished. */
void eng_pool_run(eng_pool_t *p, eng_task_fn fn, void *arg);

#endif

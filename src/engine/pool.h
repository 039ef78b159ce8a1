/* pool.h - the engine's compute threads: a task is cut into chunks that every thread (the caller
 * too) claims one at a time until none is left, and the caller returns when all are done. Claiming
 * rather than a fixed share per thread keeps a descheduled thread (a busy machine) from holding
 * the others up; workers spin briefly between tasks so the hundreds of matmuls of one forward
 * pass do not each pay a wake-up. */
#ifndef SEEKD_ENGINE_POOL_H
#define SEEKD_ENGINE_POOL_H

typedef struct eng_pool eng_pool_t;

/** Runs chunk number `chunk` of a task; ith is the calling thread (0 = the caller of
 * eng_pool_run), for per-thread scratch. */
typedef void (*eng_chunk_fn)(void *arg, int chunk, int ith);

/** A pool of n threads counting the caller (n - 1 are started). */
eng_pool_t *eng_pool_new(int n);
void eng_pool_free(eng_pool_t *p);
int eng_pool_size(const eng_pool_t *p);
#define ENG_POOL_MAX_CHUNKS 0xffff

/** Runs fn for every chunk in [0, nchunks) across the threads (nchunks at most
 * ENG_POOL_MAX_CHUNKS); returns when all have run. */
void eng_pool_run(eng_pool_t *p, eng_chunk_fn fn, void *arg, int nchunks);

#endif

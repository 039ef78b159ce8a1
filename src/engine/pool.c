/* pool.c - chunked fork-join: one ticket word holds the task's generation, its chunk count and
 * its next chunk; threads claim chunks with a compare-and-swap on the whole word, so one that
 * wakes late finds a newer generation and claims nothing of a finished task, and no claim ever
 * reads a count that belongs to another task. Workers spin on the word, then sleep. */
#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/mem.h"

/* About 100-200 microseconds of polling before a worker sleeps: longer than the gap between two
 * matmuls of a forward pass, far shorter than a human-visible pause. */
#define SPIN_ROUNDS 20000

struct eng_pool {
    int n;
    pthread_t *th;
    eng_chunk_fn fn; /* valid while the generation in ticket is unfinished */
    void *arg;
    _Atomic uint64_t ticket; /* generation << 32 | chunk count << 16 | next chunk */
    atomic_int done;         /* chunks finished in this generation */
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

typedef struct {
    eng_pool_t *p;
    int ith;
} start_t;

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs chunks of generation gen until none is left. */
static void work(eng_pool_t *p, uint32_t gen, int ith)
{
    uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(t >> 32) != gen || (t & 0xffff) >= ((t >> 16) & 0xffff))
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        /* the generation cannot finish before this chunk does: fn and arg are still its own */
        p->fn(p->arg, (int)(t & 0xffff), ith);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    }
}

static void *worker(void *arg)
{
    start_t st = *(start_t *)arg;
    free(arg);
    eng_pool_t *p = st.p;
    uint32_t seen = 0;
    for (;;) {
        int spins = 0;
        uint32_t gen;
        while ((gen = (uint32_t)(atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32)) ==
                   seen &&
               !atomic_load(&p->stop) && spins < SPIN_ROUNDS) {
            cpu_relax();
            spins++;
        }
        if (gen == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while ((uint32_t)(atomic_load(&p->ticket) >> 32) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            break;
        seen = (uint32_t)(atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32);
        work(p, seen, st.ith);
    }
    return NULL;
}

eng_pool_t *eng_pool_new(int n)
{
    eng_pool_t *p = xcalloc(1, sizeof *p);
    p->n = n < 1 ? 1 : n;
    atomic_init(&p->ticket, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->stop, false);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->th = xcalloc((size_t)p->n, sizeof *p->th);
    for (int i = 1; i < p->n; i++) {
        start_t *st = xmalloc(sizeof *st);
        st->p = p;
        st->ith = i;
        if (pthread_create(&p->th[i], NULL, worker, st) != 0) {
            free(st);
            p->n = i; /* run with the threads we got */
            break;
        }
    }
    return p;
}

void eng_pool_free(eng_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->th);
    free(p);
}

int eng_pool_size(const eng_pool_t *p)
{
    return p->n;
}

void eng_pool_run(eng_pool_t *p, eng_chunk_fn fn, void *arg, int nchunks)
{
    if (nchunks <= 0)
        return;
    if (nchunks > ENG_POOL_MAX_CHUNKS)
        abort(); /* callers group their work; a bug, not an input */
    if (p->n == 1 || nchunks == 1) {
        for (int c = 0; c < nchunks; c++)
            fn(arg, c, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint32_t gen = (uint32_t)(atomic_load(&p->ticket) >> 32) + 1;
    if (gen == 0) /* workers start having seen 0 */
        gen = 1;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->ticket, (uint64_t)gen << 32 | (uint64_t)nchunks << 16,
                          memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    work(p, gen, 0);
    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < nchunks) {
        if (++spins < SPIN_ROUNDS)
            cpu_relax();
        else
            sched_yield(); /* the last chunk's thread was descheduled: give it the core */
    }
}

/* pool.c - fork-join compute threads: a generation counter announces a task, workers spin on it
 * for a while and then sleep on a condition variable. */
#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/mem.h"

/* About 100-200 microseconds of polling before a worker sleeps: longer than the gap between two
 * matmuls of a forward pass, far shorter than a human-visible pause. */
#define SPIN_ROUNDS 20000

struct eng_pool {
    int n;
    pthread_t *th;
    eng_task_fn fn;
    void *arg;
    atomic_uint gen;    /* bumped once per task */
    atomic_int pending; /* workers still running the task */
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

static void *worker(void *arg)
{
    start_t st = *(start_t *)arg;
    free(arg);
    eng_pool_t *p = st.p;
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
               !atomic_load(&p->stop) && spins < SPIN_ROUNDS) {
            cpu_relax();
            spins++;
        }
        if (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            break;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        p->fn(p->arg, st.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

eng_pool_t *eng_pool_new(int n)
{
    eng_pool_t *p = xcalloc(1, sizeof *p);
    p->n = n < 1 ? 1 : n;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
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

void eng_pool_run(eng_pool_t *p, eng_task_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_ROUNDS)
            cpu_relax();
        else
            sched_yield(); /* a worker was descheduled: give it the core */
    }
}

/* workers.h - a fixed pool of threads for CPU-heavy work (counting tokens, later inference):
 * jobs run off the event loop, and each one's result is handed back to the loop thread, so
 * the loop never blocks on them. */
#ifndef SEEKD_BASE_WORKERS_H
#define SEEKD_BASE_WORKERS_H

#include <stdbool.h>

struct event_base;
typedef struct workers workers_t;
typedef struct work work_t;

/** A job, owned by the caller (embedded in its own struct) from submit until done(). */
struct work {
    /** Runs on a worker thread: touches only what the job owns or what nothing else changes
     * meanwhile. */
    void (*run)(work_t *w);
    /** Runs on the loop thread after run(), or without it when the pool was freed first
     * (ran == false). The job may be freed here. */
    void (*done)(work_t *w);
    bool ran;
    work_t *next; /* the pool's */
};

/** Starts n threads (n >= 1) whose results come back on base, which must have been created
 * after evthread_use_pthreads(). The pool keeps no event pending: a loop with nothing else to
 * wait for exits (a server always has its listener). */
workers_t *workers_new(struct event_base *base, int n);
/** Queues a job; its done() runs later on the loop thread, never inside this call. */
void workers_submit(workers_t *ws, work_t *w);
/** Jobs queued or running. */
int workers_pending(const workers_t *ws);
/** Lets running jobs finish, runs no queued one, joins the threads, then calls done() for
 * every job not yet handed back (ran says whether it ran), on the calling thread. */
void workers_free(workers_t *ws);

#endif

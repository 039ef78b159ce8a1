/* workers.c - the worker pool: one queue of jobs under a mutex, n threads taking from it, and
 * a list of finished jobs that one libevent event hands back to the loop thread. */
#include "base/workers.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/mem.h"

#define WORKER_NICE 5 /* added to the thread's nice value (Linux: per thread) */

struct workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    work_t *qhead, *qtail; /* waiting, oldest first */
    work_t *finished;      /* ran, not yet handed back (newest first) */
    int pending;           /* queued + running + finished, as the loop sees it */
    bool stop;
    struct event *wake; /* activated from the threads: hand finished jobs back */
    pthread_t *threads;
    int nthreads;
};

static void *worker_main(void *arg)
{
    workers_t *ws = arg;
    /* Bulk work yields the core to the loop thread: on a two-core machine two busy workers
     * would otherwise delay every connection's next event by a scheduler slice. If the
     * priority cannot be lowered, the work runs at the loop's. */
    id_t tid = (id_t)gettid();
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
        (void)setpriority(PRIO_PROCESS, tid, nice + WORKER_NICE);
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        while (!ws->qhead && !ws->stop)
            pthread_cond_wait(&ws->cv, &ws->mu);
        if (ws->stop)
            break;
        work_t *w = ws->qhead;
        ws->qhead = w->next;
        if (!ws->qhead)
            ws->qtail = NULL;
        pthread_mutex_unlock(&ws->mu);
        w->run(w);
        w->ran = true;
        pthread_mutex_lock(&ws->mu);
        w->next = ws->finished;
        ws->finished = w;
        event_active(ws->wake, EV_READ, 0);
    }
    pthread_mutex_unlock(&ws->mu);
    return NULL;
}

/* Reverses a newest-first list, so jobs are handed back in the order they finished. */
static work_t *reverse(work_t *w)
{
    work_t *out = NULL;
    while (w) {
        work_t *next = w->next;
        w->next = out;
        out = w;
        w = next;
    }
    return out;
}

static void hand_back(workers_t *ws, work_t *list)
{
    while (list) {
        work_t *w = list;
        list = w->next;
        w->next = NULL;
        ws->pending--;
        w->done(w); /* may free w, or submit more */
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    workers_t *ws = arg;
    pthread_mutex_lock(&ws->mu);
    work_t *list = ws->finished;
    ws->finished = NULL;
    pthread_mutex_unlock(&ws->mu);
    hand_back(ws, reverse(list));
}

workers_t *workers_new(struct event_base *base, int n)
{
    workers_t *ws = xcalloc(1, sizeof *ws);
    pthread_mutex_init(&ws->mu, NULL);
    pthread_cond_init(&ws->cv, NULL);
    ws->wake = event_new(base, -1, 0, on_wake, ws);
    ws->nthreads = n < 1 ? 1 : n;
    ws->threads = xcalloc((size_t)ws->nthreads, sizeof *ws->threads);
    for (int i = 0; i < ws->nthreads; i++)
        if (pthread_create(&ws->threads[i], NULL, worker_main, ws) != 0) {
            fputs("seekd: cannot start a worker thread\n", stderr);
            abort();
        }
    return ws;
}

void workers_submit(workers_t *ws, work_t *w)
{
    w->ran = false;
    w->next = NULL;
    ws->pending++;
    pthread_mutex_lock(&ws->mu);
    if (ws->qtail)
        ws->qtail->next = w;
    else
        ws->qhead = w;
    ws->qtail = w;
    pthread_cond_signal(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
}

int workers_pending(const workers_t *ws)
{
    return ws->pending;
}

void workers_free(workers_t *ws)
{
    if (!ws)
        return;
    pthread_mutex_lock(&ws->mu);
    ws->stop = true;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    for (int i = 0; i < ws->nthreads; i++)
        pthread_join(ws->threads[i], NULL);
    /* what ran first, then what never did, each in order */
    work_t *ran = reverse(ws->finished), *queued = ws->qhead;
    ws->finished = ws->qhead = ws->qtail = NULL;
    event_free(ws->wake);
    hand_back(ws, ran);
    hand_back(ws, queued);
    pthread_mutex_destroy(&ws->mu);
    pthread_cond_destroy(&ws->cv);
    free(ws->threads);
    free(ws);
}

/* test_workers.c - the worker pool: jobs run on other threads, results come back on the loop
 * thread, and freeing the pool hands back every job, run or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <unistd.h>

#include "base/workers.h"

typedef struct {
    work_t w;
    int id;
    pthread_t ran_on, done_on;
    int *order; /* where done() writes its id */
    int *ndone;
    struct event_base *base;
    int stop_after;      /* done(): leave the loop once this many are back */
    useconds_t sleep_us; /* run(): work this long */
} job_t;

static void job_run(work_t *w)
{
    job_t *j = (job_t *)w;
    j->ran_on = pthread_self();
    if (j->sleep_us)
        usleep(j->sleep_us);
}

static void job_done(work_t *w)
{
    job_t *j = (job_t *)w;
    j->done_on = pthread_self();
    j->order[(*j->ndone)++] = j->id;
    if (j->base && *j->ndone == j->stop_after)
        event_base_loopbreak(j->base);
}

static void jobs_run_off_the_loop_and_come_back_on_it(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    workers_t *ws = workers_new(base, 2);
    enum { N = 16 };
    job_t jobs[N] = {0};
    int order[N], ndone = 0;
    for (int i = 0; i < N; i++) {
        jobs[i] = (job_t){.w = {.run = job_run, .done = job_done},
                          .id = i,
                          .order = order,
                          .ndone = &ndone,
                          .base = base,
                          .stop_after = N};
        workers_submit(ws, &jobs[i].w);
    }
    assert_int_equal(ndone, 0); /* never inside submit */
    assert_int_equal(workers_pending(ws), N);
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); /* the pool keeps nothing pending */
    assert_int_equal(ndone, N);
    assert_int_equal(workers_pending(ws), 0);
    pthread_t me = pthread_self();
    for (int i = 0; i < N; i++) {
        assert_true(jobs[i].w.ran);
        assert_false(pthread_equal(jobs[i].ran_on, me));
        assert_true(pthread_equal(jobs[i].done_on, me));
    }
    workers_free(ws);
    event_base_free(base);
}

static void freeing_hands_back_queued_jobs_unrun(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    workers_t *ws = workers_new(base, 1);
    enum { N = 4 };
    job_t jobs[N] = {0};
    int order[N], ndone = 0;
    /* the first job keeps the only thread busy, so the others are still queued at free */
    for (int i = 0; i < N; i++) {
        jobs[i] = (job_t){.w = {.run = job_run, .done = job_done},
                          .id = i,
                          .order = order,
                          .ndone = &ndone,
                          .sleep_us = i == 0 ? 200000 : 0};
        workers_submit(ws, &jobs[i].w);
    }
    usleep(50000); /* the thread has taken job 0 */
    workers_free(ws);
    assert_int_equal(ndone, N);
    int expect[N] = {0, 1, 2, 3}; /* what ran first, then the queue in order */
    assert_memory_equal(order, expect, sizeof expect);
    assert_true(jobs[0].w.ran);
    for (int i = 1; i < N; i++)
        assert_false(jobs[i].w.ran);
    event_base_free(base);
}

int main(void)
{
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jobs_run_off_the_loop_and_come_back_on_it),
        cmocka_unit_test(freeing_hands_back_queued_jobs_unrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* loopmon.c - the event loop's own stalls, from a 10 ms timer's lateness and the loop thread's
 * CPU time. */
#include "base/loopmon.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"

#define TICK_US 10000

struct loopmon {
    struct event *ev;
    int64_t due_us; /* when the timer should fire next (monotonic) */
    int64_t cpu_us; /* the loop thread's CPU time at the last firing */
    loopmon_stats_t st;
};

static int64_t now_us(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loopmon_t *m = arg;
    int64_t wall = now_us(CLOCK_MONOTONIC), cpu = now_us(CLOCK_THREAD_CPUTIME_ID);
    int64_t late = wall - m->due_us, busy = cpu - m->cpu_us;
    int64_t stall = late < busy ? late : busy;
    if (stall > 0) {
        double ms = (double)stall / 1000.0;
        if (ms > m->st.max_ms)
            m->st.max_ms = ms;
        if (ms > m->st.recent_ms)
            m->st.recent_ms = ms;
        if (ms > 5)
            m->st.over_5ms++;
        if (ms > 100) {
            m->st.over_100ms++;
            log_warn("event loop stalled %.1f ms (a callback ran that long)", ms);
        }
    }
    m->due_us = wall + TICK_US;
    m->cpu_us = cpu;
}

loopmon_t *loopmon_new(struct event_base *base)
{
    loopmon_t *m = xcalloc(1, sizeof *m);
    m->ev = event_new(base, -1, EV_PERSIST, on_tick, m);
    struct timeval tv = {0, TICK_US};
    m->due_us = now_us(CLOCK_MONOTONIC) + TICK_US;
    m->cpu_us = now_us(CLOCK_THREAD_CPUTIME_ID);
    event_add(m->ev, &tv);
    return m;
}

void loopmon_free(loopmon_t *m)
{
    if (!m)
        return;
    event_free(m->ev);
    free(m);
}

loopmon_stats_t loopmon_read(loopmon_t *m)
{
    loopmon_stats_t s = m->st;
    m->st.recent_ms = 0;
    return s;
}

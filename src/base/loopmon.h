/* loopmon.h - how long the event loop goes without getting back to its events: a 10 ms timer
 * notes how late it fires and how much CPU the loop thread spent meanwhile. The smaller of the
 * two is a stall the loop caused itself (a long callback), not time another process or thread
 * took from it; this is the figure a client's request waits on top of the network. */
#ifndef SEEKD_BASE_LOOPMON_H
#define SEEKD_BASE_LOOPMON_H

#include <stdint.h>

struct event_base;
typedef struct loopmon loopmon_t;

typedef struct {
    double max_ms;       /* the longest stall since start */
    double recent_ms;    /* the longest since the previous loopmon_read */
    uint64_t over_5ms;   /* stalls longer than 5 ms since start */
    uint64_t over_100ms; /* and longer than 100 ms (each also logged) */
} loopmon_stats_t;

/** Starts watching the loop of base (from its own thread). */
loopmon_t *loopmon_new(struct event_base *base);
void loopmon_free(loopmon_t *m);
/** The figures so far; starts a new "recent" window. */
loopmon_stats_t loopmon_read(loopmon_t *m);

#endif

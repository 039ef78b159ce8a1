/* limiter.h - the per-key limits a metered request passes, in one of two modes:
 *  - in this process (limits.h): an answer at once, no loop turn;
 *  - shared by every seekd instance through one Redis: admission (rpm, tpm and concurrency
 *    together) is one atomic script, answered through a callback within redis_timeout_ms.
 *    While Redis cannot answer, this process decides alone with each limit divided by the
 *    number of instances (gw_limit_cfg_share), says so once in the log and counts it.
 * Loop thread only. */
#ifndef SEEKD_GATEWAY_LIMITER_H
#define SEEKD_GATEWAY_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/limits.h"
#include "gateway/redis_url.h"

struct event_base;
typedef struct gw_limiter gw_limiter_t;

typedef struct {
    struct event_base *base;
    const gw_redis_url_t *redis; /* NULL: in this process */
    int instances;               /* redis_instances: how many share the limits */
    long timeout_ms;             /* redis_timeout_ms */
    long lease_ttl_ms;           /* 0: GW_LEASE_TTL_MS (tests make it short) */
} gw_limiter_opts_t;

/* A request in flight holds a lease in Redis for this long, refreshed every third of it while
 * it runs: the slot of an instance that died comes back after at most this long. */
#define GW_LEASE_TTL_MS 60000

/** An admission's answer: GW_LIMIT_OK, or the limit that refuses and when to retry. */
typedef void (*gw_admit_fn)(void *ud, gw_limit_rc_t rc, int64_t retry_ms);

/** What one request holds of the limits: embedded in the caller's request and zeroed with it;
 * its fields are the limiter's. */
typedef struct gw_lease {
    int state;
    char key_id[16];
    gw_limit_cfg_t cfg; /* the limits it was admitted under (a share of them, when alone) */
    int64_t tokens;     /* the estimate it was admitted for */
    char id[40];        /* its entry in Redis' set of requests in flight ("": none) */
    struct pending *pending;
    gw_admit_fn fn;
    void *ud;
    struct gw_lease *prev, *next; /* leases held in Redis, refreshed while they run */
} gw_lease_t;

/** A limiter in this process (o->redis NULL), or one that shares the limits through Redis and
 * starts connecting (a host name is resolved here, once). NULL with err set when it cannot. */
gw_limiter_t *gw_limiter_new(const gw_limiter_opts_t *o, char *err, size_t errlen);
/** Before the event base is freed. Admissions still waiting are dropped: their callbacks are
 * not called (the server may be gone). */
void gw_limiter_free(gw_limiter_t *l);

/** Admits one request of an estimated `tokens` for key_id under cfg. Returns true when the
 * answer is there now (*rc, *retry_ms; fn is not called), false when fn(ud, ...) will give it
 * once, later (within the Redis timeout), unless gw_limiter_end comes first. Every lease that
 * was passed here must be given to gw_limiter_end once, whatever the answer. */
bool gw_limiter_admit(gw_limiter_t *l, gw_lease_t *ls, const char *key_id,
                      const gw_limit_cfg_t *cfg, int64_t tokens, gw_admit_fn fn, void *ud,
                      gw_limit_rc_t *rc, int64_t *retry_ms);

/** Ends what gw_limiter_admit began: an admitted request frees its concurrency slot and its
 * tokens per minute are corrected by `actual`; an admission still waiting is dropped (fn is not
 * called; if Redis admits it after all, the limiter gives the slot back); a refusal: nothing. */
void gw_limiter_end(gw_limiter_t *l, gw_lease_t *ls, int64_t actual);

typedef struct {
    bool shared;       /* Redis is configured */
    bool up;           /* and answering */
    uint64_t degraded; /* admissions this process decided alone, with the divided limits */
} gw_limiter_stats_t;

void gw_limiter_stats(const gw_limiter_t *l, gw_limiter_stats_t *st);

#endif

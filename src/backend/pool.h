/* pool.h - upstreams, their key pools, and the health of each key: which (upstream, key) a
 * request should try next. Pure bookkeeping: no I/O here, times are passed in (ms). */
#ifndef SEEKD_BACKEND_POOL_H
#define SEEKD_BACKEND_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"

typedef enum {
    KEY_OK,
    KEY_COOLDOWN,   /* 429s at a high rate: until `until_ms` (Retry-After or backoff) */
    KEY_DISABLED,   /* 401/403: until a probe is answered 200 */
    KEY_NO_BALANCE, /* 402: until a probe sees balance */
    KEY_EJECTED,    /* 5xx/connection errors at a high rate: until `until_ms`, then probed */
} pool_key_state_t;

/* How many recent attempts a key or an upstream remembers: failure rates are counted over
 * those of them that fall within `error_window_ms`. */
#define POOL_WINDOW 32

/** Recent attempts, a ring: when each ended and how (a pool_outcome_t); `head` is the newest
 * of the `n` kept. */
typedef struct {
    int64_t t[POOL_WINDOW];
    uint8_t out[POOL_WINDOW];
    int head, n;
} pool_window_t;

typedef struct {
    char *key;
    char id[LOG_KEY_ID_SIZE]; /* the key's id (base/log.h): how logs and /health name it */
    pool_key_state_t state;
    char reason[160];
    int64_t until_ms;
    int active; /* transfers in flight */
    pool_window_t recent;
    int backoff_ms;
    bool probing;
    int64_t requests, failures;
} pool_key_t;

typedef struct {
    char *name;
    char *url;
    pool_key_t *keys;
    int nkeys;
    char **models; /* "*" serves every model */
    int nmodels;
    int priority; /* lower is tried first */
    int weight;
    int max_per_key; /* concurrent transfers per key; 0 = unlimited */
    bool ejected;
    char reason[160];
    int64_t until_ms;
    pool_window_t recent;
    bool probing;
    unsigned rr;
    int current_weight; /* smooth weighted round-robin among equal priorities */
} pool_upstream_t;

typedef struct {
    const char *name, *url;
    const char *const *keys;
    int nkeys;
    const char *const *models;
    int nmodels;
    int priority, weight, max_per_key;
} pool_upstream_def_t;

typedef struct {
    /* A key is cooled (429) or ejected (5xx, connection errors), an upstream ejected, when
     * within `error_window_ms` at least `error_threshold` (at most POOL_WINDOW) of its
     * attempts failed that way and they are at least half of its attempts there; and only
     * when every model it serves keeps another usable key (upstream) to carry the load. */
    int error_threshold;
    int64_t error_window_ms;
    int64_t eject_ms;    /* how long an ejected key/upstream rests before it is probed */
    int64_t cooldown_ms; /* 429 without Retry-After: first backoff (doubles, max 60 s) */
} pool_policy_t;

typedef struct {
    pool_upstream_t *ups;
    int nups;
    pool_policy_t policy;
} pool_t;

/** Outcome of one attempt, as the relay saw it. */
typedef enum {
    OUT_OK,         /* answered (the key works) */
    OUT_AUTH,       /* 401/403 */
    OUT_NO_BALANCE, /* 402 */
    OUT_RATE_LIMIT, /* 429 */
    OUT_SERVER,     /* 5xx, HTML error pages, malformed answers, first-token timeout */
    OUT_CONNECT,    /* could not connect / connection reset */
    OUT_CLIENT,     /* 400/404/422: the request's fault, not the key's */
} pool_outcome_t;

/** A choice: upstream index and key index (key -1 when the client brought the key). */
typedef struct {
    int up;
    int key;
} pool_pick_t;

typedef enum { PICK_OK, PICK_WAIT, PICK_NONE } pool_pick_result_t;

/** Why nothing can serve (PICK_NONE), as the client should hear it. */
typedef struct {
    int status; /* 429 when every key cools down, 502 when all were rejected, else 503 */
    const char *type;
    int retry_after_ms; /* > 0 with 429: when the first key comes back */
    char msg[256];
} pool_refusal_t;

void pool_init(pool_t *p, const pool_upstream_def_t *defs, int ndefs, const pool_policy_t *pol);
void pool_free(pool_t *p);

/** Whether upstream u serves model. */
bool pool_serves(const pool_upstream_t *u, const char *model);

/** Chooses where a request for `model` goes next. `tried` lists the (upstream, key) pairs this
 * request already used (never reused; the same key string on another upstream is another
 * pair). With the client's own keys (`byot`, nbyot > 0) the key is one of those (returned as
 * key = -1 - index) and server key health does not apply. PICK_WAIT: every usable key is at
 * its concurrency limit (queue and ask again later). PICK_NONE: nothing can serve; `why` says
 * why and with which status. */
pool_pick_result_t pool_pick(pool_t *p, const char *model, int nbyot, const pool_pick_t *tried,
                             int ntried, int64_t now, pool_pick_t *out, pool_refusal_t *why);

/** Records the outcome of an attempt on (up, key). retry_after_ms <= 0: none given; it is the
 * cooldown's length when a 429 cools the key. 401/403 and 402 take the key out at once; 429s
 * and 5xx/connection errors only by rate (see pool_policy_t), and never the last usable key
 * (upstream) of a model: its failures reach the requests that got them instead. Returns true
 * when the key's or the upstream's state changed (the caller logs it). */
bool pool_report(pool_t *p, int up, int key, pool_outcome_t out, int retry_after_ms,
                 const char *detail, int64_t now);

/** Moves cooled-down keys back to OK and lets ejected keys/upstreams whose rest is over be
 * probed. Returns true when some key became usable (dispatch waiting requests). */
bool pool_tick(pool_t *p, int64_t now);

/** Whether key k of upstream u needs a probe now (disabled, no balance, or ejected and rested). */
bool pool_needs_probe(const pool_t *p, int u, int k, int64_t now);

/** A probe's answer: ok brings the key (and its upstream) back. */
void pool_probe_result(pool_t *p, int u, int k, bool ok, const char *detail, int64_t now);

const char *pool_state_name(pool_key_state_t s);

#endif

/* redis.h - one connection to Redis on the event loop, through hiredis' async API and its
 * libevent adapter. hiredis 0.14 has no timeouts of its own, so every step has one of seekd's
 * timers: the connect and its handshake (AUTH, SELECT, PING), and each script call. A call
 * without an answer in time, an I/O error or a closed connection take the connection down;
 * it comes back by itself with a backoff. A call is only made while the connection is up and
 * fewer than GW_REDIS_MAX_CALLS are in flight: otherwise the caller hears so at once and does
 * without Redis. Loop thread only. */
#ifndef SEEKD_GATEWAY_REDIS_H
#define SEEKD_GATEWAY_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/redis_url.h"

struct event_base;
typedef struct gw_redis gw_redis_t;

#define GW_REDIS_MAX_CALLS 1024
#define GW_REDIS_MAX_ARGS 160 /* keys and args of one call */

typedef enum {
    GW_REDIS_NONE,  /* no answer: the call timed out or the connection failed */
    GW_REDIS_ERROR, /* Redis answered with an error (the text is in msg) */
    GW_REDIS_INTS,  /* an integer or an array of up to 4 integers, in v[0..n) */
} gw_redis_kind_t;

typedef struct {
    gw_redis_kind_t kind;
    int n;
    long long v[4];
    const char *msg; /* GW_REDIS_ERROR: Redis' text, valid during the callback only */
} gw_redis_reply_t;

/** A call's answer, exactly once per accepted call, never from within gw_redis_eval. */
typedef void (*gw_redis_fn)(void *ud, const gw_redis_reply_t *r);
/** The connection came up (why NULL) or went down (why says what failed; no secret in it).
 * Said once per change, and once at start when the first connection fails. */
typedef void (*gw_redis_state_fn)(void *ud, bool up, const char *why);

typedef struct {
    struct event_base *base;
    const gw_redis_url_t *url;
    long timeout_ms;            /* a call's deadline */
    long connect_timeout_ms;    /* the connect and the handshake's */
    const char *const *scripts; /* Lua bodies, run by their index with gw_redis_eval */
    int nscripts;
    gw_redis_state_fn on_state;
    void *ud;
} gw_redis_opts_t;

/** Resolves the host (once: a name is looked up here, at start, never on the loop) and starts
 * connecting from the loop's next turn. Returns NULL with err set when the host does not
 * resolve. */
gw_redis_t *gw_redis_new(const gw_redis_opts_t *o, char *err, size_t errlen);
/** Closes the connection; calls in flight are answered GW_REDIS_NONE. Before the base is freed. */
void gw_redis_free(gw_redis_t *r);
/** Whether the connection is up (handshake done). */
bool gw_redis_up(const gw_redis_t *r);
/** "HOST:PORT[/DB]" for logs (no password). */
const char *gw_redis_where(const gw_redis_t *r);

/** Runs script number `script` with keys and args (EVALSHA; EVAL when Redis does not know the
 * script yet, within the same deadline). Returns 0 when fn will be called, -1 when the call was
 * not made (down, too many in flight, arguments too long): fn is then never called. */
int gw_redis_eval(gw_redis_t *r, int script, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, gw_redis_fn fn, void *ud);

#endif

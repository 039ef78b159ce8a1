/* upstream.h - the relay backend: OpenAI-compatible upstreams with key pools, failover before
 * the first byte, a bounded wait queue and background probes. Transfers run on the HTTP
 * server's libevent loop: http/client.c for plain http, libcurl's multi interface for https.
 * The files: upstream.c (this object), relay.c (a client request's life), attempt.c (one
 * transfer), probe.c (probes and plain GETs), catalog.c (the upstreams' model lists), splice.c
 * (the posted body), xport_*.c (the two transports). */
#ifndef SEEKD_BACKEND_UPSTREAM_H
#define SEEKD_BACKEND_UPSTREAM_H

#include "backend/backend.h"
#include "backend/models.h"
#include "backend/pool.h"
#include "base/slice.h"

struct event_base;
struct workers;

typedef struct {
    const pool_upstream_def_t *ups; /* at least one */
    int nups;
    pool_policy_t policy;
    long connect_timeout_ms;
    long conn_idle_ms;           /* pooled connections idle longer than this are not reused */
    long first_token_timeout_ms; /* from attempt start to the first answer byte */
    long idle_timeout_ms;        /* between answer chunks */
    long total_timeout_ms;       /* one whole attempt; 0 = none */
    long request_timeout_ms;     /* queueing plus every attempt before the first byte */
    int max_attempts;            /* attempts per request (failover), >= 1 */
    int queue_max;               /* requests waiting for a free key */
    long probe_interval_ms;      /* how often disabled/ejected keys are probed */
    long models_refresh_ms;      /* an upstream's model list older than this is fetched again */
    size_t max_event;            /* cap on one SSE line/event and on error bodies */
    size_t max_answer;           /* cap on a whole non-streamed upstream answer */
    struct workers *workers;     /* where token counts run off the loop; NULL: on the loop */
} upstream_opts_t;

typedef struct upstream upstream_t;

/** Creates the relay (copies opts, upstreams and keys). NULL when libcurl cannot start. */
upstream_t *upstream_new(struct event_base *base, const upstream_opts_t *opts);
void upstream_free(upstream_t *up);
/** The backend interface of this relay. */
backend_t *upstream_backend(upstream_t *up);
/** Upstreams and key health, read-only, for /health. */
const pool_t *upstream_pool(const upstream_t *up);
/** How upstream i (pool order) is reached: "builtin" (http/client.c) or "libcurl". */
const char *upstream_transport(const upstream_t *up, int i);
/** Retires a relay a reload replaced: it takes no new work (the API sends new requests to the
 * new one) and finishes what runs on it (answers, queued requests, GETs); probes stop. When
 * the last of it has ended, on_idle(ud, up) runs from the loop, and the owner frees it (or at
 * exit, if it never came). */
void upstream_retire(upstream_t *up, void (*on_idle)(void *ud, upstream_t *up), void *ud);
/** Requests waiting for a free key. */
int upstream_queued(const upstream_t *up);

/** Result of a plain relayed GET: upstream status and body (status 0: no answer; `err` says
 * why). Slices are valid only during the callback. */
typedef void (*upstream_get_cb)(void *ud, int status, slice_t content_type, slice_t body,
                                const char *err);
typedef struct upstream_get upstream_get_t;
/** GETs path from the first upstream (by priority) with client_key, or with one of its usable
 * server keys when client_key is NULL. Returns a handle for upstream_get_cancel, valid until
 * the callback returns. The callback never runs inside this call. */
upstream_get_t *upstream_get(upstream_t *up, const char *path, const char *client_key,
                             upstream_get_cb cb, void *ud);
/** Stops a GET before its callback; the callback never runs. */
void upstream_get_cancel(upstream_get_t *handle);

/* ---- the model list (catalog.c) ---- */

typedef void (*upstream_models_cb)(void *ud);
typedef struct upstream_models_wait upstream_models_wait_t;
/** The models the upstreams serve, as GET /models lists them: in config order, each upstream's
 * configured names, then, for an upstream that serves "*", what its own GET /models last
 * answered; an id listed twice counts once, as the first upstream has it. Each list older
 * than models_refresh_ms (or never fetched) is fetched now, in the background, with a usable
 * server key of its upstream, or else with client_key (may be NULL); a failed fetch is tried
 * again after 10 s at most. Returns the list, valid until control returns to the loop; or NULL
 * while an upstream that never answered well is being fetched: then *wait is set, and cb(ud)
 * runs once from the loop when that fetch ended (ask again then), unless
 * upstream_models_cancel(*wait) came first. */
const models_list_t *upstream_models(upstream_t *up, const char *client_key, upstream_models_cb cb,
                                     void *ud, upstream_models_wait_t **wait);
void upstream_models_cancel(upstream_t *up, upstream_models_wait_t *wait);
/** The list as it is now, without fetching anything (for a request that waited). */
const models_list_t *upstream_models_list(upstream_t *up);
/** Why an upstream that serves "*" has no list (its fetches failed, none answered well yet),
 * in words naming it; NULL when every such upstream has one. */
const char *upstream_models_error(const upstream_t *up);
/** A reload: each upstream of up that old had too (same name and url) starts from old's
 * list instead of fetching before its first answer. */
void upstream_models_adopt(upstream_t *up, const upstream_t *old);

#endif

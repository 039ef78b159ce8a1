/* upstream_int.h - what the relay backend's files share: the relay object itself. Not for
 * use outside backend/upstream*.c, relay.c and probe.c. */
#ifndef SEEKD_BACKEND_UPSTREAM_INT_H
#define SEEKD_BACKEND_UPSTREAM_INT_H

#include <stdint.h>

#include "backend/attempt.h"
#include "backend/models.h"
#include "backend/pool.h"
#include "backend/upstream.h"
#include "backend/xport.h"
#include "base/log.h"

struct http_client;
typedef struct probe probe_t;
typedef struct catalog_up catalog_up_t;

#define UPSTREAM_KEY_ID_SLOTS 16
#define UPSTREAM_KEY_ID_MAXKEY 120 /* longer keys are hashed every time */

typedef struct {
    size_t len; /* 0: empty */
    char key[UPSTREAM_KEY_ID_MAXKEY];
    char id[LOG_KEY_ID_SIZE];
} key_id_slot_t;

struct upstream {
    backend_t be; /* first: the backend interface */
    struct event_base *base;
    upstream_opts_t o;
    att_limits_t lim;
    pool_t pool;
    xport_t **via; /* [upstream]: how it is reached */
    struct http_client *hc;
    xport_curl_env_t *curl;
    /* [upstream][key * 2 + stream]: the request headers for a server key, built once */
    slice_t **key_hdrs;
    struct event *tick;
    int64_t next_probe_ms;
    bk_call_t *qhead, *qtail; /* requests waiting for a free key, oldest first */
    int queued;
    probe_t *probes; /* in flight */
    int calls;       /* client requests alive (relay.c) */
    int gets;        /* plain GETs in flight (probe.c) */
    /* the model list (catalog.c) */
    catalog_up_t *cat; /* [upstream] */
    att_limits_t cat_lim;
    models_list_t merged;
    bool cat_dirty; /* an upstream's list changed since `merged` was built */
    upstream_models_wait_t *waiters, *waking;
    bool retired; /* replaced by a reload: its owner frees it once nothing runs on it */
    bool free_scheduled;
    void (*on_idle)(void *ud, upstream_t *up);
    void *on_idle_ud;
    /* the log ids of the clients' own keys seen last (relay.c), so that a client's key is
     * not hashed again for every request it sends; wiped when the upstream is freed */
    key_id_slot_t key_ids[UPSTREAM_KEY_ID_SLOTS];
};

/** A request, GET or probe of a retired relay ended: when it was the last thing running on it,
 * tells the owner (from the loop, not from inside the relay's own code). */
void upstream_idle_check(upstream_t *up);

/** The header block (CRLF lines) for a request with key: Authorization, what is sent and
 * accepted, User-Agent. Returns a malloc'd block of *len bytes. */
char *upstream_headers(const char *key, const char *accept, bool json_body, size_t *len);
/** The cached header block of server key ki of upstream ui, for a stream or not. */
slice_t upstream_key_headers(upstream_t *up, int ui, int ki, bool stream);

/* relay.c: the life of a client request */
bk_call_t *relay_start(backend_t *be, const bk_request_t *r, bk_sink_t *sink);
void relay_cancel(bk_call_t *req);
void relay_resume(bk_call_t *req);
/** Starts waiting requests, oldest first, while keys are free. */
void relay_dispatch(upstream_t *up);
/** Fails waiting requests whose deadline has passed. */
void relay_expire(upstream_t *up, int64_t now);
/** Frees waiting requests without a word (the server is going away). */
void relay_drop_queue(upstream_t *up);

/* catalog.c: the model lists */
void catalog_init(upstream_t *up);
/** Stops the fetches in flight and frees the lists (the server is going away). */
void catalog_free(upstream_t *up);

/* probe.c: a health probe of key ki of upstream ui */
void probe_start(upstream_t *up, int ui, int ki);
/** Stops every probe in flight (the server is going away). */
void probe_stop_all(upstream_t *up);

#endif

/* upstream.h - the relay backend: OpenAI-compatible upstream over libcurl's multi interface,
 * driven by the same libevent loop as the HTTP server. */
#ifndef SEEKD_BACKEND_UPSTREAM_H
#define SEEKD_BACKEND_UPSTREAM_H

#include "backend/backend.h"
#include "base/slice.h"

struct event_base;

typedef struct {
    const char *base_url;  /* e.g. https://api.deepseek.com (a trailing /v1 is kept) */
    const char *const *keys; /* server-side keys; may be empty (then clients bring theirs) */
    int nkeys;
    long connect_timeout_ms;
    long first_token_timeout_ms; /* from request start to the first answer byte */
    long idle_timeout_ms;        /* between answer chunks */
    long total_timeout_ms;
    size_t max_event;  /* cap on one upstream SSE line/event and on error bodies */
    size_t max_answer; /* cap on a whole non-streamed upstream answer */
} upstream_opts_t;

typedef struct upstream upstream_t;

/** Creates the relay (copies opts and keys). Returns NULL when libcurl cannot start. */
upstream_t *upstream_new(struct event_base *base, const upstream_opts_t *opts);
void upstream_free(upstream_t *up);
/** The backend interface of this relay. */
backend_t *upstream_backend(upstream_t *up);
/** Number of server-side keys. */
int upstream_nkeys(const upstream_t *up);
/** Writes a masked form of key i ("sk-…abcd") into out. */
void upstream_key_masked(const upstream_t *up, int i, char *out, size_t outsz);
const char *upstream_base_url(const upstream_t *up);

/** Result of a plain relayed GET: upstream status and body (status 0: no answer, `err` says
 * why). Slices are valid only during the callback. */
typedef void (*upstream_get_cb)(void *ud, int status, slice_t content_type, slice_t body,
                                const char *err);
/** GETs base_url + path with a key (client_key, or a server key when NULL). Returns a call
 * handle for upstream_backend(up)->cancel. */
bk_call_t *upstream_get(upstream_t *up, const char *path, const char *client_key,
                        upstream_get_cb cb, void *ud);

#endif

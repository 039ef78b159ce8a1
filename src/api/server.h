/* server.h - seekd's DeepSeek API routes on top of http/ and a backend. */
#ifndef SEEKD_API_SERVER_H
#define SEEKD_API_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/access.h"
#include "backend/backend.h"
#include "backend/upstream.h"
#include "gateway/auth.h"
#include "gateway/limiter.h"
#include "gateway/price.h"
#include "http/http.h"

struct event_base;

struct workers;
struct loopmon;

typedef struct {
    struct event_base *base;
    backend_t *backend;
    struct local *local;  /* local models (backend/local.h), routed by name; NULL: none */
    upstream_t *upstream; /* for /user/balance and /health; may be NULL */
    gw_auth_cfg_t auth;
    const char *const *models;
    int nmodels;
    size_t max_body;
    size_t max_answer;
    long keepalive_ms;        /* `: keep-alive` interval while a stream waits for its first token */
    size_t max_output;        /* per-client output cap; above a quarter of it the upstream pauses */
    long token_check_per_min; /* POST /token/check budget (upstream calls it may cause) */
    api_access_opts_t access; /* Host, CORS and client-address policy */
    const char *admin_token;  /* shows /health's details to "Bearer <it>"; NULL: to nobody */
    struct workers *workers;  /* large bodies are parsed here, off the loop; NULL: on it */
    struct loopmon *loopmon;  /* the loop's stalls, shown in /health's details; may be NULL */
    /* accounts: auth.accounts holds the keys; prices bill them (NULL when no accounts) */
    const gw_prices_t *prices;
    long hold_max_tokens;   /* output tokens held for a request without max_tokens */
    long hold_image_tokens; /* prompt tokens an image part is held for */
    bool metrics_off;       /* no GET /metrics */
    /* Anthropic model names to served ones ("PATTERN=MODEL", see anthropic_parse.h); NULL:
     * DeepSeek's own map */
    const char *const *anthropic_model_map;
    int nanthropic_model_map;
    /* the per-key limits, shared through Redis or not; the caller's, kept across reloads.
     * NULL: the server keeps its own, in this process */
    gw_limiter_t *limiter;
} api_server_opts_t;

typedef struct api_server api_server_t;

api_server_t *api_server_new(const api_server_opts_t *opts);
void api_server_free(api_server_t *s);
/** Where the server listens (the Host check accepts this name); call once the port is bound. */
void api_server_set_listen(api_server_t *s, const char *host, int port);
/** New settings (a reload): new requests use them, answers in flight finish with the backend
 * they started on. base, workers and loopmon must stay the same. */
void api_server_reconfigure(api_server_t *s, const api_server_opts_t *opts);
/** Answers still in flight (chat and completions). */
int api_server_active(const api_server_t *s);
/** Ends every answer in flight now, for a stop whose grace ran out: a client still waiting for
 * its answer gets a 503 envelope, a stream gets an error event and its end; upstream calls are
 * cancelled. */
void api_server_shutdown(api_server_t *s);
/** The http_handler_fn to give http_server_new, with the api_server_t as its ud. */
void api_server_handle(http_req_t *req, void *ud);
/** The http_head_fn to give http_opts_t.on_head, with the same ud: a POST with a body to a
 * route that needs a key is authorized from its head, and a client without one gets its 401
 * before any of the body is read (the route authorizes again, cheaply). */
bool api_server_head(http_req_t *req, void *ud);

#endif

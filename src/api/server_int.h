/* server_int.h - what the files of the API server share (private to api/): the server
 * object, the small responses every route gives, and each file's handlers. */
#ifndef SEEKD_API_SERVER_INT_H
#define SEEKD_API_SERVER_INT_H

#include <stdbool.h>
#include <time.h>

#include "api/access.h"
#include "api/error.h"
#include "api/front.h"
#include "api/server.h"
#include "api/validate.h"
#include "gateway/auth.h"
#include "gateway/limiter.h"
#include "gateway/ratelimit.h"
#include "http/http.h"
#include "json/jr.h"

struct api_server {
    api_server_opts_t o;
    api_access_t *access;
    char listen_host[256]; /* for a new access policy on reload */
    int listen_port;
    time_t started;
    long long requests;
    int active;
    struct chat *chats; /* the answers in flight, for a stop that has to end them */
    gw_bucket_t token_checks;
    jr_doc_t jr;           /* the loop's reader of request bodies, reused from request to request */
    gw_limiter_t *limiter; /* metered keys' rpm, tpm and concurrency (o.limiter or own) */
    bool own_limiter;
    struct api_metrics *metrics; /* NULL: metrics = off */
};

/* ---- small responses (server.c) ---- */

/** Logs a request that got a plain answer (not a chat one). */
void api_log_simple(const api_server_t *s, http_req_t *r, int status);
/** Sends DeepSeek's error envelope with err's status. */
void api_send_error(http_req_t *r, const api_error_t *err);
/** Sends a JSON body built in b with status 200 (logged), or a 500 envelope when the builder
 * ran into b's cap: a cut body is never sent. */
void api_send_built(const api_server_t *s, http_req_t *r, const buf_t *b);
/** An error envelope built from its parts, logged. */
void api_reply_error(const api_server_t *s, http_req_t *r, int status, const char *type,
                     const char *code, const char *param, const char *msg);
/** Checks the Authorization header; answers 401 and returns false when the request may not
 * go on. */
bool api_authorize(api_server_t *s, http_req_t *r, gw_auth_t *auth);
/** As api_authorize, for a front: Anthropic's clients may send their key as `x-api-key` (an
 * Authorization header wins when both come), and hear a 401 in Anthropic's shape. */
bool api_authorize_front(api_server_t *s, http_req_t *r, gw_auth_t *auth, api_front_t front);

/* ---- the chat flow (chat.c) ---- */

/** POST /chat/completions and its kin, /anthropic/v1/messages and /responses: translate (the
 * last two), validate, start the backend, encode its events in front's format. */
void api_handle_chat(api_server_t *s, http_req_t *r, api_kind_t kind, api_front_t front,
                     const char *route);

/* ---- Anthropic's token counting (count_tokens.c) ---- */

/** POST /anthropic/v1/messages/count_tokens: the prompt's tokens with seekd's tokenizer. */
void api_handle_count_tokens(api_server_t *s, http_req_t *r);

/* ---- what the server says about itself and its upstreams (info.c) ---- */

/** GET /models and /models/{id} (id.ptr NULL: the list), for an authorized request. */
void api_handle_models(api_server_t *s, http_req_t *r, slice_t id, const gw_auth_t *auth);
/** POST /token/check: whether a key works upstream. */
void api_handle_token_check(api_server_t *s, http_req_t *r);
/** GET /user/balance, relayed. */
void api_handle_balance(api_server_t *s, http_req_t *r);
/** /admin/...: the accounts' keys for the admin token (rest: the path after "/admin/"). */
void api_handle_admin(api_server_t *s, http_req_t *r, slice_t rest);
/** GET /metrics: Prometheus' text format. */
void api_handle_metrics(api_server_t *s, http_req_t *r);
/** GET /health (readiness false) and /health/ready. */
void api_handle_health(api_server_t *s, http_req_t *r, bool readiness);

#endif

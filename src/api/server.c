/* server.c - the API server: routes, the authorization every keyed route shares, and the small
 * responses; the chat flow is in chat.c, /models, /user/balance, /token/check and /health in
 * info.c. */
#include "api/server.h"
#include "api/metrics.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/server_int.h"
#include "base/clock.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "json/jw.h"

/* ---- small responses ---- */

void api_log_simple(const api_server_t *s, http_req_t *r, int status)
{
    if (!log_on(LOG_INFO))
        return;
    char client[NET_ADDR_STRLEN];
    api_client_addr_str(s->access, r, client, sizeof client);
    log_info("req=%s %s %.*s status=%d dur_us=%lld client=%s", http_req_id(r), http_req_method(r),
             (int)http_req_path(r).len, http_req_path(r).ptr, status, http_req_elapsed_us(r),
             client);
}

void api_send_error(http_req_t *r, const api_error_t *err)
{
    buf_t b;
    buf_init(&b, 4096);
    /* a 512-byte message escapes to at most ~3 KiB, so this fits; if it ever does not, the
     * client still gets a well-formed envelope rather than a cut one */
    if (api_error_encode(err, &b)) {
        static const char fixed[] = "{\"error\":{\"message\":\"internal error: the error message "
                                    "did not fit\",\"type\":\"api_error\",\"param\":null,"
                                    "\"code\":null}}";
        buf_reset(&b);
        buf_append(&b, fixed, sizeof fixed - 1);
    }
    http_resp_send(r, err->status, "application/json", b.data ? b.data : "", b.len);
    buf_free(&b);
}

void api_send_built(const api_server_t *s, http_req_t *r, const buf_t *b)
{
    if (buf_failed(b)) {
        api_error_t err;
        api_error_set(&err, 500, "api_error", NULL, NULL,
                      "the response is larger than this server builds (%zu bytes)", b->cap);
        api_log_simple(s, r, 500);
        api_send_error(r, &err);
        return;
    }
    api_log_simple(s, r, 200);
    http_resp_send(r, 200, "application/json", b->data ? b->data : "", b->len);
}

void api_reply_error(const api_server_t *s, http_req_t *r, int status, const char *type,
                     const char *code, const char *param, const char *msg)
{
    api_error_t err;
    api_error_set(&err, status, type, code, param, "%s", msg);
    api_log_simple(s, r, status);
    api_send_error(r, &err);
}

bool api_authorize(api_server_t *s, http_req_t *r, gw_auth_t *auth)
{
    return api_authorize_front(s, r, auth, API_FRONT_DEEPSEEK);
}

/* The longest x-api-key taken (keys are at most 1024 bytes, see config.h). */
#define XKEY_MAX 2048

bool api_authorize_front(api_server_t *s, http_req_t *r, gw_auth_t *auth, api_front_t front)
{
    const char *h = http_req_header(r, "Authorization");
    const char *xkey = front == API_FRONT_ANTHROPIC ? http_req_header(r, "x-api-key") : NULL;
    char bearer[XKEY_MAX + 8];
    bool too_long = false;
    if ((!h || !*h) && xkey && *xkey) {
        too_long = strlen(xkey) > XKEY_MAX;
        snprintf(bearer, sizeof bearer, "Bearer %s", too_long ? "" : xkey);
        h = bearer;
    }
    if (!too_long && gw_authorize(&s->o.auth, h, auth) == 0)
        return true;
    if (too_long)
        auth->message = "Authentication Fails (the x-api-key header is too long)";
    api_error_t err;
    api_error_set(&err, 401, "authentication_error", "invalid_request_error", NULL, "%s",
                  front == API_FRONT_ANTHROPIC && (!h || !*h)
                      ? "Authentication Fails (no key: send \"x-api-key: <key>\" or "
                        "\"Authorization: Bearer <key>\")"
                      : auth->message);
    api_log_simple(s, r, 401);
    api_front_send_error(front, r, &err);
    return false;
}

/* ---- routing ---- */

/* The request's path with a leading /v1 dropped, as DeepSeek's base URL may carry it (but not
 * /v1/beta...). */
static slice_t route_path(const http_req_t *r)
{
    slice_t p = http_req_path(r);
    if (slice_starts_with(p, "/v1/") && !slice_starts_with(p, "/v1/beta")) {
        p.ptr += 3;
        p.len -= 3;
    }
    return p;
}

static const struct {
    const char *path;
    api_kind_t kind;
    api_front_t front;
} chat_routes[] = {
    {"/chat/completions", API_KIND_CHAT, API_FRONT_DEEPSEEK},
    {"/beta/chat/completions", API_KIND_CHAT_PREFIX, API_FRONT_DEEPSEEK},
    {"/beta/completions", API_KIND_FIM, API_FRONT_DEEPSEEK},
    {"/completions", API_KIND_FIM, API_FRONT_DEEPSEEK},
    {"/anthropic/v1/messages", API_KIND_CHAT, API_FRONT_ANTHROPIC},
    {"/messages", API_KIND_CHAT, API_FRONT_ANTHROPIC}, /* /v1/messages */
    {"/responses", API_KIND_CHAT, API_FRONT_RESPONSES},
};

/* Anthropic's token counting, under both of its base URLs. */
static bool count_tokens_route(slice_t p)
{
    return slice_eq_cstr(p, "/anthropic/v1/messages/count_tokens") ||
           slice_eq_cstr(p, "/messages/count_tokens");
}

/* Which front a path belongs to, for the errors of routes that are not chat ones. */
static api_front_t path_front(slice_t p)
{
    return slice_starts_with(p, "/anthropic/") || slice_starts_with(p, "/messages")
               ? API_FRONT_ANTHROPIC
               : API_FRONT_DEEPSEEK;
}

/* The chat route p names, or -1. */
static int chat_route(slice_t p)
{
    for (size_t i = 0; i < sizeof chat_routes / sizeof chat_routes[0]; i++)
        if (slice_eq_cstr(p, chat_routes[i].path))
            return (int)i;
    return -1;
}

bool api_server_head(http_req_t *r, void *ud)
{
    slice_t p = route_path(r);
    bool keyed = chat_route(p) >= 0 || slice_eq_cstr(p, "/token/check") || count_tokens_route(p);
    if (!keyed || strcmp(http_req_method(r), "POST") != 0)
        return true;
    gw_auth_t auth;
    return api_authorize_front(ud, r, &auth, path_front(p));
}

void api_server_handle(http_req_t *r, void *ud)
{
    api_server_t *s = ud;
    slice_t p = route_path(r);
    const char *m = http_req_method(r);
    api_error_t refusal;
    if (api_access_check(s->access, r, &refusal)) {
        api_log_simple(s, r, refusal.status);
        api_send_error(r, &refusal);
        return;
    }
    if (strcmp(m, "OPTIONS") == 0) {
        api_log_simple(s, r, 204);
        api_access_preflight(s->access, r);
        return;
    }
    bool post = strcmp(m, "POST") == 0;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    int chat = chat_route(p);
    if (chat >= 0 || count_tokens_route(p)) {
        if (!post) {
            api_error_t err;
            api_error_set(&err, 405, "invalid_request_error", NULL, NULL,
                          "Method not allowed: use POST");
            api_log_simple(s, r, 405);
            api_front_send_error(path_front(p), r, &err);
        } else if (chat < 0) {
            api_handle_count_tokens(s, r);
        } else {
            api_handle_chat(s, r, chat_routes[chat].kind, chat_routes[chat].front,
                            chat_routes[chat].path);
        }
        return;
    }
    if (get && (slice_eq_cstr(p, "/models") || (slice_starts_with(p, "/models/") && p.len > 8))) {
        gw_auth_t auth; /* DeepSeek lists models only to authenticated callers */
        if (!api_authorize(s, r, &auth))
            return;
        api_handle_models(s, r, p.len > 8 ? (slice_t){p.ptr + 8, p.len - 8} : (slice_t){NULL, 0},
                          &auth);
    } else if (get && slice_eq_cstr(p, "/user/balance")) {
        api_handle_balance(s, r);
    } else if (get && slice_eq_cstr(p, "/ping")) {
        api_log_simple(s, r, 200);
        http_resp_send(r, 200, "text/plain; charset=utf-8", "pong", 4);
    } else if (post && slice_eq_cstr(p, "/token/check")) {
        api_handle_token_check(s, r);
    } else if (slice_starts_with(p, "/admin/")) {
        api_handle_admin(s, r, (slice_t){p.ptr + 7, p.len - 7});
    } else if (get && s->metrics && slice_eq_cstr(p, "/metrics")) {
        api_handle_metrics(s, r);
    } else if (get && (slice_eq_cstr(p, "/health") || slice_eq_cstr(p, "/health/ready"))) {
        api_handle_health(s, r, p.len > 7);
    } else {
        api_error_t err;
        api_error_set(&err, 404, "invalid_request_error", NULL, NULL, "Not found: %s %.*s", m,
                      (int)(p.len > 100 ? 100 : p.len), p.ptr);
        api_log_simple(s, r, 404);
        api_front_send_error(path_front(p), r, &err);
    }
}

api_server_t *api_server_new(const api_server_opts_t *opts)
{
    api_server_t *s = xcalloc(1, sizeof *s);
    s->o = *opts;
    s->started = time(NULL);
    s->access = api_access_new(&opts->access);
    jr_init(&s->jr);
    s->limiter = opts->limiter;
    if (!s->limiter) {
        gw_limiter_opts_t lo = {.base = opts->base};
        s->limiter = gw_limiter_new(&lo, NULL, 0);
        s->own_limiter = true;
    }
    s->metrics = opts->metrics_off ? NULL : api_metrics_new();
    gw_bucket_init(&s->token_checks, (double)opts->token_check_per_min,
                   opts->token_check_per_min < 5 ? (double)opts->token_check_per_min : 5.0,
                   mono_ms());
    return s;
}

void api_server_set_listen(api_server_t *s, const char *host, int port)
{
    snprintf(s->listen_host, sizeof s->listen_host, "%s", host);
    s->listen_port = port;
    api_access_set_listen(s->access, host, port);
}

void api_server_reconfigure(api_server_t *s, const api_server_opts_t *opts)
{
    api_access_t *a = api_access_new(&opts->access);
    api_access_set_listen(a, s->listen_host, s->listen_port);
    api_access_free(s->access);
    s->access = a;
    if (opts->token_check_per_min != s->o.token_check_per_min)
        gw_bucket_init(&s->token_checks, (double)opts->token_check_per_min,
                       opts->token_check_per_min < 5 ? (double)opts->token_check_per_min : 5.0,
                       mono_ms());
    s->o = *opts;
}

void api_server_free(api_server_t *s)
{
    if (!s)
        return;
    api_access_free(s->access);
    jr_free(&s->jr);
    if (s->own_limiter)
        gw_limiter_free(s->limiter);
    api_metrics_free(s->metrics);
    free(s);
}

/* server.c - routing and the chat flow: parse + validate, authorize, start a backend, encode
 * its events for the client (stream or one body), log one line per request. */
#include "api/server.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/access.h"
#include "api/encode.h"
#include "api/error.h"
#include "api/validate.h"
#include "base/clock.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/mem.h"
#include "base/workers.h"
#include "gateway/ratelimit.h"
#include "json/jw.h"

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
};

/* ---- small responses ---- */

static void log_simple(const api_server_t *s, http_req_t *r, int status)
{
    if (!log_on(LOG_INFO))
        return;
    char client[NET_ADDR_STRLEN];
    api_client_addr_str(s->access, r, client, sizeof client);
    log_info("req=%s %s %.*s status=%d dur_us=%lld client=%s", http_req_id(r), http_req_method(r),
             (int)http_req_path(r).len, http_req_path(r).ptr, status, http_req_elapsed_us(r),
             client);
}

static void send_error(http_req_t *r, const api_error_t *err)
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

/* Sends a JSON body built in b with status 200 (logged), or a 500 envelope when the builder
 * ran into b's cap: a cut body is never sent. */
static void send_built(const api_server_t *s, http_req_t *r, const buf_t *b)
{
    if (buf_failed(b)) {
        api_error_t err;
        api_error_set(&err, 500, "api_error", NULL, NULL,
                      "the response is larger than this server builds (%zu bytes)", b->cap);
        log_simple(s, r, 500);
        send_error(r, &err);
        return;
    }
    log_simple(s, r, 200);
    http_resp_send(r, 200, "application/json", b->data ? b->data : "", b->len);
}

static void reply_error(const api_server_t *s, http_req_t *r, int status, const char *type,
                        const char *code, const char *param, const char *msg)
{
    api_error_t err;
    api_error_set(&err, status, type, code, param, "%s", msg);
    log_simple(s, r, status);
    send_error(r, &err);
}

/* Checks the Authorization header; answers 401 with DeepSeek's envelope and returns false when
 * the request may not go on. */
static bool authorize(api_server_t *s, http_req_t *r, gw_auth_t *auth)
{
    if (gw_authorize(&s->o.auth, http_req_header(r, "Authorization"), auth) == 0)
        return true;
    reply_error(s, r, 401, "authentication_error", "invalid_request_error", NULL, auth->message);
    return false;
}

bool api_server_head(http_req_t *r, void *ud)
{
    slice_t p = http_req_path(r);
    if (slice_starts_with(p, "/v1/") && !slice_starts_with(p, "/v1/beta")) {
        p.ptr += 3; /* as api_server_handle */
        p.len -= 3;
    }
    bool keyed = slice_eq_cstr(p, "/chat/completions") ||
                 slice_eq_cstr(p, "/beta/chat/completions") ||
                 slice_eq_cstr(p, "/beta/completions") || slice_eq_cstr(p, "/completions") ||
                 slice_eq_cstr(p, "/token/check");
    if (!keyed || strcmp(http_req_method(r), "POST") != 0)
        return true;
    gw_auth_t auth;
    return authorize(ud, r, &auth);
}

/* ---- the chat flow ---- */

typedef struct chat {
    bk_sink_t sink; /* first: the backend calls back through it */
    struct chat *prev, *next; /* in srv->chats while active */
    api_server_t *srv;
    http_req_t *req; /* NULL once the client is gone or the response ended */
    json_t *body;
    backend_t *be; /* the backend of this answer (a reload may bring another for new ones) */
    bk_call_t *call;
    api_enc_t enc;
    buf_t out;
    struct event *ka;
    char model[128];
    char route[40];
    char rid[65];
    char client[NET_ADDR_STRLEN];
    struct timespec t0;
    char served_by[160]; /* "upstream=NAME key=ID", once the backend says */
    bool stream;
    bool responded; /* an error response or event went out */
    int status;
    long long ttfb_us;
    bk_usage_t usage;
    bool has_usage;
    gw_auth_t auth;
    buf_t raw; /* the body's bytes, taken from the request: they outlive it */
    /* parsing and validating the body, on a worker when it is large */
    struct {
        work_t w;
        api_kind_t kind;
        json_t *body;
        api_error_t err;
        bool failed;
        bool gone; /* the client left meanwhile */
    } parse;
} chat_t;

static void chat_log(chat_t *c, const char *outcome)
{
    if (!log_on(LOG_INFO))
        return;
    char usage[160] = "tokens=-";
    if (c->has_usage)
        snprintf(usage, sizeof usage, "prompt=%lld completion=%lld cache_hit=%lld",
                 (long long)c->usage.prompt_tokens, (long long)c->usage.completion_tokens,
                 (long long)c->usage.prompt_cache_hit_tokens);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dur_ms = (double)(now.tv_sec - c->t0.tv_sec) * 1e3 + (now.tv_nsec - c->t0.tv_nsec) / 1e6;
    log_info("req=%s POST %s model=%s stream=%d status=%d %s upstream_ttfb_ms=%.1f dur_ms=%.1f "
             "client=%s %s %s",
             c->rid, c->route, c->model, c->stream, c->status,
             c->served_by[0] ? c->served_by : "upstream=-",
             c->ttfb_us >= 0 ? c->ttfb_us / 1000.0 : -1.0, dur_ms, c->client, usage, outcome);
}

static void chat_free(chat_t *c)
{
    c->srv->active--;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->chats = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->ka)
        event_free(c->ka);
    json_decref(c->body);
    api_enc_free(&c->enc);
    buf_free(&c->out);
    buf_free(&c->raw);
    free(c);
}

/* Writes c->out to the client, starting the 200 stream first if needed. Returns -1 when the
 * client was dropped for not reading. */
static int flush_stream(chat_t *c)
{
    if (!c->req)
        return -1;
    if (!http_resp_started(c->req)) {
        c->status = 200;
        http_resp_start(c->req, 200, "text/event-stream; charset=utf-8");
    }
    if (c->out.len == 0)
        return 0;
    int rc = http_resp_write(c->req, c->out.data, c->out.len);
    buf_reset(&c->out);
    if (rc == HTTP_GONE) {
        c->req = NULL;
        return -1;
    }
    if (c->ka)
        evtimer_del(c->ka); /* the first token is out: keep-alives only while waiting */
    return 0;
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    chat_t *c = arg;
    if (!c->req || c->responded)
        return;
    /* c->out is empty between batches (flush_stream resets it), so this cannot be refused;
     * if it were, no keep-alive is better than a comment cut in half */
    if (buf_puts(&c->out, ": keep-alive\n\n"))
        buf_reset(&c->out);
    if (flush_stream(c) == 0 && c->req) {
        struct timeval tv = {c->srv->o.keepalive_ms / 1000, (c->srv->o.keepalive_ms % 1000) * 1000};
        evtimer_add(c->ka, &tv);
    } else if (!c->req && c->call) {
        c->be->cancel(c->call);
        c->call = NULL;
        chat_log(c, "dropped: client not reading");
        chat_free(c);
    }
}

static void chat_error(chat_t *c, const bk_event_t *ev)
{
    api_error_t err;
    const char *type = ev->error.type ? ev->error.type : "api_error";
    api_error_set(&err, ev->error.status ? ev->error.status : 502, type, ev->error.code, NULL,
                  "%.*s", (int)ev->error.message.len, ev->error.message.ptr);
    c->responded = true;
    if (!c->req)
        return;
    if (c->stream && http_resp_started(c->req)) {
        buf_reset(&c->out);
        if (api_enc_error(&err, &c->out)) {
            /* no error event: a clean end would pass for a complete answer, so cut it */
            http_resp_abort(c->req);
            c->req = NULL;
            chat_log(c, "error after stream start; connection closed");
            return;
        }
        flush_stream(c);
        if (c->req) {
            http_resp_end(c->req);
            c->req = NULL;
        }
        chat_log(c, "error after stream start");
        return;
    }
    c->status = err.status;
    if (ev->error.retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", ev->error.retry_after_s);
        http_resp_header(c->req, "Retry-After", ra);
    }
    send_error(c->req, &err);
    c->req = NULL;
    chat_log(c, err.message);
}

static int sink_events(bk_sink_t *s, const bk_event_t *ev, int n)
{
    chat_t *c = (chat_t *)s;
    if (!c->req || c->responded)
        return -1;
    if (c->ttfb_us < 0)
        c->ttfb_us = http_req_elapsed_us(c->req);
    for (int i = 0; i < n; i++) {
        if (ev[i].type == BK_EV_ERROR) {
            chat_error(c, &ev[i]);
            return -1;
        }
        if (ev[i].type == BK_EV_USAGE) {
            c->usage = ev[i].usage;
            c->has_usage = true;
        }
    }
    if (api_enc_events(&c->enc, ev, n, &c->out)) {
        bk_event_t e;
        memset(&e, 0, sizeof e);
        e.error.status = 502;
        e.error.type = "api_error";
        e.error.message = SLICE_LIT("answer exceeds the server's size limit");
        chat_error(c, &e);
        return -1;
    }
    if (c->stream && c->out.len && flush_stream(c))
        return -1;
    return 0;
}

static void sink_end(bk_sink_t *s)
{
    chat_t *c = (chat_t *)s;
    c->call = NULL;
    if (c->req && !c->responded) {
        if (c->stream) {
            if (api_enc_finish(&c->enc, &c->out)) {
                /* without [DONE] the stream must not end cleanly */
                http_resp_abort(c->req);
                c->req = NULL;
                chat_log(c, "[DONE] did not fit; connection closed");
                chat_free(c);
                return;
            }
            bool ok = flush_stream(c) == 0;
            if (ok) {
                http_resp_end(c->req);
                c->req = NULL;
            }
            chat_log(c, ok ? "ok" : "dropped: client not reading");
        } else {
            /* the http layer sends no body over max_output: say why in our own envelope */
            if (api_enc_finish(&c->enc, &c->out) || c->out.len > c->srv->o.max_output) {
                api_error_t err;
                api_error_set(&err, 502, "api_error", NULL, NULL,
                              "answer exceeds the server's size limit");
                send_error(c->req, &err);
                c->status = 502;
            } else {
                c->status = 200;
                http_resp_send(c->req, 200, "application/json", c->out.data, c->out.len);
            }
            c->req = NULL;
            chat_log(c, "ok");
        }
    } else if (!c->responded) {
        chat_log(c, "dropped: client not reading");
    }
    chat_free(c);
}

/* A paused upstream resumes once the client has taken most of what waits for it. */
static void on_drained(void *arg)
{
    chat_t *c = arg;
    if (c->req && c->call)
        c->be->resume(c->call); /* may deliver events, and even end the call */
}

static void sink_served_by(bk_sink_t *s, const char *where, const char *key_id)
{
    chat_t *c = (chat_t *)s;
    snprintf(c->served_by, sizeof c->served_by, "upstream=%s key=%s", where,
             key_id ? key_id : "-");
}

static bool sink_writable(bk_sink_t *s)
{
    chat_t *c = (chat_t *)s;
    if (!c->stream || !c->req || !http_resp_started(c->req) ||
        http_resp_queued(c->req) <= c->srv->o.max_output / 4)
        return true;
    http_resp_on_drain(c->req, c->srv->o.max_output / 8, on_drained, c);
    return false;
}

static void on_client_abort(void *ud)
{
    chat_t *c = ud;
    c->req = NULL;
    if (c->call) {
        c->be->cancel(c->call);
        c->call = NULL;
    }
    c->status = 499;
    chat_log(c, "client disconnected; upstream cancelled");
    chat_free(c);
}

void api_server_shutdown(api_server_t *s)
{
    bk_event_t e;
    memset(&e, 0, sizeof e);
    e.type = BK_EV_ERROR;
    e.error.status = 503;
    e.error.type = "api_error";
    e.error.message = SLICE_LIT("Service Unavailable: the server is shutting down");
    while (s->chats) {
        chat_t *c = s->chats;
        if (c->call) {
            c->be->cancel(c->call);
            c->call = NULL;
        }
        if (c->req && !c->responded) {
            chat_error(c, &e); /* a 503, or an error event that ends the stream; logged */
        } else {
            c->status = 503;
            chat_log(c, "ended: the server is shutting down");
        }
        if (c->req)
            http_req_on_abort(c->req, NULL, NULL);
        chat_free(c);
    }
}

int api_server_active(const api_server_t *s)
{
    return s->active;
}

/* Bodies from this size on are parsed and validated on a worker: jansson reads about 100 MB/s,
 * so an 8 MB body would hold every other connection for some 80 ms. Smaller ones cost less
 * than the hand-over. */
#define PARSE_OFF_LOOP_BYTES (64 * 1024)

/* Parses and validates the body; on a worker for large bodies (it reads only c->raw and writes
 * only c->parse). */
static void parse_run(work_t *w)
{
    chat_t *c = (chat_t *)((char *)w - offsetof(chat_t, parse.w));
    slice_t raw = buf_slice(&c->raw);
    c->parse.failed = api_parse_json(raw.ptr, raw.len, &c->parse.body, &c->parse.err) ||
                      api_validate(c->parse.body, c->parse.kind, &c->parse.err);
}

static void chat_begin(chat_t *c);

/* The client left while its body was being parsed: drop what the worker made when it is back. */
static void on_parse_abort(void *ud)
{
    chat_t *c = ud;
    c->req = NULL;
    c->parse.gone = true;
}

static void parse_done(work_t *w)
{
    chat_t *c = (chat_t *)((char *)w - offsetof(chat_t, parse.w));
    if (c->parse.gone || !w->ran) {
        if (c->req)
            http_req_on_abort(c->req, NULL, NULL);
        json_decref(c->parse.body);
        buf_free(&c->raw);
        free(c);
        return;
    }
    chat_begin(c);
}

static void handle_chat(api_server_t *s, http_req_t *r, api_kind_t kind, const char *route)
{
    /* The client's keys point into the auth result, so it lives in the request from the start
     * and is never copied. */
    chat_t *c = xcalloc(1, sizeof *c);
    if (!authorize(s, r, &c->auth)) {
        free(c);
        return;
    }
    slice_t raw = http_req_body(r);
    size_t refused = http_req_body_refused(r);
    if (refused || raw.len > s->o.max_body) {
        char msg[128];
        snprintf(msg, sizeof msg, "Request body is too large (%zu bytes; the limit is %zu)",
                 refused ? refused : raw.len, s->o.max_body);
        reply_error(s, r, 413, "invalid_request_error", "invalid_request_error", NULL, msg);
        free(c);
        return;
    }
    c->srv = s;
    c->req = r;
    snprintf(c->route, sizeof c->route, "%s", route);
    http_req_take_body(r, &c->raw);
    c->parse.kind = kind;
    c->parse.w.run = parse_run;
    c->parse.w.done = parse_done;
    if (s->o.workers && c->raw.len >= PARSE_OFF_LOOP_BYTES) {
        http_req_on_abort(r, on_parse_abort, c);
        workers_submit(s->o.workers, &c->parse.w);
        return;
    }
    parse_run(&c->parse.w);
    chat_begin(c);
}

/* The body is parsed and valid (or the client hears why not): start the answer. */
static void chat_begin(chat_t *c)
{
    api_server_t *s = c->srv;
    http_req_t *r = c->req;
    api_kind_t kind = c->parse.kind;
    json_t *body = c->parse.body;
    c->parse.body = NULL;
    if (c->parse.failed) {
        json_decref(body);
        http_req_on_abort(r, NULL, NULL);
        log_simple(s, r, c->parse.err.status);
        send_error(r, &c->parse.err);
        buf_free(&c->raw);
        free(c);
        return;
    }
    s->active++;
    s->requests++;
    c->next = s->chats;
    if (s->chats)
        s->chats->prev = c;
    s->chats = c;
    c->body = body;
    c->ttfb_us = -1;
    c->sink.events = sink_events;
    c->sink.end = sink_end;
    c->sink.writable = sink_writable;
    c->sink.served_by = sink_served_by;
    snprintf(c->rid, sizeof c->rid, "%s", http_req_id(r));
    api_client_addr_str(s->access, r, c->client, sizeof c->client);
    /* durations count from the request's arrival, as upstream_ttfb_ms does */
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    long long since = http_req_elapsed_us(r);
    c->t0.tv_sec -= since / 1000000;
    c->t0.tv_nsec -= (since % 1000000) * 1000;
    if (c->t0.tv_nsec < 0) {
        c->t0.tv_sec--;
        c->t0.tv_nsec += 1000000000;
    }
    const char *model = json_string_value(json_object_get(body, "model"));
    snprintf(c->model, sizeof c->model, "%s", model ? model : "");
    c->stream = json_is_true(json_object_get(body, "stream"));
    bool include_usage =
        json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
    api_enc_init(&c->enc, kind == API_KIND_FIM, c->stream, include_usage, http_req_id(r), c->model,
                 (int64_t)time(NULL), s->o.max_answer);
    buf_init(&c->out, s->o.max_answer + 65536);
    http_req_on_abort(r, on_client_abort, c);
    if (c->stream && s->o.keepalive_ms > 0) {
        c->ka = evtimer_new(s->o.base, on_keepalive, c);
        struct timeval tv = {s->o.keepalive_ms / 1000, (s->o.keepalive_ms % 1000) * 1000};
        evtimer_add(c->ka, &tv);
    }
    bk_request_t breq = {
        .kind = kind == API_KIND_FIM           ? BK_KIND_FIM
                : kind == API_KIND_CHAT_PREFIX ? BK_KIND_CHAT_PREFIX
                                               : BK_KIND_CHAT,
        .request_id = http_req_id(r),
        .model = c->model,
        .stream = c->stream,
        .body = body,
        .raw_body = buf_slice(&c->raw),
        .client_keys = c->auth.byot,
        .nclient_keys = c->auth.nbyot,
    };
    c->be = s->o.backend;
    c->call = c->be->start(c->be, &breq, &c->sink);
}

/* ---- models, balance, health ---- */

/* Appends one model object; the caller checks b once when the body is built. */
static void model_obj(buf_t *b, const char *id, time_t created)
{
    buf_puts(b, "{\"id\":");
    jw_str(b, id, strlen(id));
    buf_printf(b, ",\"object\":\"model\",\"owned_by\":\"deepseek\",\"created\":%lld}",
               (long long)created);
}

static void handle_models(api_server_t *s, http_req_t *r, slice_t id)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    if (id.ptr == NULL) {
        buf_puts(&b, "{\"object\":\"list\",\"data\":[");
        for (int i = 0; i < s->o.nmodels; i++) {
            if (i)
                buf_puts(&b, ",");
            model_obj(&b, s->o.models[i], s->started);
        }
        buf_puts(&b, "]}");
        send_built(s, r, &b);
        buf_free(&b);
        return;
    }
    for (int i = 0; i < s->o.nmodels; i++) {
        if (slice_eq_cstr(id, s->o.models[i])) {
            model_obj(&b, s->o.models[i], s->started);
            send_built(s, r, &b);
            buf_free(&b);
            return;
        }
    }
    buf_free(&b);
    char msg[256];
    snprintf(msg, sizeof msg, "Model Not Exist: '%.*s'", (int)(id.len > 128 ? 128 : id.len),
             id.ptr);
    reply_error(s, r, 404, "invalid_request_error", "model_not_found", "model", msg);
}

typedef struct {
    http_req_t *req;
    upstream_get_t *call;
    api_server_t *srv;
} relay_t;

static void relay_abort(void *ud)
{
    relay_t *x = ud;
    upstream_get_cancel(x->call);
    free(x);
}

/* POST /token/check: a key is live when the upstream answers an authenticated GET /models. */
static void token_checked(void *ud, int status, slice_t ctype, slice_t body, const char *err)
{
    (void)ctype;
    (void)body;
    relay_t *x = ud;
    http_req_t *r = x->req;
    api_server_t *s = x->srv;
    free(x);
    if (status == 200 || status == 401 || status == 403 || status == 402) {
        const char *out = status == 200 ? "{\"live\":true}" : "{\"live\":false}";
        log_simple(s, r, 200);
        http_resp_send(r, 200, "application/json", out, strlen(out));
        return;
    }
    char msg[300];
    if (status == 0)
        snprintf(msg, sizeof msg, "upstream unreachable: %s", err ? err : "no answer");
    else
        snprintf(msg, sizeof msg, "upstream answered %d; the key's state is unknown", status);
    reply_error(s, r, 502, "api_error", NULL, NULL, msg);
}

static void handle_token_check(api_server_t *s, http_req_t *r)
{
    gw_auth_t auth;
    if (!authorize(s, r, &auth))
        return;
    if (!s->o.upstream) {
        reply_error(s, r, 404, "invalid_request_error", NULL, NULL,
                    "token check needs an upstream backend");
        return;
    }
    api_error_t err;
    json_t *body = NULL;
    slice_t raw = http_req_body(r);
    if (raw.len > 65536 || http_req_body_refused(r)) {
        reply_error(s, r, 413, "invalid_request_error", "invalid_request_error", NULL,
                    "Request body is too large");
        return;
    }
    if (api_parse_json(raw.ptr, raw.len, &body, &err)) {
        log_simple(s, r, err.status);
        send_error(r, &err);
        return;
    }
    json_t *tok = json_object_get(body, "token");
    const char *t = json_string_value(tok);
    size_t tlen = json_string_length(tok);
    bool sane = t && tlen > 0 && tlen < 512;
    for (size_t i = 0; sane && i < tlen; i++)
        sane = (unsigned char)t[i] > 0x20 && (unsigned char)t[i] < 0x7f && t[i] != ',';
    if (!sane) {
        json_decref(body);
        reply_error(s, r, 400, "invalid_request_error", "invalid_request_error", "token",
                    "token must be a non-empty string without spaces or commas");
        return;
    }
    int64_t now = mono_ms();
    if (!gw_bucket_take(&s->token_checks, now)) {
        json_decref(body);
        char ra[32];
        snprintf(ra, sizeof ra, "%lld",
                 (long long)((gw_bucket_wait_ms(&s->token_checks, now) + 999) / 1000));
        http_resp_header(r, "Retry-After", ra);
        api_error_t e;
        api_error_set(&e, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                      "Rate Limit Reached: token checks are limited to %ld per minute",
                      s->o.token_check_per_min);
        log_simple(s, r, 429);
        send_error(r, &e);
        return;
    }
    relay_t *x = xcalloc(1, sizeof *x);
    x->req = r;
    x->srv = s;
    http_req_on_abort(r, relay_abort, x);
    x->call = upstream_get(s->o.upstream, "/models", t, token_checked, x);
    json_decref(body);
}

static void relay_done(void *ud, int status, slice_t ctype, slice_t body, const char *err)
{
    relay_t *x = ud;
    http_req_t *r = x->req;
    api_server_t *s = x->srv;
    size_t max_output = s->o.max_output;
    free(x);
    if (status == 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "upstream unreachable: %s", err ? err : "no answer");
        reply_error(s, r, 502, "api_error", NULL, NULL, msg);
        return;
    }
    char ct[128];
    snprintf(ct, sizeof ct, "%.*s", (int)ctype.len, ctype.ptr);
    if (!slice_starts_with(ctype, "application/json")) {
        char msg[200];
        snprintf(msg, sizeof msg, "upstream answered %d with %s instead of JSON", status,
                 ct[0] ? ct : "no content type");
        reply_error(s, r, 502, "api_error", NULL, NULL, msg);
        return;
    }
    if (body.len > max_output) {
        /* the http layer would refuse it with a bare 500; say what happened */
        char msg[200];
        snprintf(msg, sizeof msg, "upstream answer too large (%zu bytes; max_output is %zu)",
                 body.len, max_output);
        reply_error(s, r, 502, "api_error", NULL, NULL, msg);
        return;
    }
    log_simple(s, r, status);
    http_resp_send(r, status, ct, body.ptr, body.len);
}

static void handle_balance(api_server_t *s, http_req_t *r)
{
    gw_auth_t auth;
    if (!authorize(s, r, &auth))
        return;
    if (!s->o.upstream) {
        reply_error(s, r, 404, "invalid_request_error", NULL, NULL,
                    "balance is only available with an upstream backend");
        return;
    }
    relay_t *x = xcalloc(1, sizeof *x);
    x->req = r;
    x->srv = s;
    http_req_on_abort(r, relay_abort, x);
    x->call = upstream_get(s->o.upstream, "/user/balance", auth.nbyot ? auth.byot[0] : NULL,
                           relay_done, x);
}

/* Appends the upstreams' part of /health; the caller checks b once at the end. */
static void health_upstreams(const upstream_t *up, int64_t now, buf_t *b)
{
    const pool_t *p = upstream_pool(up);
    for (int i = 0; i < p->nups; i++) {
        const pool_upstream_t *u = &p->ups[i];
        buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        jw_str(b, u->name, strlen(u->name));
        buf_puts(b, ",\"url\":");
        jw_str(b, u->url, strlen(u->url));
        buf_puts(b, ",\"transport\":\"");
        buf_puts(b, upstream_transport(up, i));
        buf_puts(b, "\"");
        buf_printf(b,
                   ",\"priority\":%d,\"weight\":%d,\"max_concurrent_per_key\":%d,"
                   "\"state\":\"%s\"",
                   u->priority, u->weight, u->max_per_key,
                   u->ejected ? (now < u->until_ms ? "ejected" : "probing") : "ok");
        if (u->ejected) {
            buf_puts(b, ",\"reason\":");
            jw_str(b, u->reason, strlen(u->reason));
        }
        buf_puts(b, ",\"models\":[");
        for (int m = 0; m < u->nmodels; m++) {
            if (m)
                buf_puts(b, ",");
            jw_str(b, u->models[m], strlen(u->models[m]));
        }
        buf_puts(b, "],\"keys\":[");
        for (int k = 0; k < u->nkeys; k++) {
            const pool_key_t *key = &u->keys[k];
            buf_puts(b, k ? ",{\"key_id\":" : "{\"key_id\":");
            jw_str(b, key->id, strlen(key->id));
            buf_printf(b, ",\"state\":\"%s\",\"active\":%d,\"requests\":%lld,\"failures\":%lld",
                       pool_state_name(key->state), key->active, (long long)key->requests,
                       (long long)key->failures);
            if (key->state != KEY_OK) {
                buf_puts(b, ",\"reason\":");
                jw_str(b, key->reason, strlen(key->reason));
            }
            if (key->state == KEY_COOLDOWN || key->state == KEY_EJECTED)
                buf_printf(b, ",\"retry_in_ms\":%lld",
                           (long long)(key->until_ms > now ? key->until_ms - now : 0));
            buf_puts(b, "}");
        }
        buf_puts(b, "]}");
    }
}

/* Whether some key can serve now (ready) and whether anything is impaired (degraded): an
 * ejected upstream, a server key not OK. Ejected keys and upstreams count as able to serve:
 * the pool still tries them when nothing healthy is left. Not ready means every server key is
 * disabled, without balance or cooling down. */
static void health_state(const api_server_t *s, int64_t now, bool *ready, bool *degraded)
{
    *ready = true;
    *degraded = false;
    if (!s->o.upstream)
        return;
    const pool_t *p = upstream_pool(s->o.upstream);
    *ready = false;
    for (int i = 0; i < p->nups; i++) {
        const pool_upstream_t *u = &p->ups[i];
        if (u->nkeys == 0)
            *ready = true; /* the clients bring the keys */
        for (int k = 0; k < u->nkeys; k++) {
            const pool_key_t *key = &u->keys[k];
            *ready |= key->state == KEY_OK || key->state == KEY_EJECTED ||
                      (key->state == KEY_COOLDOWN && now >= key->until_ms);
            *degraded |= key->state != KEY_OK;
        }
        *degraded |= u->ejected;
    }
    *degraded |= !*ready;
}

/* GET /health: public, always 200 with the status only; the details (upstream URLs, key ids,
 * the keys' states and errors) only to the admin token. GET /health/ready: 503 when nothing
 * can serve, for load balancers. */
static void handle_health(api_server_t *s, http_req_t *r, bool readiness)
{
    bool ready, degraded;
    int64_t now = mono_ms();
    health_state(s, now, &ready, &degraded);
    const char *status = !ready ? "unavailable" : degraded ? "degraded" : "ok";
    bool details = gw_admin_ok(s->o.admin_token, http_req_header(r, "Authorization"));
    if (readiness || !details) {
        char body[64];
        int code = readiness && !ready ? 503 : 200;
        int n = snprintf(body, sizeof body, "{\"status\":\"%s\"}",
                         readiness || ready ? status : "degraded");
        log_simple(s, r, code);
        http_resp_send(r, code, "application/json", body, (size_t)n);
        return;
    }
    buf_t b;
    buf_init(&b, 4u << 20);
    buf_printf(&b,
               "{\"status\":\"%s\",\"ready\":%s,\"version\":\"%s\",\"uptime_s\":%lld,"
               "\"requests\":%lld,\"active\":%d",
               ready ? status : "degraded", ready ? "true" : "false", SEEKD_VERSION,
               (long long)(time(NULL) - s->started), s->requests, s->active);
    if (s->o.loopmon) {
        loopmon_stats_t l = loopmon_read(s->o.loopmon);
        buf_printf(&b,
                   ",\"loop\":{\"max_stall_ms\":%.1f,\"recent_max_stall_ms\":%.1f,"
                   "\"stalls_over_5ms\":%llu,\"stalls_over_100ms\":%llu}",
                   l.max_ms, l.recent_ms, (unsigned long long)l.over_5ms,
                   (unsigned long long)l.over_100ms);
    }
    if (s->o.upstream) {
        buf_printf(&b,
                   ",\"queued\":%d,\"backends\":[{\"name\":\"upstream\",\"mode\":\"%s\","
                   "\"upstreams\":[",
                   upstream_queued(s->o.upstream),
                   s->o.auth.server_keys ? "server_keys" : "client_keys");
        health_upstreams(s->o.upstream, now, &b);
        buf_puts(&b, "]}]");
    }
    buf_puts(&b, "}");
    send_built(s, r, &b);
    buf_free(&b);
}

/* ---- routing ---- */

void api_server_handle(http_req_t *r, void *ud)
{
    api_server_t *s = ud;
    slice_t p = http_req_path(r);
    const char *m = http_req_method(r);
    api_error_t refusal;
    if (api_access_check(s->access, r, &refusal)) {
        log_simple(s, r, refusal.status);
        send_error(r, &refusal);
        return;
    }
    if (strcmp(m, "OPTIONS") == 0) {
        log_simple(s, r, 204);
        api_access_preflight(s->access, r);
        return;
    }
    bool post = strcmp(m, "POST") == 0;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    if (slice_starts_with(p, "/v1/") && !slice_starts_with(p, "/v1/beta")) {
        p.ptr += 3; /* /v1/x is /x, as DeepSeek's base URL may carry /v1 */
        p.len -= 3;
    }
    struct {
        const char *path;
        api_kind_t kind;
    } chat_routes[] = {
        {"/chat/completions", API_KIND_CHAT},
        {"/beta/chat/completions", API_KIND_CHAT_PREFIX},
        {"/beta/completions", API_KIND_FIM},
        {"/completions", API_KIND_FIM},
    };
    for (size_t i = 0; i < sizeof chat_routes / sizeof chat_routes[0]; i++) {
        if (slice_eq_cstr(p, chat_routes[i].path)) {
            if (!post) {
                reply_error(s, r, 405, "invalid_request_error", NULL, NULL,
                            "Method not allowed: use POST");
                return;
            }
            handle_chat(s, r, chat_routes[i].kind, chat_routes[i].path);
            return;
        }
    }
    if (get && (slice_eq_cstr(p, "/models") || (slice_starts_with(p, "/models/") && p.len > 8))) {
        gw_auth_t auth; /* DeepSeek lists models only to authenticated callers */
        if (!authorize(s, r, &auth))
            return;
        handle_models(s, r, p.len > 8 ? (slice_t){p.ptr + 8, p.len - 8} : (slice_t){NULL, 0});
    } else if (get && slice_eq_cstr(p, "/user/balance")) {
        handle_balance(s, r);
    } else if (get && slice_eq_cstr(p, "/ping")) {
        log_simple(s, r, 200);
        http_resp_send(r, 200, "text/plain; charset=utf-8", "pong", 4);
    } else if (post && slice_eq_cstr(p, "/token/check")) {
        handle_token_check(s, r);
    } else if (get && (slice_eq_cstr(p, "/health") || slice_eq_cstr(p, "/health/ready"))) {
        handle_health(s, r, p.len > 7);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "Not found: %s %.*s", m, (int)(p.len > 100 ? 100 : p.len), p.ptr);
        reply_error(s, r, 404, "invalid_request_error", NULL, NULL, msg);
    }
}

api_server_t *api_server_new(const api_server_opts_t *opts)
{
    api_server_t *s = xcalloc(1, sizeof *s);
    s->o = *opts;
    s->started = time(NULL);
    s->access = api_access_new(&opts->access);
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

const api_access_t *api_server_access(const api_server_t *s)
{
    return s->access;
}

void api_server_free(api_server_t *s)
{
    if (!s)
        return;
    api_access_free(s->access);
    free(s);
}

/* chat.c - the chat flow: parse + validate (on a worker for large bodies), start a backend,
 * encode its events for the client (a stream or one body), log one line per request, and end
 * every answer in flight when the server stops. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/anthropic_parse.h"
#include "api/front.h"
#include "api/responses_parse.h"
#include "api/meter.h"
#include "api/metrics.h"
#include "api/server_int.h"
#include "backend/backend.h"
#include "backend/local.h"
#include "backend/splice.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/workers.h"

/* ---- the chat flow ---- */

typedef struct chat {
    bk_sink_t sink;           /* first: the backend calls back through it */
    struct chat *prev, *next; /* in srv->chats while active */
    api_server_t *srv;
    http_req_t *req; /* NULL once the client is gone or the response ended */
    backend_t *be;   /* the backend of this answer (a reload may bring another for new ones) */
    bk_call_t *call;
    api_front_t front; /* the wire format the client speaks */
    api_out_t enc;
    buf_t out;
    struct event *ka;
    char model[128];
    char route[40];
    char rid[65];
    char client[NET_ADDR_STRLEN];
    struct timespec t0;
    char up_name[64], up_key[16]; /* who served it, once the backend says (log, ledger) */
    bool stream;
    bool include_usage;
    bool has_stream_options;
    int64_t max_tokens;   /* 0: not given */
    char *spliced;        /* the upstream body, when a large one was spliced on the worker */
    meter_t meter;        /* a metered key's money (meter.on) */
    bool limited;         /* admitted by the key's limits: end it in chat_free */
    int64_t limit_tokens; /* the tokens it was admitted for */
    gw_lease_t lease;     /* what it holds of the limits (an admission may wait on Redis) */
    bool responded;       /* an error response or event went out */
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
    char served[160] = "upstream=-";
    if (c->up_name[0])
        snprintf(served, sizeof served, "upstream=%s key=%s", c->up_name,
                 c->up_key[0] ? c->up_key : "-");
    log_info("req=%s POST %s model=%s stream=%d status=%d %s upstream_ttfb_ms=%.1f dur_ms=%.1f "
             "client=%s%s%s %s %s",
             c->rid, c->route, c->model, c->stream, c->status, served,
             c->ttfb_us >= 0 ? c->ttfb_us / 1000.0 : -1.0, dur_ms, c->client,
             c->auth.metered ? " account=" : "", c->auth.metered ? c->auth.acct.key_id : "", usage,
             outcome);
}

/* The status an error of this status is sent with on front (Anthropic's differ). */
static int front_status(api_front_t front, int status)
{
    const char *type;
    return front == API_FRONT_ANTHROPIC ? api_anth_error_status(status, &type) : status;
}

/* Milliseconds since the request arrived. */
static int64_t elapsed_ms(const chat_t *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - c->t0.tv_sec) * 1000 + (now.tv_nsec - c->t0.tv_nsec) / 1000000;
}

static void chat_free(chat_t *c)
{
    if (c->meter.hold_id > 0)
        api_metrics_holds(c->srv->metrics, -1);
    api_metrics_request(c->srv->metrics, c->route, c->model, c->status, (double)elapsed_ms(c) / 1e3,
                        c->ttfb_us >= 0 ? c->ttfb_us / 1e6 : -1.0, c->has_usage ? &c->usage : NULL);
    if (c->limited) {
        int64_t used = c->has_usage && (c->usage.has & BK_USAGE_TOTAL) ? c->usage.total_tokens
                                                                       : c->limit_tokens;
        gw_limiter_end(c->srv->limiter, &c->lease, used);
    }
    if (c->meter.on) {
        meter_end_t e = {
            .request_id = c->rid,
            .model = c->model,
            .upstream = c->up_name[0] ? c->up_name : NULL,
            .upstream_key_id = c->up_key[0] ? c->up_key : NULL,
            .status = c->status,
            .usage = c->has_usage ? &c->usage : NULL,
            .ttft_ms = c->ttfb_us >= 0 ? c->ttfb_us / 1000 : -1,
            .duration_ms = elapsed_ms(c),
            .body = buf_slice(&c->raw),
            .metrics = c->srv->metrics,
            .kind = c->parse.kind == API_KIND_FIM           ? BK_KIND_FIM
                    : c->parse.kind == API_KIND_CHAT_PREFIX ? BK_KIND_CHAT_PREFIX
                                                            : BK_KIND_CHAT,
        };
        meter_end(&c->meter, c->srv->o.auth.accounts, c->srv->o.workers, &e);
    }
    c->srv->active--;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->chats = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->ka)
        event_free(c->ka);
    api_out_free(&c->enc);
    buf_free(&c->out);
    buf_free(&c->raw);
    free(c->spliced);
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
    if (buf_puts(&c->out, api_out_keepalive(c->front)))
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
        if (api_out_error(&c->enc, &err, &c->out)) {
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
    c->status = front_status(c->front, err.status);
    if (ev->error.retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", ev->error.retry_after_s);
        http_resp_header(c->req, "Retry-After", ra);
    }
    if (ev->error.raw.len && c->front == API_FRONT_DEEPSEEK) /* the upstream's own envelope */
        http_resp_send(c->req, err.status, "application/json", ev->error.raw.ptr,
                       ev->error.raw.len);
    else
        api_front_send_error(c->front, c->req, &err);
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
    if (api_out_events(&c->enc, ev, n, &c->out)) {
        bk_event_t e;
        memset(&e, 0, sizeof e);
        e.error.status = 502;
        e.error.type = "api_error";
        e.error.message = SLICE_LIT("answer exceeds the server's size limit");
        chat_error(c, &e);
        return -1;
    }
    meter_events(&c->meter, ev, n);
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
            if (api_out_finish(&c->enc, &c->out)) {
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
            if (api_out_finish(&c->enc, &c->out) || c->out.len > c->srv->o.max_output) {
                api_error_t err;
                api_error_set(&err, 502, "api_error", NULL, NULL,
                              "answer exceeds the server's size limit");
                api_front_send_error(c->front, c->req, &err);
                c->status = front_status(c->front, 502);
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
    /* kept apart (ledger) and joined only when a line is logged */
    slice_copy_cstr(c->up_name, sizeof c->up_name, slice_of(where));
    slice_copy_cstr(c->up_key, sizeof c->up_key, slice_of(key_id ? key_id : ""));
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

/* Bodies from this size on are parsed and validated on a worker, so that a body of several
 * MB does not hold every other connection while it is read. Smaller ones cost less than the
 * hand-over. */
#define PARSE_OFF_LOOP_BYTES (64 * 1024)

/* An Anthropic or Responses body becomes the Chat Completions body every backend takes; it
 * replaces the client's bytes (validated next, forwarded, counted and billed as any chat).
 * Returns 0, or -1 with c->parse.err filled. */
static int translate_body(chat_t *c)
{
    char *body = NULL;
    size_t len = 0;
    bool stream = false;
    api_anth_opts_t ao = {c->srv->o.anthropic_model_map, c->srv->o.nanthropic_model_map};
    int rc = c->front == API_FRONT_ANTHROPIC
                 ? api_anth_translate(c->raw.data ? c->raw.data : "", c->raw.len, &ao, false, &body,
                                      &len, &stream, &c->parse.err)
                 : api_resp_translate(c->raw.data ? c->raw.data : "", c->raw.len, &body, &len,
                                      &stream, &c->parse.err);
    if (rc)
        return -1;
    buf_free(&c->raw);
    buf_init(&c->raw, len + 1);
    buf_append(&c->raw, body, len);
    free(body);
    return 0;
}

/* Parses and validates the body and keeps what the answer needs of it; on a worker for large
 * bodies (it reads only c->raw and writes only c's parse results and facts). Small bodies
 * share the server's reader, whose arrays stay grown: no allocation per request. A large one
 * gets a reader of its own, freed at once, so the server's never keeps megabytes. */
static void parse_run(work_t *w)
{
    chat_t *c = (chat_t *)((char *)w - offsetof(chat_t, parse.w));
    /* decided on the body as it came: a large one is here on a worker, whatever it becomes */
    bool large = c->raw.len >= PARSE_OFF_LOOP_BYTES;
    if (c->front != API_FRONT_DEEPSEEK && translate_body(c)) {
        c->parse.failed = true;
        return;
    }
    slice_t raw = buf_slice(&c->raw);
    jr_doc_t own, *doc = &c->srv->jr;
    if (large) {
        jr_init(&own);
        doc = &own;
    }
    api_body_facts_t f;
    c->parse.failed = api_check_body(raw.ptr, raw.len, c->parse.kind, doc, &f, &c->parse.err) != 0;
    if (!c->parse.failed) {
        /* as a C string the model ends at its first NUL, if any */
        slice_copy_cstr(c->model, sizeof c->model, f.model);
        c->stream = f.stream;
        c->include_usage = f.include_usage;
        c->has_stream_options = f.has_stream_options;
        c->max_tokens = f.max_tokens;
        /* A stream whose own stream_options lacks include_usage is re-encoded to ask for
         * usage (splice.h): for a large body that is done here, on the worker, not the loop. */
        if (large && c->stream && c->has_stream_options && !c->include_usage)
            (void)bk_splice_body(raw, true, true, false, &c->spliced);
    }
    if (doc == &own)
        jr_free(&own);
}

static void chat_begin(chat_t *c);
static void chat_start(chat_t *c);
static void on_held(void *ud, store_rc_t rc, int64_t hold_id);
static void on_admitted(void *ud, gw_limit_rc_t lr, int64_t retry_ms);

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
        buf_free(&c->raw);
        free(c->spliced);
        free(c);
        return;
    }
    chat_begin(c);
}

void api_handle_chat(api_server_t *s, http_req_t *r, api_kind_t kind, api_front_t front,
                     const char *route)
{
    /* The client's keys point into the auth result, so it lives in the request from the start
     * and is never copied. */
    chat_t *c = xcalloc(1, sizeof *c);
    c->front = front;
    if (!api_authorize_front(s, r, &c->auth, front)) {
        free(c);
        return;
    }
    slice_t raw = http_req_body(r);
    size_t refused = http_req_body_refused(r);
    if (refused || raw.len > s->o.max_body) {
        char msg[128];
        snprintf(msg, sizeof msg, "Request body is too large (%zu bytes; the limit is %zu)",
                 refused ? refused : raw.len, s->o.max_body);
        api_error_t err;
        api_error_set(&err, 413, "invalid_request_error", "invalid_request_error", NULL, "%s", msg);
        api_log_simple(s, r, 413);
        api_front_send_error(front, r, &err);
        free(c);
        return;
    }
    c->srv = s;
    c->req = r;
    slice_copy_cstr(c->route, sizeof c->route, slice_of(route));
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
    if (c->parse.failed) {
        http_req_on_abort(r, NULL, NULL);
        api_log_simple(s, r, front_status(c->front, c->parse.err.status));
        api_front_send_error(c->front, r, &c->parse.err);
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
    c->ttfb_us = -1;
    c->sink.events = sink_events;
    c->sink.end = sink_end;
    c->sink.writable = sink_writable;
    c->sink.served_by = sink_served_by;
    slice_copy_cstr(c->rid, sizeof c->rid, slice_of(http_req_id(r)));
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
    api_out_init(&c->enc, c->front, kind == API_KIND_FIM, c->stream, c->include_usage,
                 http_req_id(r), c->model, (int64_t)time(NULL), s->o.max_answer);
    buf_init(&c->out, s->o.max_answer + 65536);
    http_req_on_abort(r, on_client_abort, c);
    if (c->stream && s->o.keepalive_ms > 0) {
        c->ka = evtimer_new(s->o.base, on_keepalive, c);
        struct timeval tv = {s->o.keepalive_ms / 1000, (s->o.keepalive_ms % 1000) * 1000};
        evtimer_add(c->ka, &tv);
    }
    if (c->auth.metered) {
        api_error_t err;
        int st = meter_prepare(&c->meter, &c->auth, s->o.prices, c->model, c->raw.len,
                               c->max_tokens, s->o.hold_max_tokens, (int64_t)time(NULL), &err);
        if (st) {
            c->status = front_status(c->front, st);
            c->responded = true;
            api_front_send_error(c->front, r, &err);
            c->req = NULL;
            chat_log(c, err.message);
            chat_free(c);
            return;
        }
        /* the key's own limits; tokens estimated at about 4 bytes each, corrected at the end.
         * Limits shared through Redis answer in on_admitted later (within redis_timeout_ms). */
        gw_limit_cfg_t lc = {c->auth.acct.rpm, c->auth.acct.tpm, c->auth.acct.concurrency};
        gw_limit_rc_t lr;
        int64_t retry_ms = 0;
        c->limit_tokens = (int64_t)(c->raw.len / 4) + c->max_tokens;
        c->limited = true;
        if (gw_limiter_admit(s->limiter, &c->lease, c->auth.acct.key_id, &lc, c->limit_tokens,
                             on_admitted, c, &lr, &retry_ms))
            on_admitted(c, lr, retry_ms);
        return;
    }
    chat_start(c);
}

/* The key's limits answered: over one, a 429 that says when to retry; else the hold. */
static void on_admitted(void *ud, gw_limit_rc_t lr, int64_t retry_ms)
{
    chat_t *c = ud;
    api_server_t *s = c->srv;
    if (lr != GW_LIMIT_OK) {
        api_metrics_refused(s->metrics, lr == GW_LIMIT_RPM   ? "rpm"
                                        : lr == GW_LIMIT_TPM ? "tpm"
                                                             : "concurrency");
        char msg[96];
        snprintf(msg, sizeof msg, "Rate Limit Reached: this key allows %lld %s",
                 (long long)(lr == GW_LIMIT_RPM   ? c->auth.acct.rpm
                             : lr == GW_LIMIT_TPM ? c->auth.acct.tpm
                                                  : c->auth.acct.concurrency),
                 lr == GW_LIMIT_RPM   ? "requests a minute"
                 : lr == GW_LIMIT_TPM ? "tokens a minute"
                                      : "requests at once");
        bk_event_t e;
        memset(&e, 0, sizeof e);
        e.type = BK_EV_ERROR;
        e.error.status = 429;
        e.error.type = "rate_limit_error";
        e.error.code = "rate_limit_exceeded";
        e.error.message = slice_of(msg);
        e.error.retry_after_s = (int)((retry_ms + 999) / 1000);
        chat_error(c, &e);   /* answers (an error event if keep-alives began a stream) and logs */
        c->meter.on = false; /* nothing was held */
        buf_free(&c->meter.said);
        chat_free(c);
        return;
    }
    /* admitted only once the hold is durable: the backend starts in on_held */
    c->meter.pending =
        accounts_hold(s->o.auth.accounts, c->meter.key_id, c->meter.hold_amount, c->rid, c->model,
                      (int)c->meter.tier, c->meter.started, on_held, c);
}

static bk_kind_t backend_kind(api_kind_t kind)
{
    return kind == API_KIND_FIM           ? BK_KIND_FIM
           : kind == API_KIND_CHAT_PREFIX ? BK_KIND_CHAT_PREFIX
                                          : BK_KIND_CHAT;
}

/* A tighter hold was counted (after the body's bytes did not fit): try it, or refuse. */
static void on_counted(void *ud, gw_nano_t amount)
{
    chat_t *c = ud;
    if (amount < 0 || amount >= c->meter.hold_amount) {
        on_held(c, STORE_NO_BALANCE, 0);
        return;
    }
    c->meter.hold_amount = amount;
    c->meter.pending =
        accounts_hold(c->srv->o.auth.accounts, c->meter.key_id, c->meter.hold_amount, c->rid,
                      c->model, (int)c->meter.tier, c->meter.started, on_held, c);
}

/* The hold of a metered request is back: start the answer, or say why not. */
static void on_held(void *ud, store_rc_t rc, int64_t hold_id)
{
    chat_t *c = ud;
    c->meter.pending = NULL;
    if (rc == STORE_NO_BALANCE && !c->meter.counted && c->srv->o.workers) {
        /* the body's bytes did not fit: count the prompt and ask again for what it needs */
        meter_count_hold(&c->meter, c->srv->o.workers, buf_slice(&c->raw),
                         (int)backend_kind(c->parse.kind), c->srv->o.hold_image_tokens, on_counted,
                         c);
        return;
    }
    if (rc == STORE_OK) {
        c->meter.hold_id = hold_id;
        api_metrics_holds(c->srv->metrics, 1);
        chat_start(c);
        return;
    }
    /* DeepSeek's own 402, byte for byte (an error event if keep-alives already began a stream) */
    static const char no_balance[] = "{\"error\":{\"message\":\"Insufficient Balance\",\"type\":"
                                     "\"unknown_error\",\"param\":null,\"code\":"
                                     "\"invalid_request_error\"}}";
    bk_event_t e;
    memset(&e, 0, sizeof e);
    e.type = BK_EV_ERROR;
    if (rc == STORE_NO_BALANCE) {
        api_metrics_refused(c->srv->metrics, "balance");
        e.error.status = 402;
        e.error.type = "unknown_error";
        e.error.code = "invalid_request_error";
        e.error.message = SLICE_LIT("Insufficient Balance");
        e.error.raw = (slice_t){no_balance, sizeof no_balance - 1};
    } else {
        e.error.status = 503;
        e.error.type = "api_error";
        e.error.message = SLICE_LIT("Service Unavailable: the accounts database cannot be reached");
    }
    chat_error(c, &e); /* answers, logs and lets go of the request */
    chat_free(c);
}

/* Starts the backend's answer. */
static void chat_start(chat_t *c)
{
    api_server_t *s = c->srv;
    http_req_t *r = c->req;
    api_kind_t kind = c->parse.kind;
    bk_request_t breq = {
        .kind = backend_kind(kind),
        .request_id = http_req_id(r),
        .model = c->model,
        .stream = c->stream,
        .raw_body = buf_slice(&c->raw),
        .has_stream_options = c->has_stream_options,
        .include_usage = c->include_usage,
        .post_body = c->spliced ? slice_of(c->spliced) : (slice_t){NULL, 0},
        .client_keys = c->auth.byot,
        .nclient_keys = c->auth.nbyot,
    };
    /* a local model's name goes to the engine, every other one upstream */
    c->be = local_serves(s->o.local, c->model) ? local_backend(s->o.local) : s->o.backend;
    c->call = c->be->start(c->be, &breq, &c->sink);
}

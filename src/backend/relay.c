/* relay.c - the life of one client request on the upstream backend: pick a key, run an
 * attempt, and on a failure before the first answer event try the next key or upstream, wait
 * in the queue for a free key, or give up with the failure (by value) the client should hear.
 * After the first answer event the request is committed: the answer streams through, and its
 * usage is settled at the end (counted with seekd's tokenizer when the upstream sent none). */
#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/splice.h"
#include "backend/upstream_int.h"
#include "backend/usage.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/workers.h"

#define MAX_TRIES 16 /* attempts a request remembers; max_attempts is capped here */

struct bk_call {
    upstream_t *up;
    bk_sink_t *sink; /* the API's */
    bk_sink_t relay; /* what attempts deliver to: commits on the first answer event */
    bk_request_t r;
    char rid[65]; /* r.request_id points here: the HTTP request may end before we do */
    attempt_t *att;
    int ui, ki;     /* the attempt's upstream and key (ki < 0: the client's own key) */
    char *post;     /* the body, when it had to be rewritten (the splice) */
    slice_t body;   /* what is posted */
    char *own_hdrs; /* the headers for a client's own key */
    size_t own_hdrs_len;
    pool_pick_t tried[MAX_TRIES];
    int ntried;
    int attempts;
    int64_t deadline_ms;
    bool committed; /* an answer event reached the client: no more failover */
    bool usage_seen;
    /* what the client was given, for counting tokens when the upstream reports no usage */
    buf_t said_reasoning, said_content, said_tools;
    size_t said_bytes, said_reasoning_bytes; /* all of it, also past the buffers' cap */
    bk_call_t *qnext;
    bool queued;
    struct event *later; /* delivers a failure found synchronously in start() */
    bk_failure_t *fail;  /* what the client gets if no attempt succeeds; NULL: none yet */
    /* counting the answer's tokens on a worker, when the upstream reported no usage */
    struct {
        work_t w;
        bool complete;  /* the answer was whole: the count goes to the client */
        bool cancelled; /* the client left meanwhile: free the request when the count is back */
        char *body;     /* a copy of the client's body: the client may leave meanwhile */
        size_t body_len;
        bool parsed; /* the copy parsed (jansson may refuse what jr took: a NUL in a key) */
        bool ok, bounded;
        bk_usage_t u;
    } count;
};

static void try_next(bk_call_t *req, bool deferred_failure);

static void req_free(bk_call_t *req)
{
    upstream_t *up = req->up;
    buf_free(&req->said_reasoning);
    buf_free(&req->said_content);
    buf_free(&req->said_tools);
    if (req->later)
        event_free(req->later);
    free(req->post);
    free(req->own_hdrs);
    free(req->fail);
    free(req);
    up->calls--;
    upstream_idle_check(up);
}

static void set_failure(bk_call_t *req, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_failure(bk_call_t *req, int status, const char *type, const char *fmt, ...)
{
    if (!req->fail)
        req->fail = xmalloc(sizeof *req->fail);
    req->fail->status = status;
    req->fail->type = type;
    req->fail->retry_after_s = 0;
    req->fail->raw_len = 0; /* seekd's own words from here */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->fail->msg, sizeof req->fail->msg, fmt, ap);
    va_end(ap);
}

/* Gives the client the recorded failure and ends the request. The failure is copied out
 * first: nothing the sink reads points into the request. */
static void deliver_failure(bk_call_t *req)
{
    bk_failure_t f = {0};
    if (req->fail)
        f = *req->fail;
    bk_sink_t *sink = req->sink;
    req_free(req);
    bk_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = BK_EV_ERROR;
    ev.error.status = f.status ? f.status : 503;
    ev.error.type = f.type ? f.type : "server_overloaded";
    ev.error.message = slice_of(f.msg);
    ev.error.retry_after_s = f.retry_after_s;
    ev.error.raw = (slice_t){f.raw, f.raw_len};
    sink->events(sink, &ev, 1); /* the sink answers the client; its return changes nothing */
    sink->end(sink);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_failure(arg);
}

/* Retry-After is given in whole seconds, rounded up. */
static int retry_after_seconds(int ms)
{
    return ms > 0 ? (ms + 999) / 1000 : 0;
}

/* The pool's reason for refusing is what the client hears, unless an attempt already failed:
 * that attempt's own error says more. */
static void refuse(bk_call_t *req, const pool_refusal_t *why)
{
    if (req->fail)
        return;
    set_failure(req, why->status, why->type, "%s", why->msg);
    req->fail->retry_after_s = retry_after_seconds(why->retry_after_ms);
}

/* ---- queue ---- */

static void queue_push(upstream_t *up, bk_call_t *req)
{
    req->queued = true;
    req->qnext = NULL;
    if (up->qtail)
        up->qtail->qnext = req;
    else
        up->qhead = req;
    up->qtail = req;
    up->queued++;
}

static void queue_remove(upstream_t *up, bk_call_t *req)
{
    bk_call_t **pp = &up->qhead, *prev = NULL;
    while (*pp && *pp != req) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return;
    *pp = req->qnext;
    if (up->qtail == req)
        up->qtail = prev;
    req->queued = false;
    req->qnext = NULL;
    up->queued--;
}

/* ---- the answer as it passes through ---- */

static const char *key_name(const bk_call_t *req, char out[48]);

static int relay_events(bk_sink_t *s, const bk_event_t *ev, int n)
{
    bk_call_t *req = (bk_call_t *)((char *)s - offsetof(bk_call_t, relay));
    if (!req->committed && req->sink->served_by) {
        char kn[48];
        req->sink->served_by(req->sink, req->up->pool.ups[req->ui].name, key_name(req, kn));
    }
    req->committed = true;
    /* What the client is given is kept only for counting it when the upstream reports no
     * usage. A batch with the usage (a whole non-streamed answer, a stream's last chunk)
     * settles that: its text is not copied, and what was kept can go. */
    for (int i = 0; i < n && !req->usage_seen; i++) {
        if (ev[i].type == BK_EV_USAGE) {
            req->usage_seen = true;
            buf_free(&req->said_reasoning);
            buf_free(&req->said_content);
            buf_free(&req->said_tools);
        }
    }
    for (int i = 0; i < n && !req->usage_seen; i++) {
        switch (ev[i].type) {
        case BK_EV_REASONING_DELTA:
            buf_append(&req->said_reasoning, ev[i].text.ptr, ev[i].text.len);
            req->said_reasoning_bytes += ev[i].text.len;
            req->said_bytes += ev[i].text.len;
            break;
        case BK_EV_CONTENT_DELTA:
            buf_append(&req->said_content, ev[i].text.ptr, ev[i].text.len);
            req->said_bytes += ev[i].text.len;
            break;
        case BK_EV_TOOL_CALL_DELTA:
            buf_append(&req->said_tools, ev[i].tool.name.ptr, ev[i].tool.name.len);
            buf_append(&req->said_tools, ev[i].tool.args.ptr, ev[i].tool.args.len);
            req->said_bytes += ev[i].tool.name.len + ev[i].tool.args.len;
            break;
        default:
            break;
        }
    }
    return req->sink->events(req->sink, ev, n);
}

static bool relay_writable(bk_sink_t *s)
{
    bk_call_t *req = (bk_call_t *)((char *)s - offsetof(bk_call_t, relay));
    return !req->sink->writable || req->sink->writable(req->sink);
}

/* ---- usage the upstream did not report ---- */

/* On a worker: the prompt and what the client was given, counted. Reads only the request's
 * own copy of the body and its own buffers. */
static void count_run(work_t *w)
{
    bk_call_t *req = (bk_call_t *)((char *)w - offsetof(bk_call_t, count.w));
    bool kept = !buf_failed(&req->said_reasoning) && !buf_failed(&req->said_content) &&
                !buf_failed(&req->said_tools);
    slice_t none = {"", 0};
    bk_usage_t *u = &req->count.u;
    json_t *body =
        json_loadb(req->count.body, req->count.body_len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    req->count.parsed = json_is_object(body);
    req->count.ok =
        req->count.parsed &&
        bk_usage_compute_bounded(body, req->r.kind, kept ? buf_slice(&req->said_reasoning) : none,
                                 kept ? buf_slice(&req->said_content) : none,
                                 kept ? buf_slice(&req->said_tools) : none, u, &req->count.bounded);
    json_decref(body);
    if (req->count.ok && !kept) {
        /* more text than the buffers keep: its bytes bound its tokens */
        req->count.bounded = true;
        u->completion_tokens = (int64_t)req->said_bytes;
        u->total_tokens = u->prompt_tokens + u->completion_tokens;
        if (req->said_reasoning_bytes) {
            u->has |= BK_USAGE_REASONING;
            u->reasoning_tokens = (int64_t)req->said_reasoning_bytes;
        }
    }
}

/* Back on the loop: a complete answer gets the computed usage as an event; a broken one is
 * only logged (what was delivered). */
static void count_done(work_t *w)
{
    bk_call_t *req = (bk_call_t *)((char *)w - offsetof(bk_call_t, count.w));
    if (!w->ran) {
        log_warn("req=%s usage not counted: the server is stopping", req->r.request_id);
    } else if (!req->count.parsed) {
        log_warn("req=%s usage not counted: the body does not parse for counting",
                 req->r.request_id);
    } else if (!req->count.ok) {
        log_warn("req=%s upstream reported no usage and the built-in tokenizer is missing",
                 req->r.request_id);
    } else {
        const bk_usage_t *u = &req->count.u;
        log_info("req=%s upstream reported no usage; counted with seekd's tokenizer: prompt=%lld "
                 "completion=%lld%s%s",
                 req->r.request_id, (long long)u->prompt_tokens, (long long)u->completion_tokens,
                 req->count.bounded ? " (upper bound: a text over the count limit was counted "
                                      "by its bytes)"
                                    : "",
                 req->count.complete ? "" : " (delivered before the failure)");
    }
    bk_sink_t *sink = req->count.cancelled ? NULL : req->sink;
    if (sink && w->ran && req->count.ok && req->count.complete) {
        bk_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = BK_EV_USAGE;
        ev.usage = req->count.u;
        sink->events(sink, &ev, 1);
    }
    free(req->count.body);
    req_free(req);
    if (sink)
        sink->end(sink);
}

/* The upstream reported no usage: count with our own tokenizer, on a worker when there is a
 * pool (a long prompt takes a while), and end the answer when the count is back. The body is
 * copied, since the client may leave and its request be freed meanwhile; it is parsed (with
 * jansson, for the counter) on the worker too. */
static void settle_usage(bk_call_t *req, bool complete)
{
    req->count.complete = complete;
    req->count.w.run = count_run;
    req->count.w.done = count_done;
    req->count.body_len = req->r.raw_body.len;
    req->count.body = xmalloc(req->count.body_len + 1);
    memcpy(req->count.body, req->r.raw_body.ptr, req->count.body_len);
    if (req->up->o.workers) {
        workers_submit(req->up->o.workers, &req->count.w);
        return;
    }
    count_run(&req->count.w);
    req->count.w.ran = true;
    count_done(&req->count.w);
}

/* ---- attempts ---- */

/* The log id of a client's own key: a SHA-256 of it, which costs more than the rest of a
 * small request's handling in seekd, so the ids of the keys seen last are kept (the key
 * compared whole, in a slot chosen by a cheap hash of it). */
static const char *client_key_id(upstream_t *up, const char *k, char out[48])
{
    size_t n = strlen(k);
    if (n == 0 || n > UPSTREAM_KEY_ID_MAXKEY)
        return log_key_id(k, n, out);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    key_id_slot_t *slot = &up->key_ids[h % UPSTREAM_KEY_ID_SLOTS];
    if (slot->len != n || memcmp(slot->key, k, n) != 0) {
        memcpy(slot->key, k, n);
        slot->len = n;
        log_key_id(k, n, slot->id);
    }
    memcpy(out, slot->id, LOG_KEY_ID_SIZE);
    return out;
}

/* The key of the current attempt as logs name it. */
static const char *key_name(const bk_call_t *req, char out[48])
{
    if (req->ki >= 0)
        return req->up->pool.ups[req->ui].keys[req->ki].id;
    return client_key_id(req->up, req->r.client_keys[-1 - req->ki], out);
}

static void log_key_change(upstream_t *up, int ui, int ki)
{
    pool_upstream_t *u = &up->pool.ups[ui];
    if (ki < 0) {
        if (u->ejected)
            log_warn("upstream %s ejected for %lld ms: %s", u->name,
                     (long long)up->o.policy.eject_ms, u->reason);
        return;
    }
    pool_key_t *k = &u->keys[ki];
    log_warn("upstream %s key %s is now %s: %s", u->name, k->id, pool_state_name(k->state),
             k->reason);
    if (u->ejected)
        log_warn("upstream %s ejected: %s", u->name, u->reason);
}

/* An attempt is over: report it to the pool, then retry, fail or end the request. */
static void on_attempt_done(void *owner, const att_result_t *r)
{
    bk_call_t *req = owner;
    upstream_t *up = req->up;
    req->att = NULL;
    if (log_on(LOG_DEBUG)) {
        char kn[48];
        log_debug("req=%s attempt %d on upstream %s key %s: status %d, %s%s%s", req->r.request_id,
                  req->attempts, up->pool.ups[req->ui].name, key_name(req, kn), r->status,
                  r->failed    ? "failed: "
                  : r->stopped ? "stopped by the client"
                               : "answered",
                  r->failed ? r->fail->msg : "",
                  r->delivered && r->failed ? " (after answer bytes)" : "");
    }
    if (req->ki >= 0)
        up->pool.ups[req->ui].keys[req->ki].active--;
    if (pool_report(&up->pool, req->ui, req->ki, r->outcome, r->retry_after_ms,
                    r->fail ? r->fail->msg : "", mono_ms()))
        log_key_change(up, req->ui, req->ki);
    const char *uname = up->pool.ups[req->ui].name;
    if (r->failed && !r->delivered) {
        char mk[48];
        if (!req->fail)
            req->fail = xmalloc(sizeof *req->fail);
        *req->fail = *r->fail;
        req->fail->retry_after_s = retry_after_seconds(r->retry_after_ms);
        if (r->deadline)
            set_failure(req, 504, "api_error", "no upstream answered within %ld ms",
                        up->o.request_timeout_ms);
        log_info("req=%s attempt %d on upstream %s key %s failed before the first byte: %s",
                 req->r.request_id, req->attempts, uname, key_name(req, mk), r->fail->msg);
        if (r->outcome != OUT_CLIENT && !r->deadline && req->attempts < up->o.max_attempts)
            try_next(req, false);
        else
            deliver_failure(req);
    } else {
        if (r->unterminated)
            log_warn("upstream %s ended a stream without [DONE]; the answer was complete", uname);
        if (req->committed && !req->usage_seen) {
            settle_usage(req, !r->failed && !r->stopped);
        } else {
            bk_sink_t *sink = req->sink;
            req_free(req);
            sink->end(sink);
        }
    }
    relay_dispatch(up);
}

static void start_attempt(bk_call_t *req, pool_pick_t pick)
{
    upstream_t *up = req->up;
    req->ui = pick.up;
    req->ki = pick.key;
    const char *key = pick.key >= 0 ? up->pool.ups[pick.up].keys[pick.key].key
                                    : req->r.client_keys[-1 - pick.key];
    req->attempts++;
    if (req->ntried < MAX_TRIES)
        req->tried[req->ntried++] = pick;
    slice_t hdrs;
    if (pick.key >= 0) {
        up->pool.ups[pick.up].keys[pick.key].active++;
        hdrs = upstream_key_headers(up, pick.up, pick.key, req->r.stream);
    } else {
        free(req->own_hdrs);
        req->own_hdrs =
            upstream_headers(key, req->r.stream ? "text/event-stream" : "application/json", true,
                             &req->own_hdrs_len);
        hdrs = (slice_t){req->own_hdrs, req->own_hdrs_len};
    }
    const char *path = req->r.kind == BK_KIND_FIM           ? "/beta/completions"
                       : req->r.kind == BK_KIND_CHAT_PREFIX ? "/beta/chat/completions"
                                                            : "/chat/completions";
    int64_t left = req->deadline_ms - mono_ms();
    att_spec_t spec = {
        .via = up->via[pick.up],
        .mode = ATT_ANSWER,
        .path = slice_of(path),
        .headers = hdrs,
        .body = req->body,
        .sink = &req->relay,
        .client_key =
            pick.key<0, .upstream = up->pool.ups[pick.up].name, .key = key, .lim = &up->lim,
                     /* request_timeout_ms bounds the wait for a first byte across attempts, this
                        one too */
                     .first_byte_ms = left> 0
                ? (long)left
                : 1,
        .done = on_attempt_done,
        .owner = req,
    };
    if (log_on(LOG_DEBUG)) {
        char kn[48];
        log_debug("req=%s attempt %d: upstream %s key %s, POST %s through %s", req->r.request_id,
                  req->attempts, up->pool.ups[pick.up].name, key_name(req, kn), path,
                  xport_name(up->via[pick.up]));
    }
    req->att = attempt_start(up->base, &spec);
}

/* Starts the request's next attempt, queues it, or fails it. A failure found while the API is
 * still inside start() is delivered on the next loop turn (deferred_failure). */
static void try_next(bk_call_t *req, bool deferred_failure)
{
    upstream_t *up = req->up;
    int64_t now = mono_ms();
    pool_refusal_t why;
    if (now >= req->deadline_ms) {
        if (!req->fail) /* an attempt's own failure says more */
            set_failure(req, 504, "api_error", "no upstream answered within %ld ms",
                        up->o.request_timeout_ms);
        goto failed;
    }
    pool_pick_t pick;
    switch (pool_pick(&up->pool, req->r.model, req->r.nclient_keys, req->tried, req->ntried, now,
                      &pick, &why)) {
    case PICK_OK:
        start_attempt(req, pick);
        return;
    case PICK_WAIT:
        if (up->queued >= up->o.queue_max) {
            set_failure(req, 503, "server_overloaded",
                        "Server Overloaded: %d requests are already waiting for a free key",
                        up->queued);
            goto failed;
        }
        queue_push(up, req);
        return;
    case PICK_NONE:
        refuse(req, &why);
        goto failed;
    }
failed:
    if (deferred_failure) {
        req->later = evtimer_new(up->base, on_later, req);
        struct timeval tv = {0, 0};
        evtimer_add(req->later, &tv);
    } else {
        deliver_failure(req);
    }
}

void relay_dispatch(upstream_t *up)
{
    while (up->qhead) {
        bk_call_t *req = up->qhead;
        pool_pick_t pick;
        pool_refusal_t why;
        pool_pick_result_t r = pool_pick(&up->pool, req->r.model, req->r.nclient_keys, req->tried,
                                         req->ntried, mono_ms(), &pick, &why);
        if (r == PICK_WAIT)
            return;
        queue_remove(up, req);
        if (r == PICK_OK) {
            start_attempt(req, pick);
        } else {
            refuse(req, &why);
            deliver_failure(req);
        }
    }
}

void relay_expire(upstream_t *up, int64_t now)
{
    for (bk_call_t *req = up->qhead, *next; req; req = next) {
        next = req->qnext;
        if (now >= req->deadline_ms) {
            queue_remove(up, req);
            set_failure(req, 503, "server_overloaded",
                        "Server Overloaded: no upstream key became free within %ld ms",
                        up->o.request_timeout_ms);
            deliver_failure(req);
        }
    }
}

void relay_drop_queue(upstream_t *up)
{
    while (up->qhead) {
        bk_call_t *req = up->qhead;
        queue_remove(up, req);
        req_free(req);
    }
}

/* ---- the backend interface ---- */

bk_call_t *relay_start(backend_t *be, const bk_request_t *r, bk_sink_t *sink)
{
    upstream_t *up = (upstream_t *)be;
    bk_call_t *req = xcalloc(1, sizeof *req);
    req->up = up;
    up->calls++;
    req->sink = sink;
    req->r = *r;
    slice_copy_cstr(req->rid, sizeof req->rid, slice_of(r->request_id ? r->request_id : "-"));
    req->r.request_id = req->rid;
    req->relay.events = relay_events;
    req->relay.writable = relay_writable;
    req->deadline_ms = mono_ms() + up->o.request_timeout_ms;
    /* kept for counting only, and a text over BK_COUNT_MAX_BYTES counts by its bytes anyway:
     * no need to hold more of an answer than that (an upstream may stream 64 MiB) */
    buf_init(&req->said_reasoning, BK_COUNT_MAX_BYTES + 1);
    buf_init(&req->said_content, BK_COUNT_MAX_BYTES + 1);
    buf_init(&req->said_tools, BK_COUNT_MAX_BYTES + 1);
    /* Streams always ask for usage so accounting is exact (and DeepSeek's last chunk carries
     * it for every client). Otherwise the client's bytes go upstream untouched. */
    req->body = r->post_body.ptr ? r->post_body
                                 : bk_splice_body(r->raw_body, r->stream, r->has_stream_options,
                                                  r->include_usage, &req->post);
    try_next(req, true);
    return req;
}

void relay_resume(bk_call_t *req)
{
    if (req->att)
        attempt_resume(req->att); /* may end the request */
}

void relay_cancel(bk_call_t *req)
{
    upstream_t *up = req->up;
    if (req->count.w.run) { /* counting on a worker: freed when the count is back */
        req->count.cancelled = true;
        return;
    }
    if (req->queued)
        queue_remove(up, req);
    if (req->att) {
        attempt_cancel(req->att);
        if (req->ki >= 0)
            up->pool.ups[req->ui].keys[req->ki].active--;
    }
    req_free(req);
    relay_dispatch(up);
}

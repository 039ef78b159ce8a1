/* upstream.c - relays requests to OpenAI-compatible upstreams and turns their answers (SSE
 * stream or one JSON body) into backend events. A request (bk_call_t) makes one or more
 * attempts; an attempt is one HTTP transfer on one (upstream, key). Failures before the first
 * answer event are retried on another key or upstream; after it they reach the client as an
 * error event. Plain-http upstreams are reached with http/client.c (pooled connections, the
 * request written from the call that starts it); https and proxied ones with libcurl's multi
 * handle. Both run on the server's event_base, so nothing blocks. */
#include "backend/upstream.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/chunk.h"
#include "backend/sse.h"
#include "backend/usage.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/client.h"

#define MAX_TRIES 8

typedef struct attempt attempt_t;

struct upstream {
    backend_t be; /* first: the backend interface */
    struct event_base *base;
    CURLM *multi;
    struct event *curl_timer;
    struct event *curl_now; /* curl's "act at once" timeouts: run in this loop pass */
    struct event *tick;
    struct sock_ctx **socks; /* by fd: every socket curl has open that we have watched */
    int nsocks;
    upstream_opts_t o;
    pool_t pool;
    bk_call_t *qhead, *qtail; /* requests waiting for a free key, oldest first */
    int queued;
    int64_t next_probe_ms;
    /* reused per request: easy handles (reset, connections stay in the multi's cache) and,
     * per upstream and server key, the header lists for streamed and whole answers */
    CURL *spare[128];
    int nspare;
    struct hdrs **key_hdrs; /* [upstream][key * 2 + stream] */
    http_client_t *hc;
    /* [upstream]: its origin and the URL's path after it when reached with hc; origin NULL:
     * with libcurl */
    struct hc_route {
        http_origin_t *origin;
        const char *base_path;
    } * hc_routes;
};

/* An attempt's request headers, in the form its transport takes: one block of lines for
 * http/client.c, a curl list for libcurl. Cached per upstream key and kind of answer. */
typedef struct hdrs {
    char *blk;
    size_t len;
    struct curl_slist *sl;
} hdrs_t;

/* What ended a transfer, from either transport. */
typedef enum { XR_OK, XR_CONNECT, XR_TIMEOUT, XR_PARTIAL, XR_FAILED } xr_t;

/* A client request: owns its attempts in turn. */
struct bk_call {
    upstream_t *up;
    bk_sink_t *sink; /* the API's */
    bk_sink_t relay; /* what attempts deliver to: commits on the first answer event */
    bk_request_t r;
    char rid[65]; /* r.request_id points here: the HTTP request may end before we do */
    attempt_t *att;
    const char *tried[MAX_TRIES];
    int ntried;
    int attempts;
    int64_t deadline_ms;
    bool committed; /* an answer event reached the client: no more failover */
    bool usage_seen;
    /* what the client was given, for counting tokens when the upstream reports no usage */
    buf_t said_reasoning, said_content, said_tools;
    bk_call_t *qnext;
    bool queued;
    struct event *later; /* delivers a failure found synchronously in start() */
    /* the failure the client gets if no attempt succeeds */
    int fail_status;
    const char *fail_type;
    char fail_msg[512];
    int fail_retry_after_s;
};

typedef enum { MODE_ANSWER, MODE_GET, MODE_PROBE } mode_t_;

struct attempt {
    upstream_t *up;
    bk_call_t *req; /* MODE_ANSWER only */
    mode_t_ mode;
    int ui, ki; /* upstream and key (ki < 0: the client's own key) */
    const char *key;
    CURL *easy;       /* libcurl's transfer, or */
    http_xfer_t *x;   /* http/client.c's */
    const char *path; /* after the upstream's URL */
    hdrs_t *hdrs;     /* key_hdrs' or own */
    hdrs_t own;
    char *post;        /* a body rewritten for this attempt */
    slice_t post_body; /* what is posted (NULL ptr: a GET) */
    upstream_get_cb get_cb;
    void *get_ud;
    bool probe_balance; /* MODE_PROBE: a 402 key, probed through /user/balance */
    int status;
    char ctype[128];
    char retry_after[32];
    bool sse, html, done, stopped, failed;
    bool paused; /* the client is slow: curl holds the data until resume */
    sse_parser_t parser;
    bk_chunk_state_t st;
    buf_t body;
    struct event *timer; /* first-token / idle deadline */
    /* classification of a failure */
    pool_outcome_t outcome;
    int fstatus;
    const char *ftype;
    char fmsg[512];
};

static void try_next(bk_call_t *req, bool deferred_failure);

/* The attempt's key as logs may show it ("sk-…abcd"), masked only when a log line needs it. */
#define MASKED(a) log_mask_key((a)->key, (a)->key ? strlen((a)->key) : 0, (char[48]){0}, 48)
static void dispatch(upstream_t *up);

/* ---- curl <-> libevent glue ---- */

static void check_done(upstream_t *up);

/* A socket of curl's and its event. The event outlives curl's interest in the socket: when a
 * transfer ends its connection goes back to curl's cache, and the next request on it would
 * otherwise cost an epoll_ctl to stop watching and another to start again. So a socket stays
 * registered (reads only) while idle, and its context is freed when curl closes it. */
typedef struct sock_ctx {
    struct event *ev;
    upstream_t *up;
    bool conn;     /* opened by open_cb for a connection, so close_cb will see it closed */
    bool idle;     /* curl is not watching it: the connection sits in curl's cache */
    bool watching; /* ev is pending */
} sock_ctx_t;

static sock_ctx_t *sock_lookup(upstream_t *up, curl_socket_t s)
{
    return s >= 0 && s < up->nsocks ? up->socks[s] : NULL;
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    sock_ctx_t *c = arg;
    upstream_t *up = c->up; /* c may be freed inside socket_action */
    if (c->idle) {
        /* an idle connection was closed by the server or sent stray bytes: stop watching;
         * curl finds it dead when it next checks the connection, and closes it */
        event_del(c->ev);
        c->watching = false;
        return;
    }
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(up->multi, fd, flags, &running);
    check_done(up);
}

static void sock_watch(sock_ctx_t *c, curl_socket_t s, short kind)
{
    if (c->watching && event_get_events(c->ev) == kind)
        return;
    if (c->watching)
        event_del(c->ev);
    event_assign(c->ev, c->up->base, s, kind, on_sock, c);
    event_add(c->ev, NULL);
    c->watching = true;
}

static sock_ctx_t *sock_new(upstream_t *up, curl_socket_t s, bool conn)
{
    if (s >= up->nsocks) {
        int n = up->nsocks ? up->nsocks : 64;
        while (n <= s)
            n *= 2;
        up->socks = xrealloc(up->socks, (size_t)n * sizeof *up->socks);
        memset(up->socks + up->nsocks, 0, (size_t)(n - up->nsocks) * sizeof *up->socks);
        up->nsocks = n;
    }
    sock_ctx_t *c = xcalloc(1, sizeof *c);
    c->up = up;
    c->conn = conn;
    c->ev = event_new(up->base, s, 0, on_sock, c);
    up->socks[s] = c;
    return c;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    upstream_t *up = userp;
    sock_ctx_t *c = socketp ? socketp : sock_lookup(up, s);
    if (what == CURL_POLL_REMOVE) {
        if (c && c->conn) {
            c->idle = true;
            if (c->watching)
                sock_watch(c, s, EV_PERSIST | EV_READ);
        } else if (c) {
            /* not a connection (a resolver's socketpair): curl closes it without close_cb */
            event_free(c->ev);
            free(c);
            up->socks[s] = NULL;
        }
        curl_multi_assign(up->multi, s, NULL);
        return 0;
    }
    short kind =
        EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!c)
        c = sock_new(up, s, false);
    if (!socketp)
        curl_multi_assign(up->multi, s, c);
    c->idle = false;
    sock_watch(c, s, kind);
    return 0;
}

/* curl opens a connection's socket: known from here on, so it may idle in epoll. */
static curl_socket_t open_cb(void *userp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    upstream_t *up = userp;
    curl_socket_t s = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (s >= 0 && purpose == CURLSOCKTYPE_IPCXN) {
        sock_ctx_t *old = sock_lookup(up, s);
        if (old) { /* a number curl closed behind our back: its event is stale */
            event_free(old->ev);
            free(old);
        }
        sock_new(up, s, true);
    }
    return s;
}

/* curl closes a socket: forget its event first, so a new socket with the same number starts
 * clean. Installed on every easy handle; curl keeps it with each connection. */
static int close_cb(void *userp, curl_socket_t s)
{
    upstream_t *up = userp;
    sock_ctx_t *c = sock_lookup(up, s);
    if (c) {
        event_free(c->ev);
        free(c);
        up->socks[s] = NULL;
    }
    return close(s);
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    upstream_t *up = arg;
    int running;
    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(up);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    upstream_t *up = userp;
    if (timeout_ms < 0) {
        evtimer_del(up->curl_timer);
        return 0;
    }
    if (timeout_ms == 0) {
        /* a new transfer: start it in this loop pass, not after another epoll_wait */
        evtimer_del(up->curl_timer);
        event_active(up->curl_now, EV_TIMEOUT, 0);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(up->curl_timer, &tv);
    return 0;
}

/* ---- attempts ---- */

static void hdrs_free(hdrs_t *h)
{
    free(h->blk);
    curl_slist_free_all(h->sl);
    memset(h, 0, sizeof *h);
}

static void attempt_free(attempt_t *a)
{
    if (a->x)
        http_xfer_cancel(a->x);
    if (a->easy) {
        upstream_t *up = a->up;
        curl_multi_remove_handle(up->multi, a->easy);
        if (up->nspare < (int)(sizeof up->spare / sizeof up->spare[0])) {
            curl_easy_reset(a->easy);
            up->spare[up->nspare++] = a->easy;
        } else {
            curl_easy_cleanup(a->easy);
        }
    }
    if (a->ki >= 0 && a->mode == MODE_ANSWER)
        a->up->pool.ups[a->ui].keys[a->ki].active--;
    hdrs_free(&a->own);
    free(a->post);
    sse_free(&a->parser);
    bk_chunk_state_free(&a->st);
    buf_free(&a->body);
    if (a->timer)
        event_free(a->timer);
    free(a);
}

static void arm_timer(attempt_t *a, long ms)
{
    if (ms <= 0) {
        evtimer_del(a->timer);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(a->timer, &tv);
}

/* Records why an attempt failed. Once the client has answer bytes, the failure goes straight
 * to it as an error event; before that, the request decides (retry or report). */
static void fail(attempt_t *a, pool_outcome_t out, int status, const char *type, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
static void fail(attempt_t *a, pool_outcome_t out, int status, const char *type, const char *fmt,
                 ...)
{
    if (a->failed || a->stopped)
        return;
    a->failed = true;
    a->outcome = out;
    a->fstatus = status;
    a->ftype = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->fmsg, sizeof a->fmsg, fmt, ap);
    va_end(ap);
    if (a->mode == MODE_ANSWER && a->req->committed) {
        bk_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = BK_EV_ERROR;
        ev.error.status = status;
        ev.error.type = type;
        ev.error.message = slice_of(a->fmsg);
        a->req->sink->events(a->req->sink, &ev, 1);
    }
}

static int on_sse_data(void *ud, slice_t data)
{
    attempt_t *a = ud;
    if (slice_eq_cstr(data, "[DONE]")) {
        a->done = true;
        return 0;
    }
    if (a->done)
        return 0;
    arm_timer(a, a->up->o.idle_timeout_ms);
    char why[160];
    int rc = bk_chunk_deliver(&a->st, data.ptr, data.len, &a->req->relay, why, sizeof why);
    if (rc == BK_CHUNK_STOP) {
        if (!a->failed)
            a->stopped = true;
        return 1;
    }
    if (rc == BK_CHUNK_MALFORMED) {
        log_warn("upstream %s key %s sent a malformed chunk (%s) after %d chunks",
                 a->up->pool.ups[a->ui].name, MASKED(a), why, a->st.chunks);
        fail(a, OUT_SERVER, 502, "api_error", "upstream sent a malformed chunk: %s", why);
        return 1;
    }
    return 0;
}

/* An answer header that matters here. */
static void note_header(attempt_t *a, const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) {
        snprintf(a->ctype, sizeof a->ctype, "%.*s", (int)vlen, v);
        a->sse = strncasecmp(a->ctype, "text/event-stream", 17) == 0;
        a->html = strncasecmp(a->ctype, "text/html", 9) == 0;
    } else if (nlen == 11 && strncasecmp(name, "retry-after", 11) == 0) {
        snprintf(a->retry_after, sizeof a->retry_after, "%.*s", (int)vlen, v);
    }
}

static size_t curl_on_header(char *buf, size_t size, size_t n, void *ud)
{
    attempt_t *a = ud;
    size_t len = size * n;
    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        a->ctype[0] = '\0'; /* a new response (after 100-continue): forget earlier headers */
        a->retry_after[0] = '\0';
        a->status = 0;
        const char *sp = memchr(buf, ' ', len);
        if (sp)
            a->status = atoi(sp + 1);
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    note_header(a, buf, nlen, v, vlen);
    return len;
}

static void hc_on_head(void *ud, http_xfer_t *x, int status)
{
    attempt_t *a = ud;
    a->status = status;
    const char *v = http_xfer_header(x, "Content-Type");
    if (v)
        note_header(a, "content-type", 12, v, strlen(v));
    if ((v = http_xfer_header(x, "Retry-After")))
        note_header(a, "retry-after", 11, v, strlen(v));
}

/* A piece of the answer's body: HC_TAKE, HC_PAUSE (offer it again on resume) or HC_STOP. */
static int on_body(void *ud, const char *data, size_t len)
{
    attempt_t *a = ud;
    if (a->stopped || a->failed)
        return HC_STOP;
    bool ok = a->status >= 200 && a->status < 300;
    if (a->mode == MODE_ANSWER && ok && a->sse) {
        bk_sink_t *sink = a->req->sink;
        if (a->req->committed && sink->writable && !sink->writable(sink)) {
            a->paused = true;
            evtimer_del(a->timer); /* a paused upstream is not an idle one */
            return HC_PAUSE;
        }
        int rc = sse_feed(&a->parser, data, len);
        if (rc == SSE_ETOOBIG) {
            fail(a, OUT_SERVER, 502, "api_error", "upstream sent an event larger than %zu bytes",
                 a->up->o.max_event);
            return HC_STOP;
        }
        return rc ? HC_STOP : HC_TAKE;
    }
    /* whole bodies: a non-streamed answer, an error document, a GET result */
    if (buf_append(&a->body, data, len)) {
        fail(a, OUT_SERVER, 502, "api_error", "upstream answer exceeds %zu bytes", a->body.cap);
        return HC_STOP;
    }
    return HC_TAKE;
}

static size_t curl_on_body(char *data, size_t size, size_t n, void *ud)
{
    size_t len = size * n;
    int rc = on_body(ud, data, len);
    return rc == HC_TAKE ? len : rc == HC_PAUSE ? CURL_WRITEFUNC_PAUSE : 0;
}

static int parse_retry_after(const char *v)
{
    if (!v[0])
        return -1;
    char *end;
    double s = strtod(v, &end);
    if (end == v || s < 0 || s > 86400)
        return -1;
    return (int)(s * 1000);
}

/* Classifies a non-2xx answer, keeping DeepSeek's own envelope message when there is one. */
static void fail_from_status(attempt_t *a)
{
    int st = a->status;
    bool bad_request = st == 400 || st == 404 || st == 413 || st == 422;
    slice_t m = bad_request ? SLICE_LIT("invalid request") : SLICE_LIT("no message");
    if (!a->html) {
        /* the answer's own reader (jr) serves error bodies too */
        jr_doc_t *d = &a->st.doc;
        jr_val_t root = jr_parse(d, a->body.data ? a->body.data : "", a->body.len, NULL, NULL);
        jr_val_t v = jr_get(d, jr_get(d, root, "error"), "message");
        if (!jr_is(d, v, JR_STR))
            v = jr_get(d, root, "message");
        if (!jr_is(d, v, JR_STR))
            v = jr_get(d, root, "detail");
        if (jr_is(d, v, JR_STR))
            m = jr_str(d, v);
    }
    int n = (int)m.len;
    const char *msg = m.ptr;
    bool client_key = a->ki < 0;
    if (a->html)
        fail(a, OUT_SERVER, 502, "api_error",
             "upstream answered %d with an HTML page (a proxy or firewall?)", st);
    else if (bad_request)
        fail(a, OUT_CLIENT, st, "invalid_request_error", "%.*s", n, msg);
    else if (st == 401 || st == 403)
        fail(a, OUT_AUTH, client_key ? st : 502, "authentication_error",
             client_key ? "Authentication Fails: %.*s" : "upstream rejected the server's key: %.*s",
             n, msg);
    else if (st == 402)
        fail(a, OUT_NO_BALANCE, client_key ? 402 : 502, "insufficient_balance",
             client_key ? "Insufficient Balance: %.*s" : "upstream key has no balance: %.*s", n,
             msg);
    else if (st == 429)
        fail(a, OUT_RATE_LIMIT, 429, "rate_limit_error", "Rate Limit Reached: %.*s", n, msg);
    else if (st == 503)
        fail(a, OUT_SERVER, 503, "server_overloaded", "Server Overloaded: %.*s", n, msg);
    else
        fail(a, OUT_SERVER, 502, "api_error", "upstream error %d: %.*s", st, n, msg);
}

/* ---- requests ---- */

static void req_free(bk_call_t *req)
{
    buf_free(&req->said_reasoning);
    buf_free(&req->said_content);
    buf_free(&req->said_tools);
    if (req->later)
        event_free(req->later);
    free(req);
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

/* Gives the client the recorded failure and ends the request. */
static void deliver_failure(bk_call_t *req)
{
    bk_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = BK_EV_ERROR;
    ev.error.status = req->fail_status ? req->fail_status : 503;
    ev.error.type = req->fail_type ? req->fail_type : "server_overloaded";
    ev.error.message = slice_of(req->fail_msg);
    ev.error.retry_after_s = req->fail_retry_after_s;
    /* The sink formats the message while the request is still alive: it is freed after. */
    bk_sink_t *sink = req->sink;
    sink->events(sink, &ev, 1); /* the sink answers the client; its return changes nothing */
    sink->end(sink);
    req_free(req);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver_failure(arg);
}

static void set_failure(bk_call_t *req, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_failure(bk_call_t *req, int status, const char *type, const char *fmt, ...)
{
    req->fail_status = status;
    req->fail_type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->fail_msg, sizeof req->fail_msg, fmt, ap);
    va_end(ap);
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
    if (req->fail_msg[0])
        return;
    set_failure(req, why->status, why->type, "%s", why->msg);
    req->fail_retry_after_s = retry_after_seconds(why->retry_after_ms);
}

static int relay_events(bk_sink_t *s, const bk_event_t *ev, int n)
{
    bk_call_t *req = (bk_call_t *)((char *)s - offsetof(bk_call_t, relay));
    if (!req->committed) {
        for (int i = 0; i < n; i++) {
            if (ev[i].type == BK_EV_ERROR) {
                /* an error object instead of an answer: worth another key */
                fail(req->att, OUT_SERVER, 502, "api_error", "upstream error: %.*s",
                     (int)ev[i].error.message.len, ev[i].error.message.ptr);
                return -1;
            }
        }
        req->committed = true;
    }
    for (int i = 0; i < n; i++) {
        switch (ev[i].type) {
        case BK_EV_USAGE:
            req->usage_seen = true;
            break;
        case BK_EV_REASONING_DELTA:
            buf_append(&req->said_reasoning, ev[i].text.ptr, ev[i].text.len);
            break;
        case BK_EV_CONTENT_DELTA:
            buf_append(&req->said_content, ev[i].text.ptr, ev[i].text.len);
            break;
        case BK_EV_TOOL_CALL_DELTA:
            buf_append(&req->said_tools, ev[i].tool.name.ptr, ev[i].tool.name.len);
            buf_append(&req->said_tools, ev[i].tool.args.ptr, ev[i].tool.args.len);
            break;
        default:
            break;
        }
    }
    return req->sink->events(req->sink, ev, n);
}

/* The upstream reported no usage: count with our own tokenizer. A complete answer gets the
 * computed usage as an event; a broken one is only logged (what was delivered). */
static void settle_usage(bk_call_t *req, bool complete)
{
    bk_usage_t u;
    if (!bk_usage_compute(req->r.body, req->r.kind, buf_slice(&req->said_reasoning),
                          buf_slice(&req->said_content), buf_slice(&req->said_tools), &u)) {
        log_warn("req=%s upstream reported no usage and the built-in tokenizer is missing",
                 req->r.request_id);
        return;
    }
    log_info("req=%s upstream reported no usage; counted with seekd's tokenizer: prompt=%lld "
             "completion=%lld%s",
             req->r.request_id, (long long)u.prompt_tokens, (long long)u.completion_tokens,
             complete ? "" : " (delivered before the failure)");
    if (!complete)
        return;
    bk_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = BK_EV_USAGE;
    ev.usage = u;
    req->sink->events(req->sink, &ev, 1);
}

static const char *const *byot_keys(const bk_call_t *req)
{
    return req->r.client_keys;
}

static void log_key_change(upstream_t *up, attempt_t *a)
{
    pool_upstream_t *u = &up->pool.ups[a->ui];
    if (a->ki < 0) {
        if (u->ejected)
            log_warn("upstream %s ejected for %lld ms: %s", u->name,
                     (long long)up->o.policy.eject_ms, u->reason);
        return;
    }
    pool_key_t *k = &u->keys[a->ki];
    log_warn("upstream %s key %s is now %s: %s", u->name, k->masked, pool_state_name(k->state),
             k->reason);
    if (u->ejected)
        log_warn("upstream %s ejected: %s", u->name, u->reason);
}

/* An attempt of a request is over. */
static void attempt_done(attempt_t *a)
{
    upstream_t *up = a->up;
    bk_call_t *req = a->req;
    int64_t now = mono_ms();
    pool_outcome_t out = a->failed ? a->outcome : OUT_OK;
    if (a->stopped)
        out = OUT_OK; /* the client stopped listening; the key did nothing wrong */
    int retry_ms = parse_retry_after(a->retry_after);
    if (pool_report(&up->pool, a->ui, a->ki, out, retry_ms, a->fmsg, now))
        log_key_change(up, a);
    bool failed_early = a->failed && !req->committed;
    if (failed_early) {
        set_failure(req, a->fstatus, a->ftype, "%s", a->fmsg);
        req->fail_retry_after_s = retry_after_seconds(retry_ms);
        log_info("req=%s attempt %d on upstream %s key %s failed before the first byte: %s",
                 req->r.request_id, req->attempts, up->pool.ups[a->ui].name, MASKED(a), a->fmsg);
    } else if (!a->failed && !a->stopped && a->sse && !a->done) {
        log_warn("upstream %s ended a stream without [DONE]; the answer was complete",
                 up->pool.ups[a->ui].name);
    }
    bool a_failed = a->failed, a_stopped = a->stopped;
    req->att = NULL;
    attempt_free(a);
    if (failed_early && out != OUT_CLIENT && req->attempts < up->o.max_attempts) {
        try_next(req, false);
    } else if (failed_early) {
        deliver_failure(req);
    } else {
        if (req->committed && !req->usage_seen)
            settle_usage(req, !a_failed && !a_stopped);
        bk_sink_t *sink = req->sink;
        req_free(req);
        sink->end(sink);
    }
    dispatch(up);
}

/* Completion of a transfer (any mode); why: the transport's word for a failure. */
static void complete(attempt_t *a, xr_t res, const char *why)
{
    if (a->mode != MODE_ANSWER) {
        bool ok = res == XR_OK && a->status >= 200 && a->status < 300;
        if (a->mode == MODE_PROBE) {
            if (ok && a->probe_balance) {
                jr_doc_t *d = &a->st.doc;
                jr_val_t root =
                    jr_parse(d, a->body.data ? a->body.data : "", a->body.len, NULL, NULL);
                ok = jr_is(d, jr_get(d, root, "is_available"), JR_TRUE);
            }
            char detail[160];
            snprintf(detail, sizeof detail, "probe answered %d%s%s", a->status,
                     res == XR_OK ? "" : ": ", res == XR_OK ? "" : why);
            pool_upstream_t *u = &a->up->pool.ups[a->ui];
            pool_key_t *k = &u->keys[a->ki];
            bool was_ok = k->state == KEY_OK && !u->ejected;
            pool_probe_result(&a->up->pool, a->ui, a->ki, ok, detail, mono_ms());
            if (ok && !was_ok)
                log_info("upstream %s key %s is back: %s", u->name, k->masked, detail);
            upstream_t *up = a->up;
            attempt_free(a);
            if (ok)
                dispatch(up);
            return;
        }
        char errbuf[256];
        snprintf(errbuf, sizeof errbuf, "%s", why);
        a->get_cb(a->get_ud, res == XR_OK ? a->status : 0, slice_of(a->ctype), buf_slice(&a->body),
                  res == XR_OK ? NULL : errbuf);
        bk_call_t *h = a->req;
        attempt_free(a);
        free(h);
        return;
    }
    if (a->stopped || a->failed) {
        attempt_done(a);
        return;
    }
    if (res != XR_OK && !(res == XR_PARTIAL && a->sse && a->st.chunks > 0)) {
        bool timeout = res == XR_TIMEOUT;
        bool connect = res == XR_CONNECT || (timeout && a->status == 0);
        fail(a, connect ? OUT_CONNECT : OUT_SERVER, timeout ? 504 : 502, "api_error",
             "upstream %s: %s", timeout ? "timed out" : "failed", why);
        attempt_done(a);
        return;
    }
    if (a->status < 200 || a->status >= 300) {
        fail_from_status(a);
    } else if (a->html) {
        fail(a, OUT_SERVER, 502, "api_error", "upstream answered with an HTML page, not JSON");
    } else if (a->sse) {
        /* a cut stream's unfinished last event is not an event: only a clean end flushes it */
        int rc = res == XR_PARTIAL ? 0 : sse_finish(&a->parser);
        if (rc == 0 && !a->stopped && !a->failed && !a->st.finished)
            fail(a, OUT_SERVER, 502, "api_error",
                 "upstream stream ended before the answer was complete (%d chunks)", a->st.chunks);
    } else {
        /* One JSON answer, possibly after the blank lines DeepSeek sends while queued. */
        size_t off = 0;
        while (off < a->body.len && strchr(" \r\n\t", a->body.data[off]))
            off++;
        char why[160];
        int rc = bk_chunk_deliver(&a->st, a->body.data ? a->body.data + off : "", a->body.len - off,
                                  &a->req->relay, why, sizeof why);
        if (rc == BK_CHUNK_MALFORMED)
            fail(a, OUT_SERVER, 502, "api_error", "upstream answer is not valid: %s", why);
        else if (rc == BK_CHUNK_STOP && !a->failed)
            a->stopped = true;
        else if (rc == 0 && !a->st.finished)
            fail(a, OUT_SERVER, 502, "api_error", "upstream answer has no finish_reason");
    }
    attempt_done(a);
}

static void check_done(upstream_t *up)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(up->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        attempt_t *a = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&a);
        CURLcode res = m->data.result;
        xr_t r = res == CURLE_OK                                                     ? XR_OK
                 : res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ? XR_CONNECT
                 : res == CURLE_OPERATION_TIMEDOUT                                   ? XR_TIMEOUT
                 : res == CURLE_PARTIAL_FILE                                         ? XR_PARTIAL
                                                                                     : XR_FAILED;
        complete(a, r, curl_easy_strerror(res));
    }
}

static void hc_on_done(void *ud, hc_result_t res, const char *detail)
{
    attempt_t *a = ud;
    a->x = NULL; /* freed by the client when this returns */
    xr_t r = res == HC_OK                             ? XR_OK
             : res == HC_CONNECT || res == HC_RESOLVE ? XR_CONNECT
             : res == HC_TIMEOUT                      ? XR_TIMEOUT
             : res == HC_PARTIAL                      ? XR_PARTIAL
                                                      : XR_FAILED;
    complete(a, r, detail);
}

static const http_xfer_cbs_t hc_cbs = {hc_on_head, on_body, hc_on_done};

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    attempt_t *a = arg;
    bool first = a->st.chunks == 0;
    log_warn("upstream %s key %s: %s timeout", a->up->pool.ups[a->ui].name, MASKED(a),
             first ? "first-token" : "idle");
    if (a->mode != MODE_ANSWER) {
        complete(a, XR_TIMEOUT, "timed out");
        return;
    }
    fail(a, OUT_SERVER, 504, "api_error", "upstream %s",
         first ? "sent no answer in time (first-token timeout)"
               : "stalled mid-answer (idle timeout)");
    attempt_done(a);
}

static attempt_t *attempt_new(upstream_t *up, mode_t_ mode, int ui, int ki, const char *key,
                              const char *path)
{
    attempt_t *a = xcalloc(1, sizeof *a);
    a->up = up;
    a->mode = mode;
    a->ui = ui;
    a->ki = ki;
    a->key = key;
    sse_init(&a->parser, up->o.max_event, on_sse_data, NULL, a);
    bk_chunk_state_init(&a->st);
    buf_init(&a->body, mode == MODE_ANSWER ? up->o.max_answer : up->o.max_event);
    a->timer = evtimer_new(up->base, on_deadline, a);
    a->path = path;
    return a;
}

/* The request headers for a key: Authorization, what we send and accept, for the transport
 * of upstream ui. */
static void hdrs_build(upstream_t *up, int ui, hdrs_t *h, const char *key, const char *accept,
                       bool json_body)
{
    const char *ctype = json_body ? "Content-Type: application/json\r\n" : "";
    if (up->hc_routes[ui].origin) {
        buf_t b;
        buf_init(&b, 4096);
        /* by hand, not printf: bring-your-own-key requests build this every time */
        buf_puts(&b, "Authorization: Bearer ");
        buf_puts(&b, key ? key : "");
        buf_puts(&b, "\r\n");
        buf_puts(&b, ctype);
        buf_puts(&b, "Accept: ");
        buf_puts(&b, accept);
        buf_puts(&b, "\r\nUser-Agent: seekd/" SEEKD_VERSION "\r\n");
        h->blk = b.data;
        h->len = b.len;
        return;
    }
    char line[1024];
    snprintf(line, sizeof line, "Authorization: Bearer %s", key ? key : "");
    h->sl = curl_slist_append(NULL, line);
    h->sl = curl_slist_append(h->sl, "Expect:"); /* no 100-continue round trip */
    if (json_body)
        h->sl = curl_slist_append(h->sl, "Content-Type: application/json");
    snprintf(line, sizeof line, "Accept: %s", accept);
    h->sl = curl_slist_append(h->sl, line);
}

static void own_headers(attempt_t *a, const char *accept, bool json_body)
{
    hdrs_build(a->up, a->ui, &a->own, a->key, accept, json_body);
    a->hdrs = &a->own;
}

/* Starts the transfer: POST a->body (when set) or GET. */
static void attempt_go(attempt_t *a)
{
    upstream_t *up = a->up;
    arm_timer(a, up->o.first_token_timeout_ms);
    const struct hc_route *route = &up->hc_routes[a->ui];
    http_origin_t *o = route->origin;
    if (o) {
        http_xreq_t rq = {
            .method = a->post_body.ptr ? "POST" : "GET",
            .prefix = slice_of(route->base_path),
            .path = slice_of(a->path),
            .headers = {a->hdrs->blk, a->hdrs->len},
            .body = a->post_body.ptr ? a->post_body : (slice_t){"", 0},
            .timeout_ms = up->o.total_timeout_ms,
        };
        a->x = http_xfer_start(o, &rq, &hc_cbs, a);
        return;
    }
    a->easy = up->nspare ? up->spare[--up->nspare] : curl_easy_init();
    CURL *e = a->easy;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", up->pool.ups[a->ui].url, a->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, a);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, up->o.connect_timeout_ms);
    if (up->o.conn_idle_ms > 0) /* curl counts whole seconds */
        curl_easy_setopt(e, CURLOPT_MAXAGE_CONN,
                         up->o.conn_idle_ms < 1000 ? 1L : up->o.conn_idle_ms / 1000);
    if (up->o.total_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, up->o.total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, curl_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curl_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "seekd/" SEEKD_VERSION);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, up);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, up);
    if (a->post_body.ptr) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)a->post_body.len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->post_body.ptr);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->hdrs->sl);
    curl_multi_add_handle(up->multi, e);
}

static void start_attempt(bk_call_t *req, pool_pick_t pick)
{
    upstream_t *up = req->up;
    const char *key =
        pick.key >= 0 ? up->pool.ups[pick.up].keys[pick.key].key : byot_keys(req)[-1 - pick.key];
    const char *path = req->r.kind == BK_KIND_FIM           ? "/beta/completions"
                       : req->r.kind == BK_KIND_CHAT_PREFIX ? "/beta/chat/completions"
                                                            : "/chat/completions";
    attempt_t *a = attempt_new(up, MODE_ANSWER, pick.up, pick.key, key, path);
    a->req = req;
    req->att = a;
    req->attempts++;
    if (req->ntried < MAX_TRIES)
        req->tried[req->ntried++] = key;
    const char *accept = req->r.stream ? "text/event-stream" : "application/json";
    if (pick.key >= 0) {
        up->pool.ups[pick.up].keys[pick.key].active++;
        hdrs_t *slot = &up->key_hdrs[pick.up][pick.key * 2 + req->r.stream];
        if (!slot->blk && !slot->sl)
            hdrs_build(up, pick.up, slot, key, accept, true);
        a->hdrs = slot;
    } else {
        own_headers(a, accept, true);
    }
    /* Streams always ask for usage so accounting is exact; the encoder shows it to the client
     * only if the client asked. Otherwise the client's bytes go upstream untouched. */
    const json_t *so = json_object_get(req->r.body, "stream_options");
    const char *brace = memchr(req->r.raw_body.ptr, '{', req->r.raw_body.len);
    if (req->r.stream && so == NULL && brace) {
        /* The usual case: splice the option in after the opening brace, leaving every byte
         * the client sent as it was (a validated body has members, so a comma follows). */
        static const char opt[] = "\"stream_options\":{\"include_usage\":true},";
        size_t head = (size_t)(brace + 1 - req->r.raw_body.ptr);
        size_t len = req->r.raw_body.len + sizeof opt - 1;
        a->post = xmalloc(len + 1);
        memcpy(a->post, req->r.raw_body.ptr, head);
        memcpy(a->post + head, opt, sizeof opt - 1);
        memcpy(a->post + head + sizeof opt - 1, brace + 1, req->r.raw_body.len - head);
        a->post[len] = '\0';
        a->post_body = (slice_t){a->post, len};
    } else if (req->r.stream && !json_is_true(json_object_get(so, "include_usage"))) {
        json_t *copy = json_copy((json_t *)req->r.body);
        json_t *nso = json_is_object(so) ? json_copy((json_t *)so) : json_object();
        json_object_set_new(nso, "include_usage", json_true());
        json_object_set_new(copy, "stream_options", nso);
        a->post = json_dumps(copy, JSON_COMPACT);
        json_decref(copy);
        a->post_body = slice_of(a->post);
    } else {
        a->post_body = req->r.raw_body;
    }
    attempt_go(a);
}

/* Starts the request's next attempt, queues it, or fails it. A failure found while the API is
 * still inside start() is delivered on the next loop turn (deferred_failure). */
static void try_next(bk_call_t *req, bool deferred_failure)
{
    upstream_t *up = req->up;
    int64_t now = mono_ms();
    pool_refusal_t why;
    if (now >= req->deadline_ms) {
        if (!req->fail_msg[0])
            set_failure(req, 504, "api_error", "no upstream answered within %ld ms",
                        up->o.request_timeout_ms);
        goto failed;
    }
    pool_pick_t pick;
    switch (pool_pick(&up->pool, req->r.model, byot_keys(req), req->r.nclient_keys, req->tried,
                      req->ntried, now, &pick, &why)) {
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
        req->queued = true;
        req->qnext = NULL;
        if (up->qtail)
            up->qtail->qnext = req;
        else
            up->qhead = req;
        up->qtail = req;
        up->queued++;
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

/* Starts waiting requests, oldest first, while keys are free. */
static void dispatch(upstream_t *up)
{
    while (up->qhead) {
        bk_call_t *req = up->qhead;
        pool_pick_t pick;
        pool_refusal_t why;
        pool_pick_result_t r =
            pool_pick(&up->pool, req->r.model, byot_keys(req), req->r.nclient_keys, req->tried,
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

static void start_probe(upstream_t *up, int ui, int ki)
{
    pool_upstream_t *u = &up->pool.ups[ui];
    pool_key_t *k = &u->keys[ki];
    bool balance = k->state == KEY_NO_BALANCE;
    attempt_t *a =
        attempt_new(up, MODE_PROBE, ui, ki, k->key, balance ? "/user/balance" : "/models");
    a->probe_balance = balance;
    own_headers(a, "application/json", false);
    k->probing = true;
    if (u->ejected)
        u->probing = true;
    attempt_go(a);
}

/* Every 100 ms: cooled-down keys return, waiting requests past their deadline fail, and
 * disabled or ejected keys are probed every probe_interval_ms. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    upstream_t *up = arg;
    int64_t now = mono_ms();
    if (pool_tick(&up->pool, now))
        dispatch(up);
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
    if (now >= up->next_probe_ms) {
        up->next_probe_ms = now + up->o.probe_interval_ms;
        for (int u = 0; u < up->pool.nups; u++)
            for (int k = 0; k < up->pool.ups[u].nkeys; k++)
                if (pool_needs_probe(&up->pool, u, k, now))
                    start_probe(up, u, k);
    }
}

static bk_call_t *up_start(backend_t *be, const bk_request_t *r, bk_sink_t *sink)
{
    upstream_t *up = (upstream_t *)be;
    bk_call_t *req = xcalloc(1, sizeof *req);
    req->up = up;
    req->sink = sink;
    req->r = *r;
    snprintf(req->rid, sizeof req->rid, "%s", r->request_id ? r->request_id : "-");
    req->r.request_id = req->rid;
    req->relay.events = relay_events;
    req->relay.end = NULL;
    req->relay.writable = NULL;
    req->deadline_ms = mono_ms() + up->o.request_timeout_ms;
    buf_init(&req->said_reasoning, up->o.max_answer);
    buf_init(&req->said_content, up->o.max_answer);
    buf_init(&req->said_tools, up->o.max_answer);
    try_next(req, true);
    return req;
}

static void up_resume(bk_call_t *req)
{
    attempt_t *a = req->att;
    if (!a || !a->paused)
        return;
    a->paused = false;
    arm_timer(a, a->up->o.idle_timeout_ms);
    if (a->x) {
        http_xfer_resume(a->x); /* delivers the held data from the loop */
        return;
    }
    upstream_t *up = a->up;
    curl_easy_pause(a->easy, CURLPAUSE_CONT); /* may deliver held data right here */
    check_done(up);
}

static void up_cancel(bk_call_t *req)
{
    upstream_t *up = req->up;
    if (req->queued)
        queue_remove(up, req);
    if (req->att) {
        attempt_free(req->att);
        req->att = NULL;
    }
    req_free(req);
    dispatch(up);
}

bk_call_t *upstream_get(upstream_t *up, const char *path, const char *client_key,
                        upstream_get_cb cb, void *ud)
{
    /* the first upstream by priority, with a usable key of its own unless the client has one */
    int ui = 0;
    for (int i = 1; i < up->pool.nups; i++)
        if (up->pool.ups[i].priority < up->pool.ups[ui].priority)
            ui = i;
    pool_upstream_t *u = &up->pool.ups[ui];
    const char *key = client_key;
    int ki = -1;
    for (int k = 0; !key && k < u->nkeys; k++) {
        if (u->keys[k].state == KEY_OK || k == u->nkeys - 1) {
            key = u->keys[k].key;
            ki = k;
        }
    }
    attempt_t *a = attempt_new(up, MODE_GET, ui, ki, key, path);
    bk_call_t *h = xcalloc(1, sizeof *h);
    h->up = up;
    h->att = a;
    a->req = h;
    a->get_cb = cb;
    a->get_ud = ud;
    own_headers(a, "application/json", false);
    attempt_go(a);
    return h;
}

void upstream_get_cancel(bk_call_t *h)
{
    attempt_free(h->att);
    free(h);
}

upstream_t *upstream_new(struct event_base *base, const upstream_opts_t *opts)
{
    upstream_t *up = xcalloc(1, sizeof *up);
    up->be.name = "upstream";
    up->be.start = up_start;
    up->be.cancel = up_cancel;
    up->be.resume = up_resume;
    up->base = base;
    up->o = *opts;
    up->o.ups = NULL;
    if (up->o.max_attempts < 1)
        up->o.max_attempts = 1;
    pool_init(&up->pool, opts->ups, opts->nups, &opts->policy);
    up->key_hdrs = xcalloc((size_t)up->pool.nups, sizeof *up->key_hdrs);
    for (int i = 0; i < up->pool.nups; i++)
        up->key_hdrs[i] = xcalloc((size_t)up->pool.ups[i].nkeys * 2 + 1, sizeof **up->key_hdrs);
    /* plain http goes through our own client unless a proxy is configured (libcurl honours
     * the proxy variables) or SEEKD_UPSTREAM_CLIENT=curl asks for libcurl everywhere */
    const char *force = getenv("SEEKD_UPSTREAM_CLIENT");
    bool native = !(force && strcmp(force, "curl") == 0);
    static const char *const proxy_vars[] = {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxy_vars / sizeof *proxy_vars; i++) {
        const char *v = getenv(proxy_vars[i]);
        if (v && *v)
            native = false;
    }
    up->hc = http_client_new(base, up->o.connect_timeout_ms, up->o.conn_idle_ms);
    up->hc_routes = xcalloc((size_t)up->pool.nups, sizeof *up->hc_routes);
    for (int i = 0; i < up->pool.nups; i++) {
        if (native)
            up->hc_routes[i].origin =
                http_client_origin(up->hc, up->pool.ups[i].url, &up->hc_routes[i].base_path);
        log_info("upstream %s: %s through %s", up->pool.ups[i].name, up->pool.ups[i].url,
                 up->hc_routes[i].origin ? "seekd's HTTP client" : "libcurl");
    }
    up->multi = curl_multi_init();
    if (!up->multi) {
        upstream_free(up);
        return NULL;
    }
    up->curl_timer = evtimer_new(base, on_curl_timer, up);
    up->curl_now = event_new(base, -1, 0, on_curl_timer, up);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, 1024L);
    up->tick = event_new(base, -1, EV_PERSIST, on_tick, up);
    struct timeval tv = {0, 100000};
    event_add(up->tick, &tv);
    up->next_probe_ms = mono_ms() + up->o.probe_interval_ms;
    return up;
}

void upstream_free(upstream_t *up)
{
    if (!up)
        return;
    while (up->qhead) {
        bk_call_t *req = up->qhead;
        queue_remove(up, req);
        req_free(req);
    }
    if (up->tick)
        event_free(up->tick);
    for (int i = 0; i < up->nspare; i++)
        curl_easy_cleanup(up->spare[i]);
    for (int i = 0; up->key_hdrs && i < up->pool.nups; i++) {
        for (int k = 0; k < up->pool.ups[i].nkeys * 2; k++)
            hdrs_free(&up->key_hdrs[i][k]);
        free(up->key_hdrs[i]);
    }
    free(up->key_hdrs);
    http_client_free(up->hc);
    free(up->hc_routes);
    if (up->multi)
        curl_multi_cleanup(up->multi); /* closes the cached connections through close_cb */
    for (int i = 0; i < up->nsocks; i++) {
        if (up->socks[i]) {
            event_free(up->socks[i]->ev);
            free(up->socks[i]);
        }
    }
    free(up->socks);
    if (up->curl_timer)
        event_free(up->curl_timer);
    if (up->curl_now)
        event_free(up->curl_now);
    pool_free(&up->pool);
    free(up);
}

backend_t *upstream_backend(upstream_t *up)
{
    return &up->be;
}

const pool_t *upstream_pool(const upstream_t *up)
{
    return &up->pool;
}

const char *upstream_transport(const upstream_t *up, int i)
{
    return up->hc_routes[i].origin ? "builtin" : "libcurl";
}

int upstream_queued(const upstream_t *up)
{
    return up->queued;
}

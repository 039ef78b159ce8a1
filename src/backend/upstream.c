/* upstream.c - relays requests to an OpenAI-compatible upstream and turns its answers (SSE
 * stream or one JSON body) into backend events. libcurl's multi handle runs on the server's
 * event_base (socket and timer callbacks), so nothing here blocks the loop. */
#include "backend/upstream.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backend/chunk.h"
#include "backend/sse.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"

struct upstream {
    backend_t be; /* first: the backend interface */
    struct event_base *base;
    CURLM *multi;
    struct event *curl_timer;
    upstream_opts_t o;
    char *base_url;
    char **keys;
    int nkeys;
    unsigned rr;
};

typedef enum { MODE_ANSWER, MODE_GET } call_mode_t;

struct bk_call {
    upstream_t *up;
    call_mode_t mode;
    CURL *easy;
    struct curl_slist *hdrs;
    char *post; /* body we serialized, when it differs from the client's bytes */
    bk_sink_t *sink;
    upstream_get_cb get_cb;
    void *get_ud;
    bool stream;
    int status;
    char ctype[128];
    bool sse;     /* the answer is text/event-stream */
    bool html;    /* the answer is an HTML page (proxy / WAF) */
    bool done;    /* [DONE] seen */
    bool stopped; /* the sink asked to stop */
    bool failed;  /* an ERROR event was already delivered */
    bool got_answer;
    bool client_key; /* the key is the client's own: its 401 is the client's to see */
    sse_parser_t parser;
    bk_chunk_state_t st;
    buf_t body; /* non-stream answer, or an error body */
    struct event *timer; /* first-token / idle deadline */
    char key_masked[48];
    char retry_after[32];
    struct timespec t0;
};

/* ---- curl <-> libevent glue ---- */

static void check_done(upstream_t *up);

typedef struct {
    struct event *ev;
    upstream_t *up;
} sock_ctx_t;

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    sock_ctx_t *c = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    upstream_t *up = c->up; /* c may be freed inside socket_action */
    curl_multi_socket_action(up->multi, fd, flags, &running);
    check_done(up);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    upstream_t *up = userp;
    sock_ctx_t *c = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            event_free(c->ev);
            free(c);
        }
        curl_multi_assign(up->multi, s, NULL);
        return 0;
    }
    short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                 (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->up = up;
        curl_multi_assign(up->multi, s, c);
    } else {
        event_free(c->ev);
    }
    c->ev = event_new(up->base, s, kind, on_sock, c);
    event_add(c->ev, NULL);
    return 0;
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
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(up->curl_timer, &tv);
    return 0;
}

/* ---- one call ---- */

static void call_free(bk_call_t *c)
{
    if (c->easy) {
        curl_multi_remove_handle(c->up->multi, c->easy);
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->hdrs);
    free(c->post);
    sse_free(&c->parser);
    bk_chunk_state_free(&c->st);
    buf_free(&c->body);
    if (c->timer)
        event_free(c->timer);
    free(c);
}

static void arm_timer(bk_call_t *c, long ms)
{
    if (ms <= 0) {
        evtimer_del(c->timer);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* Delivers one ERROR event (once per call). */
static void fail(bk_call_t *c, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(bk_call_t *c, int status, const char *type, const char *fmt, ...)
{
    if (c->failed || c->stopped || c->mode != MODE_ANSWER)
        return;
    c->failed = true;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bk_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = BK_EV_ERROR;
    ev.error.status = status;
    ev.error.type = type;
    ev.error.code = NULL;
    ev.error.message = slice_of(msg);
    c->sink->events(c->sink, &ev, 1);
}

/* Ends the call: tells the sink or the GET callback, then frees everything. */
static void finish(bk_call_t *c, const char *curl_err)
{
    if (c->mode == MODE_GET) {
        c->get_cb(c->get_ud, curl_err ? 0 : c->status, slice_of(c->ctype), buf_slice(&c->body),
                  curl_err);
        call_free(c);
        return;
    }
    bk_sink_t *sink = c->sink;
    call_free(c);
    sink->end(sink);
}

static int on_sse_data(void *ud, slice_t data)
{
    bk_call_t *c = ud;
    if (slice_eq_cstr(data, "[DONE]")) {
        c->done = true;
        return 0;
    }
    if (c->done)
        return 0;
    c->got_answer = true;
    arm_timer(c, c->up->o.idle_timeout_ms);
    char why[160];
    int rc = bk_chunk_deliver(&c->st, data.ptr, data.len, c->sink, why, sizeof why);
    if (rc == BK_CHUNK_STOP) {
        c->stopped = true;
        return 1;
    }
    if (rc == BK_CHUNK_MALFORMED) {
        log_warn("upstream %s sent a malformed chunk (%s) after %d chunks", c->key_masked, why,
                 c->st.chunks);
        fail(c, 502, "api_error", "upstream sent a malformed chunk: %s", why);
        return 1;
    }
    return 0;
}

static void on_sse_idle(void *ud)
{
    bk_call_t *c = ud;
    if (c->sink->keepalive)
        c->sink->keepalive(c->sink);
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    bk_call_t *c = ud;
    size_t len = size * n;
    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* a new response (after 100-continue or a redirect): forget earlier headers */
        c->ctype[0] = '\0';
        c->retry_after[0] = '\0';
        c->status = 0;
        const char *sp = memchr(buf, ' ', len);
        if (sp)
            c->status = atoi(sp + 1);
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
    if (nlen == 12 && strncasecmp(buf, "content-type", 12) == 0) {
        snprintf(c->ctype, sizeof c->ctype, "%.*s", (int)vlen, v);
        c->sse = strncasecmp(c->ctype, "text/event-stream", 17) == 0;
        c->html = strncasecmp(c->ctype, "text/html", 9) == 0;
    } else if (nlen == 11 && strncasecmp(buf, "retry-after", 11) == 0) {
        snprintf(c->retry_after, sizeof c->retry_after, "%.*s", (int)vlen, v);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    bk_call_t *c = ud;
    size_t len = size * n;
    if (c->stopped || c->failed)
        return 0;
    bool ok = c->status >= 200 && c->status < 300;
    if (c->mode == MODE_ANSWER && ok && c->sse && !c->html) {
        if (c->st.chunks == 0 && !c->got_answer)
            arm_timer(c, c->up->o.first_token_timeout_ms); /* keep-alives don't count */
        int rc = sse_feed(&c->parser, data, len);
        if (rc == SSE_ETOOBIG) {
            fail(c, 502, "api_error", "upstream sent an event larger than %zu bytes",
                 c->up->o.max_event);
            return 0;
        }
        return rc ? 0 : len;
    }
    /* whole bodies: a non-streamed answer, an error document, a GET result */
    if (buf_append(&c->body, data, len)) {
        fail(c, 502, "api_error", "upstream answer exceeds %zu bytes", c->body.cap);
        return 0;
    }
    return len;
}

/* Maps an upstream error status to what the client sees, keeping DeepSeek's own envelope
 * message when there is one. */
static void fail_from_status(bk_call_t *c)
{
    const char *msg = NULL;
    json_t *root = NULL;
    if (!c->html) {
        size_t off = 0;
        while (off < c->body.len && (c->body.data[off] == '\n' || c->body.data[off] == ' ' ||
                                     c->body.data[off] == '\r'))
            off++;
        root = json_loadb(c->body.data + off, c->body.len - off, 0, NULL);
        json_t *m = json_object_get(json_object_get(root, "error"), "message");
        if (!json_is_string(m))
            m = json_object_get(root, "message");
        if (!json_is_string(m))
            m = json_object_get(root, "detail");
        msg = json_string_value(m);
    }
    int st = c->status;
    const char *type = "api_error";
    int out = 502;
    if (st == 400 || st == 404 || st == 422) {
        out = st;
        type = "invalid_request_error";
    } else if (st == 401 || st == 403) {
        out = c->client_key ? st : 502; /* our key failing is not the client's fault */
        type = "authentication_error";
    } else if (st == 402) {
        out = 402;
        type = "insufficient_balance";
    } else if (st == 429) {
        out = 429;
        type = "rate_limit_error";
    } else if (st == 503) {
        out = 503;
        type = "server_overloaded";
    }
    if (c->html)
        fail(c, 502, "api_error", "upstream answered %d with an HTML page (a proxy or firewall?)",
             st);
    else
        fail(c, out, type, "upstream error %d: %s", st, msg ? msg : "no message");
    json_decref(root);
}

static void complete(bk_call_t *c, CURLcode res)
{
    char errbuf[CURL_ERROR_SIZE];
    if (c->mode == MODE_GET) {
        snprintf(errbuf, sizeof errbuf, "%s", curl_easy_strerror(res));
        finish(c, res == CURLE_OK ? NULL : errbuf);
        return;
    }
    if (c->stopped || c->failed) {
        finish(c, NULL);
        return;
    }
    if (res != CURLE_OK && !(res == CURLE_PARTIAL_FILE && c->sse)) {
        bool timeout = res == CURLE_OPERATION_TIMEDOUT;
        fail(c, timeout ? 504 : 502, "api_error", "upstream %s: %s",
             timeout ? "timed out" : "failed", curl_easy_strerror(res));
        finish(c, NULL);
        return;
    }
    if (c->status < 200 || c->status >= 300) {
        fail_from_status(c);
        finish(c, NULL);
        return;
    }
    if (c->html) {
        fail(c, 502, "api_error", "upstream answered with an HTML page instead of JSON");
        finish(c, NULL);
        return;
    }
    if (c->sse) {
        int rc = sse_finish(&c->parser);
        if (rc == 0 && !c->stopped && !c->failed) {
            if (!c->st.finished)
                fail(c, 502, "api_error",
                     "upstream stream ended before the answer was complete (%d chunks)",
                     c->st.chunks);
            else if (!c->done)
                log_warn("upstream stream ended without [DONE]; answer was complete");
        }
        finish(c, NULL);
        return;
    }
    /* A whole JSON answer, possibly after the blank lines DeepSeek sends while queued. */
    size_t off = 0;
    while (off < c->body.len && strchr(" \r\n\t", c->body.data[off]))
        off++;
    char why[160];
    int rc = bk_chunk_deliver(&c->st, c->body.data + off, c->body.len - off, c->sink, why,
                              sizeof why);
    if (rc == BK_CHUNK_MALFORMED)
        fail(c, 502, "api_error", "upstream answer is not valid: %s", why);
    else if (rc == 0 && !c->st.finished)
        fail(c, 502, "api_error", "upstream answer has no finish_reason");
    finish(c, NULL);
}

static void check_done(upstream_t *up)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(up->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        bk_call_t *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode res = m->data.result;
        complete(c, res);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bk_call_t *c = arg;
    bool first = c->st.chunks == 0;
    log_warn("upstream %s: %s timeout", c->key_masked, first ? "first-token" : "idle");
    fail(c, 504, "api_error", "upstream %s", first ? "sent no answer in time (first-token timeout)"
                                                  : "stalled mid-answer (idle timeout)");
    finish(c, NULL);
}

static bk_call_t *call_new(upstream_t *up, call_mode_t mode, const char *url, const char *key)
{
    bk_call_t *c = xcalloc(1, sizeof *c);
    c->up = up;
    c->mode = mode;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    sse_init(&c->parser, up->o.max_event, on_sse_data, on_sse_idle, c);
    bk_chunk_state_init(&c->st);
    buf_init(&c->body, mode == MODE_GET ? up->o.max_event : up->o.max_answer);
    c->timer = evtimer_new(up->base, on_deadline, c);
    c->easy = curl_easy_init();
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, up->o.connect_timeout_ms);
    if (up->o.total_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, up->o.total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "seekd/" SEEKD_VERSION);
    char auth[1024];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    c->hdrs = curl_slist_append(c->hdrs, auth);
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    log_mask_key(key, key ? strlen(key) : 0, c->key_masked, sizeof c->key_masked);
    return c;
}

static const char *pick_key(upstream_t *up, const bk_request_t *req)
{
    if (req && req->nclient_keys > 0)
        return req->client_keys[up->rr++ % (unsigned)req->nclient_keys];
    if (up->nkeys == 0)
        return NULL;
    return up->keys[up->rr++ % (unsigned)up->nkeys];
}

static bk_call_t *up_start(backend_t *be, const bk_request_t *req, bk_sink_t *sink)
{
    upstream_t *up = (upstream_t *)be;
    const char *path = req->kind == BK_KIND_FIM           ? "/beta/completions"
                       : req->kind == BK_KIND_CHAT_PREFIX ? "/beta/chat/completions"
                                                          : "/chat/completions";
    char url[2048];
    snprintf(url, sizeof url, "%s%s", up->base_url, path);
    const char *key = pick_key(up, req);
    bk_call_t *c = call_new(up, MODE_ANSWER, url, key);
    c->sink = sink;
    c->stream = req->stream;
    c->client_key = req->nclient_keys > 0;
    c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/json");
    c->hdrs = curl_slist_append(c->hdrs, req->stream ? "Accept: text/event-stream"
                                                     : "Accept: application/json");
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);

    /* Streams always ask for usage so accounting is exact; the encoder shows it to the client
     * only if the client asked. Otherwise the client's bytes go upstream untouched. */
    json_t *so = json_object_get(req->body, "stream_options");
    bool has_usage = json_is_true(json_object_get(so, "include_usage"));
    if (req->stream && !has_usage) {
        json_t *copy = json_copy((json_t *)req->body);
        json_t *nso = json_is_object(so) ? json_copy(so) : json_object();
        json_object_set_new(nso, "include_usage", json_true());
        json_object_set_new(copy, "stream_options", nso);
        c->post = json_dumps(copy, JSON_COMPACT);
        json_decref(copy);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(c->post));
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->post);
    } else {
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)req->raw_body.len);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, req->raw_body.ptr);
    }
    arm_timer(c, up->o.first_token_timeout_ms);
    curl_multi_add_handle(up->multi, c->easy);
    return c;
}

static void up_cancel(bk_call_t *c)
{
    call_free(c);
}

bk_call_t *upstream_get(upstream_t *up, const char *path, const char *client_key,
                        upstream_get_cb cb, void *ud)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", up->base_url, path);
    bk_call_t *c = call_new(up, MODE_GET, url, client_key ? client_key : pick_key(up, NULL));
    c->get_cb = cb;
    c->get_ud = ud;
    c->hdrs = curl_slist_append(c->hdrs, "Accept: application/json");
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
    arm_timer(c, up->o.first_token_timeout_ms);
    curl_multi_add_handle(up->multi, c->easy);
    return c;
}

upstream_t *upstream_new(struct event_base *base, const upstream_opts_t *opts)
{
    upstream_t *up = xcalloc(1, sizeof *up);
    up->be.name = "upstream";
    up->be.start = up_start;
    up->be.cancel = up_cancel;
    up->base = base;
    up->o = *opts;
    size_t n = strlen(opts->base_url);
    while (n && opts->base_url[n - 1] == '/')
        n--;
    up->base_url = xstrndup(opts->base_url, n);
    up->o.base_url = up->base_url;
    up->nkeys = opts->nkeys;
    up->keys = xcalloc((size_t)opts->nkeys + 1, sizeof *up->keys);
    for (int i = 0; i < opts->nkeys; i++)
        up->keys[i] = xstrdup(opts->keys[i]);
    up->o.keys = (const char *const *)up->keys;
    up->multi = curl_multi_init();
    if (!up->multi) {
        upstream_free(up);
        return NULL;
    }
    up->curl_timer = evtimer_new(base, on_curl_timer, up);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, 256L);
    return up;
}

void upstream_free(upstream_t *up)
{
    if (!up)
        return;
    if (up->multi)
        curl_multi_cleanup(up->multi);
    if (up->curl_timer)
        event_free(up->curl_timer);
    for (int i = 0; i < up->nkeys; i++) {
        memset(up->keys[i], 0, strlen(up->keys[i]));
        free(up->keys[i]);
    }
    free(up->keys);
    free(up->base_url);
    free(up);
}

backend_t *upstream_backend(upstream_t *up)
{
    return &up->be;
}

int upstream_nkeys(const upstream_t *up)
{
    return up->nkeys;
}

void upstream_key_masked(const upstream_t *up, int i, char *out, size_t outsz)
{
    log_mask_key(up->keys[i], strlen(up->keys[i]), out, outsz);
}

const char *upstream_base_url(const upstream_t *up)
{
    return up->base_url;
}

/* xport_curl.c - the transport over libcurl's multi handle, for https and proxied upstreams:
 * curl's sockets and timers run on the server's event_base (the hiperfifo pattern), and each
 * transfer's answer goes to the xport callbacks. */
#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/xport.h"
#include "base/mem.h"

#define MAX_SPARE 128

typedef struct sock_ctx sock_ctx_t;
typedef struct curl_xfer curl_xfer_t;

struct xport_curl_env {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct event *now;  /* curl's "act at once" timeouts: run in this loop pass */
    sock_ctx_t **socks; /* by fd: every socket curl has open that we have watched */
    int nsocks;
    long connect_timeout_ms, conn_idle_ms;
    /* transfers reused from one request to the next: their easy handles are reset, and the
     * connections stay in the multi's cache */
    curl_xfer_t *spare[MAX_SPARE];
    int nspare;
};

typedef struct {
    xport_t t; /* first */
    xport_curl_env_t *env;
    char *url;
} xport_curl_t;

/* One transfer: the easy handle and what its answer's head said so far. */
struct curl_xfer {
    CURL *easy;
    xport_xfer_t *x;
    struct curl_slist *hdrs;
    char *hdr_copy; /* the request's header lines, NUL-separated for the list */
    int status;
    char ctype[128];
    char retry_after[32];
};

/* ---- sockets and timers on the loop ---- */

static void check_done(xport_curl_env_t *env);

/* A socket of curl's and its event. The event outlives curl's interest in the socket: when a
 * transfer ends its connection goes back to curl's cache, and the next request on it would
 * otherwise cost an epoll_ctl to stop watching and another to start again. So a socket stays
 * registered (reads only) while idle, and its context is freed when curl closes it. */
struct sock_ctx {
    struct event *ev;
    xport_curl_env_t *env;
    bool conn;     /* opened by open_cb for a connection, so close_cb will see it closed */
    bool idle;     /* curl is not watching it: the connection sits in curl's cache */
    bool watching; /* ev is pending */
};

static sock_ctx_t *sock_lookup(xport_curl_env_t *env, curl_socket_t s)
{
    return s >= 0 && s < env->nsocks ? env->socks[s] : NULL;
}

static void sock_forget(xport_curl_env_t *env, curl_socket_t s)
{
    sock_ctx_t *c = sock_lookup(env, s);
    if (c) {
        event_free(c->ev);
        free(c);
        env->socks[s] = NULL;
    }
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    sock_ctx_t *c = arg;
    xport_curl_env_t *env = c->env; /* c may be freed inside socket_action */
    if (c->idle) {
        /* an idle connection was closed by the server or sent stray bytes: stop watching;
         * curl finds it dead when it next checks the connection, and closes it */
        event_del(c->ev);
        c->watching = false;
        return;
    }
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(env->multi, fd, flags, &running);
    check_done(env);
}

static void sock_watch(sock_ctx_t *c, curl_socket_t s, short kind)
{
    if (c->watching && event_get_events(c->ev) == kind)
        return;
    if (c->watching)
        event_del(c->ev);
    event_assign(c->ev, c->env->base, s, kind, on_sock, c);
    event_add(c->ev, NULL);
    c->watching = true;
}

static sock_ctx_t *sock_new(xport_curl_env_t *env, curl_socket_t s, bool conn)
{
    if (s >= env->nsocks) {
        int n = env->nsocks ? env->nsocks : 64;
        while (n <= s)
            n *= 2;
        env->socks = xrealloc(env->socks, (size_t)n * sizeof *env->socks);
        memset(env->socks + env->nsocks, 0, (size_t)(n - env->nsocks) * sizeof *env->socks);
        env->nsocks = n;
    }
    sock_ctx_t *c = xcalloc(1, sizeof *c);
    c->env = env;
    c->conn = conn;
    c->ev = event_new(env->base, s, 0, on_sock, c);
    env->socks[s] = c;
    return c;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    xport_curl_env_t *env = userp;
    sock_ctx_t *c = socketp ? socketp : sock_lookup(env, s);
    if (what == CURL_POLL_REMOVE) {
        if (c && c->conn) {
            c->idle = true;
            if (c->watching)
                sock_watch(c, s, EV_PERSIST | EV_READ);
        } else if (c) {
            /* not a connection (a resolver's socketpair): curl closes it without close_cb */
            sock_forget(env, s);
        }
        curl_multi_assign(env->multi, s, NULL);
        return 0;
    }
    short kind =
        EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!c)
        c = sock_new(env, s, false);
    if (!socketp)
        curl_multi_assign(env->multi, s, c);
    c->idle = false;
    sock_watch(c, s, kind);
    return 0;
}

/* curl opens a connection's socket: known from here on, so it may idle in epoll. */
static curl_socket_t open_cb(void *userp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    xport_curl_env_t *env = userp;
    curl_socket_t s = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (s >= 0 && purpose == CURLSOCKTYPE_IPCXN) {
        sock_forget(env, s); /* a number curl closed behind our back: its event is stale */
        sock_new(env, s, true);
    }
    return s;
}

/* curl closes a socket: forget its event first, so a new socket with the same number starts
 * clean. Installed on every easy handle; curl keeps it with each connection. */
static int close_cb(void *userp, curl_socket_t s)
{
    sock_forget(userp, s);
    return close(s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    xport_curl_env_t *env = arg;
    int running;
    curl_multi_socket_action(env->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(env);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    xport_curl_env_t *env = userp;
    if (timeout_ms < 0) {
        evtimer_del(env->timer);
        return 0;
    }
    if (timeout_ms == 0) {
        /* a new transfer: start it in this loop pass, not after another epoll_wait */
        evtimer_del(env->timer);
        event_active(env->now, EV_TIMEOUT, 0);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(env->timer, &tv);
    return 0;
}

/* ---- transfers ---- */

/* Gives a transfer back: its easy handle is reset and kept for the next one. */
static void xfer_release(xport_curl_env_t *env, curl_xfer_t *cx)
{
    curl_multi_remove_handle(env->multi, cx->easy);
    curl_slist_free_all(cx->hdrs);
    cx->hdrs = NULL;
    free(cx->hdr_copy);
    cx->hdr_copy = NULL;
    cx->x = NULL;
    if (env->nspare < MAX_SPARE) {
        curl_easy_reset(cx->easy);
        env->spare[env->nspare++] = cx;
    } else {
        curl_easy_cleanup(cx->easy);
        free(cx);
    }
}

static void check_done(xport_curl_env_t *env)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(env->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_xfer_t *cx = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&cx);
        CURLcode res = m->data.result;
        xr_t r = res == CURLE_OK                                                     ? XR_OK
                 : res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ? XR_CONNECT
                 : res == CURLE_OPERATION_TIMEDOUT                                   ? XR_TIMEOUT
                 : res == CURLE_PARTIAL_FILE                                         ? XR_PARTIAL
                                                                                     : XR_FAILED;
        xport_xfer_t *x = cx->x;
        xfer_release(env, cx); /* before on_done, which may start the next transfer */
        x->impl = NULL;
        x->cbs->on_done(x->ud, r, curl_easy_strerror(res));
    }
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    curl_xfer_t *cx = ud;
    size_t len = size * n;
    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        cx->ctype[0] = '\0'; /* a new response (after a 1xx): forget earlier headers */
        cx->retry_after[0] = '\0';
        const char *sp = memchr(buf, ' ', len);
        cx->status = sp ? atoi(sp + 1) : 0;
        return len;
    }
    if ((len == 2 && buf[0] == '\r') || (len == 1 && buf[0] == '\n')) {
        /* the end of a head: the final one goes to the caller */
        if (cx->status >= 200)
            cx->x->cbs->on_head(cx->x->ud, cx->status, slice_of(cx->ctype),
                                slice_of(cx->retry_after));
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
    char *dst = NULL;
    size_t cap = 0;
    if (nlen == 12 && strncasecmp(buf, "content-type", 12) == 0)
        dst = cx->ctype, cap = sizeof cx->ctype;
    else if (nlen == 11 && strncasecmp(buf, "retry-after", 11) == 0)
        dst = cx->retry_after, cap = sizeof cx->retry_after;
    if (dst) {
        if (vlen >= cap)
            vlen = cap - 1; /* longer values are not ones the relay understands anyway */
        memcpy(dst, v, vlen);
        dst[vlen] = '\0';
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    curl_xfer_t *cx = ud;
    size_t len = size * n;
    int rc = cx->x->cbs->on_body(cx->x->ud, data, len);
    return rc == XP_TAKE ? len : rc == XP_PAUSE ? CURL_WRITEFUNC_PAUSE : 0;
}

/* The header block (CRLF lines) as curl's list; no 100-continue round trip. */
static void set_headers(curl_xfer_t *cx, slice_t block)
{
    cx->hdrs = curl_slist_append(NULL, "Expect:");
    cx->hdr_copy = xmalloc(block.len + 1);
    memcpy(cx->hdr_copy, block.ptr, block.len);
    cx->hdr_copy[block.len] = '\0';
    for (char *line = cx->hdr_copy, *end; *line; line = end + 2) {
        end = strstr(line, "\r\n");
        if (!end)
            break;
        *end = '\0';
        cx->hdrs = curl_slist_append(cx->hdrs, line);
    }
}

static void curl_start(xport_t *t, xport_xfer_t *x, const xport_req_t *rq)
{
    xport_curl_t *ct = (xport_curl_t *)t;
    xport_curl_env_t *env = ct->env;
    curl_xfer_t *cx = env->nspare ? env->spare[--env->nspare] : NULL;
    if (!cx) {
        cx = xcalloc(1, sizeof *cx);
        cx->easy = curl_easy_init();
    }
    cx->x = x;
    cx->status = 0;
    cx->ctype[0] = cx->retry_after[0] = '\0';
    x->impl = cx;
    CURL *e = cx->easy;
    size_t ulen = strlen(ct->url);
    char *url = xmalloc(ulen + rq->path.len + 1);
    memcpy(url, ct->url, ulen);
    memcpy(url + ulen, rq->path.ptr, rq->path.len);
    url[ulen + rq->path.len] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url); /* curl copies it */
    free(url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, cx);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, env->connect_timeout_ms);
    if (env->conn_idle_ms > 0) /* curl counts whole seconds */
        curl_easy_setopt(e, CURLOPT_MAXAGE_CONN,
                         env->conn_idle_ms < 1000 ? 1L : env->conn_idle_ms / 1000);
    if (rq->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, cx);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, cx);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, env);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, env);
    if (rq->body.ptr) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body.len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body.ptr);
    }
    set_headers(cx, rq->headers);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, cx->hdrs);
    curl_multi_add_handle(env->multi, e); /* runs nothing now: timer_cb defers to the loop */
}

static void curl_resume(xport_t *t, xport_xfer_t *x)
{
    xport_curl_env_t *env = ((xport_curl_t *)t)->env;
    curl_xfer_t *cx = x->impl;
    curl_easy_pause(cx->easy, CURLPAUSE_CONT); /* may deliver held data right here */
    check_done(env);
}

static void curl_cancel(xport_t *t, xport_xfer_t *x)
{
    xfer_release(((xport_curl_t *)t)->env, x->impl);
}

static void curl_close(xport_t *t)
{
    xport_curl_t *ct = (xport_curl_t *)t;
    free(ct->url);
    free(ct);
}

static const xport_ops_t curl_ops = {curl_start, curl_resume, curl_cancel, curl_close, "libcurl"};

xport_t *xport_curl_open(xport_curl_env_t *env, const char *url)
{
    xport_curl_t *ct = xcalloc(1, sizeof *ct);
    ct->t.ops = &curl_ops;
    ct->env = env;
    ct->url = xstrdup(url);
    return &ct->t;
}

xport_curl_env_t *xport_curl_env_new(struct event_base *base, long connect_timeout_ms,
                                     long conn_idle_ms)
{
    CURLM *multi = curl_multi_init();
    if (!multi)
        return NULL;
    xport_curl_env_t *env = xcalloc(1, sizeof *env);
    env->base = base;
    env->multi = multi;
    env->connect_timeout_ms = connect_timeout_ms;
    env->conn_idle_ms = conn_idle_ms;
    env->timer = evtimer_new(base, on_timer, env);
    env->now = event_new(base, -1, 0, on_timer, env);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, env);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, env);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 1024L);
    return env;
}

void xport_curl_env_free(xport_curl_env_t *env)
{
    if (!env)
        return;
    for (int i = 0; i < env->nspare; i++) {
        curl_easy_cleanup(env->spare[i]->easy);
        free(env->spare[i]);
    }
    curl_multi_cleanup(env->multi); /* closes the cached connections through close_cb */
    for (int i = 0; i < env->nsocks; i++) {
        if (env->socks[i]) {
            event_free(env->socks[i]->ev);
            free(env->socks[i]);
        }
    }
    free(env->socks);
    event_free(env->timer);
    event_free(env->now);
    free(env);
}

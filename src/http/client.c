/* client.c - the HTTP/1.1 client of client.h.
 *
 * A connection lives in epoll from connect to close with one persistent event: reads always,
 * writes only while a request does not fit in the socket. An idle pooled connection keeps
 * watching for reads, so a server that closes it is noticed at once and the next request never
 * meets a dead socket in the common case. When it does anyway (the server closed as we wrote),
 * the request goes once more on a fresh connection, as long as no answer byte had come.
 *
 * Re-entrancy: callbacks run only from the connection's or the transfer's own events. A
 * transfer is detached from its connection (which goes back to the pool) before on_done runs,
 * so on_done may start the next transfer on the same connection. */
#include "http/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/mem.h"
#include "http/http_parse.h"

#define HEAD_MAX (64 * 1024) /* an answer's head above this is a protocol error */
#define READ_CHUNK 16384     /* bytes asked of recv() at a time */
#define MAX_ADDRS 4          /* addresses of a name tried in turn */
#define DNS_TTL_MS 60000     /* how long a resolved name is reused */
#define IDLE_MAX 1024        /* idle connections kept per origin */

typedef struct conn conn_t;

struct http_client {
    struct event_base *base;
    struct evdns_base *dns; /* made when a name first needs resolving */
    long connect_timeout_ms;
    long idle_age_ms;
    http_origin_t *origins;
    http_head_t head; /* the answer head being parsed: read by http_xfer_header in on_head */
};

struct http_origin {
    http_client_t *cl;
    char host[256]; /* as in the URL, without brackets */
    char hosthdr[300];
    int port;
    struct sockaddr_storage addrs[MAX_ADDRS];
    socklen_t addrlens[MAX_ADDRS];
    int naddrs;
    bool numeric;
    int64_t resolved_ms;
    struct evdns_getaddrinfo_request *resolving;
    http_xfer_t *waiting; /* transfers waiting for the name, a list through wnext */
    conn_t *idle;         /* most recently used first */
    int nidle;
    http_origin_t *next;
};

enum { F_NONE, F_LENGTH, F_CHUNKED, F_CLOSE }; /* how the answer's body ends */

struct conn {
    http_origin_t *o;
    evutil_socket_t fd;
    struct event ev;
    short mask;
    bool connecting;
    int addr;   /* the address being connected to */
    int served; /* answers completed on it */
    int64_t idle_since_ms;
    buf_t in;
    http_xfer_t *x; /* NULL while idle */
    conn_t *next;   /* idle list */
};

struct http_xfer {
    http_origin_t *o;
    conn_t *c;
    http_xfer_cbs_t cbs;
    void *ud;
    buf_t req;    /* the request head; kept until the answer starts, for a second try */
    slice_t body; /* the caller's */
    size_t sent;  /* of head then body */
    bool head_done;
    bool got_bytes; /* an answer byte came: no second try any more */
    bool retried;
    bool paused;
    bool keep_alive;
    bool in_cb;    /* inside on_head/on_body: a cancel is deferred */
    bool starting; /* inside http_xfer_start: failures are reported from the loop */
    bool cancelled;
    int framing;
    uint64_t left; /* F_LENGTH */
    http_dechunk_t dc;
    int64_t deadline_ms;   /* 0: none */
    int64_t connect_dl_ms; /* while connecting: when the last address must have answered */
    struct event timer;
    struct event later; /* a failure found inside a call, reported from the loop */
    hc_result_t later_res;
    char detail[128];
    http_xfer_t *wnext;
};

static void on_conn(evutil_socket_t fd, short what, void *arg);
static void conn_get(http_xfer_t *x);
static void start_resolve(http_origin_t *o);

const char *http_client_strerror(hc_result_t r)
{
    switch (r) {
    case HC_OK:
        return "ok";
    case HC_RESOLVE:
        return "could not resolve the host name";
    case HC_CONNECT:
        return "could not connect";
    case HC_TIMEOUT:
        return "timed out";
    case HC_SEND:
        return "connection failed while sending the request";
    case HC_RECV:
        return "connection closed before an answer";
    case HC_PARTIAL:
        return "connection closed in the middle of the answer";
    case HC_PROTOCOL:
        return "malformed HTTP answer";
    case HC_STOPPED:
        return "stopped";
    }
    return "?";
}

/* ---- connections ---- */

static void set_mask(conn_t *c, short mask)
{
    if (c->mask == mask)
        return;
    event_del(&c->ev);
    c->mask = mask;
    if (!mask)
        return;
    event_assign(&c->ev, c->o->cl->base, c->fd, mask | EV_PERSIST, on_conn, c);
    event_add(&c->ev, NULL);
}

static void conn_close(conn_t *c)
{
    event_del(&c->ev);
    close(c->fd);
    buf_free(&c->in);
    free(c);
}

static void idle_remove(http_origin_t *o, conn_t *c)
{
    for (conn_t **pp = &o->idle; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            o->nidle--;
            return;
        }
    }
}

/* Opens a non-blocking connection to the origin's address i. Returns NULL with errno set. */
static conn_t *conn_open(http_origin_t *o, int i)
{
    const struct sockaddr *sa = (const struct sockaddr *)&o->addrs[i];
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (connect(fd, sa, o->addrlens[i]) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    conn_t *c = xcalloc(1, sizeof *c);
    c->o = o;
    c->fd = fd;
    c->addr = i;
    c->connecting = true;
    buf_init(&c->in, HEAD_MAX + READ_CHUNK);
    c->mask = EV_READ | EV_WRITE;
    event_assign(&c->ev, o->cl->base, fd, c->mask | EV_PERSIST, on_conn, c);
    event_add(&c->ev, NULL);
    return c;
}

/* ---- transfers ---- */

static void arm(http_xfer_t *x, int64_t at_ms)
{
    if (at_ms <= 0) {
        evtimer_del(&x->timer);
        return;
    }
    int64_t ms = at_ms - mono_ms();
    if (ms < 0)
        ms = 0;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&x->timer, &tv);
}

static void xfer_free(http_xfer_t *x)
{
    evtimer_del(&x->timer);
    event_del(&x->later);
    buf_free(&x->req);
    free(x);
}

static void waiting_remove(http_xfer_t *x)
{
    for (http_xfer_t **pp = &x->o->waiting; *pp; pp = &(*pp)->wnext) {
        if (*pp == x) {
            *pp = x->wnext;
            return;
        }
    }
}

/* Ends the transfer: its connection goes back to the pool when the answer ended cleanly on
 * it, else is closed; then on_done, then the transfer is freed. */
static void finish(http_xfer_t *x, hc_result_t res, const char *detail)
{
    conn_t *c = x->c;
    if (c) {
        c->x = NULL;
        x->c = NULL;
        http_origin_t *o = c->o;
        if (res == HC_OK && x->keep_alive && c->in.len == 0 && o->nidle < IDLE_MAX) {
            c->served++;
            c->idle_since_ms = mono_ms();
            c->next = o->idle;
            o->idle = c;
            o->nidle++;
            if (c->mask != EV_READ)
                set_mask(c, EV_READ);
        } else {
            conn_close(c);
        }
    } else {
        waiting_remove(x);
    }
    evtimer_del(&x->timer);
    x->cbs.on_done(x->ud, res, detail ? detail : http_client_strerror(res));
    xfer_free(x);
}

static void fail_later(http_xfer_t *x, hc_result_t res, const char *detail)
{
    snprintf(x->detail, sizeof x->detail, "%s", detail);
    x->later_res = res;
    event_active(&x->later, EV_TIMEOUT, 0);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_xfer_t *x = arg;
    finish(x, x->later_res, x->detail);
}

static void connect_failed(conn_t *c, int err);
static void arm_connect(http_xfer_t *x, int i);

/* Connects x to the first of the origin's addresses from i on that takes a connect() call.
 * Returns 0, or -1 with *err set when none did. */
static int connect_from(http_xfer_t *x, int i, int *err)
{
    for (; i < x->o->naddrs; i++) {
        conn_t *c = conn_open(x->o, i);
        if (c) {
            c->x = x;
            x->c = c;
            arm_connect(x, i);
            return 0;
        }
        *err = errno;
    }
    return -1;
}

/* Arms the connect timer for address i of the origin: each address still to try gets an equal
 * share of what is left until connect_dl_ms, so one that drops SYNs cannot use it all. */
static void arm_connect(http_xfer_t *x, int i)
{
    int left = x->o->naddrs - i;
    int64_t now = mono_ms();
    arm(x, left > 1 ? now + (x->connect_dl_ms - now) / left : x->connect_dl_ms);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_xfer_t *x = arg;
    if (x->c && x->c->connecting && x->c->addr + 1 < x->o->naddrs && mono_ms() < x->connect_dl_ms)
        connect_failed(x->c, ETIMEDOUT); /* this address had its share: the next one */
    else if (x->c && x->c->connecting)
        finish(x, HC_TIMEOUT, "connect timed out");
    else if (!x->c && x->o->resolving)
        finish(x, HC_TIMEOUT, "name resolution timed out");
    else
        finish(x, HC_TIMEOUT, "transfer timed out");
}

/* The connection broke (or the server closed it) before the answer was through: the request
 * goes once more on a fresh connection, or the transfer fails. */
static void conn_broke(http_xfer_t *x, int err)
{
    conn_t *c = x->c;
    c->x = NULL;
    x->c = NULL;
    bool pooled = c->served > 0;
    conn_close(c);
    if (!x->got_bytes && pooled && !x->retried) {
        /* a pooled connection the server had closed as we wrote */
        x->retried = true;
        x->sent = 0;
        conn_get(x);
        return;
    }
    hc_result_t res = !x->head_done && x->sent < x->req.len + x->body.len ? HC_SEND
                      : !x->head_done                                     ? HC_RECV
                                                                          : HC_PARTIAL;
    /* "connection closed in the middle of the answer", with the socket's error if any */
    char why[128];
    snprintf(why, sizeof why, "%s%s%s", http_client_strerror(res), err ? ": " : "",
             err ? strerror(err) : "");
    if (x->starting)
        fail_later(x, res, why);
    else
        finish(x, res, why);
}

/* Writes what is left of the request. Returns -1 when the connection broke (the transfer
 * moved to another one, or ended). */
static int xfer_send(http_xfer_t *x)
{
    conn_t *c = x->c;
    size_t total = x->req.len + x->body.len;
    while (x->sent < total) {
        struct iovec iov[2];
        int n = 0;
        if (x->sent < x->req.len)
            iov[n++] = (struct iovec){x->req.data + x->sent, x->req.len - x->sent};
        size_t boff = x->sent > x->req.len ? x->sent - x->req.len : 0;
        if (x->body.len > boff)
            iov[n++] = (struct iovec){(void *)(x->body.ptr + boff), x->body.len - boff};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_mask(c, EV_READ | EV_WRITE);
                return 0;
            }
            conn_broke(x, errno);
            return -1;
        }
        x->sent += (size_t)w;
    }
    if (c->mask != EV_READ)
        set_mask(c, EV_READ);
    return 0;
}

/* Whether an idle connection can carry a request: nothing came on it since its last answer.
 * Its read event closes it when bytes or a FIN arrive, but they may have arrived in this very
 * loop pass, before that event ran; a request written then would take them for its answer
 * (possibly another client's). One peek per reuse closes that window. */
static bool idle_clean(const conn_t *c)
{
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Gives x a connection: an idle one (the request is written at once) or a new one. */
static void conn_get(http_xfer_t *x)
{
    http_origin_t *o = x->o;
    int64_t now = mono_ms();
    while (o->idle && now - o->idle->idle_since_ms > o->cl->idle_age_ms) {
        conn_t *old = o->idle; /* the newest is too old: so are all after it */
        o->idle = old->next;
        o->nidle--;
        conn_close(old);
    }
    while (o->idle && !idle_clean(o->idle)) {
        conn_t *bad = o->idle;
        o->idle = bad->next;
        o->nidle--;
        conn_close(bad);
    }
    if (o->idle) {
        conn_t *c = o->idle;
        o->idle = c->next;
        o->nidle--;
        c->x = x;
        x->c = c;
        arm(x, x->deadline_ms);
        xfer_send(x);
        return;
    }
    int64_t cdl = now + o->cl->connect_timeout_ms;
    x->connect_dl_ms = x->deadline_ms && x->deadline_ms < cdl ? x->deadline_ms : cdl;
    arm(x, x->connect_dl_ms);
    if (!o->numeric && (o->naddrs == 0 || now - o->resolved_ms > DNS_TTL_MS)) {
        x->wnext = o->waiting;
        o->waiting = x;
        if (!o->resolving)
            start_resolve(o);
        return;
    }
    int err = ECONNREFUSED;
    if (connect_from(x, 0, &err) < 0)
        fail_later(x, HC_CONNECT, strerror(err));
}

/* Tries the next address after a failed connect, or fails the transfer. */
static void connect_failed(conn_t *c, int err)
{
    http_xfer_t *x = c->x;
    int next = c->addr + 1;
    conn_close(c);
    x->c = NULL;
    if (connect_from(x, next, &err) < 0)
        finish(x, HC_CONNECT, strerror(err));
}

/* ---- name resolution (evdns: never blocks the loop) ---- */

static void on_resolved(int err, struct evutil_addrinfo *res, void *arg)
{
    http_origin_t *o = arg;
    o->resolving = NULL;
    if (err == EVUTIL_EAI_CANCEL)
        return;
    if (!err) {
        o->naddrs = 0;
        for (struct evutil_addrinfo *ai = res; ai && o->naddrs < MAX_ADDRS; ai = ai->ai_next) {
            if (ai->ai_addrlen > sizeof o->addrs[0])
                continue;
            memcpy(&o->addrs[o->naddrs], ai->ai_addr, ai->ai_addrlen);
            o->addrlens[o->naddrs++] = (socklen_t)ai->ai_addrlen;
        }
        o->resolved_ms = mono_ms();
    }
    if (res)
        evutil_freeaddrinfo(res);
    http_xfer_t *w = o->waiting;
    o->waiting = NULL;
    while (w) {
        http_xfer_t *next = w->wnext;
        w->wnext = NULL;
        if (err || o->naddrs == 0)
            fail_later(w, HC_RESOLVE, err ? evutil_gai_strerror(err) : "no address");
        else
            conn_get(w);
        w = next;
    }
}

static void start_resolve(http_origin_t *o)
{
    http_client_t *cl = o->cl;
    if (!cl->dns)
        cl->dns = evdns_base_new(cl->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                               EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!cl->dns) {
        on_resolved(EVUTIL_EAI_FAIL, NULL, o);
        return;
    }
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    char port[8];
    snprintf(port, sizeof port, "%d", o->port);
    /* may answer inside this call (hosts file): on_resolved then runs before it returns, and
     * the transfers it starts report failures from the loop, never from here */
    struct evdns_getaddrinfo_request *r =
        evdns_getaddrinfo(cl->dns, o->host, port, &hints, on_resolved, o);
    if (r && o->waiting)
        o->resolving = r;
}

/* ---- answers ---- */

/* Parses the answer's head once it is complete. Returns 1 when parsed (or a 1xx head was
 * skipped: call again), 0 when more bytes are needed, -1 when the transfer ended. */
static int take_head(http_xfer_t *x)
{
    conn_t *c = x->c;
    size_t hl = http_head_len(c->in.data, c->in.len);
    if (!hl) {
        if (c->in.len > HEAD_MAX) {
            finish(x, HC_PROTOCOL, "answer head too large");
            return -1;
        }
        return 0;
    }
    http_head_t *h = &x->o->cl->head;
    if (http_parse_response_head(c->in.data, hl, h) < 0) {
        finish(x, HC_PROTOCOL, "malformed answer head");
        return -1;
    }
    if (h->status < 200) {
        buf_consume(&c->in, hl); /* 100 Continue, 103 Early Hints: the real head follows */
        return 1;
    }
    x->head_done = true;
    x->keep_alive = h->keep_alive;
    if (x->sent < x->req.len + x->body.len) {
        /* answered before the whole request was sent (a refusal): stop sending */
        x->keep_alive = false;
        x->body = (slice_t){"", 0};
        set_mask(c, EV_READ);
    }
    if (h->status == 204 || h->status == 304) {
        x->framing = F_NONE;
    } else if (h->chunked) {
        x->framing = F_CHUNKED;
    } else if (h->content_length >= 0) {
        x->framing = h->content_length ? F_LENGTH : F_NONE;
        x->left = (uint64_t)h->content_length;
    } else {
        x->framing = F_CLOSE;
        x->keep_alive = false;
    }
    buf_free(&x->req);     /* no second try from here */
    x->sent = x->body.len; /* counted against the body alone now the head is gone */
    x->in_cb = true;
    x->cbs.on_head(x->ud, x, h->status);
    x->in_cb = false;
    buf_consume(&c->in, hl);
    if (x->cancelled) {
        conn_close(c);
        xfer_free(x);
        return -1;
    }
    return 1;
}

/* Offers body bytes to the caller. Returns 1 to go on, 0 when paused, -1 when the transfer
 * ended. */
static int offer(http_xfer_t *x, const char *data, size_t len)
{
    x->in_cb = true;
    int rc = x->cbs.on_body(x->ud, data, len);
    x->in_cb = false;
    if (x->cancelled) {
        conn_close(x->c);
        xfer_free(x);
        return -1;
    }
    if (rc == HC_PAUSE) {
        x->paused = true;
        set_mask(x->c, 0);
        return 0;
    }
    if (rc != HC_TAKE) {
        finish(x, HC_STOPPED, NULL);
        return -1;
    }
    return 1;
}

/* Delivers what the connection holds. Returns -1 when the transfer ended. */
static int take_body(http_xfer_t *x)
{
    conn_t *c = x->c;
    while (!x->paused) {
        if (x->framing == F_NONE || (x->framing == F_LENGTH && x->left == 0) ||
            (x->framing == F_CHUNKED && x->dc.state == DC_DONE)) {
            finish(x, HC_OK, NULL);
            return -1;
        }
        if (!c->in.len)
            return 0;
        if (x->framing == F_CHUNKED) {
            const char *data;
            size_t n;
            long used = http_dechunk(&x->dc, c->in.data, c->in.len, &data, &n);
            if (used < 0) {
                finish(x, HC_PROTOCOL, "malformed chunked coding");
                return -1;
            }
            if (used == 0)
                return 0;
            if (n) {
                int rc = offer(x, data, n);
                if (rc <= 0) {
                    if (rc == 0) /* offered again on resume: undo this step */
                        x->dc.left += n, x->dc.state = DC_DATA;
                    return rc;
                }
            }
            buf_consume(&c->in, (size_t)used);
            continue;
        }
        size_t n = c->in.len;
        if (x->framing == F_LENGTH && n > x->left)
            n = (size_t)x->left;
        int rc = offer(x, c->in.data, n);
        if (rc <= 0)
            return rc;
        buf_consume(&c->in, n);
        if (x->framing == F_LENGTH)
            x->left -= n;
    }
    return 0;
}

/* Returns -1 when the transfer ended. */
static int take_input(http_xfer_t *x)
{
    while (!x->head_done) {
        int rc = take_head(x);
        if (rc <= 0)
            return rc;
    }
    return take_body(x);
}

static void on_conn(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    http_xfer_t *x = c->x;
    if (!x) {
        /* idle: the server closed it or sent bytes nobody asked for */
        idle_remove(c->o, c);
        conn_close(c);
        return;
    }
    if (c->connecting) {
        if (!(what & EV_WRITE))
            return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            connect_failed(c, err);
            return;
        }
        c->connecting = false;
        arm(x, x->deadline_ms);
        xfer_send(x);
        return;
    }
    if ((what & EV_WRITE) && x->sent < x->req.len + x->body.len && xfer_send(x) < 0)
        return; /* it broke and the transfer moved on */
    if (!(what & EV_READ) || x->paused)
        return;
    bool eof = false;
    int err = 0;
    /* No room while a paused answer's bytes still wait: deliver those first and read next
     * time. Checked before asking, so the buffer is never marked failed for it (it would
     * refuse every later read). */
    if (c->in.cap - c->in.len >= READ_CHUNK && buf_reserve(&c->in, READ_CHUNK) == 0) {
        ssize_t n = recv(fd, c->in.data + c->in.len, READ_CHUNK, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->in.data[c->in.len] = '\0';
            x->got_bytes = true;
        } else if (n == 0) {
            eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            eof = true;
            err = errno;
        }
    }
    /* a resume or new bytes: deliver before looking at an end of input */
    if (c->in.len && take_input(x) < 0)
        return;
    if (eof) {
        if (x->head_done && x->framing == F_CLOSE && !err && !x->paused)
            finish(x, HC_OK, NULL);
        else if (!x->paused)
            conn_broke(x, err);
    }
}

/* ---- the interface ---- */

http_client_t *http_client_new(struct event_base *base, long connect_timeout_ms, long idle_age_ms)
{
    http_client_t *cl = xcalloc(1, sizeof *cl);
    cl->base = base;
    cl->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 10000;
    cl->idle_age_ms = idle_age_ms > 0 ? idle_age_ms : 60000;
    return cl;
}

void http_client_free(http_client_t *cl)
{
    if (!cl)
        return;
    for (http_origin_t *o = cl->origins, *next; o; o = next) {
        next = o->next;
        if (o->resolving)
            evdns_getaddrinfo_cancel(o->resolving);
        for (conn_t *c = o->idle, *cn; c; c = cn) {
            cn = c->next;
            conn_close(c);
        }
        free(o);
    }
    if (cl->dns)
        evdns_base_free(cl->dns, 0);
    free(cl);
}

http_origin_t *http_client_origin(http_client_t *cl, const char *url, const char **path)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return NULL;
    const char *h = url + 7, *hend, *p;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend)
            return NULL;
        h++;
        p = hend + 1;
    } else {
        hend = h + strcspn(h, ":/?#");
        p = hend;
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen >= sizeof cl->origins->host)
        return NULL;
    long port = 80;
    if (*p == ':') {
        char *end;
        port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return NULL;
        p = end;
    }
    if (*p && *p != '/')
        return NULL;
    char host[256];
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *path = p;
    for (http_origin_t *o = cl->origins; o; o = o->next)
        if (o->port == port && strcasecmp(o->host, host) == 0)
            return o;
    http_origin_t *o = xcalloc(1, sizeof *o);
    o->cl = cl;
    o->port = (int)port;
    memcpy(o->host, host, hlen + 1);
    bool v6 = strchr(host, ':') != NULL;
    if (port == 80)
        snprintf(o->hosthdr, sizeof o->hosthdr, v6 ? "[%s]" : "%s", host);
    else
        snprintf(o->hosthdr, sizeof o->hosthdr, v6 ? "[%s]:%ld" : "%s:%ld", host, port);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&o->addrs[0];
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&o->addrs[0];
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        o->addrlens[0] = sizeof *s4;
        o->naddrs = 1;
        o->numeric = true;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        o->addrlens[0] = sizeof *s6;
        o->naddrs = 1;
        o->numeric = true;
    }
    o->next = cl->origins;
    cl->origins = o;
    return o;
}

http_xfer_t *http_xfer_start(http_origin_t *o, const http_xreq_t *rq, const http_xfer_cbs_t *cbs,
                             void *ud)
{
    http_xfer_t *x = xcalloc(1, sizeof *x);
    x->o = o;
    x->cbs = *cbs;
    x->ud = ud;
    x->body = rq->body;
    evtimer_assign(&x->timer, o->cl->base, on_timer, x);
    event_assign(&x->later, o->cl->base, -1, 0, on_later, x);
    buf_init(&x->req, HEAD_MAX);
    buf_reserve(&x->req, 128 + rq->prefix.len + rq->path.len + rq->headers.len);
    /* by hand: this runs for every relayed request */
    buf_puts(&x->req, rq->method);
    buf_puts(&x->req, " ");
    buf_append(&x->req, rq->prefix.ptr, rq->prefix.len);
    buf_append(&x->req, rq->path.ptr, rq->path.len);
    buf_puts(&x->req, " HTTP/1.1\r\nHost: ");
    buf_puts(&x->req, o->hosthdr);
    if (rq->body.len || strcmp(rq->method, "POST") == 0) {
        char num[24], *e = num + sizeof num, *d = e;
        size_t v = rq->body.len;
        do
            *--d = (char)('0' + v % 10);
        while (v /= 10);
        buf_puts(&x->req, "\r\nContent-Length: ");
        buf_append(&x->req, d, (size_t)(e - d));
    }
    buf_puts(&x->req, "\r\n");
    buf_append(&x->req, rq->headers.ptr, rq->headers.len);
    /* one check for the whole head: a refused piece fails every later one (buf.h), so no
     * head with a part missing from its middle can pass */
    if (buf_puts(&x->req, "\r\n") || buf_failed(&x->req)) {
        fail_later(x, HC_SEND, "request head too large");
        return x;
    }
    x->deadline_ms = rq->timeout_ms > 0 ? mono_ms() + rq->timeout_ms : 0;
    x->starting = true;
    conn_get(x);
    x->starting = false;
    return x;
}

const char *http_xfer_header(const http_xfer_t *x, const char *name)
{
    return http_head_get(&x->o->cl->head, name);
}

void http_xfer_resume(http_xfer_t *x)
{
    if (!x->paused)
        return;
    x->paused = false;
    conn_t *c = x->c;
    set_mask(c, EV_READ);
    event_active(&c->ev, EV_READ, 0); /* what is held goes out from the loop */
}

void http_xfer_cancel(http_xfer_t *x)
{
    if (x->in_cb) {
        x->cancelled = true;
        return;
    }
    if (x->c) {
        x->c->x = NULL;
        conn_close(x->c);
    } else {
        waiting_remove(x);
    }
    xfer_free(x);
}

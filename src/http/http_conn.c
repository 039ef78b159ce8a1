/* http_conn.c - connections: accepting them within the caps (global, per client address,
 * under descriptor pressure), their timers (idle, whole head, body rate, linger), socket reads
 * and writes, and teardown; creating and freeing the server. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mem.h"
#include "http/http_internal.h"

/* ---- connections ---- */

void set_mask(conn_t *c, short mask)
{
    if (mask == c->mask)
        return;
    if (c->mask)
        event_del(&c->ev);
    event_assign(&c->ev, c->srv->base, c->fd, mask | EV_PERSIST, on_conn_event, c);
    if (mask)
        event_add(&c->ev, NULL);
    c->mask = mask;
    /* event_del dropped any activation too: a write queued for the end of this pass
     * (http_resp_write) must still leave */
    if (mask && !(mask & EV_WRITE) && c->out.len > c->out_off)
        event_active(&c->ev, EV_WRITE, 0);
}

/* The hard cap of a connection's output buffer (see OUT_SLACK); saturates for absurd settings
 * rather than wrapping. */
size_t out_cap(size_t max_output)
{
    if (max_output > (SIZE_MAX - 1 - OUT_SLACK) / 2)
        return SIZE_MAX - 1;
    return 2 * max_output + OUT_SLACK;
}

/* Reclaims what the client already took, once it is worth a memmove, so that the part of the
 * buffer before out_off stays under 64 KiB (or under half of the buffer). */
void out_compact(conn_t *c)
{
    if (c->out_off >= 65536 || (c->out_off && c->out_off * 2 >= c->out.len)) {
        buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
}

/* The idle clock runs while the client owes us bytes or has bytes to take; not while the
 * handler works on its request with nothing left to send. A request head has a deadline from
 * its first byte, and a body a minimum rate checked once per window: bytes trickling in push
 * neither back (a client sending one byte a minute is no longer "active"). */
void arm_timer(conn_t *c)
{
    http_server_t *s = c->srv;
    int mode;
    if (c->lingering)
        mode = T_LINGER;
    else if (out_pending(c))
        mode = T_IDLE;
    else if (c->busy)
        mode = T_NONE;
    else if (c->req)
        mode = s->opts.min_body_rate ? T_BODY : T_IDLE;
    else
        mode = in_len(c) ? T_HEAD : T_IDLE;
    if (mode == c->tmode && mode != T_IDLE)
        return; /* a deadline, not an idle clock: bytes do not push it back */
    if (mode == T_BODY)
        c->win_bytes = 0;
    c->tmode = mode;
    if (mode == T_NONE) {
        evtimer_del(&c->timer);
        return;
    }
    evtimer_add(&c->timer, mode == T_LINGER ? s->linger_tv
                           : mode == T_HEAD ? s->head_tv
                           : mode == T_BODY ? s->body_tv
                                            : s->idle_tv);
}

void conn_destroy(conn_t *c)
{
    if (c->fd >= 0) {
        set_mask(c, 0);
        evtimer_del(&c->timer);
        close(c->fd);
        c->fd = -1;
    }
    if (c->depth) {
        c->freed = true; /* process() is on the stack: it frees c on its way out */
        return;
    }
    if (c->req)
        req_free(c->req);
    buf_free(&c->in);
    buf_free(&c->out);
    peer_release(c->srv, c->peer);
    c->srv->nconns--;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* The client is gone (EOF, error, timeout): a request being answered learns of it. */
void conn_gone(conn_t *c)
{
    http_req_t *r = c->req;
    void (*cb)(void *) = NULL;
    void *ud = NULL;
    if (r && c->busy) {
        cb = r->abort_cb;
        ud = r->abort_ud;
        req_free(r);
        c->req = NULL;
        c->busy = false;
    }
    conn_destroy(c);
    if (cb)
        cb(ud);
}

/* Socket failed inside a call from the handler's side: tear down from the loop instead, so
 * the abort callback never runs inside the caller's own http_* call. */
void conn_fail_later(conn_t *c)
{
    c->dead = true;
    event_active(&c->ev, EV_WRITE, 0);
}

/* Writes what is pending. Returns 0 (all written, or the rest waits for EV_WRITE) or -1. */
int flush(conn_t *c)
{
    while (out_pending(c)) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, out_pending(c), MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_mask(c, c->mask | EV_WRITE);
            arm_timer(c);
            return 0;
        }
        return -1;
    }
    buf_reset(&c->out);
    c->out_off = 0;
    if (c->out.cap != out_cap(c->srv->opts.max_output)) {
        /* an oversize write is through: back to the normal cap and storage */
        buf_free(&c->out);
        buf_init(&c->out, out_cap(c->srv->opts.max_output));
    }
    if (c->mask & EV_WRITE)
        set_mask(c, (short)(c->mask & ~EV_WRITE));
    if (c->closing && !c->busy && !c->lingering) {
        /* say goodbye without a reset: stop sending, discard what the client still sends */
        shutdown(c->fd, SHUT_WR);
        c->lingering = true;
        buf_reset(&c->in);
        c->in_off = 0;
        set_mask(c, EV_READ);
    }
    arm_timer(c);
    return 0;
}

void flush_from_caller(conn_t *c)
{
    if (!c->dead && flush(c) < 0)
        conn_fail_later(c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_t *c = arg;
    if (c->tmode == T_BODY) {
        http_server_t *s = c->srv;
        long ms = s->body_tv->tv_sec * 1000 + s->body_tv->tv_usec / 1000;
        if (c->win_bytes >= s->opts.min_body_rate * (size_t)ms / 1000) {
            c->tmode = T_NONE; /* fast enough: a new window */
            arm_timer(c);
            return;
        }
        refuse(c, 408, "request body arrives too slowly");
        return;
    }
    conn_gone(c); /* idle, or a head not whole in time: no answer, as for silence */
}

/* Reads what the socket has. Returns -1 when the connection was torn down. */
static int conn_read(conn_t *c)
{
    for (int round = 0; round < 4; round++) {
        if (c->lingering) {
            char sink[4096];
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
            conn_destroy(c);
            return -1;
        }
        if (c->in_off) {
            buf_consume(&c->in, c->in_off); /* what requests took since the last read */
            c->in_off = 0;
        }
        if (c->in.len >= IN_MAX) {
            /* a client pipelining ahead of our answers: stop reading until we catch up */
            set_mask(c, (short)(c->mask & ~EV_READ));
            return 0;
        }
        size_t want = IN_MAX - c->in.len < READ_CHUNK ? IN_MAX - c->in.len : READ_CHUNK;
        if (buf_reserve(&c->in, want)) {
            conn_gone(c);
            return -1;
        }
        ssize_t n = recv(c->fd, c->in.data + c->in.len, want, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->win_bytes += (size_t)n;
            if ((size_t)n < want)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_gone(c); /* EOF or a socket error */
        return -1;
    }
    if (!c->busy && !c->lingering)
        arm_timer(c); /* the linger timer is armed once: a client sending fast gets no more */
    return 0;
}

void on_conn_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    conn_t *c = arg;
    if (c->dead) {
        conn_gone(c);
        return;
    }
    if ((what & EV_WRITE) && out_pending(c)) {
        if (flush(c) < 0) {
            conn_gone(c);
            return;
        }
        /* a pipelined request waited for this answer to leave */
        if (!c->busy && !c->lingering && in_len(c) && process(c) < 0)
            return;
    }
    http_req_t *r = c->req;
    if ((what & EV_WRITE) && c->busy && r->drain_cb && out_pending(c) <= r->drain_low) {
        void (*cb)(void *) = r->drain_cb;
        r->drain_cb = NULL;
        cb(r->drain_ud); /* may end the request or drop the connection: c is not used again */
        return;
    }
    if (what & EV_READ) {
        if (conn_read(c) < 0)
            return;
        if (!c->lingering)
            process(c);
    }
}

/* ---- connection caps ---- */

/* Open connections from one client address. */
struct http_peer {
    net_addr_t addr;
    int n;
    http_peer_t *next;
};

static unsigned peer_bucket(const net_addr_t *a)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)a->family;
    for (int i = 0; i < 16; i++)
        h = (h ^ a->a[i]) * 1099511628211ULL;
    return (unsigned)(h % PEER_BUCKETS);
}

/* Counts a new connection from a; NULL (and nothing counted) when the address is at its cap. */
static http_peer_t *peer_take(http_server_t *s, const net_addr_t *a)
{
    http_peer_t **head = &s->peers[peer_bucket(a)];
    http_peer_t *p = *head;
    while (p && memcmp(&p->addr, a, sizeof *a) != 0)
        p = p->next;
    if (!p) {
        p = xcalloc(1, sizeof *p);
        p->addr = *a;
        p->next = *head;
        *head = p;
    }
    if (p->n >= s->opts.max_connections_per_ip)
        return NULL; /* an entry at its cap has n > 0: never left empty here */
    p->n++;
    return p;
}

void peer_release(http_server_t *s, http_peer_t *p)
{
    if (!p || --p->n > 0)
        return;
    http_peer_t **pp = &s->peers[peer_bucket(&p->addr)];
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    free(p);
}

/* A client we will not serve: one error answer, sent if the socket takes it at once (a new
 * socket's buffer always does), then close. */
static void refuse_accepted(http_server_t *s, evutil_socket_t fd, int status, const char *why)
{
    buf_t b;
    buf_init(&b, 8192);
    if (put_error(s, &b, status, why) == 0)
        (void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    buf_free(&b);
    /* FIN rather than RST even if the client already sent its request: we never read it */
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void conn_new(http_server_t *s, evutil_socket_t fd, const struct sockaddr_storage *ss)
{
    http_peer_t *peer = NULL;
    net_addr_t addr;
    bool has_addr = net_addr_from_sockaddr(ss, &addr) == 0;
    if (s->nconns >= s->opts.max_connections) {
        refuse_accepted(s, fd, 503, "too many connections to this server; try again later");
        return;
    }
    /* loopback is exempt unless the cap was set on purpose (a local reverse proxy) */
    if (s->opts.max_connections_per_ip > 0 && has_addr &&
        (s->opts.per_ip_loopback || !net_addr_is_loopback(&addr))) {
        peer = peer_take(s, &addr);
        if (!peer) {
            refuse_accepted(s, fd, 429, "too many connections from this address");
            return;
        }
    }
    conn_t *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    c->peer = peer;
    c->addr = addr;
    c->has_addr = has_addr;
    s->nconns++;
    buf_init(&c->in, IN_MAX);
    buf_init(&c->out, out_cap(s->opts.max_output));
    evtimer_assign(&c->timer, s->base, on_timeout, c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    set_mask(c, EV_READ);
    arm_timer(c);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_server_t *s = arg;
    event_add(s->lev, NULL);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    http_server_t *s = arg;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        evutil_socket_t fd =
            accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_new(s, fd, &ss);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
            /* out of descriptors: give up the spare one to take this client off the backlog
             * with a clean 503 instead of leaving it hanging there, then take it back */
            close(s->spare_fd);
            s->spare_fd = -1;
            fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0)
                refuse_accepted(s, fd, 503,
                                "this server is out of file descriptors; try again later");
            s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd >= 0)
                continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* still out: pause accepting rather than spin on a ready listener */
            event_del(s->lev);
            struct timeval tv = {0, 100000};
            evtimer_add(s->accept_retry, &tv);
        }
        return;
    }
}

/* ---- the server ---- */

/* Half the open-files limit: the other half is for upstream connections and files. */
static int default_max_connections(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 2000000)
        return 1000000;
    int n = (int)(rl.rlim_cur / 2);
    return n < 16 ? 16 : n;
}

static const struct timeval *common_tv(struct event_base *base, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return event_base_init_common_timeout(base, &tv);
}

/* Takes opts (connection caps, timeouts, body limits) into s; for new connections and the
 * next timer of open ones. */
static void apply_opts(http_server_t *s, const http_opts_t *opts)
{
    s->opts = *opts;
    if (s->opts.max_connections <= 0)
        s->opts.max_connections = default_max_connections();
    long idle = opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : 120000;
    long head = opts->header_timeout_ms > 0 ? opts->header_timeout_ms : 10000;
    /* every connection's timer has one of a few durations: O(1) queues instead of a heap */
    s->idle_tv = common_tv(s->base, idle);
    s->linger_tv = common_tv(s->base, LINGER_MS);
    s->head_tv = common_tv(s->base, head < idle ? head : idle);
    s->body_tv = common_tv(s->base, head);
}

http_server_t *http_server_new(struct event_base *base, const http_opts_t *opts,
                               http_handler_fn handler, void *ud)
{
    http_server_t *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->handler = handler;
    s->ud = ud;
    s->lfd = -1;
    apply_opts(s, opts);
    if (getrandom(&s->id_seed, sizeof s->id_seed, 0) != sizeof s->id_seed)
        s->id_seed = (uint64_t)time(NULL) * 0x2545f4914f6cdd1dULL;
    s->accept_retry = evtimer_new(base, on_accept_retry, s);
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return s;
}

void http_server_reconfigure(http_server_t *s, const http_opts_t *opts)
{
    apply_opts(s, opts);
}

int http_server_listen(http_server_t *s, const char *host, int port, int *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    evutil_socket_t fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Accepted sockets inherit TCP_NODELAY from the listener (Linux): streamed chunks
         * leave at once instead of waiting on Nagle for the previous one's ACK. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        errno = e;
        return -1;
    }
    freeaddrinfo(res);
    s->lfd = fd;
    s->lev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_accept, s);
    event_add(s->lev, NULL);
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        *bound_port = port;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET)
                *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    return 0;
}

void http_server_drain(http_server_t *s)
{
    if (s->draining)
        return;
    s->draining = true;
    if (s->lev)
        event_del(s->lev);
    if (s->lfd >= 0) {
        close(s->lfd); /* new clients are refused by the kernel from now on */
        s->lfd = -1;
    }
    evtimer_del(s->accept_retry);
    /* connections between requests go now; the others after the answer in flight */
    for (conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->busy)
            conn_gone(c);
    }
}

void http_server_free(http_server_t *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_gone(s->conns); /* requests in flight hear of it through their abort callbacks */
    if (s->lev)
        event_free(s->lev);
    if (s->lfd >= 0)
        close(s->lfd);
    event_free(s->accept_retry);
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    free(s);
}

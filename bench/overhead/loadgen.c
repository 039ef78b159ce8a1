/* loadgen.c - small HTTP/1.1 load generator for the seekd overhead benchmark (bench/overhead).
 *
 * Raw non-blocking sockets + epoll, one thread, loopback only. Modes:
 *   closed  C keep-alive connections, each sends the next request as soon as the previous
 *           response ended; reports req/s and latency percentiles.
 *   rate    fixed request rate R spread over C keep-alive connections (per-connection pacing
 *           with an absolute timerfd schedule). Latency is reported both from the actual send
 *           time and from the scheduled time (coordinated-omission corrected, like wrk2).
 *   stream  C connections run streaming requests back to back; reports time to first SSE
 *           event (TTFB) and the gaps between consecutive SSE data events.
 *   hold    opens N streaming requests (ramped, at most --ramp connecting at once), waits until
 *           every one got its first SSE event, writes --ready-file, keeps them open --hold-s
 *           seconds, then closes them all.
 * Output: one line of key=value pairs on stdout (times in microseconds).
 *
 * Build: cc -O2 -o loadgen loadgen.c    (no dependencies beyond libc / Linux)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { M_CLOSED, M_RATE, M_STREAM, M_HOLD };
enum {
    S_IDLE,
    S_CONNECTING,
    S_SENDING,
    S_HDR,
    S_BODY_CL,
    S_CH_SIZE,
    S_CH_DATA,
    S_CH_CRLF,
    S_CH_TRAILER,
    S_DONE
};

typedef struct {
    uint64_t *v;
    size_t n, cap;
} vec_t;

static void vpush(vec_t *a, uint64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4096;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (!a->v)
            abort();
    }
    a->v[a->n++] = x;
}

static int cmpu64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile, in microseconds (values stored in ns) */
static double pct(vec_t *a, double p)
{
    if (!a->n)
        return -1;
    size_t i = (size_t)(p / 100.0 * (double)a->n);
    if (i >= a->n)
        i = a->n - 1;
    return (double)a->v[i] / 1000.0;
}

typedef struct conn {
    int fd, st, idx;
    size_t woff;
    char hdr[8192];
    size_t hlen;
    long long remain; /* body bytes (CL) or chunk bytes left */
    int status, keepalive;
    int sse_nl, ev_first, ev_comment, nevents;
    uint64_t t_sched, t_sent, t_first, t_last_ev;
    int got_first, reqs_on_conn;
} conn_t;

static int g_mode = M_CLOSED, g_port, g_conns = 16, g_ep, g_tfd = -1;
static double g_duration = 5, g_rate = 1000, g_hold_s = 5;
static const char *g_ready_file;
static int g_ramp = 200, g_streams = 1000;
static char *g_req;
static size_t g_reqlen;
static uint64_t g_t0, g_tend, g_interval;
static vec_t g_lat, g_lat_sched, g_ttfb, g_gap;
static long g_ok, g_err, g_non200, g_conn_err, g_started, g_first_events, g_events, g_late;
static int g_measure = 1, g_stop_sending;
static conn_t *g_c;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *m)
{
    perror(m);
    exit(2);
}

static void ep_mod(conn_t *c, uint32_t ev, int op)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(g_ep, op, c->fd, &e) < 0)
        die("epoll_ctl");
}

static void conn_open(conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
    if (r < 0 && errno != EINPROGRESS)
        die("connect");
    c->st = S_CONNECTING;
    c->reqs_on_conn = 0;
    ep_mod(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->st = S_IDLE;
}

static void start_send(conn_t *c, uint64_t sched);

static void try_write(conn_t *c)
{
    while (c->woff < g_reqlen) {
        ssize_t n = write(c->fd, g_req + c->woff, g_reqlen - c->woff);
        if (n < 0) {
            if (errno == EAGAIN)
                return;
            g_err++;
            conn_close(c);
            return;
        }
        c->woff += (size_t)n;
    }
    c->st = S_HDR;
    c->hlen = 0;
    ep_mod(c, EPOLLIN, EPOLL_CTL_MOD);
}

static void start_send(conn_t *c, uint64_t sched)
{
    if (c->fd < 0) {
        conn_open(c);
        c->t_sched = sched;
        return; /* the request goes when the connect completes */
    }
    c->t_sched = sched;
    c->t_sent = now_ns();
    c->woff = 0;
    c->got_first = 0;
    c->nevents = 0;
    c->sse_nl = 1;
    c->ev_first = 1;
    c->st = S_SENDING;
    g_started++;
    try_write(c);
}

/* The response ended (ok says whether it was a complete 200). */
static void resp_done(conn_t *c, int ok, uint64_t t)
{
    if (ok) {
        g_ok++;
        if (g_measure) {
            vpush(&g_lat, t - c->t_sent);
            vpush(&g_lat_sched, t - c->t_sched);
        }
    }
    c->reqs_on_conn++;
    if (!c->keepalive)
        conn_close(c);
    else
        c->st = S_DONE;
}

static void sse_feed(conn_t *c, const char *p, size_t n, uint64_t t)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\r')
            continue;
        if (c->ev_first && ch != '\n') {
            c->ev_comment = (ch == ':');
            c->ev_first = 0;
        }
        if (ch == '\n') {
            if (c->sse_nl && !c->ev_first) { /* blank line: the event is complete */
                if (!c->ev_comment) {
                    g_events++;
                    if (!c->got_first) {
                        c->got_first = 1;
                        c->t_first = t;
                        g_first_events++;
                        if (g_measure && g_mode == M_STREAM)
                            vpush(&g_ttfb, t - c->t_sent);
                    } else if (g_measure && g_mode == M_STREAM) {
                        vpush(&g_gap, t - c->t_last_ev);
                    }
                    c->t_last_ev = t;
                    c->nevents++;
                }
                c->ev_first = 1;
            }
            c->sse_nl = 1;
        } else {
            c->sse_nl = 0;
        }
    }
}

static int parse_headers(conn_t *c)
{
    c->hdr[c->hlen] = 0;
    char *end = strstr(c->hdr, "\r\n\r\n");
    if (!end)
        return 0;
    size_t used = (size_t)(end + 4 - c->hdr);
    c->status = 0;
    if (sscanf(c->hdr, "HTTP/1.%*d %d", &c->status) != 1)
        return -1;
    c->keepalive = strncmp(c->hdr, "HTTP/1.1", 8) == 0;
    long long cl = -1;
    int chunked = 0;
    for (char *l = strstr(c->hdr, "\r\n") + 2; l < end; l = strstr(l, "\r\n") + 2) {
        if (!strncasecmp(l, "content-length:", 15))
            cl = atoll(l + 15);
        else if (!strncasecmp(l, "transfer-encoding:", 18) && strcasestr(l, "chunked") &&
                 strcasestr(l, "chunked") < strstr(l, "\r\n"))
            chunked = 1;
        else if (!strncasecmp(l, "connection:", 11)) {
            char *e = strstr(l, "\r\n");
            char *x = strcasestr(l, "close");
            if (x && x < e)
                c->keepalive = 0;
        }
    }
    if (c->status != 200)
        g_non200++;
    if (chunked) {
        c->st = S_CH_SIZE;
        c->remain = 0;
    } else if (cl >= 0) {
        c->st = S_BODY_CL;
        c->remain = cl;
    } else {
        return -1; /* read-until-close bodies are not expected here */
    }
    return (int)used;
}

/* Feed received bytes; returns -1 on protocol error. */
static int feed(conn_t *c, const char *p, size_t n, uint64_t t)
{
    while (n > 0) {
        switch (c->st) {
        case S_HDR: {
            size_t take = n;
            if (c->hlen + take > sizeof c->hdr - 1)
                take = sizeof c->hdr - 1 - c->hlen;
            if (!take)
                return -1;
            size_t old = c->hlen;
            memcpy(c->hdr + c->hlen, p, take);
            c->hlen += take;
            int used = parse_headers(c);
            if (used < 0)
                return -1;
            if (used == 0) {
                p += take;
                n -= take;
                break;
            }
            size_t consumed = (size_t)used - old;
            p += consumed;
            n -= consumed;
            if (c->st == S_BODY_CL && c->remain == 0)
                resp_done(c, c->status == 200, t);
            break;
        }
        case S_BODY_CL: {
            size_t take = (long long)n < c->remain ? n : (size_t)c->remain;
            sse_feed(c, p, take, t);
            c->remain -= (long long)take;
            p += take;
            n -= take;
            if (c->remain == 0)
                resp_done(c, c->status == 200, t);
            break;
        }
        case S_CH_SIZE: {
            char ch = *p++;
            n--;
            if (ch == '\n') {
                if (c->remain == 0)
                    c->st = S_CH_TRAILER, c->sse_nl = 1; /* reuse sse_nl as "line empty" */
                else
                    c->st = S_CH_DATA;
            } else if (ch >= '0' && ch <= '9')
                c->remain = c->remain * 16 + (ch - '0');
            else if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
                c->remain = c->remain * 16 + ((ch | 32) - 'a' + 10);
            /* ';' extensions and '\r' are skipped (hex digits after ';' would be wrong, but
             * no server here sends chunk extensions) */
            break;
        }
        case S_CH_DATA: {
            size_t take = (long long)n < c->remain ? n : (size_t)c->remain;
            sse_feed(c, p, take, t);
            c->remain -= (long long)take;
            p += take;
            n -= take;
            if (c->remain == 0)
                c->st = S_CH_CRLF;
            break;
        }
        case S_CH_CRLF:
            if (*p == '\n')
                c->st = S_CH_SIZE, c->remain = 0;
            p++;
            n--;
            break;
        case S_CH_TRAILER: {
            char ch = *p++;
            n--;
            if (ch == '\r')
                break;
            if (ch == '\n') {
                if (c->sse_nl) {
                    resp_done(c, c->status == 200, t);
                    break;
                }
                c->sse_nl = 1;
            } else
                c->sse_nl = 0;
            break;
        }
        default:
            return -1; /* bytes while idle */
        }
        if (c->st == S_DONE || c->st == S_IDLE) {
            if (n)
                return -1;
            break;
        }
    }
    return 0;
}

static void arm_timer(uint64_t when)
{
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(when / 1000000000ull);
    its.it_value.tv_nsec = (long)(when % 1000000000ull);
    if (timerfd_settime(g_tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime");
}

/* After a response: what the connection does next, per mode. */
static void next_action(conn_t *c, uint64_t t)
{
    if (g_mode == M_HOLD)
        return; /* a finished hold stream just stays idle */
    if (g_stop_sending || t >= g_tend) {
        return;
    }
    if (g_mode == M_RATE)
        return; /* the timer schedules it */
    start_send(c, t);
}

static void on_event(conn_t *c, uint32_t ev)
{
    uint64_t t = now_ns();
    if (c->st == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err || (ev & (EPOLLERR | EPOLLHUP))) {
            g_conn_err++;
            conn_close(c);
            return;
        }
        ep_mod(c, EPOLLIN, EPOLL_CTL_MOD);
        uint64_t s = c->t_sched;
        c->st = S_DONE;
        start_send(c, s);
        return;
    }
    if (c->st == S_SENDING && (ev & EPOLLOUT)) {
        try_write(c);
        if (c->fd < 0 || !(ev & EPOLLIN))
            return;
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char buf[65536];
        for (int rounds = 0; rounds < 64; rounds++) {
            ssize_t n = read(c->fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EAGAIN)
                    break;
                n = 0;
            }
            if (n == 0) { /* closed */
                if (c->st != S_DONE && c->st != S_IDLE)
                    g_err++;
                conn_close(c);
                if (g_mode != M_HOLD && !g_stop_sending && t < g_tend && g_mode != M_RATE)
                    start_send(c, t);
                return;
            }
            int was = c->st;
            (void)was;
            if (feed(c, buf, (size_t)n, t) < 0) {
                g_err++;
                conn_close(c);
                return;
            }
            if (c->st == S_DONE || c->fd < 0) {
                next_action(c, t);
                return;
            }
        }
    }
}

static void usage(void)
{
    fprintf(stderr,
            "loadgen --port P --mode closed|rate|stream|hold [--conns C] [--duration S]\n"
            "        [--rate R] [--streams N] [--ramp K] [--hold-s S] [--ready-file F]\n"
            "        [--path /chat/completions] [--key sk-...] [--body JSON] [--warmup S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *path = "/chat/completions", *key = "sk-bench-0001", *body = NULL;
    double warmup = 0.5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--port"))
            g_port = atoi(v);
        else if (!strcmp(a, "--mode"))
            g_mode = !strcmp(v, "closed")   ? M_CLOSED
                     : !strcmp(v, "rate")   ? M_RATE
                     : !strcmp(v, "stream") ? M_STREAM
                     : !strcmp(v, "hold")   ? M_HOLD
                                            : (usage(), 0);
        else if (!strcmp(a, "--conns"))
            g_conns = atoi(v);
        else if (!strcmp(a, "--duration"))
            g_duration = atof(v);
        else if (!strcmp(a, "--rate"))
            g_rate = atof(v);
        else if (!strcmp(a, "--streams"))
            g_streams = atoi(v);
        else if (!strcmp(a, "--ramp"))
            g_ramp = atoi(v);
        else if (!strcmp(a, "--hold-s"))
            g_hold_s = atof(v);
        else if (!strcmp(a, "--ready-file"))
            g_ready_file = v;
        else if (!strcmp(a, "--path"))
            path = v;
        else if (!strcmp(a, "--key"))
            key = v;
        else if (!strcmp(a, "--body"))
            body = v;
        else if (!strcmp(a, "--warmup"))
            warmup = atof(v);
        else
            usage();
        i++;
    }
    if (!g_port || !body)
        usage();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    size_t blen = strlen(body);
    g_req = malloc(blen + 512);
    g_reqlen = (size_t)sprintf(g_req,
                               "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                               "Accept: */*\r\nContent-Length: %zu\r\n\r\n%s",
                               path, g_port, key, blen, body);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        die("epoll_create1");
    g_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event te = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, g_tfd, &te);

    int nconn = g_mode == M_HOLD ? g_streams : g_conns;
    g_c = calloc((size_t)nconn, sizeof *g_c);
    for (int i = 0; i < nconn; i++)
        g_c[i].fd = -1, g_c[i].idx = i;

    g_t0 = now_ns();
    uint64_t t_measure = g_t0 + (uint64_t)(warmup * 1e9);
    g_tend = t_measure + (uint64_t)(g_duration * 1e9);
    g_measure = warmup <= 0;
    uint64_t hard_end = g_tend + 10000000000ull; /* drain at most 10 s past the end */
    long ok_at_measure = 0;

    /* per-connection next send times for rate mode */
    uint64_t *next = NULL;
    if (g_mode == M_RATE) {
        g_interval = (uint64_t)((double)g_conns / g_rate * 1e9);
        next = calloc((size_t)g_conns, sizeof *next);
        for (int i = 0; i < g_conns; i++)
            next[i] = g_t0 + 1000000ull + g_interval * (uint64_t)i / (uint64_t)g_conns;
        arm_timer(next[0]);
    } else if (g_mode == M_CLOSED || g_mode == M_STREAM) {
        for (int i = 0; i < nconn; i++)
            start_send(&g_c[i], g_t0);
    }

    int opened = 0, ready_written = 0;
    uint64_t t_ready = 0, hold_deadline = 0;
    if (g_mode == M_HOLD) {
        hard_end = g_t0 + 120000000000ull; /* ramp + hold within 120 s */
    }
    struct epoll_event evs[512];
    for (;;) {
        uint64_t t = now_ns();
        if (!g_measure && t >= t_measure && g_mode != M_HOLD) {
            g_measure = 1;
            ok_at_measure = g_ok;
        }
        if (t >= hard_end)
            break;
        if (g_mode == M_HOLD) {
            /* ramp: keep at most g_ramp streams without their first event */
            while (opened < nconn && (opened - g_first_events - g_conn_err - g_err) < g_ramp) {
                start_send(&g_c[opened], t);
                opened++;
            }
            if (!ready_written && g_first_events + g_conn_err + g_err >= nconn) {
                t_ready = t;
                ready_written = 1;
                if (g_ready_file) {
                    FILE *f = fopen(g_ready_file, "w");
                    if (f) {
                        fprintf(f, "%ld\n", g_first_events);
                        fclose(f);
                    }
                }
                hold_deadline = t + (uint64_t)(g_hold_s * 1e9);
            }
            if (ready_written && t >= hold_deadline)
                break;
        } else if (t >= g_tend) {
            g_stop_sending = 1;
            int busy = 0;
            for (int i = 0; i < nconn; i++)
                if (g_c[i].st != S_IDLE && g_c[i].st != S_DONE)
                    busy++;
            if (!busy)
                break;
        }
        int n = epoll_wait(g_ep, evs, 512, 50);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) { /* rate timer */
                uint64_t exp;
                (void)!read(g_tfd, &exp, sizeof exp);
                uint64_t tn = now_ns();
                uint64_t soonest = UINT64_MAX;
                for (int k = 0; k < g_conns; k++) {
                    conn_t *c = &g_c[k];
                    if (next[k] <= tn && !g_stop_sending && next[k] < g_tend) {
                        if (c->st == S_IDLE || c->st == S_DONE) {
                            if (tn - next[k] > 1000000ull)
                                g_late++;
                            start_send(c, next[k]);
                            next[k] += g_interval;
                        }
                        /* busy: sent as soon as the previous response ends (below) */
                    }
                    if (next[k] < soonest)
                        soonest = next[k];
                }
                if (soonest != UINT64_MAX && soonest < g_tend)
                    arm_timer(soonest > tn ? soonest : tn + 50000ull);
                continue;
            }
            conn_t *c = evs[i].data.ptr;
            on_event(c, evs[i].events);
            if (g_mode == M_RATE && (c->st == S_DONE || c->st == S_IDLE) && !g_stop_sending) {
                uint64_t tn = now_ns();
                if (next[c->idx] <= tn && next[c->idx] < g_tend) {
                    g_late++;
                    start_send(c, next[c->idx]);
                    next[c->idx] += g_interval;
                }
            }
        }
    }
    uint64_t t_end = now_ns();
    long incomplete = 0;
    for (int i = 0; i < nconn; i++)
        if (g_c[i].st != S_IDLE && g_c[i].st != S_DONE && g_mode != M_HOLD)
            incomplete++;
    qsort(g_lat.v, g_lat.n, sizeof(uint64_t), cmpu64);
    qsort(g_lat_sched.v, g_lat_sched.n, sizeof(uint64_t), cmpu64);
    qsort(g_ttfb.v, g_ttfb.n, sizeof(uint64_t), cmpu64);
    qsort(g_gap.v, g_gap.n, sizeof(uint64_t), cmpu64);
    double secs = (double)(g_tend - t_measure) / 1e9;
    long errors = g_err + g_non200 + g_conn_err + incomplete;
    if (g_mode == M_HOLD) {
        printf("mode=hold streams=%d ready=%ld conn_err=%ld err=%ld non200=%ld ramp_s=%.2f "
               "errors=%ld\n",
               nconn, g_first_events, g_conn_err, g_err, g_non200,
               t_ready ? (double)(t_ready - g_t0) / 1e9 : -1.0,
               (long)(nconn - g_first_events) + g_non200);
    } else {
        printf("mode=%s n=%zu rps=%.1f p50=%.1f p90=%.1f p99=%.1f p999=%.1f max=%.1f "
               "sched_p50=%.1f sched_p99=%.1f ttfb_p50=%.1f ttfb_p99=%.1f gap_p50=%.1f "
               "gap_p99=%.1f gaps=%zu late=%ld errors=%ld err=%ld non200=%ld conn_err=%ld "
               "incomplete=%ld elapsed=%.2f\n",
               g_mode == M_CLOSED ? "closed"
               : g_mode == M_RATE ? "rate"
                                  : "stream",
               g_lat.n, (double)(g_ok - ok_at_measure) / secs, pct(&g_lat, 50), pct(&g_lat, 90),
               pct(&g_lat, 99), pct(&g_lat, 99.9), g_lat.n ? g_lat.v[g_lat.n - 1] / 1000.0 : -1,
               pct(&g_lat_sched, 50), pct(&g_lat_sched, 99), pct(&g_ttfb, 50), pct(&g_ttfb, 99),
               pct(&g_gap, 50), pct(&g_gap, 99), g_gap.n, g_late, errors, g_err, g_non200,
               g_conn_err, incomplete, (double)(t_end - g_t0) / 1e9);
    }
    return errors ? 1 : 0;
}

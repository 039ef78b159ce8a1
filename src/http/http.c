/* http.c - seekd's HTTP/1.1 server, written for the proxy's hot path on libevent's loop.
 *
 * A connection keeps one persistent read event in epoll for its whole life: the request is
 * read, answered and the next one read without a single epoll_ctl, and a client that hangs up
 * while its answer is being prepared is seen at once (EOF on that same event). A response is
 * written straight away from the call that produced it; a write event is added only when the
 * socket will not take everything. Request heads are parsed in place (http_parse.c). */
#include "http/http.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "base/mem.h"
#include "http/http_internal.h"

void req_free(http_req_t *r)
{
    if (r->held)
        r->c->srv->body_held -= r->held;
    buf_free(&r->body);
    buf_free(&r->extra);
    free(r);
}

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

static const char *http_date(http_server_t *s)
{
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = now;
    }
    return s->date;
}

int put_error(http_server_t *s, buf_t *out, int status, const char *why)
{
    buf_t body;
    buf_init(&body, 4096);
    const char *ctype = "text/plain; charset=utf-8";
    if (s->opts.error_body)
        ctype = s->opts.error_body(status, why, &body);
    else
        buf_puts(&body, why);
    /* a body that did not fit is sent empty rather than cut */
    if (buf_failed(&body))
        buf_reset(&body);
    buf_printf(out,
               "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "%sConnection: close\r\n\r\n",
               status, reason(status), http_date(s), ctype, body.len,
               status == 503 || status == 429 ? "Retry-After: 1\r\n" : "");
    buf_append(out, body.data ? body.data : "", body.len);
    buf_free(&body);
    return buf_failed(out) ? -1 : 0;
}

/* A request we will not hand to the handler (malformed, too big a head): one error answer
 * (its body from opts.error_body), then the connection closes. */
void refuse(conn_t *c, int status, const char *why)
{
    out_compact(c);
    int rc = put_error(c->srv, &c->out, status, why);
    if (c->req) {
        req_free(c->req);
        c->req = NULL;
    }
    c->body_mode = BODY_NONE;
    c->closing = true;
    if (rc || flush(c) < 0)
        conn_gone(c); /* never a cut answer: the client sees the connection close instead */
}

/* ---- reading requests ---- */

static void req_init(conn_t *c, http_req_t *r)
{
    http_server_t *s = c->srv;
    r->c = c;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    buf_init(&r->body, s->opts.max_body);
    buf_init(&r->extra, EXTRA_MAX);
    const char *given = http_req_header(r, "x-request-id");
    size_t glen = given ? strlen(given) : 0;
    bool sane = glen > 0 && glen <= 64;
    for (size_t i = 0; sane && i < glen; i++) {
        char ch = given[i];
        sane = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '-' || ch == '_' || ch == '.';
    }
    if (sane) {
        memcpy(r->id, given, glen + 1);
    } else {
        uint64_t x = s->id_seed + 0x9e3779b97f4a7c15ULL * ++s->id_counter;
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        /* 16 hex digits of x, then the counter's low 8 (as "%016llx%08llx" would write) */
        static const char hex[] = "0123456789abcdef";
        uint64_t lo = s->id_counter;
        for (int i = 15; i >= 0; i--, x >>= 4)
            r->id[i] = hex[x & 15];
        for (int i = 23; i >= 16; i--, lo >>= 4)
            r->id[i] = hex[lo & 15];
        r->id[24] = '\0';
    }
    /* absolute-form (RFC 9112 §3.2.2), as sent to proxies: the path is what follows the
     * authority */
    const char *t = r->head.target;
    if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
        t = strstr(t, "://") + 3;
        t += strcspn(t, "/?#");
    }
    size_t plen = strcspn(t, "?#");
    r->path = plen ? (slice_t){t, plen} : (slice_t){"/", 1};
    r->head_only = strcmp(r->head.method, "HEAD") == 0;
}

/* Counts n more body bytes against max_body_total. Returns 0, or -1 when that would go beyond
 * it (nothing counted). */
static int hold_body(conn_t *c, size_t n)
{
    http_server_t *s = c->srv;
    if (s->opts.max_body_total && n > s->opts.max_body_total - s->body_held)
        return -1;
    s->body_held += n;
    c->req->held += n;
    return 0;
}

#define BUSY_MSG "the server holds too many request bodies at once; try again shortly"

/* Parses the head waiting in the input, if complete. Returns 1 (a request started), 0 (need
 * more bytes) or -1 (refused or answered from its head; the connection is closing). */
static int take_head(conn_t *c)
{
    size_t hl = http_head_len(in_data(c), in_len(c));
    if (!hl || hl > HEAD_MAX) {
        if (!hl && in_len(c) < HEAD_MAX)
            return 0;
        refuse(c, 431, "request head too large");
        return -1;
    }
    /* zeroed but for the header array (1.6 KB): the parse fills its first nhdrs entries, and
     * nothing reads the rest */
    http_req_t *r = xmalloc(sizeof *r + hl + 1);
    memset(r, 0, offsetof(http_req_t, head.hdrs));
    memset((char *)r + offsetof(http_req_t, head.nhdrs), 0,
           sizeof *r - offsetof(http_req_t, head.nhdrs));
    r->raw[hl] = '\0';
    memcpy(r->raw, in_data(c), hl);
    in_take(c, hl);
    int status = http_parse_head(r->raw, hl, &r->head);
    if (!status) {
        /* RFC 9112 §3.2: exactly one Host in HTTP/1.1, never two in any version */
        int hosts = 0;
        for (int i = 0; i < r->head.nhdrs; i++)
            hosts += strcasecmp(r->head.hdrs[i].name, "Host") == 0;
        if (hosts > 1 || (hosts == 0 && r->head.minor == 1))
            status = 400;
    }
    c->req = r;
    if (status) {
        refuse(c, status,
               status == 431   ? "too many request headers"
               : status == 501 ? "unsupported transfer coding"
               : status == 505 ? "unsupported HTTP version"
                               : "malformed HTTP request");
        return -1;
    }
    req_init(c, r);
    if (!r->head.keep_alive)
        c->closing = true;
    http_server_t *s = c->srv;
    bool has_body = r->head.chunked || r->head.content_length > 0;
    if (has_body && s->opts.on_head) {
        /* decided before a byte of the body is read or held: an unauthorized client costs a
         * head, not max_body */
        bool closing = c->closing;
        c->closing = true; /* an answer given here ends the connection */
        c->busy = true;
        if (!s->opts.on_head(r, s->ud)) {
            if (c->req == r) /* refused without an answer: still never read its body */
                refuse(c, 400, "request refused");
            return -1; /* answered: req_end freed the request */
        }
        c->busy = false;
        c->closing = closing;
    }
    size_t max = s->opts.max_body;
    c->body_mode = BODY_NONE;
    if (r->head.chunked) {
        c->body_mode = BODY_CHUNKED;
        memset(&c->dc, 0, sizeof c->dc);
    } else if (r->head.content_length > (int64_t)max) {
        /* not read: the handler answers 413 and the connection closes */
        r->refused = (size_t)r->head.content_length;
        c->closing = true;
        return 1;
    } else if (r->head.content_length > 0) {
        if (hold_body(c, (size_t)r->head.content_length)) {
            refuse(c, 503, BUSY_MSG);
            return -1;
        }
        c->body_mode = BODY_LENGTH;
        c->body_left = r->head.content_length;
        /* content_length <= max_body, the body's cap: this cannot be refused, and take_body
         * checks the buffer anyway */
        buf_reserve(&r->body, (size_t)r->head.content_length);
    }
    if (c->body_mode != BODY_NONE && r->head.expect_continue && in_len(c) == 0 &&
        r->head.minor == 1) {
        buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        if (buf_failed(&c->out) || flush(c) < 0) {
            conn_gone(c);
            return -1;
        }
    }
    return 1;
}

/* Moves body bytes from the input into the request. Returns 1 when the body is complete, 0
 * when more is needed, -1 when the chunked coding is malformed, -2 when the body buffer refused
 * bytes (the max_body checks make that unreachable; a cut body must still never be handed
 * to the handler), -3 when max_body_total refused them. */
static int take_body(conn_t *c)
{
    http_req_t *r = c->req;
    if (c->body_mode == BODY_LENGTH) {
        size_t n = in_len(c) < (uint64_t)c->body_left ? in_len(c) : (size_t)c->body_left;
        if (n) {
            buf_append(&r->body, in_data(c), n);
            in_take(c, n);
            c->body_left -= (int64_t)n;
        }
        if (buf_failed(&r->body))
            return -2;
        if (c->body_left)
            return 0;
    }
    while (c->body_mode == BODY_CHUNKED && c->dc.state != DC_DONE) {
        const char *data;
        size_t n;
        long used = http_dechunk(&c->dc, in_data(c), in_len(c), &data, &n);
        if (used < 0)
            return -1;
        if (used == 0)
            return 0;
        if (c->dc.announced > c->srv->opts.max_body - r->body.len) {
            /* too big: stop reading; the handler answers 413 and the connection closes */
            uint64_t size = c->dc.announced;
            r->refused = size > SIZE_MAX - r->body.len ? SIZE_MAX : r->body.len + (size_t)size;
            buf_reset(&r->body);
            c->body_mode = BODY_NONE;
            c->closing = true;
            in_take(c, (size_t)used);
            return 1;
        }
        if (c->dc.announced && hold_body(c, (size_t)c->dc.announced))
            return -3;
        if (n && buf_append(&r->body, data, n))
            return -2;
        in_take(c, (size_t)used);
    }
    c->body_mode = BODY_NONE;
    return 1;
}

static void dispatch(conn_t *c)
{
    http_req_t *r = c->req;
    c->busy = true;
    arm_timer(c);
    c->srv->handler(r, c->srv->ud);
}

/* Takes requests from the buffered input while the connection is free for one. Returns -1
 * when the connection was torn down meanwhile. */
int process(conn_t *c)
{
    c->depth++;
    /* a client that pipelines without reading its answers gets no more of them than
     * max_output; its input then fills and reading stops */
    while (!c->busy && !c->freed && !c->dead && !c->lingering &&
           out_pending(c) <= c->srv->opts.max_output) {
        if (!c->req) {
            if (c->closing || !in_len(c))
                break; /* a closing connection takes no new request */
            if (take_head(c) <= 0)
                break;
        }
        if (c->body_mode != BODY_NONE) {
            int rc = take_body(c);
            if (rc < 0) {
                refuse(c,
                       rc == -3   ? 503
                       : rc == -2 ? 413
                                  : 400,
                       rc == -3   ? BUSY_MSG
                       : rc == -2 ? "request body too large"
                                  : "malformed chunked request body");
                break;
            }
            if (rc == 0)
                break;
        }
        dispatch(c);
    }
    if (!c->freed && !c->dead && !c->lingering && !(c->mask & EV_READ) && in_len(c) < IN_MAX)
        set_mask(c, c->mask | EV_READ); /* input was full; there is room again */
    if (--c->depth == 0 && c->freed) {
        conn_destroy(c);
        return -1;
    }
    return 0;
}

/* ---- requests ---- */

const char *http_req_method(const http_req_t *r)
{
    return r->head.method;
}

slice_t http_req_path(const http_req_t *r)
{
    return r->path;
}

const char *http_req_header(const http_req_t *r, const char *name)
{
    return http_head_get(&r->head, name);
}

int http_req_header_all(const http_req_t *r, const char *name, const char **values, int max)
{
    int n = 0;
    for (int i = 0; i < r->head.nhdrs; i++) {
        if (strcasecmp(r->head.hdrs[i].name, name) != 0)
            continue;
        if (n == max)
            return -1;
        values[n++] = r->head.hdrs[i].value;
    }
    return n;
}

int http_req_peer(const http_req_t *r, net_addr_t *out)
{
    if (!r->c->has_addr)
        return -1;
    *out = r->c->addr;
    return 0;
}

slice_t http_req_body(http_req_t *r)
{
    return r->body.len ? (slice_t){r->body.data, r->body.len} : (slice_t){"", 0};
}

void http_req_take_body(http_req_t *r, buf_t *out)
{
    *out = r->body;
    buf_init(&r->body, out->cap);
}

size_t http_req_body_refused(const http_req_t *r)
{
    return r->refused;
}

const char *http_req_id(const http_req_t *r)
{
    return r->id;
}

long long http_req_elapsed_us(const http_req_t *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)(now.tv_sec - r->t0.tv_sec) * 1000000LL +
           (now.tv_nsec - r->t0.tv_nsec) / 1000;
}

void http_req_on_abort(http_req_t *r, void (*cb)(void *ud), void *ud)
{
    r->abort_cb = cb;
    r->abort_ud = ud;
}

/* ---- responses ---- */

/* Appends v in decimal. */
static void put_dec(buf_t *o, unsigned long long v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(o, p, (size_t)(tmp + sizeof tmp - p));
}

/* The status line and headers. clen < 0: a stream, chunked for HTTP/1.1 clients, ended by
 * closing the connection for HTTP/1.0 ones. Returns 0, or -1 when the head did not fit (or a
 * handler's header was refused): the connection's output is then failed and must not leave. */
int put_head(http_req_t *r, int status, const char *ctype, long long clen)
{
    conn_t *c = r->c;
    buf_t *o = &c->out;
    if (buf_failed(&r->extra))
        return -1; /* a head without a header the handler asked for is another answer */
    out_compact(c);
    /* appended piece by piece: every answer has a head, and printf costs more than this */
    buf_puts(o, "HTTP/1.1 ");
    put_dec(o, (unsigned long long)(status < 0 ? 0 : status));
    buf_puts(o, " ");
    buf_puts(o, reason(status));
    buf_puts(o, "\r\nDate: ");
    buf_puts(o, http_date(c->srv));
    if (ctype) {
        buf_puts(o, "\r\nContent-Type: ");
        buf_puts(o, ctype);
    }
    buf_puts(o, "\r\n");
    if (clen >= 0) {
        if (status != 204) {
            buf_puts(o, "Content-Length: ");
            put_dec(o, (unsigned long long)clen);
            buf_puts(o, "\r\n");
        }
    } else if (r->head.minor == 1) {
        buf_puts(o, "Transfer-Encoding: chunked\r\n");
        r->chunked = true;
    } else {
        c->closing = true;
    }
    if (c->srv->draining)
        c->closing = true; /* the server is stopping: this is the connection's last answer */
    buf_puts(o, "x-request-id: ");
    buf_puts(o, r->id);
    buf_puts(o, "\r\n");
    if (r->extra.len)
        buf_append(o, r->extra.data, r->extra.len);
    if (c->closing)
        buf_puts(o, "Connection: close\r\n");
    else if (r->head.minor == 0)
        buf_puts(o, "Connection: keep-alive\r\n");
    buf_puts(o, "\r\n");
    return buf_failed(o) ? -1 : 0;
}

/* The response is complete: the connection is free for the next request. */
void req_end(http_req_t *r)
{
    conn_t *c = r->c;
    c->req = NULL;
    c->busy = false;
    if (c->srv->draining)
        c->closing = true;
    req_free(r);
    flush_from_caller(c);
    if (!c->dead && !c->lingering && in_len(c) && !c->depth)
        event_active(&c->ev, EV_READ, 0); /* a pipelined request is waiting */
}

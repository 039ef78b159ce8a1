/* stream.c - sends one planned answer: headers, timed SSE events, faults, and the client-abort
 * bookkeeping. One timer per request drives delays, keep-alives and the cut. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event_struct.h>
#include <event2/keyvalq_struct.h>

#include "fake.h"

#define KEEPALIVE_EVERY_MS 200

/* ---- faults ---- */

static const struct {
    const char *name;
    fake_fault_t f;
} g_faults[] = {
    {"none", FAULT_NONE},
    {"401", FAULT_401},
    {"402", FAULT_402},
    {"422", FAULT_422},
    {"429", FAULT_429},
    {"500", FAULT_500},
    {"503", FAULT_503},
    {"html502", FAULT_HTML502},
    {"slow_first_byte", FAULT_SLOW_FIRST_BYTE},
    {"keepalive", FAULT_KEEPALIVE},
    {"stall", FAULT_STALL},
    {"cut", FAULT_CUT},
    {"malformed", FAULT_MALFORMED},
    {"no_done", FAULT_NO_DONE},
    {"blank_lines", FAULT_BLANK_LINES},
};

int fake_fault_parse(const char *name, fake_fault_t *out)
{
    for (size_t i = 0; i < sizeof(g_faults) / sizeof(g_faults[0]); i++) {
        if (strcmp(name, g_faults[i].name) == 0) {
            *out = g_faults[i].f;
            return 0;
        }
    }
    return -1;
}

const char *fake_fault_name(fake_fault_t f)
{
    for (size_t i = 0; i < sizeof(g_faults) / sizeof(g_faults[0]); i++)
        if (g_faults[i].f == f)
            return g_faults[i].name;
    return "?";
}

int fake_fault_is_status(fake_fault_t f)
{
    return f >= FAULT_401 && f <= FAULT_HTML502;
}

int64_t now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- error responses ---- */

static const char *reason(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

void send_error(struct evhttp_request *req, int status, const char *type, const char *msg)
{
    json_t *e = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", msg, "type", type, "param",
                          "code", "invalid_request_error");
    char *js = json_dumps(e, JSON_COMPACT);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, js, strlen(js));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, reason(status), b);
    evbuffer_free(b);
    free(js);
    json_decref(e);
}

static const char g_html502[] =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n";

void send_status_fault(struct evhttp_request *req, fake_fault_t f, int retry_after, const char *key)
{
    char msg[160];
    switch (f) {
    case FAULT_401: {
        size_t n = key ? strlen(key) : 0;
        snprintf(msg, sizeof(msg), "Authentication Fails, Your api key: ****%s is invalid",
                 n > 4 ? key + n - 4
                 : key ? key
                       : "");
        send_error(req, 401, "authentication_error", msg);
        break;
    }
    case FAULT_402:
        send_error(req, 402, "unknown_error", "Insufficient Balance");
        break;
    case FAULT_422:
        send_error(req, 422, "invalid_request_error", "Invalid Parameters");
        break;
    case FAULT_429:
        snprintf(msg, sizeof(msg), "%d", retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", msg);
        send_error(req, 429, "rate_limit_error", "Rate Limit Reached");
        break;
    case FAULT_500:
        send_error(req, 500, "server_error", "Server Error");
        break;
    case FAULT_503:
        send_error(req, 503, "server_error", "Server Overloaded");
        break;
    case FAULT_HTML502: {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, g_html502, sizeof(g_html502) - 1);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/html");
        evhttp_send_reply(req, 502, "Bad Gateway", b);
        evbuffer_free(b);
        break;
    }
    default:
        send_error(req, 500, "server_error", "fake_upstream: not a status fault");
        break;
    }
}

/* ---- the per-request sender ---- */

typedef enum {
    PH_FIRST_BYTE, /* slow_first_byte: nothing sent yet */
    PH_KEEPALIVE,  /* headers sent, queue keep-alives */
    PH_STREAM,     /* sending events */
    PH_STALLED,    /* stall: waiting for the client to leave */
    PH_CUTTING,    /* cut: waiting for the output to drain, then close */
} phase_t;

typedef struct {
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event tick;
    struct evbuffer *out;
    plan_t plan;
    phase_t phase;
    size_t next;       /* next piece to send */
    int waited_ms;     /* keep-alive time spent */
    int delay_between; /* delay_ms between events, 0 once slow_first_byte/keepalive used it */
    int malformed_sent;
    int headers_sent;
    int64_t last_byte_ms;
    struct event watch; /* notices a client that hangs up while nothing is due to it */
    int watching;
    char key[96];
} sender_t;

static void on_tick(evutil_socket_t fd, short what, void *arg);

/* Stops listening for the client's close; call before the last write, which may free evcon. */
static void release_conn(sender_t *s)
{
    if (s->watching) {
        event_del(&s->watch);
        s->watching = 0;
    }
    if (s->evcon)
        evhttp_connection_set_closecb(s->evcon, NULL, NULL);
    s->evcon = NULL;
}

static void finish(sender_t *s, int completed)
{
    release_conn(s);
    event_del(&s->tick);
    if (s->watching)
        event_del(&s->watch);
    g_stats.active--;
    stats_key_active(s->key, -1);
    if (completed)
        g_stats.completed++;
    plan_free(&s->plan);
    evbuffer_free(s->out);
    free(s);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    sender_t *s = arg;
    (void)evcon;
    int64_t mono = now_mono_ms();
    g_stats.cancelled++;
    json_t *ev = json_pack("{s:s,s:I,s:I}", "key", s->key, "cancel_at_ms",
                           (json_int_t)now_real_ms(), "ms_after_last_byte",
                           (json_int_t)(s->last_byte_ms ? mono - s->last_byte_ms : -1));
    json_array_append_new(g_stats.cancel_events, ev);
    if (json_array_size(g_stats.cancel_events) > 100)
        json_array_remove(g_stats.cancel_events, 0);
    /* On a client EOF evhttp detaches the unfinished request from the dying connection; ending
     * it then frees it. On server shutdown the connection still owns it and frees it itself. */
    if (evhttp_request_get_connection(s->req) == NULL)
        evhttp_send_reply_end(s->req);
    s->evcon = NULL;
    finish(s, 0);
}

/* evhttp reads nothing while a request is being answered, so a client that leaves before the
 * first byte (slow_first_byte, a non-stream stall) or during a pause would only be noticed at the
 * next write. A read watch on the socket sees its EOF at once; closing the connection then runs
 * on_close, which counts the cancel. */
static void on_peer_readable(evutil_socket_t fd, short what, void *arg)
{
    sender_t *s = arg;
    (void)what;
    s->watching = 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        return; /* a pipelined request: not ours to read; stop watching */
    if (s->evcon)
        evhttp_connection_free(s->evcon); /* calls on_close, which frees s */
}

/* Events are small separate writes: without TCP_NODELAY, Nagle holds each one back until the
 * previous is acknowledged, and a delayed ACK turns delay_ms = 1 into ~40 ms per event on a
 * reused connection. A real streaming server sends each event at once. */
static void nodelay(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void watch_peer(sender_t *s, struct event_base *base)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0)
        return;
    event_assign(&s->watch, base, fd, EV_READ, on_peer_readable, s);
    event_add(&s->watch, NULL);
    s->watching = 1;
}

static void arm(sender_t *s, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(&s->tick, &tv);
}

static void send_buf(sender_t *s)
{
    evhttp_send_reply_chunk(s->req, s->out);
    s->last_byte_ms = now_mono_ms();
}

static void start_headers(sender_t *s, const char *ctype)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(s->req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(s->req, 200, "OK");
    s->headers_sent = 1;
    s->last_byte_ms = now_mono_ms();
}

static void begin_cut(sender_t *s)
{
    s->phase = PH_CUTTING;
    arm(s, 0);
}

/* Sends events until the plan ends, a delay is due, or a fault stops the stream. */
static void pump(sender_t *s)
{
    const plan_t *p = &s->plan;
    while (s->next < p->n_pieces) {
        if (p->fault == FAULT_STALL && s->next == (size_t)p->after) {
            s->phase = PH_STALLED;
            return;
        }
        if (p->fault == FAULT_CUT && s->next == (size_t)p->after) {
            begin_cut(s);
            return;
        }
        if (p->fault == FAULT_MALFORMED && s->next == (size_t)p->after && !s->malformed_sent) {
            evbuffer_add_printf(
                s->out, "data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"oops\"\n\n");
            send_buf(s);
            s->malformed_sent = 1;
        }
        wire_event(p, s->next++, s->out);
        if (p->fault == FAULT_BLANK_LINES)
            evbuffer_add(s->out, "\n", 1);
        send_buf(s);
        if (s->delay_between > 0 && s->next < p->n_pieces) {
            arm(s, s->delay_between);
            return;
        }
    }
    if (p->fault == FAULT_STALL) {
        s->phase = PH_STALLED;
        return;
    }
    if (p->fault == FAULT_CUT) {
        begin_cut(s);
        return;
    }
    if (p->fault != FAULT_NO_DONE) {
        evbuffer_add(s->out, "data: [DONE]\n\n", 14);
        send_buf(s);
    }
    release_conn(s);
    evhttp_send_reply_end(s->req);
    finish(s, 1);
}

static void send_body(sender_t *s)
{
    const plan_t *p = &s->plan;
    struct evkeyvalq *h = evhttp_request_get_output_headers(s->req);
    switch (p->fault) {
    case FAULT_STALL:
        s->phase = PH_STALLED;
        return;
    case FAULT_CUT: { /* promise the whole body, deliver half, close */
        struct evbuffer *body = evbuffer_new();
        wire_body(p, body);
        size_t n = evbuffer_get_length(body);
        char len[32];
        snprintf(len, sizeof(len), "%zu", n);
        evhttp_add_header(h, "Content-Type", "application/json");
        evhttp_add_header(h, "Content-Length", len);
        evhttp_send_reply_start(s->req, 200, "OK");
        evbuffer_remove_buffer(body, s->out, n / 2);
        evbuffer_free(body);
        send_buf(s);
        begin_cut(s);
        return;
    }
    case FAULT_MALFORMED: { /* a complete response whose JSON is cut in half */
        wire_body(p, s->out);
        size_t n = evbuffer_get_length(s->out);
        struct evbuffer *half = evbuffer_new();
        evbuffer_remove_buffer(s->out, half, n / 2);
        evhttp_add_header(h, "Content-Type", "application/json");
        release_conn(s);
        evhttp_send_reply(s->req, 200, "OK", half);
        evbuffer_free(half);
        finish(s, 1);
        return;
    }
    default:
        break;
    }
    if (p->fault == FAULT_BLANK_LINES)
        evbuffer_add(s->out, "\n\n\n", 3);
    wire_body(p, s->out);
    if (s->headers_sent) { /* keep-alives already went out chunked */
        send_buf(s);
        release_conn(s);
        evhttp_send_reply_end(s->req);
    } else {
        evhttp_add_header(h, "Content-Type", "application/json");
        release_conn(s);
        evhttp_send_reply(s->req, 200, "OK", s->out);
    }
    finish(s, 1);
}

static void keepalive_step(sender_t *s)
{
    if (s->waited_ms >= s->plan.delay_ms) {
        s->phase = PH_STREAM;
        if (s->plan.stream)
            pump(s);
        else
            send_body(s);
        return;
    }
    evbuffer_add(s->out, s->plan.stream ? ": keep-alive\n\n" : "\n", s->plan.stream ? 14 : 1);
    send_buf(s);
    int left = s->plan.delay_ms - s->waited_ms,
        ms = left < KEEPALIVE_EVERY_MS ? left : KEEPALIVE_EVERY_MS;
    s->waited_ms += ms;
    arm(s, ms);
}

/* First byte: headers, then keep-alives or the answer. */
static void begin(sender_t *s)
{
    const plan_t *p = &s->plan;
    if (p->fault == FAULT_KEEPALIVE) {
        s->phase = PH_KEEPALIVE;
        start_headers(s, p->stream ? "text/event-stream; charset=utf-8" : "application/json");
        keepalive_step(s);
        return;
    }
    s->phase = PH_STREAM;
    if (!p->stream) {
        send_body(s);
        return;
    }
    start_headers(s, "text/event-stream; charset=utf-8");
    pump(s);
}

static void cut_now(sender_t *s)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
    if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        arm(s, 1);
        return;
    }
    struct evhttp_connection *evcon = s->evcon;
    release_conn(s);
    g_stats.aborted++;
    finish(s, 0);
    evhttp_connection_free(evcon); /* frees the unfinished request too */
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sender_t *s = arg;
    (void)fd;
    (void)what;
    switch (s->phase) {
    case PH_FIRST_BYTE:
        begin(s);
        break;
    case PH_KEEPALIVE:
        keepalive_step(s);
        break;
    case PH_STREAM:
        pump(s);
        break;
    case PH_CUTTING:
        cut_now(s);
        break;
    case PH_STALLED:
        break;
    }
}

void stream_start(struct event_base *base, struct evhttp_request *req, plan_t *plan,
                  const char *key)
{
    sender_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->req = req;
    s->evcon = evhttp_request_get_connection(req);
    s->plan = *plan;
    memset(plan, 0, sizeof(*plan));
    s->out = evbuffer_new();
    snprintf(s->key, sizeof(s->key), "%s", key ? key : "");
    event_assign(&s->tick, base, -1, 0, on_tick, s);
    nodelay(s->evcon);
    g_stats.active++;
    stats_key_active(s->key, +1);
    evhttp_connection_set_closecb(s->evcon, on_close, s);
    watch_peer(s, base);

    int delay = s->plan.delay_ms;
    s->delay_between = delay;
    if (s->plan.fault == FAULT_SLOW_FIRST_BYTE || s->plan.fault == FAULT_KEEPALIVE)
        s->delay_between = 0;
    if (s->plan.fault == FAULT_SLOW_FIRST_BYTE && delay > 0) {
        s->phase = PH_FIRST_BYTE;
        arm(s, delay);
        return;
    }
    begin(s);
}

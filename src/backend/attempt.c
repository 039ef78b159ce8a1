/* attempt.c - one transfer on one upstream key: the answer's head, its body through the SSE
 * and chunk parsers, the first-token and idle deadlines, and how it ended as a result. */
#include "backend/attempt.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/chunk.h"
#include "backend/sse.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

struct attempt {
    att_spec_t s;
    xport_xfer_t xfer;
    bk_sink_t guard; /* what the chunk parser delivers to: it sees the first answer event */
    int status;
    bool sse, html;
    char retry_after[32];
    char ctype[128]; /* ATT_RAW: handed to the owner with the body */
    bool got_done;   /* [DONE] */
    bool stopped, failed, delivered, paused;
    bool bounded;      /* the first-token timer is the owner's deadline, until the head */
    bool deadline_hit; /* and it passed */
    int64_t start_ms;
    sse_parser_t parser;
    bk_chunk_state_t st;
    buf_t body;
    struct event *timer; /* first-token / idle deadline */
    pool_outcome_t outcome;
    bk_failure_t *f; /* once failed */
};

/* The attempt's key as logs name it (its key id), worked out only when a log line needs it. */
#define KEY_ID(a)                                                                                  \
    log_key_id((a)->s.key ? (a)->s.key : "", (a)->s.key ? strlen((a)->s.key) : 0,                  \
               (char[LOG_KEY_ID_SIZE]){0})

static void arm_timer(attempt_t *a, long ms)
{
    if (ms <= 0) {
        evtimer_del(a->timer);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(a->timer, &tv);
}

/* Records why the attempt failed. Once the client has answer events, the failure goes
 * straight to it as an error event; before that, the owner decides (retry or report). */
static void fail(attempt_t *a, pool_outcome_t out, int status, const char *type, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
static void fail(attempt_t *a, pool_outcome_t out, int status, const char *type, const char *fmt,
                 ...)
{
    if (a->failed || a->stopped)
        return;
    a->failed = true;
    a->outcome = out;
    a->f = xcalloc(1, sizeof *a->f);
    a->f->status = status;
    a->f->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->f->msg, sizeof a->f->msg, fmt, ap);
    va_end(ap);
    if (a->delivered) {
        bk_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.type = BK_EV_ERROR;
        ev.error.status = status;
        ev.error.type = type;
        ev.error.message = slice_of(a->f->msg);
        a->s.sink->events(a->s.sink, &ev, 1);
    }
}

/* Between the chunk parser and the owner's sink: an error object in place of the first answer
 * event is the attempt's failure (worth another key), not the client's answer. */
static int guard_events(bk_sink_t *s, const bk_event_t *ev, int n)
{
    attempt_t *a = (attempt_t *)((char *)s - offsetof(attempt_t, guard));
    if (!a->delivered) {
        for (int i = 0; i < n; i++) {
            if (ev[i].type == BK_EV_ERROR) {
                fail(a, OUT_SERVER, 502, "api_error", "upstream error: %.*s",
                     (int)ev[i].error.message.len, ev[i].error.message.ptr);
                return -1;
            }
        }
        a->delivered = true;
    }
    return a->s.sink->events(a->s.sink, ev, n);
}

static int on_sse_data(void *ud, slice_t data)
{
    attempt_t *a = ud;
    if (slice_eq_cstr(data, "[DONE]")) {
        a->got_done = true;
        return 0;
    }
    if (a->got_done)
        return 0;
    arm_timer(a, a->s.lim->idle_timeout_ms);
    char why[160];
    int rc = bk_chunk_deliver(&a->st, data.ptr, data.len, &a->guard, why, sizeof why);
    if (rc == BK_CHUNK_STOP) {
        if (!a->failed)
            a->stopped = true;
        return 1;
    }
    if (rc == BK_CHUNK_MALFORMED) {
        log_warn("upstream %s key %s sent a malformed chunk (%s) after %d chunks", a->s.upstream,
                 KEY_ID(a), why, a->st.chunks);
        fail(a, OUT_SERVER, 502, "api_error", "upstream sent a malformed chunk: %s", why);
        return 1;
    }
    return 0;
}

/* An upstream's header value as far as it is one: up to the first control byte. Values go
 * into seekd's own answer heads (a relayed Content-Type), and a CR there would let an
 * upstream add headers of its choosing. Both transports' values pass through here. */
static slice_t header_value(slice_t v)
{
    size_t n = 0;
    while (n < v.len && ((unsigned char)v.ptr[n] >= 0x20 || v.ptr[n] == '\t') && v.ptr[n] != 0x7f)
        n++;
    return (slice_t){v.ptr ? v.ptr : "", n};
}

static void on_head(void *ud, int status, slice_t ctype, slice_t retry_after)
{
    ctype = header_value(ctype);
    retry_after = header_value(retry_after);
    attempt_t *a = ud;
    a->status = status;
    if (a->bounded) {
        /* the upstream answered: the owner's deadline is over, lim's first-token one goes on */
        a->bounded = false;
        long left = a->s.lim->first_token_timeout_ms - (long)(mono_ms() - a->start_ms);
        arm_timer(a, left > 0 ? left : 1);
    }
    a->sse = ctype.len >= 17 && strncasecmp(ctype.ptr, "text/event-stream", 17) == 0;
    a->html = ctype.len >= 9 && strncasecmp(ctype.ptr, "text/html", 9) == 0;
    slice_copy_cstr(a->retry_after, sizeof a->retry_after, retry_after);
    if (a->s.mode == ATT_RAW)
        slice_copy_cstr(a->ctype, sizeof a->ctype, ctype);
}

/* A piece of the answer's body. */
static int on_body(void *ud, const char *data, size_t len)
{
    attempt_t *a = ud;
    if (a->stopped || a->failed)
        return XP_STOP;
    bool ok = a->status >= 200 && a->status < 300;
    if (a->s.mode == ATT_ANSWER && ok && a->sse) {
        bk_sink_t *sink = a->s.sink;
        if (a->delivered && sink->writable && !sink->writable(sink)) {
            a->paused = true;
            evtimer_del(a->timer); /* a paused upstream is not an idle one */
            return XP_PAUSE;
        }
        int rc = sse_feed(&a->parser, data, len);
        if (rc == SSE_ETOOBIG) {
            fail(a, OUT_SERVER, 502, "api_error", "upstream sent an event larger than %zu bytes",
                 a->s.lim->max_event);
            return XP_STOP;
        }
        return rc ? XP_STOP : XP_TAKE;
    }
    /* whole bodies: a non-streamed answer, an error document, a GET result */
    if (buf_append(&a->body, data, len)) {
        fail(a, OUT_SERVER, 502, "api_error", "upstream answer exceeds %zu bytes", a->body.cap);
        return XP_STOP;
    }
    return XP_TAKE;
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

/* Classifies a non-2xx answer. An upstream's error envelope about the request itself (400,
 * 422, 429, 5xx), and any one when the client brought its own key, is the client's to hear as
 * the upstream said it: status and bytes unchanged. A server key the upstream refused
 * (401/403/402) is not the client's fault: that stays seekd's own 502 in its own words. */
static void fail_from_status(attempt_t *a)
{
    int st = a->status;
    bool bad_request = st == 400 || st == 404 || st == 413 || st == 422;
    bool client_key = a->s.client_key;
    bool server_key_refused = !client_key && (st == 401 || st == 403 || st == 402);
    pool_outcome_t out = bad_request              ? OUT_CLIENT
                         : st == 401 || st == 403 ? OUT_AUTH
                         : st == 402              ? OUT_NO_BALANCE
                         : st == 429              ? OUT_RATE_LIMIT
                                                  : OUT_SERVER;
    if (a->html) {
        fail(a, OUT_SERVER, 502, "api_error",
             "upstream answered %d with an HTML page (a proxy or firewall?)", st);
        return;
    }
    /* the answer's own reader (jr) serves error bodies too */
    slice_t body = buf_slice(&a->body);
    jr_doc_t *d = &a->st.doc;
    jr_val_t root = jr_parse(d, body.ptr, body.len, NULL, NULL);
    jr_val_t v = jr_get(d, jr_get(d, root, "error"), "message");
    if (!server_key_refused && st >= 400 && st <= 599 && jr_is(d, v, JR_STR) &&
        body.len <= sizeof a->f->raw) {
        slice_t m = jr_str(d, v);
        fail(a, out, st, "api_error", "%.*s", (int)m.len, m.ptr);
        memcpy(a->f->raw, body.ptr, body.len);
        a->f->raw_len = body.len;
        return;
    }
    slice_t m = bad_request ? SLICE_LIT("invalid request") : SLICE_LIT("no message");
    if (jr_is(d, v, JR_STR))
        m = jr_str(d, v);
    else if (jr_is(d, (v = jr_get(d, root, "message")), JR_STR) ||
             jr_is(d, (v = jr_get(d, root, "detail")), JR_STR))
        m = jr_str(d, v);
    int n = (int)m.len;
    const char *msg = m.ptr;
    if (server_key_refused) {
        /* The upstream's words name the server's key (DeepSeek's 401 quotes its last four
         * characters): they go to the log, which names the key by its id, and the client,
         * whose own key is not at fault, hears only what happened. */
        log_warn("upstream %s key %s refused with HTTP %d: %.*s", a->s.upstream, KEY_ID(a), st,
                 n > 200 ? 200 : n, msg);
        if (st == 402)
            fail(a, out, 502, "insufficient_balance",
                 "upstream key has no balance (HTTP 402 from the upstream)");
        else
            fail(a, out, 502, "authentication_error",
                 "upstream rejected the server's key (HTTP %d from the upstream)", st);
        return;
    }
    if (bad_request)
        fail(a, out, st, "invalid_request_error", "%.*s", n, msg);
    else if (st == 401 || st == 403)
        fail(a, out, client_key ? st : 502, "authentication_error",
             client_key ? "Authentication Fails: %.*s" : "upstream rejected the server's key: %.*s",
             n, msg);
    else if (st == 402)
        fail(a, out, client_key ? 402 : 502, "insufficient_balance",
             client_key ? "Insufficient Balance: %.*s" : "upstream key has no balance: %.*s", n,
             msg);
    else if (st == 429)
        fail(a, out, 429, "rate_limit_error", "Rate Limit Reached: %.*s", n, msg);
    else if (st == 503)
        fail(a, out, 503, "server_overloaded", "Server Overloaded: %.*s", n, msg);
    else
        fail(a, out, 502, "api_error", "upstream error %d: %.*s", st, n, msg);
}

static void attempt_free(attempt_t *a)
{
    xport_cancel(a->s.via, &a->xfer);
    sse_free(&a->parser);
    bk_chunk_state_free(&a->st);
    buf_free(&a->body);
    event_free(a->timer);
    free(a->f);
    free(a);
}

/* The attempt is over: its owner hears how, then it is freed. */
static void finish(attempt_t *a, const char *why)
{
    evtimer_del(a->timer);
    xport_cancel(a->s.via, &a->xfer); /* a deadline ends a transfer that still runs */
    att_result_t r = {
        .failed = a->failed,
        .delivered = a->delivered,
        .stopped = a->stopped,
        .unterminated = !a->failed && !a->stopped && a->sse && !a->got_done,
        .deadline = a->deadline_hit,
        .outcome = a->failed && !a->stopped ? a->outcome : OUT_OK,
        .retry_after_ms = parse_retry_after(a->retry_after),
        .status = a->status,
        .fail = a->failed ? a->f : NULL,
        .why = why,
    };
    if (a->s.mode == ATT_RAW) {
        r.content_type = slice_of(a->ctype);
        r.body = buf_slice(&a->body);
    }
    a->s.done(a->s.owner, &r);
    attempt_free(a);
}

/* The transfer ended; res says how, why in words. */
static void on_done(void *ud, xr_t res, const char *why)
{
    attempt_t *a = ud;
    if (a->s.mode == ATT_RAW) {
        /* an answer over its bound is a failed transfer, never a cut body handed on as whole */
        finish(a, a->failed ? a->f->msg : res == XR_OK ? NULL : why);
        return;
    }
    if (a->stopped || a->failed) {
        finish(a, NULL);
        return;
    }
    if (res != XR_OK && !(res == XR_PARTIAL && a->sse && a->st.chunks > 0)) {
        bool timeout = res == XR_TIMEOUT;
        bool connect = res == XR_CONNECT || (timeout && a->status == 0);
        fail(a, connect ? OUT_CONNECT : OUT_SERVER, timeout ? 504 : 502, "api_error",
             "upstream %s: %s", timeout ? "timed out" : "failed", why);
    } else if (a->status < 200 || a->status >= 300) {
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
        slice_t b = buf_slice(&a->body);
        size_t off = 0;
        while (off < b.len && strchr(" \r\n\t", b.ptr[off]))
            off++;
        char w[160];
        int rc = bk_chunk_deliver(&a->st, b.ptr + off, b.len - off, &a->guard, w, sizeof w);
        if (rc == BK_CHUNK_MALFORMED)
            fail(a, OUT_SERVER, 502, "api_error", "upstream answer is not valid: %s", w);
        else if (rc == BK_CHUNK_STOP && !a->failed)
            a->stopped = true;
        else if (rc == 0 && !a->st.finished)
            fail(a, OUT_SERVER, 502, "api_error", "upstream answer has no finish_reason");
    }
    finish(a, NULL);
}

static const xport_cbs_t xport_cbs = {on_head, on_body, on_done};

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    attempt_t *a = arg;
    bool first = a->st.chunks == 0;
    log_warn("upstream %s key %s: %s", a->s.upstream, KEY_ID(a),
             a->bounded ? "no answer before the request's deadline"
             : first    ? "first-token timeout"
                        : "idle timeout");
    if (a->bounded) {
        a->deadline_hit = true;
        fail(a, OUT_SERVER, 504, "api_error", "upstream sent no answer before the deadline");
        finish(a, NULL);
        return;
    }
    if (a->s.mode == ATT_RAW) {
        finish(a, "timed out");
        return;
    }
    fail(a, OUT_SERVER, 504, "api_error", "upstream %s",
         first ? "sent no answer in time (first-token timeout)"
               : "stalled mid-answer (idle timeout)");
    finish(a, NULL);
}

attempt_t *attempt_start(struct event_base *base, const att_spec_t *spec)
{
    attempt_t *a = xcalloc(1, sizeof *a);
    a->s = *spec;
    a->guard.events = guard_events;
    sse_init(&a->parser, spec->lim->max_event, on_sse_data, NULL, a);
    bk_chunk_state_init(&a->st);
    buf_init(&a->body, spec->mode == ATT_ANSWER ? spec->lim->max_answer : spec->lim->max_event);
    a->timer = evtimer_new(base, on_deadline, a);
    long first = spec->lim->first_token_timeout_ms;
    if (spec->first_byte_ms > 0 && (first <= 0 || spec->first_byte_ms < first)) {
        first = spec->first_byte_ms;
        a->bounded = true;
    }
    a->start_ms = mono_ms();
    arm_timer(a, first);
    xport_req_t rq = {
        .path = spec->path,
        .headers = spec->headers,
        .body = spec->body,
        .timeout_ms = spec->lim->total_timeout_ms,
    };
    xport_start(spec->via, &a->xfer, &rq, &xport_cbs, a);
    return a;
}

void attempt_resume(attempt_t *a)
{
    if (!a->paused)
        return;
    a->paused = false;
    arm_timer(a, a->s.lim->idle_timeout_ms);
    xport_resume(a->s.via, &a->xfer); /* may end the attempt: a is not touched after */
}

void attempt_cancel(attempt_t *a)
{
    attempt_free(a);
}

/* http_resp.c - writing responses: whole answers, streams (chunked or close-delimited) with
 * their backpressure (queued bytes, drain callback), ends and aborts. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http/http_internal.h"

void http_resp_header(http_req_t *r, const char *name, const char *value)
{
    /* a CR or LF in a value would split the response: cut it there. Reserved first, so the
     * header goes in whole or not at all (then the buffer is failed, and the head refused). */
    size_t n = strlen(name), v = strcspn(value, "\r\n");
    if (buf_reserve(&r->extra, n + v + 4))
        return;
    buf_append(&r->extra, name, n);
    buf_append(&r->extra, ": ", 2);
    buf_append(&r->extra, value, v);
    buf_append(&r->extra, "\r\n", 2);
}

/* Queues a whole response and ends the request; a response that does not fit whole drops
 * the connection instead (never half an answer). */
static void send_whole(http_req_t *r, int status, const char *ctype, const void *body, size_t len)
{
    conn_t *c = r->c;
    int rc = put_head(r, status, ctype, (long long)len);
    if (rc == 0 && len && !r->head_only)
        rc = buf_append(&c->out, body, len);
    if (rc) {
        http_resp_abort(r);
        return;
    }
    req_end(r);
}

void http_resp_send(http_req_t *r, int status, const char *content_type, const void *body,
                    size_t len)
{
    http_server_t *s = r->c->srv;
    if (len <= s->opts.max_output) {
        send_whole(r, status, content_type, body, len);
        return;
    }
    /* An answer over max_output is refused whole and a 500 of our own goes in its place,
     * without the handler's headers (they described the other answer). */
    char why[160];
    snprintf(why, sizeof why,
             "the response is too large (%zu bytes; this server sends at most %zu at once)", len,
             s->opts.max_output);
    buf_t eb;
    buf_init(&eb, 4096);
    const char *ctype = "text/plain; charset=utf-8";
    if (s->opts.error_body)
        ctype = s->opts.error_body(500, why, &eb);
    else
        buf_puts(&eb, why);
    if (buf_failed(&eb))
        buf_reset(&eb);
    buf_reset(&r->extra);
    send_whole(r, 500, ctype, eb.data ? eb.data : "", eb.len);
    buf_free(&eb);
}

void http_resp_start(http_req_t *r, int status, const char *content_type)
{
    http_resp_header(r, "Cache-Control", "no-cache");
    http_resp_header(r, "X-Accel-Buffering", "no");
    r->started = true;
    if (put_head(r, status, content_type, -1)) {
        /* the caller goes on writing: the loop drops the connection and the abort callback
         * ends the request, as for a socket that failed; nothing queued is ever sent */
        conn_fail_later(r->c);
        return;
    }
    /* the head leaves with the first write (one segment, one wake-up of the client), or at
     * the end of this loop pass if no write follows */
    event_active(&r->c->ev, EV_WRITE, 0);
}

bool http_resp_started(const http_req_t *r)
{
    return r->started;
}

size_t http_resp_queued(const http_req_t *r)
{
    return out_pending(r->c);
}

int http_resp_write(http_req_t *r, const void *data, size_t len)
{
    conn_t *c = r->c;
    /* A client is dropped for what it left unread, not for the size of what comes next: one
     * event larger than max_output (a long tool call, a big first chunk from a batch) still
     * reaches a client that keeps up. The api layer pauses its producer well below this. */
    if (out_pending(c) > c->srv->opts.max_output &&
        (c->dead || flush(c) < 0 || out_pending(c) > c->srv->opts.max_output)) {
        /* not merely unsent yet (writes leave at the end of the loop pass): the socket
         * refuses them */
        http_resp_abort(r);
        return HTTP_GONE;
    }
    if (len && !r->head_only) {
        out_compact(c); /* so a slow reader's buffer stays near max_output */
        if (len > SIZE_MAX / 4) {
            http_resp_abort(r);
            return HTTP_GONE;
        }
        if (len + 32 > c->out.cap - c->out.len)
            c->out.cap = c->out.len + len + 32; /* 32: chunk framing; back to normal once
                                                 * drained (flush) */
        if (r->chunked)
            buf_printf(&c->out, "%zx\r\n", len);
        buf_append(&c->out, data, len);
        if (r->chunked)
            buf_puts(&c->out, "\r\n");
        if (buf_failed(&c->out)) {
            http_resp_abort(r); /* a cut chunk would corrupt the stream: end it here */
            return HTTP_GONE;
        }
    }
    /* sent at the end of this loop pass: what else this pass writes (the next chunks, the
     * end of the stream) leaves in the same segment, and requests read in this pass reach
     * their upstream first */
    event_active(&c->ev, EV_WRITE, 0);
    return 0;
}

void http_resp_on_drain(http_req_t *r, size_t low, void (*cb)(void *ud), void *ud)
{
    r->drain_cb = cb;
    r->drain_ud = ud;
    r->drain_low = low;
    event_active(&r->c->ev, EV_WRITE, 0); /* checked after the next write, or at once */
}

void http_resp_end(http_req_t *r)
{
    if (r->chunked && !r->head_only && buf_puts(&r->c->out, "0\r\n\r\n")) {
        /* a stream without its last chunk is not complete: closing says so at once instead
         * of leaving the client waiting for it */
        http_resp_abort(r);
        return;
    }
    req_end(r);
}

void http_resp_abort(http_req_t *r)
{
    conn_t *c = r->c;
    c->req = NULL;
    c->busy = false;
    req_free(r);
    conn_destroy(c);
}

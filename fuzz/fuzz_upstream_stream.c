/* fuzz_upstream_stream.c - any bytes as an upstream's text/event-stream answer: parsed into
 * events and re-encoded both as a stream and as one completion. Whatever comes out must be
 * valid JSON (each data line, and the aggregate), and nothing may crash or leak. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/encode.h"
#include "backend/chunk.h"
#include "backend/sse.h"

typedef struct {
    bk_sink_t sink;
    api_enc_t enc;
    buf_t out;
    bk_chunk_state_t st;
} ctx_t;

static int on_events(bk_sink_t *s, const bk_event_t *ev, int n)
{
    ctx_t *c = (ctx_t *)s;
    for (int i = 0; i < n; i++)
        if (ev[i].type == BK_EV_ERROR)
            return -1;
    return api_enc_events(&c->enc, ev, n, &c->out);
}

static int on_data(void *ud, slice_t d)
{
    ctx_t *c = ud;
    if (slice_eq_cstr(d, "[DONE]"))
        return 0;
    char why[160];
    int rc = bk_chunk_deliver(&c->st, d.ptr, d.len, &c->sink, why, sizeof why);
    return rc == BK_CHUNK_STOP ? 1 : 0;
}

static void check_stream_output(const buf_t *b)
{
    const char *p = b->data ? b->data : "", *end = p + b->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            abort(); /* every event line is terminated */
        if (nl - p > 6 && memcmp(p, "data: {", 7) == 0) {
            json_t *j = json_loadb(p + 6, (size_t)(nl - p - 6), 0, NULL);
            if (!j)
                abort();
            json_decref(j);
        }
        p = nl + 1;
    }
}

static void run(const uint8_t *data, size_t size, bool stream)
{
    ctx_t c;
    memset(&c, 0, sizeof c);
    c.sink.events = on_events;
    api_enc_init(&c.enc, size & 1, stream, true, "id", "model", 1, 1 << 20);
    buf_init(&c.out, 4 << 20);
    bk_chunk_state_init(&c.st);
    sse_parser_t p;
    sse_init(&p, 1 << 20, on_data, NULL, &c);
    /* feed in two pieces to exercise carried-over lines */
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (sse_feed(&p, (const char *)data, cut) == 0 &&
        sse_feed(&p, (const char *)data + cut, size - cut) == 0)
        sse_finish(&p);
    if (stream) {
        check_stream_output(&c.out);
    } else if (api_enc_finish(&c.enc, &c.out) == 0) {
        json_t *j = json_loadb(c.out.data, c.out.len, 0, NULL);
        if (!j)
            abort();
        json_decref(j);
    }
    sse_free(&p);
    bk_chunk_state_free(&c.st);
    api_enc_free(&c.enc);
    buf_free(&c.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, true);
    run(data, size, false);
    return 0;
}

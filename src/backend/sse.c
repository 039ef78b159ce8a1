/* sse.c - line splitting and event assembly for text/event-stream. Fields other than data are
 * ignored (DeepSeek sends none); comments and blank lines are reported as signs of life. */
#include "backend/sse.h"

#include <string.h>

void sse_init(sse_parser_t *p, size_t max, sse_data_fn on_data, sse_idle_fn on_idle, void *ud)
{
    buf_init(&p->line, max);
    buf_init(&p->data, max);
    p->has_data = 0;
    p->on_data = on_data;
    p->on_idle = on_idle;
    p->ud = ud;
}

void sse_free(sse_parser_t *p)
{
    buf_free(&p->line);
    buf_free(&p->data);
}

static int dispatch(sse_parser_t *p)
{
    if (!p->has_data) {
        if (p->on_idle)
            p->on_idle(p->ud);
        return 0;
    }
    p->has_data = 0;
    int rc = p->on_data(p->ud, buf_slice(&p->data));
    buf_reset(&p->data);
    return rc;
}

static int handle_line(sse_parser_t *p, const char *s, size_t n)
{
    if (n == 0)
        return dispatch(p);
    if (s[0] == ':') {
        if (p->on_idle)
            p->on_idle(p->ud);
        return 0;
    }
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    if (flen != 4 || memcmp(s, "data", 4) != 0)
        return 0;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (p->has_data && buf_append(&p->data, "\n", 1))
        return SSE_ETOOBIG;
    if (buf_append(&p->data, v, vlen))
        return SSE_ETOOBIG;
    p->has_data = 1;
    return 0;
}

int sse_feed(sse_parser_t *p, const char *bytes, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* A \r\n split across feeds: the \r ended the line already; skip the \n. */
        if (p->line.len == 1 && p->line.data[0] == '\r') {
            buf_reset(&p->line);
            if (bytes[i] == '\n') {
                i++;
                continue;
            }
        }
        const char *nl = NULL;
        for (size_t j = i; j < n; j++) {
            if (bytes[j] == '\n' || bytes[j] == '\r') {
                nl = bytes + j;
                break;
            }
        }
        if (!nl) {
            if (buf_append(&p->line, bytes + i, n - i))
                return SSE_ETOOBIG;
            return 0;
        }
        size_t seg = (size_t)(nl - (bytes + i));
        int rc;
        if (p->line.len) {
            if (buf_append(&p->line, bytes + i, seg))
                return SSE_ETOOBIG;
            rc = handle_line(p, p->line.data, p->line.len);
            buf_reset(&p->line);
        } else {
            rc = handle_line(p, bytes + i, seg);
        }
        i += seg + 1;
        if (*nl == '\r') {
            if (i < n && bytes[i] == '\n')
                i++;
            else if (i == n && buf_append(&p->line, "\r", 1)) /* skip a following \n */
                return SSE_ETOOBIG;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int sse_finish(sse_parser_t *p)
{
    int rc = 0;
    if (p->line.len && !(p->line.len == 1 && p->line.data[0] == '\r'))
        rc = handle_line(p, p->line.data, p->line.len);
    buf_reset(&p->line);
    if (!rc && p->has_data)
        rc = dispatch(p);
    return rc;
}

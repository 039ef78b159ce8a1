/* fuzz_http_response.c - any bytes as what an upstream answers. http_parse_response_head on a
 * writable, exact-size copy of the head (when http_head_len finds one) returns 0 or -1, and on 0
 * gives the status of the status line (100..999) and only points inside the copy at
 * NUL-terminated strings. http_dechunk, on the whole input and on what follows the head, decodes
 * the same bytes, ends the same way (malformed, done or wanting more) and consumes the same
 * count whether the input arrives at once, in pieces cut where the data's hash says, or (small
 * inputs) a byte at a time; no step consumes more than it was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_parse.h"

static void check_str(const char *s, const char *b, size_t len, int nonempty)
{
    if (!s || s < b || s >= b + len)
        abort();
    if (!memchr(s, '\0', (size_t)(b + len - s)))
        abort();
    if (nonempty && !*s)
        abort();
}

static void check_head(const char *in, size_t hl)
{
    char *b = malloc(hl);
    memcpy(b, in, hl);
    http_head_t h;
    int rc = http_parse_response_head(b, hl, &h);
    if (rc != 0 && rc != -1)
        abort();
    if (rc == 0) {
        if (h.status < 100 || h.status > 999 || (h.minor != 0 && h.minor != 1))
            abort();
        /* the status line, after any leading empty lines, is "HTTP/1.<minor> <status>" */
        size_t p = 0;
        while (p < hl && (in[p] == '\r' || in[p] == '\n'))
            p++;
        if (hl - p < 12 || memcmp(in + p, "HTTP/1.", 7) != 0 || in[p + 7] != '0' + h.minor ||
            in[p + 8] != ' ')
            abort();
        int st = (in[p + 9] - '0') * 100 + (in[p + 10] - '0') * 10 + (in[p + 11] - '0');
        if (st != h.status)
            abort();
        if (h.method || h.target)
            abort();
        if (h.nhdrs < 0 || h.nhdrs > HTTP_MAX_HEADERS)
            abort();
        int conn = 0;
        for (int i = 0; i < h.nhdrs; i++) {
            check_str(h.hdrs[i].name, b, hl, 1);
            check_str(h.hdrs[i].value, b, hl, 0);
            const char *v = h.hdrs[i].value;
            size_t vl = strlen(v);
            if (vl && (v[0] == ' ' || v[0] == '\t' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                abort(); /* OWS is trimmed */
            for (size_t k = 0; k < vl; k++)
                if (((unsigned char)v[k] < ' ' && v[k] != '\t') || v[k] == 0x7f)
                    abort();
            conn |= strcasecmp(h.hdrs[i].name, "Connection") == 0;
        }
        if (h.content_length < -1 || (h.chunked && h.content_length != -1))
            abort();
        if (h.minor == 0 && h.keep_alive && !conn)
            abort(); /* HTTP/1.0 persists only when asked to */
    }
    free(b);
}

enum { END_NEED, END_DONE, END_BAD };

typedef struct {
    char *out; /* the decoded bytes (never more than the input) */
    size_t olen;
    size_t used; /* input bytes consumed, in all */
    int end;
    http_dechunk_t d;
} run_t;

/* Steps through the pending bytes in[*start..avail) like a caller: until the decoder wants
 * more, fails or is done; each step sees an exact-size copy of what is pending. */
static void steps(const char *in, size_t *start, size_t avail, size_t len, run_t *r)
{
    while (r->d.state != DC_DONE) {
        size_t plen = avail - *start;
        char *p = malloc(plen ? plen : 1);
        memcpy(p, in + *start, plen);
        const char *data = NULL;
        size_t dlen = SIZE_MAX;
        int was = r->d.state;
        long rc = http_dechunk(&r->d, p, plen, &data, &dlen);
        if (rc < -1 || (rc >= 0 && (size_t)rc > plen))
            abort();
        if (r->d.state < DC_SIZE || r->d.state > DC_DONE)
            abort();
        if (rc == -1) {
            r->end = END_BAD;
            free(p);
            return;
        }
        if (rc == 0) {
            /* nothing taken: no data, and a line still short of the limit */
            if (dlen != 0 || r->d.announced != 0 || r->d.state != was)
                abort();
            if (r->d.state != DC_DONE && plen > HTTP_CHUNK_LINE_MAX)
                abort();
            free(p);
            return;
        }
        if (dlen) { /* a span of data is all the step took */
            if (was != DC_DATA || data != p || dlen != (size_t)rc || r->olen + dlen > len)
                abort();
            memcpy(r->out + r->olen, data, dlen);
            r->olen += dlen;
        } else if (p[rc - 1] != '\n' || (size_t)rc > HTTP_CHUNK_LINE_MAX + 1) {
            abort(); /* a line ends with its LF, within the limit */
        }
        if (r->d.announced && (r->d.state != DC_DATA || r->d.left != r->d.announced))
            abort();
        if (r->d.state == DC_DATA && r->d.left == 0)
            abort();
        free(p);
        *start += (size_t)rc;
        r->used += (size_t)rc;
    }
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Decodes in[0..len), arriving whole (mode 0), in pieces of lengths drawn from seed (1) or a
 * byte at a time (2). */
static void feed(const char *in, size_t len, int mode, uint64_t seed, run_t *r)
{
    static const size_t scale[] = {2, 8, 64, HTTP_CHUNK_LINE_MAX + 2, 8192};
    memset(&r->d, 0, sizeof r->d);
    r->olen = r->used = 0;
    r->end = END_NEED;
    size_t start = 0, avail = 0;
    for (;;) {
        size_t piece = len;
        if (mode == 1) {
            uint64_t x = next_rand(&seed);
            piece = 1 + (size_t)((x >> 8) % scale[x % 5]);
        } else if (mode == 2) {
            piece = 1;
        }
        avail = len - avail <= piece ? len : avail + piece;
        steps(in, &start, avail, len, r);
        if (r->end != END_NEED || r->d.state == DC_DONE || avail == len)
            break;
    }
    if (r->used > len || start != r->used)
        abort();
    if (r->end == END_NEED && r->d.state == DC_DONE) {
        r->end = END_DONE;
        const char *data;
        size_t dlen;
        if (http_dechunk(&r->d, in + start, len - start, &data, &dlen) != 0 || dlen)
            abort(); /* once done, nothing more is taken */
    }
}

static void same(const run_t *a, const run_t *b)
{
    if (a->end != b->end || a->used != b->used || a->olen != b->olen ||
        memcmp(a->out, b->out, a->olen) != 0)
        abort();
    if (a->end == END_NEED && (a->d.state != b->d.state || a->d.left != b->d.left))
        abort();
}

static void check_dechunk(const char *in, size_t len)
{
    uint64_t seed = 0xcbf29ce484222325u; /* FNV-1a of the input */
    for (size_t i = 0; i < len; i++)
        seed = (seed ^ (unsigned char)in[i]) * 0x100000001b3u;
    seed |= 1;
    run_t whole, parts;
    whole.out = malloc(len ? len : 1);
    parts.out = malloc(len ? len : 1);
    feed(in, len, 0, 0, &whole);
    feed(in, len, 1, seed, &parts);
    same(&whole, &parts);
    feed(in, len, 1, seed * 0x9e3779b97f4a7c15u | 1, &parts);
    same(&whole, &parts);
    if (len <= 4096) {
        feed(in, len, 2, 0, &parts);
        same(&whole, &parts);
    }
    free(whole.out);
    free(parts.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t hl = http_head_len(in, size);
    if (hl > size)
        abort();
    if (hl)
        check_head(in, hl);
    check_dechunk(in, size);
    if (hl)
        check_dechunk(in + hl, size - hl); /* the body after the head */
    return 0;
}

/* test_http_parse.c - request heads (http/http_parse.c): where a head ends (CRLF, bare LF,
 * leading empty lines, never early), and what http_parse_head makes of it: request line,
 * header names and trimmed values, Content-Length, Transfer-Encoding, Connection, Expect, and
 * the exact status for every refused head (400, 431, 501, 505). Response heads
 * (http_parse_response_head: status line, shared field rules, refusals) and the chunked
 * decoder (http_dechunk: steps, announced sizes, extensions, trailers, every split of the
 * input, malformed codings and the line limit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_parse.h"

/* ---- http_head_len ---- */

typedef struct {
    const char *in;
    size_t want; /* 0: incomplete */
} len_case_t;

#define S(lit) lit, sizeof(lit) - 1

static const len_case_t LEN_CASES[] = {
    {"", 0},
    {"GET", 0},
    {"GET / HTTP/1.1", 0},
    {"GET / HTTP/1.1\r\n", 0},
    {"GET / HTTP/1.1\r\nHost: x\r\n", 0},
    {"GET / HTTP/1.1\r\nHost: x\r\n\r", 0},
    {"GET / HTTP/1.1\r\nHost: x", 0},
    /* complete: CRLF */
    {"GET / HTTP/1.1\r\n\r\n", 18},
    {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27},
    /* the body or a pipelined request after the head is not part of it */
    {"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY", 27},
    {"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 18},
    /* bare LF, and a mix of both */
    {"GET / HTTP/1.1\n\n", 16},
    {"GET / HTTP/1.1\nHost: x\n\nxyz", 24},
    {"GET / HTTP/1.1\r\nHost: x\n\r\n", 26},
    {"GET / HTTP/1.1\nHost: x\r\n\n", 25},
    /* leading empty lines count as part of the head */
    {"\r\nGET / HTTP/1.1\r\n\r\n", 20},
    {"\r\n\r\n\nGET / HTTP/1.1\r\n\r\n", 23},
    {"\n\nGET / HTTP/1.1\n\n", 18},
    /* only empty lines: no request yet */
    {"\r\n", 0},
    {"\r\n\r\n", 0},
    {"\n\n\n", 0},
    /* a CR that is not followed by LF does not end a line */
    {"GET / HTTP/1.1\r\nX: a\r\r\n\r\n", 25},
};

static void test_head_len(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof LEN_CASES / sizeof LEN_CASES[0]; i++) {
        const len_case_t *c = &LEN_CASES[i];
        size_t n = strlen(c->in);
        /* an exact-size copy, so that ASan sees any read past the end */
        char *b = malloc(n ? n : 1);
        memcpy(b, c->in, n);
        size_t got = http_head_len(b, n);
        if (got != c->want)
            fail_msg("case %zu (%s): head_len %zu, want %zu", i, c->in, got, c->want);
        /* a head is never found before all of it has arrived */
        size_t upto = c->want ? c->want : n;
        for (size_t k = 0; k < upto; k++) {
            got = http_head_len(b, k);
            if (got != 0)
                fail_msg("case %zu (%s): prefix %zu gives %zu, want 0", i, c->in, k, got);
        }
        free(b);
    }
}

/* ---- http_parse_head ---- */

typedef struct {
    const char *in;
    size_t len;
    int rc;
    const char *dump; /* when rc == 0 */
} parse_case_t;

/* A canonical text of a parsed head: "METHOD TARGET 1.<minor> cl=N te=B ka=B ex=B" then each
 * header as " [name=value]", bytes below 0x20 or above 0x7e written as \xNN. */
static void put_esc(char *out, size_t cap, size_t *o, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch > 0x7e)
            *o += (size_t)snprintf(out + *o, cap - *o, "\\x%02x", ch);
        else
            *o += (size_t)snprintf(out + *o, cap - *o, "%c", ch);
    }
}

static void dump_head(const http_head_t *h, char *out, size_t cap)
{
    size_t o = 0;
    put_esc(out, cap, &o, h->method);
    o += (size_t)snprintf(out + o, cap - o, " ");
    put_esc(out, cap, &o, h->target);
    o += (size_t)snprintf(out + o, cap - o, " 1.%d cl=%lld te=%d ka=%d ex=%d", h->minor,
                          (long long)h->content_length, h->chunked, h->keep_alive,
                          h->expect_continue);
    for (int i = 0; i < h->nhdrs; i++) {
        o += (size_t)snprintf(out + o, cap - o, " [");
        put_esc(out, cap, &o, h->hdrs[i].name);
        o += (size_t)snprintf(out + o, cap - o, "=");
        put_esc(out, cap, &o, h->hdrs[i].value);
        o += (size_t)snprintf(out + o, cap - o, "]");
    }
}

static bool inside(const char *p, const char *b, size_t len)
{
    return p >= b && p < b + len;
}

/* Parses an exact-size copy of in[0..len) (ASan sees any access past it) and checks that the
 * strings of a parsed head lie inside the copy and end there. Returns the copy (free it). */
static char *parse(const char *in, size_t len, http_head_t *h, int *rc)
{
    char *b = malloc(len);
    memcpy(b, in, len);
    /* every case is exactly one complete head */
    assert_int_equal(http_head_len(b, len), len);
    *rc = http_parse_head(b, len, h);
    if (*rc == 0) {
        const char *strs[2 + 2 * HTTP_MAX_HEADERS];
        int n = 0;
        strs[n++] = h->method;
        strs[n++] = h->target;
        assert_true(h->nhdrs >= 0 && h->nhdrs <= HTTP_MAX_HEADERS);
        for (int i = 0; i < h->nhdrs; i++) {
            strs[n++] = h->hdrs[i].name;
            strs[n++] = h->hdrs[i].value;
        }
        for (int i = 0; i < n; i++) {
            assert_true(inside(strs[i], b, len));
            assert_non_null(memchr(strs[i], '\0', (size_t)(b + len - strs[i])));
        }
        assert_true(*h->method && *h->target);
        for (int i = 0; i < h->nhdrs; i++)
            assert_true(*h->hdrs[i].name);
    }
    return b;
}

typedef char *(*parse_fn)(const char *in, size_t len, http_head_t *h, int *rc);
typedef void (*dump_fn)(const http_head_t *h, char *out, size_t cap);

/* Each case's return code, and for a parsed head its dump, against what it should be. */
static void run_cases(const parse_case_t *cases, size_t n, parse_fn parse_one, dump_fn dump)
{
    for (size_t i = 0; i < n; i++) {
        const parse_case_t *c = &cases[i];
        http_head_t h;
        int rc;
        char *b = parse_one(c->in, c->len, &h, &rc);
        if (rc != c->rc)
            fail_msg("case %zu (%.*s): rc %d, want %d", i, (int)c->len, c->in, rc, c->rc);
        if (rc == 0) {
            char got[4096];
            dump(&h, got, sizeof got);
            if (strcmp(got, c->dump) != 0)
                fail_msg("case %zu:\n got  %s\n want %s", i, got, c->dump);
        }
        free(b);
    }
}

static void run_parse_cases(const parse_case_t *cases, size_t n)
{
    run_cases(cases, n, parse, dump_head);
}

#define OK(lit, d)                                                                                 \
    {                                                                                              \
        S(lit), 0, d                                                                               \
    }
#define BAD(lit, status)                                                                           \
    {                                                                                              \
        S(lit), status, NULL                                                                       \
    }

static void test_request_line(void **state)
{
    (void)state;
    static const parse_case_t cases[] = {
        OK("GET /ping HTTP/1.1\r\n\r\n", "GET /ping 1.1 cl=-1 te=0 ka=1 ex=0"),
        OK("POST /chat/completions?a=1&b=%20 HTTP/1.0\n\n",
           "POST /chat/completions?a=1&b=%20 1.0 cl=-1 te=0 ka=0 ex=0"),
        OK("OPTIONS * HTTP/1.1\r\n\r\n", "OPTIONS * 1.1 cl=-1 te=0 ka=1 ex=0"),
        /* methods are tokens, case-sensitive, kept as sent */
        OK("get / HTTP/1.1\r\n\r\n", "get / 1.1 cl=-1 te=0 ka=1 ex=0"),
        OK("M-SEARCH /x HTTP/1.1\r\n\r\n", "M-SEARCH /x 1.1 cl=-1 te=0 ka=1 ex=0"),
        /* an absolute-form target; bytes above 0x7e are not refused in the target */
        OK("GET http://h:1/a?b HTTP/1.1\r\n\r\n", "GET http://h:1/a?b 1.1 cl=-1 te=0 ka=1 ex=0"),
        OK("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", "GET /caf\\xc3\\xa9 1.1 cl=-1 te=0 ka=1 ex=0"),
        /* leading empty lines are skipped */
        OK("\r\n\r\nGET / HTTP/1.1\r\n\r\n", "GET / 1.1 cl=-1 te=0 ka=1 ex=0"),
        OK("\nHEAD /ping HTTP/1.0\n\n", "HEAD /ping 1.0 cl=-1 te=0 ka=0 ex=0"),
        /* versions */
        BAD("GET / HTTP/2.0\r\n\r\n", 505),
        BAD("GET / HTTP/1.2\r\n\r\n", 505),
        BAD("GET / HTTP/0.9\r\n\r\n", 505),
        BAD("GET / HTTP/9.9\r\n\r\n", 505),
        BAD("GET / HTTX/1.1\r\n\r\n", 400),
        BAD("GET / http/1.1\r\n\r\n", 400),
        BAD("GET / HTTP/1.1x\r\n\r\n", 400),
        BAD("GET / HTTP/1.10\r\n\r\n", 400),
        BAD("GET / HTTP/1\r\n\r\n", 400),
        BAD("GET / HTTP/1.\r\n\r\n", 400),
        BAD("GET / HTTP/a.1\r\n\r\n", 400),
        BAD("GET / HTTP/1.1 \r\n\r\n", 400),
        BAD("GET / garbage\r\n\r\n", 400),
        BAD("GET /\r\n\r\n", 400),
        BAD("GET\r\n\r\n", 400),
        /* separators: exactly one SP each, no other whitespace */
        BAD("GET  / HTTP/1.1\r\n\r\n", 400),
        BAD("GET /  HTTP/1.1\r\n\r\n", 400),
        BAD("GET\t/ HTTP/1.1\r\n\r\n", 400),
        BAD(" GET / HTTP/1.1\r\n\r\n", 400),
        BAD("G(T / HTTP/1.1\r\n\r\n", 400),
        BAD("GET /a\x01z HTTP/1.1\r\n\r\n", 400),
        BAD("GET /a\x7fz HTTP/1.1\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\rX\r\n\r\n", 400),
        BAD("hello world\r\n\r\n", 400),
    };
    run_parse_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_headers(void **state)
{
    (void)state;
    static const parse_case_t cases[] = {
        OK("GET / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=1 ex=0 [Host=example.com] [Accept=*/*]"),
        /* OWS around the value is trimmed; inside it is kept; names as sent */
        OK("GET / HTTP/1.1\r\nx-A:   spaced  value \t \r\nB:\tv\t\r\nC:v\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=1 ex=0 [x-A=spaced  value] [B=v] [C=v]"),
        OK("GET / HTTP/1.1\nX-Tab: a\tb\nEmpty:\nBlank:   \n\n",
           "GET / 1.1 cl=-1 te=0 ka=1 ex=0 [X-Tab=a\\x09b] [Empty=] [Blank=]"),
        /* a colon in the value, token characters in names, obs-text in values */
        OK("GET / HTTP/1.1\r\nHost: h:8080\r\n!#$%&'*+-.^_`|~09: z\r\nU: caf\xc3\xa9\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=1 ex=0 [Host=h:8080] [!#$%&'*+-.^_`|~09=z] "
           "[U=caf\\xc3\\xa9]"),
        /* repeated headers are all kept, in order */
        OK("GET / HTTP/1.1\r\nA: 1\r\nA: 2\r\n\r\n", "GET / 1.1 cl=-1 te=0 ka=1 ex=0 [A=1] [A=2]"),
        /* obsolete line folding */
        BAD("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400),
        /* whitespace before the colon (a smuggling classic), bad names */
        BAD("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nContent-Length\t: 5\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\n: x\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nX(y): z\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nX\xc3\xa9: z\r\n\r\n", 400),
        /* control bytes in a value: a lone CR, other C0 bytes, DEL */
        BAD("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nX: a\r\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400),
        /* NUL anywhere */
        BAD("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400),
        BAD("GET /\0 HTTP/1.1\r\n\r\n", 400),
        BAD("GET / HTTP/1.1\r\nX\0: b\r\n\r\n", 400),
    };
    run_parse_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_content_length(void **state)
{
    (void)state;
    static const parse_case_t cases[] = {
        OK("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n",
           "POST / 1.1 cl=12 te=0 ka=1 ex=0 [Content-Length=12]"),
        OK("POST / HTTP/1.1\r\ncontent-length:0\r\n\r\n",
           "POST / 1.1 cl=0 te=0 ka=1 ex=0 [content-length=0]"),
        OK("POST / HTTP/1.1\r\nCONTENT-LENGTH:  007 \r\n\r\n",
           "POST / 1.1 cl=7 te=0 ka=1 ex=0 [CONTENT-LENGTH=007]"),
        OK("POST / HTTP/1.1\r\nContent-Length: 1000000000000000000\r\n\r\n",
           "POST / 1.1 cl=1000000000000000000 te=0 ka=1 ex=0 "
           "[Content-Length=1000000000000000000]"),
        /* the same length twice is one length */
        OK("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
           "POST / 1.1 cl=5 te=0 ka=1 ex=0 [Content-Length=5] [content-length=5]"),
        BAD("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 00\r\nContent-Length: "
            "1\r\n\r\n",
            400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 5a\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 1.0\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length:   \r\n\r\n", 400),
        /* overflow of int64 */
        BAD("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 18446744073709551621\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 100000000000000000000000000000000005\r\n\r\n", 400),
    };
    run_parse_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_transfer_encoding(void **state)
{
    (void)state;
    static const parse_case_t cases[] = {
        OK("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
           "POST / 1.1 cl=-1 te=1 ka=1 ex=0 [Transfer-Encoding=chunked]"),
        OK("POST / HTTP/1.1\r\ntransfer-encoding: CHUNKED \r\n\r\n",
           "POST / 1.1 cl=-1 te=1 ka=1 ex=0 [transfer-encoding=CHUNKED]"),
        OK("POST / HTTP/1.1\r\nTRANSFER-ENCODING:Chunked\r\n\r\n",
           "POST / 1.1 cl=-1 te=1 ka=1 ex=0 [TRANSFER-ENCODING=Chunked]"),
        /* other codings, alone or stacked under chunked */
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501),
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501),
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 501),
        /* chunked twice is chunked applied twice: refused like any other stacking */
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            501),
        /* both framings, in either order: refused */
        BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        BAD("POST / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: Chunked\r\n\r\n", 400),
    };
    run_parse_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_connection_and_expect(void **state)
{
    (void)state;
    static const parse_case_t cases[] = {
        /* HTTP/1.1: persistent unless close */
        OK("GET / HTTP/1.1\r\n\r\n", "GET / 1.1 cl=-1 te=0 ka=1 ex=0"),
        OK("GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=0 ex=0 [Connection=close]"),
        OK("GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=0 ex=0 [Connection=CLOSE]"),
        OK("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=1 ex=0 [Connection=keep-alive]"),
        OK("GET / HTTP/1.1\r\nConnection: Upgrade,  close ,x\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=0 ex=0 [Connection=Upgrade,  close ,x]"),
        OK("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=0 ex=0 [Connection=keep-alive] [Connection=close]"),
        /* tokens, not substrings */
        OK("GET / HTTP/1.1\r\nConnection: closed, xclose\r\n\r\n",
           "GET / 1.1 cl=-1 te=0 ka=1 ex=0 [Connection=closed, xclose]"),
        /* HTTP/1.0: closes unless keep-alive (and no close) */
        OK("GET / HTTP/1.0\r\n\r\n", "GET / 1.0 cl=-1 te=0 ka=0 ex=0"),
        OK("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
           "GET / 1.0 cl=-1 te=0 ka=1 ex=0 [Connection=keep-alive]"),
        OK("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n",
           "GET / 1.0 cl=-1 te=0 ka=1 ex=0 [connection=Keep-Alive]"),
        OK("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
           "GET / 1.0 cl=-1 te=0 ka=0 ex=0 [Connection=keep-alive, close]"),
        OK("GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n",
           "GET / 1.0 cl=-1 te=0 ka=0 ex=0 [Connection=keep-alives]"),
        /* Expect */
        OK("POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
           "POST / 1.1 cl=3 te=0 ka=1 ex=1 [Content-Length=3] [Expect=100-continue]"),
        OK("POST / HTTP/1.1\r\nexpect:  100-Continue \r\n\r\n",
           "POST / 1.1 cl=-1 te=0 ka=1 ex=1 [expect=100-Continue]"),
        OK("POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n",
           "POST / 1.1 cl=-1 te=0 ka=1 ex=0 [Expect=200-ok]"),
        OK("POST / HTTP/1.1\r\nExpect: 100-continuex\r\n\r\n",
           "POST / 1.1 cl=-1 te=0 ka=1 ex=0 [Expect=100-continuex]"),
    };
    run_parse_cases(cases, sizeof cases / sizeof cases[0]);
}

/* A head with n headers "Hk: vk". */
static char *many_headers(int n, size_t *len)
{
    size_t cap = 64 + (size_t)n * 32;
    char *s = malloc(cap);
    size_t o = (size_t)snprintf(s, cap, "GET /many HTTP/1.1\r\n");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(s + o, cap - o, "H%d: v%d\r\n", i, i);
    o += (size_t)snprintf(s + o, cap - o, "\r\n");
    *len = o;
    return s;
}

static void test_header_count(void **state)
{
    (void)state;
    size_t len;
    http_head_t h;
    int rc;

    char *s = many_headers(HTTP_MAX_HEADERS, &len);
    char *b = parse(s, len, &h, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(h.nhdrs, HTTP_MAX_HEADERS);
    assert_string_equal(h.hdrs[0].name, "H0");
    assert_string_equal(h.hdrs[0].value, "v0");
    assert_string_equal(h.hdrs[99].name, "H99");
    assert_string_equal(h.hdrs[99].value, "v99");
    free(b);
    free(s);

    s = many_headers(HTTP_MAX_HEADERS + 1, &len);
    b = parse(s, len, &h, &rc);
    assert_int_equal(rc, 431);
    free(b);
    free(s);

    s = many_headers(1000, &len);
    b = parse(s, len, &h, &rc);
    assert_int_equal(rc, 431);
    free(b);
    free(s);
}

/* The parser resets its output: nothing of an earlier head leaks into the next one. */
static void test_reuse(void **state)
{
    (void)state;
    http_head_t h;
    int rc;
    char *b =
        parse(S("POST / HTTP/1.1\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n"), &h, &rc);
    assert_int_equal(rc, 0);
    free(b);
    b = parse(S("GET /b HTTP/1.1\r\n\r\n"), &h, &rc);
    assert_int_equal(rc, 0);
    char got[256];
    dump_head(&h, got, sizeof got);
    assert_string_equal(got, "GET /b 1.1 cl=-1 te=0 ka=1 ex=0");
    free(b);
    /* a refused head leaves content_length at -1 */
    b = parse(S("GET / HTTP/2.0\r\n\r\n"), &h, &rc);
    assert_int_equal(rc, 505);
    assert_int_equal(h.content_length, -1);
    assert_int_equal(h.nhdrs, 0);
    free(b);
}

/* ---- http_parse_response_head ---- */

/* A canonical text of a parsed response head: "STATUS 1.<minor> cl=N te=B ka=B" then each
 * header as " [name=value]". */
static void dump_resp(const http_head_t *h, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "%d 1.%d cl=%lld te=%d ka=%d", h->status, h->minor,
                                (long long)h->content_length, h->chunked, h->keep_alive);
    for (int i = 0; i < h->nhdrs; i++) {
        o += (size_t)snprintf(out + o, cap - o, " [");
        put_esc(out, cap, &o, h->hdrs[i].name);
        o += (size_t)snprintf(out + o, cap - o, "=");
        put_esc(out, cap, &o, h->hdrs[i].value);
        o += (size_t)snprintf(out + o, cap - o, "]");
    }
}

/* Like parse, for a response head. */
static char *parse_resp(const char *in, size_t len, http_head_t *h, int *rc)
{
    char *b = malloc(len);
    memcpy(b, in, len);
    assert_int_equal(http_head_len(b, len), len);
    *rc = http_parse_response_head(b, len, h);
    if (*rc == 0) {
        assert_true(h->status >= 100 && h->status <= 999);
        assert_null(h->method);
        assert_null(h->target);
        assert_true(h->nhdrs >= 0 && h->nhdrs <= HTTP_MAX_HEADERS);
        for (int i = 0; i < h->nhdrs; i++) {
            const char *strs[2] = {h->hdrs[i].name, h->hdrs[i].value};
            for (int k = 0; k < 2; k++) {
                assert_true(inside(strs[k], b, len));
                assert_non_null(memchr(strs[k], '\0', (size_t)(b + len - strs[k])));
            }
            assert_true(*h->hdrs[i].name);
        }
    }
    return b;
}

static void run_resp_cases(const parse_case_t *cases, size_t n)
{
    run_cases(cases, n, parse_resp, dump_resp);
}

static void test_response_status_line(void **state)
{
    (void)state;
    static const parse_case_t cases[] = {
        OK("HTTP/1.1 200 OK\r\n\r\n", "200 1.1 cl=-1 te=0 ka=1"),
        OK("HTTP/1.1 500 Internal Server Error\r\n\r\n", "500 1.1 cl=-1 te=0 ka=1"),
        OK("HTTP/1.1 404 Not Found\n\n", "404 1.1 cl=-1 te=0 ka=1"),
        /* an empty reason, and a missing one (with its space) */
        OK("HTTP/1.1 204 \r\n\r\n", "204 1.1 cl=-1 te=0 ka=1"),
        OK("HTTP/1.1 200\r\n\r\n", "200 1.1 cl=-1 te=0 ka=1"),
        OK("HTTP/1.0 200\n\n", "200 1.0 cl=-1 te=0 ka=0"),
        /* a reason with odd spacing and obs-text is skipped, whatever it says */
        OK("HTTP/1.1 200  O K \r\n\r\n", "200 1.1 cl=-1 te=0 ka=1"),
        OK("HTTP/1.1 200 caf\xc3\xa9\r\n\r\n", "200 1.1 cl=-1 te=0 ka=1"),
        /* every three-digit code from 100 up */
        OK("HTTP/1.1 100 Continue\r\n\r\n", "100 1.1 cl=-1 te=0 ka=1"),
        OK("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
           "101 1.1 cl=-1 te=0 ka=1 [Upgrade=websocket]"),
        OK("HTTP/1.1 599 x\r\n\r\n", "599 1.1 cl=-1 te=0 ka=1"),
        OK("HTTP/1.1 999 x\r\n\r\n", "999 1.1 cl=-1 te=0 ka=1"),
        /* leading empty lines are skipped, as before a request */
        OK("\r\nHTTP/1.1 200 OK\r\n\r\n", "200 1.1 cl=-1 te=0 ka=1"),
        /* versions */
        BAD("HTTP/2 200\r\n\r\n", -1),
        BAD("HTTP/2.0 200 OK\r\n\r\n", -1),
        BAD("HTTP/1.2 200 OK\r\n\r\n", -1),
        BAD("HTTP/0.9 200 OK\r\n\r\n", -1),
        BAD("HTTP/1.10 200 OK\r\n\r\n", -1),
        BAD("HTTP/1. 200 OK\r\n\r\n", -1),
        BAD("HTTP/1 200 OK\r\n\r\n", -1),
        BAD("http/1.1 200 OK\r\n\r\n", -1),
        BAD("ICY 200 OK\r\n\r\n", -1),
        BAD(" HTTP/1.1 200 OK\r\n\r\n", -1),
        /* the status: exactly three digits, 100 or more, one SP before it */
        BAD("HTTP/1.1 20 OK\r\n\r\n", -1),
        BAD("HTTP/1.1 2000 OK\r\n\r\n", -1),
        BAD("HTTP/1.1 2000\r\n\r\n", -1),
        BAD("HTTP/1.1 099 x\r\n\r\n", -1),
        BAD("HTTP/1.1 000 x\r\n\r\n", -1),
        BAD("HTTP/1.1 20x OK\r\n\r\n", -1),
        BAD("HTTP/1.1 -20 OK\r\n\r\n", -1),
        BAD("HTTP/1.1 +20 OK\r\n\r\n", -1),
        BAD("HTTP/1.1  200 OK\r\n\r\n", -1),
        BAD("HTTP/1.1\t200 OK\r\n\r\n", -1),
        BAD("HTTP/1.1 200\tOK\r\n\r\n", -1),
        BAD("HTTP/1.1 200\r\r\n\r\n", -1),
        BAD("HTTP/1.1 \r\n\r\n", -1),
        BAD("HTTP/1.1\r\n\r\n", -1),
        BAD("HTTP/1.1 OK\r\n\r\n", -1),
        /* NUL anywhere */
        BAD("HTTP/1.1 2\0000 OK\r\n\r\n", -1),
        BAD("HTTP/1.1 200 O\0K\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", -1),
        /* a request is not a response */
        BAD("GET / HTTP/1.1\r\n\r\n", -1),
    };
    run_resp_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_response_fields(void **state)
{
    (void)state;
    static const parse_case_t cases[] = {
        OK("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 42\r\n\r\n",
           "200 1.1 cl=42 te=0 ka=1 [Content-Type=application/json] [Content-Length=42]"),
        OK("HTTP/1.1 200 OK\r\ncontent-length:  0 \r\n\r\n",
           "200 1.1 cl=0 te=0 ka=1 [content-length=0]"),
        OK("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 007\r\n\r\n",
           "200 1.1 cl=7 te=0 ka=1 [Content-Length=7] [Content-Length=007]"),
        OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
           "200 1.1 cl=-1 te=1 ka=1 [Transfer-Encoding=chunked]"),
        OK("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n",
           "200 1.1 cl=-1 te=1 ka=1 [transfer-encoding=Chunked]"),
        /* persistence: HTTP/1.1 unless close; HTTP/1.0 only with keep-alive (and no close) */
        OK("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
           "200 1.1 cl=-1 te=0 ka=0 [Connection=close]"),
        OK("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n",
           "200 1.1 cl=-1 te=0 ka=1 [Connection=keep-alive]"),
        OK("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\n\r\n",
           "200 1.1 cl=-1 te=0 ka=0 [Connection=Upgrade, Close]"),
        OK("HTTP/1.0 200 OK\r\n\r\n", "200 1.0 cl=-1 te=0 ka=0"),
        OK("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
           "200 1.0 cl=3 te=0 ka=0 [Content-Length=3]"),
        OK("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
           "200 1.0 cl=-1 te=0 ka=1 [Connection=keep-alive]"),
        OK("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nConnection: close\r\n\r\n",
           "200 1.0 cl=-1 te=0 ka=0 [Connection=Keep-Alive] [Connection=close]"),
        OK("HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\n\r\n",
           "200 1.0 cl=-1 te=0 ka=0 [Keep-Alive=timeout=5]"),
        /* OWS trimmed, names as sent, repeated fields kept in order */
        OK("HTTP/1.1 200 OK\nX-A: \t a b \t\nx-a:\n\n", "200 1.1 cl=-1 te=0 ka=1 [X-A=a b] [x-a=]"),
        /* both framings, in either order */
        BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", -1),
        /* codings other than (one) chunked */
        BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            -1),
        BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", -1),
        /* Content-Length values */
        BAD("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", -1),
        /* obsolete line folding */
        BAD("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\n X: a\r\n\r\n", -1),
        /* whitespace before the colon, bad or missing names */
        BAD("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding\t: chunked\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nX Y: z\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\n: z\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", -1),
        /* control bytes in values */
        BAD("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", -1),
        BAD("HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n", -1),
    };
    run_resp_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_response_limits_and_reuse(void **state)
{
    (void)state;
    http_head_t h;
    int rc;
    for (int n = HTTP_MAX_HEADERS; n <= HTTP_MAX_HEADERS + 1; n++) {
        size_t len;
        /* the request head of many_headers with a status line for its request line */
        char *req = many_headers(n, &len);
        static const char sl[] = "HTTP/1.1 200 OK\r\n";
        const size_t rl = sizeof "GET /many HTTP/1.1\r\n" - 1;
        char *s = malloc(len);
        memcpy(s, sl, sizeof sl - 1);
        memcpy(s + sizeof sl - 1, req + rl, len - rl);
        len = len - rl + sizeof sl - 1;
        free(req);
        char *b = parse_resp(s, len, &h, &rc);
        assert_int_equal(rc, n == HTTP_MAX_HEADERS ? 0 : -1);
        if (rc == 0) {
            assert_int_equal(h.nhdrs, HTTP_MAX_HEADERS);
            assert_string_equal(h.hdrs[99].name, "H99");
        }
        free(b);
        free(s);
    }
    /* nothing of an earlier head (request or response) leaks into the next */
    char *b =
        parse(S("POST / HTTP/1.1\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n"), &h, &rc);
    assert_int_equal(rc, 0);
    free(b);
    b = parse_resp(S("HTTP/1.1 204 No Content\r\n\r\n"), &h, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(h.status, 204);
    assert_int_equal(h.content_length, -1);
    assert_int_equal(h.nhdrs, 0);
    assert_false(h.expect_continue);
    free(b);
    b = parse_resp(S("HTTP/1.1 999 x\r\nTransfer-Encoding: chunked\r\n\r\n"), &h, &rc);
    assert_int_equal(rc, 0);
    free(b);
    b = parse_resp(S("HTTP/1.0 200 OK\r\n\r\n"), &h, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(h.status, 200);
    assert_false(h.chunked);
    free(b);
}

/* ---- http_dechunk ---- */

enum { END_NEED, END_DONE, END_BAD };

typedef struct {
    char out[8192]; /* the decoded bytes */
    size_t olen;
    size_t used; /* input bytes consumed, in all */
    int end;     /* END_NEED, END_DONE or END_BAD */
    http_dechunk_t d;
} dc_run_t;

/* Decodes in[0..len) the way a caller does: the input arrives in pieces that end at cuts[0..n)
 * (ascending, each below len) and at len; a caller keeps the bytes not consumed yet, appends
 * the next piece and steps until the decoder wants more, fails, or is done. Each step sees an
 * exact-size copy of the pending bytes, so that ASan sees any read past them. */
static void dechunk_feed(const char *in, size_t len, const size_t *cuts, size_t ncuts, dc_run_t *r)
{
    memset(r, 0, sizeof *r);
    size_t start = 0; /* in[start..avail) is pending */
    for (size_t k = 0; k <= ncuts && r->end == END_NEED; k++) {
        size_t avail = k < ncuts ? cuts[k] : len;
        assert_true(avail >= start && avail <= len);
        while (r->d.state != DC_DONE) {
            size_t plen = avail - start;
            char *p = malloc(plen ? plen : 1);
            memcpy(p, in + start, plen);
            const char *data = NULL;
            size_t dlen = 99;
            long rc = http_dechunk(&r->d, p, plen, &data, &dlen);
            if (rc < 0) {
                assert_int_equal(rc, -1);
                r->end = END_BAD;
                free(p);
                break;
            }
            assert_true((size_t)rc <= plen);
            if (rc == 0) {
                assert_int_equal(dlen, 0);
                free(p);
                break;
            }
            if (dlen) { /* a span of data is all that the step consumed */
                assert_ptr_equal(data, p);
                assert_int_equal(dlen, (size_t)rc);
                assert_true(r->olen + dlen <= sizeof r->out);
                memcpy(r->out + r->olen, data, dlen);
                r->olen += dlen;
            }
            free(p);
            start += (size_t)rc;
            r->used += (size_t)rc;
        }
        if (r->end == END_NEED && r->d.state == DC_DONE) {
            r->end = END_DONE;
            /* once done, nothing more is consumed */
            const char *data;
            size_t dlen;
            assert_int_equal(http_dechunk(&r->d, in + start, len - start, &data, &dlen), 0);
            assert_int_equal(dlen, 0);
        }
    }
}

static void dechunk_whole(const char *in, size_t len, dc_run_t *r)
{
    dechunk_feed(in, len, NULL, 0, r);
}

static void dechunk_bytewise(const char *in, size_t len, dc_run_t *r)
{
    size_t *cuts = malloc((len ? len : 1) * sizeof *cuts);
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    dechunk_feed(in, len, cuts, len ? len - 1 : 0, r);
    free(cuts);
}

static void expect_decoded(const char *in, size_t len, const char *want, size_t wlen, size_t used)
{
    static dc_run_t r;
    dechunk_whole(in, len, &r);
    if (r.end != END_DONE)
        fail_msg("%.*s: end %d, want done", (int)len, in, r.end);
    assert_int_equal(r.used, used);
    assert_int_equal(r.olen, wlen);
    assert_memory_equal(r.out, want, wlen);
    dechunk_bytewise(in, len, &r);
    assert_int_equal(r.end, END_DONE);
    assert_int_equal(r.used, used);
    assert_int_equal(r.olen, wlen);
    assert_memory_equal(r.out, want, wlen);
}

/* One step at a time: what each returns, the data it gives, what a size line announces. */
static void test_dechunk_steps(void **state)
{
    (void)state;
    static const char in[] = "5\r\nhello\r\n1a;x=y\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: "
                             "1\r\n\r\nNEXT";
    static const struct {
        long rc;
        const char *data; /* NULL: a line */
        uint64_t announced;
        int state;
    } steps[] = {
        {3, NULL, 5, DC_DATA},
        {5, "hello", 0, DC_DATA_END},
        {2, NULL, 0, DC_SIZE},
        {8, NULL, 26, DC_DATA},
        {26, "abcdefghijklmnopqrstuvwxyz", 0, DC_DATA_END},
        {2, NULL, 0, DC_SIZE},
        {3, NULL, 0, DC_TRAILER},
        {6, NULL, 0, DC_TRAILER},
        {2, NULL, 0, DC_DONE},
        {0, NULL, 0, DC_DONE},
        {0, NULL, 0, DC_DONE},
    };
    http_dechunk_t d = {0};
    size_t pos = 0, len = sizeof in - 1;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        const char *data = NULL;
        size_t dlen = 99;
        d.announced = 12345; /* reset by every step */
        long rc = http_dechunk(&d, in + pos, len - pos, &data, &dlen);
        if (rc != steps[i].rc)
            fail_msg("step %zu: rc %ld, want %ld", i, rc, steps[i].rc);
        assert_int_equal(d.state, steps[i].state);
        assert_int_equal(d.announced, steps[i].announced);
        if (steps[i].data) {
            assert_ptr_equal(data, in + pos);
            assert_int_equal(dlen, strlen(steps[i].data));
            assert_memory_equal(data, steps[i].data, dlen);
        } else {
            assert_int_equal(dlen, 0);
        }
        pos += (size_t)rc;
    }
    assert_string_equal(in + pos, "NEXT");

    /* data arriving in parts is given as it comes; the chunk's remainder is tracked */
    memset(&d, 0, sizeof d);
    const char *data;
    size_t dlen;
    assert_int_equal(http_dechunk(&d, "a\r\n0123", 7, &data, &dlen), 3);
    assert_int_equal(d.announced, 10);
    assert_int_equal(d.left, 10);
    assert_int_equal(http_dechunk(&d, "0123", 4, &data, &dlen), 4);
    assert_int_equal(dlen, 4);
    assert_int_equal(d.left, 6);
    assert_int_equal(d.announced, 0);
    assert_int_equal(http_dechunk(&d, "456789\r\n", 8, &data, &dlen), 6);
    assert_int_equal(dlen, 6);
    assert_int_equal(d.state, DC_DATA_END);
    /* an incomplete line, and no input at all, consume nothing */
    assert_int_equal(http_dechunk(&d, "\r", 1, &data, &dlen), 0);
    assert_int_equal(http_dechunk(&d, "", 0, &data, &dlen), 0);
    assert_int_equal(d.state, DC_DATA_END);
    assert_int_equal(http_dechunk(&d, "\r\n", 2, &data, &dlen), 2);
    assert_int_equal(d.state, DC_SIZE);
    assert_int_equal(http_dechunk(&d, "1F", 2, &data, &dlen), 0);
    assert_int_equal(d.announced, 0);
    assert_int_equal(d.state, DC_SIZE);

    /* announced sizes: hex of either case, leading zeros, the largest size there is */
    static const struct {
        const char *line;
        uint64_t size;
    } sizes[] = {
        {"1\r\n", 1},
        {"f\r\n", 15},
        {"F\r\n", 15},
        {"ff\r\n", 255},
        {"Ff\n", 255},
        {"10\r\n", 16},
        {"aBcDeF\r\n", 0xabcdef},
        {"000000000000000000000000001\r\n", 1},
        {"7fffffffffffffff\r\n", INT64_MAX},
        {"FFFFFFFFFFFFFFFF\r\n", UINT64_MAX},
        {"0ffffffffffffffff\r\n", UINT64_MAX},
        {"5;foo=bar\r\n", 5},
        {"5 ;foo\r\n", 5},
        {"5\t;foo\r\n", 5},
        {"5 \t\r\n", 5},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset(&d, 0, sizeof d);
        size_t n = strlen(sizes[i].line);
        long rc = http_dechunk(&d, sizes[i].line, n, &data, &dlen);
        if (rc != (long)n || d.announced != sizes[i].size || d.left != sizes[i].size ||
            d.state != DC_DATA)
            fail_msg("size line %zu: rc %ld announced %llu state %d", i, rc,
                     (unsigned long long)d.announced, d.state);
    }
    /* a last chunk announces 0 and moves to the trailers */
    memset(&d, 0, sizeof d);
    assert_int_equal(http_dechunk(&d, "000;z\r\n", 7, &data, &dlen), 7);
    assert_int_equal(d.announced, 0);
    assert_int_equal(d.state, DC_TRAILER);
}

static void test_dechunk_bodies(void **state)
{
    (void)state;
    /* several chunks */
#define DC(in, want, used) expect_decoded(S(in), S(want), used)
    DC("5\r\nhello\r\n6\r\n world\r\n1\r\n!\r\n0\r\n\r\n", "hello world!", 32);
    /* the smallest body, and bytes after the end that are not part of it */
    DC("0\r\n\r\n", "", 5);
    DC("0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "", 5);
    DC("3\r\nabc\r\n0\r\n\r\n0\r\n\r\n", "abc", 13);
    /* bare LF line ends */
    DC("3\nabc\n0\n\n", "abc", 9);
    /* chunk extensions */
    DC("5;foo=bar\r\nhello\r\n0\r\n\r\n", "hello", 23);
    DC("5;foo=\"a;b\\\"c\";bar\r\nhello\r\n0;last=1\r\n\r\n", "hello", 39);
    DC("5 ; foo = bar\r\nhello\r\n0\r\n\r\n", "hello", 27);
    /* upper and lower case hex */
    DC("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij", 35);
    DC("1f\r\n0123456789abcdefghijklmnopqrstu\r\n1F\r\n0123456789ABCDEFGHIJKLMNOPQRSTU\r\n0\r\n\r"
       "\n",
       "0123456789abcdefghijklmnopqrstu0123456789ABCDEFGHIJKLMNOPQRSTU", 79);
    /* data holding CR, LF, NUL and what looks like chunk syntax */
    DC("9\r\n\r\n0\r\n\r\n\0\xff\r\n0\r\n\r\n", "\r\n0\r\n\r\n\0\xff", 19);
    /* trailers, then the end */
    DC("3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n", "abc", 39);
    DC("0\r\nT: 1\n\r\nrest", "", 10);
#undef DC
}

/* The same encoded body, cut in two at every place and fed byte by byte, decodes the same and
 * ends in the same place; every proper prefix of it decodes to a prefix and wants more. */
static void test_dechunk_splits(void **state)
{
    (void)state;
    static const char body[] = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\nb\r\n"
                               " 0\r\n\r\nX\r\n00\r\n0\r\nTrailer: a\r\nT2: b\r\n\r\n";
    static const char want[] = "helloabcdefghijklmnopqrstuvwxyz 0\r\n\r\nX\r\n00";
    static const char after[] = "HTTP/1.1 200 OK\r\n\r\n";
    const size_t blen = sizeof body - 1, wlen = sizeof want - 1;
    char in[sizeof body + sizeof after];
    memcpy(in, body, blen);
    memcpy(in + blen, after, sizeof after - 1);
    const size_t len = blen + sizeof after - 1;

    static dc_run_t r;
    dechunk_whole(in, len, &r);
    assert_int_equal(r.end, END_DONE);
    assert_int_equal(r.used, blen);
    assert_int_equal(r.olen, wlen);
    assert_memory_equal(r.out, want, wlen);

    for (size_t cut = 0; cut <= len; cut++) {
        dechunk_feed(in, len, &cut, 1, &r);
        if (r.end != END_DONE || r.used != blen || r.olen != wlen || memcmp(r.out, want, wlen) != 0)
            fail_msg("cut at %zu: end %d used %zu olen %zu", cut, r.end, r.used, r.olen);
    }
    dechunk_bytewise(in, len, &r);
    assert_int_equal(r.end, END_DONE);
    assert_int_equal(r.used, blen);
    assert_int_equal(r.olen, wlen);
    assert_memory_equal(r.out, want, wlen);

    for (size_t k = 0; k < blen; k++) {
        dechunk_whole(in, k, &r);
        if (r.end != END_NEED || r.olen > wlen || memcmp(r.out, want, r.olen) != 0)
            fail_msg("prefix %zu: end %d olen %zu", k, r.end, r.olen);
        static dc_run_t r2;
        dechunk_bytewise(in, k, &r2);
        if (r2.end != END_NEED || r2.olen != r.olen || memcmp(r2.out, r.out, r.olen) != 0 ||
            r2.used != r.used || r2.d.state != r.d.state || r2.d.left != r.d.left)
            fail_msg("prefix %zu bytewise: end %d olen %zu used %zu (whole %zu)", k, r2.end,
                     r2.olen, r2.used, r.used);
    }
}

static void test_dechunk_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* no size digits */
        "\r\n",
        "\n",
        ";foo=bar\r\nhello\r\n0\r\n\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
        "\t5\r\n",
        /* garbage after the size */
        "5x\r\nhello\r\n0\r\n\r\n",
        "5\r\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "5=1\r\n",
        "5,1\r\n",
        "x\r\n",
        "g\r\n",
        "-1\r\n",
        "+5\r\n",
        "5\r\nhello\r\n0 0\r\n",
        "5 x\r\nhello\r\n0\r\n\r\n",
        "5 5\r\nhello\r\n0\r\n\r\n",
        "5\tfoo=bar\r\n",
        "5 \t =bar\r\n",
        /* not an empty line after the data */
        "5\r\nhelloX\r\n0\r\n\r\n",
        "5\r\nhelloworld\r\n0\r\n\r\n",
        "5\r\nhello\r\r\n0\r\n\r\n",
        "5\r\nhello \r\n0\r\n\r\n",
        "3\r\nabc\r\n3\r\ndef0\r\n\r\n",
        /* sizes of 2^64 and more */
        "10000000000000000\r\n",
        "FFFFFFFFFFFFFFFF0\r\n",
        "1fffffffffffffffffffffffffff\r\n",
        "5\r\nhello\r\n10000000000000000\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static dc_run_t r;
        size_t len = strlen(bad[i]);
        dechunk_whole(bad[i], len, &r);
        if (r.end != END_BAD)
            fail_msg("case %zu (%s): end %d, want malformed", i, bad[i], r.end);
        static dc_run_t r2;
        dechunk_bytewise(bad[i], len, &r2);
        if (r2.end != END_BAD || r2.olen != r.olen || r2.used != r.used)
            fail_msg("case %zu (%s) bytewise: end %d olen %zu used %zu", i, bad[i], r2.end, r2.olen,
                     r2.used);
    }
    /* a first step that fails consumes nothing and gives nothing */
    http_dechunk_t d = {0};
    const char *data;
    size_t dlen = 99;
    assert_int_equal(http_dechunk(&d, "5x\r\n", 4, &data, &dlen), -1);
    assert_int_equal(dlen, 0);
}

/* A text of n bytes: prefix, then fill bytes, then suffix (malloc'd). */
static char *line_of(const char *prefix, char fill, size_t n, const char *suffix, size_t *len)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    assert_true(n >= pl);
    char *s = malloc(n + sl + 1);
    memcpy(s, prefix, pl);
    memset(s + pl, fill, n - pl);
    memcpy(s + n, suffix, sl + 1);
    *len = n + sl;
    return s;
}

/* A line may hold HTTP_CHUNK_LINE_MAX bytes before its LF (a CR counted among them). */
static void test_dechunk_line_limit(void **state)
{
    (void)state;
    static dc_run_t r;
    size_t len;
    char *s;

    /* a chunk-size line at the limit: with CRLF, and with a bare LF */
    s = line_of("5;e", 'e', HTTP_CHUNK_LINE_MAX - 1, "\r\nhello\r\n0\r\n\r\n", &len);
    expect_decoded(s, len, "hello", 5, len);
    free(s);
    s = line_of("5;e", 'e', HTTP_CHUNK_LINE_MAX, "\nhello\r\n0\r\n\r\n", &len);
    expect_decoded(s, len, "hello", 5, len);
    free(s);
    /* one byte more */
    s = line_of("5;e", 'e', HTTP_CHUNK_LINE_MAX, "\r\nhello\r\n0\r\n\r\n", &len);
    dechunk_whole(s, len, &r);
    assert_int_equal(r.end, END_BAD);
    dechunk_bytewise(s, len, &r);
    assert_int_equal(r.end, END_BAD);
    free(s);
    s = line_of("5;e", 'e', HTTP_CHUNK_LINE_MAX + 1, "\nhello\r\n0\r\n\r\n", &len);
    dechunk_whole(s, len, &r);
    assert_int_equal(r.end, END_BAD);
    free(s);

    /* without an LF: up to the limit it may still come, past it the line is refused */
    http_dechunk_t d = {0};
    const char *data;
    size_t dlen;
    s = line_of("5;", 'e', HTTP_CHUNK_LINE_MAX + 1, "", &len);
    assert_int_equal(http_dechunk(&d, s, HTTP_CHUNK_LINE_MAX, &data, &dlen), 0);
    assert_int_equal(d.state, DC_SIZE);
    assert_int_equal(http_dechunk(&d, s, HTTP_CHUNK_LINE_MAX + 1, &data, &dlen), -1);
    free(s);
    s = line_of("1", '0', 4 * HTTP_CHUNK_LINE_MAX, "", &len); /* digits only, no LF */
    memset(&d, 0, sizeof d);
    assert_int_equal(http_dechunk(&d, s, len, &data, &dlen), -1);
    free(s);

    /* trailer lines: at the limit, and over it */
    s = line_of("0\r\nX: ", 'v', 3 + HTTP_CHUNK_LINE_MAX - 1, "\r\n\r\n", &len);
    expect_decoded(s, len, "", 0, len);
    free(s);
    s = line_of("0\r\nX: ", 'v', 3 + HTTP_CHUNK_LINE_MAX, "\r\n\r\n", &len);
    dechunk_whole(s, len, &r);
    assert_int_equal(r.end, END_BAD);
    dechunk_bytewise(s, len, &r);
    assert_int_equal(r.end, END_BAD);
    free(s);
    /* a long run of data after a chunk, where its CRLF should be */
    s = line_of("1\r\nx", 'y', 4 + HTTP_CHUNK_LINE_MAX + 10, "", &len);
    dechunk_whole(s, len, &r);
    assert_int_equal(r.end, END_BAD);
    assert_int_equal(r.olen, 1);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_len),
        cmocka_unit_test(test_request_line),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_transfer_encoding),
        cmocka_unit_test(test_connection_and_expect),
        cmocka_unit_test(test_header_count),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_response_status_line),
        cmocka_unit_test(test_response_fields),
        cmocka_unit_test(test_response_limits_and_reuse),
        cmocka_unit_test(test_dechunk_steps),
        cmocka_unit_test(test_dechunk_bodies),
        cmocka_unit_test(test_dechunk_splits),
        cmocka_unit_test(test_dechunk_malformed),
        cmocka_unit_test(test_dechunk_line_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

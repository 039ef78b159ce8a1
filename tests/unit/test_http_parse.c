/* test_http_parse.c - request heads (http/http_parse.c): where a head ends (CRLF, bare LF,
 * leading empty lines, never early), and what http_parse_head makes of it: request line,
 * header names and trimmed values, Content-Length, Transfer-Encoding, Connection, Expect, and
 * the exact status for every refused head (400, 431, 501, 505). */
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

static void run_parse_cases(const parse_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const parse_case_t *c = &cases[i];
        http_head_t h;
        int rc;
        char *b = parse(c->in, c->len, &h, &rc);
        if (rc != c->rc)
            fail_msg("case %zu (%.*s): rc %d, want %d", i, (int)c->len, c->in, rc, c->rc);
        if (rc == 0) {
            char got[4096];
            dump_head(&h, got, sizeof got);
            if (strcmp(got, c->dump) != 0)
                fail_msg("case %zu:\n got  %s\n want %s", i, got, c->dump);
        }
        free(b);
    }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_len),          cmocka_unit_test(test_request_line),
        cmocka_unit_test(test_headers),           cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_transfer_encoding), cmocka_unit_test(test_connection_and_expect),
        cmocka_unit_test(test_header_count),      cmocka_unit_test(test_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

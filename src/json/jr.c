/* jr.c - one-pass JSON reader into a reusable flat node array (see jr.h). Iterative, so
 * nesting costs an index per level on a fixed stack, never C recursion. */
#include "json/jr.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void jr_init(jr_doc_t *d)
{
    memset(d, 0, sizeof *d);
}

void jr_free(jr_doc_t *d)
{
    free(d->n);
    free(d->dec);
    memset(d, 0, sizeof *d);
}

/* Bytes that end the string scanner's fast loop. */
static inline bool special(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

typedef struct {
    jr_doc_t *d;
    const unsigned char *s;
    size_t len, pos;
    size_t dec_len;
    const char *err;
} parser_t;

static jr_val_t add_node(parser_t *p, jr_type_t type, size_t off, size_t len)
{
    jr_doc_t *d = p->d;
    if (d->count == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 64;
        d->n = xrealloc(d->n, (size_t)cap * sizeof *d->n);
        d->cap = cap;
    }
    jr_val_t v = (jr_val_t)d->count++;
    d->n[v] = (jr_node_t){
        .off = (uint32_t)off, .len = (uint32_t)len, .end = d->count, .type = (uint8_t)type};
    return v;
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return;
        p->pos++;
    }
}

/* Length of the valid UTF-8 sequence at s[0..n) that starts with a byte >= 0x80, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0) /* overlong */
            return 0;
        if (c == 0xed && s[1] >= 0xa0) /* UTF-16 surrogate */
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xf4 && s[1] >= 0x90) /* above U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], x;
        if (c >= '0' && c <= '9')
            x = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            x = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | x;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the rest of a string whose first escape is at p->pos; the bytes before it
 * (from start) are copied first. Decoded text is never longer than its source, so the
 * buffer reserved for the whole input cannot overflow. */
static int decode_string(parser_t *p, size_t start, jr_val_t v)
{
    jr_doc_t *d = p->d;
    if (!d->dec || d->dec_cap < p->len) {
        free(d->dec);
        d->dec = xmalloc(p->len);
        d->dec_cap = p->len;
    }
    char *o = d->dec + p->dec_len;
    size_t n = p->pos - start;
    memcpy(o, p->s + start, n);
    o += n;
    const unsigned char *s = p->s;
    for (;;) {
        if (p->pos >= p->len) {
            p->err = "unterminated string";
            return -1;
        }
        unsigned char c = s[p->pos];
        if (c == '"')
            break;
        if (c < 0x20) {
            p->err = "control character in string";
            return -1;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(s + p->pos, p->len - p->pos);
            if (!k) {
                p->err = "invalid UTF-8 in string";
                return -1;
            }
            memcpy(o, s + p->pos, k);
            o += k;
            p->pos += k;
            continue;
        }
        if (c != '\\') {
            *o++ = (char)c;
            p->pos++;
            continue;
        }
        if (p->pos + 1 >= p->len) {
            p->err = "unterminated string";
            return -1;
        }
        unsigned char e = s[p->pos + 1];
        p->pos += 2;
        switch (e) {
        case '"':
            *o++ = '"';
            continue;
        case '\\':
            *o++ = '\\';
            continue;
        case '/':
            *o++ = '/';
            continue;
        case 'b':
            *o++ = '\b';
            continue;
        case 'f':
            *o++ = '\f';
            continue;
        case 'n':
            *o++ = '\n';
            continue;
        case 'r':
            *o++ = '\r';
            continue;
        case 't':
            *o++ = '\t';
            continue;
        case 'u':
            break;
        default:
            p->pos -= 2;
            p->err = "invalid escape in string";
            return -1;
        }
        unsigned cp;
        if (p->pos + 4 > p->len || hex4(s + p->pos, &cp)) {
            p->pos -= 2;
            p->err = "invalid \\u escape";
            return -1;
        }
        p->pos += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            p->pos -= 6;
            p->err = "lone UTF-16 surrogate in \\u escape";
            return -1;
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo;
            if (p->pos + 6 > p->len || s[p->pos] != '\\' || s[p->pos + 1] != 'u' ||
                hex4(s + p->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                p->pos -= 6;
                p->err = "lone UTF-16 surrogate in \\u escape";
                return -1;
            }
            p->pos += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        o += put_utf8(o, cp);
    }
    size_t dlen = (size_t)(o - (d->dec + p->dec_len));
    d->n[v].off = (uint32_t)p->dec_len;
    d->n[v].len = (uint32_t)dlen;
    d->n[v].decoded = 1;
    p->dec_len += dlen;
    p->pos++; /* closing quote */
    return 0;
}

/* The first byte of s[pos..len) that special() flags, or len: eight bytes at a time where
 * the byte order allows. In each word a byte is flagged when it is a quote or a backslash
 * (zero after the xor), below 0x20, or 0x80 and up; the subtractions' borrows can only flag
 * bytes after a flagged one, so the lowest flag is exact. */
static size_t scan_plain(const unsigned char *s, size_t pos, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (len - pos >= 8) {
        uint64_t w;
        memcpy(&w, s + pos, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w;
        t &= highs;
        if (t)
            return pos + ((size_t)__builtin_ctzll(t) >> 3);
        pos += 8;
    }
#endif
    while (pos < len && !special(s[pos]))
        pos++;
    return pos;
}

/* p->pos is at the opening quote. */
static jr_val_t parse_string(parser_t *p)
{
    const unsigned char *s = p->s;
    size_t start = ++p->pos;
    for (;;) {
        p->pos = scan_plain(s, p->pos, p->len);
        if (p->pos >= p->len) {
            p->err = "unterminated string";
            return -1;
        }
        unsigned char c = s[p->pos];
        if (c == '"') {
            jr_val_t v = add_node(p, JR_STR, start, p->pos - start);
            p->pos++;
            return v;
        }
        if (c == '\\') {
            jr_val_t v = add_node(p, JR_STR, 0, 0);
            return decode_string(p, start, v) ? -1 : v;
        }
        if (c < 0x20) {
            p->err = "control character in string";
            return -1;
        }
        size_t k = utf8_seq(s + p->pos, p->len - p->pos);
        if (!k) {
            p->err = "invalid UTF-8 in string";
            return -1;
        }
        p->pos += k;
    }
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* One or more digits (a fraction's or an exponent's). */
static int skip_digits(parser_t *p)
{
    if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
        p->err = "invalid number";
        return -1;
    }
    while (p->pos < p->len && is_digit(p->s[p->pos]))
        p->pos++;
    return 0;
}

static jr_val_t parse_number(parser_t *p)
{
    const unsigned char *s = p->s;
    size_t start = p->pos;
    bool neg = false, real = false;
    if (s[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    if (p->pos >= p->len || !is_digit(s[p->pos])) {
        p->err = "invalid number";
        return -1;
    }
    /* the magnitude in uint64; overflow makes the literal a real */
    uint64_t mag = 0;
    bool big = false;
    if (s[p->pos] == '0') {
        p->pos++;
    } else {
        while (p->pos < p->len && is_digit(s[p->pos])) {
            unsigned dg = (unsigned)(s[p->pos++] - '0');
            if (mag > (UINT64_MAX - dg) / 10)
                big = true;
            else
                mag = mag * 10 + dg;
        }
    }
    if (p->pos < p->len && s[p->pos] == '.') {
        real = true;
        p->pos++;
        if (skip_digits(p))
            return -1;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        real = true;
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
            p->pos++;
        if (skip_digits(p))
            return -1;
    }
    if (!real && (big || mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)))
        real = true;
    return add_node(p, real ? JR_REAL : JR_INT, start, p->pos - start);
}

static int expect_word(parser_t *p, const char *w, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0) {
        p->err = "invalid literal";
        return -1;
    }
    p->pos += n;
    return 0;
}

/* Parses an object key and its colon; p->pos is at the first byte after '{' or ','. */
static int parse_key(parser_t *p)
{
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '"') {
        p->err = "expected a string key";
        return -1;
    }
    if (parse_string(p) < 0)
        return -1;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':') {
        p->err = "expected ':' after a key";
        return -1;
    }
    p->pos++;
    return 0;
}

jr_val_t jr_parse(jr_doc_t *d, const char *text, size_t len, const char **err, size_t *at)
{
    parser_t p = {.d = d, .s = (const unsigned char *)text, .len = len};
    jr_val_t stack[JR_MAX_DEPTH];
    int depth = 0;
    d->count = 0;
    d->src = text;
    d->src_len = len;
    if (len >= INT32_MAX) {
        p.err = "document too large";
        goto fail;
    }
    for (;;) {
        /* a value */
        skip_ws(&p);
        if (p.pos >= len) {
            p.err = "unexpected end of input";
            goto fail;
        }
        unsigned char c = p.s[p.pos];
        if (c == '{' || c == '[') {
            if (depth == JR_MAX_DEPTH) {
                p.err = "nesting too deep";
                goto fail;
            }
            stack[depth++] = add_node(&p, c == '{' ? JR_OBJ : JR_ARR, p.pos, 0);
            p.pos++;
            skip_ws(&p);
            if (p.pos < len && p.s[p.pos] == (c == '{' ? '}' : ']')) {
                p.pos++;
                depth--; /* empty: its end is already the next node */
            } else if (c == '{') {
                if (parse_key(&p))
                    goto fail;
                continue;
            } else {
                continue;
            }
        } else if (c == '"') {
            if (parse_string(&p) < 0)
                goto fail;
        } else if (c == '-' || is_digit(c)) {
            if (parse_number(&p) < 0)
                goto fail;
        } else if (c == 't') {
            if (expect_word(&p, "true", 4))
                goto fail;
            add_node(&p, JR_TRUE, 0, 0);
        } else if (c == 'f') {
            if (expect_word(&p, "false", 5))
                goto fail;
            add_node(&p, JR_FALSE, 0, 0);
        } else if (c == 'n') {
            if (expect_word(&p, "null", 4))
                goto fail;
            add_node(&p, JR_NULL, 0, 0);
        } else {
            p.err = "unexpected character";
            goto fail;
        }
        /* after a value: close containers or go on to the next element */
        for (;;) {
            if (depth == 0) {
                skip_ws(&p);
                if (p.pos != len) {
                    p.err = "trailing characters after the document";
                    goto fail;
                }
                return 0;
            }
            jr_node_t *top = &d->n[stack[depth - 1]];
            top->len++;
            skip_ws(&p);
            if (p.pos >= len) {
                p.err = "unexpected end of input";
                goto fail;
            }
            c = p.s[p.pos++];
            if (c == ',') {
                if (top->type == JR_OBJ && parse_key(&p))
                    goto fail;
                break;
            }
            if (c != (top->type == JR_OBJ ? '}' : ']')) {
                p.pos--;
                p.err = top->type == JR_OBJ ? "expected ',' or '}'" : "expected ',' or ']'";
                goto fail;
            }
            top->end = d->count;
            depth--;
        }
    }
fail:
    d->count = 0;
    if (err)
        *err = p.err;
    if (at)
        *at = p.pos;
    return -1;
}

jr_val_t jr_get(const jr_doc_t *d, jr_val_t obj, const char *key)
{
    if (!jr_is(d, obj, JR_OBJ))
        return -1;
    size_t klen = strlen(key);
    jr_val_t found = -1;
    uint32_t end = d->n[obj].end;
    for (uint32_t k = (uint32_t)obj + 1; k < end; k = d->n[k + 1].end) {
        const jr_node_t *kn = &d->n[k];
        if (kn->len != klen)
            continue;
        const char *ks = (kn->decoded ? d->dec : d->src) + kn->off;
        if (klen == 0 || (ks[0] == key[0] && memcmp(ks, key, klen) == 0))
            found = (jr_val_t)k + 1;
    }
    return found;
}

slice_t jr_str(const jr_doc_t *d, jr_val_t v)
{
    if (!jr_is(d, v, JR_STR))
        return (slice_t){"", 0};
    const jr_node_t *n = &d->n[v];
    return (slice_t){(n->decoded ? d->dec : d->src) + n->off, n->len};
}

double jr_num(const jr_doc_t *d, jr_val_t v)
{
    if (!jr_is_num(d, v))
        return 0;
    const jr_node_t *n = &d->n[v];
    if (n->type == JR_INT)
        return (double)jr_int(d, v);
    /* strtod needs a terminated copy; literals are short except in hostile input */
    char small[64];
    char *b = n->len < sizeof small ? small : xmalloc((size_t)n->len + 1);
    memcpy(b, d->src + n->off, n->len);
    b[n->len] = 0;
    double x = strtod(b, NULL);
    if (b != small)
        free(b);
    return x;
}

int64_t jr_int(const jr_doc_t *d, jr_val_t v)
{
    jr_type_t t = jr_type(d, v);
    if (t == JR_INT) {
        const jr_node_t *n = &d->n[v];
        const char *s = d->src + n->off;
        size_t i = s[0] == '-';
        uint64_t mag = 0;
        for (; i < n->len; i++)
            mag = mag * 10 + (uint64_t)(s[i] - '0');
        return s[0] == '-' ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    if (t == JR_REAL) {
        double x = jr_num(d, v);
        if (!(x > -9.2e18))
            return x != x ? 0 : INT64_MIN;
        return x < 9.2e18 ? (int64_t)x : INT64_MAX;
    }
    return 0;
}

/* ---- positions, for error reports ---- */

/* One past the scalar that starts at pos of a document that parsed: a string up to its
 * closing quote, a number or a literal up to the first byte that cannot be part of it. */
static size_t scalar_end(const char *s, size_t n, size_t pos)
{
    if (s[pos] == '"') {
        for (pos++; pos < n; pos++) {
            if (s[pos] == '\\')
                pos++;
            else if (s[pos] == '"')
                return pos + 1;
        }
        return n;
    }
    while (pos < n) {
        char c = s[pos];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '+' ||
              c == '-' || c == 'E'))
            break;
        pos++;
    }
    return pos;
}

int jr_span(const jr_doc_t *d, jr_val_t v, size_t *start, size_t *end)
{
    if (v < 0 || (uint32_t)v >= d->count)
        return -1;
    const char *s = d->src;
    size_t n = d->src_len, pos = 0;
    uint32_t idx = 0;
    long depth = 0, closes_at = -1; /* the depth whose close ends v, once v is a container */
    while (pos < n) {
        char c = s[pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':') {
            pos++;
            continue;
        }
        if (c == '}' || c == ']') {
            pos++;
            if (--depth == closes_at) {
                *end = pos;
                return 0;
            }
            continue;
        }
        /* a value starts here, and the parse numbered values in this order */
        bool hit = idx++ == (uint32_t)v;
        if (hit)
            *start = pos;
        if (c == '{' || c == '[') {
            if (hit)
                closes_at = depth;
            depth++;
            pos++;
            continue;
        }
        pos = scalar_end(s, n, pos);
        if (hit) {
            *end = pos;
            return 0;
        }
    }
    return -1;
}

void jr_line_col(const char *src, size_t off, size_t *line, size_t *col)
{
    size_t l = 1, sol = 0;
    for (size_t i = 0; i < off; i++) {
        if (src[i] == '\n') {
            l++;
            sol = i + 1;
        }
    }
    *line = l;
    *col = off - sol;
}

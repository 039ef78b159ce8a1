/* tok_decode.c - ids to text, whole or streamed, never splitting a UTF-8 character. */
#include <string.h>

#include "tokenizer/tok_internal.h"

static const char REPL[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Appends s[0..n) to out as valid UTF-8, replacing each maximal invalid subsequence by
 * U+FFFD (the Unicode / WHATWG rule). When !final, stops before an incomplete character at
 * the end and returns how many bytes were consumed; when final, consumes all. */
static size_t utf8_repair(const unsigned char *s, size_t n, bool final, buf_t *out, int *rc)
{
    size_t i = 0, run = 0; /* run: start of pending valid bytes not yet appended */
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 3;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            *rc |= buf_append(out, s + run, i - run);
            *rc |= buf_append(out, REPL, 3);
            run = ++i;
            continue;
        }
        size_t j = 1;
        bool bad = false;
        for (; j < need; j++) {
            if (i + j >= n) {
                if (!final) {
                    *rc |= buf_append(out, s + run, i - run);
                    return i;
                }
                bad = true;
                break;
            }
            unsigned b = s[i + j];
            if (b < (j == 1 ? lo : 0x80) || b > (j == 1 ? hi : 0xBF)) {
                bad = true;
                break;
            }
        }
        if (bad) {
            *rc |= buf_append(out, s + run, i - run);
            *rc |= buf_append(out, REPL, 3);
            i += j;
            run = i;
        } else {
            i += need;
        }
    }
    *rc |= buf_append(out, s + run, n - run);
    return n;
}

static bool skip_id(const tok_t *t, int32_t id, unsigned flags)
{
    if (id < 0 || id >= t->n)
        return true;
    return (flags & TOK_DEC_SKIP_SPECIAL) && t->type[id] == TOK_T_CONTROL;
}

/* The bytes of one id, without the SentencePiece prefix space on the first text token. */
static const char *piece_of(const tok_t *t, int32_t id, bool *started, size_t *len)
{
    const char *p = tok_piece(t, id, len);
    if (t->type[id] == TOK_T_CONTROL)
        return p;
    if (!*started) {
        *started = true;
        if (t->kind == TOK_KIND_SPM && t->add_space_prefix && *len > 0 && p[0] == ' ') {
            p++;
            (*len)--;
        }
    }
    return p;
}

int tok_decode_raw(const tok_t *t, const int32_t *ids, size_t n, unsigned flags, buf_t *out)
{
    bool started = false;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip_id(t, ids[i], flags))
            continue;
        size_t len;
        const char *p = piece_of(t, ids[i], &started, &len);
        rc |= buf_append(out, p, len);
    }
    return rc ? TOK_ETOOBIG : 0;
}

int tok_decode(const tok_t *t, const int32_t *ids, size_t n, unsigned flags, buf_t *out)
{
    buf_t raw;
    buf_init(&raw, out->cap);
    int rc = tok_decode_raw(t, ids, n, flags, &raw);
    if (rc == 0) {
        int brc = 0;
        utf8_repair((const unsigned char *)(raw.data ? raw.data : ""), raw.len, true, out, &brc);
        rc = brc ? TOK_ETOOBIG : 0;
    }
    buf_free(&raw);
    return rc;
}

void tok_stream_init(tok_stream_t *s, const tok_t *t, unsigned flags)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->flags = flags;
}

int tok_stream_push(tok_stream_t *s, int32_t id, buf_t *out)
{
    if (skip_id(s->t, id, s->flags))
        return 0;
    size_t len;
    const char *p = piece_of(s->t, id, &s->started, &len);
    int rc = 0;
    unsigned char tmp[64];
    size_t off = 0;
    /* Complete the held character first, then pass the rest through in place. */
    while (s->npend > 0 && off < len) {
        size_t take = len - off < sizeof tmp - s->npend ? len - off : sizeof tmp - s->npend;
        memcpy(tmp, s->pend, s->npend);
        memcpy(tmp + s->npend, p + off, take);
        size_t tot = s->npend + take;
        size_t used = utf8_repair(tmp, tot, false, out, &rc);
        off += take;
        s->npend = (unsigned)(tot - used);
        memcpy(s->pend, tmp + used, s->npend);
        if (s->npend == 0)
            break;
    }
    if (off < len) {
        size_t used = utf8_repair((const unsigned char *)p + off, len - off, false, out, &rc);
        s->npend = (unsigned)(len - off - used);
        memcpy(s->pend, p + off + used, s->npend);
    }
    return rc ? TOK_ETOOBIG : 0;
}

int tok_stream_finish(tok_stream_t *s, buf_t *out)
{
    int rc = 0;
    if (s->npend)
        utf8_repair(s->pend, s->npend, true, out, &rc);
    s->npend = 0;
    return rc ? TOK_ETOOBIG : 0;
}

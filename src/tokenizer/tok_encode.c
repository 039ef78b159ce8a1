/* tok_encode.c - text to ids: special-token split, pre-tokenizer, BPE / SentencePiece merges. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tokenizer/tok_internal.h"

/* ---- per-thread scratch: match data, symbol arrays, merge heap, word cache ---- */

#define CACHE_SLOTS 16384u    /* power of two */
#define CACHE_MAX_WORDS 8192u /* cleared when this many words are cached */
#define CACHE_ARENA 1048576u  /* bytes of cached words and ids */
#define CACHE_MAX_WORD 64u    /* longer words are not cached */
#define NAIVE_MAX 48u         /* words up to this many symbols use the quadratic merge */

typedef struct {
    uint64_t hash;
    uint32_t off; /* into arena: word bytes, then ids (4-byte aligned) */
    uint16_t wlen;
    uint16_t nids;
} cache_slot_t;

typedef struct {
    uint32_t rank; /* BPE: merge rank; SPM: score mapped so that lower sorts first */
    uint32_t left;
    uint32_t right;
    uint32_t len; /* SPM: byte length of the joined pair when pushed */
} heap_ent_t;

typedef struct {
    pcre2_match_data *md;
    uint64_t uid;
    cache_slot_t *slots;
    unsigned char *arena;
    uint32_t arena_len;
    uint32_t n_words;
    /* symbols of the word being merged */
    int32_t *sym;
    uint32_t *rank; /* naive: rank of pair (i, i+1) */
    int32_t *prev, *next;
    float *score;
    uint32_t *slen; /* SPM: byte length of each symbol */
    uint32_t sym_cap;
    heap_ent_t *heap;
    size_t heap_len, heap_cap;
    char *text; /* SPM: fragment with the prefix space */
    size_t text_cap;
    tok_ids_t tmp; /* tok_count's output */
} scratch_t;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    scratch_t *s = p;
    if (!s)
        return;
    pcre2_match_data_free(s->md);
    free(s->slots);
    free(s->arena);
    free(s->sym);
    free(s->rank);
    free(s->prev);
    free(s->next);
    free(s->score);
    free(s->slen);
    free(s->heap);
    free(s->text);
    tok_ids_free(&s->tmp);
    free(s);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

static void cache_clear(scratch_t *s)
{
    memset(s->slots, 0, CACHE_SLOTS * sizeof *s->slots);
    s->arena_len = 0;
    s->n_words = 0;
}

static scratch_t *scratch_get(const tok_t *t)
{
    pthread_once(&scratch_once, scratch_key_init);
    scratch_t *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->md = pcre2_match_data_create(4, NULL);
        if (!s->md)
            abort();
        s->slots = xcalloc(CACHE_SLOTS, sizeof *s->slots);
        s->arena = xmalloc(CACHE_ARENA);
        pthread_setspecific(scratch_key, s);
    }
    if (s->uid != t->uid) {
        cache_clear(s);
        s->uid = t->uid;
    }
    return s;
}

/* n <= 3 * TOK_MAX_INPUT + 4 (tok_encode's bound), so the capacity stays under 2^31 and the
 * int32 symbol indices below cannot wrap. */
static void sym_reserve(scratch_t *s, size_t n)
{
    if (n <= s->sym_cap)
        return;
    size_t c = s->sym_cap ? s->sym_cap : 256;
    while (c < n)
        c *= 2;
    s->sym = xrealloc(s->sym, c * sizeof *s->sym);
    s->rank = xrealloc(s->rank, c * sizeof *s->rank);
    s->prev = xrealloc(s->prev, c * sizeof *s->prev);
    s->next = xrealloc(s->next, c * sizeof *s->next);
    s->score = xrealloc(s->score, c * sizeof *s->score);
    s->slen = xrealloc(s->slen, c * sizeof *s->slen);
    s->sym_cap = (uint32_t)c;
}

static inline void ids_push(tok_ids_t *v, int32_t id)
{
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->ids = xrealloc(v->ids, v->cap * sizeof *v->ids);
    }
    v->ids[v->len++] = id;
}

/* ---- byte-level BPE ---- */

#define NO_RANK UINT32_MAX

/* Rank and result of merging (a, b); NO_RANK when the pair is not a merge. */
static inline uint32_t merge_lookup(const tok_t *t, int32_t a, int32_t b, int32_t *res)
{
    if (a < 0 || b < 0)
        return NO_RANK;
    uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint64_t i = ((key * 0x9E3779B97F4A7C15ull) >> 32) & t->mmask;
    for (;;) {
        uint64_t k = t->mkey[i];
        if (k == key) {
            *res = (int32_t)(uint32_t)t->mval[i];
            return (uint32_t)(t->mval[i] >> 32);
        }
        if (k == 0)
            return NO_RANK;
        i = (i + 1) & t->mmask;
    }
}

/* Short words: symbols in an array, pair ranks beside them, lowest rank (leftmost on ties)
 * merged until none is left. */
static size_t bpe_naive(const tok_t *t, scratch_t *s, size_t m)
{
    int32_t *sym = s->sym;
    uint32_t *rank = s->rank;
    int32_t *res = s->prev; /* result id of pair i */
    for (size_t i = 0; i + 1 < m; i++)
        rank[i] = merge_lookup(t, sym[i], sym[i + 1], &res[i]);
    while (m > 1) {
        uint32_t best = NO_RANK;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (rank[i] < best) {
                best = rank[i];
                bi = i;
            }
        if (best == NO_RANK)
            break;
        sym[bi] = res[bi];
        size_t tail = m - bi - 2;
        memmove(sym + bi + 1, sym + bi + 2, tail * sizeof *sym);
        memmove(rank + bi + 1, rank + bi + 2, (tail ? tail - 1 : 0) * sizeof *rank);
        memmove(res + bi + 1, res + bi + 2, (tail ? tail - 1 : 0) * sizeof *res);
        m--;
        if (bi > 0)
            rank[bi - 1] = merge_lookup(t, sym[bi - 1], sym[bi], &res[bi - 1]);
        if (bi + 1 < m)
            rank[bi] = merge_lookup(t, sym[bi], sym[bi + 1], &res[bi]);
    }
    return m;
}

static inline bool heap_less(heap_ent_t a, heap_ent_t b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.left < b.left);
}

static void heap_push(scratch_t *s, heap_ent_t e)
{
    if (s->heap_len == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 256;
        s->heap = xrealloc(s->heap, s->heap_cap * sizeof *s->heap);
    }
    size_t i = s->heap_len++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(e, s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
}

static heap_ent_t heap_pop(scratch_t *s)
{
    heap_ent_t top = s->heap[0];
    heap_ent_t last = s->heap[--s->heap_len];
    size_t i = 0, n = s->heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(s->heap[c + 1], s->heap[c]))
            c++;
        if (!heap_less(s->heap[c], last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n)
        s->heap[i] = last;
    return top;
}

static void heap_try(const tok_t *t, scratch_t *s, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    int32_t res;
    uint32_t rk = merge_lookup(t, s->sym[l], s->sym[r], &res);
    if (rk != NO_RANK)
        heap_push(s, (heap_ent_t){rk, (uint32_t)l, (uint32_t)r, 0});
}

/* Long words: linked symbols and a heap of candidate pairs, stale entries skipped. */
static size_t bpe_heap(const tok_t *t, scratch_t *s, size_t m)
{
    int32_t *sym = s->sym, *prev = s->prev, *next = s->next;
    for (size_t i = 0; i < m; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
    }
    s->heap_len = 0;
    for (size_t i = 0; i + 1 < m; i++)
        heap_try(t, s, (int32_t)i, (int32_t)i + 1);
    while (s->heap_len) {
        heap_ent_t e = heap_pop(s);
        int32_t l = (int32_t)e.left, r = (int32_t)e.right;
        if (sym[l] < -1 || next[l] != r || sym[r] < -1)
            continue;
        int32_t res = -1;
        if (merge_lookup(t, sym[l], sym[r], &res) != e.rank)
            continue;
        sym[l] = res;
        sym[r] = -2; /* dead */
        next[l] = next[r];
        if (next[r] >= 0)
            prev[next[r]] = l;
        heap_try(t, s, prev[l], l);
        heap_try(t, s, l, next[l]);
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i])
        sym[k++] = sym[i];
    return k;
}

typedef struct {
    const tok_t *t;
    scratch_t *s;
    tok_ids_t *out;
} enc_ctx_t;

static void bpe_word(void *vctx, const char *p, size_t n)
{
    enc_ctx_t *c = vctx;
    const tok_t *t = c->t;
    scratch_t *s = c->s;
    if (n == 1) {
        int32_t id = t->byte_id[(unsigned char)p[0]];
        if (id >= 0)
            ids_push(c->out, id);
        return;
    }
    uint64_t h = 0;
    uint32_t slot = 0;
    if (n <= CACHE_MAX_WORD) {
        h = tok_hash(p, n) | 1;
        slot = (uint32_t)h & (CACHE_SLOTS - 1);
        for (;;) {
            cache_slot_t *cs = &s->slots[slot];
            if (cs->hash == 0)
                break;
            if (cs->hash == h && cs->wlen == n && memcmp(s->arena + cs->off, p, n) == 0) {
                const int32_t *ids = (const int32_t *)(s->arena + cs->off + ((n + 3) & ~3u));
                for (unsigned i = 0; i < cs->nids; i++)
                    ids_push(c->out, ids[i]);
                return;
            }
            slot = (slot + 1) & (CACHE_SLOTS - 1);
        }
    }
    sym_reserve(s, n);
    for (size_t i = 0; i < n; i++)
        s->sym[i] = t->byte_id[(unsigned char)p[i]];
    size_t m = n <= NAIVE_MAX ? bpe_naive(t, s, n) : bpe_heap(t, s, n);
    size_t first = c->out->len;
    for (size_t i = 0; i < m; i++)
        if (s->sym[i] >= 0)
            ids_push(c->out, s->sym[i]);
    if (n > CACHE_MAX_WORD)
        return;
    size_t nids = c->out->len - first;
    size_t need = ((n + 3) & ~3u) + nids * 4;
    if (s->n_words >= CACHE_MAX_WORDS || s->arena_len + need > CACHE_ARENA) {
        cache_clear(s);
        slot = (uint32_t)h & (CACHE_SLOTS - 1);
        while (s->slots[slot].hash) /* unreachable after a clear; kept for clarity */
            slot = (slot + 1) & (CACHE_SLOTS - 1);
    }
    cache_slot_t *cs = &s->slots[slot];
    cs->hash = h;
    cs->off = s->arena_len;
    cs->wlen = (uint16_t)n;
    cs->nids = (uint16_t)nids;
    memcpy(s->arena + s->arena_len, p, n);
    if (nids)
        memcpy(s->arena + s->arena_len + ((n + 3) & ~3u), c->out->ids + first, nids * 4);
    s->arena_len += (uint32_t)need;
    s->n_words++;
}

/* ---- SentencePiece (scores) ---- */

static int utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

/* The text with spaces written as U+2581, optionally prefixed by one. */
static size_t spm_escape(scratch_t *s, const char *p, size_t n, bool prefix)
{
    size_t need = (n + 1) * 3;
    if (need > s->text_cap) {
        s->text_cap = need;
        s->text = xrealloc(s->text, need);
    }
    size_t k = 0;
    if (prefix) {
        memcpy(s->text, "\xE2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ') {
            memcpy(s->text + k, "\xE2\x96\x81", 3);
            k += 3;
        } else {
            s->text[k++] = p[i];
        }
    }
    return k;
}

/* A float score as a heap key: higher scores give lower keys. */
static uint32_t score_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* order-preserving as unsigned */
    return ~u;
}

/* Pushes the pair (l, r) when its joined text is a token. */
static void spm_try(const tok_t *t, scratch_t *s, const uint32_t *start, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    uint32_t len = s->slen[l] + s->slen[r];
    int32_t id = tok_vmap_get(t, s->text + start[l], len);
    if (id >= 0)
        heap_push(s, (heap_ent_t){score_key(t->score[id]), (uint32_t)l, (uint32_t)r, len});
}

/* SentencePiece BPE: repeatedly join the adjacent pair whose joined text is the
 * highest-scoring token (leftmost on ties), as SentencePiece, llama.cpp and llama2.c do;
 * what is left that is no token falls back to <0xXX> byte tokens. */
static void spm_fragment(const tok_t *t, scratch_t *s, const char *p, size_t n, bool prefix,
                         tok_ids_t *out)
{
    size_t len = spm_escape(s, p, n, prefix);
    sym_reserve(s, len + 1);
    uint32_t *start = s->rank; /* byte offset of each symbol */
    int32_t *prev = s->prev, *next = s->next;
    size_t m = 0;
    for (size_t i = 0; i < len;) {
        size_t l = (size_t)utf8_len((unsigned char)s->text[i]);
        if (l > len - i)
            l = len - i;
        start[m] = (uint32_t)i;
        s->slen[m] = (uint32_t)l;
        prev[m] = (int32_t)m - 1;
        next[m] = i + l < len ? (int32_t)m + 1 : -1;
        m++;
        i += l;
    }
    if (m == 0)
        return;
    s->heap_len = 0;
    for (size_t i = 0; i + 1 < m; i++)
        spm_try(t, s, start, (int32_t)i, (int32_t)i + 1);
    while (s->heap_len) {
        heap_ent_t e = heap_pop(s);
        int32_t l = (int32_t)e.left, r = (int32_t)e.right;
        /* stale when either side was joined to something else since the push */
        if (s->slen[l] == 0 || s->slen[r] == 0 || next[l] != r || s->slen[l] + s->slen[r] != e.len)
            continue;
        s->slen[l] += s->slen[r];
        s->slen[r] = 0;
        next[l] = next[r];
        if (next[r] >= 0)
            prev[next[r]] = l;
        spm_try(t, s, start, prev[l], l);
        spm_try(t, s, start, l, next[l]);
    }
    for (int32_t i = 0; i >= 0; i = next[i]) {
        int32_t id = tok_vmap_get(t, s->text + start[i], s->slen[i]);
        if (id >= 0) {
            ids_push(out, id);
            continue;
        }
        for (uint32_t b = 0; b < s->slen[i]; b++) {
            int32_t bid = t->byte_id[(unsigned char)s->text[start[i] + b]];
            if (bid < 0)
                bid = t->unk;
            if (bid >= 0)
                ids_push(out, bid);
        }
    }
}

/* ---- driver ---- */

static void encode_fragment(const tok_t *t, scratch_t *s, const char *p, size_t n,
                            bool after_special, tok_ids_t *out)
{
    if (n == 0)
        return;
    if (t->kind == TOK_KIND_SPM) {
        spm_fragment(t, s, p, n, t->add_space_prefix && after_special, out);
        return;
    }
    enc_ctx_t c = {t, s, out};
    tok_pretok_split(t, s->md, p, n, bpe_word, &c);
}

/* Longest special token (of the mode) starting at p; its id, or -1. */
static int32_t match_special(const tok_t *t, int mode, const char *p, size_t n, size_t *mlen)
{
    for (int i = 0; i < t->n_spec_lens[mode]; i++) {
        uint32_t l = t->spec_lens[mode][i];
        if (l > n)
            continue;
        int32_t id = tok_smap_get(t, p, l);
        if (id >= 0 && (mode == 1 || t->type[id] == TOK_T_USER_DEFINED)) {
            *mlen = l;
            return id;
        }
    }
    return -1;
}

static long encode_into(const tok_t *t, scratch_t *s, const char *text, size_t len, unsigned flags,
                        tok_ids_t *out)
{
    size_t before = out->len;
    if ((flags & TOK_ENC_BOS) && t->bos >= 0)
        ids_push(out, t->bos);
    int mode = (flags & TOK_ENC_SPECIAL) ? 1 : 0;
    bool after_special = true;
    size_t seg = 0;
    if (t->n_spec_lens[mode] > 0) {
        const uint8_t *first = t->spec_first[mode];
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            if (!(first[c >> 3] & (1u << (c & 7))))
                continue;
            size_t ml;
            int32_t id = match_special(t, mode, text + i, len - i, &ml);
            if (id < 0)
                continue;
            encode_fragment(t, s, text + seg, i - seg, after_special, out);
            ids_push(out, id);
            after_special = true;
            i += ml - 1;
            seg = i + 1;
        }
    }
    encode_fragment(t, s, text + seg, len - seg, after_special, out);
    return (long)(out->len - before);
}

long tok_encode(const tok_t *t, const char *text, size_t len, unsigned flags, tok_ids_t *out)
{
    if (!t || (!text && len))
        return TOK_EINVAL;
    if (len > TOK_MAX_INPUT)
        return TOK_ETOOBIG;
    return encode_into(t, scratch_get(t), text, len, flags, out);
}

long tok_count(const tok_t *t, const char *text, size_t len, unsigned flags)
{
    if (!t || (!text && len))
        return TOK_EINVAL;
    if (len > TOK_MAX_INPUT)
        return TOK_ETOOBIG;
    scratch_t *s = scratch_get(t);
    s->tmp.len = 0;
    long n = encode_into(t, s, text, len, flags, &s->tmp);
    if (s->tmp.cap > (1u << 20)) /* do not keep a huge array per thread */
        tok_ids_free(&s->tmp);
    return n;
}

long tok_count_default(const char *text, size_t len)
{
    const tok_t *t = tok_default();
    if (!t)
        return TOK_ENODEFAULT;
    return tok_count(t, text, len, 0);
}

/* Weights in 1/64 token per byte or character class, fitted on the generated test strings and
 * the bench corpus so that the estimate is at or above the exact count for nearly all of
 * them (measured figures in docs/tokenizer.md). */
enum {
    W_LETTER = 22,  /* ASCII letters: ~3.2 bytes a token */
    W_DIGIT = 28,   /* digits: groups of at most 3 */
    W_SPACE = 10,   /* a space usually joins the next word */
    W_NEWLINE = 40, /* \n \r \t */
    W_PUNCT = 52,   /* ASCII punctuation and symbols */
    W_CONTROL = 64, /* other control bytes: a token each */
    W_CHAR2 = 56,   /* 2-byte characters (Latin, Greek, Cyrillic, ...) */
    W_CHAR3 = 80,   /* 3-byte characters (CJK, kana, ...): rare ones take 2-3 tokens */
    W_CHAR4 = 192,  /* 4-byte characters (emoji, rare CJK): ~3 tokens */
    W_INVALID = 64, /* stray continuation or invalid bytes: a token each */
};

size_t tok_estimate(const char *text, size_t len)
{
    uint64_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x80) {
            w += c >= 0xF0 ? W_CHAR4 : c >= 0xE0 ? W_CHAR3 : c >= 0xC0 ? W_CHAR2 : 0;
            if (c < 0xC0 && (i == 0 || (unsigned char)text[i - 1] < 0x80))
                w += W_INVALID;
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
            w += W_LETTER;
        } else if (c >= '0' && c <= '9') {
            w += W_DIGIT;
        } else if (c == ' ') {
            w += W_SPACE;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            w += W_NEWLINE;
        } else if (c < 0x20 || c == 0x7F) {
            w += W_CONTROL;
        } else {
            w += W_PUNCT;
        }
    }
    return (size_t)((w + 63) / 64) + 1;
}

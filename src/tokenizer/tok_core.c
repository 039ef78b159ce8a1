/* tok_core.c - vocabulary storage and the lookup tables every tokenizer builds at load. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tokenizer/tok_internal.h"

/* ---- family names ---- */

static const struct {
    const char *name;
    tok_family_t fam;
} family_names[] = {
    {"deepseek-v3", TOK_FAM_DEEPSEEK_V3},
    {"deepseek-r1", TOK_FAM_DEEPSEEK_V3},
    {"deepseek-llm", TOK_FAM_DEEPSEEK_LLM},
    {"deepseek-coder", TOK_FAM_DEEPSEEK_CODER},
    {"qwen2", TOK_FAM_QWEN2},
    {"deepseek-r1-qwen", TOK_FAM_QWEN2},
    {"gpt2", TOK_FAM_GPT2},
    {"gpt-2", TOK_FAM_GPT2},
    {"llama-spm", TOK_FAM_LLAMA_SPM},
    {"llama", TOK_FAM_LLAMA_SPM},
};

int tok_family_parse(const char *name, tok_family_t *out)
{
    for (size_t i = 0; i < sizeof family_names / sizeof family_names[0]; i++)
        if (name && strcmp(name, family_names[i].name) == 0) {
            *out = family_names[i].fam;
            return 0;
        }
    return TOK_EFAMILY;
}

const char *tok_family_name(tok_family_t fam)
{
    switch (fam) {
    case TOK_FAM_DEEPSEEK_V3:
        return "deepseek-v3";
    case TOK_FAM_DEEPSEEK_LLM:
        return "deepseek-llm";
    case TOK_FAM_DEEPSEEK_CODER:
        return "deepseek-coder";
    case TOK_FAM_QWEN2:
        return "qwen2";
    case TOK_FAM_GPT2:
        return "gpt2";
    case TOK_FAM_LLAMA_SPM:
        return "llama-spm";
    default:
        return "auto";
    }
}

void tok_err(char *err, size_t errsz, const char *fmt, ...)
{
    if (!err || errsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

/* ---- byte-level mapping (GPT-2): printable Latin-1 bytes stand for themselves, the other
 * 68 bytes are moved to U+0100.. in byte order ---- */

uint32_t tok_byte_to_cp(unsigned b)
{
    if (b <= 32)
        return 256 + b;
    if (b >= 127 && b <= 160)
        return b + 162;
    if (b == 173)
        return 323;
    return b;
}

int tok_cp_to_byte(uint32_t cp)
{
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255))
        return (int)cp;
    if (cp >= 256 && cp <= 288)
        return (int)(cp - 256);
    if (cp >= 289 && cp <= 322)
        return (int)(cp - 162);
    if (cp == 323)
        return 173;
    return -1;
}

/* Decodes one UTF-8 character at s (n > 0 bytes left); returns its length, or 0 when
 * invalid. */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || (size_t)len > n)
        return 0;
    uint32_t v = c & (0x3F >> (len - 1));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* ---- hashing ---- */

uint64_t tok_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    return h;
}

static uint32_t table_size(uint32_t n)
{
    uint32_t sz = 16;
    while (sz < n * 2u + 2u)
        sz <<= 1;
    return sz;
}

static int32_t map_get(const tok_t *t, const uint32_t *map, uint32_t mask, const char *s,
                       size_t len)
{
    if (!map)
        return -1;
    uint32_t i = (uint32_t)tok_hash(s, len) & mask;
    for (;;) {
        uint32_t v = map[i];
        if (v == 0)
            return -1;
        size_t kl;
        const char *k = tok_key(t, (int32_t)(v - 1), &kl);
        if (kl == len && memcmp(k, s, len) == 0)
            return (int32_t)(v - 1);
        i = (i + 1) & mask;
    }
}

/* Inserts id under its key unless that key is already present (first id wins). */
static void map_put(const tok_t *t, uint32_t *map, uint32_t mask, int32_t id)
{
    size_t len;
    const char *s = tok_key(t, id, &len);
    uint32_t i = (uint32_t)tok_hash(s, len) & mask;
    for (;;) {
        uint32_t v = map[i];
        if (v == 0) {
            map[i] = (uint32_t)id + 1;
            return;
        }
        size_t kl;
        const char *k = tok_key(t, (int32_t)(v - 1), &kl);
        if (kl == len && memcmp(k, s, len) == 0)
            return;
        i = (i + 1) & mask;
    }
}

int32_t tok_vmap_get(const tok_t *t, const char *s, size_t len)
{
    return map_get(t, t->vmap, t->vmask, s, len);
}

int32_t tok_smap_get(const tok_t *t, const char *s, size_t len)
{
    return map_get(t, t->smap, t->smask, s, len);
}

/* ---- builder ---- */

void tok_builder_init(tok_builder_t *b, tok_family_t fam, int kind, int32_t n)
{
    memset(b, 0, sizeof *b);
    b->t = xcalloc(1, sizeof *b->t);
    b->t->family = fam;
    b->t->kind = kind;
    b->t->bos = b->t->eos = b->t->unk = -1;
    b->cap = n > 0 ? n : 16;
    b->t->type = xcalloc((size_t)b->cap, 1);
    if (kind == TOK_KIND_SPM)
        b->t->score = xcalloc((size_t)b->cap, sizeof(float));
    b->kofs = xmalloc(((size_t)b->cap + 1) * sizeof(uint32_t));
    b->pofs = xmalloc(((size_t)b->cap + 1) * sizeof(uint32_t));
    buf_init(&b->keys, (size_t)1 << 31);
    buf_init(&b->pieces, (size_t)1 << 31);
}

bool tok_bytelevel_to_bytes(const char *s, size_t len, buf_t *o)
{
    size_t start = o->len;
    const unsigned char *p = (const unsigned char *)s;
    while (len > 0) {
        uint32_t cp;
        int l = utf8_next(p, len, &cp);
        int b = l ? tok_cp_to_byte(cp) : -1;
        if (b < 0) {
            o->len = start;
            return false;
        }
        char c = (char)b;
        buf_append(o, &c, 1);
        p += l;
        len -= (size_t)l;
    }
    /* a byte refused by o's cap: the bytes are not the token's; o stays failed */
    return !buf_failed(o);
}

/* SentencePiece piece: U+2581 becomes a space, <0xXX> byte tokens become that byte. */
static void spm_piece(const char *s, size_t len, tok_type_t type, buf_t *o)
{
    if (type == TOK_T_BYTE && len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') {
        char c = (char)strtol((char[]){s[3], s[4], 0}, NULL, 16);
        buf_append(o, &c, 1);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (i + 3 <= len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            buf_append(o, " ", 1);
            i += 2;
        } else {
            buf_append(o, s + i, 1);
        }
    }
}

void tok_builder_add(tok_builder_t *b, const char *text, size_t len, tok_type_t type, float score,
                     bool raw)
{
    tok_t *t = b->t;
    if (t->n >= b->cap) {
        b->cap *= 2;
        t->type = xrealloc(t->type, (size_t)b->cap);
        if (t->score)
            t->score = xrealloc(t->score, (size_t)b->cap * sizeof(float));
        b->kofs = xrealloc(b->kofs, ((size_t)b->cap + 1) * sizeof(uint32_t));
        b->pofs = xrealloc(b->pofs, ((size_t)b->cap + 1) * sizeof(uint32_t));
    }
    int32_t id = t->n++;
    b->kofs[id] = (uint32_t)b->keys.len;
    b->pofs[id] = (uint32_t)b->pieces.len;
    if (t->kind == TOK_KIND_BPE) {
        /* A normal token whose text is not byte-level encoded can never come out of BPE:
         * keep its text and mark it unused so the encoder never looks it up. */
        if (raw || !tok_bytelevel_to_bytes(text, len, &b->keys)) {
            buf_append(&b->keys, text, len);
            if (!raw && (type == TOK_T_NORMAL || type == TOK_T_UNDEFINED))
                type = TOK_T_UNUSED;
        }
    } else {
        buf_append(&b->keys, text, len);
        spm_piece(text, len, type, &b->pieces);
        t->score[id] = score;
    }
    t->type[id] = (uint8_t)type;
}

void tok_builder_abort(tok_builder_t *b)
{
    buf_free(&b->keys);
    buf_free(&b->pieces);
    free(b->kofs);
    free(b->pofs);
    tok_free(b->t);
    memset(b, 0, sizeof *b);
}

static void build_maps(tok_t *t);
static void build_merges(tok_t *t);

int tok_build(tok_builder_t *b, char *err, size_t errsz)
{
    tok_t *t = b->t;
    int32_t n = t->n;
    b->kofs[n] = (uint32_t)b->keys.len;
    b->pofs[n] = (uint32_t)b->pieces.len;
    /* One arena: keys, then pieces (only when they differ, i.e. SentencePiece). */
    bool same = t->kind == TOK_KIND_BPE;
    size_t total = b->keys.len + (same ? 0 : b->pieces.len);
    /* a string refused by its 2 GiB buffer would shift every later token's text: the adds are
     * not checked one by one, the buffers are checked here once */
    if (total >= UINT32_MAX || buf_failed(&b->keys) || buf_failed(&b->pieces)) {
        tok_err(err, errsz, "vocabulary strings too large");
        tok_builder_abort(b);
        return TOK_EFORMAT;
    }
    t->strs = xmalloc(total + 1);
    memcpy(t->strs, b->keys.data ? b->keys.data : "", b->keys.len);
    if (!same) {
        memcpy(t->strs + b->keys.len, b->pieces.data ? b->pieces.data : "", b->pieces.len);
        for (int32_t i = 0; i <= n; i++)
            b->pofs[i] += (uint32_t)b->keys.len;
        t->piece_off = b->pofs;
    } else {
        free(b->pofs);
    }
    t->strs[total] = '\0';
    t->strs_len = total;
    t->key_off = b->kofs;
    buf_free(&b->keys);
    buf_free(&b->pieces);
    memset(b, 0, sizeof *b);
    b->t = t;
    build_maps(t);
    return 0;
}

int tok_build_done(tok_t *t, int32_t *merges, uint32_t n_merges, char *err, size_t errsz)
{
    t->merges = merges;
    t->n_merges = n_merges;
    build_merges(t);
    int rc = tok_pretok_compile(t, err, errsz);
    if (rc < 0)
        tok_free(t);
    return rc;
}

static int cmp_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void add_len(tok_t *t, int mode, uint32_t len)
{
    for (int i = 0; i < t->n_spec_lens[mode]; i++)
        if (t->spec_lens[mode][i] == len)
            return;
    t->spec_lens[mode] =
        xrealloc(t->spec_lens[mode], ((size_t)t->n_spec_lens[mode] + 1) * sizeof(uint32_t));
    t->spec_lens[mode][t->n_spec_lens[mode]++] = len;
}

static uint64_t merge_slot(uint64_t key, uint32_t mask)
{
    key *= 0x9E3779B97F4A7C15ull;
    return (key >> 32) & mask;
}

int tok_finish(tok_t *t, char *err, size_t errsz)
{
    build_maps(t);
    build_merges(t);
    return tok_pretok_compile(t, err, errsz);
}

static void build_maps(tok_t *t)
{
    static atomic_uint_fast64_t next_uid = 1;
    t->uid = atomic_fetch_add(&next_uid, 1);
    int32_t n = t->n;

    /* Encodable tokens by key. BPE: anything the merges can reach (normal/byte-level text);
     * SPM: every token except byte-fallback ones, as SentencePiece looks up any piece. */
    uint32_t sz = table_size((uint32_t)n);
    t->vmap = xcalloc(sz, sizeof(uint32_t));
    t->vmask = sz - 1;
    uint32_t nspec = 0;
    for (int32_t i = 0; i < n; i++) {
        tok_type_t ty = t->type[i];
        bool spec = ty == TOK_T_CONTROL || ty == TOK_T_USER_DEFINED || ty == TOK_T_UNKNOWN;
        nspec += spec;
        if (t->kind == TOK_KIND_BPE) {
            if (ty == TOK_T_NORMAL || ty == TOK_T_UNDEFINED || ty == TOK_T_BYTE)
                map_put(t, t->vmap, t->vmask, i);
        } else if (ty != TOK_T_BYTE) {
            map_put(t, t->vmap, t->vmask, i);
        }
    }

    /* Special-ish tokens, matched on their piece text (equal to the key for these). */
    sz = table_size(nspec);
    t->smap = xcalloc(sz, sizeof(uint32_t));
    t->smask = sz - 1;
    for (int32_t i = 0; i < n; i++) {
        tok_type_t ty = t->type[i];
        size_t len;
        const char *k = tok_key(t, i, &len);
        if (len == 0 || !(ty == TOK_T_CONTROL || ty == TOK_T_USER_DEFINED || ty == TOK_T_UNKNOWN))
            continue;
        map_put(t, t->smap, t->smask, i);
        for (int mode = 0; mode < 2; mode++) {
            if (mode == 0 && ty != TOK_T_USER_DEFINED)
                continue;
            unsigned char c = (unsigned char)k[0];
            t->spec_first[mode][c >> 3] |= (uint8_t)(1u << (c & 7));
            add_len(t, mode, (uint32_t)len);
        }
    }
    for (int mode = 0; mode < 2; mode++)
        if (t->n_spec_lens[mode])
            qsort(t->spec_lens[mode], (size_t)t->n_spec_lens[mode], sizeof(uint32_t), cmp_desc);

    /* Single bytes. */
    for (int c = 0; c < 256; c++)
        t->byte_id[c] = -1;
    for (int32_t i = 0; i < n; i++) {
        size_t len;
        const char *k = tok_key(t, i, &len);
        if (t->kind == TOK_KIND_BPE) {
            if (len == 1 && t->type[i] != TOK_T_USER_DEFINED && t->type[i] != TOK_T_CONTROL &&
                t->type[i] != TOK_T_UNUSED && t->byte_id[(unsigned char)k[0]] < 0)
                t->byte_id[(unsigned char)k[0]] = i;
        } else if (t->type[i] == TOK_T_BYTE) {
            size_t pl = t->piece_off[i + 1] - t->piece_off[i];
            if (pl == 1)
                t->byte_id[(unsigned char)t->strs[t->piece_off[i]]] = i;
        }
    }
}

/* Merges: (left, right) -> rank and the id of the joined token. */
static void build_merges(tok_t *t)
{
    int32_t n = t->n;
    uint32_t sz;
    if (t->kind == TOK_KIND_BPE) {
        sz = table_size(t->n_merges);
        t->mkey = xcalloc(sz, sizeof(uint64_t));
        t->mval = xmalloc(sz * sizeof(uint64_t));
        t->mmask = sz - 1;
        char tmp[1024];
        for (uint32_t r = 0; r < t->n_merges; r++) {
            int32_t a = t->merges[2 * r], c = t->merges[2 * r + 1];
            if (a < 0 || c < 0 || a >= n || c >= n)
                continue;
            size_t la, lc;
            const char *ka = tok_key(t, a, &la), *kc = tok_key(t, c, &lc);
            if (la + lc > sizeof tmp)
                continue;
            memcpy(tmp, ka, la);
            memcpy(tmp + la, kc, lc);
            int32_t res = tok_vmap_get(t, tmp, la + lc);
            if (res < 0)
                continue;
            uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)c) + 1;
            uint64_t i = merge_slot(key, t->mmask);
            while (t->mkey[i] != 0 && t->mkey[i] != key)
                i = (i + 1) & t->mmask;
            if (t->mkey[i] == 0) {
                t->mkey[i] = key;
                t->mval[i] = (uint64_t)r << 32 | (uint32_t)res;
            }
        }
    }
}

void tok_free(tok_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_re; i++)
        pcre2_code_free(t->re[i]);
    if (!t->borrowed) {
        free(t->strs);
        free(t->key_off);
        free(t->piece_off);
        free(t->type);
        free(t->score);
        free(t->merges);
    }
    free(t->vmap);
    free(t->smap);
    free(t->mkey);
    free(t->mval);
    free(t->spec_lens[0]);
    free(t->spec_lens[1]);
    free(t);
}

/* ---- accessors ---- */

tok_family_t tok_family(const tok_t *t)
{
    return t->family;
}
int32_t tok_n_vocab(const tok_t *t)
{
    return t->n;
}
int32_t tok_bos(const tok_t *t)
{
    return t->bos;
}
int32_t tok_eos(const tok_t *t)
{
    return t->eos;
}

int32_t tok_find(const tok_t *t, const char *text, size_t len)
{
    int32_t id = tok_smap_get(t, text, len);
    if (id < 0)
        id = tok_vmap_get(t, text, len);
    if (id < 0) {
        for (int32_t i = 0; i < t->n; i++) {
            size_t pl;
            const char *p = tok_piece(t, i, &pl);
            if (pl == len && memcmp(p, text, len) == 0)
                return i;
        }
    }
    return id;
}

const char *tok_piece(const tok_t *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n) {
        *len = 0;
        return NULL;
    }
    if (!t->piece_off)
        return tok_key(t, id, len);
    *len = t->piece_off[id + 1] - t->piece_off[id];
    return t->strs + t->piece_off[id];
}

tok_type_t tok_type(const tok_t *t, int32_t id)
{
    if (id < 0 || id >= t->n)
        return TOK_T_UNDEFINED;
    return (tok_type_t)t->type[id];
}

void tok_ids_free(tok_ids_t *v)
{
    free(v->ids);
    v->ids = NULL;
    v->len = v->cap = 0;
}

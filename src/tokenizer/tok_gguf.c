/* tok_gguf.c - reads the tokenizer.ggml.* metadata of a GGUF v2/v3 file into a tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tokenizer/tok_internal.h"

/* GGUF value types. */
enum {
    G_U8,
    G_I8,
    G_U16,
    G_I16,
    G_U32,
    G_I32,
    G_F32,
    G_BOOL,
    G_STR,
    G_ARR,
    G_U64,
    G_I64,
    G_F64,
};

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    bool bad;
} rd_t;

static bool need(rd_t *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint64_t rd_u(rd_t *r, size_t n)
{
    uint64_t v = 0;
    if (!need(r, n))
        return 0;
    for (size_t i = 0; i < n; i++) /* GGUF is little-endian */
        v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += n;
    return v;
}

static const char *rd_str(rd_t *r, size_t *len)
{
    uint64_t n = rd_u(r, 8);
    if (!need(r, n)) {
        *len = 0;
        return "";
    }
    const char *s = (const char *)r->p + r->pos;
    r->pos += n;
    *len = n;
    return s;
}

static size_t scalar_size(uint32_t ty)
{
    switch (ty) {
    case G_U8:
    case G_I8:
    case G_BOOL:
        return 1;
    case G_U16:
    case G_I16:
        return 2;
    case G_U32:
    case G_I32:
    case G_F32:
        return 4;
    case G_U64:
    case G_I64:
    case G_F64:
        return 8;
    default:
        return 0;
    }
}

static void skip_value(rd_t *r, uint32_t ty, int depth)
{
    if (ty == G_STR) {
        size_t l;
        rd_str(r, &l);
    } else if (ty == G_ARR) {
        uint32_t et = (uint32_t)rd_u(r, 4);
        uint64_t n = rd_u(r, 8);
        size_t es = scalar_size(et);
        if (es) {
            if (n > (r->len - r->pos) / es)
                r->bad = true;
            else
                r->pos += n * es;
        } else if (et == G_STR || (et == G_ARR && depth < 2)) {
            for (uint64_t i = 0; i < n && !r->bad; i++)
                skip_value(r, et, depth + 1);
        } else {
            r->bad = true;
        }
    } else {
        size_t s = scalar_size(ty);
        if (!s)
            r->bad = true;
        else if (need(r, s))
            r->pos += s;
    }
}

/* Where the interesting values sit in the file. */
typedef struct {
    const char *model, *pre;
    size_t model_len, pre_len;
    size_t tokens_pos, merges_pos, types_pos, scores_pos; /* start of array elements */
    uint64_t n_tokens, n_merges, n_types, n_scores;
    uint32_t types_et, scores_et;
    int64_t bos, eos, unk;
    int add_space_prefix, add_bos;
} meta_t;

static bool key_is(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

static int64_t rd_int(rd_t *r, uint32_t ty)
{
    size_t s = scalar_size(ty);
    if (!s || ty == G_F32 || ty == G_F64) {
        skip_value(r, ty, 0);
        return -1;
    }
    uint64_t v = rd_u(r, s);
    if ((ty == G_I8 && (v & 0x80)) || (ty == G_I16 && (v & 0x8000)) ||
        (ty == G_I32 && (v & 0x80000000u)))
        return -1;
    return (int64_t)v;
}

static int read_meta(rd_t *r, meta_t *m, char *err, size_t errsz)
{
    memset(m, 0, sizeof *m);
    m->bos = m->eos = m->unk = -1;
    m->add_space_prefix = m->add_bos = -1;
    if (!need(r, 4) || memcmp(r->p, "GGUF", 4) != 0) {
        tok_err(err, errsz, "not a GGUF file");
        return TOK_EFORMAT;
    }
    r->pos = 4;
    uint32_t version = (uint32_t)rd_u(r, 4);
    if (version < 2 || version > 3) {
        tok_err(err, errsz, "GGUF version %u not supported (2 or 3)", version);
        return TOK_EFORMAT;
    }
    rd_u(r, 8); /* tensor count: tensors are not read */
    uint64_t n_kv = rd_u(r, 8);
    for (uint64_t i = 0; i < n_kv && !r->bad; i++) {
        size_t kl;
        const char *k = rd_str(r, &kl);
        uint32_t ty = (uint32_t)rd_u(r, 4);
        if (r->bad)
            break;
        if (ty == G_STR && key_is(k, kl, "tokenizer.ggml.model")) {
            m->model = rd_str(r, &m->model_len);
        } else if (ty == G_STR && key_is(k, kl, "tokenizer.ggml.pre")) {
            m->pre = rd_str(r, &m->pre_len);
        } else if (ty == G_ARR && (key_is(k, kl, "tokenizer.ggml.tokens") ||
                                   key_is(k, kl, "tokenizer.ggml.merges") ||
                                   key_is(k, kl, "tokenizer.ggml.token_type") ||
                                   key_is(k, kl, "tokenizer.ggml.scores"))) {
            size_t at = r->pos;
            uint32_t et = (uint32_t)rd_u(r, 4);
            uint64_t n = rd_u(r, 8);
            r->pos = at;
            if (key_is(k, kl, "tokenizer.ggml.tokens") && et == G_STR) {
                m->tokens_pos = at + 12;
                m->n_tokens = n;
            } else if (key_is(k, kl, "tokenizer.ggml.merges") && et == G_STR) {
                m->merges_pos = at + 12;
                m->n_merges = n;
            } else if (key_is(k, kl, "tokenizer.ggml.token_type")) {
                m->types_pos = at + 12;
                m->n_types = n;
                m->types_et = et;
            } else if (key_is(k, kl, "tokenizer.ggml.scores")) {
                m->scores_pos = at + 12;
                m->n_scores = n;
                m->scores_et = et;
            }
            skip_value(r, ty, 0);
        } else if (key_is(k, kl, "tokenizer.ggml.bos_token_id")) {
            m->bos = rd_int(r, ty);
        } else if (key_is(k, kl, "tokenizer.ggml.eos_token_id")) {
            m->eos = rd_int(r, ty);
        } else if (key_is(k, kl, "tokenizer.ggml.unknown_token_id")) {
            m->unk = rd_int(r, ty);
        } else if (ty == G_BOOL && key_is(k, kl, "tokenizer.ggml.add_space_prefix")) {
            m->add_space_prefix = (int)rd_u(r, 1);
        } else if (ty == G_BOOL && key_is(k, kl, "tokenizer.ggml.add_bos_token")) {
            m->add_bos = (int)rd_u(r, 1);
        } else {
            skip_value(r, ty, 0);
        }
    }
    if (r->bad) {
        tok_err(err, errsz, "GGUF metadata truncated or malformed");
        return TOK_EFORMAT;
    }
    if (!m->model || m->n_tokens == 0) {
        tok_err(err, errsz, "GGUF file has no tokenizer.ggml.model / tokenizer.ggml.tokens");
        return TOK_EFORMAT;
    }
    if (m->n_tokens > INT32_MAX / 2) {
        tok_err(err, errsz, "GGUF vocabulary too large");
        return TOK_EFORMAT;
    }
    return 0;
}

static tok_family_t family_of_pre(const char *pre, size_t len)
{
    static const struct {
        const char *name;
        tok_family_t fam;
    } pres[] = {
        {"deepseek-v3", TOK_FAM_DEEPSEEK_V3},
        {"deepseek-llm", TOK_FAM_DEEPSEEK_LLM},
        {"deepseek-coder", TOK_FAM_DEEPSEEK_CODER},
        {"qwen2", TOK_FAM_QWEN2},
        {"deepseek-r1-qwen", TOK_FAM_QWEN2},
        {"gpt-2", TOK_FAM_GPT2},
        {"gpt2", TOK_FAM_GPT2},
        {"default", TOK_FAM_GPT2},
    };
    for (size_t i = 0; pre && i < sizeof pres / sizeof pres[0]; i++)
        if (key_is(pre, len, pres[i].name))
            return pres[i].fam;
    return TOK_FAM_AUTO;
}

static int64_t elem_int(const rd_t *r, size_t pos, uint64_t i, uint32_t et)
{
    rd_t c = *r;
    size_t s = scalar_size(et);
    c.pos = pos + i * s;
    return rd_int(&c, et);
}

int tok_load_gguf(const void *data, size_t len, tok_family_t fam, tok_t **out, char *err,
                  size_t errsz)
{
    rd_t r = {data, len, 0, false};
    meta_t m;
    int rc = read_meta(&r, &m, err, errsz);
    if (rc < 0)
        return rc;
    int kind;
    if (key_is(m.model, m.model_len, "gpt2")) {
        kind = TOK_KIND_BPE;
        if (fam == TOK_FAM_AUTO)
            fam = family_of_pre(m.pre, m.pre_len);
        if (fam == TOK_FAM_AUTO) {
            tok_err(err, errsz, "GGUF pre-tokenizer '%.*s' unknown; pass a family", (int)m.pre_len,
                    m.pre ? m.pre : "");
            return TOK_EFAMILY;
        }
        if (fam == TOK_FAM_LLAMA_SPM) {
            tok_err(err, errsz, "GGUF holds a BPE vocabulary, not llama-spm");
            return TOK_EFAMILY;
        }
    } else if (key_is(m.model, m.model_len, "llama")) {
        kind = TOK_KIND_SPM;
        if (fam != TOK_FAM_AUTO && fam != TOK_FAM_LLAMA_SPM) {
            tok_err(err, errsz, "GGUF holds a SentencePiece vocabulary: family llama-spm");
            return TOK_EFAMILY;
        }
        fam = TOK_FAM_LLAMA_SPM;
    } else {
        tok_err(err, errsz, "GGUF tokenizer model '%.*s' not supported", (int)m.model_len, m.model);
        return TOK_EFORMAT;
    }
    bool types_ok = m.n_types == m.n_tokens && scalar_size(m.types_et) && m.types_et != G_F32 &&
                    m.types_et != G_F64;
    bool scores_ok = m.n_scores == m.n_tokens && m.scores_et == G_F32;
    if (kind == TOK_KIND_SPM && !scores_ok) {
        tok_err(err, errsz, "SentencePiece GGUF without tokenizer.ggml.scores");
        return TOK_EFORMAT;
    }

    tok_builder_t b;
    tok_builder_init(&b, fam, kind, (int32_t)m.n_tokens);
    rd_t c = r;
    c.pos = m.tokens_pos;
    for (uint64_t i = 0; i < m.n_tokens; i++) {
        size_t tl;
        const char *ts = rd_str(&c, &tl);
        if (c.bad)
            break;
        int64_t ty = types_ok ? elem_int(&r, m.types_pos, i, m.types_et) : TOK_T_NORMAL;
        if (ty < 0 || ty > TOK_T_BYTE)
            ty = TOK_T_NORMAL;
        float sc = 0;
        if (scores_ok) {
            uint32_t bits = (uint32_t)elem_int(&r, m.scores_pos, i, G_U32);
            memcpy(&sc, &bits, 4);
        }
        bool raw = ty == TOK_T_CONTROL || ty == TOK_T_USER_DEFINED || ty == TOK_T_UNKNOWN;
        tok_builder_add(&b, ts, tl, (tok_type_t)ty, sc, raw);
    }
    if (c.bad) {
        tok_err(err, errsz, "GGUF token list truncated");
        tok_builder_abort(&b);
        return TOK_EFORMAT;
    }
    b.t->bos = m.bos >= 0 && m.bos < b.t->n ? (int32_t)m.bos : -1;
    b.t->eos = m.eos >= 0 && m.eos < b.t->n ? (int32_t)m.eos : -1;
    b.t->unk = m.unk >= 0 && m.unk < b.t->n ? (int32_t)m.unk : -1;
    b.t->add_space_prefix = kind == TOK_KIND_SPM ? m.add_space_prefix != 0 : false;
    b.t->add_bos = m.add_bos >= 0 ? m.add_bos != 0 : kind == TOK_KIND_SPM;
    rc = tok_build(&b, err, errsz);
    if (rc < 0)
        return rc;
    tok_t *t = b.t;
    int32_t *merges = NULL;
    uint32_t nm = 0;
    if (kind == TOK_KIND_BPE && m.n_merges > 0) {
        if (m.n_merges > len / 8 + 1) {
            tok_err(err, errsz, "GGUF merge list malformed");
            tok_free(t);
            return TOK_EFORMAT;
        }
        merges = xmalloc(m.n_merges * 2 * sizeof(int32_t));
        c = r;
        c.pos = m.merges_pos;
        buf_t tmp;
        buf_init(&tmp, 1 << 20);
        for (uint64_t i = 0; i < m.n_merges && !c.bad; i++) {
            size_t ml;
            const char *ms = rd_str(&c, &ml);
            /* "left right", both in byte-level encoded form (which has no plain spaces) */
            const char *sp = ml ? memchr(ms, ' ', ml) : NULL;
            if (!sp)
                continue;
            int32_t ids[2] = {-1, -1};
            const char *parts[2] = {ms, sp + 1};
            size_t lens[2] = {(size_t)(sp - ms), ml - (size_t)(sp - ms) - 1};
            for (int k = 0; k < 2; k++) {
                buf_reset(&tmp);
                if (tok_bytelevel_to_bytes(parts[k], lens[k], &tmp))
                    ids[k] = tok_vmap_get(t, tmp.data ? tmp.data : "", tmp.len);
            }
            if (ids[0] < 0 || ids[1] < 0)
                continue;
            merges[2 * nm] = ids[0];
            merges[2 * nm + 1] = ids[1];
            nm++;
        }
        buf_free(&tmp);
        if (c.bad) {
            free(merges);
            tok_err(err, errsz, "GGUF merge list truncated");
            tok_free(t);
            return TOK_EFORMAT;
        }
    }
    rc = tok_build_done(t, merges, nm, err, errsz);
    if (rc < 0)
        return rc;
    *out = t;
    return 0;
}

/* tok_gguf.c - reads the tokenizer.ggml.* metadata of a GGUF v2/v3 file into a tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "base/gguf.h"
#include "base/mem.h"
#include "tokenizer/tok_internal.h"

static bool key_is(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

/* The tokenizer.ggml.* values, found through the shared GGUF reader (base/gguf.h), which has
 * already checked that every value lies inside the file. */
typedef struct {
    const char *model, *pre;
    size_t model_len, pre_len;
    const gguf_kv_t *tokens, *merges, *types, *scores;
    int64_t bos, eos, unk;
    int add_space_prefix, add_bos;
} meta_t;

static bool is_int_type(uint32_t t)
{
    return t <= GGUF_I32 || t == GGUF_BOOL || t == GGUF_U64 || t == GGUF_I64;
}

/* An optional id: -1 when absent, not an integer, or negative. */
static int64_t opt_id(const gguf_t *g, const char *key)
{
    int64_t v;
    return gguf_get_int(g, key, &v) == 0 && v >= 0 ? v : -1;
}

static int opt_bool(const gguf_t *g, const char *key)
{
    const gguf_kv_t *kv = gguf_find(g, key);
    int64_t v;
    return kv && kv->type == GGUF_BOOL && gguf_get_int(g, key, &v) == 0 ? v != 0 : -1;
}

static int read_meta(const gguf_t *g, meta_t *m, char *err, size_t errsz)
{
    memset(m, 0, sizeof *m);
    if (gguf_get_str(g, "tokenizer.ggml.model", &m->model, &m->model_len) != 0)
        m->model = NULL;
    if (gguf_get_str(g, "tokenizer.ggml.pre", &m->pre, &m->pre_len) != 0)
        m->pre = NULL;
    const gguf_kv_t *kv = gguf_find(g, "tokenizer.ggml.tokens");
    m->tokens = kv && kv->type == GGUF_ARR && kv->arr_type == GGUF_STR ? kv : NULL;
    kv = gguf_find(g, "tokenizer.ggml.merges");
    m->merges = kv && kv->type == GGUF_ARR && kv->arr_type == GGUF_STR ? kv : NULL;
    kv = gguf_find(g, "tokenizer.ggml.token_type");
    m->types = kv && kv->type == GGUF_ARR && is_int_type(kv->arr_type) ? kv : NULL;
    kv = gguf_find(g, "tokenizer.ggml.scores");
    m->scores = kv && kv->type == GGUF_ARR && kv->arr_type == GGUF_F32 ? kv : NULL;
    m->bos = opt_id(g, "tokenizer.ggml.bos_token_id");
    m->eos = opt_id(g, "tokenizer.ggml.eos_token_id");
    m->unk = opt_id(g, "tokenizer.ggml.unknown_token_id");
    m->add_space_prefix = opt_bool(g, "tokenizer.ggml.add_space_prefix");
    m->add_bos = opt_bool(g, "tokenizer.ggml.add_bos_token");
    if (!m->model || !m->tokens || m->tokens->arr_n == 0) {
        tok_err(err, errsz, "GGUF file has no tokenizer.ggml.model / tokenizer.ggml.tokens");
        return TOK_EFORMAT;
    }
    if (m->tokens->arr_n > INT32_MAX / 2) {
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

/* Builds the tokenizer from the parsed file g. */
static int load(const gguf_t *g, tok_family_t fam, tok_t **out, char *err, size_t errsz)
{
    meta_t m;
    int rc = read_meta(g, &m, err, errsz);
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
    uint64_t n_tokens = m.tokens->arr_n;
    bool types_ok = m.types && m.types->arr_n == n_tokens;
    bool scores_ok = m.scores && m.scores->arr_n == n_tokens;
    if (kind == TOK_KIND_SPM && !scores_ok) {
        tok_err(err, errsz, "SentencePiece GGUF without tokenizer.ggml.scores");
        return TOK_EFORMAT;
    }

    tok_builder_t b;
    tok_builder_init(&b, fam, kind, (int32_t)n_tokens);
    gguf_str_iter_t it;
    gguf_str_iter_init(&it, g, m.tokens);
    const char *ts;
    size_t tl;
    for (uint64_t i = 0; gguf_str_iter_next(&it, &ts, &tl); i++) {
        int64_t ty = types_ok ? gguf_arr_int(g, m.types, i) : TOK_T_NORMAL;
        if (ty < 0 || ty > TOK_T_BYTE)
            ty = TOK_T_NORMAL;
        float sc = scores_ok ? (float)gguf_arr_float(g, m.scores, i) : 0;
        bool raw = ty == TOK_T_CONTROL || ty == TOK_T_USER_DEFINED || ty == TOK_T_UNKNOWN;
        tok_builder_add(&b, ts, tl, (tok_type_t)ty, sc, raw);
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
    if (kind == TOK_KIND_BPE && m.merges && m.merges->arr_n > 0) {
        /* the reader checked each of the strings lies in the file, so the count is bounded */
        merges = xmalloc(m.merges->arr_n * 2 * sizeof(int32_t));
        gguf_str_iter_init(&it, g, m.merges);
        buf_t tmp;
        buf_init(&tmp, 1 << 20);
        const char *ms;
        size_t ml;
        while (gguf_str_iter_next(&it, &ms, &ml)) {
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
    }
    rc = tok_build_done(t, merges, nm, err, errsz);
    if (rc < 0)
        return rc;
    *out = t;
    return 0;
}

int tok_load_gguf(const void *data, size_t len, tok_family_t fam, tok_t **out, char *err,
                  size_t errsz)
{
    gguf_t g;
    char gerr[200];
    if (gguf_parse(data, len, &g, gerr, sizeof gerr) != 0) {
        tok_err(err, errsz, "GGUF: %s", gerr);
        return TOK_EFORMAT;
    }
    int rc = load(&g, fam, out, err, errsz);
    gguf_close(&g);
    return rc;
}

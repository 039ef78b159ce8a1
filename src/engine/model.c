/* model.c - loads a llama or qwen2 GGUF: hyper-parameters from metadata, every tensor checked
 * for name, shape and type, buffers sized once; sequences and their KV caches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/kernels.h"
#include "engine/model_int.h"

#define DEFAULT_CTX_CAP 4096
#define DEFAULT_BATCH 256

/* ---- metadata ---- */

typedef struct {
    const gguf_t *g;
    char arch[32];
    char *err;
    size_t errsz;
} meta_t;

/* {arch}.name as an integer in [lo, hi]; def when absent (def < 0: required). */
static int hp_int(meta_t *mt, const char *name, int64_t def, int64_t lo, int64_t hi, int *out)
{
    char key[96];
    snprintf(key, sizeof key, "%s.%s", mt->arch, name);
    int64_t v;
    int rc = gguf_get_int(mt->g, key, &v);
    if (rc == GGUF_ENOTFOUND && def >= 0) {
        v = def;
    } else if (rc) {
        snprintf(mt->err, mt->errsz, "%s: %s", key,
                 rc == GGUF_ENOTFOUND ? "missing" : "not an integer");
        return ENG_EFORMAT;
    }
    if (v < lo || v > hi) {
        snprintf(mt->err, mt->errsz, "%s is %lld (expected %lld to %lld)", key, (long long)v,
                 (long long)lo, (long long)hi);
        return ENG_EFORMAT;
    }
    *out = (int)v;
    return 0;
}

static int hp_float(meta_t *mt, const char *name, double def, float *out)
{
    char key[96];
    snprintf(key, sizeof key, "%s.%s", mt->arch, name);
    double v;
    int rc = gguf_get_float(mt->g, key, &v);
    if (rc == GGUF_ENOTFOUND)
        v = def;
    else if (rc || !(v > 0) || v > 1e12) {
        snprintf(mt->err, mt->errsz, "%s: not a positive number", key);
        return ENG_EFORMAT;
    }
    *out = (float)v;
    return 0;
}

/* RoPE scaling: none, or linear (positions divided by {arch}.rope.scaling.factor, as
 * deepseek-coder's files say); any other kind is refused rather than run with wrong positions.
 * Per-dimension frequency factors (Llama 3's, in the tensor rope_freqs.weight) are read at load. */
static int read_rope_scaling(eng_model_t *m, meta_t *mt)
{
    char key[96];
    const char *ty = NULL;
    size_t tl = 0;
    m->hp.rope_scale = 1;
    snprintf(key, sizeof key, "%s.rope.scaling.type", mt->arch);
    if (gguf_get_str(&m->g, key, &ty, &tl) == 0 && !(tl == 4 && memcmp(ty, "none", 4) == 0)) {
        if (!(tl == 6 && memcmp(ty, "linear", 6) == 0)) {
            snprintf(mt->err, mt->errsz, "%s '%.*s' is not supported (none, linear)", key,
                     (int)(tl > 40 ? 40 : tl), ty);
            return ENG_EFORMAT;
        }
        return hp_float(mt, "rope.scaling.factor", 1.0, &m->hp.rope_scale);
    }
    /* the older spelling of a linear factor */
    return hp_float(mt, "rope.scale_linear", 1.0, &m->hp.rope_scale);
}

static int read_hparams(eng_model_t *m, meta_t *mt)
{
    eng_hparams_t *hp = &m->hp;
    const char *a;
    size_t al;
    if (gguf_get_str(&m->g, "general.architecture", &a, &al) != 0) {
        snprintf(mt->err, mt->errsz, "general.architecture missing");
        return ENG_EFORMAT;
    }
    if (al == 5 && memcmp(a, "llama", 5) == 0) {
        hp->arch = ENG_ARCH_LLAMA;
    } else if (al == 5 && memcmp(a, "qwen2", 5) == 0) {
        hp->arch = ENG_ARCH_QWEN2;
    } else {
        snprintf(mt->err, mt->errsz, "architecture '%.*s' not supported (llama, qwen2)",
                 (int)(al > 40 ? 40 : al), a);
        return ENG_EFORMAT;
    }
    memcpy(mt->arch, a, al);
    mt->arch[al] = 0;
    int rc = hp_int(mt, "embedding_length", -1, 1, 1 << 16, &hp->dim);
    rc = rc ? rc : hp_int(mt, "block_count", -1, 1, 1024, &hp->n_layers);
    rc = rc ? rc : hp_int(mt, "attention.head_count", -1, 1, 1024, &hp->n_heads);
    rc = rc ? rc
            : hp_int(mt, "attention.head_count_kv", hp->n_heads, 1, hp->n_heads, &hp->n_kv_heads);
    rc = rc ? rc : hp_int(mt, "feed_forward_length", -1, 1, 1 << 20, &hp->ffn_dim);
    rc = rc ? rc : hp_int(mt, "context_length", 2048, 1, 1 << 24, &hp->ctx_train);
    if (rc)
        return rc;
    if (hp->dim % hp->n_heads || hp->n_heads % hp->n_kv_heads) {
        snprintf(mt->err, mt->errsz,
                 "%d heads do not divide dimension %d, or %d kv heads the heads", hp->n_heads,
                 hp->dim, hp->n_kv_heads);
        return ENG_EFORMAT;
    }
    hp->head_dim = hp->dim / hp->n_heads;
    rc =
        hp_int(mt, "attention.key_length", hp->head_dim, hp->head_dim, hp->head_dim, &hp->head_dim);
    int rot;
    rc = rc ? rc
            : hp_int(mt, "rope.dimension_count", hp->head_dim, hp->head_dim, hp->head_dim, &rot);
    if (rc == 0 && hp->head_dim % 2) {
        snprintf(mt->err, mt->errsz, "head size %d is odd", hp->head_dim);
        rc = ENG_EFORMAT;
    }
    rc = rc ? rc
            : hp_float(mt, "attention.layer_norm_rms_epsilon",
                       hp->arch == ENG_ARCH_QWEN2 ? 1e-6 : 1e-5, &hp->rms_eps);
    rc = rc ? rc : hp_float(mt, "rope.freq_base", 10000.0, &hp->rope_base);
    hp->rope_neox = hp->arch == ENG_ARCH_QWEN2;
    if (rc == 0)
        rc = read_rope_scaling(m, mt);
    return rc;
}

/* ---- tensors ---- */

/* Finds name and checks its shape (ne0 elements per row, ne1 rows; ne1 0 for a vector). */
static const gguf_tensor_t *need_tensor(eng_model_t *m, meta_t *mt, const char *name, int64_t ne0,
                                        int64_t ne1, bool optional)
{
    const gguf_tensor_t *t = gguf_tensor(&m->g, name);
    if (!t) {
        if (!optional)
            snprintf(mt->err, mt->errsz, "tensor '%s' missing", name);
        return NULL;
    }
    bool ok = t->ne[0] == (uint64_t)ne0 && t->ne[2] == 1 && t->ne[3] == 1 &&
              (ne1 ? t->ne[1] == (uint64_t)ne1 : t->ne[1] == 1);
    if (!ok) {
        snprintf(mt->err, mt->errsz,
                 "tensor '%s' has shape [%llu, %llu, %llu, %llu], expected [%lld, %lld]", name,
                 (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                 (unsigned long long)t->ne[2], (unsigned long long)t->ne[3], (long long)ne0,
                 (long long)(ne1 ? ne1 : 1));
        return NULL;
    }
    if (!eng_type_supported(t->type)) {
        snprintf(mt->err, mt->errsz, "tensor '%s' has type %s, which the engine does not run", name,
                 gguf_type_name(t->type));
        return NULL;
    }
    return t;
}

static int get_mat(eng_model_t *m, meta_t *mt, const char *name, int n_in, int n_out, eng_mat_t *w)
{
    const gguf_tensor_t *t = need_tensor(m, mt, name, n_in, n_out, false);
    if (!t)
        return ENG_EFORMAT;
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = eng_row_bytes(t->type, n_in);
    return 0;
}

/* A 1-D tensor of n floats, dequantised into *dst (from the model's small-tensor arena). */
static int get_vec(eng_model_t *m, meta_t *mt, const char *name, int n, float **dst, float **arena,
                   bool optional)
{
    const gguf_tensor_t *t = need_tensor(m, mt, name, n, 0, optional);
    if (!t) {
        *dst = NULL;
        return optional && !gguf_tensor(&m->g, name) ? 0 : ENG_EFORMAT;
    }
    *dst = *arena;
    *arena += n;
    eng_dequantize_row(t->type, t->data, *dst, n);
    return 0;
}

static int load_tensors(eng_model_t *m, meta_t *mt)
{
    eng_hparams_t *hp = &m->hp;
    int dim = hp->dim, q = m->q_dim, kv = m->kv_dim, ffn = hp->ffn_dim;
    const gguf_tensor_t *e = gguf_tensor(&m->g, "token_embd.weight");
    if (!e || e->ne[0] != (uint64_t)dim || e->ne[1] < 1 || e->ne[1] > (1u << 24) || e->ne[2] != 1 ||
        e->ne[3] != 1) {
        snprintf(mt->err, mt->errsz, "tensor 'token_embd.weight' missing or not [%d, vocab]", dim);
        return ENG_EFORMAT;
    }
    hp->n_vocab = (int)e->ne[1];
    if (!need_tensor(m, mt, "token_embd.weight", dim, hp->n_vocab, false))
        return ENG_EFORMAT;
    m->embd = e->data;
    m->embd_type = e->type;
    m->embd_row_bytes = eng_row_bytes(e->type, dim);

    /* norms, biases and RoPE frequency factors */
    size_t nsmall = (size_t)dim * (2 * (size_t)hp->n_layers + 1) +
                    (size_t)(q + 2 * kv) * hp->n_layers + (size_t)hp->head_dim / 2;
    m->small = xmalloc(nsmall * sizeof(float));
    float *arena = m->small;
    m->layers = xcalloc((size_t)hp->n_layers, sizeof *m->layers);
    char nm[96];
#define NAME(fmt) (snprintf(nm, sizeof nm, "blk.%d." fmt, l), nm)
    for (int l = 0; l < hp->n_layers; l++) {
        eng_layer_t *L = &m->layers[l];
        bool bias = hp->arch == ENG_ARCH_QWEN2;
        int rc = get_vec(m, mt, NAME("attn_norm.weight"), dim, &L->attn_norm, &arena, false);
        rc = rc ? rc : get_mat(m, mt, NAME("attn_q.weight"), dim, q, &L->wq);
        rc = rc ? rc : get_mat(m, mt, NAME("attn_k.weight"), dim, kv, &L->wk);
        rc = rc ? rc : get_mat(m, mt, NAME("attn_v.weight"), dim, kv, &L->wv);
        rc = rc ? rc : get_mat(m, mt, NAME("attn_output.weight"), q, dim, &L->wo);
        rc = rc ? rc : get_vec(m, mt, NAME("attn_q.bias"), q, &L->bq, &arena, !bias);
        rc = rc ? rc : get_vec(m, mt, NAME("attn_k.bias"), kv, &L->bk, &arena, !bias);
        rc = rc ? rc : get_vec(m, mt, NAME("attn_v.bias"), kv, &L->bv, &arena, !bias);
        rc = rc ? rc : get_vec(m, mt, NAME("ffn_norm.weight"), dim, &L->ffn_norm, &arena, false);
        rc = rc ? rc : get_mat(m, mt, NAME("ffn_gate.weight"), dim, ffn, &L->w_gate);
        rc = rc ? rc : get_mat(m, mt, NAME("ffn_up.weight"), dim, ffn, &L->w_up);
        rc = rc ? rc : get_mat(m, mt, NAME("ffn_down.weight"), ffn, dim, &L->w_down);
        if (rc)
            return rc;
    }
#undef NAME
    int rc = get_vec(m, mt, "output_norm.weight", dim, &m->out_norm, &arena, false);
    if (rc)
        return rc;
    if (gguf_tensor(&m->g, "output.weight")) {
        rc = get_mat(m, mt, "output.weight", dim, hp->n_vocab, &m->out);
    } else {
        hp->tied_output = true;
        rc = get_mat(m, mt, "token_embd.weight", dim, hp->n_vocab, &m->out);
    }
    hp->weight_type = m->layers[0].wq.type;
    if (rc == 0 && gguf_tensor(&m->g, "rope_freqs.weight"))
        rc = get_vec(m, mt, "rope_freqs.weight", hp->head_dim / 2, &m->rope_freqs, &arena, false);
    return rc;
}

/* ---- scratch ---- */

static size_t max_act_bytes(const eng_model_t *m, int n)
{
    /* the float format is the largest: 4 bytes an element against at most 40/32 */
    (void)m;
    return (size_t)n * sizeof(float) + 64;
}

static void alloc_scratch(eng_model_t *m, int threads)
{
    eng_scratch_t *s = &m->s;
    size_t B = (size_t)m->batch, dim = (size_t)m->hp.dim, q = (size_t)m->q_dim,
           kv = (size_t)m->kv_dim, ffn = (size_t)m->hp.ffn_dim, ctx = (size_t)m->hp.ctx;
    s->x = xmalloc(B * dim * sizeof(float));
    s->xb = xmalloc(B * dim * sizeof(float));
    s->xb2 = xmalloc(B * q * sizeof(float));
    s->q = xmalloc(B * q * sizeof(float));
    s->k = xmalloc(B * kv * sizeof(float));
    s->v = xmalloc(B * kv * sizeof(float));
    s->hb = xmalloc(B * ffn * sizeof(float));
    s->hb2 = xmalloc(B * ffn * sizeof(float));
    s->att = xmalloc((size_t)threads * ctx * sizeof(float));
    size_t widest = dim > q ? dim : q;
    widest = widest > ffn ? widest : ffn;
    for (int i = 0; i < 3; i++)
        s->act[i] = xmalloc(B * max_act_bytes(m, (int)widest));
    s->nthreads = threads;
    s->pack = xcalloc((size_t)threads, sizeof *s->pack);
    for (int i = 0; i < threads; i++)
        s->pack[i] = xmalloc(eng_gemm_scratch_bytes((int64_t)widest));
    size_t half = (size_t)m->hp.head_dim / 2;
    s->rope_cos = xmalloc(ctx * half * sizeof(float));
    s->rope_sin = xmalloc(ctx * half * sizeof(float));
    for (size_t p = 0; p < ctx; p++) {
        for (size_t i = 0; i < half; i++) {
            double freq = pow((double)m->hp.rope_base, -2.0 * (double)i / (double)m->hp.head_dim);
            if (m->rope_freqs)
                freq /= (double)m->rope_freqs[i];
            double th = (double)p / (double)m->hp.rope_scale * freq;
            s->rope_cos[p * half + i] = (float)cos(th);
            s->rope_sin[p * half + i] = (float)sin(th);
        }
    }
}

static void free_scratch(eng_scratch_t *s)
{
    free(s->x);
    free(s->xb);
    free(s->xb2);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->hb);
    free(s->hb2);
    free(s->att);
    for (int i = 0; i < 3; i++)
        free(s->act[i]);
    for (int i = 0; s->pack && i < s->nthreads; i++)
        free(s->pack[i]);
    free(s->pack);
    free(s->rope_cos);
    free(s->rope_sin);
}

/* ---- the model ---- */

/* Everything after the file is parsed into m->g: hyper-parameters, tensors, buffers, the
 * vocabulary. name prefixes messages. */
static int model_init(eng_model_t *m, const eng_opts_t *opts, const char *name, char *err,
                      size_t errsz)
{
    eng_opts_t o = opts ? *opts : (eng_opts_t){0};
    char e2[256] = "";
    meta_t mt = {.g = &m->g, .err = e2, .errsz = sizeof e2};
    int rc = read_hparams(m, &mt);
    if (rc == 0) {
        m->q_dim = m->hp.n_heads * m->hp.head_dim;
        m->kv_dim = m->hp.n_kv_heads * m->hp.head_dim;
        rc = load_tensors(m, &mt);
    }
    if (rc == 0 && (o.ctx < 0 || o.ctx > (1 << 20) || o.batch < 0 || o.batch > ENG_MAX_BATCH ||
                    o.threads < 0 || o.threads > 256)) {
        snprintf(e2, sizeof e2, "ctx, batch or threads out of range");
        rc = ENG_EINVAL;
    }
    if (rc) {
        snprintf(err, errsz, "%s: %s", name, e2);
        return rc;
    }
    m->hp.ctx =
        o.ctx ? o.ctx : (m->hp.ctx_train < DEFAULT_CTX_CAP ? m->hp.ctx_train : DEFAULT_CTX_CAP);
    m->batch = o.batch ? o.batch : DEFAULT_BATCH;
    if (m->batch > m->hp.ctx)
        m->batch = m->hp.ctx;
    int threads = o.threads ? o.threads : 1;
    m->pool = eng_pool_new(threads);
    alloc_scratch(m, eng_pool_size(m->pool));
    /* the vocabulary is optional: a file without one runs on ids */
    if (gguf_find(&m->g, "tokenizer.ggml.tokens")) {
        char te[256];
        if (tok_load_gguf(m->g.data, m->g.size, TOK_FAM_AUTO, &m->tok, te, sizeof te) != 0) {
            snprintf(err, errsz, "%s: tokenizer: %s", name, te);
            return ENG_EFORMAT;
        }
    }
    return 0;
}

int eng_model_load(const char *path, const eng_opts_t *opts, eng_model_t **out, char *err,
                   size_t errsz)
{
    eng_isa();
    eng_model_t *m = xcalloc(1, sizeof *m);
    int rc = gguf_open(path, &m->g, err, errsz);
    if (rc) {
        free(m);
        return rc == GGUF_EIO ? ENG_EIO : ENG_EFORMAT;
    }
    rc = model_init(m, opts, path, err, errsz);
    if (rc) {
        eng_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int eng_model_load_mem(const void *data, size_t len, const eng_opts_t *opts, eng_model_t **out,
                       char *err, size_t errsz)
{
    eng_isa();
    eng_model_t *m = xcalloc(1, sizeof *m);
    char e2[256];
    if (gguf_parse(data, len, &m->g, e2, sizeof e2) != 0) {
        snprintf(err, errsz, "GGUF: %s", e2);
        free(m);
        return ENG_EFORMAT;
    }
    int rc = model_init(m, opts, "GGUF", err, errsz);
    if (rc) {
        eng_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void eng_model_free(eng_model_t *m)
{
    if (!m)
        return;
    eng_pool_free(m->pool);
    free_scratch(&m->s);
    if (m->tok)
        tok_free(m->tok);
    free(m->layers);
    free(m->small);
    gguf_close(&m->g);
    free(m);
}

const eng_hparams_t *eng_model_hparams(const eng_model_t *m)
{
    return &m->hp;
}

const tok_t *eng_model_tok(const eng_model_t *m)
{
    return m->tok;
}

bool eng_model_add_bos(const eng_model_t *m)
{
    int64_t v;
    if (gguf_get_int(&m->g, "tokenizer.ggml.add_bos_token", &v) == 0)
        return v != 0;
    const char *s;
    size_t len;
    return gguf_get_str(&m->g, "tokenizer.ggml.model", &s, &len) == 0 && len == 5 &&
           memcmp(s, "llama", 5) == 0;
}

static uint64_t mat_bytes(const eng_mat_t *w)
{
    return (uint64_t)w->row_bytes * (uint64_t)w->n_out;
}

uint64_t eng_model_weight_bytes(const eng_model_t *m)
{
    uint64_t b = m->embd_row_bytes + mat_bytes(&m->out);
    for (int l = 0; l < m->hp.n_layers; l++) {
        const eng_layer_t *L = &m->layers[l];
        b += mat_bytes(&L->wq) + mat_bytes(&L->wk) + mat_bytes(&L->wv) + mat_bytes(&L->wo) +
             mat_bytes(&L->w_gate) + mat_bytes(&L->w_up) + mat_bytes(&L->w_down);
    }
    return b;
}

/* ---- sequences ---- */

eng_seq_t *eng_seq_new(eng_model_t *m)
{
    eng_seq_t *s = xcalloc(1, sizeof *s);
    s->m = m;
    size_t n = (size_t)m->hp.n_layers * (size_t)m->hp.ctx * (size_t)m->kv_dim;
    s->k = xcalloc(n, sizeof(float));
    s->v = xcalloc(n, sizeof(float));
    return s;
}

void eng_seq_free(eng_seq_t *s)
{
    if (!s)
        return;
    free(s->k);
    free(s->v);
    free(s);
}

int eng_seq_pos(const eng_seq_t *s)
{
    return s->pos;
}

void eng_seq_truncate(eng_seq_t *s, int pos)
{
    if (pos >= 0 && pos < s->pos)
        s->pos = pos;
}

static bool ids_ok(const eng_model_t *m, const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->hp.n_vocab)
            return false;
    return true;
}

int eng_prefill(eng_seq_t *s, const int32_t *ids, int n, float *logits, bool all)
{
    eng_model_t *m = s->m;
    if (n < 0 || !ids_ok(m, ids, n))
        return ENG_EINVAL;
    if (n > m->hp.ctx - s->pos)
        return ENG_EFULL;
    /* scratch for the row bookkeeping: at most batch rows per pass */
    eng_seq_t *seqs[ENG_MAX_BATCH];
    int pos[ENG_MAX_BATCH];
    bool want[ENG_MAX_BATCH];
    int chunk = m->batch;
    for (int done = 0; done < n;) {
        int b = n - done < chunk ? n - done : chunk;
        for (int i = 0; i < b; i++) {
            seqs[i] = s;
            pos[i] = s->pos + i;
            want[i] = all || done + i == n - 1;
        }
        float *lg = NULL;
        if (logits)
            lg = all ? logits + (size_t)done * (size_t)m->hp.n_vocab : logits;
        eng_forward(m, seqs, pos, ids + done, b, want, lg);
        s->pos += b;
        done += b;
    }
    return 0;
}

int eng_decode(eng_seq_t *const *seqs, int nseq, const int32_t *ids, float *logits)
{
    if (nseq < 1)
        return ENG_EINVAL;
    eng_model_t *m = seqs[0]->m;
    if (nseq > m->batch || !ids_ok(m, ids, nseq))
        return ENG_EINVAL;
    int pos[ENG_MAX_BATCH];
    for (int i = 0; i < nseq; i++) {
        if (seqs[i]->m != m)
            return ENG_EINVAL;
        if (seqs[i]->pos >= m->hp.ctx)
            return ENG_EFULL;
        for (int j = 0; j < i; j++)
            if (seqs[j] == seqs[i])
                return ENG_EINVAL;
        pos[i] = seqs[i]->pos;
    }
    eng_forward(m, seqs, pos, ids, nseq, NULL, logits);
    for (int i = 0; i < nseq; i++)
        seqs[i]->pos++;
    return 0;
}

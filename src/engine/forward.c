/* forward.c - the transformer forward pass for llama and qwen2, over a batch of rows (prompt
 * tokens of one sequence, or one new token from each of several sequences). Matmuls and
 * attention are split over the pool's threads; nothing here allocates. */
#include <math.h>
#include <string.h>

#include "engine/kernels.h"
#include "engine/model_int.h"

/* ---- threaded matmul ---- */

typedef struct {
    const eng_mat_t *w;
    const void *act; /* B activation rows in w's activation format (eng_qa32_t for gemm) */
    size_t astride;
    float *y; /* (B, n_out) */
    bool gemm;
} mm_job_t;

typedef struct {
    mm_job_t jobs[3];
    int njobs, B;
    int first[4];      /* chunk numbers where each job starts; first[njobs] is the total */
    int rows[3];       /* output rows per chunk of each job */
    void *const *pack; /* per thread: eng_gemm_tile's scratch */
} mm_task_t;

/* From this many rows on, prompt processing packs weight tiles for the VNNI matmul. */
#define GEMM_MIN_ROWS 4
/* Output rows per chunk a thread claims: about 8 chunks per thread, so a slow thread is caught
 * up by the others, at least 32 rows, and a multiple of the gemm's 8-row tile. */
#define CHUNK_MIN_ROWS 32
#define CHUNKS_PER_THREAD 8

static void mm_run(void *arg, int chunk, int ith)
{
    const mm_task_t *t = arg;
    int j = 0;
    while (chunk >= t->first[j + 1])
        j++;
    const mm_job_t *jb = &t->jobs[j];
    int n = jb->w->n_out, r0 = (chunk - t->first[j]) * t->rows[j];
    int r1 = r0 + t->rows[j] < n ? r0 + t->rows[j] : n;
    if (jb->gemm)
        eng_gemm_tile(jb->w->type, jb->w->n_in, jb->w->data, jb->w->row_bytes, r0, r1, jb->act,
                      jb->astride, t->B, jb->y, (size_t)n, t->pack[ith]);
    else
        eng_dot_tile(jb->w->type, jb->w->n_in, jb->w->data, jb->w->row_bytes, r0, r1, jb->act,
                     jb->astride, t->B, jb->y, (size_t)n);
}

/* The activation formats one matmul group needs: a weight type, or UINT32_MAX for the gemm's
 * eng_qa32_t; quantised one row per chunk. */
typedef struct {
    const float *x;
    int n_in, nfmts;
    uint32_t fmts[3];
    void *bufs[3];
    size_t astride[3];
} quant_task_t;

static void quant_run(void *arg, int b, int ith)
{
    (void)ith;
    const quant_task_t *q = arg;
    const float *xr = q->x + (size_t)b * (size_t)q->n_in;
    for (int k = 0; k < q->nfmts; k++) {
        void *dst = (char *)q->bufs[k] + (size_t)b * q->astride[k];
        if (q->fmts[k] == UINT32_MAX)
            eng_quantize_q32(xr, dst, q->n_in);
        else
            eng_quantize_act(q->fmts[k], xr, dst, q->n_in);
    }
}

/* y_i = W_i x for up to three matrices taking the same input rows x (B, n_in): the rows are
 * quantised once per activation format (in parallel), then one pool task runs the matrices. */
static void matmul(eng_model_t *m, int B, const float *x, int n, const eng_mat_t *const *ws,
                   float *const *ys)
{
    mm_task_t t = {.njobs = n, .B = B, .pack = m->s.pack};
    quant_task_t qt = {.x = x, .n_in = ws[0]->n_in};
    for (int j = 0; j < n; j++) {
        const eng_mat_t *w = ws[j];
        bool gemm = B >= GEMM_MIN_ROWS && eng_gemm_ok(w->type);
        uint32_t fmt = gemm ? UINT32_MAX : w->type;
        size_t astride =
            gemm ? (size_t)w->n_in / 32 * sizeof(eng_qa32_t) : eng_act_bytes(w->type, w->n_in);
        int k = 0;
        while (k < qt.nfmts && qt.fmts[k] != fmt)
            k++;
        if (k == qt.nfmts) {
            qt.fmts[k] = fmt;
            qt.bufs[k] = m->s.act[k];
            qt.astride[k] = astride;
            qt.nfmts++;
        }
        t.jobs[j] =
            (mm_job_t){.w = w, .act = qt.bufs[k], .astride = astride, .y = ys[j], .gemm = gemm};
        int rows = (w->n_out / (eng_pool_size(m->pool) * CHUNKS_PER_THREAD) + 7) & ~7;
        t.rows[j] = rows > CHUNK_MIN_ROWS ? rows : CHUNK_MIN_ROWS;
        t.first[j + 1] = t.first[j] + (w->n_out + t.rows[j] - 1) / t.rows[j];
    }
    eng_pool_run(m->pool, quant_run, &qt, B);
    eng_pool_run(m->pool, mm_run, &t, t.first[n]);
}

static void matmul1(eng_model_t *m, int B, const float *x, const eng_mat_t *w, float *y)
{
    matmul(m, B, x, 1, &w, &y);
}

/* ---- element-wise parts ---- */

static void rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
    float ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float sc = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        o[i] = x[i] * sc * w[i];
}

/* Rotates each head of v (n_heads of head_dim) by position pos: adjacent pairs (2i, 2i+1) in
 * GGML's normal mode (llama), or (i, i + head_dim/2) in NEOX mode (qwen2). */
static void rope(const eng_model_t *m, float *v, int n_heads, int pos)
{
    int hd = m->hp.head_dim, half = hd / 2;
    const float *c = m->s.rope_cos + (size_t)pos * (size_t)half,
                *s = m->s.rope_sin + (size_t)pos * (size_t)half;
    for (int h = 0; h < n_heads; h++, v += hd) {
        for (int i = 0; i < half; i++) {
            int a = m->hp.rope_neox ? i : 2 * i, b = m->hp.rope_neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c[i] - x1 * s[i];
            v[b] = x0 * s[i] + x1 * c[i];
        }
    }
}

/* ---- attention ---- */

typedef struct {
    eng_model_t *m;
    eng_seq_t *const *seqs;
    const int *pos;
    int layer, B;
} att_task_t;

/* Items (row b, head h) per attention chunk, keeping the count within the pool's limit. */
static int att_per_chunk(int items)
{
    return (items + 4095) / 4096;
}

/* One chunk: items [chunk * per, ...) where item = b * n_heads + h. */
static void att_run(void *arg, int chunk, int ith)
{
    const att_task_t *t = arg;
    const eng_model_t *m = t->m;
    int hd = m->hp.head_dim, nh = m->hp.n_heads, group = nh / m->hp.n_kv_heads;
    size_t kvd = (size_t)m->kv_dim, ctx = (size_t)m->hp.ctx;
    float *att = m->s.att + (size_t)ith * ctx, scale = 1.0f / sqrtf((float)hd);
    int per = att_per_chunk(t->B * nh), end = (chunk + 1) * per;
    for (int it = chunk * per; it < end && it < t->B * nh; it++) {
        int b = it / nh, h = it % nh, p = t->pos[b];
        const eng_seq_t *s = t->seqs[b];
        const float *q = m->s.q + (size_t)b * (size_t)m->q_dim + (size_t)h * (size_t)hd;
        size_t off = (size_t)t->layer * ctx * kvd + (size_t)(h / group) * (size_t)hd;
        const float *K = s->k + off, *V = s->v + off;
        float *o = m->s.xb2 + (size_t)b * (size_t)m->q_dim + (size_t)h * (size_t)hd;
        eng_attn(hd, p + 1, q, K, V, kvd, scale, att, o);
    }
}

/* ---- per-row stages, over the batch's rows in the pool ---- */

typedef struct {
    eng_model_t *m;
    eng_seq_t *const *seqs;
    const int *pos;
    const eng_layer_t *L;
    int layer;
    const float *norm; /* norm_run: the RMSNorm weight, or NULL for the residual add alone */
    bool add;          /* norm_run: x += xb first */
} row_task_t;

/* Row b: the residual add of the last projection, then RMSNorm into xb. */
static void norm_run(void *arg, int b, int ith)
{
    (void)ith;
    const row_task_t *t = arg;
    eng_scratch_t *s = &t->m->s;
    size_t dim = (size_t)t->m->hp.dim;
    float *x = s->x + (size_t)b * dim, *xb = s->xb + (size_t)b * dim;
    if (t->add)
        for (size_t i = 0; i < dim; i++)
            x[i] += xb[i];
    if (t->norm)
        rmsnorm(xb, x, t->norm, (int)dim, t->m->hp.rms_eps);
}

/* Row b after the Q/K/V projections: biases, RoPE, and K, V into its sequence's cache. */
static void qkv_run(void *arg, int b, int ith)
{
    (void)ith;
    const row_task_t *t = arg;
    const eng_model_t *m = t->m;
    const eng_layer_t *L = t->L;
    size_t qd = (size_t)m->q_dim, kvd = (size_t)m->kv_dim;
    float *q = m->s.q + b * qd, *k = m->s.k + b * kvd, *v = m->s.v + b * kvd;
    if (L->bq) {
        for (size_t i = 0; i < qd; i++)
            q[i] += L->bq[i];
        for (size_t i = 0; i < kvd; i++) {
            k[i] += L->bk[i];
            v[i] += L->bv[i];
        }
    }
    rope(m, q, m->hp.n_heads, t->pos[b]);
    rope(m, k, m->hp.n_kv_heads, t->pos[b]);
    size_t at = ((size_t)t->layer * (size_t)m->hp.ctx + (size_t)t->pos[b]) * kvd;
    memcpy(t->seqs[b]->k + at, k, kvd * sizeof(float));
    memcpy(t->seqs[b]->v + at, v, kvd * sizeof(float));
}

static void swiglu_run(void *arg, int b, int ith)
{
    (void)ith;
    const row_task_t *t = arg;
    size_t ffn = (size_t)t->m->hp.ffn_dim;
    eng_silu_mul((int64_t)ffn, t->m->s.hb + (size_t)b * ffn, t->m->s.hb2 + (size_t)b * ffn);
}

/* ---- the pass ---- */

void eng_forward(eng_model_t *m, eng_seq_t *const *seqs, const int *pos, const int32_t *ids, int B,
                 const bool *want, float *logits)
{
    const eng_hparams_t *hp = &m->hp;
    eng_scratch_t *s = &m->s;
    size_t dim = (size_t)hp->dim;

    for (int b = 0; b < B; b++)
        eng_dequantize_row(m->embd_type, (const char *)m->embd + (size_t)ids[b] * m->embd_row_bytes,
                           s->x + (size_t)b * dim, hp->dim);
    row_task_t rt = {.m = m, .seqs = seqs, .pos = pos, .norm = m->layers[0].attn_norm};
    eng_pool_run(m->pool, norm_run, &rt, B);

    for (int l = 0; l < hp->n_layers; l++) {
        const eng_layer_t *L = &m->layers[l];
        rt.L = L;
        rt.layer = l;
        const eng_mat_t *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {s->q, s->k, s->v};
        matmul(m, B, s->xb, 3, qkv, qkv_out);
        eng_pool_run(m->pool, qkv_run, &rt, B);
        att_task_t at = {.m = m, .seqs = seqs, .pos = pos, .layer = l, .B = B};
        int items = B * hp->n_heads, per = att_per_chunk(items);
        eng_pool_run(m->pool, att_run, &at, (items + per - 1) / per);
        matmul1(m, B, s->xb2, &L->wo, s->xb);
        rt.add = true;
        rt.norm = L->ffn_norm;
        eng_pool_run(m->pool, norm_run, &rt, B);

        const eng_mat_t *gu[2] = {&L->w_gate, &L->w_up};
        float *gu_out[2] = {s->hb, s->hb2};
        matmul(m, B, s->xb, 2, gu, gu_out);
        eng_pool_run(m->pool, swiglu_run, &rt, B);
        matmul1(m, B, s->hb, &L->w_down, s->xb);
        /* the residual, and the next layer's first norm */
        rt.norm = l + 1 < hp->n_layers ? m->layers[l + 1].attn_norm : NULL;
        eng_pool_run(m->pool, norm_run, &rt, B);
    }

    if (!logits)
        return;
    /* the final norm and the classifier only for the rows whose logits are wanted */
    int n = 0;
    for (int b = 0; b < B; b++)
        if (!want || want[b])
            rmsnorm(s->xb + (size_t)n++ * dim, s->x + b * dim, m->out_norm, hp->dim, hp->rms_eps);
    if (n)
        matmul1(m, n, s->xb, &m->out, logits);
}

/* model_int.h - the model's structs, shared by model.c (loading) and forward.c (the pass). */
#ifndef SEEKD_ENGINE_MODEL_INT_H
#define SEEKD_ENGINE_MODEL_INT_H

#include "base/gguf.h"
#include "engine/engine.h"
#include "engine/pool.h"

/* The most rows one forward pass takes (prompt tokens, or sequences decoding together). */
#define ENG_MAX_BATCH 512

/* A weight matrix of n_out rows of n_in elements, pointing into the mapped file. */
typedef struct {
    const void *data;
    uint32_t type;
    int n_in, n_out;
    size_t row_bytes;
} eng_mat_t;

typedef struct {
    float *attn_norm;               /* (dim) */
    eng_mat_t wq, wk, wv, wo;       /* (q_dim, dim), (kv_dim, dim) x2, (dim, q_dim) */
    float *bq, *bk, *bv;            /* qwen2: (q_dim), (kv_dim), (kv_dim); else NULL */
    float *ffn_norm;                /* (dim) */
    eng_mat_t w_gate, w_up, w_down; /* (ffn, dim) x2, (dim, ffn) */
} eng_layer_t;

/* Scratch for one forward pass of up to `batch` rows, allocated at load. */
typedef struct {
    float *x, *xb, *xb2; /* (batch, dim), (batch, dim), (batch, q_dim) */
    float *q, *k, *v;    /* (batch, q_dim), (batch, kv_dim) x2 */
    float *hb, *hb2;     /* (batch, ffn) */
    float *att;          /* (threads, ctx) attention scores */
    void *act[3];        /* quantised activations, one per weight type of a matmul group */
    void **pack;         /* (nthreads) eng_gemm_tile scratch */
    int nthreads;
    float *rope_cos, *rope_sin; /* (ctx, head_dim / 2) */
} eng_scratch_t;

struct eng_model {
    gguf_t g;
    eng_hparams_t hp;
    int q_dim, kv_dim, batch;
    const void *embd; /* (vocab, dim) rows of embd_type */
    uint32_t embd_type;
    size_t embd_row_bytes;
    eng_layer_t *layers;
    float *out_norm;   /* (dim) */
    float *rope_freqs; /* (head_dim / 2) frequency divisors, or NULL */
    eng_mat_t out;     /* (vocab, dim) */
    float *small;      /* one allocation holding the dequantised 1-D tensors */
    eng_scratch_t s;
    eng_pool_t *pool;
    tok_t *tok;
};

struct eng_seq {
    eng_model_t *m;
    int pos;
    float *k, *v; /* (layer, ctx, kv_dim) */
};

/** Runs B rows through the model: row b is token ids[b] of seqs[b] at position pos[b]. Writes
 * n_vocab logits for each row with want[b] (or every row when want is NULL) into consecutive
 * rows of logits. */
void eng_forward(eng_model_t *m, eng_seq_t *const *seqs, const int *pos, const int32_t *ids, int B,
                 const bool *want, float *logits);

#endif

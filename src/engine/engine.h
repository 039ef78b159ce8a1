/* engine.h - the local inference engine: a model loaded from a GGUF file (weights mapped, not
 * copied), sequences with their own KV cache, batched prompt processing and decoding.
 *
 * One model object serves many sequences; calls on one model are not concurrent (a scheduler
 * above it batches the decode steps of several sequences into one eng_decode call). Every
 * buffer the forward pass uses is allocated at load (model) or at eng_seq_new (KV cache). */
#ifndef SEEKD_ENGINE_ENGINE_H
#define SEEKD_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tok.h"

typedef struct eng_model eng_model_t;
typedef struct eng_seq eng_seq_t;

enum {
    ENG_EFORMAT = -1, /* the file is not a model this engine can run; the message says why */
    ENG_EIO = -2,
    ENG_EFULL = -3,  /* the sequence's context is full */
    ENG_EINVAL = -4, /* a token id out of range, a count out of range */
};

typedef enum { ENG_ARCH_LLAMA, ENG_ARCH_QWEN2 } eng_arch_t;

typedef struct {
    int threads; /* worker threads including the caller; 0: 1 */
    int ctx;     /* tokens per sequence's KV cache; 0: the model's context_length, at most 4096 */
    int batch;   /* most prompt tokens in one forward pass (at most 512); 0: 256 */
} eng_opts_t;

/** What eng_model_load read from the file's metadata. */
typedef struct {
    eng_arch_t arch;
    int n_vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim;
    int ctx_train; /* {arch}.context_length */
    int ctx;       /* the KV cache size in use */
    float rms_eps, rope_base;
    float rope_scale; /* linear RoPE scaling: positions divided by this (1: none) */
    bool rope_neox;   /* split-half pairs (qwen2) instead of adjacent pairs (llama) */
    bool tied_output;
    uint32_t weight_type; /* of blk.0.attn_q.weight, for messages */
} eng_hparams_t;

/** Maps the GGUF at path and checks every tensor the architecture needs (names, shapes,
 * types). Loads the tokenizer from the file's metadata when it has one. */
int eng_model_load(const char *path, const eng_opts_t *opts, eng_model_t **out, char *err,
                   size_t errsz);
/** The same from a GGUF image in memory, which must outlive the model (tests, fuzzing). */
int eng_model_load_mem(const void *data, size_t len, const eng_opts_t *opts, eng_model_t **out,
                       char *err, size_t errsz);
void eng_model_free(eng_model_t *m);
const eng_hparams_t *eng_model_hparams(const eng_model_t *m);
/** The file's tokenizer, or NULL when it has none (ids only). Owned by the model. */
const tok_t *eng_model_tok(const eng_model_t *m);
/** Whether a prompt starts with BOS: tokenizer.ggml.add_bos_token, else true for SentencePiece
 * vocabularies (tokenizer.ggml.model "llama") and false for the others. */
bool eng_model_add_bos(const eng_model_t *m);
/** Bytes of weights one token's forward pass reads (every matrix once, one embedding row). */
uint64_t eng_model_weight_bytes(const eng_model_t *m);

/** A string value of the file's metadata (not NUL-terminated: *len bytes), or NULL when the
 * key is absent or not a string. Points into the mapped file. */
const char *eng_model_meta_str(const eng_model_t *m, const char *key, size_t *len);

/** A new sequence at position 0 with a KV cache of hparams.ctx tokens. */
eng_seq_t *eng_seq_new(eng_model_t *m);
void eng_seq_free(eng_seq_t *s);
/** How many tokens the sequence holds. */
int eng_seq_pos(const eng_seq_t *s);
/** Forgets tokens from pos on (pos <= eng_seq_pos), for reuse of a common prefix. */
void eng_seq_truncate(eng_seq_t *s, int pos);

/** Appends n tokens to s, in forward passes of up to opts.batch tokens. logits gets n_vocab
 * floats for the last token, or n * n_vocab (one row per token) when all is true; it may be
 * NULL. Returns 0, ENG_EFULL or ENG_EINVAL (nothing appended then). */
int eng_prefill(eng_seq_t *s, const int32_t *ids, int n, float *logits, bool all);
/** One decode step for each of nseq sequences (one token each, batched into one pass); logits
 * gets nseq rows of n_vocab. */
int eng_decode(eng_seq_t *const *seqs, int nseq, const int32_t *ids, float *logits);

/** One forward pass over np prompt tokens of pre (np may be 0, pre NULL) and one decode token
 * for each of nseq other sequences (step.c). logits gets the nseq decode rows, then the row of
 * the prompt chunk's last token when want_last. np + nseq is at most eng_model_batch(). Returns
 * 0, ENG_EFULL or ENG_EINVAL (nothing appended then). */
int eng_step(eng_seq_t *pre, const int32_t *pids, int np, bool want_last, eng_seq_t *const *seqs,
             int nseq, const int32_t *ids, float *logits);
/** The most rows one forward pass takes (opts.batch). */
int eng_model_batch(const eng_model_t *m);

/* ---- sampling (sample.c) ---- */

typedef struct {
    float temp;      /* 0: argmax, ties to the lowest id */
    float top_p;     /* 1: off */
    float presence;  /* OpenAI's presence_penalty, over the tokens generated so far */
    float frequency; /* frequency_penalty */
    uint64_t seed;
} eng_sampling_t;

typedef struct eng_sampler eng_sampler_t;

eng_sampler_t *eng_sampler_new(const eng_sampling_t *p, int n_vocab);
void eng_sampler_free(eng_sampler_t *s);
/** Picks the next id from logits (n_vocab floats, modified in place). */
int32_t eng_sample(eng_sampler_t *s, float *logits);
/** Records a generated id for the penalties. */
void eng_sampler_accept(eng_sampler_t *s, int32_t id);

#endif

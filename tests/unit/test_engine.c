/* test_engine.c - the engine API's promises on a small random F32 model: a prompt processed in
 * one batch, in chunks, or one token at a time gives the same logits; several sequences decoded
 * in one pass give what each gives alone; truncating a sequence and feeding the same tokens again
 * gives the same logits; the KV cache of one sequence never leaks into another. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/mem.h"
#include "engine/engine.h"
#include "engine/gguf_write.h"
#include "engine/kernels.h"

#define DIM 64
#define FFN 96
#define VOCAB 50
#define LAYERS 2

static uint64_t rng = 88172645463325252ull;

static float frnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1p-53 * 2 - 1);
}

static char path[] = "/tmp/seekd-test-engine-XXXXXX";
static float *blob; /* all tensors' floats, kept until written */

/* A qwen2-style model (biases, 8 heads over 2 kv heads) of random F32 weights. */
static void write_model(void)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gguf_writer_t w;
    gguf_writer_init(&w);
    gguf_w_str(&w, "general.architecture", "qwen2", 5);
    gguf_w_u32(&w, "qwen2.embedding_length", DIM);
    gguf_w_u32(&w, "qwen2.block_count", LAYERS);
    gguf_w_u32(&w, "qwen2.feed_forward_length", FFN);
    gguf_w_u32(&w, "qwen2.attention.head_count", 8);
    gguf_w_u32(&w, "qwen2.attention.head_count_kv", 2);
    gguf_w_u32(&w, "qwen2.context_length", 64);
    const int kv = DIM / 8 * 2;
    struct {
        const char *name;
        int ne0, ne1;
        float mean, scale;
    } per_layer[] = {
        {"attn_norm.weight", DIM, 0, 1, 0.1f}, {"attn_q.weight", DIM, DIM, 0, 0.15f},
        {"attn_k.weight", DIM, kv, 0, 0.15f},  {"attn_v.weight", DIM, kv, 0, 0.15f},
        {"attn_q.bias", DIM, 0, 0, 0.1f},      {"attn_k.bias", kv, 0, 0, 0.1f},
        {"attn_v.bias", kv, 0, 0, 0.1f},       {"attn_output.weight", DIM, DIM, 0, 0.15f},
        {"ffn_norm.weight", DIM, 0, 1, 0.1f},  {"ffn_gate.weight", DIM, FFN, 0, 0.15f},
        {"ffn_up.weight", DIM, FFN, 0, 0.15f}, {"ffn_down.weight", FFN, DIM, 0, 0.12f},
    };
    size_t total = (size_t)VOCAB * DIM * 2 + DIM, used = 0;
    for (int l = 0; l < LAYERS; l++)
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++)
            total += (size_t)per_layer[i].ne0 * (size_t)(per_layer[i].ne1 ? per_layer[i].ne1 : 1);
    blob = xmalloc(total * sizeof *blob);
#define ADD(name, ne0, ne1, mean, scale)                                                           \
    do {                                                                                           \
        size_t n_ = (size_t)(ne0) * (size_t)((ne1) ? (ne1) : 1);                                   \
        for (size_t k_ = 0; k_ < n_; k_++)                                                         \
            blob[used + k_] = (mean) + (scale)*frnd();                                             \
        uint64_t ne_[2] = {(uint64_t)(ne0), (uint64_t)(ne1)};                                      \
        gguf_w_tensor(&w, name, GGML_F32, (ne1) ? 2 : 1, ne_, blob + used, n_ * 4);                \
        used += n_;                                                                                \
    } while (0)
    ADD("token_embd.weight", DIM, VOCAB, 0, 0.5f);
    char nm[64];
    for (int l = 0; l < LAYERS; l++)
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++) {
            snprintf(nm, sizeof nm, "blk.%d.%s", l, per_layer[i].name);
            ADD(nm, per_layer[i].ne0, per_layer[i].ne1, per_layer[i].mean, per_layer[i].scale);
        }
    ADD("output_norm.weight", DIM, 0, 1, 0.1f);
    ADD("output.weight", DIM, VOCAB, 0, 0.3f);
#undef ADD
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gguf_w_write(&w, f), 0);
    assert_int_equal(fclose(f), 0);
    gguf_writer_free(&w);
    free(blob);
}

static double maxdiff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static const int32_t prompt[11] = {3, 17, 42, 0, 49, 7, 7, 21, 33, 12, 5};

static void batches_chunks_and_single_steps_agree(void **state)
{
    (void)state;
    eng_model_t *m[3];
    char err[256];
    /* batch of 16 (one pass), batch of 4 (three passes), batch of 1 (eleven passes) */
    const int batch[3] = {16, 4, 1};
    float *lg[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(eng_model_load(path, &(eng_opts_t){.threads = 2, .batch = batch[i]}, &m[i],
                                        err, sizeof err),
                         0);
        eng_seq_t *s = eng_seq_new(m[i]);
        lg[i] = xmalloc(11 * VOCAB * sizeof(float));
        assert_int_equal(eng_prefill(s, prompt, 11, lg[i], true), 0);
        assert_int_equal(eng_seq_pos(s), 11);
        eng_seq_free(s);
    }
    double d1 = maxdiff(lg[0], lg[1], 11 * VOCAB), d2 = maxdiff(lg[0], lg[2], 11 * VOCAB);
    printf("  batch 16 vs 4: %.3g, vs 1: %.3g\n", d1, d2);
    assert_true(d1 <= 1e-5 && d2 <= 1e-5);
    /* prefill of one token at a time through eng_decode gives the same */
    eng_seq_t *s = eng_seq_new(m[0]);
    float one[VOCAB];
    for (int t = 0; t < 11; t++) {
        eng_seq_t *const seqs[1] = {s};
        assert_int_equal(eng_decode(seqs, 1, &prompt[t], one), 0);
        assert_true(maxdiff(one, lg[0] + t * VOCAB, VOCAB) <= 1e-5);
    }
    eng_seq_free(s);
    for (int i = 0; i < 3; i++) {
        free(lg[i]);
        eng_model_free(m[i]);
    }
}

static void sequences_decoded_together_match_alone(void **state)
{
    (void)state;
    eng_model_t *m;
    char err[256];
    assert_int_equal(eng_model_load(path, &(eng_opts_t){.threads = 2}, &m, err, sizeof err), 0);
    eng_seq_t *a = eng_seq_new(m), *b = eng_seq_new(m), *c = eng_seq_new(m);
    float la[VOCAB], lb[VOCAB], both[2 * VOCAB];
    /* a and b hold different prompts of different lengths */
    assert_int_equal(eng_prefill(a, prompt, 5, la, false), 0);
    assert_int_equal(eng_prefill(b, prompt + 3, 8, lb, false), 0);
    assert_int_equal(eng_prefill(c, prompt + 3, 8, lb, false), 0);
    /* alone: a then b (c is b's twin) */
    int32_t next[2] = {9, 30};
    eng_seq_t *const sa[1] = {a}, *const sc[1] = {c};
    assert_int_equal(eng_decode(sa, 1, &next[0], la), 0);
    assert_int_equal(eng_decode(sc, 1, &next[1], lb), 0);
    /* together: a's twin state is gone (advanced), so compare b against c */
    eng_seq_truncate(a, 5);
    eng_seq_t *const ab[2] = {a, b};
    assert_int_equal(eng_decode(ab, 2, next, both), 0);
    assert_true(maxdiff(both, la, VOCAB) <= 1e-6);
    assert_true(maxdiff(both + VOCAB, lb, VOCAB) <= 1e-6);
    assert_true(maxdiff(la, lb, VOCAB) > 1e-3); /* different histories, different logits */
    assert_int_equal(eng_seq_pos(a), 6);
    assert_int_equal(eng_seq_pos(b), 9);
    /* a sequence twice in one step is refused; so is an id out of range */
    eng_seq_t *const aa[2] = {a, a};
    assert_int_equal(eng_decode(aa, 2, next, both), ENG_EINVAL);
    int32_t bad = VOCAB;
    assert_int_equal(eng_decode(sa, 1, &bad, la), ENG_EINVAL);
    assert_int_equal(eng_seq_pos(a), 6);
    eng_seq_free(a);
    eng_seq_free(b);
    eng_seq_free(c);
    eng_model_free(m);
}

static void truncate_and_refeed_reproduces(void **state)
{
    (void)state;
    eng_model_t *m;
    char err[256];
    assert_int_equal(eng_model_load(path, &(eng_opts_t){.threads = 1}, &m, err, sizeof err), 0);
    eng_seq_t *s = eng_seq_new(m);
    float first[VOCAB], again[VOCAB];
    assert_int_equal(eng_prefill(s, prompt, 11, first, false), 0);
    eng_seq_truncate(s, 6); /* keep the first 6, as prefix reuse will */
    assert_int_equal(eng_prefill(s, prompt + 6, 5, again, false), 0);
    assert_true(maxdiff(first, again, VOCAB) <= 1e-6);
    eng_seq_free(s);
    eng_model_free(m);
}

static int setup(void **state)
{
    (void)state;
    write_model();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_chunks_and_single_steps_agree),
        cmocka_unit_test(sequences_decoded_together_match_alone),
        cmocka_unit_test(truncate_and_refeed_reproduces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

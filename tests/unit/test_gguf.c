/* test_gguf.c - the GGUF reader (base/gguf.c) on a valid file and on every kind of broken one:
 * truncated at each byte, absurd counts, offsets past the end, unknown types, misaligned,
 * overlapping and duplicate tensors, bad dimensions; each refused with a message naming what is
 * wrong. And the engine's model loader refusing files that parse but are not a runnable model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/gguf.h"
#include "base/mem.h"
#include "engine/engine.h"
#include "engine/gguf_write.h"
#include "engine/kernels.h"

/* ---- a byte-level builder, so tests can write any value ---- */

static void u32(buf_t *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    buf_append(b, c, 4);
}

static void u64(buf_t *b, uint64_t v)
{
    u32(b, (uint32_t)v);
    u32(b, (uint32_t)(v >> 32));
}

static void str(buf_t *b, const char *s)
{
    u64(b, strlen(s));
    buf_append(b, s, strlen(s));
}

typedef struct {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t type;
    uint64_t offset;
} tinfo_t;

/* header + metadata (the caller's kv bytes, n_kv of them) + tensor infos + data section of
 * data_len bytes (0x11 filled) at the default alignment 32, unless align_kv set it. */
static void build(buf_t *b, uint32_t version, uint64_t n_kv, const buf_t *kv, const tinfo_t *t,
                  uint64_t n_t, size_t data_len, uint32_t align)
{
    buf_init(b, 1 << 24);
    buf_append(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_t);
    u64(b, n_kv);
    if (kv && kv->len)
        buf_append(b, kv->data, kv->len);
    for (uint64_t i = 0; t && i < n_t; i++) {
        str(b, t[i].name);
        u32(b, t[i].n_dims);
        for (uint32_t d = 0; d < t[i].n_dims && d < 4; d++)
            u64(b, t[i].ne[d]);
        u32(b, t[i].type);
        u64(b, t[i].offset);
    }
    while (b->len % align)
        buf_append(b, "", 1);
    for (size_t i = 0; i < data_len; i++)
        buf_append(b, "\x11", 1);
}

/* Parses b; expects failure whose message contains want (or success when want is NULL). */
static void expect(const buf_t *b, const char *want)
{
    gguf_t g;
    char err[256] = "";
    int rc = gguf_parse(b->data, b->len, &g, err, sizeof err);
    if (!want) {
        if (rc != 0)
            printf("  unexpected error: %s\n", err);
        assert_int_equal(rc, 0);
        gguf_close(&g);
        return;
    }
    if (rc == 0 || !strstr(err, want))
        printf("  want an error containing '%s', got rc %d '%s'\n", want, rc, err);
    assert_int_equal(rc, GGUF_EFORMAT);
    assert_non_null(strstr(err, want));
}

/* Three tensors: F32 [8], Q8_0 [64, 2] (4 blocks of 34 = 136 bytes), F16 [3]; data 32-aligned. */
static const tinfo_t good_t[] = {
    {"a.weight", 1, {8}, GGML_F32, 0},
    {"blk.3.attn_q.weight", 2, {64, 2}, GGML_Q8_0, 32},
    {"c", 1, {3}, GGML_F16, 192},
};

static void good_kv(buf_t *kv)
{
    buf_init(kv, 1 << 20);
    str(kv, "general.architecture");
    u32(kv, GGUF_STR);
    str(kv, "llama");
    str(kv, "n.u32");
    u32(kv, GGUF_U32);
    u32(kv, 123456);
    str(kv, "n.i32");
    u32(kv, GGUF_I32);
    u32(kv, (uint32_t)-7);
    str(kv, "n.f32");
    u32(kv, GGUF_F32);
    float f = 0.5f;
    uint32_t fb;
    memcpy(&fb, &f, 4);
    u32(kv, fb);
    str(kv, "n.bool");
    u32(kv, GGUF_BOOL);
    buf_append(kv, "\x01", 1);
    str(kv, "list.str");
    u32(kv, GGUF_ARR);
    u32(kv, GGUF_STR);
    u64(kv, 3);
    str(kv, "x");
    str(kv, "");
    str(kv, "zz");
    str(kv, "list.i32");
    u32(kv, GGUF_ARR);
    u32(kv, GGUF_I32);
    u64(kv, 2);
    u32(kv, 5);
    u32(kv, (uint32_t)-5);
    str(kv, "nested");
    u32(kv, GGUF_ARR);
    u32(kv, GGUF_ARR);
    u64(kv, 1);
    u32(kv, GGUF_U8);
    u64(kv, 2);
    buf_append(kv, "\x01\x02", 2);
}

#define GOOD_NKV 8
#define GOOD_DATA 198 /* end of tensor c: 192 + 3 * 2 */

static void valid_file_reads_back(void **state)
{
    (void)state;
    buf_t kv, b;
    good_kv(&kv);
    build(&b, 3, GOOD_NKV, &kv, good_t, 3, 224, 32);
    gguf_t g;
    char err[256];
    assert_int_equal(gguf_parse(b.data, b.len, &g, err, sizeof err), 0);
    assert_int_equal(g.n_kv, GOOD_NKV);
    assert_int_equal(g.n_tensors, 3);
    const char *s;
    size_t l;
    assert_int_equal(gguf_get_str(&g, "general.architecture", &s, &l), 0);
    assert_true(l == 5 && memcmp(s, "llama", 5) == 0);
    int64_t v;
    assert_int_equal(gguf_get_int(&g, "n.u32", &v), 0);
    assert_int_equal(v, 123456);
    assert_int_equal(gguf_get_int(&g, "n.i32", &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(gguf_get_int(&g, "n.bool", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(gguf_get_int(&g, "n.f32", &v), GGUF_ETYPE);
    assert_int_equal(gguf_get_int(&g, "absent", &v), GGUF_ENOTFOUND);
    double d;
    assert_int_equal(gguf_get_float(&g, "n.f32", &d), 0);
    assert_true(d == 0.5);
    assert_int_equal(gguf_get_float(&g, "n.u32", &d), 0);
    assert_true(d == 123456);
    uint32_t et;
    uint64_t n;
    assert_int_equal(gguf_get_arr(&g, "list.str", &et, &n), 0);
    assert_true(et == GGUF_STR && n == 3);
    gguf_str_iter_t it;
    gguf_str_iter_init(&it, &g, gguf_find(&g, "list.str"));
    assert_true(gguf_str_iter_next(&it, &s, &l) && l == 1 && s[0] == 'x');
    assert_true(gguf_str_iter_next(&it, &s, &l) && l == 0);
    assert_true(gguf_str_iter_next(&it, &s, &l) && l == 2 && memcmp(s, "zz", 2) == 0);
    assert_false(gguf_str_iter_next(&it, &s, &l));
    const gguf_kv_t *ai = gguf_find(&g, "list.i32");
    assert_int_equal(gguf_arr_int(&g, ai, 0), 5);
    assert_int_equal(gguf_arr_int(&g, ai, 1), -5);
    assert_int_equal(gguf_arr_int(&g, ai, 2), 0); /* out of range reads 0 */
    const gguf_tensor_t *t = gguf_tensor(&g, "blk.3.attn_q.weight");
    assert_non_null(t);
    assert_true(t->type == GGML_Q8_0 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 2);
    assert_int_equal(t->size, 136);
    assert_ptr_equal(t->data, (const unsigned char *)b.data + g.data_off + 32);
    assert_int_equal(g.data_off % 32, 0);
    assert_null(gguf_tensor(&g, "blk.3.attn_q"));
    assert_non_null(gguf_tensor(&g, "c"));
    gguf_close(&g);
    buf_free(&kv);
    buf_free(&b);
}

/* Every prefix of the file is refused, until the last tensor's data is complete. */
static void truncated_anywhere_is_refused(void **state)
{
    (void)state;
    buf_t kv, b;
    good_kv(&kv);
    build(&b, 3, GOOD_NKV, &kv, good_t, 3, 224, 32);
    size_t data_off = b.len - 224, complete = data_off + GOOD_DATA;
    for (size_t len = 0; len <= b.len; len++) {
        gguf_t g;
        char err[256] = "";
        int rc = gguf_parse(b.data, len, &g, err, sizeof err);
        if (len >= complete) {
            assert_int_equal(rc, 0);
            gguf_close(&g);
        } else {
            assert_int_equal(rc, GGUF_EFORMAT);
            assert_true(strlen(err) > 0);
            /* the tensors are checked in name order: a.weight [0, 32), then the Q8_0 one
             * [32, 168), then c [192, 198) */
            if (len >= data_off + 168)
                assert_non_null(strstr(err, "tensor 'c': data runs past the end of the file"));
            else if (len >= data_off + 32)
                assert_non_null(strstr(
                    err, "tensor 'blk.3.attn_q.weight': data runs past the end of the file"));
            else if (len >= data_off)
                assert_non_null(strstr(err, "tensor 'a.weight': data runs past the end"));
        }
    }
    buf_free(&kv);
    buf_free(&b);
}

static void absurd_counts_are_refused(void **state)
{
    (void)state;
    buf_t b;
    build(&b, 3, UINT64_MAX, NULL, NULL, 0, 0, 32);
    expect(&b, "metadata count");
    buf_free(&b);
    build(&b, 3, 0, NULL, NULL, (uint64_t)1 << 60, 0, 32);
    expect(&b, "tensor count");
    buf_free(&b);
    /* a string array claiming 2^62 elements */
    buf_t kv;
    buf_init(&kv, 1024);
    str(&kv, "tokenizer.ggml.tokens");
    u32(&kv, GGUF_ARR);
    u32(&kv, GGUF_STR);
    u64(&kv, (uint64_t)1 << 62);
    str(&kv, "a");
    build(&b, 3, 1, &kv, NULL, 0, 0, 32);
    expect(&b, "metadata 'tokenizer.ggml.tokens': value truncated or malformed");
    buf_free(&b);
    buf_reset(&kv);
    /* a string whose length runs past the end */
    str(&kv, "k");
    u32(&kv, GGUF_STR);
    u64(&kv, 1000);
    build(&b, 3, 1, &kv, NULL, 0, 0, 32);
    expect(&b, "metadata 'k': value truncated or malformed");
    buf_free(&b);
    buf_free(&kv);
}

static void bad_header_is_refused(void **state)
{
    (void)state;
    buf_t b;
    build(&b, 4, 0, NULL, NULL, 0, 0, 32);
    expect(&b, "version 4 not supported");
    buf_free(&b);
    build(&b, 3, 0, NULL, NULL, 0, 0, 32);
    memcpy(b.data, "GGML", 4);
    expect(&b, "not a GGUF file");
    buf_free(&b);
    build(&b, 3, 0, NULL, NULL, 0, 0, 32);
    expect(&b, NULL); /* empty but valid */
    buf_free(&b);
}

static void bad_values_are_refused(void **state)
{
    (void)state;
    buf_t kv, b;
    buf_init(&kv, 1024);
    str(&kv, "k");
    u32(&kv, 13); /* no such value type */
    u32(&kv, 0);
    build(&b, 3, 1, &kv, NULL, 0, 0, 32);
    expect(&b, "metadata 'k': unknown value type");
    buf_free(&b);
    buf_reset(&kv);
    str(&kv, "deep"); /* arrays nested three deep */
    u32(&kv, GGUF_ARR);
    u32(&kv, GGUF_ARR);
    u64(&kv, 1);
    u32(&kv, GGUF_ARR);
    u64(&kv, 1);
    u32(&kv, GGUF_ARR);
    u64(&kv, 1);
    u32(&kv, GGUF_U8);
    u64(&kv, 0);
    build(&b, 3, 1, &kv, NULL, 0, 0, 32);
    expect(&b, "metadata 'deep': value truncated or malformed");
    buf_free(&b);
    buf_reset(&kv);
    str(&kv, "general.alignment");
    u32(&kv, GGUF_U32);
    u32(&kv, 24);
    build(&b, 3, 1, &kv, NULL, 0, 0, 32);
    expect(&b, "general.alignment must be a u32 power of two");
    buf_free(&b);
    buf_free(&kv);
}

static void bad_tensors_are_refused(void **state)
{
    (void)state;
    buf_t b;
    const struct {
        tinfo_t t[2];
        int n;
        const char *want;
    } cases[] = {
        {{{"w", 2, {32, 2}, 99, 0}}, 1, "tensor 'w': unknown type 99"},
        {{{"w", 2, {33, 2}, GGML_Q8_0, 0}}, 1, "tensor 'w': row of 33 elements is not a whole"},
        {{{"w", 5, {1, 1, 1, 1}, GGML_F32, 0}}, 1, "tensor 'w': 5 dimensions"},
        {{{"w", 0, {0}, GGML_F32, 0}}, 1, "tensor 'w': 0 dimensions"},
        {{{"w", 2, {4, 0}, GGML_F32, 0}}, 1, "tensor 'w': dimension 1 is 0"},
        {{{"w", 4, {1u << 31, 1u << 31, 1u << 31, 4}, GGML_F32, 0}}, 1, "tensor 'w': dimension"},
        {{{"w", 1, {8}, GGML_F32, 8}},
         1,
         "tensor 'w': offset 8 is not a multiple of the alignment 32"},
        {{{"blk.3.attn_q.weight", 1, {8}, GGML_F32, 64}},
         1,
         "tensor 'blk.3.attn_q.weight': data runs past the end of the file"},
        {{{"w", 1, {8}, GGML_F32, UINT64_MAX - 31}}, 1, "tensor 'w': data runs past the end"},
        {{{"a", 1, {16}, GGML_F32, 0}, {"b", 1, {8}, GGML_F32, 32}},
         2,
         "tensors 'a' and 'b' overlap"},
        {{{"a", 1, {8}, GGML_F32, 0}, {"a", 1, {8}, GGML_F32, 32}}, 2, "tensor 'a' appears twice"},
        {{{"", 1, {8}, GGML_F32, 0}}, 1, "a tensor has an empty name"},
        {{{"a\nb", 1, {8}, GGML_F32, 4096}}, 1, "tensor 'a?b': data runs past"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        build(&b, 3, 0, NULL, cases[i].t, (uint64_t)cases[i].n, 64, 32);
        expect(&b, cases[i].want);
        buf_free(&b);
    }
}

/* ---- the engine's loader on files that parse ---- */

static char tmpdir[] = "/tmp/seekd-test-gguf-XXXXXX";

/* A one-layer llama of dim 32 (4 heads of 8, ffn 64, vocab 10) with one change. */
typedef enum {
    M_OK,
    M_NO_ARCH,
    M_ARCH_GPT2,
    M_NO_FFN_DOWN,
    M_BAD_SHAPE,
    M_Q4_1,
    M_BAD_HEADS,
    M_YARN
} mcase_t;

static void write_model(const char *path, mcase_t c)
{
    gguf_writer_t w;
    gguf_writer_init(&w);
    if (c != M_NO_ARCH)
        gguf_w_str(&w, "general.architecture", c == M_ARCH_GPT2 ? "gpt2" : "llama",
                   c == M_ARCH_GPT2 ? 4 : 5);
    gguf_w_u32(&w, "llama.embedding_length", 32);
    gguf_w_u32(&w, "llama.block_count", 1);
    gguf_w_u32(&w, "llama.feed_forward_length", 64);
    gguf_w_u32(&w, "llama.attention.head_count", c == M_BAD_HEADS ? 5 : 4);
    if (c == M_YARN)
        gguf_w_str(&w, "llama.rope.scaling.type", "yarn", 4);
    static float data[64 * 64];
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        data[i] = 0.01f * (float)(i % 7);
    static unsigned char q41[64 / 32 * 20 * 32];
    struct {
        const char *name;
        uint64_t ne0, ne1;
    } ts[] = {
        {"token_embd.weight", 32, 10},    {"blk.0.attn_norm.weight", 32, 0},
        {"blk.0.attn_q.weight", 32, 32},  {"blk.0.attn_k.weight", 32, 32},
        {"blk.0.attn_v.weight", 32, 32},  {"blk.0.attn_output.weight", 32, 32},
        {"blk.0.ffn_norm.weight", 32, 0}, {"blk.0.ffn_gate.weight", 32, 64},
        {"blk.0.ffn_up.weight", 32, 64},  {"blk.0.ffn_down.weight", 64, 32},
        {"output_norm.weight", 32, 0},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        uint64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        bool down = strcmp(ts[i].name, "blk.0.ffn_down.weight") == 0;
        if (down && c == M_NO_FFN_DOWN)
            continue;
        if (down && c == M_BAD_SHAPE)
            ne[1] = 33;
        if (down && c == M_Q4_1) {
            gguf_w_tensor(&w, ts[i].name, GGML_Q4_1, 2, ne, q41, sizeof q41);
            continue;
        }
        gguf_w_tensor(&w, ts[i].name, GGML_F32, ne[1] ? 2 : 1, ne, data,
                      (size_t)(ne[0] * (ne[1] ? ne[1] : 1) * 4));
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gguf_w_write(&w, f), 0);
    assert_int_equal(fclose(f), 0);
    gguf_writer_free(&w);
}

static void model_loader_names_what_is_wrong(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(tmpdir));
    char path[256];
    snprintf(path, sizeof path, "%s/m.gguf", tmpdir);
    const struct {
        mcase_t c;
        const char *want;
    } cases[] = {
        {M_NO_ARCH, "general.architecture missing"},
        {M_ARCH_GPT2, "architecture 'gpt2' not supported"},
        {M_NO_FFN_DOWN, "tensor 'blk.0.ffn_down.weight' missing"},
        {M_BAD_SHAPE, "tensor 'blk.0.ffn_down.weight' has shape [64, 33, 1, 1], expected [64, 32]"},
        {M_Q4_1, "tensor 'blk.0.ffn_down.weight' has type Q4_1, which the engine does not run"},
        {M_BAD_HEADS, "5 heads do not divide dimension 32"},
        {M_YARN, "llama.rope.scaling.type 'yarn' is not supported (none, linear)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_model(path, cases[i].c);
        eng_model_t *m = NULL;
        char err[512] = "";
        int rc = eng_model_load(path, NULL, &m, err, sizeof err);
        if (rc == 0 || !strstr(err, cases[i].want))
            printf("  case %zu: rc %d '%s', want '%s'\n", i, rc, err, cases[i].want);
        assert_int_equal(rc, ENG_EFORMAT);
        assert_non_null(strstr(err, cases[i].want));
        assert_null(m);
    }
    write_model(path, M_OK);
    eng_model_t *m = NULL;
    char err[512] = "";
    assert_int_equal(
        eng_model_load(path, &(eng_opts_t){.threads = 2, .ctx = 16}, &m, err, sizeof err), 0);
    const eng_hparams_t *hp = eng_model_hparams(m);
    assert_true(hp->n_vocab == 10 && hp->dim == 32 && hp->n_kv_heads == 4 && hp->tied_output);
    assert_true(hp->ctx == 16 && hp->rope_base == 10000.0f && !hp->rope_neox);
    assert_false(eng_model_add_bos(m)); /* no vocabulary, no add_bos_token: no BOS */
    assert_null(eng_model_tok(m));
    eng_seq_t *s = eng_seq_new(m);
    float logits[10 * 17];
    int32_t ids[17] = {0};
    assert_int_equal(eng_prefill(s, ids, 17, logits, false), ENG_EFULL);
    ids[3] = 10;
    assert_int_equal(eng_prefill(s, ids, 4, logits, false), ENG_EINVAL);
    ids[3] = 9;
    assert_int_equal(eng_prefill(s, ids, 16, logits, true), 0);
    assert_int_equal(eng_seq_pos(s), 16);
    eng_seq_t *const one[1] = {s};
    assert_int_equal(eng_decode(one, 1, ids, logits), ENG_EFULL);
    eng_seq_free(s);
    eng_model_free(m);
    unlink(path);
    rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_file_reads_back),
        cmocka_unit_test(truncated_anywhere_is_refused),
        cmocka_unit_test(absurd_counts_are_refused),
        cmocka_unit_test(bad_header_is_refused),
        cmocka_unit_test(bad_values_are_refused),
        cmocka_unit_test(bad_tensors_are_refused),
        cmocka_unit_test(model_loader_names_what_is_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

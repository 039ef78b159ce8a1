/* test_kernels.c - every tensor type's dot product on every ISA path this CPU has, against its
 * definition computed in double: dequantise the weight row, dequantise the quantised activation
 * row, multiply and add. Tolerances:
 *   exact part: |kernel - dequant(w).dequant(q(x))| <= (n * 2^-24 + 1e-6) * sum|w_i * xq_i|
 *               (float accumulation of exact integer block sums)
 *   activation rounding: |kernel - dequant(w).x| additionally <= sum over blocks of
 *               sum|w_i| * d_block / 2 (each activation is off by at most half its step)
 * Sizes include odd lengths for the float types and one-block rows; values include the extreme
 * codes (int8 -128/127, nibbles 0/15, 6-bit 0/63, scales 63, negative Q6_K scales, zero d). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/mem.h"
#include "engine/kernels.h"
#include "engine/pool.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static float frnd(void) /* [-1, 1) */
{
    return (float)((double)rnd() / 2147483648.0 - 1.0);
}

/* Fills a weight row of type with n elements; mode 0 random, 1 extreme codes. */
static void fill_weights(uint32_t type, void *w, int64_t n, int mode)
{
    size_t bytes = eng_row_bytes(type, n);
    unsigned char *p = w;
    for (size_t i = 0; i < bytes; i++)
        p[i] = mode ? (i & 1 ? 0xff : 0x80) : (unsigned char)rnd();
    switch (type) {
    case GGML_F32:
        for (int64_t i = 0; i < n; i++)
            ((float *)w)[i] = mode ? (i & 1 ? 3e4f : -1e-30f) : frnd() * 2;
        break;
    case GGML_F16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)w)[i] = eng_f32_to_f16(mode ? (i & 1 ? 65504.0f : -6e-8f) : frnd() * 2);
        break;
    case GGML_BF16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)w)[i] = eng_f32_to_bf16(mode ? (i & 1 ? 1e30f : -1e-30f) : frnd() * 2);
        break;
    case GGML_Q8_0:
        for (eng_q8_0_t *b = w; n > 0; n -= 32, b++)
            b->d = eng_f32_to_f16(mode && (n / 32) % 3 == 0 ? 0.0f : frnd() * 0.01f);
        break;
    case GGML_Q4_0:
        for (eng_q4_0_t *b = w; n > 0; n -= 32, b++)
            b->d = eng_f32_to_f16(frnd() * 0.05f);
        break;
    case GGML_Q4_K:
        for (eng_q4_k_t *b = w; n > 0; n -= 256, b++) {
            b->d = eng_f32_to_f16(fabsf(frnd()) * 0.002f);
            b->dmin = eng_f32_to_f16(fabsf(frnd()) * 0.004f);
        }
        break;
    case GGML_Q6_K:
        for (eng_q6_k_t *b = w; n > 0; n -= 256, b++) {
            if (mode)
                for (int k = 0; k < 16; k++)
                    b->scales[k] = k & 1 ? 127 : -128;
            b->d = eng_f32_to_f16(frnd() * 0.0005f);
        }
        break;
    }
}

static void fill_acts(float *x, int64_t n, int mode)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = mode == 1 ? (i % 5 == 0 ? 50.0f : -0.001f * (float)i) : frnd() * (mode == 2 ? 0 : 3);
}

/* The activation the kernel saw, as doubles, and the bound on its rounding against x. */
static double act_view(uint32_t type, const void *act, const float *x, double *xq, int64_t n,
                       const void *w)
{
    double bound = 0;
    float *wf = xmalloc((size_t)n * sizeof *wf);
    eng_dequantize_row(type, w, wf, n);
    if (type == GGML_Q8_0 || type == GGML_Q4_0 || type == GGML_Q4_K || type == GGML_Q6_K) {
        int bs = type == GGML_Q8_0 || type == GGML_Q4_0 ? 32 : 256;
        for (int64_t b = 0; b < n / bs; b++) {
            float d;
            const int8_t *qs;
            if (bs == 32) {
                const eng_qa32_t *a = (const eng_qa32_t *)act + b;
                d = a->d;
                qs = a->qs;
                int32_t s = 0;
                for (int i = 0; i < 32; i++)
                    s += qs[i];
                assert_int_equal(s, a->sum);
                assert_true(a->ds == a->d * (float)s);
                int32_t s16 = 0;
                for (int i = 0; i < 16; i++)
                    s16 += qs[i];
                assert_true(a->ds16 == a->d * (float)s16);
            } else {
                const eng_qa256_t *a = (const eng_qa256_t *)act + b;
                d = a->d;
                qs = a->qs;
                for (int g = 0; g < 16; g++) {
                    int s = 0;
                    for (int i = 0; i < 16; i++)
                        s += qs[16 * g + i];
                    assert_int_equal(s, a->bsums[g]);
                }
            }
            double wsum = 0;
            for (int i = 0; i < bs; i++) {
                xq[b * bs + i] = (double)d * qs[i];
                assert_true(fabs(xq[b * bs + i] - x[b * bs + i]) <= d / 2 * (1 + 1e-6) + 1e-30);
                wsum += fabs(wf[b * bs + i]);
            }
            bound += wsum * d / 2;
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            xq[i] = x[i];
    }
    free(wf);
    return bound;
}

static void check_type(uint32_t type, const int64_t *sizes, int nsizes)
{
    for (int isa = 0; isa < ENG_ISA_COUNT; isa++) {
        if (!eng_isa_supported((eng_isa_t)isa)) {
            printf("  %s: %s not supported by this CPU, not run\n", gguf_type_name(type),
                   eng_isa_name((eng_isa_t)isa));
            continue;
        }
        assert_int_equal(eng_isa_set((eng_isa_t)isa), 0);
        double worst = 0;
        for (int si = 0; si < nsizes; si++) {
            for (int mode = 0; mode < 3; mode++) {
                int64_t n = sizes[si];
                void *w = xcalloc(eng_row_bytes(type, n) + 64, 1);
                float *x = xmalloc((size_t)n * sizeof *x), *wf = xmalloc((size_t)n * sizeof *wf);
                double *xq = xmalloc((size_t)n * sizeof *xq);
                void *act = xmalloc(eng_act_bytes(type, n) + 64);
                fill_weights(type, w, n, mode == 1);
                fill_acts(x, n, mode);
                eng_quantize_act(type, x, act, n);
                double abound = act_view(type, act, x, xq, n, w);
                eng_dequantize_row(type, w, wf, n);
                double ref = 0, refx = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) {
                    ref += (double)wf[i] * xq[i];
                    refx += (double)wf[i] * x[i];
                    mag += fabs((double)wf[i] * xq[i]);
                }
                float got = eng_dot(type, w, act, n);
                double tol = ((double)n * 0x1p-24 + 1e-6) * mag + 1e-35;
                if (!(fabs(got - ref) <= tol) || !(fabs(got - refx) <= tol + abound * (1 + 1e-6))) {
                    printf("  %s %s n=%lld mode %d: got %.9g want %.9g (x: %.9g) tol %.3g + %.3g\n",
                           gguf_type_name(type), eng_isa_name((eng_isa_t)isa), (long long)n, mode,
                           got, ref, refx, tol, abound);
                    fail();
                }
                if (mag > 0 && fabs(got - ref) / mag > worst)
                    worst = fabs(got - ref) / mag;
                free(w);
                free(x);
                free(wf);
                free(xq);
                free(act);
            }
        }
        printf("  %-5s %-6s worst |got - ref| / sum|w*x| = %.2g\n", gguf_type_name(type),
               eng_isa_name((eng_isa_t)isa), worst);
    }
}

static const int64_t float_sizes[] = {1, 7, 15, 16, 17, 31, 33, 64, 100, 255, 1000, 4864};
static const int64_t q32_sizes[] = {32, 64, 96, 160, 1184, 4864};
static const int64_t qk_sizes[] = {256, 512, 768, 4864};

static void f32_dot_matches_definition(void **state)
{
    (void)state;
    check_type(GGML_F32, float_sizes, 12);
}

static void f16_dot_matches_definition(void **state)
{
    (void)state;
    check_type(GGML_F16, float_sizes, 12);
}

static void bf16_dot_matches_definition(void **state)
{
    (void)state;
    check_type(GGML_BF16, float_sizes, 12);
}

static void q8_0_dot_matches_definition(void **state)
{
    (void)state;
    check_type(GGML_Q8_0, q32_sizes, 6);
}

static void q4_0_dot_matches_definition(void **state)
{
    (void)state;
    check_type(GGML_Q4_0, q32_sizes, 6);
}

static void q4_k_dot_matches_definition(void **state)
{
    (void)state;
    check_type(GGML_Q4_K, qk_sizes, 4);
}

static void q6_k_dot_matches_definition(void **state)
{
    (void)state;
    check_type(GGML_Q6_K, qk_sizes, 4);
}

/* The block decoders against values worked out by hand from the format. */
static void dequantize_known_blocks(void **state)
{
    (void)state;
    float y[256];
    eng_q8_0_t q8 = {.d = eng_f32_to_f16(0.5f)};
    q8.qs[0] = -128, q8.qs[31] = 127;
    eng_dequantize_row(GGML_Q8_0, &q8, y, 32);
    assert_true(y[0] == -64.0f && y[31] == 63.5f && y[1] == 0);

    eng_q4_0_t q4 = {.d = eng_f32_to_f16(2.0f)};
    q4.qs[0] = 0xF0; /* low nibble 0 -> element 0, high nibble 15 -> element 16 */
    eng_dequantize_row(GGML_Q4_0, &q4, y, 32);
    assert_true(y[0] == -16.0f && y[16] == 14.0f && y[1] == -16.0f);

    eng_q4_k_t k4;
    memset(&k4, 0, sizeof k4);
    k4.d = eng_f32_to_f16(1.0f);
    k4.dmin = eng_f32_to_f16(0.5f);
    k4.scales[0] = 3;       /* sub-block 0 scale 3 */
    k4.scales[4] = 2;       /* sub-block 0 min 2 */
    k4.scales[8] = 0x15;    /* sub-block 4: scale low 5, min low 1 */
    k4.scales[0] |= 1 << 6; /* sub-block 4 scale high bits 1 -> 16 + 5 = 21 */
    k4.qs[0] = 0x07;        /* element 0: nibble 7 */
    k4.qs[64] = 0x0a;       /* element 128 (sub-block 4): nibble 10 */
    eng_dequantize_row(GGML_Q4_K, &k4, y, 256);
    assert_true(y[0] == 3 * 7 - 0.5f * 2);
    assert_true(y[128] == 21 * 10 - 0.5f * 1);

    eng_q6_k_t k6;
    memset(&k6, 0, sizeof k6);
    k6.d = eng_f32_to_f16(0.25f);
    for (int i = 0; i < 16; i++)
        k6.scales[i] = (int8_t)(i - 8);
    k6.ql[0] = 0x3f; /* element 0 low 4 bits 0xf, element 64 low bits 3 */
    k6.qh[0] = 0xe3; /* element 0 high bits 3 -> 63; element 64 high 2 -> 35; element 96: 3 */
    eng_dequantize_row(GGML_Q6_K, &k6, y, 256);
    assert_true(y[0] == 0.25f * -8 * (63 - 32));
    assert_true(y[64] == 0.25f * -4 * (35 - 32));
    assert_true(y[96] == 0.25f * -2 * (48 - 32));
    assert_true(y[32] == 0.25f * -6 * (0 - 32));
}

static void half_conversions_round_trip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* nan payloads */
        assert_int_equal(eng_f32_to_f16(eng_f16_to_f32((uint16_t)h)), h);
    }
    assert_true(eng_f16_to_f32(eng_f32_to_f16(65519.0f)) == 65504.0f);
    assert_true(isinf(eng_f16_to_f32(eng_f32_to_f16(65520.0f))));
    assert_true(eng_f16_to_f32(0x0001) == 0x1p-24f);
    assert_int_equal(eng_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80); /* tie to even */
    assert_int_equal(eng_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-9f), 0x3f81);
}

/* The tile (the threaded matmul's unit) gives the same numbers as one dot at a time. */
static void tile_equals_single_dots(void **state)
{
    (void)state;
    const uint32_t tys[] = {GGML_F32, GGML_Q8_0, GGML_Q4_K};
    for (int t = 0; t < 3; t++) {
        uint32_t ty = tys[t];
        int64_t n = 512, rows = 9;
        int cols = 3;
        size_t rb = eng_row_bytes(ty, n), ab = eng_act_bytes(ty, n);
        char *w = xmalloc(rb * (size_t)rows), *act = xmalloc(ab * (size_t)cols);
        float *x = xmalloc((size_t)n * sizeof *x), y[27];
        for (int r = 0; r < rows; r++)
            fill_weights(ty, w + rb * (size_t)r, n, 0);
        for (int c = 0; c < cols; c++) {
            fill_acts(x, n, 0);
            eng_quantize_act(ty, x, act + ab * (size_t)c, n);
        }
        eng_dot_tile(ty, n, w, rb, 2, 9, act, ab, cols, y, (size_t)rows);
        for (int c = 0; c < cols; c++)
            for (int r = 2; r < rows; r++)
                assert_true(y[c * rows + r] ==
                            eng_dot(ty, w + rb * (size_t)r, act + ab * (size_t)c, n));
        free(w);
        free(act);
        free(x);
    }
}

/* The prompt matmul (packed 8-row tiles, 4 columns at a time) against its definition: each
 * output is dequant(row) . dequant(q32(x)) in double. Row ranges that are not multiples of 8
 * and column counts that are not multiples of 4 exercise the padding. */
static void gemm_matches_definition(void **state)
{
    (void)state;
    const uint32_t tys[] = {GGML_Q8_0, GGML_Q4_0, GGML_Q4_K, GGML_Q6_K};
    if (!eng_isa_supported(ENG_ISA_AVX512)) {
        printf("  no AVX-512 VNNI here: the gemm kernel is not run\n");
        return;
    }
    eng_isa_set(ENG_ISA_AVX512);
    for (int t = 0; t < 4; t++) {
        uint32_t ty = tys[t];
        assert_true(eng_gemm_ok(ty));
        const int64_t n = 512, rows = 21;
        const int cols = 7;
        size_t rb = eng_row_bytes(ty, n), ab = (size_t)n / 32 * sizeof(eng_qa32_t);
        char *w = xmalloc(rb * (size_t)rows), *act = xmalloc(ab * (size_t)cols);
        float *x = xmalloc((size_t)n * sizeof *x), *wf = xmalloc((size_t)n * sizeof *wf);
        float y[21 * 7];
        void *scratch = xmalloc(eng_gemm_scratch_bytes(n));
        for (int r = 0; r < rows; r++)
            fill_weights(ty, w + rb * (size_t)r, n, r == 5);
        for (int c = 0; c < cols; c++) {
            fill_acts(x, n, c == 2 ? 1 : 0);
            eng_quantize_q32(x, act + ab * (size_t)c, n);
        }
        for (int ncols = 1; ncols <= cols; ncols += 2) {
            memset(y, 0, sizeof y);
            eng_gemm_tile(ty, n, w, rb, 3, rows, act, ab, ncols, y, (size_t)rows, scratch);
            double worst = 0;
            for (int c = 0; c < ncols; c++) {
                const eng_qa32_t *a = (const eng_qa32_t *)(const void *)(act + ab * (size_t)c);
                for (int r = 0; r < rows; r++) {
                    if (r < 3) {
                        assert_true(y[c * rows + r] == 0); /* outside [r0, r1): untouched */
                        continue;
                    }
                    eng_dequantize_row(ty, w + rb * (size_t)r, wf, n);
                    double ref = 0, mag = 0;
                    for (int64_t i = 0; i < n; i++) {
                        double v = (double)a[i / 32].d * a[i / 32].qs[i % 32];
                        ref += wf[i] * v;
                        mag += fabs(wf[i] * v);
                    }
                    double err = fabs(y[c * rows + r] - ref);
                    /* float accumulation, plus the offset term (S u - M) rounding */
                    if (!(err <= 1e-5 * mag + 1e-30)) {
                        printf("  %s col %d row %d: got %.9g want %.9g\n", gguf_type_name(ty), c, r,
                               y[c * rows + r], ref);
                        fail();
                    }
                    if (mag > 0 && err / mag > worst)
                        worst = err / mag;
                }
            }
            if (ncols == cols)
                printf("  %-5s gemm worst |got - ref| / sum|w*x| = %.2g\n", gguf_type_name(ty),
                       worst);
        }
        free(w);
        free(act);
        free(x);
        free(wf);
        free(scratch);
    }
}

/* The vector quantisers give the very bytes of the portable one (the dispatch must not change
 * results), on rows that include ties at .5 steps, zeros and a lone large value. */
static void activation_quantiser_is_the_same_on_every_path(void **state)
{
    (void)state;
    const int64_t n = 32 * 40;
    float *x = xmalloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = frnd() * 4;
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i - 16) * 0.5f; /* ties after scaling by 127/8 are few; still exact */
    for (int i = 32; i < 64; i++)
        x[i] = 0;
    x[70] = 1e6f;
    x[100] = NAN; /* a block with a NaN, one with an infinity, one of tiny values */
    x[140] = -INFINITY;
    for (int i = 160; i < 192; i++)
        x[i] = 1e-32f * (float)(i - 170);
    eng_qa32_t *want = xmalloc((size_t)n / 32 * sizeof *want),
               *got = xmalloc((size_t)n / 32 * sizeof *got);
    eng_isa_set(ENG_ISA_SCALAR);
    eng_quantize_q32(x, want, n);
    assert_true(isnan(want[3].d) && isnan(want[4].d) && want[5].d == 0 && want[5].sum == 0);
    for (int i = 0; i < 32; i++)
        assert_true(want[3].qs[i] == 0 && want[4].qs[i] == 0 && want[5].qs[i] == 0);
    for (int isa = 1; isa < ENG_ISA_COUNT; isa++) {
        if (eng_isa_set((eng_isa_t)isa) != 0)
            continue;
        memset(got, 0x5a, (size_t)n / 32 * sizeof *got);
        eng_quantize_q32(x, got, n);
        assert_memory_equal(got, want, (size_t)n / 32 * sizeof *got);
    }
    free(x);
    free(want);
    free(got);
}

/* The compute pool runs every chunk of every task exactly once, across many back-to-back tasks
 * of varying sizes (a claim racing the next task's start once ran a chunk twice). */
typedef struct {
    int *hits;
    int n;
} pool_task_t;

static void count_chunk(void *arg, int c, int ith)
{
    pool_task_t *t = arg;
    assert_true(c >= 0 && c < t->n && ith >= 0 && ith < 3);
    __atomic_fetch_add(&t->hits[c], 1, __ATOMIC_RELAXED);
}

static void pool_runs_every_chunk_once(void **state)
{
    (void)state;
    eng_pool_t *p = eng_pool_new(3);
    int hits[64];
    for (int it = 0; it < 20000; it++) {
        pool_task_t t = {hits, 1 + (int)(rnd() % 64)};
        memset(hits, 0, sizeof hits);
        eng_pool_run(p, count_chunk, &t, t.n);
        for (int i = 0; i < t.n; i++)
            assert_int_equal(__atomic_load_n(&hits[i], __ATOMIC_RELAXED), 1);
    }
    eng_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(half_conversions_round_trip),
        cmocka_unit_test(dequantize_known_blocks),
        cmocka_unit_test(f32_dot_matches_definition),
        cmocka_unit_test(f16_dot_matches_definition),
        cmocka_unit_test(bf16_dot_matches_definition),
        cmocka_unit_test(q8_0_dot_matches_definition),
        cmocka_unit_test(q4_0_dot_matches_definition),
        cmocka_unit_test(q4_k_dot_matches_definition),
        cmocka_unit_test(q6_k_dot_matches_definition),
        cmocka_unit_test(tile_equals_single_dots),
        cmocka_unit_test(gemm_matches_definition),
        cmocka_unit_test(activation_quantiser_is_the_same_on_every_path),
        cmocka_unit_test(pool_runs_every_chunk_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

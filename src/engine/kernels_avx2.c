/* kernels_avx2.c - the dot products with AVX2 + FMA + F16C (256-bit), chosen at run time. */
#include "engine/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma,f16c")))

TGT static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TGT static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* Sums of adjacent byte products u8 * s8 into 8 int32 (pairs through int16: callers keep
 * |u * s| * 2 below 32768). */
TGT static inline __m256i madd_u8s8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

TGT static float dot_f32(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += x[i] * y[i];
    return s;
}

TGT static float dot_f16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8)));
        s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(y + i + 8), s1);
    }
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += h2f(x[i]) * y[i];
    return s;
}

TGT static float dot_bf16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256i h1 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i + 8)));
        s0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(h0, 16)), _mm256_loadu_ps(y + i),
                             s0);
        s1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(h1, 16)),
                             _mm256_loadu_ps(y + i + 8), s1);
    }
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += eng_bf16_to_f32(x[i]) * y[i];
    return s;
}

TGT static float dot_q8_0(int64_t n, const void *w, const void *a)
{
    const eng_q8_0_t *x = w;
    const eng_qa32_t *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t nb = n / 32, i = 0;
    for (; i + 2 <= nb; i += 2) {
        for (int k = 0; k < 2; k++) {
            __m256i wq = _mm256_loadu_si256((const __m256i *)x[i + k].qs);
            __m256i aq = _mm256_loadu_si256((const __m256i *)y[i + k].qs);
            /* |w| * (a with w's sign): unsigned times signed, as maddubs wants */
            __m256i p = madd_u8s8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(aq, wq));
            __m256 d = _mm256_set1_ps(h2f(x[i + k].d) * y[i + k].d);
            if (k == 0)
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc0);
            else
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc1);
        }
    }
    for (; i < nb; i++) {
        __m256i wq = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i aq = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p = madd_u8s8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(aq, wq));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(h2f(x[i].d) * y[i].d), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

/* The 32 nibbles of a Q4 block as bytes: the low nibbles first, then the high ones. */
TGT static inline __m256i nibbles(const uint8_t *q)
{
    __m128i b = _mm_loadu_si128((const __m128i *)q);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(v, _mm256_set1_epi8(0xF));
}

TGT static float dot_q4_0(int64_t n, const void *w, const void *a)
{
    const eng_q4_0_t *x = w;
    const eng_qa32_t *y = a;
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        __m256i p = madd_u8s8(nibbles(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        float d = h2f(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
        corr += d * (float)(8 * y[i].sum); /* the nibbles are q + 8 */
    }
    return hsum(acc) - corr;
}

TGT static float dot_q4_k(int64_t n, const void *w, const void *a)
{
    const eng_q4_k_t *x = w;
    const eng_qa256_t *y = a;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++)
            eng_q4k_scale_min(j, x[i].scales, &sc[j], &m[j]);
        __m256i sum = _mm256_setzero_si256();
        int32_t msum = 0;
        for (int j = 0; j < 4; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            __m256i lo = _mm256_and_si256(q, m4),
                    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            __m256i v0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j));
            __m256i v1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32));
            /* int16 pair sums times the sub-block scale, widened to int32 by madd */
            __m256i p0 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(lo, v0), _mm256_set1_epi16(sc[2 * j]));
            __m256i p1 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(hi, v1), _mm256_set1_epi16(sc[2 * j + 1]));
            sum = _mm256_add_epi32(sum, _mm256_add_epi32(p0, p1));
        }
        for (int j = 0; j < 8; j++)
            msum += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(h2f(x[i].d) * y[i].d), acc);
        corr += h2f(x[i].dmin) * y[i].d * (float)msum;
    }
    return hsum(acc) - corr;
}

TGT static float dot_q6_k(int64_t n, const void *w, const void *a)
{
    const eng_q6_k_t *x = w;
    const eng_qa256_t *y = a;
    const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        __m256i sum = _mm256_setzero_si256();
        int32_t corr = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h, *v = y[i].qs + 128 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
            q[1] = _mm256_or_si256(
                _mm256_and_si256(l1, m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
            q[2] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
            q[3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
            for (int k = 0; k < 4; k++) {
                __m256i vv = _mm256_loadu_si256((const __m256i *)(v + 32 * k));
                /* the first 16 values take scale 2k, the next 16 scale 2k+1 */
                __m256i s =
                    _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], vv), s));
            }
            for (int k = 0; k < 8; k++)
                corr += sc[k] * y[i].bsums[8 * h + k];
        }
        /* the stored 6-bit values are q + 32 */
        sum = _mm256_sub_epi32(sum, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(h2f(x[i].d) * y[i].d), acc);
    }
    return hsum(acc);
}

void eng_kernels_avx2_fill(eng_kernels_t *k)
{
    k->dot[GGML_F32] = dot_f32;
    k->dot[GGML_F16] = dot_f16;
    k->dot[GGML_BF16] = dot_bf16;
    k->dot[GGML_Q8_0] = dot_q8_0;
    k->dot[GGML_Q4_0] = dot_q4_0;
    k->dot[GGML_Q4_K] = dot_q4_k;
    k->dot[GGML_Q6_K] = dot_q6_k;
}

#else
void eng_kernels_avx2_fill(eng_kernels_t *k)
{
    (void)k;
}
#endif

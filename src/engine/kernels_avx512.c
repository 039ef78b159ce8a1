/* kernels_avx512.c - the dot products with AVX-512 (F, BW, VL, DQ) and VNNI, chosen at run time.
 * Types without a kernel here keep the AVX2 one. */
#include "engine/kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

TGT static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

TGT static inline float hsum256(__m256 v)
{
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    t = _mm_add_ss(t, _mm_movehdup_ps(t));
    return _mm_cvtss_f32(t);
}

TGT static float dot_f32(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
    if (i < n) { /* the tail under a mask */
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

TGT static float dot_f16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))),
                             _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16))),
                             _mm512_loadu_ps(y + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))),
                             _mm512_loadu_ps(y + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)),
                             _mm512_maskz_loadu_ps(m, y + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

TGT static float dot_bf16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    __m512 s0 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i)));
        s0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(h, 16)), _mm512_loadu_ps(y + i),
                             s0);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, x + i));
        s0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(h, 16)),
                             _mm512_maskz_loadu_ps(m, y + i), s0);
    }
    return _mm512_reduce_add_ps(s0);
}

/* One Q8_0 block times one activation block, as 8 int32 partial sums: VNNI multiplies unsigned
 * by signed bytes, so the weight's sign moves onto the activation. */
TGT static inline __m256i q8_block(const eng_q8_0_t *x, const eng_qa32_t *y)
{
    __m256i wq = _mm256_loadu_si256((const __m256i *)x->qs);
    __m256i aq = _mm256_loadu_si256((const __m256i *)y->qs);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wq),
                               _mm256_sign_epi8(aq, wq));
}

TGT static float dot_q8_0(int64_t n, const void *w, const void *a)
{
    const eng_q8_0_t *x = w;
    const eng_qa32_t *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t nb = n / 32, i = 0;
    for (; i + 4 <= nb; i += 4) {
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q8_block(x + i, y + i)),
                               _mm256_set1_ps(h2f(x[i].d) * y[i].d), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q8_block(x + i + 1, y + i + 1)),
                               _mm256_set1_ps(h2f(x[i + 1].d) * y[i + 1].d), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q8_block(x + i + 2, y + i + 2)),
                               _mm256_set1_ps(h2f(x[i + 2].d) * y[i + 2].d), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q8_block(x + i + 3, y + i + 3)),
                               _mm256_set1_ps(h2f(x[i + 3].d) * y[i + 3].d), acc3);
    }
    for (; i < nb; i++)
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q8_block(x + i, y + i)),
                               _mm256_set1_ps(h2f(x[i].d) * y[i].d), acc0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    return hsum256(s);
}

TGT static float dot_q4_0(int64_t n, const void *w, const void *a)
{
    const eng_q4_0_t *x = w;
    const eng_qa32_t *y = a;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        __m128i b = _mm_loadu_si128((const __m128i *)x[i].qs);
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), m4);
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q,
                                        _mm256_loadu_si256((const __m256i *)y[i].qs));
        float d = h2f(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc);
        corr += d * (float)(8 * y[i].sum);
    }
    return hsum256(acc) - corr;
}

/* Q4_K's twelve scale bytes as 8 scales then 8 mins, by whole-word bit operations (the layout
 * of eng_q4k_scale_min): scales 0-3 and mins 0-3 are the low 6 bits of bytes 0-3 and 4-7;
 * scales 4-7 (mins 4-7) take their low 4 bits from the low (high) nibbles of bytes 8-11 and their
 * top 2 bits from the top bits of bytes 0-3 (4-7). */
static inline void q4k_unpack(const uint8_t *q, uint8_t out[16])
{
    uint32_t w0, w1, w2, o[4];
    memcpy(&w0, q, 4);
    memcpy(&w1, q + 4, 4);
    memcpy(&w2, q + 8, 4);
    o[0] = w0 & 0x3f3f3f3fu;
    o[1] = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
    o[2] = w1 & 0x3f3f3f3fu;
    o[3] = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
    memcpy(out, o, 16);
}

/* Q4_K: one 512-bit register holds a 64-value pair of sub-blocks (low nibbles, then high), which
 * lines up with 64 consecutive activation bytes; each pair's scales come from one permute of the
 * 8 unpacked scales, and the mins meet the activation's sums per 16 in one multiply-add. */
TGT static float dot_q4_k(int64_t n, const void *w, const void *a)
{
    const eng_q4_k_t *x = w;
    const eng_qa256_t *y = a;
    const __m512i m4 = _mm512_set1_epi8(0xF);
    /* int16 lane l of pair j takes scale 2j (lanes 0-15) or 2j+1 (lanes 16-31) */
    __m512i pick[4];
    for (int j = 0; j < 4; j++)
        pick[j] = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * j)),
                                     _mm256_set1_epi16((short)(2 * j + 1)), 1);
    /* the 16 sums per 16 pair up with mins 0,0,1,1,...,7,7 */
    const __m256i mpick =
        _mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    __m512 acc = _mm512_setzero_ps();
    __m256 macc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        uint8_t sm[16];
        q4k_unpack(x[i].scales, sm);
        __m128i sm8 = _mm_loadu_si128((const __m128i *)sm);
        __m512i sm16 = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(sm8)); /* 16 int16 */
        __m512i sum = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            __m512i qq = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
            qq = _mm512_and_si512(qq, m4);
            __m512i v = _mm512_loadu_si512((const void *)(y[i].qs + 64 * j));
            __m512i sc = _mm512_permutexvar_epi16(pick[j], sm16);
            sum = _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_maddubs_epi16(qq, v), sc));
        }
        __m256i mins =
            _mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_castsi256_si512(mpick), sm16));
        __m256i ms = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), mins);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(h2f(x[i].d) * y[i].d), acc);
        macc =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(h2f(x[i].dmin) * y[i].d), macc);
    }
    return _mm512_reduce_add_ps(acc) - hsum256(macc);
}

/* Q6_K: per half super-block, the 64 bytes of low bits give values 0-63 (low nibbles) and 64-127
 * (high nibbles) in order, the 32 bytes of high bits add 2 bits to each; value i of the whole
 * super-block takes scale i / 16, so one permute of the 16 scales serves each 64 values. */
TGT static float dot_q6_k(int64_t n, const void *w, const void *a)
{
    const eng_q6_k_t *x = w;
    const eng_qa256_t *y = a;
    const __m512i m4 = _mm512_set1_epi8(0xF), m2 = _mm512_set1_epi8(3);
    /* int16 lanes 8g..8g+7 of quarter c take scale 4c + g */
    __m512i pick[4];
    for (int c = 0; c < 4; c++)
        pick[c] = _mm512_setr_epi64(
            4 * c * 0x0001000100010001ll, 4 * c * 0x0001000100010001ll,
            (4 * c + 1) * 0x0001000100010001ll, (4 * c + 1) * 0x0001000100010001ll,
            (4 * c + 2) * 0x0001000100010001ll, (4 * c + 2) * 0x0001000100010001ll,
            (4 * c + 3) * 0x0001000100010001ll, (4 * c + 3) * 0x0001000100010001ll);
    __m512 acc = _mm512_setzero_ps();
    __m256 cacc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m512i scz = _mm512_castsi256_si512(sc16);
        __m512i sum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i ql = _mm512_loadu_si512((const void *)(x[i].ql + 64 * h));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m512i h01 =
                _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            __m512i h23 = _mm512_srli_epi16(h01, 4);
            __m512i q0 = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                         _mm512_slli_epi16(_mm512_and_si512(h01, m2), 4));
            __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                         _mm512_slli_epi16(_mm512_and_si512(h23, m2), 4));
            __m512i v0 = _mm512_loadu_si512((const void *)(y[i].qs + 128 * h));
            __m512i v1 = _mm512_loadu_si512((const void *)(y[i].qs + 128 * h + 64));
            __m512i s0 = _mm512_permutexvar_epi16(pick[2 * h], scz);
            __m512i s1 = _mm512_permutexvar_epi16(pick[2 * h + 1], scz);
            sum = _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_maddubs_epi16(q0, v0), s0));
            sum = _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_maddubs_epi16(q1, v1), s1));
        }
        /* the stored values are q + 32: take 32 sum_g scale_g sum16_g back */
        __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), sc16);
        float dd = h2f(x[i].d) * y[i].d;
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(dd), acc);
        cacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(corr), _mm256_set1_ps(32 * dd), cacc);
    }
    return _mm512_reduce_add_ps(acc) - hsum256(cacc);
}

/* The activation quantiser, bit for bit the portable one: the same max, the same d and 1/d, the
 * same float products, rounded to nearest even. */
TGT static void quant32(const float *x, eng_qa32_t *b, int64_t n)
{
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
        /* quiet or signalling NaN, +-infinity: the same rules as the portable quantiser */
        bool finite = (_mm512_fpclass_ps_mask(x0, 0x99) | _mm512_fpclass_ps_mask(x1, 0x99)) == 0;
        if (!finite || amax < 1e-30f) {
            memset(b[i].qs, 0, 32);
            b[i].d = finite ? 0.0f : NAN;
            b[i].sum = 0;
            b[i].ds = b[i].d * 0.0f;
            b[i].ds16 = b[i].d * 0.0f;
            continue;
        }
        float d = amax / 127, id = 1 / d;
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, _mm512_set1_ps(id)));
        __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, _mm512_set1_ps(id)));
        _mm_storeu_si128((__m128i *)b[i].qs, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(b[i].qs + 16), _mm512_cvtepi32_epi8(q1));
        int32_t s16 = _mm512_reduce_add_epi32(q0), s = s16 + _mm512_reduce_add_epi32(q1);
        b[i].d = d;
        b[i].sum = s;
        b[i].ds = d * (float)s;
        b[i].ds16 = d * (float)s16;
    }
}

TGT static void axpy(int64_t n, float a, const float *x, float *y)
{
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(
            y + i, m,
            _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

/* e^x to about 2e-7 relative: x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r,
 * then 2^n by scalef. Below -87 the result is ~0 (not a denormal), above 88 it is huge. */
TGT static inline __m512 exp512(__m512 x)
{
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* g[i] = silu(g[i]) * u[i] = g / (1 + e^-g) * u (SwiGLU) */
TGT static void silu_mul(int64_t n, float *g, const float *u)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 d =
            _mm512_add_ps(_mm512_set1_ps(1.0f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), x)));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(x, d), _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* Attention for head sizes that are a multiple of 16 up to 256: the output stays in registers
 * while the values stream past. */
TGT static void attn(int hd, int n, const float *q, const float *k, const float *v, size_t stride,
                     float scale, float *att, float *out)
{
    int nv = hd / 16;
    __m512 qq[16], o[16];
    for (int i = 0; i < nv; i++) {
        qq[i] = _mm512_loadu_ps(q + 16 * i);
        o[i] = _mm512_setzero_ps();
    }
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        const float *kj = k + (size_t)j * stride;
        __m512 s = _mm512_mul_ps(qq[0], _mm512_loadu_ps(kj));
        for (int i = 1; i < nv; i++)
            s = _mm512_fmadd_ps(qq[i], _mm512_loadu_ps(kj + 16 * i), s);
        att[j] = _mm512_reduce_add_ps(s) * scale;
        mx = att[j] > mx ? att[j] : mx;
    }
    __m512 vs = _mm512_setzero_ps(), vm = _mm512_set1_ps(mx);
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(att + j), vm));
        _mm512_storeu_ps(att + j, e);
        vs = _mm512_add_ps(vs, e);
    }
    if (j < n) {
        __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, att + j), vm));
        _mm512_mask_storeu_ps(att + j, m, e);
        vs = _mm512_mask_add_ps(vs, m, vs, e);
    }
    float inv = 1 / _mm512_reduce_add_ps(vs);
    for (int j = 0; j < n; j++) {
        const float *vj = v + (size_t)j * stride;
        __m512 a = _mm512_set1_ps(att[j] * inv);
        for (int i = 0; i < nv; i++)
            o[i] = _mm512_fmadd_ps(a, _mm512_loadu_ps(vj + 16 * i), o[i]);
    }
    for (int i = 0; i < nv; i++)
        _mm512_storeu_ps(out + 16 * i, o[i]);
}

TGT static void attn_dispatch(int hd, int n, const float *q, const float *k, const float *v,
                              size_t stride, float scale, float *att, float *out)
{
    if (hd % 16 == 0 && hd <= 256)
        attn(hd, n, q, k, v, stride, scale, att, out);
    else
        eng_attn_generic(hd, n, q, k, v, stride, scale, att, out);
}

void eng_kernels_avx512_fill(eng_kernels_t *k)
{
    k->attn = attn_dispatch;
    k->quant32 = quant32;
    k->axpy = axpy;
    k->silu_mul = silu_mul;
    k->dot[GGML_F32] = dot_f32;
    k->dot[GGML_F16] = dot_f16;
    k->dot[GGML_BF16] = dot_bf16;
    k->dot[GGML_Q8_0] = dot_q8_0;
    k->dot[GGML_Q4_0] = dot_q4_0;
    k->dot[GGML_Q4_K] = dot_q4_k;
    k->dot[GGML_Q6_K] = dot_q6_k;
}

#else
void eng_kernels_avx512_fill(eng_kernels_t *k)
{
    (void)k;
}
#endif

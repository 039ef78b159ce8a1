/* kernels.c - types, activation quantisation, dequantisation, the portable C dot products (the
 * definition the vector kernels are tested against) and the ISA dispatch. */
#include "engine/kernels.h"

#include <math.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(eng_q8_0_t) == 34, "Q8_0 block");
_Static_assert(sizeof(eng_q4_0_t) == 18, "Q4_0 block");
_Static_assert(sizeof(eng_q4_k_t) == 144, "Q4_K block");
_Static_assert(sizeof(eng_q6_k_t) == 210, "Q6_K block");
_Static_assert(sizeof(eng_qa32_t) == 48, "activation block");
_Static_assert(sizeof(eng_qa256_t) == 292, "activation block");

/* the selected kernels (eng_isa_set) */
static eng_kernels_t kernels[ENG_ISA_COUNT];
static const eng_kernels_t *cur;
static eng_isa_t cur_isa;

/* ---- half floats ---- */

float eng_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13); /* inf / nan */
    } else if (exp) {
        u = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man) { /* subnormal: value = man * 2^-24 */
        float f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    } else {
        u = sign;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t eng_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t a = u & 0x7fffffff;
    if (a >= 0x7f800000) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000 ? 0x200 : 0));
    if (a >= 0x477ff000) /* rounds to above 65504 */
        return (uint16_t)(sign | 0x7c00);
    if (a < 0x38800000) { /* subnormal half (or zero): round man * 2^24 to nearest even */
        float v;
        memcpy(&v, &a, 4);
        return (uint16_t)(sign | (uint16_t)lrintf(v * 0x1p24f));
    }
    /* normal: rebias the exponent and round the mantissa to nearest even */
    uint32_t r = a - 0x38000000;
    r += 0xfff + ((r >> 13) & 1);
    return (uint16_t)(sign | (r >> 13));
}

uint16_t eng_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* ---- types ---- */

bool eng_type_supported(uint32_t type)
{
    switch (type) {
    case GGML_F32:
    case GGML_F16:
    case GGML_BF16:
    case GGML_Q8_0:
    case GGML_Q4_0:
    case GGML_Q4_K:
    case GGML_Q6_K:
        return true;
    default:
        return false;
    }
}

size_t eng_row_bytes(uint32_t type, int64_t n)
{
    size_t bb, be;
    if (!gguf_type_info(type, &bb, &be))
        return 0;
    return (size_t)n / be * bb;
}

size_t eng_act_bytes(uint32_t wtype, int64_t n)
{
    switch (wtype) {
    case GGML_Q8_0:
    case GGML_Q4_0:
        return (size_t)n / 32 * sizeof(eng_qa32_t);
    case GGML_Q4_K:
    case GGML_Q6_K:
        return (size_t)n / 256 * sizeof(eng_qa256_t);
    default:
        return (size_t)n * sizeof(float);
    }
}

/* Symmetric int8 quantisation of k values: d = max|x| / 127, q = round(x / d). A block holding
 * an infinity or a NaN becomes d = NaN, q = 0 (the dot products then give NaN, without ever
 * converting a NaN to an integer); one whose largest value is below 1e-30 becomes zeros (its 1/d
 * would overflow). The vector quantisers follow the same rules bit for bit. */
static float quant_i8(const float *x, int8_t *q, int k)
{
    float amax = 0;
    bool finite = true;
    for (int i = 0; i < k; i++) {
        float a = fabsf(x[i]);
        finite &= isfinite(a) != 0;
        amax = a > amax ? a : amax;
    }
    if (!finite || amax < 1e-30f) {
        memset(q, 0, (size_t)k);
        return finite ? 0.0f : NAN;
    }
    float d = amax / 127, id = 1 / d;
    for (int i = 0; i < k; i++)
        q[i] = (int8_t)lrintf(x[i] * id);
    return d;
}

static void quant32(const float *x, eng_qa32_t *b, int64_t n)
{
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        b[i].d = quant_i8(x, b[i].qs, 32);
        int32_t s = 0, s16 = 0;
        for (int j = 0; j < 32; j++)
            s += b[i].qs[j];
        for (int j = 0; j < 16; j++)
            s16 += b[i].qs[j];
        b[i].sum = s;
        b[i].ds = b[i].d * (float)s;
        b[i].ds16 = b[i].d * (float)s16;
    }
}

static void axpy(int64_t n, float a, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

void eng_attn_generic(int hd, int n, const float *q, const float *k, const float *v, size_t stride,
                      float scale, float *att, float *out)
{
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        att[j] = cur->dot[GGML_F32](hd, q, k + (size_t)j * stride) * scale;
        mx = att[j] > mx ? att[j] : mx;
    }
    float sum = 0;
    for (int j = 0; j < n; j++) {
        att[j] = expf(att[j] - mx);
        sum += att[j];
    }
    memset(out, 0, (size_t)hd * sizeof *out);
    for (int j = 0; j < n; j++)
        cur->axpy(hd, att[j] / sum, v + (size_t)j * stride, out);
}

static void silu_mul(int64_t n, float *g, const float *u)
{
    for (int64_t i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void eng_silu_mul(int64_t n, float *g, const float *u)
{
    if (!cur)
        eng_isa();
    cur->silu_mul(n, g, u);
}

void eng_attn(int hd, int n, const float *q, const float *k, const float *v, size_t stride,
              float scale, float *att, float *out)
{
    if (!cur)
        eng_isa();
    cur->attn(hd, n, q, k, v, stride, scale, att, out);
}

void eng_quantize_q32(const float *x, void *dst, int64_t n)
{
    eng_quantize_act(GGML_Q8_0, x, dst, n);
}

void eng_axpy(int64_t n, float a, const float *x, float *y)
{
    if (!cur)
        eng_isa();
    cur->axpy(n, a, x, y);
}

float eng_dot_f32(int64_t n, const float *x, const float *y)
{
    if (!cur)
        eng_isa();
    return cur->dot[GGML_F32](n, x, y);
}

void eng_quantize_act(uint32_t wtype, const float *x, void *dst, int64_t n)
{
    if (!cur)
        eng_isa();
    if (wtype == GGML_Q8_0 || wtype == GGML_Q4_0) {
        cur->quant32(x, dst, n);
    } else if (wtype == GGML_Q4_K || wtype == GGML_Q6_K) {
        eng_qa256_t *b = dst;
        for (int64_t i = 0; i < n / 256; i++, x += 256) {
            b[i].d = quant_i8(x, b[i].qs, 256);
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int j = 0; j < 16; j++)
                    s += b[i].qs[16 * g + j];
                b[i].bsums[g] = (int16_t)s;
            }
        }
    } else {
        memcpy(dst, x, (size_t)n * sizeof(float));
    }
}

void eng_dequantize_row(uint32_t type, const void *src, float *y, int64_t n)
{
    switch (type) {
    case GGML_F32:
        memcpy(y, src, (size_t)n * 4);
        break;
    case GGML_F16:
        for (int64_t i = 0; i < n; i++)
            y[i] = eng_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case GGML_BF16:
        for (int64_t i = 0; i < n; i++)
            y[i] = eng_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case GGML_Q8_0:
        for (const eng_q8_0_t *b = src; n > 0; n -= 32, b++, y += 32) {
            float d = eng_f16_to_f32(b->d);
            for (int j = 0; j < 32; j++)
                y[j] = d * b->qs[j];
        }
        break;
    case GGML_Q4_0:
        for (const eng_q4_0_t *b = src; n > 0; n -= 32, b++, y += 32) {
            float d = eng_f16_to_f32(b->d);
            for (int j = 0; j < 16; j++) {
                y[j] = d * ((b->qs[j] & 0xF) - 8);
                y[j + 16] = d * ((b->qs[j] >> 4) - 8);
            }
        }
        break;
    case GGML_Q4_K:
        for (const eng_q4_k_t *b = src; n > 0; n -= 256, b++) {
            float d = eng_f16_to_f32(b->d), dmin = eng_f16_to_f32(b->dmin);
            const uint8_t *q = b->qs;
            for (int j = 0; j < 8; j += 2, q += 32) {
                uint8_t s0, m0, s1, m1;
                eng_q4k_scale_min(j, b->scales, &s0, &m0);
                eng_q4k_scale_min(j + 1, b->scales, &s1, &m1);
                for (int l = 0; l < 32; l++)
                    *y++ = d * s0 * (q[l] & 0xF) - dmin * m0;
                for (int l = 0; l < 32; l++)
                    *y++ = d * s1 * (q[l] >> 4) - dmin * m1;
            }
        }
        break;
    case GGML_Q6_K:
        for (const eng_q6_k_t *b = src; n > 0; n -= 256, b++) {
            float d = eng_f16_to_f32(b->d);
            for (int h = 0; h < 2; h++, y += 128) {
                const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
                const int8_t *sc = b->scales + 8 * h;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    y[l] = d * sc[is] * (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
                    y[l + 32] =
                        d * sc[is + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                    y[l + 64] = d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                    y[l + 96] =
                        d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                }
            }
        }
        break;
    default:
        memset(y, 0, (size_t)n * 4);
    }
}

/* ---- portable dot products ---- */

static float dot_f32(int64_t n, const void *w, const void *a)
{
    const float *x = w, *y = a;
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

static float dot_f16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        s += eng_f16_to_f32(x[i]) * y[i];
    return s;
}

static float dot_bf16(int64_t n, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        s += eng_bf16_to_f32(x[i]) * y[i];
    return s;
}

static float dot_q8_0(int64_t n, const void *w, const void *a)
{
    const eng_q8_0_t *x = w;
    const eng_qa32_t *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int32_t t = 0;
        for (int j = 0; j < 32; j++)
            t += x[i].qs[j] * y[i].qs[j];
        s += eng_f16_to_f32(x[i].d) * y[i].d * (float)t;
    }
    return s;
}

static float dot_q4_0(int64_t n, const void *w, const void *a)
{
    const eng_q4_0_t *x = w;
    const eng_qa32_t *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int32_t t = 0;
        for (int j = 0; j < 16; j++)
            t += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        t -= 8 * y[i].sum;
        s += eng_f16_to_f32(x[i].d) * y[i].d * (float)t;
    }
    return s;
}

static float dot_q4_k(int64_t n, const void *w, const void *a)
{
    const eng_q4_k_t *x = w;
    const eng_qa256_t *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *v = y[i].qs;
        int32_t sum = 0, msum = 0;
        for (int j = 0; j < 8; j += 2, q += 32, v += 64) {
            uint8_t s0, m0, s1, m1;
            eng_q4k_scale_min(j, x[i].scales, &s0, &m0);
            eng_q4k_scale_min(j + 1, x[i].scales, &s1, &m1);
            int32_t t0 = 0, t1 = 0;
            for (int l = 0; l < 32; l++) {
                t0 += (q[l] & 0xF) * v[l];
                t1 += (q[l] >> 4) * v[l + 32];
            }
            sum += s0 * t0 + s1 * t1;
            msum += m0 * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]) +
                    m1 * (y[i].bsums[2 * j + 2] + y[i].bsums[2 * j + 3]);
        }
        s += y[i].d *
             (eng_f16_to_f32(x[i].d) * (float)sum - eng_f16_to_f32(x[i].dmin) * (float)msum);
    }
    return s;
}

static float dot_q6_k(int64_t n, const void *w, const void *a)
{
    const eng_q6_k_t *x = w;
    const eng_qa256_t *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int32_t sum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h, *v = y[i].qs + 128 * h;
            int32_t g[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                g[is] += ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) * v[l];
                g[is + 2] += ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) * v[l + 32];
                g[is + 4] += ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) * v[l + 64];
                g[is + 6] += ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) * v[l + 96];
            }
            for (int k = 0; k < 8; k++)
                sum += sc[k] * (g[k] - 32 * y[i].bsums[8 * h + k]);
        }
        s += eng_f16_to_f32(x[i].d) * y[i].d * (float)sum;
    }
    return s;
}

const eng_kernels_t eng_kernels_scalar = {.dot =
                                              {
                                                  [GGML_F32] = dot_f32,
                                                  [GGML_F16] = dot_f16,
                                                  [GGML_BF16] = dot_bf16,
                                                  [GGML_Q8_0] = dot_q8_0,
                                                  [GGML_Q4_0] = dot_q4_0,
                                                  [GGML_Q4_K] = dot_q4_k,
                                                  [GGML_Q6_K] = dot_q6_k,
                                              },
                                          .quant32 = quant32,
                                          .axpy = axpy,
                                          .silu_mul = silu_mul,
                                          .attn = eng_attn_generic};

/* ---- dispatch ---- */

#if defined(__x86_64__)
/* The CPU's features from cpuid, and whether the OS saves the wide registers (xgetbv). */
static bool cpu_has(eng_isa_t isa)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    bool fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
    if (!osxsave || !avx)
        return false;
    unsigned xlo, xhi;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6) != 6)
        return false;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, 0, a, b, c, d);
    bool avx2 = b >> 5 & 1;
    if (isa == ENG_ISA_AVX2)
        return avx2 && fma && f16c;
    bool f = b >> 16 & 1, dq = b >> 17 & 1, bw = b >> 30 & 1, vl = b >> 31 & 1, vnni = c >> 11 & 1;
    return avx2 && fma && f16c && (xlo & 0xe0) == 0xe0 && f && dq && bw && vl && vnni;
}
#endif

bool eng_isa_supported(eng_isa_t isa)
{
    if (isa == ENG_ISA_SCALAR)
        return true;
#if defined(__x86_64__)
    if (isa < ENG_ISA_COUNT) {
        static int known[ENG_ISA_COUNT]; /* 0 unknown, 1 yes, 2 no */
        if (!known[isa])
            known[isa] = cpu_has(isa) ? 1 : 2;
        return known[isa] == 1;
    }
#endif
    return false;
}

const char *eng_isa_name(eng_isa_t isa)
{
    static const char *names[] = {"scalar", "avx2", "avx512"};
    return isa < ENG_ISA_COUNT ? names[isa] : "?";
}

int eng_isa_set(eng_isa_t isa)
{
    if (isa >= ENG_ISA_COUNT || !eng_isa_supported(isa))
        return -1;
    if (!kernels[isa].dot[GGML_F32]) {
        kernels[isa] = eng_kernels_scalar;
#if defined(__x86_64__)
        if (isa >= ENG_ISA_AVX2)
            eng_kernels_avx2_fill(&kernels[isa]);
        if (isa >= ENG_ISA_AVX512) {
            eng_kernels_avx512_fill(&kernels[isa]);
            eng_kernels_gemm_fill(&kernels[isa]);
        }
#endif
    }
    cur = &kernels[isa];
    cur_isa = isa;
    return 0;
}

static eng_isa_t best(void)
{
    for (int i = ENG_ISA_COUNT - 1; i > 0; i--)
        if (eng_isa_supported((eng_isa_t)i))
            return (eng_isa_t)i;
    return ENG_ISA_SCALAR;
}

eng_isa_t eng_isa(void)
{
    if (!cur)
        eng_isa_set(best());
    return cur_isa;
}

int eng_isa_init(char *err, size_t errsz)
{
    const char *e = getenv("SEEKD_ISA");
    if (!e || !*e)
        return eng_isa_set(best());
    for (int i = 0; i < ENG_ISA_COUNT; i++) {
        if (strcmp(e, eng_isa_name((eng_isa_t)i)) == 0) {
            if (eng_isa_set((eng_isa_t)i) == 0)
                return 0;
            snprintf(err, errsz, "SEEKD_ISA=%s: this CPU cannot run it", e);
            return -1;
        }
    }
    snprintf(err, errsz, "SEEKD_ISA=%s: unknown (scalar, avx2 or avx512)", e);
    return -1;
}

bool eng_gemm_ok(uint32_t wtype)
{
    if (!cur)
        eng_isa();
    return wtype < GGML_TYPE_COUNT && cur->gemm[wtype] != NULL;
}

size_t eng_gemm_scratch_bytes(int64_t n)
{
    /* 8 rows of bytes, and 16 scales + 16 offsets per block of 32 */
    return (size_t)n * 8 + (size_t)n / 32 * 32 * sizeof(float) + 64;
}

void eng_gemm_tile(uint32_t wtype, int64_t n, const void *w, size_t wstride, int64_t r0, int64_t r1,
                   const void *act, size_t astride, int ncols, float *y, size_t ys, void *scratch)
{
    cur->gemm[wtype](wtype, n, w, wstride, r0, r1, act, astride, ncols, y, ys, scratch);
}

float eng_dot(uint32_t wtype, const void *w, const void *act, int64_t n)
{
    if (!cur)
        eng_isa();
    return cur->dot[wtype](n, w, act);
}

void eng_dot_tile(uint32_t wtype, int64_t n, const void *w, size_t wstride, int64_t r0, int64_t r1,
                  const void *act, size_t astride, int ncols, float *y, size_t ys)
{
    if (!cur)
        eng_isa();
    eng_dot_fn f = cur->dot[wtype];
    /* one weight row at a time stays in L1 while every activation column passes over it */
    for (int64_t r = r0; r < r1; r++) {
        const void *wr = (const char *)w + (size_t)r * wstride;
        for (int c = 0; c < ncols; c++)
            y[(size_t)c * ys + (size_t)r] = f(n, wr, (const char *)act + (size_t)c * astride);
    }
}

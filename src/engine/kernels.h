/* kernels.h - tensor element types, dequantisation and dot products, with runtime ISA dispatch.
 *
 * A weight row of a quantised type is multiplied with an activation row that was quantised once
 * per row into an int8 form of our own (the "activation format" of that weight type), so the
 * inner loops are integer multiply-adds, as the fast CPU engines do:
 *   F32, F16, BF16 weights  x  float32 activations
 *   Q8_0, Q4_0 weights      x  eng_qa32_t blocks  (32 int8, a float scale, their sum)
 *   Q4_K, Q6_K weights      x  eng_qa256_t blocks (256 int8, a float scale, sums per 16)
 * Block layouts of the weight types follow GGML's (docs/engine.md). */
#ifndef SEEKD_ENGINE_KERNELS_H
#define SEEKD_ENGINE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/gguf.h"

typedef enum { ENG_ISA_SCALAR = 0, ENG_ISA_AVX2, ENG_ISA_AVX512, ENG_ISA_COUNT } eng_isa_t;

/* Activation blocks. */
typedef struct {
    float d;       /* scale: value = d * qs[i] */
    int32_t sum;   /* sum of qs */
    float ds;      /* d * sum, for the packed matmul's offset term */
    float ds16;    /* d * the sum of the first 16 (Q6_K's scales cover 16) */
    int8_t qs[32]; /* quantised values */
} eng_qa32_t;

typedef struct {
    float d;
    int16_t bsums[16]; /* sum of each 16 qs */
    int8_t qs[256];
} eng_qa256_t;

/* ---- dispatch ---- */

/** Whether this CPU can run isa. */
bool eng_isa_supported(eng_isa_t isa);
/** Selects the kernels; returns -1 when the CPU lacks isa. */
int eng_isa_set(eng_isa_t isa);
/** The selected kernels' ISA. Before any eng_isa_set/eng_isa_init it is the best supported. */
eng_isa_t eng_isa(void);
/** "scalar", "avx2", "avx512". */
const char *eng_isa_name(eng_isa_t isa);
/** Reads SEEKD_ISA (scalar|avx2|avx512), else picks the best supported. Returns -1 with a
 * message in err when SEEKD_ISA names an unknown or unsupported ISA. */
int eng_isa_init(char *err, size_t errsz);

/* ---- types ---- */

/** Whether the engine computes with weights of this type. */
bool eng_type_supported(uint32_t type);
/** Bytes of a row of n elements (n a multiple of the type's block size). */
size_t eng_row_bytes(uint32_t type, int64_t n);
/** Bytes of one activation row of n elements for weights of type wtype. */
size_t eng_act_bytes(uint32_t wtype, int64_t n);
/** Quantises the float row x[0..n) into the activation format of wtype (a plain copy for the
 * float types). */
void eng_quantize_act(uint32_t wtype, const float *x, void *dst, int64_t n);
/** Expands a row of n elements of type to floats. */
void eng_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* ---- dot products with the selected kernels ---- */

/** Whether eng_gemm_tile has a kernel for wtype on the selected ISA. Its activations are
 * eng_qa32_t blocks for every quantised type (the K-quants too). */
bool eng_gemm_ok(uint32_t wtype);
/** Bytes of scratch eng_gemm_tile needs for rows of n elements (per calling thread). */
size_t eng_gemm_scratch_bytes(int64_t n);
/** Same contract as eng_dot_tile, for many activation columns at once (prompt processing):
 * rows are unpacked 8 at a time into scratch as unsigned bytes interleaved across the 8 rows
 * with a scale and an offset per 32-element block, then multiplied with 8 columns at a time by
 * 512-bit VNNI instructions. act holds eng_qa32_t rows. */
void eng_gemm_tile(uint32_t wtype, int64_t n, const void *w, size_t wstride, int64_t r0, int64_t r1,
                   const void *act, size_t astride, int ncols, float *y, size_t ys, void *scratch);
/** Quantises x[0..n) into eng_qa32_t blocks (n a multiple of 32). */
void eng_quantize_q32(const float *x, void *dst, int64_t n);

/** Dot product of a weight row of wtype with an activation row in wtype's activation format. */
float eng_dot(uint32_t wtype, const void *w, const void *act, int64_t n);

/** y[c * ys + r] = dot(row r of w, activation column c) for r in [r0, r1), c in [0, ncols):
 * rows of w are wstride bytes apart, activation columns astride bytes apart. The work unit of
 * the threaded matmul. */
void eng_dot_tile(uint32_t wtype, int64_t n, const void *w, size_t wstride, int64_t r0, int64_t r1,
                  const void *act, size_t astride, int ncols, float *y, size_t ys);

/** One attention head for one query: out[0..hd) = sum_j softmax(scale * q.k_j)_j v_j over the
 * n keys k_j = k + j * stride (floats), values likewise; att is n floats of scratch. */
void eng_attn(int hd, int n, const float *q, const float *k, const float *v, size_t stride,
              float scale, float *att, float *out);

/** g[i] = silu(g[i]) * u[i]: SwiGLU's gate times its up projection. */
void eng_silu_mul(int64_t n, float *g, const float *u);

/** y[i] += a * x[i], and the float dot product, with the selected kernels (attention). */
void eng_axpy(int64_t n, float a, const float *x, float *y);
float eng_dot_f32(int64_t n, const float *x, const float *y);

/* ---- half floats ---- */

static inline float eng_bf16_to_f32(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}
float eng_f16_to_f32(uint16_t h);
uint16_t eng_f32_to_f16(float f);
uint16_t eng_f32_to_bf16(float f);

/* ---- internal: per-ISA kernel tables (kernels_*.c) ---- */

typedef float (*eng_dot_fn)(int64_t n, const void *w, const void *act);
typedef void (*eng_gemm_fn)(uint32_t wtype, int64_t n, const void *w, size_t wstride, int64_t r0,
                            int64_t r1, const void *act, size_t astride, int ncols, float *y,
                            size_t ys, void *scratch);
typedef struct {
    eng_dot_fn dot[GGML_TYPE_COUNT];
    eng_gemm_fn gemm[GGML_TYPE_COUNT];
    void (*quant32)(const float *x, eng_qa32_t *b, int64_t n);
    void (*axpy)(int64_t n, float a, const float *x, float *y);
    void (*silu_mul)(int64_t n, float *g, const float *u);
    void (*attn)(int hd, int n, const float *q, const float *k, const float *v, size_t stride,
                 float scale, float *att, float *out);
} eng_kernels_t;

extern const eng_kernels_t eng_kernels_scalar;
void eng_kernels_avx2_fill(eng_kernels_t *k);
void eng_kernels_avx512_fill(eng_kernels_t *k);
void eng_kernels_gemm_fill(eng_kernels_t *k);
/* The portable attention, built on the selected dot and axpy kernels. */
void eng_attn_generic(int hd, int n, const float *q, const float *k, const float *v, size_t stride,
                      float scale, float *att, float *out);

/* Block layouts of the weight types (GGML's). */
#define ENG_QK 256
typedef struct {
    uint16_t d;
    int8_t qs[32];
} eng_q8_0_t;
typedef struct {
    uint16_t d;
    uint8_t qs[16];
} eng_q4_0_t;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[128];
} eng_q4_k_t;
typedef struct {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
} eng_q6_k_t;

/** The 6-bit scale and min of sub-block j (0..7) of a Q4_K block. */
static inline void eng_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif

/* kernels_gemm.c - the prompt-processing matmul on AVX-512 VNNI: 8 weight rows are unpacked into
 * unsigned bytes interleaved 8 at a time across the rows, so one 512-bit multiply-add takes 8
 * bytes of each of the 8 rows against the same 8 activation bytes, and 8 activation columns share
 * every weight load. Each 32-element block of a row carries a scale S and an offset M:
 *   Q8_0: u = q + 128, S = d, M = 128 d      Q4_0: u = nibble, S = d, M = 8 d
 *   Q4_K: u = nibble, S = d * scale_j, M = dmin * min_j
 * so the row value is S u - M and dot(row, x) = sum_k S_k dx_k sum(u x_q) - M_k dx_k sum(x_q).
 * Q6_K scales every 16 values: its blocks carry S for the first 16 (steps 0-1) and S' for the
 * last 16 (steps 2-3) in the places of S and M, u = the 6-bit value, and the offset 32 S is
 * applied with the activation's sums of each 16. */
#include <stdbool.h>
#include <string.h>

#include "engine/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

/* The packed tile: per block k, 4 steps of 64 bytes (8 rows x 8 bytes), then S[k] and M[k] as 16
 * floats each (two int32 lanes hold one row's partial sums: S is in both, M in the first). */
typedef struct {
    uint8_t *q;
    float *s, *m;
} pack_t;

static inline void put8(pack_t *p, int64_t k, int step, int r, uint64_t v)
{
    memcpy(p->q + (size_t)k * 256 + (size_t)step * 64 + (size_t)r * 8, &v, 8);
}

static inline void put_sm(pack_t *p, int64_t k, int r, float s, float m)
{
    p->s[k * 16 + 2 * r] = p->s[k * 16 + 2 * r + 1] = s;
    p->m[k * 16 + 2 * r] = m; /* the pair is summed at the end: the offset counts once */
    p->m[k * 16 + 2 * r + 1] = 0;
}

static inline uint64_t ld8(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#define LO4 0x0f0f0f0f0f0f0f0full

TGT static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

TGT static void pack_row(uint32_t type, const void *row, int64_t nb, int r, pack_t *p)
{
    if (type == GGML_Q8_0) {
        const eng_q8_0_t *b = row;
        for (int64_t k = 0; k < nb; k++) {
            for (int s = 0; s < 4; s++)
                put8(p, k, s, r, ld8(b[k].qs + 8 * s) ^ 0x8080808080808080ull);
            float d = h2f(b[k].d);
            put_sm(p, k, r, d, 128 * d);
        }
    } else if (type == GGML_Q4_0) {
        const eng_q4_0_t *b = row;
        for (int64_t k = 0; k < nb; k++) {
            uint64_t a = ld8(b[k].qs), c = ld8(b[k].qs + 8);
            put8(p, k, 0, r, a & LO4);
            put8(p, k, 1, r, c & LO4);
            put8(p, k, 2, r, (a >> 4) & LO4);
            put8(p, k, 3, r, (c >> 4) & LO4);
            float d = h2f(b[k].d);
            put_sm(p, k, r, d, 8 * d);
        }
    } else if (type == GGML_Q6_K) {
        /* 32-block j of a super-block is group kk = j % 4 of half h = j / 4: low (kk 0, 1) or high
         * (kk 2, 3) nibbles of ql[64h + 32 (kk & 1) + l], bits 2kk of qh[32h + l] on top */
        const eng_q6_k_t *b = row;
        for (int64_t sb = 0; sb < nb / 8; sb++) {
            float d = h2f(b[sb].d);
            for (int j = 0; j < 8; j++) {
                int h = j / 4, kk = j % 4;
                const uint8_t *ql = b[sb].ql + 64 * h + 32 * (kk & 1), *qh = b[sb].qh + 32 * h;
                for (int s = 0; s < 4; s++) {
                    uint64_t lo = ld8(ql + 8 * s), hi = ld8(qh + 8 * s);
                    lo = kk < 2 ? lo & LO4 : (lo >> 4) & LO4;
                    hi = (hi >> (2 * kk)) & 0x0303030303030303ull;
                    put8(p, sb * 8 + j, s, r, lo | hi << 4);
                }
                const int8_t *sc = b[sb].scales + 8 * h + 2 * kk;
                float s0 = d * sc[0], s1 = d * sc[1];
                int64_t k = sb * 8 + j;
                p->s[k * 16 + 2 * r] = p->s[k * 16 + 2 * r + 1] = s0;
                p->m[k * 16 + 2 * r] = p->m[k * 16 + 2 * r + 1] = s1;
            }
        }
    } else { /* Q4_K: 8 blocks of 32 per super-block */
        const eng_q4_k_t *b = row;
        for (int64_t sb = 0; sb < nb / 8; sb++) {
            float d = h2f(b[sb].d), dmin = h2f(b[sb].dmin);
            for (int j = 0; j < 8; j++) {
                int64_t k = sb * 8 + j;
                const uint8_t *q = b[sb].qs + 32 * (j / 2);
                for (int s = 0; s < 4; s++) {
                    uint64_t v = ld8(q + 8 * s);
                    put8(p, k, s, r, j & 1 ? (v >> 4) & LO4 : v & LO4);
                }
                uint8_t sc, mn;
                eng_q4k_scale_min(j, b[sb].scales, &sc, &mn);
                put_sm(p, k, r, d * sc, dmin * mn);
            }
        }
    }
}

/* Columns per pass over a packed tile: enough independent multiply-add chains to hide VNNI's
 * latency, and each weight load serves them all. */
#define NCOLS 8

/* nc columns (1..NCOLS) against the packed tile; writes rows [r0, r0 + nr) of each column.
 * q6: the blocks carry a scale per 16 (Q6_K) instead of a scale and an offset. */
TGT static inline __attribute__((always_inline)) void tile_cols(const pack_t *p, int64_t nb,
                                                                const eng_qa32_t *const *cols,
                                                                int nc, float *y, size_t ys,
                                                                int64_t r0, int nr, bool q6)
{
    __m512i isum2[NCOLS]; /* q6: the last 16 of each block */
    __m512 acc[NCOLS];
    for (int j = 0; j < NCOLS; j++)
        acc[j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *q = p->q + (size_t)k * 256;
        __m512i isum[NCOLS];
        for (int j = 0; j < NCOLS; j++)
            isum[j] = isum2[j] = _mm512_setzero_si512();
        for (int s = 0; s < 4; s++) {
            __m512i w = _mm512_loadu_si512((const void *)(q + 64 * s));
            for (int j = 0; j < nc; j++) {
                __m512i x = _mm512_set1_epi64((long long)ld8(cols[j][k].qs + 8 * s));
                if (q6 && s >= 2)
                    isum2[j] = _mm512_dpbusd_epi32(isum2[j], w, x);
                else
                    isum[j] = _mm512_dpbusd_epi32(isum[j], w, x);
            }
        }
        __m512 S = _mm512_loadu_ps(p->s + k * 16), M = _mm512_loadu_ps(p->m + k * 16);
        for (int j = 0; j < nc; j++) {
            __m512 dx = _mm512_set1_ps(cols[j][k].d);
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[j]), _mm512_mul_ps(S, dx), acc[j]);
            if (!q6) {
                acc[j] = _mm512_fnmadd_ps(M, _mm512_set1_ps(cols[j][k].ds), acc[j]);
                continue;
            }
            /* M holds S' here; the offsets 32 S dx sum16 + 32 S' dx sum16' count once a row */
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum2[j]), _mm512_mul_ps(M, dx), acc[j]);
            float lo = cols[j][k].ds16, hi = cols[j][k].ds - lo;
            __m512 off = _mm512_fmadd_ps(S, _mm512_set1_ps(32 * lo),
                                         _mm512_mul_ps(M, _mm512_set1_ps(32 * hi)));
            acc[j] = _mm512_mask_sub_ps(acc[j], 0x5555, acc[j], off);
        }
    }
    /* lanes 2r and 2r+1 hold row r: add the pairs, keep the even lanes */
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int j = 0; j < nc; j++) {
        __m512 t = _mm512_add_ps(acc[j], _mm512_permute_ps(acc[j], 0xB1)); /* swap neighbours */
        __m256 r = _mm512_castps512_ps256(_mm512_permutexvar_ps(even, t));
        float out[8];
        _mm256_storeu_ps(out, r);
        for (int i = 0; i < nr; i++)
            y[(size_t)j * ys + (size_t)(r0 + i)] = out[i];
    }
}

TGT static void gemm(uint32_t type, int64_t n, const void *w, size_t wstride, int64_t r0,
                     int64_t r1, const void *act, size_t astride, int ncols, float *y, size_t ys,
                     void *scratch)
{
    int64_t nb = n / 32;
    bool q6 = type == GGML_Q6_K;
    pack_t p = {.q = scratch};
    p.s = (float *)(void *)(p.q + (size_t)nb * 256);
    p.m = p.s + nb * 16;
    for (int64_t r = r0; r < r1; r += 8) {
        int nr = r1 - r < 8 ? (int)(r1 - r) : 8;
        for (int i = 0; i < 8; i++) {
            if (i < nr) {
                pack_row(type, (const char *)w + (size_t)(r + i) * wstride, nb, i, &p);
            } else { /* rows past the end: zero weights */
                for (int64_t k = 0; k < nb; k++) {
                    for (int s = 0; s < 4; s++)
                        put8(&p, k, s, i, 0);
                    put_sm(&p, k, i, 0, 0);
                }
            }
        }
        for (int c = 0; c < ncols; c += NCOLS) {
            const eng_qa32_t *cols[NCOLS];
            int nc = ncols - c < NCOLS ? ncols - c : NCOLS;
            for (int j = 0; j < NCOLS; j++)
                cols[j] =
                    (const eng_qa32_t *)(const void *)((const char *)act +
                                                       (size_t)(c + (j < nc ? j : 0)) * astride);
            float *yc = y + (size_t)c * ys;
            /* a constant count per call, so each copy keeps its accumulators in registers */
            switch (nc) {
#define CASE(k)                                                                                    \
    case k:                                                                                        \
        if (q6)                                                                                    \
            tile_cols(&p, nb, cols, k, yc, ys, r, nr, true);                                       \
        else                                                                                       \
            tile_cols(&p, nb, cols, k, yc, ys, r, nr, false);                                      \
        break;
                CASE(8)
                CASE(7)
                CASE(6)
                CASE(5)
                CASE(4)
                CASE(3)
                CASE(2)
                CASE(1)
#undef CASE
            }
        }
    }
}

void eng_kernels_gemm_fill(eng_kernels_t *k)
{
    k->gemm[GGML_Q8_0] = gemm;
    k->gemm[GGML_Q4_0] = gemm;
    k->gemm[GGML_Q4_K] = gemm;
    k->gemm[GGML_Q6_K] = gemm;
}

#else
void eng_kernels_gemm_fill(eng_kernels_t *k)
{
    (void)k;
}
#endif

#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define QS_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,f16c")))

/// Weight rows per tile: 16 rows = 8 registers of two 8-lane accumulators, enough independent
/// FMA chains to cover the FMA latency with one input row.
enum { ROW_TILE = 16 };

#include "avx512_fold.h"

/// Eight 16-bit values of rows a and b at element k, side by side as 16 lanes (masked: the
/// first `n` of each, zeros after, as the Swift kernel zero-pads a ragged tail).
static inline QS_AVX512 __m256i halves(const uint8_t *a, const uint8_t *b, int64_t k, __mmask8 m) {
    __m128i lo = _mm_maskz_loadu_epi16(m, a + 2 * k), hi = _mm_maskz_loadu_epi16(m, b + 2 * k);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

static inline QS_AVX512 __m512 decode16(__m256i h, int bf16) {
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/// f16 / bf16 rows: columns k..k+7 of every row pair, converted in registers.
static inline QS_AVX512 void rows16(const float *x, int64_t n, const uint8_t *const *r, int bf16,
                                    const uint8_t *next, int64_t next_bytes, __m512 *acc) {
    const int64_t full = n & ~(int64_t)7;
    int64_t k = 0, ahead = 0;
    for (; k < full; k += 8) {
        // The next tile's rows are the next contiguous bytes: pull them in while this tile
        // computes (one 16-row step reads 256 bytes; the next tile is as long as this one).
        if (ahead < next_bytes) {
            for (int l = 0; l < 4; l++) _mm_prefetch((const char *)next + ahead + 64 * l, _MM_HINT_T0);
            ahead += 256;
        }
        __m512 u = _mm512_broadcast_f32x8(_mm256_loadu_ps(x + k));
        for (int p = 0; p < ROW_TILE / 2; p++)
            acc[p] = _mm512_fmadd_ps(u, decode16(halves(r[2 * p], r[2 * p + 1], k, 0xFF), bf16), acc[p]);
    }
    if (k < n) {
        const __mmask8 m = (__mmask8)((1u << (n - k)) - 1);
        __m512 u = _mm512_broadcast_f32x8(_mm256_maskz_loadu_ps(m, x + k));
        for (int p = 0; p < ROW_TILE / 2; p++)
            acc[p] = _mm512_fmadd_ps(u, decode16(halves(r[2 * p], r[2 * p + 1], k, m), bf16), acc[p]);
    }
}

/// f32 rows: columns k..k+7 of every row pair, side by side.
static inline QS_AVX512 void rows32(const float *x, int64_t n, const uint8_t *const *r,
                                    const uint8_t *next, int64_t next_bytes, __m512 *acc) {
    const int64_t full = n & ~(int64_t)7;
    int64_t k = 0, ahead = 0;
    for (; k < full; k += 8) {
        if (ahead < next_bytes) {  // one 16-row step reads 512 bytes
            for (int l = 0; l < 8; l++) _mm_prefetch((const char *)next + ahead + 64 * l, _MM_HINT_T0);
            ahead += 512;
        }
        __m512 u = _mm512_broadcast_f32x8(_mm256_loadu_ps(x + k));
        for (int p = 0; p < ROW_TILE / 2; p++) {
            __m512 v = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps((const float *)r[2 * p] + k)),
                                          _mm256_loadu_ps((const float *)r[2 * p + 1] + k), 1);
            acc[p] = _mm512_fmadd_ps(u, v, acc[p]);
        }
    }
    if (k < n) {
        const __mmask8 m = (__mmask8)((1u << (n - k)) - 1);
        __m512 u = _mm512_broadcast_f32x8(_mm256_maskz_loadu_ps(m, x + k));
        for (int p = 0; p < ROW_TILE / 2; p++) {
            __m512 v = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_maskz_loadu_ps(m, (const float *)r[2 * p] + k)),
                                          _mm256_maskz_loadu_ps(m, (const float *)r[2 * p + 1] + k), 1);
            acc[p] = _mm512_fmadd_ps(u, v, acc[p]);
        }
    }
}

/// Q8_0 rows (n a multiple of 32): per block, the scale times the int8 values (one rounding,
/// as `q8x8(b, s) * d` in LinearRow.swift), then the FMA.
static inline QS_AVX512 void rowsQ8(const float *x, int64_t n, const uint8_t *const *r,
                                    const uint8_t *next, int64_t next_bytes, __m512 *acc) {
    int64_t ahead = 0;
    for (int64_t k = 0, off = 0; k < n; k += 32, off += 34) {
        if (ahead < next_bytes) {  // 16 rows x 34 bytes per block: 9 lines
            for (int l = 0; l < 9; l++) _mm_prefetch((const char *)next + ahead + 64 * l, _MM_HINT_T0);
            ahead += 544;
        }
        __m512 d[ROW_TILE / 2];
        for (int p = 0; p < ROW_TILE / 2; p++) {
            // The two rows' scales (f16 -> f32 is exact, as Swift's Float(Float16)).
            __m256 da = _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *)(r[2 * p] + off)));
            __m256 db = _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *)(r[2 * p + 1] + off)));
            d[p] = _mm512_insertf32x8(_mm512_castps256_ps512(da), db, 1);
        }
        for (int s = 0; s < 4; s++) {
            __m512 u = _mm512_broadcast_f32x8(_mm256_loadu_ps(x + k + 8 * s));
            for (int p = 0; p < ROW_TILE / 2; p++) {
                __m128i q = _mm_set_epi64x(*(const int64_t *)(r[2 * p + 1] + off + 2 + 8 * s),
                                           *(const int64_t *)(r[2 * p] + off + 2 + 8 * s));
                __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d[p]);
                acc[p] = _mm512_fmadd_ps(u, v, acc[p]);
            }
        }
    }
}

QS_AVX512 void qs_linear_rows_avx512(const float *x, int64_t n, const void *weights, int64_t row_bytes,
                                     int encoding, int64_t first, int64_t end, const float *bias, float *out) {
    const uint8_t *w = (const uint8_t *)weights;
    for (int64_t j = first; j < end; j += ROW_TILE) {
        const int rows = (int)(end - j < ROW_TILE ? end - j : ROW_TILE);
        const uint8_t *r[ROW_TILE];
        for (int c = 0; c < ROW_TILE; c++) r[c] = w + (j + (c < rows ? c : rows - 1)) * row_bytes;
        const uint8_t *next = w + (j + ROW_TILE) * row_bytes;
        const int64_t next_bytes = end - j - ROW_TILE >= ROW_TILE ? ROW_TILE * row_bytes
                                 : (end - j - ROW_TILE > 0 ? (end - j - ROW_TILE) * row_bytes : 0);
        __m512 acc[ROW_TILE / 2];
        for (int p = 0; p < ROW_TILE / 2; p++) acc[p] = _mm512_setzero_ps();
        if (encoding == QS_ENCODING_Q8_0) rowsQ8(x, n, r, next, next_bytes, acc);
        else if (encoding == QS_ENCODING_F32) rows32(x, n, r, next, next_bytes, acc);
        else rows16(x, n, r, encoding == QS_ENCODING_BF16, next, next_bytes, acc);
        for (int h = 0; h < ROW_TILE / 8 && 8 * h < rows; h++) {
            const int keep_n = rows - 8 * h < 8 ? rows - 8 * h : 8;
            const __mmask8 keep = (__mmask8)((1u << keep_n) - 1);
            __m256 b = bias ? _mm256_maskz_loadu_ps(keep, bias + j + 8 * h) : _mm256_setzero_ps();
            __m256 sums = fold8x8(acc[4 * h], acc[4 * h + 1], acc[4 * h + 2], acc[4 * h + 3]);
            _mm256_mask_storeu_ps(out + j + 8 * h, keep, _mm256_add_ps(sums, b));
        }
    }
}

#else

void qs_linear_rows_avx512(const float *x, int64_t n, const void *weights, int64_t row_bytes,
                           int encoding, int64_t first, int64_t end, const float *bias, float *out) {
    (void)x; (void)n; (void)weights; (void)row_bytes; (void)encoding; (void)first; (void)end; (void)bias; (void)out;
}

#endif

#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define QS_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))

int qs_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

/// Tile shape: ROWS input rows by 8 weight rows = ROWS x 4 registers of two 8-lane
/// accumulators each (24 of the 32 zmm registers at ROWS = 6), 6 broadcasts + 8 half-loads per
/// 24 FMAs.
enum { TILE_ROWS = 6, TILE_COLS = 8 };

/// Weight rows 2p and 2p+1 of the tile at columns k..k+7, side by side.
static inline QS_AVX512 __m512 pair(const float *const *wr, int p, int64_t k) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(wr[2 * p] + k)),
                              _mm256_loadu_ps(wr[2 * p + 1] + k), 1);
}

static inline QS_AVX512 __m512 pair_tail(const float *const *wr, int p, int64_t k, __mmask8 m) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_maskz_loadu_ps(m, wr[2 * p] + k)),
                              _mm256_maskz_loadu_ps(m, wr[2 * p + 1] + k), 1);
}

#include "avx512_fold.h"

/// ROWS (a constant after inlining) input rows against the tile's 8 weight rows `wr` (a
/// ragged tile repeats its last row; `ncols` says how many results are kept).
static inline __attribute__((always_inline)) QS_AVX512 void
tile(const int ROWS, const float *x, int64_t ldx, const float *const *wr, int ncols, int64_t count,
     float *parked, int64_t ldp, float *out, int64_t ldo, const float *bias, int first, int last) {
    __m512 acc[TILE_ROWS][4];
    for (int r = 0; r < ROWS; r++)
        for (int p = 0; p < 4; p++)
            acc[r][p] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(parked + (r * ldp + 2 * p) * 8);
    const int64_t full = count & ~(int64_t)7;
    int64_t k = 0;
    for (; k < full; k += 8) {
        __m512 w0 = pair(wr, 0, k), w1 = pair(wr, 1, k), w2 = pair(wr, 2, k), w3 = pair(wr, 3, k);
        for (int r = 0; r < ROWS; r++) {
            __m512 u = _mm512_broadcast_f32x8(_mm256_loadu_ps(x + r * ldx + k));
            acc[r][0] = _mm512_fmadd_ps(u, w0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(u, w1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(u, w2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(u, w3, acc[r][3]);
        }
    }
    if (k < count) {
        // The Swift kernel's zero-padded step: 0 * 0 is added to every lane, as there.
        const __mmask8 m = (__mmask8)((1u << (count - k)) - 1);
        __m512 w0 = pair_tail(wr, 0, k, m), w1 = pair_tail(wr, 1, k, m);
        __m512 w2 = pair_tail(wr, 2, k, m), w3 = pair_tail(wr, 3, k, m);
        for (int r = 0; r < ROWS; r++) {
            __m512 u = _mm512_broadcast_f32x8(_mm256_maskz_loadu_ps(m, x + r * ldx + k));
            acc[r][0] = _mm512_fmadd_ps(u, w0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(u, w1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(u, w2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(u, w3, acc[r][3]);
        }
    }
    for (int r = 0; r < ROWS; r++) {
        if (!last) {
            // Columns past ncols are parked too: they repeat a real row and are never folded.
            for (int p = 0; p < 4; p++) _mm512_storeu_ps(parked + (r * ldp + 2 * p) * 8, acc[r][p]);
            continue;
        }
        // Plus the bias, or +0 where there is none (as the Swift kernel adds a zero vector).
        const __mmask8 keep = (__mmask8)((1u << ncols) - 1);
        __m256 b = bias ? _mm256_maskz_loadu_ps(keep, bias) : _mm256_setzero_ps();
        __m256 sums = fold8x8(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
        _mm256_mask_storeu_ps(out + r * ldo, keep, _mm256_add_ps(sums, b));
    }
}

QS_AVX512 void qs_linear_pass_avx512(const float *x, int64_t ldx, int64_t rows,
                           const float *w, int64_t ldw, int64_t cols, int64_t count,
                           float *parked, int64_t ldp,
                           float *out, int64_t ldo, const float *bias,
                           int first, int last) {
    for (int64_t j = 0; j < cols; j += TILE_COLS) {
        const int ncols = (int)(cols - j < TILE_COLS ? cols - j : TILE_COLS);
        const float *wr[TILE_COLS];
        for (int c = 0; c < TILE_COLS; c++) wr[c] = w + (j + (c < ncols ? c : ncols - 1)) * ldw;
        const float *b = bias ? bias + j : 0;
        for (int64_t i = 0; i < rows; i += TILE_ROWS) {
            const int64_t left = rows - i;
            const float *xi = x + i * ldx;
            float *pi = parked + (i * ldp + j) * 8, *oi = out + i * ldo + j;
            switch (left >= TILE_ROWS ? TILE_ROWS : left) {
            case 6: tile(6, xi, ldx, wr, ncols, count, pi, ldp, oi, ldo, b, first, last); break;
            case 5: tile(5, xi, ldx, wr, ncols, count, pi, ldp, oi, ldo, b, first, last); break;
            case 4: tile(4, xi, ldx, wr, ncols, count, pi, ldp, oi, ldo, b, first, last); break;
            case 3: tile(3, xi, ldx, wr, ncols, count, pi, ldp, oi, ldo, b, first, last); break;
            case 2: tile(2, xi, ldx, wr, ncols, count, pi, ldp, oi, ldo, b, first, last); break;
            default: tile(1, xi, ldx, wr, ncols, count, pi, ldp, oi, ldo, b, first, last); break;
            }
        }
    }
}

#else

int qs_cpu_has_avx512(void) { return 0; }

void qs_linear_pass_avx512(const float *x, int64_t ldx, int64_t rows,
                           const float *w, int64_t ldw, int64_t cols, int64_t count,
                           float *parked, int64_t ldp,
                           float *out, int64_t ldo, const float *bias,
                           int first, int last) {
    (void)x; (void)ldx; (void)rows; (void)w; (void)ldw; (void)cols; (void)count;
    (void)parked; (void)ldp; (void)out; (void)ldo; (void)bias; (void)first; (void)last;
}

#endif

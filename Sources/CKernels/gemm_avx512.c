#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define QS_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))

/// Tile shape: ROWS rows of C by one packed 64-column tile = ROWS x 4 accumulators (24 of the
/// 32 zmm registers at ROWS = 6); per depth step 4 loads of B and ROWS broadcasts of A feed
/// 4 x ROWS FMAs.
enum { TILE_ROWS = 6, TILE_COLS = QS_GEMM_TILE_COLS };

static inline QS_AVX512 __mmask16 lanes(int valid, int p) {
    const int n = valid - 16 * p;
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/// ROWS (a constant after inlining) rows of C against one packed tile, `valid` of its 64
/// columns kept. Each element is one FMA chain in depth order, as in `Gemm.Tile` (Swift).
static inline __attribute__((always_inline)) QS_AVX512 void
tile(const int ROWS, const float *a, int64_t ars, int64_t aks, const float *packed, int64_t depth,
     float *c, int64_t ldc, int valid, int zero) {
    __m512 acc[TILE_ROWS][4];
    __mmask16 m[4];
    for (int p = 0; p < 4; p++) m[p] = lanes(valid, p);
    for (int r = 0; r < ROWS; r++)
        for (int p = 0; p < 4; p++)
            acc[r][p] = zero ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[p], c + r * ldc + 16 * p);
    const float *ar[TILE_ROWS];
    for (int r = 0; r < ROWS; r++) ar[r] = a + r * ars;
    for (int64_t k = 0; k < depth; k++) {
        const float *b = packed + k * TILE_COLS;
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        __m512 b2 = _mm512_load_ps(b + 32), b3 = _mm512_load_ps(b + 48);
        for (int r = 0; r < ROWS; r++) {
            __m512 s = _mm512_set1_ps(ar[r][k * aks]);
            acc[r][0] = _mm512_fmadd_ps(s, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(s, b1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(s, b2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(s, b3, acc[r][3]);
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int p = 0; p < 4; p++) _mm512_mask_storeu_ps(c + r * ldc + 16 * p, m[p], acc[r][p]);
}

QS_AVX512 void qs_gemm_block_avx512(const float *a, int64_t ars, int64_t aks, int64_t rows,
                                    const float *packed, int64_t tile_stride, int64_t depth,
                                    float *c, int64_t ldc, int64_t cols, int zero) {
    for (int64_t j = 0; j < cols; j += TILE_COLS) {
        const int valid = (int)(cols - j < TILE_COLS ? cols - j : TILE_COLS);
        const float *pj = packed + (j / TILE_COLS) * tile_stride;
        for (int64_t i = 0; i < rows; i += TILE_ROWS) {
            const int64_t left = rows - i;
            const float *ai = a + i * ars;
            float *ci = c + i * ldc + j;
            switch (left >= TILE_ROWS ? TILE_ROWS : left) {
            case 6: tile(6, ai, ars, aks, pj, depth, ci, ldc, valid, zero); break;
            case 5: tile(5, ai, ars, aks, pj, depth, ci, ldc, valid, zero); break;
            case 4: tile(4, ai, ars, aks, pj, depth, ci, ldc, valid, zero); break;
            case 3: tile(3, ai, ars, aks, pj, depth, ci, ldc, valid, zero); break;
            case 2: tile(2, ai, ars, aks, pj, depth, ci, ldc, valid, zero); break;
            default: tile(1, ai, ars, aks, pj, depth, ci, ldc, valid, zero); break;
            }
        }
    }
}

#else

void qs_gemm_block_avx512(const float *a, int64_t ars, int64_t aks, int64_t rows,
                          const float *packed, int64_t tile_stride, int64_t depth,
                          float *c, int64_t ldc, int64_t cols, int zero) {
    (void)a; (void)ars; (void)aks; (void)rows; (void)packed; (void)tile_stride; (void)depth;
    (void)c; (void)ldc; (void)cols; (void)zero;
}

#endif

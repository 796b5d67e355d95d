#ifndef QUIETSTAR_AVX512_FOLD_H
#define QUIETSTAR_AVX512_FOLD_H

// Shared by the AVX-512 kernels (included after immintrin.h and the QS_AVX512 target macro).

/// `fold4` (Sources/QuietStarKernels/Vector.swift) of eight accumulators at once, in registers:
/// each accumulator a becomes ((a0+a4)+(a1+a5)) + ((a2+a6)+(a3+a7)), the same additions (IEEE
/// addition commutes exactly, so operand order within one add does not matter). Spilling the
/// lanes to memory and adding them as scalars instead cost a store-forwarding stall per lane
/// and made the whole AVX-512 product 2.4x slower than the AVX2 one at 512 columns.
/// z0..z3 hold accumulators (0,1), (2,3), (4,5), (6,7); returns the eight sums in order.
static inline QS_AVX512 __m256 fold8x8(__m512 z0, __m512 z1, __m512 z2, __m512 z3) {
    // 128-bit blocks: z = [a.lo, a.hi, b.lo, b.hi]. Step 1: lo + hi for every accumulator.
    __m512 lo01 = _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(2, 0, 2, 0));
    __m512 hi01 = _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(3, 1, 3, 1));
    __m512 lo23 = _mm512_shuffle_f32x4(z2, z3, _MM_SHUFFLE(2, 0, 2, 0));
    __m512 hi23 = _mm512_shuffle_f32x4(z2, z3, _MM_SHUFFLE(3, 1, 3, 1));
    __m512 s01 = _mm512_add_ps(lo01, hi01), s23 = _mm512_add_ps(lo23, hi23);  // block c: s of accumulator c
    // Step 2: [x0+x1, x2+x3] within each block.
    __m512 t01 = _mm512_add_ps(_mm512_shuffle_ps(s01, s01, _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_ps(s01, s01, _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 t23 = _mm512_add_ps(_mm512_shuffle_ps(s23, s23, _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_ps(s23, s23, _MM_SHUFFLE(3, 1, 3, 1)));
    // Step 3: lane 0 of each block = u0 + u1.
    __m512 f01 = _mm512_add_ps(t01, _mm512_shuffle_ps(t01, t01, _MM_SHUFFLE(0, 1, 0, 1)));
    __m512 f23 = _mm512_add_ps(t23, _mm512_shuffle_ps(t23, t23, _MM_SHUFFLE(0, 1, 0, 1)));
    const __m512i pick = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps256(_mm512_permutex2var_ps(f01, pick, f23));
}

#endif

#ifndef QUIETSTAR_CKERNELS_H
#define QUIETSTAR_CKERNELS_H

/// Hot loops that need instructions the Swift targets are not compiled for (AVX-512), each
/// behind a run-time CPU check: SwiftPM builds a whole Swift module for one target CPU, while
/// clang's per-function `target` attribute lets one binary carry an AVX2 and an AVX-512 body.
/// The arithmetic of every function here is defined by its Swift twin (named in its comment),
/// lane for lane, so which one runs never changes an output bit.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU (and the OS, which must save the zmm state) runs AVX-512 F, DQ and VL,
/// the subsets `qs_linear_pass_avx512` uses; 0 otherwise and on every non-x86-64 machine.
int qs_cpu_has_avx512(void);

/// One pass of `LinearTiles.Work.block` over an f32 weight slice, on AVX-512: for every input
/// row r < rows and weight row c < cols, eight accumulator lanes (lane l adds columns l, l+8,
/// ... of this pass, in order, a zero-padded last step covering count % 8), started at zero
/// (`first`) or from `parked`, then either parked again or (`last`) folded as
/// ((l0+l4)+(l1+l5))+((l2+l6)+(l3+l7)), plus bias[c] (or +0), into out[r * ldo + c].
/// `parked` holds row r, weight row c's eight lanes at parked + (r * ldp + c) * 8.
/// Two weight rows share one 512-bit register (their 8-lane accumulators side by side), so
/// the per-element order is the 8-lane order of the AVX2 kernel. Does nothing (and must not be
/// called) where `qs_cpu_has_avx512` is 0.
void qs_linear_pass_avx512(const float *x, int64_t ldx, int64_t rows,
                           const float *w, int64_t ldw, int64_t cols, int64_t count,
                           float *parked, int64_t ldp,
                           float *out, int64_t ldo, const float *bias,
                           int first, int last);

/// Weight encodings of `qs_linear_rows_avx512` (Swift's `WeightEncoding`).
enum { QS_ENCODING_F32 = 0, QS_ENCODING_F16 = 1, QS_ENCODING_BF16 = 2, QS_ENCODING_Q8_0 = 3 };

/// `LinearRow.forward`'s work for weight rows first..<end on AVX-512: out[j] = x . row j (+ bias[j]
/// or +0) for one input row and f32, f16, bf16 or Q8_0 rows `row_bytes` apart, each row decoded in
/// registers, with LinearRow's arithmetic lane for lane (eight accumulator lanes, lane l adding
/// columns l, l+8, ... of the decoded f32 value; Q8_0 values multiplied by their block scale
/// first; a zero-padded tail; `fold4`'s tree, then the bias). Sixteen rows per tile, the next
/// tile's bytes prefetched while this one computes: four parallel row streams of 16-byte loads
/// were latency-bound at a third of f32's bandwidth.
void qs_linear_rows_avx512(const float *x, int64_t n, const void *weights, int64_t row_bytes,
                           int encoding, int64_t first, int64_t end, const float *bias, float *out);

/// Columns per packed tile of `Gemm` (Sources/QuietStarKernels/Gemm.swift).
enum { QS_GEMM_TILE_COLS = 64 };

/// One block of `Gemm.accumulate` on AVX-512: for rows i < rows of C and columns j < cols,
/// c[i * ldc + j] = fma(a[i * ars + k * aks], B[k][j], c[i * ldc + j]) for k = 0, 1, ..., depth-1
/// in that order, starting from the stored c, or from +0 when `zero`. B is packed: column tile t
/// (64 columns, zero-padded past `cols`) starts at packed + t * tile_stride, its row k at
/// + k * 64, 64-byte aligned. The arithmetic is `Gemm.Tile`'s (Swift), one FMA chain per element,
/// so either path gives the same bits. Does nothing where `qs_cpu_has_avx512` is 0.
void qs_gemm_block_avx512(const float *a, int64_t ars, int64_t aks, int64_t rows,
                          const float *packed, int64_t tile_stride, int64_t depth,
                          float *c, int64_t ldc, int64_t cols, int zero);

/// FMA throughput probes for benchmarks: `iterations` x 12 independent vector FMAs (8 lanes for
/// AVX2, 16 for AVX-512: 2 FLOPs per lane each). Call the AVX-512 one only where
/// `qs_cpu_has_avx512` is 1; on non-x86-64 machines both return at once.
float qs_fma_probe_avx2(int64_t iterations);
float qs_fma_probe_avx512(int64_t iterations);

/// One spin-wait step: the `pause` hint on x86-64 (`yield` on arm64), so a polling thread
/// leaves the core's resources to its sibling and saves power.
static inline void qs_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Asks for the cache line at `p` ahead of its use (read, all cache levels).
static inline void qs_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#ifdef __cplusplus
}
#endif

#endif

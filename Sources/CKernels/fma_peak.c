#include "ckernels.h"

/// Peak FMA throughput probes: independent FMA chains (more than the FMA latency times the
/// number of FMA pipes), all in registers, so the loop measures the arithmetic units alone.
/// The results are garbage values returned so the compiler keeps the work.

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) float qs_fma_probe_avx2(int64_t iterations) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (int64_t n = 0; n < iterations; n++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) float qs_fma_probe_avx512(int64_t iterations) {
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (int64_t n = 0; n < iterations; n++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_cvtss_f32(s);
}

#else

float qs_fma_probe_avx2(int64_t iterations) { (void)iterations; return 0; }
float qs_fma_probe_avx512(int64_t iterations) { (void)iterations; return 0; }

#endif

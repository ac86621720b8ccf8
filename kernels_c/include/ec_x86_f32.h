/* The epilogue of the x86 float32 convolutions: bias, then the clamp, eight outputs per AVX2
 * register. out = clamp(acc + bias) with ec_clamp_f32's result on every value it can meet:
 * MAXPS/MINPS return their second operand when either is NaN or both are zeros, so
 * min(hi, max(lo, v)) keeps a NaN and a zero of either sign as the scalar compare-and-select does
 * (and an accumulated sum is never -0: it starts at +0 and round-to-nearest adds give -0 only
 * from two -0 operands). */
#ifndef EC_X86_F32_H
#define EC_X86_F32_H

#include <immintrin.h>

#include "ec_common.h"

EC_INLINE void ec_x86_f32_finish(const float *acc, const float *bias, int32_t n, float lo, float hi, float *o)
{
    const __m256 lo8 = _mm256_set1_ps(lo), hi8 = _mm256_set1_ps(hi);
    int32_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(acc + j);
        if (bias) {
            v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
        }
        _mm256_storeu_ps(o + j, _mm256_min_ps(hi8, _mm256_max_ps(lo8, v)));
    }
    for (; j < n; ++j) {
        o[j] = ec_clamp_f32(bias ? acc[j] + bias[j] : acc[j], lo, hi);
    }
}

#endif /* EC_X86_F32_H */

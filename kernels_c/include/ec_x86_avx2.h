/* edgeconv AVX2 helpers shared by the kernels in kernels_c/x86/ (compiled with -mavx2).
 *
 * int8 dot products: x and w are widened to int16, the input zero point is subtracted in int16
 * (x - zp lies in [-255, 255]), and _mm256_madd_epi16 sums adjacent products into int32 lanes:
 * each lane gains at most 2 * 255 * 127 per step, so the int32 lanes are exact for any run the
 * code generator accepts (its accumulator bound). The result equals the portable scalar sum. */
#ifndef EC_X86_AVX2_H
#define EC_X86_AVX2_H

#include <immintrin.h>

#include "ec_common.h"
#include "ec_x86_dw.h"

EC_INLINE int32_t ec_avx2_hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

EC_INLINE __m256i ec_avx2_load16_s8_as_s16(const int8_t *p)
{
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* acc[j] += sum_{i<n} (x[i] - zp) * w_j[i] for four weight rows w_j = w + j * w_stride. */
EC_INLINE void ec_avx2_dot4_s8(const int8_t *x, const int8_t *w, size_t w_stride, int32_t n, int32_t zp,
                               int32_t acc[4])
{
    const __m256i vzp = _mm256_set1_epi16((short)zp);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    int32_t i = 0;
    int j;
    for (; i + 16 <= n; i += 16) {
        const __m256i xv = _mm256_sub_epi16(ec_avx2_load16_s8_as_s16(x + i), vzp);
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(w + i)));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(w + w_stride + i)));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(w + 2 * w_stride + i)));
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(w + 3 * w_stride + i)));
    }
    acc[0] += ec_avx2_hsum(a0);
    acc[1] += ec_avx2_hsum(a1);
    acc[2] += ec_avx2_hsum(a2);
    acc[3] += ec_avx2_hsum(a3);
    for (; i < n; ++i) {
        const int32_t xi = (int32_t)x[i] - zp;
        for (j = 0; j < 4; ++j) {
            acc[j] += xi * (int32_t)w[(size_t)j * w_stride + (size_t)i];
        }
    }
}

/* sum_{i<n} (x[i] - zp) * w[i]. */
EC_INLINE int32_t ec_avx2_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t zp)
{
    const __m256i vzp = _mm256_set1_epi16((short)zp);
    __m256i a = _mm256_setzero_si256();
    int32_t i = 0;
    int32_t acc;
    for (; i + 16 <= n; i += 16) {
        const __m256i xv = _mm256_sub_epi16(ec_avx2_load16_s8_as_s16(x + i), vzp);
        a = _mm256_add_epi32(a, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(w + i)));
    }
    acc = ec_avx2_hsum(a);
    for (; i < n; ++i) {
        acc += ((int32_t)x[i] - zp) * (int32_t)w[i];
    }
    return acc;
}

/* Eight lanes of ec_requantize (TFLite MultiplyByQuantizedMultiplier), exactly: the lane constants
 * of (mult, shift) and ec_x86_requantize8 of ec_x86_dw.h, where the formulas are proved. */
EC_INLINE __m256i ec_avx2_requantize8(__m256i acc, __m256i mult, __m256i shift)
{
    const ec_x86_rq8_t p = ec_x86_rq8_params(mult, shift);
    return ec_x86_requantize8(acc, &p);
}

/* out[i] = clamp(ec_requantize(acc[i], mult[i], shift[i]) + out_zp, act_min, act_max), i < n. */
EC_INLINE void ec_avx2_requantize_row(const int32_t *acc, const int32_t *mult, const int32_t *shift, int32_t n,
                                      const ec_qparams_t *q, int8_t *out)
{
    const __m256i zp = _mm256_set1_epi32(q->out_zp);
    const __m256i lo = _mm256_set1_epi32(q->act_min);
    const __m256i hi = _mm256_set1_epi32(q->act_max);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int32_t v[8];
        int j;
        __m256i r = ec_avx2_requantize8(_mm256_loadu_si256((const __m256i *)(const void *)(acc + i)),
                                        _mm256_loadu_si256((const __m256i *)(const void *)(mult + i)),
                                        _mm256_loadu_si256((const __m256i *)(const void *)(shift + i)));
        r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), lo), hi);
        _mm256_storeu_si256((__m256i *)(void *)v, r);
        for (j = 0; j < 8; ++j) {
            out[i + j] = (int8_t)v[j];
        }
    }
    for (; i < n; ++i) {
        out[i] = (int8_t)ec_clamp_i32(ec_requantize(acc[i], mult[i], shift[i]) + q->out_zp, q->act_min, q->act_max);
    }
}

#endif /* EC_X86_AVX2_H */

/* edgeconv AVX-512 helpers (AVX512F + AVX512BW + AVX512VL) shared by kernels in kernels_c/x86/;
 * each includer guards its use with EC_X86_AVX512 and keeps an AVX2 version beside it. */
#ifndef EC_X86_AVX512_H
#define EC_X86_AVX512_H

#include <immintrin.h>

#include "ec_common.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define EC_X86_AVX512 1

/* Sixteen lanes of ec_requantize (TFLite MultiplyByQuantizedMultiplier), exactly:
 * 1. x << max(shift, 0), wrapping (_mm512_sllv_epi32);
 * 2. the saturating rounding doubling high multiply as floor((x * mult + 2^30) / 2^31), on 64-bit
 *    products of the even lanes and of the odd lanes moved down. This equals the reference's
 *    nudge-and-truncate: for x * mult >= 0 the nudge is 2^30 and the total is non-negative, so
 *    truncation is the floor; for x * mult < 0 the total t = x * mult + 1 - 2^30 is negative and
 *    truncation is the ceiling, ceil(t / 2^31) = floor((t + 2^31 - 1) / 2^31)
 *    = floor((x * mult + 2^30) / 2^31). Bits 31..62 of the sum are the low 32 bits of that floor
 *    (logical shifts serve). The reference's one saturating case, x = mult = INT32_MIN, cannot
 *    occur: multipliers are non-negative;
 * 3. rounding right shift by max(-shift, 0), halves away from zero: x >> r plus one where the
 *    remainder x & (2^r - 1) exceeds (2^r - 1) >> 1, or equals it plus one below zero. */
EC_INLINE __m512i ec_avx512_requantize16(__m512i acc, __m512i mult, __m512i shift)
{
    const __m512i zero = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i nudge = _mm512_set1_epi64((long long)1 << 30);
    const __m512i left = _mm512_max_epi32(shift, zero);
    const __m512i right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
    const __m512i x = _mm512_sllv_epi32(acc, left);
    const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, mult), nudge);
    const __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32)), nudge);
    const __m512i high = _mm512_mask_blend_epi32((__mmask16)0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
    const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
    const __m512i remainder = _mm512_and_si512(high, mask);
    const __m512i threshold = _mm512_add_epi32(_mm512_srai_epi32(mask, 1), _mm512_srli_epi32(high, 31));
    const __m512i shifted = _mm512_srav_epi32(high, right);
    return _mm512_mask_add_epi32(shifted, _mm512_cmpgt_epi32_mask(remainder, threshold), shifted, one);
}

/* Lanes of `lanes` (a mask of the first n < 16 lanes, or all 16) of
 * clamp(ec_requantize(acc, mult, shift) + out_zp, act_min, act_max), stored as int8 at out. */
EC_INLINE void ec_avx512_requantize_store16(__m512i acc, __m512i mult, __m512i shift, const ec_qparams_t *q,
                                            __mmask16 lanes, int8_t *out)
{
    __m512i r = _mm512_add_epi32(ec_avx512_requantize16(acc, mult, shift), _mm512_set1_epi32(q->out_zp));
    r = _mm512_min_epi32(_mm512_max_epi32(r, _mm512_set1_epi32(q->act_min)), _mm512_set1_epi32(q->act_max));
    _mm_mask_storeu_epi8(out, lanes, _mm512_cvtepi32_epi8(r));
}

/* The mask of the first n lanes, n clipped to [0, 16]. */
EC_INLINE __mmask16 ec_avx512_first_lanes(int32_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u));
}

#endif /* AVX-512 F, BW, VL */

#endif /* EC_X86_AVX512_H */

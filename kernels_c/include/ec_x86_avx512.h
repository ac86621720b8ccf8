/* edgeconv AVX-512 helpers (AVX512F + AVX512BW + AVX512VL) shared by kernels in kernels_c/x86/;
 * each includer guards its use with EC_X86_AVX512 and keeps an AVX2 version beside it. */
#ifndef EC_X86_AVX512_H
#define EC_X86_AVX512_H

#include <immintrin.h>

#include "ec_common.h"
#include "ec_x86_dw.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define EC_X86_AVX512 1

/* Sixteen lanes of ec_requantize (TFLite MultiplyByQuantizedMultiplier), exactly: the lane
 * constants of (mult, shift) and ec_x86_requantize16 of ec_x86_dw.h, where the formulas are proved. */
EC_INLINE __m512i ec_avx512_requantize16(__m512i acc, __m512i mult, __m512i shift)
{
    const ec_x86_rq16_t p = ec_x86_rq16_params(mult, shift);
    return ec_x86_requantize16(acc, &p);
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

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

/* The mask of the first n lanes, n clipped to [0, 16]. */
EC_INLINE __mmask16 ec_avx512_first_lanes(int32_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u));
}

/* The output stage of 16 channels, loaded once for many pixels: the requantization constants, in
 * the form `form` says (ec_x86_rq_form: the high-half form, the output zero point in its
 * constants, or the general form), the output zero point, the clamp as bytes and which lanes are
 * channels. */
typedef struct {
    union {
        ec_x86_rq16_t general;
        ec_x86_rq16_high_t high;
    } rq;
    int form;
    __m512i out_zp;
    __m128i act_min, act_max;
    __mmask16 lanes;
} ec_avx512_out16_t;

/* The stage of 16 lanes of constants (mult, shift) whose channels are `lanes`. */
EC_INLINE ec_avx512_out16_t ec_avx512_out16_lanes(__m512i mult, __m512i shift, const ec_qparams_t *q, __mmask16 lanes)
{
    ec_avx512_out16_t o;
    o.lanes = lanes;
    o.form = ec_x86_rq_form(ec_x86_rq16_high_params(mult, shift, q->out_zp, lanes, &o.rq.high), q);
    if (o.form == EC_X86_RQ_EXACT) {
        o.rq.general = ec_x86_rq16_params(mult, shift);
    }
    o.out_zp = _mm512_set1_epi32(q->out_zp);
    o.act_min = _mm_set1_epi8((char)q->act_min);
    o.act_max = _mm_set1_epi8((char)q->act_max);
    return o;
}

/* The stage of the n channels (the first min(n, 16) lanes) whose constants start at mult, shift. */
EC_INLINE ec_avx512_out16_t ec_avx512_out16(const int32_t *mult, const int32_t *shift, const ec_qparams_t *q,
                                            int32_t n)
{
    const __mmask16 lanes = ec_avx512_first_lanes(n);
    return ec_avx512_out16_lanes(_mm512_maskz_loadu_epi32(lanes, mult), _mm512_maskz_loadu_epi32(lanes, shift), q, lanes);
}

/* clamp(ec_requantize(acc, mult, shift) + out_zp, act_min, act_max) of the 16 lanes as bytes, in
 * the stage's form (`form`, a constant where inlined, equal to o->form). The clamp bounds lie in
 * [-128, 127], so clamping the int32 value saturated to int8 (vpmovsdb) gives the same bytes. */
EC_FORCE_INLINE __m128i ec_avx512_requantize_bytes16(__m512i acc, const ec_avx512_out16_t *o, const int form)
{
    const __m512i r32 = form == EC_X86_RQ_EXACT
                            ? _mm512_add_epi32(ec_x86_requantize16(acc, &o->rq.general), o->out_zp)
                            : ec_x86_requantize16_high(acc, &o->rq.high, form == EC_X86_RQ_FLOORED);
    const __m128i r = _mm512_cvtsepi32_epi8(r32);
    return _mm_min_epi8(_mm_max_epi8(r, o->act_min), o->act_max);
}

#endif /* AVX-512 F, BW, VL */

#endif /* EC_X86_AVX512_H */

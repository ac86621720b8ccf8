/* edgeconv x86 helpers for the depthwise, pooling and elementwise int8 kernels in kernels_c/x86/
 * (compiled with -mavx2 at least; the AVX-512 helpers exist when the build enables AVX-512 F, BW
 * and VL, the depthwise ones use VNNI when enabled too).
 *
 * Exact vector requantization (TFLite MultiplyByQuantizedMultiplier, see ec_common.h).
 * The saturating rounding doubling high multiply srdhm(x, m) = (x * m + nudge) / 2^31, truncated
 * toward zero, with nudge = 2^30 for x * m >= 0 and 1 - 2^30 otherwise, equals
 *     floor((x * m + 2^30) / 2^31)        for every x, m (m >= 0 here, so no saturation case):
 * for a negative product t = x * m + 1 - 2^30 is negative and truncating t / 2^31 toward zero is
 * floor((t + 2^31 - 1) / 2^31) = floor((x * m + 2^30) / 2^31). |x * m| < 2^62, so the 64-bit sum
 * never overflows, and the quotient is an int32: it is bits 31..62 of the 64-bit sum, taken with
 * a logical shift (only the low 32 bits of the shifted value are kept).
 * The rounding right shift by e = max(-shift, 0) is gemmlowp's RoundingDivideByPOT:
 *     (x >> e) + (remainder > threshold), remainder = x & (2^e - 1),
 *     threshold = (2^e - 1) >> 1, plus one for negative x (halves rounded away from zero).
 * Both forms are exact for every int32 input, so the vector results equal ec_requantize. */
#ifndef EC_X86_DW_H
#define EC_X86_DW_H

#include <immintrin.h>
#include <string.h>

#include "ec_common.h"

/* Per-lane requantization constants, derived once from (mult, shift): the left shift, the odd
 * lanes' multipliers moved to the even positions (for the 64-bit multiply), the right shift, its
 * remainder mask and the mask halved (the rounding threshold for non-negative values); has_left
 * says whether any lane shifts left (most layers shift right only and skip that step). */
typedef struct {
    __m256i left, mult, mult_odd, right, mask, half;
    int has_left;
} ec_x86_rq8_t;

EC_INLINE ec_x86_rq8_t ec_x86_rq8_params(__m256i mult, __m256i shift)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), right), _mm256_set1_epi32(1));
    ec_x86_rq8_t p;
    p.left = _mm256_max_epi32(shift, zero);
    p.has_left = _mm256_movemask_epi8(_mm256_cmpgt_epi32(shift, zero)) != 0;
    p.mult = mult;
    p.mult_odd = _mm256_srli_epi64(mult, 32);
    p.right = right;
    p.mask = mask;
    p.half = _mm256_srai_epi32(mask, 1);
    return p;
}

EC_INLINE ec_x86_rq8_t ec_x86_rq8_load(const int32_t *mult, const int32_t *shift)
{
    return ec_x86_rq8_params(_mm256_loadu_si256((const __m256i *)(const void *)mult),
                             _mm256_loadu_si256((const __m256i *)(const void *)shift));
}

EC_INLINE ec_x86_rq8_t ec_x86_rq8_set1(int32_t mult, int32_t shift)
{
    return ec_x86_rq8_params(_mm256_set1_epi32(mult), _mm256_set1_epi32(shift));
}

/* The last step of ec_requantize on eight lanes: the rounding right shift by p's right shift. */
EC_INLINE __m256i ec_x86_rounding_shift8(__m256i high, const ec_x86_rq8_t *p)
{
    const __m256i threshold = _mm256_sub_epi32(p->half, _mm256_srai_epi32(high, 31));
    const __m256i round_up = _mm256_cmpgt_epi32(_mm256_and_si256(high, p->mask), threshold);
    return _mm256_sub_epi32(_mm256_srav_epi32(high, p->right), round_up);
}

/* srdhm(x, mult) of eight lanes (formulas at the top of this file). */
EC_INLINE __m256i ec_x86_srdhm8(__m256i acc, const ec_x86_rq8_t *p)
{
    const __m256i nudge = _mm256_set1_epi64x((long long)1 << 30);
    const __m256i x = p->has_left ? _mm256_sllv_epi32(acc, p->left) : acc;
    const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, p->mult), nudge);
    const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), p->mult_odd), nudge);
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
}

/* Eight lanes of ec_requantize(acc, mult, shift), exactly (formulas at the top of this file). */
EC_INLINE __m256i ec_x86_requantize8(__m256i acc, const ec_x86_rq8_t *p)
{
    return ec_x86_rounding_shift8(ec_x86_srdhm8(acc, p), p);
}

/* ec_x86_requantize8 rounding ties up for negative values too (threshold half, not half + 1):
 * equal to it for high >= 0, and both are <= 0 for high < 0. An output stage that clamps every
 * result <= 0 to act_min (act_min >= out_zp) writes the same bytes with either (as
 * the floored ec_x86_requantize16_high). */
EC_INLINE __m256i ec_x86_requantize8_floored(__m256i acc, const ec_x86_rq8_t *p)
{
    const __m256i high = ec_x86_srdhm8(acc, p);
    const __m256i round_up = _mm256_cmpgt_epi32(_mm256_and_si256(high, p->mask), p->half);
    return _mm256_sub_epi32(_mm256_srav_epi32(high, p->right), round_up);
}

/* How an output stage requantizes (callers pass it as a constant where they can): EC_X86_RQ_EXACT
 * the general form (ec_x86_requantize8, ec_x86_requantize16); EC_X86_RQ_FLOORED without the term
 * for negative products, where the clamp floors every result at or below the zero point (act_min
 * >= out_zp): with AVX-512 the floored high-half form (ec_x86_requantize16_high), with AVX2
 * ec_x86_requantize8_floored; EC_X86_RQ_HIGH (AVX-512) the exact high-half form. With AVX-512 the
 * high-half forms serve where every lane shifts right by 1 to 23 (ec_x86_rq16_high_params). */
#define EC_X86_RQ_EXACT 0
#define EC_X86_RQ_FLOORED 1
#define EC_X86_RQ_HIGH 2

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define EC_X86_HAVE_AVX512 1

/* The sixteen-lane form of ec_x86_rq8_t, with the requantization in one rounding. For m >= 0 and
 * q = srdhm(x, m) = floor((x * m + 2^30) / 2^31), the rounding right shift by e >= 1 is
 * floor((q + 2^(e-1) - [q < 0]) / 2^e): with q = a * 2^e + r (0 <= r < 2^e) both add 1 to a exactly
 * when r >= 2^(e-1) + [q < 0]. Floors of floors by integers nest, so
 *     ec_requantize = (x * m + 2^30 + 2^(30+e) - [q < 0] * 2^31) >> (31 + e)      (e >= 1),
 *                     (x * m + 2^30) >> 31                                         (e = 0),
 * one arithmetic shift of a 64-bit sum: |x * m| < 2^62 and the terms added lie in (-2^31, 2^61],
 * so it never overflows. [q < 0] is [x * m < -2^30]; [x * m < 0] serves as well, since for
 * -2^30 <= x * m < 0 both sums lie in [0, 2^(31+e)) and shift to 0. Per 64-bit lane (the even
 * int32 lanes, then the odd ones moved down) the constants are add = 2^30 (+ 2^(30+e) for e >= 1),
 * neg = 2^31 for e >= 1 else 0, and the shift 31 + e. left, right, mask and half serve the
 * rounding shift alone (ec_x86_rounding_shift16). */
typedef struct {
    __m512i left, mult, mult_odd, right, mask, half;
    __m512i add_even, add_odd, neg_even, neg_odd, shr_even, shr_odd;
    int has_left;
} ec_x86_rq16_t;

EC_INLINE ec_x86_rq16_t ec_x86_rq16_params(__m512i mult, __m512i shift)
{
    const __m512i zero = _mm512_setzero_si512();
    const __m512i right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
    const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), right), _mm512_set1_epi32(1));
    const __m512i e_even = _mm512_and_si512(right, _mm512_set1_epi64(0xFFFFFFFF)), e_odd = _mm512_srli_epi64(right, 32);
    const __m512i base = _mm512_set1_epi64((long long)1 << 30), neg = _mm512_set1_epi64((long long)1 << 31);
    const __mmask8 round_even = _mm512_cmpgt_epi64_mask(e_even, zero), round_odd = _mm512_cmpgt_epi64_mask(e_odd, zero);
    ec_x86_rq16_t p;
    p.left = _mm512_max_epi32(shift, zero);
    p.has_left = _mm512_cmpgt_epi32_mask(shift, zero) != 0;
    p.mult = mult;
    p.mult_odd = _mm512_srli_epi64(mult, 32);
    p.right = right;
    p.mask = mask;
    p.half = _mm512_srai_epi32(mask, 1);
    p.add_even = _mm512_mask_add_epi64(base, round_even, base, _mm512_sllv_epi64(base, e_even));
    p.add_odd = _mm512_mask_add_epi64(base, round_odd, base, _mm512_sllv_epi64(base, e_odd));
    p.neg_even = _mm512_maskz_mov_epi64(round_even, neg);
    p.neg_odd = _mm512_maskz_mov_epi64(round_odd, neg);
    p.shr_even = _mm512_add_epi64(e_even, _mm512_set1_epi64(31));
    p.shr_odd = _mm512_add_epi64(e_odd, _mm512_set1_epi64(31));
    return p;
}

/* One (mult, shift) for every lane: the odd lanes' constants are the even lanes' (one register
 * each where the caller keeps them). */
EC_INLINE ec_x86_rq16_t ec_x86_rq16_set1(int32_t mult, int32_t shift)
{
    ec_x86_rq16_t p = ec_x86_rq16_params(_mm512_set1_epi32(mult), _mm512_set1_epi32(shift));
    p.mult_odd = p.mult;
    p.add_odd = p.add_even;
    p.neg_odd = p.neg_even;
    p.shr_odd = p.shr_even;
    return p;
}

EC_INLINE __m512i ec_x86_rounding_shift16(__m512i high, const ec_x86_rq16_t *p)
{
    const __m512i threshold = _mm512_sub_epi32(p->half, _mm512_srai_epi32(high, 31));
    const __mmask16 round_up = _mm512_cmpgt_epi32_mask(_mm512_and_si512(high, p->mask), threshold);
    const __m512i shifted = _mm512_srav_epi32(high, p->right);
    return _mm512_mask_add_epi32(shifted, round_up, shifted, _mm512_set1_epi32(1));
}

/* (x * m + add - [x * m < 0] * neg) >> shr for the 64-bit products of one lane parity. */
EC_INLINE __m512i ec_x86_round64(__m512i product, __m512i add, __m512i neg, __m512i shr)
{
    const __mmask8 negative = _mm512_cmplt_epi64_mask(product, _mm512_setzero_si512());
    const __m512i sum = _mm512_add_epi64(product, add);
    return _mm512_srav_epi64(_mm512_mask_sub_epi64(sum, negative, sum, neg), shr);
}

EC_INLINE __m512i ec_x86_requantize16(__m512i acc, const ec_x86_rq16_t *p)
{
    const __m512i x = p->has_left ? _mm512_sllv_epi32(acc, p->left) : acc;
    const __m512i even = ec_x86_round64(_mm512_mul_epi32(x, p->mult), p->add_even, p->neg_even, p->shr_even);
    const __m512i odd = ec_x86_round64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->mult_odd), p->add_odd, p->neg_odd,
                                       p->shr_odd);
    /* the odd lanes' results (each the low half of its 64-bit lane) move up into the odd lanes */
    return _mm512_mask_shuffle_epi32(even, (__mmask16)0xAAAA, odd, _MM_PERM_CDAB);
}

/* The high-half form: ec_requantize + z for an output zero point z, where there is no left shift
 * and 1 <= e <= EC_X86_HIGH_MAX_E (every lane of the layers met in practice; the general form
 * above takes the others). With k = 31 + e and add, neg as above,
 *     T = x * m + c - [x * m < 0] * neg,   c = add + z * 2^k,
 * ec_requantize(x) + z = floor(T / 2^k) (a multiple of 2^k moves out of the floor), and floors of
 * floors by integers nest: floor(T / 2^k) = floor(floor(T / 2^32) / 2^(e - 1)), the high int32
 * half of the 64-bit T shifted right arithmetically by e - 1, on 16 int32 lanes at once.
 * |x * m| < 2^62, add < 2^54 and |z| * 2^k <= 2^61 for e <= 23, so |T| < 2^63: nothing overflows
 * and the high half is the int32 floor(T / 2^32). [x * m < 0] is [x * m + c < c].
 * Floored (a constant where inlined): without the negative term. Where x * m >= 0 that changes
 * nothing; where x * m < 0, x * m + add < add < 2^k, so both results are <= z: an output stage
 * that clamps every result <= z to act_min (act_min >= z: ReLU, ReLU6) writes the same bytes.
 * 7 vector instructions per 16 lanes (11 with the negative term), against 13 for the general form
 * and the zero point's addition. */
#define EC_X86_HIGH_MAX_E 23
typedef struct {
    __m512i mult, mult_odd, c_even, c_odd, shift;
} ec_x86_rq16_high_t;

/* The high-half constants of (mult, shift) with zero point z; returns whether the form serves
 * every lane of `lanes` (the other lanes' results are not used). */
EC_INLINE int ec_x86_rq16_high_params(__m512i mult, __m512i shift, int32_t z, __mmask16 lanes, ec_x86_rq16_high_t *h)
{
    /* c = 2^30 + 2^(30+e) + z * 2^(31+e) = 2^30 + (1 + 2z) * 2^(30+e), per 64-bit lane parity */
    const __m512i up = _mm512_sub_epi32(_mm512_set1_epi32(30), shift); /* 30 + e */
    const __m512i base = _mm512_set1_epi64((long long)1 << 30), odd_z = _mm512_set1_epi64(1 + 2 * (long long)z);
    const __mmask16 fits = _mm512_cmple_epi32_mask(shift, _mm512_set1_epi32(-1))
                           & _mm512_cmpge_epi32_mask(shift, _mm512_set1_epi32(-EC_X86_HIGH_MAX_E));
    h->mult = mult;
    h->mult_odd = _mm512_srli_epi64(mult, 32);
    h->c_even = _mm512_add_epi64(base, _mm512_sllv_epi64(odd_z, _mm512_and_si512(up, _mm512_set1_epi64(0xFFFFFFFF))));
    h->c_odd = _mm512_add_epi64(base, _mm512_sllv_epi64(odd_z, _mm512_srli_epi64(up, 32)));
    h->shift = _mm512_sub_epi32(_mm512_set1_epi32(-1), shift); /* e - 1 */
    return (fits & lanes) == lanes;
}

EC_FORCE_INLINE __m512i ec_x86_requantize16_high(__m512i acc, const ec_x86_rq16_high_t *h, const int floored)
{
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(acc, h->mult), h->c_even);
    __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), h->mult_odd), h->c_odd);
    if (!floored) {
        const __m512i neg = _mm512_set1_epi64((long long)1 << 31);
        even = _mm512_mask_sub_epi64(even, _mm512_cmplt_epi64_mask(even, h->c_even), even, neg);
        odd = _mm512_mask_sub_epi64(odd, _mm512_cmplt_epi64_mask(odd, h->c_odd), odd, neg);
    }
    /* even lanes: the high half of `even` moved down; odd lanes: the high half of `odd` in place */
    return _mm512_srav_epi32(_mm512_mask_shuffle_epi32(odd, (__mmask16)0x5555, even, _MM_PERM_CDAB), h->shift);
}

/* The AVX-512 output stage's form (EC_X86_RQ_*): the high-half form where it serves every lane,
 * else the general. */
EC_INLINE int ec_x86_rq_form(int high, const ec_qparams_t *q)
{
    return !high ? EC_X86_RQ_EXACT : q->act_min >= q->out_zp ? EC_X86_RQ_FLOORED : EC_X86_RQ_HIGH;
}
/* n <= 64 low lanes set. */
EC_INLINE __mmask64 ec_x86_mask64(int32_t n)
{
    return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

EC_INLINE __mmask16 ec_x86_mask16(int32_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* Four byte vectors interleaved: result j, int32 lane 4L + i, holds the bytes (a, b, c, d) of
 * element 16L + 4j + i (within 128-bit lanes). Saturating packs of the four int32 results,
 * (v0, v1) and (v2, v3) to words, then to bytes, give elements back in order (ec_x86_pack4_s8). */
typedef struct {
    __m512i v0, v1, v2, v3;
} ec_x86_quad_t;

EC_INLINE ec_x86_quad_t ec_x86_interleave4(__m512i a, __m512i b, __m512i c, __m512i d)
{
    const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
    const __m512i cd_lo = _mm512_unpacklo_epi8(c, d), cd_hi = _mm512_unpackhi_epi8(c, d);
    ec_x86_quad_t r;
    r.v0 = _mm512_unpacklo_epi16(ab_lo, cd_lo);
    r.v1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
    r.v2 = _mm512_unpacklo_epi16(ab_hi, cd_hi);
    r.v3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
    return r;
}

/* 64 int32 values in ec_x86_interleave4 order -> 64 bytes in order, saturating. */
EC_INLINE __m512i ec_x86_pack4_s8(__m512i v0, __m512i v1, __m512i v2, __m512i v3)
{
    return _mm512_packs_epi16(_mm512_packs_epi32(v0, v1), _mm512_packs_epi32(v2, v3));
}

#endif /* AVX-512 F + BW + VL */

/* ---- Lane vectors for the pooling and elementwise kernels -------------------------------------
 * ec_x86_vec_t holds EC_X86_LANES int32 lanes (16 with AVX-512, 8 with AVX2): int8 values are
 * loaded widened and stored narrowed with saturation (callers clamp into int8 first).
 * ec_x86_bytes_t holds EC_X86_BYTES int8 lanes (64 or 32). Loads and stores touch the first
 * min(n, lanes) elements only (the other lanes read 0), so tails never pass the end of a buffer.
 *
 * ec_x86_round_div(sum, d) is the TFLite average rounding, per lane:
 *   trunc((sum + h) / d), h = d / 2 for sum > 0 and -(d / 2) otherwise, d >= 1,
 * the division done in double: a = sum + h and d are exact doubles, and for |a| < 2^31 the
 * correctly rounded quotient is within |a / d| * 2^-53 < 2^-22 / d of a / d, while a non-integer
 * a / d lies at least 1 / d from every integer; so the truncation is the integer quotient. */
#ifdef EC_X86_HAVE_AVX512
#define EC_X86_LANES 16
#define EC_X86_BYTES 64
typedef __m512i ec_x86_vec_t;
typedef __m512i ec_x86_bytes_t;
typedef ec_x86_rq16_t ec_x86_rq_t;

EC_INLINE ec_x86_vec_t ec_x86_load_s8(const int8_t *p, int32_t n)
{
    return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(ec_x86_mask16(n), p));
}

EC_INLINE void ec_x86_store_s8(int8_t *p, ec_x86_vec_t v, int32_t n)
{
    _mm512_mask_cvtsepi32_storeu_epi8(p, ec_x86_mask16(n), v);
}

EC_INLINE void ec_x86_store_i32(int32_t *p, ec_x86_vec_t v) { _mm512_storeu_si512((void *)p, v); }
EC_INLINE ec_x86_vec_t ec_x86_set1(int32_t v) { return _mm512_set1_epi32(v); }
EC_INLINE ec_x86_vec_t ec_x86_add(ec_x86_vec_t a, ec_x86_vec_t b) { return _mm512_add_epi32(a, b); }
EC_INLINE ec_x86_vec_t ec_x86_mullo(ec_x86_vec_t a, ec_x86_vec_t b) { return _mm512_mullo_epi32(a, b); }
EC_INLINE ec_x86_vec_t ec_x86_shl(ec_x86_vec_t a, int32_t bits) { return _mm512_sllv_epi32(a, _mm512_set1_epi32(bits)); }

EC_INLINE ec_x86_vec_t ec_x86_clamp(ec_x86_vec_t v, int32_t lo, int32_t hi)
{
    return _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(lo)), _mm512_set1_epi32(hi));
}

EC_INLINE ec_x86_rq_t ec_x86_rq_set1(int32_t mult, int32_t shift) { return ec_x86_rq16_set1(mult, shift); }
EC_INLINE ec_x86_vec_t ec_x86_requantize(ec_x86_vec_t v, const ec_x86_rq_t *p) { return ec_x86_requantize16(v, p); }
EC_INLINE ec_x86_vec_t ec_x86_rounding_shift(ec_x86_vec_t v, const ec_x86_rq_t *p) { return ec_x86_rounding_shift16(v, p); }
EC_INLINE ec_x86_vec_t ec_x86_sra(ec_x86_vec_t a, int32_t bits) { return _mm512_sra_epi32(a, _mm_cvtsi32_si128(bits)); }

EC_INLINE ec_x86_vec_t ec_x86_round_div(ec_x86_vec_t sum, int32_t d)
{
    const __m512i half = _mm512_set1_epi32(d / 2);
    const __m512i a = _mm512_mask_add_epi32(_mm512_sub_epi32(sum, half), _mm512_cmpgt_epi32_mask(sum, _mm512_setzero_si512()),
                                            sum, half);
    const __m512d dd = _mm512_set1_pd((double)d);
    const __m256i lo = _mm512_cvttpd_epi32(_mm512_div_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(a)), dd));
    const __m256i hi = _mm512_cvttpd_epi32(_mm512_div_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(a, 1)), dd));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

EC_INLINE ec_x86_bytes_t ec_x86_load_bytes(const int8_t *p, int32_t n) { return _mm512_maskz_loadu_epi8(ec_x86_mask64(n), p); }
EC_INLINE void ec_x86_store_bytes(int8_t *p, ec_x86_bytes_t v, int32_t n) { _mm512_mask_storeu_epi8(p, ec_x86_mask64(n), v); }
EC_INLINE ec_x86_bytes_t ec_x86_set1_s8(int32_t v) { return _mm512_set1_epi8((char)v); }
EC_INLINE ec_x86_bytes_t ec_x86_max_s8(ec_x86_bytes_t a, ec_x86_bytes_t b) { return _mm512_max_epi8(a, b); }
EC_INLINE ec_x86_bytes_t ec_x86_min_s8(ec_x86_bytes_t a, ec_x86_bytes_t b) { return _mm512_min_epi8(a, b); }
#else
#define EC_X86_LANES 8
#define EC_X86_BYTES 32
typedef __m256i ec_x86_vec_t;
typedef __m256i ec_x86_bytes_t;
typedef ec_x86_rq8_t ec_x86_rq_t;

/* Tails without AVX-512's byte masks: the first n < 8 bytes at p as the low bytes of a 64-bit word
 * (the others 0), and back, moved in pieces of 4, 2 and 1 bytes. No byte past p + n is touched,
 * and the bytes go through a register: a tail copied byte by byte into a stack buffer and then
 * read by one wide load waits for the stores to drain (store forwarding fails), which cost a
 * narrow layer (a max pool over 8 channels) several times its arithmetic. */
EC_INLINE uint64_t ec_x86_load_tail8(const int8_t *p, int32_t n)
{
    uint64_t v = 0;
    int32_t at = 0;
    if (n & 4) {
        uint32_t word;
        memcpy(&word, p, 4);
        v = word;
        at = 4;
    }
    if (n & 2) {
        uint16_t half;
        memcpy(&half, p + at, 2);
        v |= (uint64_t)half << (8 * at);
        at += 2;
    }
    if (n & 1) {
        v |= (uint64_t)(uint8_t)p[at] << (8 * at);
    }
    return v;
}

EC_INLINE void ec_x86_store_tail8(int8_t *p, uint64_t v, int32_t n)
{
    int32_t at = 0;
    if (n & 4) {
        const uint32_t word = (uint32_t)v;
        memcpy(p, &word, 4);
        v >>= 32;
        at = 4;
    }
    if (n & 2) {
        const uint16_t half = (uint16_t)v;
        memcpy(p + at, &half, 2);
        v >>= 16;
        at += 2;
    }
    if (n & 1) {
        p[at] = (int8_t)(uint8_t)v;
    }
}

/* The first min(n, 16) bytes at p (the other lanes 0), and their store. */
EC_INLINE __m128i ec_x86_load_upto16(const int8_t *p, int32_t n)
{
    if (n >= 16) {
        return _mm_loadu_si128((const __m128i *)(const void *)p);
    }
    if (n >= 8) {
        return _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)p),
                                  _mm_cvtsi64_si128((long long)ec_x86_load_tail8(p + 8, n - 8)));
    }
    return _mm_cvtsi64_si128((long long)ec_x86_load_tail8(p, n));
}

EC_INLINE void ec_x86_store_upto16(int8_t *p, __m128i v, int32_t n)
{
    if (n >= 16) {
        _mm_storeu_si128((__m128i *)(void *)p, v);
        return;
    }
    if (n >= 8) {
        _mm_storel_epi64((__m128i *)(void *)p, v);
        v = _mm_unpackhi_epi64(v, v);
        p += 8;
        n -= 8;
    }
    ec_x86_store_tail8(p, (uint64_t)_mm_cvtsi128_si64(v), n);
}

EC_INLINE ec_x86_vec_t ec_x86_load_s8(const int8_t *p, int32_t n)
{
    if (n >= 8) {
        return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
    }
    return _mm256_cvtepi8_epi32(_mm_cvtsi64_si128((long long)ec_x86_load_tail8(p, n)));
}

EC_INLINE void ec_x86_store_s8(int8_t *p, ec_x86_vec_t v, int32_t n)
{
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i bytes = _mm_packs_epi16(words, words);
    if (n >= 8) {
        _mm_storel_epi64((__m128i *)(void *)p, bytes);
        return;
    }
    ec_x86_store_tail8(p, (uint64_t)_mm_cvtsi128_si64(bytes), n);
}

EC_INLINE void ec_x86_store_i32(int32_t *p, ec_x86_vec_t v) { _mm256_storeu_si256((__m256i *)(void *)p, v); }
EC_INLINE ec_x86_vec_t ec_x86_set1(int32_t v) { return _mm256_set1_epi32(v); }
EC_INLINE ec_x86_vec_t ec_x86_add(ec_x86_vec_t a, ec_x86_vec_t b) { return _mm256_add_epi32(a, b); }
EC_INLINE ec_x86_vec_t ec_x86_mullo(ec_x86_vec_t a, ec_x86_vec_t b) { return _mm256_mullo_epi32(a, b); }
EC_INLINE ec_x86_vec_t ec_x86_shl(ec_x86_vec_t a, int32_t bits) { return _mm256_sllv_epi32(a, _mm256_set1_epi32(bits)); }

EC_INLINE ec_x86_vec_t ec_x86_clamp(ec_x86_vec_t v, int32_t lo, int32_t hi)
{
    return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(lo)), _mm256_set1_epi32(hi));
}

EC_INLINE ec_x86_rq_t ec_x86_rq_set1(int32_t mult, int32_t shift) { return ec_x86_rq8_set1(mult, shift); }
EC_INLINE ec_x86_vec_t ec_x86_requantize(ec_x86_vec_t v, const ec_x86_rq_t *p) { return ec_x86_requantize8(v, p); }
EC_INLINE ec_x86_vec_t ec_x86_rounding_shift(ec_x86_vec_t v, const ec_x86_rq_t *p) { return ec_x86_rounding_shift8(v, p); }
EC_INLINE ec_x86_vec_t ec_x86_sra(ec_x86_vec_t a, int32_t bits) { return _mm256_sra_epi32(a, _mm_cvtsi32_si128(bits)); }

EC_INLINE ec_x86_vec_t ec_x86_round_div(ec_x86_vec_t sum, int32_t d)
{
    const __m256i half = _mm256_set1_epi32(d / 2);
    const __m256i positive = _mm256_cmpgt_epi32(sum, _mm256_setzero_si256());
    const __m256i a = _mm256_blendv_epi8(_mm256_sub_epi32(sum, half), _mm256_add_epi32(sum, half), positive);
    const __m256d dd = _mm256_set1_pd((double)d);
    const __m128i lo = _mm256_cvttpd_epi32(_mm256_div_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(a)), dd));
    const __m128i hi = _mm256_cvttpd_epi32(_mm256_div_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(a, 1)), dd));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

EC_INLINE ec_x86_bytes_t ec_x86_load_bytes(const int8_t *p, int32_t n)
{
    if (n >= 32) {
        return _mm256_loadu_si256((const __m256i *)(const void *)p);
    }
    if (n > 16) {
        return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p)),
                                       ec_x86_load_upto16(p + 16, n - 16), 1);
    }
    return _mm256_inserti128_si256(_mm256_setzero_si256(), ec_x86_load_upto16(p, n), 0);
}

EC_INLINE void ec_x86_store_bytes(int8_t *p, ec_x86_bytes_t v, int32_t n)
{
    if (n >= 32) {
        _mm256_storeu_si256((__m256i *)(void *)p, v);
        return;
    }
    if (n > 16) {
        _mm_storeu_si128((__m128i *)(void *)p, _mm256_castsi256_si128(v));
        ec_x86_store_upto16(p + 16, _mm256_extracti128_si256(v, 1), n - 16);
        return;
    }
    ec_x86_store_upto16(p, _mm256_castsi256_si128(v), n);
}

EC_INLINE ec_x86_bytes_t ec_x86_set1_s8(int32_t v) { return _mm256_set1_epi8((char)v); }
EC_INLINE ec_x86_bytes_t ec_x86_max_s8(ec_x86_bytes_t a, ec_x86_bytes_t b) { return _mm256_max_epi8(a, b); }
EC_INLINE ec_x86_bytes_t ec_x86_min_s8(ec_x86_bytes_t a, ec_x86_bytes_t b) { return _mm256_min_epi8(a, b); }
#endif

/* ---- Depthwise convolution with channel multiplier 1 (ec_s8_dwconv2d_3x3, _generic) ----------
 *
 * Per output pixel and channel c: acc = bias[c] + sum_t (x_t[c] - zp) * w_t[c] over the
 * K = k_h * k_w taps t (HWO weights: w_t[c] = w[t * C + c]). Channels run in blocks of
 * EC_DW_BLOCK, the taps in groups of EC_DW_GROUP whose inputs are interleaved so that each int32
 * lane holds one channel's taps of the group; one multiply-add instruction then adds the group:
 *   AVX-512 VNNI: vpdpbusd, unsigned bytes x + 128 (= x ^ 0x80) times signed weight bytes, 4 taps;
 *   AVX2:         vpmaddwd, int16 x times int16 weights, 2 taps (|x * w| <= 128 * 127, exact).
 * The zero point is folded into the bias with u = 128 (VNNI) or u = 0 (AVX2):
 *   sum_t (x_t - zp) * w_t = sum_t (x_t + u) * w_t - (zp + u) * sum_t w_t,
 * and taps in the padding read a row of zp bytes, adding (zp + u) * w_t that the folded term
 * cancels, so they contribute nothing, as in the portable kernel. A group's missing taps repeat
 * its last input with weight 0. The int32 lanes wrap modulo 2^32, and the final value lies within
 * the accumulator bound the code generator checks (ec_s8.h), so the sum is exact.
 * Interleaving within 128-bit lanes puts channel (k / 4) * 4 * EC_DW_ACCS + 4 * j + k % 4 in lane k
 * of accumulator j; the saturating packs of the output undo it, giving channels in order. */
#if defined(EC_X86_HAVE_AVX512) && defined(__AVX512VNNI__)
#define EC_DW_BLOCK 64
#define EC_DW_GROUP 4
#define EC_DW_ACCS 4
#define EC_DW_INPUT_OFFSET 128
typedef ec_x86_rq16_t ec_dw_rq_t;
typedef __m512i ec_dw_bytes_t;

EC_INLINE ec_dw_bytes_t ec_dw_set1_s8(int32_t v) { return _mm512_set1_epi8((char)v); }
EC_INLINE ec_dw_bytes_t ec_dw_set1_s16(int32_t v) { return _mm512_set1_epi16((short)v); }

/* One block's EC_DW_ACCS vectors: accumulators, biases, or a group's interleaved weights. */
typedef ec_x86_quad_t ec_dw_vecs_t;

/* The block's n channels of one tap as bytes; lanes past n read 0 (masked load). */
EC_INLINE __m512i ec_dw_load(const int8_t *p, int32_t n)
{
    return _mm512_maskz_loadu_epi8(ec_x86_mask64(n), p);
}

EC_INLINE ec_dw_vecs_t ec_dw_interleave(__m512i a, __m512i b, __m512i c, __m512i d)
{
    return ec_x86_interleave4(a, b, c, d);
}

/* Weights of one group of taps: w[i] points to tap i's weights, NULL for a missing tap (0). */
EC_INLINE ec_dw_vecs_t ec_dw_weight_group(const int8_t *const *w, int32_t n)
{
    return ec_dw_interleave(ec_dw_load(w[0], n), w[1] ? ec_dw_load(w[1], n) : _mm512_setzero_si512(),
                            w[2] ? ec_dw_load(w[2], n) : _mm512_setzero_si512(),
                            w[3] ? ec_dw_load(w[3], n) : _mm512_setzero_si512());
}

/* The inputs x[0..3] of one group of taps, offset to unsigned bytes and interleaved. */
EC_INLINE ec_dw_vecs_t ec_dw_input_group(const int8_t *const *x, int32_t n)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    return ec_dw_interleave(_mm512_xor_si512(ec_dw_load(x[0], n), flip), _mm512_xor_si512(ec_dw_load(x[1], n), flip),
                            _mm512_xor_si512(ec_dw_load(x[2], n), flip), _mm512_xor_si512(ec_dw_load(x[3], n), flip));
}

/* acc += an interleaved input group times the group's interleaved weights. */
EC_INLINE ec_dw_vecs_t ec_dw_madd(ec_dw_vecs_t acc, const ec_dw_vecs_t *x, const ec_dw_vecs_t *w)
{
    acc.v0 = _mm512_dpbusd_epi32(acc.v0, x->v0, w->v0);
    acc.v1 = _mm512_dpbusd_epi32(acc.v1, x->v1, w->v1);
    acc.v2 = _mm512_dpbusd_epi32(acc.v2, x->v2, w->v2);
    acc.v3 = _mm512_dpbusd_epi32(acc.v3, x->v3, w->v3);
    return acc;
}

/* The block's int32 lane values (EC_DW_BLOCK of them, accumulator after accumulator). */
EC_INLINE ec_dw_vecs_t ec_dw_load_lanes(const int32_t *p)
{
    ec_dw_vecs_t r;
    r.v0 = _mm512_loadu_si512((const void *)p);
    r.v1 = _mm512_loadu_si512((const void *)(p + 16));
    r.v2 = _mm512_loadu_si512((const void *)(p + 32));
    r.v3 = _mm512_loadu_si512((const void *)(p + 48));
    return r;
}

EC_INLINE ec_dw_rq_t ec_dw_rq_load(const int32_t *mult, const int32_t *shift)
{
    return ec_x86_rq16_params(_mm512_loadu_si512((const void *)mult), _mm512_loadu_si512((const void *)shift));
}
#else
#define EC_DW_BLOCK 16
#define EC_DW_GROUP 2
#define EC_DW_ACCS 2
#define EC_DW_INPUT_OFFSET 0
typedef ec_x86_rq8_t ec_dw_rq_t;
typedef __m256i ec_dw_bytes_t;

EC_INLINE ec_dw_bytes_t ec_dw_set1_s8(int32_t v) { return _mm256_set1_epi8((char)v); }
EC_INLINE ec_dw_bytes_t ec_dw_set1_s16(int32_t v) { return _mm256_set1_epi16((short)v); }

typedef struct {
    __m256i v0, v1;
} ec_dw_vecs_t;

/* The block's n channels of one tap widened to int16; lanes past n read 0. */
EC_INLINE __m256i ec_dw_load(const int8_t *p, int32_t n)
{
    int8_t part[16] = {0};
    int32_t i;
    if (n == 16) {
        return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
    }
    for (i = 0; i < n; ++i) {
        part[i] = p[i];
    }
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)part));
}

/* Result j, lane 4L + i = int16 pair (a, b) of channel 8L + 4j + i. */
EC_INLINE ec_dw_vecs_t ec_dw_interleave(__m256i a, __m256i b)
{
    ec_dw_vecs_t r;
    r.v0 = _mm256_unpacklo_epi16(a, b);
    r.v1 = _mm256_unpackhi_epi16(a, b);
    return r;
}

EC_INLINE ec_dw_vecs_t ec_dw_weight_group(const int8_t *const *w, int32_t n)
{
    return ec_dw_interleave(ec_dw_load(w[0], n), w[1] ? ec_dw_load(w[1], n) : _mm256_setzero_si256());
}

EC_INLINE ec_dw_vecs_t ec_dw_input_group(const int8_t *const *x, int32_t n)
{
    return ec_dw_interleave(ec_dw_load(x[0], n), ec_dw_load(x[1], n));
}

EC_INLINE ec_dw_vecs_t ec_dw_madd(ec_dw_vecs_t acc, const ec_dw_vecs_t *x, const ec_dw_vecs_t *w)
{
    acc.v0 = _mm256_add_epi32(acc.v0, _mm256_madd_epi16(x->v0, w->v0));
    acc.v1 = _mm256_add_epi32(acc.v1, _mm256_madd_epi16(x->v1, w->v1));
    return acc;
}

EC_INLINE ec_dw_vecs_t ec_dw_load_lanes(const int32_t *p)
{
    ec_dw_vecs_t r;
    r.v0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
    r.v1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 8));
    return r;
}

EC_INLINE ec_dw_rq_t ec_dw_rq_load(const int32_t *mult, const int32_t *shift)
{
    return ec_x86_rq8_load(mult, shift);
}
#endif

#define EC_DW_LANES (EC_DW_BLOCK / EC_DW_ACCS)

/* Constants of one block of n channels: folded biases and requantization parameters in
 * accumulator lane order (with AVX-512 the high-half form's too), the form, the output zero point
 * (int16 lanes) and clamp (int8 lanes), a row of input zero points. */
typedef struct {
    ec_dw_vecs_t bias;
    ec_dw_rq_t rq[EC_DW_ACCS];
#if EC_DW_GROUP == 4
    ec_x86_rq16_high_t high[EC_DW_ACCS];
#endif
    int form;
    ec_dw_bytes_t out_zp, act_min, act_max;
    int8_t zp_row[EC_DW_BLOCK];
    int32_t n;
} ec_dw_block_t;

/* Requantize in form `form` (a constant where inlined, b->form), pack to int16 with saturation,
 * add the zero point with saturation, pack to bytes in channel order, clamp, store n bytes. Equal
 * to clamping r + out_zp for the int32 result r: a value saturated in a pack lies beyond int8 on
 * the side r + out_zp does, and the clamp range lies inside int8. The high-half forms have
 * r + out_zp in int32 already (|r + out_zp| < 2^31), so the packs alone saturate it. */
#if EC_DW_GROUP == 4
/* The block's vector j requantized in a high-half form, the zero point included. */
EC_FORCE_INLINE __m512i ec_dw_high16(__m512i acc, const ec_dw_block_t *b, int j, const int form)
{
    return ec_x86_requantize16_high(acc, &b->high[j], form == EC_X86_RQ_FLOORED);
}

EC_FORCE_INLINE void ec_dw_store_n(ec_dw_vecs_t acc, const ec_dw_block_t *b, int8_t *out, int32_t n, const int form)
{
    __m512i bytes;
    if (form == EC_X86_RQ_EXACT) {
        const __m512i w01 = _mm512_packs_epi32(ec_x86_requantize16(acc.v0, &b->rq[0]), ec_x86_requantize16(acc.v1, &b->rq[1]));
        const __m512i w23 = _mm512_packs_epi32(ec_x86_requantize16(acc.v2, &b->rq[2]), ec_x86_requantize16(acc.v3, &b->rq[3]));
        bytes = _mm512_packs_epi16(_mm512_adds_epi16(w01, b->out_zp), _mm512_adds_epi16(w23, b->out_zp));
    } else {
        bytes = _mm512_packs_epi16(_mm512_packs_epi32(ec_dw_high16(acc.v0, b, 0, form), ec_dw_high16(acc.v1, b, 1, form)),
                                   _mm512_packs_epi32(ec_dw_high16(acc.v2, b, 2, form), ec_dw_high16(acc.v3, b, 3, form)));
    }
    _mm512_mask_storeu_epi8(out, ec_x86_mask64(n), _mm512_min_epi8(_mm512_max_epi8(bytes, b->act_min), b->act_max));
}
#else
EC_FORCE_INLINE void ec_dw_store_n(ec_dw_vecs_t acc, const ec_dw_block_t *b, int8_t *out, int32_t n, const int form)
{
    const __m256i packed = form == EC_X86_RQ_FLOORED ? _mm256_packs_epi32(ec_x86_requantize8_floored(acc.v0, &b->rq[0]),
                                                                      ec_x86_requantize8_floored(acc.v1, &b->rq[1]))
                                                 : _mm256_packs_epi32(ec_x86_requantize8(acc.v0, &b->rq[0]),
                                                                      ec_x86_requantize8(acc.v1, &b->rq[1]));
    const __m256i words = _mm256_adds_epi16(packed, b->out_zp);
    __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    int8_t full[16];
    int32_t i;
    bytes = _mm_min_epi8(_mm_max_epi8(bytes, _mm256_castsi256_si128(b->act_min)), _mm256_castsi256_si128(b->act_max));
    if (n == 16) {
        _mm_storeu_si128((__m128i *)(void *)out, bytes);
        return;
    }
    _mm_storeu_si128((__m128i *)(void *)full, bytes);
    for (i = 0; i < n; ++i) {
        out[i] = full[i];
    }
}
#endif

/* The block's n = b->n channels in its form. */
EC_INLINE void ec_dw_store(ec_dw_vecs_t acc, const ec_dw_block_t *b, int8_t *out)
{
    ec_dw_store_n(acc, b, out, b->n, b->form);
}

/* Block constants for channels c0 .. c0 + n - 1 (see ec_dw_block_t); `taps` weights per channel.
 * The weight sums are taken in int32 lane vectors, channels in order, then placed in lane order. */
EC_INLINE void ec_dw_block_init(ec_dw_block_t *b, const int8_t *w, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int32_t c, int32_t c0, int32_t n, int32_t taps,
                                const ec_qparams_t *q)
{
    int32_t sum_w[EC_DW_BLOCK + EC_X86_LANES];
    int32_t lane_bias[EC_DW_BLOCK], lane_mult[EC_DW_BLOCK], lane_shift[EC_DW_BLOCK];
    const int32_t offset = q->in_zp + EC_DW_INPUT_OFFSET;
    int32_t j, k, t;
    for (k = 0; k < n; k += EC_X86_LANES) {
        ec_x86_vec_t acc = ec_x86_set1(0);
        for (t = 0; t < taps; ++t) {
            acc = ec_x86_add(acc, ec_x86_load_s8(w + (size_t)t * c + c0 + k, n - k));
        }
        ec_x86_store_i32(sum_w + k, acc);
    }
    for (j = 0; j < EC_DW_ACCS; ++j) {
        for (k = 0; k < EC_DW_LANES; ++k) {
            const int32_t ch = (k / 4) * 4 * EC_DW_ACCS + 4 * j + k % 4;
            const int32_t at = j * EC_DW_LANES + k;
            /* Wrapping subtraction: the lanes wrap alike and the final sum is in range. */
            lane_bias[at] = ch < n ? (int32_t)((uint32_t)(bias ? bias[c0 + ch] : 0) - (uint32_t)(offset * sum_w[ch])) : 0;
            lane_mult[at] = ch < n ? mult[c0 + ch] : 0;
            lane_shift[at] = ch < n ? shift[c0 + ch] : -1; /* past n: a shift every form takes */
        }
    }
    b->bias = ec_dw_load_lanes(lane_bias);
    for (j = 0; j < EC_DW_ACCS; ++j) {
        b->rq[j] = ec_dw_rq_load(lane_mult + j * EC_DW_LANES, lane_shift + j * EC_DW_LANES);
    }
    b->out_zp = ec_dw_set1_s16(q->out_zp);
    b->act_min = ec_dw_set1_s8(q->act_min);
    b->act_max = ec_dw_set1_s8(q->act_max);
#if EC_DW_GROUP == 4
    for (j = 0, k = 1; j < EC_DW_ACCS; ++j) {
        k &= ec_x86_rq16_high_params(_mm512_loadu_si512((const void *)(lane_mult + j * EC_DW_LANES)),
                                     _mm512_loadu_si512((const void *)(lane_shift + j * EC_DW_LANES)), q->out_zp,
                                     (__mmask16)0xFFFF, &b->high[j]);
    }
    b->form = ec_x86_rq_form(k, q);
#else
    b->form = q->act_min >= q->out_zp ? EC_X86_RQ_FLOORED : EC_X86_RQ_EXACT;
#endif
    for (k = 0; k < EC_DW_BLOCK; ++k) {
        b->zp_row[k] = (int8_t)q->in_zp;
    }
    b->n = n;
}

#endif /* EC_X86_DW_H */

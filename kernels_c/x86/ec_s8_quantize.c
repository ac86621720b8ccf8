/* ec_s8_quantize, x86: the portable formula (portable/ec_s8_quantize.c) on 16 (AVX-512) or 8 (AVX2)
 * floats per vector, bit-exact with it:
 *   q = x / scale          one IEEE float32 division per lane, as the scalar one;
 *   t = trunc(q), f = q - t (exact: f is q's fraction, representable in float32);
 *   r = t + sign(q) where |f| >= 0.5, else t  (round half away from zero, as roundf; NaN stays NaN);
 *   r = r + zp in float32, as the portable code adds it;
 *   out = qmax where r >= qmax, (int)r where r >= qmin, qmin otherwise (NaN compares false: qmin).
 * The last n % lanes values take the portable loop's scalar form. */
#include <immintrin.h>
#include <math.h>

#include "ec_s8.h"

static int8_t quantize_one(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax)
{
    const float r = roundf(x / scale) + (float)zp;
    return (int8_t)(r >= (float)qmax ? qmax : r >= (float)qmin ? (int32_t)r : qmin);
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define LANES 16
static void quantize_vector(const float *in, __m512 scale, __m512 zp, int32_t qmin, int32_t qmax, int8_t *out)
{
    const __m512 q = _mm512_div_ps(_mm512_loadu_ps(in), scale);
    const __m512 t = _mm512_roundscale_ps(q, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 sign = _mm512_castsi512_ps(_mm512_or_epi32(  /* +-1.0f with q's sign bit */
        _mm512_and_epi32(_mm512_castps_si512(q), _mm512_set1_epi32((int)0x80000000u)), _mm512_set1_epi32(0x3F800000)));
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(q, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 r = _mm512_add_ps(_mm512_mask_add_ps(t, up, t, sign), zp);
    const __mmask16 at_max = _mm512_cmp_ps_mask(r, _mm512_set1_ps((float)qmax), _CMP_GE_OQ);
    const __mmask16 in_range = _mm512_cmp_ps_mask(r, _mm512_set1_ps((float)qmin), _CMP_GE_OQ) & (__mmask16)~at_max;
    __m512i v = _mm512_set1_epi32(qmin);
    v = _mm512_mask_mov_epi32(v, at_max, _mm512_set1_epi32(qmax));
    v = _mm512_mask_mov_epi32(v, in_range, _mm512_cvttps_epi32(r));
    _mm_storeu_si128((__m128i *)(void *)out, _mm512_cvtepi32_epi8(v));
}
#define SET1 _mm512_set1_ps
#else
#define LANES 8
static void quantize_vector(const float *in, __m256 scale, __m256 zp, int32_t qmin, int32_t qmax, int8_t *out)
{
    const __m256 q = _mm256_div_ps(_mm256_loadu_ps(in), scale);
    const __m256 t = _mm256_round_ps(q, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 sign = _mm256_or_ps(_mm256_and_ps(q, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(q, t));
    const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 r = _mm256_add_ps(_mm256_add_ps(t, _mm256_and_ps(up, sign)), zp);
    const __m256 at_max = _mm256_cmp_ps(r, _mm256_set1_ps((float)qmax), _CMP_GE_OQ);
    const __m256 at_least_min = _mm256_cmp_ps(r, _mm256_set1_ps((float)qmin), _CMP_GE_OQ);
    __m256i v = _mm256_blendv_epi8(_mm256_set1_epi32(qmin), _mm256_cvttps_epi32(r), _mm256_castps_si256(at_least_min));
    __m128i packed;
    v = _mm256_blendv_epi8(v, _mm256_set1_epi32(qmax), _mm256_castps_si256(at_max));
    packed = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)(void *)out, _mm_packs_epi16(packed, packed));
}
#define SET1 _mm256_set1_ps
#endif

void ec_s8_quantize(const float *in, int32_t n, float scale, int32_t zp, int32_t qmin,
                    int32_t qmax, int8_t *out)
{
    int32_t i;
    for (i = 0; i + LANES <= n; i += LANES) {
        quantize_vector(in + i, SET1(scale), SET1((float)zp), qmin, qmax, out + i);
    }
    for (; i < n; ++i) {
        out[i] = quantize_one(in[i], scale, zp, qmin, qmax);
    }
}

/* ec_s8_resize_bilinear, x86 (AVX2, at every x86 level): TFLite's integer blend (ec_resize.h) on 16
 * channels per step, bit-exact with portable/ec_s8_resize_bilinear.c.
 *
 * Per output pixel, each row of taps is blended first, exactly, by VPMADDWD: the codes of the
 * left and right taps widened to int16 and interleaved, against the int16 pair (1024 - fx, fx)
 * (|fx|, |1024 - fx| <= 1536), give h = x0 (1024 - fx) + x1 fx in int32, |h| <= 128 * 1536. The
 * rows are then blended in int32 (VPMULLD), acc = h_top (1024 - fy) + h_bottom fy, the same sum
 * as the portable kernel's four products (|acc| < 2^31, ec_resize.h), and rounded half away from
 * zero as (acc + (acc >> 31) + 2^19) >> 20 (arithmetic shifts): for acc >= 0 that is
 * floor((acc + 2^19) / 2^20), for acc < 0 floor((acc - 1 + 2^19) / 2^20) =
 * ceil((acc - 2^19) / 2^20), C's truncating (acc - 2^19) / 2^20. The result lies in [-128, 127]
 * (each axis' weights sum to 1024 and are negative only where both taps are the same pixel), so
 * the saturating packs do not clip. Eight remaining channels take one 128-bit step; the last ones
 * (below 8) the scalar formula. */
#include <immintrin.h>

#include "ec_resize.h"

/* acc rounded and divided by 2^20 as above. */
static __m256i rounded_shift(__m256i acc)
{
    const __m256i half = _mm256_set1_epi32(1 << 19);
    return _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(acc, _mm256_srai_epi32(acc, 31)), half), 20);
}

/* 16 outputs from 16 channels of the four taps; wx = (1024 - fx, fx) in each int32 lane's halves. */
static void blend16(const int8_t *tl, const int8_t *tr, const int8_t *bl, const int8_t *br, __m256i wx, __m256i wy0,
                    __m256i wy1, int8_t *o)
{
    const __m256i t0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)tl));
    const __m256i t1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)tr));
    const __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)bl));
    const __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)br));
    /* channels 0-3 and 8-11 in the low interleave, 4-7 and 12-15 in the high one */
    const __m256i top_lo = _mm256_madd_epi16(_mm256_unpacklo_epi16(t0, t1), wx);
    const __m256i top_hi = _mm256_madd_epi16(_mm256_unpackhi_epi16(t0, t1), wx);
    const __m256i bot_lo = _mm256_madd_epi16(_mm256_unpacklo_epi16(b0, b1), wx);
    const __m256i bot_hi = _mm256_madd_epi16(_mm256_unpackhi_epi16(b0, b1), wx);
    const __m256i lo = rounded_shift(_mm256_add_epi32(_mm256_mullo_epi32(top_lo, wy0), _mm256_mullo_epi32(bot_lo, wy1)));
    const __m256i hi = rounded_shift(_mm256_add_epi32(_mm256_mullo_epi32(top_hi, wy0), _mm256_mullo_epi32(bot_hi, wy1)));
    const __m256i words = _mm256_packs_epi32(lo, hi); /* back in channel order within each 128-bit lane */
    const __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128((__m128i *)(void *)o, bytes);
}

/* The same on 8 channels in 128-bit registers (SSE4.1). */
static void blend8(const int8_t *tl, const int8_t *tr, const int8_t *bl, const int8_t *br, __m256i wx, __m256i wy0,
                   __m256i wy1, int8_t *o)
{
    const __m128i w = _mm256_castsi256_si128(wx), y0 = _mm256_castsi256_si128(wy0), y1 = _mm256_castsi256_si128(wy1);
    const __m128i half = _mm_set1_epi32(1 << 19);
    const __m128i t0 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)tl));
    const __m128i t1 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)tr));
    const __m128i b0 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)bl));
    const __m128i b1 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)br));
    __m128i lo = _mm_add_epi32(_mm_mullo_epi32(_mm_madd_epi16(_mm_unpacklo_epi16(t0, t1), w), y0),
                               _mm_mullo_epi32(_mm_madd_epi16(_mm_unpacklo_epi16(b0, b1), w), y1));
    __m128i hi = _mm_add_epi32(_mm_mullo_epi32(_mm_madd_epi16(_mm_unpackhi_epi16(t0, t1), w), y0),
                               _mm_mullo_epi32(_mm_madd_epi16(_mm_unpackhi_epi16(b0, b1), w), y1));
    lo = _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(lo, _mm_srai_epi32(lo, 31)), half), 20);
    hi = _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(hi, _mm_srai_epi32(hi, 31)), half), 20);
    _mm_storel_epi64((__m128i *)(void *)o, _mm_packs_epi16(_mm_packs_epi32(lo, hi), _mm_setzero_si128()));
}

void ec_s8_resize_bilinear(const int8_t *in, const ec_s8_resize_t *p, int32_t row_begin, int32_t row_end,
                           int8_t *out)
{
    const int32_t c_n = p->channels;
    const size_t in_row = (size_t)p->in_w * c_n;
    int32_t oy, ox, c;
    for (oy = row_begin; oy < row_end; ++oy) {
        const int32_t *ry = p->rows + 3 * oy;
        const int8_t *top = in + (size_t)ry[0] * in_row;
        const int8_t *bottom = in + (size_t)ry[1] * in_row;
        const int32_t fy = ry[2];
        const __m256i wy0 = _mm256_set1_epi32(1024 - fy), wy1 = _mm256_set1_epi32(fy);
        int8_t *o = out + (size_t)oy * p->out_w * c_n;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t *rx = p->cols + 3 * ox;
            const int8_t *tl = top + (size_t)rx[0] * c_n, *tr = top + (size_t)rx[1] * c_n;
            const int8_t *bl = bottom + (size_t)rx[0] * c_n, *br = bottom + (size_t)rx[1] * c_n;
            const int32_t fx = rx[2];
            const __m256i wx = _mm256_set1_epi32((int32_t)(((uint32_t)fx << 16) | ((uint32_t)(1024 - fx) & 0xFFFFu)));
            for (c = 0; c + 16 <= c_n; c += 16) {
                blend16(tl + c, tr + c, bl + c, br + c, wx, wy0, wy1, o + c);
            }
            if (c + 8 <= c_n) {
                blend8(tl + c, tr + c, bl + c, br + c, wx, wy0, wy1, o + c);
                c += 8;
            }
            if (c < c_n) {
                const int32_t w00 = (1024 - fy) * (1024 - fx), w10 = fy * (1024 - fx);
                const int32_t w01 = (1024 - fy) * fx, w11 = fy * fx;
                for (; c < c_n; ++c) {
                    o[c] = ec_s8_bilinear_tap(tl[c], bl[c], tr[c], br[c], w00, w10, w01, w11);
                }
            }
            o += c_n;
        }
    }
}

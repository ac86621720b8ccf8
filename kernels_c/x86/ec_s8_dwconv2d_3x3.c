/* ec_s8_dwconv2d_3x3, AVX2: the portable algorithm (ec_s8.h) on 16 channels at a time:
 * (x - zp) and w widened to int16, their product exact in int16 (|255 * 127| < 2^15), widened to
 * int32 and accumulated over the nine taps. Bit-exact with portable/ec_s8_dwconv2d_3x3.c. */
#include "ec_s8.h"
#include "ec_x86_avx2.h"

void ec_s8_dwconv2d_3x3(const int8_t *in, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                        const ec_qparams_t *q, int8_t *out)
{
    const int32_t c = win->in_c;
    const __m256i vzp = _mm256_set1_epi16((short)q->in_zp);
    int32_t acc[16];
    int32_t oy, ox, ky, kx, c0, i;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * c;
            for (c0 = 0; c0 < c; c0 += 16) {
                const int32_t n = c - c0 < 16 ? c - c0 : 16;
                __m256i lo = _mm256_setzero_si256(), hi = lo;
                for (i = 0; i < n; ++i) {
                    acc[i] = bias ? bias[c0 + i] : 0;
                }
                for (ky = 0; ky < 3; ++ky) {
                    const int32_t iy = oy * win->stride_h - win->pad_top + ky;
                    if (iy < 0 || iy >= win->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < 3; ++kx) {
                        const int32_t ix = ox * win->stride_w - win->pad_left + kx;
                        const int8_t *x;
                        const int8_t *wk;
                        if (ix < 0 || ix >= win->in_w) {
                            continue;
                        }
                        x = in + ((size_t)iy * win->in_w + ix) * c + c0;
                        wk = w + (size_t)(ky * 3 + kx) * c + c0;
                        if (n == 16) {
                            const __m256i prod = _mm256_mullo_epi16(
                                _mm256_sub_epi16(ec_avx2_load16_s8_as_s16(x), vzp), ec_avx2_load16_s8_as_s16(wk));
                            lo = _mm256_add_epi32(lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(prod)));
                            hi = _mm256_add_epi32(hi, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(prod, 1)));
                        } else {
                            for (i = 0; i < n; ++i) {
                                acc[i] += ((int32_t)x[i] - q->in_zp) * (int32_t)wk[i];
                            }
                        }
                    }
                }
                if (n == 16) {
                    int32_t sums[16];
                    _mm256_storeu_si256((__m256i *)(void *)sums, lo);
                    _mm256_storeu_si256((__m256i *)(void *)(sums + 8), hi);
                    for (i = 0; i < 16; ++i) {
                        acc[i] += sums[i];
                    }
                }
                ec_avx2_requantize_row(acc, mult + c0, shift + c0, n, q, o + c0);
            }
        }
    }
}

/* ec_s8_conv2d_slidingwin, AVX2: the portable algorithm (ec_s8.h, portable/ec_s8_conv2d_slidingwin.c)
 * with four output channels at a time: every contiguous window row of k_w * C_in inputs is
 * widened once and multiplied with the four weight rows, int32 lanes kept across the window rows
 * and summed once per output; requantization eight channels at a time (ec_avx2_requantize8).
 * Grouped or dilated layers use one channel at a time. Bit-exact
 * with the portable kernel (same integer sum, see ec_x86_avx2.h). */
#include "ec_s8.h"
#include "ec_x86_avx2.h"

enum { EC_OC_CHUNK = 256 };

/* Dense case (groups 1, dil_w 1): four channels oc..oc+3 of the output pixel at (iy0, ix0). */
static void block4(const int8_t *in, const int8_t *w, const int32_t *bias, const ec_window_t *win,
                   int32_t zp, int32_t iy0, int32_t ix0, int32_t kx_lo, int32_t kx_hi, int32_t oc,
                   int32_t acc[4])
{
    const size_t w_per_oc = (size_t)win->k_h * win->k_w * win->in_c;
    const __m256i vzp = _mm256_set1_epi16((short)zp);
    const int32_t n = (kx_hi - kx_lo) * win->in_c;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    int32_t ky, i, j;
    for (j = 0; j < 4; ++j) {
        acc[j] = bias ? bias[oc + j] : 0;
    }
    if (n <= 0) {
        return;
    }
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = iy0 + ky * win->dil_h;
        const int8_t *x;
        const int8_t *wr;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        x = in + ((size_t)iy * win->in_w + (size_t)(ix0 + kx_lo)) * win->in_c;
        wr = w + (size_t)oc * w_per_oc + ((size_t)ky * win->k_w + (size_t)kx_lo) * win->in_c;
        for (i = 0; i + 16 <= n; i += 16) {
            const __m256i xv = _mm256_sub_epi16(ec_avx2_load16_s8_as_s16(x + i), vzp);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(wr + i)));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(wr + w_per_oc + i)));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(wr + 2 * w_per_oc + i)));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(xv, ec_avx2_load16_s8_as_s16(wr + 3 * w_per_oc + i)));
        }
        for (; i < n; ++i) {
            const int32_t xi = (int32_t)x[i] - zp;
            for (j = 0; j < 4; ++j) {
                acc[j] += xi * (int32_t)wr[(size_t)j * w_per_oc + (size_t)i];
            }
        }
    }
    acc[0] += ec_avx2_hsum(a0);
    acc[1] += ec_avx2_hsum(a1);
    acc[2] += ec_avx2_hsum(a2);
    acc[3] += ec_avx2_hsum(a3);
}

/* General case: one channel, any groups and dilation. */
static int32_t one_channel(const int8_t *in, const int8_t *w, const ec_window_t *win, int32_t zp,
                           int32_t iy0, int32_t ix0, int32_t oc)
{
    const int32_t cin_g = win->in_c / win->groups;
    const int32_t g = oc / (win->out_c / win->groups);
    const int8_t *wo = w + (size_t)oc * win->k_h * win->k_w * cin_g;
    int32_t acc = 0, ky, kx;
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = iy0 + ky * win->dil_h;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (kx = 0; kx < win->k_w; ++kx) {
            const int32_t ix = ix0 + kx * win->dil_w;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            acc += ec_avx2_dot_s8(in + ((size_t)iy * win->in_w + ix) * win->in_c + (size_t)g * cin_g,
                                  wo + ((size_t)ky * win->k_w + kx) * cin_g, cin_g, zp);
        }
    }
    return acc;
}

void ec_s8_conv2d_slidingwin(const int8_t *in, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                             const ec_qparams_t *q, int8_t *out)
{
    const int dense = win->dil_w == 1 && win->groups == 1;
    int32_t oy, ox, oc;
    for (oy = 0; oy < win->out_h; ++oy) {
        const int32_t iy0 = oy * win->stride_h - win->pad_top;
        for (ox = 0; ox < win->out_w; ++ox) {
            const int32_t ix0 = ox * win->stride_w - win->pad_left;
            const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
            const int32_t kx_hi = win->in_w - ix0 < win->k_w ? win->in_w - ix0 : win->k_w;
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * win->out_c;
            int32_t c0;
            for (c0 = 0; c0 < win->out_c; c0 += EC_OC_CHUNK) {
                const int32_t c1 = win->out_c - c0 < EC_OC_CHUNK ? win->out_c : c0 + EC_OC_CHUNK;
                int32_t acc[EC_OC_CHUNK];
                oc = c0;
                if (dense) {
                    for (; oc + 4 <= c1; oc += 4) {
                        block4(in, w, bias, win, q->in_zp, iy0, ix0, kx_lo, kx_hi, oc, acc + (oc - c0));
                    }
                }
                for (; oc < c1; ++oc) {
                    acc[oc - c0] = (bias ? bias[oc] : 0) + one_channel(in, w, win, q->in_zp, iy0, ix0, oc);
                }
                ec_avx2_requantize_row(acc, mult + c0, shift + c0, c1 - c0, q, o + c0);
            }
        }
    }
}

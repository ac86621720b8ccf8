/* ec_s8_conv2d_bitserial: DoReFa k-bit convolution by bit-plane popcounts (derivation, bit order
 * and layouts in ec_b1.h).
 *
 * 1. Pack: for each pixel of the padded region, the M bit planes of u = x - in_zp are packed,
 *    plane m after plane m - 1, each `words` long; padded pixels stay zero (u = 0).
 * 2. For each output: for every tap and word, s_ui += 2^(m+k) popcount(U_m & I_k) and
 *    s_u += 2^m popcount(U_m); acc = 2 * s_ui - (2^K - 1) * s_u + bias; shared requantization. */
#include <string.h>

#include "ec_b1.h"

void ec_s8_conv2d_bitserial(const int8_t *in, const uint32_t *w_planes, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int32_t act_bits, int32_t weight_bits,
                            uint32_t *scratch, int8_t *out)
{
    const int32_t words = (win->in_c + 31) / 32;
    const int32_t ext_h = (win->out_h - 1) * win->stride_h + win->dil_h * (win->k_h - 1) + 1;
    const int32_t ext_w = (win->out_w - 1) * win->stride_w + win->dil_w * (win->k_w - 1) + 1;
    const int32_t pixel_words = act_bits * words;
    const int32_t tap_words = weight_bits * words;
    int32_t y, x, c, m, k, oc, ky, kx, i;
    memset(scratch, 0, (size_t)ext_h * ext_w * pixel_words * sizeof(uint32_t));
    for (y = 0; y < ext_h; ++y) {
        const int32_t iy = y - win->pad_top;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (x = 0; x < ext_w; ++x) {
            const int32_t ix = x - win->pad_left;
            const int8_t *src;
            uint32_t *dst;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            src = in + ((size_t)iy * win->in_w + ix) * win->in_c;
            dst = scratch + ((size_t)y * ext_w + x) * pixel_words;
            for (c = 0; c < win->in_c; ++c) {
                const uint32_t u = (uint32_t)((int32_t)src[c] - q->in_zp);
                for (m = 0; m < act_bits; ++m) {
                    dst[m * words + c / 32] |= ((u >> m) & 1u) << (c % 32);
                }
            }
        }
    }
    for (y = 0; y < win->out_h; ++y) {
        for (x = 0; x < win->out_w; ++x) {
            int8_t *o = out + ((size_t)y * win->out_w + x) * win->out_c;
            for (oc = 0; oc < win->out_c; ++oc) {
                const uint32_t *wo = w_planes + (size_t)oc * win->k_h * win->k_w * tap_words;
                int32_t s_ui = 0;
                int32_t s_u = 0;
                int32_t acc;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t py = y * win->stride_h + ky * win->dil_h;
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t px = x * win->stride_w + kx * win->dil_w;
                        const uint32_t *a = scratch + ((size_t)py * ext_w + px) * pixel_words;
                        const uint32_t *wk = wo + ((size_t)ky * win->k_w + kx) * tap_words;
                        for (m = 0; m < act_bits; ++m) {
                            const uint32_t *am = a + (size_t)m * words;
                            for (i = 0; i < words; ++i) {
                                s_u += ec_popcount32(am[i]) << m;
                                for (k = 0; k < weight_bits; ++k) {
                                    s_ui += ec_popcount32(am[i] & wk[(size_t)k * words + i]) << (m + k);
                                }
                            }
                        }
                    }
                }
                acc = 2 * s_ui - ((1 << weight_bits) - 1) * s_u + (bias ? bias[oc] : 0);
                acc = ec_requantize(acc, mult[oc], shift[oc]) + q->out_zp;
                o[oc] = (int8_t)ec_clamp_i32(acc, q->act_min, q->act_max);
            }
        }
    }
}

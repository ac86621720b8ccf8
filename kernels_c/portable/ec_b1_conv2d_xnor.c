/* ec_b1_conv2d_xnor: XNOR-popcount binary convolution (bit order and formula in ec_b1.h).
 *
 * 1. Pack: the padded input region the windows read is packed into `scratch`, one group of
 *    words per pixel; bit set <=> value < in_zp (real value < 0, i.e. -1); padded pixels stay
 *    all-zero words (+1, one-padding).
 * 2. For each output: pop = sum over taps and words of popcount(a XOR w);
 *    acc = K - 2 * pop + bias, K = k_h * k_w * C_in; then the shared requantization. */
#include <string.h>

#include "ec_b1.h"

void ec_b1_conv2d_xnor(const int8_t *in, const uint32_t *w_bits, const int32_t *bias,
                       const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                       const ec_qparams_t *q, uint32_t *scratch, int8_t *out)
{
    const int32_t words = (win->in_c + 31) / 32;
    const int32_t ext_h = (win->out_h - 1) * win->stride_h + win->dil_h * (win->k_h - 1) + 1;
    const int32_t ext_w = (win->out_w - 1) * win->stride_w + win->dil_w * (win->k_w - 1) + 1;
    const int32_t k_total = win->k_h * win->k_w * win->in_c;
    int32_t y, x, c, oc, ky, kx, i;
    memset(scratch, 0, (size_t)ext_h * ext_w * words * sizeof(uint32_t));
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
            dst = scratch + ((size_t)y * ext_w + x) * words;
            for (c = 0; c < win->in_c; ++c) {
                if ((int32_t)src[c] < q->in_zp) {
                    dst[c / 32] |= ((uint32_t)1) << (c % 32);
                }
            }
        }
    }
    for (y = 0; y < win->out_h; ++y) {
        for (x = 0; x < win->out_w; ++x) {
            int8_t *o = out + ((size_t)y * win->out_w + x) * win->out_c;
            for (oc = 0; oc < win->out_c; ++oc) {
                const uint32_t *wo = w_bits + (size_t)oc * win->k_h * win->k_w * words;
                int32_t pop = 0;
                int32_t acc;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t py = y * win->stride_h + ky * win->dil_h;
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t px = x * win->stride_w + kx * win->dil_w;
                        const uint32_t *a = scratch + ((size_t)py * ext_w + px) * words;
                        const uint32_t *wk = wo + ((size_t)ky * win->k_w + kx) * words;
                        for (i = 0; i < words; ++i) {
                            pop += ec_popcount32(a[i] ^ wk[i]);
                        }
                    }
                }
                acc = k_total - 2 * pop + (bias ? bias[oc] : 0);
                acc = ec_requantize(acc, mult[oc], shift[oc]) + q->out_zp;
                o[oc] = (int8_t)ec_clamp_i32(acc, q->act_min, q->act_max);
            }
        }
    }
}

/* The scalar int8 depthwise convolution, shared by the portable kernel and by the SIMD kernels for
 * the cases they leave to it (channel multipliers above 1).
 *
 * Any kernel, stride, padding, dilation and channel multiplier m (output channel o reads input
 * channel o / m); HWO weights; formula in ec_s8.h. The channel loop is innermost so it runs over
 * contiguous NHWC memory. */
#ifndef EC_S8_DWCONV_H
#define EC_S8_DWCONV_H

#include "ec_s8.h"

EC_INLINE void ec_s8_dwconv2d_scalar(const int8_t *in, const int8_t *w, const int32_t *bias,
                                     const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                                     const ec_qparams_t *q, int8_t *out)
{
    const int32_t m = win->out_c / win->in_c;
    int32_t oy, ox, oc, ky, kx;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * win->out_c;
            for (oc = 0; oc < win->out_c; ++oc) {
                int32_t acc = bias ? bias[oc] : 0;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
                    if (iy < 0 || iy >= win->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
                        if (ix < 0 || ix >= win->in_w) {
                            continue;
                        }
                        acc += ((int32_t)in[((size_t)iy * win->in_w + ix) * win->in_c + oc / m] - q->in_zp)
                               * (int32_t)w[((size_t)ky * win->k_w + kx) * win->out_c + oc];
                    }
                }
                acc = ec_requantize(acc, mult[oc], shift[oc]) + q->out_zp;
                o[oc] = (int8_t)ec_clamp_i32(acc, q->act_min, q->act_max);
            }
        }
    }
}

#endif /* EC_S8_DWCONV_H */

/* ec_s8_dwconv2d_3x3: int8 depthwise 3x3 convolution (multiplier 1, dilation 1, any stride and
 * padding), HWO weights, formula in ec_s8.h. Each output pixel accumulates its (up to) nine taps
 * into a row of per-channel int32 sums, channel loop innermost over contiguous memory. */
#include "ec_s8.h"

enum { EC_DW_CHANNEL_BLOCK = 64 };

void ec_s8_dwconv2d_3x3(const int8_t *in, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                        const ec_qparams_t *q, int8_t *out)
{
    const int32_t c = win->in_c;
    int32_t acc[EC_DW_CHANNEL_BLOCK];
    int32_t oy, ox, ky, kx, c0, i;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * c;
            for (c0 = 0; c0 < c; c0 += EC_DW_CHANNEL_BLOCK) {
                const int32_t n = c - c0 < EC_DW_CHANNEL_BLOCK ? c - c0 : EC_DW_CHANNEL_BLOCK;
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
                        for (i = 0; i < n; ++i) {
                            acc[i] += ((int32_t)x[i] - q->in_zp) * (int32_t)wk[i];
                        }
                    }
                }
                for (i = 0; i < n; ++i) {
                    const int32_t v = ec_requantize(acc[i], mult[c0 + i], shift[c0 + i]) + q->out_zp;
                    o[c0 + i] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
                }
            }
        }
    }
}

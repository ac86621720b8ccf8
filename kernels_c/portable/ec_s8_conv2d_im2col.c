/* ec_s8_conv2d_im2col: int8 convolution as im2col + GEMM (groups == 1; formula in ec_s8.h).
 *
 * One output row at a time is unfolded into `scratch`: out_w patches of K = k_h * k_w * C_in
 * bytes in the OHWI order of the weights, each patch padded to K16 = K rounded up to 16 bytes;
 * padded taps and the tail are filled with in_zp (they then contribute (in_zp - in_zp) * w = 0).
 * The GEMM multiplies the out_w x K16 patches by the C_out x K16 weights (zero beyond K). */
#include <string.h>

#include "ec_s8.h"

static void unfold_row(const int8_t *in, const ec_window_t *win, int32_t oy, int8_t fill,
                       int8_t *cols)
{
    const size_t k = (size_t)win->k_h * win->k_w * win->in_c;
    const size_t patch = EC_IM2COL_K16(k);
    int32_t ox, ky, kx;
    for (ox = 0; ox < win->out_w; ++ox) {
        int8_t *dst = cols + (size_t)ox * patch;
        for (ky = 0; ky < win->k_h; ++ky) {
            const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
            for (kx = 0; kx < win->k_w; ++kx) {
                const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
                if (iy < 0 || iy >= win->in_h || ix < 0 || ix >= win->in_w) {
                    memset(dst, fill, (size_t)win->in_c);
                } else {
                    memcpy(dst, in + ((size_t)iy * win->in_w + ix) * win->in_c, (size_t)win->in_c);
                }
                dst += win->in_c;
            }
        }
        memset(dst, fill, patch - k);
    }
}

void ec_s8_conv2d_im2col(const int8_t *in, const int8_t *w, const int32_t *bias,
                         const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                         const ec_qparams_t *q, int8_t *scratch, int8_t *out)
{
    const int32_t k = (int32_t)EC_IM2COL_K16(win->k_h * win->k_w * win->in_c);
    int32_t oy, ox, oc, i;
    for (oy = 0; oy < win->out_h; ++oy) {
        unfold_row(in, win, oy, (int8_t)q->in_zp, scratch);
        for (ox = 0; ox < win->out_w; ++ox) {
            const int8_t *col = scratch + (size_t)ox * k;
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * win->out_c;
            for (oc = 0; oc < win->out_c; ++oc) {
                const int8_t *wo = w + (size_t)oc * k;
                int32_t acc = bias ? bias[oc] : 0;
                for (i = 0; i < k; ++i) {
                    acc += ((int32_t)col[i] - q->in_zp) * (int32_t)wo[i];
                }
                acc = ec_requantize(acc, mult[oc], shift[oc]) + q->out_zp;
                o[oc] = (int8_t)ec_clamp_i32(acc, q->act_min, q->act_max);
            }
        }
    }
}

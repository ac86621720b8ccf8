/* ec_s8_conv2d_im2col: int8 convolution as im2col + GEMM (groups == 1; formula in ec_s8.h).
 *
 * One output row at a time is unfolded into `scratch`: out_w patches of K = k_h * k_w * C_in
 * bytes in the OHWI order of the weights, each patch padded to K16 = K rounded up to 16 bytes;
 * padded taps and the tail are filled with in_zp (they then contribute (in_zp - in_zp) * w = 0).
 * The GEMM multiplies the out_w x K16 patches by the C_out x K16 weights (zero beyond K). */
#include <string.h>

#include "ec_im2col.h"
#include "ec_s8.h"

void ec_s8_conv2d_im2col(const int8_t *in, const int8_t *w, const int32_t *bias,
                         const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                         const ec_qparams_t *q, int8_t *scratch, int8_t *out)
{
    const int32_t k = (int32_t)EC_IM2COL_K16(win->k_h * win->k_w * win->in_c);
    int32_t oy, ox, oc, i;
    for (oy = 0; oy < win->out_h; ++oy) {
        ec_im2col_unfold_row(in, win, oy, (int8_t)q->in_zp, scratch);
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

/* ec_s8_conv2d_1x1: pointwise int8 convolution (1x1, stride 1, no padding, groups 1), a GEMM of
 * the (H*W) x C_in input by the C_out x C_in weights; formula in ec_s8.h. */
#include "ec_s8.h"

void ec_s8_conv2d_1x1(const int8_t *in, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                      const ec_qparams_t *q, int8_t *out)
{
    const int32_t pixels = win->out_h * win->out_w;
    const int32_t cin = win->in_c;
    int32_t p, oc, c;
    for (p = 0; p < pixels; ++p) {
        const int8_t *x = in + (size_t)p * cin;
        int8_t *o = out + (size_t)p * win->out_c;
        for (oc = 0; oc < win->out_c; ++oc) {
            const int8_t *wo = w + (size_t)oc * cin;
            int32_t acc = bias ? bias[oc] : 0;
            for (c = 0; c < cin; ++c) {
                acc += ((int32_t)x[c] - q->in_zp) * (int32_t)wo[c];
            }
            acc = ec_requantize(acc, mult[oc], shift[oc]) + q->out_zp;
            o[oc] = (int8_t)ec_clamp_i32(acc, q->act_min, q->act_max);
        }
    }
}

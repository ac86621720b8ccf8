/* ec_s8_conv_transpose2d: int8 2-D transposed convolution (TFLite TRANSPOSE_CONV, per-channel
 * weights), any groups, dilation 1, OHWI weights, no scratch.
 *
 * TFLite scatters every input value onto an int32 map of the output's size; this kernel gathers
 * instead, each output from the input positions that reach it: output (oy, ox) meets tap ky of
 * input row iy = (oy + pad_top - ky) / stride_h where that division is exact and the row exists,
 * likewise for columns. Integer sums do not depend on their order, so
 *   acc = sum (x - in_zp) * w + bias[oc];  out = clamp(requantize(acc) + out_zp, act_min, act_max)
 * equals TFLite Micro's bytes (a grouped layer's, whose TFLite form is one TRANSPOSE_CONV per
 * group). Bound: |w| <= 127, |x - in_zp| <= 255, C_in / groups * ceil(k_h / s_h) * ceil(k_w / s_w)
 * terms per sum; the code generator checks the int32 bound before emitting a call.
 * Outputs no input reaches (output padding) hold the requantized bias. */
#include "ec_s8.h"

void ec_s8_conv_transpose2d(const int8_t *in, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int8_t *out)
{
    const int32_t cin_g = win->in_c / win->groups;
    const int32_t cout_g = win->out_c / win->groups;
    int32_t oy, ox, oc, ky, kx, c;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * win->out_c;
            for (oc = 0; oc < win->out_c; ++oc) {
                const int8_t *wo = w + (size_t)oc * win->k_h * win->k_w * cin_g;
                const size_t group_in = (size_t)(oc / cout_g) * cin_g;
                int32_t acc = 0;
                for (ky = win->k_h - 1; ky >= 0; --ky) {
                    const int32_t iy = ec_transpose_source(oy, win->pad_top, ky, win->stride_h, win->in_h);
                    if (iy < 0) {
                        continue;
                    }
                    for (kx = win->k_w - 1; kx >= 0; --kx) {
                        const int32_t ix = ec_transpose_source(ox, win->pad_left, kx, win->stride_w, win->in_w);
                        const int8_t *x;
                        const int8_t *wk;
                        if (ix < 0) {
                            continue;
                        }
                        x = in + ((size_t)iy * win->in_w + ix) * win->in_c + group_in;
                        wk = wo + ((size_t)ky * win->k_w + kx) * cin_g;
                        for (c = 0; c < cin_g; ++c) {
                            acc += ((int32_t)x[c] - q->in_zp) * (int32_t)wk[c];
                        }
                    }
                }
                acc = ec_requantize(acc + bias[oc], mult[oc], shift[oc]) + q->out_zp;
                o[oc] = (int8_t)ec_clamp_i32(acc, q->act_min, q->act_max);
            }
        }
    }
}

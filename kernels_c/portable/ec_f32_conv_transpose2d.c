/* ec_f32_conv_transpose2d: float32 2-D transposed convolution, any groups, dilation 1, OHWI weights,
 * no scratch. Each output is gathered from the input positions that reach it (see
 * ec_s8_conv_transpose2d) and summed in TFLite's scatter order, one rounding per operation (built
 * without floating-point contraction): acc = 0; for input rows iy ascending (taps ky descending),
 * columns ix ascending (kx descending), channels c: acc += x * w; then acc + bias; then the clamp.
 * The reference executor (window.transpose_conv_accumulate) and TFLite Micro sum alike, so the
 * results are equal bit for bit. */
#include "ec_f32.h"

void ec_f32_conv_transpose2d(const float *in, const float *w, const float *bias,
                             const ec_window_t *win, float lo, float hi, float *out)
{
    const int32_t cin_g = win->in_c / win->groups;
    const int32_t cout_g = win->out_c / win->groups;
    int32_t oy, ox, oc, ky, kx, c;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            float *o = out + ((size_t)oy * win->out_w + ox) * win->out_c;
            for (oc = 0; oc < win->out_c; ++oc) {
                const float *wo = w + (size_t)oc * win->k_h * win->k_w * cin_g;
                const size_t group_in = (size_t)(oc / cout_g) * cin_g;
                float acc = 0.0f;
                for (ky = win->k_h - 1; ky >= 0; --ky) {
                    const int32_t iy = ec_transpose_source(oy, win->pad_top, ky, win->stride_h, win->in_h);
                    if (iy < 0) {
                        continue;
                    }
                    for (kx = win->k_w - 1; kx >= 0; --kx) {
                        const int32_t ix = ec_transpose_source(ox, win->pad_left, kx, win->stride_w, win->in_w);
                        const float *x;
                        const float *wk;
                        if (ix < 0) {
                            continue;
                        }
                        x = in + ((size_t)iy * win->in_w + ix) * win->in_c + group_in;
                        wk = wo + ((size_t)ky * win->k_w + kx) * cin_g;
                        for (c = 0; c < cin_g; ++c) {
                            acc += x[c] * wk[c];
                        }
                    }
                }
                o[oc] = ec_clamp_f32(bias ? acc + bias[oc] : acc, lo, hi);
            }
        }
    }
}

/* ec_f32_conv2d_direct: float32 direct convolution, OHWI weights, zero padding, any stride,
 * dilation and groups. Float accumulation in TFLite's order, one rounding per operation (built
 * without floating-point contraction): acc = 0; for ky, kx, c: acc += x * w (taps in the padding
 * skipped: they would add 0); then acc + bias; then the clamp [lo, hi]. The reference executor
 * computes the same sequence, so the results are equal bit for bit. */
#include "ec_f32.h"

void ec_f32_conv2d_direct(const float *in, const float *w, const float *bias,
                          const ec_window_t *win, float lo, float hi, float *out)
{
    const int32_t cin_g = win->in_c / win->groups;
    const int32_t cout_g = win->out_c / win->groups;
    int32_t oy, ox, oc, ky, kx, c;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            float *o = out + ((size_t)oy * win->out_w + ox) * win->out_c;
            for (oc = 0; oc < win->out_c; ++oc) {
                const int32_t g = oc / cout_g;
                const float *wo = w + (size_t)oc * win->k_h * win->k_w * cin_g;
                float acc = 0.0f;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
                    if (iy < 0 || iy >= win->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
                        const float *x;
                        const float *wk;
                        if (ix < 0 || ix >= win->in_w) {
                            continue;
                        }
                        x = in + ((size_t)iy * win->in_w + ix) * win->in_c + (size_t)g * cin_g;
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

/* ec_f32_dwconv2d: float32 depthwise convolution, channel multiplier 1, any kernel/stride/padding
 * (zeros)/dilation. Weights packed by ec_f32_depthwise_weights (kernels/packing_f32.py) tap-major,
 * [ky][kx][c], so that one tap's weights for neighbouring channels are contiguous, as the input's
 * channels are. Each output is summed as ec_f32_conv2d_direct sums it (one input channel per
 * group): acc = 0; for ky, kx: acc += x * w, taps in the padding skipped; then acc + bias; then
 * the clamp (one rounding per operation, no contraction), so the outputs are the direct kernel's. */
#include "ec_f32.h"

void ec_f32_dwconv2d(const float *in, const float *w, const float *bias, const ec_window_t *win,
                     float lo, float hi, float *out)
{
    const int32_t ch = win->in_c;
    int32_t oy, ox, ky, kx, c;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            float *o = out + ((size_t)oy * win->out_w + ox) * ch;
            for (c = 0; c < ch; ++c) {
                float acc = 0.0f;
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
                        acc += in[((size_t)iy * win->in_w + ix) * ch + c] * w[((size_t)ky * win->k_w + kx) * ch + c];
                    }
                }
                o[c] = ec_clamp_f32(bias ? acc + bias[c] : acc, lo, hi);
            }
        }
    }
}

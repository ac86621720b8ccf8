/* ec_f32_conv2d_im2col: float32 convolution, groups 1, any kernel/stride/padding (zeros)/dilation,
 * as a GEMM whose rows are the windows, read in place. Weights packed by ec_f32_gemm_weights
 * (kernels/packing_f32.py): blocks of EC_F32_NR output channels, each block's rows in window
 * order (ky, kx, c), EC_F32_NR floats per row. Each output is summed as ec_f32_conv2d_direct sums
 * it: acc = 0; for ky, kx, c: acc += x * w, taps in the padding skipped; then acc + bias; then the
 * clamp (one rounding per operation, no contraction), so the outputs equal the direct kernel's. */
#include "ec_f32.h"

void ec_f32_conv2d_im2col(const float *in, const float *w, const float *bias, const ec_window_t *win,
                          float lo, float hi, float *out)
{
    const int32_t cin = win->in_c, cout = win->out_c;
    const size_t tap_rows = (size_t)cin * EC_F32_NR;
    int32_t oy, ox, oc0, ky, kx, c, j;
    for (oc0 = 0; oc0 < cout; oc0 += EC_F32_NR) {
        const float *wb = w + (size_t)(oc0 / EC_F32_NR) * win->k_h * win->k_w * tap_rows;
        const int32_t n = cout - oc0 < EC_F32_NR ? cout - oc0 : EC_F32_NR;
        for (oy = 0; oy < win->out_h; ++oy) {
            for (ox = 0; ox < win->out_w; ++ox) {
                float *o = out + ((size_t)oy * win->out_w + ox) * cout + oc0;
                float acc[EC_F32_NR];
                for (j = 0; j < EC_F32_NR; ++j) {
                    acc[j] = 0.0f;
                }
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
                    if (iy < 0 || iy >= win->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
                        const float *x;
                        const float *wt;
                        if (ix < 0 || ix >= win->in_w) {
                            continue;
                        }
                        x = in + ((size_t)iy * win->in_w + ix) * cin;
                        wt = wb + ((size_t)ky * win->k_w + kx) * tap_rows;
                        for (c = 0; c < cin; ++c) {
                            for (j = 0; j < EC_F32_NR; ++j) {
                                acc[j] += x[c] * wt[(size_t)c * EC_F32_NR + j];
                            }
                        }
                    }
                }
                for (j = 0; j < n; ++j) {
                    o[j] = ec_clamp_f32(bias ? acc[j] + bias[oc0 + j] : acc[j], lo, hi);
                }
            }
        }
    }
}

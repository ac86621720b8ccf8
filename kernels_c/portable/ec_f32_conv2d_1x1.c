/* ec_f32_conv2d_1x1: float32 pointwise convolution (1x1, stride 1, no padding, groups 1) as a
 * GEMM over positions. Weights packed by ec_f32_gemm_weights (kernels/packing_f32.py): blocks of
 * EC_F32_NR output channels, each block's rows by input channel, EC_F32_NR floats per row (zeros
 * past the last channel). Every output is summed exactly as ec_f32_conv2d_direct sums it (TFLite's
 * order, one rounding per operation, no contraction): acc = 0; for c ascending: acc += x[c] * w[c];
 * then acc + bias; then the clamp. So the outputs equal the direct kernel's, bit for bit. */
#include "ec_f32.h"

void ec_f32_conv2d_1x1(const float *in, const float *w, const float *bias, const ec_window_t *win,
                       float lo, float hi, float *out)
{
    const int32_t positions = win->out_h * win->out_w;
    const int32_t cin = win->in_c, cout = win->out_c;
    int32_t p, oc0, c, j;
    for (oc0 = 0; oc0 < cout; oc0 += EC_F32_NR) {
        const float *wb = w + (size_t)(oc0 / EC_F32_NR) * cin * EC_F32_NR;
        const int32_t n = cout - oc0 < EC_F32_NR ? cout - oc0 : EC_F32_NR;
        for (p = 0; p < positions; ++p) {
            const float *x = in + (size_t)p * cin;
            float *o = out + (size_t)p * cout + oc0;
            float acc[EC_F32_NR];
            for (j = 0; j < EC_F32_NR; ++j) {
                acc[j] = 0.0f;
            }
            for (c = 0; c < cin; ++c) {
                const float *wr = wb + (size_t)c * EC_F32_NR;
                for (j = 0; j < EC_F32_NR; ++j) {
                    acc[j] += x[c] * wr[j];
                }
            }
            for (j = 0; j < n; ++j) {
                o[j] = ec_clamp_f32(bias ? acc[j] + bias[oc0 + j] : acc[j], lo, hi);
            }
        }
    }
}

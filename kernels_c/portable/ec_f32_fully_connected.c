/* ec_f32_fully_connected: float32 y = W x + b, clamped to [lo, hi]; acc = 0, acc += x[i] * w[i]
 * in i order, then acc + b (TFLite's order, one rounding per operation). */
#include "ec_f32.h"

void ec_f32_fully_connected(const float *in, const float *w, const float *bias, int32_t in_n,
                            int32_t out_n, float lo, float hi, float *out)
{
    int32_t o, i;
    for (o = 0; o < out_n; ++o) {
        const float *wo = w + (size_t)o * in_n;
        float acc = 0.0f;
        for (i = 0; i < in_n; ++i) {
            acc += in[i] * wo[i];
        }
        out[o] = ec_clamp_f32(bias ? acc + bias[o] : acc, lo, hi);
    }
}

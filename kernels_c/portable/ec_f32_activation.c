/* ec_f32_activation: float32 elementwise activations (formulas beside ec_activation_t).
 * In-place safe. */
#include <math.h>

#include "ec_f32.h"

static float sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

void ec_f32_activation(const float *in, int32_t n, ec_activation_t kind, float alpha, float lo,
                       float hi, float *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float x = in[i];
        float y;
        switch (kind) {
        case EC_ACT_CLIP: y = ec_clamp_f32(x, lo, hi); break;
        case EC_ACT_LEAKY_RELU: y = x >= 0.0f ? x : alpha * x; break;
        case EC_ACT_HARDSWISH: y = x * ec_clamp_f32(x + 3.0f, 0.0f, 6.0f) / 6.0f; break;
        case EC_ACT_HARDSIGMOID: y = ec_clamp_f32(x + 3.0f, 0.0f, 6.0f) * (1.0f / 6.0f); break;
        case EC_ACT_SIGMOID: y = sigmoid(x); break;
        case EC_ACT_SILU: y = x * sigmoid(x); break;
        case EC_ACT_SIGN: y = x >= alpha ? 1.0f : -1.0f; break;
        case EC_ACT_GELU: y = 0.5f * x * (1.0f + erff(x * 0.70710678f)); break;
        case EC_ACT_GELU_TANH:
            y = 0.5f * x * (1.0f + tanhf(0.79788456f * (x + 0.044715f * x * x * x)));
            break;
        default: y = x; break;
        }
        out[i] = y;
    }
}

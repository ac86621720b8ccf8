/* ec_f32_softmax: float32 softmax over the last axis, exp(beta * (x - max)) / sum. */
#include <math.h>

#include "ec_f32.h"

void ec_f32_softmax(const float *in, int32_t outer, int32_t depth, float beta, float *out)
{
    int32_t row, c;
    for (row = 0; row < outer; ++row) {
        const float *x = in + (size_t)row * depth;
        float *o = out + (size_t)row * depth;
        float m = x[0];
        double sum = 0.0;
        for (c = 1; c < depth; ++c) {
            m = x[c] > m ? x[c] : m;
        }
        for (c = 0; c < depth; ++c) {
            o[c] = expf(beta * (x[c] - m));
            sum += o[c];
        }
        for (c = 0; c < depth; ++c) {
            o[c] = (float)(o[c] / sum);
        }
    }
}

/* ec_f32_mul: float32 a * b with broadcasting (ec_broadcast_t), clamped to [lo, hi]. */
#include "ec_f32.h"

void ec_f32_mul(const float *a, const float *b, const ec_broadcast_t *bc, float lo, float hi,
                float *out)
{
    int32_t y, x, c;
    size_t k = 0;
    for (y = 0; y < bc->dims[0]; ++y) {
        for (x = 0; x < bc->dims[1]; ++x) {
            for (c = 0; c < bc->dims[2]; ++c) {
                const float av = a[(size_t)y * bc->a_strides[0] + (size_t)x * bc->a_strides[1] + (size_t)c * bc->a_strides[2]];
                const float bv = b[(size_t)y * bc->b_strides[0] + (size_t)x * bc->b_strides[1] + (size_t)c * bc->b_strides[2]];
                out[k++] = ec_clamp_f32(av * bv, lo, hi);
            }
        }
    }
}

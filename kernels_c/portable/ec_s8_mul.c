/* ec_s8_mul: TFLite int8 MUL with broadcasting (formula in ec_s8.h). In-place safe when `out`
 * is an operand that is not broadcast. */
#include "ec_s8.h"

void ec_s8_mul(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
               const ec_s8_mul_params_t *p, int8_t *out)
{
    int32_t y, x, c;
    size_t k = 0;
    for (y = 0; y < bc->dims[0]; ++y) {
        for (x = 0; x < bc->dims[1]; ++x) {
            const int8_t *ar = a + (size_t)y * bc->a_strides[0] + (size_t)x * bc->a_strides[1];
            const int8_t *br = b + (size_t)y * bc->b_strides[0] + (size_t)x * bc->b_strides[1];
            for (c = 0; c < bc->dims[2]; ++c) {
                const int32_t av = (int32_t)ar[(size_t)c * bc->a_strides[2]] + p->a_offset;
                const int32_t bv = (int32_t)br[(size_t)c * bc->b_strides[2]] + p->b_offset;
                const int32_t v = ec_requantize(av * bv, p->out_mult, p->out_shift) + p->out_zp;
                out[k++] = (int8_t)ec_clamp_i32(v, p->act_min, p->act_max);
            }
        }
    }
}

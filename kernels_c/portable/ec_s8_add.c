/* ec_s8_add: TFLite int8 ADD with broadcasting (formula in ec_s8.h). In-place safe when `out`
 * is an operand that is not broadcast.
 *
 * Each input's rescaled value a' = ec_requantize((a + a_offset) << left_shift, a_mult, a_shift)
 * depends on the 8-bit code only: both are tabulated once per call (256 entries each), leaving
 * one requantization per output element. The values are those of the formula, so the result is
 * unchanged. */
#include "ec_s8.h"

void ec_s8_add(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
               const ec_s8_add_params_t *p, int8_t *out)
{
    int32_t table_a[256];
    int32_t table_b[256];
    int32_t y, x, c, v;
    size_t k = 0;
    for (v = -128; v < 128; ++v) {
        table_a[v + 128] = ec_requantize((v + p->a_offset) * (1 << p->left_shift), p->a_mult, p->a_shift);
        table_b[v + 128] = ec_requantize((v + p->b_offset) * (1 << p->left_shift), p->b_mult, p->b_shift);
    }
    for (y = 0; y < bc->dims[0]; ++y) {
        for (x = 0; x < bc->dims[1]; ++x) {
            const int8_t *ar = a + (size_t)y * bc->a_strides[0] + (size_t)x * bc->a_strides[1];
            const int8_t *br = b + (size_t)y * bc->b_strides[0] + (size_t)x * bc->b_strides[1];
            for (c = 0; c < bc->dims[2]; ++c) {
                const int32_t sum = table_a[(int32_t)ar[(size_t)c * bc->a_strides[2]] + 128]
                                    + table_b[(int32_t)br[(size_t)c * bc->b_strides[2]] + 128];
                const int32_t r = ec_requantize(sum, p->out_mult, p->out_shift) + p->out_zp;
                out[k++] = (int8_t)ec_clamp_i32(r, p->act_min, p->act_max);
            }
        }
    }
}

/* ec_s8_add_affine.h: what the SIMD ADD kernels (kernels_c/x86, kernels_c/arm) share about the
 * affine step of ec_s8_add_params_t (ec_s8.h): when they may run it, and the step of one element.
 *
 * The step, with A = a_hi * 2^15 + a_lo and B, C alike (0 <= a_lo < 2^15: every half is int16),
 *     floor((A a + B b + C) / 2^S) = (hi + c_hi + ((lo + c_lo) >> 15)) >> (S - 15),
 *     hi = a a_hi + b b_hi,  lo = a a_lo + b b_lo,
 * is exact in int32 with arithmetic shifts (each a floor division by a power of two):
 * |hi|, |lo| <= 2^23 and the generator (backends/c/add_affine.py) leaves c_hi room in int32 and
 * checks the step on all 65536 pairs of codes. Included only by the ADD kernel files. */
#ifndef EC_S8_ADD_AFFINE_H
#define EC_S8_ADD_AFFINE_H

#include "ec_s8.h"

/* Whether both operands are dense tensors of the output's shape (no broadcast; the strides of
 * size-1 dims do not matter): the affine loops run over the flat tensors. */
EC_INLINE int ec_add_operands_dense(const ec_broadcast_t *bc)
{
    const int32_t *dims = bc->dims;
    const int32_t *strides[2];
    int k;
    strides[0] = bc->a_strides;
    strides[1] = bc->b_strides;
    for (k = 0; k < 2; ++k) {
        if (!((dims[2] == 1 || strides[k][2] == 1) && (dims[1] == 1 || strides[k][1] == dims[2])
              && (dims[0] == 1 || strides[k][0] == dims[1] * dims[2]))) {
            return 0;
        }
    }
    return 1;
}

/* The affine step of one element, in the int32 steps of the vector loops. */
EC_INLINE int8_t ec_add_affine_code(int32_t a, int32_t b, const ec_s8_add_params_t *p)
{
    const int32_t high = a * p->affine_a_hi + b * p->affine_b_hi, low = a * p->affine_a_lo + b * p->affine_b_lo;
    const int32_t floor15 = high + p->affine_c_hi + ((low + p->affine_c_lo) >> 15);
    return (int8_t)ec_clamp_i32(floor15 >> (p->affine_shift - 15), p->act_min, p->act_max);
}

#endif /* EC_S8_ADD_AFFINE_H */

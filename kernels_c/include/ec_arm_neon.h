/* edgeconv NEON helpers shared by the kernels in kernels_c/arm/ (AArch64, and ARMv7 with NEON).
 *
 * int8 dot products: x and w are widened to int16, the input zero point is subtracted in int16
 * (x - zp lies in [-255, 255]), and vmlal_s16 accumulates the exact int16 x int16 products into
 * int32 lanes; the result equals the portable scalar sum. Only intrinsics common to AArch32 and
 * AArch64 are used. (The vector requantization is in ec_arm_requant.h.) */
#ifndef EC_ARM_NEON_H
#define EC_ARM_NEON_H

#include <arm_neon.h>

#include "ec_common.h"

EC_INLINE int32_t ec_neon_hsum(int32x4_t v)
{
    const int32x2_t s = vadd_s32(vget_low_s32(v), vget_high_s32(v));
    return vget_lane_s32(vpadd_s32(s, s), 0);
}

/* Adds sum over 8 elements of x16 * w (w 8 int8 values widened) to acc. */
EC_INLINE int32x4_t ec_neon_mac8(int32x4_t acc, int16x8_t x16, const int8_t *w)
{
    const int16x8_t w16 = vmovl_s8(vld1_s8(w));
    acc = vmlal_s16(acc, vget_low_s16(x16), vget_low_s16(w16));
    return vmlal_s16(acc, vget_high_s16(x16), vget_high_s16(w16));
}

/* acc[j] += sum_{i<n} (x[i] - zp) * w_j[i] for four weight rows w_j = w + j * w_stride. */
EC_INLINE void ec_neon_dot4_s8(const int8_t *x, const int8_t *w, size_t w_stride, int32_t n, int32_t zp,
                               int32_t acc[4])
{
    const int16x8_t vzp = vdupq_n_s16((int16_t)zp);
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    int32_t i = 0;
    int j;
    for (; i + 8 <= n; i += 8) {
        const int16x8_t x16 = vsubq_s16(vmovl_s8(vld1_s8(x + i)), vzp);
        a0 = ec_neon_mac8(a0, x16, w + i);
        a1 = ec_neon_mac8(a1, x16, w + w_stride + i);
        a2 = ec_neon_mac8(a2, x16, w + 2 * w_stride + i);
        a3 = ec_neon_mac8(a3, x16, w + 3 * w_stride + i);
    }
    acc[0] += ec_neon_hsum(a0);
    acc[1] += ec_neon_hsum(a1);
    acc[2] += ec_neon_hsum(a2);
    acc[3] += ec_neon_hsum(a3);
    for (; i < n; ++i) {
        const int32_t xi = (int32_t)x[i] - zp;
        for (j = 0; j < 4; ++j) {
            acc[j] += xi * (int32_t)w[(size_t)j * w_stride + (size_t)i];
        }
    }
}

/* sum_{i<n} (x[i] - zp) * w[i]. */
EC_INLINE int32_t ec_neon_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t zp)
{
    const int16x8_t vzp = vdupq_n_s16((int16_t)zp);
    int32x4_t a = vdupq_n_s32(0);
    int32_t i = 0;
    int32_t acc;
    for (; i + 8 <= n; i += 8) {
        a = ec_neon_mac8(a, vsubq_s16(vmovl_s8(vld1_s8(x + i)), vzp), w + i);
    }
    acc = ec_neon_hsum(a);
    for (; i < n; ++i) {
        acc += ((int32_t)x[i] - zp) * (int32_t)w[i];
    }
    return acc;
}

#endif /* EC_ARM_NEON_H */

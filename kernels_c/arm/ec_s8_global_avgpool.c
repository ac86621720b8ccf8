/* ec_s8_global_avgpool, NEON: TFLite int8 MEAN over H and W (ec_s8.h) on 16 channels at a time:
 * acc = sum_p x[p] - hw * in_zp in int32 lanes (equal to sum_p (x[p] - in_zp)), then the exact
 * vector requantization (ec_arm_requant.h), zero point and clamp.
 * Bit-exact with portable/ec_s8_global_avgpool.c. */
#include "ec_s8.h"
#include "ec_arm_requant.h"

void ec_s8_global_avgpool(const int8_t *in, int32_t hw, int32_t c, int32_t mult, int32_t shift,
                          const ec_qparams_t *q, int8_t *out)
{
    const ec_neon_rq_t rq = ec_neon_rq_set1(mult, shift);
    const int32x4_t zp = vdupq_n_s32(q->out_zp);
    const int8x16_t lo = vdupq_n_s8((int8_t)q->act_min), hi = vdupq_n_s8((int8_t)q->act_max);
    int32_t c0, p;
    int j;
    for (c0 = 0; c0 < c; c0 += 16) {
        const int32_t n = c - c0 < 16 ? c - c0 : 16;
        int32x4_t acc[4];
        acc[0] = acc[1] = acc[2] = acc[3] = vdupq_n_s32(-hw * q->in_zp);
        for (p = 0; p < hw; ++p) {
            const int8x16_t x = ec_neon_load16(in + (size_t)p * c + c0, n);
            const int16x8_t xl = vmovl_s8(vget_low_s8(x)), xh = vmovl_s8(vget_high_s8(x));
            acc[0] = vaddw_s16(acc[0], vget_low_s16(xl));
            acc[1] = vaddw_s16(acc[1], vget_high_s16(xl));
            acc[2] = vaddw_s16(acc[2], vget_low_s16(xh));
            acc[3] = vaddw_s16(acc[3], vget_high_s16(xh));
        }
        for (j = 0; j < 4; ++j) {
            acc[j] = vaddq_s32(ec_neon_requantize(acc[j], &rq), zp);
        }
        ec_neon_store16(out + c0, ec_neon_narrow16(acc[0], acc[1], acc[2], acc[3], lo, hi), n);
    }
}

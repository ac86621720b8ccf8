/* edgeconv NEON requantization and lane helpers for the int8 kernels in kernels_c/arm/ (AArch64,
 * and ARMv7 with NEON: only intrinsics common to both unless guarded by __aarch64__).
 *
 * Exact vector requantization (TFLite MultiplyByQuantizedMultiplier, ec_requantize in ec_common.h),
 * the arithmetic of gemmlowp's NEON fixed-point routines (gemmlowp, fixedpoint/fixedpoint_neon.h):
 *   1. x << max(shift, 0): SSHL by a non-negative count drops the bits shifted out, the wrapping
 *      shift of ec_requantize;
 *   2. SQRDMULH(x, m) = saturate((2 x m + 2^31) >> 32) = floor((x m + 2^30) / 2^31), which equals
 *      the truncating srdhm of ec_common.h for every x, m (ec_x86_dw.h derives it), and saturates
 *      at the same single point, x = m = INT32_MIN;
 *   3. the rounding right shift by e = max(-shift, 0): SRSHL by -e computes (h + 2^(e-1)) >> e with
 *      no overflow, rounding halves upward; subtracting 1 from a negative h first (saturating,
 *      only for e > 0: the sign bit of h & -e) turns that into rounding halves away from zero,
 *      gemmlowp's RoundingDivideByPOT. At h = INT32_MIN the saturated h - 1 is h itself, which
 *      lies on no rounding tie, so the result is unchanged.
 * tests/kernels/test_arm_parity.py checks it against ec_requantize over the int32 and shift ends. */
#ifndef EC_ARM_REQUANT_H
#define EC_ARM_REQUANT_H

#include <arm_neon.h>
#include <string.h>

#include "ec_common.h"

/* Per-lane constants of one requantization: left shift, multiplier, minus the right shift. */
typedef struct {
    int32x4_t left, mult, right;
} ec_neon_rq_t;

EC_FORCE_INLINE ec_neon_rq_t ec_neon_rq_make(int32x4_t mult, int32x4_t shift)
{
    ec_neon_rq_t r;
    r.left = vmaxq_s32(shift, vdupq_n_s32(0));
    r.right = vminq_s32(shift, vdupq_n_s32(0));
    r.mult = mult;
    return r;
}

EC_FORCE_INLINE ec_neon_rq_t ec_neon_rq_set1(int32_t mult, int32_t shift)
{
    return ec_neon_rq_make(vdupq_n_s32(mult), vdupq_n_s32(shift));
}

/* The rounding right shift (step 3) alone. */
EC_FORCE_INLINE int32x4_t ec_neon_rounding_shift(int32x4_t h, int32x4_t right)
{
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(h, right), 31);
    return vrshlq_s32(vqaddq_s32(h, fixup), right);
}

/* Four lanes of ec_requantize(x, mult, shift), exactly. */
EC_FORCE_INLINE int32x4_t ec_neon_requantize(int32x4_t x, const ec_neon_rq_t *r)
{
    return ec_neon_rounding_shift(vqrdmulhq_s32(vshlq_s32(x, r->left), r->mult), r->right);
}

/* ec_neon_requantize for constants whose every lane shifts right (shift <= -1) with a multiplier
 * m >= 0 (TFLite's multipliers lie in [2^30, 2^31)): no left shift, and h = SQRDMULH(x, m) >=
 * floor((-2^31 (2^31 - 1) + 2^30) / 2^31) = -(2^31 - 1), so h - 1 for a negative h, added by one
 * SSRA of h's sign, cannot wrap and equals step 3's saturating fix-up (e > 0 in every lane). */
EC_FORCE_INLINE int32x4_t ec_neon_requantize_right(int32x4_t x, const ec_neon_rq_t *r)
{
    const int32x4_t h = vqrdmulhq_s32(x, r->mult);
    return vrshlq_s32(vsraq_n_s32(h, h, 31), r->right);
}

/* ec_neon_requantize_right without the fix-up for negative h: where h >= 0 it is ec_requantize;
 * where h < 0 both are <= 0 (VRSHL adds 2^(e-1) < 2^e before the shift). So an output stage that
 * clamps every result <= 0 to act_min (act_min >= out_zp: ReLU, ReLU6) writes the same bytes with
 * either. */
EC_FORCE_INLINE int32x4_t ec_neon_requantize_floored(int32x4_t x, const ec_neon_rq_t *r)
{
    return vrshlq_s32(vqrdmulhq_s32(x, r->mult), r->right);
}

/* Whether ec_neon_requantize_right serves every lane of the n constants rq[0..n-1]. */
EC_INLINE int ec_neon_rq_right_only(const ec_neon_rq_t *rq, int n)
{
    int32_t right[4], mult[4];
    int i, j, ok = 1;
    for (i = 0; i < n; ++i) {
        vst1q_s32(right, rq[i].right);
        vst1q_s32(mult, rq[i].mult);
        for (j = 0; j < 4; ++j) {
            ok &= right[j] < 0 && mult[j] >= 0;
        }
    }
    return ok;
}

/* How a block of channels requantizes (a constant where inlined, chosen once per block): exactly
 * (ec_neon_requantize), the short form where every lane shifts right (ec_neon_requantize_right),
 * and that without its fix-up where the clamp also floors every result <= 0 (act_min >= out_zp:
 * ec_neon_requantize_floored). */
#define EC_NEON_RQ_EXACT 0
#define EC_NEON_RQ_RIGHT 1
#define EC_NEON_RQ_FLOORED 2

EC_INLINE int ec_neon_rq_mode(const ec_neon_rq_t *rq, int n, const ec_qparams_t *q)
{
    if (!ec_neon_rq_right_only(rq, n)) {
        return EC_NEON_RQ_EXACT;
    }
    return q->act_min >= q->out_zp ? EC_NEON_RQ_FLOORED : EC_NEON_RQ_RIGHT;
}

EC_FORCE_INLINE int32x4_t ec_neon_requantize_as(int32x4_t x, const ec_neon_rq_t *r, const int mode)
{
    if (mode == EC_NEON_RQ_FLOORED) {
        return ec_neon_requantize_floored(x, r);
    }
    return mode == EC_NEON_RQ_RIGHT ? ec_neon_requantize_right(x, r) : ec_neon_requantize(x, r);
}

/* The n <= 16 int8 values at p in the first lanes, zero above: a full vector load for n = 16,
 * else a copy that reads nothing beyond p[n - 1]. */
EC_FORCE_INLINE int8x16_t ec_neon_load16(const int8_t *p, int32_t n)
{
    int8_t buf[16] = {0};
    if (n >= 16) {
        return vld1q_s8(p);
    }
    memcpy(buf, p, (size_t)n);
    return vld1q_s8(buf);
}

/* The first n <= 16 lanes of v stored at p, nothing beyond. */
EC_FORCE_INLINE void ec_neon_store16(int8_t *p, int8x16_t v, int32_t n)
{
    int8_t buf[16];
    if (n >= 16) {
        vst1q_s8(p, v);
        return;
    }
    vst1q_s8(buf, v);
    memcpy(p, buf, (size_t)n);
}

/* n <= 4 int32 values at p in the first lanes, `fill` above. */
EC_FORCE_INLINE int32x4_t ec_neon_load4_s32(const int32_t *p, int32_t n, int32_t fill)
{
    int32_t buf[4];
    int32_t i;
    if (n >= 4) {
        return vld1q_s32(p);
    }
    for (i = 0; i < 4; ++i) {
        buf[i] = i < n ? p[i] : fill;
    }
    return vld1q_s32(buf);
}

/* Sixteen int32 lanes to int8 with saturation, then clamped to [lo, hi] (within int8, so the
 * saturating narrowing changes nothing the clamp keeps). */
EC_FORCE_INLINE int8x16_t ec_neon_narrow16(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3, int8x16_t lo,
                                           int8x16_t hi)
{
    const int16x8_t a = vcombine_s16(vqmovn_s32(v0), vqmovn_s32(v1));
    const int16x8_t b = vcombine_s16(vqmovn_s32(v2), vqmovn_s32(v3));
    return vminq_s8(vmaxq_s8(vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)), lo), hi);
}

/* Sixteen int8 lanes widened to four int32 vectors (lanes 0-3, 4-7, 8-11, 12-15). */
typedef struct {
    int32x4_t v[4];
} ec_neon_s32x16_t;

EC_FORCE_INLINE ec_neon_s32x16_t ec_neon_widen16(int8x16_t x)
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(x)), hi = vmovl_s8(vget_high_s8(x));
    ec_neon_s32x16_t r;
    r.v[0] = vmovl_s16(vget_low_s16(lo));
    r.v[1] = vmovl_s16(vget_high_s16(lo));
    r.v[2] = vmovl_s16(vget_low_s16(hi));
    r.v[3] = vmovl_s16(vget_high_s16(hi));
    return r;
}

/* Four lanes of one block: ec_requantize with the multipliers and shifts of `left` channels from
 * mult and shift (left < 4: the lanes above take 0 and are garbage), then + zp. */
EC_FORCE_INLINE int32x4_t ec_neon_requantize_part(int32x4_t acc, const int32_t *mult, const int32_t *shift,
                                                  int32_t left, int32x4_t zp)
{
    const ec_neon_rq_t rq = ec_neon_rq_make(ec_neon_load4_s32(mult, left, 0), ec_neon_load4_s32(shift, left, 0));
    return vaddq_s32(ec_neon_requantize(acc, &rq), zp);
}

/* Per-channel requantization of 16 accumulators for channels c0 .. c0 + n - 1 (n <= 16): the
 * channels' multipliers and shifts, then + out_zp and the clamp; lanes beyond n are garbage. */
EC_FORCE_INLINE int8x16_t ec_neon_requantize16(const int32x4_t acc[4], const int32_t *mult, const int32_t *shift,
                                               int32_t n, int32_t out_zp, int8x16_t lo, int8x16_t hi)
{
    const int32x4_t zp = vdupq_n_s32(out_zp);
    if (n >= 16) { /* one branch-free block: the four chains overlap */
        const ec_neon_rq_t r0 = ec_neon_rq_make(vld1q_s32(mult), vld1q_s32(shift));
        const ec_neon_rq_t r1 = ec_neon_rq_make(vld1q_s32(mult + 4), vld1q_s32(shift + 4));
        const ec_neon_rq_t r2 = ec_neon_rq_make(vld1q_s32(mult + 8), vld1q_s32(shift + 8));
        const ec_neon_rq_t r3 = ec_neon_rq_make(vld1q_s32(mult + 12), vld1q_s32(shift + 12));
        return ec_neon_narrow16(vaddq_s32(ec_neon_requantize(acc[0], &r0), zp), vaddq_s32(ec_neon_requantize(acc[1], &r1), zp),
                                vaddq_s32(ec_neon_requantize(acc[2], &r2), zp), vaddq_s32(ec_neon_requantize(acc[3], &r3), zp),
                                lo, hi);
    }
    return ec_neon_narrow16(ec_neon_requantize_part(acc[0], mult, shift, n, zp),
                            ec_neon_requantize_part(acc[1], mult + 4, shift + 4, n - 4, zp),
                            ec_neon_requantize_part(acc[2], mult + 8, shift + 8, n - 8, zp),
                            ec_neon_requantize_part(acc[3], mult + 12, shift + 12, n - 12, zp), lo, hi);
}

#endif /* EC_ARM_REQUANT_H */

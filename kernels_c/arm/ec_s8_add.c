/* ec_s8_add, NEON: TFLite int8 ADD (ec_s8.h) on 16 channels at a time, every step in int32 lanes
 * with the exact vector requantization of ec_arm_requant.h:
 *   a' = requant((a + a_offset) << left_shift, a_mult, a_shift), b' likewise,
 *   out = clamp(requant(a' + b', out_mult, out_shift) + out_zp, act_min, act_max).
 * The shift wraps as ec_requantize's does; |a + a_offset| <= 255 with TFLite's left_shift of 20
 * keeps it exact. An operand broadcast along channels (channel stride 0) is one value repeated;
 * other channel strides take the scalar formula.
 * Where the generator found the layer's affine step (affine_shift > 0, ec_s8.h) and both operands
 * are dense, that step runs instead (ec_s8_add_affine.h): per 4 elements, SMLAL of the int16 codes
 * by the int16 halves of A and B onto C's halves, one SSRA (hi + (lo >> 15)) and an arithmetic
 * shift; four widening multiplies per element instead of three requantizations.
 * Bit-exact with portable/ec_s8_add.c, in-place safe like it. */
#include "ec_s8.h"
#include "ec_s8_add_affine.h"
#include "ec_arm_requant.h"

/* n channels of an operand row: contiguous (stride 1) or one repeated value (stride 0). */
static int8x16_t operand(const int8_t *row, int32_t stride, int32_t c, int32_t n)
{
    return stride ? ec_neon_load16(row + c, n) : vdupq_n_s8(row[0]);
}

/* The input rescaling of one operand, four int32 lanes. */
static int32x4_t rescale(int32x4_t code, int32x4_t offset, int32x4_t left_shift, const ec_neon_rq_t *rq)
{
    return ec_neon_requantize(vshlq_s32(vaddq_s32(code, offset), left_shift), rq);
}

/* The affine step of 4 elements (int16 codes a, b; k holds a_hi, b_hi, a_lo, b_lo):
 * (c_hi + a a_hi + b b_hi + ((c_lo + a a_lo + b b_lo) >> 15)) >> (S - 15), vshlq_s32 by -(S - 15)
 * being the arithmetic right shift. */
EC_FORCE_INLINE int32x4_t affine4(int16x4_t a, int16x4_t b, int16x4_t k, int32x4_t c_hi, int32x4_t c_lo, int32x4_t rest)
{
    const int32x4_t hi = vmlal_lane_s16(vmlal_lane_s16(c_hi, a, k, 0), b, k, 1);
    const int32x4_t lo = vmlal_lane_s16(vmlal_lane_s16(c_lo, a, k, 2), b, k, 3);
    return vshlq_s32(vsraq_n_s32(hi, lo, 15), rest);
}

/* Dense operands of `total` elements, 16 a step; the last total % 16 one at a time. A function of
 * its own, its constants in registers for the whole loop. */
EC_NOINLINE void add_affine(const int8_t *a, const int8_t *b, int32_t total, const ec_s8_add_params_t *p,
                            int8_t *out)
{
    const int16_t halves[4] = {(int16_t)p->affine_a_hi, (int16_t)p->affine_b_hi, (int16_t)p->affine_a_lo,
                               (int16_t)p->affine_b_lo};
    const int16x4_t k = vld1_s16(halves);
    const int32x4_t c_hi = vdupq_n_s32(p->affine_c_hi), c_lo = vdupq_n_s32(p->affine_c_lo);
    const int32x4_t rest = vdupq_n_s32(15 - p->affine_shift);
    const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
    int32_t i;
    for (i = 0; i + 16 <= total; i += 16) {
        const int8x16_t va = vld1q_s8(a + i), vb = vld1q_s8(b + i);
        const int16x8_t a0 = vmovl_s8(vget_low_s8(va)), a1 = vmovl_s8(vget_high_s8(va));
        const int16x8_t b0 = vmovl_s8(vget_low_s8(vb)), b1 = vmovl_s8(vget_high_s8(vb));
        vst1q_s8(out + i, ec_neon_narrow16(affine4(vget_low_s16(a0), vget_low_s16(b0), k, c_hi, c_lo, rest),
                                           affine4(vget_high_s16(a0), vget_high_s16(b0), k, c_hi, c_lo, rest),
                                           affine4(vget_low_s16(a1), vget_low_s16(b1), k, c_hi, c_lo, rest),
                                           affine4(vget_high_s16(a1), vget_high_s16(b1), k, c_hi, c_lo, rest), lo, hi));
    }
    for (; i < total; ++i) {
        out[i] = ec_add_affine_code(a[i], b[i], p);
    }
}

static void add_scalar_strides(const int8_t *ar, const int8_t *br, const ec_broadcast_t *bc,
                               const ec_s8_add_params_t *p, int8_t *o)
{
    int32_t c;
    for (c = 0; c < bc->dims[2]; ++c) {
        const int32_t a = ec_requantize((ar[(size_t)c * bc->a_strides[2]] + p->a_offset) * (1 << p->left_shift),
                                        p->a_mult, p->a_shift);
        const int32_t b = ec_requantize((br[(size_t)c * bc->b_strides[2]] + p->b_offset) * (1 << p->left_shift),
                                        p->b_mult, p->b_shift);
        o[c] = (int8_t)ec_clamp_i32(ec_requantize(a + b, p->out_mult, p->out_shift) + p->out_zp, p->act_min,
                                    p->act_max);
    }
}

/* The TFLite formula (above), 16 channels a step. */
static void add_requantized(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
                            const ec_s8_add_params_t *p, int8_t *out)
{
    const ec_neon_rq_t rq_a = ec_neon_rq_set1(p->a_mult, p->a_shift), rq_b = ec_neon_rq_set1(p->b_mult, p->b_shift);
    const ec_neon_rq_t rq_out = ec_neon_rq_set1(p->out_mult, p->out_shift);
    const int32x4_t off_a = vdupq_n_s32(p->a_offset), off_b = vdupq_n_s32(p->b_offset);
    const int32x4_t left = vdupq_n_s32(p->left_shift), zp = vdupq_n_s32(p->out_zp);
    const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
    const int32_t sa = bc->a_strides[2], sb = bc->b_strides[2], channels = bc->dims[2];
    const int vector = (sa == 0 || sa == 1) && (sb == 0 || sb == 1);
    int32_t y, x, c;
    int j;
    for (y = 0; y < bc->dims[0]; ++y) {
        for (x = 0; x < bc->dims[1]; ++x) {
            const int8_t *ar = a + (size_t)y * bc->a_strides[0] + (size_t)x * bc->a_strides[1];
            const int8_t *br = b + (size_t)y * bc->b_strides[0] + (size_t)x * bc->b_strides[1];
            int8_t *o = out + ((size_t)y * bc->dims[1] + x) * channels;
            if (!vector) {
                add_scalar_strides(ar, br, bc, p, o);
                continue;
            }
            for (c = 0; c < channels; c += 16) {
                const int32_t n = channels - c < 16 ? channels - c : 16;
                const ec_neon_s32x16_t va = ec_neon_widen16(operand(ar, sa, c, n));
                const ec_neon_s32x16_t vb = ec_neon_widen16(operand(br, sb, c, n));
                int32x4_t r[4];
                for (j = 0; j < 4; ++j) {
                    const int32x4_t sum = vaddq_s32(rescale(va.v[j], off_a, left, &rq_a), rescale(vb.v[j], off_b, left, &rq_b));
                    r[j] = vaddq_s32(ec_neon_requantize(sum, &rq_out), zp);
                }
                ec_neon_store16(o + c, ec_neon_narrow16(r[0], r[1], r[2], r[3], lo, hi), n);
            }
        }
    }
}

void ec_s8_add(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
               const ec_s8_add_params_t *p, int8_t *out)
{
    if (p->affine_shift > 0 && ec_add_operands_dense(bc)) {
        add_affine(a, b, bc->dims[0] * bc->dims[1] * bc->dims[2], p, out);
    } else {
        add_requantized(a, b, bc, p, out);
    }
}

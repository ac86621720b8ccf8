/* ec_s8_mul, NEON: TFLite int8 MUL (ec_s8.h) on 16 channels at a time:
 *   out = clamp(requant((a + a_offset) * (b + b_offset), out_mult, out_shift) + out_zp, lo, hi),
 * the product exact in int32 lanes (|factors| <= 255), the requantization exact (ec_arm_requant.h).
 * An operand broadcast along channels (channel stride 0) is one value repeated; other channel
 * strides take the scalar formula. Bit-exact with portable/ec_s8_mul.c, in-place safe like it. */
#include "ec_s8.h"
#include "ec_arm_requant.h"

static int8x16_t operand(const int8_t *row, int32_t stride, int32_t c, int32_t n)
{
    return stride ? ec_neon_load16(row + c, n) : vdupq_n_s8(row[0]);
}

static void mul_scalar_strides(const int8_t *ar, const int8_t *br, const ec_broadcast_t *bc,
                               const ec_s8_mul_params_t *p, int8_t *o)
{
    int32_t c;
    for (c = 0; c < bc->dims[2]; ++c) {
        const int32_t av = (int32_t)ar[(size_t)c * bc->a_strides[2]] + p->a_offset;
        const int32_t bv = (int32_t)br[(size_t)c * bc->b_strides[2]] + p->b_offset;
        o[c] = (int8_t)ec_clamp_i32(ec_requantize(av * bv, p->out_mult, p->out_shift) + p->out_zp, p->act_min,
                                    p->act_max);
    }
}

void ec_s8_mul(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
               const ec_s8_mul_params_t *p, int8_t *out)
{
    const ec_neon_rq_t rq = ec_neon_rq_set1(p->out_mult, p->out_shift);
    const int32x4_t off_a = vdupq_n_s32(p->a_offset), off_b = vdupq_n_s32(p->b_offset), zp = vdupq_n_s32(p->out_zp);
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
                mul_scalar_strides(ar, br, bc, p, o);
                continue;
            }
            for (c = 0; c < channels; c += 16) {
                const int32_t n = channels - c < 16 ? channels - c : 16;
                const ec_neon_s32x16_t va = ec_neon_widen16(operand(ar, sa, c, n));
                const ec_neon_s32x16_t vb = ec_neon_widen16(operand(br, sb, c, n));
                int32x4_t r[4];
                for (j = 0; j < 4; ++j) {
                    const int32x4_t prod = vmulq_s32(vaddq_s32(va.v[j], off_a), vaddq_s32(vb.v[j], off_b));
                    r[j] = vaddq_s32(ec_neon_requantize(prod, &rq), zp);
                }
                ec_neon_store16(o + c, ec_neon_narrow16(r[0], r[1], r[2], r[3], lo, hi), n);
            }
        }
    }
}

/* ec_s8_mul, x86: TFLite int8 MUL (ec_s8.h) on EC_X86_LANES channels at a time:
 *   out = clamp(requant((a + a_offset) * (b + b_offset), out_mult, out_shift) + out_zp, lo, hi),
 * the product exact in int32 (|factors| <= 255), the requantization exact (ec_x86_dw.h). An
 * operand broadcast along channels (channel stride 0) is one value repeated.
 * Bit-exact with portable/ec_s8_mul.c; in-place safe like it. */
#include "ec_s8.h"
#include "ec_x86_dw.h"

static ec_x86_vec_t operand(const int8_t *row, int32_t stride, int32_t c, int32_t n)
{
    return stride ? ec_x86_load_s8(row + c, n) : ec_x86_set1(row[0]);
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
    const ec_x86_rq_t rq = ec_x86_rq_set1(p->out_mult, p->out_shift);
    const int32_t sa = bc->a_strides[2], sb = bc->b_strides[2], channels = bc->dims[2];
    const int vector = (sa == 0 || sa == 1) && (sb == 0 || sb == 1);
    int32_t y, x, c;
    for (y = 0; y < bc->dims[0]; ++y) {
        for (x = 0; x < bc->dims[1]; ++x) {
            const int8_t *ar = a + (size_t)y * bc->a_strides[0] + (size_t)x * bc->a_strides[1];
            const int8_t *br = b + (size_t)y * bc->b_strides[0] + (size_t)x * bc->b_strides[1];
            int8_t *o = out + ((size_t)y * bc->dims[1] + x) * channels;
            if (!vector) {
                mul_scalar_strides(ar, br, bc, p, o);
                continue;
            }
            for (c = 0; c < channels; c += EC_X86_LANES) {
                const int32_t n = channels - c < EC_X86_LANES ? channels - c : EC_X86_LANES;
                const ec_x86_vec_t va = ec_x86_add(operand(ar, sa, c, n), ec_x86_set1(p->a_offset));
                const ec_x86_vec_t vb = ec_x86_add(operand(br, sb, c, n), ec_x86_set1(p->b_offset));
                const ec_x86_vec_t r = ec_x86_add(ec_x86_requantize(ec_x86_mullo(va, vb), &rq), ec_x86_set1(p->out_zp));
                ec_x86_store_s8(o + c, ec_x86_clamp(r, p->act_min, p->act_max), n);
            }
        }
    }
}

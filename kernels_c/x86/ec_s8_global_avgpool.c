/* ec_s8_global_avgpool, x86: TFLite int8 MEAN over H and W (ec_s8.h) on EC_X86_LANES channels at
 * a time: acc = sum_p x[p] - hw * in_zp in int32 lanes (equal to sum_p (x[p] - in_zp)), then the
 * exact vector requantization (ec_x86_dw.h), zero point and clamp.
 * Bit-exact with portable/ec_s8_global_avgpool.c. */
#include "ec_s8.h"
#include "ec_x86_dw.h"

void ec_s8_global_avgpool(const int8_t *in, int32_t hw, int32_t c, int32_t mult, int32_t shift,
                          const ec_qparams_t *q, int8_t *out)
{
    const ec_x86_rq_t rq = ec_x86_rq_set1(mult, shift);
    int32_t c0, p;
    for (c0 = 0; c0 < c; c0 += EC_X86_LANES) {
        const int32_t n = c - c0 < EC_X86_LANES ? c - c0 : EC_X86_LANES;
        ec_x86_vec_t acc = ec_x86_set1(-hw * q->in_zp);
        for (p = 0; p < hw; ++p) {
            acc = ec_x86_add(acc, ec_x86_load_s8(in + (size_t)p * c + c0, n));
        }
        acc = ec_x86_add(ec_x86_requantize(acc, &rq), ec_x86_set1(q->out_zp));
        ec_x86_store_s8(out + c0, ec_x86_clamp(acc, q->act_min, q->act_max), n);
    }
}

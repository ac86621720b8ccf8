/* ec_s8_fully_connected: int8 fully connected layer, formula in ec_s8.h (per-channel multipliers;
 * a per-tensor layer repeats its one multiplier). */
#include "ec_s8.h"

void ec_s8_fully_connected(const int8_t *in, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, int32_t in_n, int32_t out_n,
                           const ec_qparams_t *q, int8_t *out)
{
    int32_t o, i;
    for (o = 0; o < out_n; ++o) {
        const int8_t *wo = w + (size_t)o * in_n;
        int32_t acc = bias ? bias[o] : 0;
        for (i = 0; i < in_n; ++i) {
            acc += ((int32_t)in[i] - q->in_zp) * (int32_t)wo[i];
        }
        acc = ec_requantize(acc, mult[o], shift[o]) + q->out_zp;
        out[o] = (int8_t)ec_clamp_i32(acc, q->act_min, q->act_max);
    }
}

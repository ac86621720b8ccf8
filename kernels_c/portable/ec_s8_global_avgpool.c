/* ec_s8_global_avgpool: TFLite int8 MEAN over H and W (formula in ec_s8.h); the
 * division by H*W is folded into mult/shift by the code generator. */
#include "ec_s8.h"

void ec_s8_global_avgpool(const int8_t *in, int32_t hw, int32_t c, int32_t mult, int32_t shift,
                          const ec_qparams_t *q, int8_t *out)
{
    int32_t ch, p;
    for (ch = 0; ch < c; ++ch) {
        int32_t acc = 0;
        for (p = 0; p < hw; ++p) {
            acc += (int32_t)in[(size_t)p * c + ch] - q->in_zp;
        }
        acc = ec_requantize(acc, mult, shift);
        out[ch] = (int8_t)ec_clamp_i32(acc + q->out_zp, q->act_min, q->act_max);
    }
}

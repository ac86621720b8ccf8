/* ec_s8_fully_connected, AVX2: the portable formula (ec_s8.h), four outputs per pass over the
 * input (ec_avx2_dot4_s8), bit-exact with kernels_c/portable/ec_s8_fully_connected.c. */
#include "ec_s8.h"
#include "ec_x86_avx2.h"

void ec_s8_fully_connected(const int8_t *in, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, int32_t in_n, int32_t out_n,
                           const ec_qparams_t *q, int8_t *out)
{
    int32_t o, j;
    for (o = 0; o + 4 <= out_n; o += 4) {
        int32_t acc[4];
        for (j = 0; j < 4; ++j) {
            acc[j] = bias ? bias[o + j] : 0;
        }
        ec_avx2_dot4_s8(in, w + (size_t)o * in_n, (size_t)in_n, in_n, q->in_zp, acc);
        for (j = 0; j < 4; ++j) {
            const int32_t v = ec_requantize(acc[j], mult[o + j], shift[o + j]) + q->out_zp;
            out[o + j] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
        }
    }
    for (; o < out_n; ++o) {
        const int32_t acc = (bias ? bias[o] : 0) + ec_avx2_dot_s8(in, w + (size_t)o * in_n, in_n, q->in_zp);
        const int32_t v = ec_requantize(acc, mult[o], shift[o]) + q->out_zp;
        out[o] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
    }
}

/* ec_s8_fully_connected, NEON: the portable formula (ec_s8.h), four outputs per pass over the
 * input (ec_neon_dot4_s8); bit-exact with kernels_c/portable/ec_s8_fully_connected.c. */
#include "ec_s8.h"
#include "ec_arm_neon.h"

void ec_s8_fully_connected(const int8_t *in, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, int32_t in_n, int32_t out_n,
                           const ec_qparams_t *q, int8_t *out)
{
    int32_t o, j;
    for (o = 0; o < out_n; o += 4) {
        const int32_t n = out_n - o < 4 ? out_n - o : 4;
        int32_t acc[4] = {0, 0, 0, 0};
        if (n == 4) {
            ec_neon_dot4_s8(in, w + (size_t)o * in_n, (size_t)in_n, in_n, q->in_zp, acc);
        } else {
            for (j = 0; j < n; ++j) {
                acc[j] = ec_neon_dot_s8(in, w + (size_t)(o + j) * in_n, in_n, q->in_zp);
            }
        }
        for (j = 0; j < n; ++j) {
            const int32_t v = ec_requantize(acc[j] + (bias ? bias[o + j] : 0), mult[o + j], shift[o + j]) + q->out_zp;
            out[o + j] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
        }
    }
}

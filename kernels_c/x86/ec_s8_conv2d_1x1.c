/* ec_s8_conv2d_1x1, AVX2: the portable formula (ec_s8.h), four output channels per pass over
 * each input pixel (ec_avx2_dot4_s8), bit-exact with kernels_c/portable/ec_s8_conv2d_1x1.c. */
#include "ec_s8.h"
#include "ec_x86_avx2.h"

void ec_s8_conv2d_1x1(const int8_t *in, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                      const ec_qparams_t *q, int8_t *out)
{
    const int32_t pixels = win->out_h * win->out_w;
    const int32_t cin = win->in_c;
    const int32_t cout = win->out_c;
    int32_t p, oc, j;
    for (p = 0; p < pixels; ++p) {
        const int8_t *x = in + (size_t)p * cin;
        int8_t *o = out + (size_t)p * cout;
        for (oc = 0; oc + 4 <= cout; oc += 4) {
            int32_t acc[4];
            for (j = 0; j < 4; ++j) {
                acc[j] = bias ? bias[oc + j] : 0;
            }
            ec_avx2_dot4_s8(x, w + (size_t)oc * cin, (size_t)cin, cin, q->in_zp, acc);
            for (j = 0; j < 4; ++j) {
                const int32_t v = ec_requantize(acc[j], mult[oc + j], shift[oc + j]) + q->out_zp;
                o[oc + j] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
            }
        }
        for (; oc < cout; ++oc) {
            const int32_t acc = (bias ? bias[oc] : 0) + ec_avx2_dot_s8(x, w + (size_t)oc * cin, cin, q->in_zp);
            const int32_t v = ec_requantize(acc, mult[oc], shift[oc]) + q->out_zp;
            o[oc] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
        }
    }
}

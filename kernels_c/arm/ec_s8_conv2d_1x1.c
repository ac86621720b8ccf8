/* ec_s8_conv2d_1x1, NEON: the portable formula (ec_s8.h), four output channels per pass over each
 * input pixel (ec_neon_dot4_s8); bit-exact with kernels_c/portable/ec_s8_conv2d_1x1.c. */
#include "ec_s8.h"
#include "ec_arm_neon.h"

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
        for (oc = 0; oc < cout; oc += 4) {
            const int32_t n = cout - oc < 4 ? cout - oc : 4;
            int32_t acc[4] = {0, 0, 0, 0};
            if (n == 4) {
                ec_neon_dot4_s8(x, w + (size_t)oc * cin, (size_t)cin, cin, q->in_zp, acc);
            } else {
                for (j = 0; j < n; ++j) {
                    acc[j] = ec_neon_dot_s8(x, w + (size_t)(oc + j) * cin, cin, q->in_zp);
                }
            }
            for (j = 0; j < n; ++j) {
                const int32_t v = ec_requantize(acc[j] + (bias ? bias[oc + j] : 0), mult[oc + j], shift[oc + j]) + q->out_zp;
                o[oc + j] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
            }
        }
    }
}

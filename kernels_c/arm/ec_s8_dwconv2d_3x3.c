/* ec_s8_dwconv2d_3x3, NEON: 16 channels at a time with SMLAL on int16 lanes, the nine taps'
 * widened weights kept in registers over the output pixels, exact vector requantization
 * (ec_arm_dw.h). Bit-exact with kernels_c/portable/ec_s8_dwconv2d_3x3.c. */
#include "ec_arm_dw.h"

void ec_s8_dwconv2d_3x3(const int8_t *in, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                        const ec_qparams_t *q, int8_t *out)
{
    ec_dw_multiplier_one(in, w, bias, mult, shift, win, q, out);
}

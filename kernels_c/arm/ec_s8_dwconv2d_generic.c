/* ec_s8_dwconv2d_generic, NEON. Channel multiplier 1: 16 channels at a time with SMLAL on int16
 * lanes and exact vector requantization (ec_arm_dw.h), any kernel, stride, padding and dilation.
 * Other multipliers (output channel o reads input channel o / m) run the portable per-channel
 * loop (ec_s8_dwconv.h). Bit-exact with portable/ec_s8_dwconv2d_generic.c. */
#include "ec_arm_dw.h"
#include "ec_s8_dwconv.h"

void ec_s8_dwconv2d_generic(const int8_t *in, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int8_t *out)
{
    if (win->out_c == win->in_c) {
        ec_dw_multiplier_one(in, w, bias, mult, shift, win, q, out);
    } else {
        ec_s8_dwconv2d_scalar(in, w, bias, mult, shift, win, q, out);
    }
}

/* ec_b1_conv2d_xnor, NEON: output channels in the vector lanes, 16 per block sharing each loaded
 * weight step over a tile of pixels, CNT byte counts added as 8-bit lanes for up to 31 steps before
 * the pairwise widening adds (ec_arm_b1.h). Bit-exact with the portable kernel. */
#define EC_B1_ISA_NEON 1
#include "ec_arm_b1.h"

void ec_b1_conv2d_xnor(const void *in, const uint32_t *w_bits, const int32_t *bias, const int32_t *weight_steps,
                       const int32_t *mult, const int32_t *shift, const int32_t *pop_limits, const ec_window_t *win,
                       const ec_qparams_t *q, int32_t flags, uint32_t *scratch, void *out)
{
    ec_arm_b1_xnor_conv(in, w_bits, bias, weight_steps, mult, shift, pop_limits, win, q, flags, scratch, out);
}

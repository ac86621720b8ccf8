/* ec_b1_conv2d_xnor: XNOR-popcount binary convolution, plain C (one pixel at a time); the algorithm
 * is in ec_b1_xnor.h, the bit order and formula in ec_b1.h. */
#include "ec_b1_xnor.h"

void ec_b1_conv2d_xnor(const void *in, const uint32_t *w_bits, const int32_t *bias, const int32_t *weight_steps,
                       const int32_t *mult, const int32_t *shift, const int32_t *pop_limits, const ec_window_t *win,
                       const ec_qparams_t *q, int32_t flags, uint32_t *scratch, void *out)
{
    ec_b1_xnor_conv(in, w_bits, bias, weight_steps, mult, shift, pop_limits, win, q, flags, scratch, out);
}

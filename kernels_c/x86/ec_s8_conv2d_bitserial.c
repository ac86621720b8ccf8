/* ec_s8_conv2d_bitserial, x86: DoReFa k-bit convolution by bit-plane popcounts, 16 output pixels
 * per AVX-512 vector or 8 per AVX2 vector; the algorithm is in ec_b1_xnor.h, the derivation, bit
 * order and layouts in ec_b1.h. */
#define EC_B1_ISA_X86 1
#include "ec_b1_xnor.h"

void ec_s8_conv2d_bitserial(const int8_t *in, const uint32_t *w_planes, const int32_t *bias,
                            const int32_t *weight_steps, const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int32_t act_bits, int32_t weight_bits,
                            uint32_t *scratch, int8_t *out)
{
    ec_b1_bitserial_conv(in, w_planes, bias, weight_steps, mult, shift, win, q, act_bits, weight_bits, scratch, out);
}

/* ec_b1_conv2d_xnor: XNOR-popcount binary convolution; the algorithm is in ec_b1_xnor.h, the bit
 * order and formula in ec_b1.h. */
#include <stdint.h>

/* Bit c % 32 of word c / 32 set <=> channel c is below the zero point (value -1). */
static void ec_b1_pack_channels(const int8_t *src, int32_t in_c, int32_t zp, uint32_t *dst)
{
    int32_t c;
    for (c = 0; c < in_c; ++c) {
        dst[c / 32] |= (uint32_t)((int32_t)src[c] < zp) << (c % 32);
    }
}

#include "ec_b1_xnor.h"

void ec_b1_conv2d_xnor(const int8_t *in, const uint32_t *w_bits, const int32_t *bias,
                       const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                       const ec_qparams_t *q, uint32_t *scratch, int8_t *out)
{
    ec_b1_xnor_conv(in, w_bits, bias, mult, shift, win, q, scratch, out);
}

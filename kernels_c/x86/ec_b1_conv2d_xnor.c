/* ec_b1_conv2d_xnor, AVX2: the shared algorithm (ec_b1_xnor.h) with the packing step vectorized:
 * 32 channels compared with the zero point at once, _mm256_movemask_epi8 giving exactly the
 * documented bit order (channel c -> bit c % 32 of word c / 32). Bit-exact with the portable
 * kernel. */
#include <stdint.h>

#include "ec_x86_avx2.h"

static void ec_b1_pack_channels(const int8_t *src, int32_t in_c, int32_t zp, uint32_t *dst)
{
    const __m256i vzp = _mm256_set1_epi8((char)zp);
    int32_t c = 0;
    for (; c + 32 <= in_c; c += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(src + c));
        dst[c / 32] = (uint32_t)_mm256_movemask_epi8(_mm256_cmpgt_epi8(vzp, v));
    }
    for (; c < in_c; ++c) {
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

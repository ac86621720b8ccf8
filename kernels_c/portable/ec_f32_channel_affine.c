/* ec_f32_channel_affine: y = x * scale[c] + shift[c] per channel (inference batch norm). */
#include "ec_f32.h"

void ec_f32_channel_affine(const float *in, int32_t hw, int32_t c, const float *scale,
                           const float *shift, float *out)
{
    int32_t p, ch;
    for (p = 0; p < hw; ++p) {
        for (ch = 0; ch < c; ++ch) {
            out[(size_t)p * c + ch] = in[(size_t)p * c + ch] * scale[ch] + shift[ch];
        }
    }
}

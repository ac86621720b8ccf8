/* ec_f32_global_avgpool: float32 mean over H x W per channel: the float sum in row-major order,
 * then divided by H*W (TFLite's MEAN, one rounding per operation). */
#include "ec_f32.h"

void ec_f32_global_avgpool(const float *in, int32_t hw, int32_t c, float *out)
{
    int32_t ch, p;
    for (ch = 0; ch < c; ++ch) {
        float sum = 0.0f;
        for (p = 0; p < hw; ++p) {
            sum += in[(size_t)p * c + ch];
        }
        out[ch] = sum / (float)hw;
    }
}

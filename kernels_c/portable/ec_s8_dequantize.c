/* ec_s8_dequantize: int8 -> float32, x = (float)(scale * (q - zp)) in double. */
#include "ec_s8.h"

void ec_s8_dequantize(const int8_t *in, int32_t n, double scale, int32_t zp, float *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = (float)(scale * (double)((int32_t)in[i] - zp));
    }
}

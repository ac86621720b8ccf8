/* ec_s8_quantize: float32 -> int8, q = clamp(round_half_away(x / scale) + zp, qmin, qmax), the
 * division in float32 and round() half away from zero, as TFLite's AffineQuantize. The clamp is
 * applied before the conversion to an integer so out-of-range and NaN inputs stay defined
 * (NaN -> qmin). */
#include <math.h>

#include "ec_s8.h"

void ec_s8_quantize(const float *in, int32_t n, float scale, int32_t zp, int32_t qmin,
                    int32_t qmax, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float r = roundf(in[i] / scale) + (float)zp;
        int32_t v;
        if (r >= (float)qmax) {
            v = qmax;
        } else if (r >= (float)qmin) {
            v = (int32_t)r;
        } else {
            v = qmin;
        }
        out[i] = (int8_t)v;
    }
}

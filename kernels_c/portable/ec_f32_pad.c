/* ec_f32_pad: constant padding of an H x W x C float map (pads: top, left, bottom, right). */
#include <string.h>

#include "ec_f32.h"

void ec_f32_pad(const float *in, int32_t h, int32_t w, int32_t c, const int32_t pads[4],
                float value, float *out)
{
    const int32_t ow = w + pads[1] + pads[3];
    const int32_t oh = h + pads[0] + pads[2];
    const size_t total = (size_t)oh * ow * c;
    size_t i;
    int32_t y;
    for (i = 0; i < total; ++i) {
        out[i] = value;
    }
    for (y = 0; y < h; ++y) {
        memcpy(out + ((size_t)(y + pads[0]) * ow + pads[1]) * c, in + (size_t)y * w * c,
               (size_t)w * c * sizeof(float));
    }
}

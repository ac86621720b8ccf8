/* ec_s8_pad: constant padding of an H x W x C int8 map (pads: top, left, bottom, right). */
#include <string.h>

#include "ec_s8.h"

void ec_s8_pad(const int8_t *in, int32_t h, int32_t w, int32_t c, const int32_t pads[4],
               int8_t value, int8_t *out)
{
    const int32_t ow = w + pads[1] + pads[3];
    const int32_t oh = h + pads[0] + pads[2];
    const size_t row = (size_t)ow * c;
    int32_t y;
    memset(out, value, (size_t)oh * row);
    for (y = 0; y < h; ++y) {
        memcpy(out + (size_t)(y + pads[0]) * row + (size_t)pads[1] * c, in + (size_t)y * w * c,
               (size_t)w * c);
    }
}

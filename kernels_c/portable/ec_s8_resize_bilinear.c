/* ec_s8_resize_bilinear: TFLite's integer bilinear resize on int8 codes (formula in ec_resize.h). */
#include "ec_resize.h"

void ec_s8_resize_bilinear(const int8_t *in, const ec_s8_resize_t *p, int32_t row_begin, int32_t row_end,
                           int8_t *out)
{
    const int32_t c_n = p->channels;
    const size_t in_row = (size_t)p->in_w * c_n;
    int32_t oy, ox, c;
    for (oy = row_begin; oy < row_end; ++oy) {
        const int32_t *ry = p->rows + 3 * oy;
        const int8_t *top = in + (size_t)ry[0] * in_row;
        const int8_t *bottom = in + (size_t)ry[1] * in_row;
        const int32_t fy = ry[2];
        int8_t *o = out + (size_t)oy * p->out_w * c_n;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t *rx = p->cols + 3 * ox;
            const size_t left = (size_t)rx[0] * c_n, right = (size_t)rx[1] * c_n;
            const int32_t fx = rx[2];
            const int32_t w00 = (1024 - fy) * (1024 - fx), w10 = fy * (1024 - fx);
            const int32_t w01 = (1024 - fy) * fx, w11 = fy * fx;
            for (c = 0; c < c_n; ++c) {
                o[c] = ec_s8_bilinear_tap(top[left + c], bottom[left + c], top[right + c], bottom[right + c],
                                          w00, w10, w01, w11);
            }
            o += c_n;
        }
    }
}

/* ec_f32_resize_bilinear: TFLite's float32 bilinear resize (formula and order in ec_resize.h). */
#include "ec_resize.h"

void ec_f32_resize_bilinear(const float *in, const ec_f32_resize_t *p, int32_t row_begin, int32_t row_end,
                            float *out)
{
    const int32_t c_n = p->channels;
    const size_t in_row = (size_t)p->in_w * c_n;
    int32_t oy, ox, c;
    for (oy = row_begin; oy < row_end; ++oy) {
        const float *top = in + (size_t)p->rows[2 * oy] * in_row;
        const float *bottom = in + (size_t)p->rows[2 * oy + 1] * in_row;
        const float wy0 = p->row_w[2 * oy], wy1 = p->row_w[2 * oy + 1];
        float *o = out + (size_t)oy * p->out_w * c_n;
        for (ox = 0; ox < p->out_w; ++ox) {
            const size_t left = (size_t)p->cols[2 * ox] * c_n, right = (size_t)p->cols[2 * ox + 1] * c_n;
            const float wx0 = p->col_w[2 * ox], wx1 = p->col_w[2 * ox + 1];
            for (c = 0; c < c_n; ++c) {
                o[c] = ec_f32_bilinear_tap(top[left + c], bottom[left + c], top[right + c], bottom[right + c],
                                           wy0, wy1, wx0, wx1);
            }
            o += c_n;
        }
    }
}

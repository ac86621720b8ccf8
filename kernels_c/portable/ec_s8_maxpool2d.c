/* ec_s8_maxpool2d: int8 max pooling; taps outside the input are skipped (as TFLite). */
#include "ec_s8.h"

void ec_s8_maxpool2d(const int8_t *in, const ec_window_t *win, int32_t act_min, int32_t act_max,
                     int8_t *out)
{
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * win->in_c;
            for (c = 0; c < win->in_c; ++c) {
                int32_t m = -128;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
                    if (iy < 0 || iy >= win->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
                        int32_t v;
                        if (ix < 0 || ix >= win->in_w) {
                            continue;
                        }
                        v = in[((size_t)iy * win->in_w + ix) * win->in_c + c];
                        m = v > m ? v : m;
                    }
                }
                o[c] = (int8_t)ec_clamp_i32(m, act_min, act_max);
            }
        }
    }
}

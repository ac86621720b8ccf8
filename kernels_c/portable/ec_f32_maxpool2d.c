/* ec_f32_maxpool2d: float32 max pooling; taps outside the input are skipped. */
#include "ec_f32.h"

void ec_f32_maxpool2d(const float *in, const ec_window_t *win, float *out)
{
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            float *o = out + ((size_t)oy * win->out_w + ox) * win->in_c;
            for (c = 0; c < win->in_c; ++c) {
                int any = 0;
                float m = 0.0f;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
                    if (iy < 0 || iy >= win->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
                        float v;
                        if (ix < 0 || ix >= win->in_w) {
                            continue;
                        }
                        v = in[((size_t)iy * win->in_w + ix) * win->in_c + c];
                        m = (!any || v > m) ? v : m;
                        any = 1;
                    }
                }
                o[c] = m;
            }
        }
    }
}

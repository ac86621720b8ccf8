/* ec_f32_avgpool2d: float32 average pooling; explicit padding counts (as zeros) when
 * count_include_pad, taps beyond it never count. */
#include "ec_f32.h"

void ec_f32_avgpool2d(const float *in, const ec_window_t *win, int32_t count_include_pad,
                      float *out)
{
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            float *o = out + ((size_t)oy * win->out_w + ox) * win->in_c;
            for (c = 0; c < win->in_c; ++c) {
                float sum = 0.0f;
                int32_t count = 0;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t iy = oy * win->stride_h - win->pad_top + ky;
                    const int in_rows = iy >= 0 && iy < win->in_h;
                    const int in_pad_rows = iy >= -win->pad_top && iy < win->in_h + win->pad_bottom;
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t ix = ox * win->stride_w - win->pad_left + kx;
                        if (in_rows && ix >= 0 && ix < win->in_w) {
                            sum += in[((size_t)iy * win->in_w + ix) * win->in_c + c];
                            ++count;
                        } else if (count_include_pad && in_pad_rows && ix >= -win->pad_left
                                   && ix < win->in_w + win->pad_right) {
                            ++count;
                        }
                    }
                }
                o[c] = count ? sum / (float)count : 0.0f;
            }
        }
    }
}

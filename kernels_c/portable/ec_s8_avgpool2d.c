/* ec_s8_avgpool2d: int8 average pooling with TFLite rounding (see ec_s8.h):
 * avg = (sum + count/2) / count for sum > 0, (sum - count/2) / count otherwise (C division). */
#include "ec_s8.h"

void ec_s8_avgpool2d(const int8_t *in, const ec_window_t *win, int32_t count_include_pad,
                     int32_t pad_value, int32_t act_min, int32_t act_max, int8_t *out)
{
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * win->in_c;
            for (c = 0; c < win->in_c; ++c) {
                int32_t sum = 0;
                int32_t count = 0;
                int32_t avg;
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
                            sum += pad_value;
                            ++count;
                        }
                    }
                }
                if (count == 0) {
                    avg = 0;
                } else {
                    avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                }
                o[c] = (int8_t)ec_clamp_i32(avg, act_min, act_max);
            }
        }
    }
}

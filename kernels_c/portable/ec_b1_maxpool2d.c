/* ec_b1_maxpool2d: max pooling of packed {-1, +1} words (ec_b1.h). A pooled value is +1 when any
 * tap of its window is +1 (bit 0), so each output word is the AND of the window's words; taps
 * outside the input are skipped (the generator only pools windows that hold an input tap). */
#include "ec_b1.h"

void ec_b1_maxpool2d(const uint32_t *in, const ec_window_t *win, uint32_t *out)
{
    const int32_t words = (win->in_c + 31) / 32;
    int32_t oy, ox, ky, kx, wd;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            uint32_t *o = out + ((size_t)oy * win->out_w + ox) * (size_t)words;
            for (wd = 0; wd < words; ++wd) {
                o[wd] = 0xFFFFFFFFu;
            }
            for (ky = 0; ky < win->k_h; ++ky) {
                const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
                if (iy < 0 || iy >= win->in_h) {
                    continue;
                }
                for (kx = 0; kx < win->k_w; ++kx) {
                    const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
                    if (ix < 0 || ix >= win->in_w) {
                        continue;
                    }
                    for (wd = 0; wd < words; ++wd) {
                        o[wd] &= in[((size_t)iy * win->in_w + ix) * (size_t)words + wd];
                    }
                }
            }
        }
    }
}

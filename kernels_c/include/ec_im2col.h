/* ec_im2col.h: the im2col unfolding shared by every ISA's ec_s8_conv2d_im2col.
 *
 * Output row `oy` is unfolded into `cols`: out_w patches of K = k_h * k_w * C_in bytes in the OHWI
 * order of the weights, each patch padded to K16 = EC_IM2COL_K16(K) bytes; taps that fall in the
 * padding, and the tail of each patch, hold `fill` (the input zero point, so they contribute
 * (in_zp - in_zp) * w = 0 to the accumulator). Included only by the im2col kernel files. */
#ifndef EC_IM2COL_H
#define EC_IM2COL_H

#include <string.h>

#include "ec_s8.h"

static void ec_im2col_unfold_row(const int8_t *in, const ec_window_t *win, int32_t oy, int8_t fill,
                                 int8_t *cols)
{
    const size_t k = (size_t)win->k_h * win->k_w * win->in_c;
    const size_t patch = EC_IM2COL_K16(k);
    int32_t ox, ky, kx;
    for (ox = 0; ox < win->out_w; ++ox) {
        int8_t *dst = cols + (size_t)ox * patch;
        for (ky = 0; ky < win->k_h; ++ky) {
            const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
            for (kx = 0; kx < win->k_w; ++kx) {
                const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
                if (iy < 0 || iy >= win->in_h || ix < 0 || ix >= win->in_w) {
                    memset(dst, fill, (size_t)win->in_c);
                } else {
                    memcpy(dst, in + ((size_t)iy * win->in_w + ix) * win->in_c, (size_t)win->in_c);
                }
                dst += win->in_c;
            }
        }
        memset(dst, fill, patch - k);
    }
}

#endif /* EC_IM2COL_H */

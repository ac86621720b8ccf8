/* ec_s8_maxpool2d, x86: the portable algorithm (taps outside the input skipped, start at -128,
 * clamp to [act_min, act_max]) on EC_X86_BYTES channels at a time with byte max instructions.
 * Bit-exact with portable/ec_s8_maxpool2d.c. */
#include "ec_s8.h"
#include "ec_x86_dw.h"

void ec_s8_maxpool2d(const int8_t *in, const ec_window_t *win, int32_t act_min, int32_t act_max,
                     int8_t *out)
{
    const int32_t c = win->in_c;
    int32_t oy, ox, c0, ky, kx;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * c;
            for (c0 = 0; c0 < c; c0 += EC_X86_BYTES) {
                const int32_t n = c - c0 < EC_X86_BYTES ? c - c0 : EC_X86_BYTES;
                ec_x86_bytes_t m = ec_x86_set1_s8(-128);
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
                        m = ec_x86_max_s8(m, ec_x86_load_bytes(in + ((size_t)iy * win->in_w + ix) * c + c0, n));
                    }
                }
                m = ec_x86_min_s8(ec_x86_max_s8(m, ec_x86_set1_s8(act_min)), ec_x86_set1_s8(act_max));
                ec_x86_store_bytes(o + c0, m, n);
            }
        }
    }
}

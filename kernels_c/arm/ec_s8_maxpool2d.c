/* ec_s8_maxpool2d, NEON: the portable algorithm (taps outside the input skipped, start at -128,
 * clamp to [act_min, act_max]) on 16 channels at a time with vmaxq_s8. Output pixels whose whole
 * window lies inside the input take a path with no per-tap bounds checks.
 * Bit-exact with portable/ec_s8_maxpool2d.c. */
#include "ec_s8.h"
#include "ec_arm_requant.h"

static int8x16_t window_max_checked(const int8_t *in, const ec_window_t *win, int32_t iy0, int32_t ix0, int32_t c0,
                                    int32_t n)
{
    int8x16_t m = vdupq_n_s8(-128);
    int32_t ky, kx;
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = iy0 + ky * win->dil_h;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (kx = 0; kx < win->k_w; ++kx) {
            const int32_t ix = ix0 + kx * win->dil_w;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            m = vmaxq_s8(m, ec_neon_load16(in + ((size_t)iy * win->in_w + ix) * win->in_c + c0, n));
        }
    }
    return m;
}

static int8x16_t window_max_inside(const int8_t *in, const ec_window_t *win, int32_t iy0, int32_t ix0, int32_t c0,
                                   int32_t n)
{
    const size_t row_step = (size_t)win->dil_h * win->in_w * win->in_c;
    const size_t tap_step = (size_t)win->dil_w * win->in_c;
    const int8_t *row = in + ((size_t)iy0 * win->in_w + ix0) * win->in_c + c0;
    int8x16_t m = vdupq_n_s8(-128);
    int32_t ky, kx;
    for (ky = 0; ky < win->k_h; ++ky, row += row_step) {
        for (kx = 0; kx < win->k_w; ++kx) {
            m = vmaxq_s8(m, ec_neon_load16(row + kx * tap_step, n));
        }
    }
    return m;
}

void ec_s8_maxpool2d(const int8_t *in, const ec_window_t *win, int32_t act_min, int32_t act_max,
                     int8_t *out)
{
    const int32_t c = win->in_c;
    const int32_t span_h = (win->k_h - 1) * win->dil_h, span_w = (win->k_w - 1) * win->dil_w;
    const int8x16_t lo = vdupq_n_s8((int8_t)act_min), hi = vdupq_n_s8((int8_t)act_max);
    int32_t oy, ox, c0;
    for (oy = 0; oy < win->out_h; ++oy) {
        const int32_t iy0 = oy * win->stride_h - win->pad_top;
        const int rows_inside = iy0 >= 0 && iy0 + span_h < win->in_h;
        for (ox = 0; ox < win->out_w; ++ox) {
            const int32_t ix0 = ox * win->stride_w - win->pad_left;
            const int inside = rows_inside && ix0 >= 0 && ix0 + span_w < win->in_w;
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * c;
            for (c0 = 0; c0 < c; c0 += 16) {
                const int32_t n = c - c0 < 16 ? c - c0 : 16;
                const int8x16_t m = inside ? window_max_inside(in, win, iy0, ix0, c0, n)
                                           : window_max_checked(in, win, iy0, ix0, c0, n);
                ec_neon_store16(o + c0, vminq_s8(vmaxq_s8(m, lo), hi), n);
            }
        }
    }
}

/* ec_f32_maxpool2d, NEON (AArch64; four scalar lanes on 32-bit ARM, ec_arm_f32.h): the portable
 * algorithm on four channels at a time, the last channels in scalar code. Taps outside the input
 * are skipped; the first tap inside is taken, then a tap replaces the maximum only where it
 * compares greater (FCMGT and BSL, not FMAX), so NaNs and signed zeros keep the portable bits.
 * Output pixels whose whole window lies inside the input take a path with no per-tap bounds
 * checks. Bit-exact with portable/ec_f32_maxpool2d.c. */
#include "ec_arm_f32.h"

#include "ec_f32.h"

enum { LANES = 4 };

static ec_f4_t window_max_checked(const float *in, const ec_window_t *win, int32_t iy0, int32_t ix0, int32_t c)
{
    ec_f4_t m = ec_f4_zero();
    int any = 0;
    int32_t ky, kx;
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = iy0 + ky * win->dil_h;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (kx = 0; kx < win->k_w; ++kx) {
            const int32_t ix = ix0 + kx * win->dil_w;
            ec_f4_t v;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            v = ec_f4_load(in + ((size_t)iy * win->in_w + ix) * win->in_c + c);
            m = any ? ec_f4_keep_greater(m, v) : v;
            any = 1;
        }
    }
    return m;
}

/* The first tap compared with itself leaves it as it is, so the loop starts there. */
static ec_f4_t window_max_inside(const float *in, const ec_window_t *win, int32_t iy0, int32_t ix0, int32_t c)
{
    const size_t row_step = (size_t)win->dil_h * win->in_w * win->in_c;
    const size_t tap_step = (size_t)win->dil_w * win->in_c;
    const float *row = in + ((size_t)iy0 * win->in_w + ix0) * win->in_c + c;
    ec_f4_t m = ec_f4_load(row);
    int32_t ky, kx;
    for (ky = 0; ky < win->k_h; ++ky, row += row_step) {
        for (kx = 0; kx < win->k_w; ++kx) {
            m = ec_f4_keep_greater(m, ec_f4_load(row + kx * tap_step));
        }
    }
    return m;
}

/* One channel, as the portable kernel computes it. */
static float channel_max(const float *in, const ec_window_t *win, int32_t iy0, int32_t ix0, int32_t c)
{
    float m = 0.0f;
    int any = 0;
    int32_t ky, kx;
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = iy0 + ky * win->dil_h;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (kx = 0; kx < win->k_w; ++kx) {
            const int32_t ix = ix0 + kx * win->dil_w;
            float v;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            v = in[((size_t)iy * win->in_w + ix) * win->in_c + c];
            m = (!any || v > m) ? v : m;
            any = 1;
        }
    }
    return m;
}

void ec_f32_maxpool2d(const float *in, const ec_window_t *win, float *out)
{
    const int32_t ch = win->in_c;
    const int32_t span_h = (win->k_h - 1) * win->dil_h, span_w = (win->k_w - 1) * win->dil_w;
    int32_t oy, ox, c;
    for (oy = 0; oy < win->out_h; ++oy) {
        const int32_t iy0 = oy * win->stride_h - win->pad_top;
        const int rows_inside = iy0 >= 0 && iy0 + span_h < win->in_h;
        for (ox = 0; ox < win->out_w; ++ox) {
            const int32_t ix0 = ox * win->stride_w - win->pad_left;
            const int inside = rows_inside && ix0 >= 0 && ix0 + span_w < win->in_w;
            float *o = out + ((size_t)oy * win->out_w + ox) * ch;
            for (c = 0; c + LANES <= ch; c += LANES) {
                ec_f4_store(o + c, inside ? window_max_inside(in, win, iy0, ix0, c)
                                          : window_max_checked(in, win, iy0, ix0, c));
            }
            for (; c < ch; ++c) {
                o[c] = channel_max(in, win, iy0, ix0, c);
            }
        }
    }
}

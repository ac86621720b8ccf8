/* ec_s8_avgpool2d, x86: the portable algorithm (ec_s8.h) on EC_X86_LANES channels at a time.
 * Per output pixel the taps inside the input form one rectangle, summed in int32 lanes; with
 * count_include_pad the taps of the explicit padding around it add pad_value each and count.
 * The rounded average is ec_x86_round_div (exact, see ec_x86_dw.h), then clamped.
 * Bit-exact with portable/ec_s8_avgpool2d.c. */
#include "ec_s8.h"
#include "ec_x86_dw.h"

/* [*lo, *hi): the positions start .. start + k - 1 that lie in [min, max). */
static void overlap(int32_t start, int32_t k, int32_t min, int32_t max, int32_t *lo, int32_t *hi)
{
    *lo = start > min ? start : min;
    *hi = start + k < max ? start + k : max;
    if (*hi < *lo) {
        *hi = *lo;
    }
}

void ec_s8_avgpool2d(const int8_t *in, const ec_window_t *win, int32_t count_include_pad,
                     int32_t pad_value, int32_t act_min, int32_t act_max, int8_t *out)
{
    const int32_t c = win->in_c;
    int32_t oy, ox, c0, iy, ix;
    for (oy = 0; oy < win->out_h; ++oy) {
        const int32_t y = oy * win->stride_h - win->pad_top;
        int32_t y0, y1, py0, py1;
        overlap(y, win->k_h, 0, win->in_h, &y0, &y1);
        overlap(y, win->k_h, -win->pad_top, win->in_h + win->pad_bottom, &py0, &py1);
        for (ox = 0; ox < win->out_w; ++ox) {
            const int32_t x = ox * win->stride_w - win->pad_left;
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * c;
            int32_t x0, x1, px0, px1, inside, padded, count;
            overlap(x, win->k_w, 0, win->in_w, &x0, &x1);
            overlap(x, win->k_w, -win->pad_left, win->in_w + win->pad_right, &px0, &px1);
            inside = (y1 - y0) * (x1 - x0);
            padded = count_include_pad ? (py1 - py0) * (px1 - px0) - inside : 0;
            count = inside + padded;
            for (c0 = 0; c0 < c; c0 += EC_X86_LANES) {
                const int32_t n = c - c0 < EC_X86_LANES ? c - c0 : EC_X86_LANES;
                ec_x86_vec_t sum = ec_x86_set1(pad_value * padded);
                for (iy = y0; iy < y1; ++iy) {
                    const int8_t *row = in + (size_t)iy * win->in_w * c + c0;
                    for (ix = x0; ix < x1; ++ix) {
                        sum = ec_x86_add(sum, ec_x86_load_s8(row + (size_t)ix * c, n));
                    }
                }
                sum = count == 0 ? ec_x86_set1(0) : ec_x86_round_div(sum, count);
                ec_x86_store_s8(o + c0, ec_x86_clamp(sum, act_min, act_max), n);
            }
        }
    }
}

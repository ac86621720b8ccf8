/* ec_s8_avgpool2d, NEON: the portable algorithm (ec_s8.h) on 16 channels at a time. Per output
 * pixel the taps inside the input form one rectangle, summed in int32 lanes (vaddw); with
 * count_include_pad the taps of the explicit padding around it add pad_value each and count.
 * The rounded average, (sum + count/2) / count for sum > 0, else (sum - count/2) / count, is the
 * portable scalar division per channel (NEON has no integer division). Bit-exact with
 * portable/ec_s8_avgpool2d.c. */
#include "ec_s8.h"
#include "ec_arm_requant.h"

/* [*lo, *hi): the positions start .. start + k - 1 that lie in [min, max). */
static void overlap(int32_t start, int32_t k, int32_t min, int32_t max, int32_t *lo, int32_t *hi)
{
    *lo = start > min ? start : min;
    *hi = start + k < max ? start + k : max;
    if (*hi < *lo) {
        *hi = *lo;
    }
}

/* Adds the 16 int8 lanes of x to the four int32 sums. */
static void accumulate16(int32x4_t sum[4], int8x16_t x)
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(x)), hi = vmovl_s8(vget_high_s8(x));
    sum[0] = vaddw_s16(sum[0], vget_low_s16(lo));
    sum[1] = vaddw_s16(sum[1], vget_high_s16(lo));
    sum[2] = vaddw_s16(sum[2], vget_low_s16(hi));
    sum[3] = vaddw_s16(sum[3], vget_high_s16(hi));
}

void ec_s8_avgpool2d(const int8_t *in, const ec_window_t *win, int32_t count_include_pad,
                     int32_t pad_value, int32_t act_min, int32_t act_max, int8_t *out)
{
    const int32_t c = win->in_c;
    int32_t oy, ox, c0, iy, ix, i;
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
            for (c0 = 0; c0 < c; c0 += 16) {
                const int32_t n = c - c0 < 16 ? c - c0 : 16;
                int32x4_t sum[4];
                int32_t sums[16];
                sum[0] = sum[1] = sum[2] = sum[3] = vdupq_n_s32(pad_value * padded);
                for (iy = y0; iy < y1; ++iy) {
                    const int8_t *row = in + (size_t)iy * win->in_w * c + c0;
                    for (ix = x0; ix < x1; ++ix) {
                        accumulate16(sum, ec_neon_load16(row + (size_t)ix * c, n));
                    }
                }
                for (i = 0; i < 4; ++i) {
                    vst1q_s32(sums + 4 * i, sum[i]);
                }
                for (i = 0; i < n; ++i) {
                    const int32_t s = sums[i];
                    const int32_t avg = count == 0 ? 0 : (s > 0 ? (s + count / 2) / count : (s - count / 2) / count);
                    o[c0 + i] = (int8_t)ec_clamp_i32(avg, act_min, act_max);
                }
            }
        }
    }
}

/* ec_s8_dwconv2d_3x3, NEON: the portable algorithm (ec_s8.h) on 8 channels at a time:
 * (x - zp) and w widened to int16 and multiply-accumulated into int32 lanes (vmlal_s16) over the
 * nine taps. Bit-exact with kernels_c/portable/ec_s8_dwconv2d_3x3.c. */
#include "ec_s8.h"
#include "ec_arm_neon.h"

void ec_s8_dwconv2d_3x3(const int8_t *in, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                        const ec_qparams_t *q, int8_t *out)
{
    const int32_t c = win->in_c;
    const int16x8_t vzp = vdupq_n_s16((int16_t)q->in_zp);
    int32_t acc[8];
    int32_t oy, ox, ky, kx, c0, i;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * c;
            for (c0 = 0; c0 < c; c0 += 8) {
                const int32_t n = c - c0 < 8 ? c - c0 : 8;
                int32x4_t lo = vdupq_n_s32(0), hi = lo;
                for (i = 0; i < n; ++i) {
                    acc[i] = bias ? bias[c0 + i] : 0;
                }
                for (ky = 0; ky < 3; ++ky) {
                    const int32_t iy = oy * win->stride_h - win->pad_top + ky;
                    if (iy < 0 || iy >= win->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < 3; ++kx) {
                        const int32_t ix = ox * win->stride_w - win->pad_left + kx;
                        const int8_t *x;
                        const int8_t *wk;
                        if (ix < 0 || ix >= win->in_w) {
                            continue;
                        }
                        x = in + ((size_t)iy * win->in_w + ix) * c + c0;
                        wk = w + (size_t)(ky * 3 + kx) * c + c0;
                        if (n == 8) {
                            const int16x8_t x16 = vsubq_s16(vmovl_s8(vld1_s8(x)), vzp);
                            const int16x8_t w16 = vmovl_s8(vld1_s8(wk));
                            lo = vmlal_s16(lo, vget_low_s16(x16), vget_low_s16(w16));
                            hi = vmlal_s16(hi, vget_high_s16(x16), vget_high_s16(w16));
                        } else {
                            for (i = 0; i < n; ++i) {
                                acc[i] += ((int32_t)x[i] - q->in_zp) * (int32_t)wk[i];
                            }
                        }
                    }
                }
                if (n == 8) {
                    int32_t sums[8];
                    vst1q_s32(sums, lo);
                    vst1q_s32(sums + 4, hi);
                    for (i = 0; i < 8; ++i) {
                        acc[i] += sums[i];
                    }
                }
                for (i = 0; i < n; ++i) {
                    const int32_t v = ec_requantize(acc[i], mult[c0 + i], shift[c0 + i]) + q->out_zp;
                    o[c0 + i] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
                }
            }
        }
    }
}

/* ec_s8_conv2d_slidingwin, NEON: the portable algorithm (ec_s8.h, portable/ec_s8_conv2d_slidingwin.c)
 * with four output channels at a time: every contiguous window row of k_w * C_in inputs is
 * widened once (8 at a time) and multiply-accumulated with the four weight rows, int32 lanes kept
 * across the window rows. Grouped or dilated layers use one channel at a time. Bit-exact with
 * the portable kernel (see ec_arm_neon.h). */
#include "ec_s8.h"
#include "ec_arm_neon.h"

static void block4(const int8_t *in, const int8_t *w, const ec_window_t *win, int32_t zp, int32_t iy0,
                   int32_t ix0, int32_t kx_lo, int32_t kx_hi, int32_t oc, int32_t acc[4])
{
    const size_t w_per_oc = (size_t)win->k_h * win->k_w * win->in_c;
    const int16x8_t vzp = vdupq_n_s16((int16_t)zp);
    const int32_t n = (kx_hi - kx_lo) * win->in_c;
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    int32_t ky, i, j;
    if (n <= 0) {
        return;
    }
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = iy0 + ky * win->dil_h;
        const int8_t *x;
        const int8_t *wr;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        x = in + ((size_t)iy * win->in_w + (size_t)(ix0 + kx_lo)) * win->in_c;
        wr = w + (size_t)oc * w_per_oc + ((size_t)ky * win->k_w + (size_t)kx_lo) * win->in_c;
        for (i = 0; i + 8 <= n; i += 8) {
            const int16x8_t x16 = vsubq_s16(vmovl_s8(vld1_s8(x + i)), vzp);
            a0 = ec_neon_mac8(a0, x16, wr + i);
            a1 = ec_neon_mac8(a1, x16, wr + w_per_oc + i);
            a2 = ec_neon_mac8(a2, x16, wr + 2 * w_per_oc + i);
            a3 = ec_neon_mac8(a3, x16, wr + 3 * w_per_oc + i);
        }
        for (; i < n; ++i) {
            const int32_t xi = (int32_t)x[i] - zp;
            for (j = 0; j < 4; ++j) {
                acc[j] += xi * (int32_t)wr[(size_t)j * w_per_oc + (size_t)i];
            }
        }
    }
    acc[0] += ec_neon_hsum(a0);
    acc[1] += ec_neon_hsum(a1);
    acc[2] += ec_neon_hsum(a2);
    acc[3] += ec_neon_hsum(a3);
}

static int32_t one_channel(const int8_t *in, const int8_t *w, const ec_window_t *win, int32_t zp,
                           int32_t iy0, int32_t ix0, int32_t oc)
{
    const int32_t cin_g = win->in_c / win->groups;
    const int32_t g = oc / (win->out_c / win->groups);
    const int8_t *wo = w + (size_t)oc * win->k_h * win->k_w * cin_g;
    int32_t acc = 0, ky, kx;
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
            acc += ec_neon_dot_s8(in + ((size_t)iy * win->in_w + ix) * win->in_c + (size_t)g * cin_g,
                                  wo + ((size_t)ky * win->k_w + kx) * cin_g, cin_g, zp);
        }
    }
    return acc;
}

void ec_s8_conv2d_slidingwin(const int8_t *in, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                             const ec_qparams_t *q, int8_t *out)
{
    const int dense = win->dil_w == 1 && win->groups == 1;
    int32_t oy, ox, oc, j;
    for (oy = 0; oy < win->out_h; ++oy) {
        const int32_t iy0 = oy * win->stride_h - win->pad_top;
        for (ox = 0; ox < win->out_w; ++ox) {
            const int32_t ix0 = ox * win->stride_w - win->pad_left;
            const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
            const int32_t kx_hi = win->in_w - ix0 < win->k_w ? win->in_w - ix0 : win->k_w;
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * win->out_c;
            for (oc = 0; oc < win->out_c; oc += 4) {
                const int32_t n = win->out_c - oc < 4 ? win->out_c - oc : 4;
                int32_t acc[4] = {0, 0, 0, 0};
                if (dense && n == 4) {
                    block4(in, w, win, q->in_zp, iy0, ix0, kx_lo, kx_hi, oc, acc);
                } else {
                    for (j = 0; j < n; ++j) {
                        acc[j] = one_channel(in, w, win, q->in_zp, iy0, ix0, oc + j);
                    }
                }
                for (j = 0; j < n; ++j) {
                    const int32_t v = ec_requantize(acc[j] + (bias ? bias[oc + j] : 0), mult[oc + j], shift[oc + j]) + q->out_zp;
                    o[oc + j] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
                }
            }
        }
    }
}

/* ec_f32_conv2d_im2col, NEON (AArch64; four scalar lanes on 32-bit ARM, ec_arm_f32.h):
 * per output position, EC_F32_NR output channels in four four-lane
 * registers, the window's taps read in place and those in the padding skipped. A multiply then
 * an add per tap and channel (FMUL, FADD), never a fused FMLA: the portable kernel's order and
 * roundings, so its bits (see ec_f32_conv2d_1x1.c). */
#include "ec_arm_f32.h"

#include "ec_f32.h"

static void position(const float *in, const float *wb, const ec_window_t *win, int32_t oy, int32_t ox,
                     float sums[EC_F32_NR])
{
    const int32_t cin = win->in_c;
    const size_t tap_rows = (size_t)cin * EC_F32_NR;
    ec_f4_t a0 = ec_f4_zero(), a1 = a0, a2 = a0, a3 = a0;
    int32_t ky, kx, c;
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (kx = 0; kx < win->k_w; ++kx) {
            const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
            const float *x;
            const float *wt;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            x = in + ((size_t)iy * win->in_w + ix) * cin;
            wt = wb + ((size_t)ky * win->k_w + kx) * tap_rows;
            for (c = 0; c < cin; ++c) {
                const float *wr = wt + (size_t)c * EC_F32_NR;
                const ec_f4_t xv = ec_f4_dup(x[c]);
                a0 = ec_f4_muladd(a0, xv, ec_f4_load(wr));
                a1 = ec_f4_muladd(a1, xv, ec_f4_load(wr + 4));
                a2 = ec_f4_muladd(a2, xv, ec_f4_load(wr + 8));
                a3 = ec_f4_muladd(a3, xv, ec_f4_load(wr + 12));
            }
        }
    }
    ec_f4_store(sums, a0);
    ec_f4_store(sums + 4, a1);
    ec_f4_store(sums + 8, a2);
    ec_f4_store(sums + 12, a3);
}

void ec_f32_conv2d_im2col(const float *in, const float *w, const float *bias, const ec_window_t *win,
                          float lo, float hi, float *out)
{
    const int32_t cout = win->out_c;
    const size_t block = (size_t)win->k_h * win->k_w * win->in_c * EC_F32_NR;
    float sums[EC_F32_NR];
    int32_t oy, ox, oc0, j;
    for (oc0 = 0; oc0 < cout; oc0 += EC_F32_NR) {
        const float *wb = w + (size_t)(oc0 / EC_F32_NR) * block;
        const int32_t n = cout - oc0 < EC_F32_NR ? cout - oc0 : EC_F32_NR;
        for (oy = 0; oy < win->out_h; ++oy) {
            for (ox = 0; ox < win->out_w; ++ox) {
                float *o = out + ((size_t)oy * win->out_w + ox) * cout + oc0;
                position(in, wb, win, oy, ox, sums);
                for (j = 0; j < n; ++j) {
                    o[j] = ec_clamp_f32(bias ? sums[j] + bias[oc0 + j] : sums[j], lo, hi);
                }
            }
        }
    }
}

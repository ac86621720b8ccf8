/* ec_f32_dwconv2d, NEON (AArch64; four scalar lanes on 32-bit ARM, ec_arm_f32.h):
 * per output position, channels four at a time, the window's taps read in
 * place and those in the padding skipped, the last channels in scalar code. A multiply then an
 * add per tap (FMUL, FADD), never a fused FMLA: the portable kernel's order and roundings, so its
 * bits (see ec_f32_conv2d_1x1.c). */
#include "ec_arm_f32.h"

#include "ec_f32.h"

enum { LANES = 4 };

void ec_f32_dwconv2d(const float *in, const float *w, const float *bias, const ec_window_t *win,
                     float lo, float hi, float *out)
{
    const int32_t ch = win->in_c;
    float sums[LANES];
    int32_t oy, ox, ky, kx, c, j;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            float *o = out + ((size_t)oy * win->out_w + ox) * ch;
            for (c = 0; c < ch; c += LANES) {
                const int32_t n = ch - c < LANES ? ch - c : LANES;
                ec_f4_t acc = ec_f4_zero();
                float tail[LANES] = {0.0f, 0.0f, 0.0f, 0.0f};
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
                        x = in + ((size_t)iy * win->in_w + ix) * ch + c;
                        wt = w + ((size_t)ky * win->k_w + kx) * ch + c;
                        if (n == LANES) {
                            acc = ec_f4_muladd(acc, ec_f4_load(x), ec_f4_load(wt));
                        } else {
                            for (j = 0; j < n; ++j) {
                                tail[j] += x[j] * wt[j];
                            }
                        }
                    }
                }
                if (n == LANES) {
                    ec_f4_store(sums, acc);
                } else {
                    for (j = 0; j < n; ++j) {
                        sums[j] = tail[j];
                    }
                }
                for (j = 0; j < n; ++j) {
                    o[c + j] = ec_clamp_f32(bias ? sums[j] + bias[c + j] : sums[j], lo, hi);
                }
            }
        }
    }
}

/* ec_s8_conv2d_slidingwin: direct int8 convolution (see ec_s8.h for the formula).
 *
 * In NHWC a window row that lies fully inside the input, without dilation, is one contiguous run
 * of k_w * C_in values (per group: k_w runs of C_in/groups), matching one contiguous run of the
 * OHWI weights; the inner loop slides over that run. Border windows clip the run to the taps
 * inside the input (padded taps hold in_zp and contribute 0). */
#include "ec_s8.h"

static int32_t dot_run(const int8_t *x, const int8_t *w, int32_t n, int32_t zp)
{
    int32_t acc = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        acc += ((int32_t)x[i] - zp) * (int32_t)w[i];
    }
    return acc;
}

void ec_s8_conv2d_slidingwin(const int8_t *in, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                             const ec_qparams_t *q, int8_t *out)
{
    const int32_t cin_g = win->in_c / win->groups;
    const int32_t cout_g = win->out_c / win->groups;
    const int32_t w_per_oc = win->k_h * win->k_w * cin_g;
    const int contiguous = win->dil_w == 1 && win->groups == 1;
    int32_t oy, ox, oc, ky, kx;
    for (oy = 0; oy < win->out_h; ++oy) {
        const int32_t iy0 = oy * win->stride_h - win->pad_top;
        for (ox = 0; ox < win->out_w; ++ox) {
            const int32_t ix0 = ox * win->stride_w - win->pad_left;
            /* Taps kx in [kx_lo, kx_hi) fall inside the input when dil_w == 1. */
            int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
            int32_t kx_hi = win->in_w - ix0 < win->k_w ? win->in_w - ix0 : win->k_w;
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * win->out_c;
            for (oc = 0; oc < win->out_c; ++oc) {
                const int32_t g = oc / cout_g;
                const int8_t *wo = w + (size_t)oc * w_per_oc;
                int32_t acc = bias ? bias[oc] : 0;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t iy = iy0 + ky * win->dil_h;
                    const int8_t *row;
                    if (iy < 0 || iy >= win->in_h) {
                        continue;
                    }
                    row = in + (size_t)iy * win->in_w * win->in_c;
                    if (contiguous) {
                        if (kx_hi > kx_lo) {
                            acc += dot_run(row + (size_t)(ix0 + kx_lo) * win->in_c,
                                           wo + ((size_t)ky * win->k_w + kx_lo) * cin_g,
                                           (kx_hi - kx_lo) * cin_g, q->in_zp);
                        }
                        continue;
                    }
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t ix = ix0 + kx * win->dil_w;
                        if (ix < 0 || ix >= win->in_w) {
                            continue;
                        }
                        acc += dot_run(row + (size_t)ix * win->in_c + (size_t)g * cin_g,
                                       wo + ((size_t)ky * win->k_w + kx) * cin_g, cin_g, q->in_zp);
                    }
                }
                acc = ec_requantize(acc, mult[oc], shift[oc]) + q->out_zp;
                o[oc] = (int8_t)ec_clamp_i32(acc, q->act_min, q->act_max);
            }
        }
    }
}

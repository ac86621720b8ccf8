/* ec_s8_conv2d_im2col, AVX2: the portable unfolding (one output row into `scratch`, patches of
 * EC_IM2COL_K16 bytes, padding filled with in_zp) followed by a GEMM of four output channels per pass over each patch
 * (ec_avx2_dot4_s8) and eight-lane requantization; bit-exact with kernels_c/portable/ec_s8_conv2d_im2col.c. */
#include <string.h>

#include "ec_im2col.h"
#include "ec_s8.h"
#include "ec_x86_avx2.h"

enum { EC_OC_CHUNK = 256 };

void ec_s8_conv2d_im2col(const int8_t *in, const int8_t *w, const int32_t *bias,
                         const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                         const ec_qparams_t *q, int8_t *scratch, int8_t *out)
{
    const int32_t k = (int32_t)EC_IM2COL_K16(win->k_h * win->k_w * win->in_c);
    const int32_t cout = win->out_c;
    int32_t acc[EC_OC_CHUNK];
    int32_t oy, ox, oc, c0, c1;
    for (oy = 0; oy < win->out_h; ++oy) {
        ec_im2col_unfold_row(in, win, oy, (int8_t)q->in_zp, scratch);
        for (ox = 0; ox < win->out_w; ++ox) {
            const int8_t *col = scratch + (size_t)ox * k;
            int8_t *o = out + ((size_t)oy * win->out_w + ox) * cout;
            for (c0 = 0; c0 < cout; c0 += EC_OC_CHUNK) {
                c1 = cout - c0 < EC_OC_CHUNK ? cout : c0 + EC_OC_CHUNK;
                for (oc = c0; oc < c1; ++oc) {
                    acc[oc - c0] = bias ? bias[oc] : 0;
                }
                for (oc = c0; oc + 4 <= c1; oc += 4) {
                    ec_avx2_dot4_s8(col, w + (size_t)oc * k, (size_t)k, k, q->in_zp, acc + (oc - c0));
                }
                for (; oc < c1; ++oc) {
                    acc[oc - c0] += ec_avx2_dot_s8(col, w + (size_t)oc * k, k, q->in_zp);
                }
                ec_avx2_requantize_row(acc, mult + c0, shift + c0, c1 - c0, q, o + c0);
            }
        }
    }
}

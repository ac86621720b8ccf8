/* ec_s8_conv2d_1x1, AVX2: the portable formula (ec_s8.h), four output channels per pass over
 * each input pixel (ec_avx2_dot4_s8) and eight-lane requantization (ec_avx2_requantize_row);
 * bit-exact with kernels_c/portable/ec_s8_conv2d_1x1.c. */
#include "ec_s8.h"
#include "ec_x86_avx2.h"

enum { EC_OC_CHUNK = 256 };

void ec_s8_conv2d_1x1(const int8_t *in, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                      const ec_qparams_t *q, int8_t *out)
{
    const int32_t pixels = win->out_h * win->out_w;
    const int32_t cin = win->in_c;
    const int32_t cout = win->out_c;
    int32_t acc[EC_OC_CHUNK];
    int32_t p, oc, c0, c1;
    for (p = 0; p < pixels; ++p) {
        const int8_t *x = in + (size_t)p * cin;
        int8_t *o = out + (size_t)p * cout;
        for (c0 = 0; c0 < cout; c0 += EC_OC_CHUNK) {
            c1 = cout - c0 < EC_OC_CHUNK ? cout : c0 + EC_OC_CHUNK;
            for (oc = c0; oc < c1; ++oc) {
                acc[oc - c0] = bias ? bias[oc] : 0;
            }
            for (oc = c0; oc + 4 <= c1; oc += 4) {
                ec_avx2_dot4_s8(x, w + (size_t)oc * cin, (size_t)cin, cin, q->in_zp, acc + (oc - c0));
            }
            for (; oc < c1; ++oc) {
                acc[oc - c0] += ec_avx2_dot_s8(x, w + (size_t)oc * cin, cin, q->in_zp);
            }
            ec_avx2_requantize_row(acc, mult + c0, shift + c0, c1 - c0, q, o + c0);
        }
    }
}

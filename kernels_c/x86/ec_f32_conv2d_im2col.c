/* ec_f32_conv2d_im2col, x86: per output position, EC_F32_NR output channels in one sixteen-lane
 * register (AVX-512) or two eight-lane ones (AVX2), the window's taps read in place and those in
 * the padding skipped. A multiply then an add per tap and channel (VMULPS, VADDPS), never fused:
 * the portable kernel's order and roundings, so its bits (see ec_f32_conv2d_1x1.c). */
#include <immintrin.h>

#include "ec_f32.h"
#include "ec_x86_avx512.h"
#include "ec_x86_f32.h"

/* Sums of one position's taps against one weight block, in window order. */
static void position(const float *in, const float *wb, const ec_window_t *win, int32_t oy, int32_t ox,
                     float sums[EC_F32_NR])
{
    const int32_t cin = win->in_c;
    const size_t tap_rows = (size_t)cin * EC_F32_NR;
    int32_t ky, kx, c;
#ifdef EC_X86_AVX512
    __m512 acc = _mm512_setzero_ps();
#else
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
#endif
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
#ifdef EC_X86_AVX512
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(x[c]), _mm512_loadu_ps(wt + (size_t)c * EC_F32_NR)));
#else
                const __m256 xv = _mm256_set1_ps(x[c]);
                acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(xv, _mm256_loadu_ps(wt + (size_t)c * EC_F32_NR)));
                acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(xv, _mm256_loadu_ps(wt + (size_t)c * EC_F32_NR + 8)));
#endif
            }
        }
    }
#ifdef EC_X86_AVX512
    _mm512_storeu_ps(sums, acc);
#else
    _mm256_storeu_ps(sums, acc0);
    _mm256_storeu_ps(sums + 8, acc1);
#endif
}

void ec_f32_conv2d_im2col(const float *in, const float *w, const float *bias, const ec_window_t *win,
                          float lo, float hi, float *out)
{
    const int32_t cout = win->out_c;
    const size_t block = (size_t)win->k_h * win->k_w * win->in_c * EC_F32_NR;
    float sums[EC_F32_NR];
    int32_t oy, ox, oc0;
    for (oc0 = 0; oc0 < cout; oc0 += EC_F32_NR) {
        const float *wb = w + (size_t)(oc0 / EC_F32_NR) * block;
        const int32_t n = cout - oc0 < EC_F32_NR ? cout - oc0 : EC_F32_NR;
        for (oy = 0; oy < win->out_h; ++oy) {
            for (ox = 0; ox < win->out_w; ++ox) {
                float *o = out + ((size_t)oy * win->out_w + ox) * cout + oc0;
                position(in, wb, win, oy, ox, sums);
                ec_x86_f32_finish(sums, bias ? bias + oc0 : NULL, n, lo, hi, o);
            }
        }
    }
}

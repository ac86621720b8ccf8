/* ec_f32_dwconv2d, x86: per output position, channels in vectors of sixteen (AVX-512) or eight
 * (AVX2) lanes, the window's taps read in place and those in the padding skipped, the last
 * channels in scalar code. A multiply then an add per tap (VMULPS, VADDPS), never fused: the
 * portable kernel's order and roundings, so its bits (see ec_f32_conv2d_1x1.c). Bias and clamp:
 * ec_x86_f32.h. */
#include <immintrin.h>

#include "ec_f32.h"
#include "ec_x86_avx512.h"
#include "ec_x86_f32.h"

#ifdef EC_X86_AVX512
enum { LANES = 16 };
typedef __m512 vec_t;
#define EC_ZERO() _mm512_setzero_ps()
#define EC_MULADD(acc, x, w) _mm512_add_ps((acc), _mm512_mul_ps(_mm512_loadu_ps(x), _mm512_loadu_ps(w)))
#define EC_STORE(p, v) _mm512_storeu_ps((p), (v))
#else
enum { LANES = 8 };
typedef __m256 vec_t;
#define EC_ZERO() _mm256_setzero_ps()
#define EC_MULADD(acc, x, w) _mm256_add_ps((acc), _mm256_mul_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(w)))
#define EC_STORE(p, v) _mm256_storeu_ps((p), (v))
#endif

/* The taps of output (oy, ox) that lie inside the input (row-major kernel order): their input
 * pixels and tap indices; returns how many. */
static int32_t valid_taps(const ec_window_t *win, int32_t oy, int32_t ox, size_t *pixel, int32_t *index)
{
    int32_t t, n = 0;
    for (t = 0; t < win->k_h * win->k_w; ++t) {
        const int32_t iy = oy * win->stride_h - win->pad_top + (t / win->k_w) * win->dil_h;
        const int32_t ix = ox * win->stride_w - win->pad_left + (t % win->k_w) * win->dil_w;
        if (iy >= 0 && iy < win->in_h && ix >= 0 && ix < win->in_w) {
            pixel[n] = (size_t)iy * win->in_w + ix;
            index[n++] = t;
        }
    }
    return n;
}

void ec_f32_dwconv2d(const float *in, const float *w, const float *bias, const ec_window_t *win,
                     float lo, float hi, float *out)
{
    const int32_t ch = win->in_c;
    const int32_t full = ch - ch % LANES;
    size_t pixel[EC_F32_DW_MAX_TAPS];
    int32_t index[EC_F32_DW_MAX_TAPS];
    float sums[LANES];
    int32_t oy, ox, n, t, c, j;
    for (oy = 0; oy < win->out_h; ++oy) {
        for (ox = 0; ox < win->out_w; ++ox) {
            float *o = out + ((size_t)oy * win->out_w + ox) * ch;
            n = valid_taps(win, oy, ox, pixel, index);
            for (c = 0; c < full; c += LANES) {
                vec_t acc = EC_ZERO();
                for (t = 0; t < n; ++t) {
                    acc = EC_MULADD(acc, in + pixel[t] * ch + c, w + (size_t)index[t] * ch + c);
                }
                EC_STORE(sums, acc);
                ec_x86_f32_finish(sums, bias ? bias + c : NULL, LANES, lo, hi, o + c);
            }
            if (full < ch) {
                for (j = 0; j < ch - full; ++j) {
                    sums[j] = 0.0f;
                }
                for (t = 0; t < n; ++t) {
                    for (j = 0; j < ch - full; ++j) {
                        sums[j] += in[pixel[t] * ch + full + j] * w[(size_t)index[t] * ch + full + j];
                    }
                }
                ec_x86_f32_finish(sums, bias ? bias + full : NULL, ch - full, lo, hi, o + full);
            }
        }
    }
}

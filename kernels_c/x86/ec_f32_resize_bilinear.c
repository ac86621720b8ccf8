/* ec_f32_resize_bilinear, x86 (AVX2, at every x86 level): TFLite's float blend (ec_resize.h) on 8
 * channels per register. Every lane computes its output in the portable
 * kernel's order with separate multiplies and adds (VMULPS, VADDPS; never a fused multiply-add,
 * and the build does not contract), so the lanes give the portable kernel's bits. The last
 * channels (below 8) take the scalar formula. */
#include <immintrin.h>

#include "ec_resize.h"

typedef struct {
    __m256 wy0, wy1, wx0, wx1;
} weights_t;

static __m256 blend8(const float *tl, const float *bl, const float *tr, const float *br, const weights_t *w)
{
    const __m256 a = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(tl), w->wy0), w->wx0);
    const __m256 b = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(bl), w->wy1), w->wx0);
    const __m256 d = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(tr), w->wy0), w->wx1);
    const __m256 e = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(br), w->wy1), w->wx1);
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a, b), d), e);
}

void ec_f32_resize_bilinear(const float *in, const ec_f32_resize_t *p, int32_t row_begin, int32_t row_end,
                            float *out)
{
    const int32_t c_n = p->channels;
    const size_t in_row = (size_t)p->in_w * c_n;
    int32_t oy, ox, c;
    for (oy = row_begin; oy < row_end; ++oy) {
        const float *top = in + (size_t)p->rows[2 * oy] * in_row;
        const float *bottom = in + (size_t)p->rows[2 * oy + 1] * in_row;
        const float wy0 = p->row_w[2 * oy], wy1 = p->row_w[2 * oy + 1];
        weights_t w;
        float *o = out + (size_t)oy * p->out_w * c_n;
        w.wy0 = _mm256_set1_ps(wy0);
        w.wy1 = _mm256_set1_ps(wy1);
        for (ox = 0; ox < p->out_w; ++ox) {
            const float *tl = top + (size_t)p->cols[2 * ox] * c_n, *tr = top + (size_t)p->cols[2 * ox + 1] * c_n;
            const float *bl = bottom + (tl - top), *br = bottom + (tr - top);
            const float wx0 = p->col_w[2 * ox], wx1 = p->col_w[2 * ox + 1];
            w.wx0 = _mm256_set1_ps(wx0);
            w.wx1 = _mm256_set1_ps(wx1);
            for (c = 0; c + 8 <= c_n; c += 8) {
                _mm256_storeu_ps(o + c, blend8(tl + c, bl + c, tr + c, br + c, &w));
            }
            for (; c < c_n; ++c) {
                o[c] = ec_f32_bilinear_tap(tl[c], bl[c], tr[c], br[c], wy0, wy1, wx0, wx1);
            }
            o += c_n;
        }
    }
}

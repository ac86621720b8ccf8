/* ec_f32_resize_bilinear, NEON (AArch64; on 32-bit ARM the scalar formula, since Advanced SIMD
 * there flushes subnormals to zero, see ec_arm_f32.h): TFLite's float blend (ec_resize.h) on four
 * channels per register, eight per step. Every lane computes its output in the portable kernel's
 * order with separate multiplies and adds (FMUL, FADD; never a fused FMLA, and the build does not
 * contract), so the lanes give the portable kernel's bits. The last channels take the scalar
 * formula. */
#include "ec_resize.h"

#if defined(__aarch64__)
#include <arm_neon.h>

static float32x4_t blend4(const float *tl, const float *bl, const float *tr, const float *br, float wy0, float wy1,
                          float wx0, float wx1)
{
    const float32x4_t a = vmulq_n_f32(vmulq_n_f32(vld1q_f32(tl), wy0), wx0);
    const float32x4_t b = vmulq_n_f32(vmulq_n_f32(vld1q_f32(bl), wy1), wx0);
    const float32x4_t d = vmulq_n_f32(vmulq_n_f32(vld1q_f32(tr), wy0), wx1);
    const float32x4_t e = vmulq_n_f32(vmulq_n_f32(vld1q_f32(br), wy1), wx1);
    return vaddq_f32(vaddq_f32(vaddq_f32(a, b), d), e);
}
#endif

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
        float *o = out + (size_t)oy * p->out_w * c_n;
        for (ox = 0; ox < p->out_w; ++ox) {
            const size_t left = (size_t)p->cols[2 * ox] * c_n, right = (size_t)p->cols[2 * ox + 1] * c_n;
            const float *tl = top + left, *tr = top + right, *bl = bottom + left, *br = bottom + right;
            const float wx0 = p->col_w[2 * ox], wx1 = p->col_w[2 * ox + 1];
            c = 0;
#if defined(__aarch64__)
            for (; c + 8 <= c_n; c += 8) {
                const float32x4_t lo = blend4(tl + c, bl + c, tr + c, br + c, wy0, wy1, wx0, wx1);
                const float32x4_t hi = blend4(tl + c + 4, bl + c + 4, tr + c + 4, br + c + 4, wy0, wy1, wx0, wx1);
                vst1q_f32(o + c, lo);
                vst1q_f32(o + c + 4, hi);
            }
#endif
            for (; c < c_n; ++c) {
                o[c] = ec_f32_bilinear_tap(tl[c], bl[c], tr[c], br[c], wy0, wy1, wx0, wx1);
            }
            o += c_n;
        }
    }
}

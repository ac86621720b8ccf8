/* ec_s8_resize_bilinear, NEON (AArch64 and 32-bit ARM): TFLite's integer blend (ec_resize.h) on 16
 * channels per step, bit-exact with portable/ec_s8_resize_bilinear.c.
 *
 * Per output pixel, each row of taps is blended first, exactly: the codes widened to int16 and
 * SMULL/SMLAL by the int16 weights 1024 - fx and fx (|fx|, |1024 - fx| <= 1536) give
 * h = x0 (1024 - fx) + x1 fx in int32, |h| <= 128 * 1536. The rows are then blended in int32
 * (MUL, MLA), acc = h_top (1024 - fy) + h_bottom fy, the same sum as the portable kernel's four
 * products (|acc| < 2^31, ec_resize.h). C's truncating (acc +- 2^19) / 2^20 is the rounding shift
 * SRSHR #20 (floor((v + 2^19) / 2^20), computed without overflow) of v = acc + (acc >> 31), i.e.
 * of acc - 1 for negative acc: floor((acc - 1 + 2^19) / 2^20) = ceil((acc - 2^19) / 2^20). The
 * result lies in [-128, 127] (each axis' weights sum to 1024 and are negative only where both
 * taps are the same pixel), so the saturating narrows do not clip. Eight remaining channels take
 * one half step; the last ones (below 8) the scalar formula. */
#include <arm_neon.h>

#include "ec_resize.h"

/* Four outputs' accumulators from four int16 channels of each tap. */
EC_INLINE int32x4_t blend4(int16x4_t tl, int16x4_t tr, int16x4_t bl, int16x4_t br, int16_t wx0, int16_t wx1,
                        int32_t wy0, int32_t wy1)
{
    const int32x4_t top = vmlal_n_s16(vmull_n_s16(tl, wx0), tr, wx1);
    const int32x4_t bottom = vmlal_n_s16(vmull_n_s16(bl, wx0), br, wx1);
    const int32x4_t acc = vmlaq_n_s32(vmulq_n_s32(top, wy0), bottom, wy1);
    return vrshrq_n_s32(vsraq_n_s32(acc, acc, 31), 20);
}

EC_INLINE int8x8_t blend8(int16x8_t tl, int16x8_t tr, int16x8_t bl, int16x8_t br, int16_t wx0, int16_t wx1,
                       int32_t wy0, int32_t wy1)
{
    const int32x4_t lo = blend4(vget_low_s16(tl), vget_low_s16(tr), vget_low_s16(bl), vget_low_s16(br), wx0, wx1,
                                wy0, wy1);
    const int32x4_t hi = blend4(vget_high_s16(tl), vget_high_s16(tr), vget_high_s16(bl), vget_high_s16(br), wx0,
                                wx1, wy0, wy1);
    return vqmovn_s16(vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi)));
}

void ec_s8_resize_bilinear(const int8_t *in, const ec_s8_resize_t *p, int32_t row_begin, int32_t row_end,
                           int8_t *out)
{
    const int32_t c_n = p->channels;
    const size_t in_row = (size_t)p->in_w * c_n;
    int32_t oy, ox, c;
    for (oy = row_begin; oy < row_end; ++oy) {
        const int32_t *ry = p->rows + 3 * oy;
        const int8_t *top = in + (size_t)ry[0] * in_row;
        const int8_t *bottom = in + (size_t)ry[1] * in_row;
        const int32_t fy = ry[2];
        int8_t *o = out + (size_t)oy * p->out_w * c_n;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t *rx = p->cols + 3 * ox;
            const int8_t *tl = top + (size_t)rx[0] * c_n, *tr = top + (size_t)rx[1] * c_n;
            const int8_t *bl = bottom + (size_t)rx[0] * c_n, *br = bottom + (size_t)rx[1] * c_n;
            const int32_t fx = rx[2];
            const int16_t wx0 = (int16_t)(1024 - fx), wx1 = (int16_t)fx;
            for (c = 0; c + 16 <= c_n; c += 16) {
                const int8x16_t t0 = vld1q_s8(tl + c), t1 = vld1q_s8(tr + c);
                const int8x16_t b0 = vld1q_s8(bl + c), b1 = vld1q_s8(br + c);
                const int8x8_t lo = blend8(vmovl_s8(vget_low_s8(t0)), vmovl_s8(vget_low_s8(t1)),
                                           vmovl_s8(vget_low_s8(b0)), vmovl_s8(vget_low_s8(b1)), wx0, wx1, 1024 - fy, fy);
                const int8x8_t hi = blend8(vmovl_s8(vget_high_s8(t0)), vmovl_s8(vget_high_s8(t1)),
                                           vmovl_s8(vget_high_s8(b0)), vmovl_s8(vget_high_s8(b1)), wx0, wx1, 1024 - fy,
                                           fy);
                vst1q_s8(o + c, vcombine_s8(lo, hi));
            }
            if (c + 8 <= c_n) {
                vst1_s8(o + c, blend8(vmovl_s8(vld1_s8(tl + c)), vmovl_s8(vld1_s8(tr + c)), vmovl_s8(vld1_s8(bl + c)),
                                      vmovl_s8(vld1_s8(br + c)), wx0, wx1, 1024 - fy, fy));
                c += 8;
            }
            if (c < c_n) {
                const int32_t w00 = (1024 - fy) * (1024 - fx), w10 = fy * (1024 - fx);
                const int32_t w01 = (1024 - fy) * fx, w11 = fy * fx;
                for (; c < c_n; ++c) {
                    o[c] = ec_s8_bilinear_tap(tl[c], bl[c], tr[c], br[c], w00, w10, w01, w11);
                }
            }
            o += c_n;
        }
    }
}

/* ec_arm_b1.h: the NEON XNOR convolution (ec_b1_conv2d_xnor), AArch64 and ARMv7 NEON; formula,
 * bit order and weight layout in ec_b1.h, the packed input (word planes) in ec_b1_popcount.h, which
 * the including file reaches with EC_B1_ISA_NEON defined.
 *
 * Vector lanes hold output channels, not pixels. The weight layout interleaves 16 output channels
 * word by word, so the 16 channels' words of one step s = tap * words + wd are 64 consecutive
 * bytes: four vectors of 4 channels, loaded once per step and shared by every pixel of the tile.
 * A pixel's activation word of that step is broadcast to the four lanes (LD1R), and per vector
 *     part = part + CNT(EOR(a, w))     (8-bit lanes: 4 byte counts per channel and lane)
 * so one pass does EOR + CNT + ADD per 128 binary MACs, no broadcast of weights. A byte count grows
 * by at most 8 per step, so the 8-bit parts take up to EC_B1_PART_LIMIT = 31 steps
 * (31 * 8 = 248 <= 255) before they are widened by pairwise adds (UADDLP to 16 bits, UADALP into
 * the 32-bit channel totals), which are exact integer popcounts: pop <= k_h * k_w * words * 32.
 * Register tile: EC_ARM_B1_PIXELS output pixels (any four of the layer, each its own base in the
 * word planes, so no lane is wasted on the columns between output rows) by 16 channels; 16 8-bit
 * accumulators, 4 weight and 4 broadcast registers on AArch64, 2 pixels on ARMv7 (16 registers).
 * Step s of a pixel reads the word planes at the pixel's base plus offset[s] = wd * plane +
 * ky * dil_h * ext_w + ec_b1_column_offset(kx * dil_w), a table built once per call in the scratch
 * words after the planes (k_h * k_w * words of them, ec_b1.h).
 *
 * Outputs per pixel and 16 channels, from the 32-bit totals pop: int8 codes, acc = bias + n * K
 * - 2 * n * pop (wrapping int32 vector arithmetic; the true value lies within the accumulator bound
 * of ec_b1.h, so it is exact), then the exact vector requantization of ec_arm_requant.h; or packed
 * bits, channel j set when pop > limit[j] (ec_b1.h), OR-ed into the pixel's word (a block of 16
 * channels sits within one word, at bit oc % 32). */
#ifndef EC_ARM_B1_H
#define EC_ARM_B1_H

#include "ec_arm_requant.h"
#include "ec_b1_popcount.h"

#if defined(__aarch64__)
#define EC_ARM_B1_PIXELS 4
#else
#define EC_ARM_B1_PIXELS 2
#endif

/* The 8-bit byte counts of one pixel: channels 4q .. 4q + 3 of the block in c<q>. */
typedef struct {
    uint8x16_t c0, c1, c2, c3;
} ec_b1_parts_t;

/* One step of one pixel: a = the pixel's word in all lanes, w0..w3 the block's 16 channel words. */
EC_FORCE_INLINE ec_b1_parts_t ec_b1_xnor_step(ec_b1_parts_t p, uint32x4_t a, uint32x4_t w0, uint32x4_t w1,
                                              uint32x4_t w2, uint32x4_t w3)
{
    p.c0 = vaddq_u8(p.c0, vcntq_u8(vreinterpretq_u8_u32(veorq_u32(a, w0))));
    p.c1 = vaddq_u8(p.c1, vcntq_u8(vreinterpretq_u8_u32(veorq_u32(a, w1))));
    p.c2 = vaddq_u8(p.c2, vcntq_u8(vreinterpretq_u8_u32(veorq_u32(a, w2))));
    p.c3 = vaddq_u8(p.c3, vcntq_u8(vreinterpretq_u8_u32(veorq_u32(a, w3))));
    return p;
}

EC_FORCE_INLINE ec_b1_parts_t ec_b1_parts_zero(void)
{
    ec_b1_parts_t p;
    p.c0 = p.c1 = p.c2 = p.c3 = vdupq_n_u8(0);
    return p;
}

/* total[0..15] += the byte counts of p summed per channel (UADDLP, then UADALP). */
EC_FORCE_INLINE void ec_b1_parts_widen(ec_b1_parts_t p, uint32_t *total)
{
    vst1q_u32(total, vpadalq_u16(vld1q_u32(total), vpaddlq_u8(p.c0)));
    vst1q_u32(total + 4, vpadalq_u16(vld1q_u32(total + 4), vpaddlq_u8(p.c1)));
    vst1q_u32(total + 8, vpadalq_u16(vld1q_u32(total + 8), vpaddlq_u8(p.c2)));
    vst1q_u32(total + 12, vpadalq_u16(vld1q_u32(total + 12), vpaddlq_u8(p.c3)));
}

/* total[i][j] = pop of pixel i (base a[i] in the word planes) and channel j of the block whose
 * weight words start at w (16 per step), over steps s < steps with offsets off[s]. */
EC_FORCE_INLINE void ec_b1_tile_popcounts(const uint32_t *const a[EC_ARM_B1_PIXELS], const uint32_t *w,
                                          const uint32_t *off, int32_t steps, uint32_t total[][16])
{
    int32_t s0, s;
    memset(total, 0, (size_t)EC_ARM_B1_PIXELS * sizeof total[0]);
    for (s0 = 0; s0 < steps; s0 += EC_B1_PART_LIMIT) {
        const int32_t s1 = steps - s0 < EC_B1_PART_LIMIT ? steps : s0 + EC_B1_PART_LIMIT;
        ec_b1_parts_t p0 = ec_b1_parts_zero(), p1 = p0;
#if EC_ARM_B1_PIXELS > 2
        ec_b1_parts_t p2 = p0, p3 = p0;
#endif
        const uint32_t *wk = w + (size_t)s0 * EC_B1_WEIGHT_GROUP;
        for (s = s0; s < s1; ++s, wk += EC_B1_WEIGHT_GROUP) {
            const uint32x4_t w0 = vld1q_u32(wk), w1 = vld1q_u32(wk + 4), w2 = vld1q_u32(wk + 8);
            const uint32x4_t w3 = vld1q_u32(wk + 12);
            const uint32_t o = off[s];
            p0 = ec_b1_xnor_step(p0, vld1q_dup_u32(a[0] + o), w0, w1, w2, w3);
            p1 = ec_b1_xnor_step(p1, vld1q_dup_u32(a[1] + o), w0, w1, w2, w3);
#if EC_ARM_B1_PIXELS > 2
            p2 = ec_b1_xnor_step(p2, vld1q_dup_u32(a[2] + o), w0, w1, w2, w3);
            p3 = ec_b1_xnor_step(p3, vld1q_dup_u32(a[3] + o), w0, w1, w2, w3);
#endif
        }
        ec_b1_parts_widen(p0, total[0]);
        ec_b1_parts_widen(p1, total[1]);
#if EC_ARM_B1_PIXELS > 2
        ec_b1_parts_widen(p2, total[2]);
        ec_b1_parts_widen(p3, total[3]);
#endif
    }
}

/* The 16-bit mask of the block's channels whose pop exceeds their limit (limit[q]: channels
 * 4q .. 4q + 3, INT32_MAX for channels past the layer's last, so never set). */
EC_FORCE_INLINE uint32_t ec_b1_above_bits(const uint32_t *pop, const int32x4_t limit[4])
{
    static const uint32_t one[16] = {1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u, 512u, 1024u, 2048u, 4096u, 8192u,
                                     16384u, 32768u};
    uint32x4_t sum = vandq_u32(vcgtq_s32(vreinterpretq_s32_u32(vld1q_u32(pop)), limit[0]), vld1q_u32(one));
    uint32x2_t half;
    sum = vorrq_u32(sum, vandq_u32(vcgtq_s32(vreinterpretq_s32_u32(vld1q_u32(pop + 4)), limit[1]), vld1q_u32(one + 4)));
    sum = vorrq_u32(sum, vandq_u32(vcgtq_s32(vreinterpretq_s32_u32(vld1q_u32(pop + 8)), limit[2]), vld1q_u32(one + 8)));
    sum = vorrq_u32(sum, vandq_u32(vcgtq_s32(vreinterpretq_s32_u32(vld1q_u32(pop + 12)), limit[3]), vld1q_u32(one + 12)));
    half = vorr_u32(vget_low_u32(sum), vget_high_u32(sum));
    return vget_lane_u32(half, 0) | vget_lane_u32(half, 1);
}

/* The block's int8 outputs of one pixel: acc = base + step2 * pop per channel, requantized. */
EC_FORCE_INLINE void ec_b1_xnor_codes(const uint32_t *pop, const int32x4_t base[4], const int32x4_t step2[4],
                                      const int32_t *mult, const int32_t *shift, int32_t nb, const ec_qparams_t *q,
                                      int8_t *out)
{
    const int8x16_t lo = vdupq_n_s8((int8_t)q->act_min), hi = vdupq_n_s8((int8_t)q->act_max);
    int32x4_t acc[4];
    acc[0] = vmlaq_s32(base[0], step2[0], vreinterpretq_s32_u32(vld1q_u32(pop)));
    acc[1] = vmlaq_s32(base[1], step2[1], vreinterpretq_s32_u32(vld1q_u32(pop + 4)));
    acc[2] = vmlaq_s32(base[2], step2[2], vreinterpretq_s32_u32(vld1q_u32(pop + 8)));
    acc[3] = vmlaq_s32(base[3], step2[3], vreinterpretq_s32_u32(vld1q_u32(pop + 12)));
    ec_neon_store16(out, ec_neon_requantize16(acc, mult, shift, nb, q->out_zp, lo, hi), nb);
}

EC_INLINE void ec_arm_b1_xnor_conv(const void *in, const uint32_t *w_bits, const int32_t *bias,
                                   const int32_t *weight_steps, const int32_t *mult, const int32_t *shift,
                                   const int32_t *pop_limits, const ec_window_t *win, const ec_qparams_t *q,
                                   int32_t flags, uint32_t *scratch, void *out)
{
    const ec_b1_planes_t pl = ec_b1_planes(win);
    const size_t pitch = (size_t)win->stride_h * (size_t)pl.ext_w;
    const int32_t k_total = win->k_h * win->k_w * win->in_c;
    const int32_t steps = win->k_h * win->k_w * pl.words;
    const size_t w_per_group = (size_t)steps * EC_B1_WEIGHT_GROUP;
    const int32_t out_words = (win->out_c + 31) / 32;
    const int32_t pixels = win->out_h * win->out_w;
    uint32_t *off = scratch + pl.plane * (size_t)pl.words;
    uint32_t total[EC_ARM_B1_PIXELS][16];
    int32_t oc, p, i, j, ky, kx, wd;
    if (flags & EC_B1_IN_PACKED) {
        ec_b1_pack_input(NULL, (const uint32_t *)in, win, &pl, 0, 0, scratch);
    } else {
        ec_b1_pack_input((const int8_t *)in, NULL, win, &pl, 0, q->in_zp, scratch);
    }
    for (ky = 0; ky < win->k_h; ++ky) {
        for (kx = 0; kx < win->k_w; ++kx) {
            const size_t tap = (size_t)(ky * win->dil_h) * (size_t)pl.ext_w +
                               (size_t)ec_b1_column_offset(kx * win->dil_w, pl.ext_w, win->stride_w);
            for (wd = 0; wd < pl.words; ++wd) {
                off[(ky * win->k_w + kx) * pl.words + wd] = (uint32_t)(tap + (size_t)wd * pl.plane);
            }
        }
    }
    if (flags & EC_B1_OUT_PACKED) {
        memset(out, 0, (size_t)pixels * (size_t)out_words * sizeof(uint32_t));
    }
    for (oc = 0; oc < win->out_c; oc += EC_B1_WEIGHT_GROUP) {
        const int32_t nb = win->out_c - oc < EC_B1_WEIGHT_GROUP ? win->out_c - oc : EC_B1_WEIGHT_GROUP;
        const uint32_t *w_block = w_bits + (size_t)(oc / EC_B1_WEIGHT_GROUP) * w_per_group;
        int32x4_t base[4], step2[4], limit[4];
        if (flags & EC_B1_OUT_PACKED) {
            for (j = 0; j < 4; ++j) {
                limit[j] = ec_neon_load4_s32(pop_limits + oc + 4 * j, nb - 4 * j, INT32_MAX);
            }
        } else {
            for (j = 0; j < 4; ++j) {
                const int32x4_t n = ec_neon_load4_s32(weight_steps + oc + 4 * j, nb - 4 * j, 0);
                const int32x4_t b = bias ? ec_neon_load4_s32(bias + oc + 4 * j, nb - 4 * j, 0) : vdupq_n_s32(0);
                base[j] = vmlaq_s32(b, n, vdupq_n_s32(k_total));
                step2[j] = vmulq_s32(n, vdupq_n_s32(-2));
            }
        }
        int32_t y = 0, x = 0; /* the tile's first pixel */
        for (p = 0; p < pixels; p += EC_ARM_B1_PIXELS) {
            const int32_t m = pixels - p < EC_ARM_B1_PIXELS ? pixels - p : EC_ARM_B1_PIXELS;
            const uint32_t *a[EC_ARM_B1_PIXELS];
            for (i = 0; i < EC_ARM_B1_PIXELS; ++i) { /* pixels past the last repeat it */
                a[i] = scratch + (size_t)y * pitch + (size_t)x;
                if (i + 1 < m && ++x == win->out_w) {
                    x = 0;
                    ++y;
                }
            }
            if (++x == win->out_w) {
                x = 0;
                ++y;
            }
            ec_b1_tile_popcounts(a, w_block, off, steps, total);
            for (i = 0; i < m; ++i) {
                if (flags & EC_B1_OUT_PACKED) {
                    ((uint32_t *)out)[(size_t)(p + i) * (size_t)out_words + (size_t)(oc / 32)] |=
                        ec_b1_above_bits(total[i], limit) << (oc % 32);
                } else {
                    ec_b1_xnor_codes(total[i], base, step2, mult + oc, shift + oc, nb, q,
                                     (int8_t *)out + (size_t)(p + i) * (size_t)win->out_c + (size_t)oc);
                }
            }
        }
    }
}

#endif /* EC_ARM_B1_H */

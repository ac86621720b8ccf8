/* ec_arm_gemm.h: the NEON tile function of the packed int8 GEMM (ec_s8_packed.h), AArch64 and
 * ARMv7 NEON alike; bit-exact with the portable tile.
 *
 * The pixel's bytes are multiplied as they are (int8), not minus in_zp, and the zero point comes
 * back once per output: sum_k (x_k - zp) w_k = sum_k x_k w_k - zp * wsum[o], the weight sums
 * stored by the generator. Every int32 step wraps modulo 2^32 and the true value lies within the
 * generator's accumulator bound (ec_s8.h), so the result is exact. Each group of 4 K bytes of a
 * pixel is broadcast to the four 32-bit lanes of a register (x4); one 16-byte register of a packed
 * group holds 4 output channels by the same 4 K bytes (w, 64 bytes per 16 channels).
 *
 * Dot product (__ARM_FEATURE_DOTPROD: the target's ISA features name dotprod, kernels/isa.py):
 * SDOT adds the 4-byte dot product of w and x4 to each int32 lane, lane c holding channel c of the
 * register: 16 MACs per instruction, no widening. Register tile: 4 pixels x 16 channels (16
 * accumulators, 4 weight and 4 pixel registers).
 *
 * Without it (Cortex-A72, A53, A57; ARMv7): SMULL/SMULL2 multiply 8 weight bytes (2 channels x 4
 * K bytes) by x4's bytes into exact int16 products (|x w| <= 128 * 128), and SADALP adds adjacent
 * pairs into int32 lanes, so that an accumulator holds (channel, K bytes 0-1) and (channel, K bytes
 * 2-3) of 2 channels; a final pairwise add (ec_neon_pair_sums) leaves one lane per channel. 8 MACs
 * per multiply, which issues on the A72's F0 pipe while the SADALP issues on F1 (Cortex-A72
 * Software Optimization Guide, instruction tables: ASIMD multiply long on F0, pairwise add and
 * accumulate long on F1). Register tile: 2 pixels x 16 channels on AArch64 (16 accumulators),
 * 1 pixel on ARMv7 (16 registers in all).
 *
 * The outputs (bias - zp * wsum + sums) take the exact vector requantization of
 * ec_arm_requant.h. */
#ifndef EC_ARM_GEMM_H
#define EC_ARM_GEMM_H

#include <arm_neon.h>

#include "ec_arm_requant.h"
#include "ec_s8_packed.h"

#if defined(__ARM_FEATURE_DOTPROD)
#define EC_ARM_GEMM_TILE 4
#define EC_ARM_GEMM_ACC 4 /* int32x4 accumulators per pixel and 16 channels */
#elif defined(__aarch64__)
#define EC_ARM_GEMM_TILE 2
#define EC_ARM_GEMM_ACC 8
#else
#define EC_ARM_GEMM_TILE 1
#define EC_ARM_GEMM_ACC 8
#endif

/* A pixel's group at p (n bytes, n < 4 for a segment's tail) in all four 32-bit lanes. */
EC_FORCE_INLINE int8x16_t ec_neon_group_x4(const int8_t *p, int32_t n)
{
    return vreinterpretq_s8_s32(vdupq_n_s32(n == 4 ? ec_load_group(p) : ec_load_tail_group(p, n)));
}

/* acc += the 4 channels of weight register q times x4 (written out per q: GCC -O2 keeps the
 * accumulators in registers only when every index is a constant). */
#if defined(__ARM_FEATURE_DOTPROD)
#define EC_NEON_MAC_Q(acc, w, x4, q) ((acc)[q] = vdotq_s32((acc)[q], (w)[q], (x4)))
#elif defined(__aarch64__)
#define EC_NEON_MAC_Q(acc, w, x4, q)                                                                   \
    ((acc)[2 * (q)] = vpadalq_s16((acc)[2 * (q)], vmull_s8(vget_low_s8((w)[q]), vget_low_s8(x4))),     \
     (acc)[2 * (q) + 1] = vpadalq_s16((acc)[2 * (q) + 1], vmull_high_s8((w)[q], (x4))))
#else
#define EC_NEON_MAC_Q(acc, w, x4, q)                                                                   \
    ((acc)[2 * (q)] = vpadalq_s16((acc)[2 * (q)], vmull_s8(vget_low_s8((w)[q]), vget_low_s8(x4))),     \
     (acc)[2 * (q) + 1] = vpadalq_s16((acc)[2 * (q) + 1], vmull_s8(vget_high_s8((w)[q]), vget_high_s8(x4))))
#endif

/* acc += the 16 channels of the group w[0..3] times x4. */
EC_FORCE_INLINE void ec_neon_mac_group(int32x4_t acc[EC_ARM_GEMM_ACC], const int8x16_t w[4], int8x16_t x4)
{
    EC_NEON_MAC_Q(acc, w, x4, 0);
    EC_NEON_MAC_Q(acc, w, x4, 1);
    EC_NEON_MAC_Q(acc, w, x4, 2);
    EC_NEON_MAC_Q(acc, w, x4, 3);
}

/* The first `tile` pixels (1 or EC_ARM_GEMM_TILE, a constant where inlined) times the group at
 * wk: K bytes k .. k + n - 1 of each pixel's segment x[i]. */
EC_FORCE_INLINE void ec_neon_mac_tile(int32x4_t acc[EC_ARM_GEMM_TILE][EC_ARM_GEMM_ACC], const int8_t *wk,
                                      const int8_t *const x[EC_ARM_GEMM_TILE], int32_t k, int32_t n, int tile)
{
    int8x16_t w[4];
    w[0] = vld1q_s8(wk);
    w[1] = vld1q_s8(wk + 16);
    w[2] = vld1q_s8(wk + 32);
    w[3] = vld1q_s8(wk + 48);
    ec_neon_mac_group(acc[0], w, ec_neon_group_x4(x[0] + k, n));
    if (tile == 1) {
        return;
    }
#if EC_ARM_GEMM_TILE > 1
    ec_neon_mac_group(acc[1], w, ec_neon_group_x4(x[1] + k, n));
#endif
#if EC_ARM_GEMM_TILE > 2
    ec_neon_mac_group(acc[2], w, ec_neon_group_x4(x[2] + k, n));
    ec_neon_mac_group(acc[3], w, ec_neon_group_x4(x[3] + k, n));
#endif
}

#if defined(__ARM_FEATURE_DOTPROD)
/* acc += the 16 channels of the group w[0..3] times group `lane` of the 16 bytes x16 (SDOT by
 * element: the group is read from its lane, no broadcast). */
#define EC_NEON_DOT_LANE(acc, w, x16, lane)                                                            \
    ((acc)[0] = vdotq_laneq_s32((acc)[0], (w)[0], (x16), lane),                                        \
     (acc)[1] = vdotq_laneq_s32((acc)[1], (w)[1], (x16), lane),                                        \
     (acc)[2] = vdotq_laneq_s32((acc)[2], (w)[2], (x16), lane),                                        \
     (acc)[3] = vdotq_laneq_s32((acc)[3], (w)[3], (x16), lane))

/* The pixels' 16 K bytes from k (four whole groups of each segment) times the four groups at wk:
 * one load per pixel, each weight register used by every pixel of the tile. */
EC_FORCE_INLINE void ec_neon_mac_tile16(int32x4_t acc[EC_ARM_GEMM_TILE][EC_ARM_GEMM_ACC], const int8_t *wk,
                                        const int8_t *const x[EC_ARM_GEMM_TILE], int32_t k, int tile)
{
    /* named registers, as everywhere in the tile: an indexed array would live in memory */
    const int8x16_t x0 = vld1q_s8(x[0] + k), x1 = vld1q_s8(x[tile > 1 ? 1 : 0] + k);
    const int8x16_t x2 = vld1q_s8(x[tile > 1 ? 2 : 0] + k), x3 = vld1q_s8(x[tile > 1 ? 3 : 0] + k);
    int8x16_t w[4];
#define EC_NEON_DOT_GROUP(lane)                                                                        \
    w[0] = vld1q_s8(wk + 64 * (lane));                                                                 \
    w[1] = vld1q_s8(wk + 64 * (lane) + 16);                                                            \
    w[2] = vld1q_s8(wk + 64 * (lane) + 32);                                                            \
    w[3] = vld1q_s8(wk + 64 * (lane) + 48);                                                            \
    EC_NEON_DOT_LANE(acc[0], w, x0, lane);                                                             \
    if (tile > 1) {                                                                                    \
        EC_NEON_DOT_LANE(acc[1], w, x1, lane);                                                         \
        EC_NEON_DOT_LANE(acc[2], w, x2, lane);                                                         \
        EC_NEON_DOT_LANE(acc[3], w, x3, lane);                                                         \
    }
    EC_NEON_DOT_GROUP(0)
    EC_NEON_DOT_GROUP(1)
    EC_NEON_DOT_GROUP(2)
    EC_NEON_DOT_GROUP(3)
#undef EC_NEON_DOT_GROUP
}
#endif

/* The pairwise sums (a0 + a1, a2 + a3, b0 + b1, b2 + b3). */
EC_FORCE_INLINE int32x4_t ec_neon_pair_sums(int32x4_t a, int32x4_t b)
{
#if defined(__aarch64__)
    return vpaddq_s32(a, b);
#else
    return vcombine_s32(vpadd_s32(vget_low_s32(a), vget_high_s32(a)), vpadd_s32(vget_low_s32(b), vget_high_s32(b)));
#endif
}

/* One int32 lane per channel, plus base: channels 4q .. 4q + 3 in sums[q] (written out per q, as
 * every access to the accumulators: a loop index would put them on the stack). */
EC_FORCE_INLINE void ec_neon_channel_sums(const int32x4_t acc[EC_ARM_GEMM_ACC], const int32x4_t base[4],
                                          int32x4_t sums[4])
{
#if defined(__ARM_FEATURE_DOTPROD)
    sums[0] = vaddq_s32(acc[0], base[0]);
    sums[1] = vaddq_s32(acc[1], base[1]);
    sums[2] = vaddq_s32(acc[2], base[2]);
    sums[3] = vaddq_s32(acc[3], base[3]);
#else
    sums[0] = vaddq_s32(ec_neon_pair_sums(acc[0], acc[1]), base[0]);
    sums[1] = vaddq_s32(ec_neon_pair_sums(acc[2], acc[3]), base[1]);
    sums[2] = vaddq_s32(ec_neon_pair_sums(acc[4], acc[5]), base[2]);
    sums[3] = vaddq_s32(ec_neon_pair_sums(acc[6], acc[7]), base[3]);
#endif
}

/* acc[i] += pixel i times the block at w, for `tile` pixels (m and beyond repeat m - 1): the whole
 * groups of each segment, then its tail group. */
EC_FORCE_INLINE void ec_neon_accumulate(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, const int8_t *w,
                                        int32x4_t acc[EC_ARM_GEMM_TILE][EC_ARM_GEMM_ACC], int tile)
{
    const int32_t whole = ec_gemm_whole_bytes(g);
    const int8_t *wk = w;
    const int8_t *x[EC_ARM_GEMM_TILE];
    int32_t s, k;
    int i;
    for (s = 0; s < g->nseg; ++s) {
        if (src->taps) { /* a tile of tap lists (first NULL) */
            for (i = 0; i < EC_ARM_GEMM_TILE; ++i) {
                x[i] = src->taps[(i < m ? i : m - 1) * g->nseg + s];
            }
        } else { /* a row tile: pixel i at base + i * step (ec_s8_packed.h) */
            const int pad = src->seg_offset[s] == EC_GEMM_PAD;
            const int8_t *base = pad ? src->pad_row : src->first + src->seg_offset[s];
            const size_t step = pad ? 0 : src->step;
            x[0] = base;
#if EC_ARM_GEMM_TILE == 1
            (void)step;
#else
            x[1] = base + (m > 1 ? step : 0);
#endif
#if EC_ARM_GEMM_TILE > 2
            x[2] = base + (size_t)(m > 2 ? 2 : m - 1) * step;
            x[3] = base + (size_t)(m > 3 ? 3 : m - 1) * step;
#endif
        }
        k = 0;
#if defined(__ARM_FEATURE_DOTPROD)
        for (; k + 16 <= whole; k += 16, wk += 256) {
            ec_neon_mac_tile16(acc, wk, x, k, tile);
        }
#endif
        for (; k < whole; k += 4, wk += 64) {
            ec_neon_mac_tile(acc, wk, x, k, 4, tile);
        }
        if (k < g->seg_len) {
            ec_neon_mac_tile(acc, wk, x, k, g->seg_len - k, tile);
            wk += 64;
        }
    }
}

/* The requantized outputs of one pixel: its channel sums plus bias - zp * wsum (base). */
EC_FORCE_INLINE void ec_neon_output(const ec_gemm_t *g, const int32x4_t acc[EC_ARM_GEMM_ACC], const int32x4_t base[4],
                                    int32_t c0, int32_t n, int8_t *out)
{
    const int8x16_t lo = vdupq_n_s8((int8_t)g->q->act_min), hi = vdupq_n_s8((int8_t)g->q->act_max);
    int32x4_t sums[4];
    ec_neon_channel_sums(acc, base, sums);
    ec_neon_store16(out, ec_neon_requantize16(sums, g->mult + c0, g->shift + c0, n, g->q->out_zp, lo, hi), n);
}

/* bias - zp * wsum (wrapping) of the block's n <= 16 channels from c0. */
EC_FORCE_INLINE void ec_neon_base(const ec_gemm_t *g, int32_t c0, int32_t n, int32x4_t base[4])
{
    const int32x4_t zp = vdupq_n_s32(g->q->in_zp);
    int j;
    for (j = 0; j < 4; ++j) {
        base[j] = vmlsq_s32(ec_neon_load4_s32(g->bias + c0 + 4 * j, n - 4 * j, 0), zp,
                            ec_neon_load4_s32(g->wsum + c0 + 4 * j, n - 4 * j, 0));
    }
}

/* The requantization mode (ec_neon_rq_mode) of each full block of 16 channels of a layer of at
 * most EC_ARM_MODE_CHANNELS output channels, chosen once per call by the kernels that run many
 * tiles (1x1 and im2col convolutions: ec_arm_gemm_prepare points g->stages at it). Without it
 * (wider layers, the fully connected layer) a block requantizes exactly. */
#define EC_ARM_MODE_CHANNELS 4096
typedef struct {
    int8_t of[EC_ARM_MODE_CHANNELS / EC_PACK_LANES];
} ec_arm_modes_t;

EC_INLINE void ec_arm_gemm_prepare(ec_gemm_t *g, ec_arm_modes_t *modes)
{
    int32_t c0;
    int j;
    if (g->out_c > EC_ARM_MODE_CHANNELS) {
        return;
    }
    for (c0 = 0; c0 + EC_PACK_LANES <= g->out_c; c0 += EC_PACK_LANES) {
        ec_neon_rq_t rq[4];
        for (j = 0; j < 4; ++j) {
            rq[j] = ec_neon_rq_make(vld1q_s32(g->mult + c0 + 4 * j), vld1q_s32(g->shift + c0 + 4 * j));
        }
        modes->of[c0 / EC_PACK_LANES] = (int8_t)ec_neon_rq_mode(rq, 4, g->q);
    }
    g->stages = modes;
}

/* One pixel's 16 outputs of a full block with the block's constants, requantized as `mode` says
 * (a constant: ec_neon_rq_mode). */
EC_FORCE_INLINE void ec_neon_output_full(const int32x4_t acc[EC_ARM_GEMM_ACC], const int32x4_t base[4],
                                         const ec_neon_rq_t rq[4], int32x4_t out_zp, int8x16_t lo, int8x16_t hi,
                                         int8_t *out, const int mode)
{
    int32x4_t sums[4];
    ec_neon_channel_sums(acc, base, sums);
    vst1q_s8(out, ec_neon_narrow16(vaddq_s32(ec_neon_requantize_as(sums[0], &rq[0], mode), out_zp),
                                   vaddq_s32(ec_neon_requantize_as(sums[1], &rq[1], mode), out_zp),
                                   vaddq_s32(ec_neon_requantize_as(sums[2], &rq[2], mode), out_zp),
                                   vaddq_s32(ec_neon_requantize_as(sums[3], &rq[3], mode), out_zp), lo, hi));
}

/* The tile's pixels through ec_neon_output_full with one requantization mode. */
EC_FORCE_INLINE void ec_neon_output_pixels(int32x4_t acc[EC_ARM_GEMM_TILE][EC_ARM_GEMM_ACC], const int32x4_t base[4],
                                           const ec_neon_rq_t rq[4], int32x4_t out_zp, int8x16_t lo, int8x16_t hi,
                                           int8_t *out, size_t out_stride, const int mode)
{
    ec_neon_output_full(acc[0], base, rq, out_zp, lo, hi, out, mode);
#if EC_ARM_GEMM_TILE > 1
    ec_neon_output_full(acc[1], base, rq, out_zp, lo, hi, out + out_stride, mode);
#else
    (void)out_stride;
#endif
#if EC_ARM_GEMM_TILE > 2
    ec_neon_output_full(acc[2], base, rq, out_zp, lo, hi, out + 2 * out_stride, mode);
    ec_neon_output_full(acc[3], base, rq, out_zp, lo, hi, out + 3 * out_stride, mode);
#endif
}

/* The outputs of a whole tile (EC_ARM_GEMM_TILE pixels) of a full block of 16 channels, without a
 * branch per pixel: the block's constants loaded once and its requantization mode chosen once, the
 * pixels' requantizations free to overlap. */
EC_FORCE_INLINE void ec_neon_output_tile(const ec_gemm_t *g, int32x4_t acc[EC_ARM_GEMM_TILE][EC_ARM_GEMM_ACC],
                                         int32_t c0, int8_t *out, size_t out_stride)
{
    const int32x4_t zp = vdupq_n_s32(g->q->in_zp), out_zp = vdupq_n_s32(g->q->out_zp);
    const int8x16_t lo = vdupq_n_s8((int8_t)g->q->act_min), hi = vdupq_n_s8((int8_t)g->q->act_max);
    const int mode = g->stages ? ((const ec_arm_modes_t *)g->stages)->of[c0 / EC_PACK_LANES] : EC_NEON_RQ_EXACT;
    int32x4_t base[4];
    ec_neon_rq_t rq[4];
    int j;
    for (j = 0; j < 4; ++j) {
        base[j] = vmlsq_s32(vld1q_s32(g->bias + c0 + 4 * j), zp, vld1q_s32(g->wsum + c0 + 4 * j));
        rq[j] = ec_neon_rq_make(vld1q_s32(g->mult + c0 + 4 * j), vld1q_s32(g->shift + c0 + 4 * j));
    }
    if (mode == EC_NEON_RQ_FLOORED) {
        ec_neon_output_pixels(acc, base, rq, out_zp, lo, hi, out + (size_t)c0, out_stride, EC_NEON_RQ_FLOORED);
    } else if (mode == EC_NEON_RQ_RIGHT) {
        ec_neon_output_pixels(acc, base, rq, out_zp, lo, hi, out + (size_t)c0, out_stride, EC_NEON_RQ_RIGHT);
    } else {
        ec_neon_output_pixels(acc, base, rq, out_zp, lo, hi, out + (size_t)c0, out_stride, EC_NEON_RQ_EXACT);
    }
}

/* Every pixel of the tile is named by a constant index (acc[0], acc[1], ...), here as in the
 * accumulation, so that GCC keeps the accumulators in registers across the segments. */
static void ec_arm_gemm_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out, size_t out_stride)
{
    int32_t c0;
    int i, j;
    for (c0 = 0; c0 < g->out_c; c0 += EC_PACK_LANES) {
        const int32_t n = g->out_c - c0 < EC_PACK_LANES ? g->out_c - c0 : EC_PACK_LANES;
        const int8_t *w = g->w + (size_t)c0 * (size_t)g->k4;
        int32x4_t acc[EC_ARM_GEMM_TILE][EC_ARM_GEMM_ACC];
        int32x4_t base[4];
        for (i = 0; i < EC_ARM_GEMM_TILE; ++i) {
            for (j = 0; j < EC_ARM_GEMM_ACC; ++j) {
                acc[i][j] = vdupq_n_s32(0);
            }
        }
        if (m == 1) { /* a fully connected layer, a lone pixel: no repeated pixels */
            ec_neon_accumulate(g, src, m, w, acc, 1);
            ec_neon_base(g, c0, n, base);
            ec_neon_output(g, acc[0], base, c0, n, out + (size_t)c0);
            continue;
        }
        ec_neon_accumulate(g, src, m, w, acc, EC_ARM_GEMM_TILE);
        if (m == EC_ARM_GEMM_TILE && n == EC_PACK_LANES) {
            ec_neon_output_tile(g, acc, c0, out, out_stride);
            continue;
        }
        ec_neon_base(g, c0, n, base);
        ec_neon_output(g, acc[0], base, c0, n, out + (size_t)c0);
#if EC_ARM_GEMM_TILE > 1
        ec_neon_output(g, acc[1], base, c0, n, out + out_stride + (size_t)c0);
#endif
#if EC_ARM_GEMM_TILE > 2
        if (m > 2) {
            ec_neon_output(g, acc[2], base, c0, n, out + 2 * out_stride + (size_t)c0);
        }
        if (m > 3) {
            ec_neon_output(g, acc[3], base, c0, n, out + 3 * out_stride + (size_t)c0);
        }
#endif
    }
}

#endif /* EC_ARM_GEMM_H */

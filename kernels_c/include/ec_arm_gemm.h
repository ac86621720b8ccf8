/* ec_arm_gemm.h: the NEON tile function of the packed int8 GEMM (ec_s8_packed.h), AArch64 and
 * ARMv7 NEON alike; bit-exact with the portable tile.
 *
 * vld4_s8 on 32 bytes of a 64-byte group (8 channels x 4 K bytes) de-interleaves it into four
 * registers, register j holding K byte j of the 8 channels. Those are widened to int16 and
 * vmlal_lane_s16 multiplies them by lane j of the pixel's 4 bytes minus in_zp (in [-255, 255]),
 * adding the exact int32 products into one int32 lane per channel. Register tile: 4 pixels x 16
 * channels. Requantization stays the scalar ec_requantize: NEON's vqrdmulh rounds halves upward,
 * not away from zero as TFLite does. */
#ifndef EC_ARM_GEMM_H
#define EC_ARM_GEMM_H

#include <arm_neon.h>

#include "ec_s8_packed.h"

#define EC_ARM_GEMM_TILE 4

/* The pixel's 4 bytes at p (n of them, n < 4 for a tail) minus zp, as int16 lanes 0..3. */
EC_INLINE int16x4_t ec_neon_group_s16(const int8_t *p, int32_t n, int16x8_t zp)
{
    const int32_t v = n == 4 ? ec_load_group(p) : ec_load_tail_group(p, n);
    return vget_low_s16(vsubq_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(v))), zp));
}

/* acc[0..3] (channels 0-3, 4-7, 8-11, 12-15) += K byte `lane` of the group times x[lane]. */
#define EC_NEON_MAC_LANE(acc, lo, hi, x, lane)                                                          \
    do {                                                                                              \
        const int16x8_t w_lo = vmovl_s8((lo).val[lane]), w_hi = vmovl_s8((hi).val[lane]);             \
        (acc)[0] = vmlal_lane_s16((acc)[0], vget_low_s16(w_lo), (x), lane);                             \
        (acc)[1] = vmlal_lane_s16((acc)[1], vget_high_s16(w_lo), (x), lane);                            \
        (acc)[2] = vmlal_lane_s16((acc)[2], vget_low_s16(w_hi), (x), lane);                             \
        (acc)[3] = vmlal_lane_s16((acc)[3], vget_high_s16(w_hi), (x), lane);                            \
    } while (0)

/* acc[i] += pixel i times the block at w, for EC_ARM_GEMM_TILE pixels (m and beyond repeat m - 1). */
EC_INLINE void ec_neon_accumulate(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, const int8_t *w,
                                  int32x4_t acc[EC_ARM_GEMM_TILE][4])
{
    const int16x8_t zp = vdupq_n_s16((int16_t)g->q->in_zp);
    const int8_t *wk = w;
    const int8_t *x[EC_ARM_GEMM_TILE];
    int32_t s, k;
    int i;
    for (s = 0; s < g->nseg; ++s) {
        for (i = 0; i < EC_ARM_GEMM_TILE; ++i) {
            x[i] = ec_gemm_segment(src, g->nseg, i < m ? i : m - 1, s);
        }
        for (k = 0; k < g->seg_len; k += 4, wk += 64) {
            const int32_t n = k < ec_gemm_whole_bytes(g) ? 4 : g->seg_len - k;
            const int8x8x4_t lo = vld4_s8(wk), hi = vld4_s8(wk + 32);
            for (i = 0; i < EC_ARM_GEMM_TILE; ++i) {
                const int16x4_t xv = ec_neon_group_s16(x[i] + k, n, zp);
                EC_NEON_MAC_LANE(acc[i], lo, hi, xv, 0);
                EC_NEON_MAC_LANE(acc[i], lo, hi, xv, 1);
                EC_NEON_MAC_LANE(acc[i], lo, hi, xv, 2);
                EC_NEON_MAC_LANE(acc[i], lo, hi, xv, 3);
            }
        }
    }
}

static void ec_arm_gemm_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out, size_t out_stride)
{
    const int32_t blocks = (g->out_c + EC_PACK_LANES - 1) / EC_PACK_LANES;
    int32_t b, c;
    int i, j;
    for (b = 0; b < blocks; ++b) {
        const int32_t c0 = b * EC_PACK_LANES;
        const int32_t n = g->out_c - c0 < EC_PACK_LANES ? g->out_c - c0 : EC_PACK_LANES;
        int32x4_t acc[EC_ARM_GEMM_TILE][4];
        for (i = 0; i < EC_ARM_GEMM_TILE; ++i) {
            for (j = 0; j < 4; ++j) {
                acc[i][j] = vdupq_n_s32(0);
            }
        }
        ec_neon_accumulate(g, src, m, g->w + (size_t)b * (size_t)g->k4 * EC_PACK_LANES, acc);
        for (i = 0; i < m; ++i) {
            int32_t sums[EC_PACK_LANES];
            int8_t *o = out + (size_t)i * out_stride + (size_t)c0;
            for (j = 0; j < 4; ++j) {
                vst1q_s32(sums + 4 * j, acc[i][j]);
            }
            for (c = 0; c < n; ++c) {
                o[c] = ec_requantize_output(g->bias[c0 + c] + sums[c], g->mult[c0 + c], g->shift[c0 + c], g->q);
            }
        }
    }
}

#endif /* EC_ARM_GEMM_H */

/* ec_arm_dw.h: the NEON int8 depthwise convolution with channel multiplier 1 (HWO weights, formula
 * in ec_s8.h), shared by arm/ec_s8_dwconv2d_3x3.c and arm/ec_s8_dwconv2d_generic.c.
 *
 * Channels go 16 at a time (one int8x16 load per tap, a copy for the last n < 16). Per tap,
 * x - in_zp is formed by a widening subtract (SSUBL: int16 in [-255, 255], exact), the weights are
 * widened (SXTL), and four SMLAL/SMLAL2 on int16 lanes add the exact products to four int32x4
 * accumulators, started at the bias. The 16 results take the exact vector requantization of
 * ec_arm_requant.h with the block's per-channel multipliers and shifts. Output pixels whose window
 * lies inside the input read every tap at fixed offsets; the others skip the taps in the padding
 * (they would add (in_zp - in_zp) * w = 0). With EC_DW_KEEP_TAPS taps (the 3x3 kernel), the
 * block's widened weights are loaded once and stay in registers over all output pixels. */
#ifndef EC_ARM_DW_H
#define EC_ARM_DW_H

#include "ec_s8.h"
#include "ec_arm_requant.h"

/* 16 weights widened to int16. */
typedef struct {
    int16x8_t lo, hi;
} ec_dw_w16_t;

EC_FORCE_INLINE ec_dw_w16_t ec_dw_weights(const int8_t *w, int32_t n)
{
    const int8x16_t v = ec_neon_load16(w, n);
    ec_dw_w16_t r;
    r.lo = vmovl_s8(vget_low_s8(v));
    r.hi = vmovl_s8(vget_high_s8(v));
    return r;
}

/* acc += (x - zp) * w over 16 lanes. */
EC_FORCE_INLINE void ec_dw_mac(int32x4_t acc[4], int8x16_t x, int8x16_t zp, ec_dw_w16_t w)
{
    const int16x8_t lo = vsubl_s8(vget_low_s8(x), vget_low_s8(zp)), hi = vsubl_s8(vget_high_s8(x), vget_high_s8(zp));
    acc[0] = vmlal_s16(acc[0], vget_low_s16(lo), vget_low_s16(w.lo));
    acc[1] = vmlal_s16(acc[1], vget_high_s16(lo), vget_high_s16(w.lo));
    acc[2] = vmlal_s16(acc[2], vget_low_s16(hi), vget_low_s16(w.hi));
    acc[3] = vmlal_s16(acc[3], vget_high_s16(hi), vget_high_s16(w.hi));
}

/* What one block of n <= 16 channels from c0 keeps over the output pixels. */
typedef struct {
    const int8_t *in;     /* the input at channel c0 */
    const int8_t *w;      /* the weights at channel c0 */
    const ec_window_t *win;
    int32_t n;
    int8x16_t zp;
    int32x4_t bias[4];
    ec_neon_rq_t rq[4];
    int32x4_t out_zp;
    int8x16_t lo, hi;
} ec_dw_block_t;

EC_INLINE void ec_dw_block_init(ec_dw_block_t *b, const int8_t *in, const int8_t *w, const int32_t *bias,
                                const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                                const ec_qparams_t *q, int32_t c0)
{
    int j;
    b->in = in + c0;
    b->w = w + c0;
    b->win = win;
    b->n = win->in_c - c0 < 16 ? win->in_c - c0 : 16;
    b->zp = vdupq_n_s8((int8_t)q->in_zp);
    for (j = 0; j < 4; ++j) {
        const int32_t left = b->n - 4 * j;
        b->bias[j] = bias ? ec_neon_load4_s32(bias + c0 + 4 * j, left, 0) : vdupq_n_s32(0);
        b->rq[j] = ec_neon_rq_make(ec_neon_load4_s32(mult + c0 + 4 * j, left, 0),
                                   ec_neon_load4_s32(shift + c0 + 4 * j, left, 0));
    }
    b->out_zp = vdupq_n_s32(q->out_zp);
    b->lo = vdupq_n_s8((int8_t)q->act_min);
    b->hi = vdupq_n_s8((int8_t)q->act_max);
}

/* The block's accumulators of output pixel (oy, ox), taps in the padding skipped; `keep` holds
 * the widened weights of every tap when the caller keeps them (else NULL: loaded per tap). */
EC_FORCE_INLINE void ec_dw_pixel(const ec_dw_block_t *b, const ec_dw_w16_t *keep, int32_t oy, int32_t ox,
                                 int32x4_t acc[4])
{
    const ec_window_t *win = b->win;
    const size_t c = (size_t)win->in_c;
    const int32_t iy0 = oy * win->stride_h - win->pad_top, ix0 = ox * win->stride_w - win->pad_left;
    const int inside = iy0 >= 0 && iy0 + (win->k_h - 1) * win->dil_h < win->in_h && ix0 >= 0
                       && ix0 + (win->k_w - 1) * win->dil_w < win->in_w;
    int32_t ky, kx;
    int j;
    for (j = 0; j < 4; ++j) {
        acc[j] = b->bias[j];
    }
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = iy0 + ky * win->dil_h;
        const int8_t *row = b->in + (size_t)iy * (size_t)win->in_w * c;
        if (!inside && (iy < 0 || iy >= win->in_h)) {
            continue;
        }
        for (kx = 0; kx < win->k_w; ++kx) {
            const int32_t ix = ix0 + kx * win->dil_w, t = ky * win->k_w + kx;
            if (!inside && (ix < 0 || ix >= win->in_w)) {
                continue;
            }
            ec_dw_mac(acc, ec_neon_load16(row + (size_t)ix * c, b->n), b->zp,
                      keep ? keep[t] : ec_dw_weights(b->w + (size_t)t * c, b->n));
        }
    }
}

EC_FORCE_INLINE void ec_dw_store(const ec_dw_block_t *b, const int32x4_t acc[4], int8_t *out)
{
    int32x4_t r[4];
    int j;
    for (j = 0; j < 4; ++j) {
        r[j] = vaddq_s32(ec_neon_requantize(acc[j], &b->rq[j]), b->out_zp);
    }
    ec_neon_store16(out, ec_neon_narrow16(r[0], r[1], r[2], r[3], b->lo, b->hi), b->n);
}

/* The whole layer; taps <= EC_DW_KEEP_TAPS keep their weights in registers. */
#define EC_DW_KEEP_TAPS 9
EC_INLINE void ec_dw_multiplier_one(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                                    const int32_t *shift, const ec_window_t *win, const ec_qparams_t *q, int8_t *out)
{
    const int32_t taps = win->k_h * win->k_w;
    ec_dw_w16_t keep[EC_DW_KEEP_TAPS];
    ec_dw_block_t b;
    int32_t c0, oy, ox, t;
    for (c0 = 0; c0 < win->in_c; c0 += 16) {
        ec_dw_block_init(&b, in, w, bias, mult, shift, win, q, c0);
        for (t = 0; t < taps && taps <= EC_DW_KEEP_TAPS; ++t) {
            keep[t] = ec_dw_weights(b.w + (size_t)t * (size_t)win->in_c, b.n);
        }
        for (oy = 0; oy < win->out_h; ++oy) {
            for (ox = 0; ox < win->out_w; ++ox) {
                int32x4_t acc[4];
                ec_dw_pixel(&b, taps <= EC_DW_KEEP_TAPS ? keep : NULL, oy, ox, acc);
                ec_dw_store(&b, acc, out + ((size_t)oy * (size_t)win->out_w + (size_t)ox) * (size_t)win->in_c + c0);
            }
        }
    }
}

#endif /* EC_ARM_DW_H */

/* ec_arm_dw.h: the NEON int8 depthwise convolution with channel multiplier 1 (HWO weights, formula
 * in ec_s8.h), shared by arm/ec_s8_dwconv2d_3x3.c and arm/ec_s8_dwconv2d_generic.c.
 *
 * Channels go 16 at a time (one int8x16 load per tap, a copy for the last n < 16). Per tap,
 * x - in_zp is formed by a widening subtract (SSUBL: int16 in [-255, 255], exact), the weights are
 * widened (SXTL), and four SMLAL/SMLAL2 on int16 lanes add the exact products to four int32x4
 * accumulators, started at the bias. The 16 results take the exact vector requantization of
 * ec_arm_requant.h with the block's per-channel multipliers and shifts. Output pixels whose window
 * lies inside the input read every tap at fixed offsets (a 3x3 window keeps its nine widened
 * weights in registers along a row); the others, and the last block of fewer than 16 channels,
 * skip the taps in the padding (they would add (in_zp - in_zp) * w = 0) and copy partial loads.
 * Per tap and 16 channels: one load, two SSUBL, four SMLAL (the A72 issues them on F0 only:
 * at most 4 MACs per cycle, half its 8-MAC SMLAL-class peak). */
#ifndef EC_ARM_DW_H
#define EC_ARM_DW_H

#include "ec_s8.h"
#include "ec_arm_requant.h"

/* Sixteen int32 accumulators, one per channel (a struct of named vectors: GCC keeps it in
 * registers where an array indexed in a loop would live on the stack). */
typedef struct {
    int32x4_t v0, v1, v2, v3;
} ec_dw_acc_t;

/* acc + (x - zp) * w over 16 lanes, x - zp and w widened to int16 (exact) on the way. */
EC_FORCE_INLINE ec_dw_acc_t ec_dw_mac(ec_dw_acc_t acc, int8x16_t x, int8x16_t zp, int8x16_t w)
{
    const int16x8_t lo = vsubl_s8(vget_low_s8(x), vget_low_s8(zp)), w_lo = vmovl_s8(vget_low_s8(w));
#if defined(__aarch64__) /* the high halves in place (SSUBL2, SXTL2, SMLAL2): GCC does not fuse vget_high */
    const int16x8_t hi = vsubl_high_s8(x, zp), w_hi = vmovl_high_s8(w);
    acc.v1 = vmlal_high_s16(acc.v1, lo, w_lo);
    acc.v3 = vmlal_high_s16(acc.v3, hi, w_hi);
#else
    const int16x8_t hi = vsubl_s8(vget_high_s8(x), vget_high_s8(zp)), w_hi = vmovl_s8(vget_high_s8(w));
    acc.v1 = vmlal_s16(acc.v1, vget_high_s16(lo), vget_high_s16(w_lo));
    acc.v3 = vmlal_s16(acc.v3, vget_high_s16(hi), vget_high_s16(w_hi));
#endif
    acc.v0 = vmlal_s16(acc.v0, vget_low_s16(lo), vget_low_s16(w_lo));
    acc.v2 = vmlal_s16(acc.v2, vget_low_s16(hi), vget_low_s16(w_hi));
    return acc;
}

/* acc + x * w over 16 lanes: SMULL/SMULL2 give the exact int16 products (|x w| <= 128 * 128),
 * SADDW/SADDW2 add them to the int32 lanes. No widening of x or w, so the 3x3 weights fit in
 * registers beside the accumulators; the zero point is folded into the start (ec_dw_block_t). */
EC_FORCE_INLINE ec_dw_acc_t ec_dw_mac_raw(ec_dw_acc_t acc, int8x16_t x, int8x16_t w)
{
    const int16x8_t lo = vmull_s8(vget_low_s8(x), vget_low_s8(w));
#if defined(__aarch64__)
    const int16x8_t hi = vmull_high_s8(x, w);
    acc.v1 = vaddw_high_s16(acc.v1, lo);
    acc.v3 = vaddw_high_s16(acc.v3, hi);
#else
    const int16x8_t hi = vmull_s8(vget_high_s8(x), vget_high_s8(w));
    acc.v1 = vaddw_s16(acc.v1, vget_high_s16(lo));
    acc.v3 = vaddw_s16(acc.v3, vget_high_s16(hi));
#endif
    acc.v0 = vaddw_s16(acc.v0, vget_low_s16(lo));
    acc.v2 = vaddw_s16(acc.v2, vget_low_s16(hi));
    return acc;
}

/* acc + x1 * w1 + x2 * w2 over 16 lanes, the two products summed in int16 (SMULL, then SMLAL)
 * before SADDW: exact when no weight is -128, |x1 w1 + x2 w2| <= 2 * 128 * 127 < 2^15. */
EC_FORCE_INLINE ec_dw_acc_t ec_dw_mac_pair(ec_dw_acc_t acc, int8x16_t x1, int8x16_t w1, int8x16_t x2, int8x16_t w2)
{
    const int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(x1), vget_low_s8(w1)), vget_low_s8(x2), vget_low_s8(w2));
#if defined(__aarch64__)
    const int16x8_t hi = vmlal_high_s8(vmull_high_s8(x1, w1), x2, w2);
    acc.v1 = vaddw_high_s16(acc.v1, lo);
    acc.v3 = vaddw_high_s16(acc.v3, hi);
#else
    const int16x8_t hi = vmlal_s8(vmull_s8(vget_high_s8(x1), vget_high_s8(w1)), vget_high_s8(x2), vget_high_s8(w2));
    acc.v1 = vaddw_s16(acc.v1, vget_high_s16(lo));
    acc.v3 = vaddw_s16(acc.v3, vget_high_s16(hi));
#endif
    acc.v0 = vaddw_s16(acc.v0, vget_low_s16(lo));
    acc.v2 = vaddw_s16(acc.v2, vget_low_s16(hi));
    return acc;
}

/* What one block of n <= 16 channels from c0 keeps over the output pixels. */
typedef struct {
    const int8_t *in;     /* the input at channel c0 */
    const int8_t *w;      /* the weights at channel c0 */
    const ec_window_t *win;
    int32_t n;
    int8x16_t zp;
    ec_dw_acc_t bias;
    ec_dw_acc_t inside;   /* bias - in_zp * (sum of the block's weights over all taps), wrapping:
                             the start of a pixel whose taps all lie in the input, summed as x * w */
    int pairs;            /* no weight of the block is -128: taps may go two at a time (ec_dw_mac_pair) */
    int mode;             /* the block's requantization (ec_neon_rq_mode) */
    int8_t zp_bytes[16];  /* in_zp in every lane: what a tap in the padding reads (ec_dw_3x3_padded) */
    ec_neon_rq_t rq[4];
    int32x4_t out_zp;
    int8x16_t lo, hi;
} ec_dw_block_t;

/* The sums over all taps of the n <= 16 channels' weights at w; *no_min: none of them is -128. */
EC_INLINE ec_dw_acc_t ec_dw_weight_sums(const int8_t *w, const ec_window_t *win, int32_t n, int *no_min)
{
    const int32_t taps = win->k_h * win->k_w;
    int8x16_t low = vdupq_n_s8(127);
    int8_t lanes[16];
    ec_dw_acc_t sum;
    int32_t t;
    int i;
    sum.v0 = sum.v1 = sum.v2 = sum.v3 = vdupq_n_s32(0);
    for (t = 0; t < taps; ++t) {
        const int8x16_t wt = ec_neon_load16(w + (size_t)t * (size_t)win->in_c, n);
        const ec_neon_s32x16_t v = ec_neon_widen16(wt);
        low = vminq_s8(low, wt);
        sum.v0 = vaddq_s32(sum.v0, v.v[0]);
        sum.v1 = vaddq_s32(sum.v1, v.v[1]);
        sum.v2 = vaddq_s32(sum.v2, v.v[2]);
        sum.v3 = vaddq_s32(sum.v3, v.v[3]);
    }
    vst1q_s8(lanes, low);
    *no_min = 1;
    for (i = 0; i < 16; ++i) {
        *no_min &= lanes[i] != -128;
    }
    return sum;
}

EC_INLINE void ec_dw_block_init(ec_dw_block_t *b, const int8_t *in, const int8_t *w, const int32_t *bias,
                                const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                                const ec_qparams_t *q, int32_t c0)
{
    int32x4_t bv[4];
    int j;
    b->in = in + c0;
    b->w = w + c0;
    b->win = win;
    b->n = win->in_c - c0 < 16 ? win->in_c - c0 : 16;
    b->zp = vdupq_n_s8((int8_t)q->in_zp);
    vst1q_s8(b->zp_bytes, b->zp);
    for (j = 0; j < 4; ++j) {
        const int32_t left = b->n - 4 * j;
        bv[j] = bias ? ec_neon_load4_s32(bias + c0 + 4 * j, left, 0) : vdupq_n_s32(0);
        b->rq[j] = ec_neon_rq_make(ec_neon_load4_s32(mult + c0 + 4 * j, left, 0),
                                   ec_neon_load4_s32(shift + c0 + 4 * j, left, 0));
    }
    b->bias.v0 = bv[0];
    b->bias.v1 = bv[1];
    b->bias.v2 = bv[2];
    b->bias.v3 = bv[3];
    b->inside = ec_dw_weight_sums(b->w, win, b->n, &b->pairs);
    b->inside.v0 = vmlsq_s32(b->bias.v0, b->inside.v0, vdupq_n_s32(q->in_zp));
    b->inside.v1 = vmlsq_s32(b->bias.v1, b->inside.v1, vdupq_n_s32(q->in_zp));
    b->inside.v2 = vmlsq_s32(b->bias.v2, b->inside.v2, vdupq_n_s32(q->in_zp));
    b->inside.v3 = vmlsq_s32(b->bias.v3, b->inside.v3, vdupq_n_s32(q->in_zp));
    b->mode = ec_neon_rq_mode(b->rq, 4, q);
    b->out_zp = vdupq_n_s32(q->out_zp);
    b->lo = vdupq_n_s8((int8_t)q->act_min);
    b->hi = vdupq_n_s8((int8_t)q->act_max);
}

/* One vector of the block's requantization: `mode` (a constant where inlined) is b->mode, or
 * EC_NEON_RQ_EXACT. */
EC_FORCE_INLINE int32x4_t ec_dw_requantize(const ec_dw_block_t *b, int32x4_t acc, int j, int mode)
{
    return vaddq_s32(ec_neon_requantize_as(acc, &b->rq[j], mode), b->out_zp);
}

/* The block's 16 output codes of one pixel. */
EC_FORCE_INLINE int8x16_t ec_dw_codes(const ec_dw_block_t *b, ec_dw_acc_t acc, int mode)
{
    return ec_neon_narrow16(ec_dw_requantize(b, acc.v0, 0, mode), ec_dw_requantize(b, acc.v1, 1, mode),
                            ec_dw_requantize(b, acc.v2, 2, mode), ec_dw_requantize(b, acc.v3, 3, mode), b->lo, b->hi);
}

EC_FORCE_INLINE void ec_dw_store(const ec_dw_block_t *b, ec_dw_acc_t acc, int8_t *out)
{
    ec_neon_store16(out, ec_dw_codes(b, acc, EC_NEON_RQ_EXACT), b->n);
}

/* ec_dw_store for a full block (16 channels): one store, no branch. */
EC_FORCE_INLINE void ec_dw_store_full(const ec_dw_block_t *b, ec_dw_acc_t acc, int8_t *out, int mode)
{
    vst1q_s8(out, ec_dw_codes(b, acc, mode));
}

/* Output pixel (oy, ox) with any window: taps in the padding skipped, partial blocks copied. */
EC_INLINE ec_dw_acc_t ec_dw_pixel_checked(const ec_dw_block_t *b, int32_t oy, int32_t ox)
{
    const ec_window_t *win = b->win;
    const size_t c = (size_t)win->in_c;
    const int32_t iy0 = oy * win->stride_h - win->pad_top, ix0 = ox * win->stride_w - win->pad_left;
    ec_dw_acc_t acc = b->bias;
    int32_t ky, kx;
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = iy0 + ky * win->dil_h;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (kx = 0; kx < win->k_w; ++kx) {
            const int32_t ix = ix0 + kx * win->dil_w;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            acc = ec_dw_mac(acc, ec_neon_load16(b->in + ((size_t)iy * (size_t)win->in_w + (size_t)ix) * c, b->n), b->zp,
                            ec_neon_load16(b->w + (size_t)(ky * win->k_w + kx) * c, b->n));
        }
    }
    return acc;
}

/* Output pixel (oy, ox) of a full block (16 channels) whose window lies inside the input: every
 * tap read at its offset, no checks. */
EC_INLINE ec_dw_acc_t ec_dw_pixel_inside(const ec_dw_block_t *b, int32_t oy, int32_t ox)
{
    const ec_window_t *win = b->win;
    const size_t c = (size_t)win->in_c, row_step = (size_t)win->dil_h * (size_t)win->in_w * c;
    const size_t tap_step = (size_t)win->dil_w * c;
    const int8_t *row = b->in + ((size_t)(oy * win->stride_h - win->pad_top) * (size_t)win->in_w
                                 + (size_t)(ox * win->stride_w - win->pad_left)) * c;
    const int8_t *wk = b->w;
    ec_dw_acc_t acc = b->inside;
    int32_t ky, kx;
    for (ky = 0; ky < win->k_h; ++ky, row += row_step) {
        for (kx = 0; kx < win->k_w; ++kx, wk += c) {
            acc = ec_dw_mac_raw(acc, vld1q_s8(row + (size_t)kx * tap_step), vld1q_s8(wk));
        }
    }
    return acc;
}

/* A run of output pixels (oy, ox_lo .. ox_hi - 1) of a full block of a 3x3 window, dilation 1,
 * inside the input: the nine taps' weights loaded once, kept in registers as int8; `pairs` (a
 * constant where inlined) takes the taps two at a time, `mode` is the block's requantization. */
EC_FORCE_INLINE void ec_dw_3x3_row(const ec_dw_block_t *b, int32_t oy, int32_t ox_lo, int32_t ox_hi, int8_t *out,
                                   int pairs, int mode)
{
    const ec_window_t *win = b->win;
    const size_t c = (size_t)win->in_c, row = (size_t)win->in_w * c, step = (size_t)win->stride_w * c;
    const int8x16_t w0 = vld1q_s8(b->w), w1 = vld1q_s8(b->w + c), w2 = vld1q_s8(b->w + 2 * c);
    const int8x16_t w3 = vld1q_s8(b->w + 3 * c), w4 = vld1q_s8(b->w + 4 * c), w5 = vld1q_s8(b->w + 5 * c);
    const int8x16_t w6 = vld1q_s8(b->w + 6 * c), w7 = vld1q_s8(b->w + 7 * c), w8 = vld1q_s8(b->w + 8 * c);
    const int8_t *x = b->in + ((size_t)(oy * win->stride_h - win->pad_top) * (size_t)win->in_w
                               + (size_t)(ox_lo * win->stride_w - win->pad_left)) * c;
    int8_t *o = out + (size_t)ox_lo * c;
    int32_t ox;
    for (ox = ox_lo; ox < ox_hi; ++ox, x += step, o += c) {
        ec_dw_acc_t acc = b->inside;
        if (pairs) {
            acc = ec_dw_mac_pair(acc, vld1q_s8(x), w0, vld1q_s8(x + c), w1);
            acc = ec_dw_mac_pair(acc, vld1q_s8(x + 2 * c), w2, vld1q_s8(x + row), w3);
            acc = ec_dw_mac_pair(acc, vld1q_s8(x + row + c), w4, vld1q_s8(x + row + 2 * c), w5);
            acc = ec_dw_mac_pair(acc, vld1q_s8(x + 2 * row), w6, vld1q_s8(x + 2 * row + c), w7);
        } else {
            acc = ec_dw_mac_raw(acc, vld1q_s8(x), w0);
            acc = ec_dw_mac_raw(acc, vld1q_s8(x + c), w1);
            acc = ec_dw_mac_raw(acc, vld1q_s8(x + 2 * c), w2);
            acc = ec_dw_mac_raw(acc, vld1q_s8(x + row), w3);
            acc = ec_dw_mac_raw(acc, vld1q_s8(x + row + c), w4);
            acc = ec_dw_mac_raw(acc, vld1q_s8(x + row + 2 * c), w5);
            acc = ec_dw_mac_raw(acc, vld1q_s8(x + 2 * row), w6);
            acc = ec_dw_mac_raw(acc, vld1q_s8(x + 2 * row + c), w7);
        }
        acc = ec_dw_mac_raw(acc, vld1q_s8(x + 2 * row + 2 * c), w8);
        ec_dw_store_full(b, acc, o, mode);
    }
}

/* The input rows a 3x3 window of output row oy reads (dilation 1), NULL for a row in the padding. */
EC_FORCE_INLINE void ec_dw_3x3_rows(const ec_dw_block_t *b, int32_t oy, const int8_t *rows[3])
{
    const ec_window_t *win = b->win;
    const int32_t iy0 = oy * win->stride_h - win->pad_top;
    int32_t ky;
    for (ky = 0; ky < 3; ++ky) {
        rows[ky] = iy0 + ky >= 0 && iy0 + ky < win->in_h
                       ? b->in + (size_t)(iy0 + ky) * (size_t)win->in_w * (size_t)win->in_c
                       : NULL;
    }
}

/* The tap of input row r (NULL: padding) and column ix: its bytes, or the block's zero point. */
EC_FORCE_INLINE const int8_t *ec_dw_tap(const ec_dw_block_t *b, const int8_t *r, int32_t ix, int column_in)
{
    return r != NULL && column_in ? r + (ptrdiff_t)ix * b->win->in_c : b->zp_bytes;
}

/* Output pixel ox of a full block of a 3x3 window, dilation 1, on the input rows `rows`, anywhere
 * in the row: a tap in the padding reads the block's zero point instead of the input. It adds
 * in_zp * w, which the start b->inside takes away again, so the sum is exactly the skipped tap's
 * (in_zp - in_zp) * w = 0, and the edge pixels run the inside path's arithmetic (pairs included)
 * with a select per tap instead of a branch. */
EC_FORCE_INLINE ec_dw_acc_t ec_dw_3x3_padded(const ec_dw_block_t *b, const int8_t *const rows[3], int32_t ox, int pairs)
{
    const ec_window_t *win = b->win;
    const size_t c = (size_t)win->in_c;
    const int32_t ix = ox * win->stride_w - win->pad_left;
    const int in0 = ix >= 0 && ix < win->in_w, in1 = ix + 1 >= 0 && ix + 1 < win->in_w;
    const int in2 = ix + 2 >= 0 && ix + 2 < win->in_w;
    const int8_t *t0 = ec_dw_tap(b, rows[0], ix, in0), *t1 = ec_dw_tap(b, rows[0], ix + 1, in1);
    const int8_t *t2 = ec_dw_tap(b, rows[0], ix + 2, in2), *t3 = ec_dw_tap(b, rows[1], ix, in0);
    const int8_t *t4 = ec_dw_tap(b, rows[1], ix + 1, in1), *t5 = ec_dw_tap(b, rows[1], ix + 2, in2);
    const int8_t *t6 = ec_dw_tap(b, rows[2], ix, in0), *t7 = ec_dw_tap(b, rows[2], ix + 1, in1);
    const int8_t *t8 = ec_dw_tap(b, rows[2], ix + 2, in2);
    ec_dw_acc_t acc = b->inside;
    if (pairs) {
        acc = ec_dw_mac_pair(acc, vld1q_s8(t0), vld1q_s8(b->w), vld1q_s8(t1), vld1q_s8(b->w + c));
        acc = ec_dw_mac_pair(acc, vld1q_s8(t2), vld1q_s8(b->w + 2 * c), vld1q_s8(t3), vld1q_s8(b->w + 3 * c));
        acc = ec_dw_mac_pair(acc, vld1q_s8(t4), vld1q_s8(b->w + 4 * c), vld1q_s8(t5), vld1q_s8(b->w + 5 * c));
        acc = ec_dw_mac_pair(acc, vld1q_s8(t6), vld1q_s8(b->w + 6 * c), vld1q_s8(t7), vld1q_s8(b->w + 7 * c));
    } else {
        acc = ec_dw_mac_raw(acc, vld1q_s8(t0), vld1q_s8(b->w));
        acc = ec_dw_mac_raw(acc, vld1q_s8(t1), vld1q_s8(b->w + c));
        acc = ec_dw_mac_raw(acc, vld1q_s8(t2), vld1q_s8(b->w + 2 * c));
        acc = ec_dw_mac_raw(acc, vld1q_s8(t3), vld1q_s8(b->w + 3 * c));
        acc = ec_dw_mac_raw(acc, vld1q_s8(t4), vld1q_s8(b->w + 4 * c));
        acc = ec_dw_mac_raw(acc, vld1q_s8(t5), vld1q_s8(b->w + 5 * c));
        acc = ec_dw_mac_raw(acc, vld1q_s8(t6), vld1q_s8(b->w + 6 * c));
        acc = ec_dw_mac_raw(acc, vld1q_s8(t7), vld1q_s8(b->w + 7 * c));
    }
    return ec_dw_mac_raw(acc, vld1q_s8(t8), vld1q_s8(b->w + 8 * c));
}

/* The pixels of output row oy that ec_dw_3x3_row leaves (all of them outside the inner rows),
 * through ec_dw_3x3_padded; pairs and mode as in ec_dw_3x3_row. */
EC_FORCE_INLINE void ec_dw_3x3_edge_row(const ec_dw_block_t *b, int32_t oy, int inner_row, int32_t x_lo, int32_t x_hi,
                                        int8_t *out, int pairs, int mode)
{
    const size_t c = (size_t)b->win->in_c;
    const int8_t *rows[3];
    int32_t ox;
    ec_dw_3x3_rows(b, oy, rows);
    for (ox = 0; ox < b->win->out_w; ++ox) {
        if (inner_row && ox == x_lo && x_lo < x_hi) {
            ox = x_hi - 1;
            continue;
        }
        ec_dw_store_full(b, ec_dw_3x3_padded(b, rows, ox, pairs), out + (size_t)ox * c, mode);
    }
}

/* Output row oy of a full block of a 3x3 window, dilation 1: the inner run, then the edges. */
EC_FORCE_INLINE void ec_dw_3x3_output_row(const ec_dw_block_t *b, int32_t oy, int inner_row, int32_t x_lo,
                                          int32_t x_hi, int8_t *out, int pairs, int mode)
{
    if (inner_row && x_lo < x_hi) {
        ec_dw_3x3_row(b, oy, x_lo, x_hi, out, pairs, mode);
    }
    ec_dw_3x3_edge_row(b, oy, inner_row, x_lo, x_hi, out, pairs, mode);
}

/* ec_dw_3x3_output_row with the block's requantization mode as a constant (`pairs` likewise). */
EC_FORCE_INLINE void ec_dw_3x3_row_as(const ec_dw_block_t *b, int32_t oy, int inner_row, int32_t x_lo, int32_t x_hi,
                                      int8_t *out, int pairs)
{
    if (b->mode == EC_NEON_RQ_FLOORED) {
        ec_dw_3x3_output_row(b, oy, inner_row, x_lo, x_hi, out, pairs, EC_NEON_RQ_FLOORED);
    } else if (b->mode == EC_NEON_RQ_RIGHT) {
        ec_dw_3x3_output_row(b, oy, inner_row, x_lo, x_hi, out, pairs, EC_NEON_RQ_RIGHT);
    } else {
        ec_dw_3x3_output_row(b, oy, inner_row, x_lo, x_hi, out, pairs, EC_NEON_RQ_EXACT);
    }
}

EC_INLINE void ec_dw_3x3_block_row(const ec_dw_block_t *b, int32_t oy, int inner_row, int32_t x_lo, int32_t x_hi,
                                   int8_t *out)
{
    if (b->pairs) {
        ec_dw_3x3_row_as(b, oy, inner_row, x_lo, x_hi, out, 1);
    } else {
        ec_dw_3x3_row_as(b, oy, inner_row, x_lo, x_hi, out, 0);
    }
}

/* [*lo, *hi): the output positions along one axis whose taps all lie inside the input. */
EC_INLINE void ec_dw_inner(int32_t in, int32_t out, int32_t k, int32_t stride, int32_t pad, int32_t dil, int32_t *lo,
                           int32_t *hi)
{
    *lo = 0;
    while (*lo < out && *lo * stride - pad < 0) {
        ++*lo;
    }
    *hi = *lo;
    while (*hi < out && *hi * stride - pad + (k - 1) * dil < in) {
        ++*hi;
    }
}

/* The whole layer, block after block: the inner pixels of full blocks take the unchecked paths
 * (the 3x3 one for a 3x3 window without dilation, whose edge pixels take ec_dw_3x3_padded), the
 * others ec_dw_pixel_checked. */
EC_INLINE void ec_dw_multiplier_one(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                                    const int32_t *shift, const ec_window_t *win, const ec_qparams_t *q, int8_t *out)
{
    const int is_3x3 = win->k_h == 3 && win->k_w == 3 && win->dil_h == 1 && win->dil_w == 1;
    const size_t c = (size_t)win->in_c;
    ec_dw_block_t b;
    int32_t c0, oy, ox, y_lo, y_hi, x_lo, x_hi;
    ec_dw_inner(win->in_h, win->out_h, win->k_h, win->stride_h, win->pad_top, win->dil_h, &y_lo, &y_hi);
    ec_dw_inner(win->in_w, win->out_w, win->k_w, win->stride_w, win->pad_left, win->dil_w, &x_lo, &x_hi);
    for (c0 = 0; c0 < win->in_c; c0 += 16) {
        ec_dw_block_init(&b, in, w, bias, mult, shift, win, q, c0);
        for (oy = 0; oy < win->out_h; ++oy) {
            int8_t *o = out + (size_t)oy * (size_t)win->out_w * c + (size_t)c0;
            const int inner_row = oy >= y_lo && oy < y_hi, fast = b.n == 16 && inner_row;
            if (is_3x3 && b.n == 16) {
                ec_dw_3x3_block_row(&b, oy, inner_row, x_lo, x_hi, o);
                continue;
            }
            for (ox = 0; ox < win->out_w; ++ox) {
                ec_dw_store(&b, fast && ox >= x_lo && ox < x_hi ? ec_dw_pixel_inside(&b, oy, ox)
                                                                 : ec_dw_pixel_checked(&b, oy, ox), o + (size_t)ox * c);
            }
        }
    }
}

#endif /* EC_ARM_DW_H */

/* edgeconv int8 kernels (TFLite int8 semantics; see ec_common.h for layout and requantization).
 *
 * Convolutions compute, per output pixel p and output channel o,
 *   acc = bias[o] + sum_{taps t, input channels c} (x[t, c] - in_zp) * w[o, t, c]
 * where padded taps contribute nothing (they hold in_zp), then
 *   out = clamp(ec_requantize(acc, mult[o], shift[o]) + out_zp, act_min, act_max).
 * Accumulator bound: |acc| <= |bias[o]| + 255 * sum_{t,c} |w[o, t, c]| (|x - in_zp| <= 255); the code
 * generator refuses layers whose bound exceeds INT32_MAX, so no partial sum overflows int32.
 *
 * Weight layouts: the sliding-window convolution OHWI (C_out x k_h x k_w x C_in/groups);
 * depthwise convolutions HWO (k_h x k_w x C_out, C_out = C_in * multiplier); the 1x1 and im2col
 * convolutions and the fully connected layer packed (ec_s8_packed.h).
 */
#ifndef EC_S8_H
#define EC_S8_H

#include "ec_common.h"

/* Direct convolution; each window row is one contiguous run of k_w * C_in inputs in NHWC, so the
 * inner loop slides over that run (any stride, padding, dilation and groups). No scratch. */
void ec_s8_conv2d_slidingwin(const int8_t *in, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                             const ec_qparams_t *q, int8_t *out);

/* Transposed convolution (TRANSPOSE_CONV), any groups, dilation 1, OHWI weights (C_in / groups per
 * row); win's pad_top and pad_left are the rows and columns removed at the start of the scattered
 * map. No scratch. */
void ec_s8_conv_transpose2d(const int8_t *in, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int8_t *out);

/* The GEMM-shaped kernels take their weights packed (ec_s8_packed.h: blocks of 16 output
 * channels by groups of 4 K bytes, the same for every instruction set), a non-NULL bias and the
 * per-channel weight sums `wsum` (used by the kernels that multiply unsigned bytes).
 *
 * im2col + GEMM (groups == 1), ec_im2col.h: layers with at most 256 input channels and at most 9
 * taps read each tap in place (indirect; scratch unused, may be NULL); the others unfold one
 * block of output rows at a time into `scratch` (EC_IM2COL_SCRATCH bytes, padding filled with in_zp). */
#define EC_IM2COL_SLACK 4
/* Output rows unfolded at a time: one, unless the layer's weights (K rounded up to 4, times C_out)
 * exceed EC_IM2COL_SHARED_WEIGHT_BYTES, more than a core's L2 keeps beside the activations
 * (ResNet-18's 512-channel 3x3 layers carry 2.3 MB). Each block of rows streams every weight once,
 * so such a layer unfolds as many rows as EC_IM2COL_BLOCK_BYTES of scratch hold (the whole 7x7 map
 * of those layers, 226 KB) and reads its weights once instead of once per output row.
 * edgeconv/kernels/packing.py mirrors this rule to plan the scratch. */
#define EC_IM2COL_SHARED_WEIGHT_BYTES ((size_t)1024 * 1024)
#define EC_IM2COL_BLOCK_BYTES ((size_t)256 * 1024)
EC_INLINE int32_t ec_im2col_unfold_rows(int32_t out_h, int32_t out_w, int32_t k, int32_t out_c)
{
    const size_t k4 = (size_t)((k + 3) / 4) * 4, row = (size_t)out_w * k4;
    const size_t rows = EC_IM2COL_BLOCK_BYTES / row;
    if (k4 * (size_t)out_c <= EC_IM2COL_SHARED_WEIGHT_BYTES || rows <= 1) {
        return 1;
    }
    return rows < (size_t)out_h ? (int32_t)rows : out_h;
}
#define EC_IM2COL_SCRATCH(out_h, out_w, k, out_c)                                                                \
    ((size_t)ec_im2col_unfold_rows(out_h, out_w, k, out_c) * (size_t)(out_w) * (size_t)((((k) + 3) / 4) * 4)   \
     + EC_IM2COL_SLACK)
void ec_s8_conv2d_im2col(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                         const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                         const ec_qparams_t *q, int8_t *scratch, int8_t *out);

/* Pointwise convolution: 1x1 kernel, stride 1, no padding, groups == 1: a GEMM over pixels. */
void ec_s8_conv2d_1x1(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                      const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                      const ec_qparams_t *q, int8_t *out);

/* Depthwise 3x3 (groups == C_in == C_out, dilation 1, any stride and padding). */
void ec_s8_dwconv2d_3x3(const int8_t *in, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                        const ec_qparams_t *q, int8_t *out);

/* Depthwise, any kernel, stride, padding, dilation and channel multiplier. */
void ec_s8_dwconv2d_generic(const int8_t *in, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int8_t *out);

/* Fully connected: out[o] = requant(bias[o] + sum_i (x[i] - in_zp) * w[o, i]), weights packed. */
void ec_s8_fully_connected(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                           const int32_t *mult, const int32_t *shift, int32_t in_n, int32_t out_n,
                           const ec_qparams_t *q, int8_t *out);

/* Broadcast of two operands over an H x W x C output: strides are 0 along broadcast dims. */
typedef struct {
    int32_t dims[3];
    int32_t a_strides[3];
    int32_t b_strides[3];
} ec_broadcast_t;

/* TFLite int8 ADD: both inputs are brought to a common scale 2 * max(s_a, s_b) with 20 bits of
 * headroom, summed, then rescaled to the output:
 *   a' = ec_requantize((a + a_offset) << left_shift, a_mult, a_shift)   (same for b)
 *   out = clamp(ec_requantize(a' + b', out_mult, out_shift) + out_zp, act_min, act_max).
 * affine_shift > 0: the generator found one affine step giving the same code for every pair of
 * int8 codes (backends/c/add_affine.py), A = affine_a_hi * 2^15 + affine_a_lo (B, C alike):
 *   out = clamp(floor((A * a + B * b + C) / 2^affine_shift), act_min, act_max),
 * which a kernel may run instead; 0: none. */
typedef struct {
    int32_t a_offset, a_mult, a_shift;
    int32_t b_offset, b_mult, b_shift;
    int32_t left_shift;
    int32_t out_mult, out_shift, out_zp;
    int32_t act_min, act_max;
    int32_t affine_a_hi, affine_a_lo, affine_b_hi, affine_b_lo, affine_c_hi, affine_c_lo, affine_shift;
} ec_s8_add_params_t;

void ec_s8_add(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
               const ec_s8_add_params_t *p, int8_t *out);

/* TFLite int8 MUL: out = clamp(ec_requantize((a + a_offset) * (b + b_offset), out_mult, out_shift)
 * + out_zp, act_min, act_max), the multiplier being s_a * s_b / s_out. */
typedef struct {
    int32_t a_offset, b_offset;
    int32_t out_mult, out_shift, out_zp;
    int32_t act_min, act_max;
} ec_s8_mul_params_t;

void ec_s8_mul(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
               const ec_s8_mul_params_t *p, int8_t *out);

/* Max pooling over the window (padded taps are skipped), clamped to [act_min, act_max]. */
void ec_s8_maxpool2d(const int8_t *in, const ec_window_t *win, int32_t act_min, int32_t act_max,
                     int8_t *out);

/* Average pooling, TFLite rounding: sum / count rounded half away from zero.
 * count_include_pad == 0: sum and count over the taps inside the input (TFLite AVERAGE_POOL_2D).
 * count_include_pad != 0: taps in the explicit padding (pad_top/left/bottom/right) also count,
 * each holding `pad_value` (the input zero point, i.e. real 0); taps beyond it never count. */
void ec_s8_avgpool2d(const int8_t *in, const ec_window_t *win, int32_t count_include_pad,
                     int32_t pad_value, int32_t act_min, int32_t act_max, int8_t *out);

/* Mean over H x W per channel (TFLite MEAN, QuantizedMeanOrSum): acc = sum (x - in_zp);
 * out = clamp(ec_requantize(acc, mult, shift) + out_zp, act_min, act_max), mult/shift being the
 * multiplier of s_in / (s_out * H * W) as TFLite derives it (the division folded in). */
void ec_s8_global_avgpool(const int8_t *in, int32_t hw, int32_t c, int32_t mult, int32_t shift,
                          const ec_qparams_t *q, int8_t *out);

/* out[i] = table[in[i] + 128]: every int8 -> int8 elementwise op (activations, requantize,
 * sign). In-place safe (out == in). */
void ec_s8_lut(const int8_t *in, const int8_t *table, int32_t n, int8_t *out);

/* TFLite int8 softmax over the last axis (gemmlowp fixed point: 5 integer bits for the scaled
 * differences, 12 for the sum of exponentials); output scale 1/256, zero point -128. */
void ec_s8_softmax(const int8_t *in, int32_t outer, int32_t depth, int32_t input_mult,
                   int32_t input_left_shift, int32_t diff_min, int8_t *out);

/* float32 -> int8: q = clamp(round_half_away(x / scale) + zp, qmin, qmax), division in float32. */
void ec_s8_quantize(const float *in, int32_t n, float scale, int32_t zp, int32_t qmin,
                    int32_t qmax, int8_t *out);

/* int8 -> float32: x = (float)(scale * (q - zp)) with scale widened to double. */
void ec_s8_dequantize(const int8_t *in, int32_t n, double scale, int32_t zp, float *out);

/* Constant padding of an H x W x C map: pads are top, left, bottom, right. */
void ec_s8_pad(const int8_t *in, int32_t h, int32_t w, int32_t c, const int32_t pads[4],
               int8_t value, int8_t *out);

#endif /* EC_S8_H */

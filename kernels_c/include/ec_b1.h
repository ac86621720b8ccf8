/* edgeconv low-bit convolutions: XNOR binary and DoReFa bit-serial.
 *
 * Bit order (both kernels): channels are packed 32 to a little-endian uint32_t word; channel c of
 * a pixel is bit (c % 32) of word (c / 32); the last word's unused high bits are 0 in both
 * activations and weights, so they never count. Packed inputs live in `scratch`.
 *
 * XNOR (ec_b1_conv2d_xnor): activations and weights are in {-1, +1}; a set bit means -1.
 * For one output: a * w = +1 when the bits agree and -1 when they differ, so over K = k_h*k_w*C_in
 * taps  acc = sum a*w = K - 2 * popcount(a XOR w)  exactly, then acc += bias and the shared
 * requantization. Padding is ONE-padding (+1 = bit 0): a padded tap adds +w. Input bits come from
 * int8 values: bit = (x < in_zp), i.e. the Sign convention x >= 0 -> +1. Weights: groups of 16
 * output channels (the last zero-filled to 16), each k_h x k_w x words x 16: word wd of tap t of
 * channel c at [(c / 16) * (k_h * k_w * words * 16) + (t * words + wd) * 16 + c % 16], so that one
 * pointer reaches the 16 channels of a block (ec_b1_popcount.h). Scratch: ext_h = (out_h-1)*stride_h + dil_h*(k_h-1) + 1 rows by ext_w (the same for
 * columns) by words uint32_t for the packed input (word planes, ec_b1_popcount.h), then
 * k_h * k_w * words uint32_t (the NEON XNOR kernel keeps its table of tap offsets there, ec_arm_b1.h).
 *
 * Bit-serial (ec_s8_conv2d_bitserial), DoReFa with M-bit activations and K-bit weights:
 * the input u = x - in_zp is an unsigned M-bit code (in_zp = -128 gives u = x + 128 in
 * [0, 2^M - 1]); the weight is an odd integer w = 2 i - (2^K - 1) with i in [0, 2^K - 1]. Then
 *   sum u * w = 2 * sum u * i - (2^K - 1) * sum u
 *             = 2 * sum_{m<M, k<K} 2^(m+k) popcount(U_m AND I_k) - (2^K - 1) * sum_m 2^m popcount(U_m)
 * with U_m, I_k the bit planes of u and i, which is exactly the int8 formula sum (x - in_zp) * w.
 * Padded taps hold u = 0 (zero bits), as the int8 kernels skip them. Weights: C_out x K planes x
 * k_h x k_w x words. Scratch: M planes x ext_h x ext_w x words uint32_t (word planes,
 * ec_b1_popcount.h), then M x k_h x k_w x words uint32_t, of which the first k_h x k_w x words hold
 * an all-ones weight row.
 * Weight steps (both kernels): a layer stored for single rounding (edgeconv's quant/single_rounding.py)
 * holds channel c's weights as n_c times the +-1 or odd values above, with n_c = weight_steps[c]
 * (n_c * max|w| <= 127); the popcount sum is multiplied by n_c before the bias is added, which is
 * again exactly the int8 formula.
 * Accumulator bound: |acc| <= 127 * k_h*k_w*C_in * (2^M - 1) + |bias| (the int8 layer's own).
 *
 * Packed activations between binary layers (XNOR only). A {-1, +1} tensor of H x W x C is stored as
 * H x W pixels of ceil(C / 32) uint32_t words, pixel-major (NHWC), with the bit order above: set
 * bit = -1, the last word's unused high bits 0. `flags` of ec_b1_conv2d_xnor:
 *   EC_B1_IN_PACKED   `in` holds such words (else int8 codes, bit = x < in_zp);
 *   EC_B1_OUT_PACKED  `out` receives such words: channel c of a pixel is -1 exactly when the
 *                     popcount sum of the formula above exceeds pop_limits[c]. The generator derives
 *                     pop_limits from the integer reference: the output code
 *                     clamp(requantize(bias + n_c * (K - 2 * pop)) + out_zp) and the max pools and
 *                     Sign that follow it are non-decreasing in the accumulator, which falls as pop
 *                     grows, so "the Sign after them gives -1" holds for exactly the pops above one
 *                     limit per channel (-1: always -1; K: never). bias, weight_steps, mult and shift
 *                     are then unused (they may be NULL).
 * ec_b1_maxpool2d pools packed words: a pooled value is +1 when any tap in its window is +1, so
 * its bit is the AND of the window's bits (taps outside the input skipped; every window must hold
 * at least one input tap). This is max pooling before the Sign, since Sign is non-decreasing.
 */
#ifndef EC_B1_H
#define EC_B1_H

#include "ec_common.h"

enum { EC_B1_IN_PACKED = 1, EC_B1_OUT_PACKED = 2 };

/* Output channels interleaved in the XNOR weight layout (above). */
#define EC_B1_WEIGHT_GROUP 16

/* in: int8 codes or packed words, out: int8 codes or packed words, as `flags` says (above). */
void ec_b1_conv2d_xnor(const void *in, const uint32_t *w_bits, const int32_t *bias, const int32_t *weight_steps,
                       const int32_t *mult, const int32_t *shift, const int32_t *pop_limits, const ec_window_t *win,
                       const ec_qparams_t *q, int32_t flags, uint32_t *scratch, void *out);

void ec_b1_maxpool2d(const uint32_t *in, const ec_window_t *win, uint32_t *out);

/* Fully connected layer on packed input words: in_words words per sample, k_total real bits; the
 * weights out_n rows of in_words words in the same layout; int8 output (ec_b1_xnor.h). */
void ec_b1_fully_connected(const uint32_t *in, const uint32_t *w_bits, const int32_t *bias,
                           const int32_t *weight_steps, const int32_t *mult, const int32_t *shift, int32_t k_total,
                           int32_t in_words, int32_t out_n, const ec_qparams_t *q, int8_t *out);

void ec_s8_conv2d_bitserial(const int8_t *in, const uint32_t *w_planes, const int32_t *bias,
                            const int32_t *weight_steps, const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int32_t act_bits, int32_t weight_bits,
                            uint32_t *scratch, int8_t *out);

#endif /* EC_B1_H */

/* edgeconv float32 kernels for the layers kept in fp32 (NHWC, see ec_common.h).
 * Clamps are real-valued: [lo, hi] with -INFINITY/INFINITY (passed as huge values) for no bound. */
#ifndef EC_F32_H
#define EC_F32_H

#include "ec_common.h"
#include "ec_s8.h"

/* Direct convolution, OHWI weights, any stride/padding (zeros)/dilation/groups. */
void ec_f32_conv2d_direct(const float *in, const float *w, const float *bias,
                          const ec_window_t *win, float lo, float hi, float *out);

/* Transposed convolution, any groups, dilation 1, OHWI weights, TFLite's summation order (see
 * ec_s8_conv_transpose2d for the window). */
void ec_f32_conv_transpose2d(const float *in, const float *w, const float *bias,
                             const ec_window_t *win, float lo, float hi, float *out);

/* The fast float32 convolutions: each sums every output in ec_f32_conv2d_direct's order, so all
 * four give the same bits. The GEMM kernels read weights in blocks of EC_F32_NR output channels
 * (kernels/packing_f32.py); ec_f32_dwconv2d reads them tap-major, [ky][kx][c]. */
#define EC_F32_NR 16

/* 1x1, stride 1, no padding, groups 1. */
void ec_f32_conv2d_1x1(const float *in, const float *w, const float *bias, const ec_window_t *win,
                       float lo, float hi, float *out);

/* Groups 1, any kernel/stride/padding/dilation. */
void ec_f32_conv2d_im2col(const float *in, const float *w, const float *bias, const ec_window_t *win,
                          float lo, float hi, float *out);

/* Depthwise, channel multiplier 1, at most EC_F32_DW_MAX_TAPS taps, any stride/padding/dilation. */
#define EC_F32_DW_MAX_TAPS 64
void ec_f32_dwconv2d(const float *in, const float *w, const float *bias, const ec_window_t *win,
                     float lo, float hi, float *out);

void ec_f32_fully_connected(const float *in, const float *w, const float *bias, int32_t in_n,
                            int32_t out_n, float lo, float hi, float *out);

void ec_f32_add(const float *a, const float *b, const ec_broadcast_t *bc, float lo, float hi,
                float *out);

void ec_f32_mul(const float *a, const float *b, const ec_broadcast_t *bc, float lo, float hi,
                float *out);

void ec_f32_maxpool2d(const float *in, const ec_window_t *win, float *out);

/* count_include_pad as ec_s8_avgpool2d (explicit padding counts as zeros). */
void ec_f32_avgpool2d(const float *in, const ec_window_t *win, int32_t count_include_pad,
                      float *out);

void ec_f32_global_avgpool(const float *in, int32_t hw, int32_t c, float *out);

/* Elementwise activations, float32 with one rounding per operation in the order written (the
 * order of TFLite's kernels and of the reference executor; sigmoid, SiLU and GELU depend on expf,
 * erff and tanhf). */
typedef enum {
    EC_ACT_CLIP = 0,       /* min(max(x, lo), hi) */
    EC_ACT_LEAKY_RELU,     /* x >= 0 ? x : alpha * x */
    EC_ACT_HARDSWISH,      /* (x * relu6(x + 3)) / 6 */
    EC_ACT_HARDSIGMOID,    /* relu6(x + 3) * (1/6), as ADD + MUL in TFLite */
    EC_ACT_SIGMOID,        /* 1 / (1 + exp(-x)) */
    EC_ACT_SILU,           /* x * sigmoid(x) */
    EC_ACT_SIGN,           /* x >= alpha ? +1 : -1 (alpha: the threshold) */
    EC_ACT_GELU,           /* 0.5 * x * (1 + erf(x / sqrt(2))) */
    EC_ACT_GELU_TANH       /* 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) */
} ec_activation_t;

void ec_f32_activation(const float *in, int32_t n, ec_activation_t kind, float alpha, float lo,
                       float hi, float *out);

/* Softmax over the last axis, max-subtracted. */
void ec_f32_softmax(const float *in, int32_t outer, int32_t depth, float beta, float *out);

/* Per-channel affine y = x * scale[c] + shift[c] (inference batch norm). */
void ec_f32_channel_affine(const float *in, int32_t hw, int32_t c, const float *scale,
                           const float *shift, float *out);

void ec_f32_pad(const float *in, int32_t h, int32_t w, int32_t c, const int32_t pads[4],
                float value, float *out);

#endif /* EC_F32_H */

/* ec_b1_xnor.h: the XNOR-popcount binary convolution shared by every ISA's ec_b1_conv2d_xnor
 * (bit order and formula in ec_b1.h).
 *
 * 1. Pack: the padded input region the windows read is packed into `scratch`, one group of
 *    words per pixel; bit set <=> value < in_zp (real value < 0, i.e. -1); padded pixels stay
 *    all-zero words (+1, one-padding).
 * 2. For each output: pop = sum over taps and words of popcount(a XOR w);
 *    acc = K - 2 * pop + bias, K = k_h * k_w * C_in; then the shared requantization.
 * Each output pixel's window is first gathered into one contiguous run of k_h * k_w * words
 * words at the end of `scratch` (the order of the weights); the run is read 64 bits at a time
 * (popcount of a XOR does not depend on how the same bits of both operands are grouped), four
 * output channels sharing each input load.
 *
 * Only the per-pixel packing of step 1 differs between ISAs: the including file defines
 *     static void ec_b1_pack_channels(const int8_t *src, int32_t in_c, int32_t zp, uint32_t *dst)
 * (set bit c % 32 of word c / 32 of the zeroed `dst` <=> src[c] < zp) before including this
 * header, and its ec_b1_conv2d_xnor calls ec_b1_xnor_conv. */
#ifndef EC_B1_XNOR_H
#define EC_B1_XNOR_H

#include <string.h>

#include "ec_b1.h"

static void ec_b1_xnor_pack_input(const int8_t *in, const ec_window_t *win, int32_t words, int32_t ext_h,
                                  int32_t ext_w, int32_t zp, uint32_t *scratch)
{
    int32_t y, x;
    memset(scratch, 0, (size_t)ext_h * ext_w * words * sizeof(uint32_t));
    for (y = 0; y < ext_h; ++y) {
        const int32_t iy = y - win->pad_top;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (x = 0; x < ext_w; ++x) {
            const int32_t ix = x - win->pad_left;
            const int8_t *src;
            uint32_t *dst;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            src = in + ((size_t)iy * win->in_w + ix) * win->in_c;
            dst = scratch + ((size_t)y * ext_w + x) * words;
            ec_b1_pack_channels(src, win->in_c, zp, dst);
        }
    }
}

/* pop[j] += popcount over n words of a XOR w_j, w_j = w + j * w_stride, for j < count. */
static void ec_b1_xnor_popcount_run(const uint32_t *a, const uint32_t *w, size_t w_stride, int32_t n,
                                    int32_t count, int32_t pop[4])
{
    int32_t i = 0, j;
    if (count == 4) {
        for (; i + 2 <= n; i += 2) {
            uint64_t av, w0, w1, w2, w3;
            memcpy(&av, a + i, sizeof av);
            memcpy(&w0, w + i, sizeof w0);
            memcpy(&w1, w + w_stride + i, sizeof w1);
            memcpy(&w2, w + 2 * w_stride + i, sizeof w2);
            memcpy(&w3, w + 3 * w_stride + i, sizeof w3);
            pop[0] += ec_popcount64(av ^ w0);
            pop[1] += ec_popcount64(av ^ w1);
            pop[2] += ec_popcount64(av ^ w2);
            pop[3] += ec_popcount64(av ^ w3);
        }
    }
    for (; i + 2 <= n; i += 2) {
        uint64_t av, wv;
        memcpy(&av, a + i, sizeof av);
        for (j = 0; j < count; ++j) {
            memcpy(&wv, w + (size_t)j * w_stride + (size_t)i, sizeof wv);
            pop[j] += ec_popcount64(av ^ wv);
        }
    }
    for (; i < n; ++i) {
        for (j = 0; j < count; ++j) {
            pop[j] += ec_popcount32(a[i] ^ w[(size_t)j * w_stride + (size_t)i]);
        }
    }
}

static void ec_b1_xnor_conv(const int8_t *in, const uint32_t *w_bits, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, uint32_t *scratch, int8_t *out)
{
    const int32_t words = (win->in_c + 31) / 32;
    const int32_t ext_h = (win->out_h - 1) * win->stride_h + win->dil_h * (win->k_h - 1) + 1;
    const int32_t ext_w = (win->out_w - 1) * win->stride_w + win->dil_w * (win->k_w - 1) + 1;
    const int32_t k_total = win->k_h * win->k_w * win->in_c;
    const int32_t w_per_oc = win->k_h * win->k_w * words;
    uint32_t *window = scratch + (size_t)ext_h * ext_w * words;
    int32_t y, x, oc, ky, kx, j;
    ec_b1_xnor_pack_input(in, win, words, ext_h, ext_w, q->in_zp, scratch);
    for (y = 0; y < win->out_h; ++y) {
        for (x = 0; x < win->out_w; ++x) {
            int8_t *o = out + ((size_t)y * win->out_w + x) * win->out_c;
            uint32_t *dst = window;
            for (ky = 0; ky < win->k_h; ++ky) {
                const int32_t py = y * win->stride_h + ky * win->dil_h;
                for (kx = 0; kx < win->k_w; ++kx) {
                    const int32_t px = x * win->stride_w + kx * win->dil_w;
                    memcpy(dst, scratch + ((size_t)py * ext_w + px) * words, (size_t)words * sizeof(uint32_t));
                    dst += words;
                }
            }
            for (oc = 0; oc < win->out_c; oc += 4) {
                const int32_t count = win->out_c - oc < 4 ? win->out_c - oc : 4;
                int32_t pop[4] = {0, 0, 0, 0};
                ec_b1_xnor_popcount_run(window, w_bits + (size_t)oc * w_per_oc, (size_t)w_per_oc, w_per_oc, count, pop);
                for (j = 0; j < count; ++j) {
                    const int32_t acc = k_total - 2 * pop[j] + (bias ? bias[oc + j] : 0);
                    const int32_t v = ec_requantize(acc, mult[oc + j], shift[oc + j]) + q->out_zp;
                    o[oc + j] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
                }
            }
        }
    }
}

#endif /* EC_B1_XNOR_H */

/* ec_s8_conv2d_bitserial: DoReFa k-bit convolution by bit-plane popcounts (derivation, bit order
 * and layouts in ec_b1.h).
 *
 * 1. Pack: the M bit planes of u = x - in_zp over the padded region the windows read, plane
 *    after plane (M x rows x columns x words); padded pixels stay zero (u = 0).
 * 2. For each output pixel: s_u = sum_m 2^m popcount(U_m) over the window (shared by all output
 *    channels); for each output channel s_ui = sum_{m,k} 2^(m+k) popcount(U_m AND I_k);
 *    acc = 2 * s_ui - (2^K - 1) * s_u + bias; the shared requantization.
 * Each output pixel's window is first gathered, plane by plane, into contiguous runs of
 * k_h * k_w * words words at the end of `scratch` (the order of the weights' planes); runs are
 * read 64 bits at a time (a popcount of an AND does not depend on how the same bits of both
 * operands are grouped), four output channels sharing each input load. */
#include <string.h>

#include "ec_b1.h"

static void pack_planes(const int8_t *in, const ec_window_t *win, int32_t words, int32_t ext_h, int32_t ext_w,
                        int32_t act_bits, int32_t zp, uint32_t *scratch)
{
    const size_t plane = (size_t)ext_h * ext_w * words;
    int32_t y, x, c, m;
    memset(scratch, 0, plane * act_bits * sizeof(uint32_t));
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
            for (c = 0; c < win->in_c; ++c) {
                const uint32_t u = (uint32_t)((int32_t)src[c] - zp);
                for (m = 0; m < act_bits; ++m) {
                    dst[(size_t)m * plane + (size_t)(c / 32)] |= ((u >> m) & 1u) << (c % 32);
                }
            }
        }
    }
}

/* pop[j] += popcount over n words of a AND w_j, w_j = w + j * w_stride, for j < count. */
static void and_popcount_run(const uint32_t *a, const uint32_t *w, size_t w_stride, int32_t n, int32_t count,
                             int32_t pop[4])
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
            pop[0] += ec_popcount64(av & w0);
            pop[1] += ec_popcount64(av & w1);
            pop[2] += ec_popcount64(av & w2);
            pop[3] += ec_popcount64(av & w3);
        }
    }
    for (; i + 2 <= n; i += 2) {
        uint64_t av, wv;
        memcpy(&av, a + i, sizeof av);
        for (j = 0; j < count; ++j) {
            memcpy(&wv, w + (size_t)j * w_stride + (size_t)i, sizeof wv);
            pop[j] += ec_popcount64(av & wv);
        }
    }
    for (; i < n; ++i) {
        for (j = 0; j < count; ++j) {
            pop[j] += ec_popcount32(a[i] & w[(size_t)j * w_stride + (size_t)i]);
        }
    }
}

static int32_t popcount_run(const uint32_t *a, int32_t n)
{
    int32_t i, pop = 0;
    for (i = 0; i < n; ++i) {
        pop += ec_popcount32(a[i]);
    }
    return pop;
}

void ec_s8_conv2d_bitserial(const int8_t *in, const uint32_t *w_planes, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int32_t act_bits, int32_t weight_bits,
                            uint32_t *scratch, int8_t *out)
{
    const int32_t words = (win->in_c + 31) / 32;
    const int32_t ext_h = (win->out_h - 1) * win->stride_h + win->dil_h * (win->k_h - 1) + 1;
    const int32_t ext_w = (win->out_w - 1) * win->stride_w + win->dil_w * (win->k_w - 1) + 1;
    const size_t plane = (size_t)ext_h * ext_w * words;
    const int32_t taps_words = win->k_h * win->k_w * words;
    const size_t w_per_oc = (size_t)weight_bits * taps_words;
    uint32_t *window = scratch + plane * act_bits;
    int32_t y, x, oc, ky, kx, m, k, j;
    pack_planes(in, win, words, ext_h, ext_w, act_bits, q->in_zp, scratch);
    for (y = 0; y < win->out_h; ++y) {
        for (x = 0; x < win->out_w; ++x) {
            int8_t *o = out + ((size_t)y * win->out_w + x) * win->out_c;
            int32_t s_u = 0;
            for (m = 0; m < act_bits; ++m) {
                uint32_t *dst = window + (size_t)m * taps_words;
                for (ky = 0; ky < win->k_h; ++ky) {
                    const int32_t py = y * win->stride_h + ky * win->dil_h;
                    for (kx = 0; kx < win->k_w; ++kx) {
                        const int32_t px = x * win->stride_w + kx * win->dil_w;
                        memcpy(dst, scratch + (size_t)m * plane + ((size_t)py * ext_w + px) * words,
                               (size_t)words * sizeof(uint32_t));
                        dst += words;
                    }
                }
                s_u += popcount_run(window + (size_t)m * taps_words, taps_words) << m;
            }
            for (oc = 0; oc < win->out_c; oc += 4) {
                const int32_t count = win->out_c - oc < 4 ? win->out_c - oc : 4;
                int32_t s_ui[4] = {0, 0, 0, 0};
                for (m = 0; m < act_bits; ++m) {
                    for (k = 0; k < weight_bits; ++k) {
                        int32_t pop[4] = {0, 0, 0, 0};
                        and_popcount_run(window + (size_t)m * taps_words,
                                         w_planes + (size_t)oc * w_per_oc + (size_t)k * taps_words, w_per_oc,
                                         taps_words, count, pop);
                        for (j = 0; j < count; ++j) {
                            s_ui[j] += pop[j] << (m + k);
                        }
                    }
                }
                for (j = 0; j < count; ++j) {
                    const int32_t acc = 2 * s_ui[j] - ((1 << weight_bits) - 1) * s_u + (bias ? bias[oc + j] : 0);
                    const int32_t v = ec_requantize(acc, mult[oc + j], shift[oc + j]) + q->out_zp;
                    o[oc + j] = (int8_t)ec_clamp_i32(v, q->act_min, q->act_max);
                }
            }
        }
    }
}

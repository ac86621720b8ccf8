/* ec_b1_xnor.h: the two low-bit convolutions, XNOR binary (ec_b1_conv2d_xnor) and DoReFa
 * bit-serial (ec_s8_conv2d_bitserial), shared by every ISA; formulas and weight layouts in ec_b1.h,
 * the packed word planes and the popcount engine in ec_b1_popcount.h. The including file may define
 * EC_B1_ISA_X86 or EC_B1_ISA_NEON first (ec_b1_popcount.h).
 *
 * Both pack their input once per call into `scratch` (word planes), then walk blocks of
 * EC_B1_BLOCK_OC output channels, and within one block the output pixels EC_B1_LANES at a time (one
 * vector lane each; the block's weight rows stay in L1 while the pixels stream by):
 *   XNOR:        acc = n * (K - 2 * sum popcount(a XOR w)) + bias,  K = k_h * k_w * C_in;
 *   bit-serial:  acc = n * (2 * sum_{m<M, k<K} 2^(m+k) sum popcount(U_m AND I_k)
 *                      - (2^K - 1) * sum_m 2^m sum popcount(U_m)) + bias,
 *                the last sum taken per pixel block with an all-ones weight row (the first
 *                k_h * k_w * words words after the planes in `scratch`, free since no window is
 *                gathered), n the channel's weight step (ec_b1.h). The combination is formed in int64 and is exactly the int32
 *                accumulator of the int8 formula (its bound in ec_b1.h);
 * then the shared requantization, or for a packed output (XNOR, ec_b1.h) a compare of each popcount
 * sum with its channel's limit. */
#ifndef EC_B1_XNOR_H
#define EC_B1_XNOR_H

#include "ec_b1_popcount.h"

/* Packed output of one block: for each lane i of a real pixel, bits j < nb of its word are the
 * channels oc + j that are -1 (pop > limit). oc is a multiple of EC_B1_BLOCK_OC, which divides 32,
 * so the block's nb bits sit within word oc / 32, at bit oc % 32. */
EC_B1_ALWAYS_INLINE void ec_b1_store_bits(int32_t pop[][EC_B1_LANES], const int32_t *limits, int32_t nb, int32_t oc,
                                          const int32_t *pixel, int32_t out_words, uint32_t *out)
{
    uint32_t bits[EC_B1_LANES];
    int32_t i, j;
    memset(bits, 0, sizeof bits);
    for (j = 0; j < nb; ++j) {
        ec_b1_threshold_row(pop[j], limits[oc + j], j, bits);
    }
    for (i = 0; i < EC_B1_LANES; ++i) {
        if (pixel[i] >= 0) {
            out[(size_t)pixel[i] * (size_t)out_words + (size_t)(oc / 32)] |= bits[i] << (oc % 32);
        }
    }
}

EC_INLINE void ec_b1_xnor_conv(const void *in, const uint32_t *w_bits, const int32_t *bias,
                               const int32_t *weight_steps, const int32_t *mult, const int32_t *shift,
                               const int32_t *pop_limits, const ec_window_t *win, const ec_qparams_t *q, int32_t flags,
                               uint32_t *scratch, void *out)
{
    const ec_b1_planes_t pl = ec_b1_planes(win);
    const size_t pitch = (size_t)win->stride_h * (size_t)pl.ext_w;
    const int32_t k_total = win->k_h * win->k_w * win->in_c;
    const size_t w_per_group = (size_t)win->k_h * (size_t)win->k_w * (size_t)pl.words * EC_B1_WEIGHT_GROUP;
    const int32_t out_words = (win->out_c + 31) / 32;
    int32_t pop[EC_B1_BLOCK_OC][EC_B1_LANES];
    int8_t tile[EC_B1_BLOCK_OC][EC_B1_LANES];
    ec_b1_block_t b;
    size_t v;
    int32_t oc, j, i;
    memset(tile, 0, sizeof tile);
    if (flags & EC_B1_IN_PACKED) {
        ec_b1_pack_input(NULL, (const uint32_t *)in, win, &pl, 0, 0, scratch);
    } else {
        ec_b1_pack_input((const int8_t *)in, NULL, win, &pl, 0, q->in_zp, scratch);
    }
    if (flags & EC_B1_OUT_PACKED) {
        memset(out, 0, (size_t)win->out_h * (size_t)win->out_w * (size_t)out_words * sizeof(uint32_t));
    }
    for (oc = 0; oc < win->out_c; oc += EC_B1_BLOCK_OC) {
        const int32_t nb = win->out_c - oc < EC_B1_BLOCK_OC ? win->out_c - oc : EC_B1_BLOCK_OC;
        const uint32_t *w_block = w_bits + (size_t)(oc / EC_B1_WEIGHT_GROUP) * w_per_group +
                                  (size_t)(oc % EC_B1_WEIGHT_GROUP);
        for (v = 0; v < ec_b1_virtual_end(win, pitch); v = ec_b1_next_block(win, pitch, &b)) {
            ec_b1_block_at(win, pitch, v, &b);
            ec_b1_block_popcounts(scratch, &pl, win, &b, w_block, 1, EC_B1_WEIGHT_GROUP, EC_B1_BLOCK_OC, EC_B1_BLOCK_OC,
                                  EC_B1_OP_XOR, pop);
            if (flags & EC_B1_OUT_PACKED) {
                ec_b1_store_bits(pop, pop_limits, nb, oc, b.pixel, out_words, (uint32_t *)out);
                continue;
            }
            for (j = 0; j < nb; ++j) {
                const int32_t offset = bias ? bias[oc + j] : 0;
                const int32_t n = weight_steps[oc + j];
                for (i = 0; i < EC_B1_LANES; ++i) {
                    pop[j][i] = offset + n * (k_total - 2 * pop[j][i]);
                }
                ec_b1_requantize_lanes(pop[j], mult[oc + j], shift[oc + j], q, tile[j]);
            }
            ec_b1_store_tile(tile, nb, b.pixel, win->out_c, (int8_t *)out + oc);
        }
    }
}

EC_INLINE void ec_b1_bitserial_conv(const int8_t *in, const uint32_t *w_planes, const int32_t *bias,
                                    const int32_t *weight_steps, const int32_t *mult, const int32_t *shift,
                                    const ec_window_t *win, const ec_qparams_t *q, int32_t act_bits,
                                    int32_t weight_bits, uint32_t *scratch, int8_t *out)
{
    const ec_b1_planes_t pl = ec_b1_planes(win);
    const size_t pitch = (size_t)win->stride_h * (size_t)pl.ext_w;
    const size_t taps_words = (size_t)win->k_h * (size_t)win->k_w * (size_t)pl.words;
    const size_t w_per_oc = (size_t)weight_bits * taps_words;
    const size_t group = pl.plane * (size_t)pl.words;
    uint32_t *ones = scratch + group * (size_t)act_bits;
    int32_t pop[EC_B1_BLOCK_OC][EC_B1_LANES], code_sum[1][EC_B1_LANES];
    int64_t s_ui[EC_B1_BLOCK_OC][EC_B1_LANES], s_u[EC_B1_LANES];
    int8_t tile[EC_B1_BLOCK_OC][EC_B1_LANES];
    ec_b1_block_t b;
    size_t v;
    int32_t oc, j, i, m, k;
    memset(tile, 0, sizeof tile);
    ec_b1_pack_input(in, NULL, win, &pl, act_bits, q->in_zp, scratch);
    memset(ones, 0xFF, taps_words * sizeof(uint32_t));
    for (oc = 0; oc < win->out_c; oc += EC_B1_BLOCK_OC) {
        const int32_t nb = win->out_c - oc < EC_B1_BLOCK_OC ? win->out_c - oc : EC_B1_BLOCK_OC;
        for (v = 0; v < ec_b1_virtual_end(win, pitch); v = ec_b1_next_block(win, pitch, &b)) {
            ec_b1_block_at(win, pitch, v, &b);
            memset(s_u, 0, sizeof s_u);
            memset(s_ui, 0, sizeof s_ui);
            for (m = 0; m < act_bits; ++m) {
                ec_b1_block_popcounts(scratch + (size_t)m * group, &pl, win, &b, ones, 0, 1, 1, 1, EC_B1_OP_AND, code_sum);
                for (i = 0; i < EC_B1_LANES; ++i) {
                    s_u[i] += (int64_t)code_sum[0][i] << m;
                }
                for (k = 0; k < weight_bits; ++k) {
                    ec_b1_block_popcounts(scratch + (size_t)m * group, &pl, win, &b,
                                          w_planes + (size_t)oc * w_per_oc + (size_t)k * taps_words, w_per_oc, 1, nb,
                                          EC_B1_BLOCK_OC, EC_B1_OP_AND, pop);
                    for (j = 0; j < nb; ++j) {
                        for (i = 0; i < EC_B1_LANES; ++i) {
                            s_ui[j][i] += (int64_t)pop[j][i] << (m + k);
                        }
                    }
                }
            }
            for (j = 0; j < nb; ++j) {
                const int64_t offset = bias ? bias[oc + j] : 0;
                const int64_t n = weight_steps[oc + j];
                for (i = 0; i < EC_B1_LANES; ++i) {
                    pop[j][i] = (int32_t)(n * (2 * s_ui[j][i] - (((int64_t)1 << weight_bits) - 1) * s_u[i]) + offset);
                }
                ec_b1_requantize_lanes(pop[j], mult[oc + j], shift[oc + j], q, tile[j]);
            }
            ec_b1_store_tile(tile, nb, b.pixel, win->out_c, out + oc);
        }
    }
}

/* Binary fully connected layer on packed input words (ec_b1.h): row o of the weights holds the
 * same words as the input (in_words of them), so pop = sum popcount(in XOR w_o) over the k_total
 * real bits (the unused bits are 0 on both sides) and acc = bias + n_o * (k_total - 2 * pop), then
 * the shared requantization. Rows go four at a time, the last out_n % 4 one at a time (the four
 * sums then all of that row). */
EC_INLINE void ec_b1_fc(const uint32_t *in, const uint32_t *w_bits, const int32_t *bias, const int32_t *weight_steps,
                        const int32_t *mult, const int32_t *shift, int32_t k_total, int32_t in_words, int32_t out_n,
                        const ec_qparams_t *q, int8_t *out)
{
    int32_t o, r, rows, pops[4];
    for (o = 0; o < out_n; o += rows) {
        rows = out_n - o >= 4 ? 4 : 1;
        ec_b1_xor_popcount4(in, w_bits + (size_t)o * (size_t)in_words, rows == 4 ? (size_t)in_words : 0, in_words, pops);
        for (r = 0; r < rows; ++r) {
            const int32_t acc = (bias ? bias[o + r] : 0) + weight_steps[o + r] * (k_total - 2 * pops[r]);
            out[o + r] = (int8_t)ec_clamp_i32(ec_requantize(acc, mult[o + r], shift[o + r]) + q->out_zp, q->act_min,
                                              q->act_max);
        }
    }
}

#endif /* EC_B1_XNOR_H */

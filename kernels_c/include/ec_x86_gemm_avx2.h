/* ec_x86_gemm_avx2.h: the AVX2 tile function of the packed int8 GEMM (ec_s8_packed.h), for x86
 * CPUs without AVX-512 VNNI; ec_x86_gemm.h includes it when the compiler does not target VNNI. It
 * reads the layout every instruction set shares and equals the portable tile bit for bit.
 *
 * Arithmetic. Per output channel o the accumulator starts at
 *     fold[o] = bias[o] - in_zp * wsum[o],   wsum[o] = sum_k W[o][k],
 * and gains x[k] * W[o][k] for every input byte, so that it ends at bias[o] + sum_k (x[k] - in_zp)
 * W[o][k]. Input and weight bytes are sign-extended to int16 (vpmovsxbw) and vpmaddwd adds pairs of
 * products into int32 lanes: |x * w| <= 128 * 128, so a pair sum is at most 2^15 in magnitude and
 * exact (vpmaddwd's one wrapping case, two products of -32768 * -32768, cannot occur). vpaddd,
 * vpmulld and vpsubd wrap modulo 2^32 and the true accumulator lies in int32 (the generator refuses
 * layers where |bias| + 255 * sum_k |W[o][k]| > INT32_MAX), so the wrapped result is exact even
 * where fold or a partial sum wraps. Bytes read past a segment's end (a zero-filled tail group, or
 * whole groups read past a tap, ec_im2col.h) meet zero weights and add nothing. A padding segment
 * of a row tile (a tap in the padding for all its pixels) adds in_zp * W for every pixel: it is
 * added to fold once per tile, not read per pixel.
 *
 * Lanes. One 64-byte group of the layout holds 16 channels x 4 K bytes; its 16-byte quarter q
 * (channels 4q..4q+3) widens to 16 int16. The pixel's 4 bytes, widened and repeated 4 times across
 * the register, multiply it: lane 2c of the vpmaddwd result holds channel 4q + c's K bytes 0-1,
 * lane 2c + 1 its bytes 2-3. Two such accumulators (quarters 2h, 2h + 1: half-block h, 8 channels)
 * are added pairwise once at the end by vphaddd, which leaves the channels in the order 0, 1, 4, 5
 * | 2, 3, 6, 7 (its two 128-bit halves): the requantization constants are permuted to that order
 * once per pass, and the bytes back to channel order once per 4 pixels. fold enters the
 * accumulators' even lanes (the odd ones start at 0), so the pairwise sums include it.
 *
 * Register tiles for 16 YMM registers (ec_avx2_shape): up to 6 pixels x 8 channels (12
 * accumulators, the half-block's 2 weight registers, one input register; each widened weight
 * register feeds 6 pixels), and 1 pixel x 32 channels for a lone pixel (the fully connected layer,
 * im2col tap lists: 8 independent accumulator chains). A pass over a half-block loads its output
 * constants once and requantizes 8 channels per vector (ec_x86_requantize8); the int8 results of up
 * to 4 pixels are packed with saturation into one register (vpackssdw, vpaddsw of out_zp, vpacksswb,
 * then the clamp in bytes: clamping the saturated value gives the same byte, the clamp bounds lying
 * in int8) and stored 8 bytes per pixel, fewer for the channels of a last half-block past C_out.
 *
 * Widened input. A row tile of 2 to 6 pixels whose packed K is at most EC_AVX2_WIDE_K4 bytes and
 * whose segments are at least EC_AVX2_WIDE_SEG long is widened to int16 once (a stack buffer of up
 * to 54 KiB: K up to a 3x3 window of 512 channels), and every half-block pass reads a pixel's group
 * with one 64-bit broadcast load; other tiles widen the group they read in each pass (a shuffle and
 * vpmovsxbw per pixel and group). Past L1's size the widened rows stream from L2, still faster than
 * widening in every pass (ResNet-18-224's 256- and 512-channel 3x3 layers, bench/README.md).
 *
 * Order. Within a call of up to EC_X86_GEMM_TILE pixels, each register tile of pixels runs over
 * every half-block: the tile's input stays in L1 while the weights stream from L1, L2 or L3, each
 * weight byte loaded feeding 6 pixels (under one byte per 6 MACs however large the map, so no
 * blocking beyond the tile), and the outputs are written once, pixel after pixel.
 *
 * Included by ec_x86_gemm.h alone, which defines EC_UNROLL. */
#ifndef EC_X86_GEMM_AVX2_H
#define EC_X86_GEMM_AVX2_H

#include <immintrin.h>

#include "ec_s8_packed.h"
#include "ec_x86_avx2.h"

#define EC_X86_GEMM_TILE 64 /* most pixels per call, split into register tiles of up to 6 pixels */
#define EC_AVX2_ROWS 6      /* most pixels in one register tile */
#define EC_AVX2_HALVES 4    /* most half-blocks (8 channels) in one pass: 4 for one pixel, else 1 */
#define EC_AVX2_HALF 8      /* output channels per half-block */

/* The group of 4 bytes at p (n of them, n < 4 for a tail, zero-filled) widened to int16 and
 * repeated across the register. */
EC_FORCE_INLINE __m256i ec_avx2_gemm_group(const int8_t *p, int32_t n)
{
    const int32_t v = n == 4 ? ec_load_group(p) : ec_load_tail_group(p, n);
    return _mm256_cvtepi8_epi16(_mm_broadcastd_epi32(_mm_cvtsi32_si128(v)));
}

/* The weights of half-blocks h < nh of one group at wk, widened: wv[2h], wv[2h + 1] its quarters.
 * A pass of more than one half-block starts at a block's first half, so quarter q lies in block
 * q / 4 (block_bytes on) at 16 * (q % 4). */
EC_FORCE_INLINE void ec_avx2_gemm_weights(const int8_t *wk, size_t block_bytes, const int nh,
                                          __m256i wv[2 * EC_AVX2_HALVES])
{
    int q;
    EC_UNROLL
    for (q = 0; q < 2 * nh; ++q) {
        wv[q] = ec_avx2_load16_s8_as_s16(wk + (size_t)(q / 4) * block_bytes + (size_t)(16 * (q % 4)));
    }
}

/* acc[j] += x * wv[j] for the 2 * nh quarters of a pass (lane pairs as above). */
EC_FORCE_INLINE void ec_avx2_gemm_madd(__m256i acc[2 * EC_AVX2_HALVES], __m256i x, const __m256i wv[2 * EC_AVX2_HALVES],
                                       const int nh)
{
    int j;
    EC_UNROLL
    for (j = 0; j < 2 * nh; ++j) {
        acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(x, wv[j]));
    }
}

/* fold[] += in_zp * W of a row tile's padding segments (the padding row, the same for every pixel)
 * for nh half-blocks starting at w. */
EC_FORCE_INLINE void ec_avx2_gemm_padding(const ec_gemm_t *g, const ec_gemm_src_t *src, const int8_t *w, const int nh,
                                          __m256i fold[2 * EC_AVX2_HALVES])
{
    const size_t block_bytes = (size_t)g->k4 * EC_PACK_LANES, seg_bytes = (size_t)EC_PACK_K4(g->seg_len) * EC_PACK_LANES;
    const int32_t full = ec_gemm_whole_bytes(g);
    __m256i wv[2 * EC_AVX2_HALVES];
    int32_t s, k;
    for (s = 0; s < g->nseg; ++s) {
        const int8_t *wk = w + (size_t)s * seg_bytes;
        if (src->seg_offset[s] != EC_GEMM_PAD) {
            continue;
        }
        for (k = 0; k < g->seg_len; k += 4, wk += 64) {
            ec_avx2_gemm_weights(wk, block_bytes, nh, wv);
            ec_avx2_gemm_madd(fold, ec_avx2_gemm_group(src->pad_row + k, k < full ? 4 : g->seg_len - k), wv, nh);
        }
    }
}

/* acc[i] += the products of pixel i0 + i (pixels from m on repeat pixel m - 1) with nh half-blocks
 * starting at w, over every segment but a row tile's padding ones. `row` (a constant): src is a row
 * tile, whose pixels read segment s at their first byte + seg_offset[s]; else a tile of tap lists. */
EC_FORCE_INLINE void ec_avx2_gemm_accumulate(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m,
                                             const int8_t *w, const int rows, const int nh, const int row,
                                             __m256i acc[EC_AVX2_ROWS][2 * EC_AVX2_HALVES])
{
    const size_t block_bytes = (size_t)g->k4 * EC_PACK_LANES, seg_bytes = (size_t)EC_PACK_K4(g->seg_len) * EC_PACK_LANES;
    const int32_t full = ec_gemm_whole_bytes(g), tail = g->seg_len - full;
    const int8_t *x[EC_AVX2_ROWS];
    __m256i wv[2 * EC_AVX2_HALVES];
    int32_t s, k;
    int i;
    if (row) {
        ec_x86_row_pixels(src, i0, m, rows, x);
    }
    for (s = 0; s < g->nseg; ++s) {
        const int8_t *wk = w + (size_t)s * seg_bytes;
        size_t off;
        if (!ec_x86_segment(g, src, s, i0, m, rows, row, x, &off)) {
            continue;
        }
        for (k = 0; k < full; k += 4, wk += 64) {
            const size_t at = off + (size_t)k;
            ec_avx2_gemm_weights(wk, block_bytes, nh, wv);
            EC_UNROLL
            for (i = 0; i < rows; ++i) {
                ec_avx2_gemm_madd(acc[i], ec_avx2_gemm_group(x[i] + at, 4), wv, nh);
            }
        }
        if (tail > 0) {
            ec_avx2_gemm_weights(wk, block_bytes, nh, wv);
            EC_UNROLL
            for (i = 0; i < rows; ++i) {
                ec_avx2_gemm_madd(acc[i], ec_avx2_gemm_group(x[i] + off + (size_t)full, tail), wv, nh);
            }
        }
    }
}

/* Pixels i0 .. i0 + rows - 1 of a row tile (those from m on repeat pixel m - 1) widened to int16
 * once, for every half-block pass to read: pixel i's packed K byte k (its group k / 4) at
 * xw[i * g->k4 + k], tail groups zero-filled; padding segments are skipped (ec_avx2_gemm_padding
 * covers them). */
EC_FORCE_INLINE void ec_avx2_gemm_widen(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m,
                                        const int rows, int16_t *xw)
{
    const int32_t full = ec_gemm_whole_bytes(g), seg_k4 = EC_PACK_K4(g->seg_len);
    const int8_t *x[EC_AVX2_ROWS];
    int16_t *dst[EC_AVX2_ROWS];
    int32_t s, k;
    int i;
    ec_x86_row_pixels(src, i0, m, rows, x);
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        dst[i] = xw + (size_t)i * (size_t)g->k4;
    }
    for (s = 0; s < g->nseg; ++s) {
        const size_t off = src->seg_offset[s], at = (size_t)s * (size_t)seg_k4;
        if (off == EC_GEMM_PAD) {
            continue;
        }
        for (k = 0; k + 16 <= full; k += 16) {
            EC_UNROLL
            for (i = 0; i < rows; ++i) {
                _mm256_storeu_si256((__m256i *)(void *)(dst[i] + at + k), ec_avx2_load16_s8_as_s16(x[i] + off + k));
            }
        }
        for (; k < full; k += 4) {
            EC_UNROLL
            for (i = 0; i < rows; ++i) {
                _mm_storel_epi64((__m128i *)(void *)(dst[i] + at + k),
                                 _mm_cvtepi8_epi16(_mm_cvtsi32_si128(ec_load_group(x[i] + off + k))));
            }
        }
        if (k < g->seg_len) {
            EC_UNROLL
            for (i = 0; i < rows; ++i) {
                _mm_storel_epi64((__m128i *)(void *)(dst[i] + at + k),
                                 _mm_cvtepi8_epi16(_mm_cvtsi32_si128(ec_load_tail_group(x[i] + off + k, g->seg_len - k))));
            }
        }
    }
}

/* ec_avx2_gemm_accumulate for a row tile widened by ec_avx2_gemm_widen: each pixel's group is one
 * 64-bit broadcast load (no shuffle per pixel and half-block). */
EC_FORCE_INLINE void ec_avx2_gemm_accumulate_wide(const ec_gemm_t *g, const ec_gemm_src_t *src, const int16_t *xw,
                                                  const int8_t *w, const int rows, const int nh,
                                                  __m256i acc[EC_AVX2_ROWS][2 * EC_AVX2_HALVES])
{
    const size_t block_bytes = (size_t)g->k4 * EC_PACK_LANES, seg_bytes = (size_t)EC_PACK_K4(g->seg_len) * EC_PACK_LANES;
    const int32_t seg_k4 = EC_PACK_K4(g->seg_len);
    __m256i wv[2 * EC_AVX2_HALVES];
    int32_t s, k;
    int i;
    for (s = 0; s < g->nseg; ++s) {
        const int8_t *wk = w + (size_t)s * seg_bytes;
        const int16_t *xs = xw + (size_t)s * (size_t)seg_k4;
        if (src->seg_offset[s] == EC_GEMM_PAD) {
            continue;
        }
        for (k = 0; k < seg_k4; k += 4, wk += 64) {
            ec_avx2_gemm_weights(wk, block_bytes, nh, wv);
            EC_UNROLL
            for (i = 0; i < rows; ++i) {
                const __m128i group = _mm_loadl_epi64((const __m128i *)(const void *)(xs + (size_t)i * (size_t)g->k4 + k));
                ec_avx2_gemm_madd(acc[i], _mm256_broadcastq_epi64(group), wv, nh);
            }
        }
    }
}

/* The output stage of one half-block: requantization lane constants, output zero point (int16)
 * and clamp (bytes), and how many of its 8 channels exist. */
typedef struct {
    ec_x86_rq8_t rq;
    __m256i out_zp;
    __m128i act_min, act_max;
    int32_t n;
    int floored; /* act_min >= out_zp: ec_x86_requantize8_floored serves (ec_x86_dw.h) */
} ec_avx2_out8_t;

/* The lanes of the first n channels (n clipped to [0, 8]), for vpmaskmovd. */
EC_FORCE_INLINE __m256i ec_avx2_first_lanes(int32_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The lanes of vphaddd's result: channels 0, 1, 4, 5 | 2, 3, 6, 7. */
#define EC_AVX2_HADD_ORDER _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)

/* The output stage of half-block c0, its lanes in vphaddd's channel order. */
EC_FORCE_INLINE ec_avx2_out8_t ec_avx2_out8(const ec_gemm_t *g, int32_t c0)
{
    const __m256i lanes = ec_avx2_first_lanes(g->out_c - c0);
    ec_avx2_out8_t o;
    o.rq = ec_x86_rq8_params(_mm256_permutevar8x32_epi32(_mm256_maskload_epi32(g->mult + c0, lanes), EC_AVX2_HADD_ORDER),
                             _mm256_permutevar8x32_epi32(_mm256_maskload_epi32(g->shift + c0, lanes), EC_AVX2_HADD_ORDER));
    o.out_zp = _mm256_set1_epi16((short)g->q->out_zp);
    o.act_min = _mm_set1_epi8((char)g->q->act_min);
    o.act_max = _mm_set1_epi8((char)g->q->act_max);
    o.n = g->out_c - c0 < EC_AVX2_HALF ? g->out_c - c0 : EC_AVX2_HALF;
    o.floored = g->q->act_min >= g->q->out_zp;
    return o;
}

/* fold = bias - in_zp * wsum for the channels of half-block c0 (zero past C_out), in the lane pairs
 * of its two quarters: channel 4q + c's value in lane 2c of pair[q], 0 in lane 2c + 1. */
EC_FORCE_INLINE void ec_avx2_gemm_fold(const ec_gemm_t *g, int32_t c0, __m256i pair[2])
{
    const __m256i lanes = ec_avx2_first_lanes(g->out_c - c0), zero = _mm256_setzero_si256();
    const __m256i fold = _mm256_sub_epi32(_mm256_maskload_epi32(g->bias + c0, lanes),
                                          _mm256_mullo_epi32(_mm256_maskload_epi32(g->wsum + c0, lanes),
                                                             _mm256_set1_epi32(g->q->in_zp)));
    pair[0] = _mm256_blend_epi32(zero, _mm256_permutevar8x32_epi32(fold, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3)), 0x55);
    pair[1] = _mm256_blend_epi32(zero, _mm256_permutevar8x32_epi32(fold, _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7)), 0x55);
}

/* A half-block's constants, derived once per call (ec_x86_gemm_prepare) instead of in every
 * register tile: its fold lane pairs and its output stage. */
#define EC_X86_STAGE_LANES EC_AVX2_HALF
typedef struct {
    __m256i fold[2];
    ec_avx2_out8_t out;
} ec_x86_stage_t;

EC_INLINE void ec_x86_stage(const ec_gemm_t *g, int32_t h, ec_x86_stage_t *s)
{
    ec_avx2_gemm_fold(g, h * EC_AVX2_HALF, s->fold);
    s->out = ec_avx2_out8(g, h * EC_AVX2_HALF);
}

/* The 8 bytes v at out, or its first n < 8. */
EC_FORCE_INLINE void ec_avx2_store_bytes(int8_t *out, __m128i v, int32_t n)
{
    int32_t word;
    if (n == EC_AVX2_HALF) {
        _mm_storel_epi64((__m128i *)(void *)out, v);
        return;
    }
    if (n & 4) {
        word = _mm_cvtsi128_si32(v);
        memcpy(out, &word, 4);
        out += 4;
        v = _mm_srli_epi64(v, 32);
    }
    word = _mm_cvtsi128_si32(v);
    if (n & 2) {
        memcpy(out, &word, 2);
        out += 2;
        word >>= 16;
    }
    if (n & 1) {
        *out = (int8_t)word;
    }
}

/* Two 8-channel results requantized (`floored`, a constant: the shorter requantization, where
 * o->floored holds), packed to int16 with the zero point added, saturating. */
EC_FORCE_INLINE __m256i ec_avx2_words2(__m256i a, __m256i b, const ec_avx2_out8_t *o, const int floored)
{
    const __m256i ra = floored ? ec_x86_requantize8_floored(a, &o->rq) : ec_x86_requantize8(a, &o->rq);
    const __m256i rb = floored ? ec_x86_requantize8_floored(b, &o->rq) : ec_x86_requantize8(b, &o->rq);
    return _mm256_adds_epi16(_mm256_packs_epi32(ra, rb), o->out_zp);
}

/* The 8-channel results r[0..3] (int32, in vphaddd's order) of 4 pixels, requantized, as bytes in
 * channel order: pixel p's 8 bytes in 64-bit lane p. With `pairs` 1 only r[0] and r[1] are
 * requantized, and pixels 2 and 3 repeat them (a tile's last 1 or 2 pixels). */
EC_FORCE_INLINE __m256i ec_avx2_pack4(const __m256i r[4], const ec_avx2_out8_t *o, const int pairs, const int floored)
{
    const __m256i r01 = ec_avx2_words2(r[0], r[1], o, floored);
    const __m256i r23 = pairs == 1 ? r01 : ec_avx2_words2(r[2], r[3], o, floored);
    /* bytes: 128-bit lane 0 holds channels 0, 1, 4, 5 of pixels 0..3, lane 1 channels 2, 3, 6, 7 */
    const __m256i bytes = _mm256_packs_epi16(r01, r23);
    const __m256i by_pixel = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    const __m256i ordered = _mm256_shuffle_epi8(by_pixel, _mm256_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15,
                                                                          0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15));
    const __m256i lo = _mm256_broadcastsi128_si256(o->act_min), hi = _mm256_broadcastsi128_si256(o->act_max);
    return _mm256_min_epi8(_mm256_max_epi8(ordered, lo), hi);
}

/* Requantizes and stores half-block h of the pass for `rows` pixels (the first m exist) from their
 * lane-pair accumulators acc[i][2h], acc[i][2h + 1]; pixel i at out + i * out_stride. `floored` as
 * in ec_avx2_words2. */
EC_FORCE_INLINE void ec_avx2_gemm_store(__m256i acc[EC_AVX2_ROWS][2 * EC_AVX2_HALVES], const int h, const ec_avx2_out8_t *o, const int rows, int32_t m, int8_t *out,
                                        size_t out_stride, const int floored)
{
    __m256i r[4];
    int i0, i;
    EC_UNROLL
    for (i0 = 0; i0 < rows; i0 += 4) {
        const int pairs = rows - i0 > 2 ? 2 : 1;
        __m256i bytes;
        EC_UNROLL
        for (i = 0; i < 2 * pairs; ++i) {
            const int p = i0 + i < rows ? i0 + i : rows - 1;
            r[i] = _mm256_hadd_epi32(acc[p][2 * h], acc[p][2 * h + 1]);
        }
        bytes = ec_avx2_pack4(r, o, pairs, floored);
        EC_UNROLL
        for (i = 0; i < 4; ++i) {
            if (i0 + i < rows && i0 + i < m) {
                const __m128i part = i < 2 ? _mm256_castsi256_si128(bytes) : _mm256_extracti128_si256(bytes, 1);
                ec_avx2_store_bytes(out + (size_t)(i0 + i) * out_stride, i % 2 ? _mm_unpackhi_epi64(part, part) : part, o->n);
            }
        }
    }
}

/* Output channels [8 * h0, 8 * (h0 + nh)) of pixels i0 .. i0 + m - 1 with a register tile of
 * `rows` >= m pixels: fold (with a row tile's padding segments), accumulate (from the widened input xw where `wide`), requantize, store
 * (pixel i0 + i at out + i * out_stride). */
EC_FORCE_INLINE void ec_avx2_gemm_halves(const ec_gemm_t *g, const ec_gemm_src_t *src, const int16_t *xw, int32_t i0,
                                         int32_t m, int32_t h0, const int rows, const int nh, const int row,
                                         const int wide, int8_t *out, size_t out_stride)
{
    /* half-block h0 starts in block h0 / 2, at its quarter 2 * (h0 % 2) */
    const int8_t *w = g->w + (size_t)(h0 / 2) * (size_t)g->k4 * EC_PACK_LANES + (size_t)(h0 % 2) * 32;
    const ec_x86_stage_t *stages = (const ec_x86_stage_t *)g->stages;
    __m256i acc[EC_AVX2_ROWS][2 * EC_AVX2_HALVES], fold[2 * EC_AVX2_HALVES];
    int i, j;
    EC_UNROLL
    for (j = 0; j < nh; ++j) {
        if (stages) {
            fold[2 * j] = stages[h0 + j].fold[0];
            fold[2 * j + 1] = stages[h0 + j].fold[1];
        } else {
            ec_avx2_gemm_fold(g, (h0 + j) * EC_AVX2_HALF, fold + 2 * j);
        }
    }
    if (row) {
        ec_avx2_gemm_padding(g, src, w, nh, fold);
    }
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        EC_UNROLL
        for (j = 0; j < 2 * nh; ++j) {
            acc[i][j] = fold[j];
        }
    }
    if (wide) {
        ec_avx2_gemm_accumulate_wide(g, src, xw, w, rows, nh, acc);
    } else {
        ec_avx2_gemm_accumulate(g, src, i0, m, w, rows, nh, row, acc);
    }
    EC_UNROLL
    for (j = 0; j < nh; ++j) {
        const int32_t c0 = (h0 + j) * EC_AVX2_HALF;
        /* a copy: the int8 stores could alias the call's stages, which would be reloaded */
        const ec_avx2_out8_t stage = stages ? stages[h0 + j].out : ec_avx2_out8(g, c0);
        if (stage.floored) {
            ec_avx2_gemm_store(acc, j, &stage, rows, m, out + c0, out_stride, 1);
        } else {
            ec_avx2_gemm_store(acc, j, &stage, rows, m, out + c0, out_stride, 0);
        }
    }
}

/* Each register tile (rows x nh) is a function of its own, so that the register allocator sees one
 * tile at a time. Row tiles of 2 to 6 pixels take one half-block, reading the widened input (`wide`)
 * or the bytes in place; one pixel (a row tile or a tap list) takes 1 to 4, in place. */
typedef void (*ec_avx2_halves_fn)(const ec_gemm_t *g, const ec_gemm_src_t *src, const int16_t *xw, int32_t i0,
                                  int32_t m, int32_t h0, int8_t *out, size_t out_stride);

#define EC_AVX2_HALVES_FN(kind, row, wide, rows, nh)                                                         \
    EC_NOINLINE void ec_avx2_##kind##_##rows##x##nh(const ec_gemm_t *g, const ec_gemm_src_t *src,          \
                                                    const int16_t *xw, int32_t i0, int32_t m, int32_t h0,  \
                                                    int8_t *out, size_t out_stride)                        \
    {                                                                                                     \
        ec_avx2_gemm_halves(g, src, xw, i0, m, h0, rows, nh, row, wide, out, out_stride);                 \
    }
EC_AVX2_HALVES_FN(row, 1, 0, 1, 1)
EC_AVX2_HALVES_FN(row, 1, 0, 1, 2)
EC_AVX2_HALVES_FN(row, 1, 0, 1, 3)
EC_AVX2_HALVES_FN(row, 1, 0, 1, 4)
EC_AVX2_HALVES_FN(row, 1, 0, 2, 1)
EC_AVX2_HALVES_FN(row, 1, 0, 3, 1)
EC_AVX2_HALVES_FN(row, 1, 0, 4, 1)
EC_AVX2_HALVES_FN(row, 1, 0, 5, 1)
EC_AVX2_HALVES_FN(row, 1, 0, 6, 1)
EC_AVX2_HALVES_FN(wide, 1, 1, 2, 1)
EC_AVX2_HALVES_FN(wide, 1, 1, 3, 1)
EC_AVX2_HALVES_FN(wide, 1, 1, 4, 1)
EC_AVX2_HALVES_FN(wide, 1, 1, 5, 1)
EC_AVX2_HALVES_FN(wide, 1, 1, 6, 1)
#if defined(EC_X86_GEMM_IM2COL)
EC_AVX2_HALVES_FN(list, 0, 0, 1, 1)
EC_AVX2_HALVES_FN(list, 0, 0, 1, 2)
EC_AVX2_HALVES_FN(list, 0, 0, 1, 3)
EC_AVX2_HALVES_FN(list, 0, 0, 1, 4)
#endif
#undef EC_AVX2_HALVES_FN

typedef void (*ec_avx2_widen_fn)(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m, int16_t *xw);

#define EC_AVX2_WIDEN_FN(rows)                                                                                  \
    EC_NOINLINE void ec_avx2_widen_##rows(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m, \
                                          int16_t *xw)                                                        \
    {                                                                                                         \
        ec_avx2_gemm_widen(g, src, i0, m, rows, xw);                                                          \
    }
EC_AVX2_WIDEN_FN(2)
EC_AVX2_WIDEN_FN(3)
EC_AVX2_WIDEN_FN(4)
EC_AVX2_WIDEN_FN(5)
EC_AVX2_WIDEN_FN(6)
#undef EC_AVX2_WIDEN_FN

/* The register tiles of one pixel count, by half-block count: by_nh[n] computes n half-blocks;
 * `widen` (the widened shapes) prepares their input. */
typedef struct {
    int32_t most; /* half-blocks per pass */
    ec_avx2_halves_fn by_nh[EC_AVX2_HALVES + 1];
    ec_avx2_widen_fn widen;
} ec_avx2_shape_t;

#if defined(EC_X86_GEMM_IM2COL)
static const ec_avx2_shape_t ec_avx2_list_1 = {
    4, {NULL, ec_avx2_list_1x1, ec_avx2_list_1x2, ec_avx2_list_1x3, ec_avx2_list_1x4}, NULL};
#endif
static const ec_avx2_shape_t ec_avx2_rows[EC_AVX2_ROWS + 1] = {
    {0, {NULL, NULL, NULL, NULL, NULL}, NULL},
    {4, {NULL, ec_avx2_row_1x1, ec_avx2_row_1x2, ec_avx2_row_1x3, ec_avx2_row_1x4}, NULL},
    {1, {NULL, ec_avx2_row_2x1, NULL, NULL, NULL}, NULL},
    {1, {NULL, ec_avx2_row_3x1, NULL, NULL, NULL}, NULL},
    {1, {NULL, ec_avx2_row_4x1, NULL, NULL, NULL}, NULL},
    {1, {NULL, ec_avx2_row_5x1, NULL, NULL, NULL}, NULL},
    {1, {NULL, ec_avx2_row_6x1, NULL, NULL, NULL}, NULL},
};
static const ec_avx2_shape_t ec_avx2_wide_rows[EC_AVX2_ROWS + 1] = {
    {0, {NULL, NULL, NULL, NULL, NULL}, NULL},
    {0, {NULL, NULL, NULL, NULL, NULL}, NULL},
    {1, {NULL, ec_avx2_wide_2x1, NULL, NULL, NULL}, ec_avx2_widen_2},
    {1, {NULL, ec_avx2_wide_3x1, NULL, NULL, NULL}, ec_avx2_widen_3},
    {1, {NULL, ec_avx2_wide_4x1, NULL, NULL, NULL}, ec_avx2_widen_4},
    {1, {NULL, ec_avx2_wide_5x1, NULL, NULL, NULL}, ec_avx2_widen_5},
    {1, {NULL, ec_avx2_wide_6x1, NULL, NULL, NULL}, ec_avx2_widen_6},
};

/* Every output channel of pixels i0 .. i0 + m - 1: `most` half-blocks at a time, then the rest in
 * one pass (a pass of several half-blocks starts on a block boundary: `most` is 1 or even). */
static void ec_avx2_gemm_pixels(const ec_gemm_t *g, const ec_gemm_src_t *src, const int16_t *xw, int32_t i0,
                                int32_t m, const ec_avx2_shape_t *shape, int8_t *out, size_t out_stride)
{
    const int32_t halves = (g->out_c + EC_AVX2_HALF - 1) / EC_AVX2_HALF;
    int32_t h = 0;
    for (; h + shape->most <= halves; h += shape->most) {
        shape->by_nh[shape->most](g, src, xw, i0, m, h, out, out_stride);
    }
    if (h < halves) {
        shape->by_nh[halves - h](g, src, xw, i0, m, h, out, out_stride);
    }
}

/* m pixels in register tiles of up to 6 pixels, the pixels spread evenly over the fewest tiles (14
 * pixels: 5, 5 and 4); a tile of tap lists (in the files that run them, EC_X86_GEMM_IM2COL),
 * one pixel at a time. A row tile of 2 or more pixels
 * whose packed K fits EC_AVX2_WIDE_K4 is widened to int16 once (54 KiB of stack at most) and read so
 * by every half-block; longer ones, and those of segments under EC_AVX2_WIDE_SEG bytes (a first
 * layer's 3-channel taps, where widening costs more per group than it saves), read their bytes in
 * place. */
#define EC_AVX2_WIDE_K4 4608
#define EC_AVX2_WIDE_SEG 8
static void ec_x86_gemm_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out, size_t out_stride)
{
    int16_t xw[EC_AVX2_ROWS * EC_AVX2_WIDE_K4];
    int32_t i0, n;
#if defined(EC_X86_GEMM_IM2COL)
    if (!src->first) {
        for (i0 = 0; i0 < m; ++i0) {
            ec_avx2_gemm_pixels(g, src, NULL, i0, 1, &ec_avx2_list_1, out + (size_t)i0 * out_stride, out_stride);
        }
        return;
    }
#endif
    for (i0 = 0; i0 < m; i0 += n) {
        const int32_t left = m - i0, tiles = (left + EC_AVX2_ROWS - 1) / EC_AVX2_ROWS;
        int8_t *o = out + (size_t)i0 * out_stride;
        n = (left + tiles - 1) / tiles;
        if (n > 1 && g->k4 <= EC_AVX2_WIDE_K4 && g->seg_len >= EC_AVX2_WIDE_SEG) {
            ec_avx2_wide_rows[n].widen(g, src, i0, n, xw);
            ec_avx2_gemm_pixels(g, src, xw, i0, n, &ec_avx2_wide_rows[n], o, out_stride);
        } else {
            ec_avx2_gemm_pixels(g, src, NULL, i0, n, &ec_avx2_rows[n], o, out_stride);
        }
    }
}

#endif /* EC_X86_GEMM_AVX2_H */

/* ec_x86_gemm.h: the x86 tile functions of the packed int8 GEMM (ec_s8_packed.h), chosen at
 * compile time: AVX-512 VNNI when the compiler targets it (-mavx512f -mavx512bw -mavx512vl
 * -mavx512vnni; with AMX tiles for the wider layers where it also targets -mamx-tile -mamx-int8,
 * ec_x86_amx.h), else AVX2. Both give ec_x86_gemm_tile and its tile size EC_X86_GEMM_TILE, and
 * both equal the portable tile bit for bit.
 *
 * AVX-512 VNNI. vpdpbusd multiplies unsigned by signed bytes, so each input byte x is read as
 * u = x ^ 0x80 = x + 128 in [0, 255]. Per output channel o:
 *     bias[o] + sum_k (x[k] - in_zp) W[o][k] = fold[o] + sum_k u[k] W[o][k],
 *     fold[o] = bias[o] - (128 + in_zp) * wsum[o],  wsum[o] = sum_k W[o][k].
 * Padded weights are zero, so bytes read past a segment (a zero-filled tail group, or whole
 * groups read past a tap, ec_im2col.h) add nothing. Bound:
 * vpdpbusd, vpmulld and vpsubd wrap modulo 2^32, and the true accumulator (left side) lies in
 * int32 (the generator refuses layers where |bias| + 255 * sum_k |W[o][k]| > INT32_MAX), so the
 * wrapped int32 result equals it exactly even where fold or a partial sum wraps.
 * Padding segments of a row tile (a tap row in the padding for all its pixels) add the same
 * (128 + in_zp) * W for every pixel: they are folded once per tile, not read per pixel.
 * Register tiles (ec_vnni_shape): up to 12 pixels x 32 channels (24 accumulators, 2 weight
 * registers, one input), 1 pixel x 128 channels for the fully connected layer (8 independent
 * accumulator chains); a pixel's 4-byte group is broadcast once and feeds every block of the pass,
 * read from a copy of the tile's input flipped to u once for all passes (ec_vnni_flip).
 * Narrow blocks (at most 8 channels: a layer of 8 or fewer, or the last block of 16n + 1..8) run
 * pixel pairs: a register holds the block's 8 channels of two pixels (lanes 0-7 and 8-15), the
 * first 32 bytes of each 64-byte weight group (its 8 channels) in both halves, so every lane does
 * useful work, and one 16-lane requantization serves both pixels (the block's constants twice).
 *
 * AVX2 (ec_x86_gemm_avx2.h): the same layout, widened exactly to int16 for vpmaddwd, with the
 * input zero point folded into the same per-channel constant; register tiles of up to 6 pixels x 8
 * channels. */
#ifndef EC_X86_GEMM_H
#define EC_X86_GEMM_H

#include <immintrin.h>

#include "ec_s8_packed.h"
#include "ec_x86_avx2.h"
#include "ec_x86_avx512.h"

/* The register tiles only stay in registers when the loops over pixels and blocks are unrolled
 * (EC_UNROLL, a no-op elsewhere) and inlined (EC_FORCE_INLINE) with constant trip counts. */
#if defined(__clang__)
#define EC_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define EC_UNROLL _Pragma("GCC unroll 16")
#else
#define EC_UNROLL
#endif

/* What the register tiles of both instruction sets read (ec_s8_packed.h): pixel i of a row tile
 * at x[i] = its first byte (pixels i0 .. i0 + n - 1, those from m on repeating pixel m - 1) ... */
EC_FORCE_INLINE void ec_x86_row_pixels(const ec_gemm_src_t *src, int32_t i0, int32_t m, const int n, const int8_t **x)
{
    int i;
    EC_UNROLL
    for (i = 0; i < n; ++i) {
        x[i] = src->first + (size_t)(i0 + (i < m ? i : m - 1)) * src->step;
    }
}

/* ... and segment s at x[i] + *off, or nowhere (0 returned: a segment in the padding, which the
 * tile's fold covers); tap lists (`row` 0, a constant) at x[i] = pixel i0 + i's tap s, *off 0. */
EC_FORCE_INLINE int ec_x86_segment(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t s, int32_t i0, int32_t m,
                                   const int rows, const int row, const int8_t **x, size_t *off)
{
    int i;
    if (row) {
        *off = src->seg_offset[s];
        return *off != EC_GEMM_PAD;
    }
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        x[i] = src->taps[(i0 + (i < m ? i : m - 1)) * g->nseg + s];
    }
    *off = 0;
    return 1;
}

#if defined(EC_X86_AVX512) && defined(__AVX512VNNI__)

#define EC_X86_GEMM_TILE 64 /* most pixels per call, split into register tiles of up to 12 pixels */
#define EC_VNNI_ROWS 12     /* most pixels in one register tile */
#define EC_VNNI_BLOCKS 8    /* most blocks in one pass: 8 for one pixel, else 2 */

/* A lone pixel's tile of EC_VNNI_PREFETCH_BLOCKS blocks or more (a fully connected layer, a
 * corner of a wide layer) uses each weight once: it streams every block's weights, 64 bytes a K
 * group per block, as fast as the caches deliver them, and the hardware prefetchers, following
 * several such streams at once, stay too close ahead (such a layer's weights are tens to hundreds
 * of kilobytes, beyond L1). Its K loop asks for each block's group EC_VNNI_PREFETCH_AHEAD bytes
 * on, one prefetch per cache line; a prefetch never faults, so the last groups' requests past the
 * weights are harmless (the address is formed as an integer). Narrower layers' weights stay in L1
 * from tile to tile. */
#define EC_VNNI_PREFETCH_AHEAD 256
#define EC_VNNI_PREFETCH_BLOCKS 4

EC_FORCE_INLINE void ec_vnni_prefetch(const int8_t *wk, size_t block_bytes, const int blocks)
{
    int j;
    EC_UNROLL
    for (j = 0; j < blocks; ++j) {
        _mm_prefetch((const char *)(uintptr_t)((uintptr_t)wk + (uintptr_t)j * block_bytes + EC_VNNI_PREFETCH_AHEAD),
                     _MM_HINT_T0);
    }
}

/* acc[i][j] += u * W(block j) for one group of 4 K bytes: u the pixel's group broadcast. */
EC_FORCE_INLINE void ec_vnni_madd(__m512i acc[EC_VNNI_BLOCKS], __m512i u, const __m512i wv[EC_VNNI_BLOCKS], const int nb)
{
    int j;
    EC_UNROLL
    for (j = 0; j < nb; ++j) {
        acc[j] = _mm512_dpbusd_epi32(acc[j], u, wv[j]);
    }
}

EC_FORCE_INLINE void ec_vnni_load_weights(const int8_t *wk, size_t block_bytes, const int nb, __m512i wv[EC_VNNI_BLOCKS])
{
    int j;
    EC_UNROLL
    for (j = 0; j < nb; ++j) {
        wv[j] = _mm512_loadu_si512((const void *)(wk + (size_t)j * block_bytes));
    }
}

/* The group of 4 bytes at p (n of them, n < 4 for a tail) as unsigned bytes u = x + 128,
 * broadcast to every lane; `flipped` (a constant): the bytes already are u (ec_vnni_flip). */
EC_FORCE_INLINE __m512i ec_vnni_group(const int8_t *p, int32_t n, const int flipped)
{
    const int32_t v = n == 4 ? ec_load_group(p) : ec_load_tail_group(p, n);
    return flipped ? _mm512_set1_epi32(v) : _mm512_xor_si512(_mm512_set1_epi32(v), _mm512_set1_epi32((int)0x80808080u));
}

/* The groups of 4 bytes at p (pixel a, lanes 0-7) and q (pixel b, lanes 8-15), n bytes each, as
 * unsigned bytes (as ec_vnni_group). */
EC_FORCE_INLINE __m512i ec_vnni_pair_group(const int8_t *p, const int8_t *q, int32_t n, const int flipped)
{
    const int32_t a = n == 4 ? ec_load_group(p) : ec_load_tail_group(p, n);
    const int32_t b = n == 4 ? ec_load_group(q) : ec_load_tail_group(q, n);
    const __m512i both = _mm512_mask_broadcastd_epi32(_mm512_set1_epi32(a), (__mmask16)0xFF00, _mm_cvtsi32_si128(b));
    return flipped ? both : _mm512_xor_si512(both, _mm512_set1_epi32((int)0x80808080u));
}

/* A narrow block's weight group (its first 8 channels, 32 bytes) in both halves. */
EC_FORCE_INLINE __m512i ec_vnni_pair_weights(const int8_t *wk)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)wk));
}

/* A narrow block's 8 lanes (0-7) copied into lanes 8-15. */
EC_FORCE_INLINE __m512i ec_vnni_pair_lanes(__m512i v) { return _mm512_shuffle_i64x2(v, v, 0x44); }

/* fold[j] += the products of a row tile's padding segments (the padding row, the same for every
 * pixel) with their weights, for nb blocks starting at `w`. */
EC_FORCE_INLINE void ec_vnni_padding(const ec_gemm_t *g, const ec_gemm_src_t *src, const int8_t *w, const int nb,
                                     __m512i fold[EC_VNNI_BLOCKS])
{
    const size_t block_bytes = (size_t)g->k4 * EC_PACK_LANES, seg_bytes = (size_t)EC_PACK_K4(g->seg_len) * EC_PACK_LANES;
    const int32_t full = ec_gemm_whole_bytes(g);
    __m512i wv[EC_VNNI_BLOCKS];
    int32_t s, k;
    for (s = 0; s < g->nseg; ++s) {
        const int8_t *wk = w + (size_t)s * seg_bytes;
        if (src->seg_offset[s] != EC_GEMM_PAD) {
            continue;
        }
        for (k = 0; k < g->seg_len; k += 4, wk += 64) {
            ec_vnni_load_weights(wk, block_bytes, nb, wv);
            ec_vnni_madd(fold, ec_vnni_group(src->pad_row + k, k < full ? 4 : g->seg_len - k, 0), wv, nb);
        }
    }
}

/* One group of 4 K bytes (n < 4: a segment's tail) of every register row into accumulator set
 * `set` (a constant: columns set * nb .. set * nb + nb - 1, ec_vnni_sets): acc[i][j] += u(x[i] + at)
 * * W(block j), or for pairs acc[i][0] += (u(x[2i] + at), u(x[2i + 1] + at)) * W(block 0). */
EC_FORCE_INLINE void ec_vnni_step(const int8_t *wk, size_t block_bytes, const int8_t *const *x, size_t at, int32_t n,
                                  const int rows, const int nb, const int pairs, const int flipped, const int set,
                                  __m512i acc[EC_VNNI_ROWS][EC_VNNI_BLOCKS])
{
    __m512i wv[EC_VNNI_BLOCKS];
    int i;
    if (pairs) {
        wv[0] = ec_vnni_pair_weights(wk);
    } else {
        ec_vnni_load_weights(wk, block_bytes, nb, wv);
    }
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        ec_vnni_madd(acc[i] + set * nb,
                     pairs ? ec_vnni_pair_group(x[2 * i] + at, x[2 * i + 1] + at, n, flipped)
                           : ec_vnni_group(x[i] + at, n, flipped),
                     wv, nb);
    }
}

/* How many accumulator sets a register tile of rows x nb accumulators runs its K loop on (1 or 2,
 * a constant). vpdpbusd takes several cycles to give its sum to the next one on the same register
 * and the core starts two per cycle, so a tile of fewer than about twice that many independent
 * accumulators waits on its own chains (a 16-channel layer's 12 pixels x 1 block, 6 pixels x 2
 * blocks, pixel pairs, a lone pixel of up to 4 blocks): there consecutive K groups alternate
 * between two sets of accumulators, added together after the loop (additions modulo 2^32: the
 * same sums). Not for taps of one group each (9 steps a tile: chains too short to wait on). */
#define EC_VNNI_CHAINS 12
EC_FORCE_INLINE int ec_vnni_sets(const int rows, const int nb)
{
    return rows * nb <= EC_VNNI_CHAINS && 2 * nb <= EC_VNNI_BLOCKS ? 2 : 1;
}

/* What a register tile reads, a constant of each set of tile functions (ec_vnni_shapes): a row
 * tile of the input's signed bytes, a row tile of flipped copies (ec_vnni_flip), unsigned already,
 * or tap lists of the input's signed bytes. What only the im2col convolution runs (EC_X86_GEMM_IM2COL,
 * defined by its file before it includes this header) is compiled only there: the tap-list set,
 * and the K loop of taps of one group each (ec_vnni_accumulate); the 1x1 and fully connected
 * layers run row tiles of whole segments. */
#define EC_VNNI_ROWS_SIGNED 0
#define EC_VNNI_ROWS_FLIPPED 1
#define EC_VNNI_LISTS 2
#if defined(EC_X86_GEMM_IM2COL)
#define EC_VNNI_READS 3
#define EC_VNNI_SIGNED_READS(src) ((src)->first ? EC_VNNI_ROWS_SIGNED : EC_VNNI_LISTS)
#else
#define EC_VNNI_READS 2
#define EC_VNNI_SIGNED_READS(src) EC_VNNI_ROWS_SIGNED
#endif

/* acc[i][j] += sum over K of u(pixel i0 + i) * W(block j), for `rows` pixels (those from m on
 * repeat pixel m - 1) and nb <= EC_VNNI_BLOCKS blocks starting at `w`, the pixels read as `reads`
 * says: a row tile's padding segments ec_vnni_padding has added, its pixels read segment s at their
 * first byte + seg_offset[s]; flipped copies are read in whole groups. `pairs` (a constant, row
 * tiles of one narrow block): register row i holds pixels i0 + 2i and i0 + 2i + 1. A row tile of
 * taps of one whole group each (a first layer of 1 to 3 channels, in the im2col file) runs one
 * step per tap, without the K loop's set-up per segment, which would cost as much as the step.
 * Columns nb .. 2 nb - 1 of acc hold the second accumulator set where there is one (ec_vnni_sets). */
EC_FORCE_INLINE void ec_vnni_accumulate(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m,
                                        const int8_t *w, const int rows, const int nb, const int pairs,
                                        const int reads, __m512i acc[EC_VNNI_ROWS][EC_VNNI_BLOCKS])
{
    const size_t block_bytes = (size_t)g->k4 * EC_PACK_LANES, seg_bytes = (size_t)EC_PACK_K4(g->seg_len) * EC_PACK_LANES;
    const int flipped = reads == EC_VNNI_ROWS_FLIPPED, sets = ec_vnni_sets(rows, nb);
    const int prefetch = rows == 1 && nb >= EC_VNNI_PREFETCH_BLOCKS;
    const int32_t full = flipped ? EC_PACK_K4(g->seg_len) : ec_gemm_whole_bytes(g), tail = g->seg_len - full;
    const int pixels = pairs ? 2 * rows : rows;
    const int8_t *x[2 * EC_VNNI_ROWS];
    int32_t s, k;
    int i, j;
    if (reads != EC_VNNI_LISTS) {
        ec_x86_row_pixels(src, i0, m, pixels, x);
    }
#if defined(EC_X86_GEMM_IM2COL)
    if (reads == EC_VNNI_ROWS_SIGNED && full == 4 && tail <= 0) {
        for (s = 0; s < g->nseg; ++s) {
            size_t off;
            if (ec_x86_segment(g, src, s, i0, m, rows, 1, x, &off)) {
                ec_vnni_step(w + (size_t)s * seg_bytes, block_bytes, x, off, 4, rows, nb, pairs, 0, 0, acc);
            }
        }
        return;
    }
#endif
    EC_UNROLL
    for (i = 0; i < rows * (sets - 1); ++i) {
        EC_UNROLL
        for (j = 0; j < nb; ++j) {
            acc[i][nb + j] = _mm512_setzero_si512();
        }
    }
    for (s = 0; s < g->nseg; ++s) {
        const int8_t *wk = w + (size_t)s * seg_bytes;
        size_t off;
        if (!ec_x86_segment(g, src, s, i0, m, rows, reads != EC_VNNI_LISTS, x, &off)) {
            continue;
        }
        k = 0;
        if (sets == 2) {
            for (; k + 8 <= full; k += 8, wk += 128) {
                if (prefetch) {
                    ec_vnni_prefetch(wk, block_bytes, nb);
                    ec_vnni_prefetch(wk + 64, block_bytes, nb);
                }
                ec_vnni_step(wk, block_bytes, x, off + (size_t)k, 4, rows, nb, pairs, flipped, 0, acc);
                ec_vnni_step(wk + 64, block_bytes, x, off + (size_t)k + 4, 4, rows, nb, pairs, flipped, 1, acc);
            }
        }
        for (; k < full; k += 4, wk += 64) {
            if (prefetch) {
                ec_vnni_prefetch(wk, block_bytes, nb);
            }
            ec_vnni_step(wk, block_bytes, x, off + (size_t)k, 4, rows, nb, pairs, flipped, 0, acc);
        }
        if (tail > 0) {
            ec_vnni_step(wk, block_bytes, x, off + (size_t)full, tail, rows, nb, pairs, flipped, sets - 1, acc);
        }
    }
    EC_UNROLL
    for (i = 0; i < rows * (sets - 1); ++i) {
        EC_UNROLL
        for (j = 0; j < nb; ++j) {
            acc[i][j] = _mm512_add_epi32(acc[i][j], acc[i][nb + j]);
        }
    }
}

/* fold (above) of block b's 16 channels, zero past C_out. */
EC_FORCE_INLINE __m512i ec_vnni_fold(const ec_gemm_t *g, int32_t b)
{
    const int32_t c0 = b * EC_PACK_LANES;
    const __mmask16 lanes = ec_avx512_first_lanes(g->out_c - c0);
    return _mm512_sub_epi32(_mm512_maskz_loadu_epi32(lanes, g->bias + c0),
                            _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(lanes, g->wsum + c0),
                                               _mm512_set1_epi32(128 + g->q->in_zp)));
}

/* A block's constants, derived once per call (ec_x86_gemm_prepare) instead of in every register
 * tile: its fold and its output stage. */
#define EC_X86_STAGE_LANES EC_PACK_LANES
typedef struct {
    __m512i fold;
    ec_avx512_out16_t out;
} ec_x86_stage_t;

EC_INLINE void ec_x86_stage(const ec_gemm_t *g, int32_t b, ec_x86_stage_t *s)
{
    const int32_t c0 = b * EC_PACK_LANES;
    s->fold = ec_vnni_fold(g, b);
    s->out = ec_avx512_out16(g->mult + c0, g->shift + c0, g->q, g->out_c - c0);
}

/* Whether block b is narrow (at most 8 channels: the pixel-pair tiles run it). */
EC_INLINE int ec_vnni_narrow(const ec_gemm_t *g, int32_t b) { return g->out_c - b * EC_PACK_LANES <= 8; }

/* A narrow block's stage for pixel pairs: every constant of its 8 channels in both halves; `lanes`
 * masks one pixel's channels (each half is stored apart). */
EC_INLINE void ec_x86_pair_stage(const ec_gemm_t *g, int32_t b, ec_x86_stage_t *s)
{
    const int32_t c0 = b * EC_PACK_LANES;
    const __mmask16 lanes = ec_avx512_first_lanes(g->out_c - c0);
    s->fold = ec_vnni_pair_lanes(ec_vnni_fold(g, b));
    s->out = ec_avx512_out16_lanes(ec_vnni_pair_lanes(_mm512_maskz_loadu_epi32(lanes, g->mult + c0)),
                                   ec_vnni_pair_lanes(_mm512_maskz_loadu_epi32(lanes, g->shift + c0)), g->q,
                                   (__mmask16)(lanes | (lanes << 8)));
    s->out.lanes = lanes;
}

/* Block j of the first m of `rows` register rows, requantized by stage `s` in its form (`form`, a
 * constant), stored at out + i * out_stride. `s` is taken by value: the int8 stores could alias
 * the call's stages, which would then be reloaded after each store. */
EC_FORCE_INLINE void ec_vnni_store(__m512i acc[EC_VNNI_ROWS][EC_VNNI_BLOCKS], int j, const ec_avx512_out16_t s,
                                   const int rows, int32_t m, int8_t *out, size_t out_stride, const int form)
{
    int i;
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        if (i < m) {
            _mm_mask_storeu_epi8(out + (size_t)i * out_stride, s.lanes, ec_avx512_requantize_bytes16(acc[i][j], &s, form));
        }
    }
}

/* ec_vnni_store with the stage's form as a constant. */
EC_FORCE_INLINE void ec_vnni_store_as(__m512i acc[EC_VNNI_ROWS][EC_VNNI_BLOCKS], int j, const ec_avx512_out16_t stage,
                                      const int rows, int32_t m, int8_t *out, size_t out_stride)
{
    if (stage.form == EC_X86_RQ_FLOORED) {
        ec_vnni_store(acc, j, stage, rows, m, out, out_stride, EC_X86_RQ_FLOORED);
    } else if (stage.form == EC_X86_RQ_HIGH) {
        ec_vnni_store(acc, j, stage, rows, m, out, out_stride, EC_X86_RQ_HIGH);
    } else {
        ec_vnni_store(acc, j, stage, rows, m, out, out_stride, EC_X86_RQ_EXACT);
    }
}

/* Output channels [16 * b0, 16 * (b0 + nb)) of pixels i0 .. i0 + m - 1 with a register tile of
 * `rows` >= m pixels: fold, accumulate, requantize, store (pixel i0 + i at out + i * out_stride).
 * The output stage is the call's (g->stages) or derived once per block, after the accumulation
 * (which needs every register). `reads`: as ec_vnni_accumulate. */
EC_FORCE_INLINE void ec_vnni_blocks(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m, int32_t b0,
                                    const int rows, const int nb, const int reads, int8_t *out, size_t out_stride)
{
    const ec_x86_stage_t *stages = (const ec_x86_stage_t *)g->stages;
    const int8_t *w = g->w + (size_t)b0 * (size_t)g->k4 * EC_PACK_LANES;
    __m512i acc[EC_VNNI_ROWS][EC_VNNI_BLOCKS], fold[EC_VNNI_BLOCKS];
    int i, j;
    EC_UNROLL
    for (j = 0; j < nb; ++j) {
        fold[j] = stages ? stages[b0 + j].fold : ec_vnni_fold(g, b0 + j);
    }
    if (reads != EC_VNNI_LISTS) {
        ec_vnni_padding(g, src, w, nb, fold);
    }
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        EC_UNROLL
        for (j = 0; j < nb; ++j) {
            acc[i][j] = fold[j];
        }
    }
    ec_vnni_accumulate(g, src, i0, m, w, rows, nb, 0, reads, acc);
    EC_UNROLL
    for (j = 0; j < nb; ++j) {
        const int32_t c0 = (b0 + j) * EC_PACK_LANES;
        ec_vnni_store_as(acc, j, stages ? stages[b0 + j].out : ec_avx512_out16(g->mult + c0, g->shift + c0, g->q, g->out_c - c0),
                         rows, m, out + c0, out_stride);
    }
}

/* The first m pixels of `rows` register rows of pixel pairs (pixel 2i in lanes 0-7 of row i, pixel
 * 2i + 1 in lanes 8-15), requantized as ec_vnni_store does, stored at out + pixel * out_stride. */
EC_FORCE_INLINE void ec_vnni_store_pairs(__m512i acc[EC_VNNI_ROWS][EC_VNNI_BLOCKS], const ec_avx512_out16_t s,
                                         const int rows, int32_t m, int8_t *out, size_t out_stride, const int form)
{
    int i;
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        const __m128i bytes = ec_avx512_requantize_bytes16(acc[i][0], &s, form);
        if (2 * i < m) {
            _mm_mask_storeu_epi8(out + (size_t)(2 * i) * out_stride, s.lanes, bytes);
        }
        if (2 * i + 1 < m) {
            _mm_mask_storeu_epi8(out + (size_t)(2 * i + 1) * out_stride, s.lanes, _mm_unpackhi_epi64(bytes, bytes));
        }
    }
}

/* The narrow block b of pixels i0 .. i0 + m - 1 of a row tile, `rows` >= m / 2 register rows of
 * pixel pairs. The pair stage is the call's (g->stages: the entry after the last block's) or
 * derived here. `reads`: a row tile's kind (ec_vnni_accumulate). */
EC_FORCE_INLINE void ec_vnni_pairs(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m, int32_t b,
                                   const int rows, const int reads, int8_t *out, size_t out_stride)
{
    const ec_x86_stage_t *stages = (const ec_x86_stage_t *)g->stages;
    const int8_t *w = g->w + (size_t)b * (size_t)g->k4 * EC_PACK_LANES;
    const size_t c0 = (size_t)b * EC_PACK_LANES;
    __m512i acc[EC_VNNI_ROWS][EC_VNNI_BLOCKS], padding[EC_VNNI_BLOCKS], fold;
    ec_x86_stage_t stage;
    int i;
    if (stages) {
        stage = stages[b + 1];
    } else {
        ec_x86_pair_stage(g, b, &stage);
    }
    padding[0] = _mm512_setzero_si512();
    ec_vnni_padding(g, src, w, 1, padding); /* lanes 0-7: the padding row is every pixel's */
    fold = _mm512_add_epi32(stage.fold, ec_vnni_pair_lanes(padding[0]));
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        acc[i][0] = fold;
    }
    ec_vnni_accumulate(g, src, i0, m, w, rows, 1, 1, reads, acc);
    if (stage.out.form == EC_X86_RQ_FLOORED) {
        ec_vnni_store_pairs(acc, stage.out, rows, m, out + c0, out_stride, EC_X86_RQ_FLOORED);
    } else if (stage.out.form == EC_X86_RQ_HIGH) {
        ec_vnni_store_pairs(acc, stage.out, rows, m, out + c0, out_stride, EC_X86_RQ_HIGH);
    } else {
        ec_vnni_store_pairs(acc, stage.out, rows, m, out + c0, out_stride, EC_X86_RQ_EXACT);
    }
}

/* Each register tile (rows x nb) is a function of its own: the register allocator then sees one
 * tile at a time, and keeps its accumulators in registers. A set for each way of reading (above),
 * a constant of its K loop; pixel pairs run row tiles only. */
typedef void (*ec_vnni_blocks_fn)(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m, int32_t b0,
                                  int8_t *out, size_t out_stride);

#define EC_VNNI_BLOCKS_FN(kind, reads, rows, nb)                                                                 \
    EC_NOINLINE void ec_vnni_##kind##_##rows##x##nb(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0,   \
                                                    int32_t m, int32_t b0, int8_t *out, size_t out_stride)    \
    {                                                                                                         \
        ec_vnni_blocks(g, src, i0, m, b0, rows, nb, reads, out, out_stride);                                  \
    }
#define EC_VNNI_BLOCKS_FNS(kind, reads)                                                                        \
    EC_VNNI_BLOCKS_FN(kind, reads, 1, 1)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 1, 2)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 1, 3)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 1, 4)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 1, 8)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 3, 1)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 3, 2)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 4, 1)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 4, 2)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 6, 1)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 6, 2)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 8, 1)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 8, 2)                                                                      \
    EC_VNNI_BLOCKS_FN(kind, reads, 12, 1)                                                                     \
    EC_VNNI_BLOCKS_FN(kind, reads, 12, 2)
EC_VNNI_BLOCKS_FNS(signed, EC_VNNI_ROWS_SIGNED)
EC_VNNI_BLOCKS_FNS(flipped, EC_VNNI_ROWS_FLIPPED)
#if defined(EC_X86_GEMM_IM2COL)
EC_VNNI_BLOCKS_FNS(lists, EC_VNNI_LISTS)
#endif
#undef EC_VNNI_BLOCKS_FNS
#undef EC_VNNI_BLOCKS_FN

#define EC_VNNI_PAIRS_FN(kind, reads, rows)                                                                     \
    EC_NOINLINE void ec_vnni_##kind##_pairs_##rows(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0,    \
                                                   int32_t m, int32_t b, int8_t *out, size_t out_stride)      \
    {                                                                                                         \
        ec_vnni_pairs(g, src, i0, m, b, rows, reads, out, out_stride);                                        \
    }
EC_VNNI_PAIRS_FN(row, EC_VNNI_ROWS_SIGNED, 1)
EC_VNNI_PAIRS_FN(row, EC_VNNI_ROWS_SIGNED, 2)
EC_VNNI_PAIRS_FN(row, EC_VNNI_ROWS_SIGNED, 3)
EC_VNNI_PAIRS_FN(row, EC_VNNI_ROWS_SIGNED, 4)
EC_VNNI_PAIRS_FN(row, EC_VNNI_ROWS_SIGNED, 6)
EC_VNNI_PAIRS_FN(flipped, EC_VNNI_ROWS_FLIPPED, 1)
EC_VNNI_PAIRS_FN(flipped, EC_VNNI_ROWS_FLIPPED, 2)
EC_VNNI_PAIRS_FN(flipped, EC_VNNI_ROWS_FLIPPED, 3)
EC_VNNI_PAIRS_FN(flipped, EC_VNNI_ROWS_FLIPPED, 4)
EC_VNNI_PAIRS_FN(flipped, EC_VNNI_ROWS_FLIPPED, 6)
#undef EC_VNNI_PAIRS_FN

/* The pair tiles of a row tile's kind for m pixels (2 to 12: the row tiles' sizes): [(m + 1) / 2]. */
#define EC_VNNI_PAIRS(kind)                                                                                     \
    {NULL, ec_vnni_##kind##_pairs_1, ec_vnni_##kind##_pairs_2, ec_vnni_##kind##_pairs_3, ec_vnni_##kind##_pairs_4, \
     ec_vnni_##kind##_pairs_6, ec_vnni_##kind##_pairs_6}
static const ec_vnni_blocks_fn ec_vnni_row_pairs[7] = EC_VNNI_PAIRS(row);
static const ec_vnni_blocks_fn ec_vnni_flipped_pairs[7] = EC_VNNI_PAIRS(flipped);
#undef EC_VNNI_PAIRS

/* The register tiles of one shape: by_nb[n] computes n blocks, `most` of them per pass; by_pairs
 * the narrow last block of a row tile in pixel pairs (NULL for tap lists). */
typedef struct {
    int32_t most;
    ec_vnni_blocks_fn by_nb[9];
    const ec_vnni_blocks_fn *by_pairs;
} ec_vnni_shape_t;

#define EC_VNNI_SHAPE_1(kind, pairs)                                                                            \
    {8,                                                                                                       \
     {NULL, ec_vnni_##kind##_1x1, ec_vnni_##kind##_1x2, ec_vnni_##kind##_1x3, ec_vnni_##kind##_1x4, NULL, NULL,  \
      NULL, ec_vnni_##kind##_1x8},                                                                             \
     pairs}
#define EC_VNNI_SHAPE(kind, rows, pairs)                                                                        \
    {2, {NULL, ec_vnni_##kind##_##rows##x1, ec_vnni_##kind##_##rows##x2, NULL, NULL, NULL, NULL, NULL, NULL}, pairs}
#define EC_VNNI_SHAPES(kind, pairs)                                                                             \
    {EC_VNNI_SHAPE_1(kind, pairs), EC_VNNI_SHAPE(kind, 3, pairs), EC_VNNI_SHAPE(kind, 4, pairs),                  \
     EC_VNNI_SHAPE(kind, 6, pairs), EC_VNNI_SHAPE(kind, 8, pairs), EC_VNNI_SHAPE(kind, 12, pairs)}

/* The shapes by way of reading (EC_VNNI_ROWS_SIGNED, ...) and size: 1, 3, 4, 6, 8 and 12 pixels. */
static const ec_vnni_shape_t ec_vnni_shapes[EC_VNNI_READS][6] = {
    EC_VNNI_SHAPES(signed, ec_vnni_row_pairs), EC_VNNI_SHAPES(flipped, ec_vnni_flipped_pairs),
#if defined(EC_X86_GEMM_IM2COL)
    EC_VNNI_SHAPES(lists, NULL),
#endif
};
#undef EC_VNNI_SHAPES
#undef EC_VNNI_SHAPE
#undef EC_VNNI_SHAPE_1

/* Every output channel of pixels i0 .. i0 + m - 1: `most` blocks at a time, then 4 or fewer; a
 * narrow last block of a row tile of several pixels in pixel pairs. */
static void ec_vnni_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t m,
                         const ec_vnni_shape_t *shape, int8_t *out, size_t out_stride)
{
    const int32_t blocks = (g->out_c + EC_PACK_LANES - 1) / EC_PACK_LANES;
    const int32_t pairs = src->first && m > 1 && ec_vnni_narrow(g, blocks - 1), wide = blocks - pairs;
    int32_t b = 0, n;
    for (; b + shape->most <= wide; b += shape->most) {
        shape->by_nb[shape->most](g, src, i0, m, b, out, out_stride);
    }
    for (; b < wide; b += n) {
        n = wide - b < 4 ? wide - b : 4;
        shape->by_nb[n](g, src, i0, m, b, out, out_stride);
    }
    if (pairs) {
        shape->by_pairs[(m + 1) / 2](g, src, i0, m, wide, out, out_stride);
    }
}

/* The register tile for the next of `left` pixels and how many pixels it takes: 12 pixels x 2
 * blocks while 17 or more are left, 8 while 13 to 16 (so that no tile is left nearly empty), else
 * the least of 3, 4, 6, 8 or 12 pixels that holds them all; a lone pixel 1 pixel x 8 blocks (8
 * independent accumulator chains). Two blocks per pass, however wide the layer: each weight group
 * loaded feeds up to 12 pixels (measured faster here than 6 pixels x 4 blocks, whose 4 weight
 * streams feed half as many pixels). The size's index in ec_vnni_shapes. */
static int ec_vnni_size(int32_t left, int32_t *n)
{
    *n = left >= 17 ? 12 : left >= 13 ? 8 : left;
    return *n == 1 ? 0 : *n > 8 ? 5 : *n > 6 ? 4 : *n > 4 ? 3 : *n > 3 ? 2 : 1;
}

/* Flipped copies. The flip u = x ^ 0x80 of every input group (above) is a vector instruction on the
 * ports that run vpdpbusd, once per group, pixel and pass of up to 2 blocks: a third of the K
 * loop's vector instructions. A register tile's input is instead copied once, flipped, 64 bytes
 * an instruction, into a row tile every pass reads (where that pays, ec_vnni_flips): bytes
 * [first + offset[s], + (n - 1) * step + seg_len) of each segment in one run where the windows
 * overlap and steps keep groups aligned (a row tile along an output row: its kernel rows or taps),
 * else each pixel's segments one after the other (step K4 of the tile); tap lists become a row
 * tile. The segments in the padding stay where they are (read unflipped by ec_vnni_padding, once
 * a pass). Every segment of the copy ends on a whole group (the bytes past seg_len any value:
 * their weights are 0). The copy holds 12 pixels of 9 segments of 256 bytes (the indirect
 * im2col's largest tile) or of one of 2,304 bytes: a 1x1 or fully connected layer of more input
 * channels runs on the input. */
#define EC_VNNI_FLIP_SEGMENTS 9
#define EC_VNNI_FLIP_BYTES (EC_VNNI_ROWS * EC_VNNI_FLIP_SEGMENTS * 256)
typedef struct {
    ec_gemm_src_t src;
    size_t seg_offset[EC_VNNI_FLIP_SEGMENTS];
    int8_t bytes[EC_VNNI_FLIP_BYTES];
} ec_vnni_flip_t;

/* n bytes from `from`, flipped, at `to`, written up to the next whole group; reads exactly n. */
EC_INLINE void ec_vnni_flip_copy(int8_t *to, const int8_t *from, int32_t n)
{
    const __m512i flip = _mm512_set1_epi32((int)0x80808080u);
    int32_t k = 0;
    for (; k + 64 <= n; k += 64) {
        _mm512_storeu_si512((void *)(to + k), _mm512_xor_si512(_mm512_loadu_si512((const void *)(from + k)), flip));
    }
    if (k < n) {
        const int32_t left = n - k;
        const __mmask64 read = (__mmask64)(~0ull >> (64 - left));
        const __mmask64 written = (__mmask64)(~0ull >> (64 - EC_PACK_K4(left)));
        _mm512_mask_storeu_epi8(to + k, written, _mm512_xor_si512(_mm512_maskz_loadu_epi8(read, from + k), flip));
    }
}

/* Whether a row tile's segment s is read from the input (not in the padding). */
EC_INLINE int ec_vnni_inside(const ec_gemm_src_t *src, int32_t s) { return src->seg_offset[s] != EC_GEMM_PAD; }

/* Whether the copy of a row tile takes runs (above): n pixels' segments overlap or touch, and every
 * pixel's starts on a whole group of the run; `run` gets its length. */
EC_INLINE int ec_vnni_runs(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t n, size_t *run)
{
    *run = (size_t)(n - 1) * src->step + (size_t)g->seg_len;
    return src->step % 4 == 0 && *run <= (size_t)n * (size_t)EC_PACK_K4(g->seg_len);
}

/* Whether the register tiles of a call of m pixels read flipped copies: where its first register
 * tile (the largest) fits the copy and the copies cost fewer instructions than the flips they
 * save: per segment one copy of a run, or one per pixel (about 16 instructions to set one up, 3
 * per 64 bytes), and about 150 a tile (the call, the copy's description), against a flip per K
 * group, pixel and pass (ec_vnni_tile: passes of 2 blocks, then a narrow last block of a row tile
 * in pairs). Never for a lone pixel (its flip of a group feeds 8 blocks) nor for a layer of 8
 * channels or fewer (pairs alone, whose groups of two pixels already take several instructions to
 * assemble): copies made both slower, as they did the 5-pixel row tiles of a 7x7 map of 16
 * channels, which the tile's cost keeps from them. */
static int ec_vnni_flips(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m)
{
    const int32_t blocks = (g->out_c + EC_PACK_LANES - 1) / EC_PACK_LANES, groups = EC_PACK_K4(g->seg_len) / 4;
    int32_t n, pairs, passes;
    size_t run, copies, bytes;
    ec_vnni_size(m, &n);
    if (n == 1 || g->out_c <= 8 || g->nseg > EC_VNNI_FLIP_SEGMENTS
        || (size_t)n * (size_t)g->nseg * (size_t)(4 * groups) > EC_VNNI_FLIP_BYTES) {
        return 0;
    }
    pairs = src->first && ec_vnni_narrow(g, blocks - 1);
    passes = (blocks - pairs + 1) / 2;
    copies = src->first && ec_vnni_runs(g, src, n, &run) ? 1 : (size_t)n;
    bytes = copies == 1 ? run : (size_t)n * (size_t)g->seg_len;
    return (size_t)g->nseg * (size_t)groups * (size_t)(n * passes + (n + 1) / 2 * pairs)
           > (size_t)g->nseg * (copies * 16 + (bytes + 63) / 64 * 3) + 150;
}

/* Pixels i0 .. i0 + n - 1 of `src` flipped into f (f->src then reads them from pixel 0), where
 * ec_vnni_flips allows it for their call. */
static void ec_vnni_flip(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t n, ec_vnni_flip_t *f)
{
    const int32_t seg4 = EC_PACK_K4(g->seg_len);
    const size_t per_pixel = (size_t)g->nseg * (size_t)seg4;
    const int8_t *first = src->first ? src->first + (size_t)i0 * src->step : NULL;
    size_t run = 0, at = 0;
    const int runs = first && ec_vnni_runs(g, src, n, &run);
    int32_t s, i;
    f->src.first = f->bytes;
    f->src.step = runs ? src->step : per_pixel;
    f->src.seg_offset = f->seg_offset;
    f->src.pad_row = src->pad_row;
    f->src.taps = NULL;
    for (s = 0; s < g->nseg; ++s) {
        if (first && !ec_vnni_inside(src, s)) {
            f->seg_offset[s] = EC_GEMM_PAD;
        } else if (runs) {
            f->seg_offset[s] = at;
            ec_vnni_flip_copy(f->bytes + at, first + src->seg_offset[s], (int32_t)run);
            at += (size_t)EC_PACK_K4(run);
        } else {
            f->seg_offset[s] = (size_t)s * (size_t)seg4;
            for (i = 0; i < n; ++i) {
                ec_vnni_flip_copy(f->bytes + (size_t)i * per_pixel + f->seg_offset[s],
                                  first ? first + (size_t)i * src->step + src->seg_offset[s]
                                        : src->taps[(i0 + i) * g->nseg + s],
                                  g->seg_len);
            }
        }
    }
}

#include "ec_x86_amx.h"

/* m pixels in register tiles, each on a flipped copy of its input (the copy's stack frame only in
 * the calls that use it). */
EC_NOINLINE void ec_vnni_flipped_tiles(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out,
                                       size_t out_stride)
{
    ec_vnni_flip_t flip;
    int32_t i0, n;
    for (i0 = 0; i0 < m; i0 += n) {
        const int size = ec_vnni_size(m - i0, &n);
        ec_vnni_flip(g, src, i0, n, &flip);
        ec_vnni_tile(g, &flip.src, 0, n, &ec_vnni_shapes[EC_VNNI_ROWS_FLIPPED][size], out + (size_t)i0 * out_stride,
                     out_stride);
    }
}

/* m pixels of a row tile or of tap lists: on AMX tiles where the build and the layer allow
 * (ec_x86_amx.h), else in register tiles (ec_vnni_size), on flipped copies where ec_vnni_flips
 * says so. */
static void ec_x86_gemm_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out, size_t out_stride)
{
    int32_t i0, n;
#if defined(EC_X86_AMX)
    if (ec_amx_serves(g, m)) {
        ec_amx_tile(g, src, m, out, out_stride);
        return;
    }
#endif
    if (ec_vnni_flips(g, src, m)) {
        ec_vnni_flipped_tiles(g, src, m, out, out_stride);
        return;
    }
    for (i0 = 0; i0 < m; i0 += n) {
        const int size = ec_vnni_size(m - i0, &n);
        ec_vnni_tile(g, src, i0, n, &ec_vnni_shapes[EC_VNNI_SIGNED_READS(src)][size],
                     out + (size_t)i0 * out_stride, out_stride);
    }
}

#else

#include "ec_x86_gemm_avx2.h"

#endif /* AVX-512 VNNI or AVX2 */

/* The stages (ec_x86_stage_t) of a layer of at most EC_X86_STAGE_CHANNELS output channels, prepared
 * once per call by the kernels that run many register tiles (1x1 and im2col convolutions): a
 * tile's fold and requantization constants cost as many instructions as the products of a few
 * of its K groups. Wider layers derive them in each tile (g->stages stays NULL). */
#define EC_X86_STAGE_CHANNELS 512
typedef struct {
    ec_x86_stage_t of[EC_X86_STAGE_CHANNELS / EC_X86_STAGE_LANES + 1]; /* + a narrow block's pair stage */
} ec_x86_stages_t;

EC_INLINE void ec_x86_gemm_prepare(ec_gemm_t *g, ec_x86_stages_t *stages)
{
    const int32_t n = (g->out_c + EC_X86_STAGE_LANES - 1) / EC_X86_STAGE_LANES;
    int32_t b;
    if (g->out_c > EC_X86_STAGE_CHANNELS) {
        return;
    }
    for (b = 0; b < n; ++b) {
        ec_x86_stage(g, b, &stages->of[b]);
    }
#if defined(EC_VNNI_ROWS)
    if (ec_vnni_narrow(g, n - 1)) {
        ec_x86_pair_stage(g, n - 1, &stages->of[n]);
    }
#endif
    g->stages = stages;
}

#endif /* EC_X86_GEMM_H */

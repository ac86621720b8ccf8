/* ec_s8_packed.h: the packed weight layout of the GEMM-shaped int8 kernels (ec_s8_conv2d_1x1,
 * ec_s8_conv2d_im2col, ec_s8_fully_connected) and the loops every instruction set shares.
 *
 * Layout (one for every instruction set). A layer's weights form a C_out x K matrix W: for a
 * convolution K = k_h * k_w * C_in in OHWI order (tap-major, input channel fastest; the indirect
 * im2col pads each tap to a multiple of 4 bytes, ec_im2col.h), for a fully connected layer
 * K = C_in. They are stored in blocks of 16 output channels by groups of 4
 * consecutive K bytes, K4 = K rounded up to a multiple of 4:
 *     packed[((b * K4 / 4 + g) * 16 + c) * 4 + j] = W[16 * b + c][4 * g + j]
 * for b < ceil(C_out / 16), g < K4 / 4, c < 16, j < 4, zero where 16 b + c >= C_out or
 * 4 g + j >= K. One group of one block is 64 bytes: one AVX-512 register (16 int32 lanes, each
 * the 4-byte dot product of vpdpbusd), four NEON registers.
 *
 * Per output channel the generator also stores wsum[o] = sum_k W[o][k], which the kernels that
 * multiply unsigned bytes need (see ec_x86_gemm.h); the others ignore it.
 *
 * A GEMM here is "pixels x K times K x C_out": each pixel (output position, or the one input
 * vector of a fully connected layer) reads its K input bytes as `nseg` segments of `seg_len`
 * bytes each, in K order: one contiguous segment for 1x1 convolutions, fully connected layers and
 * unfolded im2col rows, one segment per kernel tap for the indirect im2col (ec_im2col.h). Segment
 * s covers packed K bytes [s * K4(seg_len), s * K4(seg_len) + seg_len): every segment starts a new
 * group, its last seg_len % 4 bytes read as a zero-filled group. A tile function computes `m` such
 * pixels for every output channel and writes their requantized outputs.
 */
#ifndef EC_S8_PACKED_H
#define EC_S8_PACKED_H

#include <string.h>

#include "ec_s8.h"

#define EC_PACK_LANES 16                          /* output channels per block */
#define EC_PACK_K4(k) ((((k) + 3) / 4) * 4)       /* K rounded up to a group of 4 bytes */

/* One GEMM-shaped layer: weights, per-channel constants, how pixels read their K bytes. */
typedef struct {
    const int8_t *w;          /* packed as above */
    const int32_t *bias;      /* C_out (never NULL) */
    const int32_t *wsum;      /* C_out: sum_k W[o][k] */
    const int32_t *mult;      /* C_out requantization multipliers */
    const int32_t *shift;     /* C_out requantization shifts */
    const ec_qparams_t *q;
    int32_t k4;               /* packed bytes per output channel: the group count times 4 */
    int32_t out_c;
    int32_t nseg;             /* segments per pixel */
    int32_t seg_len;          /* bytes per segment; segment s holds packed K bytes from s * K4(seg_len) */
    int32_t whole_groups;     /* nonzero: every segment may be read up to its group end, K4(seg_len)
                                 bytes (the bytes past seg_len are readable; their weights are 0) */
    const void *stages;       /* per-channel constants an instruction set's tiles derive from bias,
                                 wsum, mult and shift, prepared once per call (ec_x86_gemm.h,
                                 ec_arm_gemm.h), or
                                 NULL: the tiles derive them as they go */
} ec_gemm_t;

/* Where the pixels of one tile read their K bytes. Segment s of pixel i starts at
 *   first + i * step + seg_offset[s]  in a row tile (first not NULL: rows of a matrix, unfolded
 *                                     patches, output pixels at a fixed step whose windows have
 *                                     the same taps inside the input, ec_im2col.h), or at pad_row
 *                                     where seg_offset[s] is EC_GEMM_PAD (a tap in the padding for
 *                                     every pixel of the tile: the same bytes for all);
 *   taps[i * nseg + s]                in a tile of tap lists (first NULL). */
#define EC_GEMM_PAD ((size_t)-1)
typedef struct {
    const int8_t *first;
    size_t step;
    const size_t *seg_offset;
    const int8_t *pad_row;
    const int8_t *const *taps;
} ec_gemm_src_t;

/* Computes m pixels (1 <= m <= the tile size the kernel passes with it) for every output channel;
 * pixel i's outputs go to out + i * out_stride. */
typedef void (*ec_gemm_tile_fn)(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out,
                                size_t out_stride);

EC_INLINE const int8_t *ec_gemm_segment(const ec_gemm_src_t *src, int32_t nseg, int32_t i, int32_t s)
{
    if (!src->first) {
        return src->taps[i * nseg + s];
    }
    return src->seg_offset[s] == EC_GEMM_PAD ? src->pad_row : src->first + (size_t)i * src->step + src->seg_offset[s];
}

/* The 4 bytes at p as one 32-bit word (memcpy: no alignment or aliasing assumption). */
EC_INLINE int32_t ec_load_group(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The last 1 <= n < 4 bytes of a segment as a group (byte j of the group in bits 8j..8j+7, the
 * little-endian order of ec_load_group on x86 and ARM), zero-filled, reading nothing beyond them
 * (the weights of the filled bytes are zero). Assembled in a register: a group stored byte by
 * byte and loaded back whole would stall the load. */
EC_INLINE int32_t ec_load_tail_group(const int8_t *p, int32_t n)
{
    uint32_t v = (uint32_t)(uint8_t)p[0];
    if (n > 1) {
        v |= (uint32_t)(uint8_t)p[1] << 8;
    }
    if (n > 2) {
        v |= (uint32_t)(uint8_t)p[2] << 16;
    }
    return (int32_t)v;
}

/* W[o][k] of the packed layout. */
EC_INLINE int32_t ec_packed_weight(const int8_t *w, int32_t k4, int32_t o, int32_t k)
{
    const size_t block = (size_t)(o / EC_PACK_LANES) * (size_t)k4 * EC_PACK_LANES;
    return w[block + (size_t)(k / 4) * 64 + (size_t)(o % EC_PACK_LANES) * 4 + (size_t)(k % 4)];
}

EC_INLINE int8_t ec_requantize_output(int32_t acc, int32_t mult, int32_t shift, const ec_qparams_t *q)
{
    return (int8_t)ec_clamp_i32(ec_requantize(acc, mult, shift) + q->out_zp, q->act_min, q->act_max);
}

/* The portable tile: acc = bias + sum_k (x[k] - in_zp) * W[o][k] in int32 (exact within the
 * generator's accumulator bound), one pixel and one channel at a time. */
EC_INLINE void ec_gemm_tile_portable(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out,
                                     size_t out_stride)
{
    const int32_t zp = g->q->in_zp;
    int32_t i, o, s, c;
    for (i = 0; i < m; ++i) {
        for (o = 0; o < g->out_c; ++o) {
            int32_t acc = g->bias[o];
            for (s = 0; s < g->nseg; ++s) {
                const int8_t *x = ec_gemm_segment(src, g->nseg, i, s);
                for (c = 0; c < g->seg_len; ++c) {
                    acc += ((int32_t)x[c] - zp) * ec_packed_weight(g->w, g->k4, o, s * EC_PACK_K4(g->seg_len) + c);
                }
            }
            out[(size_t)i * out_stride + (size_t)o] = ec_requantize_output(acc, g->mult[o], g->shift[o], g->q);
        }
    }
}

/* `g` for a layer of K-byte pixels read as one segment (1x1 convolution, fully connected). */
EC_INLINE void ec_gemm_init(ec_gemm_t *g, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                            const int32_t *mult, const int32_t *shift, const ec_qparams_t *q, int32_t k,
                            int32_t out_c)
{
    g->w = w;
    g->bias = bias;
    g->wsum = wsum;
    g->mult = mult;
    g->shift = shift;
    g->q = q;
    g->k4 = EC_PACK_K4(k);
    g->out_c = out_c;
    g->nseg = 1;
    g->seg_len = k;
    g->whole_groups = 0;
    g->stages = NULL;
}

/* Bytes of a segment the SIMD tiles read as whole 4-byte groups; the rest (under 4) as a tail. */
EC_INLINE int32_t ec_gemm_whole_bytes(const ec_gemm_t *g)
{
    return g->whole_groups ? EC_PACK_K4(g->seg_len) : g->seg_len & ~3;
}

/* `rows` pixels of one contiguous segment each, pixel r at x + r * x_stride, outputs packed
 * densely (C_out bytes per pixel): the 1x1 convolution, the fully connected layer, unfolded rows. */
EC_INLINE void ec_gemm_rows(const ec_gemm_t *g, const int8_t *x, size_t x_stride, int32_t rows,
                            ec_gemm_tile_fn tile, int32_t tile_rows, int8_t *out)
{
    static const size_t no_offset[1] = {0};
    ec_gemm_src_t src;
    int32_t r;
    src.step = x_stride;
    src.seg_offset = no_offset;
    src.pad_row = NULL;
    src.taps = NULL;
    for (r = 0; r < rows; r += tile_rows) {
        const int32_t m = rows - r < tile_rows ? rows - r : tile_rows;
        src.first = x + (size_t)r * x_stride;
        tile(g, &src, m, out + (size_t)r * (size_t)g->out_c, (size_t)g->out_c);
    }
}

#endif /* EC_S8_PACKED_H */

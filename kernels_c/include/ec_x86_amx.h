/* ec_x86_amx.h: the packed int8 GEMM (ec_s8_packed.h) on Intel AMX tiles, for the avx512-amx level
 * (kernels.isa: the AVX-512 VNNI flags and -mamx-tile -mamx-int8); included by ec_x86_gemm.h,
 * whose VNNI tiles run every call AMX does not serve.
 *
 * A tile multiply (TDPBSSD) adds the products of a 16 x 64-byte tile of signed input bytes (16
 * pixels, 64 K bytes each) and a 16 x 64-byte tile of signed weights (16 K groups of 4 bytes x
 * 16 output channels) into 16 x 16 int32 accumulators. The packed layout is already the weight
 * tile's: block b's K groups 16g .. 16g + 15 are 1,024 contiguous bytes, 64 per group (ec_s8_packed.h).
 * The input bytes are signed here (no x ^ 0x80 as for VPDPBUSD), so per output channel o
 *     bias[o] + sum_k (x[k] - in_zp) W[o][k] = fold[o] + 128 * wsum[o] + sum_k x[k] W[o][k],
 * fold (ec_vnni_fold) being the VNNI tiles' constant for unsigned input bytes. Exact: the
 * multiplies are exact in int32 and every addition wraps modulo 2^32, and the true accumulator
 * lies in int32 (ec_x86_gemm.h, the generator's bound).
 *
 * 32 pixels at a time, their K bytes are copied into a row-major buffer on the stack (32 rows of
 * up to EC_AMX_K_MAX bytes, 147 KB: the host's threads have megabytes of stack): a tile call's
 * segments at their packed offsets (ec_amx_gather, the 1x1 layers), or a convolution's taps read
 * straight from its input in raster order across output rows (ec_amx_conv); the bytes past a
 * segment or tap and past K are zero, so the weights' padding and the next block's bytes read
 * past the last K group add nothing. Then 2 x 2 tiles (32 pixels x 32 channels, 4 accumulator
 * tiles) run over the K groups 16 at a time; a last partial K tile reads its weights in place (the
 * rows past K, the next block's, meet zero input bytes), or from a zero-padded copy where that
 * would read past the packed array. The accumulators go through memory to the VNNI tiles' output
 * stage.
 *
 * Linux lets a process use the AMX tile data only after asking (arch_prctl ARCH_REQ_XCOMP_PERM,
 * XFEATURE_XTILEDATA; Linux Documentation/arch/x86/xstate.rst); the first call of each kernel
 * file asks, and where Linux refuses, every call runs the VNNI tiles. */
#ifndef EC_X86_AMX_H
#define EC_X86_AMX_H

#if defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(__linux__)
#define EC_X86_AMX 1

#include <asm/unistd.h>
#include <string.h>

long syscall(long number, ...); /* the C library's (unistd.h declares it only outside strict C99) */

#define EC_AMX_PIXELS 32             /* pixels per pass: two input tiles of 16 rows */
#define EC_AMX_K_MAX 4608            /* most packed K bytes per pixel (3x3 x 512 channels) */
/* Where AMX runs: calls of at least EC_AMX_MIN_PIXELS pixels, a packed K of at least one tile row,
 * and either EC_AMX_WIDE_N output channels or EC_AMX_WIDE_K bytes of K; narrower layers (3x3
 * convolutions of 16 or 32 channels, K = 144 or 288) do too little per gathered byte, and run
 * faster on the VNNI tiles (bench/README.md, "AMX"). */
#define EC_AMX_MIN_PIXELS 16
#define EC_AMX_MIN_K 64
#define EC_AMX_WIDE_K 512
#define EC_AMX_WIDE_N 64
#define EC_AMX_ARCH_REQ_XCOMP_PERM 0x1023
#define EC_AMX_XFEATURE_XTILEDATA 18

/* The mask of the first n of 64 bytes, n clipped to [0, 64]. */
EC_INLINE __mmask64 ec_amx_first_bytes(int32_t n)
{
    return n >= 64 ? ~(__mmask64)0 : (n <= 0 ? (__mmask64)0 : (((__mmask64)1 << n) - 1u));
}

/* Whether this process may use the tile data: asked once (0: not yet asked, 1: granted, -1:
 * refused); concurrent first calls ask twice, which Linux answers alike. */
EC_INLINE int ec_amx_permitted(void)
{
    static int state;
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s == 0) {
        s = syscall(__NR_arch_prctl, EC_AMX_ARCH_REQ_XCOMP_PERM, EC_AMX_XFEATURE_XTILEDATA) == 0 ? 1 : -1;
        __atomic_store_n(&state, s, __ATOMIC_RELEASE);
    }
    return s > 0;
}

/* Whether AMX runs a call of m pixels of layer g. */
EC_INLINE int ec_amx_serves(const ec_gemm_t *g, int32_t m)
{
    return m >= EC_AMX_MIN_PIXELS && g->k4 >= EC_AMX_MIN_K && g->k4 <= EC_AMX_K_MAX
           && (g->out_c >= EC_AMX_WIDE_N || g->k4 >= EC_AMX_WIDE_K) && ec_amx_permitted();
}

/* Tiles 0-3 accumulate (16 rows of 16 int32), 4-5 hold input rows and 6-7 weights (16 rows of 64
 * bytes); palette 1. */
EC_INLINE void ec_amx_configure(void)
{
    unsigned char cfg[64];
    int t;
    memset(cfg, 0, sizeof cfg);
    cfg[0] = 1;
    for (t = 0; t < 8; ++t) {
        cfg[16 + 2 * t] = 64; /* bytes per row, little-endian 16-bit */
        cfg[48 + t] = 16;     /* rows */
    }
    _tile_loadconfig(cfg);
}

/* n bytes from x to `to` (none read past them), then zeros up to `span` bytes. */
EC_FORCE_INLINE void ec_amx_copy(int8_t *to, const int8_t *x, int32_t n, int32_t span)
{
    int32_t c;
    if (span <= 32) {
        _mm256_mask_storeu_epi8(to, (__mmask32)ec_amx_first_bytes(span), _mm256_maskz_loadu_epi8((__mmask32)ec_amx_first_bytes(n), x));
        return;
    }
    for (c = 0; c < span; c += 64) {
        _mm512_mask_storeu_epi8(to + c, ec_amx_first_bytes(span - c), _mm512_maskz_loadu_epi8(ec_amx_first_bytes(n - c), x + c));
    }
}

/* n bytes of value zp at `to`, then zeros up to `span` bytes. */
EC_FORCE_INLINE void ec_amx_fill(int8_t *to, __m512i zp, int32_t n, int32_t span)
{
    int32_t c;
    for (c = 0; c < span; c += 64) {
        _mm512_mask_storeu_epi8(to + c, ec_amx_first_bytes(span - c), _mm512_maskz_mov_epi8(ec_amx_first_bytes(n - c), zp));
    }
}

/* Rows n .. EC_AMX_PIXELS - 1 of the buffer (pixels past the call's): zero. */
EC_INLINE void ec_amx_zero_rows(int8_t *a, int32_t n, size_t row_bytes)
{
    if (n < EC_AMX_PIXELS) {
        memset(a + (size_t)n * row_bytes, 0, (size_t)(EC_AMX_PIXELS - n) * row_bytes);
    }
}

/* The K bytes of pixels i0 .. i0 + n - 1 of a tile call as rows of `row_bytes` (the packed K
 * rounded up to 64): segment s at s * K4(seg_len), zeros past it. */
EC_INLINE void ec_amx_gather(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t i0, int32_t n, size_t row_bytes,
                             int8_t *a)
{
    const int32_t seg_bytes = EC_PACK_K4(g->seg_len);
    int32_t i, s;
    for (i = 0; i < n; ++i) {
        int8_t *row = a + (size_t)i * row_bytes;
        _mm512_storeu_si512((void *)(row + row_bytes - 64), _mm512_setzero_si512());
        for (s = 0; s < g->nseg; ++s) {
            ec_amx_copy(row + (size_t)s * (size_t)seg_bytes, ec_gemm_segment(src, g->nseg, i0 + i, s), g->seg_len, seg_bytes);
        }
    }
    ec_amx_zero_rows(a, n, row_bytes);
}

/* The K bytes of output pixel (oy, ox) of a convolution read straight from its NHWC input: kernel
 * row ky at ky * kernel_row_bytes, its tap kx at kx * tap_bytes (C_in bytes, then zeros to tap_bytes), in_zp
 * for a tap in the padding, zeros from the row's last tap to kernel_row_bytes; a kernel row inside the
 * input and without gaps (tap_bytes = C_in, no horizontal dilation) is one copy of k_w * C_in bytes. */
EC_INLINE void ec_amx_window_row(const int8_t *in, const ec_window_t *win, int32_t oy, int32_t ox, int32_t tap_bytes,
                                 int32_t kernel_row_bytes, __m512i zp, int8_t *row)
{
    /* The window's fields as locals: the byte stores below may alias *win, and would reload them. */
    const int32_t c = win->in_c, k_h = win->k_h, k_w = win->k_w, in_h = win->in_h, in_w = win->in_w;
    const int32_t dil_h = win->dil_h, dil_w = win->dil_w, ix0 = ox * win->stride_w - win->pad_left;
    const int32_t taps_len = k_w * tap_bytes;
    const size_t in_row = (size_t)in_w * (size_t)c;
    const int whole_rows = tap_bytes == c && dil_w == 1 && ix0 >= 0 && ix0 + k_w <= in_w;
    int32_t ky, kx, iy = oy * win->stride_h - win->pad_top;
    for (ky = 0; ky < k_h; ++ky, iy += dil_h, row += kernel_row_bytes) {
        const int8_t *x = in + (size_t)iy * in_row;
        int8_t *to = row;
        if (iy < 0 || iy >= in_h) {
            ec_amx_fill(to, zp, taps_len, kernel_row_bytes);
        } else if (whole_rows) {
            ec_amx_copy(to, x + (size_t)ix0 * (size_t)c, taps_len, kernel_row_bytes);
        } else {
            ec_amx_fill(to + taps_len, zp, 0, kernel_row_bytes - taps_len);
            for (kx = 0; kx < k_w; ++kx, to += tap_bytes) {
                const int32_t ix = ix0 + kx * dil_w;
                if (ix < 0 || ix >= in_w) {
                    ec_amx_fill(to, zp, c, tap_bytes);
                } else {
                    ec_amx_copy(to, x + (size_t)ix * (size_t)c, c, tap_bytes);
                }
            }
        }
    }
}

/* The weight tile of a last partial K tile of `groups` K groups at w: read in place, its rows past
 * the groups being the next block's bytes, which meet input bytes that are zero (past K); copied
 * into `copy` and zero-padded where 16 rows would pass the packed array's `end`. */
EC_INLINE const int8_t *ec_amx_tail_weights(const int8_t *w, int32_t groups, const int8_t *end, int8_t copy[1024])
{
    if (end - w >= 1024) {
        return w;
    }
    memcpy(copy, w, (size_t)groups * 64);
    memset(copy + (size_t)groups * 64, 0, (size_t)(16 - groups) * 64);
    return copy;
}

/* One block's accumulators of a pass (pixel p's 16 at acc + 32 * p), plus `fold`, requantized by
 * `s` (form `form`, a constant): pixels below m stored at out + p * out_stride. */
EC_FORCE_INLINE void ec_amx_store(const int32_t *acc, int32_t m, __m512i fold, const ec_avx512_out16_t s, int8_t *out,
                                  size_t out_stride, const int form)
{
    int32_t p;
    for (p = 0; p < m; ++p) {
        const __m512i v = _mm512_add_epi32(_mm512_loadu_si512((const void *)(acc + 32 * p)), fold);
        _mm_mask_storeu_epi8(out + (size_t)p * out_stride, s.lanes, ec_avx512_requantize_bytes16(v, &s, form));
    }
}

/* Blocks b and b + 1 of the pixels whose K bytes are in `a` (where nb is 1, block b alone: the
 * second weight tile repeats the first and its accumulators are not stored): the tile products
 * over every K group, then the output stage of each block, its fold plus 128 * wsum (above). */
static void ec_amx_pass(const ec_gemm_t *g, const int8_t *a, size_t row_bytes, int32_t m, int32_t b, int32_t nb,
                        int8_t *out, size_t out_stride)
{
    const ec_x86_stage_t *stages = (const ec_x86_stage_t *)g->stages;
    const size_t block_bytes = (size_t)g->k4 * EC_PACK_LANES;
    const int32_t groups = g->k4 / 4, whole = groups / 16, tail_groups = groups % 16;
    const int8_t *w0 = g->w + (size_t)b * block_bytes, *w1 = w0 + (nb > 1 ? block_bytes : 0);
    const int8_t *end = g->w + (size_t)((g->out_c + EC_PACK_LANES - 1) / EC_PACK_LANES) * block_bytes;
    int8_t tail[2][1024];
    int32_t acc[EC_AMX_PIXELS * 32];
    int32_t kt, j;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (kt = 0; kt < whole; ++kt) {
        _tile_loadd(4, a + (size_t)kt * 64, (long)row_bytes);
        _tile_loadd(5, a + 16 * row_bytes + (size_t)kt * 64, (long)row_bytes);
        _tile_loadd(6, w0 + (size_t)kt * 1024, 64);
        _tile_loadd(7, w1 + (size_t)kt * 1024, 64);
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(1, 4, 7);
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
    }
    if (tail_groups) {
        const int8_t *t0 = ec_amx_tail_weights(w0 + (size_t)whole * 1024, tail_groups, end, tail[0]);
        const int8_t *t1 = ec_amx_tail_weights(w1 + (size_t)whole * 1024, tail_groups, end, tail[1]);
        _tile_loadd(4, a + (size_t)whole * 64, (long)row_bytes);
        _tile_loadd(5, a + 16 * row_bytes + (size_t)whole * 64, (long)row_bytes);
        _tile_loadd(6, t0, 64);
        _tile_loadd(7, t1, 64);
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(1, 4, 7);
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
    }
    _tile_stored(0, acc, 128);
    _tile_stored(1, acc + 16, 128);
    _tile_stored(2, acc + 16 * 32, 128);
    _tile_stored(3, acc + 16 * 32 + 16, 128);
    for (j = 0; j < nb; ++j) {
        const int32_t c0 = (b + j) * EC_PACK_LANES;
        const __mmask16 lanes = ec_avx512_first_lanes(g->out_c - c0);
        const ec_avx512_out16_t s = stages ? stages[b + j].out : ec_avx512_out16(g->mult + c0, g->shift + c0, g->q, g->out_c - c0);
        const __m512i fold = _mm512_add_epi32(stages ? stages[b + j].fold : ec_vnni_fold(g, b + j),
                                              _mm512_slli_epi32(_mm512_maskz_loadu_epi32(lanes, g->wsum + c0), 7));
        if (s.form == EC_X86_RQ_FLOORED) {
            ec_amx_store(acc + 16 * j, m, fold, s, out + c0, out_stride, EC_X86_RQ_FLOORED);
        } else if (s.form == EC_X86_RQ_HIGH) {
            ec_amx_store(acc + 16 * j, m, fold, s, out + c0, out_stride, EC_X86_RQ_HIGH);
        } else {
            ec_amx_store(acc + 16 * j, m, fold, s, out + c0, out_stride, EC_X86_RQ_EXACT);
        }
    }
}

/* Every output channel of the n pixels whose K bytes are in `a` (rows of `row_bytes`), pixel p at
 * out + p * out_stride: two blocks a pass. */
EC_INLINE void ec_amx_blocks(const ec_gemm_t *g, const int8_t *a, size_t row_bytes, int32_t n, int8_t *out,
                             size_t out_stride)
{
    const int32_t blocks = (g->out_c + EC_PACK_LANES - 1) / EC_PACK_LANES;
    int32_t b;
    for (b = 0; b < blocks; b += 2) {
        ec_amx_pass(g, a, row_bytes, n, b, blocks - b < 2 ? 1 : 2, out, out_stride);
    }
}

/* Bytes of one pixel's row in the buffer: the packed K rounded up to a whole tile row. */
EC_INLINE size_t ec_amx_row_bytes(const ec_gemm_t *g) { return ((size_t)g->k4 + 63) / 64 * 64; }

/* m pixels (EC_AMX_MIN_PIXELS <= m <= EC_X86_GEMM_TILE) of a row tile or of tap lists, every
 * output channel, on the AMX tiles (ec_amx_serves said so). */
static void ec_amx_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out, size_t out_stride)
{
    const size_t row_bytes = ec_amx_row_bytes(g);
    int8_t a[EC_AMX_PIXELS * EC_AMX_K_MAX];
    int32_t i0;
    ec_amx_configure();
    for (i0 = 0; i0 < m; i0 += EC_AMX_PIXELS) {
        const int32_t n = m - i0 < EC_AMX_PIXELS ? m - i0 : EC_AMX_PIXELS;
        ec_amx_gather(g, src, i0, n, row_bytes, a);
        ec_amx_blocks(g, a, row_bytes, n, out + (size_t)i0 * out_stride, out_stride);
    }
    _tile_release();
}

/* The convolution of `g` (ec_im2col_gemm_init: tap (ky, kx) of the packed K at ky * kernel_row_bytes
 * + kx * tap_bytes, ec_im2col_tap_layout) on the AMX tiles, the output pixels in raster order 32 at
 * a time, each one's K bytes gathered from the input (ec_amx_window_row). */
EC_INLINE void ec_amx_conv(const ec_gemm_t *g, const int8_t *in, const ec_window_t *win, int32_t tap_bytes,
                           int32_t kernel_row_bytes, int8_t *out)
{
    const int32_t pixels = win->out_h * win->out_w;
    const size_t row_bytes = ec_amx_row_bytes(g), out_c = (size_t)g->out_c;
    const __m512i zp = _mm512_set1_epi8((char)g->q->in_zp);
    int8_t a[EC_AMX_PIXELS * EC_AMX_K_MAX];
    int32_t i0, i;
    ec_amx_configure();
    for (i0 = 0; i0 < pixels; i0 += EC_AMX_PIXELS) {
        const int32_t n = pixels - i0 < EC_AMX_PIXELS ? pixels - i0 : EC_AMX_PIXELS;
        for (i = 0; i < n; ++i) {
            int8_t *row = a + (size_t)i * row_bytes;
            _mm512_storeu_si512((void *)(row + row_bytes - 64), _mm512_setzero_si512());
            ec_amx_window_row(in, win, (i0 + i) / win->out_w, (i0 + i) % win->out_w, tap_bytes, kernel_row_bytes, zp, row);
        }
        ec_amx_zero_rows(a, n, row_bytes);
        ec_amx_blocks(g, a, row_bytes, n, out + (size_t)i0 * out_c, out_c);
    }
    _tile_release();
}

#endif /* AMX */

#endif /* EC_X86_AMX_H */

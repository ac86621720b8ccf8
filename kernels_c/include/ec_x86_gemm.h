/* ec_x86_gemm.h: the x86 tile functions of the packed int8 GEMM (ec_s8_packed.h), chosen at
 * compile time: AVX-512 VNNI when the compiler targets it (-mavx512f -mavx512bw -mavx512vl
 * -mavx512vnni), else AVX2. Both give ec_x86_gemm_tile and its tile size EC_X86_GEMM_TILE, and
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
 * Register tiles: 6 pixels x 64 channels (24 accumulators, 4 weight registers, one input),
 * 12 pixels x 32 channels for narrow layers, 1 pixel x 128 channels for the fully connected layer
 * (8 independent accumulator chains).
 *
 * AVX2. The same layout, widened exactly: each 16-byte quarter of a 64-byte group (4 channels x
 * 4 K bytes) becomes 16 int16, the pixel's 4 bytes minus in_zp (in [-255, 255]) are repeated
 * across the register, and vpmaddwd adds pairs of products into int32 lanes: lane 2c holds
 * channel c's K bytes 0-1, lane 2c+1 its bytes 2-3 (|lane step| <= 2 * 255 * 128); adjacent lanes
 * are added once at the end (vphaddd). Register tile: 2 pixels x 16 channels. */
#ifndef EC_X86_GEMM_H
#define EC_X86_GEMM_H

#include <immintrin.h>

#include "ec_s8_packed.h"
#include "ec_x86_avx2.h"
#include "ec_x86_avx512.h"

#if defined(EC_X86_AVX512) && defined(__AVX512VNNI__)

#define EC_X86_GEMM_TILE 12 /* pixels per call; register tiles of 12, 6 or 1 pixels */
#define EC_VNNI_BLOCKS 8    /* most blocks in one pass: 8 for one pixel, 4 for six, 2 for twelve */

/* The register tiles only stay in registers when the loops over pixels and blocks are unrolled
 * and inlined with constant trip counts; these ask the compiler to (no-ops elsewhere). */
#if defined(__clang__)
#define EC_UNROLL _Pragma("unroll")
#define EC_FORCE_INLINE static __inline__ __attribute__((always_inline))
#elif defined(__GNUC__)
#define EC_UNROLL _Pragma("GCC unroll 16")
#define EC_FORCE_INLINE static __inline__ __attribute__((always_inline))
#else
#define EC_UNROLL
#define EC_FORCE_INLINE static
#endif

/* acc[i][j] += sum over K of u(pixel i) * W(block j), for `rows` pixels (pixels m and beyond
 * repeat pixel m - 1) and nb <= EC_VNNI_BLOCKS blocks starting at `w`. */
EC_FORCE_INLINE void ec_vnni_accumulate(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, const int8_t *w,
                                        const int rows, const int nb, __m512i acc[EC_X86_GEMM_TILE][EC_VNNI_BLOCKS])
{
    const size_t block_bytes = (size_t)g->k4 * EC_PACK_LANES;
    const __m512i flip = _mm512_set1_epi32((int)0x80808080u);
    const int32_t full = ec_gemm_whole_bytes(g);
    const int8_t *wk = w;
    const int8_t *x[EC_X86_GEMM_TILE];
    __m512i wv[EC_VNNI_BLOCKS];
    int32_t s, k;
    int i, j;
    for (s = 0; s < g->nseg; ++s) {
        EC_UNROLL
        for (i = 0; i < rows; ++i) {
            x[i] = ec_gemm_segment(src, g->nseg, i < m ? i : m - 1, s);
        }
        for (k = 0; k < full; k += 4, wk += 64) {
            EC_UNROLL
            for (j = 0; j < nb; ++j) {
                wv[j] = _mm512_loadu_si512((const void *)(wk + (size_t)j * block_bytes));
            }
            EC_UNROLL
            for (i = 0; i < rows; ++i) {
                const __m512i u = _mm512_xor_si512(_mm512_set1_epi32(ec_load_group(x[i] + k)), flip);
                EC_UNROLL
                for (j = 0; j < nb; ++j) {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], u, wv[j]);
                }
            }
        }
        if (full < g->seg_len) {
            EC_UNROLL
            for (j = 0; j < nb; ++j) {
                wv[j] = _mm512_loadu_si512((const void *)(wk + (size_t)j * block_bytes));
            }
            EC_UNROLL
            for (i = 0; i < rows; ++i) {
                const __m512i u = _mm512_xor_si512(_mm512_set1_epi32(ec_load_tail_group(x[i] + full, g->seg_len - full)), flip);
                EC_UNROLL
                for (j = 0; j < nb; ++j) {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], u, wv[j]);
                }
            }
            wk += 64;
        }
    }
}

/* Output channels [16 * b0, 16 * (b0 + nb)) of a tile of `rows` pixels: fold, accumulate,
 * requantize, store. */
EC_FORCE_INLINE void ec_vnni_blocks(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int32_t b0,
                                    const int rows, const int nb, int8_t *out, size_t out_stride)
{
    const __m512i zp128 = _mm512_set1_epi32(128 + g->q->in_zp);
    __m512i acc[EC_X86_GEMM_TILE][EC_VNNI_BLOCKS];
    __m512i mult[EC_VNNI_BLOCKS], shift[EC_VNNI_BLOCKS];
    __mmask16 lanes[EC_VNNI_BLOCKS];
    int i, j;
    EC_UNROLL
    for (j = 0; j < nb; ++j) {
        const int32_t c0 = (b0 + j) * EC_PACK_LANES;
        __m512i fold;
        lanes[j] = ec_avx512_first_lanes(g->out_c - c0);
        fold = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(lanes[j], g->bias + c0),
                                _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(lanes[j], g->wsum + c0), zp128));
        mult[j] = _mm512_maskz_loadu_epi32(lanes[j], g->mult + c0);
        shift[j] = _mm512_maskz_loadu_epi32(lanes[j], g->shift + c0);
        EC_UNROLL
        for (i = 0; i < rows; ++i) {
            acc[i][j] = fold;
        }
    }
    ec_vnni_accumulate(g, src, m, g->w + (size_t)b0 * (size_t)g->k4 * EC_PACK_LANES, rows, nb, acc);
    EC_UNROLL
    for (i = 0; i < rows; ++i) {
        EC_UNROLL
        for (j = 0; j < nb; ++j) {
            if (i < m) {
                ec_avx512_requantize_store16(acc[i][j], mult[j], shift[j], g->q, lanes[j],
                                             out + (size_t)i * out_stride + (size_t)(b0 + j) * EC_PACK_LANES);
            }
        }
    }
}

/* Every output channel of a tile of `rows` pixels, `per_pass` blocks at a time (then 4, 3, 2, 1). */
EC_FORCE_INLINE void ec_vnni_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, const int rows,
                                  const int per_pass, int8_t *out, size_t out_stride)
{
    const int32_t blocks = (g->out_c + EC_PACK_LANES - 1) / EC_PACK_LANES;
    int32_t b = 0;
    for (; b + per_pass <= blocks; b += per_pass) {
        ec_vnni_blocks(g, src, m, b, rows, per_pass, out, out_stride);
    }
    if (per_pass > 4 && b + 4 <= blocks) {
        ec_vnni_blocks(g, src, m, b, rows, 4, out, out_stride);
        b += 4;
    }
    switch (blocks - b) {
    case 3:
        ec_vnni_blocks(g, src, m, b, rows, 3, out, out_stride);
        break;
    case 2:
        ec_vnni_blocks(g, src, m, b, rows, 2, out, out_stride);
        break;
    case 1:
        ec_vnni_blocks(g, src, m, b, rows, 1, out, out_stride);
        break;
    default:
        break;
    }
}

/* Register tiles by layer width: 1 pixel x 8 blocks for a lone pixel (the fully connected layer),
 * 12 pixels x 2 blocks for layers of at most 32 channels, else 6 pixels x 4 blocks. */
static void ec_x86_gemm_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out, size_t out_stride)
{
    const int32_t blocks = (g->out_c + EC_PACK_LANES - 1) / EC_PACK_LANES;
    if (m == 1) {
        ec_vnni_tile(g, src, m, 1, 8, out, out_stride);
    } else if (blocks <= 2) {
        ec_vnni_tile(g, src, m, 12, 2, out, out_stride);
    } else {
        ec_vnni_tile(g, src, m < 6 ? m : 6, 6, 4, out, out_stride);
        if (m > 6) {
            ec_gemm_src_t rest = *src;
            rest.first = src->first + 6;
            rest.taps = src->taps ? src->taps + 6 * g->nseg : NULL;
            ec_vnni_tile(g, &rest, m - 6, 6, 4, out + 6 * out_stride, out_stride);
        }
    }
}

#else /* AVX2 */

#define EC_X86_GEMM_TILE 2

/* The pixel's 4 bytes at p (n of them, n < 4 for a tail) minus zp, as int16 repeated 4 times. */
EC_INLINE __m256i ec_avx2_group_s16(const int8_t *p, int32_t n, __m256i zp)
{
    const int32_t v = n == 4 ? ec_load_group(p) : ec_load_tail_group(p, n);
    const __m128i x16 = _mm_cvtepi8_epi16(_mm_cvtsi32_si128(v));
    return _mm256_sub_epi16(_mm256_broadcastq_epi64(x16), zp);
}

/* acc[i][q] += products of pixel i with channels 4q..4q+3 of the block at w (lane pairs as above). */
EC_INLINE void ec_avx2_accumulate(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, const int8_t *w,
                                  __m256i acc[EC_X86_GEMM_TILE][4])
{
    const __m256i zp = _mm256_set1_epi16((short)g->q->in_zp);
    const int8_t *wk = w;
    const int8_t *x[EC_X86_GEMM_TILE];
    __m256i wv[4];
    int32_t s, k;
    int i, j;
    for (s = 0; s < g->nseg; ++s) {
        for (i = 0; i < EC_X86_GEMM_TILE; ++i) {
            x[i] = ec_gemm_segment(src, g->nseg, i < m ? i : m - 1, s);
        }
        for (k = 0; k < g->seg_len; k += 4, wk += 64) {
            const int32_t n = k < ec_gemm_whole_bytes(g) ? 4 : g->seg_len - k;
            for (j = 0; j < 4; ++j) {
                wv[j] = ec_avx2_load16_s8_as_s16(wk + 16 * j);
            }
            for (i = 0; i < EC_X86_GEMM_TILE; ++i) {
                const __m256i xv = ec_avx2_group_s16(x[i] + k, n, zp);
                for (j = 0; j < 4; ++j) {
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(xv, wv[j]));
                }
            }
        }
    }
}

/* Channel sums of two accumulators of lane pairs: channels 0-3 from lo, 4-7 from hi, in order. */
EC_INLINE __m256i ec_avx2_pair_sums(__m256i lo, __m256i hi)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), _MM_SHUFFLE(3, 1, 2, 0));
}

/* Requantizes channels c0 .. c0 + 7 (those below out_c) of one pixel. */
EC_INLINE void ec_avx2_store8(const ec_gemm_t *g, __m256i acc, int32_t c0, int8_t *out)
{
    const int32_t n = g->out_c - c0 < 8 ? g->out_c - c0 : 8;
    int32_t bias[8] = {0}, mult[8] = {0}, shift[8] = {0}, v[8];
    int32_t c;
    __m256i r;
    memcpy(bias, g->bias + c0, (size_t)n * sizeof(int32_t));
    memcpy(mult, g->mult + c0, (size_t)n * sizeof(int32_t));
    memcpy(shift, g->shift + c0, (size_t)n * sizeof(int32_t));
    r = _mm256_add_epi32(acc, _mm256_loadu_si256((const __m256i *)(const void *)bias));
    r = ec_avx2_requantize8(r, _mm256_loadu_si256((const __m256i *)(const void *)mult),
                            _mm256_loadu_si256((const __m256i *)(const void *)shift));
    r = _mm256_add_epi32(r, _mm256_set1_epi32(g->q->out_zp));
    r = _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(g->q->act_min)), _mm256_set1_epi32(g->q->act_max));
    _mm256_storeu_si256((__m256i *)(void *)v, r);
    for (c = 0; c < n; ++c) {
        out[c] = (int8_t)v[c];
    }
}

static void ec_x86_gemm_tile(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out, size_t out_stride)
{
    const int32_t blocks = (g->out_c + EC_PACK_LANES - 1) / EC_PACK_LANES;
    int32_t b;
    int i, j;
    for (b = 0; b < blocks; ++b) {
        const int32_t c0 = b * EC_PACK_LANES;
        __m256i acc[EC_X86_GEMM_TILE][4];
        for (i = 0; i < EC_X86_GEMM_TILE; ++i) {
            for (j = 0; j < 4; ++j) {
                acc[i][j] = _mm256_setzero_si256();
            }
        }
        ec_avx2_accumulate(g, src, m, g->w + (size_t)b * (size_t)g->k4 * EC_PACK_LANES, acc);
        for (i = 0; i < m; ++i) {
            int8_t *o = out + (size_t)i * out_stride + (size_t)c0;
            ec_avx2_store8(g, ec_avx2_pair_sums(acc[i][0], acc[i][1]), c0, o);
            if (c0 + 8 < g->out_c) {
                ec_avx2_store8(g, ec_avx2_pair_sums(acc[i][2], acc[i][3]), c0 + 8, o + 8);
            }
        }
    }
}

#endif /* AVX-512 VNNI or AVX2 */

#endif /* EC_X86_GEMM_H */

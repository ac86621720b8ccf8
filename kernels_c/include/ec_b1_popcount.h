/* ec_b1_popcount.h: the bit-plane popcount engine shared by the XNOR binary convolution
 * (ec_b1_xnor.h) and the DoReFa bit-serial convolution (ec_s8_conv2d_bitserial), for every ISA.
 *
 * Packed activations, "word planes". The padded input region the windows read (ext_h rows by
 * ext_w columns, ec_b1.h) is stored as one plane of uint32_t per (bit plane m, channel word wd):
 *     word wd of bit plane m at row r, column c  ->  scratch[(m * words + wd) * ext_h * ext_w
 *                                                            + r * ext_w + ec_b1_column_offset(c)]
 * with the channel bits of a word as in ec_b1.h (channel c -> bit c % 32 of word c / 32). Each row
 * keeps its columns split by phase c % stride_w, phase after phase:
 *     ec_b1_column_offset(c) = sum_{q < c % s} ceil((ext_w - q) / s) + c / s,   s = stride_w,
 * which is a permutation of the ext_w columns (the row takes exactly ext_w words). Output pixel x
 * reads column x * s + kx * dil_w for tap kx, i.e. phase (kx * dil_w) % s at index
 * x + (kx * dil_w) / s: for one tap and one word, consecutive output pixels of a row read
 * consecutive words, whatever the stride and dilation. Padded pixels are all-zero words.
 *
 * Engine (ec_b1_block_popcounts): for a block of EC_B1_LANES consecutive output pixels i (one vector
 * lane each; consecutive rows share a block when stride_h is 1, see ec_b1_block_t) and `rows` weight
 * rows j (rows <= EC_B1_BLOCK_OC),
 *     pop[j][i] = sum over taps t = (ky, kx) and words wd of popcount(A_i[t][wd] OP W_j[t][wd]),
 * OP = XOR or AND, W_j[t][wd] = w[j * w_stride + (t * words + wd) * tap_step] (the weight layouts
 * of ec_b1.h: the XNOR weights interleave 16 rows, w_stride 1 and tap_step 16, so that one pointer
 * and constant offsets reach every row; the bit-serial planes keep a row's words together).
 * One vector load of A serves all the weight rows; each weight word is broadcast over the lanes.
 *
 * ISA primitives: the including file may define EC_B1_ISA_X86 (AVX-512 when the compiler targets
 * AVX512F/BW/VL, else AVX2) or EC_B1_ISA_NEON before including this header; without either the
 * primitives are plain C with one lane. Popcounts come from VPOPCNTD (AVX512_VPOPCNTDQ), exact per
 * 32-bit lane; else byte counts come from a 16-entry nibble table (PSHUFB) or vcntq_u8 (NEON). A
 * byte count grows by at most 8 per word, so partial byte counts are widened into the int32 results
 * at least every EC_B1_PART_LIMIT = 31 words (31 * 8 = 248 <= 255). Results are exact integer
 * popcounts in every case; bound per result: k_h * k_w * words * 32 < 2^31.
 */
#ifndef EC_B1_POPCOUNT_H
#define EC_B1_POPCOUNT_H

#include <string.h>

#include "ec_b1.h"

#if defined(__GNUC__) || defined(__clang__)
#define EC_B1_ALWAYS_INLINE static __inline__ __attribute__((always_inline))
#else
#define EC_B1_ALWAYS_INLINE static
#endif

enum { EC_B1_OP_XOR = 0, EC_B1_OP_AND = 1 };

/* ------------------------------------------------------------------------------------------ */
#if defined(EC_B1_ISA_X86) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

#include "ec_x86_avx512.h"

#define EC_B1_LANES 16
#define EC_B1_BLOCK_OC 16
typedef __m512i ec_b1_vec;

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_zero(void)
{
    return _mm512_setzero_si512();
}

typedef __mmask16 ec_b1_lanes_t;

/* The lanes a load fills: the first n. */
EC_B1_ALWAYS_INLINE ec_b1_lanes_t ec_b1_lanes(int32_t n)
{
    return ec_avx512_first_lanes(n);
}

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_load(const uint32_t *p, ec_b1_lanes_t lanes)
{
    return _mm512_maskz_loadu_epi32(lanes, (const void *)p);
}

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_combine(ec_b1_vec a, uint32_t w, int op)
{
    const __m512i wv = _mm512_set1_epi32((int)w);
    return op == EC_B1_OP_AND ? _mm512_and_si512(a, wv) : _mm512_xor_si512(a, wv);
}

#if defined(__AVX512VPOPCNTDQ__)
/* VPOPCNTD: exact 32-bit lane counts, accumulated directly (no flush before the end). */
#define EC_B1_PART_LIMIT 0
EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_part_add(ec_b1_vec part, ec_b1_vec x)
{
    return _mm512_add_epi32(part, _mm512_popcnt_epi32(x));
}

EC_B1_ALWAYS_INLINE void ec_b1_part_flush(ec_b1_vec part, int32_t *dst)
{
    _mm512_storeu_si512((void *)dst, _mm512_add_epi32(_mm512_loadu_si512((const void *)dst), part));
}

/* sums[r] = sum over k < n of popcount(a[k] XOR w[r * w_stride + k]), r < 4: 16 words per vector
 * (the tail masked), one load of `a` for the four rows. */
#define EC_B1_HAVE_XOR_POPCOUNT 1
EC_B1_ALWAYS_INLINE void ec_b1_xor_popcount4(const uint32_t *a, const uint32_t *w, size_t w_stride, int32_t n,
                                             int32_t sums[4])
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    int32_t k;
    for (k = 0; k < n; k += 16) {
        const __mmask16 lanes = ec_avx512_first_lanes(n - k);
        const __m512i x = _mm512_maskz_loadu_epi32(lanes, (const void *)(a + k));
        s0 = _mm512_add_epi32(s0, _mm512_popcnt_epi32(_mm512_xor_si512(x, _mm512_maskz_loadu_epi32(lanes, w + k))));
        s1 = _mm512_add_epi32(s1, _mm512_popcnt_epi32(_mm512_xor_si512(x, _mm512_maskz_loadu_epi32(lanes, w + w_stride + k))));
        s2 = _mm512_add_epi32(s2, _mm512_popcnt_epi32(
                                      _mm512_xor_si512(x, _mm512_maskz_loadu_epi32(lanes, w + 2 * w_stride + k))));
        s3 = _mm512_add_epi32(s3, _mm512_popcnt_epi32(
                                      _mm512_xor_si512(x, _mm512_maskz_loadu_epi32(lanes, w + 3 * w_stride + k))));
    }
    sums[0] = _mm512_reduce_add_epi32(s0);
    sums[1] = _mm512_reduce_add_epi32(s1);
    sums[2] = _mm512_reduce_add_epi32(s2);
    sums[3] = _mm512_reduce_add_epi32(s3);
}
#else
/* Nibble table: byte counts of the low and the high nibble of every byte. */
#define EC_B1_PART_LIMIT 31
EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_part_add(ec_b1_vec part, ec_b1_vec x)
{
    const __m512i table = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    const __m512i low = _mm512_set1_epi8(0x0F);
    const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(x, low));
    const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(x, 4), low));
    return _mm512_add_epi8(part, _mm512_add_epi8(lo, hi));
}

/* dst[i] += the four byte counts of lane i. */
EC_B1_ALWAYS_INLINE void ec_b1_part_flush(ec_b1_vec part, int32_t *dst)
{
    const __m512i words = _mm512_maddubs_epi16(part, _mm512_set1_epi8(1));
    const __m512i lanes = _mm512_madd_epi16(words, _mm512_set1_epi16(1));
    _mm512_storeu_si512((void *)dst, _mm512_add_epi32(_mm512_loadu_si512((const void *)dst), lanes));
}
#endif

/* v[i] = clamp(ec_requantize(acc[i], mult, shift) + out_zp, act_min, act_max), every lane i. */
EC_B1_ALWAYS_INLINE void ec_b1_requantize_lanes(const int32_t *acc, int32_t mult, int32_t shift, const ec_qparams_t *q,
                                                int8_t *v)
{
    __m512i r = ec_avx512_requantize16(_mm512_loadu_si512((const void *)acc), _mm512_set1_epi32(mult),
                                       _mm512_set1_epi32(shift));
    r = _mm512_add_epi32(r, _mm512_set1_epi32(q->out_zp));
    r = _mm512_min_epi32(_mm512_max_epi32(r, _mm512_set1_epi32(q->act_min)), _mm512_set1_epi32(q->act_max));
    _mm_storeu_si128((__m128i *)(void *)v, _mm512_cvtepi32_epi8(r));
}

/* bits[i] |= 1 << j for every lane i with pop[i] > limit. */
EC_B1_ALWAYS_INLINE void ec_b1_threshold_row(const int32_t *pop, int32_t limit, int32_t j, uint32_t *bits)
{
    const __mmask16 above = _mm512_cmpgt_epi32_mask(_mm512_loadu_si512((const void *)pop), _mm512_set1_epi32(limit));
    const __m512i v = _mm512_loadu_si512((const void *)bits);
    _mm512_storeu_si512((void *)bits, _mm512_mask_or_epi32(v, above, v, _mm512_set1_epi32((int)(1u << j))));
}

/* Stores tile[j][i] (output channel j < nb of lane i) at out[pixel[i] * out_c + j] for the lanes with
 * pixel[i] >= 0: the 16 x 16 bytes are transposed in registers, then each pixel's nb channels are
 * one masked store. Transpose: unpacking bytes then 16-bit pairs of 4 rows gives, per group g of 4
 * channels and quad c of 4 pixels, the 4 bytes of pixel 4c + p in 32-bit lane p; a 4 x 4 transpose of
 * those 32-bit lanes over g completes each pixel. */
#define EC_B1_HAVE_TILE_STORE 1
EC_B1_ALWAYS_INLINE void ec_b1_store_tile(int8_t tile[][EC_B1_LANES], int32_t nb, const int32_t *pixel,
                                          int32_t out_c, int8_t *out)
{
    const __mmask16 channels = ec_avx512_first_lanes(nb);
    __m128i x[16], quad[4][4];
    int32_t j, g, c, p;
    for (j = 0; j < 16; ++j) {
        x[j] = _mm_loadu_si128((const __m128i *)(const void *)tile[j]);
    }
    for (g = 0; g < 4; ++g) {
        const __m128i lo = _mm_unpacklo_epi8(x[4 * g], x[4 * g + 1]), hi = _mm_unpackhi_epi8(x[4 * g], x[4 * g + 1]);
        const __m128i lo2 = _mm_unpacklo_epi8(x[4 * g + 2], x[4 * g + 3]);
        const __m128i hi2 = _mm_unpackhi_epi8(x[4 * g + 2], x[4 * g + 3]);
        quad[g][0] = _mm_unpacklo_epi16(lo, lo2);
        quad[g][1] = _mm_unpackhi_epi16(lo, lo2);
        quad[g][2] = _mm_unpacklo_epi16(hi, hi2);
        quad[g][3] = _mm_unpackhi_epi16(hi, hi2);
    }
    for (c = 0; c < 4; ++c) {
        const __m128i e0 = _mm_unpacklo_epi32(quad[0][c], quad[1][c]), e1 = _mm_unpackhi_epi32(quad[0][c], quad[1][c]);
        const __m128i e2 = _mm_unpacklo_epi32(quad[2][c], quad[3][c]), e3 = _mm_unpackhi_epi32(quad[2][c], quad[3][c]);
        __m128i rows[4];
        rows[0] = _mm_unpacklo_epi64(e0, e2);
        rows[1] = _mm_unpackhi_epi64(e0, e2);
        rows[2] = _mm_unpacklo_epi64(e1, e3);
        rows[3] = _mm_unpackhi_epi64(e1, e3);
        for (p = 0; p < 4; ++p) {
            if (pixel[4 * c + p] >= 0) {
                _mm_mask_storeu_epi8((void *)(out + (size_t)pixel[4 * c + p] * (size_t)out_c), channels, rows[p]);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
#elif defined(EC_B1_ISA_X86)
#include "ec_x86_avx2.h"

#define EC_B1_LANES 8
#define EC_B1_BLOCK_OC 8
#define EC_B1_PART_LIMIT 31
typedef __m256i ec_b1_vec;

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_zero(void)
{
    return _mm256_setzero_si256();
}

typedef __m256i ec_b1_lanes_t;

/* The lanes a load fills: the first n. */
EC_B1_ALWAYS_INLINE ec_b1_lanes_t ec_b1_lanes(int32_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_load(const uint32_t *p, ec_b1_lanes_t lanes)
{
    return _mm256_maskload_epi32((const int *)(const void *)p, lanes);
}

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_combine(ec_b1_vec a, uint32_t w, int op)
{
    const __m256i wv = _mm256_set1_epi32((int)w);
    return op == EC_B1_OP_AND ? _mm256_and_si256(a, wv) : _mm256_xor_si256(a, wv);
}

/* Nibble table: byte counts of the low and the high nibble of every byte. */
EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_part_add(ec_b1_vec part, ec_b1_vec x)
{
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                           0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0F);
    const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(x, low));
    const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(x, 4), low));
    return _mm256_add_epi8(part, _mm256_add_epi8(lo, hi));
}

/* dst[i] += the four byte counts of lane i. */
EC_B1_ALWAYS_INLINE void ec_b1_part_flush(ec_b1_vec part, int32_t *dst)
{
    const __m256i words = _mm256_maddubs_epi16(part, _mm256_set1_epi8(1));
    const __m256i lanes = _mm256_madd_epi16(words, _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)(void *)dst,
                        _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(const void *)dst), lanes));
}

/* v[i] = clamp(ec_requantize(acc[i], mult, shift) + out_zp, act_min, act_max), every lane i. */
EC_B1_ALWAYS_INLINE void ec_b1_requantize_lanes(const int32_t *acc, int32_t mult, int32_t shift, const ec_qparams_t *q,
                                                int8_t *v)
{
    __m256i r = ec_avx2_requantize8(_mm256_loadu_si256((const __m256i *)(const void *)acc), _mm256_set1_epi32(mult),
                                    _mm256_set1_epi32(shift));
    r = _mm256_add_epi32(r, _mm256_set1_epi32(q->out_zp));
    r = _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(q->act_min)), _mm256_set1_epi32(q->act_max));
    r = _mm256_packs_epi32(r, r);
    r = _mm256_packs_epi16(r, r);
    _mm_storel_epi64((__m128i *)(void *)v,
                     _mm_unpacklo_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
}

/* bits[i] |= 1 << j for every lane i with pop[i] > limit. */
EC_B1_ALWAYS_INLINE void ec_b1_threshold_row(const int32_t *pop, int32_t limit, int32_t j, uint32_t *bits)
{
    const __m256i above = _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)(const void *)pop),
                                             _mm256_set1_epi32(limit));
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)bits);
    _mm256_storeu_si256((__m256i *)(void *)bits,
                        _mm256_or_si256(v, _mm256_and_si256(above, _mm256_set1_epi32((int)(1u << j)))));
}

/* ------------------------------------------------------------------------------------------ */
#elif defined(EC_B1_ISA_NEON)
#include <arm_neon.h>

#include "ec_arm_requant.h"

#define EC_B1_LANES 4
#if defined(__aarch64__)
#define EC_B1_BLOCK_OC 8
#else
#define EC_B1_BLOCK_OC 4
#endif
#define EC_B1_PART_LIMIT 31
typedef uint8x16_t ec_b1_vec;

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_zero(void)
{
    return vdupq_n_u8(0);
}

typedef int32_t ec_b1_lanes_t;

/* The lanes a load fills: the first n. */
EC_B1_ALWAYS_INLINE ec_b1_lanes_t ec_b1_lanes(int32_t n)
{
    return n;
}

/* Lanes n..3 are zero; a short block is copied so that nothing past p[n - 1] is read. */
EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_load(const uint32_t *p, ec_b1_lanes_t n)
{
    uint32_t tail[4] = {0, 0, 0, 0};
    if (n >= 4) {
        return vreinterpretq_u8_u32(vld1q_u32(p));
    }
    memcpy(tail, p, (size_t)n * sizeof(uint32_t));
    return vreinterpretq_u8_u32(vld1q_u32(tail));
}

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_combine(ec_b1_vec a, uint32_t w, int op)
{
    const uint8x16_t wv = vreinterpretq_u8_u32(vdupq_n_u32(w));
    return op == EC_B1_OP_AND ? vandq_u8(a, wv) : veorq_u8(a, wv);
}

/* vcntq_u8: byte counts. */
EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_part_add(ec_b1_vec part, ec_b1_vec x)
{
    return vaddq_u8(part, vcntq_u8(x));
}

/* dst[i] += the four byte counts of lane i (pairwise widening adds). */
EC_B1_ALWAYS_INLINE void ec_b1_part_flush(ec_b1_vec part, int32_t *dst)
{
    const uint32x4_t lanes = vpaddlq_u16(vpaddlq_u8(part));
    vst1q_s32(dst, vaddq_s32(vld1q_s32(dst), vreinterpretq_s32_u32(lanes)));
}

/* v[i] = clamp(ec_requantize(acc[i], mult, shift) + out_zp, act_min, act_max), every lane i: the
 * exact vector requantization of ec_arm_requant.h. */
EC_B1_ALWAYS_INLINE void ec_b1_requantize_lanes(const int32_t *acc, int32_t mult, int32_t shift, const ec_qparams_t *q,
                                                int8_t *v)
{
    const ec_neon_rq_t rq = ec_neon_rq_set1(mult, shift);
    const int32x4_t r = vaddq_s32(ec_neon_requantize(vld1q_s32(acc), &rq), vdupq_n_s32(q->out_zp));
    const int32x4_t c = vminq_s32(vmaxq_s32(r, vdupq_n_s32(q->act_min)), vdupq_n_s32(q->act_max));
    const int16x4_t h = vmovn_s32(c);
    int8_t bytes[8];
    vst1_s8(bytes, vmovn_s16(vcombine_s16(h, h)));
    memcpy(v, bytes, EC_B1_LANES);
}

/* bits[i] |= 1 << j for every lane i with pop[i] > limit. */
EC_B1_ALWAYS_INLINE void ec_b1_threshold_row(const int32_t *pop, int32_t limit, int32_t j, uint32_t *bits)
{
    const uint32x4_t above = vcgtq_s32(vld1q_s32(pop), vdupq_n_s32(limit));
    vst1q_u32(bits, vorrq_u32(vld1q_u32(bits), vandq_u32(above, vdupq_n_u32(1u << j))));
}

#define EC_B1_HAVE_XOR_POPCOUNT 1
/* sums[r] = sum over k < n of popcount(a[k] XOR w[r * w_stride + k]), r < 4: four words per step,
 * zero above n on both sides (ec_b1_load); CNT byte counts added pairwise into 16-bit lanes
 * (UADALP, at most 16 per lane and step), which move into 32-bit lanes (UADALP again) every
 * EC_B1_U16_STEPS steps, before they could wrap (4095 * 16 <= 65535). */
#define EC_B1_U16_STEPS 4095
EC_B1_ALWAYS_INLINE void ec_b1_xor_popcount4(const uint32_t *a, const uint32_t *w, size_t w_stride, int32_t n,
                                             int32_t sums[4])
{
    uint32x4_t total[4];
    uint16x8_t part[4];
    int32_t k, r, steps = 0;
    for (r = 0; r < 4; ++r) {
        total[r] = vdupq_n_u32(0);
        part[r] = vdupq_n_u16(0);
    }
    for (k = 0; k < n; k += 4) {
        const int32_t count = n - k < 4 ? n - k : 4;
        const uint8x16_t x = ec_b1_load(a + k, count);
        for (r = 0; r < 4; ++r) {
            part[r] = vpadalq_u8(part[r], vcntq_u8(veorq_u8(x, ec_b1_load(w + (size_t)r * w_stride + k, count))));
        }
        if (++steps == EC_B1_U16_STEPS) {
            for (r = 0; r < 4; ++r) {
                total[r] = vpadalq_u16(total[r], part[r]);
                part[r] = vdupq_n_u16(0);
            }
            steps = 0;
        }
    }
    for (r = 0; r < 4; ++r) {
        const uint32x4_t t = vpadalq_u16(total[r], part[r]);
        const uint32x2_t s = vadd_u32(vget_low_u32(t), vget_high_u32(t));
        sums[r] = (int32_t)vget_lane_u32(vpadd_u32(s, s), 0);
    }
}

/* ------------------------------------------------------------------------------------------ */
#else
#define EC_B1_LANES 1
#define EC_B1_BLOCK_OC 4
#define EC_B1_PART_LIMIT 0
typedef uint32_t ec_b1_vec;

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_zero(void)
{
    return 0;
}

typedef int32_t ec_b1_lanes_t;

/* The lanes a load fills: the first n (always 1 here). */
EC_B1_ALWAYS_INLINE ec_b1_lanes_t ec_b1_lanes(int32_t n)
{
    return n;
}

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_load(const uint32_t *p, ec_b1_lanes_t n)
{
    (void)n;
    return *p;
}

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_combine(ec_b1_vec a, uint32_t w, int op)
{
    return op == EC_B1_OP_AND ? (a & w) : (a ^ w);
}

EC_B1_ALWAYS_INLINE ec_b1_vec ec_b1_part_add(ec_b1_vec part, ec_b1_vec x)
{
    return part + (uint32_t)ec_popcount32(x);
}

EC_B1_ALWAYS_INLINE void ec_b1_part_flush(ec_b1_vec part, int32_t *dst)
{
    dst[0] += (int32_t)part;
}

EC_B1_ALWAYS_INLINE void ec_b1_requantize_lanes(const int32_t *acc, int32_t mult, int32_t shift, const ec_qparams_t *q,
                                                int8_t *v)
{
    v[0] = (int8_t)ec_clamp_i32(ec_requantize(acc[0], mult, shift) + q->out_zp, q->act_min, q->act_max);
}

/* bits[0] |= 1 << j when pop[0] > limit. */
EC_B1_ALWAYS_INLINE void ec_b1_threshold_row(const int32_t *pop, int32_t limit, int32_t j, uint32_t *bits)
{
    bits[0] |= (uint32_t)(pop[0] > limit) << j;
}
#endif

#if !defined(EC_B1_HAVE_XOR_POPCOUNT)
/* sums[r] = sum over k < n of popcount(a[k] XOR w[r * w_stride + k]), r < 4. */
EC_B1_ALWAYS_INLINE void ec_b1_xor_popcount4(const uint32_t *a, const uint32_t *w, size_t w_stride, int32_t n,
                                             int32_t sums[4])
{
    int32_t k, r;
    for (r = 0; r < 4; ++r) {
        const uint32_t *row = w + (size_t)r * w_stride;
        sums[r] = 0;
        for (k = 0; k < n; ++k) {
            sums[r] += ec_popcount32(a[k] ^ row[k]);
        }
    }
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* Geometry of the packed word planes. */
typedef struct {
    int32_t words;  /* uint32_t words per pixel and bit plane: ceil(in_c / 32) */
    int32_t ext_h;  /* padded rows the windows read */
    int32_t ext_w;  /* padded columns the windows read */
    size_t plane;   /* ext_h * ext_w: words between two word planes */
} ec_b1_planes_t;

EC_INLINE ec_b1_planes_t ec_b1_planes(const ec_window_t *win)
{
    ec_b1_planes_t pl;
    pl.words = (win->in_c + 31) / 32;
    pl.ext_h = (win->out_h - 1) * win->stride_h + win->dil_h * (win->k_h - 1) + 1;
    pl.ext_w = (win->out_w - 1) * win->stride_w + win->dil_w * (win->k_w - 1) + 1;
    pl.plane = (size_t)pl.ext_h * (size_t)pl.ext_w;
    return pl;
}

/* Position of padded column c within its row (phase-split order, see the top of this file). */
EC_INLINE int32_t ec_b1_column_offset(int32_t c, int32_t ext_w, int32_t stride)
{
    int32_t q, offset;
    if (stride == 1) {
        return c;
    }
    offset = c / stride;
    for (q = 0; q < c % stride; ++q) {
        offset += (ext_w - q + stride - 1) / stride;
    }
    return offset;
}

#if defined(EC_B1_ISA_X86)
/* The n <= 32 int8 values at src in a vector, zero past n; nothing past src[n - 1] is read. */
EC_INLINE __m256i ec_b1_load_channels(const int8_t *src, int32_t n)
{
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return _mm256_maskz_loadu_epi8(n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1u, (const void *)src);
#else
    int8_t part[32] = {0};
    if (n >= 32) {
        return _mm256_loadu_si256((const __m256i *)(const void *)src);
    }
    memcpy(part, src, (size_t)n);
    return _mm256_loadu_si256((const __m256i *)(const void *)part);
#endif
}

/* The low n bits of a 32-bit mask. */
EC_INLINE uint32_t ec_b1_low_bits(int32_t n)
{
    return n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1u;
}

/* Word of n <= 32 channels: bit i set <=> src[i] < zp (XNOR: the value is -1). */
EC_INLINE uint32_t ec_b1_sign_word(const int8_t *src, int32_t n, int32_t zp)
{
    const __m256i below = _mm256_cmpgt_epi8(_mm256_set1_epi8((char)zp), ec_b1_load_channels(src, n));
    return (uint32_t)_mm256_movemask_epi8(below) & ec_b1_low_bits(n);
}

/* Word of n <= 32 channels: bit i = bit m of the code u = src[i] - zp (0 <= u <= 255). Bytes
 * u = src - zp (mod 256); shifting each 16-bit pair left by 7 - m brings bit m of both bytes to their
 * bit 7, which movemask collects. */
EC_INLINE uint32_t ec_b1_code_bit_word(const int8_t *src, int32_t n, int32_t zp, int32_t m)
{
    const __m256i u = _mm256_sub_epi8(ec_b1_load_channels(src, n), _mm256_set1_epi8((char)zp));
    return (uint32_t)_mm256_movemask_epi8(_mm256_sll_epi16(u, _mm_cvtsi32_si128(7 - m))) & ec_b1_low_bits(n);
}
#elif defined(EC_B1_ISA_NEON)
/* The 16 lanes of a compare result (0 or 0xFF) as 16 bits, lane i -> bit i: each lane keeps its
 * bit's weight within its half (1 .. 128), and three pairwise adds sum each half into one byte. */
EC_INLINE uint32_t ec_b1_neon_mask_bits(uint8x16_t mask)
{
    static const uint8_t weight[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t m = vandq_u8(mask, vld1q_u8(weight));
    uint8x8_t s = vpadd_u8(vget_low_u8(m), vget_high_u8(m));
    s = vpadd_u8(s, s);
    s = vpadd_u8(s, s);
    return (uint32_t)vget_lane_u8(s, 0) | (uint32_t)vget_lane_u8(s, 1) << 8;
}

/* Word of n <= 32 channels: bit i set <=> src[i] < zp (XNOR: the value is -1); 16 channels per
 * compare, the last n % 16 one by one. */
EC_INLINE uint32_t ec_b1_sign_word(const int8_t *src, int32_t n, int32_t zp)
{
    const int8x16_t z = vdupq_n_s8((int8_t)zp);
    uint32_t word = 0;
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        word |= ec_b1_neon_mask_bits(vcltq_s8(vld1q_s8(src + i), z)) << i;
    }
    for (; i < n; ++i) {
        word |= (uint32_t)((int32_t)src[i] < zp) << i;
    }
    return word;
}

/* Word of n <= 32 channels: bit i = bit m of the code u = src[i] - zp (0 <= u <= 255), the bytes
 * u = src - zp (mod 256) tested against 1 << m 16 at a time. */
EC_INLINE uint32_t ec_b1_code_bit_word(const int8_t *src, int32_t n, int32_t zp, int32_t m)
{
    const uint8x16_t z = vdupq_n_u8((uint8_t)zp), bit = vdupq_n_u8((uint8_t)(1u << m));
    uint32_t word = 0;
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        word |= ec_b1_neon_mask_bits(vtstq_u8(vsubq_u8(vld1q_u8((const uint8_t *)src + i), z), bit)) << i;
    }
    for (; i < n; ++i) {
        word |= (((uint32_t)((int32_t)src[i] - zp) >> m) & 1u) << i;
    }
    return word;
}
#else
/* Word of n <= 32 channels: bit i set <=> src[i] < zp (XNOR: the value is -1). */
EC_INLINE uint32_t ec_b1_sign_word(const int8_t *src, int32_t n, int32_t zp)
{
    uint32_t word = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        word |= (uint32_t)((int32_t)src[i] < zp) << i;
    }
    return word;
}

/* Word of n <= 32 channels: bit i = bit m of the code u = src[i] - zp (0 <= u <= 255). */
EC_INLINE uint32_t ec_b1_code_bit_word(const int8_t *src, int32_t n, int32_t zp, int32_t m)
{
    uint32_t word = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        word |= (((uint32_t)((int32_t)src[i] - zp) >> m) & 1u) << i;
    }
    return word;
}
#endif

/* Packs the input into `bit_planes` groups of word planes (zeroed first: padding stays 0).
 * bit_planes == 0 packs the XNOR sign bits (one group): from the int8 codes `in`, or copied from
 * `in_bits` (packed words, ec_b1.h) when that is not NULL; otherwise group m holds bit m of the codes. */
static void ec_b1_pack_input(const int8_t *in, const uint32_t *in_bits, const ec_window_t *win,
                             const ec_b1_planes_t *pl, int32_t bit_planes, int32_t zp, uint32_t *scratch)
{
    const int32_t groups = bit_planes > 0 ? bit_planes : 1;
    int32_t y, x, wd, m;
    memset(scratch, 0, pl->plane * (size_t)pl->words * (size_t)groups * sizeof(uint32_t));
    for (y = 0; y < pl->ext_h; ++y) {
        const int32_t iy = y - win->pad_top;
        if (iy < 0 || iy >= win->in_h) {
            continue;
        }
        for (x = 0; x < pl->ext_w; ++x) {
            const int32_t ix = x - win->pad_left;
            const size_t pixel = (size_t)iy * win->in_w + ix;
            const int8_t *src;
            uint32_t *dst;
            if (ix < 0 || ix >= win->in_w) {
                continue;
            }
            dst = scratch + (size_t)y * pl->ext_w + ec_b1_column_offset(x, pl->ext_w, win->stride_w);
            if (in_bits != NULL) {
                for (wd = 0; wd < pl->words; ++wd) {
                    dst[(size_t)wd * pl->plane] = in_bits[pixel * (size_t)pl->words + wd];
                }
                continue;
            }
            src = in + pixel * win->in_c;
            for (wd = 0; wd < pl->words; ++wd) {
                const int32_t n = win->in_c - wd * 32 < 32 ? win->in_c - wd * 32 : 32;
                if (bit_planes == 0) {
                    dst[(size_t)wd * pl->plane] = ec_b1_sign_word(src + wd * 32, n, zp);
                }
                for (m = 0; m < bit_planes; ++m) {
                    dst[((size_t)m * pl->words + wd) * pl->plane] = ec_b1_code_bit_word(src + wd * 32, n, zp, m);
                }
            }
        }
    }
}

/* Blocks of output pixels. Virtual pixel v = y * pitch + x, pitch = stride_h * ext_w: the packed
 * words between the windows of output rows y and y + 1, so that the words a tap reads for virtual
 * pixels v, v + 1, ... are consecutive (stride_h == 1 packs whole consecutive rows into one vector,
 * only the k_w - 1 columns between rows being wasted). Real pixels have x < out_w; a block starts at
 * one, holds EC_B1_LANES consecutive virtual pixels and loads only up to the last real pixel. */
typedef struct {
    size_t v;                      /* first virtual pixel */
    int32_t n;                     /* lanes loaded: up to the last real pixel */
    int32_t pixel[EC_B1_LANES];    /* output pixel y * out_w + x of each lane, -1 where x >= out_w */
} ec_b1_block_t;

/* Number of virtual pixels up to the last real one: blocks start below it. */
EC_INLINE size_t ec_b1_virtual_end(const ec_window_t *win, size_t pitch)
{
    return (size_t)(win->out_h - 1) * pitch + (size_t)win->out_w;
}

/* The block starting at virtual pixel v (a real pixel). */
EC_INLINE void ec_b1_block_at(const ec_window_t *win, size_t pitch, size_t v, ec_b1_block_t *b)
{
    const size_t v_end = ec_b1_virtual_end(win, pitch);
    size_t y = v / pitch, x = v % pitch;
    int32_t i;
    b->v = v;
    b->n = v_end - v < EC_B1_LANES ? (int32_t)(v_end - v) : EC_B1_LANES;
    for (i = 0; i < EC_B1_LANES; ++i) {
        b->pixel[i] = i < b->n && x < (size_t)win->out_w ? (int32_t)(y * (size_t)win->out_w + x) : -1;
        if (++x == pitch) {
            x = 0;
            ++y;
        }
    }
}

/* The first virtual pixel of the block after b (a real pixel), or the end of the output. */
EC_INLINE size_t ec_b1_next_block(const ec_window_t *win, size_t pitch, const ec_b1_block_t *b)
{
    const size_t v = b->v + EC_B1_LANES;
    return v % pitch < (size_t)win->out_w ? v : (v / pitch + 1) * pitch;
}

#if !defined(EC_B1_HAVE_TILE_STORE)
/* Stores tile[j][i] (output channel j < nb of lane i) at out[pixel[i] * out_c + j] for the lanes with
 * pixel[i] >= 0. */
EC_B1_ALWAYS_INLINE void ec_b1_store_tile(int8_t tile[][EC_B1_LANES], int32_t nb, const int32_t *pixel,
                                          int32_t out_c, int8_t *out)
{
    int32_t i, j;
    for (i = 0; i < EC_B1_LANES; ++i) {
        if (pixel[i] >= 0) {
            int8_t *dst = out + (size_t)pixel[i] * (size_t)out_c;
            for (j = 0; j < nb; ++j) {
                dst[j] = tile[j][i];
            }
        }
    }
}
#endif

/* The engine keeps one accumulator per weight row in a named variable (an array of them would live
 * in memory): EC_B1_FOR_ROWS(X) applies X to row indexes 0..15; rows >= `rows` fold away. */
#define EC_B1_FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define EC_B1_DECLARE_ROW(j) ec_b1_vec part##j = ec_b1_zero();
#define EC_B1_ACCUMULATE_ROW(j)                                                                      \
    if ((j) < rows) {                                                                                \
        part##j = ec_b1_part_add(part##j, ec_b1_combine(a, w_tap[(size_t)((j) < nb ? (j) : nb - 1) * w_stride], op)); \
    }
#define EC_B1_FLUSH_ROW(j)                                                                           \
    if ((j) < rows) {                                                                                \
        ec_b1_part_flush(part##j, pop[j]);                                                           \
        part##j = ec_b1_zero();                                                                      \
    }

/* pop[j][i], j < rows, i < EC_B1_LANES: the engine above for the virtual pixels b->v + i, word planes
 * `act` and weight rows w + j * w_stride (their words tap_step apart); rows j >= nb repeat row
 * nb - 1 (their results are not used). rows (<= EC_B1_BLOCK_OC), op and, for the XNOR kernel,
 * w_stride, tap_step and nb are constants at the call site. */
EC_B1_ALWAYS_INLINE void ec_b1_block_popcounts(const uint32_t *act, const ec_b1_planes_t *pl, const ec_window_t *win,
                                               const ec_b1_block_t *b, const uint32_t *w, size_t w_stride,
                                               size_t tap_step, int32_t nb, int rows, int op,
                                               int32_t pop[][EC_B1_LANES])
{
    const ec_b1_lanes_t lanes = ec_b1_lanes(b->n);
    int32_t since_flush = 0, ky, kx, wd, j;
    EC_B1_FOR_ROWS(EC_B1_DECLARE_ROW)
    for (j = 0; j < rows; ++j) {
        memset(pop[j], 0, sizeof pop[j]);
    }
    for (ky = 0; ky < win->k_h; ++ky) {
        const size_t row = (size_t)(ky * win->dil_h) * (size_t)pl->ext_w;
        for (kx = 0; kx < win->k_w; ++kx) {
            const uint32_t *a_tap = act + b->v + row + ec_b1_column_offset(kx * win->dil_w, pl->ext_w, win->stride_w);
            const size_t t = (size_t)(ky * win->k_w + kx) * (size_t)pl->words;
            for (wd = 0; wd < pl->words; ++wd) {
                const ec_b1_vec a = ec_b1_load(a_tap + (size_t)wd * pl->plane, lanes);
                const uint32_t *w_tap = w + (t + (size_t)wd) * tap_step;
                EC_B1_FOR_ROWS(EC_B1_ACCUMULATE_ROW)
                if (EC_B1_PART_LIMIT > 0 && ++since_flush == EC_B1_PART_LIMIT) {
                    EC_B1_FOR_ROWS(EC_B1_FLUSH_ROW)
                    since_flush = 0;
                }
            }
        }
    }
    EC_B1_FOR_ROWS(EC_B1_FLUSH_ROW)
}

#endif /* EC_B1_POPCOUNT_H */

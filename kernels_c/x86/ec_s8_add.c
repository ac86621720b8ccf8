/* ec_s8_add, x86: TFLite int8 ADD (ec_s8.h) with the exact vector requantization (ec_x86_dw.h):
 *   a' = requant((a + a_offset) << left_shift, a_mult, a_shift), b' likewise,
 *   out = clamp(requant(a' + b', out_mult, out_shift) + out_zp, act_min, act_max).
 * |a + a_offset| <= 255 and TFLite's left_shift of 20 keep the shifted value in int32.
 * Two operands of the output's dense shape (no broadcast), with AVX-512 VBMI: a' and b' depend on
 * the 8-bit code only, so each is tabulated for the 256 codes (vectorized, the same formula) as
 * four byte planes in registers; 64 elements then take 2 vpermi2b and a blend per plane and
 * operand, the planes interleaved back into int32 lanes (ec_x86_interleave4).
 * Otherwise EC_X86_LANES channels at a time, every step in int32 lanes (the input rescaling with
 * int32 products, see rescale_lanes_t); an operand broadcast along channels (channel stride 0) is
 * one value repeated.
 * Where the generator found the layer's affine step (affine_shift > 0, ec_s8.h) and both operands
 * are dense, that step runs instead: the two codes of each element side by side as int16 (a, b),
 * two vpmaddwd give a * A_hi + b * B_hi and a * A_lo + b * B_lo, and shifts finish the floor
 * division (ec_s8_add_affine.h; backends/c/add_affine.py checks the step on all 65536 pairs).
 * Bit-exact with portable/ec_s8_add.c (whose per-code tables hold the same a', b'); in-place safe
 * like it. */
#include "ec_s8.h"
#include "ec_s8_add_affine.h"
#include "ec_x86_dw.h"

/* n channels of an operand row, widened: contiguous (stride 1) or one repeated value (stride 0). */
static ec_x86_vec_t operand(const int8_t *row, int32_t stride, int32_t c, int32_t n)
{
    return stride ? ec_x86_load_s8(row + c, n) : ec_x86_set1(row[0]);
}

/* The input rescaling a' = ec_requantize((a + offset) << left_shift, mult, shift) in lanes.
 * With v = a + offset (|v| <= 255), 8 <= left_shift <= 23 and shift <= 0 (TFLite's ADD: 20 and a
 * right shift), the doubling high multiply floor((v * 2^ls * m + 2^30) / 2^31) equals
 * floor((v * m + 2^(k-1)) / 2^k) with k = 31 - ls; splitting m = mh * 2^k + ml (0 <= ml < 2^k)
 * it is v * mh + ((v * ml + 2^(k-1)) >> k), every term in int32 (|v * mh| < 2^(ls+8) <= 2^31,
 * |v * ml| + 2^(k-1) < 2^(k+8) <= 2^31); the rounding right shift follows. Other parameters take
 * the full vector requantization. */
typedef struct {
    ec_x86_rq_t rq;
    int32_t offset, left_shift, mult_high, mult_low, k;
    int split;
} rescale_lanes_t;

static void rescale_lanes_init(rescale_lanes_t *r, int32_t offset, int32_t left_shift, int32_t mult, int32_t shift)
{
    r->rq = ec_x86_rq_set1(mult, shift);
    r->offset = offset;
    r->left_shift = left_shift;
    r->split = left_shift >= 8 && left_shift <= 23 && shift <= 0;
    r->k = 31 - left_shift;
    r->mult_high = r->split ? mult >> r->k : 0;
    r->mult_low = r->split ? mult & ((1 << r->k) - 1) : 0;
}

static ec_x86_vec_t rescale_lanes(ec_x86_vec_t code, const rescale_lanes_t *r)
{
    const ec_x86_vec_t v = ec_x86_add(code, ec_x86_set1(r->offset));
    if (r->split) {
        const ec_x86_vec_t low = ec_x86_add(ec_x86_mullo(v, ec_x86_set1(r->mult_low)), ec_x86_set1(1 << (r->k - 1)));
        const ec_x86_vec_t high = ec_x86_add(ec_x86_mullo(v, ec_x86_set1(r->mult_high)), ec_x86_sra(low, r->k));
        return ec_x86_rounding_shift(high, &r->rq);
    }
    return ec_x86_requantize(ec_x86_shl(v, r->left_shift), &r->rq);
}

/* The halves (a_hi, b_hi) or (a_lo, b_lo) as the int16 pair of every int32 lane: vpmaddwd with
 * the interleaved codes (a, b) gives a * first + b * second. */
static int32_t affine_pair(int32_t first, int32_t second)
{
    return (int32_t)(((uint32_t)(uint16_t)second << 16) | (uint16_t)first);
}

EC_FORCE_INLINE __m256i affine8(__m256i pairs, __m256i high, __m256i low, __m256i c_hi, __m256i c_lo, __m128i rest)
{
    const __m256i floor15 = _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(pairs, high), c_hi),
                                             _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(pairs, low), c_lo), 15));
    return _mm256_sra_epi32(floor15, rest);
}

/* 16 elements (a, b at p, q) as int16, in order. */
EC_FORCE_INLINE __m256i affine_half(const int8_t *p, const int8_t *q, __m256i high, __m256i low, __m256i c_hi,
                                    __m256i c_lo, __m128i rest)
{
    const __m256i va = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
    const __m256i vb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)q));
    return _mm256_packs_epi32(affine8(_mm256_unpacklo_epi16(va, vb), high, low, c_hi, c_lo, rest),
                              affine8(_mm256_unpackhi_epi16(va, vb), high, low, c_hi, c_lo, rest));
}

/* 32 elements a step, in 256-bit registers at every level (a 512-bit version, narrowing with
 * vpmovswb, ran slower on AMD Zen 4): in 128-bit lane k, unpacklo/unpackhi take elements
 * 8k..8k+3 and 8k+4..8k+7, which the int16 pack puts back in order; the byte pack interleaves
 * 64-bit quarters, put back by a permute. The last total % 32 elements one at a time. */
static void add_affine(const int8_t *a, const int8_t *b, int32_t total, const ec_s8_add_params_t *p, int8_t *out)
{
    const __m256i high = _mm256_set1_epi32(affine_pair(p->affine_a_hi, p->affine_b_hi));
    const __m256i low = _mm256_set1_epi32(affine_pair(p->affine_a_lo, p->affine_b_lo));
    const __m256i c_hi = _mm256_set1_epi32(p->affine_c_hi), c_lo = _mm256_set1_epi32(p->affine_c_lo);
    const __m128i rest = _mm_cvtsi32_si128(p->affine_shift - 15);
    const __m256i lo = _mm256_set1_epi8((char)p->act_min), hi = _mm256_set1_epi8((char)p->act_max);
    int32_t i;
    for (i = 0; i + 32 <= total; i += 32) {
        const __m256i h0 = affine_half(a + i, b + i, high, low, c_hi, c_lo, rest);
        const __m256i h1 = affine_half(a + i + 16, b + i + 16, high, low, c_hi, c_lo, rest);
        const __m256i bytes = _mm256_permute4x64_epi64(_mm256_packs_epi16(h0, h1), 0xD8);
        _mm256_storeu_si256((__m256i *)(void *)(out + i), _mm256_min_epi8(_mm256_max_epi8(bytes, lo), hi));
    }
    for (; i < total; ++i) {
        out[i] = ec_add_affine_code(a[i], b[i], p);
    }
}

#if defined(EC_X86_HAVE_AVX512) && defined(__AVX512VBMI__)
#define HAVE_TABLE_ADD 1

/* The rescaled values of the 256 codes: plane[k][q] holds bits 8k .. 8k + 7 of the values of
 * codes -128 + 64q .. -65 + 64q (table index code + 128). */
typedef struct {
    __m512i plane[4][4];
} rescale_table_t;

static void rescale_table(rescale_table_t *t, int32_t offset, int32_t left_shift, int32_t mult, int32_t shift)
{
    const ec_x86_rq16_t rq = ec_x86_rq16_set1(mult, shift);
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    int8_t bytes[4][256];
    int32_t i, k;
    for (i = 0; i < 256; i += 16) {
        const __m512i value = _mm512_add_epi32(_mm512_set1_epi32(i - 128 + offset), lane);
        const __m512i rescaled = ec_x86_requantize16(_mm512_sllv_epi32(value, _mm512_set1_epi32(left_shift)), &rq);
        for (k = 0; k < 4; ++k) {
            _mm_storeu_si128((__m128i *)(void *)(bytes[k] + i), _mm512_cvtepi32_epi8(_mm512_srli_epi32(rescaled, 8 * k)));
        }
    }
    for (k = 0; k < 4; ++k) {
        for (i = 0; i < 4; ++i) {
            t->plane[k][i] = _mm512_loadu_si512((const void *)(bytes[k] + 64 * i));
        }
    }
}

/* The rescaled values of 64 codes, in ec_x86_interleave4 order. vpermi2b indexes 128 entries by
 * the low 7 bits of the code: those of code + 128 for a negative code (entries 0 .. 127), those
 * of code + 128 - 128 for the others (entries 128 .. 255). */
EC_FORCE_INLINE ec_x86_quad_t rescale(const rescale_table_t *t, __m512i code)
{
    const __mmask64 negative = _mm512_movepi8_mask(code);
    __m512i plane[4];
    int k;
    for (k = 0; k < 4; ++k) {
        plane[k] = _mm512_mask_blend_epi8(negative, _mm512_permutex2var_epi8(t->plane[k][2], code, t->plane[k][3]),
                                          _mm512_permutex2var_epi8(t->plane[k][0], code, t->plane[k][1]));
    }
    return ec_x86_interleave4(plane[0], plane[1], plane[2], plane[3]);
}

static void add_dense(const int8_t *a, const int8_t *b, int32_t total, const ec_s8_add_params_t *p, int8_t *out)
{
    const ec_x86_rq16_t rq = ec_x86_rq16_set1(p->out_mult, p->out_shift);
    const __m512i zp = _mm512_set1_epi32(p->out_zp);
    const __m512i lo = ec_x86_set1_s8(p->act_min), hi = ec_x86_set1_s8(p->act_max);
    rescale_table_t ta, tb;
    int32_t i;
    rescale_table(&ta, p->a_offset, p->left_shift, p->a_mult, p->a_shift);
    rescale_table(&tb, p->b_offset, p->left_shift, p->b_mult, p->b_shift);
    for (i = 0; i < total; i += 64) {
        const int32_t n = total - i < 64 ? total - i : 64;
        const ec_x86_quad_t va = rescale(&ta, ec_x86_load_bytes(a + i, n));
        const ec_x86_quad_t vb = rescale(&tb, ec_x86_load_bytes(b + i, n));
        const __m512i r0 = _mm512_add_epi32(ec_x86_requantize16(_mm512_add_epi32(va.v0, vb.v0), &rq), zp);
        const __m512i r1 = _mm512_add_epi32(ec_x86_requantize16(_mm512_add_epi32(va.v1, vb.v1), &rq), zp);
        const __m512i r2 = _mm512_add_epi32(ec_x86_requantize16(_mm512_add_epi32(va.v2, vb.v2), &rq), zp);
        const __m512i r3 = _mm512_add_epi32(ec_x86_requantize16(_mm512_add_epi32(va.v3, vb.v3), &rq), zp);
        const __m512i bytes = ec_x86_pack4_s8(r0, r1, r2, r3);
        ec_x86_store_bytes(out + i, ec_x86_min_s8(ec_x86_max_s8(bytes, lo), hi), n);
    }
}
#endif

static void add_scalar_strides(const int8_t *ar, const int8_t *br, const ec_broadcast_t *bc,
                               const ec_s8_add_params_t *p, int8_t *o)
{
    int32_t c;
    for (c = 0; c < bc->dims[2]; ++c) {
        const int32_t a = ec_requantize((ar[(size_t)c * bc->a_strides[2]] + p->a_offset) * (1 << p->left_shift),
                                        p->a_mult, p->a_shift);
        const int32_t b = ec_requantize((br[(size_t)c * bc->b_strides[2]] + p->b_offset) * (1 << p->left_shift),
                                        p->b_mult, p->b_shift);
        o[c] = (int8_t)ec_clamp_i32(ec_requantize(a + b, p->out_mult, p->out_shift) + p->out_zp, p->act_min,
                                    p->act_max);
    }
}

/* The TFLite formula (above), EC_X86_LANES channels a step. */
static void add_lanes(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc, const ec_s8_add_params_t *p,
                      int8_t *out)
{
    const ec_x86_rq_t rq_out = ec_x86_rq_set1(p->out_mult, p->out_shift);
    rescale_lanes_t rescale_a, rescale_b;
    const int32_t sa = bc->a_strides[2], sb = bc->b_strides[2], channels = bc->dims[2];
    const int vector = (sa == 0 || sa == 1) && (sb == 0 || sb == 1);
    int32_t y, x, c;
    rescale_lanes_init(&rescale_a, p->a_offset, p->left_shift, p->a_mult, p->a_shift);
    rescale_lanes_init(&rescale_b, p->b_offset, p->left_shift, p->b_mult, p->b_shift);
    for (y = 0; y < bc->dims[0]; ++y) {
        for (x = 0; x < bc->dims[1]; ++x) {
            const int8_t *ar = a + (size_t)y * bc->a_strides[0] + (size_t)x * bc->a_strides[1];
            const int8_t *br = b + (size_t)y * bc->b_strides[0] + (size_t)x * bc->b_strides[1];
            int8_t *o = out + ((size_t)y * bc->dims[1] + x) * channels;
            if (!vector) {
                add_scalar_strides(ar, br, bc, p, o);
                continue;
            }
            for (c = 0; c < channels; c += EC_X86_LANES) {
                const int32_t n = channels - c < EC_X86_LANES ? channels - c : EC_X86_LANES;
                const ec_x86_vec_t sum = ec_x86_add(rescale_lanes(operand(ar, sa, c, n), &rescale_a),
                                                    rescale_lanes(operand(br, sb, c, n), &rescale_b));
                const ec_x86_vec_t r = ec_x86_add(ec_x86_requantize(sum, &rq_out), ec_x86_set1(p->out_zp));
                ec_x86_store_s8(o + c, ec_x86_clamp(r, p->act_min, p->act_max), n);
            }
        }
    }
}

void ec_s8_add(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
               const ec_s8_add_params_t *p, int8_t *out)
{
    const int32_t total = bc->dims[0] * bc->dims[1] * bc->dims[2];
    const int dense = ec_add_operands_dense(bc);
    if (dense && p->affine_shift > 0) {
        add_affine(a, b, total, p, out);
        return;
    }
#ifdef HAVE_TABLE_ADD
    if (dense) {
        add_dense(a, b, total, p, out);
        return;
    }
#endif
    add_lanes(a, b, bc, p, out);
}

/* edgeconv C kernels: common types, the one requantization routine, bit helpers.
 *
 * Layout: every activation is channels-last (NHWC with the batch of one sample, i.e. H x W x C;
 * a 1-D signal is 1 x L x C, a feature vector is C). Kernels never allocate, never print and
 * never check shapes at run time: the code generator checks every shape before it emits a call.
 *
 * Requantization (TFLite MultiplyByQuantizedMultiplier, double rounding): a real multiplier
 * m = s_in * s_w / s_out is stored as a Q31 integer `mult` in [2^30, 2^31) and an exponent `shift`
 * with m ~= mult * 2^(shift - 31). For an int32 accumulator x:
 *   1. x << max(shift, 0), wrapping modulo 2^32;
 *   2. saturating rounding doubling high multiply: (x * mult + nudge) / 2^31, nudge = 2^30 for a
 *      non-negative product else 1 - 2^30, the division truncating toward zero; the only overflow,
 *      x = mult = INT32_MIN, saturates to INT32_MAX;
 *   3. rounding right shift by max(-shift, 0), halves rounded away from zero.
 */
#ifndef EC_COMMON_H
#define EC_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* One macro aligns every constant weight array to 16 bytes: GCC/Clang attribute, C11 _Alignas,
 * else nothing (the kernels work on unaligned data too). */
#if defined(__GNUC__) || defined(__clang__)
#define EC_ALIGN16 __attribute__((aligned(16)))
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define EC_ALIGN16 _Alignas(16)
#else
#define EC_ALIGN16
#endif

/* EC_FORCE_INLINE: inlined even where the compiler would not (a SIMD helper whose vector
 * arguments and results must stay in registers); EC_NOINLINE: never inlined. */
#if defined(__GNUC__) || defined(__clang__)
#define EC_INLINE static __inline__
#define EC_FORCE_INLINE static __inline__ __attribute__((always_inline))
#define EC_NOINLINE static __attribute__((noinline))
#else
#define EC_INLINE static
#define EC_FORCE_INLINE static
#define EC_NOINLINE static
#endif

/* Saturating rounding doubling high multiply (gemmlowp). */
EC_INLINE int32_t ec_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    int64_t total;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    total = ab + nudge;
    /* C division truncates toward zero, as the reference does. */
    return (int32_t)(total / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded half away from zero (gemmlowp RoundingDivideByPOT), 0 <= exponent <= 31. */
EC_INLINE int32_t ec_rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((((uint32_t)1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    /* Arithmetic right shift of a negative value: every supported compiler shifts in sign bits. */
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* THE requantization routine: TFLite MultiplyByQuantizedMultiplier(x, mult, shift). */
EC_INLINE int32_t ec_requantize(int32_t x, int32_t mult, int32_t shift)
{
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left);
    return ec_rounding_divide_by_pot(ec_srdhm(shifted, mult), right);
}

EC_INLINE int32_t ec_clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

EC_INLINE float ec_clamp_f32(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Population count of a 32-bit word. */
#if defined(__GNUC__) || defined(__clang__)
#define ec_popcount32(x) ((int32_t)__builtin_popcount((unsigned int)(x)))
#else
EC_INLINE int32_t ec_popcount32(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (int32_t)((x * 0x01010101u) >> 24);
}
#endif

/* Population count of a 64-bit word. */
#if defined(__GNUC__) || defined(__clang__)
#define ec_popcount64(x) ((int32_t)__builtin_popcountll((unsigned long long)(x)))
#else
EC_INLINE int32_t ec_popcount64(uint64_t x)
{
    return ec_popcount32((uint32_t)x) + ec_popcount32((uint32_t)(x >> 32));
}
#endif

/* Geometry of a 2-D convolution or pooling window over an H x W x C input (one sample). */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t dil_h, dil_w;
    int32_t groups;
} ec_window_t;

/* A range [lo, hi) of indices; empty when lo >= hi. */
typedef struct {
    int32_t lo, hi;
} ec_span_t;

/* The taps [lo, hi) of one window axis inside the input: those k < taps with o * stride - pad +
 * k * dil in [0, size) (contiguous, since the positions grow with k); empty when none is. */
EC_INLINE ec_span_t ec_tap_span(int32_t o, int32_t size, int32_t taps, int32_t stride, int32_t pad, int32_t dil)
{
    ec_span_t span;
    int32_t k;
    span.lo = taps;
    span.hi = 0;
    for (k = 0; k < taps; ++k) {
        const int32_t i = o * stride - pad + k * dil;
        if (i >= 0 && i < size) {
            span.lo = k < span.lo ? k : span.lo;
            span.hi = k + 1;
        }
    }
    return span;
}

/* Transposed convolution, gathered: the input row (or column) whose value output row o meets at
 * tap k, (o + pad - k) / stride where that division is exact and the row exists; -1 where none. */
EC_INLINE int32_t ec_transpose_source(int32_t o, int32_t pad, int32_t k, int32_t stride, int32_t in_n)
{
    const int32_t t = o + pad - k;
    return (t < 0 || t % stride != 0 || t / stride >= in_n) ? -1 : t / stride;
}

/* Quantized output side of a layer: zero points and the clamp of the fused activation. */
typedef struct {
    int32_t in_zp;
    int32_t out_zp;
    int32_t act_min, act_max;
} ec_qparams_t;

#endif /* EC_COMMON_H */

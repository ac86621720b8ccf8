/* Four float32 lanes for the NEON float kernels in kernels_c/arm/: a multiply then an add per
 * lane (FMUL, FADD; never a fused FMLA, which rounds once where TFLite's float kernels round
 * twice). On 32-bit ARM, Advanced SIMD arithmetic always flushes subnormal floats to zero (Arm
 * Architecture Reference Manual ARMv7-A/R, A2.7.3 "Advanced SIMD and VFP ... Flush-to-zero"),
 * unlike the scalar VFP code of the portable kernels, so there the lanes are four scalars. */
#ifndef EC_ARM_F32_H
#define EC_ARM_F32_H

#include "ec_common.h"

#if defined(__aarch64__)
#include <arm_neon.h>
typedef float32x4_t ec_f4_t;
EC_INLINE ec_f4_t ec_f4_zero(void) { return vdupq_n_f32(0.0f); }
EC_INLINE ec_f4_t ec_f4_dup(float x) { return vdupq_n_f32(x); }
EC_INLINE ec_f4_t ec_f4_load(const float *p) { return vld1q_f32(p); }
EC_INLINE void ec_f4_store(float *p, ec_f4_t v) { vst1q_f32(p, v); }
/* acc + x * w, the product rounded first. */
EC_INLINE ec_f4_t ec_f4_muladd(ec_f4_t acc, ec_f4_t x, ec_f4_t w) { return vaddq_f32(acc, vmulq_f32(x, w)); }
/* m, each lane replaced by v's where v compares greater (never where either is a NaN). */
EC_INLINE ec_f4_t ec_f4_keep_greater(ec_f4_t m, ec_f4_t v) { return vbslq_f32(vcgtq_f32(v, m), v, m); }
#else
typedef struct {
    float v[4];
} ec_f4_t;
EC_INLINE ec_f4_t ec_f4_zero(void) { ec_f4_t r = {{0.0f, 0.0f, 0.0f, 0.0f}}; return r; }
EC_INLINE ec_f4_t ec_f4_dup(float x) { ec_f4_t r; r.v[0] = x; r.v[1] = x; r.v[2] = x; r.v[3] = x; return r; }
EC_INLINE ec_f4_t ec_f4_load(const float *p) { ec_f4_t r; r.v[0] = p[0]; r.v[1] = p[1]; r.v[2] = p[2]; r.v[3] = p[3]; return r; }
EC_INLINE void ec_f4_store(float *p, ec_f4_t a) { p[0] = a.v[0]; p[1] = a.v[1]; p[2] = a.v[2]; p[3] = a.v[3]; }
EC_INLINE ec_f4_t ec_f4_muladd(ec_f4_t acc, ec_f4_t x, ec_f4_t w)
{
    int i;
    for (i = 0; i < 4; ++i) {
        acc.v[i] += x.v[i] * w.v[i];
    }
    return acc;
}
EC_INLINE ec_f4_t ec_f4_keep_greater(ec_f4_t m, ec_f4_t v)
{
    int i;
    for (i = 0; i < 4; ++i) {
        m.v[i] = v.v[i] > m.v[i] ? v.v[i] : m.v[i];
    }
    return m;
}
#endif

#endif /* EC_ARM_F32_H */

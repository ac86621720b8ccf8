/* ec_s8_quantize, NEON: the portable formula (portable/ec_s8_quantize.c) on 4 floats per vector,
 * bit-exact with it:
 *   q = x / scale          one IEEE float32 division per lane (FDIV), as the scalar one;
 *   r = round(q) + zp      FRINTA rounds to nearest with halves away from zero, as roundf; the zero
 *                          point added in float32 as the portable code adds it;
 *   out = qmax where r >= qmax, (int)r where r >= qmin, qmin otherwise (NaN compares false: qmin).
 * AArch64 only: ARMv7 NEON has neither a vector division nor FRINTA, so there (and for the last
 * n % 4 values) the portable scalar form. */
#include <math.h>

#include "ec_s8.h"

static int8_t quantize_one(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax)
{
    const float r = roundf(x / scale) + (float)zp;
    return (int8_t)(r >= (float)qmax ? qmax : r >= (float)qmin ? (int32_t)r : qmin);
}

#if defined(__aarch64__)
#include <arm_neon.h>

/* Eight values: two vectors of four, narrowed to int8 (every lane lies in [qmin, qmax]). */
static int8x8_t quantize8(const float *in, float32x4_t scale, float32x4_t zp, float32x4_t fmin, float32x4_t fmax,
                          int32x4_t qmin, int32x4_t qmax)
{
    int16x4_t half[2];
    int j;
    for (j = 0; j < 2; ++j) {
        const float32x4_t r = vaddq_f32(vrndaq_f32(vdivq_f32(vld1q_f32(in + 4 * j), scale)), zp);
        const int32x4_t v = vbslq_s32(vcgeq_f32(r, fmin), vcvtq_s32_f32(r), qmin);
        half[j] = vmovn_s32(vbslq_s32(vcgeq_f32(r, fmax), qmax, v));
    }
    return vmovn_s16(vcombine_s16(half[0], half[1]));
}

void ec_s8_quantize(const float *in, int32_t n, float scale, int32_t zp, int32_t qmin,
                    int32_t qmax, int8_t *out)
{
    const float32x4_t vscale = vdupq_n_f32(scale), vzp = vdupq_n_f32((float)zp);
    const float32x4_t fmin = vdupq_n_f32((float)qmin), fmax = vdupq_n_f32((float)qmax);
    const int32x4_t vmin = vdupq_n_s32(qmin), vmax = vdupq_n_s32(qmax);
    int32_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        vst1_s8(out + i, quantize8(in + i, vscale, vzp, fmin, fmax, vmin, vmax));
    }
    for (; i < n; ++i) {
        out[i] = quantize_one(in[i], scale, zp, qmin, qmax);
    }
}
#else
void ec_s8_quantize(const float *in, int32_t n, float scale, int32_t zp, int32_t qmin,
                    int32_t qmax, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = quantize_one(in[i], scale, zp, qmin, qmax);
    }
}
#endif

/* ec_f32_conv2d_1x1, x86: register tiles of 6 positions x EC_F32_NR output channels in two
 * eight-lane AVX2 registers per position (12 accumulators), at every x86 level: on the AMD EPYC
 * build machine, which runs 512-bit operations as two 256-bit halves, this tile measured faster
 * than 8 positions in sixteen-lane AVX-512 registers (bench/bench_latency_model.py --kernels x86).
 * Every lane sums one output in the portable kernel's order with a multiply then an add
 * (VMULPS, VADDPS), never a fused multiply-add: TFLite's float kernels round the product before
 * adding it, and so do the reference executor and the portable and direct kernels (built without
 * contraction), so the lanes give their bits. Bias and clamp from the registers (store16). */
#include <immintrin.h>

#include "ec_f32.h"
#include "ec_x86_f32.h"

enum { MR = 6 };

#define EC_STEP(m)                                                                    \
    do {                                                                              \
        const __m256 xv = _mm256_set1_ps(x[(size_t)(m) * cin + c]);                  \
        lo##m = _mm256_add_ps(lo##m, _mm256_mul_ps(xv, w0));                          \
        hi##m = _mm256_add_ps(hi##m, _mm256_mul_ps(xv, w1));                          \
    } while (0)
/* Where the tile's 16 channels are all real: bias, clamp and store from the registers
 * (ec_x86_f32.h says why MAXPS/MINPS give ec_clamp_f32's values); else through ec_x86_f32_finish. */
typedef struct {
    const float *bias; /* this block's bias or NULL */
    int32_t n;         /* real channels in the block */
    __m256 lo, hi;
    float lo_s, hi_s;
} epilogue_t;

static void store16(const epilogue_t *e, __m256 a, __m256 b, float *o)
{
    if (e->n == EC_F32_NR) {
        if (e->bias) {
            a = _mm256_add_ps(a, _mm256_loadu_ps(e->bias));
            b = _mm256_add_ps(b, _mm256_loadu_ps(e->bias + 8));
        }
        _mm256_storeu_ps(o, _mm256_min_ps(e->hi, _mm256_max_ps(e->lo, a)));
        _mm256_storeu_ps(o + 8, _mm256_min_ps(e->hi, _mm256_max_ps(e->lo, b)));
    } else {
        float sums[EC_F32_NR];
        _mm256_storeu_ps(sums, a);
        _mm256_storeu_ps(sums + 8, b);
        ec_x86_f32_finish(sums, e->bias, e->n, e->lo_s, e->hi_s, o);
    }
}

/* MR positions from x (rows of cin) against one weight block, into o (rows of cout). */
static void tile(const float *x, int32_t cin, const float *wb, const epilogue_t *e, float *o, int32_t cout)
{
    __m256 lo0 = _mm256_setzero_ps(), hi0 = lo0, lo1 = lo0, hi1 = lo0, lo2 = lo0, hi2 = lo0;
    __m256 lo3 = lo0, hi3 = lo0, lo4 = lo0, hi4 = lo0, lo5 = lo0, hi5 = lo0;
    int32_t c;
    for (c = 0; c < cin; ++c) {
        const __m256 w0 = _mm256_loadu_ps(wb + (size_t)c * EC_F32_NR);
        const __m256 w1 = _mm256_loadu_ps(wb + (size_t)c * EC_F32_NR + 8);
        EC_STEP(0); EC_STEP(1); EC_STEP(2); EC_STEP(3); EC_STEP(4); EC_STEP(5);
    }
    store16(e, lo0, hi0, o);
    store16(e, lo1, hi1, o + cout);
    store16(e, lo2, hi2, o + 2 * (size_t)cout);
    store16(e, lo3, hi3, o + 3 * (size_t)cout);
    store16(e, lo4, hi4, o + 4 * (size_t)cout);
    store16(e, lo5, hi5, o + 5 * (size_t)cout);
}

static void single(const float *x, int32_t cin, const float *wb, const epilogue_t *e, float *o)
{
    __m256 lo0 = _mm256_setzero_ps(), hi0 = lo0;
    int32_t c;
    for (c = 0; c < cin; ++c) {
        const __m256 xv = _mm256_set1_ps(x[c]);
        lo0 = _mm256_add_ps(lo0, _mm256_mul_ps(xv, _mm256_loadu_ps(wb + (size_t)c * EC_F32_NR)));
        hi0 = _mm256_add_ps(hi0, _mm256_mul_ps(xv, _mm256_loadu_ps(wb + (size_t)c * EC_F32_NR + 8)));
    }
    store16(e, lo0, hi0, o);
}

void ec_f32_conv2d_1x1(const float *in, const float *w, const float *bias, const ec_window_t *win,
                       float lo, float hi, float *out)
{
    const int32_t positions = win->out_h * win->out_w;
    const int32_t cin = win->in_c, cout = win->out_c;
    epilogue_t e;
    int32_t p, oc0;
    e.lo = _mm256_set1_ps(lo);
    e.hi = _mm256_set1_ps(hi);
    e.lo_s = lo;
    e.hi_s = hi;
    for (oc0 = 0; oc0 < cout; oc0 += EC_F32_NR) {
        const float *wb = w + (size_t)(oc0 / EC_F32_NR) * cin * EC_F32_NR;
        e.bias = bias ? bias + oc0 : NULL;
        e.n = cout - oc0 < EC_F32_NR ? cout - oc0 : EC_F32_NR;
        for (p = 0; p + MR <= positions; p += MR) {
            tile(in + (size_t)p * cin, cin, wb, &e, out + (size_t)p * cout + oc0, cout);
        }
        for (; p < positions; ++p) {
            single(in + (size_t)p * cin, cin, wb, &e, out + (size_t)p * cout + oc0);
        }
    }
}

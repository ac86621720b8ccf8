/* ec_f32_conv2d_1x1, NEON (AArch64; four scalar lanes on 32-bit ARM, ec_arm_f32.h):
 * register tiles of 4 positions x EC_F32_NR output channels (four
 * four-lane registers per position). Every lane sums one output in the portable kernel's order
 * with a multiply then an add (FMUL, FADD), never a fused FMLA: TFLite's float kernels round the
 * product before adding it, and so do the reference executor and the portable and direct kernels
 * (built without contraction), so the lanes give their bits. Bias and clamp per output, scalar. */
#include "ec_arm_f32.h"

#include "ec_f32.h"

enum { MR = 4 };

static void finish(const float *acc, const float *bias, int32_t n, float lo, float hi, float *o)
{
    int32_t j;
    for (j = 0; j < n; ++j) {
        o[j] = ec_clamp_f32(bias ? acc[j] + bias[j] : acc[j], lo, hi);
    }
}

#define EC_STEP(m)                                                  \
    do {                                                            \
        const ec_f4_t xv = ec_f4_dup(x[(size_t)(m) * cin + c]); \
        a##m##0 = ec_f4_muladd(a##m##0, xv, w0);            \
        a##m##1 = ec_f4_muladd(a##m##1, xv, w1);            \
        a##m##2 = ec_f4_muladd(a##m##2, xv, w2);            \
        a##m##3 = ec_f4_muladd(a##m##3, xv, w3);            \
    } while (0)
#define EC_STORE(m)                                                                    \
    do {                                                                               \
        ec_f4_store(sums[m], a##m##0); ec_f4_store(sums[m] + 4, a##m##1);                  \
        ec_f4_store(sums[m] + 8, a##m##2); ec_f4_store(sums[m] + 12, a##m##3);             \
    } while (0)

static void tile(const float *x, int32_t cin, const float *wb, float sums[MR][EC_F32_NR])
{
    ec_f4_t a00 = ec_f4_zero(), a01 = a00, a02 = a00, a03 = a00;
    ec_f4_t a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    ec_f4_t a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    ec_f4_t a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    int32_t c;
    for (c = 0; c < cin; ++c) {
        const float *wr = wb + (size_t)c * EC_F32_NR;
        const ec_f4_t w0 = ec_f4_load(wr), w1 = ec_f4_load(wr + 4), w2 = ec_f4_load(wr + 8), w3 = ec_f4_load(wr + 12);
        EC_STEP(0); EC_STEP(1); EC_STEP(2); EC_STEP(3);
    }
    EC_STORE(0); EC_STORE(1); EC_STORE(2); EC_STORE(3);
}

static void single(const float *x, int32_t cin, const float *wb, float sums[EC_F32_NR])
{
    ec_f4_t a0 = ec_f4_zero(), a1 = a0, a2 = a0, a3 = a0;
    int32_t c;
    for (c = 0; c < cin; ++c) {
        const float *wr = wb + (size_t)c * EC_F32_NR;
        const ec_f4_t xv = ec_f4_dup(x[c]);
        a0 = ec_f4_muladd(a0, xv, ec_f4_load(wr));
        a1 = ec_f4_muladd(a1, xv, ec_f4_load(wr + 4));
        a2 = ec_f4_muladd(a2, xv, ec_f4_load(wr + 8));
        a3 = ec_f4_muladd(a3, xv, ec_f4_load(wr + 12));
    }
    ec_f4_store(sums, a0);
    ec_f4_store(sums + 4, a1);
    ec_f4_store(sums + 8, a2);
    ec_f4_store(sums + 12, a3);
}

void ec_f32_conv2d_1x1(const float *in, const float *w, const float *bias, const ec_window_t *win,
                       float lo, float hi, float *out)
{
    const int32_t positions = win->out_h * win->out_w;
    const int32_t cin = win->in_c, cout = win->out_c;
    float sums[MR][EC_F32_NR];
    int32_t p, oc0, m;
    for (oc0 = 0; oc0 < cout; oc0 += EC_F32_NR) {
        const float *wb = w + (size_t)(oc0 / EC_F32_NR) * cin * EC_F32_NR;
        const float *b = bias ? bias + oc0 : NULL;
        const int32_t n = cout - oc0 < EC_F32_NR ? cout - oc0 : EC_F32_NR;
        for (p = 0; p + MR <= positions; p += MR) {
            tile(in + (size_t)p * cin, cin, wb, sums);
            for (m = 0; m < MR; ++m) {
                finish(sums[m], b, n, lo, hi, out + (size_t)(p + m) * cout + oc0);
            }
        }
        for (; p < positions; ++p) {
            single(in + (size_t)p * cin, cin, wb, sums[0]);
            finish(sums[0], b, n, lo, hi, out + (size_t)p * cout + oc0);
        }
    }
}

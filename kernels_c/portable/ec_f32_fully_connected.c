/* ec_f32_fully_connected: float32 y = W x + b, clamped to [lo, hi]; acc = 0, acc += x[i] * w[i]
 * in i order, then acc + b (TFLite's order, one rounding per operation). Eight outputs are summed
 * side by side, each in that order: eight independent chains of additions instead of one, whose
 * every add waits for the previous one (the same bits, several times the speed). */
#include "ec_f32.h"

enum { ROWS = 8 };

void ec_f32_fully_connected(const float *in, const float *w, const float *bias, int32_t in_n,
                            int32_t out_n, float lo, float hi, float *out)
{
    int32_t o = 0, i, j;
    for (; o + ROWS <= out_n; o += ROWS) {
        const float *wo = w + (size_t)o * in_n;
        float acc[ROWS] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        for (i = 0; i < in_n; ++i) {
            const float x = in[i];
            for (j = 0; j < ROWS; ++j) {
                acc[j] += x * wo[(size_t)j * in_n + i];
            }
        }
        for (j = 0; j < ROWS; ++j) {
            out[o + j] = ec_clamp_f32(bias ? acc[j] + bias[o + j] : acc[j], lo, hi);
        }
    }
    for (; o < out_n; ++o) {
        const float *wo = w + (size_t)o * in_n;
        float acc = 0.0f;
        for (i = 0; i < in_n; ++i) {
            acc += in[i] * wo[i];
        }
        out[o] = ec_clamp_f32(bias ? acc + bias[o] : acc, lo, hi);
    }
}

/* ec_s8_fully_connected, AVX2: the portable formula (ec_s8.h), four outputs per pass over the
 * input (ec_avx2_dot4_s8), eight-lane requantization; bit-exact with the portable kernel. */
#include "ec_s8.h"
#include "ec_x86_avx2.h"

enum { EC_OUT_CHUNK = 256 };

void ec_s8_fully_connected(const int8_t *in, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, int32_t in_n, int32_t out_n,
                           const ec_qparams_t *q, int8_t *out)
{
    int32_t acc[EC_OUT_CHUNK];
    int32_t o, c0, c1;
    for (c0 = 0; c0 < out_n; c0 += EC_OUT_CHUNK) {
        c1 = out_n - c0 < EC_OUT_CHUNK ? out_n : c0 + EC_OUT_CHUNK;
        for (o = c0; o < c1; ++o) {
            acc[o - c0] = bias ? bias[o] : 0;
        }
        for (o = c0; o + 4 <= c1; o += 4) {
            ec_avx2_dot4_s8(in, w + (size_t)o * in_n, (size_t)in_n, in_n, q->in_zp, acc + (o - c0));
        }
        for (; o < c1; ++o) {
            acc[o - c0] += ec_avx2_dot_s8(in, w + (size_t)o * in_n, in_n, q->in_zp);
        }
        ec_avx2_requantize_row(acc, mult + c0, shift + c0, c1 - c0, q, out + c0);
    }
}

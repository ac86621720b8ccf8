/* ec_s8_fully_connected, x86: AVX-512 VNNI or AVX2 register tiles (ec_x86_gemm.h).
 * int8 fully connected layer: the input vector times the packed in_n x out_n weights
 * (ec_s8_packed.h); formula in ec_s8.h (per-channel multipliers; a per-tensor layer repeats its one
 * multiplier). */
#include "ec_x86_gemm.h"

void ec_s8_fully_connected(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                           const int32_t *mult, const int32_t *shift, int32_t in_n, int32_t out_n,
                           const ec_qparams_t *q, int8_t *out)
{
    ec_gemm_t g;
    ec_gemm_init(&g, w, bias, wsum, mult, shift, q, in_n, out_n);
    ec_gemm_rows(&g, in, (size_t)in_n, 1, ec_x86_gemm_tile, EC_X86_GEMM_TILE, out);
}

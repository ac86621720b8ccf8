/* ec_s8_conv2d_1x1, x86: AMX tiles, AVX-512 VNNI or AVX2 register tiles (ec_x86_gemm.h).
 * Pointwise int8 convolution (1x1, stride 1, no padding, groups 1): the (H*W) x C_in input times
 * the packed C_in x C_out weights (ec_s8_packed.h); formula in ec_s8.h. */
#include "ec_x86_gemm.h"

void ec_s8_conv2d_1x1(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                      const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                      const ec_qparams_t *q, int8_t *out)
{
    ec_gemm_t g;
    ec_x86_stages_t stages;
    ec_gemm_init(&g, w, bias, wsum, mult, shift, q, win->in_c, win->out_c);
    ec_x86_gemm_prepare(&g, &stages);
    ec_gemm_rows(&g, in, (size_t)win->in_c, win->out_h * win->out_w, ec_x86_gemm_tile, EC_X86_GEMM_TILE, out);
}

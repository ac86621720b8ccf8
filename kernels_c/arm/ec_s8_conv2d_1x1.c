/* ec_s8_conv2d_1x1, NEON register tiles (ec_arm_gemm.h).
 * Pointwise int8 convolution (1x1, stride 1, no padding, groups 1): the (H*W) x C_in input times
 * the packed C_in x C_out weights (ec_s8_packed.h); formula in ec_s8.h. */
#include "ec_arm_gemm.h"

void ec_s8_conv2d_1x1(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                      const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                      const ec_qparams_t *q, int8_t *out)
{
    ec_gemm_t g;
    ec_arm_modes_t modes;
    ec_gemm_init(&g, w, bias, wsum, mult, shift, q, win->in_c, win->out_c);
    ec_arm_gemm_prepare(&g, &modes);
    ec_gemm_rows(&g, in, (size_t)win->in_c, win->out_h * win->out_w, ec_arm_gemm_tile, EC_ARM_GEMM_TILE, out);
}

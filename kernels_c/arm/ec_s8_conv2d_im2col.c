/* ec_s8_conv2d_im2col, NEON register tiles (ec_arm_gemm.h).
 * int8 convolution (groups 1) as a GEMM of the windows' K = k_h * k_w * C_in bytes by the packed
 * weights (ec_s8_packed.h), the windows read in place (by kernel rows where they are contiguous)
 * or unfolded row by row (ec_im2col.h). */
#include "ec_im2col.h"
#include "ec_arm_gemm.h"

void ec_s8_conv2d_im2col(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                         const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                         const ec_qparams_t *q, int8_t *scratch, int8_t *out)
{
    ec_gemm_t g;
    ec_arm_modes_t modes;
    ec_im2col_gemm_init(&g, w, bias, wsum, mult, shift, win, q);
    ec_arm_gemm_prepare(&g, &modes);
    ec_im2col_gemm(&g, in, win, EC_IM2COL_KERNEL_ROWS, scratch, ec_arm_gemm_tile, EC_ARM_GEMM_TILE, out);
}

/* ec_s8_conv2d_im2col, portable: one pixel and one channel at a time (ec_gemm_tile_portable).
 * int8 convolution (groups 1) as a GEMM of the windows' K = k_h * k_w * C_in bytes by the packed
 * weights (ec_s8_packed.h), the windows read in place or unfolded row by row (ec_im2col.h). */
#include "ec_im2col.h"
#include "ec_s8_packed.h"

void ec_s8_conv2d_im2col(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                         const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                         const ec_qparams_t *q, int8_t *scratch, int8_t *out)
{
    ec_im2col_conv(in, w, bias, wsum, mult, shift, win, q, scratch, ec_gemm_tile_portable, 1, out);
}

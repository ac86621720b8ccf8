/* ec_s8_conv2d_im2col, x86: AMX tiles, AVX-512 VNNI or AVX2 register tiles (ec_x86_gemm.h).
 * int8 convolution (groups 1) as a GEMM of the windows' K = k_h * k_w * C_in bytes by the packed
 * weights (ec_s8_packed.h), the windows read in place (by kernel rows where they are contiguous;
 * small maps as tap lists where the tiles run several pixels' lists) or unfolded row by row
 * (ec_im2col.h). */
#define EC_X86_GEMM_IM2COL /* ec_x86_gemm.h: the tiles for tap lists and one-group taps too */
#include "ec_im2col.h"
#include "ec_x86_gemm.h"

/* The VNNI tiles run tap lists of several pixels in register tiles (small maps go as lists); the
 * AVX2 ones run a list pixel by pixel. */
#if defined(EC_VNNI_ROWS)
#define EC_X86_IM2COL_FLAGS (EC_IM2COL_KERNEL_ROWS | EC_IM2COL_SMALL_MAP_LISTS)
#else
#define EC_X86_IM2COL_FLAGS EC_IM2COL_KERNEL_ROWS
#endif

void ec_s8_conv2d_im2col(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                         const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                         const ec_qparams_t *q, int8_t *scratch, int8_t *out)
{
    ec_gemm_t g;
    ec_x86_stages_t stages;
    ec_im2col_gemm_init(&g, w, bias, wsum, mult, shift, win, q);
    ec_x86_gemm_prepare(&g, &stages);
#if defined(EC_X86_AMX)
    if (ec_amx_serves(&g, win->out_h * win->out_w)) {
        int32_t tap_bytes, row_bytes;
        ec_im2col_tap_layout(win, &tap_bytes, &row_bytes);
        ec_amx_conv(&g, in, win, tap_bytes, row_bytes, out);
        return;
    }
#endif
    ec_im2col_gemm(&g, in, win, EC_X86_IM2COL_FLAGS, scratch, ec_x86_gemm_tile, EC_X86_GEMM_TILE, out);
}

/* ec_im2col.h: how every instruction set's ec_s8_conv2d_im2col feeds its GEMM (ec_s8_packed.h).
 *
 * Pixel p = (oy, ox) of the output reads the K = k_h * k_w * C_in input bytes of its window in
 * OHWI order, taps in the padding holding in_zp (they contribute (in_zp - in_zp) * w = 0).
 *
 * Indirect (EC_IM2COL_INDIRECT(win): at most EC_IM2COL_MAX_CIN channels and EC_IM2COL_MAX_TAPS
 * taps): nothing is copied. Each tap is one segment of C_in bytes read in place from the NHWC
 * input, or from a row of C_in in_zp bytes for a tap in the padding; tiles of pixels run across
 * output rows. No scratch. The packed K then runs over taps of EC_PACK_K4(C_in) bytes, each tap's
 * C_in weights followed by zeros (K4 = k_h * k_w * EC_PACK_K4(C_in)), and tiles read every tap as
 * whole 4-byte groups: up to 3 bytes past a tap, in the next input pixel (zero weights), except
 * past the input's last pixel, which is read from a zero-padded copy instead.
 *
 * Unfolded (more taps or channels, e.g. a 10x4 first layer): one output row at a time is
 * copied into `scratch` (out_w patches of K4 = EC_PACK_K4(K) bytes, padding and tail holding
 * in_zp), then each patch is one segment. Scratch: out_w * K4 + EC_IM2COL_SLACK bytes
 * (EC_IM2COL_SCRATCH in ec_s8.h).
 *
 * The code generator mirrors EC_IM2COL_INDIRECT to plan the scratch. Included only by the im2col
 * kernel files. */
#ifndef EC_IM2COL_H
#define EC_IM2COL_H

#include <string.h>

#include "ec_s8_packed.h"

#define EC_IM2COL_MAX_CIN 256
#define EC_IM2COL_MAX_TAPS 9
#define EC_IM2COL_INDIRECT(win) ((win)->in_c <= EC_IM2COL_MAX_CIN && (win)->k_h * (win)->k_w <= EC_IM2COL_MAX_TAPS)

/* The input pixel a tap of output pixel (oy, ox) reads, or NULL in the padding. */
EC_INLINE const int8_t *ec_im2col_tap(const int8_t *in, const ec_window_t *win, int32_t oy, int32_t ox,
                                      int32_t ky, int32_t kx)
{
    const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
    const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
    if (iy < 0 || iy >= win->in_h || ix < 0 || ix >= win->in_w) {
        return NULL;
    }
    return in + ((size_t)iy * (size_t)win->in_w + (size_t)ix) * (size_t)win->in_c;
}

/* The first input pixel of the window of output pixel (oy, ox) when the whole window lies inside
 * the input and, for C_in not a multiple of 4, does not reach the input's last pixel (whose group
 * tail lies past the input), else NULL. */
EC_INLINE const int8_t *ec_im2col_inside(const int8_t *in, const ec_window_t *win, int32_t oy, int32_t ox)
{
    const int32_t iy0 = oy * win->stride_h - win->pad_top, ix0 = ox * win->stride_w - win->pad_left;
    const int32_t iy1 = iy0 + (win->k_h - 1) * win->dil_h, ix1 = ix0 + (win->k_w - 1) * win->dil_w;
    if (iy0 < 0 || ix0 < 0 || iy1 >= win->in_h || ix1 >= win->in_w
        || (win->in_c % 4 != 0 && iy1 == win->in_h - 1 && ix1 == win->in_w - 1)) {
        return NULL;
    }
    return in + ((size_t)iy0 * (size_t)win->in_w + (size_t)ix0) * (size_t)win->in_c;
}

/* The taps of output pixel (oy, ox) when ec_im2col_inside refused it: taps[t] is the input pixel
 * of tap t, zp_row for a tap in the padding, last_copy (the input's last pixel followed by zeros)
 * for that pixel. */
EC_INLINE void ec_im2col_list_taps(const int8_t *in, const ec_window_t *win, int32_t oy, int32_t ox,
                                   const int8_t *zp_row, const int8_t *last_copy, const int8_t **taps)
{
    const int8_t *last = in + ((size_t)win->in_h * (size_t)win->in_w - 1) * (size_t)win->in_c;
    int32_t ky, kx;
    for (ky = 0; ky < win->k_h; ++ky) {
        for (kx = 0; kx < win->k_w; ++kx) {
            const int8_t *tap = ec_im2col_tap(in, win, oy, ox, ky, kx);
            *taps++ = tap == NULL ? zp_row : (tap == last ? last_copy : tap);
        }
    }
}

/* The indirect GEMM: `g` has nseg = k_h * k_w segments of seg_len = C_in bytes. Pixel i of a
 * tile reads tap t at first[i] + tap_offset[t] when its window lies inside the input, else at
 * taps[i * nseg + t]. */
EC_INLINE void ec_im2col_indirect(const ec_gemm_t *g, const int8_t *in, const ec_window_t *win,
                                  ec_gemm_tile_fn tile, int32_t tile_rows, int8_t *out)
{
    int8_t zp_row[EC_IM2COL_MAX_CIN + 3], last_copy[EC_IM2COL_MAX_CIN + 3];
    size_t tap_offset[EC_IM2COL_MAX_TAPS];
    const int8_t *first[EC_GEMM_TILE_MAX];
    const int8_t *taps[EC_GEMM_TILE_MAX * EC_IM2COL_MAX_TAPS];
    const int32_t pixels = win->out_h * win->out_w;
    ec_gemm_src_t src;
    int32_t p, i, ky, kx, oy = 0, ox = 0;
    memset(zp_row, g->q->in_zp, sizeof(zp_row));
    memset(last_copy, 0, sizeof(last_copy));
    memcpy(last_copy, in + ((size_t)win->in_h * (size_t)win->in_w - 1) * (size_t)win->in_c, (size_t)win->in_c);
    for (ky = 0; ky < win->k_h; ++ky) {
        for (kx = 0; kx < win->k_w; ++kx) {
            tap_offset[ky * win->k_w + kx] = ((size_t)ky * (size_t)win->dil_h * (size_t)win->in_w
                                              + (size_t)kx * (size_t)win->dil_w) * (size_t)win->in_c;
        }
    }
    src.first = first;
    src.seg_offset = tap_offset;
    src.taps = taps;
    for (p = 0; p < pixels; p += tile_rows) {
        const int32_t m = pixels - p < tile_rows ? pixels - p : tile_rows;
        for (i = 0; i < m; ++i) {
            first[i] = ec_im2col_inside(in, win, oy, ox);
            if (!first[i]) {
                ec_im2col_list_taps(in, win, oy, ox, zp_row, last_copy, taps + i * g->nseg);
            }
            if (++ox == win->out_w) {
                ox = 0;
                ++oy;
            }
        }
        tile(g, &src, m, out + (size_t)p * (size_t)g->out_c, (size_t)g->out_c);
    }
}

/* Copies n bytes from src to dst as 4-byte groups, reading exactly n bytes but writing
 * EC_PACK_K4(n): up to 3 bytes past the run, which the next run or the patch tail overwrites (the
 * scratch has EC_IM2COL_SLACK bytes after the last patch). No library call for the short runs. */
EC_INLINE void ec_im2col_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    int32_t v;
    for (; i + 4 <= n; i += 4) {
        v = ec_load_group(src + i);
        memcpy(dst + i, &v, 4);
    }
    if (i < n) {
        v = ec_load_tail_group(src + i, n - i);
        memcpy(dst + i, &v, 4);
    }
}

/* n bytes (and up to 3 past them, as above) of the 4-byte pattern `fill4` at dst. */
EC_INLINE void ec_im2col_fill(int8_t *dst, int32_t fill4, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i += 4) {
        memcpy(dst + i, &fill4, 4);
    }
}

/* Row `oy` unfolded into `cols`: out_w patches of k4 bytes (K4 >= K), in_zp in padding and tail.
 * A kernel row inside the input without dilation is one contiguous run of k_w * C_in bytes. */
EC_INLINE void ec_im2col_unfold_row(const int8_t *in, const ec_window_t *win, int32_t oy, int32_t k4,
                                    int8_t fill, int8_t *cols)
{
    const int32_t row_len = win->k_w * win->in_c;
    const int8_t fill_bytes[4] = {fill, fill, fill, fill};
    const int32_t fill4 = ec_load_group(fill_bytes);
    int32_t ox, ky, kx;
    for (ox = 0; ox < win->out_w; ++ox) {
        int8_t *dst = cols + (size_t)ox * (size_t)k4;
        const int32_t ix0 = ox * win->stride_w - win->pad_left;
        const int whole_rows = win->dil_w == 1 && ix0 >= 0 && ix0 + win->k_w <= win->in_w;
        for (ky = 0; ky < win->k_h; ++ky) {
            const int8_t *first = ec_im2col_tap(in, win, oy, ox, ky, 0);
            if (whole_rows && first) {
                ec_im2col_copy(dst, first, row_len);
                dst += row_len;
                continue;
            }
            for (kx = 0; kx < win->k_w; ++kx) {
                const int8_t *tap = ec_im2col_tap(in, win, oy, ox, ky, kx);
                if (tap) {
                    ec_im2col_copy(dst, tap, win->in_c);
                } else {
                    ec_im2col_fill(dst, fill4, win->in_c);
                }
                dst += win->in_c;
            }
        }
        ec_im2col_fill(dst, fill4, k4 - win->k_h * row_len);
    }
}

/* The unfolded GEMM: `g` has one segment of seg_len = K4 bytes; tiles stay within a row. */
EC_INLINE void ec_im2col_unfolded(const ec_gemm_t *g, const int8_t *in, const ec_window_t *win, int8_t *scratch,
                                  ec_gemm_tile_fn tile, int32_t tile_rows, int8_t *out)
{
    int32_t oy;
    for (oy = 0; oy < win->out_h; ++oy) {
        ec_im2col_unfold_row(in, win, oy, g->k4, (int8_t)g->q->in_zp, scratch);
        ec_gemm_rows(g, scratch, (size_t)g->k4, win->out_w, tile, tile_rows,
                     out + (size_t)oy * (size_t)win->out_w * (size_t)g->out_c);
    }
}

/* The whole convolution, choosing indirect or unfolded as the generator did. */
EC_INLINE void ec_im2col_conv(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                              const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                              const ec_qparams_t *q, int8_t *scratch, ec_gemm_tile_fn tile, int32_t tile_rows,
                              int8_t *out)
{
    ec_gemm_t g;
    ec_gemm_init(&g, w, bias, wsum, mult, shift, q, win->k_h * win->k_w * win->in_c, win->out_c);
    if (EC_IM2COL_INDIRECT(win)) {
        g.nseg = win->k_h * win->k_w;
        g.seg_len = win->in_c;
        g.k4 = g.nseg * EC_PACK_K4(win->in_c);
        g.whole_groups = 1;
        ec_im2col_indirect(&g, in, win, tile, tile_rows, out);
    } else {
        g.nseg = 1;
        g.seg_len = g.k4;
        ec_im2col_unfolded(&g, in, win, scratch, tile, tile_rows, out);
    }
}

#endif /* EC_IM2COL_H */

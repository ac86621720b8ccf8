/* ec_im2col.h: how every instruction set's ec_s8_conv2d_im2col feeds its GEMM (ec_s8_packed.h).
 *
 * Pixel p = (oy, ox) of the output reads the K = k_h * k_w * C_in input bytes of its window in
 * OHWI order, taps in the padding holding in_zp (they contribute (in_zp - in_zp) * w = 0).
 *
 * Indirect (EC_IM2COL_INDIRECT(win): at most EC_IM2COL_MAX_CIN channels and EC_IM2COL_MAX_TAPS
 * taps): nothing is copied. Each tap is one segment of C_in bytes read in place from the NHWC
 * input, or from a row of C_in in_zp bytes for a tap in the padding. Tiles run along an output
 * row or down an output column, so that each tap of the tile lies inside the input for all its
 * pixels, read at a fixed step from pixel to pixel, or in the padding for all of them (row tiles,
 * ec_s8_packed.h). No scratch. The packed K then runs over taps of EC_PACK_K4(C_in) bytes, each tap's
 * C_in weights followed by zeros (K4 = k_h * k_w * EC_PACK_K4(C_in)), and tiles read every tap as
 * whole 4-byte groups: up to 3 bytes past a tap, in the next input pixel (zero weights), except
 * where that would pass the input's end (its last pixel; its last 3 where C_in is 1): those taps
 * read a copy of the input's last bytes followed by zeros.
 * Kernel-row segments (EC_IM2COL_KERNEL_ROWS, the x86 and NEON kernels): where C_in is a
 * multiple of 4 and the kernel is not dilated horizontally, the k_w taps of a kernel row are
 * k_w * C_in contiguous bytes in the input and in the packed weights alike (no tap has padding
 * bytes), so the row tiles whose windows lie inside the input horizontally read each kernel row
 * as one segment (k_h segments instead of k_h * k_w: fewer segment set-ups per tile, longer runs
 * of groups); the other tiles keep one segment per tap. The weights are the same.
 * Narrow kernel rows (ec_im2col_narrow_rows: a first layer of 1 to EC_IM2COL_NARROW_CIN channels,
 * not dilated horizontally, whose kernel rows take fewer groups whole than tap by tap: 1 or 2
 * channels and k_w >= 2, 3 channels and k_w >= 4): a tap of one channel fills a group of four with
 * one useful byte, a grayscale 3x3 stem 9 groups a pixel. There every segment is a kernel row of
 * k_w * C_in bytes, each followed by zero weights to its group's end in the packed K (K4 =
 * k_h * EC_PACK_K4(k_w * C_in)): a 3x3 kernel row of one channel is one group, 3 a pixel. The row
 * tiles whose windows lie inside the input horizontally read the kernel rows in place; every other
 * pixel (a window crossing the left or right edge, the input's last pixel under a whole-group
 * read, small maps) runs in tiles of lists of kernel rows, those not wholly inside the input
 * copied with in_zp in the taps outside (ec_im2col_narrow_list).
 * Small maps (EC_IM2COL_SMALL_MAP_LISTS, for tile functions that run tap lists of several pixels:
 * the AVX-512 VNNI one): an output of at most EC_IM2COL_LIST_PIXELS pixels runs as tap lists, every
 * pixel in raster order, in as few tiles as the tile size allows; a 4x4 map would otherwise make
 * 10 tiles of one or two pixels (4 rows, 2 columns, 4 corners), each loading all the weights.
 *
 * Unfolded (more taps or channels, e.g. a 10x4 first layer): a block of output rows at a time
 * (one row, or more where the weights exceed EC_IM2COL_SHARED_WEIGHT_BYTES: ec_im2col_unfold_rows
 * in ec_s8.h) is copied into `scratch` (out_w patches of K4 = EC_PACK_K4(K) bytes per row, padding
 * and tail holding in_zp), then each patch is one segment. Scratch: rows * out_w * K4 +
 * EC_IM2COL_SLACK bytes (EC_IM2COL_SCRATCH in ec_s8.h).
 *
 * The code generator mirrors EC_IM2COL_INDIRECT and ec_im2col_unfold_rows to plan the scratch and
 * ec_im2col_narrow_rows to pack the weights (edgeconv/kernels/packing.py). Included only by the im2col
 * kernel files. */
#ifndef EC_IM2COL_H
#define EC_IM2COL_H

#include <string.h>

#include "ec_s8_packed.h"

#define EC_IM2COL_MAX_CIN 256
#define EC_IM2COL_MAX_TAPS 9
#define EC_IM2COL_INDIRECT(win) ((win)->in_c <= EC_IM2COL_MAX_CIN && (win)->k_h * (win)->k_w <= EC_IM2COL_MAX_TAPS)
/* the padding row: the longest segment (a kernel row) and the 3 bytes a whole group may read past it */
#define EC_IM2COL_PAD_ROW (EC_IM2COL_MAX_TAPS * EC_IM2COL_MAX_CIN + 3)

/* Narrow kernel rows (above): the most channels; the bytes a pixel's copied kernel rows take
 * (k_h rows of EC_PACK_K4(k_w * C_in) bytes, k_h * k_w <= 9: at most 28, a 1x9 kernel of 3 channels);
 * the pixels whose lists a tile gathers. */
#define EC_IM2COL_NARROW_CIN 3
#define EC_IM2COL_NARROW_PIXEL_BYTES 28
#define EC_IM2COL_NARROW_LIST_PIXELS 16

/* What ec_im2col_gemm may do beyond one segment per tap (above). */
#define EC_IM2COL_KERNEL_ROWS 1
#define EC_IM2COL_SMALL_MAP_LISTS 2
#define EC_IM2COL_LIST_PIXELS 16

/* Whether an indirect GEMM may read kernel rows as segments (above). */
EC_INLINE int ec_im2col_rows_contiguous(const ec_window_t *win)
{
    return win->in_c % 4 == 0 && win->dil_w == 1 && win->k_w > 1;
}

/* Whether the layer's segments are narrow kernel rows (above); the generator packs the weights
 * so (packing.im2col_narrow_rows). */
EC_INLINE int ec_im2col_narrow_rows(const ec_window_t *win)
{
    return EC_IM2COL_INDIRECT(win) && win->in_c <= EC_IM2COL_NARROW_CIN && win->dil_w == 1 && win->k_w > 1
           && EC_PACK_K4(win->k_w * win->in_c) < win->k_w * EC_PACK_K4(win->in_c);
}

/* Where the packed K holds tap (ky, kx)'s C_in weights: at ky * row_bytes + kx * tap_bytes (narrow
 * kernel rows; taps read in place, each a whole group; or the window unfolded, K rounded once). */
EC_INLINE void ec_im2col_tap_layout(const ec_window_t *win, int32_t *tap_bytes, int32_t *row_bytes)
{
    if (ec_im2col_narrow_rows(win)) {
        *tap_bytes = win->in_c;
        *row_bytes = EC_PACK_K4(win->k_w * win->in_c);
    } else {
        *tap_bytes = EC_IM2COL_INDIRECT(win) ? EC_PACK_K4(win->in_c) : win->in_c;
        *row_bytes = win->k_w * *tap_bytes;
    }
}

/* The bytes of the input. */
EC_INLINE size_t ec_im2col_in_bytes(const ec_window_t *win)
{
    return (size_t)win->in_h * (size_t)win->in_w * (size_t)win->in_c;
}

/* The offset of the first input pixel whose tap, read as whole groups (EC_PACK_K4(C_in) bytes),
 * would pass the input's end: the end itself where C_in is a multiple of 4. */
EC_INLINE size_t ec_im2col_tail(const ec_window_t *win)
{
    const size_t end = ec_im2col_in_bytes(win), pixel = (size_t)win->in_c, whole = (size_t)EC_PACK_K4(win->in_c);
    return end < whole ? 0 : ((end - whole) / pixel + 1) * pixel;
}

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

/* The output positions [lo, hi) along one axis whose taps o * stride - pad + k * dil, k < taps,
 * all lie in [0, size); empty when lo == hi. */
EC_INLINE ec_span_t ec_im2col_inner(int32_t size, int32_t taps, int32_t stride, int32_t pad, int32_t dil,
                                           int32_t out)
{
    const int32_t last = size - 1 - (taps - 1) * dil + pad;
    ec_span_t span;
    span.lo = (pad + stride - 1) / stride;
    span.hi = last < 0 ? 0 : last / stride + 1;
    span.lo = span.lo < out ? span.lo : out;
    span.hi = span.hi < out ? span.hi : out;
    span.hi = span.hi > span.lo ? span.hi : span.lo;
    return span;
}

/* Copies n bytes from src to dst, reading and writing exactly n bytes. The short runs of an
 * unfolded row (a kernel row of a few channels) are one or two fixed-size moves, overlapping where
 * n is not their size (a loop of small copies would become a library call per run); longer ones
 * are one memcpy. */
EC_INLINE void ec_im2col_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t v;
    int64_t w;
    if (n > 16) {
        memcpy(dst, src, (size_t)n);
    } else if (n >= 8) {
        memcpy(&w, src, 8);
        memcpy(dst, &w, 8);
        memcpy(&w, src + n - 8, 8);
        memcpy(dst + n - 8, &w, 8);
    } else if (n >= 4) {
        memcpy(&v, src, 4);
        memcpy(dst, &v, 4);
        memcpy(&v, src + n - 4, 4);
        memcpy(dst + n - 4, &v, 4);
    } else if (n > 0) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/* n bytes of `fill` at dst, exactly (as ec_im2col_copy). */
EC_INLINE void ec_im2col_fill(int8_t *dst, int8_t fill, int32_t n)
{
    const int64_t pattern = (int64_t)((uint64_t)(uint8_t)fill * 0x0101010101010101ull);
    if (n > 16) {
        memset(dst, fill, (size_t)n);
    } else if (n >= 8) {
        memcpy(dst, &pattern, 8);
        memcpy(dst + n - 8, &pattern, 8);
    } else if (n >= 4) {
        memcpy(dst, &pattern, 4);
        memcpy(dst + n - 4, &pattern, 4);
    } else if (n > 0) {
        dst[0] = dst[n / 2] = dst[n - 1] = fill;
    }
}

/* The segment offsets of the row tiles whose pixels have the taps rows x cols inside the input:
 * tap (ky, kx) at (ky - rows.lo) * dil_h input rows + (kx - cols.lo) * dil_w pixels from the first
 * tap inside, EC_GEMM_PAD outside; with `by_rows` (every column inside), kernel row ky at
 * (ky - rows.lo) * dil_h input rows. Kept while the next run has the same taps inside. */
typedef struct {
    ec_span_t rows, cols;
    int by_rows;
    size_t offset[EC_IM2COL_MAX_TAPS];
} ec_im2col_taps_t;

EC_INLINE void ec_im2col_set_taps(const ec_window_t *win, ec_span_t rows, ec_span_t cols, int by_rows,
                                  ec_im2col_taps_t *taps)
{
    const size_t pixel = (size_t)win->in_c, row = (size_t)win->in_w * pixel;
    int32_t ky, kx, t = 0;
    if (taps->rows.lo == rows.lo && taps->rows.hi == rows.hi && taps->cols.lo == cols.lo && taps->cols.hi == cols.hi
        && taps->by_rows == by_rows) {
        return;
    }
    taps->rows = rows;
    taps->cols = cols;
    taps->by_rows = by_rows;
    if (by_rows) {
        for (ky = 0; ky < win->k_h; ++ky) {
            taps->offset[ky] = ky >= rows.lo && ky < rows.hi ? (size_t)((ky - rows.lo) * win->dil_h) * row : EC_GEMM_PAD;
        }
        return;
    }
    for (ky = 0; ky < win->k_h; ++ky) {
        for (kx = 0; kx < win->k_w; ++kx, ++t) {
            taps->offset[t] = ky >= rows.lo && ky < rows.hi && kx >= cols.lo && kx < cols.hi
                                  ? (size_t)((ky - rows.lo) * win->dil_h) * row + (size_t)((kx - cols.lo) * win->dil_w) * pixel
                                  : EC_GEMM_PAD;
        }
    }
}

/* One indirect GEMM: the layer (one segment per tap, or per narrow kernel row; `by_rows`, where
 * used: one per kernel row), its tile function, the offsets of the last run, and what it reads
 * besides the input: a row of in_zp bytes for segments in the padding and, where taps of C_in not a
 * multiple of 4 are segments, a copy of the input's bytes from `tail` (the first pixel whose tap, read
 * as whole groups, would pass the input's end: the last pixel, or the last 3 of one channel), each
 * followed by 3 readable bytes. */
typedef struct {
    const ec_gemm_t *g;
    ec_gemm_t by_rows;
    int rows_contiguous;
    int narrow;
    const int8_t *in;
    const ec_window_t *win;
    ec_gemm_tile_fn tile;
    int32_t tile_rows;
    int8_t *out;
    ec_im2col_taps_t taps;
    int8_t zp_row[EC_IM2COL_PAD_ROW];
    size_t tail;
    int8_t tail_copy[EC_IM2COL_MAX_CIN + 6];
} ec_im2col_ctx_t;

/* The taps of output pixel (oy, ox) as a list: taps[t] is the input pixel of tap t, zp_row for a
 * tap in the padding, inside tail_copy for a pixel from `tail` on. */
EC_INLINE void ec_im2col_list_taps(const ec_im2col_ctx_t *c, int32_t oy, int32_t ox, const int8_t **taps)
{
    int32_t ky, kx;
    for (ky = 0; ky < c->win->k_h; ++ky) {
        for (kx = 0; kx < c->win->k_w; ++kx) {
            const int8_t *tap = ec_im2col_tap(c->in, c->win, oy, ox, ky, kx);
            *taps++ = tap == NULL ? c->zp_row
                      : (size_t)(tap - c->in) >= c->tail ? c->tail_copy + ((size_t)(tap - c->in) - c->tail) : tap;
        }
    }
}

/* The kernel rows of output pixel (oy, ox) where they are narrow (above) as a list: rows[ky] is the
 * input in place where the row's k_w taps lie inside the input and its whole groups end inside it,
 * zp_row where the row lies in the padding, else a copy at copy + ky * K4(k_w * C_in) (in_zp in the
 * taps outside, in_zp to the group's end). */
EC_INLINE void ec_im2col_narrow_list(const ec_im2col_ctx_t *c, int32_t oy, int32_t ox, int8_t *copy,
                                     const int8_t **rows)
{
    const ec_window_t *win = c->win;
    const int32_t ch = win->in_c, len = win->k_w * ch, len4 = EC_PACK_K4(len);
    const int8_t zp = (int8_t)c->g->q->in_zp;
    const ec_span_t cols = ec_tap_span(ox, win->in_w, win->k_w, win->stride_w, win->pad_left, 1);
    const int32_t ix = ox * win->stride_w - win->pad_left + cols.lo;
    int32_t ky;
    for (ky = 0; ky < win->k_h; ++ky, copy += len4) {
        const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
        size_t at;
        if (iy < 0 || iy >= win->in_h || cols.lo >= cols.hi) {
            rows[ky] = c->zp_row;
            continue;
        }
        at = ((size_t)iy * (size_t)win->in_w + (size_t)ix) * (size_t)ch;
        if (cols.lo == 0 && cols.hi == win->k_w && at + (size_t)len4 <= ec_im2col_in_bytes(win)) {
            rows[ky] = c->in + at;
            continue;
        }
        ec_im2col_fill(copy, zp, cols.lo * ch);
        ec_im2col_copy(copy + cols.lo * ch, c->in + at, (cols.hi - cols.lo) * ch);
        ec_im2col_fill(copy + cols.hi * ch, zp, len4 - cols.hi * ch);
        rows[ky] = copy;
    }
}

/* The segments of output pixel (oy, ox) as a list, segs[s]: its narrow kernel rows (copies at
 * `copy`, EC_IM2COL_NARROW_PIXEL_BYTES) or its taps (ec_im2col_list_taps). */
EC_INLINE void ec_im2col_pixel_list(const ec_im2col_ctx_t *c, int32_t oy, int32_t ox, int8_t *copy, const int8_t **segs)
{
    if (c->narrow) {
        ec_im2col_narrow_list(c, oy, ox, copy, segs);
    } else {
        ec_im2col_list_taps(c, oy, ox, segs);
    }
}

/* Whether output pixel (oy, ox) of a row tile would read past the input's end: a segment inside
 * the input (a tap, or the first tap of a narrow kernel row) that starts fewer than its whole
 * groups' bytes before the end (none where C_in is a multiple of 4). */
EC_INLINE int ec_im2col_reads_past_end(const ec_im2col_ctx_t *c, int32_t oy, int32_t ox)
{
    const ec_window_t *win = c->win;
    const size_t end = ec_im2col_in_bytes(win), whole = (size_t)EC_PACK_K4(c->g->seg_len);
    const int32_t starts = c->narrow ? 1 : win->k_w;
    int32_t ky, kx;
    if (win->in_c % 4 == 0) {
        return 0;
    }
    for (ky = 0; ky < win->k_h; ++ky) {
        const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
        for (kx = 0; kx < starts && iy >= 0 && iy < win->in_h; ++kx) {
            const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
            if (ix >= 0 && ix < win->in_w && ((size_t)iy * (size_t)win->in_w + (size_t)ix) * (size_t)win->in_c + whole > end) {
                return 1;
            }
        }
    }
    return 0;
}

/* The row tile of output pixels (oy + i * dy, ox + i * dx): each tap lies inside the input for all
 * of them or in the padding for all of them (pixels along a row within the inner columns, down a
 * column within the inner rows, or one pixel). Pixel i reads segment s at src->first (its first
 * tap inside the input) + i * src->step + offset[s], or in the padding row. Returns the GEMM whose
 * segments the offsets are: kernel rows where the windows lie inside the input horizontally and
 * the context allows them, else taps. */
EC_INLINE const ec_gemm_t *ec_im2col_run_src(ec_im2col_ctx_t *c, int32_t oy, int32_t ox, int32_t dy, int32_t dx,
                                             ec_gemm_src_t *src)
{
    const ec_window_t *win = c->win;
    const ec_span_t rows = ec_tap_span(oy, win->in_h, win->k_h, win->stride_h, win->pad_top, win->dil_h);
    const ec_span_t cols = ec_tap_span(ox, win->in_w, win->k_w, win->stride_w, win->pad_left, win->dil_w);
    const size_t pixel = (size_t)win->in_c, row = (size_t)win->in_w * pixel;
    const int by_rows = c->rows_contiguous && cols.lo == 0 && cols.hi == win->k_w;
    ec_im2col_set_taps(win, rows, cols, by_rows, &c->taps);
    src->first = rows.lo >= rows.hi || cols.lo >= cols.hi
                     ? c->zp_row
                     : c->in + (size_t)(oy * win->stride_h - win->pad_top + rows.lo * win->dil_h) * row
                           + (size_t)(ox * win->stride_w - win->pad_left + cols.lo * win->dil_w) * pixel;
    src->step = (size_t)dy * (size_t)win->stride_h * row + (size_t)dx * (size_t)win->stride_w * pixel;
    src->seg_offset = c->taps.offset;
    src->pad_row = c->zp_row;
    src->taps = NULL;
    return by_rows ? &c->by_rows : c->g;
}

/* n pixels with their lists of segments (pixel i's segment s at segs[i * nseg + s]), pixel i's
 * outputs at out + i * out_step, tile_rows pixels per tile. */
EC_INLINE void ec_im2col_lists(const ec_im2col_ctx_t *c, const int8_t **segs, int32_t n, int8_t *out, size_t out_step)
{
    ec_gemm_src_t src;
    int32_t i, m;
    src.first = NULL;
    src.step = 0;
    src.seg_offset = NULL;
    src.pad_row = NULL;
    for (i = 0; i < n; i += m) {
        m = n - i < c->tile_rows ? n - i : c->tile_rows;
        src.taps = segs + i * c->g->nseg;
        c->tile(c->g, &src, m, out + (size_t)i * out_step, out_step);
    }
}

/* The n <= EC_IM2COL_NARROW_LIST_PIXELS output pixels (oy + i * dy, ox + i * dx) with their lists
 * of segments, in one call of the tile function where its tiles take that many. */
EC_INLINE void ec_im2col_list_run(const ec_im2col_ctx_t *c, int32_t oy, int32_t ox, int32_t dy, int32_t dx, int32_t n)
{
    const int8_t *segs[EC_IM2COL_NARROW_LIST_PIXELS * EC_IM2COL_MAX_TAPS];
    int8_t copies[EC_IM2COL_NARROW_LIST_PIXELS * EC_IM2COL_NARROW_PIXEL_BYTES];
    const size_t out_c = (size_t)c->g->out_c, out_step = ((size_t)dy * (size_t)c->win->out_w + (size_t)dx) * out_c;
    int32_t i;
    for (i = 0; i < n; ++i) {
        ec_im2col_pixel_list(c, oy + i * dy, ox + i * dx, copies + i * EC_IM2COL_NARROW_PIXEL_BYTES,
                             segs + i * c->g->nseg);
    }
    ec_im2col_lists(c, segs, n, c->out + ((size_t)oy * (size_t)c->win->out_w + (size_t)ox) * out_c, out_step);
}

/* The n output pixels (oy + i * dy, ox + i * dx) of one run, as row tiles of up to tile_rows
 * pixels; the last pixels of the run that would read past the input's end (at most one a tap, three
 * a narrow kernel row) go alone with their lists. */
EC_INLINE void ec_im2col_run(ec_im2col_ctx_t *c, int32_t oy, int32_t ox, int32_t dy, int32_t dx, int32_t n)
{
    const size_t out_step = ((size_t)dy * (size_t)c->win->out_w + (size_t)dx) * (size_t)c->g->out_c;
    int8_t *out = c->out + ((size_t)oy * (size_t)c->win->out_w + (size_t)ox) * (size_t)c->g->out_c;
    const ec_gemm_t *g;
    ec_gemm_src_t src;
    int32_t i, m;
    while (n > 0 && ec_im2col_reads_past_end(c, oy + (n - 1) * dy, ox + (n - 1) * dx)) {
        n -= 1;
        ec_im2col_list_run(c, oy + n * dy, ox + n * dx, 0, 0, 1);
    }
    if (n <= 0) {
        return;
    }
    g = ec_im2col_run_src(c, oy, ox, dy, dx, &src);
    for (i = 0; i < n; i += m) {
        m = n - i < c->tile_rows ? n - i : c->tile_rows;
        c->tile(g, &src, m, out + (size_t)i * out_step, out_step);
        src.first += (size_t)m * src.step;
    }
}

/* Every output pixel of a small map with its list of segments, in raster order (evenly spaced in
 * the output). */
EC_INLINE void ec_im2col_small_map(const ec_im2col_ctx_t *c)
{
    const int8_t *segs[EC_IM2COL_LIST_PIXELS * EC_IM2COL_MAX_TAPS];
    int8_t copies[EC_IM2COL_LIST_PIXELS * EC_IM2COL_NARROW_PIXEL_BYTES];
    const ec_window_t *win = c->win;
    const int32_t n = win->out_h * win->out_w;
    int32_t i;
    for (i = 0; i < n; ++i) {
        ec_im2col_pixel_list(c, i / win->out_w, i % win->out_w, copies + i * EC_IM2COL_NARROW_PIXEL_BYTES,
                             segs + i * c->g->nseg);
    }
    ec_im2col_lists(c, segs, n, c->out, (size_t)c->g->out_c);
}

/* The output columns outside the inner ones where the segments are narrow kernel rows: each column
 * down, EC_IM2COL_NARROW_LIST_PIXELS pixels to a call, with their lists. */
EC_INLINE void ec_im2col_narrow_edges(const ec_im2col_ctx_t *c, ec_span_t cols)
{
    int32_t ox, oy, n;
    for (ox = 0; ox < c->win->out_w; ++ox) {
        if (ox >= cols.lo && ox < cols.hi) {
            continue;
        }
        for (oy = 0; oy < c->win->out_h; oy += n) {
            n = c->win->out_h - oy < EC_IM2COL_NARROW_LIST_PIXELS ? c->win->out_h - oy : EC_IM2COL_NARROW_LIST_PIXELS;
            ec_im2col_list_run(c, oy, ox, 1, 0, n);
        }
    }
}

/* The indirect GEMM: `g` has nseg = k_h * k_w segments of seg_len = C_in bytes, or k_h narrow
 * kernel rows; `flags`: the EC_IM2COL_* ways the caller's tile function allows. Every output row
 * runs along its inner columns (whose windows lie inside the input horizontally); with taps every
 * other column runs down the inner rows and the pixels left (in no inner row or column) alone, with
 * narrow kernel rows every other column runs as lists. */
EC_INLINE void ec_im2col_indirect(const ec_gemm_t *g, const int8_t *in, const ec_window_t *win, int flags,
                                  ec_gemm_tile_fn tile, int32_t tile_rows, int8_t *out)
{
    const ec_span_t cols = ec_im2col_inner(win->in_w, win->k_w, win->stride_w, win->pad_left, win->dil_w,
                                                  win->out_w);
    const ec_span_t rows = ec_im2col_inner(win->in_h, win->k_h, win->stride_h, win->pad_top, win->dil_h,
                                                  win->out_h);
    ec_im2col_ctx_t c;
    int32_t oy, ox;
    c.taps.rows.lo = c.taps.rows.hi = c.taps.cols.lo = c.taps.cols.hi = -1;
    c.g = g;
    c.narrow = ec_im2col_narrow_rows(win);
    c.rows_contiguous = c.narrow || ((flags & EC_IM2COL_KERNEL_ROWS) && ec_im2col_rows_contiguous(win));
    c.by_rows = *g;
    c.by_rows.nseg = win->k_h;
    c.by_rows.seg_len = win->k_w * win->in_c;
    c.in = in;
    c.win = win;
    c.tile = tile;
    c.tile_rows = tile_rows;
    c.out = out;
    memset(c.zp_row, g->q->in_zp, (size_t)(c.rows_contiguous ? c.by_rows.seg_len : win->in_c) + 3);
    c.tail = ec_im2col_tail(win);
    if (!c.narrow && c.tail < ec_im2col_in_bytes(win)) {
        memcpy(c.tail_copy, in + c.tail, ec_im2col_in_bytes(win) - c.tail);
        memset(c.tail_copy + (ec_im2col_in_bytes(win) - c.tail), 0, 3);
    }
    if ((flags & EC_IM2COL_SMALL_MAP_LISTS) && win->out_h * win->out_w <= EC_IM2COL_LIST_PIXELS) {
        ec_im2col_small_map(&c);
        return;
    }
    for (oy = 0; oy < win->out_h; ++oy) {
        ec_im2col_run(&c, oy, cols.lo, 0, 1, cols.hi - cols.lo);
    }
    if (c.narrow) {
        ec_im2col_narrow_edges(&c, cols);
        return;
    }
    for (ox = 0; ox < win->out_w; ++ox) {
        if (ox >= cols.lo && ox < cols.hi) {
            continue;
        }
        ec_im2col_run(&c, rows.lo, ox, 1, 0, rows.hi - rows.lo);
        for (oy = 0; oy < win->out_h; ++oy) {
            if (oy < rows.lo || oy >= rows.hi) {
                ec_im2col_run(&c, oy, ox, 0, 0, 1);
            }
        }
    }
}
/* Row `oy` unfolded into `cols`: out_w patches of k4 bytes (K4 >= K), in_zp in padding and tail.
 * The taps inside the input are found once per kernel row (the input row, or none) and once per
 * output column (the kernel columns [lo, hi) inside it), so that without dilation a kernel row is
 * a fill, one contiguous run of (hi - lo) * C_in input bytes and a fill (the whole kernel row in
 * the inner columns). */
EC_INLINE void ec_im2col_unfold_row(const int8_t *in, const ec_window_t *win, int32_t oy, int32_t k4,
                                    int8_t fill, int8_t *cols)
{
    const int32_t c = win->in_c, row_len = win->k_w * c;
    int32_t ox, ky, kx;
    for (ox = 0; ox < win->out_w; ++ox) {
        const ec_span_t taps = ec_tap_span(ox, win->in_w, win->k_w, win->stride_w, win->pad_left,
                                                         win->dil_w);
        const int32_t ix0 = ox * win->stride_w - win->pad_left;
        const int whole = win->dil_w == 1 && taps.lo == 0 && taps.hi == win->k_w;
        int8_t *dst = cols + (size_t)ox * (size_t)k4;
        for (ky = 0; ky < win->k_h; ++ky, dst += row_len) {
            const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
            const int8_t *row;
            if (iy < 0 || iy >= win->in_h || taps.lo >= taps.hi) {
                ec_im2col_fill(dst, fill, row_len);
                continue;
            }
            row = in + (size_t)iy * (size_t)win->in_w * (size_t)c;
            if (whole) {
                ec_im2col_copy(dst, row + (size_t)ix0 * (size_t)c, row_len);
            } else if (win->dil_w == 1) {
                ec_im2col_fill(dst, fill, taps.lo * c);
                ec_im2col_copy(dst + taps.lo * c, row + (size_t)(ix0 + taps.lo) * (size_t)c, (taps.hi - taps.lo) * c);
                ec_im2col_fill(dst + taps.hi * c, fill, row_len - taps.hi * c);
            } else {
                for (kx = 0; kx < win->k_w; ++kx) {
                    if (kx >= taps.lo && kx < taps.hi) {
                        ec_im2col_copy(dst + kx * c, row + (size_t)(ix0 + kx * win->dil_w) * (size_t)c, c);
                    } else {
                        ec_im2col_fill(dst + kx * c, fill, c);
                    }
                }
            }
        }
        ec_im2col_fill(dst, fill, k4 - win->k_h * row_len);
    }
}

/* The unfolded GEMM: `g` has one segment of seg_len = K4 bytes. Each block of
 * ec_im2col_unfold_rows output rows is unfolded into `scratch`, then multiplied by all the weights:
 * the rows of a block lie back to back in the scratch and in the output, so its tiles may span
 * rows. */
EC_INLINE void ec_im2col_unfolded(const ec_gemm_t *g, const int8_t *in, const ec_window_t *win, int8_t *scratch,
                                  ec_gemm_tile_fn tile, int32_t tile_rows, int8_t *out)
{
    const int32_t block = ec_im2col_unfold_rows(win->out_h, win->out_w, win->k_h * win->k_w * win->in_c, win->out_c);
    const size_t row_bytes = (size_t)win->out_w * (size_t)g->k4;
    int32_t oy, r;
    for (oy = 0; oy < win->out_h; oy += block) {
        const int32_t rows = win->out_h - oy < block ? win->out_h - oy : block;
        for (r = 0; r < rows; ++r) {
            ec_im2col_unfold_row(in, win, oy + r, g->k4, (int8_t)g->q->in_zp, scratch + (size_t)r * row_bytes);
        }
        ec_gemm_rows(g, scratch, (size_t)g->k4, rows * win->out_w, tile, tile_rows,
                     out + (size_t)oy * (size_t)win->out_w * (size_t)g->out_c);
    }
}

/* `g` for the convolution, read indirect or unfolded as the generator chose. */
EC_INLINE void ec_im2col_gemm_init(ec_gemm_t *g, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                                   const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                                   const ec_qparams_t *q)
{
    ec_gemm_init(g, w, bias, wsum, mult, shift, q, win->k_h * win->k_w * win->in_c, win->out_c);
    if (ec_im2col_narrow_rows(win)) {
        g->nseg = win->k_h;
        g->seg_len = win->k_w * win->in_c;
        g->k4 = g->nseg * EC_PACK_K4(g->seg_len);
        g->whole_groups = 1;
    } else if (EC_IM2COL_INDIRECT(win)) {
        g->nseg = win->k_h * win->k_w;
        g->seg_len = win->in_c;
        g->k4 = g->nseg * EC_PACK_K4(win->in_c);
        g->whole_groups = 1;
    } else {
        g->nseg = 1;
        g->seg_len = g->k4;
    }
}

/* The convolution of `g` (ec_im2col_gemm_init); `flags`: EC_IM2COL_* (0: one segment per tap). */
EC_INLINE void ec_im2col_gemm(const ec_gemm_t *g, const int8_t *in, const ec_window_t *win, int flags,
                              int8_t *scratch, ec_gemm_tile_fn tile, int32_t tile_rows, int8_t *out)
{
    if (EC_IM2COL_INDIRECT(win)) {
        ec_im2col_indirect(g, in, win, flags, tile, tile_rows, out);
    } else {
        ec_im2col_unfolded(g, in, win, scratch, tile, tile_rows, out);
    }
}

/* The whole convolution. */
EC_INLINE void ec_im2col_conv(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *wsum,
                              const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                              const ec_qparams_t *q, int8_t *scratch, ec_gemm_tile_fn tile, int32_t tile_rows,
                              int8_t *out)
{
    ec_gemm_t g;
    ec_im2col_gemm_init(&g, w, bias, wsum, mult, shift, win, q);
    ec_im2col_gemm(&g, in, win, 0, scratch, tile, tile_rows, out);
}

#endif /* EC_IM2COL_H */

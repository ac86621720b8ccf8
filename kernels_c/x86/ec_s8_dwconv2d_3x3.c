/* ec_s8_dwconv2d_3x3, x86: int8 depthwise 3x3 (multiplier 1, dilation 1, any stride and padding),
 * bit-exact with portable/ec_s8_dwconv2d_3x3.c, on the primitives of ec_x86_dw.h (channel blocks,
 * zero point folded into the bias, vpdpbusd with AVX-512 VNNI or vpmaddwd with AVX2).
 *
 * Column order: for one output row, the three input rows under it are read column by column. A
 * column holds the three vertical taps of one input column interleaved: members rows 0, 1, 2, 2
 * (the repeat weighs 0), one group of four (VNNI) or two pairs (AVX2). An output pixel is then
 * the multiply-add of its three columns with the weights of kernel columns 0, 1 and 2. Along an
 * output row the columns slide: at stride 1 a pixel reuses two columns of the previous one, at
 * stride 2 one (a ring of three column buffers). Rows above or below the input read a row of input
 * zero points, columns left or right of it are a column of zero points: padded taps add nothing
 * (see ec_x86_dw.h). */
#include "ec_s8.h"
#include "ec_x86_dw.h"

#define COLUMN_GROUPS (4 / EC_DW_GROUP)

typedef struct {
    ec_dw_vecs_t group[COLUMN_GROUPS];
} column_t;

/* The three input rows under one output row: start of channel c0 of column 0 and the step per
 * column (0 for a row in the padding, which always reads the zero-point row). */
typedef struct {
    const int8_t *start[3];
    size_t step[3];
} rows_t;

/* Groups of the four column members m[0..3]: inputs (is_input) or weights (NULL: weight 0). */
EC_INLINE void column_groups(ec_dw_vecs_t *group, const int8_t *const m[4], int is_input, int32_t n)
{
    group[0] = is_input ? ec_dw_input_group(m, n) : ec_dw_weight_group(m, n);
#if COLUMN_GROUPS == 2
    group[1] = is_input ? ec_dw_input_group(m + 2, n) : ec_dw_weight_group(m + 2, n);
#endif
}

EC_INLINE void load_column(column_t *col, const rows_t *rows, int32_t ix, int32_t n)
{
    const int8_t *member[4];
    member[0] = rows->start[0] + (size_t)ix * rows->step[0];
    member[1] = rows->start[1] + (size_t)ix * rows->step[1];
    member[2] = member[3] = rows->start[2] + (size_t)ix * rows->step[2];
    column_groups(col->group, member, 1, n);
}

/* Weights of kernel column kx in column order. */
static void load_column_weights(ec_dw_vecs_t *wcol, const int8_t *w, int32_t c, int32_t c0, int32_t n, int32_t kx)
{
    const int8_t *member[4];
    member[0] = w + (size_t)kx * c + c0;
    member[1] = w + (size_t)(3 + kx) * c + c0;
    member[2] = w + (size_t)(6 + kx) * c + c0;
    member[3] = NULL;
    column_groups(wcol, member, 0, n);
}

/* The column of input column ix; outside the input, the column of zero points. Columns are
 * values, so the compiler keeps the three of a pixel in registers as they slide. */
EC_FORCE_INLINE column_t column_at(const rows_t *rows, const column_t *pad, int32_t ix, int32_t in_w, int32_t n)
{
    column_t col;
    if (ix < 0 || ix >= in_w) {
        return *pad;
    }
    load_column(&col, rows, ix, n);
    return col;
}

/* bias + the three columns times the weights of kernel columns 0, 1, 2. */
EC_INLINE ec_dw_vecs_t pixel(const ec_dw_block_t *b, const column_t *left, const column_t *mid, const column_t *right,
                             ec_dw_vecs_t wcol[3][COLUMN_GROUPS])
{
    ec_dw_vecs_t acc = b->bias;
    acc = ec_dw_madd(acc, &left->group[0], &wcol[0][0]);
    acc = ec_dw_madd(acc, &mid->group[0], &wcol[1][0]);
    acc = ec_dw_madd(acc, &right->group[0], &wcol[2][0]);
#if COLUMN_GROUPS == 2
    acc = ec_dw_madd(acc, &left->group[1], &wcol[0][1]);
    acc = ec_dw_madd(acc, &mid->group[1], &wcol[1][1]);
    acc = ec_dw_madd(acc, &right->group[1], &wcol[2][1]);
#endif
    return acc;
}

/* One output row: the columns slide along it (see the top of this file). Inlined into the two
 * callers below, n is a constant in the full blocks' copy, so its loads and stores take the
 * unmasked path without a per-load test. */
EC_FORCE_INLINE void output_row_n(const rows_t *rows, const column_t *pad, const ec_dw_block_t *b,
                                  ec_dw_vecs_t wcol[3][COLUMN_GROUPS], const ec_window_t *win, int8_t *out, int32_t n,
                                  const int form)
{
    const int32_t c = win->in_c, stride = win->stride_w, in_w = win->in_w;
    int32_t ix = -win->pad_left, ox = 0;
    column_t left = column_at(rows, pad, ix, in_w, n);
    column_t mid = column_at(rows, pad, ix + 1, in_w, n);
    column_t right;
    for (;;) {
        right = column_at(rows, pad, ix + 2, in_w, n);
        ec_dw_store_n(pixel(b, &left, &mid, &right, wcol), b, out + (size_t)ox * c, n, form);
        if (++ox == win->out_w) {
            return;
        }
        ix += stride;
        if (stride == 1) {
            left = mid;
            mid = right;
        } else if (stride == 2) {
            left = right;
            mid = column_at(rows, pad, ix + 1, in_w, n);
        } else {
            left = column_at(rows, pad, ix, in_w, n);
            mid = column_at(rows, pad, ix + 1, in_w, n);
        }
    }
}

/* output_row_n with the block's form as a constant (ec_dw_block_t). */
EC_FORCE_INLINE void output_row_as(const rows_t *rows, const column_t *pad, const ec_dw_block_t *b,
                                   ec_dw_vecs_t wcol[3][COLUMN_GROUPS], const ec_window_t *win, int8_t *out, int32_t n)
{
    if (b->form == EC_X86_RQ_FLOORED) {
        output_row_n(rows, pad, b, wcol, win, out, n, EC_X86_RQ_FLOORED);
    } else if (b->form == EC_X86_RQ_HIGH) {
        output_row_n(rows, pad, b, wcol, win, out, n, EC_X86_RQ_HIGH);
    } else {
        output_row_n(rows, pad, b, wcol, win, out, n, EC_X86_RQ_EXACT);
    }
}

static void output_row_full(const rows_t *rows, const column_t *pad, const ec_dw_block_t *b,
                            ec_dw_vecs_t wcol[3][COLUMN_GROUPS], const ec_window_t *win, int8_t *out)
{
    output_row_as(rows, pad, b, wcol, win, out, EC_DW_BLOCK);
}

static void output_row_part(const rows_t *rows, const column_t *pad, const ec_dw_block_t *b,
                            ec_dw_vecs_t wcol[3][COLUMN_GROUPS], const ec_window_t *win, int8_t *out)
{
    output_row_as(rows, pad, b, wcol, win, out, b->n);
}

/* Output rows per band: the channel blocks take turns over a band whose input rows fit in
 * BAND_BYTES (a share of L2), so a large map is read from memory once, not once per block. */
enum { BAND_BYTES = 128 * 1024 };

static int32_t band_rows(const ec_window_t *win)
{
    const size_t row = (size_t)win->in_w * win->in_c;
    const size_t rows_in = BAND_BYTES / (row ? row : 1);
    const int32_t band = rows_in > 3 ? (int32_t)((rows_in - 3) / (size_t)win->stride_h) + 1 : 1;
    return band < win->out_h ? band : win->out_h;
}

/* Output rows oy0 .. oy1 - 1 of every channel block. */
static void band(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                 const ec_window_t *win, const ec_qparams_t *q, int8_t *out, int32_t oy0, int32_t oy1)
{
    const int32_t c = win->in_c;
    ec_dw_block_t b;
    ec_dw_vecs_t wcol[3][COLUMN_GROUPS];
    column_t pad;
    rows_t rows, pad_rows;
    int32_t c0, oy, ky, kx;
    for (c0 = 0; c0 < c; c0 += EC_DW_BLOCK) {
        const int32_t n = c - c0 < EC_DW_BLOCK ? c - c0 : EC_DW_BLOCK;
        ec_dw_block_init(&b, w, bias, mult, shift, c, c0, n, 9, q);
        for (kx = 0; kx < 3; ++kx) {
            load_column_weights(wcol[kx], w, c, c0, n, kx);
        }
        for (ky = 0; ky < 3; ++ky) {
            pad_rows.start[ky] = b.zp_row;
            pad_rows.step[ky] = 0;
        }
        load_column(&pad, &pad_rows, 0, n);
        for (oy = oy0; oy < oy1; ++oy) {
            for (ky = 0; ky < 3; ++ky) {
                const int32_t iy = oy * win->stride_h - win->pad_top + ky;
                const int inside = iy >= 0 && iy < win->in_h;
                rows.start[ky] = inside ? in + (size_t)iy * win->in_w * c + c0 : b.zp_row;
                rows.step[ky] = inside ? (size_t)c : 0;
            }
            if (n == EC_DW_BLOCK) {
                output_row_full(&rows, &pad, &b, wcol, win, out + (size_t)oy * win->out_w * c + c0);
            } else {
                output_row_part(&rows, &pad, &b, wcol, win, out + (size_t)oy * win->out_w * c + c0);
            }
        }
    }
}

void ec_s8_dwconv2d_3x3(const int8_t *in, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                        const ec_qparams_t *q, int8_t *out)
{
    const int32_t rows = band_rows(win);
    int32_t oy0;
    for (oy0 = 0; oy0 < win->out_h; oy0 += rows) {
        band(in, w, bias, mult, shift, win, q, out, oy0, oy0 + rows < win->out_h ? oy0 + rows : win->out_h);
    }
}

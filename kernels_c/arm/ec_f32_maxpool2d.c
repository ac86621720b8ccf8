/* ec_f32_maxpool2d, NEON (AArch64; four scalar lanes on 32-bit ARM, ec_arm_f32.h): the portable
 * algorithm on four channels at a time, the last channels in scalar code. Only the taps inside the
 * input are read (ec_tap_span per axis, so no per-tap bounds checks); the first of them is taken,
 * then a tap replaces the maximum only where it compares greater (FCMGT and BSL, not FMAX), so NaNs
 * and signed zeros keep the portable bits. Comparing the first tap with itself leaves it as it is,
 * so the walk starts there. A window with no tap inside gives 0, as the portable kernel does.
 * Bit-exact with portable/ec_f32_maxpool2d.c. */
#include "ec_arm_f32.h"

#include "ec_f32.h"

enum { LANES = 4 };

/* The window of the output pixel whose first tap is input pixel (iy0, ix0): its taps inside. */
typedef struct {
    const float *first;     /* tap (rows.lo, cols.lo) at channel 0 */
    size_t row_step, tap_step;
    int32_t rows, cols;     /* taps inside, per axis (0: none) */
} window_t;

static window_t window_inside(const float *in, const ec_window_t *win, ec_span_t rows, ec_span_t cols, int32_t iy0,
                              int32_t ix0)
{
    window_t w;
    w.rows = rows.hi > rows.lo ? rows.hi - rows.lo : 0;
    w.cols = cols.hi > cols.lo ? cols.hi - cols.lo : 0;
    w.row_step = (size_t)win->dil_h * win->in_w * win->in_c;
    w.tap_step = (size_t)win->dil_w * win->in_c;
    w.first = w.rows && w.cols ? in + ((size_t)(iy0 + rows.lo * win->dil_h) * win->in_w + (size_t)(ix0 + cols.lo * win->dil_w))
                                          * win->in_c
                               : in;
    return w;
}

static ec_f4_t window_max(const window_t *w, int32_t c)
{
    const float *row = w->first + c;
    ec_f4_t m;
    int32_t ky, kx;
    if (!w->rows || !w->cols) {
        return ec_f4_zero();
    }
    m = ec_f4_load(row);
    for (ky = 0; ky < w->rows; ++ky, row += w->row_step) {
        for (kx = 0; kx < w->cols; ++kx) {
            m = ec_f4_keep_greater(m, ec_f4_load(row + kx * w->tap_step));
        }
    }
    return m;
}

static float channel_max(const window_t *w, int32_t c)
{
    const float *row = w->first + c;
    float m;
    int32_t ky, kx;
    if (!w->rows || !w->cols) {
        return 0.0f;
    }
    m = row[0];
    for (ky = 0; ky < w->rows; ++ky, row += w->row_step) {
        for (kx = 0; kx < w->cols; ++kx) {
            const float v = row[kx * w->tap_step];
            m = v > m ? v : m;
        }
    }
    return m;
}

void ec_f32_maxpool2d(const float *in, const ec_window_t *win, float *out)
{
    const int32_t ch = win->in_c;
    int32_t oy, ox, c;
    for (oy = 0; oy < win->out_h; ++oy) {
        const int32_t iy0 = oy * win->stride_h - win->pad_top;
        const ec_span_t rows = ec_tap_span(oy, win->in_h, win->k_h, win->stride_h, win->pad_top, win->dil_h);
        for (ox = 0; ox < win->out_w; ++ox) {
            const int32_t ix0 = ox * win->stride_w - win->pad_left;
            const ec_span_t cols = ec_tap_span(ox, win->in_w, win->k_w, win->stride_w, win->pad_left, win->dil_w);
            const window_t w = window_inside(in, win, rows, cols, iy0, ix0);
            float *o = out + ((size_t)oy * win->out_w + ox) * ch;
            for (c = 0; c + LANES <= ch; c += LANES) {
                ec_f4_store(o + c, window_max(&w, c));
            }
            for (; c < ch; ++c) {
                o[c] = channel_max(&w, c);
            }
        }
    }
}

/* ec_s8_dwconv2d_generic, x86. Channel multiplier 1: per output pixel and channel block, the
 * pixel's taps in groups of EC_DW_GROUP, each group's inputs interleaved and multiplied with its
 * prepared weights (ec_x86_dw.h: vpdpbusd with AVX-512 VNNI, vpmaddwd with AVX2). Pixels whose
 * window lies inside the input take their tap addresses from fixed offsets; the others check every
 * tap (padded taps read a row of input zero points). Kernels of more than MAX_TAPS taps prepare
 * their weights chunk by chunk per pixel. Other multipliers (output channel o reads input channel
 * o / m) run the portable per-channel loop. Bit-exact with portable/ec_s8_dwconv2d_generic.c. */
#include "ec_s8.h"
#include "ec_s8_dwconv.h"
#include "ec_x86_dw.h"

enum { MAX_TAPS = 28 }; /* taps whose weights are prepared once per channel block (5x5 fits) */

/* Interleaved weights of up to MAX_TAPS taps (MAX_TAPS is a multiple of EC_DW_GROUP). */
typedef struct {
    ec_dw_vecs_t group[MAX_TAPS / EC_DW_GROUP];
} weights_t;

/* Weights of taps first .. first + count - 1 (count <= MAX_TAPS), missing group members 0. */
static void prepare_weights(weights_t *wt, const int8_t *w, int32_t c, int32_t c0, int32_t n, int32_t first,
                            int32_t count)
{
    const int8_t *tap_w[EC_DW_GROUP];
    int32_t g, i;
    for (g = 0; g * EC_DW_GROUP < count; ++g) {
        for (i = 0; i < EC_DW_GROUP; ++i) {
            const int32_t t = g * EC_DW_GROUP + i;
            tap_w[i] = t < count ? w + (size_t)(first + t) * c + c0 : NULL;
        }
        wt->group[g] = ec_dw_weight_group(tap_w, n);
    }
}

/* Repeat the last of `count` taps up to a multiple of EC_DW_GROUP (their weights are 0). */
static void pad_group(const int8_t **taps, int32_t count)
{
    int32_t t;
    for (t = count; t % EC_DW_GROUP != 0; ++t) {
        taps[t] = taps[count - 1];
    }
}

/* Channel c0 of the input pixels under output pixel (oy, ox) for taps first .. first + count - 1
 * (row-major kernel order); taps in the padding point to `zp_row`. */
static void tap_pointers(const int8_t *in, const ec_window_t *win, int32_t oy, int32_t ox, int32_t c0,
                         const int8_t *zp_row, int32_t first, int32_t count, const int8_t **taps)
{
    int32_t ky = first / win->k_w, kx = first % win->k_w, t;
    for (t = 0; t < count; ++t) {
        const int32_t iy = oy * win->stride_h - win->pad_top + ky * win->dil_h;
        const int32_t ix = ox * win->stride_w - win->pad_left + kx * win->dil_w;
        const int inside = iy >= 0 && iy < win->in_h && ix >= 0 && ix < win->in_w;
        taps[t] = inside ? in + ((size_t)iy * win->in_w + ix) * win->in_c + c0 : zp_row;
        if (++kx == win->k_w) {
            kx = 0;
            ++ky;
        }
    }
    pad_group(taps, count);
}

static ec_dw_vecs_t accumulate(ec_dw_vecs_t acc, const int8_t *const *taps, int32_t count, int32_t n,
                               const weights_t *wt)
{
    int32_t g;
    for (g = 0; g * EC_DW_GROUP < count; ++g) {
        const ec_dw_vecs_t x = ec_dw_input_group(taps + g * EC_DW_GROUP, n);
        acc = ec_dw_madd(acc, &x, &wt->group[g]);
    }
    return acc;
}

/* One output pixel whose window may cross the padding, or whose kernel has more than MAX_TAPS
 * taps (weights then prepared chunk by chunk). */
static ec_dw_vecs_t pixel_checked(const int8_t *in, const int8_t *w, const ec_window_t *win, const ec_dw_block_t *b,
                                  weights_t *wt, int32_t c0, int32_t oy, int32_t ox)
{
    const int32_t taps = win->k_h * win->k_w;
    const int8_t *tap[MAX_TAPS];
    ec_dw_vecs_t acc = b->bias;
    int32_t first;
    for (first = 0; first < taps; first += MAX_TAPS) {
        const int32_t count = taps - first < MAX_TAPS ? taps - first : MAX_TAPS;
        if (taps > MAX_TAPS) {
            prepare_weights(wt, w, win->in_c, c0, b->n, first, count);
        }
        tap_pointers(in, win, oy, ox, c0, b->zp_row, first, count, tap);
        acc = accumulate(acc, tap, count, b->n, wt);
    }
    return acc;
}

static void dwconv_multiplier_one(const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                                  const int32_t *shift, const ec_window_t *win, const ec_qparams_t *q, int8_t *out)
{
    const int32_t c = win->in_c;
    const int32_t taps = win->k_h * win->k_w;
    const int32_t span_h = (win->k_h - 1) * win->dil_h, span_w = (win->k_w - 1) * win->dil_w;
    const int fits = taps <= MAX_TAPS;
    ec_dw_block_t b;
    weights_t wt;
    const int8_t *tap[MAX_TAPS];
    ptrdiff_t offset[MAX_TAPS];
    int32_t c0, oy, ox, t;
    for (t = 0; fits && t < taps; ++t) {
        offset[t] = ((ptrdiff_t)(t / win->k_w) * win->dil_h * win->in_w + (ptrdiff_t)(t % win->k_w) * win->dil_w) * c;
    }
    for (c0 = 0; c0 < c; c0 += EC_DW_BLOCK) {
        const int32_t n = c - c0 < EC_DW_BLOCK ? c - c0 : EC_DW_BLOCK;
        ec_dw_block_init(&b, w, bias, mult, shift, c, c0, n, taps, q);
        if (fits) {
            prepare_weights(&wt, w, c, c0, n, 0, taps);
        }
        for (oy = 0; oy < win->out_h; ++oy) {
            const int32_t iy = oy * win->stride_h - win->pad_top;
            const int rows_inside = fits && iy >= 0 && iy + span_h < win->in_h;
            for (ox = 0; ox < win->out_w; ++ox) {
                const int32_t ix = ox * win->stride_w - win->pad_left;
                ec_dw_vecs_t acc;
                if (rows_inside && ix >= 0 && ix + span_w < win->in_w) {
                    const int8_t *origin = in + ((size_t)iy * win->in_w + ix) * c + c0;
                    for (t = 0; t < taps; ++t) {
                        tap[t] = origin + offset[t];
                    }
                    pad_group(tap, taps);
                    acc = accumulate(b.bias, tap, taps, n, &wt);
                } else {
                    acc = pixel_checked(in, w, win, &b, &wt, c0, oy, ox);
                }
                ec_dw_store(acc, &b, out + ((size_t)oy * win->out_w + ox) * c + c0);
            }
        }
    }
}

void ec_s8_dwconv2d_generic(const int8_t *in, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int8_t *out)
{
    if (win->out_c == win->in_c) {
        dwconv_multiplier_one(in, w, bias, mult, shift, win, q, out);
    } else {
        ec_s8_dwconv2d_scalar(in, w, bias, mult, shift, win, q, out);
    }
}

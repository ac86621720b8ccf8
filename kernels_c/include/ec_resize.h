/* edgeconv bilinear resize of one channels-last sample (in_h x in_w x channels -> out_h x out_w x
 * channels), TFLite's RESIZE_BILINEAR.
 *
 * The coordinates are not computed here: the code generator writes, per output row and per output
 * column, the two input positions it reads and their weights (edgeconv/quant/bilinear.py, the same
 * tables the reference executor uses), so the kernels hold only the blend. Output rows
 * [row_begin, row_end) are written (a task's share; out points at row 0 in every call).
 *
 * int8 (TFLite's ResizeBilinearInteger, double rounding): with row taps (y0, y1, fy) and column
 * taps (x0, x1, fx), fy and fx in units of 2^-10 (the weight of y1 and x1),
 *   acc = x[y0,x0] (1024 - fy)(1024 - fx) + x[y1,x0] fy (1024 - fx)
 *       + x[y0,x1] (1024 - fy) fx        + x[y1,x1] fy fx
 *   out = (acc + (acc > 0 ? 2^19 : -2^19)) / 2^20     (C division, truncating: half away from zero)
 * on the codes; input and output share scale and zero point. fy, fx lie in [-512, 1024) and each
 * axis' weights sum in absolute value to at most 1536, so |acc| <= 128 * 1536^2 < 2^31: int32.
 *
 * float32 (TFLite's ResizeBilinear): with row weights (wy0, wy1) and column weights (wx0, wx1),
 *   out = x[y0,x0] * wy0 * wx0 + x[y1,x0] * wy1 * wx0 + x[y0,x1] * wy0 * wx1 + x[y1,x1] * wy1 * wx1
 * each product and sum rounded to float32 left to right (built without contraction). */
#ifndef EC_RESIZE_H
#define EC_RESIZE_H

#include "ec_common.h"

typedef struct {
    int32_t in_w, channels, out_w;
    const int32_t *rows; /* y0, y1, fy per output row */
    const int32_t *cols; /* x0, x1, fx per output column */
} ec_s8_resize_t;

typedef struct {
    int32_t in_w, channels, out_w;
    const int32_t *rows;  /* y0, y1 per output row */
    const float *row_w;   /* wy0, wy1 per output row */
    const int32_t *cols;  /* x0, x1 per output column */
    const float *col_w;   /* wx0, wx1 per output column */
} ec_f32_resize_t;

/* One int8 output from its four taps and their weights w00 = (1024 - fy)(1024 - fx), w10 = fy (1024 - fx),
 * w01 = (1024 - fy) fx, w11 = fy fx (the formula above). Every version of the kernel gives these bytes. */
EC_INLINE int8_t ec_s8_bilinear_tap(int32_t tl, int32_t bl, int32_t tr, int32_t br, int32_t w00, int32_t w10,
                                    int32_t w01, int32_t w11)
{
    const int32_t acc = tl * w00 + bl * w10 + tr * w01 + br * w11;
    return (int8_t)((acc + (acc > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
}

/* One float32 output from its four taps, in the order above. */
EC_INLINE float ec_f32_bilinear_tap(float tl, float bl, float tr, float br, float wy0, float wy1, float wx0,
                                    float wx1)
{
    const float a = tl * wy0 * wx0;
    const float b = bl * wy1 * wx0;
    const float d = tr * wy0 * wx1;
    const float e = br * wy1 * wx1;
    return ((a + b) + d) + e;
}

void ec_s8_resize_bilinear(const int8_t *in, const ec_s8_resize_t *p, int32_t row_begin, int32_t row_end,
                           int8_t *out);

void ec_f32_resize_bilinear(const float *in, const ec_f32_resize_t *p, int32_t row_begin, int32_t row_end,
                            float *out);

#endif /* EC_RESIZE_H */

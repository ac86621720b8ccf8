/* ec_s8_dwconv2d_generic: int8 depthwise convolution, any kernel, stride, padding, dilation and
 * channel multiplier (the scalar loop of ec_s8_dwconv.h). */
#include "ec_s8_dwconv.h"

void ec_s8_dwconv2d_generic(const int8_t *in, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const ec_window_t *win,
                            const ec_qparams_t *q, int8_t *out)
{
    ec_s8_dwconv2d_scalar(in, w, bias, mult, shift, win, q, out);
}

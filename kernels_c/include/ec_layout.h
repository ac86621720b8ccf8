/* edgeconv data movement, any element size: concatenation and channel-order transposes. */
#ifndef EC_LAYOUT_H
#define EC_LAYOUT_H

#include "ec_common.h"

/* Concatenate n inputs along one axis: the output is `outer` blocks, each the inputs' blocks of
 * inner_bytes[i] bytes one after the other. */
void ec_concat(const void *const *inputs, const int32_t *inner_bytes, int32_t n, int32_t outer,
               void *out);

/* (hw x c) channels-last <-> (c x hw) channels-first, elements of elem_bytes bytes. */
void ec_hwc_to_chw(const void *in, int32_t hw, int32_t c, int32_t elem_bytes, void *out);
void ec_chw_to_hwc(const void *in, int32_t hw, int32_t c, int32_t elem_bytes, void *out);

#endif /* EC_LAYOUT_H */

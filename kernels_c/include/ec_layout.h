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

/* The most dims ec_transpose permutes. */
#define EC_TRANSPOSE_MAX_RANK 6

/* out = in with its dims permuted: out dim i is in dim perm[i] (row-major, rank <= 6).
 * A trailing run of dims that the permutation keeps in place moves as one block. */
void ec_transpose(const void *in, const int32_t *in_dims, const int32_t *perm, int32_t rank,
                  int32_t elem_bytes, void *out);

/* Slice along one axis: in is `outer` blocks of in_block bytes; out gets `out_block` bytes of
 * each, starting `offset` bytes into the block. */
void ec_slice(const void *in, int32_t outer, int32_t in_block, int32_t offset, int32_t out_block,
              void *out);

/* Nearest-neighbour upsampling of an h x w x (pixel_bytes) map by integer factors: output pixel
 * (i, j) is input pixel (i / fh, j / fw). */
void ec_resize_nearest(const void *in, int32_t h, int32_t w, int32_t pixel_bytes, int32_t fh, int32_t fw,
                       void *out);

#endif /* EC_LAYOUT_H */

/* ec_layout: concatenation, slices, channel-order and general transposes, nearest upsampling, for
 * any element size. */
#include <string.h>

#include "ec_layout.h"

void ec_concat(const void *const *inputs, const int32_t *inner_bytes, int32_t n, int32_t outer,
               void *out)
{
    unsigned char *dst = (unsigned char *)out;
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < n; ++i) {
            const unsigned char *src = (const unsigned char *)inputs[i];
            memcpy(dst, src + (size_t)o * inner_bytes[i], (size_t)inner_bytes[i]);
            dst += inner_bytes[i];
        }
    }
}

void ec_hwc_to_chw(const void *in, int32_t hw, int32_t c, int32_t elem_bytes, void *out)
{
    const unsigned char *src = (const unsigned char *)in;
    unsigned char *dst = (unsigned char *)out;
    int32_t p, ch;
    for (p = 0; p < hw; ++p) {
        for (ch = 0; ch < c; ++ch) {
            memcpy(dst + ((size_t)ch * hw + p) * elem_bytes, src + ((size_t)p * c + ch) * elem_bytes,
                   (size_t)elem_bytes);
        }
    }
}

void ec_chw_to_hwc(const void *in, int32_t hw, int32_t c, int32_t elem_bytes, void *out)
{
    const unsigned char *src = (const unsigned char *)in;
    unsigned char *dst = (unsigned char *)out;
    int32_t p, ch;
    for (p = 0; p < hw; ++p) {
        for (ch = 0; ch < c; ++ch) {
            memcpy(dst + ((size_t)p * c + ch) * elem_bytes, src + ((size_t)ch * hw + p) * elem_bytes,
                   (size_t)elem_bytes);
        }
    }
}

void ec_transpose(const void *in, const int32_t *in_dims, const int32_t *perm, int32_t rank,
                  int32_t elem_bytes, void *out)
{
    const unsigned char *src = (const unsigned char *)in;
    unsigned char *dst = (unsigned char *)out;
    size_t in_stride[EC_TRANSPOSE_MAX_RANK], step[EC_TRANSPOSE_MAX_RANK];
    int32_t out_dims[EC_TRANSPOSE_MAX_RANK], idx[EC_TRANSPOSE_MAX_RANK];
    size_t block = (size_t)elem_bytes, offset = 0, count = 1, n;
    int32_t d, outer_rank = rank;
    /* The innermost dims that stay in place are copied as one contiguous block. */
    while (outer_rank > 0 && perm[outer_rank - 1] == outer_rank - 1) {
        block *= (size_t)in_dims[outer_rank - 1];
        --outer_rank;
    }
    in_stride[rank - 1] = (size_t)elem_bytes;
    for (d = rank - 2; d >= 0; --d) {
        in_stride[d] = in_stride[d + 1] * (size_t)in_dims[d + 1];
    }
    for (d = 0; d < outer_rank; ++d) {
        out_dims[d] = in_dims[perm[d]];
        step[d] = in_stride[perm[d]];
        idx[d] = 0;
        count *= (size_t)out_dims[d];
    }
    for (n = 0; n < count; ++n) {
        memcpy(dst, src + offset, block);
        dst += block;
        for (d = outer_rank - 1; d >= 0; --d) {
            offset += step[d];
            if (++idx[d] < out_dims[d]) {
                break;
            }
            offset -= step[d] * (size_t)out_dims[d];
            idx[d] = 0;
        }
    }
}

void ec_slice(const void *in, int32_t outer, int32_t in_block, int32_t offset, int32_t out_block,
              void *out)
{
    const unsigned char *src = (const unsigned char *)in + offset;
    unsigned char *dst = (unsigned char *)out;
    int32_t o;
    for (o = 0; o < outer; ++o) {
        memcpy(dst + (size_t)o * out_block, src + (size_t)o * in_block, (size_t)out_block);
    }
}

void ec_resize_nearest(const void *in, int32_t h, int32_t w, int32_t pixel_bytes, int32_t fh, int32_t fw,
                       void *out)
{
    const unsigned char *src = (const unsigned char *)in;
    unsigned char *dst = (unsigned char *)out;
    const size_t row_bytes = (size_t)w * fw * pixel_bytes;
    int32_t y, x, r, k;
    for (y = 0; y < h; ++y) {
        unsigned char *row = dst;
        for (x = 0; x < w; ++x) {
            for (k = 0; k < fw; ++k) {
                memcpy(dst, src + ((size_t)y * w + x) * pixel_bytes, (size_t)pixel_bytes);
                dst += pixel_bytes;
            }
        }
        for (r = 1; r < fh; ++r) {
            memcpy(dst, row, row_bytes);
            dst += row_bytes;
        }
    }
}

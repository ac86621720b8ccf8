/* ec_layout: concatenation and channel-order transposes for any element size. */
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

/* ec_s8_add, AVX2: the portable algorithm (ec_s8.h, portable/ec_s8_add.c): per-code tables of
 * the rescaled inputs, then eight outputs at a time: table gathers, sum, eight-lane
 * requantization (ec_avx2_requantize8). Rows whose channel axis is broadcast run scalar.
 * Bit-exact with the portable kernel. */
#include "ec_s8.h"
#include "ec_x86_avx2.h"

void ec_s8_add(const int8_t *a, const int8_t *b, const ec_broadcast_t *bc,
               const ec_s8_add_params_t *p, int8_t *out)
{
    int32_t table_a[256];
    int32_t table_b[256];
    const __m256i offset = _mm256_set1_epi32(128);
    const __m256i mult = _mm256_set1_epi32(p->out_mult);
    const __m256i shift = _mm256_set1_epi32(p->out_shift);
    const __m256i zp = _mm256_set1_epi32(p->out_zp);
    const __m256i lo = _mm256_set1_epi32(p->act_min);
    const __m256i hi = _mm256_set1_epi32(p->act_max);
    const int contiguous = bc->a_strides[2] == 1 && bc->b_strides[2] == 1;
    int32_t y, x, c, v;
    size_t k = 0;
    for (v = -128; v < 128; ++v) {
        table_a[v + 128] = ec_requantize((v + p->a_offset) * (1 << p->left_shift), p->a_mult, p->a_shift);
        table_b[v + 128] = ec_requantize((v + p->b_offset) * (1 << p->left_shift), p->b_mult, p->b_shift);
    }
    for (y = 0; y < bc->dims[0]; ++y) {
        for (x = 0; x < bc->dims[1]; ++x) {
            const int8_t *ar = a + (size_t)y * bc->a_strides[0] + (size_t)x * bc->a_strides[1];
            const int8_t *br = b + (size_t)y * bc->b_strides[0] + (size_t)x * bc->b_strides[1];
            c = 0;
            if (contiguous) {
                for (; c + 8 <= bc->dims[2]; c += 8) {
                    int32_t r[8];
                    int j;
                    const __m256i ia = _mm256_add_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(ar + c))), offset);
                    const __m256i ib = _mm256_add_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(br + c))), offset);
                    const __m256i sum = _mm256_add_epi32(_mm256_i32gather_epi32(table_a, ia, 4),
                                                         _mm256_i32gather_epi32(table_b, ib, 4));
                    __m256i res = _mm256_add_epi32(ec_avx2_requantize8(sum, mult, shift), zp);
                    res = _mm256_min_epi32(_mm256_max_epi32(res, lo), hi);
                    _mm256_storeu_si256((__m256i *)(void *)r, res);
                    for (j = 0; j < 8; ++j) {
                        out[k++] = (int8_t)r[j];
                    }
                }
            }
            for (; c < bc->dims[2]; ++c) {
                const int32_t sum = table_a[(int32_t)ar[(size_t)c * bc->a_strides[2]] + 128]
                                    + table_b[(int32_t)br[(size_t)c * bc->b_strides[2]] + 128];
                const int32_t r = ec_requantize(sum, p->out_mult, p->out_shift) + p->out_zp;
                out[k++] = (int8_t)ec_clamp_i32(r, p->act_min, p->act_max);
            }
        }
    }
}

/* ec_s8_lut, x86: out[i] = table[in[i] + 128]. With AVX-512 VBMI, 64 bytes per step: the table is
 * four 64-byte registers; vpermi2b looks up the low 7 bits of each code in the half selected by
 * bit 7 of in[i] + 128, i.e. codes below 0 in table[0..127], the others in table[128..255].
 * Without VBMI the portable byte loop. Bit-exact with portable/ec_s8_lut.c; in-place safe. */
#include "ec_s8.h"
#include "ec_x86_dw.h"

#if defined(EC_X86_HAVE_AVX512) && defined(__AVX512VBMI__)
void ec_s8_lut(const int8_t *in, const int8_t *table, int32_t n, int8_t *out)
{
    const __m512i t0 = _mm512_loadu_si512((const void *)table);
    const __m512i t1 = _mm512_loadu_si512((const void *)(table + 64));
    const __m512i t2 = _mm512_loadu_si512((const void *)(table + 128));
    const __m512i t3 = _mm512_loadu_si512((const void *)(table + 192));
    int32_t i;
    for (i = 0; i < n; i += 64) {
        const int32_t count = n - i < 64 ? n - i : 64;
        const __m512i code = ec_x86_load_bytes(in + i, count);
        const __m512i negative = _mm512_permutex2var_epi8(t0, code, t1);  /* table[code + 128], code < 0 */
        const __m512i positive = _mm512_permutex2var_epi8(t2, code, t3);  /* table[code + 128], code >= 0 */
        ec_x86_store_bytes(out + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(code), positive, negative), count);
    }
}
#else
void ec_s8_lut(const int8_t *in, const int8_t *table, int32_t n, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = table[(int32_t)in[i] + 128];
    }
}
#endif

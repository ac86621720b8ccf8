/* ec_s8_lut, NEON: out[i] = table[in[i] + 128]. On AArch64, 16 bytes per step: the table is four
 * 64-byte register quadruples; with idx = in[i] + 128 (as an unsigned byte), TBL looks up idx in
 * table[0..63] and three TBX look up idx - 64, idx - 128 and idx - 192 (wrapping) in the other
 * quarters: an index of 64 or more leaves the lane as it is, so each lane keeps the one quarter
 * that holds it. ARMv7 NEON has 8-byte table lookups only: there the portable byte loop.
 * Bit-exact with portable/ec_s8_lut.c; in-place safe. */
#include "ec_s8.h"
#include "ec_arm_requant.h"

#if defined(__aarch64__)
/* The table's 16 bytes for the 16 codes of x. */
EC_FORCE_INLINE int8x16_t lookup16(int8x16_t x, int8x16x4_t t0, int8x16x4_t t1, int8x16x4_t t2, int8x16x4_t t3)
{
    const uint8x16_t quarter = vdupq_n_u8(64);
    const uint8x16_t idx = veorq_u8(vreinterpretq_u8_s8(x), vdupq_n_u8(0x80));
    const uint8x16_t idx1 = vsubq_u8(idx, quarter), idx2 = vsubq_u8(idx1, quarter), idx3 = vsubq_u8(idx2, quarter);
    int8x16_t r = vqtbl4q_s8(t0, idx);
    r = vqtbx4q_s8(r, t1, idx1);
    r = vqtbx4q_s8(r, t2, idx2);
    return vqtbx4q_s8(r, t3, idx3);
}

/* Whole steps of 16 bytes, then the last n % 16 through a copy. */
void ec_s8_lut(const int8_t *in, const int8_t *table, int32_t n, int8_t *out)
{
    const int8x16x4_t t0 = vld1q_s8_x4(table), t1 = vld1q_s8_x4(table + 64);
    const int8x16x4_t t2 = vld1q_s8_x4(table + 128), t3 = vld1q_s8_x4(table + 192);
    int32_t i;
    for (i = 0; i + 16 <= n; i += 16) {
        vst1q_s8(out + i, lookup16(vld1q_s8(in + i), t0, t1, t2, t3));
    }
    if (i < n) {
        ec_neon_store16(out + i, lookup16(ec_neon_load16(in + i, n - i), t0, t1, t2, t3), n - i);
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

/* ec_s8_softmax: TFLite's int8 softmax (reference_ops::Softmax), in gemmlowp fixed point.
 *
 * A Qm value has m integer bits: real = raw / 2^(31 - m). Per row:
 *   diff = x - max(row); taps with diff < diff_min contribute 0 and output -128;
 *   d = ec_requantize(diff, input_mult, input_left_shift)         (Q5: beta * s_in * diff)
 *   e = exp(d) on negative values                                   (Q0)
 *   sum = sum of e rescaled to Q12
 *   out = RoundingDivideByPOT(srdhm(1 / sum, e), bits_over_unit + 31 - 8) - 128, clamped.
 * The reciprocal is gemmlowp's Newton-Raphson one_over_one_plus_x_for_x_in_0_1. Additions of
 * fixed-point values wrap modulo 2^32 as in the reference (done in uint32_t to stay defined). */
#include "ec_s8.h"

static int32_t add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static int32_t sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* x * 2^exponent, saturating for exponent > 0, rounding for exponent < 0. */
static int32_t saturating_rounding_mul_by_pot(int32_t x, int exponent)
{
    if (exponent > 0) {
        const int32_t threshold = (int32_t)((((uint32_t)1) << (31 - exponent)) - 1u);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return (int32_t)((uint32_t)x << exponent);
    }
    if (exponent < 0) {
        return ec_rounding_divide_by_pot(x, -exponent);
    }
    return x;
}

/* exp(a) for a in [-1/4, 0), a and result in Q0: Taylor series around -1/8. */
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t constant_term = 1895147668;     /* exp(-1/8) in Q0 */
    const int32_t constant_1_over_3 = 715827883;  /* 1/3 in Q0 */
    const int32_t x = add_wrap(a, 1 << 28);       /* a + 1/8 */
    const int32_t x2 = ec_srdhm(x, x);
    const int32_t x3 = ec_srdhm(x2, x);
    const int32_t x4 = ec_srdhm(x2, x2);
    const int32_t x4_over_4 = saturating_rounding_mul_by_pot(x4, -2);
    const int32_t poly = saturating_rounding_mul_by_pot(
        add_wrap(ec_srdhm(add_wrap(x4_over_4, x3), constant_1_over_3), x2), -1);
    return add_wrap(constant_term, ec_srdhm(constant_term, add_wrap(x, poly)));
}

/* exp(a) for a <= 0 in Q5 (26 fractional bits); result in Q0. */
static int32_t exp_on_negative_values_q5(int32_t a)
{
    enum { FRACTIONAL_BITS = 26 };
    /* exp(-2^k) in Q0 for k = -2 .. 4, applied for each set bit of the remainder. */
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                           39332535, 720401, 242};
    const int32_t one_quarter = 1 << (FRACTIONAL_BITS - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = sub_wrap(a & mask, one_quarter);
    const int32_t remainder = sub_wrap(a_mod_quarter_minus_one_quarter, a);
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_mul_by_pot(a_mod_quarter_minus_one_quarter, 5));
    int k;
    for (k = 0; k < 7; ++k) {
        const int shift_amount = FRACTIONAL_BITS - 2 + k;
        if (remainder & (int32_t)(((uint32_t)1) << shift_amount)) {
            result = ec_srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), x in Q0; result in Q0 (gemmlowp Newton-Raphson, 3 steps). */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int64_t sum = (int64_t)a + (int64_t)INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);  /* Q0 */
    const int32_t constant_48_over_17 = 1515870810;                               /* Q2 */
    const int32_t constant_neg_32_over_17 = -1010580540;                          /* Q2 */
    const int32_t one_q2 = 1 << 29;
    int32_t x = add_wrap(constant_48_over_17, ec_srdhm(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = ec_srdhm(half_denominator, x);       /* Q2 */
        const int32_t one_minus = sub_wrap(one_q2, half_denominator_times_x);         /* Q2 */
        x = add_wrap(x, saturating_rounding_mul_by_pot(ec_srdhm(x, one_minus), 2));   /* Q4 -> Q2 */
    }
    /* x / 2 as Q1 (same raw value), then rescaled to Q0. */
    return saturating_rounding_mul_by_pot(x, 1);
}

static int count_leading_zeros(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void ec_s8_softmax(const int8_t *in, int32_t outer, int32_t depth, int32_t input_mult,
                   int32_t input_left_shift, int32_t diff_min, int8_t *out)
{
    int32_t row, c;
    for (row = 0; row < outer; ++row) {
        const int8_t *x = in + (size_t)row * depth;
        int8_t *o = out + (size_t)row * depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12 */
        int32_t headroom_plus_one, bits_over_unit, shifted_scale;
        for (c = 0; c < depth; ++c) {
            max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
        }
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= diff_min) {
                const int32_t scaled = ec_requantize(diff, input_mult, input_left_shift);
                sum_of_exps = add_wrap(sum_of_exps,
                                       ec_rounding_divide_by_pot(exp_on_negative_values_q5(scaled), 12));
            }
        }
        headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        bits_over_unit = 12 - headroom_plus_one;
        shifted_scale = one_over_one_plus_x_for_x_in_0_1(
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (((uint32_t)1) << 31)));
        for (c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= diff_min) {
                const int32_t scaled = ec_requantize(diff, input_mult, input_left_shift);
                const int32_t e = exp_on_negative_values_q5(scaled);
                const int32_t unsat = ec_rounding_divide_by_pot(ec_srdhm(shifted_scale, e),
                                                                bits_over_unit + 31 - 8);
                o[c] = (int8_t)ec_clamp_i32(unsat - 128, -128, 127);
            } else {
                o[c] = -128;
            }
        }
    }
}

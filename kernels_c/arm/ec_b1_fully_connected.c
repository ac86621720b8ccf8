/* ec_b1_fully_connected, NEON: binary fully connected layer on packed words, four rows at a time
 * with CNT byte counts gathered by pairwise widening adds (UADALP) (ec_b1_popcount.h);
 * the algorithm is in ec_b1_xnor.h, the bit order in ec_b1.h. */
#define EC_B1_ISA_NEON 1
#include "ec_b1_xnor.h"

void ec_b1_fully_connected(const uint32_t *in, const uint32_t *w_bits, const int32_t *bias,
                           const int32_t *weight_steps, const int32_t *mult, const int32_t *shift, int32_t k_total,
                           int32_t in_words, int32_t out_n, const ec_qparams_t *q, int8_t *out)
{
    ec_b1_fc(in, w_bits, bias, weight_steps, mult, shift, k_total, in_words, out_n, q, out);
}

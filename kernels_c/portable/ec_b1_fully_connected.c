/* ec_b1_fully_connected: binary fully connected layer on packed words, plain C popcounts;
 * the algorithm is in ec_b1_xnor.h, the bit order in ec_b1.h. */
#include "ec_b1_xnor.h"

void ec_b1_fully_connected(const uint32_t *in, const uint32_t *w_bits, const int32_t *bias,
                           const int32_t *weight_steps, const int32_t *mult, const int32_t *shift, int32_t k_total,
                           int32_t in_words, int32_t out_n, const ec_qparams_t *q, int8_t *out)
{
    ec_b1_fc(in, w_bits, bias, weight_steps, mult, shift, k_total, in_words, out_n, q, out);
}

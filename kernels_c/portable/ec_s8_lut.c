/* ec_s8_lut: out[i] = table[in[i] + 128]; the code generator computes each table from the integer
 * reference of the op, so every elementwise int8 op is bit-exact by construction. */
#include "ec_s8.h"

void ec_s8_lut(const int8_t *in, const int8_t *table, int32_t n, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = table[(int32_t)in[i] + 128];
    }
}

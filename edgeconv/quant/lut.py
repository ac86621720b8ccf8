"""256-entry int8 lookup tables: the integer meaning of activations TFLite has no builtin for.

For an int8 input ``q`` in ``[-128, 127]`` the table holds

    lut[q + 128] = clamp(zp_out + round_half_away(f(s_in * (q - zp_in)) / s_out), qmin, qmax)

with ``f`` evaluated in float64 and the scales the float32 values widened to float64. The table is
computed once, by this function only, and every artifact carries it as data (the TFLite writer as an
int8 constant read by CAST -> ADD 128 -> GATHER, the C backend as a ``static const int8_t[256]``),
so every runtime reproduces it exactly, whatever its floating-point library.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..ir import QuantParams
from .activation_range import round_half_away

INT8_CODES = np.arange(-128, 128, dtype=np.int64)


def sigmoid_math(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in float64, written with ``tanh`` so that it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x.astype(np.float64)))


def hardsigmoid_math(op, x: np.ndarray) -> np.ndarray:
    """``relu6(x + 3) / 6`` in float64: the function the int8 Hardsigmoid table samples."""
    return np.clip(x.astype(np.float64) + 3.0, 0.0, 6.0) / 6.0


def silu_math(op, x: np.ndarray) -> np.ndarray:
    """``x * sigmoid(x)`` in float64: the function the int8 SiLU table samples (and the float SiLU)."""
    return x.astype(np.float64) * sigmoid_math(x)


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_math(op, x: np.ndarray) -> np.ndarray:
    """GELU in float64 (``op.approximate`` picks the form, see ``ir.ops.Gelu``): the function the
    int8 Gelu table samples (and the float Gelu). ``erf`` is the C library's, through ``math.erf``."""
    x = x.astype(np.float64)
    if op.approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + np.tanh(inner))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def build_lut(fn: Callable[[np.ndarray], np.ndarray], in_quant: QuantParams, out_quant: QuantParams) -> np.ndarray:
    """The int8 table of ``fn`` from ``in_quant`` to ``out_quant``, indexed by ``q + 128``."""
    real_in = in_quant.scale[0] * (INT8_CODES - in_quant.zero_point[0]).astype(np.float64)
    real_out = np.asarray(fn(real_in), dtype=np.float64)
    q = out_quant.zero_point[0] + round_half_away(real_out / out_quant.scale[0])
    return np.clip(q, out_quant.qmin, out_quant.qmax).astype(np.int8)


def apply_lut(lut: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``lut[x + 128]`` elementwise for an int8 array ``x``."""
    return lut[x.astype(np.int64) + 128]

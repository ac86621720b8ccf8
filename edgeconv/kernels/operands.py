"""The conditions on a quantized layer's operands that the binary kernels need beyond its shape.

The selector decides precisions before there are integer operands, so it reads only the shape
fit (``registry.Kernel.fits``); the C lowering checks these too, on the quantized graph, and takes
an int8 kernel when they do not hold.
"""

from __future__ import annotations

import re
from typing import Optional

import numpy as np

from ..ir import Node, Tensor
from ..quant.single_rounding import step_units


def binary_operands(node: Node, x: Tensor, w: np.ndarray) -> bool:
    """A w1a1 layer reading {-1, +1} codes (zero point 0) with +-1 weights times a channel step."""
    q = x.quant
    return (node.precision == "w1a1" and q is not None and q.qmin >= -1 and q.qmax <= 1
            and int(q.zero_point[0]) == 0 and bool(np.all(np.abs(step_units(w)) == 1)))


def xnor_conv_operands(node: Node, x: Tensor, w: np.ndarray) -> bool:
    """Binary operands and no zero padding on the convolution: the XNOR kernel pads with +1 (a +1
    Pad before it is absorbed, ``backends/c/kernel_choice.xnor_pad_fusions``)."""
    return not any(node.op.pads) and binary_operands(node, x, w)


def bitserial_bits(node: Node, x: Tensor, w: np.ndarray) -> Optional[tuple]:
    """(activation bits M, weight bits K) when the layer is DoReFa with K <= 4 on M-bit activation
    codes of a per-tensor grid and odd weight codes within K bits, else None."""
    m = re.fullmatch(r"w(\d)a(\d)", node.precision or "")
    q = x.quant
    if not m or q is None or q.per_channel:
        return None
    k_bits, m_bits = int(m.group(1)), int(m.group(2))
    zp = int(q.zero_point[0])
    levels = (1 << m_bits) - 1
    units = step_units(w)
    odd = bool(np.all(np.abs(units) % 2 == 1))
    if k_bits > 4 or m_bits > 8 or q.qmin < zp or q.qmax > zp + levels or not odd:
        return None
    if np.abs(units).max() > (1 << k_bits) - 1:
        return None
    return m_bits, k_bits


def bitserial_operands(node: Node, x: Tensor, w: np.ndarray) -> bool:
    return bitserial_bits(node, x, w) is not None

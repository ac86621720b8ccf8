"""Which kernel runs a convolution, and which convolutions run the XNOR kernel.

The kernels' fit tests are the registry's (``edgeconv.kernels.registry``); this module adds the C
backend's preference among the kernels that fit a layer nobody chose a kernel for.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ...ir import Graph, Node, Tensor
from ...ir.ops import Conv, Linear, Pad
from ...kernels.geometry import LayerGeometry, geometry
from ...kernels.operands import binary_operands
from ...kernels.packing import PACK_LANES, im2col_indirect
from ...kernels.registry import BY_NAME, CONV_ALGORITHMS
from ...quant.activation_range import quantize_scalar

XNOR = "ec_b1_conv2d_xnor"
IM2COL = "ec_s8_conv2d_im2col"
SLIDING_WINDOW = "ec_s8_conv2d_slidingwin"

# Kernels taken first, in this order, wherever they run the layer: the binary kernels for low-bit
# layers, then the depthwise and 1x1 specializations.
_SPECIALIZED_FIRST = (XNOR, "ec_s8_conv2d_bitserial", "ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic",
                      "ec_s8_conv2d_1x1")


def requested_conv_kernel(node: Node) -> Optional[str]:
    """The integer conv kernel the node asks for, by kernel or algorithm name, or None."""
    requested = CONV_ALGORITHMS.get(node.algorithm, node.algorithm)
    return requested if requested in CONV_ALGORITHMS.values() else None


def conv_kernel(geo: LayerGeometry, node: Node, x: Tensor, w: np.ndarray) -> str:
    """The kernel of an integer convolution reading ``x`` with integer weights ``w``: the one the
    node asks for when it runs the layer, else the first of ``_SPECIALIZED_FIRST`` that does, then
    the im2col GEMM where it needs no scratch (indirect: at most 9 taps and 256 input channels) and
    fills at least one 16-channel block of its packed weights (narrower layers keep their weights
    unpadded in the sliding window), or where window rows are shorter than one 16-byte SIMD step
    (first layers, C_in 1 to 3), else the sliding window."""
    requested = requested_conv_kernel(node)
    if requested and BY_NAME[requested].runs(geo, node, x, w):
        return requested
    for name in _SPECIALIZED_FIRST:
        if BY_NAME[name].runs(geo, node, x, w):
            return name
    k_h, k_w = geo.kernel_hw
    gemm_without_scratch = im2col_indirect(geo.c_in, k_h, k_w) and geo.c_out >= PACK_LANES
    if BY_NAME[IM2COL].fits(geo) and (gemm_without_scratch or k_w * geo.c_in < 16):
        return IM2COL
    return SLIDING_WINDOW


# Float convolution kernels taken first, in this order, wherever they run the layer; the direct
# convolution runs the others (grouped, depthwise with a channel multiplier). All give the same bits.
_F32_FIRST = ("ec_f32_dwconv2d", "ec_f32_conv2d_1x1", "ec_f32_conv2d_im2col")
F32_DIRECT = "ec_f32_conv2d_direct"


def f32_conv_kernel(geo: LayerGeometry, node: Node) -> str:
    """The kernel of a float convolution: the float kernel the node asks for when it runs the
    layer, else the first of ``_F32_FIRST`` that does, else the direct convolution."""
    requested = BY_NAME.get(node.algorithm or "")
    if requested is not None and requested.dtype == "f32" and requested.op == "Conv" and requested.fits(geo):
        return requested.name
    return next((name for name in _F32_FIRST if BY_NAME[name].fits(geo)), F32_DIRECT)


def runs_xnor(graph: Graph, node: Node, fused_pad: Optional[Node] = None) -> bool:
    """Whether ``node`` (a convolution reading through ``fused_pad``, or a fully connected layer)
    can take packed input words: the XNOR kernel is its kernel (convolution) or fits it (linear)."""
    if not node.op.WEIGHTED:
        return False
    x = graph.tensors[(fused_pad or node).inputs[0]]
    wt, y = graph.tensors[node.inputs[1]], graph.tensors[node.output]
    if not wt.is_constant or x.dtype != "int8" or y.dtype != "int8":
        return False
    w = wt.data.astype(np.int64)
    if isinstance(node.op, Linear):
        return binary_operands(node, x, w)
    return conv_kernel(geometry(graph, node), node, x, w) == XNOR


def xnor_pad_fusions(graph: Graph) -> dict:
    """Conv node name -> the Pad node it absorbs: a +1 Pad on a {-1,+1} tensor read only by a
    zero-padded conv that runs the XNOR kernel becomes the conv's one-padding (no padded copy)."""
    fused = {}
    for node in graph.nodes:
        if not isinstance(node.op, Conv) or node.precision != "w1a1" or any(node.op.pads) or node.op.rank != 2:
            continue
        if CONV_ALGORITHMS.get(node.algorithm, node.algorithm) not in (None, XNOR):
            continue  # an int8 kernel was chosen for this layer: it needs the padded copy
        pad = graph.producer(node.inputs[0])
        if pad is None or not isinstance(pad.op, Pad) or len(pad.op.pads) != 4:
            continue
        src = graph.tensors[pad.inputs[0]]
        padded = graph.tensors[pad.output]
        if src.quant is None or padded.quant != src.quant or src.quant.qmin < -1 or src.quant.qmax > 1:
            continue
        if int(src.quant.zero_point[0]) != 0 or quantize_scalar(pad.op.value, src.quant) != 1:
            continue
        if len(graph.consumers(pad.output)) != 1 or pad.output in graph.outputs:
            continue
        w = graph.tensors[node.inputs[1]]
        if not w.is_constant or not BY_NAME[XNOR].runs(geometry(graph, node), node, src, w.data.astype(np.int64)):
            continue
        fused[node.name] = pad
    return fused

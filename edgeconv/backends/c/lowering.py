"""Lowering of IR nodes to C kernel calls: the table from op name to the lowering of its family.

Each lowering checks that the node fits a kernel (else raises ``emitter.Unsupported`` naming
why), emits the constants it needs (weights laid out for the chosen kernel, multipliers, tables,
parameter structs) through the ``emitter.Emitter``, and returns an ``emitter.LayerCall``. The
families: ``conv`` (Conv, Linear), ``conv_transpose``, ``binary`` (Add, Mul), ``pooling``, ``activation``
(activations, Quantize, Dequantize, Softmax, BatchNorm), ``reshape`` (Pad, Concat, Reshape),
``permute`` (Transpose, Slice, ResizeNearest) and ``resize`` (ResizeBilinear).
"""

from __future__ import annotations

from ...ir.ops import ops_with
from .activation import lower_batchnorm, lower_dequantize, lower_elementwise, lower_quantize, lower_softmax
from .binary import lower_add, lower_mul
from .conv import lower_conv, lower_linear
from .conv_transpose import lower_conv_transpose
from .pooling import lower_avgpool, lower_global_avgpool, lower_maxpool
from .permute import lower_resize_nearest, lower_slice, lower_transpose
from .reshape import lower_concat, lower_pad, lower_reshape
from .resize import lower_resize_bilinear

LOWERINGS: dict = {
    "Conv": lower_conv,
    "ConvTranspose": lower_conv_transpose,
    "Linear": lower_linear,
    "Add": lower_add,
    "Mul": lower_mul,
    "MaxPool": lower_maxpool,
    "AvgPool": lower_avgpool,
    "GlobalAvgPool": lower_global_avgpool,
    **{name: lower_elementwise for name in ops_with("PER_ELEMENT")},
    "Quantize": lower_quantize,
    "Dequantize": lower_dequantize,
    "Pad": lower_pad,
    "Concat": lower_concat,
    "Reshape": lower_reshape,
    "Transpose": lower_transpose,
    "Slice": lower_slice,
    "ResizeNearest": lower_resize_nearest,
    "ResizeBilinear": lower_resize_bilinear,
    "Softmax": lower_softmax,
    "BatchNorm": lower_batchnorm,
}

"""Operator versions, as TFLite's converter writes them (tensorflow/lite/tools/versioning).

Each builtin maps to ``(float32 version, int8 version)``: int8 per-channel CONV_2D and
DEPTHWISE_CONV_2D are version 3, int8 FULLY_CONNECTED version 4, most int8 elementwise ops 2.
"""

from __future__ import annotations

from tflite.BuiltinOperator import BuiltinOperator as B

OP_VERSIONS = {
    B.CONV_2D: (1, 3),
    B.DEPTHWISE_CONV_2D: (1, 3),
    B.FULLY_CONNECTED: (1, 4),
    B.TRANSPOSE_CONV: (3, 3),  # with a bias input, as conv_transpose.py writes it
    B.SHAPE: (1, 1),
    B.ADD: (1, 2),
    B.SUB: (1, 2),
    B.MUL: (1, 2),
    B.CONCATENATION: (1, 2),
    B.SPLIT: (1, 2),
    B.MAX_POOL_2D: (1, 2),
    B.AVERAGE_POOL_2D: (1, 2),
    B.MEAN: (1, 2),
    B.RESHAPE: (1, 1),
    B.TRANSPOSE: (1, 2),
    B.STRIDED_SLICE: (1, 2),
    B.RESIZE_NEAREST_NEIGHBOR: (1, 2),
    B.RESIZE_BILINEAR: (1, 2),  # 3 with half_pixel_centers (structure.write_resize_bilinear)
    B.PAD: (1, 2),
    B.PADV2: (1, 2),
    B.SOFTMAX: (1, 2),
    B.LOGISTIC: (1, 2),
    B.HARD_SWISH: (1, 1),
    B.LEAKY_RELU: (1, 1),
    B.TANH: (1, 2),
    B.ABS: (1, 2),
    B.EXP: (1, 2),
    B.DIV: (1, 2),
    B.RELU: (1, 2),
    B.RELU6: (1, 2),
    B.RELU_N1_TO_1: (1, 2),
    B.MAXIMUM: (1, 2),
    B.MINIMUM: (1, 2),
    B.GREATER_EQUAL: (1, 2),
    B.SELECT_V2: (1, 1),
    B.QUANTIZE: (1, 2),  # int8 -> int8 requantization; float -> int8 is version 1
    B.DEQUANTIZE: (1, 2),
    B.CAST: (1, 1),
    B.GATHER: (1, 2),
}


def op_version(builtin: int, quantized: bool) -> int:
    return OP_VERSIONS[builtin][1 if quantized else 0]

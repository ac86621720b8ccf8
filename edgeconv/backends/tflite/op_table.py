"""IR op name -> the function that writes it into a TFLite model."""

from __future__ import annotations

from . import conv, conv_transpose, elementwise, structure

OP_WRITERS = {
    "Conv": conv.write_conv,
    "ConvTranspose": conv_transpose.write_conv_transpose,
    "Linear": conv.write_linear,
    "BatchNorm": elementwise.write_batch_norm,
    "Add": elementwise.write_add,
    "Mul": elementwise.write_mul,
    "Clip": elementwise.write_clip,
    "LeakyRelu": elementwise.write_leaky_relu,
    "Hardswish": elementwise.write_hardswish,
    "Hardsigmoid": elementwise.write_hardsigmoid,
    "Sigmoid": elementwise.write_sigmoid,
    "SiLU": elementwise.write_silu,
    "Gelu": elementwise.write_gelu,
    "Sign": elementwise.write_sign,
    "Concat": structure.write_concat,
    "MaxPool": structure.write_max_pool,
    "AvgPool": structure.write_avg_pool,
    "GlobalAvgPool": structure.write_global_avg_pool,
    "Reshape": structure.write_reshape,
    "Transpose": structure.write_transpose,
    "Slice": structure.write_slice,
    "ResizeNearest": structure.write_resize_nearest,
    "ResizeBilinear": structure.write_resize_bilinear,
    "Pad": structure.write_pad,
    "Softmax": structure.write_softmax,
    "Quantize": structure.write_quantize,
    "Dequantize": structure.write_dequantize,
}

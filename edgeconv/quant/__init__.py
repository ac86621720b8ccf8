"""Quantization numerics: the integer semantics every kernel must match byte for byte.

Import the submodule that holds what you need (``quant.precision``, ``quant.calibrate``,
``quant.quantize_graph``...): the package itself imports nothing, so reading a precision does not
load torch.
"""

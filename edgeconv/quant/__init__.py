"""Quantization numerics: the integer semantics every kernel must match byte for byte."""

from .calibrate import Range, calibrate
from .precision import Precision, parse_precision, resolve_precisions, uniform_precisions
from .quantize_graph import quantize_graph

__all__ = [
    "Precision", "Range", "calibrate", "parse_precision", "quantize_graph", "resolve_precisions",
    "uniform_precisions",
]

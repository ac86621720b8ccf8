"""Quantization numerics: the integer semantics every kernel must match byte for byte."""

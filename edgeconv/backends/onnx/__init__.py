"""ONNX backend: IR -> .onnx (opset 21, QDQ for quantized graphs) with onnx.helper."""

from .writer import METADATA_KEY, OPSET, build_onnx, write_onnx

__all__ = ["write_onnx", "build_onnx", "OPSET", "METADATA_KEY"]

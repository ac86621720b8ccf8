"""The torch executor: an IR graph as a trainable module, float or fake-quantized (DESIGN §1)."""

from .module import GraphModule, build_module, run_numpy

__all__ = ["GraphModule", "build_module", "run_numpy"]

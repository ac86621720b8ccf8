"""The standard float clean-up run on every imported graph before selection and quantization."""

from __future__ import annotations

from ..ir import Graph, verify
from . import batchnorm_to_conv, fold_batchnorm, fuse_activation, remove_identity

# Order matters: removing no-ops first exposes Conv -> BatchNorm and Conv -> Clip pairs that a
# Reshape or an unbounded Clip separated; BatchNorm is folded before activations are fused, since in
# Conv -> BatchNorm -> ReLU the ReLU reaches the conv only once the BatchNorm is gone. A BatchNorm
# that could not be folded then becomes a depthwise 1x1 convolution, which an activation after it
# fuses into as well.
STANDARD_PASSES = (remove_identity, fold_batchnorm, batchnorm_to_conv, fuse_activation)


def prepare(graph: Graph) -> Graph:
    """Return a new graph: ``graph`` with no-ops removed, BatchNorms folded (or made depthwise 1x1
    convolutions), activations fused."""
    for float_pass in STANDARD_PASSES:
        graph = float_pass.run(graph)
    return verify(graph)

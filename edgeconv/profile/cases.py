"""The micro-benchmark: single-layer float graphs over the layer shapes and kernel variants that matter.

Each :class:`LayerCase` is one Conv or Linear layer of a shape typical of the small ConvNets edgeconv
targets (a stem on a 28x28 image, 3x3 convs of 16-64 channels on 16x16 and 8x8 maps, a pointwise
1x1 conv, a depthwise 3x3 conv, classifier layers), at one precision and on one kernel variant.
The float graph is quantized with :func:`edgeconv.quant.quantize_graph` at the case's precision
(float32 input -> Quantize -> layer -> Dequantize -> float32 output) and compiled with the C
backend, which honours the variant named in ``node.algorithm``.

Weights are seeded (``SEED``) He-normal values; their values do not change the time of a layer,
only its shape, precision and kernel do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Node, Tensor, ops
from ..quant.quantize_graph import quantize_graph

SEED = 0
CALIBRATION_SAMPLES = 8
LAYER = "layer"


@dataclass(frozen=True)
class ConvShape:
    """A 2-D convolution, square kernel and map: ``c_in -> c_out`` on ``size x size``."""

    c_in: int
    c_out: int
    size: int
    kernel: int
    stride: int = 1
    groups: int = 1

    @property
    def label(self) -> str:
        kind = "dw" if self.groups > 1 else f"{self.kernel}x{self.kernel}"
        return f"conv {kind} s{self.stride} {self.c_in}->{self.c_out} @{self.size}x{self.size}"


@dataclass(frozen=True)
class LinearShape:
    features_in: int
    features_out: int

    @property
    def label(self) -> str:
        return f"linear {self.features_in}->{self.features_out}"


@dataclass(frozen=True)
class LayerCase:
    shape: object  # ConvShape | LinearShape
    precision: str
    algorithm: str

    @property
    def label(self) -> str:
        return f"{self.shape.label} {self.precision} {self.algorithm}"


def _dense3x3(c_in: int, c_out: int, size: int) -> list:
    shape = ConvShape(c_in, c_out, size, 3)
    return [
        LayerCase(shape, "int8", "ec_s8_conv2d_slidingwin"),
        LayerCase(shape, "int8", "ec_s8_conv2d_im2col"),
        LayerCase(shape, "w2a2", "ec_s8_conv2d_bitserial"),
        LayerCase(shape, "w1a1", "ec_b1_conv2d_xnor"),
        LayerCase(shape, "fp32", "ec_f32_conv2d_direct"),
    ]


def default_cases() -> list:
    """Every (shape, precision, variant) the micro-benchmark measures, most common first."""
    stem = ConvShape(1, 16, 28, 3)
    pointwise = ConvShape(32, 64, 8, 1)
    depthwise = ConvShape(32, 32, 16, 3, groups=32)
    return [
        LayerCase(stem, "int8", "ec_s8_conv2d_slidingwin"),
        LayerCase(stem, "int8", "ec_s8_conv2d_im2col"),
        *_dense3x3(16, 16, 16),
        *_dense3x3(32, 32, 8),
        *_dense3x3(64, 64, 8),
        LayerCase(pointwise, "int8", "ec_s8_conv2d_1x1"),
        LayerCase(pointwise, "int8", "ec_s8_conv2d_im2col"),
        LayerCase(pointwise, "fp32", "ec_f32_conv2d_direct"),
        LayerCase(depthwise, "int8", "ec_s8_dwconv2d_3x3"),
        LayerCase(depthwise, "int8", "ec_s8_dwconv2d_generic"),
        LayerCase(LinearShape(784, 10), "int8", "ec_s8_fully_connected"),
        LayerCase(LinearShape(784, 10), "fp32", "ec_f32_fully_connected"),
        LayerCase(LinearShape(256, 64), "int8", "ec_s8_fully_connected"),
        LayerCase(LinearShape(256, 64), "fp32", "ec_f32_fully_connected"),
    ]


def _he_normal(rng: np.random.Generator, shape: tuple, fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)


def _conv_graph(shape: ConvShape, rng: np.random.Generator) -> tuple:
    pad = shape.kernel // 2
    op = ops.Conv(stride=(shape.stride,) * 2, pads=(pad,) * 4, dilation=(1, 1), groups=shape.groups,
                  clamp=(0.0, None))
    weight_shape = (shape.c_out, shape.c_in // shape.groups, shape.kernel, shape.kernel)
    fan_in = weight_shape[1] * shape.kernel * shape.kernel
    return (1, shape.c_in, shape.size, shape.size), op, _he_normal(rng, weight_shape, fan_in)


def _linear_graph(shape: LinearShape, rng: np.random.Generator) -> tuple:
    weight = _he_normal(rng, (shape.features_out, shape.features_in), shape.features_in)
    return (1, shape.features_in), ops.Linear(), weight


_GRAPH_PARTS = {ConvShape: _conv_graph, LinearShape: _linear_graph}


def float_graph(shape) -> Graph:
    """``input -> layer`` in float32, seeded weights and a small bias."""
    rng = np.random.default_rng(SEED)
    input_shape, op, weight = _GRAPH_PARTS[type(shape)](shape, rng)
    bias = (0.01 * rng.standard_normal(weight.shape[0])).astype(np.float32)
    graph = Graph(name="profile_layer", source_layout="NCHW" if len(input_shape) == 4 else "NC")
    graph.add_tensor(Tensor("input", input_shape, "float32"))
    graph.add_tensor(Tensor(f"{LAYER}.weight", weight.shape, "float32", data=weight))
    graph.add_tensor(Tensor(f"{LAYER}.bias", bias.shape, "float32", data=bias))
    output_shape = op.infer([input_shape, weight.shape, bias.shape])
    graph.add_tensor(Tensor(LAYER, output_shape, "float32"))
    graph.add_node(Node(LAYER, op, ["input", f"{LAYER}.weight", f"{LAYER}.bias"], LAYER))
    graph.inputs, graph.outputs = ["input"], [LAYER]
    return graph


def calibration_inputs(graph: Graph, samples: int = CALIBRATION_SAMPLES) -> np.ndarray:
    """Seeded inputs in [0, 1) (an image's domain) for the graph's first input."""
    shape = graph.tensors[graph.inputs[0]].shape
    return np.random.default_rng(SEED).uniform(0.0, 1.0, size=(samples, *shape[1:])).astype(np.float32)


def case_graph(case: LayerCase) -> Graph:
    """The quantized (or float) single-layer graph of ``case``, its variant in ``node.algorithm``."""
    graph = float_graph(case.shape)
    quantized = quantize_graph(graph, calibration_inputs(graph), {LAYER: case.precision})
    quantized.node(LAYER).algorithm = case.algorithm
    return quantized

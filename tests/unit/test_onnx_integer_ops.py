"""int8 activations, int8 -> int8 Quantize and int8 Mul in the .onnx: ONNX Runtime computes the
reference executor's bytes (``backends/onnx/integer.py``), and on a squeeze-excitation +
Hardswish net the only differences left are the convolutions' single rounding."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

from edgeconv.backends.onnx import build_onnx, write_onnx
from edgeconv.backends.tflite import model_io, to_channels_first, to_channels_last, write_tflite
from edgeconv.ir import Graph, Node, Tensor, ops
from edgeconv.reference import executor
from edgeconv.runtimes import onnxruntime as ort_adapter
from edgeconv.runtimes import tflm
from tests.kernels.onenode import one_node, q, reference

ALL_CODES = np.arange(-128, 128, dtype=np.int8).reshape(1, 4, 8, 8)

UNARY = {
    "hardswish": (ops.Hardswish(), q(0.05, 3), q(0.04, -20)),
    "sigmoid": (ops.Sigmoid(), q(0.07, -10), q(1 / 256, -128)),
    "hardsigmoid": (ops.Hardsigmoid(), q(0.03, 5), q(1 / 255, -128)),
    "silu": (ops.SiLU(), q(0.06, 0), q(0.03, -40)),
    "gelu": (ops.Gelu(), q(0.05, 7), q(0.03, -30)),
    "leaky_relu": (ops.LeakyRelu(alpha=0.1), q(0.05, 2), q(0.04, 10)),
    "requantize": (ops.Quantize(), q(0.05, 2), q(0.13, -7)),
    "requantize_2bit": (ops.Quantize(), q(0.05, 2), q(1 / 3, -128, qmax=-125)),
}


def _onnx_run(graph: Graph, feeds: dict) -> np.ndarray:
    session = onnxruntime.InferenceSession(build_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _isolated(graph: Graph, node: Node) -> Graph:
    """``node`` of ``graph`` alone, its activation inputs the graph inputs."""
    sub = Graph(name=node.name)
    for name in dict.fromkeys(n for n in node.inputs if n is not None):
        t = graph.tensors[name]
        sub.add_tensor(Tensor(name, t.shape, t.dtype, quant=t.quant, data=t.data))
        if not t.is_constant:
            sub.inputs.append(name)
    t = graph.tensors[node.output]
    sub.add_tensor(Tensor(node.output, t.shape, t.dtype, quant=t.quant))
    sub.add_node(Node(node.name, node.op, list(node.inputs), node.output, precision=node.precision))
    sub.outputs = [node.output]
    return sub


@pytest.mark.parametrize("case", sorted(UNARY))
def test_int8_elementwise_op_is_exact_on_every_code(case):
    op, q_in, q_out = UNARY[case]
    graph, _ = one_node(op, {"x": (ALL_CODES, q_in)}, ALL_CODES.shape, q_out)
    graph.inputs, graph.outputs = ["x"], ["y"]
    expected = reference(op, {"x": (ALL_CODES, q_in)}, q_out)
    np.testing.assert_array_equal(_onnx_run(graph, {"x": ALL_CODES}), expected)


@pytest.mark.parametrize("scales, clamp", [
    ((0.05, 1 / 255, 0.04), (None, None)),   # SE: features times a [0, 1] gate, shift < 0
    ((0.5, 0.6, 0.01), (None, None)),        # multiplier above 1: a left shift first
    ((0.02, 0.03, 0.002), (0.0, 0.1)),       # clamped
])
def test_int8_mul_is_exact_with_broadcast(scales, clamp):
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(3, 8, 5, 5)).astype(np.int8)
    b = rng.integers(-128, 128, size=(3, 8, 1, 1)).astype(np.int8)
    a[0, 0, 0, :] = [-128, 127, 0, -128, 127]
    b[0, 0] = -128
    inputs = {"a": (a, q(scales[0], -5)), "b": (b, q(scales[1], -128))}
    out_q = q(scales[2], 3)
    op = ops.Mul(clamp=clamp)
    graph, _ = one_node(op, inputs, a.shape, out_q)
    graph.inputs, graph.outputs = ["a", "b"], ["y"]
    np.testing.assert_array_equal(_onnx_run(graph, {"a": a, "b": b}), reference(op, inputs, out_q))


@pytest.fixture(scope="module")
def se_hardswish_net():
    """The zoo's MobileNetV2 (squeeze-excitation with a Hardsigmoid gate and broadcast Mul,
    Hardswish head) at int8, post-training quantization without fine-tuning, and 200 digits."""
    from edgeconv.zoo import training
    from edgeconv.zoo.compressed_models import compressed

    _, _, x_val, _ = training.digits_dataset()
    return compressed("mobilenetv2", "int8"), x_val[:200]


@pytest.mark.slow
def test_se_hardswish_net_nodes_in_isolation(se_hardswish_net):
    """Each node fed the reference's int8 inputs: Hardswish, the gate, the Mul, the adds and
    pools give the reference's bytes; a convolution or linear layer differs by at most 1 LSB, as
    ONNX Runtime rounds ``acc * M`` once where TFLite rounds twice (README, "How results are
    checked")."""
    graph, x = se_hardswish_net
    values = executor.run(graph, x, keep=True)
    seen = set()
    for node in graph.nodes:
        if node.op_name in ("Quantize", "Dequantize"):
            continue
        sub = _isolated(graph, node)
        got = _onnx_run(sub, {name: values[name] for name in sub.inputs}).astype(np.int32)
        diff = np.abs(got - values[node.output].astype(np.int32)).max()
        assert diff <= (1 if node.op.WEIGHTED else 0), (node.name, node.op_name, diff)
        seen.add(node.op_name)
    assert {"Hardswish", "Hardsigmoid", "Mul", "Add"} <= seen


@pytest.mark.slow
def test_se_hardswish_net_onnxruntime_agrees_with_tflite_micro(se_hardswish_net, tmp_path):
    """Top-1 of ONNX Runtime equals TFLite Micro's on every one of the 200 digits, and no int8
    logit is more LSB from TFLite Micro's than the net has weighted layers: each convolution's or
    linear layer's 1-LSB rounding (above), summed through the layers after it (2 on AVX2 and AMD
    AVX-512 machines, 3 on an Intel one with AMX, where ONNX Runtime runs other kernels)."""
    graph, x = se_hardswish_net
    io = model_io(graph)
    values = executor.run(graph, x, keep=True)
    micro = to_channels_first(np.asarray(tflm.run(write_tflite(graph, tmp_path / "m.tflite"),
                                                  to_channels_last(values[io.inputs[0]]))))
    np.testing.assert_array_equal(micro, values[io.outputs[0]])
    logits = np.asarray(ort_adapter.run(write_onnx(graph, tmp_path / "m.onnx"), x))
    out_q = graph.tensors[io.outputs[0]].quant
    codes = np.round(logits / np.float32(out_q.scale[0])).astype(np.int32) + int(out_q.zero_point[0])
    assert np.mean(logits.argmax(axis=1) == micro.argmax(axis=1)) == 1.0
    weighted = sum(1 for node in graph.nodes if node.op.WEIGHTED)
    assert np.abs(codes - micro.astype(np.int32)).max() <= weighted

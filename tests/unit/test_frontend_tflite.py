"""TFLite frontend and integer kernels against TensorFlow Lite Micro, one operator at a time.

Small real ``.tflite`` models are written here with the ``tflite`` schema builders (one operator
each, random weights and quantization), imported with ``load_tflite``, run on the reference
executor and compared with TFLM byte for byte: this checks the layout conversion, the options and
the integer semantics of every supported operator in one go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import flatbuffers
import numpy as np
import pytest
import tflite
from tflite.ActivationFunctionType import ActivationFunctionType as Act
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.Padding import Padding
from tflite.TensorType import TensorType

from edgeconv.errors import UserError
from edgeconv.frontend.tflite import load_tflite
from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.quant.lut import build_lut, gelu_math, hardsigmoid_math, silu_math
from edgeconv.reference import run
from edgeconv.runtimes import litert, tflm

NUMPY_OF = {TensorType.INT8: np.int8, TensorType.INT32: np.int32, TensorType.FLOAT32: np.float32}


# --- a minimal .tflite writer for tests -----------------------------------------------------------

@dataclass
class T:
    """A tensor of a test model: shape (TFLite layout), type, quantization, constant data."""

    shape: tuple
    type: int = TensorType.INT8
    scale: Optional[list] = None
    zero_point: Optional[list] = None
    axis: int = 0
    data: Optional[np.ndarray] = None


@dataclass
class O:
    """An operator: builtin code, tensor indices, options table name and its fields."""

    code: int
    inputs: list
    outputs: list
    options: Optional[str] = None
    fields: dict = field(default_factory=dict)


def _numpy_vector(b, values, dtype):
    return b.CreateNumpyVector(np.asarray(values, dtype=dtype))


def _offsets_vector(b, start, offsets):
    start(b, len(offsets))
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _options_table(b, name: str, fields: dict):
    getattr(tflite, f"{name}Start")(b)
    for key, value in fields.items():
        getattr(tflite, f"{name}Add{key}")(b, value)
    return getattr(tflite, f"{name}End")(b)


def build_model(tensors: list, operators: list, inputs: list, outputs: list) -> bytes:
    b = flatbuffers.Builder(1024)
    buffers = [(tflite.BufferStart(b), tflite.BufferEnd(b))[1]]
    buffer_of = {}
    for i, t in enumerate(tensors):
        if t.data is not None:
            raw = _numpy_vector(b, np.ascontiguousarray(t.data, dtype=NUMPY_OF[t.type]).view(np.uint8).ravel(), np.uint8)
            tflite.BufferStart(b)
            tflite.BufferAddData(b, raw)
            buffer_of[i] = len(buffers)
            buffers.append(tflite.BufferEnd(b))
    tensor_offsets = []
    for i, t in enumerate(tensors):
        name = b.CreateString(f"t{i}")
        shape = _numpy_vector(b, t.shape, np.int32)
        quant = None
        if t.scale is not None:
            scale = _numpy_vector(b, t.scale, np.float32)
            zp = _numpy_vector(b, t.zero_point if t.zero_point is not None else [0] * len(t.scale), np.int64)
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, t.type)
        tflite.TensorAddBuffer(b, buffer_of.get(i, 0))
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tensor_offsets.append(tflite.TensorEnd(b))
    codes = sorted({o.code for o in operators})
    code_offsets = []
    for code in codes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))
    op_offsets = []
    for o in operators:
        ins, outs = _numpy_vector(b, o.inputs, np.int32), _numpy_vector(b, o.outputs, np.int32)
        options = _options_table(b, o.options, o.fields) if o.options else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(o.code))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, o.options))
            tflite.OperatorAddBuiltinOptions(b, options)
        op_offsets.append(tflite.OperatorEnd(b))
    tensors_vec = _offsets_vector(b, tflite.SubGraphStartTensorsVector, tensor_offsets)
    ops_vec = _offsets_vector(b, tflite.SubGraphStartOperatorsVector, op_offsets)
    in_vec, out_vec = _numpy_vector(b, inputs, np.int32), _numpy_vector(b, outputs, np.int32)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, in_vec)
    tflite.SubGraphAddOutputs(b, out_vec)
    tflite.SubGraphAddOperators(b, ops_vec)
    subgraph = tflite.SubGraphEnd(b)
    subgraphs = _offsets_vector(b, tflite.ModelStartSubgraphsVector, [subgraph])
    codes_vec = _offsets_vector(b, tflite.ModelStartOperatorCodesVector, code_offsets)
    buffers_vec = _offsets_vector(b, tflite.ModelStartBuffersVector, buffers)
    description = b.CreateString("edgeconv test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes_vec)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffers_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# --- helpers --------------------------------------------------------------------------------------

def act(shape, scale, zp):
    return T(tuple(shape), TensorType.INT8, [scale], [zp])


def int8_weights(rng, shape, axis):
    channels = shape[axis]
    return T(tuple(shape), TensorType.INT8, list(rng.uniform(0.002, 0.02, channels)), [0] * channels, axis,
             rng.integers(-127, 128, size=shape, dtype=np.int8))


def bias(rng, n, input_scale, weight_scales):
    return T((n,), TensorType.INT32, [input_scale * s for s in weight_scales], [0] * n, 0,
             rng.integers(-3000, 3000, size=n, dtype=np.int32))


def random_inputs(shape, seed, n=4):
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)


def to_ir(x):
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def to_model(x):
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def assert_matches_tflm(tmp_path, tensors, operators, inputs, outputs, seed=0, x=None):
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, operators, inputs, outputs))
    graph = load_tflite(path)
    if x is None:
        x = random_inputs(tensors[inputs[0]].shape, seed)
    expected = tflm.run(path, x)
    ours = to_model(run(graph, to_ir(x))[graph.outputs[0]])
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours, expected)
    return graph


# --- convolutions and fully connected -------------------------------------------------------------

CONV_CASES = [
    # (input NHWC, out channels, kernel, stride, dilation, padding, activation)
    ((1, 9, 7, 3), 5, (3, 3), (1, 1), (1, 1), Padding.SAME, Act.NONE),
    ((1, 10, 9, 4), 6, (3, 2), (2, 2), (1, 1), Padding.SAME, Act.RELU),
    ((1, 11, 11, 5), 7, (3, 3), (1, 2), (2, 2), Padding.VALID, Act.RELU6),
    ((1, 8, 8, 3), 3, (5, 5), (3, 3), (1, 1), Padding.SAME, Act.RELU_N1_TO_1),
    ((1, 6, 7, 8), 4, (1, 1), (2, 1), (1, 1), Padding.VALID, Act.NONE),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_conv_2d_matches_tflm(tmp_path, case):
    shape, cout, kernel, stride, dilation, padding, activation = case
    rng = np.random.default_rng(CONV_CASES.index(case))
    cin = shape[3]
    w = int8_weights(rng, (cout, *kernel, cin), 0)
    out_h = -(-shape[1] // stride[0]) if padding == Padding.SAME else (shape[1] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    out_w = -(-shape[2] // stride[1]) if padding == Padding.SAME else (shape[2] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    tensors = [act(shape, 0.05, -3), w, bias(rng, cout, 0.05, w.scale), act((1, out_h, out_w, cout), 0.09, 5)]
    fields = dict(Padding=padding, StrideH=stride[0], StrideW=stride[1], DilationHFactor=dilation[0],
                  DilationWFactor=dilation[1], FusedActivationFunction=activation)
    graph = assert_matches_tflm(tmp_path, tensors, [O(Op.CONV_2D, [0, 1, 2], [3], "Conv2DOptions", fields)], [0], [3])
    assert graph.tensors[graph.nodes[0].inputs[1]].shape == (cout, cin, *kernel)  # OHWI -> OIHW


@pytest.mark.parametrize("seed", range(12))
def test_random_conv_configurations_match_tflm(tmp_path, seed):
    """Seeded random mixes of shape, kernel, stride, dilation, padding, groups and activation."""
    rng = np.random.default_rng(1000 + seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 5)), groups * int(rng.integers(1, 5))
    kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2)) if stride == (1, 1) else (1, 1)
    padding = int(rng.choice([Padding.SAME, Padding.VALID]))
    activation = int(rng.choice([Act.NONE, Act.RELU, Act.RELU6]))
    h, w_ = (int(v) for v in rng.integers(6, 12, 2))
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if padding == Padding.SAME:
        out = [-(-size // s_) for size, s_ in zip((h, w_), stride)]
    else:
        out = [(size - sp) // s_ + 1 for size, sp, s_ in zip((h, w_), span, stride)]
    weights = int8_weights(rng, (cout, *kernel, cin // groups), 0)
    in_scale, out_scale = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.02, 0.3))
    tensors = [act((1, h, w_, cin), in_scale, int(rng.integers(-128, 128))), weights,
               bias(rng, cout, in_scale, weights.scale), act((1, *out, cout), out_scale, int(rng.integers(-128, 128)))]
    fields = dict(Padding=padding, StrideH=stride[0], StrideW=stride[1], DilationHFactor=dilation[0],
                  DilationWFactor=dilation[1], FusedActivationFunction=activation)
    assert_matches_tflm(tmp_path, tensors, [O(Op.CONV_2D, [0, 1, 2], [3], "Conv2DOptions", fields)], [0], [3], seed=seed)


def test_grouped_conv_2d_matches_tflm(tmp_path):
    rng = np.random.default_rng(3)
    w = int8_weights(rng, (6, 3, 3, 2), 0)  # 3 groups of 2 input channels
    tensors = [act((1, 7, 7, 6), 0.04, 10), w, bias(rng, 6, 0.04, w.scale), act((1, 7, 7, 6), 0.1, -7)]
    fields = dict(Padding=Padding.SAME, StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1)
    graph = assert_matches_tflm(tmp_path, tensors, [O(Op.CONV_2D, [0, 1, 2], [3], "Conv2DOptions", fields)], [0], [3])
    assert graph.nodes[0].op.groups == 3


@pytest.mark.parametrize("multiplier,stride,padding", [(1, 1, Padding.SAME), (2, 2, Padding.SAME), (1, 2, Padding.VALID)])
def test_depthwise_conv_2d_matches_tflm(tmp_path, multiplier, stride, padding):
    rng = np.random.default_rng(multiplier * 10 + stride)
    channels = 5
    w = int8_weights(rng, (1, 3, 3, channels * multiplier), 3)
    size = 9
    out = -(-size // stride) if padding == Padding.SAME else (size - 3) // stride + 1
    tensors = [act((1, size, size, channels), 0.03, -20), w, bias(rng, channels * multiplier, 0.03, w.scale),
               act((1, out, out, channels * multiplier), 0.05, 2)]
    fields = dict(Padding=padding, StrideH=stride, StrideW=stride, DepthMultiplier=multiplier,
                  DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=Act.RELU)
    op = O(Op.DEPTHWISE_CONV_2D, [0, 1, 2], [3], "DepthwiseConv2DOptions", fields)
    graph = assert_matches_tflm(tmp_path, tensors, [op], [0], [3])
    weight = graph.tensors[graph.nodes[0].inputs[1]]
    assert weight.shape == (channels * multiplier, 1, 3, 3) and weight.quant.axis == 0


@pytest.mark.parametrize("per_channel", [False, True])
def test_fully_connected_matches_tflm(tmp_path, per_channel):
    rng = np.random.default_rng(7)
    w = int8_weights(rng, (9, 33), 0)
    if not per_channel:
        w.scale, w.zero_point = [0.011], [0]
    b = bias(rng, 9, 0.07, w.scale if per_channel else [w.scale[0]] * 9)
    if not per_channel:
        b.scale, b.zero_point = [0.07 * 0.011], [0]
    tensors = [act((1, 33), 0.07, 11), w, b, act((1, 9), 0.13, -4)]
    op = O(Op.FULLY_CONNECTED, [0, 1, 2], [3], "FullyConnectedOptions", dict(FusedActivationFunction=Act.RELU))
    assert_matches_tflm(tmp_path, tensors, [op], [0], [3])


@pytest.mark.parametrize("in_shape", [(1, 1, 1, 12), (1, 3, 4, 1)])
def test_fully_connected_on_a_rank4_input_flattens_first(tmp_path, in_shape):
    rng = np.random.default_rng(8)
    w = int8_weights(rng, (5, 12), 0)
    tensors = [act(in_shape, 0.07, 11), w, bias(rng, 5, 0.07, w.scale), act((1, 5), 0.13, -4)]
    graph = assert_matches_tflm(tmp_path, tensors, [O(Op.FULLY_CONNECTED, [0, 1, 2], [3], "FullyConnectedOptions", {})],
                                [0], [3])
    assert [n.op_name for n in graph.nodes] == ["Reshape", "Linear"]


def test_fully_connected_on_a_spatial_input_is_refused(tmp_path):
    rng = np.random.default_rng(8)
    w = int8_weights(rng, (5, 12), 0)
    tensors = [act((1, 2, 2, 3), 0.07, 11), w, bias(rng, 5, 0.07, w.scale), act((1, 5), 0.13, -4)]
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, [O(Op.FULLY_CONNECTED, [0, 1, 2], [3], "FullyConnectedOptions", {})], [0], [3]))
    with pytest.raises(UserError, match="FULLY_CONNECTED"):
        load_tflite(path)


# --- elementwise ----------------------------------------------------------------------------------

@pytest.mark.parametrize("code,options,activation", [
    (Op.ADD, "AddOptions", Act.NONE), (Op.ADD, "AddOptions", Act.RELU6),
    (Op.MUL, "MulOptions", Act.NONE), (Op.MUL, "MulOptions", Act.RELU),
])
def test_add_and_mul_match_tflm(tmp_path, code, options, activation):
    shape = (1, 5, 4, 6)
    tensors = [act(shape, 0.06, -10), act(shape, 0.11, 7), act(shape, 0.09, -2)]
    op = O(code, [0, 1], [2], options, dict(FusedActivationFunction=activation))
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, [op], [0, 1], [2]))
    graph = load_tflite(path)
    a, b = random_inputs(shape, 1), random_inputs(shape, 2)
    expected = tflm.run(path, [a, b])
    ours = to_model(run(graph, {graph.inputs[0]: to_ir(a), graph.inputs[1]: to_ir(b)})[graph.outputs[0]])
    np.testing.assert_array_equal(ours, expected)


def test_mul_by_per_channel_constant_broadcasts_in_channels_first(tmp_path):
    rng = np.random.default_rng(5)
    shape = (1, 4, 3, 6)
    scale = T((1, 1, 1, 6), TensorType.INT8, [0.02], [-5], 0, rng.integers(-128, 128, (1, 1, 1, 6), dtype=np.int8))
    tensors = [act(shape, 0.06, -10), scale, act(shape, 0.05, 3)]
    assert_matches_tflm(tmp_path, tensors, [O(Op.MUL, [0, 1], [2], "MulOptions", {})], [0], [2])


# --- pooling and reductions -----------------------------------------------------------------------

@pytest.mark.parametrize("code", [Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D])
@pytest.mark.parametrize("size,kernel,stride,padding", [
    (9, 3, 2, Padding.SAME), (8, 2, 2, Padding.VALID), (7, 3, 1, Padding.SAME), (10, 4, 3, Padding.SAME),
])
def test_pools_match_tflm(tmp_path, code, size, kernel, stride, padding):
    out = -(-size // stride) if padding == Padding.SAME else (size - kernel) // stride + 1
    tensors = [act((1, size, size, 3), 0.05, -7), act((1, out, out, 3), 0.05, -7)]
    fields = dict(Padding=padding, StrideH=stride, StrideW=stride, FilterHeight=kernel, FilterWidth=kernel,
                  FusedActivationFunction=Act.RELU)
    assert_matches_tflm(tmp_path, tensors, [O(code, [0], [1], "Pool2DOptions", fields)], [0], [1])


@pytest.mark.parametrize("keep_dims", [True, False])
@pytest.mark.parametrize("out_scale,out_zp", [(0.05, -7), (0.013, 20), (0.4, -100)])
def test_mean_over_spatial_axes_matches_tflm(tmp_path, keep_dims, out_scale, out_zp):
    out_shape = (1, 1, 1, 8) if keep_dims else (1, 8)
    axes = T((2,), TensorType.INT32, data=np.array([1, 2], dtype=np.int32))
    tensors = [act((1, 5, 7, 8), 0.05, -7), axes, act(out_shape, out_scale, out_zp)]
    op = O(Op.MEAN, [0, 1], [2], "ReducerOptions", dict(KeepDims=keep_dims))
    graph = assert_matches_tflm(tmp_path, tensors, [op], [0], [2])
    assert graph.nodes[0].op_name == "GlobalAvgPool"


# --- activations ----------------------------------------------------------------------------------

@pytest.mark.parametrize("in_scale,in_zp,beta", [(0.1, 3, 1.0), (0.02, -50, 1.0), (0.5, 0, 1.0), (0.07, 10, 0.5), (3.0, 0, 1.0)])
@pytest.mark.parametrize("shape", [(1, 10), (1, 3, 2, 7)])
def test_softmax_matches_tflm(tmp_path, in_scale, in_zp, beta, shape):
    tensors = [act(shape, in_scale, in_zp), act(shape, 1.0 / 256, -128)]
    assert_matches_tflm(tmp_path, tensors, [O(Op.SOFTMAX, [0], [1], "SoftmaxOptions", dict(Beta=beta))], [0], [1], seed=9)


@pytest.mark.parametrize("in_scale,in_zp", [(0.1, 3), (0.02, -50), (0.5, 0), (0.004, 100)])
def test_logistic_matches_tflm(tmp_path, in_scale, in_zp):
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    tensors = [act((1, 256), in_scale, in_zp), act((1, 256), 1.0 / 256, -128)]
    assert_matches_tflm(tmp_path, tensors, [O(Op.LOGISTIC, [0], [1])], [0], [1], x=x)


@pytest.mark.parametrize("in_scale,in_zp,out_scale,out_zp", [
    (0.05, -3, 0.04, -60), (0.1, 20, 0.2, -100), (0.02, 0, 0.01, -128), (0.3, -10, 0.5, -20),
])
def test_hard_swish_matches_tflm(tmp_path, in_scale, in_zp, out_scale, out_zp):
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    tensors = [act((1, 256), in_scale, in_zp), act((1, 256), out_scale, out_zp)]
    assert_matches_tflm(tmp_path, tensors, [O(Op.HARD_SWISH, [0], [1])], [0], [1], x=x)


@pytest.mark.parametrize("alpha,out_scale,out_zp", [(0.1, 0.05, -3), (0.2, 0.03, 10), (-0.5, 0.08, 0)])
def test_leaky_relu_matches_tflm(tmp_path, alpha, out_scale, out_zp):
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    tensors = [act((1, 256), 0.05, -3), act((1, 256), out_scale, out_zp)]
    op = O(Op.LEAKY_RELU, [0], [1], "LeakyReluOptions", dict(Alpha=alpha))
    assert_matches_tflm(tmp_path, tensors, [op], [0], [1], x=x)


@pytest.mark.parametrize("code,out_scale,out_zp", [
    (Op.RELU, 0.05, -3), (Op.RELU, 0.03, -128), (Op.RELU, 0.11, 40), (Op.RELU6, 0.05, -3),
])
def test_relus_match_tflm(tmp_path, code, out_scale, out_zp):
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    tensors = [act((1, 256), 0.05, -3), act((1, 256), out_scale, out_zp)]
    assert_matches_tflm(tmp_path, tensors, [O(code, [0], [1])], [0], [1], x=x)


# --- data movement and boundaries -----------------------------------------------------------------

def test_concatenation_on_channels_matches_tflm(tmp_path):
    a, b = (1, 4, 5, 3), (1, 4, 5, 2)
    tensors = [act(a, 0.05, 1), act(b, 0.05, 1), act((1, 4, 5, 5), 0.05, 1)]
    op = O(Op.CONCATENATION, [0, 1], [2], "ConcatenationOptions", dict(Axis=3))
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, [op], [0, 1], [2]))
    graph = load_tflite(path)
    assert graph.nodes[0].op.axis == 1
    xa, xb = random_inputs(a, 1), random_inputs(b, 2)
    ours = to_model(run(graph, {graph.inputs[0]: to_ir(xa), graph.inputs[1]: to_ir(xb)})[graph.outputs[0]])
    np.testing.assert_array_equal(ours, tflm.run(path, [xa, xb]))


@pytest.mark.parametrize("code", [Op.PAD, Op.PADV2])
def test_pad_matches_tflm(tmp_path, code):
    paddings = T((4, 2), TensorType.INT32, data=np.array([[0, 0], [1, 2], [0, 3], [0, 0]], dtype=np.int32))
    tensors = [act((1, 4, 5, 3), 0.05, -9), paddings, act((1, 7, 8, 3), 0.05, -9)]
    inputs = [0, 1]
    if code == Op.PADV2:
        tensors.append(T((1,), TensorType.INT8, [0.05], [-9], 0, np.array([31], dtype=np.int8)))
        inputs.append(3)
    graph = assert_matches_tflm(tmp_path, tensors, [O(code, inputs, [2])], [0], [2])
    assert graph.nodes[0].op.pads == (1, 0, 2, 3)


def test_quantize_and_dequantize_match_tflm(tmp_path):
    tensors = [T((1, 300), TensorType.FLOAT32), act((1, 300), 0.037, -5), act((1, 300), 0.05, 3),
               T((1, 300), TensorType.FLOAT32)]
    operators = [O(Op.QUANTIZE, [0], [1]), O(Op.QUANTIZE, [1], [2]), O(Op.DEQUANTIZE, [2], [3])]
    x = np.random.default_rng(0).uniform(-6, 6, (3, 300)).astype(np.float32)
    x[0, :8] = np.array([0.0185, -0.0185, 0.037 * 2.5, -0.037 * 2.5, 100.0, -100.0, 0.0, 0.037], dtype=np.float32)
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, operators, [0], [3]))
    graph = load_tflite(path)
    values = run(graph, x, keep=True)
    np.testing.assert_array_equal(values[graph.outputs[0]], tflm.run(path, x))


def test_float32_conv_model_matches_tflm_within_tolerance(tmp_path):
    rng = np.random.default_rng(1)
    w = T((4, 3, 3, 2), TensorType.FLOAT32, data=rng.standard_normal((4, 3, 3, 2)).astype(np.float32))
    b = T((4,), TensorType.FLOAT32, data=rng.standard_normal(4).astype(np.float32))
    tensors = [T((1, 6, 6, 2), TensorType.FLOAT32), w, b, T((1, 3, 3, 4), TensorType.FLOAT32)]
    fields = dict(Padding=Padding.SAME, StrideH=2, StrideW=2, DilationHFactor=1, DilationWFactor=1,
                  FusedActivationFunction=Act.RELU)
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, [O(Op.CONV_2D, [0, 1, 2], [3], "Conv2DOptions", fields)], [0], [3]))
    graph = load_tflite(path)
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    ours = to_model(run(graph, to_ir(x))[graph.outputs[0]])
    expected = tflm.run(path, x)
    assert np.abs(ours - expected).max() <= 1e-4 * max(1.0, np.abs(ours).max())
    assert graph.nodes[0].precision == "fp32" and graph.source_layout == "NHWC"


@pytest.mark.parametrize("tanh", [False, True])
def test_float_gelu_matches_litert_within_tolerance(tmp_path, tanh):
    """TFLite Micro has no GELU kernel: LiteRT is the runtime that reads the builtin."""
    tensors = [T((1, 4, 5, 3), TensorType.FLOAT32), T((1, 4, 5, 3), TensorType.FLOAT32)]
    path = tmp_path / "gelu.tflite"
    path.write_bytes(build_model(tensors, [O(Op.GELU, [0], [1], "GeluOptions", dict(Approximate=tanh))], [0], [1]))
    graph = load_tflite(path)
    assert graph.nodes[0].op == ops.Gelu(approximate="tanh" if tanh else "none")
    x = np.random.default_rng(4).uniform(-6, 6, (3, 4, 5, 3)).astype(np.float32)
    ours = to_model(run(graph, to_ir(x))[graph.outputs[0]])
    expected = litert.run(path, x)
    assert np.abs(ours - expected).max() <= 1e-4 * max(1.0, np.abs(ours).max())


def test_int8_gelu_is_refused(tmp_path):
    tensors = [act((1, 16), 0.05, -3), act((1, 16), 0.03, -20)]
    path = tmp_path / "gelu.tflite"
    path.write_bytes(build_model(tensors, [O(Op.GELU, [0], [1], "GeluOptions", dict(Approximate=False))], [0], [1]))
    with pytest.raises(UserError, match="GELU is supported on float32 tensors only"):
        load_tflite(path)


# --- what the frontend refuses --------------------------------------------------------------------

def test_every_unsupported_operator_is_listed_at_once(tmp_path):
    tensors = [T((1, 8), TensorType.FLOAT32), T((1, 8), TensorType.FLOAT32), T((1, 8), TensorType.FLOAT32),
               T((1, 8), TensorType.FLOAT32)]
    operators = [O(Op.TANH, [0], [1]), O(Op.RELU, [1], [2]), O(Op.SQRT, [2], [3])]
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, operators, [0], [3]))
    with pytest.raises(UserError) as info:
        load_tflite(path)
    message = str(info.value)
    assert "TANH" in message and "SQRT" in message and "RELU " not in message and "model.tflite" in message


def test_unsupported_tensor_type_is_refused(tmp_path):
    tensors = [T((1, 8), TensorType.INT16, [0.01], [0]), T((1, 8), TensorType.INT16, [0.01], [0])]
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, [O(Op.RELU, [0], [1])], [0], [1]))
    with pytest.raises(UserError, match="INT16"):
        load_tflite(path)


def test_reshape_that_reorders_nhwc_elements_is_refused(tmp_path):
    shape_tensor = T((2,), TensorType.INT32, data=np.array([1, 24], dtype=np.int32))
    tensors = [act((1, 2, 3, 4), 0.1, 0), shape_tensor, act((1, 24), 0.1, 0)]
    path = tmp_path / "model.tflite"
    path.write_bytes(build_model(tensors, [O(Op.RESHAPE, [0, 1], [2])], [0], [2]))
    with pytest.raises(UserError, match="reorders NHWC"):
        load_tflite(path)


def test_reshape_of_one_by_one_spatial_tensor_is_kept(tmp_path):
    shape_tensor = T((2,), TensorType.INT32, data=np.array([1, 6], dtype=np.int32))
    tensors = [act((1, 1, 1, 6), 0.1, 0), shape_tensor, act((1, 6), 0.1, 0)]
    graph = assert_matches_tflm(tmp_path, tensors, [O(Op.RESHAPE, [0, 1], [2])], [0], [2])
    assert graph.nodes[0].op.shape == (6,)


def test_not_a_tflite_file_is_a_user_error(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"this is not a flatbuffer")
    with pytest.raises(UserError, match="broken.tflite"):
        load_tflite(path)


# --- the builtin-op form of the lookup-table activations ------------------------------------------

@pytest.mark.parametrize("op", [ops.SiLU(), ops.Hardsigmoid(), ops.Gelu(), ops.Gelu(approximate="tanh")], ids=repr)
def test_lookup_table_chain_runs_exactly_on_tflm_and_litert(tmp_path, op):
    """CAST(int8->int32), ADD 128, GATHER(table) reproduces the SiLU/Hardsigmoid/Gelu int8 kernels."""
    in_q = QuantParams(np.array([0.05]), np.array([-3]))
    out_q = QuantParams(np.array([0.03]), np.array([-20]))
    fn = {"SiLU": silu_math, "Hardsigmoid": hardsigmoid_math, "Gelu": gelu_math}[op.NAME]
    table = build_lut(lambda v: fn(op, v), in_q, out_q)
    tensors = [act((1, 256), 0.05, -3), T((1, 256), TensorType.INT32),
               T((1,), TensorType.INT32, data=np.array([128], dtype=np.int32)), T((1, 256), TensorType.INT32),
               T((256,), TensorType.INT8, [0.03], [-20], 0, table), act((1, 256), 0.03, -20)]
    operators = [O(Op.CAST, [0], [1]), O(Op.ADD, [1, 2], [3], "AddOptions", {}),
                 O(Op.GATHER, [4, 3], [5], "GatherOptions", dict(Axis=0))]
    path = tmp_path / "lut.tflite"
    path.write_bytes(build_model(tensors, operators, [0], [5]))

    g = Graph(name="lut")
    g.add_tensor(Tensor("x", (1, 256), "int8", quant=in_q))
    g.add_tensor(Tensor("y", (1, 256), "int8", quant=out_q))
    g.add_node(Node("act", op, ["x"], "y", precision="int8"))
    g.inputs, g.outputs = ["x"], ["y"]
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    ours = run(g, x)["y"]
    np.testing.assert_array_equal(tflm.run(path, x), ours)
    for op_resolver in litert.OP_RESOLVERS:
        np.testing.assert_array_equal(litert.run(path, x, op_resolver=op_resolver), ours)


def test_float_tflite_is_quantized_like_any_float_model(tmp_path):
    """No ``--precisions`` (or ``--latency-ms``): the DESIGN defaults, calibrated on ``--data``."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from edgeconv.frontend import load_model
    from hostile_models import write_float_tflite, write_nhwc_npz

    model = write_float_tflite(tmp_path / "float.tflite")
    data = write_nhwc_npz(tmp_path / "calib.npz")
    mlperf = Path(__file__).parents[1] / "data" / "mlperf_tiny" / "kws_dscnn_int8.tflite"
    assert not load_model(model).is_quantized() and load_model(mlperf).is_quantized()
    program = [sys.executable, "-c", "from edgeconv.cli import main; main()", "compress", str(model), "--target", "host"]
    for extra in ([], ["--latency-ms", "5"]):
        out = tmp_path / f"out{len(extra)}"
        result = subprocess.run([*program, "--data", str(data), "--out", str(out), "--json", *extra],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads((out / "report.json").read_text())["precisions_allowed"]

"""ResizeBilinear (``interpolate(mode="bilinear")``) on every backend, one small graph each: the int8
codes equal the reference executor's byte for byte on TFLite Micro, LiteRT's builtin kernel, ONNX
Runtime and the generated C, up and down, at half-pixel centers and with ``align_corners``; LiteRT
with XNNPACK rounds its own way (``xnn_s8_ibilinear``: weights in units of 2^-11, rounding half up)
and stays within 2 codes; in float every runtime is within the float tolerance of PyTorch."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeconv.backends.onnx import write_onnx
from edgeconv.backends.tflite import to_channels_first
from edgeconv.errors import UserError
from edgeconv.frontend import load_model
from edgeconv.frontend.tflite import load_tflite
from edgeconv.ir import ops
from edgeconv.quant import bilinear
from edgeconv.reference import executor
from edgeconv.runtimes import litert, tflm
from edgeconv.runtimes import onnxruntime as ort_adapter
from tests.kernels.qgraphs import GraphBuilder as QGraphBuilder
from tests.unit.test_codegen import check_exact
from tests.unit.test_threads import split_kernels, threaded
from tests.unit.test_tflite_writer import FLOAT_RTOL, GraphBuilder, tflite_feeds_and_reference, write

# (input N, C, H, W; output H, W): 2x up (the FPN case), a non-integer up, down, down to one row.
SHAPES = [((1, 5, 4, 6), (8, 12)), ((1, 3, 7, 5), (11, 13)), ((1, 4, 9, 10), (4, 3)), ((1, 4, 9, 10), (1, 5))]
XNNPACK_MAX_LSB = 2


def _case_id(case) -> str:
    (_, _, h, w), (oh, ow) = case
    return f"{h}x{w}-{oh}x{ow}"


def one_resize(shape, size, align_corners, dtype="int8"):
    """Quantize, resize, dequantize (int8) or a bare float resize."""
    if dtype == "int8":
        b = QGraphBuilder(shape, seed=3)
        b.quantize(scale=1 / 50, zp=-7)
        b.same_quant(ops.ResizeBilinear(size=size, align_corners=align_corners))
        return b.finish()
    g = GraphBuilder(shape, seed=3)
    g.node(ops.ResizeBilinear(size=size, align_corners=align_corners))
    return g.finish()


def _inputs(shape, n: int = 8) -> np.ndarray:
    # Beyond the grid's range, so codes saturate to both ends and ties of both signs occur.
    return np.random.default_rng(1).uniform(-3, 3, size=(n, *shape[1:])).astype(np.float32)


def test_integer_taps_are_tflites_half_pixel_formula():
    # 4 -> 8: scale 512/1024, t = 512 i - 256, lo = max(t / 1024, 0), hi = min(ceil(t / 1024), 3).
    taps = bilinear.int_taps(4, 8, align_corners=False)
    assert taps.lo.tolist() == [0, 0, 0, 1, 1, 2, 2, 3]
    assert taps.hi.tolist() == [0, 1, 1, 2, 2, 3, 3, 3]
    assert taps.frac.tolist() == [-256, 256, 768, 256, 768, 256, 768, 256]
    # align_corners: 3 -> 5, scale (2 * 1024 + 2) / 4 = 512: every other output on an input.
    corners = bilinear.int_taps(3, 5, align_corners=True)
    assert corners.lo.tolist() == [0, 0, 1, 1, 2] and corners.frac.tolist() == [0, 512, 0, 512, 0]


def test_float_taps_blend_to_one_and_match_pytorch_coordinates():
    for inp, out, corners in [(4, 8, False), (7, 11, True), (9, 4, False)]:
        taps = bilinear.float_taps(inp, out, corners)
        np.testing.assert_allclose(taps.w_lo + taps.w_hi, 1.0, atol=1e-6)
        ramp = torch.arange(inp, dtype=torch.float32).reshape(1, 1, 1, inp)
        expected = F.interpolate(ramp, size=(1, out), mode="bilinear", align_corners=corners).reshape(-1).numpy()
        np.testing.assert_allclose(taps.lo * taps.w_lo + taps.hi * taps.w_hi, expected, atol=1e-5)


@pytest.mark.parametrize("align_corners", [False, True], ids=["half-pixel", "align-corners"])
@pytest.mark.parametrize("case", SHAPES, ids=_case_id)
def test_int8_resize_is_exact_on_every_runtime(tmp_path, case, align_corners):
    shape, size = case
    graph = one_resize(shape, size, align_corners)
    x = _inputs(shape)
    feed, codes = tflite_feeds_and_reference(graph, x)
    assert codes.dtype == np.int8 and codes.shape == (len(x), shape[1], *size)
    path = write(graph, tmp_path)
    for got in (tflm.run(path, feed), litert.run(path, feed, "builtin")):
        np.testing.assert_array_equal(to_channels_first(np.asarray(got)), codes)
    xnnpack = to_channels_first(np.asarray(litert.run(path, feed, "xnnpack"))).astype(int)
    assert np.abs(xnnpack - codes).max() <= XNNPACK_MAX_LSB
    onnx_path = write_onnx(graph, tmp_path / "model.onnx", {})
    np.testing.assert_array_equal(np.asarray(ort_adapter.run(onnx_path, x)), codes)
    check_exact(graph, tmp_path, x, sanitize=case == SHAPES[0])


@pytest.mark.parametrize("align_corners", [False, True], ids=["half-pixel", "align-corners"])
def test_float_resize_matches_pytorch_on_every_runtime(tmp_path, align_corners):
    shape, size = SHAPES[1]
    graph = one_resize(shape, size, align_corners, dtype="float32")
    x = _inputs(shape)
    reference = executor.run_single(graph, x)
    expected = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=align_corners).numpy()
    tolerance = FLOAT_RTOL * max(1.0, float(np.abs(expected).max()))
    assert np.abs(reference - expected).max() <= tolerance
    feed, _ = tflite_feeds_and_reference(graph, x)
    path = write(graph, tmp_path)
    for got in (tflm.run(path, feed), litert.run(path, feed, "builtin"), litert.run(path, feed, "xnnpack")):
        assert np.abs(to_channels_first(np.asarray(got)) - reference).max() <= tolerance
    got = np.asarray(ort_adapter.run(write_onnx(graph, tmp_path / "model.onnx", {}), x))
    assert np.abs(got - reference).max() <= tolerance
    check_exact(graph, tmp_path, x, sanitize=False)  # the C runs TFLite's float order: equal


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_resize_cut_into_row_tasks_gives_the_same_bytes(tmp_path, dtype):
    """Generated for 4 threads with every layer cut into tasks of output rows: at 1 to 4 threads
    the bytes of one thread, which are the reference's."""
    shape, size = SHAPES[1]
    graph = one_resize(shape, size, align_corners=False, dtype=dtype)
    x = _inputs(shape, 3)
    project, outputs = threaded(graph, x, tmp_path)
    assert f"ec_{'s8' if dtype == 'int8' else 'f32'}_resize_bilinear" in split_kernels(project)
    np.testing.assert_array_equal(outputs[1], executor.run_single(graph, x))


@pytest.mark.parametrize("align_corners", [False, True], ids=["half-pixel", "align-corners"])
def test_tflite_resize_bilinear_is_read_back_and_matches_tflm(tmp_path, align_corners):
    """The .tflite written above, imported with its own quantization: the same op, TFLM's codes."""
    shape, size = SHAPES[1]
    path = write(one_resize(shape, size, align_corners), tmp_path)
    graph = load_tflite(path)
    assert [n.op for n in graph.nodes] == [ops.ResizeBilinear(size=size, align_corners=align_corners)]
    codes = np.random.default_rng(5).integers(-128, 128, size=(4, shape[2], shape[3], shape[1]), dtype=np.int8)
    ours = executor.run(graph, codes.transpose(0, 3, 1, 2))[graph.outputs[0]]
    np.testing.assert_array_equal(ours.transpose(0, 2, 3, 1), np.asarray(tflm.run(path, codes)))


def _onnx_resize(path, sizes=None, scales=None, **attrs):
    """A one-node ONNX model: Resize (linear) of an (N, 2, 5, 7) input, opset 19."""
    inputs = ["x", "", "scales" if scales is not None else "", "sizes" if sizes is not None else ""]
    inits = [onnx.numpy_helper.from_array(np.array(v, dtype=dt), name)
             for name, v, dt in (("scales", scales, np.float32), ("sizes", sizes, np.int64)) if v is not None]
    node = onnx.helper.make_node("Resize", inputs, ["y"], mode="linear", **attrs)
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "resize", [value("x", onnx.TensorProto.FLOAT, ["N", 2, 5, 7])],
                                   [value("y", onnx.TensorProto.FLOAT, ["N", 2, "h", "w"])], inits)
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 19)]), str(path))
    return path


@pytest.mark.parametrize("attrs, sizes, scales, expected", [
    (dict(coordinate_transformation_mode="half_pixel", axes=[2, 3]), [10, 14], None, ops.ResizeBilinear(size=(10, 14))),
    (dict(coordinate_transformation_mode="align_corners"), None, [1, 1, 1.5, 0.5], ops.ResizeBilinear((7, 3), True)),
], ids=["half-pixel-sizes-of-axes", "align-corners-scales"])
def test_onnx_linear_resize_reads_as_pytorch_and_onnxruntime_compute_it(tmp_path, attrs, sizes, scales, expected):
    path = _onnx_resize(tmp_path / "m.onnx", sizes, scales, **attrs)
    graph = load_model(path)
    assert [n.op for n in graph.nodes] == [expected]
    x = np.random.default_rng(2).normal(size=(3, 2, 5, 7)).astype(np.float32)
    theirs = np.asarray(ort_adapter.run(path, x))
    assert np.abs(executor.run_single(graph, x) - theirs).max() <= FLOAT_RTOL * max(1.0, float(np.abs(theirs).max()))


def test_written_onnx_is_read_back_as_the_same_resize(tmp_path):
    """The float .onnx the writer makes (sizes of axes 2 and 3) imports as the op it came from."""
    shape, size = SHAPES[1]
    op = ops.ResizeBilinear(size=size, align_corners=True)
    g = GraphBuilder(shape, seed=3)
    g.node(op)
    graph = load_model(write_onnx(g.finish(), tmp_path / "model.onnx", {}))
    assert [n.op for n in graph.nodes] == [op]


@pytest.mark.parametrize("attrs, words", [
    (dict(coordinate_transformation_mode="half_pixel", antialias=1), "antialias"),
    (dict(coordinate_transformation_mode="asymmetric"), "'asymmetric'"),
    (dict(coordinate_transformation_mode="pytorch_half_pixel"), "output dim of 1"),
], ids=["antialias", "asymmetric", "pytorch-half-pixel-to-1"])
def test_onnx_linear_resize_refusals_name_the_reason(tmp_path, attrs, words):
    with pytest.raises(UserError) as info:
        load_model(_onnx_resize(tmp_path / "m.onnx", sizes=[1, 2, 1, 14], **attrs))
    assert "Resize" in str(info.value) and words in str(info.value)


class _Interpolate(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def forward(self, x):
        return F.interpolate(x, **self.kwargs)


@pytest.mark.parametrize("kwargs, words", [
    (dict(scale_factor=2, mode="bilinear", antialias=True), "antialias"),
    (dict(scale_factor=1.5, mode="bilinear"), "recompute_scale_factor=True"),
], ids=["antialias", "inexact-factor"])
def test_unsupported_bilinear_forms_are_refused_with_the_reason(tmp_path, kwargs, words):
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(_Interpolate(**kwargs), (torch.randn(1, 2, 5, 7),)), str(path))
    with pytest.raises(UserError) as info:
        load_model(path)
    assert "upsample_bilinear2d" in str(info.value) and words in str(info.value)


def test_inexact_factor_with_align_corners_is_read_as_its_size(tmp_path):
    """With ``align_corners`` PyTorch's coordinates depend on the sizes only, so any factor reads."""
    module = _Interpolate(scale_factor=1.5, mode="bilinear", align_corners=True)
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(module, (torch.randn(1, 2, 5, 7),)), str(path))
    graph = load_model(path)
    assert [n.op for n in graph.nodes] == [ops.ResizeBilinear(size=(7, 10), align_corners=True)]
    x = np.random.default_rng(0).normal(size=(2, 2, 5, 7)).astype(np.float32)
    expected = module(torch.from_numpy(x)).numpy()
    assert np.abs(executor.run_single(graph, x) - expected).max() <= FLOAT_RTOL * max(1.0, float(np.abs(expected).max()))


def test_torchscript_bilinear_reads_as_torch_export_does(tmp_path):
    """A traced module: TorchScript's ``aten::upsample_bilinear2d`` (tensor argument ``self``)."""
    module = _Interpolate(size=(9, 4), mode="bilinear", align_corners=True).eval()
    torch.jit.trace(module, torch.randn(1, 2, 5, 7)).save(str(tmp_path / "m.pt"))
    graph = load_model(tmp_path / "m.pt", input_shape=(1, 2, 5, 7))
    assert [n.op for n in graph.nodes] == [ops.ResizeBilinear(size=(9, 4), align_corners=True)]
    x = np.random.default_rng(0).normal(size=(2, 2, 5, 7)).astype(np.float32)
    expected = module(torch.from_numpy(x)).numpy()
    assert np.abs(executor.run_single(graph, x) - expected).max() <= FLOAT_RTOL * max(1.0, float(np.abs(expected).max()))

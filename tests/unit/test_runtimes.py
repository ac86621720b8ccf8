"""Runtime adapters on the real runtimes: TFLite Micro, LiteRT (XNNPACK and builtin), ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import tflite
from onnx import TensorProto, helper, numpy_helper

from edgeconv.runtimes import litert, onnxruntime, tflm

DATA = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny"
AD = DATA / "ad_fc_autoencoder_int8.tflite"
IC = DATA / "ic_resnet8_int8.tflite"
KWS = DATA / "kws_dscnn_int8.tflite"


def int8_batch(shape, n, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape), dtype=np.int8)


def test_versions_name_the_installed_runtimes():
    assert tflm.version() and litert.version().split()[0] in ("ai-edge-litert", "tflite_runtime")
    assert onnxruntime.version()[0].isdigit()


def test_tflm_loops_over_the_batch():
    x = int8_batch((640,), 3)
    batched = tflm.run(AD, x)
    one_by_one = np.concatenate([tflm.run(AD, x[i:i + 1]) for i in range(3)])
    assert batched.shape == (3, 640) and batched.dtype == np.int8
    np.testing.assert_array_equal(batched, one_by_one)
    assert not np.array_equal(batched[0], batched[1])


def test_tflm_tensors_returns_every_tensor_of_one_sample():
    x = int8_batch((49, 10, 1), 1)
    values = tflm.tensors(KWS, x)
    subgraph = tflite.Model.GetRootAsModel(KWS.read_bytes(), 0).Subgraphs(0)
    assert len(values) == subgraph.TensorsLength()
    np.testing.assert_array_equal(values[subgraph.Inputs(0)], x)
    np.testing.assert_array_equal(values[subgraph.Outputs(0)], tflm.run(KWS, x))


@pytest.mark.parametrize("path,io_bytes", [(IC, 2 * 32 * 32 * 16), (KWS, 2 * 25 * 5 * 64), (AD, 640 + 128)])
def test_tflm_arena_report_parses_print_allocations(path, io_bytes):
    report = tflm.arena_report(path)
    assert report.head_bytes + report.tail_bytes == report.total_bytes
    # The planned head must hold at least the largest pair of tensors live at once.
    assert report.head_bytes >= io_bytes


@pytest.mark.parametrize("op_resolver", litert.OP_RESOLVERS)
def test_litert_resizes_the_batch(op_resolver):
    x = int8_batch((32, 32, 3), 4, seed=1)
    batched = litert.run(IC, x, op_resolver=op_resolver)
    assert batched.shape == (4, 10) and batched.dtype == np.int8
    one_by_one = np.concatenate([litert.run(IC, x[i:i + 1], op_resolver=op_resolver) for i in range(4)])
    np.testing.assert_array_equal(batched, one_by_one)


def test_litert_agrees_with_tflm_on_top1_for_the_keyword_model():
    x = int8_batch((49, 10, 1), 8, seed=2)
    assert np.array_equal(litert.run(KWS, x, op_resolver="builtin").argmax(1), tflm.run(KWS, x).argmax(1))


def test_litert_rejects_an_unknown_op_resolver():
    with pytest.raises(ValueError, match="op_resolver"):
        litert.run(AD, int8_batch((640,), 1), op_resolver="gpu")


def _conv_relu_onnx(path: Path, w: np.ndarray, b: np.ndarray) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 5, 5])
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "conv_relu", [x], [y],
                              initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def test_onnxruntime_runs_single_threaded_and_matches_numpy(tmp_path):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    path = tmp_path / "conv_relu.onnx"
    _conv_relu_onnx(path, w, b)
    x = rng.standard_normal((4, 2, 5, 5)).astype(np.float32)
    y = onnxruntime.run(path, x)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros((4, 3, 5, 5))
    for i in range(3):
        for j in range(3):
            expected += np.einsum("nchw,oc->nohw", xp[:, :, i:i + 5, j:j + 5], w[:, :, i, j].astype(np.float64))
    expected = np.maximum(expected + b.reshape(1, 3, 1, 1), 0)
    assert y.shape == (4, 3, 5, 5) and np.abs(y - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    options = onnxruntime.session(path).get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1

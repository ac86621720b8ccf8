"""The params groups of a graph to quantize: which tensors share one QuantParams, and which."""

import numpy as np
import pytest

from edgeconv.errors import UserError
from edgeconv.ir import ops
from edgeconv.quant.calibrate import calibrate
from edgeconv.quant.precision import resolve_precisions
from edgeconv.quant.param_groups import group_params
from edgeconv.quant.quantizers import asymmetric_params, dorefa_params, probability_params
from test_quant_graph import X, Builder, cnn


def params_of(graph, precisions, ranges=None):
    return group_params(graph, resolve_precisions(graph, precisions), calibrate(graph, X) if ranges is None else ranges)


def test_a_pool_shares_its_input_params_and_a_bounded_clamp_gives_its_range():
    g = cnn()
    params = params_of(g, "int8")
    ranges = calibrate(g, X)
    assert params["pool1.out"] == params["conv1.out"]
    assert params["conv1.out"] == asymmetric_params(ranges["conv1.out"].lo, ranges["conv1.out"].hi)
    assert params["conv2.out"] == asymmetric_params(0.0, 6.0)  # ReLU6
    assert "conv1.w" not in params  # constants are no activations


def test_a_tensor_only_dorefa_layers_read_takes_the_dorefa_grid():
    params = params_of(cnn(), {"conv1": "int8", "conv2": "w4a4", "dw3": "w2a4", "fc": "int8"})
    assert params["pool1.out"] == params["conv1.out"] == dorefa_params(4)
    assert params["conv2.out"].levels == 256  # the Add reads it too


def test_a_probability_output_takes_its_fixed_grid():
    b = Builder((1, 6))
    b.linear("fc", 4)
    b.node("soft", ops.Softmax(axis=1))
    g = b.done()
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    assert group_params(g, resolve_precisions(g, "int8"), calibrate(g, x))["soft.out"] == probability_params()


def test_fp32_layers_are_left_out_and_a_missing_range_is_refused():
    g = cnn()
    params = params_of(g, {"conv1": "int8", "conv2": "fp32", "dw3": "fp32", "fc": "fp32"})
    assert "conv2.out" not in params and "pool1.out" in params
    ranges = calibrate(g, X)
    del ranges["conv1.out"], ranges["pool1.out"]
    with pytest.raises(UserError, match="no calibration range"):
        params_of(g, "int8", ranges)

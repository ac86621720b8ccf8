"""The checks of user values in edgeconv.arguments: numbers that must be finite, seeds in the range
the generators take, and the one bound on tensor sizes."""

from __future__ import annotations

import pytest

from edgeconv import arguments
from edgeconv.errors import UserError
from edgeconv.ir.graph import Graph
from edgeconv.ir.tensor import Tensor


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1e-3", float("inf"), float("nan"), 0.0])
def test_positive_numbers_are_finite_and_above_zero(value):
    with pytest.raises(UserError, match=r"^--lr must be greater than 0 and finite, got "):
        arguments.positive("--lr", value)


def test_positive_numbers_are_parsed():
    assert arguments.positive("--lr", "3e-3") == 3e-3
    assert arguments.positive("--latency-ms", 20) == 20.0
    assert arguments.positive("--memory-kb", None) is None
    with pytest.raises(UserError, match="--memory-kb 'lots' is not a number"):
        arguments.positive("--memory-kb", "lots")


@pytest.mark.parametrize("value", ["-1", "4294967296", str(2**64 + 1), -1, 2**70])
def test_seed_outside_32_bits_is_refused_with_the_range(value):
    with pytest.raises(UserError, match=rf"^--seed {value} is outside 0\.\.4294967295$"):
        arguments.seed(value)


@pytest.mark.parametrize("value", ["1.5", "x", 1.5, True])
def test_seed_that_is_not_an_integer_is_refused(value):
    with pytest.raises(UserError, match="is not an integer"):
        arguments.seed(value)


def test_seed_range_ends_are_accepted():
    assert arguments.seed("0") == 0 and arguments.seed(arguments.MAX_SEED) == 2**32 - 1 and arguments.seed(7.0) == 7


@pytest.mark.parametrize("option,value", [("--mean", "nan"), ("--mean", "0.5,inf"), ("--std", "nan"),
                                          ("--std", "inf"), ("--mean", float("-inf"))])
def test_mean_and_std_must_be_finite(option, value):
    with pytest.raises(UserError, match=rf"^{option} .* holds a value that is not a finite number"):
        arguments.float_list(option, value)


@pytest.mark.parametrize("value", ["0", "0.2,0,0.3", "-1"])
def test_std_must_be_positive(value):
    with pytest.raises(UserError, match=rf"^--std '{value}' must be positive"):
        arguments.float_list("--std", value)


def test_input_shape_over_the_tensor_bound_names_its_size():
    with pytest.raises(UserError, match=r"--input-shape '1,1,1000000,1000000' has 1,000,000,000,000 elements "
                                        r"per sample; edgeconv takes tensors of at most 67,108,864 elements"):
        arguments.input_shape("1,1,1000000,1000000")
    assert arguments.input_shape("1,1,8192,8192") == (1, 1, 8192, 8192)  # exactly the bound


def _graph(activation_shape):
    graph = Graph(name="g")
    graph.add_tensor(Tensor("x", (1, 3, 8, 8)))
    graph.add_tensor(Tensor("w", (2, 2), data=[[1.0, 2.0], [3.0, 4.0]]))
    graph.add_tensor(Tensor("big", activation_shape))
    return graph


def test_model_activations_over_the_bound_are_refused_naming_the_file_and_tensor():
    with pytest.raises(UserError, match=r"^m\.onnx: tensor 'big' of shape \(1, 64, 8193, 128\) has 67,117,056 elements"):
        arguments.check_model_tensor_sizes(_graph((1, 64, 8193, 128)), "m.onnx")
    arguments.check_model_tensor_sizes(_graph((1, 64, 8192, 128)), "m.onnx")

import numpy as np
import pytest

from edgeconv.errors import UserError
from edgeconv.ir import Graph, Node, Tensor, infer_shapes, ops, verify
from edgeconv.quant.calibrate import calibrate, dorefa_clip, dorefa_clips, minmax_range, mse_range, percentile_range


def identity_conv_graph():
    """A 1x1 conv with weight 1 and a ReLU: output = relu(input)."""
    g = Graph(name="c")
    g.add_tensor(Tensor("x", (1, 1, 4, 4)))
    g.add_tensor(Tensor("w", (1, 1, 1, 1), data=np.ones((1, 1, 1, 1), np.float32)))
    g.add_tensor(Tensor("y", (1,)))
    g.inputs, g.outputs = ["x"], ["y"]
    g.add_node(Node("conv", ops.Conv(clamp=(0.0, None)), ["x", "w"], "y"))
    return verify(infer_shapes(g))


def test_minmax_calibration_sees_every_tensor():
    x = np.linspace(-3, 5, 64, dtype=np.float32).reshape(4, 1, 4, 4)
    ranges = calibrate(identity_conv_graph(), x, "minmax", batch_size=3)
    assert ranges["x"].lo == pytest.approx(-3) and ranges["x"].hi == pytest.approx(5)
    assert ranges["y"].lo == 0.0 and ranges["y"].hi == pytest.approx(5)


def test_percentile_clips_outliers():
    values = np.concatenate([np.random.default_rng(0).uniform(-1, 1, 100_000), [1000.0]])
    r = percentile_range(values)
    assert -1.0 <= r.lo < -0.99 and 0.99 < r.hi <= 1.0
    assert minmax_range(values).hi == 1000.0


def test_mse_range_beats_minmax_on_heavy_tails():
    values = np.random.default_rng(1).standard_t(2, 200_000)
    r = mse_range(values)
    full = minmax_range(values)
    assert full.lo < r.lo < 0 < r.hi < full.hi
    from edgeconv.quant.calibrate import _quantization_mse
    assert _quantization_mse(values, r.lo, r.hi) < _quantization_mse(values, full.lo, full.hi)


def test_calibration_is_reproducible_and_rejects_bad_input():
    x = np.random.default_rng(2).normal(size=(16, 1, 4, 4)).astype(np.float32)
    assert calibrate(identity_conv_graph(), x, "mse") == calibrate(identity_conv_graph(), x, "mse")
    with pytest.raises(UserError, match="histogram"):
        calibrate(identity_conv_graph(), x, "histogram")
    with pytest.raises(UserError, match="empty"):
        calibrate(identity_conv_graph(), x[:0], "minmax")


def dorefa_mse(values, clip, bits):
    n = (1 << bits) - 1
    step = clip / n
    q = np.clip(np.sign(values / step) * np.floor(np.abs(values / step) + 0.5), 0, n)
    return float(np.mean((q * step - values) ** 2))


def test_dorefa_clip_cuts_the_tail_at_few_bits_and_keeps_the_range_at_many():
    values = np.random.default_rng(2).exponential(1.0, 50_000)
    two_bit = dorefa_clip(values, 2)
    assert two_bit < 0.5 * values.max()
    assert dorefa_mse(values, two_bit, 2) < dorefa_mse(values, values.max(), 2)
    uniform = np.random.default_rng(3).uniform(0, 1, 50_000)
    assert dorefa_clip(uniform, 8) > 0.98 * uniform.max()
    assert dorefa_clip(np.zeros(10), 4) == 0.0


def test_dorefa_clips_observe_the_named_tensors():
    x = np.linspace(-3, 5, 64, dtype=np.float32).reshape(4, 1, 4, 4)
    clips = dorefa_clips(identity_conv_graph(), x, {"y": 3})
    assert list(clips) == ["y"] and 0 < clips["y"] <= 5.0

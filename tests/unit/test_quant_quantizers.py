import numpy as np
import pytest
import torch

from edgeconv.quant.quantizers import (
    DoReFaWeightQuantizer,
    Int8WeightQuantizer,
    XnorWeightQuantizer,
    asymmetric_params,
    dorefa_params,
    round_half_away,
)

RNG = np.random.default_rng(7)
WEIGHTS = [RNG.normal(0, s, (5, 3, 3, 3)) for s in (0.01, 0.3, 2.0)] + [RNG.normal(0, 1, (7, 11))]


def test_round_half_away_from_zero():
    np.testing.assert_array_equal(round_half_away(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.49])), [-3, -2, -1, 1, 2, 2])


@pytest.mark.parametrize("w", WEIGHTS)
def test_int8_weights_per_channel_symmetric(w):
    q = Int8WeightQuantizer().integer(w)
    assert q.values.dtype == np.int8 and q.values.min() >= -127
    peak = np.abs(q.values.reshape(len(w), -1)).max(axis=1)
    np.testing.assert_array_equal(peak, 127)  # every channel uses its whole range
    err = np.abs(q.values * q.scales.reshape((-1,) + (1,) * (w.ndim - 1)) - w)
    assert np.all(err <= q.scales.reshape((-1,) + (1,) * (w.ndim - 1)) / 2 * (1 + 1e-6))


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("w", WEIGHTS)
def test_dorefa_weights_are_odd_integers_on_the_k_bit_grid(bits, w):
    q = DoReFaWeightQuantizer(bits).integer(w)
    n = 2**bits - 1
    values = q.values.astype(int)
    assert values.min() >= -n and values.max() <= n and np.all(values % 2 == 1)
    assert len(np.unique(values)) <= 2**bits
    assert np.all(q.scales == q.scales[0])  # one scale for the layer
    assert 0 < q.scales[0] * n <= np.abs(w).max() * (1 + 1e-6)


@pytest.mark.parametrize("w", WEIGHTS)
def test_xnor_weights_are_signs_times_mean_abs(w):
    q = XnorWeightQuantizer().integer(w)
    np.testing.assert_array_equal(q.values, np.where(w >= 0, 1, -1))
    np.testing.assert_allclose(q.scales, np.abs(w.reshape(len(w), -1)).mean(axis=1), rtol=1e-6)


@pytest.mark.parametrize("quantizer", [Int8WeightQuantizer(), DoReFaWeightQuantizer(2), DoReFaWeightQuantizer(4), XnorWeightQuantizer()])
@pytest.mark.parametrize("w", WEIGHTS)
def test_fake_weights_equal_integer_weights_and_are_idempotent(quantizer, w):
    q = quantizer.integer(w)
    real = q.values * q.scales.reshape((-1,) + (1,) * (w.ndim - 1))
    fake, scales = quantizer.fake(torch.from_numpy(w))
    np.testing.assert_allclose(fake.numpy(), real, rtol=1e-6, atol=1e-12)
    again = quantizer.integer(real)
    np.testing.assert_array_equal(again.values, q.values)


def test_fake_weights_pass_gradients_straight_through():
    w = torch.from_numpy(WEIGHTS[1].copy()).requires_grad_()
    for quantizer in (Int8WeightQuantizer(), XnorWeightQuantizer()):
        w.grad = None
        quantizer.fake(w)[0].sum().backward()
        assert torch.all(w.grad != 0)
    # DoReFa: identity up to half a step beyond the end levels, zero for weights clipped further.
    dorefa = DoReFaWeightQuantizer(2)
    w.grad = None
    dorefa.fake(w)[0].sum().backward()
    inside = np.abs(WEIGHTS[1]) < dorefa.peak(WEIGHTS[1]) * (1 + 1 / dorefa.levels)
    assert np.all(w.grad.numpy()[inside] == 1.0) and np.all(w.grad.numpy()[~inside] == 0.0)
    assert inside.mean() > 0.9


@pytest.mark.parametrize("lo, hi", [(-1.0, 3.0), (0.0, 6.0), (0.5, 2.0), (-4.0, -1.0), (-0.001, 100.0)])
def test_asymmetric_params_cover_the_range_and_represent_zero_exactly(lo, hi):
    p = asymmetric_params(lo, hi)
    s, zp = p.scale[0], int(p.zero_point[0])
    assert -128 <= zp <= 127
    assert s * (-128 - zp) <= min(lo, 0) + s and s * (127 - zp) >= max(hi, 0) - s
    assert s * (zp - zp) == 0.0


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_dorefa_activation_grid(bits):
    p = dorefa_params(bits)
    assert (p.qmin, p.qmax, int(p.zero_point[0])) == (-128, -128 + 2**bits - 1, -128)
    assert p.scale[0] * (p.qmax - p.qmin) == pytest.approx(1.0, rel=1e-6)

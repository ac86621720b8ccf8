"""Rescaling the activations DoReFa layers read: the float function is kept, the groups (a
residual stream, a squeeze-excitation's pool and multiply) are divided by their largest clip level."""

import numpy as np
import pytest

from edgeconv.passes import rescale_for_dorefa
from edgeconv.quant.calibrate import calibrate
from edgeconv.quant.precision import resolve_precisions
from edgeconv.reference import executor
from test_quant_graph import X, cnn, residual_net, squeeze_excite_net


def clip_levels(graph, precisions, ranges, clips=None):
    """Each tensor a DoReFa layer of ``precisions`` reads -> its clip level in ``clips``, else the
    top of its calibrated range."""
    resolved = resolve_precisions(graph, precisions)
    read = [n.inputs[0] for n in graph.nodes if resolved[n.name].kind == "dorefa"]
    return {name: (clips or {}).get(name, ranges[name].hi) for name in read}


def float_outputs_match(a, b):
    ref = executor.run_single(a, X)
    np.testing.assert_allclose(executor.run_single(b, X), ref, atol=1e-4 * max(1, np.abs(ref).max()))


def test_rescaling_keeps_the_float_function_and_fits_inputs_into_unit_range():
    g = cnn()
    ranges = calibrate(g, X)
    levels = clip_levels(g, {"conv1": "int8", "conv2": "w4a4", "dw3": "int8", "fc": "int8"}, ranges)
    scaled, factors = rescale_for_dorefa.run(g, levels)
    float_outputs_match(g, scaled)
    assert ranges["pool1.out"].hi / factors["pool1.out"] == pytest.approx(1.0)
    assert calibrate(scaled, X)["pool1.out"].hi == pytest.approx(1.0, rel=1e-5)
    assert g.tensors["conv1.w"].data is not scaled.tensors["conv1.w"].data  # the argument is untouched


def test_a_residual_stream_read_by_dorefa_layers_is_rescaled_as_a_whole():
    g = residual_net()
    ranges = calibrate(g, X)
    levels = clip_levels(g, {"stem": "int8", "c1": "w4a4", "c2": "w4a4", "c3": "w4a4"}, ranges)
    scaled, factors = rescale_for_dorefa.run(g, levels)
    float_outputs_match(g, scaled)
    r = max(ranges["stem.out"].hi, ranges["add.out"].hi)  # both are DoReFa inputs, one group
    for name in ("stem.out", "c2.out", "add.out"):
        assert factors[name] == pytest.approx(r)
    assert ranges["c1.out"].hi / factors["c1.out"] == pytest.approx(1.0)  # a group of its own
    assert scaled.node("add").op.clamp == (0.0, None)


def test_dorefa_clip_levels_pick_the_rescaling_factor():
    g = residual_net()
    ranges = calibrate(g, X)
    clips = {"stem.out": 0.5, "add.out": 0.25, "c1.out": 0.1}
    levels = clip_levels(g, {"stem": "int8", "c1": "w2a2", "c2": "w2a2", "c3": "w2a2"}, ranges, clips)
    scaled, factors = rescale_for_dorefa.run(g, levels)
    float_outputs_match(g, scaled)
    assert factors["add.out"] == 0.5 and factors["c1.out"] == 0.1


def test_a_group_reaching_the_graph_output_is_left_alone():
    g = residual_net()
    g.outputs = ["add.out"]
    g.nodes = [n for n in g.nodes if n.name != "c3"]
    ranges = calibrate(g, X)
    scaled, factors = rescale_for_dorefa.run(g, clip_levels(g, {"stem": "int8", "c1": "w4a4", "c2": "w4a4"}, ranges))
    assert "add.out" not in factors and "stem.out" not in factors
    assert scaled.node("stem").op.clamp == g.node("stem").op.clamp
    assert ranges["c1.out"].hi / factors["c1.out"] == pytest.approx(1.0)


def test_squeeze_excitation_pool_is_rescaled_through_the_mul():
    g = squeeze_excite_net()
    ranges = calibrate(g, X)
    scaled, factors = rescale_for_dorefa.run(g, clip_levels(g, {"d": "int8", "reduce": "w4a4", "project": "w4a4"},
                                                            ranges))
    float_outputs_match(g, scaled)
    assert factors["d.out"] == pytest.approx(max(ranges["gap.out"].hi, ranges["mul.out"].hi))


def test_a_level_of_one_changes_nothing():
    g = cnn()
    scaled, factors = rescale_for_dorefa.run(g, {"pool1.out": 1.0})
    assert factors == {}
    np.testing.assert_array_equal(scaled.tensors["conv1.w"].data, g.tensors["conv1.w"].data)

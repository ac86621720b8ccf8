"""`compress` with every precision allowed and a latency budget equal to the all-int8 plan's own
prediction, on every zoo model for a Raspberry Pi 4, without fine-tuning: the all-int8 plan meets
that budget, so what is chosen must lose no more top-1 accuracy than it does (within
MARGIN_POINTS on the validation samples). Summed per-layer sensitivities rate mixes of fp32, int8
and binary layers cheaper than all-int8 there, though such mixes lose most of the accuracy: the
selection must not go by the sum alone."""

from __future__ import annotations

import pytest

from edgeconv import api
from edgeconv.zoo import export
from edgeconv.zoo.models import MODELS

TARGET = "rpi4"
ALL_PRECISIONS = "fp32,int8,w4a4,w2a2,w1a1"
MARGIN_POINTS = 1.0  # 5 of the 500 validation samples


def drop_points(report: dict) -> float:
    accuracy = report["accuracy"]
    return 100.0 * (accuracy["float"] - accuracy["compressed"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_at_the_all_int8_latency_no_more_accuracy_is_lost_than_all_int8_loses(name, digit_files, tmp_path):
    model = export(name, tmp_path / f"{name}.pt2")
    common = dict(epochs=0, data=digit_files["calib"], val_data=digit_files["val"], emit="c")
    int8 = api.compress(model, TARGET, precisions="int8", out=tmp_path / "int8", **common)
    budget = int8["predicted_latency_ms"]
    mixed = api.compress(model, TARGET, precisions=ALL_PRECISIONS, latency_ms=budget, out=tmp_path / "mixed", **common)
    mix = "+".join(sorted({layer["precision"] for layer in mixed["layers"]}))
    print(f"{name} at the all-int8 prediction {budget:.5f} ms: {mix} predicted {mixed['predicted_latency_ms']:.5f} ms, "
          f"drop {drop_points(mixed):.1f} points (all-int8 {drop_points(int8):.1f})")
    assert mixed["predicted_latency_ms"] <= budget
    assert drop_points(mixed) <= drop_points(int8) + MARGIN_POINTS

"""The command the toolkit is named for, on every zoo model for a Raspberry Pi 4: budgets at 60% and
30% of the all-fp32 prediction are met (predicted), the accuracy drops by at most 2 points after 2
epochs of fine-tuning, and the artifacts verify bit-exact (TFLite Micro, and the C runtime
cross-compiled for the Pi 4 and run under QEMU)."""

from __future__ import annotations

import json

import pytest

from edgeconv import api
from edgeconv.frontend import load_model
from edgeconv.passes.pipeline import prepare
from edgeconv.select.latency import predict_graph_ms
from edgeconv.targets import load_target
from edgeconv.zoo import digits_dataset, export, save_npz
from edgeconv.zoo.models import MODELS

TARGET = "rpi4"
FRACTIONS_OF_FP32 = (0.6, 0.3)
EPOCHS = 2
MAX_ACCURACY_DROP = 0.02
TRAIN_SAMPLES = 600
VAL_SAMPLES = 500


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    work = tmp_path_factory.mktemp("digits")
    x_train, y_train, x_val, y_val = digits_dataset()
    return {"calib": save_npz(work / "calib.npz", x_train[:TRAIN_SAMPLES], y_train[:TRAIN_SAMPLES]),
            "val": save_npz(work / "val.npz", x_val[:VAL_SAMPLES], y_val[:VAL_SAMPLES])}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_budgets_at_60_and_30_percent_of_fp32_are_met_and_verify_bit_exact(name, digits, tmp_path):
    model = export(name, tmp_path / f"{name}.pt2")
    fp32_ms = predict_graph_ms(load_target(TARGET), prepare(load_model(model))).ms
    for fraction in FRACTIONS_OF_FP32:
        budget = round(fraction * fp32_ms, 5)
        out = tmp_path / f"budget{int(100 * fraction)}"
        report = api.compress(model, TARGET, latency_ms=budget, data=digits["calib"], val_data=digits["val"],
                              epochs=EPOCHS, out=out)
        mix = sorted({layer["precision"] for layer in report["layers"]})
        accuracy = report["accuracy"]
        print(f"{name} {fraction:.0%} of fp32 {fp32_ms:.3f} ms: budget {budget} ms, predicted "
              f"{report['predicted_latency_ms']:.3f} ms, {'+'.join(mix)}, accuracy {accuracy['float']:.3f} -> "
              f"{accuracy['compressed']:.3f}")
        assert report["predicted_latency_ms"] <= budget
        assert round(accuracy["float"] - accuracy["compressed"], 9) <= MAX_ACCURACY_DROP
        api.build(out, TARGET)
        api.verify(out, TARGET, runner="qemu", data=digits["val"])  # raises if any runtime disagrees
        rows = json.loads((out / "verify.json").read_text())["runtimes"]
        for runtime in ("tflite-micro", f"c-qemu-{TARGET}"):
            assert rows[runtime]["bit_exact"], (runtime, rows[runtime]["first_mismatch"])


@pytest.mark.parametrize("target", ["host", TARGET])
def test_a_budget_the_all_int8_plan_meets_is_never_refused(target, digits, tmp_path):
    """Every precision allowed and a budget 1% above the all-int8 plan's prediction: the
    selection's cheaper mixes pay for Quantize/Dequantize nodes the solver does not see, and
    tightening the budget by them must still end at a plan that meets it."""
    model = export("tinycnn", tmp_path / "tinycnn.pt2")
    int8 = api.compress(model, target, precisions="int8", epochs=0, data=digits["calib"], emit="c",
                        out=tmp_path / "int8")
    budget = 1.01 * int8["predicted_latency_ms"]
    report = api.compress(model, target, precisions="fp32,int8,w4a4,w2a2,w1a1", latency_ms=budget, epochs=0,
                          data=digits["calib"], emit="c", out=tmp_path / "mixed")
    assert report["predicted_latency_ms"] <= budget

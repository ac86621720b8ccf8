"""The command the toolkit is named for, on every zoo model for a Raspberry Pi 4: budgets halfway and
a quarter of the way from the all-int8 to the all-fp32 prediction (on every core, as compress
predicts) are met (predicted), the accuracy drops by at most 2 points after 2 epochs of
fine-tuning, and the artifacts verify bit-exact (TFLite Micro, and the C runtime cross-compiled for
the Pi 4 and run under QEMU). The budgets follow each model's own range: on the zoo's smallest
nets the int8 model's fixed costs leave it only a little faster than fp32."""

from __future__ import annotations

import json

import pytest

from edgeconv import api
from edgeconv.frontend import load_model
from edgeconv.passes.pipeline import prepare
from edgeconv.quant.precision import uniform_precisions
from edgeconv.select.latency import fastest_algorithm, predict_graph_ms
from edgeconv.targets import load_target
from edgeconv.zoo import export
from edgeconv.zoo.models import MODELS

TARGET = "rpi4"
FRACTIONS_FROM_INT8_TO_FP32 = (0.5, 0.25)
FRACTIONS_FROM_INT8_TO_W1A1 = (0.375, 0.75)
EPOCHS = 2
MAX_ACCURACY_DROP = 0.02


def _uniform_ms(model, precision: str) -> float:
    """The prediction of the whole model at one precision, each layer on its fastest kernel, on
    every core of the board."""
    target = load_target(TARGET).with_threads(None)
    graph = prepare(load_model(model))
    chosen = uniform_precisions(graph, precision)
    for node in graph.nodes:
        node.precision = chosen[node.name]
        if node.op.WEIGHTED:
            node.algorithm = fastest_algorithm(target, graph, node, node.precision)
    return predict_graph_ms(target, graph).ms


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_budgets_between_int8_and_fp32_are_met_and_verify_bit_exact(name, digit_files, tmp_path):
    model = export(name, tmp_path / f"{name}.pt2")
    fp32_ms, int8_ms = _uniform_ms(model, "fp32"), _uniform_ms(model, "int8")
    for fraction in FRACTIONS_FROM_INT8_TO_FP32:
        budget = round(1.001 * (int8_ms + fraction * (fp32_ms - int8_ms)), 5)  # a hair for the rounding
        out = tmp_path / f"budget{int(100 * fraction)}"
        report = api.compress(model, TARGET, latency_ms=budget, data=digit_files["calib"], val_data=digit_files["val"],
                              epochs=EPOCHS, out=out)
        mix = sorted({layer["precision"] for layer in report["layers"]})
        accuracy = report["accuracy"]
        print(f"{name} {fraction:.0%} of the way from int8 {int8_ms:.3f} ms to fp32 {fp32_ms:.3f} ms: budget {budget:.5f} ms, predicted "
              f"{report['predicted_latency_ms']:.3f} ms, {'+'.join(mix)}, accuracy {accuracy['float']:.3f} -> "
              f"{accuracy['compressed']:.3f}")
        assert report["predicted_latency_ms"] <= budget
        assert round(accuracy["float"] - accuracy["compressed"], 9) <= MAX_ACCURACY_DROP
        api.build(out, TARGET)
        api.verify(out, TARGET, runner="qemu", data=digit_files["val"])  # raises if any runtime disagrees
        rows = json.loads((out / "verify.json").read_text())["runtimes"]
        for runtime in ("tflite-micro", f"c-qemu-{TARGET}"):
            assert rows[runtime]["bit_exact"], (runtime, rows[runtime]["first_mismatch"])


@pytest.mark.parametrize("target", ["host", TARGET])
def test_a_budget_the_all_int8_plan_meets_is_never_refused(target, digit_files, tmp_path):
    """Every precision allowed and a budget 1% above the all-int8 plan's prediction: the
    selection's cheaper mixes pay for Quantize/Dequantize nodes the solver does not see, and
    tightening the budget by them must still end at a plan that meets it."""
    model = export("tinycnn", tmp_path / "tinycnn.pt2")
    int8 = api.compress(model, target, precisions="int8", epochs=0, data=digit_files["calib"], emit="c",
                        out=tmp_path / "int8")
    budget = 1.01 * int8["predicted_latency_ms"]
    report = api.compress(model, target, precisions="fp32,int8,w4a4,w2a2,w1a1", latency_ms=budget, epochs=0,
                          data=digit_files["calib"], emit="c", out=tmp_path / "mixed")
    assert report["predicted_latency_ms"] <= budget


@pytest.mark.slow
def test_budgets_met_with_binary_layers_are_met_by_the_model_that_ships(digit_files, tmp_path):
    """Budgets between the all-int8 and the all-w1a1 predictions of ResNet-8, every precision
    allowed, without fine-tuning: what is chosen has binary layers, and the prediction of the
    model that ships meets the budget. The stem's ReLU output is read by a binary layer and by the
    residual Add, so the shipped graph binarizes the stem's pre-activation and restores the ReLU
    for the Add with a Clip node, and its mean is an AvgPool: the selection predicts those nodes."""
    model = export("resnet8", tmp_path / "resnet8.pt2")
    common = dict(epochs=0, data=digit_files["calib"], emit="c")
    int8_ms, w1a1_ms = (api.compress(model, TARGET, precisions=precision, out=tmp_path / precision,
                                     **common)["predicted_latency_ms"] for precision in ("int8", "w1a1"))
    for fraction in FRACTIONS_FROM_INT8_TO_W1A1:
        budget = round(int8_ms + fraction * (w1a1_ms - int8_ms), 5)
        report = api.compress(model, TARGET, precisions="fp32,int8,w4a4,w2a2,w1a1", latency_ms=budget,
                              out=tmp_path / f"budget{int(100 * fraction)}", **common)
        assert "w1a1" in {layer["precision"] for layer in report["layers"]}
        assert report["predicted_latency_ms"] <= budget, (fraction, budget)

"""The ImageNet families at 224x224 (``edgeconv.zoo.families``: seeded weights, BatchNorm statistics
gathered on structured images) through the commands a user runs: ``compress`` to int8, ``build``
and ``verify``. Each family's compress time is printed (``pytest -s``).

Every family, ShuffleNetV2's channel shuffle and split included, writes C, a ``.tflite`` and an
``.onnx``; TFLite Micro and the C runtime on the host equal the reference executor byte for byte.
Two families also run the Raspberry Pi 4 legs: a latency budget halfway between their all-int8 and
all-fp32 predictions (an fp32/int8 selection, no fine-tuning), built for the Pi 4 and verified
under ``qemu-aarch64``, bit-exact again.

LiteRT and ONNX Runtime must run every model; their top-1 agreement is printed, not held to the
98% rule: the weights are untrained, so the 1000 logits of a sample lie within a few output steps
of each other and a one-step rounding difference of those runtimes (``README``: "LiteRT against
TFLite Micro") moves the arg-max; the rule is held on trained models (``test_verify_zoo.py``).
"""

from __future__ import annotations

import json
import time

import pytest

from edgeconv import api
from edgeconv.errors import VerificationFailed
from edgeconv.zoo import save_npz
from edgeconv.zoo.families import FAMILIES, INPUT_SHAPE_224, export_family, structured_images

CALIBRATION_SAMPLES = 4
VERIFY_SAMPLES = 2
BIT_EXACT = ("tflite-micro",)
AGREEMENT_ONLY = ("tflite-litert", "onnxruntime")
# The Pi 4 legs (budget selection, cross build, QEMU) run on the two smallest families, one of them
# with the layout ops: make test runs this file on 2 cores.
PI_FAMILIES = ("mobilenetv3_small", "shufflenetv2")
PI = "rpi4"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    work = tmp_path_factory.mktemp("images")
    return {"calib": save_npz(work / "calib.npz", structured_images(CALIBRATION_SAMPLES, INPUT_SHAPE_224, seed=1)),
            "val": save_npz(work / "val.npz", structured_images(VERIFY_SAMPLES, INPUT_SHAPE_224, seed=2))}


def verify_rows(out, target: str, runner: str, data) -> dict:
    """verify.json's rows; a failure is allowed only where the top-1 rule (not an error) failed."""
    try:
        return api.verify(out, target, runner=runner, data=data)["runtimes"]
    except VerificationFailed:
        rows = json.loads((out / "verify.json").read_text())["runtimes"]
        failed = {name for name, row in rows.items() if not row["passed"]}
        assert failed <= set(AGREEMENT_ONLY), f"runtimes failed: {sorted(failed)}"
        return rows


def check_rows(name: str, rows: dict, exact: tuple) -> None:
    for runtime in exact:
        assert rows[runtime]["bit_exact"], (name, runtime, rows[runtime].get("first_mismatch"))
    for runtime in AGREEMENT_ONLY:
        row = rows[runtime]
        assert row.get("error") is None and row["max_abs_diff"] is not None, (name, runtime, row.get("error"))
        print(f"{name}: {runtime} top-1 agreement {row['top1_agreement']:.2f}, max |diff| {row['max_abs_diff']}")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_compresses_to_int8_and_verifies_bit_exact(name, images, tmp_path):
    model = export_family(name, tmp_path / f"{name}.pt2")
    out = tmp_path / "int8"
    start = time.perf_counter()
    report = api.compress(model, "host", precisions="int8", data=images["calib"], out=out)
    seconds = time.perf_counter() - start
    macs = sum(layer["macs"] for layer in report["layers"])
    print(f"{name}: int8 compress {seconds:.1f} s ({macs / 1e6:.0f} MMAC, {len(report['layers'])} layers)")
    assert report["artifacts"] == {"onnx": "model.onnx", "tflite": "model.tflite", "c": "c"}
    assert {layer["precision"] for layer in report["layers"]} == {"int8"}
    api.build(out, "host")
    check_rows(name, verify_rows(out, "host", "local", images["val"]), (*BIT_EXACT, "c-host"))


@pytest.mark.slow
@pytest.mark.parametrize("name", PI_FAMILIES)
def test_family_meets_a_pi4_budget_and_verifies_under_qemu(name, images, tmp_path):
    model = export_family(name, tmp_path / f"{name}.pt2")
    uniform = {precision: api.compress(model, PI, precisions=precision, data=images["calib"], emit="c",
                                       out=tmp_path / precision)["predicted_latency_ms"] for precision in ("fp32", "int8")}
    fp32_ms, int8_ms = uniform["fp32"], uniform["int8"]
    budget = round((fp32_ms + int8_ms) / 2, 3)
    out = tmp_path / "budget"
    start = time.perf_counter()
    report = api.compress(model, PI, latency_ms=budget, precisions="fp32,int8", epochs=0, data=images["calib"], out=out)
    seconds = time.perf_counter() - start
    mix = sorted({layer["precision"] for layer in report["layers"]})
    print(f"{name}: {PI} budget {budget} ms (fp32 {fp32_ms:.1f}, int8 {int8_ms:.1f}): predicted "
          f"{report['predicted_latency_ms']:.1f} ms, {'+'.join(mix)}, compress {seconds:.1f} s")
    assert report["predicted_latency_ms"] <= budget
    assert "int8" in mix
    api.build(out, PI)
    check_rows(name, verify_rows(out, PI, "qemu", images["val"]), (*BIT_EXACT, f"c-qemu-{PI}"))

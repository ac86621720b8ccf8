"""`make demo`: the toolkit's main job on the bundled demo model, start to finish.

1. train (or load from the cache) the zoo's ResNet-8 on the bundled handwritten digits and export it
   with torch.export, with calibration and held-out data as ``.npz``;
2. `compress` it for a Raspberry Pi 4 under a latency budget halfway between the all-fp32 and the
   all-int8 predictions, with every precision allowed, so the selector must mix precisions (it
   keeps the layers most sensitive to quantization in fp32);
3. `build` the runner for the Pi 4 (cross-compiled, static) and `verify` every artifact — the C
   runner under qemu-user — against the reference executor;
4. print where the report is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import api
from ..errors import UserError
from ..frontend import load_model
from ..passes.pipeline import prepare
from ..quant.precision import uniform_precisions
from ..select.latency import predict_graph_ms
from ..targets import load_target
from .export import export, save_npz
from .training import digits_dataset

DEMO_MODEL = "resnet8"
DEMO_TARGET = "rpi4"
CALIBRATION_SAMPLES = 1000
EPOCHS = 2


def _uniform_prediction_ms(model_path: Path, target_name: str, precision: str) -> float:
    graph = prepare(load_model(model_path))
    chosen = uniform_precisions(graph, precision)
    for node in graph.nodes:
        node.precision = chosen[node.name]
    return predict_graph_ms(load_target(target_name), graph).ms


def prepare_inputs(work: Path) -> tuple:
    """Export the trained demo model and its data into ``work``; return (model, calib, val) paths."""
    work.mkdir(parents=True, exist_ok=True)
    model_path = export(DEMO_MODEL, work / f"{DEMO_MODEL}.pt2")
    x_train, y_train, x_val, y_val = digits_dataset()
    calib = save_npz(work / "calib.npz", x_train[:CALIBRATION_SAMPLES], y_train[:CALIBRATION_SAMPLES])
    return model_path, calib, save_npz(work / "val.npz", x_val, y_val)


def main(root: Path = Path("edgeconv-out")) -> int:
    start = time.monotonic()
    model_path, calib, val = prepare_inputs(root / "demo-inputs")
    fp32_ms = _uniform_prediction_ms(model_path, DEMO_TARGET, "fp32")
    int8_ms = _uniform_prediction_ms(model_path, DEMO_TARGET, "int8")
    budget = round((fp32_ms + int8_ms) / 2, 4)
    print(f"[demo] {DEMO_MODEL} on {DEMO_TARGET}: latency budget {budget} ms, between the all-fp32 "
          f"({fp32_ms:.4f} ms) and all-int8 ({int8_ms:.4f} ms) predictions")
    out = root / f"{DEMO_MODEL}-{DEMO_TARGET}"
    report = api.compress(model_path, DEMO_TARGET, latency_ms=budget, data=calib, val_data=val, epochs=EPOCHS,
                          out=out, force=True, command_line=f"edgeconv compress {model_path} --target {DEMO_TARGET} "
                          f"--latency-ms {budget} --data {calib} --val-data {val} --epochs {EPOCHS}")
    mix = sorted({layer["precision"] for layer in report["layers"]})
    print(f"[demo] predicted {report['predicted_latency_ms']:.4f} ms with precisions {', '.join(mix)}; "
          f"accuracy {report['accuracy']['float']:.3f} float -> {report['accuracy']['compressed']:.3f}")
    api.build(out, DEMO_TARGET)
    result = api.verify(out, DEMO_TARGET, runner="qemu", data=val)
    for name, row in result["runtimes"].items():
        verdict = "pass" if row["passed"] else "FAIL"
        print(f"[demo] verify {name}: {verdict} (bit-exact {row['bit_exact']}, max |diff| {row['max_abs_diff']}, "
              f"top-1 agreement {row['top1_agreement']})")
    print(f"[demo] report: {out / 'report.html'} (done in {time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as err:
        print(f"edgeconv demo: {err}", file=sys.stderr)
        sys.exit(2)

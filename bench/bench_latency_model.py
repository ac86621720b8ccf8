"""Predicted versus measured end-to-end latency of the zoo models on a target.

The latency model predicts a model's time as the sum of its layers' times (measured table where
``edgeconv profile`` made one, else the analytical roofline). This script reports how well that
holds: for each zoo model, the prediction written in ``report.json`` by ``compress`` and the
median time the C runner ``edgeconv_run`` measures on the machine (``--runner local`` for
``host``, ``ssh://user@host`` for a board), the relative error, and the share of models within
+-15% (the goal of the host predictor: at least 80% of the models). When the runner reports
per-layer times it also compares the sum of the measured layers with the measured end-to-end
time: the error of "whole model = sum over layers" itself.

    python bench/bench_latency_model.py --target host --runner local
    python bench/bench_latency_model.py --target rpi4 --measured times.json   # {"resnet8": 3.2, ...}

With ``--measured`` the end-to-end times come from a JSON file instead of the runner.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

TOLERANCE = 0.15


@dataclass
class Row:
    model: str
    predicted_ms: float
    source: str
    measured_ms: Optional[float]
    layer_sum_ms: Optional[float]  # sum of the runner's per-layer medians

    @property
    def error(self) -> Optional[float]:
        if self.measured_ms is None or self.measured_ms <= 0:
            return None
        return self.predicted_ms / self.measured_ms - 1.0


def compress_zoo_model(name: str, target: str, workdir: Path, precisions: str, table: Optional[str]) -> Path:
    """Train (or load) zoo model ``name``, export it, and run ``compress`` for ``target``; return OUT."""
    import torch

    from edgeconv import api
    from edgeconv.zoo.training import digits_dataset, trained

    model = trained(name).eval()
    x_train, _, x_val, y_val = digits_dataset()
    model_path = workdir / f"{name}.pt2"
    torch.export.save(torch.export.export(model, (torch.from_numpy(x_val[:1]),)), str(model_path))
    calib = workdir / "calib.npz"
    np.savez(calib, x=x_train[:256])
    val = workdir / "val.npz"
    np.savez(val, x=x_val[:256], y=y_val[:256])
    out = workdir / f"{name}-{target}"
    api.compress(model_path, target, data=calib, val_data=val, precisions=precisions, emit="c",
                 out=out, force=True, latency_table=table)
    return out


def measure(out: Path, target: str, runner_spec: str, repeat: int) -> tuple:
    """(median ms, sum of per-layer medians or None) of OUT's C model, measured by ``edgeconv_run``."""
    from edgeconv import api
    from edgeconv.runtimes.runner import parse_runner
    from edgeconv.targets import load_target
    from edgeconv.zoo.training import digits_dataset

    api.build(out, target)
    board = load_target(target)
    binary = out / "build" / board.name / "edgeconv_run"
    x = digits_dataset()[2][:8]
    result = parse_runner(runner_spec, board).run(binary, x, repeat=repeat, timing=True)
    per_layer = result.timing.get("per_layer_ms") or {}
    return float(result.timing["median_ms"]), (float(sum(per_layer.values())) if per_layer else None)


def bench(models: list, target: str, runner: str, measured_file: Optional[Path], precisions: str,
          table: Optional[str], repeat: int) -> list:
    measured = json.loads(measured_file.read_text()) if measured_file else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-") as tmp:
        for name in models:
            out = compress_zoo_model(name, target, Path(tmp), precisions, table)
            report = json.loads((out / "report.json").read_text())
            if measured is not None:
                ms, layer_sum = measured.get(name), None
            else:
                ms, layer_sum = measure(out, target, runner, repeat)
            rows.append(Row(name, float(report["predicted_latency_ms"]), report["latency_source"], ms, layer_sum))
    return rows


def format_rows(rows: list) -> str:
    lines = [f"{'model':<14}{'predicted ms':>14}{'measured ms':>13}{'error':>9}{'layer sum ms':>14}  source"]
    for r in rows:
        measured = f"{r.measured_ms:13.3f}" if r.measured_ms is not None else f"{'-':>13}"
        error = f"{100 * r.error:+8.1f}%" if r.error is not None else f"{'-':>9}"
        layer_sum = f"{r.layer_sum_ms:14.3f}" if r.layer_sum_ms is not None else f"{'-':>14}"
        lines.append(f"{r.model:<14}{r.predicted_ms:14.3f}{measured}{error}{layer_sum}  {r.source}")
    scored = [r for r in rows if r.error is not None]
    if scored:
        within = sum(abs(r.error) <= TOLERANCE for r in scored)
        lines.append(f"within +-{100 * TOLERANCE:.0f}%: {within}/{len(scored)} models ({100 * within / len(scored):.0f}%; goal >= 80%)")
    return "\n".join(lines)


def main(argv=None) -> int:
    from edgeconv.zoo.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="host")
    parser.add_argument("--runner", default="local", help="local, qemu (no real timings) or ssh://user@host[:port]")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo model names")
    parser.add_argument("--precisions", default="int8", help="uniform precision (or set) given to compress")
    parser.add_argument("--latency-table", default=None, help="measured table (default: the user's cache)")
    parser.add_argument("--measured", type=Path, default=None, help="JSON {model: measured end-to-end ms}")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.runner == "qemu" and args.measured is None:
        parser.error("qemu does not measure real latency: use local, ssh://..., or --measured")
    rows = bench(args.models.split(","), args.target, args.runner, args.measured, args.precisions,
                 args.latency_table, args.repeat)
    if args.json:
        print(json.dumps([{**r.__dict__, "error": r.error} for r in rows], indent=1))
    else:
        print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

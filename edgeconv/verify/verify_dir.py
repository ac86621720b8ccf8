"""``verify OUT``: every artifact in OUT on each of its runtimes, against the reference executor.

The reference is the compressed IR that ``compress`` saved as ``OUT/model.ir.npz``. Each runtime
row of ``OUT/verify.json`` is judged by ``compare``; a runtime that cannot run its artifact fails
(it is not skipped), and so does every runtime of an artifact that report.json lists but OUT no
longer holds (its row says "artifact missing"). ``verify_dir`` writes verify.json and raises VerificationFailed naming the
first failing runtime and its first mismatching output.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence

from ..arguments import check_model_tensor_sizes
from ..backends.irfile import IR_FILE_NAME, load_graph
from ..errors import UserError, VerificationFailed
from .compare import RuntimeRow, judge
from .inputs import load_inputs
from .reference import reference_outputs
from .c_runners import c_runtime_rows
from .runners import RUNNERS, RunnerSpec

VERIFY_FILE = "verify.json"


@dataclass
class VerifyResult:
    rows: dict = field(default_factory=dict)  # runtime name -> RuntimeRow
    data: str = ""
    samples: int = 0
    reference_accuracy: Optional[float] = None

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows.values())

    def failures(self) -> list:
        return [row.failure(name) for name, row in self.rows.items() if not row.passed]

    def to_json(self) -> dict:
        return {"runtimes": {name: row.to_json() for name, row in self.rows.items()},
                "reference": {"executor": "edgeconv.reference", "data": self.data, "samples": self.samples,
                              "accuracy": self.reference_accuracy}}


def listed_artifacts(report: dict, report_path: Path) -> tuple:
    """The artifact paths (relative to OUT) that report.json's ``artifacts`` lists; null entries
    are artifacts that were not emitted."""
    artifacts = report.get("artifacts") or {}
    if not isinstance(artifacts, dict) or not all(v is None or isinstance(v, str) for v in artifacts.values()):
        raise UserError(f"{report_path}: 'artifacts' must map each artifact kind to a path relative to OUT or null")
    return tuple(_artifact_key(path) for path in artifacts.values() if path)


def _artifact_key(path: str) -> str:
    """``c/`` and ``c`` name the same artifact."""
    return str(PurePosixPath(path))


def applicable_runners(out_dir: Path, target=None, runner=None, names: Optional[Sequence[str]] = None,
                       listed: Sequence[str] = ()) -> dict:
    """Runners whose artifact exists in ``out_dir`` or is ``listed`` (all of ``names`` when given)."""
    specs = {**RUNNERS, **c_runtime_rows(out_dir, target, runner)}
    if names is not None:
        unknown = sorted(set(names) - set(specs))
        if unknown:
            raise UserError(f"unknown runtime(s) {', '.join(unknown)}; known: {', '.join(sorted(specs))}")
        return {n: specs[n] for n in names}
    return {n: s for n, s in specs.items() if (out_dir / s.artifact).exists() or _artifact_key(s.artifact) in listed}


def _run_one(spec: RunnerSpec, out_dir: Path, inputs, reference, float_model: bool) -> RuntimeRow:
    if not (out_dir / spec.artifact).exists():
        return RuntimeRow(spec.name, None, spec.artifact, spec.policy, passed=False,
                          error=f"artifact missing: {out_dir / spec.artifact} does not exist (report.json lists it)")
    try:
        version = spec.version()
    except Exception as err:  # a runtime that is not installed fails its row
        return RuntimeRow(spec.name, None, spec.artifact, spec.policy, passed=False, error=f"not available: {err}")
    try:
        outputs = spec.run(out_dir, inputs.x)
        row = judge(spec.name, version, spec.artifact, spec.policy, outputs, reference, inputs.y, float_model)
        if spec.latency_ms is not None:
            row.latency_ms = spec.latency_ms(out_dir, inputs.x)
        return row
    except Exception as err:  # the runtime rejected or crashed on the artifact: a failure
        return RuntimeRow(spec.name, version, spec.artifact, spec.policy, passed=False,
                          error=f"{type(err).__name__}: {err}")


def compare_artifacts(out_dir, data=None, target=None, runner=None,
                      runtimes: Optional[Sequence[str]] = None, listed: Sequence[str] = ()) -> VerifyResult:
    """Run and judge every applicable runtime; writes nothing, raises only for bad input.

    ``listed``: the artifacts report.json lists (:func:`listed_artifacts`); each one missing from
    ``out_dir`` fails the rows of its runtimes."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UserError(f"output directory {out_dir} does not exist")
    if not (out_dir / IR_FILE_NAME).is_file():
        raise UserError(f"{out_dir} has no {IR_FILE_NAME}: it was not written by edgeconv compress")
    graph = load_graph(out_dir / IR_FILE_NAME)
    check_model_tensor_sizes(graph, out_dir / IR_FILE_NAME)
    specs = applicable_runners(out_dir, target, runner, runtimes, listed)
    if not specs:
        raise UserError(f"{out_dir} holds no artifact to verify (model.tflite, model.onnx, c/)")
    inputs = load_inputs(graph, data)
    reference = reference_outputs(graph, inputs)
    float_model = all(t.dtype != "int8" for t in graph.tensors.values())
    result = VerifyResult(data=inputs.source, samples=inputs.samples, reference_accuracy=reference.accuracy(inputs.y))
    for name, spec in specs.items():
        result.rows[name] = _run_one(spec, out_dir, inputs, reference, float_model)
    return result


def write_verify_json(out_dir, result: VerifyResult) -> Path:
    path = Path(out_dir) / VERIFY_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def verify_dir(out_dir, data=None, runner=None, target=None,
               runtimes: Optional[Sequence[str]] = None) -> VerifyResult:
    """Compare, write ``OUT/verify.json``, and raise VerificationFailed when a runtime disagrees."""
    result = compare_artifacts(out_dir, data, target, runner, runtimes)
    write_verify_json(out_dir, result)
    if not result.passed:
        raise VerificationFailed("; ".join(result.failures()))
    return result

"""One runtime's outputs against the reference executor's, and the verdict (DESIGN §2, §3).

Policies:

- ``bit-exact`` (TFLite Micro, the C runtime): every int8 output equal to the reference byte for
  byte; every float output within ``max|a - b| <= 1e-4 * max(1, max|reference|)``.
- ``top-1`` (LiteRT, ONNX Runtime, whose optimized kernels round differently): the classes the
  first output predicts agree with the reference's on at least 98% of them and, with labels that
  fit the output, the accuracy is within 1 point (0.01) of the reference's; a float model must also
  meet the float tolerance.

What a class is follows the first output's shape (``reference.predicted_classes``; ``top1_unit`` in
the row says which):

- ``sample``: a classifier's ``(N, K)`` output, and any output that is not a dense map, has one
  class per sample, the index of its largest element; agreement is the share of samples.
- ``position``: a dense map, channels-first ``(N, C, H, W)`` or ``(N, C, L)`` with ``C > 1`` (a
  segmentation or FPN head), has one class per position, the argmax over its ``C`` channels;
  agreement is the share of all positions of all samples. The largest element of a whole map is
  one of ``C*H*W`` near-ties, so a kernel that rounds some values one code apart moves it for a
  whole sample (XNNPACK's int8 RESIZE_BILINEAR weighs in 2^-11 and rounds half up, up to 2 codes
  from TFLite's reference kernel), while the class at each position is what the map is read for.
  A one-channel map has no class per position and keeps the per-sample rule.

Labels fit an output when there is one per class: ``y`` of shape ``(N,)`` for per-sample classes,
``(N, H, W)`` for a map's. Labels that do not fit (one class per sample for a dense model) give no
accuracy (``null``) and are not judged.

``max_abs_diff`` is in LSB for int8 outputs and in float units for float outputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from .reference import ReferenceOutputs, is_dense, labels_fit, predicted_classes

BIT_EXACT = "bit-exact"
TOP1 = "top-1"
TOP1_MIN_AGREEMENT = 0.98
ACCURACY_MAX_GAP = 0.01
FLOAT_RTOL = 1e-4


def float_tolerance(reference: np.ndarray) -> float:
    return FLOAT_RTOL * max(1.0, float(np.max(np.abs(reference), initial=0.0)))


@dataclass(frozen=True)
class Mismatch:
    """The first disagreement: output name, sample, index within the sample, and what was expected
    and got: a ``value`` at an element, or a top-1 ``class`` of the sample or of a map's position."""

    output: str
    sample: int
    index: tuple
    expected: float
    got: float
    kind: str = "value"

    def describe(self) -> str:
        place = "element" if self.kind == "value" else "position"
        where = f"sample {self.sample}" + (f", {place} {list(self.index)}" if self.index else "")
        what = "" if self.kind == "value" else "class "
        return f"output '{self.output}' at {where}: got {what}{self.got:g}, expected {what}{self.expected:g}"


@dataclass
class RuntimeRow:
    """One row of verify.json (``runtimes[NAME]``)."""

    runtime: str
    version: Optional[str]
    artifact: str
    policy: str
    passed: bool
    bit_exact: Optional[bool] = None
    max_abs_diff: Optional[float] = None
    max_abs_diff_unit: Optional[str] = None
    top1_agreement: Optional[float] = None
    top1_unit: Optional[str] = None  # "sample" or "position": what top1_agreement counts
    accuracy: Optional[float] = None
    latency_ms: Optional[float] = None
    samples: int = 0
    first_mismatch: Optional[Mismatch] = None
    error: Optional[str] = None

    def to_json(self) -> dict:
        row = asdict(self)
        if self.first_mismatch is not None:
            row["first_mismatch"] = {**asdict(self.first_mismatch), "index": list(self.first_mismatch.index)}
        return row

    def failure(self, name: str) -> str:
        if self.error is not None:
            return f"{name} could not run {self.artifact}: {self.error}"
        text = f"{name} disagrees with the reference executor ({self.policy}"
        if self.policy == TOP1:
            text += f", top-1 agreement {self.top1_agreement:.3f} of {self.top1_unit}s"
            if self.accuracy is not None:
                text += f", accuracy {self.accuracy:.3f}"
        text += ")"
        return text + (f": {self.first_mismatch.describe()}" if self.first_mismatch else "")


@dataclass(frozen=True)
class OutputComparison:
    name: str
    unit: str  # "lsb" or "float"
    bit_exact: bool
    max_abs_diff: float
    within_tolerance: bool
    first_mismatch: Optional[Mismatch]


def compare_output(name: str, got: np.ndarray, reference: np.ndarray) -> OutputComparison:
    if got.shape != reference.shape:
        raise ValueError(f"output '{name}' has shape {got.shape}, the reference {reference.shape}")
    unit = "lsb" if reference.dtype == np.int8 else "float"
    diff = np.abs(got.astype(np.float64) - reference.astype(np.float64))
    max_diff = float(diff.max(initial=0.0))
    tolerance = 0.0 if unit == "lsb" else float_tolerance(reference)
    mismatch = None
    bad = np.argwhere(diff > tolerance)
    if len(bad):
        where = tuple(int(i) for i in bad[0])
        mismatch = Mismatch(name, where[0], where[1:], float(reference[where]), float(got[where]))
    return OutputComparison(name, unit, bool(np.array_equal(got, reference)),
                            int(max_diff) if unit == "lsb" else max_diff, mismatch is None, mismatch)


def _top1_mismatch(name: str, got_classes: np.ndarray, reference_classes: np.ndarray) -> Optional[Mismatch]:
    disagree = np.argwhere(got_classes != reference_classes)
    if not len(disagree):
        return None
    where = tuple(int(i) for i in disagree[0])
    return Mismatch(name, where[0], where[1:], float(reference_classes[where]), float(got_classes[where]), "class")


def judge(name: str, version: Optional[str], artifact: str, policy: str, outputs: list,
          reference: ReferenceOutputs, y: Optional[np.ndarray], float_model: bool) -> RuntimeRow:
    """Compare ``outputs`` (one per graph output) with the reference and apply ``policy``."""
    if len(outputs) != len(reference.names):
        raise ValueError(f"{len(outputs)} outputs for a model with {len(reference.names)}")
    comparisons, compared_to = [], []
    for out_name, got, ref_float, ref_int8 in zip(reference.names, outputs, reference.float_outputs,
                                                 reference.int8_outputs):
        got = np.asarray(got)
        if got.dtype == np.int8:
            if ref_int8 is None:
                raise ValueError(f"output '{out_name}' is int8 but the reference output is float")
            ref = ref_int8
        else:
            ref = ref_float
        comparisons.append(compare_output(out_name, got, ref))
        compared_to.append(ref)
    first_got, first_ref = np.asarray(outputs[0]), compared_to[0]
    got_classes, ref_classes = predicted_classes(first_got), predicted_classes(first_ref)
    agreement = float(np.mean(got_classes == ref_classes))
    accuracy = float(np.mean(got_classes == y)) if labels_fit(y, got_classes) else None
    row = RuntimeRow(name, version, artifact, policy, passed=False,
                     bit_exact=all(c.bit_exact for c in comparisons),
                     max_abs_diff=max(c.max_abs_diff for c in comparisons),
                     max_abs_diff_unit=comparisons[0].unit if len({c.unit for c in comparisons}) == 1 else "mixed",
                     top1_agreement=agreement, top1_unit="position" if is_dense(first_ref) else "sample",
                     accuracy=accuracy, samples=int(first_got.shape[0]))
    exact_mismatch = next((c.first_mismatch for c in comparisons if c.first_mismatch), None)
    if policy == BIT_EXACT:
        row.passed = exact_mismatch is None
        row.first_mismatch = exact_mismatch
        return row
    reference_accuracy = reference.accuracy(y)
    accuracy_ok = accuracy is None or abs(accuracy - reference_accuracy) <= ACCURACY_MAX_GAP + 1e-12
    float_ok = not float_model or exact_mismatch is None
    row.passed = agreement >= TOP1_MIN_AGREEMENT and accuracy_ok and float_ok
    if not row.passed:
        row.first_mismatch = (exact_mismatch if not float_ok
                              else _top1_mismatch(reference.names[0], got_classes, ref_classes))
    return row

"""The top-1 rule of ``verify`` (edgeconv/verify/compare.py) on synthetic outputs: one class per
sample for a classifier, one class per position for a dense (N, C, H, W) or (N, C, L) map, and
accuracy only from labels that fit the output."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.verify.compare import BIT_EXACT, TOP1, judge
from edgeconv.verify.reference import ReferenceOutputs, labels_fit, predicted_classes
from edgeconv.verify.table import verify_table

SAMPLES, CLASSES, H, W = 8, 4, 6, 5


def _int8_map(rng) -> np.ndarray:
    """An int8 class map whose top two channels are at least 5 codes apart at every position."""
    codes = rng.integers(-100, 90, size=(SAMPLES, CLASSES, H, W))
    winners = rng.integers(0, CLASSES, size=(SAMPLES, H, W))
    top = codes.max(axis=1) + 5
    np.put_along_axis(codes, winners[:, None], top[:, None], axis=1)
    return codes.astype(np.int8)


def _reference(int8: np.ndarray, scale: float = 0.1) -> ReferenceOutputs:
    return ReferenceOutputs(("logits",), [scale * int8.astype(np.float32)], [int8])


def _judge(got: np.ndarray, reference: ReferenceOutputs, y=None, policy=TOP1):
    return judge("runtime", "1", "model.tflite", policy, [got], reference, y, float_model=False)


def test_dense_map_classes_are_per_position():
    rng = np.random.default_rng(0)
    ref = _int8_map(rng)
    assert predicted_classes(ref).shape == (SAMPLES, H, W)
    assert np.array_equal(predicted_classes(ref), ref.argmax(axis=1))
    one_channel = ref[:, :1]
    assert predicted_classes(one_channel).shape == (SAMPLES,)
    assert predicted_classes(ref[:, :, 0]).shape == (SAMPLES, W)  # (N, C, L)
    assert predicted_classes(ref[:, :, 0, 0]).shape == (SAMPLES,)  # (N, K)


def test_codes_off_by_two_keep_a_dense_map_in_agreement():
    """Every value up to 2 codes off moves the largest element of most whole maps, yet leaves the
    class of every position: the per-sample rule would fail, the per-position rule passes."""
    rng = np.random.default_rng(1)
    ref = _int8_map(rng)
    got = np.clip(ref.astype(np.int16) + rng.integers(-2, 3, size=ref.shape), -128, 127).astype(np.int8)
    flat = lambda a: a.reshape(SAMPLES, -1).argmax(axis=1)
    assert np.mean(flat(got) == flat(ref)) < 0.98
    row = _judge(got, _reference(ref))
    assert row.passed and row.top1_unit == "position" and row.top1_agreement == 1.0
    assert row.max_abs_diff == 2 and row.max_abs_diff_unit == "lsb" and not row.bit_exact
    assert row.accuracy is None and row.first_mismatch is None


def test_dense_disagreement_is_counted_over_positions_and_located():
    rng = np.random.default_rng(2)
    ref = _int8_map(rng)
    classes = ref.argmax(axis=1)
    got = ref.copy()
    positions = SAMPLES * H * W
    flips = int(np.ceil(0.03 * positions))  # 3% of positions: under the 98% line
    n, h, w = np.unravel_index(np.arange(positions - flips, positions), (SAMPLES, H, W))
    other = (classes[n, h, w] + 1) % CLASSES
    got[n, :, h, w] = -128
    got[n, other, h, w] = 127
    row = _judge(got, _reference(ref))
    assert not row.passed and row.top1_agreement == pytest.approx(1 - flips / positions)
    mismatch = row.first_mismatch
    assert (mismatch.kind, mismatch.sample, mismatch.index) == ("class", int(n[0]), (int(h[0]), int(w[0])))
    assert (mismatch.expected, mismatch.got) == (classes[n[0], h[0], w[0]], other[0])
    assert f"position [{h[0]}, {w[0]}]: got class {other[0]}" in row.failure("runtime")
    assert "of positions" in row.failure("runtime")
    # one flip fewer than 2% of positions passes
    few = int(0.02 * positions)
    ok = ref.copy()
    ok[n[:few], :, h[:few], w[:few]] = got[n[:few], :, h[:few], w[:few]]
    assert _judge(ok, _reference(ref)).passed


def test_labels_judge_accuracy_only_where_they_fit():
    rng = np.random.default_rng(3)
    ref = _int8_map(rng)
    classes = ref.argmax(axis=1)
    per_pixel = classes.copy()
    per_pixel[0, 0, :] = (per_pixel[0, 0, :] + 1) % CLASSES  # W of SAMPLES*H*W labels wrong
    row = _judge(ref, _reference(ref), y=per_pixel)
    assert row.passed and row.accuracy == pytest.approx(1 - W / (SAMPLES * H * W))
    per_sample = rng.integers(0, CLASSES, size=SAMPLES)
    assert not labels_fit(per_sample, classes) and labels_fit(per_pixel, classes)
    row = _judge(ref, _reference(ref), y=per_sample)
    assert row.passed and row.accuracy is None and _reference(ref).accuracy(per_sample) is None
    # a runtime whose map scores 1.5 points under the reference's on fitting labels fails
    worse = ref.copy()
    positions = np.argwhere(per_pixel == classes)[: int(0.015 * SAMPLES * H * W) + 1]
    for n, h, w in positions:
        worse[n, :, h, w] = np.roll(ref[n, :, h, w], 1)
    assert not _judge(worse, _reference(ref), y=per_pixel).passed


def test_classifier_rule_is_per_sample():
    rng = np.random.default_rng(4)
    ref = rng.integers(-128, 128, size=(100, 10)).astype(np.int8)
    classes = ref.argmax(axis=1)
    y = classes.copy()
    got = ref.copy()
    got[:3] = np.roll(ref[:3], 1, axis=1)  # 3 of 100 samples change class
    row = _judge(got, _reference(ref), y=y)
    assert row.top1_unit == "sample" and row.top1_agreement == 0.97 and row.accuracy == 0.97
    assert not row.passed
    mismatch = row.first_mismatch
    assert (mismatch.sample, mismatch.index, mismatch.kind) == (0, (), "class")
    assert (mismatch.expected, mismatch.got) == (classes[0], (classes[0] + 1) % 10)
    got[2] = ref[2]  # 2 of 100: agreement passes, accuracy 2 points under the reference's fails
    assert _judge(got, _reference(ref)).passed
    row = _judge(got, _reference(ref), y=y)
    assert row.top1_agreement == 0.98 and row.accuracy == 0.98 and not row.passed
    row = _judge(ref, _reference(ref), y=y)
    assert row.passed and row.accuracy == 1.0 and row.bit_exact


def test_one_channel_map_keeps_the_per_sample_rule():
    rng = np.random.default_rng(5)
    ref = rng.integers(-128, 128, size=(SAMPLES, 1, H, W)).astype(np.int8)
    row = _judge(ref, _reference(ref), y=rng.integers(0, H * W, size=SAMPLES))
    assert row.top1_unit == "sample" and row.top1_agreement == 1.0 and row.accuracy is not None


def test_bit_exact_policy_ignores_class_agreement():
    rng = np.random.default_rng(6)
    ref = _int8_map(rng)
    got = ref.copy()
    got[1, 2, 3, 4] += 1
    row = _judge(got, _reference(ref), policy=BIT_EXACT)
    assert not row.passed and row.top1_agreement == 1.0
    assert (row.first_mismatch.kind, row.first_mismatch.index) == ("value", (2, 3, 4))


def test_table_names_what_agreement_counts():
    rng = np.random.default_rng(7)
    ref = _int8_map(rng)
    rows = {"dense": _judge(ref, _reference(ref)).to_json(),
            "classifier": _judge(ref[:, :, 0, 0], _reference(ref[:, :, 0, 0])).to_json()}
    table = verify_table({"runtimes": rows})
    cells = list(table.columns[5].cells)
    assert cells == ["1 of positions", "1"]

"""Damaged model files: every one loads or is refused with a UserError, nothing else escapes.

Seeded, in-process: the ``.tflite`` frontend on a real MLPerf Tiny model cut at every offset of its
first and last 2 KB and with random bytes changed, and the ONNX frontend on a small real model cut
at every offset and with random bytes changed.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from edgeconv.errors import UserError
from edgeconv.frontend import load_model
from tests.conftest import write_tiny_onnx

TFLITE_MODEL = Path(__file__).parents[1] / "data" / "mlperf_tiny" / "kws_dscnn_int8.tflite"
EDGE_BYTES = 2048
FLIPPED_FILES = 400
SEED = 0


def _truncations(data: bytes, edge: int) -> list:
    ends = set(range(min(edge, len(data)))) | set(range(max(len(data) - edge, 0), len(data)))
    return [data[:end] for end in sorted(ends)]


def _byte_flips(data: bytes, count: int, seed: int) -> list:
    rng = random.Random(seed)
    damaged = []
    for _ in range(count):
        copy = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            copy[rng.randrange(len(copy))] = rng.randrange(256)
        damaged.append(bytes(copy))
    return damaged


def _escapes(variants: list, path: Path) -> list:
    """(index, exception) for each variant whose load raised anything but a UserError."""
    escaped = []
    for index, data in enumerate(variants):
        path.write_bytes(data)
        try:
            load_model(path)
        except UserError:
            pass
        except Exception as exc:  # noqa: BLE001 - what the test is looking for
            escaped.append((index, repr(exc)[:200]))
    return escaped


@pytest.fixture(scope="module")
def tflite_bytes() -> bytes:
    return TFLITE_MODEL.read_bytes()


@pytest.fixture(scope="module")
def onnx_bytes(tmp_path_factory) -> bytes:
    return write_tiny_onnx(tmp_path_factory.mktemp("fuzz") / "tiny.onnx").read_bytes()


def test_truncated_tflite_loads_or_is_refused(tflite_bytes, tmp_path):
    assert _escapes(_truncations(tflite_bytes, EDGE_BYTES), tmp_path / "cut.tflite") == []


def test_tflite_with_changed_bytes_loads_or_is_refused(tflite_bytes, tmp_path):
    assert _escapes(_byte_flips(tflite_bytes, FLIPPED_FILES, SEED), tmp_path / "flipped.tflite") == []


def test_truncated_onnx_loads_or_is_refused(onnx_bytes, tmp_path):
    assert _escapes(_truncations(onnx_bytes, EDGE_BYTES), tmp_path / "cut.onnx") == []


def test_onnx_with_changed_bytes_loads_or_is_refused(onnx_bytes, tmp_path):
    assert _escapes(_byte_flips(onnx_bytes, FLIPPED_FILES, SEED), tmp_path / "flipped.onnx") == []


def test_tflite_cut_anywhere_in_the_middle_is_refused(tmp_path):
    """A cut through the weights of a larger model names the file (it used to raise struct.error)."""
    data = (TFLITE_MODEL.parent / "ic_resnet8_int8.tflite").read_bytes()
    path = tmp_path / "cut.tflite"
    for end in range(79_500, len(data) - 1, 1_999):
        path.write_bytes(data[:end])
        with pytest.raises(UserError, match="truncated or corrupted"):
            load_model(path)

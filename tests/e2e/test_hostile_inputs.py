"""Hostile-but-ordinary use of the command line, one row per fault (DESIGN §3).

Each row runs the real ``edgeconv`` program in a fresh working directory and holds it to the
contract for input that cannot be served: the expected exit code, one line on stderr naming the
fault (the row's fragment), no traceback, nothing on stdout, and no ``.partial`` staging
directory or stray file left behind.

A row's ``argv`` is formatted with the workspace's names: ``{tmp}`` the working directory,
``{model}`` a tiny float ONNX model, ``{out}`` a finished ``compress`` output (host target,
every artifact) that the row may damage. ``setup(tmp)`` prepares anything else the row needs
and returns extra names for the format.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest

from tests.conftest import TINY_INPUT_SHAPE, write_tiny_onnx

PROGRAM = [sys.executable, "-c", "from edgeconv.cli import main; main()"]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple
    code: int
    fragment: str
    setup: Optional[Callable[[Path], dict]] = None
    needs_out: bool = False
    timeout: float = 120.0
    env: dict = field(default_factory=dict)


# --- faults refused before this table existed: setup ---------------------------------------


def _npz(**arrays) -> Callable[[Path], dict]:
    def setup(tmp: Path) -> dict:
        np.savez(tmp / "bad.npz", **{k: v() if callable(v) else v for k, v in arrays.items()})
        return {"bad": tmp / "bad.npz"}
    return setup


def _samples(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, *TINY_INPUT_SHAPE[1:])).astype(np.float32)


def _text_file(name: str, text: str) -> Callable[[Path], dict]:
    def setup(tmp: Path) -> dict:
        (tmp / name).write_text(text)
        return {"file": tmp / name}
    return setup


def _existing_out(tmp: Path) -> dict:
    (tmp / "taken").mkdir()
    (tmp / "taken" / "keep.txt").write_text("mine")
    return {"taken": tmp / "taken"}


def _empty_image_folder(tmp: Path) -> dict:
    (tmp / "images").mkdir()
    return {"images": tmp / "images"}


def _bad_report(tmp: Path) -> dict:
    (tmp / "run").mkdir()
    (tmp / "run" / "report.json").write_text("{not json")
    return {"run": tmp / "run"}


# --- options, data and board files: setup ---------------------------------------------------


def _board(old: str, new: str) -> Callable[[Path], dict]:
    """``{board}``: the bundled rpi4.toml with its first ``old`` replaced by ``new``."""
    def setup(tmp: Path) -> dict:
        from edgeconv.targets import targets_dir

        text = (targets_dir() / "rpi4.toml").read_text()
        assert old in text
        (tmp / "board.toml").write_text(text.replace(old, new, 1))
        return {"board": tmp / "board.toml"}
    return setup


def _huge_input_model(tmp: Path) -> dict:
    """``{huge}``: the tiny model with its input fixed at 1x1x1000000x1000000."""
    import onnx

    model = onnx.load(str(write_tiny_onnx(tmp / "huge.onnx")))
    for dim in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        dim.dim_value = 1_000_000
    onnx.save(model, str(tmp / "huge.onnx"))
    return {"huge": tmp / "huge.onnx"}


def _gray_image_folder(tmp: Path) -> dict:
    """``{images}``: one class folder holding one white 8x8 grayscale PNG."""
    from PIL import Image

    (tmp / "images" / "white").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp / "images" / "white" / "a.png")
    return {"images": tmp / "images"}


# --- names that become paths, --out and --force: setup ---------------------------------------


def _calib_and_file(tmp: Path) -> dict:
    """``{calib}``: valid samples, so the run reaches its output; ``{file}``: a plain file."""
    np.savez(tmp / "calib.npz", x=_samples())
    (tmp / "notes.txt").write_text("a file, not a directory")
    return {"calib": tmp / "calib.npz", "file": tmp / "notes.txt"}


def _foreign_runner_dir(tmp: Path) -> dict:
    """The copied ``{out}`` with a ``build/host`` folder that edgeconv did not write."""
    (tmp / "out" / "build" / "host").mkdir(parents=True)
    (tmp / "out" / "build" / "host" / "notes.txt").write_text("mine")
    return {}


# --- verify, build and the runner: setup ----------------------------------------------------


def _without(artifact: str) -> Callable[[Path], dict]:
    """Deletes ``artifact`` (a file or folder) from the copied ``{out}``."""
    def setup(tmp: Path) -> dict:
        path = tmp / "out" / artifact
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        return {}
    return setup


# --- model files and frontends: setup -------------------------------------------------------

MLPERF_TINY = Path(__file__).parents[1] / "data" / "mlperf_tiny"


def _model(name: str, write: Callable[[Path], Path]) -> Callable[[Path], dict]:
    """Writes ``{bad}`` with ``write(path)`` and ``{calib}``, zero samples for the tiny model."""
    def setup(tmp: Path) -> dict:
        np.savez(tmp / "calib.npz", x=np.zeros((4, *TINY_INPUT_SHAPE[1:]), np.float32))
        return {"bad": write(tmp / name), "calib": tmp / "calib.npz"}
    return setup


def _cut(source: Callable[[Path], Path], size: Callable[[int], int]) -> Callable[[Path], Path]:
    """A writer of the model ``source(path)`` gives, cut to ``size(its length)`` bytes."""
    def write(path: Path) -> Path:
        data = source(path).read_bytes()
        path.write_bytes(data[:size(len(data))])
        return path
    return write


def _pt2_with_code(returns_inputs: bool) -> Callable[[Path], Path]:
    from tests.unit.hostile_models import pt2_with_pickled_sample_inputs

    return lambda path: pt2_with_pickled_sample_inputs(path, path.parent / "code-ran", returns_inputs)


def _frontend_fixture(name: str) -> Callable[[Path], Path]:
    from tests.unit import hostile_models

    return getattr(hostile_models, name)


COMPRESS = ("compress", "{model}", "--target", "rpi4", "--out", "{tmp}/o")
HOST_COMPRESS = ("compress", "{bad}", "--target", "host", "--out", "{tmp}/o")

CASES: list[Case] = [
    # --- faults refused before this table existed ----------------------------------------------
    Case("unknown-target-compress", (*COMPRESS, "--target", "nosuchboard"), 2, "unknown target 'nosuchboard'"),
    Case("unknown-target-inspect", ("inspect", "{model}", "--target", "nosuchboard"), 2, "unknown target"),
    Case("unknown-target-profile", ("profile", "--target", "nosuchboard"), 2, "unknown target"),
    Case("missing-model-compress", ("compress", "{tmp}/missing.pt2", "--target", "rpi4"), 2, "does not exist"),
    Case("missing-model-inspect", ("inspect", "{tmp}/missing.pt2"), 2, "does not exist"),
    Case("missing-out-build", ("build", "{tmp}/missing"), 2, "does not exist"),
    Case("runner-scheme", ("verify", "{tmp}", "--runner", "telnet://pi"), 2, "use local, qemu or ssh://user@host[:port]"),
    Case("runner-port", ("verify", "{tmp}", "--runner", "ssh://pi@board:99999"), 2, "port 99999 is outside 1..65535"),
    Case("existing-out", (*COMPRESS, "--data", "{tmp}", "--out", "{taken}"), 2, "already exists", _existing_out),
    Case("onnx-without-data", COMPRESS, 2, "--data is required for tiny.onnx"),
    Case("build-without-report", ("build", "{tmp}"), 2, "has no report.json"),
    Case("verify-bad-report", ("verify", "{run}"), 2, "report.json is not valid JSON", _bad_report),
    Case("data-wrong-shape", (*COMPRESS, "--data", "{bad}"), 2, "the model takes (N, 1, 8, 8)",
         _npz(x=lambda: np.zeros((4, 3, 8, 8), np.float32))),
    Case("data-nan", (*COMPRESS, "--data", "{bad}"), 2, "NaN or Inf",
         _npz(x=lambda: np.where(_samples() > 1.5, np.nan, _samples()).astype(np.float32))),
    Case("data-empty", (*COMPRESS, "--data", "{bad}"), 2, "x holds no samples",
         _npz(x=lambda: np.zeros((0, 1, 8, 8), np.float32))),
    Case("data-no-x", (*COMPRESS, "--data", "{bad}"), 2, "has no array 'x'", _npz(data=_samples)),
    Case("data-label-range", (*COMPRESS, "--data", "{bad}"), 2, "label 10 is outside the model's 10 classes",
         _npz(x=_samples, y=lambda: np.array([0, 1, 2, 10]))),
    Case("data-label-count", (*COMPRESS, "--data", "{bad}"), 2, "y has 2 labels for 4 samples",
         _npz(x=_samples, y=lambda: np.array([0, 1]))),
    Case("data-integer-pixels", (*COMPRESS, "--data", "{bad}"), 2, "x has dtype uint8",
         _npz(x=lambda: np.zeros((4, 1, 8, 8), np.uint8))),
    Case("data-not-npz", (*COMPRESS, "--data", "{file}"), 2, "is not a readable .npz file",
         _text_file("calib.npz", "x,y\n1,2\n")),
    Case("data-folder-without-classes", (*COMPRESS, "--data", "{images}"), 2, "without class subfolders",
         _empty_image_folder),
    # --- model files and frontends -------------------------------------------------------------
    Case("pt2-pickled-sample-inputs", ("inspect", "{bad}"), 2, "archive member data/sample_inputs/model.pt",
         _model("model.pt2", _pt2_with_code(False))),
    Case("pt2-pickle-returning-inputs", (*HOST_COMPRESS, "--data", "{calib}"), 2,
         "archive member data/sample_inputs/model.pt", _model("model.pt2", _pt2_with_code(True))),
    Case("tflite-truncated", ("inspect", "{bad}"), 2, "cut.tflite: the TFLite flatbuffer is truncated or corrupted",
         _model("cut.tflite", _cut(lambda _: MLPERF_TINY / "ic_resnet8_int8.tflite", lambda n: 90_000))),
    Case("onnx-truncated", ("inspect", "{bad}"), 2, "cut.onnx is not a readable ONNX model",
         _model("cut.onnx", _cut(write_tiny_onnx, lambda n: n // 2))),
    Case("two-input-model", (*HOST_COMPRESS, "--data", "{calib}"), 2, "the model has 2 inputs (x, y)",
         _model("two.onnx", _frontend_fixture("write_two_input_onnx"))),
    Case("float-tflite-without-data", HOST_COMPRESS, 2, "--data is required for float.tflite",
         _model("float.tflite", _frontend_fixture("write_float_tflite"))),
    Case("torchscript-converter-refuses", ("inspect", "{bad}", "--input-shape", "1,1,8,8"), 2,
         "export the model with torch.export", _model("loop.pt", _frontend_fixture("write_loop_torchscript"))),
    # --- names that become paths, --out and --force --------------------------------------------
    Case("board-name-escapes-build", ("build", "{out}", "--target", "{board}"), 2, "cannot be used in a file name",
         _board('name = "rpi4"', 'name = "x/../../../ESC1"'), True),
    Case("board-name-escapes-profile", ("profile", "--target", "{board}", "--out", "{tmp}/t.json"), 2,
         "cannot be used in a file name", _board('name = "rpi4"', 'name = "x/../../../ESC1"')),
    Case("c-prefix-path", (*COMPRESS, "--c-prefix", "../../evil_"), 2, "--c-prefix '../../evil_' is not a C identifier"),
    Case("force-foreign-dir", (*COMPRESS, "--data", "{tmp}", "--out", "{taken}", "--force"), 2,
         "taken was not written by edgeconv", _existing_out),
    Case("force-root", (*COMPRESS, "--data", "{tmp}", "--out", "/", "--force"), 2, "/ is not replaced: it is the root"),
    Case("force-cwd", (*COMPRESS, "--data", "{tmp}", "--out", ".", "--force"), 2, ". is not replaced"),
    Case("force-parent-of-cwd", (*COMPRESS, "--data", "{tmp}", "--out", "..", "--force"), 2, ".. is not replaced"),
    Case("build-foreign-runner-dir", ("build", "{out}"), 2, "host was not written by edgeconv", _foreign_runner_dir, True),
    Case("out-under-a-file", (*COMPRESS, "--data", "{calib}", "--out", "{file}/o"), 2,
         "notes.txt/o cannot be written: a part of its path is a file", _calib_and_file),
    Case("out-name-too-long", (*COMPRESS, "--data", "{tmp}", "--out", "{tmp}/" + "n" * 300), 2,
         "cannot be written: a name in it is too long for the file system"),
    Case("out-read-only-file-system", (*COMPRESS, "--data", "{calib}", "--out", "/sys/edgeconv-out"), 2,
         "output /sys/edgeconv-out cannot be written: no permission to write there", _calib_and_file),
    Case("profile-out-under-a-file", ("profile", "--target", "host", "--out", "{file}/t.json"), 2,
         "notes.txt/t.json cannot be written: a part of its path is a file", _calib_and_file),
    # --- options, data and board files ---------------------------------------------------------
    Case("lr-inf", (*COMPRESS, "--lr", "inf"), 2, "--lr must be greater than 0 and finite, got inf"),
    Case("lr-nan", (*COMPRESS, "--lr", "nan"), 2, "--lr must be greater than 0 and finite, got nan"),
    Case("latency-nan", (*COMPRESS, "--latency-ms", "nan"), 2, "--latency-ms must be greater than 0 and finite"),
    Case("seed-negative", (*COMPRESS, "--seed", "-1"), 2, "--seed -1 is outside 0..4294967295"),
    Case("seed-over-64-bits", (*COMPRESS, "--seed", str(2**64)), 2, f"--seed {2**64} is outside 0..4294967295"),
    Case("mean-nan", (*COMPRESS, "--mean", "nan"), 2, "--mean 'nan' holds a value that is not a finite number"),
    Case("std-nan", (*COMPRESS, "--std", "nan"), 2, "--std 'nan' holds a value that is not a finite number"),
    Case("std-inf", (*COMPRESS, "--std", "inf"), 2, "--std 'inf' holds a value that is not a finite number"),
    Case("std-zero", (*COMPRESS, "--std", "0"), 2, "--std '0' must be positive"),
    Case("std-overflows-pixels", (*COMPRESS, "--data", "{images}", "--std", "1e-45"), 2,
         "--mean not given and --std 1e-45 turn the pixels into values beyond float32", _gray_image_folder),
    Case("input-shape-huge", ("inspect", "{model}", "--input-shape", "1,1,1000000,1000000"), 2,
         "has 1,000,000,000,000 elements per sample; edgeconv takes tensors of at most 67,108,864 elements"),
    Case("model-shape-huge", ("inspect", "{huge}"), 2,
         "tensor 'x' of shape (1, 1, 1000000, 1000000) has 1,000,000,000,000 elements", _huge_input_model),
    Case("target-directory", ("inspect", "{model}", "--target", "{tmp}"), 2,
         "is a directory, not a board name or a board .toml file"),
    Case("board-clock-nan", ("inspect", "{model}", "--target", "{board}"), 2,
         "board.toml: key cpu.clock_ghz must be a finite number, got nan", _board("clock_ghz = 1.5", "clock_ghz = nan")),
    Case("board-bandwidth-inf", ("inspect", "{model}", "--target", "{board}"), 2,
         "key memory.bandwidth_gbs must be a finite number, got inf", _board("bandwidth_gbs = 5.5", "bandwidth_gbs = inf")),
    Case("board-name-escapes", ("compress", "{model}", "--target", "{board}", "--data", "{tmp}"), 2,
         "board.toml: key name 'x/../../../ESC1' cannot be used in a file name",
         _board('name = "rpi4"', 'name = "x/../../../ESC1"')),
    # --- verify, build and the runner ----------------------------------------------------------
    Case("verify-no-tflite", ("verify", "{out}"), 3, "tflite-litert: artifact missing", _without("model.tflite"), True),
    Case("verify-no-onnx", ("verify", "{out}"), 3, "onnxruntime: artifact missing", _without("model.onnx"), True),
    Case("verify-no-c", ("verify", "{out}"), 3, "c-host: artifact missing", _without("c"), True),
    Case("verify-no-c-local", ("verify", "{out}", "--runner", "local"), 3, "c-host: artifact missing", _without("c"), True),
]


@pytest.fixture(scope="module")
def compressed_out(tmp_path_factory) -> Path:
    """One finished host compress of the tiny model, copied for each row that damages it."""
    root = tmp_path_factory.mktemp("hostile_out")
    model = write_tiny_onnx(root / "tiny.onnx")
    np.savez(root / "calib.npz", x=_samples(8))
    result = subprocess.run([*PROGRAM, "compress", str(model), "--target", "host", "--precisions", "int8",
                             "--data", str(root / "calib.npz"), "--out", str(root / "out"), "--quiet"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return root / "out"


def _leftovers(directory: Path) -> list:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.name.endswith(".partial") or p.name.endswith(".old"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path, request):
    names = {"tmp": tmp_path, "model": write_tiny_onnx(tmp_path / "tiny.onnx")}
    if case.needs_out:
        names["out"] = tmp_path / "out"
        shutil.copytree(request.getfixturevalue("compressed_out"), names["out"])
    if case.setup is not None:
        names.update(case.setup(tmp_path))
    before = {p for p in tmp_path.rglob("*")}
    argv = [str(a).format(**names) for a in case.argv]
    env = {**os.environ, **case.env}
    result = subprocess.run([*PROGRAM, *argv], cwd=tmp_path, capture_output=True, text=True,
                            timeout=case.timeout, stdin=subprocess.DEVNULL, env=env)
    assert result.returncode == case.code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("edgeconv: error: "), result.stderr
    assert case.fragment in lines[-1], (case.fragment, lines[-1])
    assert _leftovers(tmp_path) == []
    if case.code == 2:  # refused input: one sentence, nothing written anywhere
        assert len(lines) == 1 and result.stdout == "", (result.stdout[-2000:], result.stderr)
        new = {p for p in tmp_path.rglob("*")} - before
        assert not new, sorted(str(p) for p in new)

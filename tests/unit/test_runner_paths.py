"""``edgeconv_run``'s paths (DESIGN §3): a directory given as the input, the output or the
``--timing`` file is refused with exit 2 and one message naming the path, before anything runs,
so nothing is written."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.kernels.qgraphs import GraphBuilder
from tests.unit.test_codegen import compile_graph


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    """A sanitized runner of a one-conv int8 model, and a valid input file for it."""
    root = tmp_path_factory.mktemp("runner")
    b = GraphBuilder((1, 2, 5, 5), seed=21)
    b.quantize()
    b.conv(3)
    b.dequantize()
    _, binary, _ = compile_graph(b.finish(), root, sanitize=True)
    x = root / "x.npy"
    np.save(x, np.random.default_rng(22).uniform(-1, 1, size=(2, 2, 5, 5)).astype(np.float32))
    return binary, x


def run(binary, *args):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=60)


def assert_refused(result, path, fragment):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"edgeconv_run: {path}: ") and fragment in lines[0], lines


def test_a_directory_as_input_is_named_a_directory(runner, tmp_path):
    binary, _ = runner
    result = run(binary, tmp_path, tmp_path / "y.npy")
    assert_refused(result, tmp_path, "is a directory, not a .npy file")
    assert not (tmp_path / "y.npy").exists()


def test_a_directory_as_timing_file_is_refused_before_running(runner, tmp_path):
    binary, x = runner
    (tmp_path / "t.json").mkdir()
    result = run(binary, "--timing", tmp_path / "t.json", x, tmp_path / "y.npy")
    assert_refused(result, tmp_path / "t.json", "is a directory, not a file to write")
    assert not (tmp_path / "y.npy").exists(), "nothing is written when an output path is bad"


def test_a_directory_as_output_is_refused(runner, tmp_path):
    binary, x = runner
    result = run(binary, x, tmp_path)
    assert_refused(result, tmp_path, "is a directory, not a file to write")


def test_an_output_in_a_missing_folder_is_refused(runner, tmp_path):
    binary, x = runner
    timing = tmp_path / "nowhere" / "t.json"
    result = run(binary, "--timing", timing, x, tmp_path / "y.npy")
    assert_refused(result, timing, f"the folder {tmp_path / 'nowhere'} does not exist")
    assert not (tmp_path / "y.npy").exists()


def test_good_paths_still_run_and_write_both_files(runner, tmp_path):
    binary, x = runner
    result = run(binary, "--timing", tmp_path / "t.json", x, tmp_path / "y.npy")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "y.npy").shape[0] == 2 and (tmp_path / "t.json").is_file()

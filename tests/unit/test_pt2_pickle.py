"""A ``.pt2`` never runs code from the file without ``--trust-pickle``.

The crafted archives (``hostile_models``) replace a pickled member or a shape expression with code
that creates a marker file. Loading them, in-process and through the real ``edgeconv inspect`` and
``compress``, must refuse the archive naming the member, and the marker must never appear.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgeconv.errors import UserError
from edgeconv.frontend import load_model
from edgeconv.reference import run_single

from hostile_models import (FIRST_WEIGHT_MEMBER, SAMPLE_INPUTS_MEMBER, TinyConvNet, pt2_with_code_in_shape_expression,
                            pt2_with_pickled_sample_inputs, pt2_with_pickled_weight, write_tiny_pt2)
from tests.conftest import TINY_INPUT_SHAPE

PROGRAM = [sys.executable, "-c", "from edgeconv.cli import main; main()"]

CRAFTED = {
    "sample-inputs": (lambda path, marker: pt2_with_pickled_sample_inputs(path, marker), SAMPLE_INPUTS_MEMBER),
    "sample-inputs-returning-inputs": (lambda path, marker: pt2_with_pickled_sample_inputs(path, marker, True),
                                       SAMPLE_INPUTS_MEMBER),
    "weight": (pt2_with_pickled_weight, FIRST_WEIGHT_MEMBER),
    "shape-expression": (pt2_with_code_in_shape_expression, "shape expression"),
}


def _run(args: list, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([*PROGRAM, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_archive_is_refused_without_running_its_code(kind, tmp_path):
    make, named = CRAFTED[kind]
    marker = tmp_path / "code-ran"
    model = make(tmp_path / "model.pt2", marker)
    with pytest.raises(UserError) as refused:
        load_model(model)
    assert named in str(refused.value) and "--trust-pickle" in str(refused.value)
    assert not marker.exists()


def test_trust_pickle_loads_with_torch_itself(tmp_path):
    """With consent, torch's own loader reads the archive, running what it holds."""
    marker = tmp_path / "code-ran"
    model = pt2_with_pickled_sample_inputs(tmp_path / "model.pt2", marker, returns_inputs=True)
    result = _run(["inspect", model, "--trust-pickle", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert marker.exists()


@pytest.mark.parametrize("dynamic_batch", [False, True])
@pytest.mark.parametrize("trust_pickle", [False, True])
def test_ordinary_archive_loads_the_same_program(dynamic_batch, trust_pickle, tmp_path):
    import torch

    graph = load_model(write_tiny_pt2(tmp_path / "model.pt2", dynamic_batch), trust_pickle=trust_pickle)
    torch.manual_seed(0)
    module = TinyConvNet().eval()
    x = np.random.default_rng(0).standard_normal(TINY_INPUT_SHAPE).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_single(graph, x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("returns_inputs", [False, True])
def test_cli_refuses_crafted_archive(returns_inputs, tmp_path):
    marker = tmp_path / "code-ran"
    model = pt2_with_pickled_sample_inputs(tmp_path / "model.pt2", marker, returns_inputs)
    data = tmp_path / "calib.npz"
    np.savez(data, x=np.zeros((4, *TINY_INPUT_SHAPE[1:]), np.float32))
    commands = {
        "inspect": ["inspect", model],
        "compress": ["compress", model, "--target", "host", "--data", data, "--out", tmp_path / "out"],
    }
    for argv in commands.values():
        result = _run(argv, tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        assert result.stderr.count("\n") == 1 and SAMPLE_INPUTS_MEMBER in result.stderr, result.stderr
        assert not marker.exists()
    assert not (tmp_path / "out").exists()

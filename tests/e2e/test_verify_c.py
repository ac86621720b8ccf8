"""`edgeconv verify` with the C runtime on the build machine: the ``c-host`` row.

verify builds ``OUT/build/host/edgeconv_run`` when it is missing, runs it on the verification
inputs, holds it bit-exact against the reference executor and reports a measured latency.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import edgeconv.api as api
from edgeconv.errors import UserError, VerificationFailed
from edgeconv.zoo import models, training


@pytest.fixture(scope="module")
def compressed_int8(tmp_path_factory) -> Path:
    """The (seeded, untrained) TinyCNN compressed to int8 for the host, with its data file."""
    root = tmp_path_factory.mktemp("verify-c")
    torch.manual_seed(0)
    model = models.MODELS["tinycnn"]().eval()
    x_train, y_train, _, _ = training.digits_dataset()
    torch.export.save(torch.export.export(model, (torch.from_numpy(x_train[:1]),)), root / "tinycnn.pt2")
    np.savez(root / "calib.npz", x=x_train[:64], y=y_train[:64])
    return Path(api.compress(root / "tinycnn.pt2", "host", data=root / "calib.npz", precisions="int8",
                             out=root / "tinycnn-int8")["out"])


@pytest.mark.slow
def test_c_host_row_is_bit_exact_with_a_measured_latency(compressed_int8):
    out = compressed_int8
    assert not (out / "build" / "host").exists()
    result = api.verify(out)  # target and runner from report.json: host, local
    row = result["runtimes"]["c-host"]
    assert row["passed"] and row["bit_exact"] and row["max_abs_diff"] == 0
    assert row["samples"] == 32 and row["policy"] == "bit-exact"
    assert row["latency_ms"] is not None and row["latency_ms"] > 0
    assert (out / "build" / "host" / "edgeconv_run").is_file(), "verify builds the missing runner"
    assert json.loads((out / "verify.json").read_text())["runtimes"]["c-host"]["bit_exact"] is True


def test_qemu_runner_is_refused_for_the_host(compressed_int8):
    with pytest.raises(UserError, match="runs natively"):
        api.verify(compressed_int8, target="host", runner="qemu")


def test_a_compiler_that_does_not_exist_is_a_user_error(compressed_int8):
    with pytest.raises(UserError, match="no-such-cc"):
        api.build(compressed_int8, target="host", cc="no-such-cc")


def test_a_deleted_c_folder_fails_the_c_row_even_with_a_built_runner(compressed_int8, tmp_path):
    out = Path(shutil.copytree(compressed_int8, tmp_path / "out"))
    api.build(out)
    shutil.rmtree(out / "c")
    with pytest.raises(VerificationFailed, match=r"c-host: artifact missing: .*/c does not exist \(report.json lists it\)") as failed:
        api.verify(out, runner="local")
    rows = failed.value.result["runtimes"]
    assert rows["c-host"]["passed"] is False and rows["c-host"]["error"].startswith("artifact missing: ")
    assert all(row["passed"] for name, row in rows.items() if name != "c-host")

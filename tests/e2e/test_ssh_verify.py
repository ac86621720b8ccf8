"""`edgeconv verify --runner ssh://...` against a real sshd on 127.0.0.1 (fixture ``sshd_server``).

The client key and known-hosts file of the test server reach ssh through ``EDGECONV_SSH_OPTIONS``,
the documented way to pass extra ssh options. The board here is this machine, so the host build
of the runner is the one shipped.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import edgeconv.api as api
from edgeconv.zoo import models, training

UNREACHABLE = "ssh://nobody@10.255.255.1:22"
EDGECONV = [sys.executable, "-c", "from edgeconv.cli import main; main()"]


@pytest.fixture(scope="module")
def compressed_w2a2(tmp_path_factory) -> Path:
    """The (seeded, untrained) TinyCNN compressed with DoReFa w2a2 for the host."""
    root = tmp_path_factory.mktemp("ssh-verify")
    torch.manual_seed(0)
    model = models.MODELS["tinycnn"]().eval()
    x_train, y_train, _, _ = training.digits_dataset()
    torch.export.save(torch.export.export(model, (torch.from_numpy(x_train[:1]),)), root / "tinycnn.pt2")
    np.savez(root / "calib.npz", x=x_train[:64], y=y_train[:64])
    return Path(api.compress(root / "tinycnn.pt2", "host", data=root / "calib.npz", precisions="w2a2", epochs=0,
                             out=root / "tinycnn-w2a2")["out"])


def _edgeconv(args: list, ssh_options: tuple, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGECONV_SSH_OPTIONS": shlex.join(ssh_options)}
    return subprocess.run([*EDGECONV, *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.slow
def test_verify_over_ssh_is_bit_exact_with_a_latency(compressed_w2a2, sshd_server):
    url, options = sshd_server
    proc = _edgeconv(["verify", str(compressed_w2a2), "--target", "host", "--runner", url, "--json"], options, 300)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["runtimes"]["c-ssh-host"]
    assert row["passed"] and row["bit_exact"] and row["max_abs_diff"] == 0
    assert row["latency_ms"] is not None and row["latency_ms"] > 0
    saved = json.loads((compressed_w2a2 / "verify.json").read_text())
    assert saved["runtimes"]["c-ssh-host"]["bit_exact"] is True


@pytest.mark.slow
def test_unreachable_board_fails_within_30_s_with_exit_2(compressed_w2a2, sshd_server):
    _, options = sshd_server
    start = time.monotonic()
    proc = _edgeconv(["verify", str(compressed_w2a2), "--target", "host", "--runner", UNREACHABLE], options, 60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    assert "10.255.255.1" in proc.stderr and "Traceback" not in proc.stderr
    assert elapsed < 30

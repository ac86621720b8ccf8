import time

import pytest

from edgeconv.errors import UserError
from edgeconv.runtimes.ssh import SshRunner


def test_ssh_runner_reaches_a_real_sshd(sshd_server):
    url, options = sshd_server
    runner = SshRunner.from_url(url, extra_options=options)
    out = runner.ssh("echo edgeconv-$((6*7))", "an echo").stdout.decode().strip()
    assert out == "edgeconv-42"


def test_unreachable_host_fails_fast_with_a_user_error(sshd_server):
    _, options = sshd_server
    runner = SshRunner.from_url("ssh://nobody@10.255.255.1:22", extra_options=options)
    start = time.monotonic()
    with pytest.raises(UserError, match="10.255.255.1"):
        runner.ssh("true", "a probe")
    assert time.monotonic() - start < 30


def test_malformed_runner_url_is_refused():
    with pytest.raises(UserError, match="ssh://user@host"):
        SshRunner.from_url("ssh://")


def test_tflite_artifact_runs_with_the_boards_interpreter_over_ssh(sshd_server):
    """The board-side check: LiteRT on the far side of ssh gives LiteRT's own outputs."""
    import sys
    from pathlib import Path

    import numpy as np

    from edgeconv.runtimes import litert
    from edgeconv.runtimes.board_tflite import run_tflite_over_ssh

    url, options = sshd_server
    model = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny" / "kws_dscnn_int8.tflite"
    x = np.random.default_rng(3).integers(-128, 128, size=(4, 49, 10, 1), dtype=np.int8)
    result = run_tflite_over_ssh(SshRunner.from_url(url, extra_options=options), model, x, python=sys.executable)
    np.testing.assert_array_equal(result.outputs, litert.run(model, x))
    assert result.timing["runs"] == 4 and result.timing["median_ms"] > 0

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

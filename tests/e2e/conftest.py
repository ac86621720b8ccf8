"""Shared e2e fixtures: a real OpenSSH server on 127.0.0.1 for the ssh runner (own host key, own
client key, ephemeral port, started for the test session and stopped after it), and the digits data
set as the calibration and validation files `compress` reads."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on port {port}")


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory):
    """Yields (url, extra ssh options) for a live sshd accepting only a fresh key."""
    if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")):
        if os.environ.get("CI") == "true":
            pytest.fail("openssh-server / openssh-client are not installed")
        pytest.skip("openssh-server is not installed")
    root = tmp_path_factory.mktemp("sshd")
    os.chmod(root, 0o700)
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True, timeout=30)
    shutil.copy(root / "client_key.pub", root / "authorized_keys")
    os.chmod(root / "authorized_keys", 0o600)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {root / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nLogLevel ERROR\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
    )
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    try:
        _wait_for_port(port)
        options = ("-i", str(root / "client_key"), "-o", f"UserKnownHostsFile={root / 'known_hosts'}",
                   "-o", "IdentitiesOnly=yes")
        yield f"ssh://{getpass.getuser()}@127.0.0.1:{port}", options
    finally:
        proc.terminate()
        proc.wait(timeout=10)


DIGIT_TRAIN_SAMPLES = 600
DIGIT_VAL_SAMPLES = 500


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    """{"calib": calib.npz, "val": val.npz}: the first DIGIT_TRAIN_SAMPLES training digits and the
    first DIGIT_VAL_SAMPLES validation digits, with labels."""
    from edgeconv.zoo import digits_dataset, save_npz

    work = tmp_path_factory.mktemp("digits")
    x_train, y_train, x_val, y_val = digits_dataset()
    return {"calib": save_npz(work / "calib.npz", x_train[:DIGIT_TRAIN_SAMPLES], y_train[:DIGIT_TRAIN_SAMPLES]),
            "val": save_npz(work / "val.npz", x_val[:DIGIT_VAL_SAMPLES], y_val[:DIGIT_VAL_SAMPLES])}

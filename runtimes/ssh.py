"""Running the board binary over ssh with the system OpenSSH client.

Never a password prompt (``BatchMode=yes``); ``~/.ssh/config`` and the agent are honoured because
the plain ``ssh``/``scp`` programs are used; host keys are checked, new ones accepted
(``StrictHostKeyChecking=accept-new``); connect and run timeouts; the remote temporary directory is
removed whatever happens.
"""

from __future__ import annotations

import shlex
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from edgeconv.errors import UserError

from .runner import RUN_TIMEOUT_S, Runner, run_checked

CONNECT_TIMEOUT_S = 10


class SshRunner(Runner):
    name = "ssh"
    measures_latency = True

    def __init__(self, user: str, host: str, port: int = 22, extra_options: tuple = ()):
        self.user, self.host, self.port = user, host, port
        self.extra_options = list(extra_options)

    @classmethod
    def from_url(cls, url: str, extra_options: tuple = ()) -> "SshRunner":
        parsed = urlparse(url)
        if parsed.scheme != "ssh" or not parsed.hostname:
            raise UserError(f"runner {url!r} is not of the form ssh://user@host[:port]")
        try:
            port = parsed.port or 22
        except ValueError:
            raise UserError(f"runner {url!r} has an invalid port") from None
        return cls(parsed.username or "", parsed.hostname, port, extra_options)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def _options(self) -> list:
        opts = [
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
        ]
        return opts + self.extra_options

    def ssh(self, command: str, what: str, timeout: float = RUN_TIMEOUT_S):
        cmd = ["ssh", *self._options(), "-p", str(self.port), self.destination, command]
        return run_checked(cmd, what=f"{what} on {self.destination}:{self.port}", timeout=timeout)

    def _scp(self, sources: list, dest: str, what: str) -> None:
        cmd = ["scp", "-q", *self._options(), "-P", str(self.port), *sources, dest]
        run_checked(cmd, what=f"{what} ({self.destination}:{self.port})", timeout=RUN_TIMEOUT_S)

    @contextmanager
    def remote_dir(self):
        """A fresh temporary directory on the remote machine, removed afterwards."""
        remote = self.ssh("mktemp -d /tmp/edgeconv-run.XXXXXX", "creating a temporary directory",
                          timeout=CONNECT_TIMEOUT_S * 3).stdout.decode().strip()
        if not remote.startswith("/tmp/edgeconv-run."):
            raise UserError(f"unexpected answer from {self.destination}: {remote[:80]!r}")
        try:
            yield remote
        finally:
            try:
                self.ssh(f"rm -rf {remote}", "removing the temporary directory", timeout=CONNECT_TIMEOUT_S * 3)
            except UserError:
                pass  # the run's own error (if any) is the one worth reporting

    def put(self, local_files: list, remote: str) -> None:
        self._scp([str(f) for f in local_files], f"{self.destination}:{remote}/", "copying files to the board")

    def get(self, remote: str, names: list, local_dir: Path) -> None:
        self._scp([f"{self.destination}:{remote}/{n}" for n in names], str(local_dir) + "/", "fetching the outputs")

    def _execute(self, binary: Path, workdir: Path, args: list) -> None:
        with self.remote_dir() as remote:
            self.put([binary, workdir / "in.npy"], remote)
            quoted = " ".join(shlex.quote(a) for a in args)
            self.ssh(f"cd {remote} && chmod +x {binary.name} && ./{binary.name} {quoted}", "running the model")
            self.get(remote, [name for name in ("out.npy", "timing.json") if name in args], workdir)

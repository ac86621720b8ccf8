"""A runner from its spec on the command line: ``local``, ``qemu`` or ``ssh://user@host[:port]``."""

from __future__ import annotations

from edgeconv.errors import UserError

from .runner import LocalRunner, QemuRunner, Runner
from .ssh import SshRunner


def parse_runner(spec: str, target, ssh_options: tuple = ()) -> Runner:
    """The runner ``spec`` names for ``target`` (an edgeconv Target); ``ssh_options`` are extra
    ``ssh``/``scp`` options for an ssh runner."""
    if spec == "local":
        return LocalRunner()
    if spec == "qemu":
        if not target.qemu_binary:
            raise UserError(f"target {target.name} runs natively; use --runner local")
        return QemuRunner(target.qemu_binary, target.qemu_cpu)
    if spec.startswith("ssh://"):
        return SshRunner.from_url(spec, ssh_options)
    raise UserError(f"unknown runner {spec!r}: use local, qemu or ssh://user@host[:port]")

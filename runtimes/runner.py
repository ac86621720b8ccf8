"""Running the compiled `edgeconv_run` binary somewhere: on this machine, under qemu-user, or on a
board over ssh. Every runner moves an input ``.npy`` in and an output ``.npy`` (and optionally a
timing JSON) out, with a timeout on every subprocess.

``runner_spec.parse_runner("local" | "qemu" | "ssh://user@host[:port]", target)`` builds one; the
ssh runner lives in ``ssh``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edgeconv.errors import UserError

RUN_TIMEOUT_S = 600


@dataclass
class RunResult:
    outputs: np.ndarray
    timing: Optional[dict]  # {"median_ms", "min_ms", "runs", "per_layer_ms"} from --timing


class Runner:
    """Base: subclasses say how to launch a command and whether timings are real."""

    name = "local"
    measures_latency = True

    def run(self, binary: Path, x: np.ndarray, repeat: int = 1, timing: bool = False,
            threads: Optional[int] = None) -> RunResult:
        """Run ``binary`` on ``x``; ``threads``: its thread pool's size (None: the model's own)."""
        with tempfile.TemporaryDirectory(prefix="edgeconv-run-") as tmp:
            tmp = Path(tmp)
            np.save(tmp / "in.npy", x)
            args = (["--threads", str(threads)] if threads is not None else []) + self._runner_args(repeat, timing)
            self._execute(Path(binary), tmp, args)
            out = np.load(tmp / "out.npy", allow_pickle=False)
            stats = json.loads((tmp / "timing.json").read_text()) if timing else None
            return RunResult(out, stats)

    @staticmethod
    def _runner_args(repeat: int, timing: bool) -> list:
        args = ["--repeat", str(repeat)] if repeat > 1 else []
        if timing:
            args += ["--timing", "timing.json"]
        return args + ["in.npy", "out.npy"]

    def _launch(self, binary: Path) -> list:
        return [str(binary.resolve())]

    def _execute(self, binary: Path, workdir: Path, args: list) -> None:
        run_checked(self._launch(binary) + args, cwd=workdir, what=f"{self.name} run of {binary.name}")


def run_checked(cmd: list, what: str, cwd: Optional[Path] = None, timeout: float = RUN_TIMEOUT_S,
                input_bytes: Optional[bytes] = None) -> subprocess.CompletedProcess:
    """Run ``cmd``; a timeout or a non-zero exit becomes a UserError quoting its last message."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout, input=input_bytes)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not finish within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise UserError(f"{what}: program {cmd[0]} not found") from None
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        tail = message[-1] if message else f"exit code {proc.returncode}"
        raise UserError(f"{what} failed: {tail}")
    return proc


class LocalRunner(Runner):
    name = "local"
    measures_latency = True


class QemuRunner(Runner):
    """qemu-user with the target's closest ``-cpu``; timings under emulation are not the board's."""

    name = "qemu"
    measures_latency = False

    def __init__(self, qemu_binary: str, cpu: str):
        if shutil.which(qemu_binary) is None:
            raise UserError(f"{qemu_binary} is not installed: install the Debian package qemu-user")
        self.qemu_binary = qemu_binary
        self.cpu = cpu

    def _launch(self, binary: Path) -> list:
        return [self.qemu_binary, "-cpu", self.cpu, str(binary.resolve())]


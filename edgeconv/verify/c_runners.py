"""The C runtime's rows of ``verify.json``: ``c-host``, ``c-qemu-<target>``, ``c-ssh-<target>``.

Each row runs ``OUT/build/<target>/edgeconv_run`` (built on first use when missing) through one
runner of :mod:`edgeconv.runtimes.runner` and is held bit-exact against the reference executor
(DESIGN §2). ``latency_ms`` is the runner's per-sample median (``edgeconv_run --timing``) where the
runner is the real machine (local, ssh) and ``null`` under qemu, whose timings are not the board's.

The runner is given as ``local``, ``qemu``, ``ssh://user@host[:port]`` or a ready
:class:`~edgeconv.runtimes.runner.Runner`. Extra ``ssh``/``scp`` options (an identity file, a
known-hosts file) come from the environment variable ``EDGECONV_SSH_OPTIONS``, split like a shell
command line, e.g. ``EDGECONV_SSH_OPTIONS="-i ~/.ssh/pi_key -o UserKnownHostsFile=~/.ssh/pi_hosts"``;
``~/.ssh/config`` and the agent are honoured without it.

Inputs reach the runner as float32 in the source model's layout (the runner quantizes them with
the model's input parameters, TFLite's QUANTIZE rule, exactly as the reference does); outputs come
back in the model's output dtype and are turned to the IR's channels-first layout for comparison.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..backends.c.runner_build import RUNNER_BINARY, build_runner
from ..backends.irfile import IR_FILE_NAME, load_graph
from ..outdir import staged_directory
from ..runtimes.runner import Runner
from ..runtimes.runner_spec import parse_runner
from ..targets import Target
from ..toolchain import find_compiler
from .compare import BIT_EXACT
from .inputs import to_ir_layout, to_source_layout
from .runners import RunnerSpec

SSH_OPTIONS_ENV = "EDGECONV_SSH_OPTIONS"
C_ARTIFACT = "c"
BUILD_DIR = "build"

RunnerLike = Union[None, str, Runner]


def ssh_options_from_env() -> tuple:
    """Extra ssh/scp options from ``$EDGECONV_SSH_OPTIONS`` (shell-split, ``~`` expanded)."""
    return tuple(os.path.expanduser(word) for word in shlex.split(os.environ.get(SSH_OPTIONS_ENV, "")))


def default_runner_spec(target: Target) -> str:
    """``local`` for the build machine, ``qemu`` for an ARM board."""
    return "local" if target.is_host else "qemu"


def make_runner(runner: RunnerLike, target: Target) -> Runner:
    """A Runner from a spec string (None: the target's default) or a Runner as given."""
    if isinstance(runner, Runner):
        return runner
    spec = runner or default_runner_spec(target)
    return parse_runner(spec, target, ssh_options_from_env() if spec.startswith("ssh://") else ())


def row_name(runner: Runner, target: Target) -> str:
    """``c-host`` (local), ``c-qemu-<target>``, ``c-ssh-<target>``."""
    return "c-host" if runner.name == "local" else f"c-{runner.name}-{target.name}"


def runner_binary(out_dir: Path, target: Target) -> Path:
    return Path(out_dir) / BUILD_DIR / target.name / RUNNER_BINARY


def ensure_binary(out_dir: Path, target: Target) -> Path:
    """``OUT/build/<target>/edgeconv_run``, built (all or nothing) when it is missing."""
    binary = runner_binary(out_dir, target)
    if not binary.is_file():
        with staged_directory(binary.parent, force=True) as staging:
            build_runner(Path(out_dir) / C_ARTIFACT, target, find_compiler(target), staging)
    return binary


class CRuntimeRow:
    """One C row: runs the binary once with timing (where real) and keeps the median for latency."""

    def __init__(self, target: Target, runner: Runner):
        self.target = target
        self.runner = runner
        self._latency_ms: Optional[float] = None

    def version(self, out_dir: Path) -> str:
        binary = ensure_binary(out_dir, self.target)
        record = json.loads((binary.parent / "build.json").read_text())
        return f"edgeconv_run ({record['version']}, {record['isa']} kernels, {self.runner.name})"

    def run(self, out_dir: Path, x: list) -> list:
        out_dir = Path(out_dir)
        binary = ensure_binary(out_dir, self.target)
        layout = load_graph(out_dir / IR_FILE_NAME).source_layout
        result = self.runner.run(binary, to_source_layout(np.asarray(x[0], dtype=np.float32), layout),
                                 timing=self.runner.measures_latency, threads=self.target.threads)
        self._latency_ms = float(result.timing["median_ms"]) if result.timing else None
        return [to_ir_layout(result.outputs, layout)]

    def latency_ms(self, out_dir: Path, x: list) -> Optional[float]:
        return self._latency_ms

    def spec(self, out_dir: Path) -> RunnerSpec:
        return RunnerSpec(row_name(self.runner, self.target), C_ARTIFACT, BIT_EXACT, self.run,
                          lambda: self.version(out_dir), self.latency_ms)


def c_runtime_rows(out_dir, target: Optional[Target], runner: RunnerLike) -> dict:
    """The C row for ``target`` through ``runner``; none without a target (nothing to build for)."""
    if target is None:
        return {}
    row = CRuntimeRow(target, make_runner(runner, target))
    spec = row.spec(Path(out_dir))
    return {spec.name: spec}


"""Running the `.tflite` artifact on the board over ssh with the board's own LiteRT interpreter.

For users who deploy the TFLite artifact instead of the C runner: copies ``board_tflite_check.py``,
the model and the inputs to a temporary directory on the board, runs it with the board's
``python3``, and brings the outputs and single-thread timings back.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path

import numpy as np

from .runner import RunResult
from .ssh import SshRunner

SCRIPT = Path(__file__).with_name("board_tflite_check.py")


def run_tflite_over_ssh(runner: SshRunner, model_path: Path, x: np.ndarray, python: str = "python3") -> RunResult:
    """Outputs and timings of ``model_path`` on ``x`` run by the board's ``python`` interpreter."""
    with tempfile.TemporaryDirectory(prefix="edgeconv-board-") as tmp:
        tmp = Path(tmp)
        np.save(tmp / "in.npy", x)
        with runner.remote_dir() as remote:
            runner.put([SCRIPT, Path(model_path), tmp / "in.npy"], remote)
            runner.ssh(
                f"cd {remote} && {shlex.quote(python)} {SCRIPT.name} {Path(model_path).name} in.npy out.npy timing.json",
                "running the .tflite with the board's interpreter",
            )
            runner.get(remote, ["out.npy", "timing.json"], tmp)
        return RunResult(np.load(tmp / "out.npy", allow_pickle=False), json.loads((tmp / "timing.json").read_text()))

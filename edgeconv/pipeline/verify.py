"""`edgeconv verify OUT`: every artifact of OUT on its runtimes, judged against the reference executor.

The rows are those of :mod:`edgeconv.verify` (LiteRT, TFLite Micro, ONNX Runtime) plus the C
runtime through the chosen runner (:mod:`edgeconv.verify.c_runners`): ``local`` for the host and
``qemu`` for ARM boards by default, or ``ssh://user@host[:port]``. A board that cannot be reached
is the user's input that cannot be served (UserError, exit 2), found before anything runs; a
runtime that runs and disagrees is a failed row (exit 3, raised by ``edgeconv.api``).
"""

from __future__ import annotations

from ..runtimes.runner import Runner
from ..verify import c_runners
from ..verify.verify_dir import compare_artifacts

CONNECTION_CHECK_TIMEOUT_S = 30


def check_reachable(runner: Runner) -> None:
    """Fail fast (UserError naming the host) when an ssh board does not answer."""
    probe = getattr(runner, "ssh", None)
    if probe is not None:
        probe("true", "checking the connection", timeout=CONNECTION_CHECK_TIMEOUT_S)


def verify(request) -> dict:
    """``{"runtimes": {NAME: {..., "passed": bool}}, "reference": {...}}`` for ``request.out``."""
    runner = c_runners.make_runner(request.runner, request.target)
    check_reachable(runner)
    result = compare_artifacts(request.out, request.data, request.target, runner)
    return result.to_json()

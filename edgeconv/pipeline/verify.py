"""`edgeconv verify OUT`: every artifact of OUT on its runtimes, judged against the reference executor.

The rows are those of :mod:`edgeconv.verify` (LiteRT, TFLite Micro, ONNX Runtime) plus the C
runtime through the chosen runner (:mod:`edgeconv.verify.c_runners`): ``local`` for the host and
``qemu`` for ARM boards by default, or ``ssh://user@host[:port]``. A board that cannot be reached
is the user's input that cannot be served (UserError, exit 2), found before anything runs, and so
is a runner that cannot be built (no compiler for the target); a runtime that runs and disagrees,
or whose artifact report.json lists but OUT no longer holds, is a failed row (exit 3, raised by
``edgeconv.api``).
"""

from __future__ import annotations

from ..outdir import REPORT_FILE
from ..runtimes.runner import Runner
from ..runtimes.ssh import SshRunner
from ..verify import c_runners
from ..verify.verify_dir import compare_artifacts, listed_artifacts

CONNECTION_CHECK_TIMEOUT_S = 20  # ssh's own ConnectTimeout (10 s) ends an unreachable host first


def check_reachable(runner: Runner) -> None:
    """Fail fast (UserError naming the host) when an ssh board does not answer."""
    if isinstance(runner, SshRunner):
        runner.ssh("true", "checking the connection", timeout=CONNECTION_CHECK_TIMEOUT_S)


def verify(request) -> dict:
    """``{"runtimes": {NAME: {..., "passed": bool}}, "reference": {...}}`` for ``request.out``."""
    runner = c_runners.make_runner(request.runner, request.target)
    check_reachable(runner)
    if (request.out / c_runners.C_ARTIFACT).is_dir():
        c_runners.ensure_binary(request.out, request.target)  # a missing compiler is exit 2, not a failed row
    listed = listed_artifacts(request.report, request.out / REPORT_FILE)
    result = compare_artifacts(request.out, request.data, request.target, runner, listed=listed)
    return result.to_json()

"""Timing and reporting shared by the model benchmarks (``bench_mlperf.py``, ``bench_zoo.py``).

Every runtime runs single-threaded, one sample per call, in the same process run, interleaved:
``ROUNDS`` rounds, each timing every runtime of the model for about ``ROUND_SECONDS``, so a change
in the machine's load during the run touches all of them alike. A runtime's figure is the median
over rounds of the per-round median time of one inference (batch 1), and the minimum seen.

- ``c`` (ours): the generated C project compiled for this machine with ``-O2``, a release build
  (no per-layer timing hooks), with the kernel set of the CPU's x86 level (``kernels.isa``; a
  lower level where ``EDGECONV_X86_LEVEL`` forces it, see ``forced_level``); the runner
  ``edgeconv_run --repeat N --timing`` times each sample with a monotonic clock inside the binary.
- ``litert-xnnpack`` / ``litert-builtin``: LiteRT's interpreter with its default XNNPACK delegate,
  and with ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (builtin optimized kernels),
  ``num_threads=1``; ``invoke()`` timed from Python.
- ``tflm``: TensorFlow Lite Micro's Python interpreter (reference kernels); ``invoke()`` timed.
- ``onnxruntime``: ``model.onnx`` (float I/O, QDQ inside) on the CPU provider, one intra-op and
  one inter-op thread, sequential; ``run()`` timed.

The Python-timed runtimes include the cost of one Python-to-C++ call (a few microseconds), which
matters only for models that take well under a millisecond.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

ROUNDS = 3
ROUND_SECONDS = 0.5
MIN_CALLS = 10
MAX_CALLS = 20000
WARMUP_CALLS = 3
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PEERS = ("litert-xnnpack", "litert-builtin", "tflm", "onnxruntime")


@dataclass
class Timing:
    """One runtime on one model: ms per inference (batch 1)."""

    median_ms: float
    min_ms: float
    calls: int


@dataclass
class Arena:
    """Activation memory in bytes: ours (the C planner's arena) and TFLM's planned activation area
    (``head``) and whole arena (``total`` = head + persistent ``tail``)."""

    ours_bytes: Optional[int]
    tflm_head_bytes: int
    tflm_total_bytes: int

    @property
    def ratio_head(self) -> Optional[float]:
        return None if self.ours_bytes is None else self.ours_bytes / self.tflm_head_bytes

    @property
    def ratio_total(self) -> Optional[float]:
        return None if self.ours_bytes is None else self.ours_bytes / self.tflm_total_bytes


@dataclass
class ModelResult:
    """Everything measured for one model (one precision of one net)."""

    model: str
    precision: str
    times: dict  # runtime name -> Timing (or None when it could not run: see `errors`)
    arena: Arena
    weights_bytes: Optional[int]
    errors: dict = field(default_factory=dict)

    def ratio(self, peer: str) -> Optional[float]:
        """ours / theirs: below 1.0 means the C runtime is faster."""
        ours, theirs = self.times.get("c"), self.times.get(peer)
        if ours is None or theirs is None or theirs.median_ms <= 0:
            return None
        return ours.median_ms / theirs.median_ms

    def to_dict(self) -> dict:
        return {
            "model": self.model, "precision": self.precision,
            "times_ms": {name: (asdict(t) if t is not None else None) for name, t in self.times.items()},
            "ratios_ours_over_theirs": {peer: self.ratio(peer) for peer in PEERS},
            "arena": {**asdict(self.arena), "ratio_head": self.arena.ratio_head, "ratio_total": self.arena.ratio_total},
            "weights_bytes": self.weights_bytes, "errors": self.errors,
        }


# --- the machine -------------------------------------------------------------------------------

def machine(measure_clock: bool = False) -> dict:
    """CPU, cores and load averages at the time of the run (load from other work skews figures),
    and the clock the host target's latency model uses. ``measure_clock``: where that clock is
    measured (a virtual machine, ``edgeconv.host_clock``), measure it afresh, so that predictions
    checked against times measured now use the clock the cores run at now."""
    from edgeconv.host_clock import measured_clock_ghz
    from edgeconv.targets import load_target

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    if measure_clock:
        measured_clock_ghz(model, refresh=True)
    return {"cpu": model, "cores": os.cpu_count(), "loadavg_1_5_15": [round(v, 2) for v in load],
            "python": platform.python_version(), "c_kernels": c_kernel_set(),
            "host_model_clock_ghz": load_target("host").cpu.clock_ghz}


def c_kernel_set() -> str:
    """The kernel set our C runtime is compiled with on this machine: its folder and level."""
    from edgeconv.kernels.isa import host_kernel_set

    kernels = host_kernel_set()
    return kernels.isa if kernels.level == kernels.isa else f"{kernels.isa} at level {kernels.level}"


def bench_levels() -> list:
    """The x86 levels to build our kernels at here: the CPU's own; ``avx512-vnni`` as well where the
    CPU's is ``avx512-amx`` (the VNNI machines without AMX); and ``avx2`` where the CPU's is an
    AVX-512 one (the level of the many x86 machines without AVX-512). Empty off x86."""
    from edgeconv.kernels.isa import host_x86_levels

    levels = list(host_x86_levels()[-1:])
    if levels == ["avx512-amx"]:
        levels.append("avx512-vnni")
    if levels and levels[0].startswith("avx512"):
        levels.append("avx2")
    return levels


@contextlib.contextmanager
def forced_level(level: Optional[str]):
    """Builds and predictions for the host at x86 level ``level`` inside the block (``None``: as is)."""
    from edgeconv.kernels.isa import LEVEL_ENV

    before = os.environ.get(LEVEL_ENV)
    if level is not None:
        os.environ[LEVEL_ENV] = level
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(LEVEL_ENV, None)
        else:
            os.environ[LEVEL_ENV] = before


def load_note(info: dict) -> str:
    one_minute = info["loadavg_1_5_15"][0]
    busy = one_minute is not None and one_minute > 0.5
    return (f"{info['cpu']}, {info['cores']} cores, our kernels {info['c_kernels']}, host model's clock "
            f"{info['host_model_clock_ghz']:.2f} GHz, load average {one_minute} at start"
            + (" (machine shared with other work: absolute times are noisy; the ratios, measured interleaved "
               "in the same run, are the figures to read)" if busy else ""))


# --- timing ------------------------------------------------------------------------------------

def _time_one_round(call: Callable[[], object]) -> tuple:
    """(median ms, min ms, calls) of ``call`` repeated for about ROUND_SECONDS."""
    samples = []
    deadline = time.perf_counter() + ROUND_SECONDS
    while len(samples) < MIN_CALLS or (time.perf_counter() < deadline and len(samples) < MAX_CALLS):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples), min(samples), len(samples)


class PythonTimer:
    """A runtime driven from Python: ``call()`` runs one inference on a fixed input."""

    def __init__(self, call: Callable[[], object]):
        self.call = call
        for _ in range(WARMUP_CALLS):
            call()

    def round(self) -> tuple:
        return _time_one_round(self.call)


def random_input(shape, dtype, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.int8:
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    return rng.uniform(0.0, 1.0, size=shape).astype(dtype)


def litert_timer(model_path: Path, op_resolver: str, threads: int = 1) -> PythonTimer:
    from edgeconv.runtimes import litert

    interpreter = litert._make(model_path, op_resolver, num_threads=threads)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], random_input(tuple(detail["shape"]), detail["dtype"]))
    return PythonTimer(interpreter.invoke)


def tflm_timer(model_path: Path) -> PythonTimer:
    from edgeconv.runtimes import tflm

    interpreter = tflm._interpreter(model_path)
    graph = tflm._subgraph(model_path)
    for i in range(graph.InputsLength()):
        tensor = graph.Tensors(graph.Inputs(i))
        interpreter.set_input(random_input(tuple(tensor.ShapeAsNumpy()), tflm._NUMPY_TYPES[tensor.Type()]), i)
    return PythonTimer(interpreter.invoke)


def onnxruntime_timer(model_path: Path) -> PythonTimer:
    from edgeconv.runtimes import onnxruntime

    session = onnxruntime.session(model_path)
    types = {"tensor(float)": np.float32, "tensor(int8)": np.int8}
    feeds = {}
    for node in session.get_inputs():
        shape = tuple(d if isinstance(d, int) else 1 for d in node.shape)
        feeds[node.name] = random_input(shape, types[node.type])
    return PythonTimer(lambda: session.run(None, feeds))


class CRunnerTimer:
    """Our runner: compiled once (-O2, no profiling hooks), each round one process timing
    ``len(x) * repeat`` inferences from inside the binary, on ``threads`` threads."""

    def __init__(self, c_dir: Path, work: Path, x: np.ndarray, threads: int = 1):
        from edgeconv.backends.c.build import build_host
        from edgeconv.runtimes.runner import LocalRunner

        self.binary, self.build = build_host(c_dir, work / "edgeconv_run", profile=False)
        self.runner = LocalRunner()
        self.x = x
        self.threads = threads
        first = self.runner.run(self.binary, x, repeat=1, timing=True, threads=threads).timing
        per_call = max(float(first["median_ms"]), 1e-3)
        self.repeat = int(min(MAX_CALLS, max(MIN_CALLS, ROUND_SECONDS * 1e3 / per_call)) // len(x)) + 1

    def round(self) -> tuple:
        timing = self.runner.run(self.binary, self.x, repeat=self.repeat, timing=True, threads=self.threads).timing
        return float(timing["median_ms"]), float(timing["min_ms"]), int(timing["runs"])


def measure(timers: dict) -> dict:
    """``{name: Timing}`` from ROUNDS interleaved rounds over ``timers`` ({name: timer})."""
    rounds = {name: [] for name in timers}
    for _ in range(ROUNDS):
        for name, timer in timers.items():
            rounds[name].append(timer.round())
    return {name: Timing(median_ms=statistics.median(r[0] for r in results), min_ms=min(r[1] for r in results),
                         calls=sum(r[2] for r in results)) for name, results in rounds.items()}


def peer_timers(tflite_path: Path, onnx_path: Optional[Path], errors: dict) -> dict:
    """Timers of every peer runtime that can load the model; a failure is recorded in ``errors``."""
    makers = {
        "litert-xnnpack": lambda: litert_timer(tflite_path, "xnnpack"),
        "litert-builtin": lambda: litert_timer(tflite_path, "builtin"),
        "tflm": lambda: tflm_timer(tflite_path),
        "onnxruntime": (lambda: onnxruntime_timer(onnx_path)) if onnx_path is not None else None,
    }
    timers = {}
    for name, make in makers.items():
        if make is None:
            errors[name] = "no model.onnx"
            continue
        try:
            timers[name] = make()
        except Exception as exc:  # noqa: BLE001 - a runtime that cannot run the model is reported, not fatal
            errors[name] = f"{type(exc).__name__}: {exc}"
    return timers


def tflm_arena(tflite_path: Path, ours_bytes: Optional[int]) -> Arena:
    from edgeconv.runtimes import tflm

    report = tflm.arena_report(tflite_path)
    return Arena(ours_bytes, report.head_bytes, report.total_bytes)


# --- output ------------------------------------------------------------------------------------

def _ms(t: Optional[Timing]) -> str:
    return "—" if t is None else (f"{t.median_ms:.4f}" if t.median_ms < 0.1 else f"{t.median_ms:.3f}")


def _x(value: Optional[float]) -> str:
    """A ratio: two decimals, three significant digits below 0.1 (0.00486× stays readable)."""
    if value is None:
        return "—"
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.3g}×"


def _kib(value: Optional[int]) -> str:
    return "—" if value is None else f"{value / 1024:.1f}"


def time_table(results: list) -> str:
    header = ("| model | precision | ours ms | LiteRT+XNNPACK ms | LiteRT builtin ms | TFLM ms | ORT ms "
              "| ours/XNNPACK | ours/builtin | ours/TFLM | ours/ORT |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        t = r.times
        lines.append(f"| {r.model} | {r.precision} | {_ms(t.get('c'))} | {_ms(t.get('litert-xnnpack'))} "
                     f"| {_ms(t.get('litert-builtin'))} | {_ms(t.get('tflm'))} | {_ms(t.get('onnxruntime'))} "
                     f"| {_x(r.ratio('litert-xnnpack'))} | {_x(r.ratio('litert-builtin'))} | {_x(r.ratio('tflm'))} "
                     f"| {_x(r.ratio('onnxruntime'))} |")
    return "\n".join(lines)


def arena_table(results: list) -> str:
    header = ("| model | precision | ours arena KiB | TFLM head KiB | TFLM total KiB | ours/head | ours/total "
              "| weights KiB |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        a = r.arena
        lines.append(f"| {r.model} | {r.precision} | {_kib(a.ours_bytes)} | {_kib(a.tflm_head_bytes)} "
                     f"| {_kib(a.tflm_total_bytes)} | {_x(a.ratio_head)} | {_x(a.ratio_total)} "
                     f"| {_kib(r.weights_bytes)} |")
    return "\n".join(lines)


def errors_text(results: list) -> str:
    lines = [f"- {r.model} {r.precision}: {name}: {message}" for r in results for name, message in r.errors.items()]
    return "\n".join(lines)


def write_results(name: str, payload: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path

"""The Python face of edgeconv: one function per command, with the command's parameters.

``edgeconv.cli`` only parses and prints; everything it does goes through these functions, so a
Python user gets the same checks and results::

    import edgeconv.api as ec
    ec.inspect("model.pt2", target="rpi4")["total_macs"]
    ec.compress("model.pt2", target="rpi4", latency_ms=20, data="calib.npz")

Each function checks its arguments first (a bad value is a :class:`~edgeconv.errors.UserError`
before any work), then does the work. Commands that write a directory write it all or nothing
(:mod:`edgeconv.outdir`). The heavy stages (selection, quantization, emission, builds, runs) live
in ``edgeconv.pipeline`` and are imported only when a command needs them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from . import arguments, progress
from .data import Dataset, load_data
from .errors import UserError, VerificationFailed
from .names import MAX_NAME_LENGTH, path_component_from
from .outdir import REPORT_FILE, check_free, staged_directory, staged_file

if TYPE_CHECKING:
    from .ir.graph import Graph
    from .targets import Target

PathLike = Union[str, Path]
TargetLike = Union[str, Path, "Target"]  # a name, a board TOML, or a loaded Target

DEFAULT_OUT_ROOT = Path("edgeconv-out")
VERIFY_FILE = "verify.json"
HTML_REPORT_FILE = "report.html"


# --------------------------------------------------------------------------------------------
# Requests handed to the pipeline: the checked arguments of each command.


@dataclass(frozen=True)
class CompressRequest:
    """Checked arguments of ``compress`` (DESIGN §3). ``epochs`` None means the default rule:
    0 when every layer ends at 8 bits or more, 3 otherwise. ``precisions`` None means: an
    imported quantized ``.tflite`` keeps its own quantization; other models get the DESIGN default."""

    model: Path
    target: "Target"
    out: Path
    latency_ms: Optional[float]
    memory_kb: Optional[float]
    data: Optional[Path]
    val_data: Optional[Path]
    input_shape: Optional[tuple]
    mean: Optional[tuple]
    std: Optional[tuple]
    precisions: Optional[tuple]
    epochs: Optional[int]
    emit: tuple
    c_prefix: str
    seed: int
    latency_table: Optional[Path]
    trust_pickle: bool
    calibration: str
    batch_size: int
    lr: Optional[float]
    command_line: Optional[str]
    device: str = "cpu"  # torch device of calibration, sensitivity, fine-tuning and float scoring


@dataclass(frozen=True)
class BuildRequest:
    out: Path
    target: "Target"
    cc: Optional[str]
    report: dict
    profile: bool = False


@dataclass(frozen=True)
class VerifyRequest:
    """``runner`` None: ``local`` for the host, ``qemu`` for ARM targets."""

    out: Path
    target: "Target"
    runner: Optional[str]
    data: Optional[Path]
    report: dict


@dataclass(frozen=True)
class ProfileRequest:
    target: "Target"
    runner: Optional[str]
    model: Optional[Path]
    out: Path
    estimate: bool = False               # count under qemu and cost with llvm-mca instead of timing
    precisions: Optional[tuple] = None   # with a model: the precisions profiled (None: all)


# --------------------------------------------------------------------------------------------
# Helpers shared by the commands.


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths, tuples and numpy scalars -> plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


def _pipeline_step(verb: str):
    """``edgeconv.pipeline.<verb>``, or a UserError when this build does not have it yet."""
    try:
        module = importlib.import_module("edgeconv.pipeline")
    except ModuleNotFoundError as err:
        if err.name != "edgeconv.pipeline":
            raise
        raise UserError(f"{verb} is not available in this build yet") from None
    step = getattr(module, verb, None)
    if step is None:
        raise UserError(f"{verb} is not available in this build yet")
    return step


def _load_graph(model: Path, shape: Optional[tuple], trust_pickle: bool):
    """The model's IR graph, every tensor within the size edgeconv takes."""
    from .frontend import load_model

    with progress.task(f"loading {model.name}"):
        graph = load_model(model, input_shape=shape, trust_pickle=trust_pickle)
    arguments.check_model_tensor_sizes(graph, model)
    return graph


def load_target(target: TargetLike):
    """A target from its name in ``edgeconv targets`` or a path to a board TOML (a Target as is)."""
    from .targets import load_target as load

    return load(str(target)) if isinstance(target, (str, Path)) else target


def default_out(model: Path, target: "Target") -> Path:
    """``./edgeconv-out/<model-stem>-<target>/``.

    The target's name must already be a plain file name (a UserError otherwise). The model's stem
    is made one with :func:`~edgeconv.names.path_component_from` instead of being refused: it only
    builds this default, the model file itself was accepted, and ``my model (v2).onnx`` is an
    ordinary file name, so it compresses to ``edgeconv-out/my_model__v2_-<target>/``.
    """
    target_name = target.name
    stem = path_component_from(Path(model).stem, MAX_NAME_LENGTH - len(target_name) - 1)
    return DEFAULT_OUT_ROOT / f"{stem}-{target_name}"


def _read_report(out: PathLike) -> tuple:
    """``(OUT, report.json)`` of an output directory written by ``compress``."""
    out = Path(out)
    report_path = out / REPORT_FILE
    if not out.is_dir():
        raise UserError(f"{out} is not a directory written by edgeconv compress")
    if not report_path.is_file():
        raise UserError(f"{out} has no {REPORT_FILE}: it is not a directory written by edgeconv compress")
    try:
        report = json.loads(report_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{report_path} is not valid JSON: {err}") from None
    if not isinstance(report, dict):
        raise UserError(f"{report_path} does not hold a report object")
    return out, report


def _target_of_report(target: Optional[TargetLike], report: dict, out: Path) -> "Target":
    if target is not None:
        return load_target(target)
    if not report.get("target"):
        raise UserError(f"{out / REPORT_FILE} names no target; pass --target")
    return load_target(report["target"])


# --------------------------------------------------------------------------------------------
# The commands.


def targets() -> list:
    """Every board of ``targets/``, as JSON-ready dicts (name, CPU, cores, clock, ISA, sources)."""
    from .targets import list_targets

    return [to_jsonable(target) for target in list_targets()]


def inspect(
    model: PathLike,
    input_shape: Optional[Union[str, Sequence[int]]] = None,
    target: Optional[TargetLike] = None,
    trust_pickle: bool = False,
    threads: Optional[int] = None,
) -> dict:
    """Layers of ``model`` (name, op, output shape, params, MACs), totals, and predicted ms on ``target``
    running the C model on ``threads`` threads (None: every core, as ``compress`` generates it)."""
    from .analysis import layer_table, total_macs
    model = arguments.readable_file("MODEL", model)
    shape = arguments.input_shape(input_shape) if input_shape is not None else None
    if threads is not None and target is None:
        raise UserError("--threads needs --target: the thread count is a prediction's")
    board = load_target(target).with_threads(threads) if target is not None else None
    graph = _load_graph(model, shape, trust_pickle)
    layers = [to_jsonable(info) for info in layer_table(graph)]
    result = {
        "model": str(model),
        "input_shape": list(graph.tensors[graph.inputs[0]].shape),
        "source_layout": graph.source_layout,
        "target": None,
        "layers": layers,
        "total_macs": int(total_macs(graph)),
        "total_params": int(sum(layer["params"] for layer in layers)),
        "predicted_ms": None,
        "latency_source": None,
        "threads": board.threads if board is not None else None,
    }
    if board is not None:
        _add_predictions(result, board, graph)
    return result


def _add_predictions(result: dict, board: "Target", graph: "Graph") -> None:
    """Predicted ms per layer and in total: from the user's measured table where it has the layer."""
    from .select.latency import predict_graph_ms, predict_layers
    from .select.latency_table import user_table

    table = user_table(board.name)
    per_node = {p.name: p.ms for p in predict_layers(board, graph, table)}
    for layer in result["layers"]:
        layer["predicted_ms"] = per_node.get(layer["name"])
    total = predict_graph_ms(board, graph, table)
    result["target"] = board.name
    result["predicted_ms"] = float(total.ms)
    result["latency_source"] = total.source


def _load_dataset(option: str, path: Optional[Path], graph: "Graph", mean, std) -> Optional[Dataset]:
    if path is None:
        return None
    with progress.task(f"reading {option} {path}"):
        return load_data(path, graph, mean=mean, std=std)


def compress(
    model: PathLike,
    target: TargetLike,
    *,
    latency_ms: Optional[float] = None,
    memory_kb: Optional[float] = None,
    data: Optional[PathLike] = None,
    val_data: Optional[PathLike] = None,
    input_shape: Optional[Union[str, Sequence[int]]] = None,
    mean: Optional[Union[str, float, Sequence[float]]] = None,
    std: Optional[Union[str, float, Sequence[float]]] = None,
    precisions: Optional[Union[str, Sequence[str]]] = None,
    epochs: Optional[int] = None,
    emit: Optional[Union[str, Sequence[str]]] = None,
    c_prefix: str = "ec_model_",
    out: Optional[PathLike] = None,
    force: bool = False,
    seed: int = 0,
    latency_table: Optional[PathLike] = None,
    trust_pickle: bool = False,
    calibration: str = "minmax",
    batch_size: int = 32,
    lr: Optional[float] = None,
    command_line: Optional[str] = None,
    threads: Optional[int] = None,
    device: str = "auto",
) -> dict:
    """Select, compress, emit: write OUT (all or nothing); return ``report.json``'s content and ``out``.

    ``device``: ``auto`` (CUDA when torch sees it, else the CPU), ``cpu`` or ``cuda``."""
    model = arguments.readable_file("MODEL", model)
    latency_ms = arguments.positive("--latency-ms", latency_ms)
    memory_kb = arguments.positive("--memory-kb", memory_kb)
    lr = arguments.positive("--lr", lr)
    batch_size = arguments.positive_int("--batch-size", batch_size)
    epochs = arguments.non_negative_int("--epochs", epochs)
    device = arguments.device(device)
    shape = arguments.input_shape(input_shape) if input_shape is not None else None
    chosen_precisions = arguments.precisions(precisions) if precisions is not None else None
    means = arguments.float_list("--mean", mean)
    stds = arguments.float_list("--std", std)
    data_file = arguments.data_path("--data", data)
    val_file = arguments.data_path("--val-data", val_data)
    table = arguments.readable_file("--latency-table", latency_table) if latency_table is not None else None
    board = load_target(target).with_threads(threads)  # the C model's threads (None: every core)
    out_dir = Path(out) if out is not None else default_out(model, board)
    check_free(out_dir, force)
    graph = _load_graph(model, shape, trust_pickle)
    self_quantized = graph.is_quantized()  # a full-integer .tflite keeps its own quantization, needs no data
    if chosen_precisions is None and not self_quantized:
        chosen_precisions = arguments.default_precisions(latency_ms)
    if data_file is None and not self_quantized:
        raise UserError(f"--data is required for {model.name}: calibration needs samples (an .npz or an image folder)")
    request = CompressRequest(
        model=model, target=board, out=out_dir, latency_ms=latency_ms, memory_kb=memory_kb,
        data=data_file, val_data=val_file, input_shape=shape, mean=means, std=stds,
        precisions=chosen_precisions, epochs=epochs, emit=arguments.emit(emit),
        c_prefix=arguments.c_prefix(c_prefix), seed=arguments.seed(seed), latency_table=table,
        trust_pickle=trust_pickle, calibration=arguments.calibration(calibration),
        batch_size=batch_size, lr=lr, command_line=command_line, device=device,
    )  # fmt: skip
    dataset = _load_dataset("--data", data_file, graph, means, stds)
    val_dataset = _load_dataset("--val-data", val_file, graph, means, stds)
    run = _pipeline_step("compress")
    with staged_directory(out_dir, force) as staging, progress.task(f"compressing {model.name} for {board.name}"):
        report = run(request, graph, dataset, val_dataset, staging)
    return {**to_jsonable(report), "out": str(out_dir)}


def build(out: PathLike, target: Optional[TargetLike] = None, cc: Optional[str] = None, profile: bool = False,
          threads: Optional[int] = None) -> dict:
    """Build ``OUT/build/<target>/edgeconv_run`` (replaced all or nothing): a release build, or with
    ``profile`` one with the per-layer timing hooks (``edgeconv_run --timing`` then times each layer).

    ``cc`` is a compiler command (``clang``, ``zig cc``) replacing the target's cross compiler.
    ``threads``: the runner's default thread count (default: the count of ``report.json``); 1
    builds without pthreads (``EC_THREADS=1``).
    Returns the pipeline's build record (``build.json``) and ``build_dir``.
    """
    out, report = _read_report(out)
    board = _with_report_threads(_target_of_report(target, report, out), threads, report)
    if cc is not None and (not shlex.split(cc) or shutil.which(shlex.split(cc)[0]) is None):
        raise UserError(f"--cc {cc!r} is not a compiler command found on this machine")
    run = _pipeline_step("build")
    request = BuildRequest(out=out, target=board, cc=cc, report=report, profile=bool(profile))
    build_dir = out / "build" / board.name
    with staged_directory(build_dir, force=True) as staging, progress.task(f"building for {board.name}"):
        record = run(request, staging)
    return {**to_jsonable(record), "build_dir": str(build_dir)}


def _with_report_threads(board: "Target", threads: Optional[int], report: dict) -> "Target":
    """``board`` running the C model on ``threads`` threads, by default the count compress
    generated the model for (``report.json``'s ``threads``; 1 in reports from before threads)."""
    return board.with_threads(threads if threads is not None else min(int(report.get("threads") or 1),
                                                                       board.cpu.cores))


def _add_verify_to_html(out: Path, report: dict, result: dict) -> None:
    """Re-draw OUT/report.html with the verify table (report.json itself is left as compress wrote it)."""
    from .report import render_report_data

    if (out / HTML_REPORT_FILE).is_file():
        with staged_file(out / HTML_REPORT_FILE) as temporary:
            temporary.write_text(render_report_data({**report, "verify": result}))


def verify(
    out: PathLike,
    target: Optional[TargetLike] = None,
    runner: Optional[str] = None,
    data: Optional[PathLike] = None,
    threads: Optional[int] = None,
) -> dict:
    """Run every artifact of OUT on its runtime, write ``OUT/verify.json``, return its content.
    The C runner runs on ``threads`` threads (default: the count of ``report.json``).

    The pipeline returns ``{"runtimes": {NAME: {..., "passed": bool}}}``; when any runtime did not
    pass, verify.json is still written and :class:`~edgeconv.errors.VerificationFailed` is raised
    (exit code 3).
    """
    out, report = _read_report(out)
    board = _with_report_threads(_target_of_report(target, report, out), threads, report)
    request = VerifyRequest(
        out=out, target=board, runner=arguments.runner(runner), data=arguments.data_path("--data", data), report=report
    )
    run = _pipeline_step("verify")
    with progress.task(f"verifying {out}"):
        result = to_jsonable(run(request))
    with staged_file(out / VERIFY_FILE) as temporary:
        temporary.write_text(json.dumps(result, indent=2) + "\n")
    _add_verify_to_html(out, report, result)
    failed = {name: row for name, row in sorted(result["runtimes"].items()) if not row["passed"]}
    if failed:
        raise VerificationFailed(_verify_failure(failed, out / VERIFY_FILE), result)
    return result


def _verify_failure(failed: dict, verify_file: Path) -> str:
    """One sentence naming each failed runtime and why: its error, or its disagreement."""
    reasons = [f"{name}: {row['error']}" if row.get("error") else f"{name} disagrees with the reference executor"
               for name, row in failed.items()]
    return f"verification failed: {'; '.join(reasons)} (see {verify_file})"


def profile(
    target: TargetLike,
    runner: Optional[str] = None,
    model: Optional[PathLike] = None,
    out: Optional[PathLike] = None,
    estimate: bool = False,
    precisions: Optional[Union[str, Sequence[str]]] = None,
    threads: Optional[int] = None,
) -> dict:
    """Measure a latency table for ``target`` and store it (default: the user's cache).

    With ``estimate`` (an ARM board, ``runner`` qemu or None), nothing is timed: each graph's
    instructions are counted under qemu-user and costed by llvm-mca for the board's core; the
    result then also holds ``estimates`` (per graph: per-layer ``name, macs, instructions,
    est_cycles, est_ms, efficiency`` and ``total``) and the first graph's ``layers`` and ``total``.
    ``precisions`` limits a model's profile to those precisions. ``threads`` (default 1): the
    thread count each graph is generated and timed at, which the table's keys record.
    Returns the pipeline's summary and ``table``, the path of the stored table.
    """
    from .select.latency_table import user_table_path

    board = load_target(target).with_threads(1 if threads is None else threads)
    model_file = arguments.readable_file("--model", model) if model is not None else None
    table = Path(out) if out is not None else user_table_path(board.name)
    chosen = arguments.precisions(precisions) if precisions is not None else None
    request = ProfileRequest(target=board, runner=arguments.runner(runner), model=model_file, out=table,
                             estimate=bool(estimate), precisions=chosen)
    run = _pipeline_step("profile")
    with staged_file(table) as temporary, progress.task(f"profiling {board.name}"):
        summary = run(request, temporary)
    return {**to_jsonable(summary), "table": str(table)}

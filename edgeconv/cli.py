"""The ``edgeconv`` command line (DESIGN §3): parsing and printing only; the work is in ``edgeconv.api``.

Exit codes: 0 done; 2 the input cannot be served (:class:`~edgeconv.errors.UserError`, or a bad
option value: one message on stderr, no traceback); 3 ``verify`` found an artifact that disagrees
(:class:`~edgeconv.errors.VerificationFailed`); 1 a bug (Python's traceback, exit 1); 128 + the
signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP) when a signal stops the command: its
unfinished outputs are removed and one line on stderr says so.

Results go to stdout (a table, or JSON with ``--json``); progress bars and ``--verbose`` notes go
to stderr; ``--quiet`` silences both, ``--json`` the bars.
"""

from __future__ import annotations

import functools
import json
import shlex
import signal
import sys
from typing import Any, Callable, Optional

import click
from rich.console import Console
from rich.table import Column, Table

from . import __version__, api, arguments, progress, stop_signals
from .errors import UserError, VerificationFailed
from .stop_signals import Interrupted


def _fail(message: str, code: int) -> None:
    click.echo(f"edgeconv: error: {message}", err=True)
    raise click.exceptions.Exit(code)


# Click 8.2+ shows the help of a bare `edgeconv` through this UsageError; older Clicks exit directly.
NO_ARGS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _interrupted(signum: int) -> int:
    """Say that a signal stopped the command; return its exit code, 128 + the signal's number."""
    click.echo(f"edgeconv: interrupted by {signal.Signals(signum).name}; unfinished outputs were removed", err=True)
    return 128 + signum


class EdgeconvGroup(click.Group):
    """Maps edgeconv's errors, usage errors and stop signals to exit codes with one line on stderr;
    anything else is a bug and keeps its traceback. Ctrl-C (KeyboardInterrupt) exits 130, not with
    Click's "Aborted!" and 1."""

    def parse_args(self, ctx: click.Context, args: list) -> list:
        try:
            return super().parse_args(ctx, args)
        except NO_ARGS_HELP:  # plain `edgeconv`: Click prints the help
            raise
        except click.UsageError as err:  # a bad option before the verb
            _fail(err.format_message(), err.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            stop_signals.check()  # a stop whose exception was lost (stop_signals) still stops
            return result
        except UserError as err:
            _fail(str(err), UserError.exit_code)
        except click.UsageError as err:  # an unknown verb, option or a bad option value: one line too
            _fail(err.format_message(), err.exit_code)
        except VerificationFailed as err:
            _fail(str(err), VerificationFailed.exit_code)
        except KeyboardInterrupt:
            raise click.exceptions.Exit(_interrupted(signal.SIGINT)) from None
        except Interrupted as stop:
            raise click.exceptions.Exit(_interrupted(stop.signum)) from None


class CheckedValue(click.ParamType):
    """A Click type that checks a value with one of :mod:`edgeconv.arguments`' functions."""

    def __init__(self, name: str, check: Callable[[str], Any]):
        self.name = name
        self._check = check

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._check(value)
        except UserError as err:
            self.fail(str(err), param, ctx)


PRECISIONS = CheckedValue("fp32,int8,wKaM,w1a1", arguments.precisions)
INPUT_SHAPE = CheckedValue("1,C,H,W", arguments.input_shape)
EMIT = CheckedValue("onnx,tflite,c", arguments.emit)
C_PREFIX = CheckedValue("C identifier", arguments.c_prefix)
RUNNER = CheckedValue("local|qemu|ssh://user@host[:port]", arguments.runner)
MEAN = CheckedValue("M[,M...]", functools.partial(arguments.float_list, "--mean"))
STD = CheckedValue("S[,S...]", functools.partial(arguments.float_list, "--std"))
LATENCY_MS = CheckedValue("MS", functools.partial(arguments.positive, "--latency-ms"))
MEMORY_KB = CheckedValue("KB", functools.partial(arguments.positive, "--memory-kb"))
LEARNING_RATE = CheckedValue("LR", functools.partial(arguments.positive, "--lr"))
SEED = CheckedValue("N", arguments.seed)
EXISTING_FILE = click.Path(exists=True, dir_okay=False, readable=True)
EXISTING_PATH = click.Path(exists=True, readable=True)


def _output_options(command: Callable) -> Callable:
    """``--json``, ``--verbose``, ``--quiet`` on every verb (also accepted before the verb)."""
    command = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")(command)
    command = click.option("--quiet", "-q", is_flag=True, default=None, help="No progress bars or notes.")(command)
    command = click.option("--verbose", "-v", is_flag=True, default=None, help="Say what is being done.")(command)

    @functools.wraps(command)
    def wrapper(*args: Any, verbose: Optional[bool], quiet: Optional[bool], as_json: bool, **kwargs: Any) -> Any:
        settings = click.get_current_context().find_root().params
        verbose = verbose if verbose is not None else settings.get("verbose", False)
        quiet = quiet if quiet is not None else settings.get("quiet", False)
        progress.configure(quiet=bool(quiet), verbose=bool(verbose), bars=False if as_json else None)
        return command(*args, as_json=as_json, **kwargs)

    return wrapper


def _stdout() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def _millis(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


@click.group(cls=EdgeconvGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="edgeconv")
@click.option("--verbose", "-v", is_flag=True, help="Say what is being done (stderr).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes.")
def cli(verbose: bool, quiet: bool) -> None:
    """Compress a trained ConvNet for an ARM board and check every artifact bit for bit."""


@cli.command()
@click.argument("model", type=EXISTING_FILE)
@click.option("--target", "-t", required=True, help="Board name from `edgeconv targets`, or a board TOML file.")
@click.option("--latency-ms", type=LATENCY_MS, help="Latency budget on the target, in milliseconds.")
@click.option("--memory-kb", type=MEMORY_KB, help="Activation memory budget, in KiB.")
@click.option("--data", type=EXISTING_PATH, help="Calibration / fine-tuning data: .npz or image folder.")
@click.option("--val-data", type=EXISTING_PATH, help="Validation data: .npz or image folder.")
@click.option("--input-shape", type=INPUT_SHAPE, metavar="1,C,H,W", help="Input shape when the model does not fix it, e.g. 1,3,32,32.")
@click.option("--mean", type=MEAN, metavar="M[,M...]", help="Per-channel mean subtracted from image-folder pixels in [0, 1].")
@click.option("--std", type=STD, metavar="S[,S...]", help="Per-channel std dividing image-folder pixels after --mean.")
@click.option("--precisions", type=PRECISIONS, metavar="LIST", help="Precisions the selector may use: fp32,int8,wKaM,w1a1.")
@click.option("--epochs", type=click.IntRange(min=0), help="Fine-tuning epochs (default 0 at 8 bits, 3 below).")
@click.option("--emit", type=EMIT, metavar="LIST", default="onnx,tflite,c", show_default=True, help="Artifacts to write.")
@click.option("--c-prefix", type=C_PREFIX, metavar="NAME", default="ec_model_", show_default=True, help="Prefix of the C symbols.")
@click.option("--out", "-o", type=click.Path(), help="Output directory (default ./edgeconv-out/<model>-<target>/).")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
@click.option("--seed", type=SEED, default=0, show_default=True, help=f"Seed of every random choice (0 to {arguments.MAX_SEED}).")
@click.option("--latency-table", type=EXISTING_FILE, help="Measured latency table (from `edgeconv profile`).")
@click.option("--trust-pickle", is_flag=True, help="Allow a pickled nn.Module (pickle runs code).")
@click.option("--calibration", type=click.Choice(arguments.CALIBRATION_METHODS), default="minmax", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Batch size of fine-tuning.")
@click.option("--lr", type=LEARNING_RATE, help="Fine-tuning learning rate (default 3e-3 with low-bit layers, else 1e-3).")
@click.option("--threads", type=int, help="Threads the C model runs on, and is predicted for (default: the target's cores).")
@click.option("--device", type=click.Choice(arguments.DEVICES), default="auto", show_default=True,
              help="Torch device of calibration, sensitivity, fine-tuning and scoring (auto: CUDA when available).")
@_output_options
def compress(as_json: bool, **options: Any) -> None:
    """Select per-layer precisions for a latency budget, quantize, and emit ONNX, TFLite and C."""
    command_line = shlex.join(["edgeconv", *sys.argv[1:]]) if sys.argv else None
    report = api.compress(options.pop("model"), options.pop("target"), command_line=command_line, **options)
    if as_json:
        _print_json(report)
    else:
        _print_compress_summary(report)


def _percent(value: Optional[float]) -> str:
    return "not measured" if value is None else f"{100 * value:.2f}%"


def _print_compress_summary(report: dict) -> None:
    console = _stdout()
    budget = report.get("latency_budget_ms")
    budget_text = "no latency budget" if budget is None else f"budget {_millis(budget)} ms"
    accuracy = report.get("accuracy") or {}
    console.print(f"wrote {report['out']}")
    console.print(
        f"predicted {_millis(report.get('predicted_latency_ms'))} ms on {report.get('target')} "
        f"({budget_text}; {report.get('latency_source')} latency model)"
    )
    if accuracy.get("data") is None:
        console.print("accuracy not measured (no labelled data)")
    else:
        console.print(
            f"accuracy (top-1 on --{accuracy['data']}): "
            f"float {_percent(accuracy.get('float'))}, compressed {_percent(accuracy.get('compressed'))}"
        )
    console.print(f"activation arena {report.get('arena_bytes')} bytes, weights {report.get('weights_bytes')} bytes")
    artifacts = report.get("artifacts") or {}
    folders = {"c"}  # artifacts that are directories
    console.print("artifacts: " + ", ".join(f"{path}/" if kind in folders else path for kind, path in artifacts.items() if path))


@cli.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--target", "-t", help="Board name or TOML (default: the target of OUT/report.json).")
@click.option("--cc", help="C compiler command to use instead of the target's cross compiler (e.g. 'zig cc').")
@click.option("--profile", is_flag=True,
              help="Compile the per-layer timing hooks in (edgeconv_run --timing then times each layer).")
@click.option("--threads", type=int, help="The runner's default thread count (default: the model's); 1 builds without pthreads.")
@_output_options
def build(out: str, target: Optional[str], cc: Optional[str], profile: bool, threads: Optional[int],
          as_json: bool) -> None:
    """Build the on-device runner OUT/build/<target>/edgeconv_run (a release build unless --profile)."""
    record = api.build(out, target=target, cc=cc, profile=profile, threads=threads)
    if as_json:
        _print_json(record)
    else:
        _stdout().print(f"built the runner in {record['build_dir']}")


def _verify_table(result: dict) -> Table:
    table = Table("runtime", "passed", "bit exact", "max |diff|", "top-1 agree", "accuracy", "latency ms", "version")
    for name, row in result["runtimes"].items():
        table.add_row(
            name, str(row.get("passed")), str(row.get("bit_exact")), str(row.get("max_abs_diff")),
            str(row.get("top1_agreement")), str(row.get("accuracy")), _millis(row.get("latency_ms")),
            str(row.get("version")),
        )  # fmt: skip
    return table


@cli.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--target", "-t", help="Board name or TOML (default: the target of OUT/report.json).")
@click.option("--runner", type=RUNNER, metavar="RUNNER", help="local, qemu or ssh://user@host[:port] (default: local on host, qemu on ARM).")
@click.option("--data", type=EXISTING_PATH, help="Inputs: .npz or image folder (default: 32 seeded random inputs).")
@click.option("--threads", type=int, help="Threads of the C runner (default: the count the model was generated for).")
@_output_options
def verify(out: str, target: Optional[str], runner: Optional[str], data: Optional[str], threads: Optional[int],
           as_json: bool) -> None:
    """Run every artifact of OUT on its runtime and compare it with the reference executor."""
    try:
        result = api.verify(out, target=target, runner=runner, data=data, threads=threads)
    except VerificationFailed as failed:  # the rows say where: show them, then exit 3
        if failed.result is not None:
            _show_verify(failed.result, as_json)
        raise
    _show_verify(result, as_json)


def _show_verify(result: dict, as_json: bool) -> None:
    if as_json:
        _print_json(result)
        return
    console = _stdout()
    console.print(_verify_table(result))
    for name, row in result["runtimes"].items():
        if row.get("error"):
            console.print(f"{name}: {row['error']}", markup=False)


@cli.command()
@click.option("--target", "-t", required=True, help="Board name or TOML.")
@click.option("--runner", type=RUNNER, metavar="RUNNER", help="local, qemu or ssh://user@host[:port].")
@click.option("--model", type=EXISTING_FILE, help="Measure this model's own layers.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Table file (default: the user's cache).")
@click.option("--estimate", is_flag=True,
              help="With --runner qemu: count instructions under QEMU and estimate cycles with llvm-mca.")
@click.option("--precisions", type=PRECISIONS, metavar="LIST", help="With --model: profile only these precisions.")
@click.option("--threads", type=int, help="Threads each layer is timed on (default 1); the table's keys record it.")
@_output_options
def profile(target: str, runner: Optional[str], model: Optional[str], out: Optional[str], estimate: bool,
            precisions: Optional[tuple], threads: Optional[int], as_json: bool) -> None:
    """Measure a latency table for a board (used from then on by the latency model)."""
    summary = api.profile(target, runner=runner, model=model, out=out, estimate=estimate, precisions=precisions,
                          threads=threads)
    if as_json:
        _print_json(summary)
        return
    if summary.get("layers"):
        _stdout().print(_estimate_table(summary))
    _stdout().print(f"{summary['method']} latency table written to {summary['table']}")


def _estimate_table(summary: dict) -> Table:
    first = summary["estimates"][0]
    table = Table("layer", "MACs", "instructions", "est. cycles", "est. ms", "efficiency",
                  title=f"{first['label']}: {first['target']} ({first['llvm_cpu']}), {first['method']}")
    for layer in summary["layers"]:
        efficiency = "" if layer["efficiency"] is None else f"{layer['efficiency']:.0%} of {layer['peak_class']} peak"
        table.add_row(layer["name"], f"{layer['macs']:,}", f"{layer['instructions']:,}",
                      f"{layer['est_cycles']:,.0f}", _millis(layer["est_ms"]), efficiency)
    total = summary["total"]
    table.add_section()
    table.add_row("total", f"{total['macs']:,}", f"{total['instructions']:,}", f"{total['est_cycles']:,.0f}",
                  _millis(total["est_ms"]), "")
    return table


def _inspect_table(result: dict) -> Table:
    table = Table("layer", "op", "output shape", "params", "MACs", "predicted ms", title=result["model"])
    for layer in result["layers"]:
        shape = "x".join(str(d) for d in layer["output_shape"])
        table.add_row(
            layer["name"], layer["op"], shape, f"{layer['params']:,}", f"{layer['macs']:,}",
            _millis(layer.get("predicted_ms")),
        )  # fmt: skip
    if result["target"] is not None:
        threads = result["threads"]
        table.caption = (f"predicted for {result['target']} on {threads} thread{'s' if threads > 1 else ''} "
                         f"({result['latency_source']})")
    table.add_section()
    table.add_row("total", "", "", f"{result['total_params']:,}", f"{result['total_macs']:,}", _millis(result["predicted_ms"]))
    return table


@cli.command()
@click.argument("model", type=EXISTING_FILE)
@click.option("--input-shape", type=INPUT_SHAPE, metavar="1,C,H,W", help="Input shape when the model does not fix it, e.g. 1,3,32,32.")
@click.option("--target", "-t", help="Board name or TOML: adds predicted milliseconds per layer.")
@click.option("--trust-pickle", is_flag=True, help="Allow a pickled nn.Module (pickle runs code).")
@click.option("--threads", type=int, help="Threads the prediction is for (default: the target's cores, as compress).")
@_output_options
def inspect(model: str, input_shape: Optional[tuple], target: Optional[str], trust_pickle: bool,
            threads: Optional[int], as_json: bool) -> None:
    """Layers, shapes, MACs, parameters and predicted milliseconds of a model."""
    result = api.inspect(model, input_shape=input_shape, target=target, trust_pickle=trust_pickle, threads=threads)
    if as_json:
        _print_json(result)
    else:
        _stdout().print(_inspect_table(result))


def _targets_table(boards: list) -> Table:
    table = Table("cpu", "arch", "bits", "cores", "GHz", "ISA features")
    table.columns[0:0] = [Column("name", no_wrap=True)]
    for board in boards:
        cpu = board["cpu"]
        table.add_row(
            board["name"], cpu["model"], cpu["arch"], str(board["os_bits"]), str(cpu["cores"]),
            f"{cpu['clock_ghz']:.2f}", ", ".join(cpu["features"]),
        )  # fmt: skip
    return table


def _targets_sources(boards: list) -> Table:
    """Where each figure of each board comes from."""
    table = Table(Column("name", no_wrap=True), "figure", "source", title="sources")
    for board in boards:
        for part in ("cpu", "caches", "memory", "latency"):
            table.add_row(board["name"], part, board[part]["source"])
        for peak in board["peaks"]:
            table.add_row(board["name"], f"peak {peak['precision']} {peak['mac_per_cycle']:g} MAC/cycle", peak["source"])
    return table


@cli.command()
@_output_options
def targets(as_json: bool) -> None:
    """List the boards edgeconv knows, with the sources of their figures."""
    boards = api.targets()
    if as_json:
        _print_json(boards)
    else:
        console = _stdout()
        console.print(_targets_table(boards))
        console.print(_targets_sources(boards))


def main() -> None:
    """Console-script entry point; SIGINT, SIGTERM and SIGHUP stop a command cleanly (exit 128 + N)."""
    stop_signals.catch()
    try:
        cli(prog_name="edgeconv")
    except Interrupted as stop:  # arrived outside a command: while parsing the line or exiting
        sys.exit(_interrupted(stop.signum))


if __name__ == "__main__":
    main()

"""Imports go one way: every module of ``edgeconv`` (and of ``runtimes/``, installed as
``edgeconv.runtimes``) sits in a layer, and may import only modules of its own layer or of lower
ones; no two modules import each other, directly or through others.

Imports are read with ``ast`` from the sources, function-level imports included (an import deferred
into a function is still a dependency; deferring it only hides a cycle). ``from package import
name`` depends on ``package.name`` when that is a module, else on the package's ``__init__``.

Print the import graph between modules, one ``importer -> imported`` per line (``--packages``
collapses it to the folders)::

    python tests/unit/test_layering.py [--packages]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = {"edgeconv": ROOT / "edgeconv", "edgeconv.runtimes": ROOT / "runtimes"}

# Layers, lowest first: (module prefix, why it sits there). A module belongs to the entry with the
# longest matching prefix.
LAYERS = [
    [
        ("edgeconv", "the package root: its version string only"),
        ("edgeconv.errors", "exception types everyone raises"),
        ("edgeconv.names", "name checks for anything that becomes a path"),
        ("edgeconv.resources", "where the installed data files (kernels, runtimes, targets) are"),
        ("edgeconv.progress", "progress lines on stderr"),
        ("edgeconv.outdir", "the output directory's staging, lock and replacement (files only)"),
    ],
    [
        ("edgeconv.ir", "the graph every other layer reads"),
        ("edgeconv.targets", "board descriptions: plain data read from TOML"),
    ],
    [
        ("edgeconv.toolchain", "finding a target's compilers and emulators on this machine"),
        ("edgeconv.quant.fixedpoint", "integer numerics: TFLite's fixed-point arithmetic"),
        ("edgeconv.quant.activation_range", "integer numerics: fused clamps on a grid"),
        ("edgeconv.quant.lut", "integer numerics: int8 lookup tables"),
        ("edgeconv.quant.integer_params", "integer numerics: the parameters of every int8 kernel"),
        ("edgeconv.quant.quantizers", "integer numerics: the grids and weight quantizers"),
        ("edgeconv.quant.precision", "the precisions and their parsing"),
        ("edgeconv.quant.single_rounding", "integer numerics: requantizations that round once"),
        ("edgeconv.quant.bilinear", "integer and float numerics: the taps of a bilinear resize"),
    ],
    [
        ("edgeconv.reference", "the numpy executor: the numerical spec, computed with quant's numerics"),
        ("edgeconv.torchexec", "the torch executor, mirroring the reference for calibration and training"),
        ("edgeconv.kernels", "the C kernel registry (geometry, fit tests, packing, ISA needs): facts "
                             "about kernels that both the selector and the C backend read"),
    ],
    [
        ("edgeconv.quant", "calibration, quantization of a graph and fine-tuning: they run the executors"),
        ("edgeconv.arguments", "command-line values parsed and checked (precision names among them)"),
        ("edgeconv.passes", "graph rewrites (they may run the reference to check themselves)"),
        ("edgeconv.frontend", "model files -> IR"),
        ("edgeconv.analysis", "MACs and parameters per layer, read off the IR"),
        ("edgeconv.data", "reading calibration data files"),
    ],
    [
        ("edgeconv.select", "latency model, sensitivity and the solver: choose per-layer precisions"),
        ("edgeconv.backends", "IR -> .onnx, .tflite and C"),
        ("edgeconv.report", "report.json and report.html from the pipeline's results"),
        ("edgeconv.runtimes", "adapters that run artifacts on their runtimes (LiteRT, TFLM, ORT, qemu, ssh)"),
    ],
    [
        ("edgeconv.verify", "runs every artifact on its runtime and compares with the reference"),
        ("edgeconv.profile", "measures latency tables with the built C runner"),
        ("edgeconv.zoo", "demo models, their training and compression"),
    ],
    [
        ("edgeconv.pipeline", "compress, build, verify and profile as steps of one program"),
    ],
    [
        ("edgeconv.api", "the Python API over the pipeline"),
    ],
    [
        ("edgeconv.zoo.demo", "a demo run of the API on a zoo model"),
        ("edgeconv.cli", "the command line"),
    ],
]


def module_files() -> dict:
    """Module name -> source file, for every module under the source roots."""
    out = {}
    for package, root in SOURCE_ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(importer: str, path: Path, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(path):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, modules: dict) -> list:
    """``(imported module, line)`` for every import of an edgeconv module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, path, node.level, node.module)
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno))
    return found


def import_graph() -> dict:
    """Module -> {imported module: first line importing it}."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        edges = {}
        for target, line in imports_of(name, path, modules):
            edges.setdefault(target, line)
        graph[name] = edges
    return graph


def layer_of(module: str) -> tuple:
    """(layer index, prefix) of the longest prefix in ``LAYERS`` that ``module`` falls under."""
    best = None
    for index, entries in enumerate(LAYERS):
        for prefix, _ in entries:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (index, prefix)
    return best


def _where(module: str, line: int) -> str:
    return f"{module_files()[module].relative_to(ROOT)}:{line}"


def test_every_module_has_a_layer():
    unplaced = [m for m in module_files() if layer_of(m) is None]
    assert not unplaced, f"modules outside every layer of LAYERS: {unplaced}"


def test_no_module_imports_a_higher_layer():
    graph = import_graph()
    upward = []
    for importer, edges in sorted(graph.items()):
        low, low_prefix = layer_of(importer)
        for target, line in sorted(edges.items()):
            high, high_prefix = layer_of(target)
            if high > low:
                upward.append(f"{_where(importer, line)}: {importer} ({low_prefix}, layer {low}) imports "
                              f"{target} ({high_prefix}, layer {high})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


# Pairs of the same layer that must not import each other, and why.
INDEPENDENT = [
    ("edgeconv.select", "edgeconv.backends", "the selector and the C backend both read the kernel registry"),
    ("edgeconv.backends", "edgeconv.select", "a backend emits what the selector chose, it does not choose"),
    ("edgeconv.backends", "edgeconv.reference.executor", "integer parameters come from quant, not the executor"),
    ("edgeconv.backends", "edgeconv.torchexec", "a backend writes the graph, it does not run it"),
]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_independent_parts_do_not_import_each_other():
    graph = import_graph()
    found = [f"{_where(importer, line)}: {importer} imports {target} ({why})"
             for importer, edges in sorted(graph.items()) for target, line in sorted(edges.items())
             for low, high, why in INDEPENDENT if _under(importer, low) and _under(target, high)]
    assert not found, "\n".join(found)


def _cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_no_import_cycles():
    graph = import_graph()
    report = []
    for component in _cycles(graph):
        members = set(component)
        edges = [f"  {_where(a, line)}: {a} -> {b}" for a in component for b, line in sorted(graph[a].items())
                 if b in members]
        report.append("cycle between " + ", ".join(component) + ":\n" + "\n".join(edges))
    assert not report, "\n".join(report)


def _print_graph(packages: bool) -> None:
    def key(module: str) -> str:
        return layer_of(module)[1] if packages else module

    lines = set()
    for importer, edges in import_graph().items():
        for target in edges:
            if key(importer) != key(target):
                lines.add(f"{key(importer)} -> {key(target)}")
    print("\n".join(sorted(lines)))


if __name__ == "__main__":
    _print_graph("--packages" in sys.argv[1:])

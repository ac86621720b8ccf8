"""The C backend: an IR graph -> a self-contained C project (model.h, model.c, CMakeLists.txt,
Makefile, the kernel sources it uses and the runner's sources).

Steps: lower every node to a kernel call (``lowering``), give each intermediate tensor and scratch
buffer a lifetime, merge in-place outputs into their input's buffer, plan the static arena
(``arena``), then fill the templates in ``templates/`` (``string.Template``).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from typing import Optional
from pathlib import Path
from string import Template

from ... import __version__
from ...errors import UserError
from ...ir import Graph, verify
from ...ir.verify import GraphError
from ...kernels.isa import ISAS
from ...kernels.registry import headers_for
from ...resources import kernels_dir, runtimes_c_dir
from . import arena
from .layout import sample_bytes
from . import packed
from .emitter import Emitter, Unsupported
from .kernel_choice import runs_xnor, xnor_pad_fusions
from .lowering import LOWERINGS

TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNNER_SOURCES = ("edgeconv_run.c", "npy.c", "npy.h")
MAX_THREADS = 8  # EC_THREADS, the largest pool kernels_c/include/ec_parallel.h builds by default
CTYPES = {"int8": "int8_t", "float32": "float", "int32": "int32_t", "uint8": "uint8_t"}


@dataclass(frozen=True)
class LayerInfo:
    name: str
    op: str
    kernel: str
    algorithm: str
    tasks: int = 1   # most tasks the layer is cut into (tasks.py)


@dataclass(frozen=True)
class CProject:
    """What :func:`generate` wrote, and its memory figures.

    ``arena_bytes`` is all activation RAM: the one static arena holds the input, the output, every
    intermediate tensor and every kernel's scratch (a caller may fill the input in place through
    ``<prefix>input_buffer()`` and read ``<prefix>output_buffer()``, copying nothing).
    """

    out_dir: Path
    arena_bytes: int
    weights_bytes: int
    kernels: tuple
    layers: tuple
    prefix: str
    threads: int = 1  # the thread count the model is generated for


def _render(name: str, values: dict) -> str:
    return Template((TEMPLATES / name).read_text()).substitute(values)


def _check_graph(graph: Graph) -> None:
    try:
        verify(graph)
    except GraphError as exc:
        raise UserError(f"the C backend cannot take this graph: {exc}") from None
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(f"the C backend needs one input and one output, the graph has "
                        f"{len(graph.inputs)} and {len(graph.outputs)}")
    if graph.outputs[0] in graph.inputs:
        raise UserError("the graph's output is its input: there is nothing to compile")
    for name in graph.inputs + graph.outputs:
        dtype = graph.tensors[name].dtype
        if dtype not in ("int8", "float32"):
            raise UserError(f"graph end {name} is {dtype}; the C backend takes int8 or float32 ends")


def _plan_packed_bits(graph: Graph, em: Emitter, fused: dict) -> None:
    """Marks the tensors of every packed chain (packed.py) and the limits of their producers."""
    chains = packed.packed_chains(graph, lambda node: runs_xnor(graph, node, fused.get(node.name)), fused)
    for chain in chains:
        try:
            limits = packed.pop_limits(graph, chain)
        except ValueError:
            continue  # not monotone: the chain keeps its int8 codes
        em.pop_limits[chain.producer.name] = limits
        em.packed.update(chain.packed_tensors(graph))


def _lower_all(graph: Graph, em: Emitter) -> list:
    fused = xnor_pad_fusions(graph)
    absorbed = {pad.name for pad in fused.values()}
    _plan_packed_bits(graph, em, fused)
    calls, problems = [], []
    for node in graph.nodes:
        if node.name in absorbed:
            continue
        lower = LOWERINGS.get(node.op_name)
        if lower is None:
            problems.append(f"{node.name} ({node.op_name}): no C kernel")
            continue
        try:
            if node.name in fused:
                calls.append(lower(em, node, fused[node.name]))
            else:
                calls.append(lower(em, node))
        except Unsupported as exc:
            problems.append(f"{node.name} ({node.op_name}): {exc}")
    if problems:
        raise UserError("the C backend cannot compile these layers: " + "; ".join(problems))
    return calls


def _plan(graph: Graph, em: Emitter, calls: list) -> tuple:
    """Arena buffer of every activation tensor (graph ends included) and of every scratch.

    The graph input lives from before the first layer (``run`` copies it in unless the caller
    filled the arena copy directly) to its last reader; the output from its producer to after the
    last layer (``run`` copies it out). Returns (tensor -> buffer key, arena.ArenaPlan, scratch
    buffer key per call index)."""
    storage: dict = {}
    buffers: dict = {}
    last_read: dict = {}
    for i, call in enumerate(calls):
        for name in call.reads:
            last_read[name] = i
    end = len(calls)
    out_name = graph.outputs[0]

    def lifetime_end(name: str, default: int) -> int:
        return end if name == out_name else last_read.get(name, default)

    in_name = graph.inputs[0]
    storage[in_name] = "b0"
    buffers["b0"] = arena.Buffer("b0", em.sample_bytes(in_name), -1, last_read.get(in_name, -1), [in_name])
    for i, call in enumerate(calls):
        out = call.node.output
        share = call.alias_of or call.inplace_of
        if share is not None and last_read.get(share) == i and share != out_name:
            key = storage[share]
            buf = buffers[key]
            buf.size = max(buf.size, em.sample_bytes(out))
            buf.last = max(buf.last, lifetime_end(out, i))
            buf.members.append(out)
            storage[out] = key
            continue
        key = f"b{len(buffers)}"
        buffers[key] = arena.Buffer(key, em.sample_bytes(out), i, lifetime_end(out, i), [out])
        storage[out] = key
    scratch = {}
    for i, call in enumerate(calls):
        if call.scratch_bytes:
            key = f"s{i}"
            buffers[key] = arena.Buffer(key, _task_scratch_stride(call) * call.tasks, i, i, [])
            scratch[i] = key
    return storage, arena.plan(list(buffers.values())), scratch


def _task_scratch_stride(call) -> int:
    """Bytes between the scratch buffers of a layer's tasks (each task has its own)."""
    return call.scratch_bytes if call.tasks == 1 else arena.aligned(call.scratch_bytes)


def _buffer_macro(key: str) -> str:
    """The model.c macro naming arena buffer ``key`` (``b3`` -> ``ARENA_B3``)."""
    return f"ARENA_{key.upper()}"


def _buffer_macros(calls: list, storage: dict, plan: arena.ArenaPlan, scratch: dict) -> list:
    """One ``#define`` per arena buffer, by offset: its place in the arena and what it holds."""
    held: dict = {}
    for tensor, key in storage.items():
        held.setdefault(key, []).append(tensor)
    for i, key in scratch.items():
        held[key] = [f"scratch of {calls[i].node.name}"]
    order = sorted(held, key=lambda key: (plan.offsets[key], key[0], int(key[1:])))
    return ["/* Arena buffers (run's arena + offset) and the tensors each holds in turn. */"] + [
        f"#define {_buffer_macro(key)} (arena + {plan.offsets[key]}) /* {_comment_safe(', '.join(held[key]))} */"
        for key in order]


def _pointer(em: Emitter, name: str, storage: dict, plan: arena.ArenaPlan) -> str:
    ctype = "uint32_t" if name in em.packed else CTYPES[em.graph.tensors[name].dtype]
    return f"(({ctype} *){_buffer_macro(storage[name])})"


def _task_function(prefix: str, i: int) -> str:
    return f"{prefix}task_{i}"


def _task_functions(em: Emitter, calls: list, storage: dict, plan: arena.ArenaPlan, scratch: dict) -> str:
    """One function per layer cut into tasks: the C of task ``task`` of ``tasks`` (tasks.py)."""
    functions = []
    for i, call in enumerate(calls):
        if call.tasks == 1:
            continue
        mapping = {em.tensor_id(n): _pointer(em, n, storage, plan) for n in em._ids}
        mapping["scratch"] = (f"({_buffer_macro(scratch[i])} + (size_t)task * {_task_scratch_stride(call)})"
                              if i in scratch else "NULL")
        functions.append(
            f"/* {_comment_safe(call.node.name)}: {call.split_note} */\n"
            f"static void {_task_function(em.prefix, i)}(unsigned char *arena, int32_t task, int32_t tasks)\n"
            f"{{\n    {Template(call.code).substitute(mapping)}\n}}\n")
    return "\n".join(functions)


def _body(graph: Graph, em: Emitter, calls: list, storage: dict, plan: arena.ArenaPlan, scratch: dict) -> str:
    lines = []
    for i, call in enumerate(calls):
        mapping = {em.tensor_id(n): _pointer(em, n, storage, plan) for n in em._ids}
        mapping["scratch"] = _buffer_macro(scratch[i]) if i in scratch else "NULL"
        if call.tasks > 1:
            code = f"ec_pool_run(&{em.prefix}pool, {_task_function(em.prefix, i)}, arena, {call.tasks});"
        else:
            code = Template(call.code).substitute(mapping) if call.code else ""
        node = call.node
        if call.alias_of is not None and storage[node.output] != storage[call.alias_of]:
            code = (f"memcpy({_pointer(em, node.output, storage, plan)}, "
                    f"{_pointer(em, call.alias_of, storage, plan)}, "
                    f"{em.sample_bytes(node.output)});")
        comment = f"    /* {_comment_safe(node.name)}: {call.summary}"
        if call.skipped_nodes:
            comment += f" (absorbs {_comment_safe(', '.join(call.skipped_nodes))})"
        if call.tasks > 1:
            comment += f"; {call.split_note}"
        if not code:
            comment += "; output shares the input's bytes"
        lines.append(comment + " */")
        lines.append(f"    EC_LAYER_BEGIN({i});")
        if code:
            lines.append(f"    {code}")
        lines.append(f"    EC_LAYER_END({i});")
    return "\n".join(lines)


def _end_quant(graph: Graph, name: str) -> tuple:
    t = graph.tensors[name]
    if t.dtype == "int8" and t.quant is not None:
        return repr(float(t.quant.scale[0])), int(t.quant.zero_point[0])
    return "1.0", 0


def _source_shape(graph: Graph, name: str) -> list:
    """Per-sample shape in the source layout, batch 1 first."""
    shape = list(graph.tensors[name].shape)
    shape[0] = 1
    if graph.source_layout.endswith("C") and len(shape) >= 3:  # channels-last source (NHWC, NLC)
        shape = [shape[0]] + shape[2:] + [shape[1]]
    return shape


def _copy_sources(out_dir: Path, kernels: list) -> None:
    root = kernels_dir()
    copied = [out_dir / "model.c"]
    for isa in ISAS:
        for name in kernels:
            src = root / isa / f"{name}.c"
            if src.is_file():
                (out_dir / "kernels" / isa).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, out_dir / "kernels" / isa / f"{name}.c")
                copied.append(src)
    (out_dir / "include").mkdir(parents=True, exist_ok=True)
    for header in headers_for(copied, root):
        shutil.copyfile(root / "include" / header, out_dir / "include" / header)
    (out_dir / "runner").mkdir(exist_ok=True)
    runner = runtimes_c_dir()
    for name in RUNNER_SOURCES:
        shutil.copyfile(runner / name, out_dir / "runner" / name)


def _c_string(text: str) -> str:
    """``text`` (a layer name from the model file) as a C string literal: printable ASCII stays,
    every other byte of its UTF-8 form, and ``"``, ``\\`` and ``?`` (which could start a
    trigraph), becomes a three-digit octal escape."""
    def char(byte: int) -> str:
        return chr(byte) if 0x20 <= byte < 0x7F and chr(byte) not in '"\\?' else f"\\{byte:03o}"

    return '"' + "".join(char(byte) for byte in text.encode()) + '"'


def _comment_safe(text: str) -> str:
    """``text`` (a name from the model file) on one line of a C or make comment that it can
    neither end nor nest in."""
    one_line = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    return one_line.replace("*/", "* /").replace("/*", "/ *")


def generate(graph: Graph, out_dir, prefix: str = "ec_model_", command_line: str = "", threads: int = 1,
             min_task_work: Optional[int] = None) -> CProject:
    """Write the C project of ``graph`` into ``out_dir`` (created) and return its figures.

    ``threads``: the thread count the model is generated for: each layer is cut into at most
    that many tasks (``tasks.py``), and its pool starts that many threads unless the caller of
    ``<prefix>init`` asks for another count. ``min_task_work`` replaces every kernel's least
    work per task (``kernels/split.py``): 1 cuts each layer as far as its units allow."""
    if not prefix or not prefix.replace("_", "a").isalnum() or prefix[0].isdigit():
        raise UserError(f"C prefix {prefix!r} is not a valid C identifier prefix")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise UserError(f"threads must be an integer in 1..{MAX_THREADS}, got {threads!r}")
    _check_graph(graph)
    out_dir = Path(out_dir)
    em = Emitter(graph, prefix, threads=threads, min_task_work=min_task_work)
    calls = _lower_all(graph, em)
    storage, plan, scratch = _plan(graph, em, calls)
    kernels = sorted({c.kernel for c in calls} | {"ec_parallel"})
    in_name, out_name = graph.inputs[0], graph.outputs[0]
    in_shape, out_shape = _source_shape(graph, in_name), _source_shape(graph, out_name)
    in_scale, in_zp = _end_quant(graph, in_name)
    out_scale, out_zp = _end_quant(graph, out_name)
    layer_names = [c.node.name for c in calls]
    values = {
        "model_name": _comment_safe(graph.name),
        "version": __version__,
        "command_line": _comment_safe(command_line or "(generated from Python)"),
        "prefix": prefix,
        "PREFIX": prefix.upper(),
        "guard": f"{prefix.upper()}MODEL_H",
        "input_ctype": CTYPES[graph.tensors[in_name].dtype],
        "output_ctype": CTYPES[graph.tensors[out_name].dtype],
        "arena_bytes": plan.size,
        "input_offset": plan.offsets[storage[in_name]],
        "output_offset": plan.offsets[storage[out_name]],
        "input_bytes": sample_bytes(graph.tensors[in_name]),
        "output_bytes": sample_bytes(graph.tensors[out_name]),
        "weights_bytes": em.weights_bytes,
        "input_size": math.prod(in_shape),
        "output_size": math.prod(out_shape),
        "input_rank": len(in_shape),
        "output_rank": len(out_shape),
        "input_shape": ", ".join(map(str, in_shape)),
        "output_shape": ", ".join(map(str, out_shape)),
        "source_layout": graph.source_layout,
        "channels_first": int(not graph.source_layout.endswith("C")),
        "input_is_int8": int(graph.tensors[in_name].dtype == "int8"),
        "output_is_int8": int(graph.tensors[out_name].dtype == "int8"),
        "input_scale": in_scale,
        "input_zp": in_zp,
        "output_scale": out_scale,
        "output_zp": out_zp,
        "layer_count": len(calls),
        "layer_count_decl": max(len(calls), 1),
        "layer_names": ",\n".join(f"    {_c_string(n)}" for n in layer_names) or '    ""',
        "definitions": "\n".join([*em.definitions, *_buffer_macros(calls, storage, plan, scratch)]),
        "arena_decl": max(plan.size, 16),
        "body": _body(graph, em, calls, storage, plan, scratch),
        "task_functions": _task_functions(em, calls, storage, plan, scratch),
        "threads": threads,
        "kernel_list": ", ".join(kernels),
        "kernel_names": " ".join(kernels),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for template, target in (("model.h.tmpl", "model.h"), ("model.c.tmpl", "model.c"),
                             ("Makefile.tmpl", "Makefile"), ("CMakeLists.txt.tmpl", "CMakeLists.txt")):
        (out_dir / target).write_text(_render(template, values))
    _copy_sources(out_dir, kernels)
    layers = tuple(LayerInfo(c.node.name, c.node.op_name, c.kernel, c.algorithm, c.tasks) for c in calls)
    return CProject(out_dir=out_dir, arena_bytes=plan.size, weights_bytes=em.weights_bytes, kernels=tuple(kernels),
                    layers=layers, prefix=prefix, threads=threads)


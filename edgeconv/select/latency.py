"""Predicted latency of a layer and of a whole model on a target (DESIGN §4).

**Measured first.** When a measured table (``latency_table``) holds the key
``(op, shape signature, precision the kernel runs at, algorithm, threads)`` of a layer, its time
is the prediction.

**Analytical otherwise**, a roofline per layer::

    t = max(t_compute, t_memory) + overhead_cycles / clock
    t_memory  = (input + output activations + stored weights + 2 * scratch) bytes / memory bandwidth
    speedup(threads) = 1 + (threads - 1) * parallel_efficiency

with ``t_compute`` depending on the kernel the build uses for the target:

- a SIMD version (``kernels_c/arm`` for ARM targets, ``kernels_c/x86`` for an x86 host at level
  AVX2 or above): ``t_compute = (MACs * passes / (peak * share_of_peak[kernel]) +
  (cycles_per_output[kernel] * outputs + cycles_per_position[kernel] * output positions +
  cycles_per_edge_position[kernel] * edge positions (the int8 im2col kernel's positions off its
  row tiles) + cycles_per_call[kernel]) *
  portable_cycle_scale) / (clock * speedup(threads))``,
  where ``peak`` is the target's best ``[[peak]]`` MAC/cycle/core figure for the kernel's class
  (fp32, int8 or binary popcount) that its ISA features allow, within the kernel set's x86 level
  (``kernels.isa``), and the share and per-output cost are the kernel's figures for that level
  (``kernels.registry.KernelCost.simd_cost``);
- on an ARM board, a kernel with ARM figures (``kernels.arm_work.ArmCost``: the int8 and fp32
  NEON GEMM and depthwise kernels, the XNOR kernel, and the portable fp32 fully connected kernel
  as the board's build compiles it) costs the events of its walk over the layer, each at its fitted
  cycles: ``t_compute = sum over terms of cycles[term] * count[term] / (clock * speedup(threads))``,
  the counts (MACs of its register tiles, padding included; segment passes; pixels in the padding;
  outputs of full and of partial 16-channel blocks; scratch bytes; the call) from
  ``kernels/arm_work.py``, the figures fitted to the qemu+llvm-mca estimates by
  ``bench/arm/fit_arm_costs.py`` on the level's reference board (no per-board scale: rpi4 for
  ``arm``, rpi5 for ``arm-dotprod``), or on the board's own core and build where the target names
  figures fitted there (``[latency] arm_figures``: the Cortex-A53 of rpi3 and the Zero 2 W);
- the portable C version costs what it was measured to cost (``kernels.registry.PortableCost``):
  ``t_compute = (cycles_per_mac * MACs * passes + cycles_per_output * outputs) *
  portable_cycle_scale / (clock * speedup(threads))``.

``passes`` is K*M for bit-serial DoReFa kernels (one popcount pass per pair of weight and
activation bit planes) and 1 otherwise. Scratch (im2col columns, packed bit planes) is written
once and read once. The memory term streams the layer's bytes from the smallest cache holding
them where the target gives that cache's rate (``memory_seconds``: the host), else at the memory
bandwidth even when they fit in a cache (the ARM boards: an upper bound that matters only for
memory-bound layers).

On an ARM board, an op without MACs whose kernel has ARM figures (``Kernel.arm_element``,
``kernels.arm_work.ArmElementCost``: the int8 ops, and the fp32 ones at a float32 output) costs
``count * cycles + partial blocks * partial + call``, its count by what the kernel loops over
(elements, 16-channel blocks, blocks or elements times window taps).
Ops without MACs otherwise cost their element work or their memory traffic, whichever is larger:
``max(elements * cycles_per_element[op] / clock, memory term) + overhead``, where an op whose
x86 kernel the build runs (int8, or float32 where that kernel has figures: the bilinear resize)
takes that kernel's vector rate at the x86 level (``Kernel.x86_element``) instead of the scalar
loop's ``ELEMENT_CYCLES``. Layout-only ops
(``Reshape``) are views and cost nothing.

**Threads.** The C model runs each layer on up to ``threads`` threads (the target's ``threads``:
what compress generates the model for), cut into the tasks its kernel's split allows
(``kernels/split.py``: a layer too small for the least work per task stays on one thread). A layer
of ``tasks`` tasks divides its compute time by ``speedup(tasks)``, with the board's
``parallel_efficiency`` (``[latency]``, a default from its cores and shared cache: the cores share
one L2 and one memory bus) or, where the measured table holds the algorithm at 1 and at N threads,
the efficiency measured there; the memory term is not divided (the threads share the bus), and
the board's ``[latency] pool_handoff_cycles`` (default ``POOL_HANDOFF_CYCLES``) are added for
handing the layer to the pool and waiting for it. A measured
table entry at the layer's thread count is taken as it is; one measured on a single thread is
divided by the same speedup.

**Whole model = sum over layers**: kernels run one after another, with no overlap
between layers; the error of that sum against a measured end-to-end time is what
``bench/bench_latency_model.py`` reports. The model's prediction is ``measured-table`` when the
table covers every layer that costs time (``estimated (qemu+llvm-mca)`` when that table was made by
``profile --estimate``), else ``analytical`` (layers found in the table still
use their measured time).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import NamedTuple, Optional

from ..errors import UserError
from ..ir import Graph, Node
from ..targets import Target
from ..kernels.amx import layer_level
from ..kernels.arm_work import ArmCost, element_terms, kernel_terms
from ..kernels.geometry import LayerGeometry, geometry
from ..kernels.isa import target_kernel_set
from ..kernels.packing import im2col_edge_positions
from ..kernels.registry import KERNELS, Kernel, isas_of, kernel as kernel_named
from ..kernels.split import task_count
from ..quant.precision import Precision, parse_precision
from .candidates import activation_bytes, popcount_passes, variants_for, weight_bytes
from .latency_table import ESTIMATED_METHOD, LatencyKey, LatencyTable, shape_signature, timing_precision

MEASURED = "measured-table"
ESTIMATED = ESTIMATED_METHOD  # a table made by profile --estimate covered every layer
ANALYTICAL = "analytical"


@dataclass(frozen=True)
class ElementCost:
    """Cycles per element of a scalar C loop, for int8 and fp32 tensors (assumptions).

    ``per`` says what is counted: ``output`` elements, ``input`` elements, or ``window`` = output
    elements times the pooling window.
    """

    int8: float
    fp32: float
    per: str = "output"


# int8 element-wise ops requantize through the fixed-point multiplier (a 64-bit multiply, a
# rounding shift, a clamp: a few cycles); int8 activations use a 256-entry lookup table; fp32
# transcendental functions call expf (~20 cycles), erff or tanhf (~25).
ELEMENT_CYCLES: dict = {
    "Clip": ElementCost(1.0, 1.0),
    "LeakyRelu": ElementCost(2.0, 1.5),
    "Hardswish": ElementCost(2.0, 3.0),
    "Hardsigmoid": ElementCost(2.0, 3.0),
    "Sigmoid": ElementCost(2.0, 20.0),
    "SiLU": ElementCost(2.0, 20.0),
    "Gelu": ElementCost(2.0, 25.0),
    "Sign": ElementCost(1.0, 1.0),
    "BatchNorm": ElementCost(4.0, 2.0),
    "Add": ElementCost(4.0, 1.0),
    "Mul": ElementCost(4.0, 1.0),
    "Concat": ElementCost(0.25, 0.25),
    "Slice": ElementCost(0.25, 0.25),
    "ResizeNearest": ElementCost(0.25, 0.25),
    # Four taps blended per output element from tap tables (portable C, scalar): measured by
    # bench/bench_resize.py on the build machine (AMD EPYC at 2.6 GHz, 2026-12-05).
    "ResizeBilinear": ElementCost(5.5, 2.8),
    # ec_transpose moves one element per call of memcpy when the innermost dim moves (a shuffle).
    "Transpose": ElementCost(4.0, 4.0),
    "Pad": ElementCost(0.25, 0.25),
    "Quantize": ElementCost(3.0, 3.0),
    "Dequantize": ElementCost(2.0, 2.0),
    "Softmax": ElementCost(25.0, 25.0),
    "MaxPool": ElementCost(1.0, 1.0, "window"),
    "AvgPool": ElementCost(1.0, 1.0, "window"),
    "GlobalAvgPool": ElementCost(1.0, 1.0, "input"),
}


class LayerPrediction(NamedTuple):
    name: str
    op: str
    precision: str
    algorithm: Optional[str]
    ms: float
    source: str


class GraphPrediction(NamedTuple):
    ms: float
    source: str


# ---- analytical model ------------------------------------------------------------------------


def _seconds(cycles: float, target: Target) -> float:
    return cycles / (target.cpu.clock_ghz * 1e9)


def memory_seconds(nbytes: float, target: Target) -> float:
    """Time to stream a layer's ``nbytes`` (its working set: inputs, outputs, weights, scratch).

    From the smallest cache that holds them and has a streaming rate on the target (``[caches]
    l1d/l2/l3_bytes_per_cycle``, per core), else at the memory bandwidth. A model called again and
    again finds a layer's data in the cache that holds it; a target without cache rates charges every
    byte at the memory bandwidth, an upper bound (rpi4 and rpi5 give L1 and L2 rates: the
    qemu+llvm-mca estimates their ARM figures are fitted to charge DRAM only beyond L2).
    """
    caches = target.caches
    for kib, rate in ((caches.l1d_kib, caches.l1d_bytes_per_cycle), (caches.l2_kib, caches.l2_bytes_per_cycle),
                      (caches.l3_kib, caches.l3_bytes_per_cycle)):
        if rate is not None and nbytes <= kib * 1024:
            return _seconds(nbytes / rate, target)
    return nbytes / (target.memory.bandwidth_gbs * 1e9)


# Handing a layer to the thread pool and waiting for its tasks (a cache-line round trip per worker,
# and the imbalance of the last task): an assumption, about 1 µs on a 2 GHz core, for targets
# whose ``[latency] pool_handoff_cycles`` does not say.
POOL_HANDOFF_CYCLES = 2000


def _speedup(target: Target, tasks: int, efficiency: Optional[float] = None) -> float:
    efficiency = target.latency.parallel_efficiency if efficiency is None else efficiency
    return 1.0 + (tasks - 1) * efficiency


def _threads(target: Target, threads: Optional[int]) -> int:
    return target.threads if threads is None else threads


def layer_kernel(graph: Graph, node: Node, algorithm: Optional[str]) -> Optional[Kernel]:
    """The kernel the C backend runs ``node`` with: the weighted layer's ``algorithm``, else the
    registry's kernel for the op at the output's dtype (a per-element op's table or formula)."""
    if algorithm is not None:
        return kernel_named(algorithm)
    dtype = "f32" if graph.tensors[node.output].dtype == "float32" else "s8"
    for kernel in KERNELS:
        if kernel.op == node.op_name and kernel.dtype == dtype:
            return kernel
    if node.op.PER_ELEMENT:
        return kernel_named("ec_f32_activation" if dtype == "f32" else "ec_s8_lut")
    return None


def layer_tasks(graph: Graph, node: Node, algorithm: Optional[str], threads: int) -> int:
    """Tasks the C model cuts ``node`` into at ``threads`` threads (``kernels.split``)."""
    kernel = layer_kernel(graph, node, algorithm)
    if kernel is None or kernel.split is None or threads <= 1:
        return 1
    out_shape = graph.tensors[node.output].shape
    if node.op.WEIGHTED:
        work = geometry(graph, node).macs
    else:
        work = math.prod(out_shape[1:]) * math.prod(getattr(node.op, "kernel", (1,)))
    return task_count(kernel.split, tuple(out_shape), work, threads)


def _handoff_seconds(target: Target, tasks: int) -> float:
    cycles = target.latency.pool_handoff_cycles
    return _seconds(POOL_HANDOFF_CYCLES if cycles is None else cycles, target) if tasks > 1 else 0.0


def _check_threads(target: Target, threads: int) -> None:  # threads resolved (never None)
    if not isinstance(threads, int) or threads < 1 or threads > target.cpu.cores:
        raise UserError(f"threads must be 1..{target.cpu.cores} on target {target.name}, got {threads}")


@functools.lru_cache(maxsize=None)
def _isas_of(kernel_name: str) -> tuple:
    return isas_of(kernel_name)


def kernel_implementation(kernel: Kernel, target: Target) -> str:
    """``simd`` when the kernel has a version in the target's kernel set, else ``portable``."""
    isa = target_kernel_set(target).isa
    return "simd" if isa != "portable" and isa in _isas_of(kernel.name) else "portable"


def compute_seconds(target: Target, geo: LayerGeometry, precision: Precision, kernel: Kernel,
                    tasks: int = 1, implementation: Optional[str] = None) -> float:
    """Time of the layer's arithmetic alone, shared by ``tasks`` tasks (see the module docstring
    for both formulas)."""
    implementation = implementation or kernel_implementation(kernel, target)
    passes = popcount_passes(precision, kernel)
    scale = target.latency.portable_cycle_scale
    arm = _arm_build_cost(target, kernel, implementation)
    if arm is not None:
        cycles = arm.cycles(arm_kernel_terms(target, geo, precision, kernel))
    elif implementation == "simd":
        kernels = target_kernel_set(target)
        peak = target.peak(kernel.cost.peak, kernels.features).mac_per_cycle
        cost = _simd_cost(target, kernel, geo)
        cycles = geo.macs * passes / (peak * cost.share_of_peak) + (
            cost.cycles_per_output * geo.out_numel + cost.cycles_per_position * geo.out_positions
            + cost.cycles_per_edge_position * edge_positions(kernel, geo) + cost.cycles_per_call) * scale
    else:
        cost = kernel.cost.portable
        cycles = (cost.cycles_per_mac * geo.macs * passes + cost.cycles_per_output * geo.out_numel) * scale
    return _seconds(cycles, target) / _speedup(target, tasks)


def edge_positions(kernel: Kernel, geo: LayerGeometry) -> int:
    """The positions ``SimdCost.cycles_per_edge_position`` prices: the int8 im2col kernel's edge
    positions (``packing.im2col_edge_positions``), none for the other kernels."""
    return im2col_edge_positions(geo) if kernel.name == "ec_s8_conv2d_im2col" else 0


def _simd_cost(target: Target, kernel: Kernel, geo: Optional[LayerGeometry] = None):
    """The kernel's SIMD figures on the target: its kernel set's level (for layer ``geo``, the
    level whose tiles run it: ``kernels.amx.layer_level``), and on ARM the figures of the board's
    core where the kernel has them (``[latency] arm_figures``)."""
    level = target_kernel_set(target).level
    if geo is not None:
        level = layer_level(level, kernel.name, geo)
    return kernel.cost.simd_cost(level, target.latency.arm_figures)


def _arm_build_cost(target: Target, kernel: Kernel, implementation: str):
    """The kernel's fitted ARM figures (``kernels.arm_work.ArmCost``) where they price the version
    ``implementation`` names and the board's build runs it: the NEON version where the kernel has
    one, else its portable C compiled for the board (the fp32 fully connected kernel); None
    otherwise (not an ARM board, no figures, or the other version asked for)."""
    if implementation != kernel_implementation(kernel, target):
        return None
    cost = _simd_cost(target, kernel)
    return cost if isinstance(cost, ArmCost) else None


def arm_kernel_terms(target: Target, geo: LayerGeometry, precision: Precision, kernel: Kernel) -> dict:
    """The counted events of a NEON kernel's call on an ARM board (``kernels.arm_work``), which
    its ``ArmCost`` figures multiply."""
    aarch64 = target.toolchain.triple.startswith("aarch64")
    return kernel_terms(kernel.name, geo, target_kernel_set(target).level, aarch64, kernel.cost.traffic(geo, precision))


def _weighted_ms(target: Target, graph: Graph, node: Node, precision: Precision, algorithm: str, threads: int) -> float:
    geo = geometry(graph, node)
    kernel = kernel_named(algorithm)
    if not kernel.serves(precision, geo):
        raise UserError(f"kernel {algorithm} cannot run layer {node.name} ({node.op_name}) at {precision.name}")
    tasks = layer_tasks(graph, node, algorithm, threads)
    compute = compute_seconds(target, geo, precision, kernel, tasks)
    element = activation_bytes(precision)
    traffic = (geo.in_numel + geo.out_numel) * element + weight_bytes(geo, precision, kernel)
    traffic += 2 * kernel.cost.traffic(geo, precision)
    overhead = _call_seconds(target, _carries_its_call(target, kernel)) + _handoff_seconds(target, tasks)
    return 1e3 * (max(compute, memory_seconds(traffic, target)) + overhead)


def _element_size(graph: Graph, tensor_name: str, precision: Optional[Precision]) -> int:
    """Bytes per element: the precision's when one is asked for, else the tensor's own dtype."""
    if precision is not None:
        return activation_bytes(precision)
    return 4 if graph.tensors[tensor_name].dtype == "float32" else 1


def _elementwise_ms(target: Target, graph: Graph, node: Node, precision: Optional[Precision], threads: int) -> float:
    if node.op.LAYOUT_ONLY:  # an alias of its input: no copy, no call
        return 0.0
    cost = ELEMENT_CYCLES.get(node.op_name)
    if cost is None:
        raise UserError(f"the latency model has no rule for op {node.op_name} (node {node.name})")
    inputs = _variable_inputs(graph, node)
    out = graph.tensors[node.output]
    is_float = _element_size(graph, node.output, precision) == 4
    arm = arm_element_cost(target, graph, node, is_float)
    if arm is not None:
        cycles = arm.total(arm_element_terms(graph, node, arm.per))
    else:
        cycles = element_count(graph, node) * _element_cycles(target, graph, node, cost, is_float)
    traffic = sum(graph.tensors[i].numel * _element_size(graph, i, precision) for i in inputs)
    traffic += out.numel * _element_size(graph, node.output, precision)
    tasks = layer_tasks(graph, node, None, threads)
    compute = _seconds(cycles, target) / _speedup(target, tasks)
    overhead = _call_seconds(target, arm is not None) + _handoff_seconds(target, tasks)
    return 1e3 * (max(compute, memory_seconds(traffic, target)) + overhead)


def _carries_its_call(target: Target, kernel: Kernel) -> bool:
    """Whether the kernel's figures on the target include its cost per call (the fitted ARM
    figures of ``kernels.arm_work`` do)."""
    return _arm_build_cost(target, kernel, kernel_implementation(kernel, target)) is not None


def _call_seconds(target: Target, carried: bool) -> float:
    """The fixed cost of a layer's call: the target's ``layer_overhead_cycles`` unless the
    kernel's own figures already carry it."""
    return 0.0 if carried else _seconds(target.latency.layer_overhead_cycles, target)


def arm_element_kernel(graph: Graph, node: Node, is_float: bool = False) -> Optional[Kernel]:
    """The kernel an op without MACs runs on when its output is float32 (``is_float``) or int8
    (whatever the graph's dtypes, which a float graph being costed at another precision does not
    have yet). float32: the op's own fp32 kernel, the activations' for a per-element op, the int8
    -> float32 kernel for a Dequantize. int8: the op's own, a lookup table for a per-element op,
    and a lookup table too for a Quantize whose input is already int8 (the C lowering requantizes
    between two int8 grids through a table)."""
    if is_float:
        return _float_element_kernel(node)
    own = next((k for k in KERNELS if k.op == node.op_name and k.dtype == "s8"), None)
    requantize = own is not None and own.name == "ec_s8_quantize" and all(
        graph.tensors[i].dtype != "float32" for i in _variable_inputs(graph, node))
    if requantize or (own is None and node.op.PER_ELEMENT):
        return kernel_named("ec_s8_lut")
    return own


def _float_element_kernel(node: Node) -> Optional[Kernel]:
    own = next((k for k in KERNELS if k.op == node.op_name and k.dtype == "f32"), None)
    if own is None and node.op_name == "Dequantize":
        return kernel_named("ec_s8_dequantize")
    if own is None and node.op.PER_ELEMENT:
        return kernel_named("ec_f32_activation")
    return own


def arm_element_cost(target: Target, graph: Graph, node: Node, is_float: bool = False):
    """The fitted cost (``kernels.arm_work.ArmElementCost``) of an op without MACs, its output
    float32 (``is_float``) or int8, on an ARM board's kernel set, or None (not an ARM level, or no
    figure for its kernel)."""
    level = target_kernel_set(target).level
    kernel = arm_element_kernel(graph, node, is_float) if level in ("arm", "arm-dotprod") else None
    return kernel.arm_element_cost(level, target.latency.arm_figures) if kernel is not None else None


def arm_element_terms(graph: Graph, node: Node, per: str) -> dict:
    """The counted events of an int8 op without MACs (``kernels.arm_work.element_terms``)."""
    inputs = sum(graph.tensors[i].numel for i in _variable_inputs(graph, node))
    window = math.prod(getattr(node.op, "kernel", (1,)) or (1,))
    return element_terms(per, tuple(graph.tensors[node.output].shape), inputs, window)


def _variable_inputs(graph: Graph, node: Node) -> list:
    return [i for i in node.inputs if i is not None and not graph.tensors[i].is_constant]


def element_count(graph: Graph, node: Node) -> int:
    """The elements an op without MACs is costed by (``ElementCost.per`` of its op)."""
    out = graph.tensors[node.output]
    per = ELEMENT_CYCLES[node.op_name].per
    if per == "input":
        return sum(graph.tensors[i].numel for i in _variable_inputs(graph, node))
    return out.numel * (math.prod(getattr(node.op, "kernel", (1,))) if per == "window" else 1)


def _element_cycles(target: Target, graph: Graph, node: Node, cost: ElementCost, is_float: bool) -> float:
    """Cycles per counted element of an op at int8 or float32: the x86 kernel's figure of that
    dtype at the kernel set's level where the build runs one (``Kernel.x86_element``), else the
    scalar loop's."""
    kernel = layer_kernel(graph, node, None)
    dtype = "f32" if is_float else "s8"
    if kernel is not None and kernel.dtype == dtype and kernel_implementation(kernel, target) == "simd":
        figure = kernel.x86_element_cycles(target_kernel_set(target).level)
        if figure is not None:
            return figure
    return cost.fp32 if is_float else cost.int8


# ---- public API ------------------------------------------------------------------------------


def fastest_algorithm(target: Target, graph: Graph, node: Node, precision: str, threads: Optional[int] = None) -> str:
    """The kernel variant the analytical model predicts fastest for ``node`` at ``precision``."""
    threads = _threads(target, threads)
    spec = parse_precision(precision)
    kernels = variants_for(geometry(graph, node), spec)
    if not kernels:
        raise UserError(f"no kernel variant runs layer {node.name} ({node.op_name}) at {precision}")
    return min(kernels, key=lambda k: _weighted_ms(target, graph, node, spec, k.name, threads)).name


def _resolve(target: Target, graph: Graph, node: Node, precision: Optional[str], algorithm: Optional[str], threads: int):
    """(precision name or None, algorithm or None) for a node, filling defaults from the node."""
    if not node.op.WEIGHTED:
        return precision, None
    precision = precision or node.precision
    if algorithm is None:
        algorithm = node.algorithm if node.algorithm and precision == node.precision else None
    if algorithm is None:
        algorithm = fastest_algorithm(target, graph, node, precision, threads)
    return precision, algorithm


def predict_layer(
    target: Target, graph: Graph, node: Node, precision: Optional[str] = None, algorithm: Optional[str] = None,
    threads: Optional[int] = None, table: Optional[LatencyTable] = None,
) -> LayerPrediction:
    """Predicted time of one node, from ``table`` when it has the node's key, else analytical.

    ``precision`` and ``algorithm`` default to the node's own (the fastest variant when the node
    names none). For ops without weights, ``precision`` only sets the element size (fp32: 4 bytes,
    any quantized precision: 1); without it the tensors' dtypes do. ``threads`` defaults to the
    target's (the count the C model runs with).
    """
    threads = _threads(target, threads)
    _check_threads(target, threads)
    precision, algorithm = _resolve(target, graph, node, precision, algorithm, threads)
    spec = parse_precision(precision) if precision is not None else None
    if node.op.LAYOUT_ONLY:  # an alias of its input: no copy, no call
        return LayerPrediction(node.name, node.op_name, precision or "", None, 0.0, MEASURED if table else ANALYTICAL)
    if table is not None:
        element = _element_size(graph, node.output, spec)
        kernel_precision = timing_precision(precision, algorithm) if precision else ("fp32" if element == 4 else "int8")
        key = LatencyKey(node.op_name, shape_signature(graph, node), kernel_precision, algorithm, threads)
        measured = _measured(table, key, graph, node, target)
        if measured is not None:
            return LayerPrediction(node.name, node.op_name, precision or kernel_precision, algorithm, measured, MEASURED)
    if node.op.WEIGHTED:
        ms = _weighted_ms(target, graph, node, spec, algorithm, threads)
    else:
        ms = _elementwise_ms(target, graph, node, spec, threads)
    return LayerPrediction(node.name, node.op_name, precision or "", algorithm, ms, ANALYTICAL)


def _measured(table: LatencyTable, key: LatencyKey, graph: Graph, node: Node, target: Target) -> Optional[float]:
    """The table's time for ``key``: measured at its thread count, else measured on one thread and
    divided by the speedup of the layer's tasks (at the algorithm's measured efficiency when the
    table has one, else the board's)."""
    measured = table.lookup(key)
    if measured is not None or key.threads == 1:
        return measured
    single = table.lookup(replace(key, threads=1))
    if single is None:
        return None
    tasks = layer_tasks(graph, node, key.algorithm, key.threads)
    return single / _speedup(target, tasks, measured_efficiency(table, key.algorithm)) + (
        1e3 * _handoff_seconds(target, tasks))


def measured_efficiency(table: LatencyTable, algorithm: Optional[str]) -> Optional[float]:
    """The parallel efficiency of ``algorithm`` in ``table``: the median over its keys measured at
    1 and at N > 1 threads of ``(t1 / tN - 1) / (N - 1)``; None when it has no such pair."""
    ratios = []
    for key, ms in table.entries.items():
        if key.algorithm != algorithm or key.threads <= 1 or ms <= 0:
            continue
        single = table.lookup(replace(key, threads=1))
        if single is not None:
            ratios.append((single / ms - 1.0) / (key.threads - 1))
    if not ratios:
        return None
    ratios.sort()
    return min(1.0, max(0.0, ratios[len(ratios) // 2]))


def predict_layer_ms(
    target: Target, graph: Graph, node: Node, precision: Optional[str] = None, algorithm: Optional[str] = None,
    threads: Optional[int] = None, table: Optional[LatencyTable] = None,
) -> float:
    return predict_layer(target, graph, node, precision, algorithm, threads, table).ms


def predict_layers(target: Target, graph: Graph, table: Optional[LatencyTable] = None, threads: Optional[int] = None) -> list:
    """One :class:`LayerPrediction` per node, in graph order, at each node's own precision."""
    return [predict_layer(target, graph, node, threads=threads, table=table) for node in graph.nodes]


def predict_graph_ms(target: Target, graph: Graph, table: Optional[LatencyTable] = None,
                     threads: Optional[int] = None) -> GraphPrediction:
    """``(ms, source)``: the sum over layers, and ``measured-table`` only if the table covered all."""
    layers = predict_layers(target, graph, table, threads)
    covered = table is not None and all(p.source == MEASURED for p in layers)
    source = (ESTIMATED if table.method == ESTIMATED_METHOD else MEASURED) if covered else ANALYTICAL
    return GraphPrediction(sum(p.ms for p in layers), source)


def kernel_throughput(target: Target, precision: str, algorithm: str, implementation: Optional[str] = None) -> float:
    """Effective MACs per cycle per core of ``algorithm`` at ``precision`` on large layers.

    SIMD kernels: ``peak * share_of_peak / passes``; portable kernels: ``1 / (cycles_per_mac * passes
    * portable_cycle_scale)``. ``implementation`` defaults to what the build uses for the target.
    """
    spec = parse_precision(precision)
    kernel = kernel_named(algorithm)
    passes = popcount_passes(spec, kernel)
    cost = kernel.cost
    implementation = implementation or kernel_implementation(kernel, target)
    arm = _arm_build_cost(target, kernel, implementation)
    if arm is not None or implementation == "simd":
        kernels = target_kernel_set(target)
        peak = target.peak(cost.peak, kernels.features).mac_per_cycle
        rate = arm.mac_per_cycle(peak) if arm is not None else peak * _simd_cost(target, kernel).share_of_peak
        return rate / passes
    return 1.0 / (cost.portable.cycles_per_mac * passes * target.latency.portable_cycle_scale)


# The kernel a dense conv uses at each precision kind, to compare precisions on a target.
_DENSE_CONV_KERNEL = {
    "fp32": "ec_f32_conv2d_im2col",
    "int8": "ec_s8_conv2d_im2col",
    "dorefa": "ec_s8_conv2d_bitserial",
    "xnor": "ec_b1_conv2d_xnor",
}


def warnings_for(target: Target, precisions, implementation: Optional[str] = None) -> list:
    """Sentences warning where a 'cheaper' precision is not faster on this target.

    Compares the effective MAC rate of a dense conv (``kernel_throughput``) at each precision with
    int8's: bit-serial DoReFa pays K*M popcount passes and loses to int8 once K*M is large enough
    for the core's popcount rate; int8 itself can lose to fp32 where its kernel is slower.
    """
    def rate(precision: str, kind: str) -> float:
        return kernel_throughput(target, precision, _DENSE_CONV_KERNEL[kind], implementation)

    out = []
    int8_rate, fp32_rate = rate("int8", "int8"), rate("fp32", "fp32")
    for name in precisions:
        spec = parse_precision(name)
        if spec.kind == "int8" and int8_rate <= fp32_rate:
            out.append(
                f"on {target.name} int8 convolutions reach {int8_rate:.2f} MAC/cycle against {fp32_rate:.2f} for fp32: "
                "int8 is not faster there"
            )
        if spec.kind in ("dorefa", "xnor"):
            low = rate(name, spec.kind)
            if low <= int8_rate:
                out.append(
                    f"on {target.name} {name} convolutions with {_DENSE_CONV_KERNEL[spec.kind]} reach {low:.2f} MAC/cycle "
                    f"against {int8_rate:.2f} for int8: {name} layers are no faster than int8 and will run on int8 kernels"
                )
    return out

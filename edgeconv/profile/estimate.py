"""Per-layer time of a graph on an ARM board that nobody can reach: counted under QEMU, costed by llvm-mca.

One estimate = the graph compiled with the C backend and the board's compiler (the build
``compress`` ships, per-layer hooks in, one thread: the pool built as a plain loop, so the counts
are the work of one core with no synchronisation), run once on one seeded input under ``qemu-user`` with the
counting plugin (:mod:`.qemu_count`), each executed translation block costed by ``llvm-mca`` for
the board's core (:mod:`.mca`). Per layer (one call of the model's ``run``)::

    instructions   = sum over blocks of executions * instructions in the block
    compute_cycles = sum over blocks of executions * llvm-mca cycles per execution
    memory_cycles  = working_set / bandwidth * clock    when working_set > L2, else 0
    est_cycles     = max(compute_cycles, memory_cycles)
    est_ms         = est_cycles / clock
    efficiency     = MACs / est_cycles / peak           (weighted layers only)

``working_set`` is the bytes of the layer's inputs (activations and stored weights) and output;
a layer whose data no longer fits the board's L2 streams it from DRAM at the board's bandwidth
(``[memory] bandwidth_gbs``), overlapped with the arithmetic. ``peak`` is the board's best
``[[peak]]`` figure for the kernel's class (``int8``: SMLAL, or SDOT where the core has it; ``binary``:
XOR + popcount; ``fp32``: FMLA), the same figure the analytical latency model uses.

Layer names and keys are those :func:`.measure.measure_graph` uses, so an estimate fills the same
latency table a measurement would; the table says how it was made (``estimated (qemu+llvm-mca)``).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..analysis import node_macs
from ..backends.c import generate
from ..backends.c.runner_build import RUNNER_BINARY, build_runner
from ..errors import UserError
from ..ir import Graph
from ..kernels.registry import kernel as kernel_named
from ..targets import Target
from ..toolchain import Compiler
from ..verify.inputs import random_inputs, to_source_layout
from .elf_symbols import read_symbols
from .mca import block_cycles, core_for
from .measure import latency_keys
from .qemu_count import count_instructions

METHOD = "estimated (qemu+llvm-mca)"


@dataclass
class LayerEstimate:
    name: str
    op: str
    algorithm: Optional[str]
    macs: int
    instructions: int
    compute_cycles: float
    memory_cycles: float
    est_cycles: float
    est_ms: float
    efficiency: Optional[float]   # MACs per cycle over the peak of the kernel's class
    peak_class: Optional[str]     # "int8", "binary" or "fp32"


@dataclass
class GraphEstimate:
    label: str
    target: str
    llvm_cpu: str
    program_instructions: int     # the whole run: layers, glue, input conversion, process start
    layers: list                  # LayerEstimate, in call order

    def total(self) -> dict:
        macs = sum(layer.macs for layer in self.layers)
        cycles = sum(layer.est_cycles for layer in self.layers)
        return {"macs": macs, "instructions": sum(layer.instructions for layer in self.layers),
                "est_cycles": cycles, "est_ms": sum(layer.est_ms for layer in self.layers),
                "macs_per_cycle": macs / cycles if cycles else None}

    def to_dict(self) -> dict:
        return {"label": self.label, "target": self.target, "llvm_cpu": self.llvm_cpu, "method": METHOD,
                "program_instructions": self.program_instructions,
                "layers": [asdict(layer) for layer in self.layers], "total": self.total()}


def mca_cpu_of(target: Target, llvm_cpu: Optional[str] = None) -> str:
    """The ``-mcpu`` llvm-mca models for ``target`` (``[cpu] llvm_mca_cpu``), or ``llvm_cpu``."""
    cpu = llvm_cpu or target.cpu.llvm_mca_cpu
    if target.is_host or cpu is None:
        raise UserError(f"target {target.name} has no [cpu] llvm_mca_cpu: estimates are made for ARM boards "
                        "under qemu (see targets/SCHEMA.md)")
    return cpu


def _working_set_bytes(graph: Graph, node) -> int:
    names = [n for n in node.inputs if n is not None] + [node.output]
    return sum(graph.tensors[n].numel * np.dtype(graph.tensors[n].dtype).itemsize for n in names)


def _peak_class(node) -> Optional[str]:
    return kernel_named(node.algorithm).cost.peak if node.algorithm else None


def estimate_graph(graph: Graph, target: Target, compiler: Compiler, llvm_cpu: Optional[str] = None,
                   label: str = "") -> GraphEstimate:
    """Count and cost every layer call of ``graph`` built for ``target`` (see the module docstring)."""
    cpu = mca_cpu_of(target, llvm_cpu)
    with tempfile.TemporaryDirectory(prefix="edgeconv-estimate-") as tmp:
        tmp = Path(tmp)
        project = generate(graph, tmp / "c", threads=1)
        build_runner(tmp / "c", target, compiler, tmp / "build", profile=True, threads=1)
        binary = tmp / "build" / RUNNER_BINARY
        np.save(tmp / "in.npy", to_source_layout(random_inputs(graph, samples=1).x[0], graph.source_layout))
        counts = count_instructions(target.qemu_binary, target.qemu_cpu, binary, ["in.npy", "out.npy"],
                                    cwd=tmp, home_function=f"{project.prefix}run")
        symbols = read_symbols(binary)
    calls = counts.layer_calls()
    if sorted(calls) != list(range(len(project.layers))):
        raise UserError(f"the runner made {len(calls)} layer calls for {len(project.layers)} layers: "
                        "was it built with per-layer hooks (-DEC_PROFILE)?")
    executed = {b for call in calls.values() for b in call}
    cycles = block_cycles({b: counts.blocks[b] for b in executed}, core_for(symbols.machine, cpu), symbols.is_thumb)
    clock_hz = target.cpu.clock_ghz * 1e9
    l2_bytes = target.caches.l2_kib * 1024
    layers = []
    for k, info in enumerate(project.layers):
        node = graph.node(info.name)
        compute = sum(cycles[b] * n for b, n in calls[k].items())
        working_set = _working_set_bytes(graph, node)
        memory = working_set / (target.memory.bandwidth_gbs * 1e9) * clock_hz if working_set > l2_bytes else 0.0
        est = max(compute, memory)
        macs = node_macs(graph, node)
        peak_class = _peak_class(node) if macs else None
        efficiency = macs / est / target.peak(peak_class).mac_per_cycle if peak_class and est else None
        layers.append(LayerEstimate(info.name, info.op, node.algorithm, macs, counts.instructions(calls[k]),
                                    compute, memory, est, 1e3 * est / clock_hz, efficiency, peak_class))
    return GraphEstimate(label or graph.name, target.name, cpu, counts.instructions(), layers)


def table_entries(estimate: GraphEstimate, graph: Graph, target: Target) -> dict:
    """LatencyKey -> estimated ms, for every node of ``graph`` the latency model looks up (a node
    absorbed into its neighbour's call is 0 ms, as in a measured table)."""
    by_name = {layer.name: layer.est_ms for layer in estimate.layers}
    return {key: by_name.get(name, 0.0) for name, key in latency_keys(target, graph).items()}


class Estimator:
    """``profile_target``'s ``measure`` for a board under emulation: estimates each graph it is
    given and keeps the estimates (``estimates``), in order."""

    def __init__(self, target: Target, compiler: Compiler, llvm_cpu: Optional[str] = None):
        self.target, self.compiler = target, compiler
        self.llvm_cpu = mca_cpu_of(target, llvm_cpu)
        self.estimates: list = []

    def __call__(self, graph: Graph, label: str) -> dict:
        estimate = estimate_graph(graph, self.target, self.compiler, self.llvm_cpu, label)
        self.estimates.append(estimate)
        return table_entries(estimate, graph, self.target)

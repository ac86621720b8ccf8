"""Fit of the host latency model's x86 figures from whole models' per-layer times.

Every timed layer of a model (the runner's profiling build, ``bench_host_latency.py``: the least
disturbed of several rounds, wall clock, one thread) is one sample

    measured cycles = fixed + sum over its terms of figure[term] * amount[term]   (+ known)

- an x86 GEMM kernel at a level (``(kernel, level, "mac")``: MACs times popcount passes,
  ``(kernel, level, "output")``: outputs, ``(kernel, level, "position")``: output positions, the
  window gathered or the row of channels walked once per position, ``(kernel, level, "edge")``:
  the int8 im2col's positions off its row tiles (``select.latency.edge_positions``),
  ``(kernel, level, "call")``: 1) gives the registry's ``x86={level: SimdCost(share,
  cycles_per_output, True, cycles_per_position, cycles_per_edge_position, cycles_per_call)}`` with
  ``share = 1 / (cycles per MAC * peak)``, for the kernels of ``TERMS``; one timed in too few
  layers at a level keeps its figures (the one-layer grid's);
- an int8 element-wise op whose x86 kernel the level runs (``(kernel, level, "element")``: the
  elements the latency model counts for its op) gives ``Kernel.x86_element[level]``;
- any other layer (the sliding-window kernel; kernels without an x86 version: softmax, padding,
  layout copies, float element-wise ops) is ``known``: the model's own prediction of its work.

``fixed`` is the per-layer fixed cost. The per-layer profile's fixed cost includes the
profiling hooks, so the release build's (``[latency] layer_overhead_cycles`` of
``targets/host.toml``) is fitted afterwards on the end-to-end times, with the layer figures
fixed. Both fits are non-negative least squares of weighted errors: a layer's error is divided by
the geometric mean of its time and its model's, between the relative error (every layer alike,
so the many layers of the small models, 4x4 maps among them, would set the figures of the
millisecond layers) and the error relative to the model (what the prediction of the model is
judged by, where a microsecond layer would not count); a whole model's by its time.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

# The release build's fixed cost per layer is fitted on the models faster than this (ms): where it
# is a visible share of the time.
FIXED_FROM_MODELS_UNDER_MS = 1.0

# The x86 weighted kernels fitted here, with their terms: those the selector gives a layer by its
# shape alone (1x1, depthwise 3x3, fully connected) and the general dense one (im2col, int8 and
# float), so their layers in the bench models span the shapes they serve. The depthwise kernel is
# costed per MAC (each output is K*K MACs of its own channel), per output position (a position's
# channel blocks walked once) and per call (its blocks' constants, the edge rows and columns: most
# of a 7x7 or 14x14 map's time, which MobileNetV2-224's large maps alone had left to the MAC
# figure); a fully connected layer has one output position, so that term would be the per-layer
# fixed cost. The int8 im2col kernel also
# pays for the positions it runs off its row tiles (edge) and for its call (the stage set-up, the
# edge runs, the smallest tiles: most of a 4x4 map's time); the 1x1 kernel for its call. The
# float layers of mixed plans are few: MACs, and for the im2col kernel the window gathered per
# position (its layers are first layers, whose windows hold a few channels). The sliding-window kernel
# keeps the one-layer grid's figures: the bench models run it only on the few layers the selector
# picks it for, a biased sample that would mislead the selector on the others.
TERMS = {
    "ec_s8_conv2d_im2col": ("mac", "output", "position", "edge", "call"),
    "ec_s8_conv2d_1x1": ("mac", "output", "position", "call"),
    "ec_s8_dwconv2d_3x3": ("mac", "position", "call"),
    "ec_s8_fully_connected": ("mac", "output"),
    "ec_f32_conv2d_1x1": ("mac",),
    "ec_f32_conv2d_im2col": ("mac", "position"),
}

# A kernel's figures at a level are fitted from at least this many timed layers per figure;
# one timed in fewer keeps its figures (the one-layer grid's): its layers' work is known.
LAYERS_PER_FIGURE = 2


class Sample(NamedTuple):
    terms: dict               # term key -> amount (MACs, outputs, positions or elements)
    known: float              # cycles the model predicts for work outside the terms
    cycles: Optional[float]   # measured cycles (None: not timed)
    calls: int = 1            # layers the sample holds (a whole model: its layer count)
    model: float = 0.0        # cycles the model predicts for the whole layer's work today
    run_cycles: Optional[float] = None  # measured cycles of the sample's whole model (None: the sample's)


def fit_fixed_and_rates(samples: list) -> tuple:
    """``(fixed cycles per call, {term: cycles per unit})`` minimizing the summed squared error of
    ``calls * fixed + sum(figure[term] * amount) + known`` against ``cycles``, each divided by
    ``sqrt(cycles * run_cycles)`` (module docstring)."""
    from scipy.optimize import nnls

    keys = sorted({key for s in samples for key in s.terms})
    column = {key: 1 + i for i, key in enumerate(keys)}
    matrix = np.zeros((len(samples), 1 + len(keys)))
    target = np.zeros(len(samples))
    for row, s in enumerate(samples):
        weight = 1.0 / max(np.sqrt(s.cycles * (s.run_cycles or s.cycles)), 1.0)
        matrix[row, 0] = s.calls * weight
        for key, amount in s.terms.items():
            matrix[row, column[key]] = amount * weight
        target[row] = (s.cycles - s.known) * weight
    solution, _ = nnls(matrix, target)
    return float(solution[0]), {key: float(solution[column[key]]) for key in keys}


def layer_samples(run) -> tuple:
    """``(samples, cycles per ms)`` of one measured run (``bench_host_latency.Run``, one thread):
    one sample per layer that runs code."""
    from pathlib import Path

    from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
    from edgeconv.kernels.geometry import geometry
    from edgeconv.kernels.amx import layer_level
    from edgeconv.kernels.isa import target_kernel_set
    from edgeconv.quant.precision import parse_precision
    from edgeconv.select.candidates import popcount_passes
    from edgeconv.select.latency import (ELEMENT_CYCLES, edge_positions, element_count, kernel_implementation,
                                         layer_kernel, predict_layer)
    from edgeconv.targets import load_target

    from common import forced_level

    graph = load_graph(Path(run.out) / IR_FILE_NAME)
    measured = run.layers_ms.get(1, {})
    samples = []
    with forced_level(run.level):
        host = load_target("host")
        clock = host.cpu.clock_ghz * 1e6  # cycles per ms
        run_cycles = run.e2e_ms[1] * clock
        level = target_kernel_set(host).level
        for node in graph.nodes:
            if node.op.LAYOUT_ONLY:
                continue
            cycles = measured[node.name] * clock if node.name in measured else None
            kernel = layer_kernel(graph, node, node.algorithm if node.op.WEIGHTED else None)
            simd = kernel is not None and kernel_implementation(kernel, host) == "simd"
            model = max(predict_layer(host, graph, node, threads=1).ms * clock - host.latency.layer_overhead_cycles, 0.0)
            if simd and node.op.WEIGHTED and kernel.name in TERMS:
                geo = geometry(graph, node)
                macs = geo.macs * popcount_passes(parse_precision(node.precision), kernel)
                amounts = {"mac": macs, "output": geo.out_numel, "position": geo.out_positions,
                           "edge": edge_positions(kernel, geo), "call": 1}
                layer_at = layer_level(level, kernel.name, geo)  # the AMX level's narrow layers: its VNNI tiles
                terms = {(kernel.name, layer_at, t): amounts[t] for t in TERMS[kernel.name]}
                samples.append(Sample(terms, 0.0, cycles, model=model, run_cycles=run_cycles))
            elif (simd and not node.op.WEIGHTED and node.op_name in ELEMENT_CYCLES and kernel.dtype == "s8"
                  and graph.tensors[node.output].dtype != "float32"):
                samples.append(Sample({(kernel.name, level, "element"): element_count(graph, node)}, 0.0, cycles,
                                      model=model, run_cycles=run_cycles))
            else:
                samples.append(Sample({}, model, cycles, model=model, run_cycles=run_cycles))
    return samples, clock


def fit(runs: list) -> tuple:
    """``(release fixed cycles per layer, {term: figure}, profiled fixed cycles per layer, timed
    layer samples)``: the figures from the per-layer profiles, then the release build's fixed
    cost from the end-to-end times with those figures."""
    per_run = [(run, *layer_samples(run)) for run in runs]
    layers: dict = {}
    for _, samples, _ in per_run:
        for s in samples:
            if s.terms and s.cycles is not None:
                kernel_level = next(iter(s.terms))[:2]
                layers[kernel_level] = layers.get(kernel_level, 0) + 1
    # a kernel timed in too few layers keeps its figures (its layers' work is known)
    per_run = [(run, [s if not s.terms or layers.get(next(iter(s.terms))[:2], 0) >= LAYERS_PER_FIGURE * len(s.terms)
                      else Sample({}, s.model, s.cycles, model=s.model, run_cycles=s.run_cycles) for s in samples],
                clock)
               for run, samples, clock in per_run]
    timed = [s for _, samples, _ in per_run for s in samples if s.cycles is not None]
    profiled_fixed, figures = fit_fixed_and_rates(timed)
    models = []
    for run, samples, clock in per_run:
        if run.e2e_ms[1] > FIXED_FROM_MODELS_UNDER_MS:
            continue
        known = sum(s.known + sum(figures.get(k, 0.0) * a for k, a in s.terms.items()) for s in samples)
        models.append(Sample({}, known, run.e2e_ms[1] * clock, len(samples)))
    fixed, _ = fit_fixed_and_rates(models)
    return fixed, figures, profiled_fixed, timed


def registry_entries(figures: dict) -> list:
    """``(kernel, level, text)``: the registry figure each fitted kernel and level gets."""
    from edgeconv.kernels.isa import x86_kernel_set
    from edgeconv.kernels.registry import kernel as kernel_named
    from edgeconv.targets import load_target

    host = load_target("host")
    rows = []
    for kernel, level in sorted({(k, lv) for k, lv, _ in figures}):
        cost = kernel_named(kernel).cost
        if cost is None:
            rows.append((kernel, level, f'x86_element "{level}": {figures[(kernel, level, "element")]:.3g}'))
            continue
        peak = host.peak(cost.peak, x86_kernel_set(level).features).mac_per_cycle
        per_mac = figures[(kernel, level, "mac")]
        share = 1 / (per_mac * peak) if per_mac else float("inf")
        rows.append((kernel, level, f'x86 "{level}": SimdCost({share:.3g}, '
                                    f'{figures.get((kernel, level, "output"), 0.0):.2g}, True, '
                                    f'{figures.get((kernel, level, "position"), 0.0):.2g}, '
                                    f'{figures.get((kernel, level, "edge"), 0.0):.2g}, '
                                    f'{figures.get((kernel, level, "call"), 0.0):.3g})'))
    return rows


def fit_report(runs: list) -> str:
    """The fit over ``runs`` and its relative error per kernel and level, as text."""
    fixed, figures, profiled_fixed, samples = fit(runs)
    lines = [f"fitted on {len(samples)} timed layers of {len(runs)} runs: layer_overhead_cycles = {fixed:.0f} "
             f"(release build, from the end-to-end times; {profiled_fixed:.0f} with the profiling hooks)"]

    def error(s: Sample) -> float:
        return (profiled_fixed + s.known + sum(figures[k] * a for k, a in s.terms.items())) / s.cycles - 1

    for kernel, level, text in registry_entries(figures):
        errors = [error(s) for s in samples if any(k[:2] == (kernel, level) for k in s.terms)]
        lines.append(f"  {kernel:<26}{text:<44}({len(errors)} layers, median error "
                     f"{100 * float(np.median(errors)):+.0f}%, worst {100 * max(errors, key=abs):+.0f}%)")
    errors = [error(s) for s in samples if not s.terms]
    if errors:
        lines.append(f"  other layers: {len(errors)}, median error {100 * float(np.median(errors)):+.0f}%")
    return "\n".join(lines)

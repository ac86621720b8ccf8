"""Quantization-aware fine-tuning with the float model as teacher (distillation).

``finetune(graph, precisions, x, y, epochs, batch_size, lr, seed)``:

1. calibrate the float graph and derive the quantized graph (``prepare_for_quantization``,
   ``quantize_graph``); with ``epochs == 0`` that is the result (post-training quantization);
2. build the fake-quantized student from the quantized graph with the *float* weights as latent
   parameters (``torchexec``: weights fake-quantized by their layer's quantizer every step,
   activations on the quantized graph's fixed grids, straight-through gradients), and the float
   graph as a frozen teacher;
3. train with Adam and a cosine learning-rate decay on ``KL(teacher || student)`` over the
   softened logits (temperature ``T``, scaled by ``T^2``), plus cross-entropy when labels are given;
4. write the trained latent weights back into the float graph and re-derive the integer graph
   with the same activation ranges, so the result is exactly what was trained;
5. store the integer graph in the form whose requantizations every runtime rounds alike
   (``single_rounding.with_single_rounding``: the same real weights and function).

Reproducible: the same seed gives the same batches and the same weights (one thread order on
CPU). Under ``torchrun`` (environment ``WORLD_SIZE`` > 1) the same call runs data-parallel with
``DistributedDataParallel`` on the gloo backend: every step's global batch of ``batch_size`` samples
is split between the processes, gradients are averaged, so the run follows the one-process
schedule; every process returns the same graph.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Union

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..errors import UserError
from ..ir import Graph, ops
from ..torchexec import build_module
from .quantize_graph import prepare_for_quantization, quantize_graph
from .precision import resolve_precisions
from .single_rounding import with_single_rounding, with_weight_steps

CALIBRATION_SAMPLES = 1024
TEMPERATURE = 2.0

# progress(epoch, step, steps_per_epoch, loss)
Progress = Callable[[int, int, int, float], None]


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1


def _world() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return World(dist.get_rank(), dist.get_world_size())


def _logits(graph: Graph, out: torch.Tensor) -> torch.Tensor:
    """Logits of a classifier output; a Softmax output is taken back to log-probabilities."""
    producer = graph.producer(graph.outputs[0])
    if producer is not None and isinstance(producer.op, ops.Dequantize):
        producer = graph.producer(producer.inputs[0])
    if producer is not None and isinstance(producer.op, ops.Softmax):
        return torch.log(out.clamp_min(1e-6))
    return out.reshape(out.shape[0], -1)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher/T) || softmax(student/T))`` + cross-entropy with the labels."""
    t = TEMPERATURE
    loss = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
    if labels is not None:
        loss = loss + F.cross_entropy(student, labels)
    return loss


def _with_weights(graph: Graph, latent: Mapping[str, tuple]) -> Graph:
    out = graph.copy()
    for node in out.nodes:
        if not node.op.WEIGHTED or node.name not in latent:
            continue
        w, b = latent[node.name]
        out.tensors[node.inputs[1]].data = np.ascontiguousarray(w, dtype=np.float32)
        if b is not None:
            out.tensors[node.inputs[2]].data = np.ascontiguousarray(b, dtype=np.float32)
    return out


def _float_latents(graph: Graph) -> dict:
    out = {}
    for node in graph.nodes:
        if node.op.WEIGHTED:
            b = node.inputs[2] if len(node.inputs) > 2 else None
            out[node.name] = (graph.tensors[node.inputs[1]].data, None if b is None else graph.tensors[b].data)
    return out


def _batches(n: int, batch_size: int, epoch: int, seed: int, world: World):
    """This process's share of each global batch of a seeded permutation."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    for start in range(0, n, batch_size):
        batch = order[start:start + batch_size]
        if len(batch) >= world.size:  # a tail too short to give every process a sample is dropped
            yield batch[world.rank::world.size]


def finetune(graph: Graph, precisions: Union[str, Mapping[str, str]], x: np.ndarray,
             y: Optional[np.ndarray] = None, epochs: int = 3, batch_size: int = 64, lr: float = 1e-3,
             seed: int = 0, method: str = "minmax", progress: Optional[Progress] = None,
             device: str = "cpu") -> Graph:
    """Quantize ``graph`` (prepared float graph) and fine-tune it; returns the quantized graph.

    ``x``: training/calibration inputs (float32, the graph's layout); ``y``: optional integer labels;
    ``device``: the torch device calibration and training run on (batches move there, the
    samples stay in host memory).
    """
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise UserError(f"fine-tuning needs epochs >= 0, batch size >= 1 and a positive learning rate "
                        f"(got {epochs}, {batch_size}, {lr})")
    x = np.ascontiguousarray(x, dtype=np.float32)
    torch.manual_seed(seed)
    resolved = resolve_precisions(graph, precisions)
    names = {k: v.name for k, v in resolved.items()}
    calib = x[np.random.default_rng(seed).permutation(len(x))[:CALIBRATION_SAMPLES]]
    student_float, ranges = prepare_for_quantization(graph, calib, resolved, method, device)
    if epochs == 0:
        return integer_graph(student_float, names, method, ranges)
    quantized = quantize_graph(student_float, precisions=names, method=method, ranges=ranges)
    latent = _train(graph, student_float, quantized, x, y, epochs, batch_size, lr, seed, progress, device)
    return integer_graph(_with_weights(student_float, latent), names, method, ranges)


def integer_graph(prepared: Graph, precisions: Mapping[str, str], method: str, ranges: Mapping) -> Graph:
    """The integer graph ``finetune`` returns for ``prepared`` (a float graph as
    ``prepare_for_quantization`` leaves it) and its activation ``ranges``: quantized, then in the
    form every runtime rounds alike (step 5 of the module docstring)."""
    return with_single_rounding(quantize_graph(prepared, precisions=precisions, method=method, ranges=ranges))


def _train(graph: Graph, student_float: Graph, quantized: Graph, x, y, epochs, batch_size, lr, seed,
           progress, device) -> dict:
    world = _world()
    torch.manual_seed(seed)
    student = build_module(with_weight_steps(quantized), _float_latents(student_float)).to(device).train()
    teacher = build_module(graph).to(device).eval()
    model = student
    if world.size > 1:
        model = torch.nn.parallel.DistributedDataParallel(student)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 0.5 * (1.0 + math.cos(math.pi * k / total)))
    labels = None if y is None else torch.from_numpy(np.asarray(y, dtype=np.int64))
    xs = torch.from_numpy(x)
    for epoch in range(epochs):
        for step, index in enumerate(_batches(len(x), batch_size, epoch, seed, world)):
            xb = xs[index].to(device)
            with torch.no_grad():
                target = _logits(graph, teacher(xb))
            out = _logits(quantized, model(xb))
            loss = distillation_loss(out, target, None if labels is None else labels[index].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            if progress is not None:
                progress(epoch, step, steps_per_epoch, float(loss.detach()))
    return student.latent_weights()


def accuracy(graph: Graph, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Top-1 accuracy of a one-output classifier graph, run by the reference executor."""
    from ..reference import executor

    hits = 0
    for start in range(0, len(x), batch_size):
        out = executor.run_single(graph, np.asarray(x[start:start + batch_size], np.float32))
        hits += int((out.reshape(len(out), -1).argmax(axis=1) == y[start:start + batch_size]).sum())
    return hits / len(x)

"""Zoo models compressed as a user ships them: quantized, low-bit ones fine-tuned, and cached.

``compressed(name, precision)`` is the trained zoo model (``training.trained``) converted to the
IR, prepared by the float passes, then quantized and fine-tuned on the digits training split by
``quant.finetune`` with the fine-tuning of the compression goals (``FINETUNE_EPOCHS``: post-
training quantization at int8, 3 epochs at w4a4, 5 at w2a2 and w1a1; batch 64, Adam at 3e-3,
seed 0). ``fp32`` gives the prepared float graph. The learning rate is 3e-3 rather than the
1e-3 of a plain ``finetune`` call: with the cosine decay over 3 epochs, 1e-3 stops short (the
MobileNetV2 at w4a4 reaches 0.940 instead of 0.950 on the held-out digits, DS-CNN at w2a2 0.81
instead of 0.89).

Fine-tuning takes a minute or more per model on a small CPU, so the result is cached beside the
trained weights as an IR file, ``<name>-<precision>-<key>.ir.npz``. The key hashes the trained
weights' key, the fine-tuning settings and the source of every package the result depends on
(IR, frontend, passes, quantization, torch executor), so a change to any of them recomputes it
instead of loading a stale graph.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from ..backends.irfile import load_graph, save_graph
from ..ir import Graph
from . import models, training

FINETUNE_EPOCHS = {"int8": 0, "w4a4": 3, "w2a2": 5, "w1a1": 5}
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
SEED = 0
# Packages whose code decides the compressed graph.
SOURCE_PACKAGES = ("ir", "frontend", "passes", "quant", "torchexec")


@functools.cache
def float_graph(name: str) -> Graph:
    """The prepared float IR graph of trained zoo model ``name`` (callers must not modify it)."""
    from ..frontend.torch_export import convert_module
    from ..passes.pipeline import prepare

    return prepare(convert_module(training.trained(name).eval(), models.INPUT_SHAPE, name, name))


def _source_digest() -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_path(name: str, precision: str) -> Path:
    """Where the compressed graph of ``name`` at ``precision`` is cached."""
    settings = (precision, FINETUNE_EPOCHS[precision], BATCH_SIZE, LEARNING_RATE, SEED, _source_digest())
    key = hashlib.sha256(repr((training.cache_key(name, None, SEED), settings)).encode()).hexdigest()[:16]
    return training.cache_dir() / f"{name}-{precision}-{key}.ir.npz"


def _compress(name: str, precision: str) -> Graph:
    from ..quant.finetune import finetune

    x_train, y_train, _, _ = training.digits_dataset()
    return finetune(float_graph(name), precision, x_train, y_train, epochs=FINETUNE_EPOCHS[precision],
                    batch_size=BATCH_SIZE, lr=LEARNING_RATE, seed=SEED)


def compressed(name: str, precision: str) -> Graph:
    """Zoo model ``name`` at ``precision`` (fp32 or a key of ``FINETUNE_EPOCHS``), from the cache
    when there, else compressed and cached."""
    if precision == "fp32":
        return float_graph(name)
    path = cache_path(name, precision)
    if path.is_file():
        try:
            return load_graph(path)
        except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed and rewritten
            path.unlink(missing_ok=True)
    graph = _compress(name, precision)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save_graph(graph, partial)
    os.replace(partial, path)
    return graph

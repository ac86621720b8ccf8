"""The digits dataset and seeded CPU training of the zoo models, with a cache of trained weights.

Training is deterministic for a given seed on a given machine: the weights are initialized and the
batches shuffled from ``torch.manual_seed(seed)``. A trained state_dict is cached under the user's
cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``) as ``edgeconv/zoo/<name>-<key>.pt``, where the
key hashes the model's source code, the training recipe, the seed and the dataset, so any change
retrains instead of loading stale weights.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from . import models

DATA_FILE = Path(__file__).parent / "data" / "mnist5k.npz"
VAL_SAMPLES = 1000


@dataclass(frozen=True)
class Recipe:
    """How a zoo model is trained: Adam with a one-cycle learning rate, cross-entropy."""

    epochs: int = 4
    batch_size: int = 64
    max_lr: float = 0.01
    weight_decay: float = 1e-4


RECIPES = {
    "tinycnn": Recipe(epochs=4),
    "resnet8": Recipe(epochs=4),
    "dscnn": Recipe(epochs=8),
    "mobilenetv2": Recipe(epochs=6),
    "binarynet": Recipe(epochs=3),
}


def digits_dataset() -> tuple:
    """(x_train, y_train, x_val, y_val): float32 NCHW in [0, 1] and int64 labels; last 1000 = val."""
    with np.load(DATA_FILE) as data:
        x = data["x"].astype(np.float32) / 255.0
        y = data["y"].astype(np.int64)
    return x[:-VAL_SAMPLES], y[:-VAL_SAMPLES], x[-VAL_SAMPLES:], y[-VAL_SAMPLES:]


def create(name: str) -> nn.Module:
    if name not in models.MODELS:
        raise UserError(f"unknown zoo model {name!r}; choose one of {', '.join(sorted(models.MODELS))}")
    return models.MODELS[name]()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on ``x``."""
    model.eval()
    with torch.no_grad():
        predictions = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((predictions == y).mean())


def train(name: str, epochs: int | None = None, seed: int = 0) -> nn.Module:
    """Train zoo model ``name`` from scratch on the digits training split; returns it in eval mode."""
    recipe = RECIPES[name] if epochs is None else Recipe(**{**asdict(RECIPES[name]), "epochs": epochs})
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = create(name)
    x_train, y_train, _, _ = digits_dataset()
    x_t, y_t = torch.from_numpy(x_train), torch.from_numpy(y_train)
    steps_per_epoch = -(-len(x_t) // recipe.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.max_lr, total_steps=recipe.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(x_t), generator=generator)
        for start in range(0, len(x_t), recipe.batch_size):
            idx = order[start:start + recipe.batch_size]
            optimizer.zero_grad()
            loss_fn(model(x_t[idx]), y_t[idx]).backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def cache_dir() -> Path:
    """Where trained zoo weights are kept: ``$EDGECONV_ZOO_CACHE``, else the user cache."""
    if os.environ.get("EDGECONV_ZOO_CACHE"):
        return Path(os.environ["EDGECONV_ZOO_CACHE"])
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "edgeconv" / "zoo"


def cache_key(name: str, epochs: int | None, seed: int) -> str:
    """Hash of everything that determines the trained weights."""
    recipe = RECIPES[name] if epochs is None else Recipe(**{**asdict(RECIPES[name]), "epochs": epochs})
    digest = hashlib.sha256()
    digest.update(Path(models.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(repr((name, asdict(recipe), seed, torch.__version__)).encode())
    digest.update(DATA_FILE.read_bytes())
    return digest.hexdigest()[:16]


def trained(name: str, epochs: int | None = None, seed: int = 0) -> nn.Module:
    """Zoo model ``name`` trained with ``seed``: from the cache when there, else trained and cached."""
    model = create(name)
    path = cache_dir() / f"{name}-{cache_key(name, epochs, seed)}.pt"
    if path.is_file():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval()
        except Exception:  # noqa: BLE001 - a damaged cache entry is retrained and rewritten
            path.unlink(missing_ok=True)
    model = train(name, epochs, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), partial)
    os.replace(partial, path)
    return model

"""Which torch device the executor runs on: ``--device auto|cpu|cuda``.

``auto`` takes the first CUDA device when torch sees one (``torch.cuda.is_available()``), else the
CPU, where torch spreads each operator over all cores (``torch.get_num_threads()``).
"""

from __future__ import annotations

import torch

from ..errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name`` (``auto`` or a torch device name); a CUDA request without a
    CUDA device is a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA device on this machine; use --device cpu or auto")
    return torch.device(name)

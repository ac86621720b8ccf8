"""Pickled ``nn.Module`` frontend (``torch.save(model)``), used only with ``--trust-pickle``.

Unpickling runs code named by the file, so it is never done without the user's explicit consent.
The module is put in eval mode, exported with ``torch.export`` on a zero input of the given shape
and converted like a ``.pt2`` program.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..errors import UserError
from .common import exception_summary
from .torch_export import convert_module


def load_pickled_module(path: Path, input_shape: Optional[tuple] = None):
    if input_shape is None:
        raise UserError(f"{path} is a pickled module, which does not record its input shape; "
                        f"pass --input-shape 1,C,H,W")
    try:
        module = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - e.g. the model's class is not importable here
        raise UserError(f"{path}: cannot unpickle the model ({exception_summary(exc)}); the class "
                        f"that defines it must be importable") from None
    if not isinstance(module, torch.nn.Module):
        raise UserError(f"{path} holds a {type(module).__name__}, not a torch.nn.Module")
    return convert_module(module, tuple(input_shape), Path(path).stem, str(path))

"""TorchScript frontend: a ``torch.jit.save`` archive (``.pt``) to the IR.

TorchScript carries no input shape, so one must be given. The scripted (or traced) module is put in
eval mode and converted to an ExportedProgram by torch's own TorchScript-to-export converter, run on
a zero input of that shape; the torch.export frontend does the rest. Layers are named after their
weights (``layer1.0.conv1``) because TorchScript keeps no module stack per op.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import torch

from ..errors import UserError
from .common import exception_summary
from .torch_export import convert_program


def load_torchscript(path: Path, input_shape: Optional[tuple] = None):
    if input_shape is None:
        raise UserError(f"{path} is a TorchScript model, which does not record its input shape; "
                        f"pass --input-shape 1,C,H,W")
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - an unreadable archive is the user's file
        raise UserError(f"{path}: cannot read the TorchScript archive ({exception_summary(exc)})") from None
    module.eval()
    example = (torch.zeros(tuple(input_shape)),)
    try:
        from torch._export.converter import TS2EPConverter

        with warnings.catch_warnings():  # it notes every unused BatchNorm counter it copies
            warnings.simplefilter("ignore", UserWarning)
            program = TS2EPConverter(module, example).convert()
    except Exception as exc:  # noqa: BLE001 - the converter refuses constructs it cannot express
        raise UserError(f"{path}: torch's TorchScript converter cannot convert this model for input shape "
                        f"{tuple(input_shape)} ({exception_summary(exc)}); export the model with torch.export "
                        f"instead: torch.export.save(torch.export.export(model.eval(), (example_input,)), "
                        f"'model.pt2')") from None
    return convert_program(program, Path(path).stem, str(path), tuple(input_shape))

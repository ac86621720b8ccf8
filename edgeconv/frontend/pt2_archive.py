"""Reading a ``torch.export.save`` archive (``.pt2``) without running code from it.

``torch.export.load`` unpickles parts of the archive with Python's unrestricted unpickler (the
sample inputs when the restricted one refuses them, weights and constants stored as pickles, custom
objects), and sympy parses the program's shape expressions with ``eval``; a crafted archive can
therefore run code when it is loaded. This reader rebuilds the same program from the same members,
but:

- every pickled member (the sample inputs, a pickled weight or constant) is read with torch's
  restricted ``weights_only`` unpickler, and one it refuses refuses the archive;
- a constant that only an unrestricted unpickler can read (a custom or opaque Python object)
  refuses the archive;
- every shape expression must be plain arithmetic on shape symbols before torch parses it.

Such refusals name the member and say that ``--trust-pickle`` loads the archive with torch itself.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pickle
import re
from pathlib import Path

import torch
from torch._export.serde import schema
from torch._export.serde.serialize import (
    ExportedProgramDeserializer,
    _bytes_to_dataclass,
    deserialize_size,
    deserialize_storage_offset,
    deserialize_stride,
)
from torch.export.pt2_archive import _package as package
from torch.export.pt2_archive.constants import (
    ARCHIVE_VERSION_PATH,
    ARCHIVE_VERSION_VALUE,
    CONSTANTS_CONFIG_FILENAME_FORMAT,
    CONSTANTS_DIR,
    CUSTOM_OBJ_FILENAME_PREFIX,
    MODELS_FILENAME_FORMAT,
    OPAQUE_OBJ_FILENAME_PREFIX,
    SAMPLE_INPUTS_FILENAME_FORMAT,
    WEIGHTS_CONFIG_FILENAME_FORMAT,
    WEIGHTS_DIR,
)

from ..errors import UserError
from .common import exception_summary

# The program torch.export.save stores (and torch.export.load returns).
MODEL_NAME = "model"

# What a shape expression (sympy's ``srepr`` of a size) may name: sympy's numbers, arithmetic,
# relations and logic, the functions torch's deserializer gives sympy, and the infinities.
_SHAPE_NAMES = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Mod", "Max", "Min", "Abs", "floor",
    "ceiling", "Equality", "Unequality", "LessThan", "StrictLessThan", "GreaterThan", "StrictGreaterThan",
    "And", "Or", "Not", "true", "false", "oo", "zoo", "nan", "int_oo",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv",
    "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv",
    "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal",
    "ToFloat", "Identity",
})
# Text a shape expression may quote: a symbol's name or a float's digits.
_SHAPE_TEXT = re.compile(r"[A-Za-z0-9_.+-]*")
# Syntax a shape expression may use: calls of the names above on numbers, names and quoted text,
# with keyword arguments (a symbol's assumptions) and arithmetic; no attribute, item or other syntax.
_SHAPE_SYNTAX = (ast.Expression, ast.Call, ast.Name, ast.Load, ast.Constant, ast.keyword, ast.UnaryOp,
                 ast.USub, ast.UAdd, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
                 ast.Pow)


def _trust_hint(path: Path, member: str, what: str) -> UserError:
    return UserError(f"{path}: archive member {member} holds {what}, which only an unrestricted unpickler "
                     f"can read and which may run code from the file; pass --trust-pickle to load it "
                     f"if you trust the file")


def _restricted_load(reader, member: str, path: Path):
    """The object pickled in ``member``, read with torch's weights_only unpickler."""
    data = reader.read_bytes(member)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            raise _trust_hint(path, member, "pickled Python objects beyond tensors") from None
        raise UserError(f"{path}: archive member {member} is not a readable pickle "
                        f"({exception_summary(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt member fails in many ways
        raise UserError(f"{path}: archive member {member} is not readable ({exception_summary(exc)})") from None


def _strided(flat: torch.Tensor, meta) -> torch.Tensor:
    tensor_meta = meta.tensor_meta
    tensor = torch.as_strided(flat, size=deserialize_size(tensor_meta.sizes),
                              stride=deserialize_stride(tensor_meta.strides),
                              storage_offset=deserialize_storage_offset(tensor_meta.storage_offset))
    return torch.nn.Parameter(tensor, requires_grad=tensor_meta.requires_grad) if meta.is_param else tensor


def _payloads(reader, config_file: str, directory: str, path: Path) -> dict:
    """Weights or constants by name, as the archive's payload config lays them out."""
    if config_file not in reader.get_file_names():
        raise UserError(f"{path}: the archive has no member {config_file}; it is not a torch.export.save archive "
                        f"of this torch version")
    config = package._load_payload_config(reader, config_file)
    flat = package._build_file_map(reader, config, directory)  # raw tensor bytes, never unpickled
    values = {}
    for name, meta in config.config.items():
        member = os.path.join(directory, meta.path_name)
        if meta.path_name.startswith((CUSTOM_OBJ_FILENAME_PREFIX, OPAQUE_OBJ_FILENAME_PREFIX)):
            raise _trust_hint(path, member, f"the custom object {name}")
        if meta.use_pickle:
            values[name] = _restricted_load(reader, member, path)
        else:
            values[name] = _strided(flat[meta.path_name], meta)
    return values


def _is_shape_arithmetic(expression: str) -> bool:
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _SHAPE_SYNTAX):
            return False
        if isinstance(node, ast.Name) and node.id not in _SHAPE_NAMES:
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not _SHAPE_TEXT.fullmatch(node.value):
            return False
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            return False
    return True


def _check_expressions(value, path: Path) -> None:
    """Refuse any ``expr_str`` in the serialized program that is more than shape arithmetic."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "expr_str" and not (isinstance(item, str) and _is_shape_arithmetic(item)):
                raise UserError(f"{path}: the program holds the shape expression {str(item)[:80]!r}, which is not "
                                f"arithmetic on shape sizes; pass --trust-pickle to load it if you trust the file")
            _check_expressions(item, path)
    elif isinstance(value, list):
        for item in value:
            _check_expressions(item, path)


def _program(reader, path: Path):
    member = MODELS_FILENAME_FORMAT.format(MODEL_NAME)
    if member not in reader.get_file_names():
        raise UserError(f"{path}: the archive has no member {member} (the program torch.export.save writes)")
    data = reader.read_bytes(member)
    _check_expressions(json.loads(data), path)
    return _bytes_to_dataclass(schema.ExportedProgram, data)


def read_archive(path: Path) -> torch.export.ExportedProgram:
    """The program in the ``.pt2`` at ``path``, read without running code from the file.

    UserError names the member at fault when the archive holds anything only an unrestricted
    unpickler can read. Other failures (a corrupt archive) are raised as torch raises them.
    """
    with package.PT2ArchiveReader(str(path)) as reader:
        version = reader.read_string(ARCHIVE_VERSION_PATH)
        if version != ARCHIVE_VERSION_VALUE:
            raise UserError(f"{path}: archive version {version} is not the version {ARCHIVE_VERSION_VALUE} "
                            f"this torch reads; save the model again with torch.export.save")
        program = _program(reader, path)
        weights = _payloads(reader, WEIGHTS_CONFIG_FILENAME_FORMAT.format(MODEL_NAME), WEIGHTS_DIR, path)
        constants = _payloads(reader, CONSTANTS_CONFIG_FILENAME_FORMAT.format(MODEL_NAME), CONSTANTS_DIR, path)
        sample_inputs = SAMPLE_INPUTS_FILENAME_FORMAT.format(MODEL_NAME)
        inputs = _restricted_load(reader, sample_inputs, path) if sample_inputs in reader.get_file_names() else None
        if inputs is not None and not isinstance(inputs, tuple):
            raise UserError(f"{path}: archive member {sample_inputs} holds a {type(inputs).__name__}, "
                            f"not the sample inputs")
        return ExportedProgramDeserializer().deserialize(program, weights, constants, inputs)

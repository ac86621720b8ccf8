"""Builders of TFLite operator option tables, from the schema package's generated modules."""

from __future__ import annotations

import importlib

import tflite

from .flatmodel import OptionsBuilder


def options(table: str, **fields) -> OptionsBuilder:
    """An options builder for table ``table`` (e.g. ``"Conv2DOptions"``) with scalar ``fields``.

    ``fields`` use the schema's CamelCase names: ``options("Pool2DOptions", StrideW=2, ...)``.
    """
    module = importlib.import_module(f"tflite.{table}")
    kind = getattr(tflite.BuiltinOptions, table)

    def build(builder) -> tuple:
        module.Start(builder)
        for name, value in fields.items():
            getattr(module, f"Add{name}")(builder, value)
        return kind, module.End(builder)

    return build

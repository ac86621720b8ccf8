"""TFLite backend: IR -> .tflite with the schema package and flatbuffers (no TensorFlow)."""

from .layout import to_channels_first, to_channels_last
from .writer import METADATA_NAME, ModelIO, build_tflite, model_io, write_tflite

__all__ = ["write_tflite", "build_tflite", "model_io", "ModelIO", "METADATA_NAME",
           "to_channels_last", "to_channels_first"]

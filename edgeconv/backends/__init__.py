"""Backends: write the IR as .tflite, .onnx and portable C."""

"""Reference runtimes, driven from Python to check edgeconv's artifacts.

Each adapter module (``tflm``, ``litert``, ``onnxruntime``) exposes ``run(model_path, x)`` and
``version()``. Adapters are deliberately dumb: they take exactly what the model takes (its own
layout and dtype, e.g. int8 NHWC for a full-integer ``.tflite``) and return what it gives, one
sample at a time when the runtime cannot take the whole batch. Comparing and quantizing is the
caller's job. ``c/`` holds the on-device runner of the generated C.
"""

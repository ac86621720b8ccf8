"""The zoo table: every zoo model at fp32, int8, w4a4, w2a2 and w1a1, as a user ships it
(``edgeconv.zoo.compressed``: int8 post-training quantization, low-bit layers fine-tuned), written
as .tflite and .onnx and verified on LiteRT, TFLite Micro and ONNX Runtime against the reference
executor on the 1,000 held-out digits.

TFLite Micro is bit-exact at every precision, and LiteRT (XNNPACK) and ONNX Runtime pass verify's
top-1 rule (>= 98% agreement, accuracy within 1 point) in every cell, the w1a1 DS-CNN and
MobileNetV2 included, whose binarized depthwise convolutions and bottlenecks leave 27% and 30%
accuracy after five epochs with many digits' top int8 logits tied (the share is printed): there
the one-LSB differences between the runtimes decide the tie. They agree because ``compress``
stores its graphs for single rounding (``quant/single_rounding.py``): low-bit layers with weight
steps (before, TFLite's double rounding put 1 to 12% of their requantized values one step away
from XNNPACK's and ONNX Runtime's once-rounding, and XNNPACK's 8-bit int8 -> int8 QUANTIZE moved
28% of ResNet-8's stream on a 2-bit grid), biases whose all-zero-point accumulator rounds once
(a double-rounded background flipped the Sign after the w1a1 MobileNetV2's stem on 4% of its
values: 0.39 agreement), means as average pools (TFLite's MEAN double-rounded 2 sums in 49:
the w1a1 DS-CNN agreed on 0.967), and a squeeze-excitation gate's output scale at which the products
by its Sign's threshold round once (the w1a1 MobileNetV2 fine-tuned on an Intel Xeon had one common
product lifted across it: 0.884 agreement)."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from edgeconv.backends.irfile import IR_FILE_NAME, save_graph
from edgeconv.backends.onnx import write_onnx
from edgeconv.backends.tflite import write_tflite
from edgeconv.reference import executor
from edgeconv.verify import compare_artifacts, verify_table, write_verify_json
from edgeconv.zoo import training
from edgeconv.zoo.compressed_models import compressed

PRECISIONS = ("fp32", "int8", "w4a4", "w2a2", "w1a1")


def tied_share(graph, x: np.ndarray) -> float:
    """Share of the samples whose int8 logits (the reference's, before the output Dequantize) have
    two classes tied for the top; 0 for a float model."""
    producer = graph.producer(graph.outputs[0])
    if producer.op_name != "Dequantize":
        return 0.0
    logits = executor.run(graph, {graph.inputs[0]: x}, keep=True)[producer.inputs[0]]
    return float(np.mean((logits == logits.max(axis=1, keepdims=True)).sum(axis=1) > 1))


@pytest.fixture(scope="module")
def digits():
    _, _, x_val, y_val = training.digits_dataset()
    return x_val, y_val


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(training.models.MODELS))
def test_zoo_verify_table(tmp_path, digits, name):
    x_val, y_val = digits
    np.savez(tmp_path / "val.npz", x=x_val, y=y_val)
    table, tied = {}, {}
    for precision in PRECISIONS:
        graph = compressed(name, precision)
        tied[precision] = tied_share(graph, x_val)
        out = tmp_path / precision
        out.mkdir()
        save_graph(graph, out / IR_FILE_NAME)
        write_tflite(graph, out / "model.tflite", {"precisions": precision})
        write_onnx(graph, out / "model.onnx", {"precisions": precision})
        result = compare_artifacts(out, data=tmp_path / "val.npz")
        write_verify_json(out, result)
        table[precision] = result
    console = Console(width=140)
    for precision, result in table.items():
        console.print(f"{name} {precision}: reference accuracy {result.reference_accuracy}, "
                      f"top logit tied on {tied[precision]:.1%} of the digits")
        console.print(verify_table(result.to_json()))
    for precision, result in table.items():
        micro = result.rows["tflite-micro"]
        assert micro.passed and (precision == "fp32" or micro.bit_exact), (precision, micro.failure("tflite-micro"))
        for runtime in ("tflite-litert", "onnxruntime"):
            row = result.rows[runtime]
            assert row.error is None and row.top1_agreement is not None, (precision, row.failure(runtime))
            assert row.passed, (precision, row.failure(runtime))

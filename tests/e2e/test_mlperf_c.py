"""The generated C of every MLPerf Tiny int8 model is bit-exact with TFLM and the reference executor.

Each model is compressed as imported (its own quantization kept), its C project built into the
``edgeconv_run`` runner, and fed 16 seeded random int8 inputs plus the two saturated ones (every
element -128, every element 127) in the model's own layout and dtype (NHWC int8). Then

    C runner output == TFLM output == reference executor output, byte for byte,

for the host build (``edgeconv build OUT --target host``) and for the static aarch64 build for
``rpi4`` run under qemu-user (slow). ``verify`` must report the same through its own checks.
"""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest

import edgeconv.api as api
from edgeconv.errors import VerificationFailed
from edgeconv.frontend.tflite import load_tflite
from edgeconv.reference import run
from edgeconv.runtimes import tflm
from edgeconv.runtimes.runner import LocalRunner, QemuRunner
from edgeconv.targets import load_target
from tests.conftest import require_tool

DATA = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny"
MODELS = ["ic_resnet8_int8", "kws_dscnn_int8", "ad_fc_autoencoder_int8"]
SAMPLES = 16
SEED = 20240611
# More samples where a sample is cheap (TFLM runs one at a time): about 10 s per model.
MANY_SAMPLES = {"ic_resnet8_int8": 48, "kws_dscnn_int8": 96, "ad_fc_autoencoder_int8": 1024}
MANY_SEED = 7
CROSS_TARGET = "rpi4"
EM_AARCH64, PT_INTERP = 183, 3
NOT_ORACLES = {"tflite-litert", "onnxruntime"}  # DESIGN §2: agreement reported, bytes not required


def model_shape(graph) -> tuple:
    """One sample's shape in the model's own layout (NHWC for images)."""
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    return (shape[1], shape[2], shape[0]) if graph.source_layout == "NHWC" and len(shape) == 3 else shape


def random_inputs(graph, samples: int, seed: int) -> np.ndarray:
    shape = model_shape(graph)
    return np.random.default_rng(seed).integers(-128, 128, size=(samples, *shape), dtype=np.int8)


def model_inputs(graph) -> np.ndarray:
    """16 seeded random int8 samples, then all -128 and all 127, in the model's own layout."""
    shape = model_shape(graph)
    random = random_inputs(graph, SAMPLES, SEED)
    saturated = np.stack([np.full(shape, -128, dtype=np.int8), np.full(shape, 127, dtype=np.int8)])
    return np.concatenate([random, saturated])


def nhwc_to_ir(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def ir_to_nhwc(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def assert_bytes_equal(ours: np.ndarray, expected: np.ndarray, what: str,
                       explain: Optional[Callable[[int], str]] = None) -> None:
    """Same shape, dtype and bytes; on failure name the first differing sample and element, and
    what ``explain(sample index)`` says about it."""
    assert ours.shape == expected.shape and ours.dtype == expected.dtype, (what, ours.shape, ours.dtype,
                                                                          expected.shape, expected.dtype)
    differ = np.argwhere(ours != expected)
    if differ.size:
        first = tuple(int(i) for i in differ[0])
        detail = f"; {explain(first[0])}" if explain is not None else ""
        pytest.fail(f"{what}: {len(differ)} elements differ; first at {first}: "
                    f"{int(ours[first])} != {int(expected[first])}{detail}")


def first_differing_layer(path: Path, graph, sample: np.ndarray) -> str:
    """The first node whose output differs between the reference executor and TFLM on one sample."""
    theirs = tflm.tensors(path, sample[None])
    ours = run(graph, nhwc_to_ir(sample[None]), keep=True)
    index_of = graph.metadata["tflite_tensors"]
    for node in graph.nodes:
        mine = ir_to_nhwc(ours[node.output])
        other = theirs[index_of[node.output]].reshape(mine.shape)
        differ = np.argwhere(mine != other)
        if differ.size:
            at = tuple(int(i) for i in differ[0])
            return (f"first differing layer: {node.name} ({node.op_name}, {node.source}), {len(differ)} element(s), "
                    f"first at {at}: reference {int(mine[at])}, TFLM {int(other[at])}")
    return "no intermediate tensor differs"


def elf_header(binary: Path) -> tuple:
    """(e_machine, has a PT_INTERP program header) of a 64-bit little-endian ELF file."""
    data = binary.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, f"{binary} is not a 64-bit LE ELF file"
    (machine,) = struct.unpack_from("<H", data, 0x12)
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    entry_size, count = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * entry_size)[0] for i in range(count)]
    return machine, PT_INTERP in types


class Case:
    """One model: its file, graph, inputs, TFLM's and the reference executor's outputs, OUT."""

    def __init__(self, name: str, out: Path):
        self.name = name
        self.path = DATA / f"{name}.tflite"
        self.graph = load_tflite(self.path)
        self.x = model_inputs(self.graph)
        self.tflm = tflm.run(self.path, self.x)
        self.reference = ir_to_nhwc(run(self.graph, nhwc_to_ir(self.x))[self.graph.outputs[0]])
        self.out = out
        api.compress(self.path, "host", out=out)

    @functools.cached_property
    def host_binary(self) -> Path:
        """``edgeconv build OUT --target host``: the runner compiled for this machine."""
        return Path(api.build(self.out, "host")["build_dir"]) / "edgeconv_run"


@pytest.fixture(scope="module", params=MODELS)
def case(request, tmp_path_factory) -> Case:
    return Case(request.param, tmp_path_factory.mktemp("mlperf") / request.param)


def test_reference_executor_equals_tflm(case):
    assert case.tflm.dtype == np.int8
    assert_bytes_equal(case.reference, case.tflm, f"{case.name}: reference executor vs TFLM")


def test_host_c_runner_equals_tflm_and_reference(case):
    ours = LocalRunner().run(case.host_binary, case.x).outputs
    assert_bytes_equal(ours, case.tflm, f"{case.name}: C runner (host) vs TFLM")
    assert_bytes_equal(ours, case.reference, f"{case.name}: C runner (host) vs reference executor")


def test_host_c_runner_quantizes_float_inputs_like_tflite(case):
    """The runner also takes float32 in the model's layout (DESIGN §3) and quantizes it as
    TFLite's QUANTIZE does: the real values of the int8 inputs give the same output bytes."""
    quant = case.graph.tensors[case.graph.inputs[0]].quant
    scale, zero_point = np.float32(quant.scale[0]), int(quant.zero_point[0])
    real = (scale * (case.x.astype(np.float32) - zero_point)).astype(np.float32)
    ours = LocalRunner().run(case.host_binary, real).outputs
    assert_bytes_equal(ours, case.tflm, f"{case.name}: C runner (host, float32 input) vs TFLM")


@pytest.mark.slow
def test_host_c_runner_equals_tflm_on_many_inputs(case):
    """Many more seeded samples: rare accumulators that sit next to a rounding boundary of the
    requantization (e.g. ``acc * real_multiplier`` = -21.499 on the autoencoder's last layer) show
    whether each multiplier is derived exactly as TFLM derives it."""
    x = random_inputs(case.graph, MANY_SAMPLES[case.name], MANY_SEED)
    expected = tflm.run(case.path, x)
    reference = ir_to_nhwc(run(case.graph, nhwc_to_ir(x))[case.graph.outputs[0]])
    assert_bytes_equal(reference, expected, f"{case.name}: reference executor vs TFLM",
                       lambda sample: first_differing_layer(case.path, case.graph, x[sample]))
    ours = LocalRunner().run(case.host_binary, x).outputs
    assert_bytes_equal(ours, expected, f"{case.name}: C runner (host) vs TFLM")


@pytest.mark.slow
def test_rpi4_static_binary_under_qemu_equals_tflm_and_reference(case):
    target = load_target(CROSS_TARGET)
    require_tool(target.qemu_binary)  # the compiler: Debian's cross gcc, else zig cc (edgeconv build picks)
    build = api.build(case.out, CROSS_TARGET)
    binary = Path(build["build_dir"]) / "edgeconv_run"
    machine, dynamic = elf_header(binary)
    assert machine == EM_AARCH64 and not dynamic and build["static"]
    ours = QemuRunner(target.qemu_binary, target.qemu_cpu).run(binary, case.x).outputs
    assert_bytes_equal(ours, case.tflm, f"{case.name}: C runner (rpi4, qemu) vs TFLM")
    assert_bytes_equal(ours, case.reference, f"{case.name}: C runner (rpi4, qemu) vs reference executor")


def verified_runtimes(out: Path, **options) -> dict:
    """verify.json's runtimes after ``edgeconv verify OUT``, also when a runtime that is not an
    oracle (LiteRT, ONNX Runtime: held to top-1 agreement only) made verify fail."""
    try:
        return api.verify(out, **options)["runtimes"]
    except VerificationFailed:
        runtimes = json.loads((out / "verify.json").read_text())["runtimes"]
        failed = {name for name, row in runtimes.items() if not row["passed"]}
        assert failed <= NOT_ORACLES, {name: runtimes[name] for name in failed}
        return runtimes


@pytest.mark.slow
def test_verify_reports_c_and_tflm_bit_exact(case):
    """``edgeconv verify`` on its own 32 random inputs: the C runner (host, and rpi4 under qemu)
    and TFLM are bit-exact with the reference executor."""
    host = verified_runtimes(case.out)
    qemu = verified_runtimes(case.out, target=CROSS_TARGET, runner="qemu")
    for runtimes, name in ((host, "c-host"), (host, "tflite-micro"), (qemu, f"c-qemu-{CROSS_TARGET}")):
        row = runtimes[name]
        assert row["passed"] and row["bit_exact"] and row["max_abs_diff"] == 0, (name, row)

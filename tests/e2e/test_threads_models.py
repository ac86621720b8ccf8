"""Whole models on the thread pool of the generated C.

- The MLPerf Tiny int8 models, generated for 4 threads with the registry's splits: the host runner
  at 1, 2, 3 and 4 threads gives the reference executor's bytes each time.
- The ARM builds (rpi4 aarch64, rpi3 armv7) run threaded under qemu-user, which runs guest threads
  on host threads: the same bytes at 1 and 4 threads.
- ThreadSanitizer builds of the runner on a zoo model and on MobileNetV2 at 224 x 224 find no race.
- ``compress --target rpi4 --latency-ms X`` on MobileNetV2-224 meets a budget that only four
  threads meet, and the report says so; on one thread the same budget is impossible (exit 2).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import edgeconv.api as api
from edgeconv.backends.c import build_host, generate
from edgeconv.backends.c.runner_build import build_runner
from edgeconv.errors import UserError
from edgeconv.frontend import load_model
from edgeconv.frontend.tflite import load_tflite
from edgeconv.passes.pipeline import prepare
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.reference import executor
from edgeconv.runtimes.runner import LocalRunner, QemuRunner
from edgeconv.select.latency import predict_graph_ms
from edgeconv.targets import load_target
from edgeconv.toolchain import find_compiler
from edgeconv.verify.inputs import to_ir_layout, to_source_layout
from edgeconv.zoo import training
from edgeconv.zoo.families import export_family, structured_images
from tests.conftest import require_tool

DATA = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny"
MLPERF = ["ic_resnet8_int8", "kws_dscnn_int8", "ad_fc_autoencoder_int8"]
THREADS = (1, 2, 3, 4)
TSAN = ("-fsanitize=thread", "-g", "-O1")


def mlperf_graph(name: str):
    return load_tflite(DATA / f"{name}.tflite")


def int8_samples(graph, samples: int, seed: int) -> np.ndarray:
    """Seeded int8 inputs in the model's own layout (NHWC for the images)."""
    shape = to_source_layout(np.zeros(graph.tensors[graph.inputs[0]].shape, dtype=np.int8),
                             graph.source_layout).shape[1:]
    return np.random.default_rng(seed).integers(-128, 128, size=(samples, *shape), dtype=np.int8)


def expected_outputs(graph, x: np.ndarray) -> np.ndarray:
    return to_source_layout(executor.run_single(graph, to_ir_layout(x, graph.source_layout)), graph.source_layout)


def run_counts(runner, binary: Path, x: np.ndarray, counts=THREADS) -> dict:
    return {t: runner.run(binary, x, threads=t).outputs for t in counts}


@pytest.mark.parametrize("name", [MLPERF[0], *(pytest.param(n, marks=pytest.mark.slow) for n in MLPERF[1:])])
def test_mlperf_models_equal_the_reference_at_every_thread_count(name, tmp_path):
    graph = mlperf_graph(name)
    project = generate(graph, tmp_path / "c", threads=4)
    binary, _ = build_host(tmp_path / "c", tmp_path / "edgeconv_run")
    x = int8_samples(graph, 4, seed=41)
    expected = expected_outputs(graph, x)
    for threads, got in run_counts(LocalRunner(), binary, x).items():
        np.testing.assert_array_equal(got, expected, err_msg=f"{name} at {threads} threads")
    if name == "ic_resnet8_int8":  # the others' layers are below the least work per task
        assert any(layer.tasks > 1 for layer in project.layers), name


@pytest.mark.parametrize("board", ["rpi4", pytest.param("rpi3", marks=pytest.mark.slow)])
def test_arm_builds_run_threaded_under_qemu(board, tmp_path):
    target = load_target(board)
    require_tool(target.qemu_binary)
    graph = mlperf_graph("ic_resnet8_int8")
    generate(graph, tmp_path / "c", threads=4)
    build_runner(tmp_path / "c", target, find_compiler(target), tmp_path / "build")
    x = int8_samples(graph, 3, seed=42)
    outputs = run_counts(QemuRunner(target.qemu_binary, target.qemu_cpu), tmp_path / "build" / "edgeconv_run", x,
                         counts=(1, 4))
    expected = expected_outputs(graph, x)
    for threads, got in outputs.items():
        np.testing.assert_array_equal(got, expected, err_msg=f"{board} at {threads} threads")


def tsan_run(graph, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """The runner built with ThreadSanitizer, at 4 threads; any report fails the run."""
    generate(graph, tmp_path / "c", threads=4)
    binary, _ = build_host(tmp_path / "c", tmp_path / "edgeconv_run", flags=TSAN)
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run([str(binary), "--threads", "4", str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                            capture_output=True, text=True, env={"TSAN_OPTIONS": "halt_on_error=1 exitcode=66"})
    assert result.returncode == 0 and "ThreadSanitizer" not in result.stderr, result.stderr[-4000:]
    return np.load(tmp_path / "y.npy")


def exported(module: torch.nn.Module, x: np.ndarray, path: Path) -> Path:
    torch.export.save(torch.export.export(module.eval(), (torch.from_numpy(x[:1]),)), path)
    return path


@pytest.mark.slow
def test_thread_sanitizer_on_a_zoo_model_and_mobilenetv2_224(tmp_path):
    x_train, _, x_val, _ = training.digits_dataset()
    zoo = prepare(load_model(exported(training.trained("mobilenetv2"), x_train, tmp_path / "zoo.pt2")))
    zoo_q = quantize_graph(zoo, x_train[:128], "int8")
    got = tsan_run(zoo_q, x_val[:4], tmp_path / "zoo")
    np.testing.assert_array_equal(got, executor.run_single(zoo_q, x_val[:4]))

    big = prepare(load_model(export_family("mobilenetv2", tmp_path / "mobilenetv2_224.pt2")))
    big_q = quantize_graph(big, structured_images(8, seed=1), "int8")
    x = structured_images(1, seed=2)
    got = tsan_run(big_q, x, tmp_path / "224")
    np.testing.assert_array_equal(got, executor.run_single(big_q, x))


@pytest.mark.slow
def test_rpi4_budget_that_only_four_threads_meet(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECONV_CACHE_DIR", str(tmp_path / "cache"))  # the analytical model, no table
    model = export_family("mobilenetv2", tmp_path / "mobilenetv2_224.pt2")
    calibration = structured_images(8, seed=1)
    np.savez(tmp_path / "calib.npz", x=calibration)
    rpi4 = load_target("rpi4")
    quantized = quantize_graph(prepare(load_model(model)), calibration, "int8")
    predicted = {t: predict_graph_ms(rpi4.with_threads(t), quantized).ms for t in (1, 3, 4)}
    assert predicted[4] < predicted[3] < predicted[1]
    budget = round((predicted[3] + predicted[4]) / 2, 3)  # met at 4 threads, missed at 3

    report = api.compress(model, "rpi4", data=tmp_path / "calib.npz", precisions="int8", latency_ms=budget,
                          emit="c", out=tmp_path / "out")
    assert report["threads"] == 4 and report["predicted_latency_ms"] <= budget
    note = next(n for n in report["notes"] if n.startswith("predicted for 4 threads"))
    assert f"the {budget:g} ms budget is met only with the threads" in note
    assert "4 threads" in (tmp_path / "out" / "report.html").read_text() or "R.threads" in (
        tmp_path / "out" / "report.html").read_text()
    assert "tasks by output rows" in (tmp_path / "out" / "c" / "model.c").read_text()
    with pytest.raises(UserError, match="cannot be met on rpi4"):
        api.compress(model, "rpi4", data=tmp_path / "calib.npz", precisions="int8", latency_ms=budget,
                     emit="c", out=tmp_path / "out1", threads=1)

"""Zoo models through the whole pipeline into C: trained PyTorch model -> torch.export -> IR ->
prepare -> quantize_graph at int8, w4a4, w2a2 and w1a1 -> generated C on the host ->
byte-for-byte equal to the reference executor on validation digits."""

import subprocess

import numpy as np
import pytest
import torch

from edgeconv.backends.c import build_host, generate
from edgeconv.frontend import load_model
from edgeconv.passes.pipeline import prepare
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.reference import executor
from edgeconv.zoo import training

PRECISIONS = ("int8", "w4a4", "w2a2", "w1a1")
EXPECTED_CONV_KERNEL = {"w2a2": "ec_s8_conv2d_bitserial", "w4a4": "ec_s8_conv2d_bitserial", "w1a1": "ec_b1_conv2d_xnor"}


@pytest.fixture(scope="module")
def digits():
    x_train, _, x_val, _ = training.digits_dataset()
    return x_train[:256], x_val[:24]


def float_graph(name, x, tmp_path):
    model = training.trained(name)
    path = tmp_path / f"{name}.pt2"
    torch.export.save(torch.export.export(model, (torch.from_numpy(x[:1]),)), path)
    return prepare(load_model(path))


def check_model(name, digits, tmp_path):
    x_calib, x_val = digits
    graph = float_graph(name, x_calib, tmp_path)
    np.save(tmp_path / "x.npy", x_val)
    for precision in PRECISIONS:
        compressed = quantize_graph(graph, x_calib, precision)
        out = tmp_path / precision
        project = generate(compressed, out / "c")
        binary, _ = build_host(out / "c", out / "edgeconv_run")
        r = subprocess.run([str(binary), str(tmp_path / "x.npy"), str(out / "y.npy")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(out / "y.npy"), executor.run_single(compressed, x_val), err_msg=precision)
        if precision in EXPECTED_CONV_KERNEL:
            assert EXPECTED_CONV_KERNEL[precision] in project.kernels, (precision, project.kernels)


@pytest.mark.slow
def test_tinycnn_all_precisions_bit_exact(digits, tmp_path):
    check_model("tinycnn", digits, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["binarynet", "resnet8", "dscnn", "mobilenetv2"])
def test_zoo_models_all_precisions_bit_exact(name, digits, tmp_path):
    check_model(name, digits, tmp_path)

"""What the frontends refuse, and how: one UserError with a clear message, never a traceback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeconv.errors import UserError
from edgeconv.frontend import load_model
from edgeconv.reference import run_single
from edgeconv.zoo.models import TinyCNN

SHAPE = (1, 1, 28, 28)


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return TinyCNN().eval()


def write_pt2(module, path, shape=SHAPE):
    torch.export.save(torch.export.export(module, (torch.randn(*shape),)), str(path))
    return path


def refusal(path, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        load_model(path, **kwargs)
    return str(info.value)


def test_state_dict_is_refused_with_advice(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(tiny().state_dict(), path)
    message = refusal(path)
    assert "state_dict" in message and "torch.export" in message


def test_pickled_module_needs_trust_pickle(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(tiny(), path)
    message = refusal(path, input_shape=SHAPE)
    assert "--trust-pickle" in message and "runs code" in message


def test_pickled_module_loads_with_trust_pickle(tmp_path):
    module = tiny()
    path = tmp_path / "model.pth"
    torch.save(module, path)
    graph = load_model(path, input_shape=SHAPE, trust_pickle=True)
    x = torch.rand(2, *SHAPE[1:])
    with torch.no_grad():
        ref = module(x).numpy()
    assert np.abs(run_single(graph, x.numpy()) - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_pickled_module_without_input_shape_asks_for_it(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(tiny(), path)
    assert "--input-shape" in refusal(path, trust_pickle=True)


def test_torchscript_without_input_shape_asks_for_it(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.trace(tiny(), torch.zeros(SHAPE)).save(str(path))
    assert "--input-shape" in refusal(path)


@pytest.mark.parametrize("suffix", [".pt2", ".pt", ".onnx", ".tflite.bin"])
def test_junk_file_is_refused(tmp_path, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert str(path) in refusal(path)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.pt2"
    path.touch()
    assert "empty" in refusal(path)


def test_missing_file_is_refused(tmp_path):
    assert "no such" in refusal(tmp_path / "absent.onnx")


def test_truncated_pt2_is_refused(tmp_path):
    full = write_pt2(tiny(), tmp_path / "full.pt2").read_bytes()
    path = tmp_path / "cut.pt2"
    path.write_bytes(full[: len(full) // 2])
    assert "truncated" in refusal(path)


def test_truncated_onnx_is_refused(tmp_path):
    path = tmp_path / "full.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tiny(), (torch.zeros(SHAPE),), str(path), dynamo=False)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(path.read_bytes()[:1000])
    assert "cut.onnx" in refusal(cut)


def test_zip_that_is_not_a_model_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "other.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    assert "not a PyTorch model" in refusal(path)


class ManyUnsupported(nn.Module):
    """Four unsupported constructs: Mish, reflect padding, strided channel slicing, mean over channels."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect")
        self.act = nn.Mish()
        self.fc = nn.Linear(2, 3)

    def forward(self, x):
        y = self.act(self.conv(x))
        y = y[:, ::2]
        return self.fc(y.mean(1).mean((1, 2)).unsqueeze(1).expand(-1, 2))


def test_every_unsupported_op_is_reported_at_once_pt2(tmp_path):
    path = write_pt2(ManyUnsupported().eval(), tmp_path / "bad.pt2", (1, 1, 8, 8))
    message = refusal(path)
    for expected in ("aten.mish", "at node 'mish'", "act (Mish)", "reflect padding", "aten.slice.Tensor",
                     "mean over dims [1]", "aten.expand", "test_frontend_refusals.py:", "Supported layers: Conv1d"):
        assert expected in message, expected
    assert message.count("\n  - ") == 6  # pad, mish, slice, mean over channels, mean over (L, W), expand


def test_every_unsupported_op_is_reported_at_once_onnx(tmp_path):
    path = tmp_path / "bad.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ManyUnsupported().eval(), (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, opset_version=17)
    message = refusal(path)
    for expected in ("reflect padding", "Softplus", "Slice", "Expand", "Supported layers:"):
        assert expected in message, expected


def test_batch_norm_in_training_mode_is_refused(tmp_path):
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    path = write_pt2(module, tmp_path / "train.pt2")
    assert "model.eval()" in refusal(path)


def test_input_shape_that_contradicts_the_program_is_refused(tmp_path):
    path = write_pt2(tiny(), tmp_path / "m.pt2")
    assert "does not match" in refusal(path, input_shape=(1, 3, 28, 28))


def test_interior_unsupported_op_does_not_hide_later_ones(tmp_path):
    class TwoFaults(nn.Module):
        def forward(self, x):
            return F.mish(x) + F.elu(x)

    message = refusal(write_pt2(TwoFaults(), tmp_path / "two.pt2", (1, 2, 4, 4)))
    assert "aten.mish" in message and "aten.elu" in message


def test_model_with_two_inputs_is_refused_naming_them(tmp_path):
    from hostile_models import write_two_input_onnx

    message = refusal(write_two_input_onnx(tmp_path / "two.onnx"))
    assert "2 inputs (x, y)" in message and "exactly one input" in message


def test_torchscript_the_converter_refuses_points_to_torch_export(tmp_path):
    from hostile_models import write_loop_torchscript

    message = refusal(write_loop_torchscript(tmp_path / "loop.pt"), input_shape=SHAPE)
    assert str(tmp_path / "loop.pt") in message and "torch.export" in message and "\n" not in message
    assert "stopped at prim::Loop (hostile_models.py:" in message  # the node and its source line


@pytest.mark.parametrize("exc, summary", [
    (NotImplementedError(), "NotImplementedError"),
    (RuntimeError("\n  first\nsecond"), "RuntimeError: first"),
    (ValueError("bad value"), "ValueError: bad value"),
])
def test_exception_summary_is_one_nonempty_line(exc, summary):
    from edgeconv.frontend.common import exception_summary

    assert exception_summary(exc) == summary


@pytest.mark.parametrize("suffix", [".pt2", ".onnx"])
def test_dilated_transposed_convolutions_are_refused_by_layer(tmp_path, suffix):
    module = nn.Sequential(nn.ConvTranspose2d(4, 4, 3, groups=2), nn.ConvTranspose2d(4, 2, 3, dilation=2)).eval()
    path = tmp_path / f"up{suffix}"
    if suffix == ".pt2":
        write_pt2(module, path, (1, 4, 6, 6))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.zeros(1, 4, 6, 6),), str(path), dynamo=False, opset_version=17)
    message = refusal(path)
    assert "dilated transposed convolution" in message and message.count("\n  - ") == 1

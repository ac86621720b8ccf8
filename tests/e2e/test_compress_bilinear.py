"""A small FPN-style segmentation net with bilinear upsampling (``scale_factor=2`` at half-pixel
centers, and to a size with ``align_corners``) compressed, built and verified: at int8 the
reference, TFLite Micro and the C (host, and the rpi4 build under qemu-aarch64) agree byte for
byte, and LiteRT (XNNPACK) and ONNX Runtime agree with the reference on the class of at least 98%
of all pixels (verify's per-position top-1 rule for dense maps); in fp32 every runtime is within
the float tolerance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeconv import api
from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
from edgeconv.errors import VerificationFailed
from edgeconv.ir import ops
from edgeconv.zoo import export_module, save_npz

INPUT_SHAPE = (1, 3, 32, 32)
CLASSES = 4
# Held to agreement, not bytes (DESIGN §2): LiteRT's XNNPACK, whose bilinear kernel also weighs in
# units of 2^-11 and rounds half up (codes up to 2 away from TFLite's), and ONNX Runtime, whose QDQ
# convolutions round their own way (the resize itself is written on the codes and exact:
# tests/unit/test_resize_bilinear.py).
AGREEMENT_ONLY = ("tflite-litert", "onnxruntime")


def _block(c_in: int, c_out: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU())


class TinyFPN(nn.Module):
    """Three stages (32, 16, 8 pixels), 1x1 laterals, a top-down path of bilinear upsamplings
    added to the laterals, and a per-pixel class head."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = _block(3, 8, 1), _block(8, 16, 2), _block(16, 24, 2)
        self.lat1, self.lat2, self.lat3 = nn.Conv2d(8, 16, 1), nn.Conv2d(16, 16, 1), nn.Conv2d(24, 16, 1)
        self.head = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, CLASSES, 1))

    def forward(self, x):
        c1 = self.c1(x)
        c2 = self.c2(c1)
        c3 = self.c3(c2)
        p3 = self.lat3(c3)
        p2 = self.lat2(c2) + F.interpolate(p3, scale_factor=2, mode="bilinear")
        p1 = self.lat1(c1) + F.interpolate(p2, size=c1.shape[-2:], mode="bilinear", align_corners=True)
        return self.head(p1)


def _with_statistics(module: nn.Module, x: torch.Tensor) -> nn.Module:
    """BatchNorm statistics gathered on ``x`` (a trained net's, not the identity of a fresh one)."""
    module.train()
    with torch.no_grad():
        module(x)
    return module.eval()


@pytest.fixture(scope="module")
def fpn(tmp_path_factory):
    work = tmp_path_factory.mktemp("fpn")
    torch.manual_seed(0)
    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(96,) + INPUT_SHAPE[1:]).astype(np.float32)
    module = _with_statistics(TinyFPN(), torch.from_numpy(x[:64]))
    return {"model": export_module(module, work / "fpn.pt2", INPUT_SHAPE),
            "calib": save_npz(work / "calib.npz", x[:64]), "data": save_npz(work / "data.npz", x[64:])}


def _verify(out, target: str, runner: str, data) -> dict:
    """verify.json's rows, every one passed; the agreement-only runtimes judged per pixel."""
    try:
        api.verify(out, target, runner=runner, data=data)
    except VerificationFailed as err:
        raise AssertionError(str(err)) from None
    rows = json.loads((out / "verify.json").read_text())["runtimes"]
    for name in AGREEMENT_ONLY:
        row = rows[name]
        assert row["top1_unit"] == "position" and row["accuracy"] is None, row
        print(f"fpn {target}: {name} top-1 agreement {row['top1_agreement']:.4f} of "
              f"{row['samples']}x{INPUT_SHAPE[2]}x{INPUT_SHAPE[3]} pixels, max |diff| "
              f"{row['max_abs_diff']:g} {row['max_abs_diff_unit']}")
    assert rows["tflite-litert"]["max_abs_diff_unit"] == "lsb"
    return rows


def _resizes(out) -> list:
    return [n.op for n in load_graph(out / IR_FILE_NAME).nodes if n.op_name == "ResizeBilinear"]


@pytest.mark.slow
@pytest.mark.parametrize("target, runner", [("host", "local"), ("rpi4", "qemu")])
def test_int8_fpn_is_bit_exact_on_tflm_and_c(fpn, tmp_path, target, runner):
    out = tmp_path / target
    api.compress(fpn["model"], target, data=fpn["calib"], precisions="int8", out=out)
    assert _resizes(out) == [ops.ResizeBilinear(size=(16, 16)), ops.ResizeBilinear(size=(32, 32), align_corners=True)]
    api.build(out, target)
    rows = _verify(out, target, runner, fpn["data"])
    c_row = "c-host" if target == "host" else f"c-qemu-{target}"
    for name in ("tflite-micro", c_row):
        assert rows[name]["bit_exact"] and rows[name]["max_abs_diff"] == 0, (name, rows[name].get("first_mismatch"))


@pytest.mark.slow
def test_fp32_fpn_is_within_tolerance_everywhere(fpn, tmp_path):
    out = tmp_path / "fp32"
    api.compress(fpn["model"], "host", data=fpn["calib"], precisions="fp32", out=out)
    assert len(_resizes(out)) == 2
    api.build(out, "host")
    rows = api.verify(out, "host", data=fpn["data"])["runtimes"]
    assert {"tflite-litert", "tflite-micro", "onnxruntime", "c-host"} <= set(rows)
    assert all(row["passed"] for row in rows.values()), {name: row["max_abs_diff"] for name, row in rows.items()}

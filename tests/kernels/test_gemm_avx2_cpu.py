"""The AVX2-only build of the x86 GEMM kernels (ec_s8_conv2d_1x1, ec_s8_conv2d_im2col,
ec_s8_fully_connected) and depthwise kernels (ec_s8_dwconv2d_3x3, _generic) on an emulated AVX2
CPU without AVX-512 (``qemu-x86_64 -cpu Haswell``): the
build's library is loaded by a Python process that qemu runs as that CPU, so an AVX-512 instruction
slipped into the AVX2 path would stop it (SIGILL), and its outputs must equal the plain integer
formula byte for byte. The GEMM cases are the tile edges of test_gemm_tiles.py; the depthwise ones
cover partial 16-channel blocks, both strides and the 3x3 kernel's row bands."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgeconv.kernels.isa import host_isa
from edgeconv.kernels.packing import im2col_scratch_bytes, im2col_weight_rows
from tests.conftest import require_tool
from tests.kernels.cbuild import QParams, kernel_library
from tests.kernels.intref import multipliers, requant
from tests.kernels.test_conv_kernels import gemm_arrays, out_size, reference_conv
from tests.kernels.test_gemm_tiles import CASES

# Runs under qemu: calls each kernel on the saved arrays (the window and quantization parameters
# travel as int32 arrays, which is how C lays out those all-int32 structures) and saves the outputs.
WORKER = r"""
import ctypes, json, sys
import numpy as np
lib = ctypes.CDLL(sys.argv[1])
calls = json.load(open(sys.argv[2]))
data = np.load(sys.argv[3])
outs = {}
for i, call in enumerate(calls):
    arrays = [np.ascontiguousarray(data[f"{i}_{name}"]) for name in call["args"]]
    out = np.zeros(call["out"], dtype=np.int8)
    ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in arrays]
    ints = [ctypes.c_int32(v) for v in call["ints"]]
    getattr(lib, call["kernel"])(*ptrs[:call["split"]], *ints, *ptrs[call["split"]:], out.ctypes.data_as(ctypes.c_void_p))
    outs[str(i)] = out
np.savez(sys.argv[4], **outs)
"""


def conv_call(kernel, case, rng):
    """(call, arrays, expected output) of one convolution kernel on one case, zero point -128."""
    cin, h, w, cout, k, stride, pads = case
    oh = out_size(h, k[0], stride[0], pads[0], pads[2], 1)
    ow = out_size(w, k[1], stride[1], pads[1], pads[3], 1)
    x = rng.integers(-128, 128, size=(1, cin, h, w)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(cout, cin, *k)).astype(np.int8)
    spread = 128 * np.sqrt(cin * k[0] * k[1])
    bias = rng.integers(-16 * spread, 16 * spread, size=cout).astype(np.int32)
    mult, shift = multipliers(rng.uniform(0.5, 4.0, size=cout) / spread)
    q = (-128, 3, -128, 127)
    win = np.array([h, w, cin, oh, ow, cout, *k, *stride, *pads, 1, 1, 1], dtype=np.int32)
    rows = np.ascontiguousarray(np.moveaxis(wt, 1, -1).reshape(cout, -1))
    if kernel == "ec_s8_conv2d_im2col":
        rows = im2col_weight_rows(rows, cin, *k, 1)
    packed, wsum = gemm_arrays(rows)
    arrays = {"x": np.ascontiguousarray(np.moveaxis(x[0], 0, -1)), "w": packed, "bias": bias, "wsum": wsum,
              "mult": mult, "shift": shift, "win": win, "q": np.array(q, dtype=np.int32)}
    if kernel == "ec_s8_conv2d_im2col":
        arrays["scratch"] = np.zeros(max(1, im2col_scratch_bytes(cin, *k, oh, ow, cout)), dtype=np.int8)
    expected = reference_conv(x, wt, bias, QParams(*q), stride, pads, (1, 1), 1, mult, shift)
    call = {"kernel": kernel, "args": list(arrays), "ints": [], "split": len(arrays), "out": [oh, ow, cout]}
    return call, arrays, np.moveaxis(expected[0], 0, -1)


def fc_call(n_in, n_out, rng):
    x = rng.integers(-128, 128, size=n_in).astype(np.int8)
    w = rng.integers(-128, 128, size=(n_out, n_in)).astype(np.int8)
    bias = rng.integers(-50000, 50000, size=n_out).astype(np.int32)
    mult, shift = multipliers(rng.uniform(0.5, 4.0, size=n_out) / (128 * np.sqrt(n_in)))
    packed, wsum = gemm_arrays(w)
    acc = (x.astype(np.int64) + 128) @ w.T.astype(np.int64) + bias
    expected = requant(acc[None], mult, shift, 3, -128, 127)[0]
    arrays = {"x": x, "w": packed, "bias": bias, "wsum": wsum, "mult": mult, "shift": shift,
              "q": np.array((-128, 3, -128, 127), dtype=np.int32)}
    call = {"kernel": "ec_s8_fully_connected", "args": list(arrays), "ints": [n_in, n_out], "split": 6, "out": [n_out]}
    return call, arrays, expected


def dw_call(kernel, case, rng):
    """(call, arrays, expected output) of one depthwise kernel (multiplier 1) on one case."""
    c, h, w, k, stride, pads = case
    oh = out_size(h, k[0], stride[0], pads[0], pads[2], 1)
    ow = out_size(w, k[1], stride[1], pads[1], pads[3], 1)
    x = rng.integers(-128, 128, size=(1, c, h, w)).astype(np.int8)
    wt = rng.integers(-128, 128, size=(c, 1, *k)).astype(np.int8)
    spread = 128 * np.sqrt(k[0] * k[1])
    bias = rng.integers(-16 * spread, 16 * spread, size=c).astype(np.int32)
    mult, shift = multipliers(rng.uniform(0.5, 4.0, size=c) / spread)
    q = (-7, 3, -128, 127)
    win = np.array([h, w, c, oh, ow, c, *k, *stride, *pads, 1, 1, c], dtype=np.int32)
    arrays = {"x": np.ascontiguousarray(np.moveaxis(x[0], 0, -1)), "w": np.ascontiguousarray(np.moveaxis(wt[:, 0], 0, -1)),
              "bias": bias, "mult": mult, "shift": shift, "win": win, "q": np.array(q, dtype=np.int32)}
    expected = reference_conv(x, wt, bias, QParams(*q), stride, pads, (1, 1), c, mult, shift)
    call = {"kernel": kernel, "args": list(arrays), "ints": [], "split": len(arrays), "out": [oh, ow, c]}
    return call, arrays, np.moveaxis(expected[0], 0, -1)


# (C, H, W, kernel, stride, pads): a partial block, a stride-2 map over two 3x3 row bands, 5x5
DW_CASES = [(21, 9, 11, (3, 3), (1, 1), (1, 1, 1, 1)), (40, 70, 48, (3, 3), (2, 2), (0, 0, 1, 1)),
            (18, 8, 7, (5, 5), (2, 2), (2, 2, 2, 2))]


@pytest.mark.slow
@pytest.mark.skipif(host_isa() != "x86", reason="the x86 kernels build on an x86-64 host with AVX2")
def test_avx2_gemm_runs_exactly_on_a_cpu_without_avx512(tmp_path):
    qemu = require_tool("qemu-x86_64")
    rng = np.random.default_rng(18)
    calls, data, expected = [], {}, []
    for case in CASES:
        kernels = ["ec_s8_conv2d_im2col"] + (["ec_s8_conv2d_1x1"] if case[4] == (1, 1) and case[5] == (1, 1) else [])
        for kernel in kernels:
            call, arrays, want = conv_call(kernel, case, rng)
            data.update({f"{len(calls)}_{name}": a for name, a in arrays.items()})
            calls.append(call)
            expected.append(want)
    for case in DW_CASES:
        for kernel in ["ec_s8_dwconv2d_generic"] + (["ec_s8_dwconv2d_3x3"] if case[3] == (3, 3) else []):
            call, arrays, want = dw_call(kernel, case, rng)
            data.update({f"{len(calls)}_{name}": a for name, a in arrays.items()})
            calls.append(call)
            expected.append(want)
    for n_in, n_out in ((5, 7), (40, 33), (2050, 41)):
        call, arrays, want = fc_call(n_in, n_out, rng)
        data.update({f"{len(calls)}_{name}": a for name, a in arrays.items()})
        calls.append(call)
        expected.append(want)
    (tmp_path / "calls.json").write_text(json.dumps(calls))
    np.savez(tmp_path / "data.npz", **data)
    library = kernel_library("x86")._name
    result = subprocess.run([qemu, "-cpu", "Haswell", sys.executable, "-c", WORKER, library, str(tmp_path / "calls.json"),
                             str(tmp_path / "data.npz"), str(tmp_path / "out.npz")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"the AVX2 build failed on an AVX2 CPU without AVX-512:\n{result.stderr[-2000:]}"
    got = np.load(tmp_path / "out.npz")
    for i, (call, want) in enumerate(zip(calls, expected)):
        np.testing.assert_array_equal(got[str(i)], want, err_msg=f"call {i}: {call['kernel']} {call['out']}")

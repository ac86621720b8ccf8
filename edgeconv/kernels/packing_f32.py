"""Weight layouts of the float32 convolution kernels, mirrored from ``ec_f32.h``.

- ``ec_f32_conv2d_direct`` reads OHWI rows (``C_out, k_h, k_w, C_in / groups``);
- ``ec_f32_conv2d_1x1`` and ``ec_f32_conv2d_im2col`` read blocks of ``F32_NR`` output channels:
  block ``b`` holds, for each window position ``(ky, kx)`` and input channel ``c`` in that order,
  the ``F32_NR`` weights of output channels ``b * F32_NR ...`` (zeros past the last channel), so
  that one broadcast input value meets ``F32_NR`` contiguous weights;
- ``ec_f32_dwconv2d`` reads the depthwise weights tap-major, ``[ky][kx][c]`` (at most
  ``F32_DW_MAX_TAPS`` taps).
"""

from __future__ import annotations

import numpy as np

from ..quant.precision import Precision
from .geometry import LayerGeometry

F32_NR = 16
F32_DW_MAX_TAPS = 64  # EC_F32_DW_MAX_TAPS: the taps ec_f32_dwconv2d lists per output position


def _ohwi(w: np.ndarray) -> np.ndarray:
    """OIHW (or OIL) weights as ``(C_out, k_h, k_w, C_in / groups)``."""
    if w.ndim == 3:
        w = w[:, :, None, :]
    return np.moveaxis(w, 1, -1)


def pack_f32_direct(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    return "float", _ohwi(w).reshape(-1).astype(np.float32)


def pack_f32_gemm(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    rows = _ohwi(w).reshape(w.shape[0], -1).astype(np.float32)  # C_out x (k_h * k_w * C_in)
    blocks = -(-rows.shape[0] // F32_NR)
    padded = np.zeros((blocks * F32_NR, rows.shape[1]), dtype=np.float32)
    padded[: rows.shape[0]] = rows
    return "float", padded.reshape(blocks, F32_NR, -1).transpose(0, 2, 1).reshape(-1)


def pack_f32_depthwise(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    taps = _ohwi(w)[..., 0].reshape(w.shape[0], -1)  # C x (k_h * k_w)
    return "float", np.ascontiguousarray(taps.T).reshape(-1).astype(np.float32)

"""Which int8 GEMM layers the ``avx512-amx`` level runs on AMX tiles: the rule of
``kernels_c/include/ec_x86_amx.h`` (``ec_amx_serves``, its constants ``EC_AMX_*``), mirrored here
for the latency model, which prices the other layers of that level with the ``avx512-vnni``
figures (their register tiles are the VNNI ones).

AMX runs a 1x1 or im2col convolution whose packed K (bytes per output channel, ``packed_k``) is
at least one tile row and fits the kernel's gather buffer, with at least 64 output channels or
512 bytes of K, on calls of at least 16 pixels (a 1x1 layer's calls take 64 pixels at a time;
an im2col layer is one call of every output pixel).
"""

from __future__ import annotations

from .geometry import LayerGeometry
from .packing import im2col_segments, k4

AMX_LEVEL = "avx512-amx"
BELOW_AMX = "avx512-vnni"
AMX_KERNELS = ("ec_s8_conv2d_1x1", "ec_s8_conv2d_im2col")
MIN_PIXELS = 16   # EC_AMX_MIN_PIXELS
MIN_K = 64        # EC_AMX_MIN_K
K_MAX = 4608      # EC_AMX_K_MAX
WIDE_K = 512      # EC_AMX_WIDE_K
WIDE_N = 64       # EC_AMX_WIDE_N


def packed_k(kernel_name: str, geo: LayerGeometry) -> int:
    """The packed K of the layer's weights (``ec_gemm_t.k4``): per segment rounded to 4 bytes where the
    im2col kernel reads taps or narrow kernel rows in place, else the whole window rounded once."""
    if kernel_name == "ec_s8_conv2d_im2col":
        segments, seg_len = im2col_segments(geo.c_in, *geo.kernel_hw, geo.dilation[-1])
        return segments * k4(seg_len)
    return k4(geo.kernel[0] * geo.kernel[1] * geo.c_in)


def runs_on_amx(kernel_name: str, geo: LayerGeometry) -> bool:
    """Whether the AMX build runs this layer on AMX tiles."""
    if kernel_name not in AMX_KERNELS or geo.groups != 1 or geo.out_positions < MIN_PIXELS:
        return False
    k = packed_k(kernel_name, geo)
    return MIN_K <= k <= K_MAX and (geo.c_out >= WIDE_N or k >= WIDE_K)


def layer_level(level: str, kernel_name: str, geo: LayerGeometry) -> str:
    """The x86 level whose figures price this layer's kernel at ``level``: ``avx512-vnni`` for the
    layers the AMX build runs on its VNNI tiles, else ``level`` itself."""
    return BELOW_AMX if level == AMX_LEVEL and not runs_on_amx(kernel_name, geo) else level

"""An independent, deliberately plain integer implementation of the kernels' formulas (loops over
kernel taps, no shared code with the reference executor), built on edgeconv.quant.fixedpoint."""

from __future__ import annotations

import numpy as np

from edgeconv.quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multipliers


def conv_int(x, w, bias, zp_in, stride, pads, dilation, groups):
    """int64 accumulators (1, C_out, OH, OW) of sum (x - zp_in) * w + bias; x (1,C,H,W), pads (t,l,b,r)."""
    _, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    top, left, bottom, right = pads
    xp = np.full((c, h + top + bottom, wd + left + right), zp_in, dtype=np.int64)
    xp[:, top:top + h, left:left + wd] = x[0]
    oh = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    acc = np.zeros((cout, oh, ow), dtype=np.int64)
    cout_g = cout // groups
    for oc in range(cout):
        g = oc // cout_g
        for ky in range(kh):
            for kx in range(kw):
                y0, x0 = ky * dilation[0], kx * dilation[1]
                patch = xp[g * cin_g:(g + 1) * cin_g, y0:y0 + stride[0] * (oh - 1) + 1:stride[0],
                           x0:x0 + stride[1] * (ow - 1) + 1:stride[1]]
                acc[oc] += np.tensordot(w[oc, :, ky, kx].astype(np.int64), patch - zp_in, axes=(0, 0))
        acc[oc] += 0 if bias is None else int(bias[oc])
    return acc[None]


def requant(acc, mult, shift, zp_out, lo, hi, channel_axis=1):
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    m = np.asarray(mult, dtype=np.int64).reshape(shape)
    s = np.asarray(shift, dtype=np.int64).reshape(shape)
    return np.clip(multiply_by_quantized_multiplier(acc, m, s) + zp_out, lo, hi).astype(np.int8)


def multipliers(real):
    q, s = quantize_multipliers(real)
    return q.astype(np.int32), s.astype(np.int32)

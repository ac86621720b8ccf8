"""An IR graph as a ``torch.nn.Module``: float execution and fake-quantized execution.

``GraphModule(graph)`` holds every Conv/Linear weight and bias as a trainable parameter (the other
constants as buffers) and runs the nodes in order. Values flowing between nodes are always real
numbers: for a quantized tensor, the dequantized value ``s * (q - zp)``.

* Float nodes (float32 output, or an ``fp32`` layer) run the float rule of ``float_ops``.
* Quantized nodes run the float rule on the real inputs and fake-quantize the result onto the
  output tensor's grid (``fake_quant``); Conv/Linear first fake-quantize their weight with the
  quantizer of the node's precision (int8, DoReFa, XNOR; ``quant/quantizers.py``) and their bias
  onto the int32 grid ``s_in * s_w[c]``. Quantize fake-quantizes, Dequantize is the identity and
  Sign binarizes with a straight-through gradient.

With ``pre_grid`` set to a dict, every quantized node stores there, under its output name, its real
result before the output grid (its fused clamp applied): what the layer computes from its
quantized inputs and weights, which calibration of a low-bit graph observes
(``quant.calibrate.quantized_ranges``).

The weight parameters are *latent* float weights. They start as the dequantized stored weights,
or as the float weights a caller passes in ``latent`` (quantization-aware training starts from
the float model); the quantizers are idempotent on their own grid, so a module built from an
integer graph reproduces that graph's weights exactly.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import torch
from torch import nn

from ..ir import Graph, Node
from ..quant.fixedpoint import quantize_multipliers
from ..quant.precision import parse_precision
from ..quant.quantizers import round_ste, weight_quantizer
from . import float_ops
from .fake_quant import fake_average_pool, fake_quantize, fake_requantize, sign_ste


def _real(tensor) -> np.ndarray:
    """A constant's real value: dequantized when it is stored as integers."""
    if tensor.quant is None or tensor.dtype == "float32":
        return tensor.data.astype(np.float32)
    q = tensor.quant
    shape = q.broadcast_shape(tensor.data.ndim)
    real = q.scale.reshape(shape) * (tensor.data.astype(np.float64) - q.zero_point.reshape(shape))
    return real.astype(np.float32)


def is_quantized(graph: Graph, node: Node) -> bool:
    """True when ``node`` computes on an integer grid (its output tensor is not float32)."""
    return graph.tensors[node.output].dtype != "float32"


class GraphModule(nn.Module):
    """Runs ``graph`` in torch; see the module docstring for the float and fake-quant rules."""

    def __init__(self, graph: Graph, latent: Optional[Mapping[str, tuple]] = None):
        super().__init__()
        self.graph = graph
        self.pre_grid: Optional[dict] = None
        latent = dict(latent or {})
        self.weights = nn.ParameterDict()
        self._slots = {}  # (node name, input slot index) -> ("param" | "buffer", key)
        for index, node in enumerate(graph.nodes):
            for slot, name in enumerate(node.inputs):
                if name is None or not graph.tensors[name].is_constant:
                    continue
                key = f"n{index}_{slot}"
                value = _real(graph.tensors[name])
                if node.op.WEIGHTED and slot in (1, 2):
                    if node.name in latent and latent[node.name][slot - 1] is not None:
                        value = np.asarray(latent[node.name][slot - 1], np.float32)
                    self.weights[key] = nn.Parameter(torch.from_numpy(value.copy()))
                    self._slots[(node.name, slot)] = ("param", key)
                else:
                    self.register_buffer(key, torch.from_numpy(value.copy()), persistent=False)
                    self._slots[(node.name, slot)] = ("buffer", key)

    # -- parameters -------------------------------------------------------------------------------

    def _constant(self, node: Node, slot: int) -> torch.Tensor:
        kind, key = self._slots[(node.name, slot)]
        return self.weights[key] if kind == "param" else getattr(self, key)

    def latent_weights(self) -> dict:
        """Node name -> (weight, bias or None) as float32 numpy arrays (the trained latents)."""
        out = {}
        for node in self.graph.nodes:
            if not node.op.WEIGHTED:
                continue
            w = self._constant(node, 1).detach().cpu().numpy().astype(np.float32)
            b = None
            if len(node.inputs) > 2 and node.inputs[2] is not None:
                b = self._constant(node, 2).detach().cpu().numpy().astype(np.float32)
            out[node.name] = (w, b)
        return out

    # -- execution --------------------------------------------------------------------------------

    def _record(self, node: Node, y: torch.Tensor, clamp: tuple = (None, None)) -> torch.Tensor:
        if self.pre_grid is not None:
            lo, hi = clamp
            self.pre_grid[node.output] = y.detach() if lo is None and hi is None else torch.clamp(y.detach(), lo, hi)
        return y

    def _weighted_quantized(self, node: Node, args: list) -> torch.Tensor:
        g = self.graph
        x = args[0]
        w_fake, s_w = weight_quantizer(parse_precision(node.precision)).fake(args[1])
        s_in = float(g.tensors[node.inputs[0]].quant.scale[0])
        out_q = g.tensors[node.output].quant
        b_fake = None
        if len(args) > 2 and args[2] is not None:
            bias_scale = (s_in * s_w.detach()).to(args[2].dtype)
            b_fake = round_ste(args[2] / bias_scale) * bias_scale
        y = float_ops.conv_linear(node.op, x, w_fake.to(x.dtype), None if b_fake is None else b_fake.to(x.dtype))
        # The integer kernels requantize with the Q31 rounding of the stored layer's multiplier
        # (its weight scales carry any weight steps, quant/single_rounding.py): scale by that very
        # rounding, so a float64 run lands on the same side of every rounding tie.
        stored = s_in * g.tensors[node.inputs[1]].quant.scale.astype(np.float64) / float(out_q.scale[0])
        q, shift = quantize_multipliers(stored)
        multiplier = torch.from_numpy(q.astype(np.float64) * np.exp2(shift.astype(np.float64) - 31)).to(y.device)
        shape = [1] * y.dim()
        shape[1] = -1
        y = y * (multiplier / torch.from_numpy(stored).to(y.device)).reshape(shape).to(y.dtype)
        return fake_requantize(self._record(node, y, node.op.clamp), out_q, node.op.clamp, multiplier)

    def _global_avg_pool_quantized(self, node: Node, args: list) -> torch.Tensor:
        # TFLite MEAN: one multiplier s_in / (s_out * count), applied with the double rounding.
        x = args[0]
        g = self.graph
        s_in, out_q = float(g.tensors[node.inputs[0]].quant.scale[0]), g.tensors[node.output].quant
        count = x[0, 0].numel()
        multiplier = torch.tensor([s_in / (float(out_q.scale[0]) * count)], dtype=torch.float64, device=x.device)
        y = float_ops.global_avg_pool(node.op, x)
        return fake_requantize(self._record(node, y), out_q, (None, None), multiplier)

    def _avg_pool_quantized(self, node: Node, args: list) -> torch.Tensor:
        y = self._record(node, float_ops.avg_pool(node.op, args[0]))
        return fake_average_pool(node.op, args[0], y, self.graph.tensors[node.output].quant)

    def _quantize(self, node: Node, args: list) -> torch.Tensor:
        # float32 -> int8, and int8 -> int8 requantization alike: rounded once, as the unit
        # convolution that ships the latter (quant/single_rounding.py) computes.
        from_float = self.graph.tensors[node.inputs[0]].dtype == "float32"
        return fake_quantize(self._record(node, args[0]), self.graph.tensors[node.output].quant,
                             float32_quotient=from_float)

    def _default_quantized(self, node: Node, args: list) -> torch.Tensor:
        out = self.graph.tensors[node.output].quant
        clamp = getattr(node.op, "clamp", (None, None))
        return fake_quantize(self._record(node, float_ops.KERNELS[node.op_name](node.op, *args), clamp), out, clamp)

    _QUANTIZED_RULES = {
        "Conv": _weighted_quantized,
        "ConvTranspose": _weighted_quantized,
        "Linear": _weighted_quantized,
        "AvgPool": _avg_pool_quantized,
        "GlobalAvgPool": _global_avg_pool_quantized,
        "Sign": lambda self, node, args: sign_ste(args[0] - node.op.threshold),
        "Quantize": _quantize,
    }

    def _quantized(self, node: Node, args: list) -> torch.Tensor:
        return self._QUANTIZED_RULES.get(node.op_name, GraphModule._default_quantized)(self, node, args)

    def _run_node(self, node: Node, args: list) -> torch.Tensor:
        if is_quantized(self.graph, node):
            return self._quantized(node, args)
        return float_ops.KERNELS[node.op_name](node.op, *args)

    def step(self, node: Node, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Run one node of the graph on the activations in ``values`` (by tensor name)."""
        args = []
        for slot, name in enumerate(node.inputs):
            if name is None:
                args.append(None)
            elif (node.name, slot) in self._slots:
                args.append(self._constant(node, slot))
            else:
                args.append(values[name])
        return self._run_node(node, args)

    def forward(self, inputs, keep: bool = False):
        """Run on a tensor (one-input graph) or a dict by input name.

        Returns the single output tensor, or a dict of outputs (several outputs), or with
        ``keep`` a dict of every tensor computed.
        """
        g = self.graph
        if not isinstance(inputs, Mapping):
            inputs = {g.inputs[0]: inputs}
        values = dict(inputs)
        for node in g.nodes:
            values[node.output] = self.step(node, values)
        if keep:
            return values
        if len(g.outputs) == 1:
            return values[g.outputs[0]]
        return {name: values[name] for name in g.outputs}


def build_module(graph: Graph, latent: Optional[Mapping[str, tuple]] = None) -> GraphModule:
    """``GraphModule`` for ``graph`` (float or quantized); see :class:`GraphModule`."""
    return GraphModule(graph, latent)


def run_numpy(graph: Graph, x: np.ndarray, batch_size: int = 512, dtype=torch.float32) -> np.ndarray:
    """Run a one-output graph on a numpy batch without gradients; float32 numpy result."""
    module = build_module(graph).to(dtype).eval()
    outs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(dtype)
            outs.append(module(xb).float().numpy())
    return np.concatenate(outs, axis=0)

"""Float graph -> quantized graph (int8 PTQ, DoReFa wKaM, XNOR w1a1), DESIGN §2 and the IR's
quantized convention.

Input: a prepared float graph (BatchNorm folded, activations fused into clamps), calibration
data (or precomputed ranges) and a precision per node. Output: a new graph where

* every quantized layer reads and writes int8 tensors with per-tensor asymmetric params; the
  float graph inputs pass through a Quantize node, quantized graph outputs through a Dequantize
  node that writes the original output name; an ``fp32`` layer sits between Dequantize and Quantize;
* Conv/Linear weights are int8 per output channel (zero point 0) from the precision's weight
  quantizer, the bias int32 ``round(b / (s_in * s_w[c]))`` with scale ``s_in * s_w[c]``;
* a ``wKaM`` layer's input tensor is on the DoReFa grid (scale ``1/(2^M-1)``, zp -128, qmax
  ``-128 + 2^M - 1``): the producer requantizes straight into it when only such layers read it
  (through pools and reshapes), else a Quantize node (int8 -> int8) makes the DoReFa copy and the
  other readers (e.g. a residual Add) keep the int8 tensor;
* a ``w1a1`` layer reads the output of a Sign node (binary grid); a conv with padding reads it
  through an explicit ``Pad(value=+1)`` and has zero pads itself (one-padding).

Activation params: tensors tied by ops that keep their input's grid share one QuantParams, taken
from a fixed output grid, the DoReFa grid or the members' calibrated ranges (``param_groups``).

Before the integer graph is built (``prepare_for_quantization``), two float rewrites adapt the
model to its low-bit layers: a ReLU read only by XNOR layers gives way to their sign
(``passes.binarize_relu_inputs``), and activations read by DoReFa layers are rescaled so that their
clip level (the least-squared-error top of the M-bit grid on the calibration data,
``calibrate.dorefa_clip``) becomes 1, without changing the float function
(``passes.rescale_for_dorefa``; a residual stream is rescaled as a whole).

XNOR and folded BatchNorm: binarizing a folded weight ``w'_c = k_c * w_c`` gives
``sign(w'_c) * mean|w'_c| = k_c * sign(w_c) * mean|w_c|``, i.e. the BatchNorm scale goes into the
per-channel scale ``alpha_c`` (a negative ``k_c`` flips the channel's signs) and its shift into the
int32 bias, so binarizing after folding is exact.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional, Union

import numpy as np

from ..errors import UserError
from ..ir import Graph, Node, QuantParams, Tensor, verify
from ..ir import ops
from ..passes import binarize_relu_inputs, rescale_for_dorefa
from .calibrate import Range, calibrate, dorefa_clips, quantized_ranges
from .param_groups import group_params
from .precision import Precision, resolve_precisions
from .quantizers import (
    asymmetric_params,
    binary_params,
    dorefa_params,
    round_half_away,
    sign_threshold,
    weight_quantizer,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

class _Quantizer:
    """One quantization of one graph; ``build()`` returns the new graph."""

    def __init__(self, graph: Graph, precisions: dict, ranges: Mapping[str, Range]):
        self.src = graph
        self.prec = precisions
        self.ranges = ranges
        self.out = Graph(name=graph.name, source_layout=graph.source_layout, metadata=dict(graph.metadata))
        self.int_names = {}    # source tensor -> its int8 tensor in the new graph
        self.float_names = {}  # source tensor -> its float32 tensor in the new graph
        self.derived = {}      # (kind, source tensor, detail) -> derived tensor name (Sign, Pad, requant)
        self.params = group_params(graph, precisions, ranges)

    # -- tensors ----------------------------------------------------------------------------------

    def _add(self, base: str, like: Tensor, dtype: str, quant=None, data=None) -> str:
        if dtype != "float32" and base in self.src.outputs:
            base = f"{base}_q"  # the float graph output written by the final Dequantize keeps the name
        name = self.out.unique_tensor_name(base)
        shape = like.shape if data is None else data.shape
        self.out.add_tensor(Tensor(name, shape, dtype, like.layout, quant, data))
        return name

    def _emit(self, name: str, op, inputs: list, output: str, precision: str, src: Optional[Node] = None) -> None:
        self.out.add_node(Node(
            self.out.unique_node_name(name), op, inputs, output, precision,
            algorithm=None if src is None else src.algorithm,
            merged_from=() if src is None else src.merged_from,
            source=None if src is None else src.source,
        ))

    def _int_input(self, name: str) -> str:
        """The int8 version of activation ``name``, quantizing the float one on first use."""
        if name not in self.int_names:
            src = self.src.tensors[name]
            q = self._add(f"{name}_q", src, "int8", self.params[name])
            self._emit(f"quantize_{name}", ops.Quantize(), [self._float_input(name)], q, "int8")
            self.int_names[name] = q
        return self.int_names[name]

    def _float_input(self, name: str) -> str:
        """The float32 version of activation ``name``, dequantizing the int8 one on first use."""
        if name not in self.float_names:
            f = self._add(f"{name}_f", self.src.tensors[name], "float32")
            self._emit(f"dequantize_{name}", ops.Dequantize(), [self.int_names[name]], f, "fp32")
            self.float_names[name] = f
        return self.float_names[name]

    def _derived(self, key: tuple, make) -> str:
        if key not in self.derived:
            self.derived[key] = make()
        return self.derived[key]

    def _on_grid(self, name: str, params: QuantParams) -> str:
        """Int8 ``name`` on ``params``' grid: itself, or an int8 -> int8 requantization of it."""
        tensor = self._int_input(name)
        if self.out.tensors[tensor].quant == params:
            return tensor

        def requantize():
            q = self._add(f"{name}_a{params.levels}", self.src.tensors[name], "int8", params)
            self._emit(f"requantize_{name}", ops.Quantize(), [tensor], q, "int8")
            return q

        return self._derived(("requant", name, params.levels), requantize)

    def _binary(self, name: str) -> str:
        tensor = self._int_input(name)
        if self.out.tensors[tensor].quant == binary_params():
            return tensor

        def sign():
            b = self._add(f"{name}_sign", self.src.tensors[name], "int8", binary_params())
            self._emit(f"binarize_{name}", self._sign_op(name, tensor), [tensor], b, "w1a1")
            return b

        return self._derived(("sign", name, None), sign)

    def _sign_op(self, name: str, tensor: str) -> ops.Sign:
        """The Sign of ``name`` (int8 ``tensor``): threshold 0, but for a tensor that is never
        negative (a pooled or gated ReLU output, which ``binarize_relu_inputs`` cannot move the sign
        before), where ``x >= 0`` would be +1 everywhere, the grid value nearest its calibrated mean
        (at least one step above 0) less half a step: the signs split the values about their mean,
        and no runtime's rounding can move the threshold across a grid value."""
        r = self.ranges.get(name)
        if r is None or r.lo < 0 or r.mean is None:
            return ops.Sign()
        scale = float(self.out.tensors[tensor].quant.scale[0])
        return ops.Sign(threshold=sign_threshold(max(1, int(round_half_away(r.mean / scale))), scale))

    def _one_padded(self, name: str, pads: tuple) -> str:
        binary = self._binary(name)

        def pad():
            src = self.out.tensors[binary]
            op = ops.Pad(pads=tuple(pads), value=1.0)
            shape = op.infer([src.shape])
            p = self.out.unique_name(f"{name}_onepad")
            self.out.add_tensor(Tensor(p, shape, "int8", src.layout, binary_params()))
            self._emit(f"onepad_{name}", op, [binary], p, "w1a1")
            return p

        return self._derived(("pad", name, tuple(pads)), pad)

    # -- nodes ------------------------------------------------------------------------------------

    def _weighted(self, node: Node, precision: Precision) -> None:
        op = node.op
        x_name = node.inputs[0]
        if precision.kind == "xnor":
            if isinstance(op, ops.Conv) and any(op.pads):
                x = self._one_padded(x_name, op.pads)
                op = dataclasses.replace(op, pads=(0,) * len(op.pads))
            else:
                x = self._binary(x_name)
        elif precision.kind == "dorefa":
            x = self._on_grid(x_name, dorefa_params(precision.act_bits))
        else:
            x = self._int_input(x_name)
        s_in = float(self.out.tensors[x].quant.scale[0])
        w_src = self.src.tensors[node.inputs[1]]
        qw = weight_quantizer(precision).integer(w_src.data.astype(np.float64))
        w = self._add(w_src.name, w_src, "int8", QuantParams(qw.scales, np.zeros(qw.scales.size), 0, -127, 127), qw.values)
        inputs = [x, w]
        b_name = node.inputs[2] if len(node.inputs) > 2 else None
        if b_name is not None:
            b_src = self.src.tensors[b_name]
            bias_scale = s_in * qw.scales
            qb = np.clip(round_half_away(b_src.data.astype(np.float64) / bias_scale), INT32_MIN, INT32_MAX)
            bq = QuantParams(bias_scale, np.zeros(bias_scale.size), 0, INT32_MIN, INT32_MAX)
            inputs.append(self._add(b_src.name, b_src, "int32", bq, qb.astype(np.int32)))
        out = self._node_output(node)
        self._emit(node.name, op, inputs, out, precision.name, node)

    def _node_output(self, node: Node) -> str:
        src = self.src.tensors[node.output]
        base = node.output if node.output not in self.src.outputs else f"{node.output}_q"
        out = self._add(base, src, "int8", self.params[node.output])
        self.int_names[node.output] = out
        return out

    def _plain_quantized(self, node: Node) -> None:
        inputs = [None if i is None else self._constant_or_int(node, i) for i in node.inputs]
        out = self._node_output(node)
        self._emit(node.name, node.op, inputs, out, "w1a1" if node.op.FIXED_GRID == "binary" else "int8", node)

    def _constant_or_int(self, node: Node, name: str) -> str:
        src = self.src.tensors[name]
        if not src.is_constant:
            return self._int_input(name)
        params = asymmetric_params(float(src.data.min()), float(src.data.max()))
        s, zp = float(params.scale[0]), int(params.zero_point[0])
        q = np.clip(round_half_away(src.data.astype(np.float64) / s) + zp, -128, 127).astype(np.int8)
        return self._add(name, src, "int8", params, q)

    def _float(self, node: Node) -> None:
        inputs = []
        for name in node.inputs:
            if name is None:
                inputs.append(None)
            elif self.src.tensors[name].is_constant:
                src = self.src.tensors[name]
                inputs.append(self._add(name, src, src.dtype, src.quant, src.data))
            else:
                inputs.append(self._float_input(name))
        src = self.src.tensors[node.output]
        out = self._add(node.output, src, "float32")
        self.float_names[node.output] = out
        self._emit(node.name, node.op, inputs, out, "fp32", node)

    def build(self) -> Graph:
        for name in self.src.inputs:
            src = self.src.tensors[name]
            self.float_names[name] = self._add(name, src, src.dtype, src.quant)
        self.out.inputs = list(self.src.inputs)
        for node in self.src.nodes:
            precision = self.prec[node.name]
            if not precision.quantized:
                self._float(node)
            elif node.op.WEIGHTED:
                self._weighted(node, precision)
            else:
                self._plain_quantized(node)
            if node.output in self.src.outputs and precision.quantized:
                self._dequantize_output(node.output)
        self.out.outputs = list(self.src.outputs)
        return verify(self.out.prune())

    def _dequantize_output(self, name: str) -> None:
        f = self._add(name, self.src.tensors[name], "float32")
        self._emit(f"dequantize_{name}", ops.Dequantize(), [self.int_names[name]], f, "fp32")
        self.float_names[name] = f


def _layers_of_kind(precisions: Mapping[str, Precision], kind: str) -> set:
    return {name for name, p in precisions.items() if p.kind == kind}


def _is_dorefa(node: Node, precisions: Mapping[str, Precision]) -> bool:
    """A DoReFa layer (nodes the float rewrites added have no precision of their own yet)."""
    return node.name in precisions and precisions[node.name].kind == "dorefa"


def binary_rewritten(graph: Graph, precisions: Mapping[str, Precision]) -> Graph:
    """``graph`` with the ReLUs its XNOR layers read moved after their sign
    (``passes.binarize_relu_inputs``): of the float rewrites of :func:`prepare_for_quantization`
    the one that changes which nodes the integer graph has (the DoReFa rescaling changes values
    only), so the nodes a plan ships with can be known without the rest of that preparation."""
    return binarize_relu_inputs.run(graph, _layers_of_kind(precisions, "xnor"))


def prepare_for_quantization(graph: Graph, calib_x: np.ndarray, precisions: Mapping[str, Precision],
                             method: str = "minmax", device: str = "cpu") -> tuple:
    """The float graph the quantized one is derived from, and its calibrated ranges.

    ``passes.binarize_relu_inputs`` for the XNOR layers, calibration on ``calib_x``, then
    ``passes.rescale_for_dorefa`` to the DoReFa clip levels (the rescaled tensors' ranges divided by
    the same factor); with XNOR layers, ranges observed on the quantized graph
    (``binary_aware_ranges``), except at the graph's outputs, which take the ranges of the model as
    given: fine-tuning distils that model's outputs (logits) into the quantized one, so those are
    the values the output grid must hold (from the rewritten graph, whose binary layers' ReLUs are
    gone, the ResNet-8 logits' range was 30 times too wide and the fine-tuned classifier used 6 of
    its 256 levels). Returns
    ``(float graph, ranges)``; these two, given back to :func:`quantize_graph`, re-derive the
    integer graph after its weights are fine-tuned.
    """
    source = graph
    graph = binary_rewritten(graph, precisions)
    ranges = calibrate(graph, calib_x, method, device=device)
    act_bits = {n.inputs[0]: precisions[n.name].act_bits for n in graph.nodes if _is_dorefa(n, precisions)}
    clips = dorefa_clips(graph, calib_x, act_bits, device=device) if act_bits else {}
    graph, factors = rescale_for_dorefa.run(graph, clips)
    ranges.update({name: Range(ranges[name].lo / r, ranges[name].hi / r) for name, r in factors.items()})
    if any(p.kind == "xnor" for p in precisions.values()):
        ranges = binary_aware_ranges(graph, ranges, precisions, calib_x, method, device)
        ranges.update(calibrate(source, calib_x, method, names=set(graph.outputs), device=device))
    return graph, ranges


BINARY_RECALIBRATION_PASSES = 2


def binary_aware_ranges(graph: Graph, ranges: Mapping[str, Range], precisions: Mapping[str, Precision],
                        calib_x: np.ndarray, method: str, device: str = "cpu") -> dict:
    """Activation ranges of a graph with XNOR layers, observed on its quantized form.

    The float graph's ranges do not describe a binary layer's output: ``alpha_c * (K - 2 *
    popcount)`` over +-1 inputs is several times smaller than the float conv's output in these
    nets, and the layers, residual adds and pools after it inherit the mismatch. On the float
    ranges, the int8 tensors after the third binary layer of ResNet-8 used 6 to 9 of their 256
    levels (the classifier saw 4 distinct values and 65% of the samples tied for the top logit).
    Each pass derives the integer graph on the current ranges and observes every tensor as that
    graph computes it from its quantized inputs (``calibrate.quantized_ranges``); the second pass
    sees the upstream layers already on their new grids. The caller gives the graph's outputs the
    source model's ranges afterwards (``prepare_for_quantization``).
    """
    resolved = resolve_precisions(graph, {name: p.name for name, p in precisions.items()})
    ranges = dict(ranges)
    for _ in range(BINARY_RECALIBRATION_PASSES):
        quantized = _Quantizer(graph, resolved, ranges).build()
        ranges.update(quantized_ranges(quantized, calib_x, set(ranges), method, device=device))
    return ranges


def quantize_graph(graph: Graph, calib_x: Optional[np.ndarray] = None,
                   precisions: Union[str, Precision, Mapping[str, str]] = "int8", method: str = "minmax",
                   ranges: Optional[Mapping[str, Range]] = None) -> Graph:
    """Quantize a prepared float graph; see the module docstring for the rules.

    ``precisions``: one precision for the whole model or a map node name -> precision
    (``quant/precision.py``). Without ``ranges`` the graph goes through
    :func:`prepare_for_quantization` with ``calib_x``; with ``ranges``, ``graph`` and ``ranges``
    must be what that function returned (so a fine-tuned graph is re-derived on the activation
    grids it was trained with).
    """
    verify(graph)
    leftover = [n.name for n in graph.nodes if isinstance(n.op, ops.BatchNorm)]
    if leftover:
        raise UserError(f"fold BatchNorm before quantizing (node {leftover[0]}): run the float passes first")
    resolved = resolve_precisions(graph, precisions)
    if not any(p.quantized for p in resolved.values()):
        out = graph.copy()
        for node in out.nodes:
            node.precision = "fp32"
        return out
    if ranges is None:
        if calib_x is None:
            raise UserError("quantization needs calibration data")
        graph, ranges = prepare_for_quantization(graph, calib_x, resolved, method)
        resolved = resolve_precisions(graph, precisions)  # nodes the rewrites added inherit theirs
    result = _Quantizer(graph, resolved, ranges).build()
    result.metadata = {**result.metadata, "calibration": method}
    return result

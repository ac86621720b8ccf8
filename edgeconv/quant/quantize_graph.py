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

Activation params. Ops whose int8 kernels need the same params on input and output (MaxPool,
AvgPool, GlobalAvgPool, Reshape, Pad, Concat — TFLite's rule) and a standalone Clip (a clamp of
raw int8 values, exact on every runtime) tie their tensors into one group
that shares a single QuantParams. A group's params are, in order of priority: binary (it holds a
Sign output), probability (a Softmax/Sigmoid output: scale 1/256, zp -128), DoReFa (a ``wKaM``
layer reads it), else asymmetric int8 over the union of its members' calibrated ranges. A member
produced with a fused clamp has its range clipped by the clamp, and a fully bounded clamp
(ReLU6, Hardtanh) gives the range exactly (ReLU6 -> [0, 6]).

Before the integer graph is built (``prepare_for_quantization``), two float rewrites adapt the
model to its low-bit layers: a ReLU read only by XNOR layers gives way to their sign
(``binarize_relu_inputs``), and activations read by DoReFa layers are rescaled so that their
clip level (the least-squared-error top of the M-bit grid on the calibration data,
``calibrate.dorefa_clip``) becomes 1, without changing the float function (``rescale_for_dorefa``;
a residual stream is rescaled as a whole).

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
from .calibrate import Range, calibrate, dorefa_clips, quantized_ranges
from .precision import Precision, resolve_precisions
from .quantizers import (
    asymmetric_params,
    binary_params,
    dorefa_params,
    probability_params,
    round_half_away,
    sign_threshold,
    weight_quantizer,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# The params of each fixed output grid (``Op.FIXED_GRID``).
FIXED_GRID_PARAMS = {"binary": binary_params, "probability": probability_params}


def _shares_input_params(op: ops.Op) -> bool:
    """Whether ``op``'s output joins its inputs' params group: ops whose integer kernels keep the
    input's quantization (``KEEPS_GRID``), and a standalone int8 Clip, which is then a clamp of raw
    values (exact on every runtime: MAXIMUM/MINIMUM, TFLite's RELU6 kernel), where differing params
    would need TFLite's requantizing RELU, which only some clamp ranges have."""
    return op.KEEPS_GRID or isinstance(op, ops.Clip)


class _Groups:
    """Union-find over tensor names: tensors that must share one QuantParams."""

    def __init__(self):
        self.parent = {}

    def find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def members(self) -> dict:
        out = {}
        for name in list(self.parent):
            out.setdefault(self.find(name), []).append(name)
        return out


def _clamp_of(node: Optional[Node]) -> tuple:
    if node is None:
        return (None, None)
    if isinstance(node.op, ops.Clip):
        return (node.op.lo, node.op.hi)
    return getattr(node.op, "clamp", (None, None))


def _member_range(name: str, producer: Optional[Node], ranges: Mapping[str, Range]) -> Range:
    lo, hi = _clamp_of(producer)
    if lo is not None and hi is not None:
        return Range(float(lo), float(hi))
    if name not in ranges:
        raise UserError(f"no calibration range for tensor {name}")
    r = ranges[name]
    return Range(r.lo if lo is None else max(r.lo, lo), r.hi if hi is None else min(r.hi, hi))


class _Quantizer:
    """One quantization of one graph; ``build()`` returns the new graph."""

    def __init__(self, graph: Graph, precisions: dict, ranges: Mapping[str, Range]):
        self.src = graph
        self.prec = precisions
        self.ranges = ranges
        self.producers = {n.output: n for n in graph.nodes}
        self.out = Graph(name=graph.name, source_layout=graph.source_layout, metadata=dict(graph.metadata))
        self.int_names = {}    # source tensor -> its int8 tensor in the new graph
        self.float_names = {}  # source tensor -> its float32 tensor in the new graph
        self.derived = {}      # (kind, source tensor, detail) -> derived tensor name (Sign, Pad, requant)
        self.params = self._group_params()

    # -- planning ---------------------------------------------------------------------------------

    def _quantized(self, node: Node) -> bool:
        return self.prec[node.name].quantized

    def _group_params(self) -> dict:
        groups = _Groups()
        dorefa_bits = {}
        fixed = {}
        for node in self.src.nodes:
            if not self._quantized(node):
                continue
            acts = [i for i in node.inputs if i is not None and not self.src.tensors[i].is_constant]
            for name in acts + [node.output]:
                groups.find(name)
            if _shares_input_params(node.op):
                for name in acts:
                    groups.union(name, node.output)
            if node.op.FIXED_GRID is not None:
                fixed[node.output] = FIXED_GRID_PARAMS[node.op.FIXED_GRID]()
            precision = self.prec[node.name]
            if precision.kind == "dorefa":
                dorefa_bits[node.inputs[0]] = precision.act_bits
        params = {}
        for root, members in groups.members().items():
            params.update({m: self._params_for(members, fixed, dorefa_bits) for m in members})
        return params

    def _only_dorefa_readers(self, members: list, act_bits: int) -> bool:
        """True when every reader of every tensor of a params group is a DoReFa layer with
        ``act_bits``-bit inputs or an op that shares its params; a group other layers also read
        (a residual stream, the input of a squeeze-excitation's pool and multiply) keeps its int8
        grid and the DoReFa layer reads a requantized copy of it."""
        for name in members:
            for reader in self.src.consumers(name):
                if reader.op.KEEPS_GRID:
                    continue
                p = self.prec[reader.name]
                if p.kind != "dorefa" or p.act_bits != act_bits:
                    return False
        return True

    def _params_for(self, members: list, fixed: dict, dorefa_bits: dict) -> QuantParams:
        for m in members:
            if m in fixed:
                return fixed[m]
        for m in members:
            if m in dorefa_bits and self._only_dorefa_readers(members, dorefa_bits[m]):
                return dorefa_params(dorefa_bits[m])
        spans = [_member_range(m, self.producers.get(m), self.ranges) for m in members]
        return asymmetric_params(min(r.lo for r in spans), max(r.hi for r in spans))

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


def _rescalable_chain(graph: Graph, producer: Node) -> Optional[tuple]:
    """Tensors fed by ``producer`` through scale-equivariant ops (``Op.SCALE_EQUIVARIANT``: a
    positive rescaling passes them unchanged), and the nodes reading them."""
    chain, readers, frontier = [producer.output], [], [producer.output]
    while frontier:
        name = frontier.pop()
        if name in graph.outputs:
            return None
        for consumer in graph.consumers(name):
            if consumer.op.SCALE_EQUIVARIANT:
                chain.append(consumer.output)
                frontier.append(consumer.output)
            elif _is_weighted_reader(consumer, name):
                readers.append(consumer)
            else:
                return None
    return chain, readers


@dataclasses.dataclass
class ScaleGroup:
    """Activations that one positive factor ``r`` must divide together (a residual stream).

    ``tensors``: the members; ``producers``: the Conv/Linear nodes writing a member (their weights,
    bias and clamp are divided by ``r``); ``joins``: Add and Mul nodes writing a member (their clamp
    is divided); ``readers``: the Conv/Linear nodes reading a member as their input (their weights
    are multiplied by ``r``). A node can be both a producer of one group and a reader of another.
    """

    tensors: set
    producers: list
    joins: list
    readers: list


def _is_weighted_reader(node: Node, name: str) -> bool:
    return node.op.WEIGHTED and node.inputs[0] == name and name not in node.inputs[1:]


def _scaled_inputs(node: Node) -> Optional[list]:
    """The inputs of ``node`` that share a positive factor with its output, or None.

    Scale-equivariant ops (``Op.SCALE_EQUIVARIANT``): their input. Add: both inputs (``clamp(a/r + b/r) = clamp(a + b)/r``
    with the clamp's bounds divided by ``r``). Mul: its first input (``clamp(a/r * b)`` likewise),
    unless it squares it.
    """
    if node.op.SCALE_EQUIVARIANT:
        return [node.inputs[0]]
    if isinstance(node.op, ops.Add):
        return list(node.inputs)
    if isinstance(node.op, ops.Mul) and node.inputs[0] != node.inputs[1]:
        return [node.inputs[0]]
    return None


def scale_group(graph: Graph, start: str) -> Optional[ScaleGroup]:
    """The scale group of activation ``start``, or None when some member cannot be rescaled.

    Members are connected through the nodes of :func:`_scaled_inputs` (an input it names and the
    output share the factor). Every member must be produced by a Conv/Linear or by such a node,
    and read only through such a node or as the input of a Conv/Linear; a graph input or output,
    a constant operand or any other op stops the rescaling.
    """
    group = ScaleGroup(set(), [], [], [])
    frontier = [start]
    while frontier:
        name = frontier.pop()
        if name in group.tensors:
            continue
        if name in graph.outputs or graph.tensors[name].is_constant:
            return None
        group.tensors.add(name)
        producer = graph.producer(name)
        if producer is None:
            return None
        if producer.op.WEIGHTED:
            group.producers.append(producer)
        elif _scaled_inputs(producer) is not None:
            frontier.extend(_scaled_inputs(producer))
            if hasattr(producer.op, "clamp"):
                group.joins.append(producer)
        else:
            return None
        for consumer in graph.consumers(name):
            if name in (_scaled_inputs(consumer) or ()):
                frontier.append(consumer.output)
            elif _is_weighted_reader(consumer, name):
                group.readers.append(consumer)
            else:
                return None
    return group


def _is_dorefa(node: Node, precisions: Mapping[str, Precision]) -> bool:
    """A DoReFa layer (nodes the float rewrites added have no precision of their own yet)."""
    return node.name in precisions and precisions[node.name].kind == "dorefa"


def _dorefa_inputs(group: ScaleGroup, precisions: Mapping[str, Precision]) -> list:
    return [n.inputs[0] for n in group.readers if _is_dorefa(n, precisions) and n.inputs[0] in group.tensors]


def _scaled_clamp(clamp: tuple, r: float) -> tuple:
    return tuple(None if bound is None else bound / r for bound in clamp)


def _rescale_group(graph: Graph, group: ScaleGroup, r: float) -> None:
    """Divide ``group``'s activations by ``r`` in ``graph`` (in place), keeping the float function."""
    for producer in group.producers:
        for name in producer.inputs[1:]:
            if name is not None:
                t = graph.tensors[name]
                t.data = (t.data / r).astype(np.float32)
        producer.op = dataclasses.replace(producer.op, clamp=_scaled_clamp(producer.op.clamp, r))
    for join in group.joins:
        join.op = dataclasses.replace(join.op, clamp=_scaled_clamp(join.op.clamp, r))
    for reader in group.readers:
        t = graph.tensors[reader.inputs[1]]
        t.data = (t.data * r).astype(np.float32)


def rescale_for_dorefa(graph: Graph, ranges: Mapping[str, Range], precisions: Mapping[str, Precision],
                       clips: Optional[Mapping[str, float]] = None) -> tuple:
    """Fit activations read by DoReFa layers into ``[0, 1]`` without changing the float function.

    DoReFa activations are ``clip(x, 0, 1)``. For each scale group (:func:`scale_group`) holding
    the input of a DoReFa layer, with ``r`` the largest clip level of its DoReFa-read members
    (``clips``, name -> level; the top of the calibrated range for a name it lacks), the
    producers' weights, biases and clamps and the Add/Mul clamps are divided by ``r`` and the
    readers' weights multiplied by ``r``. Conv, Linear, Add, Mul (in one input), clamps, pools
    and reshapes are positively homogeneous (``f(x / r) = f(x) / r`` once the clamp bounds are
    divided too), so the float outputs are unchanged while those inputs now reach 1 at ``r``; a
    residual stream (an Add's output read by the next block's DoReFa conv and by its shortcut) is
    rescaled as a whole. Values above ``r`` are clipped by the DoReFa grid. Returns
    ``(new graph, new ranges)``; the arguments are not modified.
    """
    out, new_ranges, clips = graph.copy(), dict(ranges), dict(clips or {})
    seen = set()
    for node in list(out.nodes):
        if not _is_dorefa(node, precisions) or node.inputs[0] in seen:
            continue
        group = scale_group(out, node.inputs[0])
        if group is None:
            continue
        seen |= group.tensors
        r = max(clips.get(t, new_ranges[t].hi) for t in _dorefa_inputs(group, precisions))
        if r <= 0 or r == 1.0:
            continue
        _rescale_group(out, group, r)
        for t in group.tensors:
            new_ranges[t] = Range(new_ranges[t].lo / r, new_ranges[t].hi / r)
    return out, new_ranges


def _is_xnor_reader(node: Node, name: str, precisions: Mapping[str, Precision]) -> bool:
    return node.op.WEIGHTED and node.inputs[0] == name and precisions[node.name].kind == "xnor"


def binarize_relu_inputs(graph: Graph, precisions: Mapping[str, Precision]) -> Graph:
    """Let XNOR layers binarize the pre-activation of a ReLU-type clamp, not its output.

    ``sign(relu(x))`` is +1 everywhere (``relu(x) >= 0``), so a binary layer reading a ReLU output
    would see a constant. As in binary-net practice the sign takes the activation's place:
    ``sign(x) = +1`` exactly where ``relu(x) > 0`` or ``x = 0``, which keeps the information the
    ReLU carried. For a producer with a fused clamp ``lo == 0`` (Conv, Linear, Add, Mul):

    * when it reaches, through max/avg pools and reshapes only, nothing but ``w1a1`` layers, its
      clamp is dropped;
    * else, when ``w1a1`` layers read it directly, it writes its pre-activation, which they read,
      and an explicit Clip node restores the ReLU output for its other readers (a residual stream).

    The float function changes: fine-tuning recovers the accuracy (the unmodified graph stays the
    teacher).
    """
    out = graph.copy()
    for producer in list(out.nodes):
        clamp = getattr(producer.op, "clamp", (None, None))
        if clamp[0] != 0.0 or producer.output in out.outputs:
            continue
        found = _rescalable_chain(out, producer)
        if found is not None and found[1] and all(precisions[n.name].kind == "xnor" for n in found[1]):
            producer.op = dataclasses.replace(producer.op, clamp=(None, None))
            continue
        binary_readers = [n for n in out.consumers(producer.output) if _is_xnor_reader(n, producer.output, precisions)]
        if not binary_readers:
            continue
        post = out.tensors[producer.output]
        pre = out.unique_name(f"{producer.output}_preact")
        out.add_tensor(Tensor(pre, post.shape, post.dtype, post.layout))
        relu = Node(out.unique_name(f"{producer.name}_relu"), ops.Clip(lo=0.0, hi=clamp[1]), [pre], post.name,
                    source=producer.source)
        producer.op = dataclasses.replace(producer.op, clamp=(None, None))
        producer.output = pre
        out.nodes.insert(out.nodes.index(producer) + 1, relu)
        for reader in binary_readers:
            reader.inputs[0] = pre
    return verify(out)


def prepare_for_quantization(graph: Graph, calib_x: np.ndarray, precisions: Mapping[str, Precision],
                             method: str = "minmax") -> tuple:
    """The float graph the quantized one is derived from, and its calibrated ranges.

    ``binarize_relu_inputs``, calibration on ``calib_x``, then ``rescale_for_dorefa``; with XNOR
    layers, ranges observed on the quantized graph (``binary_aware_ranges``), except at the graph's
    outputs, which take the ranges of the model as given: fine-tuning distils that model's outputs
    (logits) into the quantized one, so those are the values the output grid must hold (from the
    rewritten graph, whose binary layers' ReLUs are gone, the ResNet-8 logits' range was 30 times
    too wide and the fine-tuned classifier used 6 of its 256 levels). Returns
    ``(float graph, ranges)``; these two, given back to :func:`quantize_graph`, re-derive the
    integer graph after its weights are fine-tuned.
    """
    source = graph
    graph = binarize_relu_inputs(graph, precisions)
    ranges = calibrate(graph, calib_x, method)
    act_bits = {n.inputs[0]: precisions[n.name].act_bits for n in graph.nodes if _is_dorefa(n, precisions)}
    clips = dorefa_clips(graph, calib_x, act_bits) if act_bits else {}
    graph, ranges = rescale_for_dorefa(graph, ranges, precisions, clips)
    if any(p.kind == "xnor" for p in precisions.values()):
        ranges = binary_aware_ranges(graph, ranges, precisions, calib_x, method)
        ranges.update(calibrate(source, calib_x, method, names=set(graph.outputs)))
    return graph, ranges


BINARY_RECALIBRATION_PASSES = 2


def binary_aware_ranges(graph: Graph, ranges: Mapping[str, Range], precisions: Mapping[str, Precision],
                        calib_x: np.ndarray, method: str) -> dict:
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
        ranges.update(quantized_ranges(quantized, calib_x, set(ranges), method))
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

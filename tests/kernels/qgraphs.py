"""Small quantized IR graphs built directly from IR classes, for the C backend tests.

``GraphBuilder`` adds float32 -> Quantize -> int8 layers -> Dequantize -> float32 models following
the project's quantized-IR convention (per-channel int8 weights with zero point 0, int32 biases of
scale s_in * s_w, per-tensor int8 activations). Output scales are set from the layer's reference
output on a calibration batch so values spread over the int8 range.
"""

from __future__ import annotations

import numpy as np

from edgeconv.ir import Graph, Node, QuantParams, Tensor, infer_shapes, ops, verify
from edgeconv.reference import executor


class GraphBuilder:
    def __init__(self, input_shape: tuple, seed: int = 0, layout: str = "NCHW", int8_input: bool = False):
        self.rng = np.random.default_rng(seed)
        self.g = Graph(name="test_model", source_layout=layout)
        self.calib = self.rng.uniform(-1, 1, size=(8,) + tuple(input_shape[1:])).astype(np.float32)
        self.count = 0
        if int8_input:
            self.g.add_tensor(Tensor("input", input_shape, "int8", quant=QuantParams(1 / 100, 3)))
            self.calib = self.rng.integers(-128, 128, size=(8,) + tuple(input_shape[1:])).astype(np.int8)
        else:
            self.g.add_tensor(Tensor("input", input_shape, "float32"))
        self.g.inputs = ["input"]
        self.current = "input"

    # -- plumbing -------------------------------------------------------------------------------
    def _name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def _values(self, name: str) -> np.ndarray:
        return executor.run(self.g, self.calib, keep=True)[name]

    def add_node(self, op, inputs, dtype="int8", quant=None, precision="int8", base=None, algorithm=None,
                 auto_scale: bool = False, qrange=(-128, 127)) -> str:
        name = self._name(base or op.NAME.lower())
        shapes = [None if i is None else self.g.tensors[i].shape for i in inputs]
        shape = op.infer(shapes)
        placeholder = quant or (QuantParams(1.0, 0) if dtype == "int8" else None)
        self.g.add_tensor(Tensor(name, shape, dtype, quant=placeholder))
        self.g.add_node(Node(name, op, list(inputs), name, precision=precision, algorithm=algorithm))
        self.g.outputs = [name]
        if auto_scale:
            self._calibrate(name, op, inputs, qrange)
        self.current = name
        return name

    def _calibrate(self, name: str, op, inputs, qrange) -> None:
        """Pick the output scale from the float value of the accumulator on the calibration data."""
        acc = self._float_output(op, inputs)
        lo, hi = float(min(acc.min(), 0.0)), float(max(acc.max(), 1e-3))
        levels = qrange[1] - qrange[0]
        if levels < 255:  # a DoReFa activation: clip(x, 0, max) on few levels, zero point at qmin
            scale, zp = hi / levels, qrange[0]
        else:
            scale = max(hi - lo, 1e-3) / levels * 0.9
            zp = int(np.clip(round(qrange[0] - lo / scale), qrange[0], qrange[1]))
        self.g.tensors[name].quant = QuantParams(scale, zp, qmin=qrange[0], qmax=qrange[1])

    def _float_output(self, op, inputs) -> np.ndarray:
        from edgeconv.reference import float_kernels
        vals = executor.run(self.g, self.calib, keep=True) if len(self.g.nodes) > 1 else None
        args = []
        for i in inputs:
            if i is None:
                args.append(None)
                continue
            t = self.g.tensors[i]
            v = t.data if t.is_constant else (vals[i] if vals is not None and i in vals else self._values(i))
            if t.quant is not None and t.dtype != "float32":
                v = t.quant.scale.reshape(t.quant.broadcast_shape(v.ndim)) * (v.astype(np.float64) - t.quant.zero_point.reshape(t.quant.broadcast_shape(v.ndim)))
            args.append(np.asarray(v, dtype=np.float64))
        return float_kernels.KERNELS[op.NAME](op, *args)

    # -- layers ---------------------------------------------------------------------------------
    def quantize(self, scale=1 / 64, zp=3, qmin=-128, qmax=127) -> str:
        return self.add_node(ops.Quantize(), [self.current], quant=QuantParams(scale, zp, qmin=qmin, qmax=qmax))

    def dequantize(self) -> str:
        return self.add_node(ops.Dequantize(), [self.current], dtype="float32")

    def conv(self, cout: int, k=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1), groups=1,
             clamp=(None, None), precision="int8", weight_levels=None, algorithm=None, bias=True,
             qrange=(-128, 127)) -> str:
        x = self.g.tensors[self.current]
        cin = x.shape[1]
        wshape = (cout, cin // groups, *k)
        wname, bname = self._name("w"), self._name("b")
        if weight_levels is None:
            w = self.rng.integers(-127, 128, size=wshape)
            s_w = self.rng.uniform(0.002, 0.02, size=cout)
        else:  # odd integers (2i - (2^K - 1)) with one scale, or +-1 for K = 1
            kbits = weight_levels
            i = self.rng.integers(0, 1 << kbits, size=wshape)
            w = 2 * i - ((1 << kbits) - 1)
            s_w = np.full(cout, 0.05)
        self.g.add_tensor(Tensor(wname, wshape, "int8", quant=QuantParams(s_w, np.zeros(cout), axis=0, qmin=-127, qmax=127), data=w))
        inputs = [self.current, wname]
        if bias:
            s_in = x.quant.scale[0]
            b = self.rng.integers(-2000, 2000, size=cout)
            self.g.add_tensor(Tensor(bname, (cout,), "int32", quant=QuantParams(s_in * s_w, np.zeros(cout), axis=0, qmin=-2**31, qmax=2**31 - 1), data=b))
            inputs.append(bname)
        op = ops.Conv(stride=tuple(stride), pads=tuple(pads), dilation=tuple(dilation), groups=groups, clamp=clamp)
        return self.add_node(op, inputs, precision=precision, algorithm=algorithm, auto_scale=True, qrange=qrange, base="conv")

    def conv1d(self, cout: int, k=3, stride=1, pads=(1, 1), groups=1) -> str:
        return self.conv(cout, k=(k,), stride=(stride,), pads=pads, dilation=(1,), groups=groups)

    def linear(self, cout: int, clamp=(None, None), precision="int8", binary=False) -> str:
        x = self.g.tensors[self.current]
        cin = x.shape[1]
        wname, bname = self._name("fc_w"), self._name("fc_b")
        if binary:  # +-1 weights with one scale
            w = 2 * self.rng.integers(0, 2, size=(cout, cin)) - 1
            s_w = np.full(cout, 0.05)
        else:
            w = self.rng.integers(-127, 128, size=(cout, cin))
            s_w = self.rng.uniform(0.002, 0.02, size=cout)
        self.g.add_tensor(Tensor(wname, (cout, cin), "int8", quant=QuantParams(s_w, np.zeros(cout), axis=0, qmin=-127, qmax=127), data=w))
        b = self.rng.integers(-2000, 2000, size=cout)
        self.g.add_tensor(Tensor(bname, (cout,), "int32", quant=QuantParams(x.quant.scale[0] * s_w, np.zeros(cout), axis=0), data=b))
        return self.add_node(ops.Linear(clamp=clamp), [self.current, wname, bname], precision=precision, auto_scale=True,
                             base="fc")

    def binary(self, op_cls, other: str, clamp=(None, None)) -> str:
        return self.add_node(op_cls(clamp=clamp), [self.current, other], auto_scale=True, base=op_cls.NAME.lower())

    def same_quant(self, op, base=None) -> str:
        q = self.g.tensors[self.current].quant
        return self.add_node(op, [self.current], quant=q, base=base)

    def lut(self, op) -> str:
        return self.add_node(op, [self.current], auto_scale=True)

    def sigmoid_like(self, op) -> str:
        return self.add_node(op, [self.current], quant=QuantParams(1 / 256, -128))

    def sign(self, threshold: float = 0.0) -> str:
        return self.add_node(ops.Sign(threshold=threshold), [self.current], quant=QuantParams(1.0, 0, qmin=-1, qmax=1))

    def dorefa_act(self, bits: int) -> str:
        """Requantize into a DoReFa activation tensor: scale 1/(2^M-1), zp -128, 2^M levels."""
        q = QuantParams(1.0 / ((1 << bits) - 1), -128, qmin=-128, qmax=-128 + (1 << bits) - 1)
        return self.add_node(ops.Quantize(), [self.current], quant=q)

    def finish(self) -> Graph:
        infer_shapes(self.g, update=False)
        verify(self.g)
        return self.g


def mixed_fp32_net(height: int, width: int) -> Graph:
    """An int8 conv, then float32 layers (conv with ReLU clamp, Hardswish, max pool, softmax): the
    float kernels behind a Dequantize, on a (1, 2, height, width) input."""
    b = GraphBuilder((1, 2, height, width), seed=7)
    b.quantize()
    b.conv(6)
    b.dequantize()
    rng = np.random.default_rng(8)
    w = rng.normal(size=(4, 6, 3, 3)).astype(np.float32)
    b.g.add_tensor(Tensor("fw", w.shape, "float32", data=w))
    b.g.add_tensor(Tensor("fb", (4,), "float32", data=rng.normal(size=4).astype(np.float32)))
    b.add_node(ops.Conv(pads=(1, 1, 1, 1), clamp=(0.0, None)), [b.current, "fw", "fb"], dtype="float32", precision="fp32")
    b.add_node(ops.Hardswish(), [b.current], dtype="float32", precision="fp32")
    b.add_node(ops.MaxPool(kernel=(2, 2), stride=(2, 2)), [b.current], dtype="float32", precision="fp32")
    b.add_node(ops.Reshape(shape=(-1,)), [b.current], dtype="float32", precision="fp32")
    b.add_node(ops.Softmax(axis=1), [b.current], dtype="float32", precision="fp32")
    return b.finish()


def binary_chain_net(second_stride: int, classes: int) -> Graph:
    """XNOR conv -> padded max pool -> Sign -> XNOR conv (stride ``second_stride``) -> flatten ->
    Sign -> binary linear of ``classes`` outputs, behind an int8 conv and Sign, on a (1, 3, 9, 9)
    input: binary layers that pass packed bits to each other."""
    b = GraphBuilder((1, 3, 9, 9), seed=12)
    b.quantize()
    b.conv(20)
    b.sign()
    b.same_quant(ops.Pad(pads=(1, 1, 1, 1), value=1.0))
    b.conv(37, pads=(0, 0, 0, 0), precision="w1a1", weight_levels=1, bias=False)
    b.same_quant(ops.MaxPool(kernel=(2, 2), stride=(2, 2), pads=(0, 0, 1, 1)))
    b.sign()
    b.same_quant(ops.Pad(pads=(1, 1, 1, 1), value=1.0))
    b.conv(33, pads=(0, 0, 0, 0), stride=(second_stride, second_stride), precision="w1a1", weight_levels=1)
    b.same_quant(ops.Reshape(shape=(-1,)))
    b.sign()
    b.linear(classes, precision="w1a1", binary=True)
    b.dequantize()
    return b.finish()

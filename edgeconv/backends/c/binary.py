"""Lowering of the broadcasting element-wise binary ops, Add and Mul (TFLite int8 ADD and MUL)."""

from __future__ import annotations

from ...ir import Node, Tensor
from ...quant.integer_params import add_multipliers, mul_multiplier
from .add_affine import affine_add
from .emitter import Emitter, LayerCall, float_clamp, require
from .layout import c_dims, to_c_order
from .params import activation_bounds, is_float, per_tensor
from .tasks import at, note, task_count, units_task


def _broadcast_fields(a: Tensor, b: Tensor, y: Tensor) -> dict:
    """Fields of an ``ec_broadcast_t``: the output's 3 innermost channels-last dims and each
    operand's element strides along them (0 where it broadcasts), as lists."""
    rank = len(y.shape)

    def operand(t: Tensor) -> list:
        shape = (1,) * (rank - len(t.shape)) + tuple(t.shape)
        dims = [1] * 3 + c_dims(shape)
        dims = dims[-3:]
        strides, step = [0, 0, 0], 1
        for i in (2, 1, 0):
            strides[i] = step if dims[i] > 1 else 0
            step *= dims[i]
        return strides

    out_dims = ([1] * 3 + c_dims(y.shape))[-3:]
    require(len(c_dims(y.shape)) <= 3, "broadcast of rank > 4")
    return {"dims": out_dims, "a_strides": operand(a), "b_strides": operand(b)}


def _c_array(values: list) -> str:
    return f"{{{', '.join(map(str, values))}}}"


def _operand(em: Emitter, node: Node, name: str, reads: list) -> str:
    t = em.graph.tensors[name]
    if t.is_constant:
        ctype = "float" if is_float(t) else "int8_t"
        full = t.data.reshape((1,) * (len(em.graph.tensors[node.output].shape) - t.data.ndim) + t.data.shape)
        return em.array(f"{node.name}_const", ctype, to_c_order(full))
    reads.append(name)
    return em.buf(name)


def _lower_binary(em: Emitter, node: Node, op_name: str) -> LayerCall:
    g = em.graph
    a, b, y = g.tensors[node.inputs[0]], g.tensors[node.inputs[1]], g.tensors[node.output]
    reads: list = []
    pa, pb = _operand(em, node, node.inputs[0], reads), _operand(em, node, node.inputs[1], reads)
    bcast = _broadcast_fields(a, b, y)
    bc = em.struct(f"{node.name}_bc", "ec_broadcast_t", {k: _c_array(v) for k, v in bcast.items()})
    kernel = f"ec_{'f32' if is_float(y) else 's8'}_{op_name}"
    tasks = task_count(em, kernel, y.shape, y.numel)
    out = em.buf(node.output)
    if tasks > 1:  # rows of the output: each operand moves by its stride along the rows (0: broadcast)
        pa, pb = at(pa, "u0", bcast["a_strides"][0]), at(pb, "u0", bcast["b_strides"][0])
        out = at(out, "u0", bcast["dims"][1] * bcast["dims"][2])
    inplace = next((n for n in node.inputs if not g.tensors[n].is_constant and g.tensors[n].shape == y.shape
                    and g.tensors[n].dtype == y.dtype), None)
    if is_float(y):
        lo, hi = float_clamp(node.op.clamp)
        call = f"{kernel}({pa}, {pb}, &{_part(bc, tasks)}, {lo}, {hi}, {out});"
        return _call(node, kernel, "fp32", call, reads, inplace, bc, tasks, bcast["dims"][0])
    s_a, zp_a = per_tensor(a, "input")
    s_b, zp_b = per_tensor(b, "input")
    s_y, zp_y = per_tensor(y, "output")
    qlo, qhi = activation_bounds(node.op.clamp, y)
    if op_name == "add":
        m = add_multipliers(s_a, s_b, s_y)
        fields = {"a_offset": -zp_a, "a_mult": m.a[0], "a_shift": m.a[1],
                  "b_offset": -zp_b, "b_mult": m.b[0], "b_shift": m.b[1], "left_shift": m.left_shift,
                  "out_mult": m.out[0], "out_shift": m.out[1], "out_zp": zp_y, "act_min": qlo, "act_max": qhi}
        step = affine_add(m, zp_a, zp_b, zp_y, qlo, qhi)
        fields.update(step.fields() if step else {"affine_shift": 0})
        params = em.struct(f"{node.name}_p", "ec_s8_add_params_t", fields)
    else:
        mo, so = mul_multiplier(s_a, s_b, s_y)
        fields = {"a_offset": -zp_a, "b_offset": -zp_b, "out_mult": mo, "out_shift": so, "out_zp": zp_y,
                  "act_min": qlo, "act_max": qhi}
        params = em.struct(f"{node.name}_p", "ec_s8_mul_params_t", fields)
    call = f"{kernel}({pa}, {pb}, &{_part(bc, tasks)}, &{params}, {out});"
    return _call(node, kernel, node.precision, call, reads, inplace, bc, tasks, bcast["dims"][0])


def _part(bc: str, tasks: int) -> str:
    return bc if tasks == 1 else "part"


def _call(node: Node, kernel: str, summary: str, call: str, reads: list, inplace, bc: str, tasks: int,
          rows: int) -> LayerCall:
    """The layer's call, or one task's over output rows [u0, u1) with broadcast ``part``."""
    if tasks > 1:
        call = units_task(kernel, rows, f"ec_broadcast_t part = {bc};\n    part.dims[0] = u1 - u0;\n    {call}")
    return LayerCall(node, kernel, summary, call, reads, inplace_of=inplace, tasks=tasks,
                     split_note=note(kernel, tasks) if tasks > 1 else "")


def lower_add(em: Emitter, node: Node) -> LayerCall:
    return _lower_binary(em, node, "add")


def lower_mul(em: Emitter, node: Node) -> LayerCall:
    return _lower_binary(em, node, "mul")

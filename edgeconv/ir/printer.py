"""Human-readable listing of a graph, one line per node."""

from __future__ import annotations

from .graph import Graph


def _attr_text(value) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join("-" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in value) + ")"
    return str(value)


def format_graph(graph: Graph) -> str:
    lines = [f"graph {graph.name} ({graph.source_layout} at its ends)"]
    for name in graph.inputs:
        lines.append(f"  input  {name}: {graph.tensors[name].describe()}")
    for node in graph.nodes:
        attrs = " ".join(f"{k}={_attr_text(v)}" for k, v in node.op.attrs().items())
        args = ", ".join("-" if i is None else i for i in node.inputs)
        tail = f" [{node.precision}]" if node.precision != "fp32" else ""
        lines.append(
            f"  {node.name}: {node.output} {graph.tensors[node.output].describe()} = {node.op_name}({args}) {attrs}{tail}".rstrip()
        )
    for name in graph.outputs:
        lines.append(f"  output {name}")
    return "\n".join(lines)

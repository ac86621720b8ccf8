"""The IR as a file: ``save_graph(graph, path)`` / ``load_graph(path)``, an exact round trip.

Format: one ``.npz`` (no pickles) holding ``graph.json`` (a JSON string: graph fields, tensors
with their quantization parameters, nodes with their op attributes) and one array ``t<i>`` per
constant tensor. Scales are stored as the float32 values the IR keeps, so every derived
multiplier is reproduced bit for bit. ``compress`` writes the compressed graph as
``OUT/model.ir.npz`` so ``verify`` can run the reference executor on exactly that graph.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..ir import OPS, Graph, Node, QuantParams, Tensor

FORMAT = "edgeconv-ir"
FORMAT_VERSION = 1
IR_FILE_NAME = "model.ir.npz"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _tuples(value):
    """JSON lists back to the tuples op attributes are made of."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _json_scalar(value):
    """numpy scalars (an attribute computed with numpy) as plain JSON numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in an IR file")


def _quant_to_json(q: QuantParams | None):
    if q is None:
        return None
    return {"scale": q.scale.astype(np.float32).tolist(), "zero_point": q.zero_point.tolist(),
            "axis": q.axis, "qmin": q.qmin, "qmax": q.qmax}


def _quant_from_json(d) -> QuantParams | None:
    if d is None:
        return None
    return QuantParams(np.array(d["scale"], dtype=np.float32), np.array(d["zero_point"], dtype=np.int64),
                       d["axis"], d["qmin"], d["qmax"])


def graph_to_arrays(graph: Graph) -> dict:
    arrays, tensors = {}, []
    for i, t in enumerate(graph.tensors.values()):
        entry = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "layout": t.layout,
                 "quant": _quant_to_json(t.quant), "data": None}
        if t.data is not None:
            entry["data"] = f"t{i}"
            arrays[f"t{i}"] = t.data
        tensors.append(entry)
    nodes = [{"name": n.name, "op": n.op_name, "attrs": n.op.attrs(), "inputs": list(n.inputs),
              "output": n.output, "precision": n.precision, "algorithm": n.algorithm,
              "merged_from": list(n.merged_from), "source": n.source} for n in graph.nodes]
    doc = {"format": FORMAT, "version": FORMAT_VERSION, "name": graph.name, "inputs": list(graph.inputs),
           "outputs": list(graph.outputs), "source_layout": graph.source_layout, "metadata": graph.metadata,
           "tensors": tensors, "nodes": nodes}
    arrays["graph.json"] = np.array(json.dumps(doc, default=_json_scalar))
    return arrays


def graph_from_arrays(arrays) -> Graph:
    doc = json.loads(str(arrays["graph.json"]))
    if doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
        raise UserError(f"not an {FORMAT} v{FORMAT_VERSION} file")
    graph = Graph(name=doc["name"], inputs=list(doc["inputs"]), outputs=list(doc["outputs"]),
                  source_layout=doc["source_layout"], metadata=doc["metadata"])
    for t in doc["tensors"]:
        data = None if t["data"] is None else arrays[t["data"]]
        graph.add_tensor(Tensor(t["name"], tuple(t["shape"]), t["dtype"], t["layout"], _quant_from_json(t["quant"]), data))
    for n in doc["nodes"]:
        op_class = OPS[n["op"]]
        attrs = {k: _tuples(v) for k, v in n["attrs"].items()}
        graph.add_node(Node(n["name"], op_class(**attrs), list(n["inputs"]), n["output"], n["precision"],
                            n["algorithm"], tuple(n["merged_from"]), n["source"]))
    return graph


def _npz_bytes(arrays: dict) -> bytes:
    """An .npz archive (what ``np.load`` reads) with fixed timestamps, so equal graphs give equal
    bytes (``np.savez`` stamps each member with the current time)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH), member.getvalue())
    return buffer.getvalue()


def save_graph(graph: Graph, path) -> Path:
    """Write ``graph`` to ``path`` (atomically); ``graph.metadata`` must be JSON-serializable."""
    path = Path(path)
    data = _npz_bytes(graph_to_arrays(graph))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def load_graph(path) -> Graph:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"IR file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return graph_from_arrays({k: arrays[k] for k in arrays.files})
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is not a readable edgeconv IR file ({err})") from None


__all__ = ["save_graph", "load_graph", "IR_FILE_NAME"]

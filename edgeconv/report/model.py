"""What `compress` reports, as typed records, and its JSON form (DESIGN §3, `report.json`).

A value that was not measured is ``None`` (``null`` in JSON), never made up.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional


@dataclass
class LayerReport:
    name: str
    op: str
    precision: str
    algorithm: Optional[str]
    macs: int
    predicted_ms: Optional[float]
    merged_from: list = field(default_factory=list)
    # Predicted ms of this layer at every precision the selector could choose: the report's bars.
    predicted_ms_by_precision: dict = field(default_factory=dict)


@dataclass
class Accuracy:
    float: Optional[float]
    compressed: Optional[float]
    metric: str = "top1"
    data: Optional[str] = None  # "val-data" | "data" | None when no labels were given


@dataclass
class ParetoPoint:
    predicted_ms: float
    estimated_cost: float  # summed sensitivity: lower is more accurate
    chosen: bool = False


@dataclass
class Report:
    edgeconv_version: str
    target: str
    latency_budget_ms: Optional[float]
    memory_budget_kb: Optional[float]
    predicted_latency_ms: float
    latency_source: str  # "measured-table" | "estimated (qemu+llvm-mca)" | "analytical"
    arena_bytes: Optional[int]
    weights_bytes: Optional[int]
    accuracy: Accuracy
    layers: list
    artifacts: dict
    command: str = ""
    precisions_allowed: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    pareto: list = field(default_factory=list)
    verify: Optional[dict] = None
    threads: int = 1  # the thread count the C model is generated for and the prediction is for

    def to_dict(self) -> dict:
        return asdict(self)


def write_json(report: Report, path: Path) -> None:
    Path(path).write_text(json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n")

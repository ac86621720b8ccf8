"""``report.html``: one self-contained page (inline CSS, inline script, no network).

The report's JSON is embedded in a ``<script type="application/json">`` element and drawn by the
inline script as SVG: the Pareto frontier of predicted latency against estimated accuracy cost with
the chosen point and the budget line, per-layer latency bars by precision, the layer table, the
memory figures and, when `verify` has run, its table.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from string import Template

from .model import Report

TEMPLATE = Path(__file__).with_name("report.html.tmpl")


def _embed_json(data: dict) -> str:
    # "</" would close the script element; JSON allows the escaped solidus.
    return json.dumps(data).replace("</", "<\\/")


def render_html(report: Report) -> str:
    return render_report_data(report.to_dict())


def render_report_data(data: dict) -> str:
    """The page for a report as ``report.json`` holds it (plus ``verify``, verify.json's content,
    once `verify` has run)."""
    return Template(TEMPLATE.read_text()).substitute(
        title=html.escape(f"edgeconv report: {data.get('target', '')}"),
        data=_embed_json(data),
    )


def write_html(report: Report, path: Path) -> None:
    Path(path).write_text(render_html(report))

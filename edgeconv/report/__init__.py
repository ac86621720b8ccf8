"""The compress report: ``report.json`` (the contract's keys) and a self-contained ``report.html``."""

from .html import render_report_data, write_html
from .model import LayerReport, Report, write_json

__all__ = ["Report", "LayerReport", "write_json", "write_html", "render_report_data"]

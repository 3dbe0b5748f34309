"""The accuracy-vs-hardware report: sweep formats and widths, then write tables, charts and a page."""

from .charts import pareto
from .sweep import fingerprint, sweep
from .write import write_report

__all__ = ["fingerprint", "pareto", "sweep", "write_report"]

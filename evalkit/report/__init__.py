"""Reports of a stored run: its summary as data (:mod:`evalkit.report.summary`, ``evalkit report --json``)
and one self-contained HTML file (:func:`evalkit.report.html.write_html`, ``evalkit report --html``).

Like every view, they read only a :class:`~evalkit.runs.Run` (manifest + tables): labels,
units and directions come from the run's measures.
"""

from evalkit.report.html import write_html
from evalkit.report.summary import run_summary

__all__ = ["run_summary", "write_html"]

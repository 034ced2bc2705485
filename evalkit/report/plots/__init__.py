"""Charts of a run: quality with confidence intervals, length compliance, factuality, cost, one document.

Every chart function takes a finished :class:`evalkit.run.record.Run` (or its tidy scores
DataFrame, with the summaries frame passed as ``summaries=`` where a chart needs it) and
returns a :class:`matplotlib.figure.Figure` that displays itself in notebooks (see
:mod:`evalkit.report.plots.style`). A chart with nothing to show raises ``ValueError("<chart>:
nothing to show because ...")`` instead of drawing an empty figure.

Conventions shared by all charts:

- **Labels, units and the % scale come from the run's metric descriptors** (``run.measures()``).
- **One colour per system, the same in every chart of a run** (:func:`system_colors`, Okabe & Ito 2008).
- **Means with 95 % percentile-bootstrap intervals** from :func:`evalkit.report.stats.summarize`;
  undefined values are left out and counted, never read as 0.
- **An oracle is an upper bound**: hatched (or a hollow diamond), never a significance reference.
- A value that is unknown (a system that reports no cost) is drawn as unknown, never as 0.

Modules, one per chart family: ``quality`` (metric_comparison), ``length``, ``factuality``
(factuality, quality_vs_factuality), ``consistency`` (factuality_overview: entity, NLI and judge
scores side by side; unsupported_table), ``cost`` (cost_table, quality_vs_cost), ``documents``
(the per-document view), ``samples`` (sample_spread: repeated samples per document), ``save`` (``CHARTS``, the one list of a run's charts that save_all, the HTML report
and the notebooks draw, and save_all); ``style`` and ``view`` are shared.
"""

from evalkit.report.plots.consistency import factuality_metrics, factuality_overview, unsupported_claims, unsupported_table
from evalkit.report.plots.cost import cost_table, quality_vs_cost
from evalkit.report.plots.documents import (HIGHLIGHT, document_view, document_view_html, document_view_text, entity_spans,
                                     unsupported_entities, unsupported_numbers)
from evalkit.report.plots.factuality import factuality, quality_vs_factuality
from evalkit.report.plots.length import length_compliance
from evalkit.report.plots.quality import default_quality, metric_comparison
from evalkit.report.plots.samples import sample_spread
from evalkit.report.plots.save import CHARTS, Chart, charts_of, save_all
from evalkit.report.plots.style import OKABE_ITO, ChartFigure
from evalkit.report.plots.view import system_colors

__all__ = ["CHARTS", "HIGHLIGHT", "OKABE_ITO", "Chart", "ChartFigure", "charts_of", "cost_table", "default_quality", "document_view",
           "document_view_html", "document_view_text", "entity_spans", "factuality", "factuality_metrics",
           "factuality_overview", "length_compliance", "unsupported_claims", "unsupported_table",
           "metric_comparison", "quality_vs_cost", "quality_vs_factuality", "sample_spread", "save_all",
           "system_colors", "unsupported_entities", "unsupported_numbers"]

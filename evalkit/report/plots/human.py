"""Which metric agrees with your annotators: one bar per metric and level, with its bootstrap interval.

Input: the :class:`~evalkit.report.metaeval.Agreement` results of a meta-eval on human labels
(``evalkit meta-eval RUN --labels``): for one human question and one correlation method, each
metric's summary-level correlation (per-document, averaged) and system-level correlation
(of system means), each with its 95 % percentile-bootstrap interval (documents resampled).
Metrics are sorted by their summary-level correlation, best at the top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from evalkit.report.plots.style import new_figure, plain_text, style

LEVEL_COLORS = {"summary": "#0072B2", "system": "#E69F00", "partial": "#009E73"}
"""Okabe & Ito colours, one per correlation level."""


def human_agreement_chart(results: Sequence[Any], human: str, method: str = "pearson",
                          levels: Sequence[str] = ("summary", "system")) -> Any:
    """A horizontal bar chart: each metric's correlation with ``human`` at each level, with its interval."""
    chosen = [r for r in results if r.human == human and r.method == method and r.level in levels]
    if not chosen:
        raise ValueError(f"human agreement chart: nothing to show because there are no {method} results for "
                         f"{human!r}")
    by_metric: dict[str, dict[str, Any]] = {}
    for r in chosen:
        by_metric.setdefault(r.metric, {})[r.level] = r
    first = levels[0]
    order = sorted(by_metric, key=lambda m: _sort_key(by_metric[m].get(first)))
    shown = [lv for lv in levels if any(lv in cells for cells in by_metric.values())]
    height = 0.34 * len(order) * len(shown) + 1.6
    figure = new_figure(7.5, height)
    axis = figure.subplots()
    bar = 0.8 / len(shown)
    for k, level in enumerate(shown):
        ys, xs, low, high = [], [], [], []
        for i, metric in enumerate(order):
            cell = by_metric[metric].get(level)
            if cell is None or math.isnan(cell.r):
                continue
            ys.append(i + (k - (len(shown) - 1) / 2) * bar)
            xs.append(cell.r)
            low.append(max(cell.r - cell.low, 0) if not math.isnan(cell.low) else 0)
            high.append(max(cell.high - cell.r, 0) if not math.isnan(cell.high) else 0)
        axis.barh(ys, xs, height=bar * 0.9, xerr=[low, high], color=LEVEL_COLORS.get(level, "#999999"),
                  capsize=3, label=f"{level} level")
    axis.set_yticks(range(len(order)), order)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlim(-1.05, 1.05)
    axis.set_xlabel(f"{method} correlation with the mean human {human} (95% bootstrap interval)")
    axis.set_title(f"Which metric agrees with your annotators ({human})", pad=22)
    axis.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(shown), fontsize=8, frameon=False)
    style(axis, grid_axis="x")
    plain_text(figure)
    return figure


def _sort_key(cell: Any) -> float:
    return -math.inf if cell is None or math.isnan(cell.r) else cell.r

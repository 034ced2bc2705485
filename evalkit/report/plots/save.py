"""The one list of a run's charts (:data:`CHARTS`), drawn by :func:`save_all`, the HTML report and the notebooks.

A new chart reaches every one of them through one line in :data:`CHARTS`. A chart with
nothing to show raises ``ValueError`` and is skipped with a log line (``save_all``) or a
sentence saying why (the HTML report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from evalkit.report.plots.cost import quality_vs_cost
from evalkit.report.plots.factuality import factuality, quality_vs_factuality
from evalkit.report.plots.length import length_compliance
from evalkit.report.plots.quality import default_quality, metric_comparison
from evalkit.report.plots.samples import sample_spread
from evalkit.report.plots.view import View, view_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chart:
    """One chart of a run, as :func:`save_all` writes it and the HTML report shows it."""

    name: str
    """Its file name without the extension (``metric_comparison`` -> ``metric_comparison.png``)."""
    title: str
    """Its caption in the HTML report."""
    draw: Callable[..., Figure]
    """``draw(view, seed=..., n_resamples=...)`` -> the figure; raises ``ValueError`` when it has nothing to show."""


def _main_quality(view: View) -> str:
    """The quality value a two-value chart plots: the last headline quality fraction (ROUGE-Lsum F1 by default)."""
    quality = default_quality(view)
    if not quality:
        raise ValueError("nothing to show because the run has no headline quality value (add rouge or bertscore)")
    return quality[-1]


CHARTS: list[Chart] = [
    Chart("metric_comparison", "Quality by system", metric_comparison),
    Chart("length_compliance", "Length against target", length_compliance),
    Chart("factuality", "Unsupported entities", factuality),
    Chart("quality_vs_factuality", "Quality against factuality",
          lambda view, **options: quality_vs_factuality(view, y=_main_quality(view), **options)),
    Chart("quality_vs_cost", "Quality against cost and latency",
          lambda view, **options: quality_vs_cost(view, _main_quality(view), **options)),
    Chart("sample_spread", "Sample spread per system (runs with samples: k > 1)",
          lambda view, **options: sample_spread(view, _main_quality(view), **options)),
]
"""Every chart of a run, in the order save_all writes them and the HTML report shows them."""


def charts_of(run: Any, *, seed: int = 0, n_resamples: int = 10000) -> list[tuple[Chart, Callable[[], Figure]]]:
    """(chart, make) for every chart of :data:`CHARTS`, in order; ``make()`` may raise ValueError."""
    view = view_of(run)
    return [(chart, lambda chart=chart: chart.draw(view, seed=seed, n_resamples=n_resamples)) for chart in CHARTS]


def save_all(run: Any, out_dir: str | Path, *, formats: Sequence[str] = ("png",), dpi: int = 200,
             seed: int = 0, n_resamples: int = 10000) -> list[Path]:
    """Write every chart the run has data for into ``out_dir``; returns the files written.

    A chart that has nothing to show (no entity metric, no system with a cost, ...) is not
    written; an ``INFO`` log line gives its reason.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for chart, make in charts_of(run, seed=seed, n_resamples=n_resamples):
        try:
            fig = make()
        except ValueError as exc:
            log.info("save_all: %s skipped: %s", chart.name, exc)
            continue
        for fmt in formats:
            path = out_dir / f"{chart.name}.{fmt}"
            fig.savefig(path, dpi=dpi)
            written.append(path)
        fig.clear()
    return written

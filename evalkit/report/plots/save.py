"""Every chart a run has data for, written to files; a chart with nothing to show is skipped with a log line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from evalkit.report.plots.cost import quality_vs_cost
from evalkit.report.plots.factuality import factuality, quality_vs_factuality
from evalkit.report.plots.length import length_compliance
from evalkit.report.plots.quality import default_quality, metric_comparison
from evalkit.report.plots.view import view_of

log = logging.getLogger(__name__)


def charts_of(run: Any, *, seed: int = 0, n_resamples: int = 10000) -> list[tuple[str, Callable[[], Figure]]]:
    """(name, make) for every chart :func:`save_all` tries, in order; ``make()`` may raise ValueError."""
    view = view_of(run)
    quality = default_quality(view)
    y = "rougeLsum_f" if view.has("rougeLsum_f") else (quality[0] if quality else "rougeLsum_f")
    options = {"seed": seed, "n_resamples": n_resamples}
    return [
        ("metric_comparison", lambda: metric_comparison(view, **options)),
        ("length_compliance", lambda: length_compliance(view, **options)),
        ("factuality", lambda: factuality(view, **options)),
        ("quality_vs_factuality", lambda: quality_vs_factuality(view, y=y, **options)),
        ("quality_vs_cost", lambda: quality_vs_cost(view, y, **options)),
    ]


def save_all(run: Any, out_dir: str | Path, *, formats: Sequence[str] = ("png",), dpi: int = 200,
             seed: int = 0, n_resamples: int = 10000) -> list[Path]:
    """Write every chart the run has data for into ``out_dir``; returns the files written.

    A chart that has nothing to show (no entity metric, no system with a cost, ...) is not
    written; an ``INFO`` log line gives its reason.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in charts_of(run, seed=seed, n_resamples=n_resamples):
        try:
            fig = make()
        except ValueError as exc:
            log.info("save_all: %s skipped: %s", name, exc)
            continue
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            fig.savefig(path, dpi=dpi)
            written.append(path)
        fig.clear()
    return written

"""Factuality side by side: entity overlap, NLI consistency and LLM-judge scores per system,
and per document the unsupported entities next to the unsupported claims.

Each factuality metric sees a different part of the problem: entity precision catches invented
names and numbers, NLI consistency (SummaC-ZS) catches sentences the article does not entail,
a judge's claim check catches statements a reader would call unsupported. Side by side they
show whether the metrics agree on which system to trust; :func:`evalkit.report.metaeval` tells which
of them agrees with people on your data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from evalkit.report.plots.documents import unsupported_entities, unsupported_numbers
from evalkit.report.plots.style import (UPPER_BOUND_HATCH, fit_tick_labels, new_figure, room_above, style, suptitle,
                                       wrapped)
from evalkit.report.plots.view import nothing_to_show, stat, summary_of, view_of


def factuality_metrics(run: Any) -> list[str]:
    """The run's headline values of the ``factuality`` group (higher is better), in metric order: what the
    overview shows."""
    view = view_of(run)
    present = set(view.values["metric"])
    return [name for name, m in view.measures.items()
            if m.group == "factuality" and m.headline and m.higher_is_better is True and name in present]


def factuality_overview(run: Any, metrics: list[str] | None = None, *, seed: int = 0,
                        n_resamples: int = 10000) -> Figure:
    """One panel per factuality value (entity precision, NLI consistency, judge scores), systems as bars.

    Each panel has its own axis (the values have different scales: % of entities, SummaC's
    [-1, 1], a judge's 1-5), fitted to its data, with 95 % bootstrap CIs and the number of
    summaries each mean rests on, written over each bar and kept below the panel's title. Oracles are hatched.
    """
    view = view_of(run)
    metrics = list(metrics) if metrics is not None else factuality_metrics(run)
    if not metrics:
        raise nothing_to_show("factuality_overview", "the run has no factuality metric (add entities, nli or "
                                                     "llm-judge to its metrics)")
    view.require(metrics)
    summary = summary_of(view, metrics, n_resamples, seed)
    systems = [s for s in view.systems if any(stat(summary, s, m) is not None for m in metrics)]
    if not systems:
        raise nothing_to_show("factuality_overview", f"no system has a defined value of {', '.join(metrics)}")
    panel = max(3.6, 0.9 + 0.6 * len(systems))
    columns = min(len(metrics), max(1, int(14 // panel)))
    rows = -(-len(metrics) // columns)
    fig = new_figure(panel * columns, 3.9 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    colors = view.colors
    x = np.arange(len(systems))
    labelled = []
    for ax, metric in zip(axes, metrics):
        measure = view.measure(metric)
        factor = measure.display_factor
        lows, highs, texts = [], [], []
        for i, system in enumerate(systems):
            row = stat(summary, system, metric)
            if row is None:
                continue
            mean, low, high = (float(row[k]) * factor for k in ("mean", "ci_low", "ci_high"))
            ax.bar(i, mean, 0.65, yerr=[[max(mean - low, 0)], [max(high - mean, 0)]], color=colors[system],
                   capsize=3, ecolor="#333333", error_kw={"elinewidth": 0.9}, edgecolor="white",
                   hatch=UPPER_BOUND_HATCH if view.is_upper_bound(system) else None)
            texts.append(ax.text(i, high, f"{mean:.3g}\nn={int(row['n'])}", ha="center", va="bottom", fontsize=7))
            lows.append(low)
            highs.append(high)
        span = (max(highs) - min(lows)) or abs(max(highs)) or 1.0
        bottom = 0.0 if min(lows) >= 0 and measure.is_fraction else min(0.0, min(lows) - 0.1 * span)
        ax.set_ylim(bottom, max(highs) + 0.3 * span)
        ax.set_xticks(x, [view.labels[s] for s in systems])
        fit_tick_labels(ax)
        ax.set_ylabel(measure.axis_label + " ↑")
        ax.set_title(wrapped(measure.label, panel * 0.9, 10.0), fontsize=10)
        style(ax)
        labelled.append((ax, texts))
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    suptitle(fig, "Factuality, metric by metric: system means with 95% CI (higher is more faithful)")
    for ax, texts in labelled:  # with the titles in place: value labels end below them
        room_above(ax, texts)
    return fig


def unsupported_claims(run: Any, document_id: str, system: str) -> list[str]:
    """The sentences an LLM judge found unsupported in one summary (every judge instance's facts), or []."""
    view = view_of(run)
    judges = [key for key, entry in view.manifest.metrics.items() if entry.kind == "llm-judge"]
    out: list[str] = []
    for info in view.info(document_id, system, judges):
        out.extend(c for c in info.get("unsupported_claims") or [] if isinstance(c, str) and c not in out)
    return out


def unsupported_table(run: Any, document_id: str):
    """One row per system for one document: its unsupported entities, numbers and claims, side by side."""
    import pandas as pd

    view = view_of(run)
    rows = []
    for system in view.systems:
        entities, claims = unsupported_entities(run, document_id, system), unsupported_claims(run, document_id, system)
        numbers = unsupported_numbers(run, document_id, system)
        rows.append({"system": system, "unsupported entities": ", ".join(entities) or "none",
                     "unsupported numbers": ", ".join(numbers) or "none",
                     "unsupported claims": " | ".join(claims) or "none"})
    return pd.DataFrame(rows).set_index("system")

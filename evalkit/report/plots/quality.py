"""Summary quality per system: grouped bars with 95 % CIs, significance against a named reference system.

Significance is marked against one reference system per metric: the one the user names, or by
default the best system that is not an upper bound. An oracle (``kind: oracle`` in the run's
manifest) reads the references, so it is drawn hatched as an upper bound and is never the
reference: otherwise every real system would be "significantly below the best".
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from evalkit.report import stats
from evalkit.core.types import Measure
from evalkit.report.plots.style import UPPER_BOUND_HATCH, fit_tick_labels, new_figure, style, system_handles, wrapped
from evalkit.report.plots.view import View, nothing_to_show, stat, summary_of, view_of

log = logging.getLogger(__name__)

BELOW, ABOVE = "▼", "▲"


def default_quality(run: Any) -> list[str]:
    """The headline fractions of the ``quality`` group of the run's first metric instance that has any
    (ROUGE-1/2/Lsum F1 in the configs)."""
    view = view_of(run)
    for entry in view.manifest.metrics.values():
        names = [m.name for m in entry.measures if m.name in view.measures
                 and _is_quality(view.measures[m.name]) and view.has(m.name)]
        if names:
            return names
    return []


def _is_quality(measure: Measure) -> bool:
    return measure.group == "quality" and measure.headline and measure.scale == "fraction" and bool(measure.higher_is_better)


def bars(ax: Axes, view: View, summary: pd.DataFrame, systems: Sequence[str], metrics: Sequence[str],
         *, scale: float = 100.0) -> dict[tuple[str, str], float]:
    """Grouped bars (metric groups, one bar per system) with CI whiskers; returns each bar's top.

    Upper bounds (oracles) are hatched.
    """
    colors = view.colors
    width = 0.8 / max(len(systems), 1)
    tops: dict[tuple[str, str], float] = {}
    x = np.arange(len(metrics))
    for i, system in enumerate(systems):
        heights, low, high = [], [], []
        for metric in metrics:
            row = stat(summary, system, metric)
            if row is None:
                heights.append(np.nan), low.append(0.0), high.append(0.0)
                continue
            mean, lo, hi = (float(row["mean"]), float(row["ci_low"]), float(row["ci_high"]))
            heights.append(mean * scale)
            low.append(max(mean - lo, 0.0) * scale)
            high.append(max(hi - mean, 0.0) * scale)
            tops[(system, metric)] = hi * scale
        offsets = x - 0.4 + width * (i + 0.5)
        ax.bar(offsets, heights, width * 0.92, yerr=[low, high], color=colors[system], label=system,
               edgecolor="white", linewidth=0.5, capsize=min(3.0, 30 * width), ecolor="#333333",
               error_kw={"elinewidth": 0.9}, hatch=UPPER_BOUND_HATCH if view.is_upper_bound(system) else None)
    ax.set_xticks(x, [textwrap.fill(view.measure(m).label, 18, break_on_hyphens=False) for m in metrics])
    fit_tick_labels(ax)
    return tops


def reference_system(view: View, summary: pd.DataFrame, metric: str, systems: Sequence[str],
                     reference: str | None) -> str | None:
    """The system the others are tested against: ``reference``, else the best one that is not an upper bound."""
    if reference is not None:
        if reference not in systems:
            raise ValueError(f"reference system {reference!r} has no {metric} scores; choose one of {', '.join(systems)}")
        if view.is_upper_bound(reference):
            raise ValueError(f"{reference!r} is an oracle (an upper bound), not a reference to test against; "
                             "pass reference= one of the real systems")
        return reference
    higher = view.measure(metric).higher_is_better is not False
    candidates = {s: float(summary.loc[(s, metric), "mean"]) for s in systems
                  if not view.is_upper_bound(s) and stat(summary, s, metric) is not None}
    if not candidates:
        return None
    return (max if higher else min)(candidates, key=lambda s: candidates[s])


def against_reference(rows: pd.DataFrame, metric: str, reference: str, others: Sequence[str], *, alpha: float,
                      n_resamples: int, seed: int) -> dict[str, str]:
    """System -> ``"above"``/``"below"`` the reference where a paired permutation test (Holm over the others) says so."""
    frame = rows[rows["metric"] == metric].pivot_table(index="document_id", columns="system", values="value",
                                                       aggfunc="first")
    tests = {}
    for other in others:
        result = stats.paired_test(frame[other].to_numpy(float), frame[reference].to_numpy(float),
                                   n_resamples=n_resamples, seed=seed)
        if result.n:
            tests[other] = result
    if not tests:
        return {}
    adjusted = stats.holm_adjust([t.p_value for t in tests.values()])
    return {other: ("above" if t.mean_diff > 0 else "below")
            for (other, t), p in zip(tests.items(), adjusted) if p <= alpha}


def metric_comparison(run: Any, metrics: Sequence[str] | None = None, *, reference: str | None = None,
                      alpha: float = 0.05, seed: int = 0, n_resamples: int = 10000) -> Figure:
    """System x metric grouped bars: means with 95 % bootstrap CIs, significance against a reference system.

    ``metrics`` defaults to the run's headline quality values (ROUGE-1/2/Lsum F1). For each
    metric every system is compared with the ``reference`` system (default: the best system
    that is not an oracle) by a paired permutation test over shared documents, Holm-corrected
    over the comparisons; ▼/▲ above a bar marks a system significantly below/above the
    reference at ``alpha``. Oracles are hatched "upper bound" bars and never tested. Bars
    start at 0. Labels and the % scale come from the run's metric descriptors.
    """
    view = view_of(run)
    if metrics is None:
        metrics = default_quality(view)
        if not metrics:
            raise nothing_to_show("metric_comparison", "the run declares no headline quality value (e.g. ROUGE); "
                                  "pass metrics=[...] naming the values to compare")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    view.require(metrics)
    summary = summary_of(view, metrics, n_resamples, seed)
    rows = view.values[view.values["metric"].isin(metrics)]
    systems = view.present(rows)
    upper = [s for s in systems if view.is_upper_bound(s)]

    marks: dict[str, dict[str, str]] = {}
    references: dict[str, str] = {}
    for metric in metrics:
        defined = [s for s in systems if stat(summary, s, metric) is not None]
        ref = reference_system(view, summary, metric, defined, reference)
        marks[metric] = {}
        if ref is None:
            continue
        references[metric] = ref
        others = [s for s in defined if s != ref and not view.is_upper_bound(s)]
        marks[metric] = against_reference(rows, metric, ref, others, alpha=alpha, n_resamples=n_resamples, seed=seed)

    measures = [view.measure(m) for m in metrics]
    scale = 100.0 if all(m.is_fraction for m in measures) else 1.0
    width = max(6.0, 1.2 + len(metrics) * (0.45 + 0.28 * len(systems)))
    fig = new_figure(width + 2.6, 4.4)
    ax = fig.add_subplot()
    tops = bars(ax, view, summary, systems, metrics, scale=scale)
    bar_width = 0.8 / max(len(systems), 1)
    ymax = max(tops.values(), default=1.0)
    for j, metric in enumerate(metrics):
        for i, system in enumerate(systems):
            if (system, metric) not in tops:
                continue
            x = j - 0.4 + bar_width * (i + 0.5)
            mark = marks[metric].get(system)
            if mark:
                ax.text(x, tops[(system, metric)] + 0.01 * ymax, BELOW if mark == "below" else ABOVE,
                        ha="center", va="bottom", fontsize=9)
            elif references.get(metric) == system:
                ax.text(x, tops[(system, metric)] + 0.01 * ymax, "ref", ha="center", va="bottom", fontsize=7,
                        fontweight="bold")
    bottom = min(0.0, ax.get_ylim()[0])  # negative only for values that can be (rescaled BERTScore)
    ax.set_ylim(bottom, ymax * 1.12 if ymax > 0 else None)
    if len(measures) == 1:
        ax.set_ylabel(measures[0].axis_label)
    else:
        ax.set_ylabel("mean (%)" if scale == 100.0 else "mean")
    ax.set_xlabel("metric")
    n_docs = rows.loc[rows["value"].notna(), "document_id"].nunique()
    ax.set_title(wrapped(f"Summary quality by system: mean and 95% bootstrap CI ({n_docs} documents)", width * 0.9))
    style(ax)
    handles = system_handles(systems, view.colors, view.labels, upper_bounds=upper)
    named = sorted(set(references.values()))
    ref_text = ", ".join(view.labels[s] for s in named) if named else "none"
    handles += [Patch(visible=False, label=f"tested against: {ref_text}\n(paired permutation test,\nHolm, α = {alpha:g})"),
                Line2D([], [], linestyle="none", marker="v", markersize=7, color="black",
                       label="significantly below the reference"),
                Line2D([], [], linestyle="none", marker="^", markersize=7, color="black",
                       label="significantly above the reference")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="system",
              fontsize=8.5)
    return fig

"""Entity factuality: the unsupported-entity rate per system, and quality against factuality."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from evalkit.report.plots.style import (NOTE_COLOR, UPPER_BOUND_HATCH, fit_axis, fit_tick_labels, new_figure, place_labels,
                                 style, suptitle, text_color, wrapped)
from evalkit.report.plots.view import nothing_to_show, stat, summary_of, view_of

MIN_SPAN_POINTS = 5.0
"""The narrowest axis :func:`quality_vs_factuality` draws for a % value, so a 0.6-point gap looks small."""


def _top(highs: list[float], floor: float) -> float:
    """An axis top just above the highest whisker, so small values still show as visible bars."""
    return max(max(highs, default=0.0) * 1.2, floor)


def _bound_note(view, systems: list[str]) -> str:
    """The axis label's note naming the hatched bars as upper bounds ("" when no system is one)."""
    bounds = [view.labels[s] for s in systems if view.is_upper_bound(s)]
    return f"; hatched grey: {', '.join(bounds)}, an upper bound (reads the references)" if bounds else ""


def factuality(run: Any, *, metric: str = "entity_precision_source", seed: int = 0,
               n_resamples: int = 10000) -> Figure:
    """Unsupported-entity rate per system: ``1 - mean(entity_precision_source)`` with its 95 % CI.

    The rate is the share of a summary's named entities not found in the source, averaged
    over summaries that name at least one entity (for the others precision is undefined and
    left out; each bar says how many summaries it rests on). The axis fits the data (rates of
    0-0.6 % get an axis of about 0-0.7 %). With ``entity_unsupported_count`` in the run, a
    second panel shows the mean number of unsupported entities per summary. Oracles are hatched, and the
    axis label says so.
    """
    view = view_of(run)
    view.require([metric], " (add the 'entities' metric to the run)")
    colors = view.colors
    rows = view.metric(metric)
    systems = view.present(rows)
    counts = "entity_unsupported_count" if view.has("entity_unsupported_count") else None
    summary = summary_of(view, [metric] + ([counts] if counts else []), n_resamples, seed)
    if not any(stat(summary, s, metric) is not None for s in systems):
        raise nothing_to_show("factuality", f"no summary names an entity, so {metric} is undefined everywhere")
    factor = view.measure(metric).display_factor

    panel = max(6.0, 1.6 + 0.8 * len(systems))
    if not counts:
        fig = new_figure(panel, 4.2)
        axes = [fig.add_subplot()]
    elif 2 * panel <= 14.0:
        fig = new_figure(2 * panel, 4.4)
        axes = fig.subplots(1, 2)
    else:  # many systems: stack the panels
        fig = new_figure(panel, 8.6)
        axes = fig.subplots(2, 1)
    ax = axes[0]
    x = np.arange(len(systems))
    stats_of = {}
    labels = []
    for system in systems:
        row = stat(summary, system, metric)
        n_total = int((rows["system"] == system).sum())
        if row is None:
            labels.append(f"{view.labels[system]}\nn=0/{n_total}")
            continue
        rate = (1 - float(row["mean"])) * factor
        low, high = (1 - float(row["ci_high"])) * factor, (1 - float(row["ci_low"])) * factor
        stats_of[system] = (rate, low, high)
        labels.append(f"{view.labels[system]}\nn={int(row['n'])}/{n_total}")
    top = _top([h for _, _, h in stats_of.values()], 0.5)
    for i, system in enumerate(systems):
        if system not in stats_of:
            ax.text(i, top * 0.02, "no entities", ha="center", va="bottom", fontsize=8, color=NOTE_COLOR, rotation=90)
            continue
        rate, low, high = stats_of[system]
        ax.bar(i, rate, 0.65, yerr=[[max(rate - low, 0)], [max(high - rate, 0)]], color=colors[system],
               label=system, capsize=4, ecolor="#333333", error_kw={"elinewidth": 0.9}, edgecolor="white",
               hatch=UPPER_BOUND_HATCH if view.is_upper_bound(system) else None)
        ax.text(i, high + top * 0.015, f"{rate:.2g}" if rate < 1 else f"{rate:.1f}", ha="center", va="bottom",
                fontsize=8)
    ax.set_xticks(x, labels)  # an upper bound is said in the axis label: a third line would run into the next name
    fit_tick_labels(ax)
    ax.set_ylim(0, top)
    ax.set_xlabel(wrapped("system (n = summaries with ≥ 1 entity / all)" + _bound_note(view, systems), panel * 0.9,
                          10.0))
    ax.set_ylabel(wrapped("unsupported entities (% of a summary's entities)" if factor == 100 else
                          f"1 − {view.measure(metric).label}", ax.get_position().height * fig.get_figheight(), 10.0))
    ax.set_title(wrapped(f"Unsupported-entity rate: 1 − {view.measure(metric).label} (95% CI)", panel * 0.85, 12.0))
    style(ax)

    if counts:
        ax2 = axes[1]
        count_rows = view.metric(counts)
        highs, drawn = [], []
        for i, system in enumerate(systems):
            row = stat(summary, system, counts)
            if row is None:
                continue
            drawn.append((i, system, float(row["mean"]), float(row["ci_low"]), float(row["ci_high"])))
            highs.append(float(row["ci_high"]))
        for i, system, mean, low, high in drawn:
            ax2.bar(i, mean, 0.65, yerr=[[max(mean - low, 0)], [max(high - mean, 0)]], color=colors[system],
                    label=system, capsize=4, ecolor="#333333", error_kw={"elinewidth": 0.9}, edgecolor="white",
                    hatch=UPPER_BOUND_HATCH if view.is_upper_bound(system) else None)
        n_all = [int(((count_rows["system"] == s) & count_rows["value"].notna()).sum()) for s in systems]
        ax2.set_xticks(x, [f"{view.labels[s]}\nn={n}" for s, n in zip(systems, n_all)])
        fit_tick_labels(ax2)
        ax2.set_ylim(0, _top(highs, 0.05))
        ax2.set_xlabel(wrapped("system (n = summaries)" + _bound_note(view, systems), panel * 0.9, 10.0))
        ax2.set_ylabel(view.measure(counts).axis_label)
        ax2.set_title(f"{view.measure(counts).label[0].upper()}{view.measure(counts).label[1:]} (95% CI)")
        style(ax2)
    suptitle(fig, "Entity factuality: named entities in summaries that the source does not support")
    return fig


def quality_vs_factuality(run: Any, x: str = "entity_precision_source", y: str = "rougeLsum_f", *,
                          error_bars: bool = True, seed: int = 0, n_resamples: int = 10000,
                          min_span: float | None = None) -> Figure:
    """One labelled point per system: mean ``x`` (default entity precision vs source) against mean ``y`` (ROUGE-Lsum).

    Error bars are the 95 % bootstrap CIs of both means. Each axis fits the data but spans at
    least ``min_span`` (default 5 points for % values), so a gap of half a point does not fill
    the chart; an axis that does not start at 0 says so in its label. Points are labelled
    with their system's name where the label overlaps nothing; oracles are diamonds marked
    "upper bound".
    """
    view = view_of(run)
    view.require([x, y])
    summary = summary_of(view, [x, y], n_resamples, seed)
    colors = view.colors
    systems = [s for s in view.systems if stat(summary, s, x) is not None and stat(summary, s, y) is not None]
    skipped = [s for s in view.present(view.values[view.values["metric"].isin([x, y])]) if s not in systems]
    if not systems:
        raise nothing_to_show("quality_vs_factuality", f"no system has defined {x} and {y} values")
    mx_, my_ = view.measure(x), view.measure(y)

    fig = new_figure(7.5, 5.2)
    ax = fig.add_subplot()
    sx, sy = mx_.display_factor, my_.display_factor
    points, lows, highs = [], ([], []), ([], [])
    for system in systems:
        rx, ry = summary.loc[(system, x)], summary.loc[(system, y)]
        mx, my = float(rx["mean"]) * sx, float(ry["mean"]) * sy
        lx, hx, ly, hy = (float(rx["ci_low"]) * sx, float(rx["ci_high"]) * sx, float(ry["ci_low"]) * sy,
                          float(ry["ci_high"]) * sy)
        upper = view.is_upper_bound(system)
        ax.errorbar(mx, my, xerr=[[mx - lx], [hx - mx]] if error_bars else None,
                    yerr=[[my - ly], [hy - my]] if error_bars else None, fmt="D" if upper else "o",
                    color=colors[system], markersize=8, elinewidth=1.0, capsize=3, label=system,
                    markeredgecolor=colors[system] if upper else "white", markeredgewidth=1.6 if upper else 0.8,
                    markerfacecolor="white" if upper else colors[system])
        points.append((mx, my))
        lows[0].append(lx), lows[1].append(ly), highs[0].append(hx), highs[1].append(hy)
    arrow_x = " →" if mx_.higher_is_better else (" ←" if mx_.higher_is_better is False else "")
    arrow_y = " →" if my_.higher_is_better else ""
    fit_axis(ax, "x", lows[0], highs[0], min_span=min_span or (MIN_SPAN_POINTS if sx == 100 else 0.0),
             label=mx_.axis_label + arrow_x, floor=0.0, ceiling=100.0 if sx == 100 else None)
    fit_axis(ax, "y", lows[1], highs[1], min_span=min_span or (MIN_SPAN_POINTS if sy == 100 else 0.0),
             label=my_.axis_label + arrow_y, floor=0.0 if sy == 100 else None, ceiling=100.0 if sy == 100 else None)
    ax.set_title("Quality vs factuality: system means, 95% CI" if error_bars else "Quality vs factuality: system means")
    style(ax, "both")
    place_labels(ax, points, [view.labels[s] + (" (upper bound)" if view.is_upper_bound(s) else "") for s in systems],
                 [text_color(colors[s]) for s in systems])
    if skipped:
        ax.text(0.0, -0.16, f"not shown (no defined {x} or {y}): {', '.join(skipped)}", transform=ax.transAxes,
                fontsize=8, color=NOTE_COLOR)
    return fig

"""Cost and latency: what each system's summaries cost and how long they took, against their quality.

Cost is what the system reported (``details.cost_usd``: API models); a system that reports
none is drawn as "cost unknown", never at 0. Latency is ``details.latency_s`` or the
summary's ``seconds``; outputs read from a file (precomputed systems) have no latency.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evalkit.report.plots.style import NOTE_COLOR, new_figure, place_labels, style, suptitle, system_handles
from evalkit.report.plots.view import View, details, nothing_to_show, ok_summaries, stat, summary_of, view_of


def _read_from_file(view: View, system: str, detail: dict[str, Any]) -> bool:
    """True when a summary was read from a file, so its ``seconds`` is file-read time, not latency."""
    return view.kind(system) == "precomputed" or "source_file" in detail


def cost_table(run: Any, quality: str | None = "rouge1_f", *, summaries: pd.DataFrame | None = None,
               seed: int = 0, n_resamples: int = 10000) -> pd.DataFrame:
    """Per system: mean cost and latency per document and mean quality, as :func:`quality_vs_cost` plots.

    Columns: ``system``, ``cost_usd`` (mean over summaries that report ``details.cost_usd``;
    NaN when none does: unknown, not free), ``n_cost``, ``latency_s`` (``details.latency_s``,
    else ``seconds``; none for outputs read from a file), ``n_latency``, ``n_summaries`` (produced without error) and, with
    ``quality``, ``quality``, ``quality_low``, ``quality_high``.
    """
    view = view_of(run, summaries)
    if view.summaries is None:
        raise ValueError("cost and latency come from the run's summaries: pass a Run or summaries=run.summaries")
    produced = ok_summaries(view.summaries)
    summary = summary_of(view, [quality], n_resamples, seed) if quality else None
    records = []
    for system in view.systems:
        rows = produced[produced["system"] == system]
        detail_rows = [details(d) for d in rows["details"]] if "details" in rows.columns else [{}] * len(rows)
        costs = [float(d["cost_usd"]) for d in detail_rows if _number(d.get("cost_usd"))]
        seconds = rows["seconds"].tolist() if "seconds" in rows.columns else [None] * len(rows)
        latencies = []
        for d, s in zip(detail_rows, seconds):
            value = d.get("latency_s") if _number(d.get("latency_s")) else (None if _read_from_file(view, system, d)
                                                                           else s)
            if _number(value):
                latencies.append(float(value))
        record = {"system": system, "cost_usd": float(np.mean(costs)) if costs else math.nan, "n_cost": len(costs),
                  "latency_s": float(np.mean(latencies)) if latencies else math.nan, "n_latency": len(latencies),
                  "n_summaries": len(rows)}
        if summary is not None:
            row = stat(summary, system, quality)
            record.update({"quality": math.nan if row is None else float(row["mean"]),
                           "quality_low": math.nan if row is None else float(row["ci_low"]),
                           "quality_high": math.nan if row is None else float(row["ci_high"])})
        records.append(record)
    return pd.DataFrame.from_records(records)


def _number(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def quality_vs_cost(run: Any, quality: str = "rougeLsum_f", *, summaries: pd.DataFrame | None = None, seed: int = 0,
                    n_resamples: int = 10000) -> Figure:
    """Quality against mean cost per document (left) and mean latency per document (right), one point per system.

    Cost is the mean of ``details.cost_usd`` over a system's summaries; a system that reports
    no cost (local and extractive systems) is drawn as a hollow marker in a separate
    "cost unknown" strip, never at 0. A system reporting cost for only some summaries is
    labelled "cost k/n". Latency is ``details.latency_s`` where present, else the summary's
    ``seconds``. Raises ValueError (nothing to show) when no system reports a cost. Axes switch to a log scale when the values span more than two decades.
    """
    view = view_of(run, summaries)
    view.require([quality])
    table = cost_table(view, quality, seed=seed, n_resamples=n_resamples)
    table = table[table["quality"].notna()]
    if not table["cost_usd"].notna().any():
        raise nothing_to_show("quality_vs_cost", "no system reports a cost (only API models do, in "
                              "details.cost_usd); see cost_table(run) for latency")
    colors = view.colors
    scale = view.measure(quality).display_factor
    known = table[table["cost_usd"].notna()]
    unknown = table[table["cost_usd"].isna()]

    strip = 0.6 + 0.45 * len(unknown)
    ratios = ([4.0] if len(known) else []) + ([strip] if len(unknown) else []) + [4.0]
    fig = new_figure(4.0 + sum(ratios) + 2.0, 4.6)
    axes = list(np.atleast_1d(fig.subplots(1, len(ratios), width_ratios=ratios, sharey=True)))
    ax_cost = axes.pop(0) if len(known) else None
    ax_unknown = axes.pop(0) if len(unknown) else None
    ax_latency = axes.pop(0)

    named: dict[Axes, list[tuple[tuple[float, float], str, str]]] = {}

    def point(ax: Axes, xv: float, row: Any, *, hollow: bool = False, note: str | None = "") -> None:
        q, lo, hi = row.quality * scale, row.quality_low * scale, row.quality_high * scale
        color = colors[row.system]
        ax.errorbar(xv, q, yerr=[[q - lo], [hi - q]], fmt="o", color=color, markersize=8, capsize=3,
                    elinewidth=1.0, markerfacecolor="white" if hollow else color, markeredgewidth=1.6,
                    label=row.system)
        if note is not None:
            named.setdefault(ax, []).append(((xv, q), view.labels[row.system] + note, "#333333"))

    def name_points(ax: Axes) -> None:
        """Label the axes' points once its scale and limits are final, clear of each other and of the legend."""
        if named.get(ax):
            points, labels, label_colors = zip(*named[ax])
            place_labels(ax, points, labels, label_colors, fontsize=8.0)

    first = ax_cost if ax_cost is not None else (ax_unknown if ax_unknown is not None else ax_latency)
    first.set_ylabel(view.measure(quality).axis_label)
    if ax_cost is not None:
        for row in known.itertuples(index=False):
            partial = f" (cost {row.n_cost}/{row.n_summaries})" if row.n_cost < row.n_summaries else ""
            point(ax_cost, row.cost_usd, row, note=partial)
        _log_if_wide(ax_cost, known["cost_usd"])
        ax_cost.margins(x=0.2)
        ax_cost.set_xlabel("mean cost per document (USD)")
        ax_cost.set_title("Quality vs cost")
        style(ax_cost, "both")

    if ax_unknown is not None:
        # A categorical strip: one column per system, named on the axis, so nothing sits at cost 0.
        for xv, row in enumerate(unknown.itertuples(index=False)):
            point(ax_unknown, xv, row, hollow=True, note=None)
        ax_unknown.set_xlim(-0.6, len(unknown) - 0.4)
        ax_unknown.set_xticks(range(len(unknown)), [view.labels[s] for s in unknown["system"]], rotation=90)
        ax_unknown.set_xlabel("cost unknown")
        ax_unknown.set_title("no cost" if len(known) else "no system\nreports cost")
        style(ax_unknown)

    with_latency = table[table["latency_s"].notna()]
    for row in with_latency.itertuples(index=False):
        point(ax_latency, row.latency_s, row, hollow=math.isnan(row.cost_usd))
    no_latency = [s for s in table["system"] if s not in set(with_latency["system"])]
    if no_latency:
        ax_latency.text(0.0, -0.2, "no latency (outputs read from a file): " + ", ".join(no_latency),
                        transform=ax_latency.transAxes, fontsize=8, color=NOTE_COLOR, va="top")
    if with_latency.empty:
        ax_latency.text(0.5, 0.5, "no latency recorded", transform=ax_latency.transAxes, ha="center",
                        va="center", color=NOTE_COLOR)
    else:
        _log_if_wide(ax_latency, with_latency["latency_s"])
        ax_latency.margins(x=0.2)
    ax_latency.set_xlabel("mean latency per document (s)")
    ax_latency.set_title("Quality vs latency")
    style(ax_latency, "both")

    systems = list(table["system"])
    handles = system_handles(systems, colors, view.labels, kind="marker")
    if len(unknown):
        handles.append(Line2D([], [], marker="o", linestyle="none", color="#333333", markerfacecolor="white",
                              markeredgewidth=1.6, label="hollow: cost unknown"))
    ax_latency.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="system")
    suptitle(fig, f"{view.measure(quality).label} vs cost and latency (means per document, 95% CI)")
    for ax in (ax_cost, ax_latency):  # once the legend and titles have taken their room
        if ax is not None:
            name_points(ax)
    return fig


def _log_if_wide(ax: Axes, values: pd.Series) -> None:
    values = values[values > 0]
    if len(values) > 1 and values.max() / values.min() > 100:
        ax.set_xscale("log")

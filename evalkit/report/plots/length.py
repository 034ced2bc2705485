"""Length compliance: words per summary against the target, and the share of summaries meeting each constraint."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evalkit.report.plots.quality import bars
from evalkit.report.plots.style import (
    fit_tick_labels,
    new_figure,
    style,
    suptitle,
    system_handles,
)
from evalkit.report.plots.view import View, details, summary_of, view_of
from evalkit.report.tables import stopped_at_budget

FLAGS = ("length_words_ok", "length_sentences_ok", "length_paragraphs_ok")
"""The length metric's per-constraint flags, in the order the share panel shows them."""
BOUND_WORDS = {"about": "about", "at_most": "at most", "at_least": "at least", "exactly": "exactly"}


def word_targets(view: View) -> dict[str, tuple[int, str]]:
    """document_id -> (target words, bound), from the summaries, the manifest or the deviations."""
    if view.targets:
        return {doc: (t.words, t.bound) for doc, t in view.targets.items() if t.words is not None}
    targets: dict[str, tuple[int, str]] = {}
    config_target = view.manifest.config.target
    if config_target is not None and config_target.words:
        return {doc: (config_target.words, config_target.bound) for doc in view.values["document_id"].unique()}
    wide = view.values[view.values["metric"].isin(["length_words", "length_word_deviation"])].pivot_table(
        index=["document_id", "system"], columns="metric", values="value", aggfunc="first")
    if {"length_words", "length_word_deviation"} <= set(wide.columns):
        for (doc, _), row in wide.dropna().iterrows():
            if doc not in targets and row["length_word_deviation"] > -1:
                targets[doc] = (int(round(row["length_words"] / (1 + row["length_word_deviation"]))), "about")
    return targets


def cut_summaries(view: View) -> set[tuple[str, str]]:
    """(document, system) of every summary the length budget stopped (:func:`~evalkit.report.tables.stopped_at_budget`
    on its details); empty without the run's summaries."""
    summaries = view.summaries
    if summaries is None or "details" not in summaries.columns:
        return set()
    return {(str(d), str(s)) for d, s, info in zip(summaries["document_id"], summaries["system"], summaries["details"])
            if stopped_at_budget(details(info))}


def word_tolerance(view: View) -> float:
    """The length metric's word tolerance for "about" targets, from the run's config (default 10 %)."""
    for entry in view.manifest.metrics.values():
        if "word_tolerance" in entry.config:
            return float(entry.config["word_tolerance"])
    for spec in view.manifest.config.metrics:
        if spec.get("kind") == "length" and "word_tolerance" in spec:
            return float(spec["word_tolerance"])
    return 0.10


def length_compliance(run: Any, *, summaries: pd.DataFrame | None = None, seed: int = 0,
                      n_resamples: int = 10000) -> Figure:
    """Length against target: words per summary per system, and the share meeting each constraint.

    Left: the distribution of ``length_words`` per system (box: quartiles, whiskers: 1.5 IQR,
    dots: summaries; crosses: summaries the length budget stopped, counted under each name as "cut")
    with the word target as a line and, for an "about" target, the tolerance band. When documents have different word targets the panel shows the relative deviation
    from each document's target instead. Right: the share of summaries meeting each
    constraint the run sets, and all of them, with 95 % CIs. The title says what is shown.
    """
    view = view_of(run, summaries)
    view.require(["length_words"], " (add the 'length' metric to the run)")
    colors = view.colors
    words = view.metric("length_words")
    systems = view.present(words)
    targets = word_targets(view)
    distinct = sorted(set(targets.values()))
    tolerance = word_tolerance(view)

    flags = [f for f in FLAGS if view.has(f)]
    if len(flags) > 1 and view.has("length_ok"):
        flags.append("length_ok")
    if not flags and view.has("length_ok"):
        flags = ["length_ok"]

    width = max(7.0, 2.0 + 0.9 * len(systems))
    share_width = 1.4 + 0.5 * len(systems) * max(len(flags), 1)
    if not flags:
        fig = new_figure(width, 4.4)
        ax, ax_ok = fig.add_subplot(), None
    elif width + share_width <= 18.0:
        fig = new_figure(width + share_width + 1.5, 4.6)
        ax, ax_ok = fig.subplots(1, 2, width_ratios=[width, share_width])
    else:  # many systems: stack the panels rather than make a banner
        fig = new_figure(max(width, 0.35 * len(systems) * len(flags) + 3.0), 9.0)
        ax, ax_ok = fig.subplots(2, 1)

    per_doc_targets = len({w for w, _ in distinct}) > 1
    rng = np.random.default_rng(seed)
    stopped = cut_summaries(view)
    data, cut, labels = [], [], []
    for system in systems:
        rows = words[(words["system"] == system) & words["value"].notna()]
        values = rows["value"].to_numpy(dtype=float)
        is_cut = np.array([(str(d), system) in stopped for d in rows["document_id"]], dtype=bool)
        if per_doc_targets:
            goal = np.array([targets.get(d, (np.nan, ""))[0] for d in rows["document_id"]], dtype=float)
            values = (values - goal) / goal * 100.0
            is_cut = is_cut[~np.isnan(values)]
            values = values[~np.isnan(values)]
        data.append(values)
        cut.append(is_cut)
        missing = int((words["system"] == system).sum()) - values.size
        labels.append(f"{view.labels[system]}\nn={values.size}" + (f" (+{missing} none)" if missing else "")
                      + (f", {int(is_cut.sum())} cut" if is_cut.any() else ""))
    positions = np.arange(len(systems))
    nonempty = [i for i, v in enumerate(data) if v.size]
    if nonempty:
        boxes = ax.boxplot([data[i] for i in nonempty], positions=positions[nonempty], widths=0.55,
                           patch_artist=True, showfliers=False, medianprops={"color": "black", "linewidth": 1.2},
                           whiskerprops={"color": "#444444"}, capprops={"color": "#444444"})
        for i, box in zip(nonempty, boxes["boxes"]):
            box.set_facecolor(to_rgba(colors[systems[i]], 0.25))
            box.set_edgecolor(colors[systems[i]])
    for i, (system, values, is_cut) in enumerate(zip(systems, data, cut)):
        jitter = rng.uniform(-0.18, 0.18, size=values.size)
        ax.scatter(positions[i] + jitter[~is_cut], values[~is_cut], s=12, color=colors[system], alpha=0.75,
                   linewidths=0, zorder=3, label=system)
        if is_cut.any():  # stopped at the budget: a cross, so a cut summary is told from one that ended by itself
            ax.scatter(positions[i] + jitter[is_cut], values[is_cut], s=30, marker="x", color="#222222",
                       linewidths=1.4, zorder=4, label=f"_{system} cut")  # dark: readable on any box colour
    ax.set_xticks(positions, labels)
    fit_tick_labels(ax)
    ax.set_xlim(-0.6, len(systems) - 0.4)
    ax.set_xlabel("system")

    bounds = {b for _, b in distinct}
    words_label = view.measure("length_words").axis_label
    if per_doc_targets:
        ax.axhline(0, color="#222222", linewidth=1.2, linestyle="--", label="document's target")
        if bounds == {"about"}:
            ax.axhspan(-tolerance * 100, tolerance * 100, color="#999999", alpha=0.15, linewidth=0,
                       label=f"±{tolerance:.0%} tolerance")
        ax.set_ylabel("deviation from the document's word target (%)")
        shown = f"deviation from each document's word target ({len({w for w, _ in distinct})} targets)"
    elif distinct:
        goal, bound = distinct[0]
        phrase = BOUND_WORDS.get(bound, bound)
        ax.axhline(goal, color="#222222", linewidth=1.2, linestyle="--", label=f"target: {phrase} {goal} words")
        if bound == "about":
            ax.axhspan(goal * (1 - tolerance), goal * (1 + tolerance), color="#999999", alpha=0.15, linewidth=0,
                       label=f"±{tolerance:.0%} tolerance")
        ax.set_ylabel(words_label)
        shown = f"words per summary vs target ({phrase} {goal} words" + (
            f" ±{tolerance:.0%})" if bound == "about" else ")")
    else:
        ax.set_ylabel(words_label)
        shown = "words per summary (the run sets no word target)"
    ax.set_title(shown[0].upper() + shown[1:])
    handles = [h for h in ax.get_legend_handles_labels()[0] if h.get_label() not in systems]
    if any(c.any() for c in cut):
        handles.append(Line2D([], [], marker="x", linestyle="none", color="#333333", markersize=6,
                              markeredgewidth=1.4, label="stopped at the length budget (cut)"))
    if handles:
        ax.legend(loc="best", frameon=False, handles=handles)
    style(ax)

    title = "Length: " + shown
    if ax_ok is not None:
        summary = summary_of(view, flags, n_resamples, seed)
        bars(ax_ok, view, summary, systems, flags)
        ax_ok.set_xticks(range(len(flags)), [textwrap.fill(view.measure(f).label, 14, break_on_hyphens=False) for f in flags])
        ax_ok.set_ylim(0, 105)
        ax_ok.set_ylabel("summaries meeting the target (%)")
        ax_ok.set_xlabel("constraint")
        ax_ok.set_title("Share on target (95% CI)")
        style(ax_ok)
        if len(systems) > 1:
            upper = [s for s in systems if view.is_upper_bound(s)]
            ax_ok.legend(handles=system_handles(systems, colors, view.labels, upper_bounds=upper), loc="upper left",
                         bbox_to_anchor=(1.01, 1.0), frameon=False, title="system")
        title += "; share of summaries with " + ", ".join(view.measure(f).label for f in flags)
    suptitle(fig, title)
    return fig

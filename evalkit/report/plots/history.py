"""The history chart: one panel per value, a line per system, runs oldest first, the gate's verdicts marked.

The x axis is the runs in time order, each labelled by its date and git commit (short hash).
A run whose recorded gate verdict is ``regressed`` is shaded red in every panel, and the points of
the checks that regressed are ringed in red (one marked set per panel, with a legend entry); a run
the gate could not compare is shaded grey and its points get grey squares. A run scored
differently from the latest one (not comparable) is drawn with hollow points and its label says so.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evalkit.report.history import History, HistoryRun
from evalkit.report.plots.style import NOTE_COLOR, fit_tick_labels, new_figure, style, suptitle
from evalkit.report.plots.view import nothing_to_show, system_colors

REGRESSED_COLOR = "#C00000"
"""A regressed run's marks: red, the one colour no system is given (Okabe-Ito has no pure red)."""
GATE_MARKS = {
    "regressed": {"marker": "o", "color": REGRESSED_COLOR, "label": "gate: regressed (ringed: the checks that failed)"},
    "incomparable": {"marker": "s", "color": NOTE_COLOR, "label": "gate: could not compare"},
}
"""How a run with each recorded verdict is marked (a passed or unchecked run is not)."""


def history_chart(history: History) -> Figure:
    """One panel per value of ``history``, a line per system over its runs (see the module docstring).

    Each system's line is the artist with ``gid`` ``system:<name>``; each verdict's marks are one
    artist per panel with ``gid`` ``gate:<verdict>`` (none in a panel where nothing is marked), its
    shading one ``band:<verdict>`` per run.
    """
    if not history.runs or history.frame.empty:
        raise nothing_to_show("history", "the runs have none of the values asked for")
    runs, frame = history.runs, history.frame
    position = {run.run_id: i for i, run in enumerate(runs)}
    colors = system_colors(list(history.systems))
    metrics = [m for m in history.metrics if (frame["metric"] == m).any()]
    width = min(16.0, max(6.5, 1.05 * len(runs) + 3.0))
    fig = new_figure(width, 0.6 + 2.4 * len(metrics))
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics):
        measure = history.measures[metric]
        rows = frame[frame["metric"] == metric]
        scale = measure.display_factor
        for system in history.systems:
            mine = rows[rows["system"] == system]
            if mine.empty:
                continue
            x = np.array([position[r] for r in mine["run"]], dtype=float)
            y = scale * mine["mean"].to_numpy(dtype=float)
            order = np.argsort(x)
            ax.plot(x[order], y[order], color=colors[system], marker="o", markersize=5, linewidth=1.6,
                    label=system, gid=f"system:{system}")
            loose = ~mine["comparable"].to_numpy(dtype=bool)
            if loose.any():
                ax.plot(x[loose], y[loose], linestyle="none", marker="o", markersize=5, markerfacecolor="white",
                        markeredgecolor=colors[system], gid=f"not-comparable:{system}")
        for verdict, look in GATE_MARKS.items():
            for run in runs:
                if run.verdict == verdict:
                    ax.axvspan(position[run.run_id] - 0.35, position[run.run_id] + 0.35, color=look["color"],
                               alpha=0.07, linewidth=0, gid=f"band:{verdict}")
            marked = rows[[_marked(runs[position[r]], verdict, s, metric) for r, s in zip(rows["run"], rows["system"])]]
            if marked.empty:
                continue
            ax.plot([position[r] for r in marked["run"]], scale * marked["mean"].to_numpy(dtype=float),
                    linestyle="none", marker=look["marker"], markersize=12, markerfacecolor="none",
                    markeredgecolor=look["color"], markeredgewidth=2.0, gid=f"gate:{verdict}", zorder=3)
        ax.set_title(f"{metric}: {measure.label}", fontsize=10, loc="left")
        ax.set_ylabel(measure.axis_label, fontsize=9)
        _pad(ax)
        style(ax)
    bottom = axes[-1]
    labels = [label.replace(" ", "\n", 1) + ("\nregressed" if run.verdict == "regressed" else
                                              "\ncould not compare" if run.verdict == "incomparable" else
                                              "\nnot comparable" if run.differences else "")
              for label, run in zip(history.labels(), runs)]
    bottom.set_xticks(range(len(runs)), labels, fontsize=8)
    for tick, run in zip(bottom.get_xticklabels(), runs):
        if run.verdict in GATE_MARKS:
            tick.set_color(GATE_MARKS[run.verdict]["color"])
    bottom.set_xlim(-0.5, len(runs) - 0.5)
    bottom.set_xlabel("run (oldest first): date, git commit")
    fit_tick_labels(bottom)
    handles = [Line2D([], [], color=colors[s], marker="o", markersize=5, label=s) for s in history.systems]
    shown = set(frame["verdict"].dropna())
    handles += [Line2D([], [], linestyle="none", marker=look["marker"], markersize=10, markerfacecolor="none",
                       markeredgecolor=look["color"], markeredgewidth=2.0, label=look["label"])
                for verdict, look in GATE_MARKS.items() if verdict in shown]
    if not frame["comparable"].all():
        handles.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor="white",
                              markeredgecolor=NOTE_COLOR, label="scored differently from the latest run"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=9, frameon=False)
    suptitle(fig, f"History of {len(runs)} runs: headline values per system")
    return fig


def _marked(run: HistoryRun, verdict: str, system: str, metric: str) -> bool:
    """Whether a point gets ``verdict``'s mark: a regressed run's points of the checks that regressed (all of its
    points when the record does not name them); every point of a run the gate could not compare."""
    if run.verdict != verdict:
        return False
    return verdict != "regressed" or not run.regressed or (system, metric) in run.regressed


def _pad(ax) -> None:
    """Leave room around the lines for the gate's rings (their markers are larger than the points)."""
    low, high = ax.get_ylim()
    span = high - low if high > low else max(abs(high), 1.0)
    if math.isfinite(span):
        ax.set_ylim(low - 0.08 * span, high + 0.08 * span)

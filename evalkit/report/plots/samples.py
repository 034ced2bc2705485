"""Sample spread per system: every sample, each document's range, and an interval with both sources of noise.

For a run whose systems wrote ``k > 1`` samples per document (temperature above 0), one row per
system: each sample is a light dot, each document's samples are joined by a thin line (its range),
and the black bar is the mean of the per-document means with its 95 % two-level bootstrap interval
(:func:`evalkit.report.sampling.two_level_bootstrap`: documents, then samples within a document).
The legend says how much of a sample's variance is sampling noise (the one-way ANOVA estimators of
:func:`evalkit.report.sampling.variance_components`). A run where every system has one sample
per document has no sampling spread to show: the chart is skipped with that reason.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evalkit.report import sampling
from evalkit.report.plots.style import new_figure, style, text_color, wrapped
from evalkit.report.plots.view import nothing_to_show, view_of


def sample_spread(run: Any, metric: str, *, seed: int = 0, n_resamples: int = 10000) -> Figure:
    """Per system: the per-sample values of ``metric``, each document's sample range, and the two-level 95 % CI."""
    view = view_of(run)
    samples = view.samples if view.samples is not None else view.values.assign(sample=0)
    if metric not in set(samples["metric"]):
        view.require([metric])
        raise nothing_to_show("sample_spread", f"the run has no per-sample {metric} scores")
    rows = samples[samples["metric"] == metric]
    systems = view.present(rows)
    matrices = {s: sampling.sample_matrix(rows, s, metric) for s in systems}
    most = {s: int((~np.isnan(m)).sum(axis=1).max(initial=0)) for s, (_, m) in matrices.items()}
    if all(k <= 1 for k in most.values()):
        raise nothing_to_show("sample_spread", "every system has one sample per document (set samples: k > 1 in the "
                                               "config to see how much a system's scores vary between samples)")
    measure = view.measure(metric)
    scale = measure.display_factor
    fig = new_figure(8.6, 1.1 + 0.75 * len(systems))
    ax = fig.add_subplot()
    rng = np.random.default_rng(seed)
    notes = []
    for row, system in enumerate(systems):
        matrix = matrices[system][1]
        color = view.colors[system]
        defined = ~np.isnan(matrix)
        y = row + rng.uniform(-0.18, 0.18, size=(matrix.shape[0], 1)) * np.ones_like(matrix)  # one height per document
        ax.scatter(scale * matrix[defined], y[defined], s=9, color=color, alpha=0.45, linewidths=0, zorder=2)
        several = defined.sum(axis=1) > 1
        ax.hlines(y[several, 0], scale * np.nanmin(matrix[several], axis=1), scale * np.nanmax(matrix[several], axis=1),
                  color=color, alpha=0.55, linewidth=0.9, zorder=1)
        mean, low, high = sampling.two_level_bootstrap(matrix, n_resamples=n_resamples, seed=seed)
        if not math.isnan(mean):
            ax.errorbar([scale * mean], [row - 0.32], xerr=[[scale * (mean - low)], [scale * (high - mean)]], fmt="o",
                        color="black", markersize=4, capsize=3, linewidth=1.4, zorder=3)
        parts = sampling.variance_components(matrix)
        share = parts.sampling_share
        notes.append(f"k = {most[system]}" + ("" if math.isnan(share) else f", {share:.0%} sampling noise"))
    ax.set_yticks(range(len(systems)), [view.labels[s] for s in systems])
    for tick, system in zip(ax.get_yticklabels(), systems):
        tick.set_color(text_color(view.colors[system]))
    ax.set_ylim(len(systems) - 0.5, -0.6)
    ax.set_xlabel(measure.axis_label)
    for row, note in enumerate(notes):
        ax.annotate(note, xy=(1.01, row), xycoords=("axes fraction", "data"), va="center", fontsize=8.5)
    n_documents = rows.loc[rows["value"].notna(), "document_id"].nunique()
    ax.set_title(wrapped(f"{measure.label}: every sample, each document's range, and the mean with a 95% interval "
                         f"over documents and samples ({n_documents} documents)", 8.0), fontsize=11)
    style(ax, grid_axis="x")
    handles = [Line2D([], [], marker="o", linestyle="none", color="#777777", alpha=0.5, label="one sample"),
               Line2D([], [], color="#777777", label="one document's range"),
               Line2D([], [], marker="o", color="black", label="mean, 95% CI (two-level bootstrap)")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16 - 0.25 / max(len(systems), 1)),
              ncol=3, frameon=False, fontsize=8.5)
    return fig

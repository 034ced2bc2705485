"""Charts of a run: quality with confidence intervals, length compliance, factuality, cost, one document.

Every chart function takes a finished :class:`evalkit.experiment.Run` (or its tidy scores
DataFrame, with the summaries frame passed as ``summaries=`` where a chart needs it) and
returns a :class:`matplotlib.figure.Figure`. Figures are built with the object API and never
touch pyplot's global state or the backend, so the module is safe in scripts, tests, threads
and notebooks (where a returned Figure displays itself). A figure not made by pyplot needs
no ``plt.close``; dropping the last reference frees it.

Conventions shared by all charts:

- **One colour per system, the same in every chart of a run.** :func:`system_colors` indexes
  the Okabe & Ito (2008) colour-blind-safe palette by the run's system order (the manifest's
  order, then any other system in name order), so "lead" is the same blue everywhere.
- **Means with 95 % percentile-bootstrap intervals** from :func:`evalkit.stats.summarize`;
  undefined values (``None``/NaN, e.g. entity precision of a summary without entities) are
  left out and counted, never read as 0.
- **Fractions are shown in percent** (ROUGE, BERTScore, entity precision, compliance flags).
- A value that is unknown (a system that reports no cost) is drawn as unknown, never as 0.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from evalkit import stats

log = logging.getLogger(__name__)

OKABE_ITO: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
                              "#F0E442")
"""Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
Yellow, the weakest on white, comes last."""

DEFAULT_QUALITY = ("rouge1_f", "rouge2_f", "rougeLsum_f")
HIGHLIGHT = "#FFD54F"
"""Background of an unsupported entity in :func:`document_view`."""
NOTE_COLOR = "#555555"

_NAME_PARTS = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum",
               "bertscore": "BERTScore", "bertscore_src": "BERTScore vs source"}
_SUFFIXES = {"f": "F1", "p": "precision", "r": "recall"}
_LABELS = {
    "entity_precision_source": "entity precision vs source",
    "entity_precision_target": "entity precision vs reference",
    "entity_recall_target": "entity recall vs reference",
    "entity_f1_target": "entity F1 vs reference",
    "entity_count": "entities per summary",
    "entity_unsupported_count": "unsupported entities per summary",
    "length_words": "summary length",
    "length_sentences": "sentences",
    "length_paragraphs": "paragraphs",
    "length_word_deviation": "deviation from word target",
    "length_words_ok": "word count on target",
    "length_sentences_ok": "sentence count on target",
    "length_paragraphs_ok": "paragraph count on target",
    "length_ok": "all length constraints met",
    "length_feasible": "target feasible",
    "compression": "compression",
    "length_compression": "compression",
    "coverage": "extractive coverage",
    "density": "extractive density",
}
_UNITS = {"length_words": "words", "length_sentences": "sentences", "length_paragraphs": "paragraphs",
          "entity_count": "count", "entity_unsupported_count": "count", "compression": "source words / summary words", "length_compression": "source words / summary words",
          "density": "words"}
_FRACTION_PREFIXES = ("rouge", "bertscore", "entity_precision", "entity_recall", "entity_f1", "novel_",
                      "coverage", "length_feasible", "length_word_deviation")
_SCORE_LINE = ("rouge1_f", "rouge2_f", "rougeL_f", "rougeLsum_f", "bertscore_f", "entity_precision_source",
               "entity_unsupported_count", "length_words", "length_ok")


# -- names, units and colours --------------------------------------------------------------

def metric_label(metric: str) -> str:
    """A readable name for a metric: ``rouge1_f`` -> ``"ROUGE-1 F1"``."""
    if metric in _LABELS:
        return _LABELS[metric]
    stem, _, suffix = metric.rpartition("_")
    if stem in _NAME_PARTS and suffix in _SUFFIXES:
        return f"{_NAME_PARTS[stem]} {_SUFFIXES[suffix]}"
    return metric


def is_fraction(metric: str) -> bool:
    """True for metrics whose values are fractions in [0, 1], which the charts show in percent."""
    return metric.startswith(_FRACTION_PREFIXES) or metric.endswith("_ok")


def axis_label(metric: str) -> str:
    """``metric_label`` with its unit: ``"ROUGE-1 F1 (%)"``, ``"summary length (words)"``."""
    unit = "%" if is_fraction(metric) else _UNITS.get(metric)
    return f"{metric_label(metric)} ({unit})" if unit else metric_label(metric)


def _scale(metric: str) -> float:
    return 100.0 if is_fraction(metric) else 1.0


def system_colors(systems: Sequence[str] | Any) -> dict[str, str]:
    """A colour per system, assigned by position in ``systems`` (a list of names, a Run or a scores frame).

    Given a Run or a frame, the run's own system order is used (manifest order, then the
    rest by name), so every chart of one run colours a system the same way whatever subset
    of systems it shows. Up to 8 systems get Okabe-Ito colours; more get ``tab20``.
    """
    if not (isinstance(systems, Sequence) and not isinstance(systems, str)):
        systems = _view(systems).systems
    names = list(dict.fromkeys(str(s) for s in systems))
    if len(names) <= len(OKABE_ITO):
        palette = list(OKABE_ITO)
    else:
        from matplotlib import colormaps
        from matplotlib.colors import to_hex

        palette = [to_hex(c) for c in colormaps["tab20"].colors]
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


# -- reading a run -------------------------------------------------------------------------

@dataclass(frozen=True)
class _View:
    """What the charts read from a run, in one normalised shape."""

    values: pd.DataFrame
    """Numeric rows: document_id, system, metric, value (float, NaN = undefined)."""
    info: pd.DataFrame
    """The ``<kind>_info`` rows (JSON in ``note``)."""
    summaries: pd.DataFrame | None
    manifest: Mapping[str, Any]
    systems: tuple[str, ...]
    """The run's systems in display order."""

    @property
    def colors(self) -> dict[str, str]:
        return system_colors(list(self.systems))

    def has(self, metric: str) -> bool:
        rows = self.values[self.values["metric"] == metric]
        return bool(rows["value"].notna().any())

    def metric(self, metric: str) -> pd.DataFrame:
        return self.values[self.values["metric"] == metric]

    def present(self, frame: pd.DataFrame) -> list[str]:
        """The run's systems that appear in ``frame``, in display order."""
        seen = set(frame["system"])
        return [s for s in self.systems if s in seen]

    def require(self, metrics: Sequence[str], hint: str = "") -> None:
        available = set(self.values["metric"])
        missing = [m for m in metrics if m not in available]
        if missing:
            listed = ", ".join(sorted(available)) or "(none)"
            raise ValueError(f"the run has no {', '.join(missing)} scores{hint}; it has: {listed}")


def _view(run: Any, summaries: pd.DataFrame | None = None) -> _View:
    manifest: Mapping[str, Any] = {}
    if isinstance(run, _View):
        return run
    if isinstance(run, pd.DataFrame):
        if "metric" in run.columns:
            scores = run
        elif {"document_id", "system", "text"} <= set(run.columns):
            scores, summaries = pd.DataFrame(columns=list(stats.REQUIRED_COLUMNS)), run
        else:
            raise ValueError(f"expected a tidy scores frame (document_id, system, metric, value) or a summaries "
                             f"frame (document_id, system, text, ...); got columns {list(run.columns)}")
    elif hasattr(run, "scores"):
        scores = run.scores
        if summaries is None:
            summaries = getattr(run, "summaries", None)
        manifest = getattr(run, "manifest", None) or {}
    else:
        raise TypeError(f"expected an evalkit Run or a scores DataFrame, got {type(run).__name__}")
    missing = [c for c in stats.REQUIRED_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"the scores table lacks column(s) {missing}; it needs {list(stats.REQUIRED_COLUMNS)}")
    metric = scores["metric"].astype(str)
    is_info = metric.str.endswith("_info")
    values = scores.loc[~is_info, ["document_id", "system", "metric", "value"]].copy()
    values["document_id"] = values["document_id"].astype(str)
    values["system"] = values["system"].astype(str)
    values["metric"] = values["metric"].astype(str)
    values["value"] = pd.to_numeric(values["value"], errors="coerce").astype(float)
    info = scores.loc[is_info].copy()
    if summaries is not None and not isinstance(summaries, pd.DataFrame):
        raise TypeError(f"summaries must be a DataFrame (Run.summaries), got {type(summaries).__name__}")
    if summaries is not None:
        summaries = summaries.copy()
        summaries["document_id"] = summaries["document_id"].astype(str)
        summaries["system"] = summaries["system"].astype(str)

    ordered = list(manifest.get("systems") or {})
    if not ordered:
        config_systems = (manifest.get("config") or {}).get("systems") or []
        ordered = [s.get("name") or s.get("kind") for s in config_systems if isinstance(s, Mapping)]
    seen = set(values["system"]) | set(info["system"].astype(str))
    if summaries is not None:
        seen |= set(summaries["system"])
    systems = [s for s in ordered if s in seen] + sorted(seen - set(ordered))
    return _View(values, info, summaries, manifest, tuple(systems))


def _summary(view: _View, metrics: Sequence[str], n_resamples: int, seed: int) -> pd.DataFrame:
    rows = view.values[view.values["metric"].isin(metrics)]
    return stats.summarize(rows, n_resamples=n_resamples, seed=seed).set_index(["system", "metric"])


def _stat(summary: pd.DataFrame, system: str, metric: str) -> pd.Series | None:
    key = (system, metric)
    if key not in summary.index or not summary.loc[key, "n"]:
        return None
    return summary.loc[key]


def _details(value: Any) -> dict[str, Any]:
    """A summary's ``details`` as a dict (it is stored as a JSON string)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _ok_summaries(summaries: pd.DataFrame) -> pd.DataFrame:
    if "error" not in summaries.columns:
        return summaries
    error = summaries["error"]
    return summaries[error.isna() | (error.astype(str) == "")]


def parse_target_key(key: Any) -> dict[str, Any]:
    """``"words=60,bound=about"`` (``LengthTarget.key()``) -> ``{"words": 60, "bound": "about"}``."""
    if not isinstance(key, str) or key in ("", "none"):
        return {}
    out: dict[str, Any] = {}
    for part in key.split(","):
        name, _, raw = part.partition("=")
        name, raw = name.strip(), raw.strip()
        if name in ("words", "sentences", "paragraphs"):
            try:
                out[name] = int(raw)
            except ValueError:
                continue
        elif name == "bound":
            out[name] = raw
    return out


def _word_targets(view: _View) -> dict[str, tuple[int, str]]:
    """document_id -> (target words, bound), from the summaries, the manifest or the deviations."""
    targets: dict[str, tuple[int, str]] = {}
    if view.summaries is not None and "target" in view.summaries.columns:
        for doc, key in view.summaries[["document_id", "target"]].drop_duplicates("document_id").itertuples(
                index=False):
            parsed = parse_target_key(key)
            if "words" in parsed:
                targets[doc] = (parsed["words"], parsed.get("bound", "about"))
        if targets or view.summaries["target"].notna().any():
            return targets
    config_target = (view.manifest.get("config") or {}).get("target") or {}
    if isinstance(config_target, Mapping) and config_target.get("words"):
        words, bound = int(config_target["words"]), config_target.get("bound") or "about"
        return {doc: (words, bound) for doc in view.values["document_id"].unique()}
    wide = view.values[view.values["metric"].isin(["length_words", "length_word_deviation"])].pivot_table(
        index=["document_id", "system"], columns="metric", values="value", aggfunc="first")
    if {"length_words", "length_word_deviation"} <= set(wide.columns):
        for (doc, _), row in wide.dropna().iterrows():
            if doc not in targets and row["length_word_deviation"] > -1:
                targets[doc] = (int(round(row["length_words"] / (1 + row["length_word_deviation"]))), "about")
    return targets


def _word_tolerance(view: _View) -> float:
    for spec in (view.manifest.get("config") or {}).get("metrics") or []:
        if isinstance(spec, Mapping) and spec.get("kind") == "length" and "word_tolerance" in spec:
            return float(spec["word_tolerance"])
    return 0.10


# -- drawing helpers -----------------------------------------------------------------------

def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    return fig


def _style(ax: Axes, grid_axis: str = "y") -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis=grid_axis, color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)


def _fit_tick_labels(ax: Axes, names: Sequence[str], inches_per_label: float) -> None:
    """Slant the x tick labels when the longest name would not fit its slot."""
    if max((len(n) for n in names), default=0) * 0.075 > inches_per_label * 0.95:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _system_handles(systems: Sequence[str], colors: Mapping[str, str], kind: str = "patch") -> list:
    if kind == "patch":
        return [Patch(facecolor=colors[s], edgecolor="none", label=s) for s in systems]
    return [Line2D([], [], marker="o", linestyle="none", color=colors[s], label=s) for s in systems]


def _bars(ax: Axes, view: _View, summary: pd.DataFrame, systems: Sequence[str], metrics: Sequence[str],
          *, scale: float = 100.0, transform=None) -> dict[tuple[str, str], float]:
    """Grouped bars (metric groups, one bar per system) with CI whiskers; returns each bar's top."""
    colors = view.colors
    width = 0.8 / max(len(systems), 1)
    tops: dict[tuple[str, str], float] = {}
    x = np.arange(len(metrics))
    for i, system in enumerate(systems):
        heights, low, high = [], [], []
        for metric in metrics:
            row = _stat(summary, system, metric)
            if row is None:
                heights.append(np.nan), low.append(0.0), high.append(0.0)
                continue
            mean, lo, hi = (float(row["mean"]), float(row["ci_low"]), float(row["ci_high"]))
            if transform is not None:
                mean, lo, hi = transform(mean, lo, hi)
            heights.append(mean * scale)
            low.append(max(mean - lo, 0.0) * scale)
            high.append(max(hi - mean, 0.0) * scale)
            tops[(system, metric)] = hi * scale
        offsets = x - 0.4 + width * (i + 0.5)
        ax.bar(offsets, heights, width * 0.92, yerr=[low, high], color=colors[system], label=system,
               edgecolor="white", linewidth=0.5, capsize=min(3.0, 30 * width), ecolor="#333333",
               error_kw={"elinewidth": 0.9})
    ax.set_xticks(x, [metric_label(m) for m in metrics])
    return tops


# -- charts --------------------------------------------------------------------------------

def metric_comparison(run: Any, metrics: Sequence[str] = DEFAULT_QUALITY, *, alpha: float = 0.05, seed: int = 0,
                      n_resamples: int = 10000, higher_is_better: bool = True) -> Figure:
    """System x metric grouped bars: means with 95 % bootstrap CIs, significant gaps to the best marked.

    For each metric the best system (highest mean, or lowest with ``higher_is_better=False``)
    is compared with every other by :func:`evalkit.stats.compare_systems` (paired permutation
    test over shared documents, Holm-corrected over all pairs); a system significantly worse
    than the best at ``alpha`` gets a "*" above its bar. The legend explains the marker.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    view = _view(run)
    view.require(metrics)
    summary = _summary(view, metrics, n_resamples, seed)
    rows = view.values[view.values["metric"].isin(metrics)]
    systems = view.present(rows)

    worse: dict[str, set[str]] = {}
    for metric in metrics:
        defined = {s: float(summary.loc[(s, metric), "mean"]) for s in systems if _stat(summary, s, metric) is not None}
        worse[metric] = set()
        if len(defined) < 2:
            continue
        best = (max if higher_is_better else min)(defined, key=lambda s: defined[s])
        pairs = stats.compare_systems(rows, metric, alpha=alpha, n_resamples=n_resamples, seed=seed,
                                      systems=list(defined))
        for pair in pairs.itertuples(index=False):
            if not pair.significant or best not in (pair.system_a, pair.system_b):
                continue
            other = pair.system_b if pair.system_a == best else pair.system_a
            best_ahead = (pair.diff > 0) == (pair.system_a == best)
            if best_ahead == higher_is_better:
                worse[metric].add(other)

    scale = 100.0 if all(is_fraction(m) for m in metrics) else 1.0
    width = max(6.0, 1.2 + len(metrics) * (0.45 + 0.28 * len(systems)))
    fig = _new_figure(width + 2.4, 4.2)
    ax = fig.add_subplot()
    tops = _bars(ax, view, summary, systems, metrics, scale=scale)
    bar_width = 0.8 / max(len(systems), 1)
    ymax = max(tops.values(), default=1.0)
    marked = False
    for j, metric in enumerate(metrics):
        for i, system in enumerate(systems):
            if system in worse[metric] and (system, metric) in tops:
                ax.text(j - 0.4 + bar_width * (i + 0.5), tops[(system, metric)] + 0.01 * ymax, "*",
                        ha="center", va="bottom", fontsize=12, fontweight="bold")
                marked = True
    bottom = min(0.0, ax.get_ylim()[0])  # negative only for metrics that can be (rescaled BERTScore)
    ax.set_ylim(bottom, ymax * 1.1 if ymax > 0 else None)
    if all(m.endswith("_f") for m in metrics):
        ylabel = "F1"
    elif len(metrics) == 1:
        ylabel = metric_label(metrics[0])
    else:
        ylabel = "score"
    ax.set_ylabel(f"{ylabel} (%)" if scale == 100.0 else ylabel)
    ax.set_xlabel("metric")
    n_docs = rows.loc[rows["value"].notna(), "document_id"].nunique()
    ax.set_title(f"Summary quality by system: mean and 95% bootstrap CI ({n_docs} documents)")
    _style(ax)
    handles = _system_handles(systems, view.colors)
    handles.append(Line2D([], [], linestyle="none", marker="$*$", markersize=9, color="black",
                          label=f"significantly below the best\nsystem (paired permutation\n"
                                f"test, Holm, α = {alpha:g})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="system")
    if not marked:
        log.info("metric_comparison: no system is significantly below the best at alpha=%g", alpha)
    return fig


def length_compliance(run: Any, *, summaries: pd.DataFrame | None = None, seed: int = 0,
                      n_resamples: int = 10000) -> Figure:
    """Length against target: words per summary per system, and the share meeting each constraint.

    Left: the distribution of ``length_words`` per system (box: quartiles, whiskers: 1.5 IQR,
    dots: summaries) with the word target as a line and, for an "about" target, the tolerance
    band. When documents have different word targets the panel shows the relative deviation
    from each document's target instead. Right: the share of summaries within the word
    tolerance (``length_words_ok``), with the right sentence and paragraph count
    (``length_sentences_ok``, ``length_paragraphs_ok``) and meeting all constraints
    (``length_ok``), for the constraints the run sets, with 95 % CIs. What the run's targets
    do not set is named in the title.
    """
    view = _view(run, summaries)
    view.require(["length_words"], " (add the 'length' metric to the run)")
    colors = view.colors
    words = view.metric("length_words")
    systems = view.present(words)
    targets = _word_targets(view)
    distinct = sorted({t for t in targets.values()})
    tolerance = _word_tolerance(view)
    notes = []

    flags = [f for f in ("length_words_ok", "length_sentences_ok", "length_paragraphs_ok") if view.has(f)]
    if len(flags) > 1 and view.has("length_ok"):
        flags.append("length_ok")
    if not flags and view.has("length_ok"):
        flags = ["length_ok"]
    if not targets:
        notes.append("no word target")
    if not view.has("length_paragraphs_ok"):
        notes.append("no paragraph target")

    width = max(7.0, 2.0 + 0.9 * len(systems))
    share_width = 1.2 + 0.5 * len(systems) * max(len(flags), 1)
    if not flags:
        fig = _new_figure(width, 4.4)
        ax, ax_ok = fig.add_subplot(), None
    elif width + share_width <= 18.0:
        fig = _new_figure(width + share_width + 1.5, 4.4)
        ax, ax_ok = fig.subplots(1, 2, width_ratios=[width, share_width])
    else:  # many systems: stack the panels rather than make a banner
        fig = _new_figure(max(width, 0.35 * len(systems) * len(flags) + 3.0), 9.0)
        ax, ax_ok = fig.subplots(2, 1)

    per_doc_targets = len({w for w, _ in distinct}) > 1
    rng = np.random.default_rng(seed)
    data, labels = [], []
    for system in systems:
        rows = words[(words["system"] == system) & words["value"].notna()]
        values = rows["value"].to_numpy(dtype=float)
        if per_doc_targets:
            goal = np.array([targets.get(d, (np.nan, ""))[0] for d in rows["document_id"]], dtype=float)
            values = (values - goal) / goal * 100.0
            values = values[~np.isnan(values)]
        data.append(values)
        missing = int((words["system"] == system).sum()) - values.size
        labels.append(f"{system}\nn={values.size}" + (f" (+{missing} none)" if missing else ""))
    positions = np.arange(len(systems))
    nonempty = [i for i, v in enumerate(data) if v.size]
    if nonempty:
        boxes = ax.boxplot([data[i] for i in nonempty], positions=positions[nonempty], widths=0.55,
                           patch_artist=True, showfliers=False, medianprops={"color": "black", "linewidth": 1.2},
                           whiskerprops={"color": "#444444"}, capprops={"color": "#444444"})
        for i, box in zip(nonempty, boxes["boxes"]):
            box.set_facecolor(to_rgba(colors[systems[i]], 0.25))
            box.set_edgecolor(colors[systems[i]])
    for i, (system, values) in enumerate(zip(systems, data)):
        jitter = rng.uniform(-0.18, 0.18, size=values.size)
        ax.scatter(positions[i] + jitter, values, s=12, color=colors[system], alpha=0.75, linewidths=0, zorder=3,
                   label=system)
    ax.set_xticks(positions, labels)
    _fit_tick_labels(ax, systems, width / max(len(systems), 1))
    ax.set_xlim(-0.6, len(systems) - 0.4)
    ax.set_xlabel("system")

    bounds = {b for _, b in distinct}
    if per_doc_targets:
        ax.axhline(0, color="#222222", linewidth=1.2, linestyle="--", label="document's target")
        if bounds == {"about"}:
            ax.axhspan(-tolerance * 100, tolerance * 100, color="#999999", alpha=0.15, linewidth=0,
                       label=f"±{tolerance:.0%} tolerance")
        ax.set_ylabel("deviation from the document's word target (%)")
        ax.set_title(f"Words vs target ({len({w for w, _ in distinct})} different targets)")
    elif distinct:
        goal, bound = distinct[0]
        phrase = {"about": "about", "at_most": "at most", "at_least": "at least", "exactly": "exactly"}.get(bound, "")
        ax.axhline(goal, color="#222222", linewidth=1.2, linestyle="--", label=f"target: {phrase} {goal} words")
        if bound == "about":
            ax.axhspan(goal * (1 - tolerance), goal * (1 + tolerance), color="#999999", alpha=0.15, linewidth=0,
                       label=f"±{tolerance:.0%} tolerance")
        ax.set_ylabel("summary length (words)")
        ax.set_title(f"Words per summary vs target ({phrase} {goal} words)")
    else:
        ax.set_ylabel("summary length (words)")
        ax.set_title("Words per summary (no word target)")
    if distinct:
        ax.legend(loc="best", frameon=False, handles=[h for h in ax.get_legend_handles_labels()[0]
                                                       if h.get_label() not in systems])
    _style(ax)

    if ax_ok is not None:
        summary = _summary(view, flags, n_resamples, seed)
        _bars(ax_ok, view, summary, systems, flags)
        names = {"length_words_ok": "words" + (f"\n±{tolerance:.0%}" if bounds <= {"about"} and bounds else ""),
                 "length_sentences_ok": "sentences", "length_paragraphs_ok": "paragraphs",
                 "length_ok": "all"}
        ax_ok.set_xticks(range(len(flags)), [names[f] for f in flags])
        ax_ok.set_ylim(0, 105)
        ax_ok.set_ylabel("summaries meeting the target (%)")
        ax_ok.set_xlabel("constraint")
        ax_ok.set_title("Share on target (95% CI)")
        _style(ax_ok)
        if len(systems) > 1:
            ax_ok.legend(handles=_system_handles(systems, colors), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                         frameon=False, title="system")
    title = "Length compliance"
    if notes:
        title += f" ({'; '.join(notes)})"
    fig.suptitle(title, fontweight="bold")
    return fig


def factuality(run: Any, *, metric: str = "entity_precision_source", seed: int = 0,
               n_resamples: int = 10000) -> Figure:
    """Hallucinated-entity rate per system: ``1 - mean(entity_precision_source)`` with its 95 % CI.

    The rate is the share of a summary's named entities not found in the source, averaged
    over summaries that name at least one entity (for the others precision is undefined and
    left out; each bar says how many summaries it rests on). With ``entity_unsupported_count``
    in the run, a second panel shows the mean number of unsupported entities per summary,
    which also counts summaries whose rate is undefined.
    """
    view = _view(run)
    view.require([metric], " (add the 'entities' metric to the run)")
    colors = view.colors
    rows = view.metric(metric)
    systems = view.present(rows)
    counts = "entity_unsupported_count" if view.has("entity_unsupported_count") else None
    summary = _summary(view, [metric] + ([counts] if counts else []), n_resamples, seed)

    panel = max(6.0, 1.6 + 0.8 * len(systems))
    if not counts:
        fig = _new_figure(panel, 4.2)
        axes = [fig.add_subplot()]
    elif 2 * panel <= 14.0:
        fig = _new_figure(2 * panel, 4.2)
        axes = fig.subplots(1, 2)
    else:  # many systems: stack the panels
        fig = _new_figure(panel, 8.4)
        axes = fig.subplots(2, 1)
    ax = axes[0]
    x = np.arange(len(systems))
    tops = []
    labels = []
    for i, system in enumerate(systems):
        row = _stat(summary, system, metric)
        n_total = int((rows["system"] == system).sum())
        if row is None:
            labels.append(f"{system}\nn=0/{n_total}")
            ax.text(i, 1, "no entities", ha="center", va="bottom", fontsize=8, color=NOTE_COLOR, rotation=90)
            continue
        rate = (1 - float(row["mean"])) * 100
        low, high = (1 - float(row["ci_high"])) * 100, (1 - float(row["ci_low"])) * 100
        ax.bar(i, rate, 0.65, yerr=[[max(rate - low, 0)], [max(high - rate, 0)]], color=colors[system],
               label=system, capsize=4, ecolor="#333333", error_kw={"elinewidth": 0.9})
        ax.text(i, high + 1, f"{rate:.1f}", ha="center", va="bottom", fontsize=8)
        tops.append(high)
        labels.append(f"{system}\nn={int(row['n'])}/{n_total}")
    ax.set_xticks(x, labels)
    _fit_tick_labels(ax, systems, max(6.0, 1.6 + 0.8 * len(systems)) / max(len(systems), 1))
    ax.set_ylim(0, max(10.0, max(tops, default=0.0) * 1.15))
    ax.set_xlabel("system (n = summaries with ≥ 1 entity / all)")
    ax.set_ylabel("unsupported entities (% of a summary's entities)")
    ax.set_title("Hallucinated-entity rate: 1 − entity precision vs source (95% CI)")
    _style(ax)

    if counts:
        ax2 = axes[1]
        count_rows = view.metric(counts)
        highs = []
        for i, system in enumerate(systems):
            row = _stat(summary, system, counts)
            if row is None:
                continue
            mean, low, high = float(row["mean"]), float(row["ci_low"]), float(row["ci_high"])
            ax2.bar(i, mean, 0.65, yerr=[[max(mean - low, 0)], [max(high - mean, 0)]], color=colors[system],
                    label=system, capsize=4, ecolor="#333333", error_kw={"elinewidth": 0.9})
            highs.append(high)
        n_all = [int(((count_rows["system"] == s) & count_rows["value"].notna()).sum()) for s in systems]
        ax2.set_xticks(x, [f"{s}\nn={n}" for s, n in zip(systems, n_all)])
        _fit_tick_labels(ax2, systems, max(6.0, 1.6 + 0.8 * len(systems)) / max(len(systems), 1))
        ax2.set_ylim(0, max(1.0, max(highs, default=0.0) * 1.15))
        ax2.set_xlabel("system (n = summaries)")
        ax2.set_ylabel("unsupported entities per summary (count)")
        ax2.set_title("Unsupported entities per summary (95% CI)")
        _style(ax2)
    fig.suptitle("Entity factuality", fontweight="bold")
    return fig


def quality_vs_factuality(run: Any, x: str = "entity_precision_source", y: str = "rougeL_f", *,
                          error_bars: bool = True, seed: int = 0, n_resamples: int = 10000) -> Figure:
    """One labelled point per system: mean ``x`` (default entity precision vs source) against mean ``y``.

    Error bars are the 95 % bootstrap CIs of both means. Up and to the right is better for
    the defaults (more faithful and closer to the references). Points are labelled with their
    system's name in place of a legend.
    """
    view = _view(run)
    view.require([x, y])
    summary = _summary(view, [x, y], n_resamples, seed)
    colors = view.colors
    systems = [s for s in view.systems if _stat(summary, s, x) is not None and _stat(summary, s, y) is not None]
    skipped = [s for s in view.present(view.values[view.values["metric"].isin([x, y])]) if s not in systems]

    fig = _new_figure(7.5, 5.0)
    ax = fig.add_subplot()
    sx, sy = _scale(x), _scale(y)
    for system in systems:
        rx, ry = summary.loc[(system, x)], summary.loc[(system, y)]
        mx, my = float(rx["mean"]) * sx, float(ry["mean"]) * sy
        if error_bars:
            xerr = [[mx - float(rx["ci_low"]) * sx], [float(rx["ci_high"]) * sx - mx]]
            yerr = [[my - float(ry["ci_low"]) * sy], [float(ry["ci_high"]) * sy - my]]
        else:
            xerr = yerr = None
        ax.errorbar(mx, my, xerr=xerr, yerr=yerr, fmt="o", color=colors[system], markersize=8,
                    elinewidth=1.0, capsize=3, label=system, markeredgecolor="white", markeredgewidth=0.8)
        ax.annotate(system, (mx, my), xytext=(6, 6), textcoords="offset points", fontsize=9, parse_math=False,
                    color=colors[system] if colors[system] != OKABE_ITO[-1] else "#8A7F00")
    ax.set_xlabel(axis_label(x) + " →" if x.startswith("entity_precision") else axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.set_title("Quality vs factuality: system means, 95% CI" if error_bars else "Quality vs factuality: system means")
    ax.margins(0.12)
    _style(ax, "both")
    if skipped:
        ax.text(0.0, -0.16, f"not shown (no defined {x} or {y}): {', '.join(skipped)}", transform=ax.transAxes,
                fontsize=8, color=NOTE_COLOR)
    return fig


def cost_table(run: Any, quality: str | None = "rouge1_f", *, summaries: pd.DataFrame | None = None,
               seed: int = 0, n_resamples: int = 10000) -> pd.DataFrame:
    """Per system: mean cost and latency per document and mean quality, as :func:`quality_vs_cost` plots.

    Columns: ``system``, ``cost_usd`` (mean over summaries that report ``details.cost_usd``;
    NaN when none does: unknown, not free), ``n_cost``, ``latency_s`` (``details.latency_s``,
    else ``seconds``), ``n_latency``, ``n_summaries`` (produced without error) and, with
    ``quality``, ``quality``, ``quality_low``, ``quality_high``.
    """
    view = _view(run, summaries)
    if view.summaries is None:
        raise ValueError("cost and latency come from the run's summaries: pass a Run or summaries=run.summaries")
    produced = _ok_summaries(view.summaries)
    summary = _summary(view, [quality], n_resamples, seed) if quality else None
    records = []
    for system in view.systems:
        rows = produced[produced["system"] == system]
        details = [_details(d) for d in rows["details"]] if "details" in rows.columns else [{}] * len(rows)
        costs = [float(d["cost_usd"]) for d in details if _number(d.get("cost_usd"))]
        seconds = rows["seconds"].tolist() if "seconds" in rows.columns else [None] * len(rows)
        latencies = []
        for d, s in zip(details, seconds):
            value = d.get("latency_s") if _number(d.get("latency_s")) else s
            if _number(value):
                latencies.append(float(value))
        record = {"system": system, "cost_usd": float(np.mean(costs)) if costs else math.nan, "n_cost": len(costs),
                  "latency_s": float(np.mean(latencies)) if latencies else math.nan, "n_latency": len(latencies),
                  "n_summaries": len(rows)}
        if summary is not None:
            row = _stat(summary, system, quality)
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


def quality_vs_cost(run: Any, quality: str = "rouge1_f", *, summaries: pd.DataFrame | None = None, seed: int = 0,
                    n_resamples: int = 10000) -> Figure:
    """Quality against mean cost per document (left) and mean latency per document (right), one point per system.

    Cost is the mean of ``details.cost_usd`` over a system's summaries; a system that reports
    no cost (local and extractive systems) is drawn as a hollow marker in a separate
    "cost unknown" strip, never at 0. A system reporting cost for only some summaries is
    labelled "cost k/n". Latency is ``details.latency_s`` where present, else the summary's
    ``seconds``. Axes switch to a log scale when the values span more than two decades.
    """
    view = _view(run, summaries)
    view.require([quality])
    table = cost_table(view, quality, seed=seed, n_resamples=n_resamples)
    table = table[table["quality"].notna()]
    colors = view.colors
    scale = _scale(quality)
    known = table[table["cost_usd"].notna()]
    unknown = table[table["cost_usd"].isna()]

    strip = 0.6 + 0.45 * len(unknown)
    ratios = ([4.0] if len(known) else []) + ([strip] if len(unknown) else []) + [4.0]
    fig = _new_figure(4.0 + sum(ratios) + 2.0, 4.6)
    axes = list(np.atleast_1d(fig.subplots(1, len(ratios), width_ratios=ratios, sharey=True)))
    ax_cost = axes.pop(0) if len(known) else None
    ax_unknown = axes.pop(0) if len(unknown) else None
    ax_latency = axes.pop(0)

    def point(ax: Axes, xv: float, row: Any, *, hollow: bool = False, note: str | None = "") -> None:
        q, lo, hi = row.quality * scale, row.quality_low * scale, row.quality_high * scale
        color = colors[row.system]
        ax.errorbar(xv, q, yerr=[[q - lo], [hi - q]], fmt="o", color=color, markersize=8, capsize=3,
                    elinewidth=1.0, markerfacecolor="white" if hollow else color, markeredgewidth=1.6,
                    label=row.system)
        if note is not None:
            ax.annotate(row.system + note, (xv, q), xytext=(6, 5), textcoords="offset points", fontsize=8,
                        color="#333333", parse_math=False)

    first = ax_cost if ax_cost is not None else (ax_unknown if ax_unknown is not None else ax_latency)
    first.set_ylabel(axis_label(quality))
    if ax_cost is not None:
        for row in known.itertuples(index=False):
            partial = f" (cost {row.n_cost}/{row.n_summaries})" if row.n_cost < row.n_summaries else ""
            point(ax_cost, row.cost_usd, row, note=partial)
        _log_if_wide(ax_cost, known["cost_usd"])
        ax_cost.margins(x=0.2)
        ax_cost.set_xlabel("mean cost per document (USD)")
        ax_cost.set_title("Quality vs cost")
        _style(ax_cost, "both")

    if ax_unknown is not None:
        # A categorical strip: one column per system, named on the axis, so nothing sits at cost 0.
        for xv, row in enumerate(unknown.itertuples(index=False)):
            point(ax_unknown, xv, row, hollow=True, note=None)
        ax_unknown.set_xlim(-0.6, len(unknown) - 0.4)
        ax_unknown.set_xticks(range(len(unknown)), list(unknown["system"]), rotation=90)
        ax_unknown.set_xlabel("cost unknown")
        ax_unknown.set_title("no cost" if len(known) else "no system\nreports cost")
        _style(ax_unknown)

    with_latency = table[table["latency_s"].notna()]
    for row in with_latency.itertuples(index=False):
        point(ax_latency, row.latency_s, row, hollow=math.isnan(row.cost_usd))
    if with_latency.empty:
        ax_latency.text(0.5, 0.5, "no latency recorded", transform=ax_latency.transAxes, ha="center",
                        va="center", color=NOTE_COLOR)
    else:
        _log_if_wide(ax_latency, with_latency["latency_s"])
        ax_latency.margins(x=0.2)
    ax_latency.set_xlabel("mean latency per document (s)")
    ax_latency.set_title("Quality vs latency")
    _style(ax_latency, "both")

    systems = list(table["system"])
    handles = _system_handles(systems, colors, kind="marker")
    if len(unknown):
        handles.append(Line2D([], [], marker="o", linestyle="none", color="#333333", markerfacecolor="white",
                              markeredgewidth=1.6, label="hollow: cost unknown"))
    ax_latency.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="system")
    fig.suptitle(f"{metric_label(quality)} vs cost and latency (means per document, 95% CI)", fontweight="bold")
    return fig


def _log_if_wide(ax: Axes, values: pd.Series) -> None:
    values = values[values > 0]
    if len(values) > 1 and values.max() / values.min() > 100:
        ax.set_xscale("log")


# -- one document ----------------------------------------------------------------------------

def _entity_text(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        value = item.get("text") or item.get("entity") or item.get("name")
        return str(value) if value else None
    if isinstance(item, (list, tuple)) and item:
        return str(item[0])
    return None


def unsupported_entities(run: Any, document_id: str, system: str) -> list[str]:
    """The unsupported entities the entity metric recorded for one summary (``entities_info``), or []."""
    view = _view(run)
    rows = view.info[(view.info["metric"].astype(str) == "entities_info")
                     & (view.info["document_id"].astype(str) == str(document_id))
                     & (view.info["system"].astype(str) == system)]
    out: list[str] = []
    for note in rows["note"]:
        if not isinstance(note, str):
            continue
        try:
            info = json.loads(note)
        except json.JSONDecodeError:
            log.warning("entities_info for %s/%s is not JSON; no entities highlighted", document_id, system)
            continue
        for item in info.get("unsupported_entities") or []:
            text = _entity_text(item)
            if text and text not in out:
                out.append(text)
    return out


def entity_spans(text: str, entities: Sequence[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) spans of ``entities`` in ``text``, longest entity first.

    Matching is case-insensitive, and an entity that starts or ends with a letter or digit
    must do so at a word boundary ("US" does not match inside "USB").
    """
    spans: list[tuple[int, int]] = []
    for entity in sorted({e for e in entities if e and e.strip()}, key=len, reverse=True):
        pattern = re.escape(entity.strip())
        if re.match(r"\w", entity.strip()):
            pattern = r"(?<!\w)" + pattern
        if re.search(r"\w$", entity.strip()):
            pattern += r"(?!\w)"
        for match in re.finditer(pattern, text, flags=re.IGNORECASE):
            start, end = match.span()
            if all(end <= s or start >= e for s, e in spans):
                spans.append((start, end))
    return sorted(spans)


def _segments(text: str, entities: Sequence[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_unsupported_entity) in order."""
    out, position = [], 0
    for start, end in entity_spans(text, entities):
        if start > position:
            out.append((text[position:start], False))
        out.append((text[start:end], True))
        position = end
    if position < len(text):
        out.append((text[position:], False))
    return out


@dataclass(frozen=True)
class _DocumentEntry:
    """One system's output for the document view."""

    system: str
    text: str
    error: str | None
    unsupported: list[str]
    scores: dict[str, float]
    target: str | None


def _resolve_source(source_text: Any, document_id: str) -> str | None:
    if source_text is None or isinstance(source_text, str):
        return source_text
    if hasattr(source_text, "text") and hasattr(source_text, "id"):
        return source_text.text
    if isinstance(source_text, Mapping):
        found = source_text.get(document_id)
        return _resolve_source(found, document_id) if found is not None else None
    if isinstance(source_text, Sequence):
        for doc in source_text:
            if getattr(doc, "id", None) == document_id:
                return doc.text
        return None
    raise TypeError("source_text must be a string, a Document, or a list/dict of Documents")


def _document_entries(view: _View, document_id: str) -> list[_DocumentEntry]:
    document_id = str(document_id)
    values = view.values[view.values["document_id"] == document_id]
    texts = {}
    if view.summaries is not None:
        rows = view.summaries[view.summaries["document_id"] == document_id]
        for row in rows.to_dict("records"):
            error = row.get("error")
            if error is None or (isinstance(error, float) and math.isnan(error)) or error == "":
                error = None
            else:
                error = str(error)
            target = row.get("target") if isinstance(row.get("target"), str) else None
            texts[row["system"]] = (row.get("text") or "", error, target)
    present = set(values["system"]) | set(texts)
    if not present:
        known = sorted(set(view.values["document_id"]))[:10]
        raise KeyError(f"document {document_id!r} is not in this run; e.g. {', '.join(known)}")
    entries = []
    for system in [s for s in view.systems if s in present]:
        text, error, target = texts.get(system, ("", None, None))
        scores = {row.metric: row.value for row in values[values["system"] == system].itertuples(index=False)
                  if not math.isnan(row.value)}
        entries.append(_DocumentEntry(system, text if isinstance(text, str) else "", error,
                                      unsupported_entities(view, document_id, system), scores, target))
    return entries


def _score_line(entry: _DocumentEntry) -> str:
    parts = []
    for metric in _SCORE_LINE:
        if metric not in entry.scores:
            continue
        value = entry.scores[metric]
        if metric == "length_words":
            goal = parse_target_key(entry.target).get("words")
            parts.append(f"{value:.0f} words" + (f" (target {goal})" if goal else ""))
        elif metric == "length_ok":
            parts.append("length on target" if value else "length off target")
        elif metric == "entity_unsupported_count":
            parts.append(f"{value:.0f} unsupported entities")
        elif is_fraction(metric):
            parts.append(f"{metric_label(metric)} {value * 100:.1f}")
        else:
            parts.append(f"{metric_label(metric)} {value:.3g}")
    return " · ".join(parts)


def document_view_html(run: Any, document_id: str, source_text: Any = None, *,
                       summaries: pd.DataFrame | None = None) -> str:
    """One document as an HTML fragment: the source, each system's summary and its scores.

    Unsupported entities (from the entity metric's ``entities_info``) are wrapped in
    ``<mark>``; every piece of text is escaped with :func:`html.escape`. Display it in a
    notebook with ``IPython.display.HTML(...)``. ``source_text`` is the article (the run does
    not store sources): a string, a Document, or the run's documents as a list or dict.
    """
    view = _view(run, summaries)
    entries = _document_entries(view, document_id)
    source = _resolve_source(source_text, str(document_id))
    colors = view.colors
    out = ['<div class="evalkit-document" style="font-family:sans-serif;max-width:60em">',
           f"<h3>Document {html.escape(str(document_id))}</h3>"]
    if source is not None:
        out.append(f'<details><summary>Source ({len(source.split())} words)</summary>'
                   f'<div style="white-space:pre-wrap">{html.escape(source)}</div></details>')
    else:
        out.append("<p><em>Source text not given (the run does not store it).</em></p>")
    for entry in entries:
        out.append(f'<h4 style="margin-bottom:0.2em;border-left:0.4em solid {colors[entry.system]};'
                   f'padding-left:0.4em">{html.escape(entry.system)}</h4>')
        if entry.error is not None:
            out.append(f"<p><em>No summary: {html.escape(entry.error)}</em></p>")
            continue
        body = "".join(f"<mark>{html.escape(piece)}</mark>" if marked else html.escape(piece)
                       for piece, marked in _segments(entry.text, entry.unsupported))
        out.append(f'<div style="white-space:pre-wrap">{body}</div>')
        line = _score_line(entry)
        if line:
            out.append(f'<div style="color:#555;font-size:0.9em">{html.escape(line)}</div>')
    out.append('<p style="font-size:0.85em;color:#555"><mark>highlighted</mark>: named entity not found in the '
               "source (unsupported).</p></div>")
    return "\n".join(out)


def document_view_text(run: Any, document_id: str, source_text: Any = None, *,
                       summaries: pd.DataFrame | None = None, width: int = 100) -> str:
    """The document view as plain text (unsupported entities in ``[[...]]``), for terminals and logs."""
    view = _view(run, summaries)
    entries = _document_entries(view, document_id)
    source = _resolve_source(source_text, str(document_id))
    lines = [f"Document {document_id}", ""]
    if source is not None:
        lines += ["SOURCE", textwrap.fill(source, width), ""]
    for entry in entries:
        lines.append(entry.system.upper())
        if entry.error is not None:
            lines += [f"(no summary: {entry.error})", ""]
            continue
        marked = "".join(f"[[{piece}]]" if flag else piece for piece, flag in _segments(entry.text, entry.unsupported))
        lines += [textwrap.fill(paragraph, width) for paragraph in marked.split("\n")]
        if _score_line(entry):
            lines.append("  " + _score_line(entry))
        lines.append("")
    return "\n".join(lines)


def _wrap_segments(segments: list[tuple[str, bool]], width: int) -> list[list[tuple[str, bool]]]:
    """Greedy word wrap of highlighted segments; an entity is never split across lines."""
    tokens: list[tuple[str, bool]] = []
    breaks: list[bool] = []  # a forced line break before this token
    pending_break = False
    for piece, marked in segments:
        if marked:
            tokens.append((piece.replace("\n", " "), True))
            breaks.append(pending_break)
            pending_break = False
            continue
        for i, paragraph in enumerate(piece.split("\n")):
            if i:
                pending_break = True
            for word in re.findall(r"\S+|\s+", paragraph):
                if word.isspace():
                    tokens.append((" ", False))
                else:
                    tokens.append((word, False))
                breaks.append(pending_break)
                pending_break = False
    lines: list[list[tuple[str, bool]]] = [[]]
    used = 0
    for (token, marked), forced in zip(tokens, breaks):
        if forced and lines[-1]:
            lines.append([])
            used = 0
        if token == " " and not lines[-1]:
            continue
        if used + len(token) > width and lines[-1] and token != " ":
            lines.append([])
            used = 0
        lines[-1].append((token, marked))
        used += len(token)
    merged_lines = []
    for line in lines:
        merged: list[tuple[str, bool]] = []
        for token, marked in line:
            if merged and merged[-1][1] == marked:
                merged[-1] = (merged[-1][0] + token, marked)
            else:
                merged.append((token, marked))
        if merged and not merged[-1][1]:
            merged[-1] = (merged[-1][0].rstrip(), False)
        merged_lines.append([m for m in merged if m[0]])
    return merged_lines


def document_view(run: Any, document_id: str, source_text: Any = None, *, summaries: pd.DataFrame | None = None,
                  output: Literal["figure", "html", "text"] = "figure", source_chars: int = 900,
                  width: float = 10.0) -> Figure | str:
    """The per-document view: the source, each system's summary with unsupported entities highlighted, scores.

    ``output="figure"`` (default) draws it as a figure for a report; ``"html"`` returns
    :func:`document_view_html` (best in notebooks: full source, real highlighting, selectable
    text) and ``"text"`` returns :func:`document_view_text` (no graphics at all). The figure
    shows the first ``source_chars`` characters of the source.
    """
    if output == "html":
        return document_view_html(run, document_id, source_text, summaries=summaries)
    if output == "text":
        return document_view_text(run, document_id, source_text, summaries=summaries)
    if output != "figure":
        raise ValueError(f"output must be 'figure', 'html' or 'text', got {output!r}")
    view = _view(run, summaries)
    entries = _document_entries(view, document_id)
    source = _resolve_source(source_text, str(document_id))
    colors = view.colors
    fontsize = 9.0
    chars = int((width - 0.6) * 72 / (fontsize * 0.56))

    # Build the content as rows of (kind, payload), then lay them out top-down in inches.
    rows: list[tuple[str, Any]] = [("title", f"Document {document_id}")]
    rows.append(("heading", ("Source", "#222222")))
    if source is None:
        rows.append(("note", "(source text not given; the run does not store it: pass source_text=)"))
    else:
        shown = source if len(source) <= source_chars else source[:source_chars].rsplit(" ", 1)[0] + " …"
        for paragraph in shown.split("\n"):
            for line in textwrap.wrap(paragraph, chars) or [""]:
                rows.append(("plain", line))
    for entry in entries:
        rows.append(("gap", None))
        rows.append(("heading", (entry.system, colors[entry.system])))
        if entry.error is not None:
            rows.append(("note", f"(no summary: {entry.error})"))
            continue
        for line in _wrap_segments(_segments(entry.text, entry.unsupported), chars):
            rows.append(("rich", line))
        line = _score_line(entry)
        if line:
            rows.append(("note", line))
    rows.append(("gap", None))
    rows.append(("rich", [("unsupported entity", True),
                          (" = named in the summary but not found in the source", False)]))

    line_in = fontsize * 1.5 / 72
    heights = {"title": 2.0, "heading": 1.35, "gap": 0.5}
    total = sum(heights.get(kind, 1.0) for kind, _ in rows) * line_in + 0.3
    fig = Figure(figsize=(width, total), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(total, 0)  # inches from the top
    left = 0.3
    y = 0.15
    box = {"facecolor": HIGHLIGHT, "edgecolor": "none", "pad": 1.0}
    for kind, payload in rows:
        step = heights.get(kind, 1.0) * line_in
        y += step
        base = y - 0.3 * line_in
        if kind == "title":
            ax.text(left, base, payload, fontsize=13, fontweight="bold", va="baseline", parse_math=False)
        elif kind == "heading":
            label, color = payload
            ax.text(left, base, label, fontsize=10.5, fontweight="bold", color=color, va="baseline",
                    parse_math=False)
        elif kind == "plain":
            ax.text(left, base, payload, fontsize=fontsize, color="#333333", va="baseline", parse_math=False)
        elif kind == "note":
            ax.text(left, base, payload, fontsize=fontsize - 0.5, color=NOTE_COLOR, style="italic", va="baseline",
                    parse_math=False)
        elif kind == "rich":
            previous = None
            for piece, marked in payload:
                style = {"fontsize": fontsize, "parse_math": False, "bbox": box if marked else None}
                if previous is None:
                    previous = ax.text(left, base, piece, va="baseline", **style)
                else:
                    previous = ax.annotate(piece, xy=(1, 0), xycoords=previous, va="bottom", ha="left", **style)
    return fig


# -- everything at once ----------------------------------------------------------------------

def save_all(run: Any, out_dir: str | Path, *, formats: Sequence[str] = ("png",), dpi: int = 200,
             seed: int = 0) -> list[Path]:
    """Write every chart the run has data for into ``out_dir``; returns the files written.

    Charts whose inputs are missing (no entity metric, no cost or latency) are skipped with an
    ``INFO`` log line that says what is missing.
    """
    view = _view(run)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    charts: list[tuple[str, Any]] = []
    quality = [m for m in DEFAULT_QUALITY if view.has(m)]
    if quality:
        charts.append(("metric_comparison", lambda: metric_comparison(view, quality, seed=seed)))
    else:
        log.info("save_all: no ROUGE scores; metric_comparison skipped")
    if view.has("length_words"):
        charts.append(("length_compliance", lambda: length_compliance(view, seed=seed)))
    else:
        log.info("save_all: no length_words scores; length_compliance skipped")
    if view.has("entity_precision_source"):
        charts.append(("factuality", lambda: factuality(view, seed=seed)))
        y = next((m for m in ("rougeL_f", *DEFAULT_QUALITY, "bertscore_f") if view.has(m)), None)
        if y:
            charts.append(("quality_vs_factuality", lambda: quality_vs_factuality(view, y=y, seed=seed)))
    else:
        log.info("save_all: no entity_precision_source scores; factuality charts skipped")
    if quality and view.summaries is not None:
        charts.append(("quality_vs_cost", lambda: quality_vs_cost(view, quality[0], seed=seed)))
    else:
        log.info("save_all: no summaries or quality scores; quality_vs_cost skipped")
    written = []
    for name, make in charts:
        fig = make()
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            fig.savefig(path, dpi=dpi)
            written.append(path)
        fig.clear()
    return written

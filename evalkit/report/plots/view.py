"""What the charts read from a run, in one normalised shape: values, facts, summaries, targets, measures.

The charts read only a run (its manifest and tables). Labels, scales (shown in % or not) and
directions come from the run's metric descriptors (:meth:`evalkit.run.record.Run.measures`); a
value no metric declared (a bare scores frame) is shown under its own name.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pandas as pd

from evalkit.report import stats
from evalkit.report.plots.style import OKABE_ITO, short_names
from evalkit.core.types import LengthTarget, Measure
from evalkit.run.schema import RunManifest, as_target_value, empty_facts, facts_from_notes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class View:
    """What the charts read from a run, in one normalised shape."""

    values: pd.DataFrame
    """Numeric rows: document_id, system, metric, value (float, NaN = undefined)."""
    facts: pd.DataFrame
    """What metrics recorded per summary (:attr:`evalkit.run.record.Run.facts`): document_id, system, metric, info."""
    summaries: pd.DataFrame | None
    manifest: RunManifest
    """The run's manifest (an empty one for a bare scores frame)."""
    systems: tuple[str, ...]
    """The run's systems in display order."""
    measures: Mapping[str, Measure]
    targets: Mapping[str, LengthTarget]
    """Document id -> the length target its summaries were asked for (empty when unknown)."""
    samples: pd.DataFrame | None = None
    """Per-sample rows (document_id, system, sample, metric, value) when the run has repeated samples."""

    @property
    def colors(self) -> dict[str, str]:
        return system_colors(list(self.systems), upper_bounds=[s for s in self.systems if self.is_upper_bound(s)])

    @cached_property
    def labels(self) -> dict[str, str]:
        """System -> the name charts write (long names shortened around "…", still distinct)."""
        return short_names(list(self.systems))

    def measure(self, name: str) -> Measure:
        """The descriptor of one value; an undeclared value gets a plain one named after itself."""
        return self.measures.get(name) or Measure(name, name, "score", None)

    def kind(self, system: str) -> str | None:
        return self.manifest.kind_of(system)

    def info(self, document_id: str, system: str, metrics: Sequence[str]) -> list[dict[str, Any]]:
        """What each of the metric instances ``metrics`` recorded about one summary (those that recorded any)."""
        rows = self.facts[(self.facts["document_id"] == str(document_id)) & (self.facts["system"] == system)
                          & self.facts["metric"].isin(list(metrics))]
        return [dict(info) for info in rows["info"]]

    def is_upper_bound(self, system: str) -> bool:
        """True for an oracle (:meth:`~evalkit.run.schema.RunManifest.is_upper_bound`)."""
        return self.manifest.is_upper_bound(system)

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
            raise ValueError(f"nothing to show because the run has no {', '.join(missing)} scores{hint}; "
                             f"it has: {listed}")


def nothing_to_show(chart: str, why: str) -> ValueError:
    """The error a chart raises instead of drawing an empty figure; ``save_all`` logs it and goes on."""
    return ValueError(f"{chart}: nothing to show because {why}")


def view_of(run: Any, summaries: pd.DataFrame | None = None) -> View:
    """A :class:`View` of a Run, a tidy scores frame or a summaries frame."""
    if isinstance(run, View):
        return run
    manifest, facts, samples = RunManifest(), empty_facts(), None
    if isinstance(run, pd.DataFrame):
        if "metric" in run.columns:
            scores = run
        elif {"document_id", "system", "text"} <= set(run.columns):
            scores, summaries = pd.DataFrame(columns=list(stats.REQUIRED_COLUMNS)), run
        else:
            raise ValueError(f"expected a tidy scores frame (document_id, system, metric, value) or a summaries "
                             f"frame (document_id, system, text, ...); got columns {list(run.columns)}")
    elif hasattr(run, "scores"):  # a Run (or anything shaped like one: its manifest of any version is upgraded)
        scores, manifest = run.scores, RunManifest.load(getattr(run, "manifest", None) or {})
        samples = getattr(run, "sample_scores", None)
        facts = getattr(run, "facts", None) if isinstance(getattr(run, "facts", None), pd.DataFrame) else facts
        if summaries is None:
            summaries = getattr(run, "summaries", None)
    else:
        raise TypeError(f"expected an evalkit Run or a scores DataFrame, got {type(run).__name__}")
    missing = [c for c in stats.REQUIRED_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"the scores table lacks column(s) {missing}; it needs {list(stats.REQUIRED_COLUMNS)}")
    scores, old_facts = facts_from_notes(scores)  # a frame from a version-2 run still holds <key>_info rows
    if len(old_facts):
        facts = pd.concat([facts, old_facts], ignore_index=True) if len(facts) else old_facts
    values = scores.loc[:, ["document_id", "system", "metric", "value"]].copy()
    values["document_id"] = values["document_id"].astype(str)
    values["system"] = values["system"].astype(str)
    values["metric"] = values["metric"].astype(str)
    values["value"] = pd.to_numeric(values["value"], errors="coerce").astype(float)
    infinite = values["value"].isin([math.inf, -math.inf])
    if infinite.any():  # no axis can hold one: left out and counted like any undefined value
        log.warning("%d value(s) are infinite (%s); the charts leave them out as undefined", int(infinite.sum()),
                    ", ".join(sorted(set(values.loc[infinite, "metric"]))))
        values.loc[infinite, "value"] = math.nan
    if summaries is not None and not isinstance(summaries, pd.DataFrame):
        raise TypeError(f"summaries must be a DataFrame (Run.summaries), got {type(summaries).__name__}")
    if summaries is not None:
        summaries = summaries.copy()
        summaries["document_id"] = summaries["document_id"].astype(str)
        summaries["system"] = summaries["system"].astype(str)

    ordered = manifest.system_order()
    seen = set(values["system"]) | set(facts["system"].astype(str))
    targets: dict[str, LengthTarget] = {}
    if summaries is not None:
        seen |= set(summaries["system"])
        if "target" in summaries.columns:
            first = summaries.drop_duplicates("document_id")
            targets = {d: t for d, t in zip(first["document_id"], map(as_target_value, first["target"])) if t}
    systems = [s for s in ordered if s in seen] + sorted(seen - set(ordered))
    if samples is None and isinstance(run, pd.DataFrame) and "sample" in run.columns:
        samples = run
    return View(values, facts, summaries, manifest, tuple(systems), manifest.measures(), targets, samples)


UPPER_BOUND_COLOR = "#8C8C8C"
"""The colour of an upper bound (an oracle): a grey no competitor's palette colour is close to."""


def system_colors(systems: Sequence[str] | object, *, upper_bounds: Sequence[str] = ()) -> dict[str, str]:
    """A colour per system, assigned by position in ``systems`` (a list of names, a Run or a scores frame).

    Given a Run or a frame, the run's own system order is used (manifest order, then the
    rest by name) and its oracles are the upper bounds, so every chart of one run colours a
    system the same way whatever subset of systems it shows. Upper bounds are grey
    (:data:`UPPER_BOUND_COLOR`; the charts also hatch them); the others get Okabe-Ito colours up
    to 8, ``tab10`` without its grey up to 9, and ``tab20`` without its greys beyond.
    """
    if not (isinstance(systems, Sequence) and not isinstance(systems, str)):
        view = view_of(systems)
        systems = view.systems
        upper_bounds = [*upper_bounds, *(s for s in systems if view.is_upper_bound(s))]
    names = list(dict.fromkeys(str(s) for s in systems))
    bounds = {str(s) for s in upper_bounds}
    competitors = [name for name in names if name not in bounds]
    palette = _palette(len(competitors))
    colors = {name: palette[i % len(palette)] for i, name in enumerate(competitors)}
    return {name: UPPER_BOUND_COLOR if name in bounds else colors[name] for name in names}


def _palette(n: int) -> list[str]:
    """``n`` distinguishable colours, none of them grey (grey is the upper bound's)."""
    if n <= len(OKABE_ITO):
        return list(OKABE_ITO)
    from matplotlib import colormaps
    from matplotlib.colors import to_hex, to_rgb

    name = "tab10" if n <= 9 else "tab20"
    return [to_hex(c) for c in colormaps[name].colors if len(set(to_rgb(c))) > 1]  # drop the greys


def summary_of(view: View, metrics: Sequence[str], n_resamples: int, seed: int) -> pd.DataFrame:
    """:func:`evalkit.report.stats.summarize` of ``metrics``, indexed by (system, metric)."""
    rows = view.values[view.values["metric"].isin(metrics)]
    return stats.summarize(rows, n_resamples=n_resamples, seed=seed).set_index(["system", "metric"])


def stat(summary: pd.DataFrame, system: str, metric: str) -> pd.Series | None:
    key = (system, metric)
    if key not in summary.index or not summary.loc[key, "n"]:
        return None
    return summary.loc[key]


def details(value: Any) -> dict[str, Any]:
    """A summary's ``details`` cell (an object in the run's summaries) as a dict; {} when absent."""
    return dict(value) if isinstance(value, Mapping) else {}


def ok_summaries(summaries: pd.DataFrame) -> pd.DataFrame:
    if "error" not in summaries.columns:
        return summaries
    error = summaries["error"]
    return summaries[error.isna() | (error.astype(str) == "")]

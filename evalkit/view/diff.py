"""Two runs side by side: per system and value the change (B − A) with its paired significance.

Only documents both runs share are compared: the same id with the same text and references
(the manifests' ``data.document_hashes``; runs that did not record hashes: the same id). For each
system both runs have and each value both runs scored, the per-document differences ``b_i − a_i``
are tested with :func:`evalkit.report.stats.paired_test` (the paired permutation test, Dror et al.
2018, with its bootstrap 95% interval of the mean change), and the p-values of one value are
Holm-corrected across the systems (:func:`evalkit.report.stats.holm_adjust`): a change is marked
significant when its adjusted p-value is at most ``alpha``. Runs whose metrics were scored with
other settings or another length target (:func:`evalkit.run.record.check_comparable`), or that share
no document, are not compared: :attr:`RunDiff.problem` says why in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit.core.errors import SignatureMismatch
from evalkit.report.stats import N_RESAMPLES, holm_adjust, paired_test
from evalkit.report.summary import value_names
from evalkit.run.record import Run, check_comparable


@dataclass(frozen=True)
class Change:
    """One system's change on one value between run A and run B, over their shared documents."""

    system: str
    metric: str
    n: int
    """Documents where the value is defined in both runs (the pairs tested)."""
    mean_a: float
    """Mean in run A over those documents."""
    mean_b: float
    diff: float
    """``mean_b − mean_a`` (NaN when no pair is defined)."""
    ci_low: float
    """Bootstrap 95% interval of ``diff``: lower end."""
    ci_high: float
    p_value: float
    """Two-sided paired permutation test."""
    p_adjusted: float
    """Holm-corrected across the systems of this value."""
    significant: bool
    """``p_adjusted <= alpha``."""


@dataclass(frozen=True)
class Moved:
    """One summary whose score changed between the runs."""

    document_id: str
    system: str
    a: float
    b: float

    @property
    def diff(self) -> float:
        return self.b - self.a


@dataclass(frozen=True)
class RunDiff:
    """What changed from run A to run B."""

    a: str
    """Run A's id (the baseline)."""
    b: str
    problem: str | None
    """Why the runs cannot be compared (one line), or ``None``."""
    shared: tuple[str, ...]
    """The documents compared (in run B's order)."""
    only_a: int
    """Documents only run A has (or whose text differs)."""
    only_b: int
    systems: tuple[str, ...]
    """Systems in both runs, run B's order."""
    metrics: tuple[str, ...]
    """Values both runs scored, run B's order."""
    changes: tuple[Change, ...]
    """One per (tested value, system)."""
    alpha: float
    text_changed: tuple[tuple[str, str], ...]
    """(document, system) pairs whose summary text differs between the runs."""
    wide_a: pd.DataFrame
    """Run A's values on the shared documents: index (document_id, system), a column per value."""
    wide_b: pd.DataFrame

    def moved(self, metric: str, limit: int = 20) -> list[Moved]:
        """The summaries whose ``metric`` moved most (largest ``|b − a|``), at most ``limit``."""
        if metric not in self.wide_a.columns or metric not in self.wide_b.columns:
            return []
        both = pd.concat([self.wide_a[metric].rename("a"), self.wide_b[metric].rename("b")], axis=1, join="inner")
        both = both.dropna()
        both = both.assign(size=(both["b"] - both["a"]).abs()).sort_values("size", ascending=False, kind="stable")
        both = both[both["size"] > 0].head(limit)
        return [Moved(str(doc), str(system), float(a), float(b))
                for (doc, system), a, b in zip(both.index, both["a"], both["b"])]


def shared_documents(a: Run, b: Run) -> tuple[list[str], int, int]:
    """The documents both runs have with the same content (run B's order), and how many only A and only B have."""
    ids_a = list(dict.fromkeys(map(str, a.summaries["document_id"])))
    ids_b = list(dict.fromkeys(map(str, b.summaries["document_id"])))
    hashes_a, hashes_b = a.manifest.data.document_hashes or {}, b.manifest.data.document_hashes or {}
    in_a = set(ids_a)
    shared = [d for d in ids_b if d in in_a and hashes_a.get(d) == hashes_b.get(d)]
    return shared, len(ids_a) - len(shared), len(ids_b) - len(shared)


def comparable_problem(a: Run, b: Run, shared: Sequence[str] | None = None) -> str | None:
    """Why runs ``a`` and ``b`` cannot be compared, in one line (other metric settings or length target, or no
    shared document), or ``None``. Cheap: no test is run."""
    try:
        check_comparable(a.manifest, b.manifest)
    except SignatureMismatch as exc:
        return str(exc)
    if not (shared_documents(a, b)[0] if shared is None else shared):
        return (f"runs {a.run_id} and {b.run_id} share no document (same id and text): they were made on other "
                "data, so no change can be measured; compare runs made on the same data")
    return None


def run_diff(a: Run, b: Run, *, values: Sequence[str] | None = None, alpha: float = 0.05,
             n_resamples: int = N_RESAMPLES, seed: int = 0) -> RunDiff:
    """Compare run ``b`` with run ``a`` (the baseline): see the module docstring. ``values``: the values to test
    (default: every value both runs scored; a test on 1,000 documents takes about half a second)."""
    shared, only_a, only_b = shared_documents(a, b)
    problem = comparable_problem(a, b, shared)
    systems = [s for s in _systems(b) if s in set(_systems(a))]
    names_a = set(value_names(a))
    metrics = [m for m in value_names(b) if m in names_a]
    wide_a, wide_b = _wide(a, shared, systems, metrics), _wide(b, shared, systems, metrics)
    changes: list[Change] = []
    if problem is None:
        for metric in [m for m in metrics if values is None or m in set(values)]:
            results = []
            for system in systems:
                index = pd.MultiIndex.from_product([shared, [system]], names=["document_id", "system"])
                values_a = wide_a[metric].reindex(index).to_numpy(dtype=float)
                values_b = wide_b[metric].reindex(index).to_numpy(dtype=float)
                result = paired_test(values_b, values_a, n_resamples=n_resamples, seed=seed)
                keep = ~(np.isnan(values_a) | np.isnan(values_b))
                mean_a = float(values_a[keep].mean()) if keep.any() else float("nan")
                mean_b = float(values_b[keep].mean()) if keep.any() else float("nan")
                results.append((system, result, mean_a, mean_b))
            adjusted = holm_adjust([r.p_value for _, r, _, _ in results])
            for (system, result, mean_a, mean_b), p_adj in zip(results, adjusted):
                changes.append(Change(system, metric, result.n, mean_a, mean_b, result.mean_diff, result.ci_low,
                                      result.ci_high, result.p_value, float(p_adj),
                                      bool(not np.isnan(p_adj) and p_adj <= alpha)))
    return RunDiff(a.run_id, b.run_id, problem, tuple(shared), only_a, only_b, tuple(systems), tuple(metrics),
                   tuple(changes), alpha, _text_changed(a, b, shared, systems), wide_a, wide_b)


def _systems(run: Run) -> list[str]:
    return list(dict.fromkeys([*run.manifest.system_order(), *map(str, run.summaries["system"])]))


def _wide(run: Run, documents: list[str], systems: list[str], metrics: list[str]) -> pd.DataFrame:
    frame = run.values()
    frame = frame[frame["document_id"].astype(str).isin(set(documents)) & frame["system"].isin(set(systems))
                  & frame["metric"].isin(set(metrics))]
    frame = frame.assign(document_id=frame["document_id"].astype(str))
    wide = frame.pivot_table(index=["document_id", "system"], columns="metric", values="value", aggfunc="first",
                             dropna=False)
    return wide.reindex(columns=metrics)


def _text_changed(a: Run, b: Run, shared: list[str], systems: list[str]) -> tuple[tuple[str, str], ...]:
    def texts(run: Run) -> dict[tuple[str, str], str | None]:
        rows = run.summaries
        return {(str(d), str(s)): (t if isinstance(t, str) else None)
                for d, s, t in zip(rows["document_id"], rows["system"], rows["text"])}

    text_a, text_b = texts(a), texts(b)
    return tuple((d, s) for d in shared for s in systems
                 if (d, s) in text_a and (d, s) in text_b and text_a[(d, s)] != text_b[(d, s)])

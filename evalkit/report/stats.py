"""Statistics over a tidy results table: confidence intervals, paired tests, rankings.

The table is the one every run writes: one row per (document, system, metric) with columns
``document_id``, ``system``, ``metric``, ``value`` (and optionally ``note``). A value that is
``None`` or NaN is *undefined* for that pair (see :class:`evalkit.core.types.ScoreRow`): it is left
out of every mean and test and counted (``n_undefined``, ``n_unpaired``), never read as 0.

Definitions, and where they come from:

- **Bootstrap confidence interval** (:func:`bootstrap_ci`): the percentile interval of
  Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, ch. 13. Resample the defined
  values with replacement ``n_resamples`` times, take each resample's mean, and report the
  ``(1 - confidence) / 2`` and ``1 - (1 - confidence) / 2`` quantiles of those means
  (``numpy.quantile``'s default linear interpolation). The point estimate is the plain mean.
- **Paired permutation test** (:func:`paired_test`, ``method="permutation"``): the paired
  approximate randomization (sign-flip) test recommended for summarization metrics by
  Dror et al. (2018), "The Hitchhiker's Guide to Testing Statistical Significance in Natural
  Language Processing", ACL; see also Noreen (1989). Under H0 (the two systems are
  exchangeable on each document) the sign of each per-document difference ``d_i = a_i - b_i``
  is arbitrary, so each resample flips every sign with probability 1/2. Two-sided:
  ``count = #{resamples with |mean(s * d)| >= |mean(d)|}`` and
  ``p = (count + 1) / (n_resamples + 1)`` (Phipson & Smyth 2010: a Monte Carlo p-value that is
  never 0).
- **Paired bootstrap test** (``method="bootstrap"``): resample documents with replacement
  (Koehn 2004; Berg-Kirkpatrick, Burkett & Klein 2012, "An Empirical Investigation of
  Statistical Significance in NLP", EMNLP). The bootstrap distribution of the mean difference
  ``delta*`` is shifted to be centred on H0 (Efron & Tibshirani 1993, ch. 16;
  Berg-Kirkpatrick et al.'s ``delta(x*) > 2 delta(x)`` is the one-sided form), two-sided:
  ``count = #{|delta* - delta| >= |delta|}`` and ``p = (count + 1) / (n_resamples + 1)``.
- **Holm-Bonferroni** (:func:`holm_adjust`): Holm (1979), "A Simple Sequentially Rejective
  Multiple Test Procedure". With the ``m`` p-values sorted ascending,
  ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) * p(j))``; a hypothesis is rejected when
  ``p_adj <= alpha``. It controls the family-wise error rate over all pairs of systems.

Every random draw comes from ``numpy.random.default_rng(seed)``: the same seed and inputs give
the same numbers on every machine. Resample matrices are built in chunks of at most
``_MAX_CELLS`` entries, so memory stays bounded for large test sets.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

Method = Literal["permutation", "bootstrap"]
Correction = Literal["holm", "none"]
METHODS: tuple[str, ...] = ("permutation", "bootstrap")
CORRECTIONS: tuple[str, ...] = ("holm", "none")
REQUIRED_COLUMNS: tuple[str, ...] = ("document_id", "system", "metric", "value")
N_RESAMPLES = 10000
"""Resamples of every interval and test by default: the CLI, the HTML report, the charts, the notebooks
and the gate all draw their intervals with this number and seed 0, so one run shows one interval per
number wherever it is read."""

_MAX_CELLS = 1 << 22
"""Most entries of a resample matrix held at once (about 32 MB of int64 or float64)."""

SUMMARY_COLUMNS = ["system", "metric", "mean", "ci_low", "ci_high", "n", "n_undefined"]
COMPARISON_COLUMNS = ["system_a", "system_b", "n", "n_unpaired", "mean_a", "mean_b", "diff",
                      "ci_low", "ci_high", "p_value", "p_adjusted", "significant"]
RANKING_COLUMNS = ["rank", "group", "system", "mean", "ci_low", "ci_high", "n", "n_undefined",
                   "better_than", "rank_best", "rank_worst", "upper_bound", "note"]


@dataclass(frozen=True)
class PairedResult:
    """The outcome of a paired test between two systems on the same documents."""

    mean_diff: float
    """Mean over documents of ``a - b`` (NaN when no pair is defined)."""
    p_value: float
    """Two-sided p-value for H0 "no difference" (NaN when no pair is defined)."""
    ci_low: float
    """Lower end of the percentile-bootstrap confidence interval of ``mean_diff``."""
    ci_high: float
    """Upper end of that interval."""
    n: int
    """Number of documents where both values are defined (the pairs the test used)."""


# -- small helpers -------------------------------------------------------------------------

def _as_float_array(values: object, name: str = "values") -> np.ndarray:
    """``values`` as a 1-D float array; ``None`` becomes NaN."""
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy(dtype=float, na_value=np.nan)
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be numbers (None/NaN for undefined): {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _check_resampling(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive whole number, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")


def _chunks(n_resamples: int, width: int) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges so that no resample matrix exceeds ``_MAX_CELLS`` entries."""
    rows = max(1, _MAX_CELLS // max(width, 1))
    return [(start, min(start + rows, n_resamples)) for start in range(0, n_resamples, rows)]


def _bootstrap_means(x: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_resamples`` with-replacement resamples of ``x`` (a resample-index matrix)."""
    n = x.size
    means = np.empty(n_resamples)
    for start, stop in _chunks(n_resamples, n):
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[indices].mean(axis=1)
    return means


def _percentile_interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _at_least(null: np.ndarray, observed: float, scale: float) -> int:
    """How many null statistics are >= ``observed``, allowing for floating-point round-off.

    Sign flips of the same numbers can give a mathematically equal statistic that differs in
    the last bits; such ties must count as "at least as extreme".
    """
    tolerance = 1e-12 * scale
    return int(np.count_nonzero(null >= observed - tolerance))


# -- one sample ----------------------------------------------------------------------------

def bootstrap_ci(values: Sequence[float | None] | np.ndarray | pd.Series, *, n_resamples: int = N_RESAMPLES,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of the defined values and its percentile-bootstrap interval.

    ``None``/NaN values are excluded. No defined value gives ``(nan, nan, nan)``.
    """
    _check_resampling(n_resamples, confidence)
    x = _as_float_array(values)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    rng = np.random.default_rng(seed)
    low, high = _percentile_interval(_bootstrap_means(x, n_resamples, rng), confidence)
    return (mean, low, high)


# -- the table -----------------------------------------------------------------------------

def _check_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with ``value`` as float (``None`` -> NaN); raises on a wrong shape."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame of results, got {type(table).__name__}")
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(
            f"results table lacks column(s) {missing}; it needs {list(REQUIRED_COLUMNS)} "
            f"(has {list(table.columns)})"
        )
    table = table.copy()
    try:
        table["value"] = pd.to_numeric(table["value"]).astype(float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the 'value' column must hold numbers or None/NaN: {error}") from None
    return table


def _metric_rows(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = table[table["metric"] == metric]
    if rows.empty:
        available = sorted(table["metric"].dropna().unique().tolist())
        listed = ", ".join(map(str, available)) or "(none)"
        raise ValueError(f"unknown metric {metric!r}; the table has: {listed}")
    return rows


def _select_systems(rows: pd.DataFrame, metric: str, systems: Sequence[str] | None) -> list[str]:
    available = sorted(rows["system"].unique().tolist())
    if systems is None:
        return available
    if isinstance(systems, str):
        systems = [systems]
    unknown = [system for system in systems if system not in available]
    if unknown:
        raise ValueError(
            f"unknown system(s) {unknown} for metric {metric!r}; available: {', '.join(available)}"
        )
    return list(dict.fromkeys(systems))


def summarize(table: pd.DataFrame, *, n_resamples: int = N_RESAMPLES, confidence: float = 0.95,
              seed: int = 0) -> pd.DataFrame:
    """One row per (system, metric): ``mean, ci_low, ci_high, n, n_undefined``.

    ``n`` counts defined values and ``n_undefined`` the rows whose value is ``None``/NaN.
    Every group is resampled with the same ``seed``, so a group's interval does not depend on
    which other systems or metrics are in the table.
    """
    table = _check_table(table)
    records = []
    for (system, metric), group in table.groupby(["system", "metric"], sort=True):
        values = group["value"].to_numpy()
        mean, low, high = bootstrap_ci(values, n_resamples=n_resamples, confidence=confidence, seed=seed)
        defined = int(np.count_nonzero(~np.isnan(values)))
        records.append({"system": system, "metric": metric, "mean": mean, "ci_low": low, "ci_high": high,
                        "n": defined, "n_undefined": int(values.size - defined)})
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)


# -- two systems ---------------------------------------------------------------------------

def paired_test(a: Sequence[float | None] | np.ndarray | pd.Series,
                b: Sequence[float | None] | np.ndarray | pd.Series, *,
                method: Method = "permutation", n_resamples: int = N_RESAMPLES, confidence: float = 0.95,
                seed: int = 0) -> PairedResult:
    """Test whether two systems differ on the same documents (``a[i]`` and ``b[i]`` are one document).

    Pairs where either value is ``None``/NaN are dropped. ``method`` is ``"permutation"``
    (paired sign-flip test) or ``"bootstrap"`` (shifted paired bootstrap); see the module
    docstring for both definitions. The confidence interval of the mean difference is the
    percentile bootstrap in both cases (for ``"permutation"`` it comes from a separate
    bootstrap with the same seed). No defined pair gives NaNs with ``n=0``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    _check_resampling(n_resamples, confidence)
    x = _as_float_array(a, "a")
    y = _as_float_array(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must be aligned per document; got lengths {x.size} and {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    d = x[keep] - y[keep]
    n = int(d.size)
    if n == 0:
        return PairedResult(math.nan, math.nan, math.nan, math.nan, 0)
    observed = float(d.mean())
    scale = float(np.abs(d).max()) or 1.0
    rng = np.random.default_rng(seed)

    if method == "permutation":
        null = np.empty(n_resamples)
        for start, stop in _chunks(n_resamples, n):
            signs = rng.integers(0, 2, size=(stop - start, n)) * 2.0 - 1.0
            null[start:stop] = signs @ d / n
        count = _at_least(np.abs(null), abs(observed), scale)
        low, high = bootstrap_ci(d, n_resamples=n_resamples, confidence=confidence, seed=seed)[1:]
    else:
        means = _bootstrap_means(d, n_resamples, rng)
        count = _at_least(np.abs(means - observed), abs(observed), scale)
        low, high = _percentile_interval(means, confidence)

    p_value = (count + 1) / (n_resamples + 1)
    return PairedResult(observed, p_value, low, high, n)


def holm_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order.

    NaN p-values (tests that could not be run) stay NaN and do not count towards ``m``.
    """
    p = _as_float_array(p_values, "p_values")
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = tested.size
    if m == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def compare_systems(table: pd.DataFrame, metric: str, *, alpha: float = 0.05, method: Method = "permutation",
                    correction: Correction = "holm", n_resamples: int = N_RESAMPLES, seed: int = 0,
                    systems: Sequence[str] | None = None) -> pd.DataFrame:
    """Every pair of systems tested on one metric, over the documents both have a defined value for.

    One row per pair ``(system_a, system_b)`` (systems in name order, or in the order given):
    ``n`` pairs used; ``n_unpaired`` documents where one or both systems have a row but the
    pair is not defined on both sides; ``mean_a``, ``mean_b`` over the ``n`` paired documents
    (so they can differ from :func:`summarize`'s means); ``diff = mean_a - mean_b`` with its
    bootstrap interval; ``p_value``; ``p_adjusted`` (Holm over all pairs, or equal to
    ``p_value`` with ``correction="none"``); ``significant`` = ``p_adjusted <= alpha``.
    A pair with no shared document has NaN statistics and is left out of the correction.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}")
    rows = _metric_rows(_check_table(table), metric)
    names = _select_systems(rows, metric, systems)
    duplicated = rows.duplicated(["document_id", "system"], keep=False)
    if duplicated.any():
        example = rows.loc[duplicated, ["document_id", "system"]].iloc[0].tolist()
        raise ValueError(
            f"metric {metric!r} has more than one row for a (document_id, system) pair, "
            f"e.g. {example}; a paired test needs exactly one value per document and system"
        )
    wide = rows.pivot(index="document_id", columns="system", values="value")
    present = {name: set(rows.loc[rows["system"] == name, "document_id"]) for name in names}

    records = []
    for name_a, name_b in itertools.combinations(names, 2):
        x = wide[name_a].to_numpy(dtype=float)
        y = wide[name_b].to_numpy(dtype=float)
        both = ~(np.isnan(x) | np.isnan(y))
        result = paired_test(x, y, method=method, n_resamples=n_resamples, seed=seed)
        records.append({
            "system_a": name_a, "system_b": name_b, "n": result.n,
            "n_unpaired": len(present[name_a] | present[name_b]) - result.n,
            "mean_a": float(x[both].mean()) if result.n else math.nan,
            "mean_b": float(y[both].mean()) if result.n else math.nan,
            "diff": result.mean_diff, "ci_low": result.ci_low, "ci_high": result.ci_high,
            "p_value": result.p_value,
        })
        if result.n == 0:
            log.warning("systems %r and %r share no document with a defined %r; not tested",
                        name_a, name_b, metric)
    frame = pd.DataFrame.from_records(records, columns=COMPARISON_COLUMNS[:-2])
    p_values = frame["p_value"].to_numpy(dtype=float)
    frame["p_adjusted"] = holm_adjust(p_values) if correction == "holm" else p_values
    frame["significant"] = (frame["p_adjusted"] <= alpha).astype(bool)
    return frame[COMPARISON_COLUMNS]


# -- many systems --------------------------------------------------------------------------

def _group_label(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA" (spreadsheet-style)."""
    label = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        label = chr(ord("A") + remainder) + label
    return label


def _unranked(name: str, stats: pd.Series, note: str, *, upper_bound: bool) -> dict[str, Any]:
    """The ranking row of a system that is listed but neither ranked nor tested, with ``note`` saying why."""
    return {"rank": None, "group": "", "system": name, "mean": float(stats["mean"]),
            "ci_low": float(stats["ci_low"]), "ci_high": float(stats["ci_high"]),
            "n": int(stats["n"]), "n_undefined": int(stats["n_undefined"]), "better_than": "",
            "rank_best": None, "rank_worst": None, "upper_bound": upper_bound, "note": note}


def _not_finite(stats: pd.Series, values: pd.Series) -> str:
    """Why a system with defined values but no finite mean is not ranked (``""`` when its mean is finite or it
    has no defined value): ``"not ranked: mean is inf (1 document has inf)"``."""
    mean = float(stats["mean"])
    if math.isfinite(mean) or int(stats["n"]) == 0:
        return ""
    values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    counts = [(int(np.sum(values == bound)), label) for bound, label in ((np.inf, "inf"), (-np.inf, "-inf"))]
    found = ", ".join(f"{n} document{' has' if n == 1 else 's have'} {label}" for n, label in counts if n)
    return f"not ranked: mean is {'undefined (inf - inf)' if math.isnan(mean) else f'{mean:g}'} ({found})"


def ranking(table: pd.DataFrame, metric: str, *, higher_is_better: bool = True, alpha: float = 0.05,
            method: Method = "permutation", correction: Correction = "holm", n_resamples: int = N_RESAMPLES,
            confidence: float = 0.95, seed: int = 0, systems: Sequence[str] | None = None,
            upper_bounds: Sequence[str] = ()) -> pd.DataFrame:
    """Systems sorted by their mean on ``metric`` (best first), with what the paired tests support.

    Columns:

    - ``rank``: 1, 2, ... in order of the mean (ties by name; systems with no defined value last).
    - ``mean``, ``ci_low``, ``ci_high``, ``n``, ``n_undefined``: as in :func:`summarize`
      (all of the system's defined values, bootstrap with ``confidence``).
    - ``better_than``: the systems this one is significantly better than, best first, as
      ``"> lead-3, random"`` (empty when none). "Better" means the paired test of
      :func:`compare_systems` is significant after correction *and* the paired mean
      difference points the right way for ``higher_is_better``.
    - ``rank_best``, ``rank_worst``: the range of ranks the tests allow, as in WMT's rank
      clusters: 1 + the number of systems significantly better than it, and the number of
      systems minus the number it is significantly better than.
    - ``group``: "A", "B", ...; walking down the ranking, a new group starts at the first system
      that the first system of the current group is significantly better than. Significance
      is not transitive, so read ``better_than`` and the rank range for the exact story.
    - ``upper_bound``, ``note``: the systems in ``upper_bounds`` (oracles: they read the references)
      are neither ranked nor tested. They follow the ranked systems with their mean and interval,
      ``rank`` and the rank range empty, and a note, which names the ranked systems whose mean is
      better than the bound's (a greedy oracle bounded by the target can be beaten).
    - A system whose defined values include ±inf has no finite mean to rank by: it is neither ranked
      nor tested, and follows the others with ``rank`` empty and a note that says why, such as
      ``"not ranked: mean is inf (1 document has inf)"``.
    """
    table = _check_table(table)
    rows = _metric_rows(table, metric)
    selected = _select_systems(rows, metric, systems)
    bounds = [name for name in selected if name in set(upper_bounds)]
    names = [name for name in selected if name not in set(bounds)]
    rows = rows[rows["system"].isin(selected)]
    summary = summarize(rows, n_resamples=n_resamples, confidence=confidence, seed=seed).set_index("system")
    infinite = {name: note for name in names if (note := _not_finite(summary.loc[name],
                                                                     rows.loc[rows["system"] == name, "value"]))}
    names = [name for name in names if name not in infinite]
    pairs = compare_systems(rows, metric, alpha=alpha, method=method, correction=correction,
                            n_resamples=n_resamples, seed=seed, systems=names)

    beats: dict[str, set[str]] = {name: set() for name in names}
    for pair in pairs.itertuples(index=False):
        if not pair.significant or pair.diff == 0:
            continue
        a_better = (pair.diff > 0) == higher_is_better
        winner, loser = (pair.system_a, pair.system_b) if a_better else (pair.system_b, pair.system_a)
        beats[winner].add(loser)

    def order_key(name: str) -> tuple[bool, float, str]:
        mean = float(summary.loc[name, "mean"])
        undefined = math.isnan(mean)
        return (undefined, 0.0 if undefined else (-mean if higher_is_better else mean), name)

    ordered = sorted(names, key=order_key)
    records = []
    group_index, group_head = 0, None
    for position, name in enumerate(ordered, start=1):
        if group_head is None:
            group_head = name
        elif name in beats[group_head]:
            group_index, group_head = group_index + 1, name
        beaten = [other for other in ordered if other in beats[name]]
        better = sum(name in beats[other] for other in names)
        stats = summary.loc[name]
        records.append({
            "rank": position, "group": _group_label(group_index), "system": name,
            "mean": float(stats["mean"]),
            "ci_low": float(stats["ci_low"]), "ci_high": float(stats["ci_high"]),
            "n": int(stats["n"]), "n_undefined": int(stats["n_undefined"]),
            "better_than": "> " + ", ".join(beaten) if beaten else "",
            "rank_best": 1 + better, "rank_worst": len(names) - len(beaten), "upper_bound": False, "note": "",
        })
    for name in bounds:
        stats = summary.loc[name]
        bound = float(stats["mean"])
        above = [r["system"] for r in records if not math.isnan(bound) and not math.isnan(r["mean"])
                 and (r["mean"] > bound if higher_is_better else r["mean"] < bound)]
        note = "upper bound (reads the references): not ranked or tested"
        if above:
            note += (f"; {', '.join(above)} score{'s' if len(above) == 1 else ''} better than it "
                     "(the oracle is greedy and bounded by the length target)")
        records.append(_unranked(name, stats, note, upper_bound=True))
    records += [_unranked(name, summary.loc[name], note, upper_bound=False) for name, note in infinite.items()]
    table = pd.DataFrame.from_records(records, columns=RANKING_COLUMNS)
    return table.astype({"rank": "Int64", "rank_best": "Int64", "rank_worst": "Int64", "upper_bound": bool})

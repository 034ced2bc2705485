"""Partial correlation of a metric with human judgments, controlling for the system.

FRANK (Pagnoni, Balachandran & Tsvetkov, NAACL 2021, "Understanding Factuality in Abstractive
Summarization with FRANK") compares factuality metrics by their partial correlation with the
human factuality score, controlling for the summarization system: both variables are regressed
on one-hot system dummies (with an intercept) and the residuals are correlated. A metric that
only tells good systems from bad ones does not get credit for that; it must rank the summaries
*within* a system.

Regressing on one-hot dummies with an intercept leaves exactly the deviation from the group
mean, so the residuals here are ``x - mean(x | group)``. For Spearman, ``x`` and ``y`` are
first replaced by their ranks over all items (average ranks for ties), then residualized, as
pingouin's ``partial_corr(method="spearman")`` (used by FRANK) does: ranking a 0/1 dummy only
rescales it, so it need not be ranked. The p-value is that of a t-test with ``n - 2 - k``
degrees of freedom, ``k`` the number of dummy columns (groups − 1).

Pairs where ``x`` or ``y`` is ``None`` or NaN are left out and counted (``n_excluded``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

METHODS = ("pearson", "spearman")


@dataclass(frozen=True)
class PartialCorrelation:
    """One partial correlation and what it was computed on."""

    r: float
    """The correlation of the residuals (NaN when either has no variance)."""
    p_value: float
    """Two-sided p-value, t-test with ``n - 2 - (groups - 1)`` degrees of freedom."""
    n: int
    """Pairs used."""
    n_excluded: int
    """Pairs left out because ``x`` or ``y`` was ``None``/NaN."""
    groups: int
    """Distinct groups among the pairs used."""
    method: str


@dataclass(frozen=True)
class BootstrapCorrelation:
    """A partial correlation with a percentile-bootstrap interval over resampled items."""

    r: float
    low: float
    high: float
    n: int
    n_excluded: int
    confidence: float
    n_resamples: int
    seed: int
    method: str


def _prepare(x, y, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    x = np.asarray([np.nan if v is None else v for v in x], dtype=float)
    y = np.asarray([np.nan if v is None else v for v in y], dtype=float)
    groups = list(groups)
    if not (len(x) == len(y) == len(groups)):
        raise ValueError(f"x, y and groups must have the same length; got {len(x)}, {len(y)}, {len(groups)}")
    keep = ~(np.isnan(x) | np.isnan(y))
    codes = {}
    group_ids = np.asarray([codes.setdefault(g, len(codes)) for g in groups], dtype=np.int64)
    return x[keep], y[keep], group_ids[keep], int((~keep).sum())


def _residuals(values: np.ndarray, group_ids: np.ndarray, n_groups: int) -> np.ndarray:
    sums = np.bincount(group_ids, weights=values, minlength=n_groups)
    counts = np.bincount(group_ids, minlength=n_groups)
    means = sums / np.maximum(counts, 1)
    return values - means[group_ids]


def _r(x: np.ndarray, y: np.ndarray, group_ids: np.ndarray, method: str) -> float:
    if method == "spearman":
        x, y = stats.rankdata(x), stats.rankdata(y)
    n_groups = int(group_ids.max()) + 1 if group_ids.size else 0
    rx, ry = _residuals(x, group_ids, n_groups), _residuals(y, group_ids, n_groups)
    denominator = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if denominator == 0 or not math.isfinite(denominator):
        return math.nan
    return max(-1.0, min(1.0, float(rx @ ry) / denominator))


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def partial_correlation(x: Sequence[float | None], y: Sequence[float | None], groups: Sequence[Hashable],
                        method: str = "pearson") -> PartialCorrelation:
    """The correlation of ``x`` and ``y`` after removing each group's mean (see the module docstring)."""
    _check_method(method)
    x, y, group_ids, excluded = _prepare(x, y, groups)
    _, group_ids = np.unique(group_ids, return_inverse=True)
    n, n_groups = len(x), int(group_ids.max()) + 1 if len(x) else 0
    r = _r(x, y, group_ids, method) if n else math.nan
    dof = n - 2 - max(n_groups - 1, 0)
    if math.isnan(r) or dof <= 0:
        p = math.nan
    elif abs(r) == 1.0:
        p = 0.0
    else:
        t = r * math.sqrt(dof / (1 - r * r))
        p = float(2 * stats.t.sf(abs(t), dof))
    return PartialCorrelation(r, p, n, excluded, n_groups, method)


def bootstrap_partial_correlation(x: Sequence[float | None], y: Sequence[float | None],
                                  groups: Sequence[Hashable], method: str = "pearson", *,
                                  n_resamples: int = 1000, confidence: float = 0.95,
                                  seed: int = 0) -> BootstrapCorrelation:
    """:func:`partial_correlation` with a percentile-bootstrap interval (items resampled with replacement).

    Each resample draws ``n`` items (after dropping undefined pairs) with
    ``numpy.random.default_rng(seed)`` and recomputes the partial correlation, ranks and group
    means included; resamples where it is undefined are skipped.
    """
    _check_method(method)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence is a fraction between 0 and 1 (0.95 = 95%), got {confidence}")
    x, y, group_ids, excluded = _prepare(x, y, groups)
    _, group_ids = np.unique(group_ids, return_inverse=True)
    n = len(x)
    point = _r(x, y, group_ids, method) if n else math.nan
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_resamples if n else 0):
        index = rng.integers(0, n, size=n)
        _, ids = np.unique(group_ids[index], return_inverse=True)
        value = _r(x[index], y[index], ids, method)
        if not math.isnan(value):
            draws.append(value)
    if draws:
        alpha = (1 - confidence) / 2
        low, high = (float(v) for v in np.quantile(draws, [alpha, 1 - alpha]))
    else:
        low = high = math.nan
    return BootstrapCorrelation(point, low, high, n, excluded, confidence, n_resamples, seed, method)


def codes(groups: Sequence[Hashable]) -> np.ndarray:
    """Integer group ids 0..k-1 for any hashable group labels."""
    seen: dict = {}
    return np.asarray([seen.setdefault(g, len(seen)) for g in groups], dtype=np.int64)


def partial_r(x: np.ndarray, y: np.ndarray, group_ids: np.ndarray, method: str = "pearson") -> float:
    """The partial correlation coefficient alone, on clean arrays (no None/NaN), for bootstrap loops."""
    _check_method(method)
    _, group_ids = np.unique(group_ids, return_inverse=True)
    return _r(np.asarray(x, dtype=float), np.asarray(y, dtype=float), group_ids, method) if len(x) else math.nan

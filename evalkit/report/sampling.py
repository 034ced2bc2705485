"""Statistics that respect repeated samples: k replies per document, compared at the document level.

A system that samples (temperature > 0) writes a different summary each time. With ``k`` samples per
document a score has two sources of spread: **document difficulty** (some articles are harder for
everyone) and **sampling noise** (the same system on the same article scores differently each draw).
Everything here keeps the two apart and tests at the level the design pairs on, the document.

Definitions, and where they come from:

- **Per-document mean** (:func:`document_means`): the mean of a document's defined samples; systems
  are compared on these, paired by document (a system's sampling noise enters a document's mean with
  variance ``sigma_w^2 / k``).
- **Two-level bootstrap** (:func:`two_level_bootstrap`, :func:`two_level_bootstrap_diff`): resample
  documents with replacement, then, inside each resampled document, its samples with replacement
  (Davison & Hinkley 1997, *Bootstrap Methods and their Application*, section 3.8, "hierarchical
  data"; Field & Welsh 2007, JRSS B 69(3)). Resampling raw values at both levels counts the sampling
  noise twice (a document's mean already carries ``sigma_w^2 / k``), so, as Davison & Hinkley
  propose, the levels are resampled from adjusted values: a document's level is its mean shrunk
  towards the grand mean, ``ybar + c (ybar_i - ybar)`` with ``c^2 = 1 - mean_i(s_i^2 / n_i) / var(ybar_i)``
  (the between-document part only), and its samples are the residuals ``(y_ij - ybar_i)
  sqrt(n_i / (n_i - 1))``, resampled n_i at a time. A resample's statistic is the mean over its
  documents of level + mean residual, so its variance is about ``(sigma_b^2 + sigma_w^2 / k) / n``:
  both sources, each once. With one sample per document it is the ordinary bootstrap of the
  documents. For a paired difference the documents are drawn once for both systems (the level is the
  shrunk difference of means) and each system's residuals are drawn independently.
- **Paired test at the document level** (:func:`paired_document_test`): the test of
  :func:`evalkit.report.stats.paired_test` (paired permutation by default, Dror et al. 2018) on the
  per-document means, with the two-level bootstrap interval of the difference.
- **Variance components** (:func:`variance_components`): the one-way random-effects ANOVA
  estimators (Searle, Casella & McCulloch 1992, *Variance Components*, sections 3.5-3.6, unbalanced
  form): ``MSW = sum_ij (y_ij - ybar_i)^2 / (N - a)``, ``MSB = sum_i n_i (ybar_i - ybar)^2 / (a - 1)``,
  ``n0 = (N - sum_i n_i^2 / N) / (a - 1)``, ``sigma_w^2 = MSW`` (sampling noise) and
  ``sigma_b^2 = max(0, (MSB - MSW) / n0)`` (document difficulty), with ``a`` documents and ``N``
  samples in all. With one sample per document the two cannot be told apart: ``sigma_w^2`` is NaN
  and ``sigma_b^2`` is the plain variance of the values (both sources together).
- **Pass rates, pass^k and pass@k** (:func:`pass_rates`, :func:`pass_hat_k`, :func:`pass_at_k`): a
  sample *passes* when its value meets a threshold; ``c`` of a document's ``n`` samples pass.
  pass^k = ``C(c, k) / C(n, k)``, the unbiased estimator of the chance that *all* of k fresh samples
  pass (Yao et al. 2024, "tau-bench", section 5); pass@k = ``1 - C(n - c, k) / C(n, k)``, the unbiased
  estimator of the chance that *at least one* passes (Chen et al. 2021, "Evaluating Large Language
  Models Trained on Code", eq. 1).
- **TOST** (:func:`tost`): two one-sided paired t tests at ``alpha`` (Schuirmann 1987, J.
  Pharmacokinet. Biopharm. 15(6)). Non-inferiority: H0 ``mean drop >= margin``, shown when the upper
  end of the ``1 - 2 alpha`` t interval of the drop lies below the margin; equivalence: both H0
  ``mean change <= -margin`` and ``>= margin`` rejected, i.e. the whole ``1 - 2 alpha`` interval lies
  inside ``(-margin, margin)``.
- **Minimum detectable effect** (:func:`minimum_detectable_effect`): for a paired design on ``n``
  documents, two-sided ``alpha`` and power ``1 - beta``,
  ``MDE = (z_{1-alpha/2} + z_{1-beta}) * sd_diff / sqrt(n)`` (the normal approximation; Cohen 1988,
  *Statistical Power Analysis*, ch. 2; Bloom 1995, "Minimum Detectable Effects", Evaluation Review
  19(5)), where ``sd_diff^2 = sigma_bd^2 + (sigma_wA^2 + sigma_wB^2) / k`` is the variance of a
  document's difference of means: the between-document variance of the true differences plus the two
  systems' sampling noise over ``k`` samples. :func:`documents_needed` inverts it.

Every random draw comes from ``numpy.random.default_rng(seed)``; resample counts default to
:data:`evalkit.report.stats.N_RESAMPLES`.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd

from evalkit.core.types import Measure
from evalkit.report import stats
from evalkit.run.record import Run

SAMPLE_COLUMNS: tuple[str, ...] = ("document_id", "system", "sample", "metric", "value", "note")
"""The columns of a run's per-sample scores (one row per document, system, sample and metric)."""
POWER = 0.8
"""The power every report states its minimum detectable effect at."""


def sample_frame(run: Run) -> pd.DataFrame:
    """A run's per-sample scores (:attr:`Run.sample_scores`: sample 0 only for a run without samples)."""
    return run.sample_scores


# -- per-document shapes -------------------------------------------------------------------------------

def _numeric(samples: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("document_id", "system", "metric", "value") if c not in samples.columns]
    if missing:
        raise ValueError(f"per-sample scores lack column(s) {missing}; they need {list(SAMPLE_COLUMNS)} "
                         f"(have {list(samples.columns)})")
    samples = samples.copy()
    if "sample" not in samples.columns:
        samples["sample"] = 0
    samples["value"] = pd.to_numeric(samples["value"]).astype(float)
    return samples


def document_means(samples: pd.DataFrame) -> pd.DataFrame:
    """Per (document, system, metric): ``value`` = the mean of the defined samples, ``n_samples`` = how many.

    A document none of whose samples is defined keeps a NaN value with ``n_samples`` 0 (undefined,
    never 0). The result has the columns of a run's scores table, so :mod:`evalkit.report.stats` reads it.
    """
    samples = _numeric(samples)
    grouped = samples.groupby(["document_id", "system", "metric"], sort=True)["value"]
    out = grouped.agg(value="mean", n_samples="count").reset_index()
    return out[["document_id", "system", "metric", "value", "n_samples"]]


def sample_matrix(samples: pd.DataFrame, system: str, metric: str,
                  documents: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """``(document ids, values)``: one row per document, its defined samples left-aligned, NaN-padded.

    ``documents`` fixes the rows (a document the system lacks is a row of NaN); default: every
    document the system has a row for, sorted.
    """
    samples = _numeric(samples)
    rows = samples[(samples["system"] == system) & (samples["metric"] == metric)]
    rows = rows[rows["value"].notna()]
    ids = sorted(set(rows["document_id"])) if documents is None else list(documents)
    per_document = {d: g.sort_values("sample")["value"].to_numpy() for d, g in rows.groupby("document_id")}
    width = max((v.size for v in per_document.values()), default=1)
    matrix = np.full((len(ids), max(width, 1)), np.nan)
    for i, document in enumerate(ids):
        values = per_document.get(document, np.empty(0))
        matrix[i, :values.size] = values
    return ids, matrix


def _packed(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The matrix with each row's defined values left-aligned, and each row's count of them."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2:
        raise ValueError(f"expected documents x samples, got shape {matrix.shape}")
    defined = ~np.isnan(matrix)
    order = np.argsort(~defined, axis=1, kind="stable")
    return np.take_along_axis(matrix, order, axis=1), defined.sum(axis=1)


# -- variance components ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class VarianceComponents:
    """How a value's spread splits into document difficulty and sampling noise (one-way ANOVA estimators)."""

    n_documents: int
    """Documents with at least one defined sample."""
    n_samples: int
    """Defined samples in all."""
    k: float
    """Mean samples per document."""
    mean: float
    """Mean of the per-document means."""
    between: float
    """``sigma_b^2``: variance of the documents' true means (difficulty); with k = 1 it holds both sources."""
    within: float
    """``sigma_w^2``: variance of a document's samples around its mean (sampling noise); NaN with k = 1."""

    @property
    def sampling_share(self) -> float:
        """The share of one sample's variance that is sampling noise, ``sigma_w^2 / (sigma_b^2 + sigma_w^2)``."""
        total = self.between + self.within
        return self.within / total if total > 0 else math.nan

    def mean_variance(self, k: float | None = None) -> float:
        """Variance of a document's mean over ``k`` samples (default: this run's k): ``sigma_b^2 + sigma_w^2 / k``."""
        k = self.k if k is None else k
        return self.between + (0.0 if math.isnan(self.within) else self.within / k)


def variance_components(matrix: np.ndarray) -> VarianceComponents:
    """The ANOVA estimators of ``sigma_b^2`` and ``sigma_w^2`` from documents x samples (NaN = no sample)."""
    values, counts = _packed(matrix)
    keep = counts > 0
    values, counts = values[keep], counts[keep]
    a, total = int(counts.size), int(counts.sum())
    if a == 0:
        return VarianceComponents(0, 0, math.nan, math.nan, math.nan, math.nan)
    means = np.nansum(values, axis=1) / counts
    grand = float(means.mean())
    if total == a:  # one sample per document: nothing separates the two sources
        between = float(means.var(ddof=1)) if a > 1 else math.nan
        return VarianceComponents(a, total, 1.0, grand, between, math.nan)
    overall = float(np.nansum(values) / total)
    msw = float(np.nansum((values - means[:, None]) ** 2) / (total - a))
    if a < 2:
        return VarianceComponents(a, total, total / a, grand, math.nan, msw)
    msb = float(np.sum(counts * (means - overall) ** 2) / (a - 1))
    n0 = (total - float(np.sum(counts ** 2)) / total) / (a - 1)
    return VarianceComponents(a, total, total / a, grand, max(0.0, (msb - msw) / n0), msw)


@dataclass(frozen=True)
class PairVariance:
    """The variance of two systems' per-document differences, split by source (for the MDE and planning)."""

    system_a: str
    system_b: str
    n_documents: int
    """Documents where both systems have a defined mean."""
    k: float
    """Mean samples per document and system in the pilot."""
    between: float
    """``sigma_bd^2``: variance over documents of the true difference (what pairing cannot remove)."""
    within: float
    """``sigma_wA^2 + sigma_wB^2``: the two systems' sampling noise per sample (0 when every k = 1)."""
    observed: float
    """The plain variance of the per-document differences of means (both sources at the pilot's k)."""

    def diff_variance(self, k: float | None = None) -> float:
        """Variance of one document's difference of means with ``k`` samples each (default: the pilot's)."""
        if k is None:
            return self.observed
        return self.between + self.within / k


def _aligned(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two systems' packed documents x samples matrices and counts, kept to the documents both define."""
    a_values, a_counts = _packed(a)
    b_values, b_counts = _packed(b)
    if a_values.shape[0] != b_values.shape[0]:
        raise ValueError(f"a and b must have one row per document each; got {a_values.shape[0]} and {b_values.shape[0]}")
    keep = (a_counts > 0) & (b_counts > 0)
    return a_values[keep], a_counts[keep], b_values[keep], b_counts[keep]


def pair_variance(a: np.ndarray, b: np.ndarray, *, system_a: str = "a", system_b: str = "b") -> PairVariance:
    """:class:`PairVariance` of two aligned documents x samples matrices (rows are the same documents)."""
    a_values, a_counts, b_values, b_counts = _aligned(a, b)
    n = int(a_counts.size)
    k = float((a_counts.sum() + b_counts.sum()) / (2 * n)) if n else math.nan
    if n < 2:
        return PairVariance(system_a, system_b, n, k, math.nan, math.nan, math.nan)
    a_means, a_residuals = _residuals(a_values, a_counts)
    b_means, b_residuals = _residuals(b_values, b_counts)
    observed = float(np.var(a_means - b_means, ddof=1))
    between = max(0.0, observed - _noise(a_residuals, a_counts) - _noise(b_residuals, b_counts))
    within = _pooled(a_residuals, a_counts) + _pooled(b_residuals, b_counts)
    return PairVariance(system_a, system_b, n, k, between, within, observed)


# -- the two-level bootstrap -------------------------------------------------------------------------------

def _residuals(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-document means, residuals ``(y_ij - ybar_i) * sqrt(n_i / (n_i - 1))``; 0 where n_i = 1 or padded)."""
    means = np.nansum(values, axis=1) / counts
    inflate = np.sqrt(np.where(counts > 1, counts / np.maximum(counts - 1, 1), 0.0))
    residuals = np.nan_to_num((values - means[:, None]) * inflate[:, None])
    return means, residuals


def _shrunk(means: np.ndarray, noise: float) -> np.ndarray:
    """Document means pulled towards their mean so that their spread is the between-document part only:
    ``ybar + c (ybar_i - ybar)`` with ``c^2 = max(0, 1 - noise / var(ybar_i))`` (Davison & Hinkley 1997, 3.8)."""
    centre = float(means.mean())
    spread = float(means.var(ddof=1)) if means.size > 1 else 0.0
    c = math.sqrt(max(0.0, 1.0 - noise / spread)) if spread > 0 else 1.0
    return centre + c * (means - centre)


def _noise(residuals: np.ndarray, counts: np.ndarray) -> float:
    """Mean over documents of ``s_i^2 / n_i``: the sampling part of the variance of a document's mean."""
    several = counts > 1
    squares = (residuals ** 2).sum(axis=1) / np.maximum(counts, 1)  # s_i^2 (ddof 1) where n_i > 1
    return float(np.mean(np.where(several, squares / counts, 0.0)))


def _pooled(residuals: np.ndarray, counts: np.ndarray) -> float:
    """The pooled within-document variance per sample, ``sum_i (n_i - 1) s_i^2 / sum_i (n_i - 1)`` (0 when every n_i = 1)."""
    degrees = np.maximum(counts - 1, 0).sum()
    return float((residuals ** 2 * ((counts - 1) / np.maximum(counts, 1))[:, None]).sum() / degrees) if degrees else 0.0


def _resampled_residuals(residuals: np.ndarray, counts: np.ndarray, rows: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """For each resample (a row of ``rows``: document indices): per document, the mean of its n_i residuals
    drawn with replacement; resamples x documents."""
    n_counts = counts[rows]
    width = residuals.shape[1]
    picks = (rng.random((*rows.shape, width)) * n_counts[..., None]).astype(np.int64)
    drawn = residuals[rows[..., None], picks]
    used = np.arange(width)[None, None, :] < n_counts[..., None]
    return np.where(used, drawn, 0.0).sum(axis=2) / n_counts


def two_level_bootstrap(matrix: np.ndarray, *, n_resamples: int = stats.N_RESAMPLES, confidence: float = 0.95,
                        seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of the per-document means and its two-level percentile interval.

    ``matrix``: documents x samples (NaN = no sample). Documents with no defined sample are left
    out; none at all gives ``(nan, nan, nan)``.
    """
    stats._check_resampling(n_resamples, confidence)
    values, counts = _packed(matrix)
    keep = counts > 0
    values, counts = values[keep], counts[keep]
    n = counts.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    means, residuals = _residuals(values, counts)
    shrunk = _shrunk(means, _noise(residuals, counts))
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples)
    for start, stop in stats._chunks(n_resamples, n * values.shape[1]):
        rows = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = (shrunk[rows] + _resampled_residuals(residuals, counts, rows, rng)).mean(axis=1)
    return (float(means.mean()), *stats._percentile_interval(out, confidence))


def two_level_bootstrap_diff(a: np.ndarray, b: np.ndarray, *, n_resamples: int = stats.N_RESAMPLES,
                             confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(diff, low, high)`` for ``mean(a) - mean(b)`` over the documents both define, paired on documents.

    Each resample draws documents once for both systems, then each system's samples within them.
    """
    stats._check_resampling(n_resamples, confidence)
    a_values, a_counts, b_values, b_counts = _aligned(a, b)
    n = int(a_counts.size)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    a_means, a_residuals = _residuals(a_values, a_counts)
    b_means, b_residuals = _residuals(b_values, b_counts)
    differences = a_means - b_means
    shrunk = _shrunk(differences, _noise(a_residuals, a_counts) + _noise(b_residuals, b_counts))
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples)
    for start, stop in stats._chunks(n_resamples, n * (a_values.shape[1] + b_values.shape[1])):
        rows = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = (shrunk[rows] + _resampled_residuals(a_residuals, a_counts, rows, rng)
                           - _resampled_residuals(b_residuals, b_counts, rows, rng)).mean(axis=1)
    return (float(differences.mean()), *stats._percentile_interval(out, confidence))


def paired_document_test(a: np.ndarray, b: np.ndarray, *, method: stats.Method = "permutation",
                         n_resamples: int = stats.N_RESAMPLES, confidence: float = 0.95,
                         seed: int = 0) -> stats.PairedResult:
    """The paired test of :func:`evalkit.report.stats.paired_test` on per-document means of two systems'
    documents x samples matrices, with the two-level bootstrap interval of the difference."""
    a_values, a_counts = _packed(a)
    b_values, b_counts = _packed(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        a_means = np.nansum(a_values, axis=1) / np.where(a_counts > 0, a_counts, np.nan)
        b_means = np.nansum(b_values, axis=1) / np.where(b_counts > 0, b_counts, np.nan)
    result = stats.paired_test(a_means, b_means, method=method, n_resamples=n_resamples, confidence=confidence,
                               seed=seed)
    if result.n == 0:
        return result
    _, low, high = two_level_bootstrap_diff(a_values, b_values, n_resamples=n_resamples, confidence=confidence,
                                            seed=seed)
    return stats.PairedResult(result.mean_diff, result.p_value, low, high, result.n)


# -- pass rates -------------------------------------------------------------------------------------------

def _combinations_ratio(top: np.ndarray, n: np.ndarray, k: int) -> np.ndarray:
    """``C(top, k) / C(n, k)`` elementwise, as the product ``prod_{j<k} (top - j) / (n - j)`` (0 when top < k)."""
    j = np.arange(k)[None, :]
    ratio = np.prod(np.clip(top[:, None] - j, 0, None) / (n[:, None] - j), axis=1)
    return ratio


def _check_pass_counts(n: object, c: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_array, c_array = np.atleast_1d(np.asarray(n, dtype=float)), np.atleast_1d(np.asarray(c, dtype=float))
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")
    if np.any(c_array < 0) or np.any(c_array > n_array):
        raise ValueError("each pass count c must lie between 0 and its number of samples n")
    if np.any(n_array < k):
        raise ValueError(f"pass^k and pass@k need at least k={k} samples per document; the fewest is "
                         f"{int(n_array.min())}: draw more samples or ask for a smaller k")
    return n_array, c_array


def pass_hat_k(n: object, c: object, k: int) -> np.ndarray:
    """pass^k per document: ``C(c, k) / C(n, k)``, the chance that all of k samples pass (Yao et al. 2024)."""
    n_array, c_array = _check_pass_counts(n, c, k)
    return _combinations_ratio(c_array, n_array, k)


def pass_at_k(n: object, c: object, k: int) -> np.ndarray:
    """pass@k per document: ``1 - C(n - c, k) / C(n, k)``, the chance that one of k samples passes (Chen et al. 2021)."""
    n_array, c_array = _check_pass_counts(n, c, k)
    return 1.0 - _combinations_ratio(n_array - c_array, n_array, k)


def pass_rates(samples: pd.DataFrame, metric: str, threshold: float, *, higher_is_better: bool = True,
               k: int | None = None) -> pd.DataFrame:
    """Per (document, system): ``n`` defined samples, ``passed`` (meeting ``threshold``), ``rate``, and with
    ``k`` the columns ``pass_hat_k`` and ``pass_at_k`` (NaN for a document with fewer than k samples)."""
    samples = _numeric(samples)
    rows = samples[(samples["metric"] == metric) & samples["value"].notna()]
    if rows.empty:
        raise ValueError(f"no defined value of {metric!r}{_hint(metric, samples['metric'])}")
    meets = rows["value"] >= threshold if higher_is_better else rows["value"] <= threshold
    frame = rows.assign(passed=meets.astype(int)).groupby(["document_id", "system"], sort=True).agg(
        n=("value", "size"), passed=("passed", "sum")).reset_index()
    frame["rate"] = frame["passed"] / frame["n"]
    if k is not None:
        enough = frame["n"].to_numpy() >= k
        for column, estimator in (("pass_hat_k", pass_hat_k), ("pass_at_k", pass_at_k)):
            out = np.full(len(frame), np.nan)
            if enough.any():
                out[enough] = estimator(frame["n"].to_numpy()[enough], frame["passed"].to_numpy()[enough], k)
            frame[column] = out
    return frame


# -- TOST, power and planning ------------------------------------------------------------------------------

Kind = Literal["non_inferiority", "equivalence"]


@dataclass(frozen=True)
class TostResult:
    """Whether a paired comparison shows the new values are not worse (or equivalent) within a margin."""

    kind: Kind
    margin: float
    mean: float
    """Mean per-document change ``new - baseline``, in the value's units, oriented so that positive is better."""
    ci_low: float
    """Lower end of the ``1 - 2 alpha`` t interval of that mean (90% for alpha 0.05)."""
    ci_high: float
    p_value: float
    """The TOST p-value: the larger of the one-sided p-values the claim needs (NaN with fewer than 2 documents)."""
    shown: bool
    """True when the claim (non-inferiority, or equivalence) holds at ``alpha``."""
    n: int
    confidence: float
    """``1 - 2 alpha``: the level of the interval that decides."""


def _check_margin(margin: float, kind: str) -> float:
    try:
        margin = float(margin)
    except (TypeError, ValueError):
        raise ValueError(f"{kind} margin must be a number, e.g. 0.01, got {margin!r}") from None
    if not margin > 0 or math.isinf(margin):
        raise ValueError(f"{kind} margin must be a positive finite number (the largest change that does not "
                         f"matter, in the value's units, e.g. 0.01), got {margin!r}")
    return margin


def tost(changes: Sequence[float] | np.ndarray, margin: float, *, kind: Kind = "non_inferiority",
         alpha: float = 0.05) -> TostResult:
    """TOST on per-document changes (``new - baseline``, oriented so that positive is better).

    Non-inferiority: H0 ``mean <= -margin`` is rejected (one-sided t test, Schuirmann 1987).
    Equivalence: both H0 ``mean <= -margin`` and H0 ``mean >= margin`` are rejected. NaN changes are
    left out; fewer than two documents can show nothing.
    """
    from scipy import stats as scipy_stats

    if kind not in ("non_inferiority", "equivalence"):
        raise ValueError(f"unknown kind {kind!r}; use non_inferiority or equivalence")
    margin = _check_margin(margin, kind.replace("_", "-"))
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie strictly between 0 and 0.5 (e.g. 0.05), got {alpha!r}")
    d = stats._as_float_array(changes, "changes")
    d = d[~np.isnan(d)]
    n = int(d.size)
    confidence = 1 - 2 * alpha
    if n < 2:
        return TostResult(kind, margin, float(d.mean()) if n else math.nan, math.nan, math.nan, math.nan, False, n,
                          confidence)
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    t_quantile = float(scipy_stats.t.ppf(1 - alpha, n - 1))
    low, high = mean - t_quantile * se, mean + t_quantile * se
    if se == 0:
        lower_p = 0.0 if mean > -margin else 1.0
        upper_p = 0.0 if mean < margin else 1.0
    else:
        lower_p = float(scipy_stats.t.sf((mean + margin) / se, n - 1))  # H0: mean <= -margin
        upper_p = float(scipy_stats.t.cdf((mean - margin) / se, n - 1))  # H0: mean >= margin
    p_value = lower_p if kind == "non_inferiority" else max(lower_p, upper_p)
    return TostResult(kind, margin, mean, low, high, p_value, p_value <= alpha, n, confidence)


def _z(alpha: float, power: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must lie strictly between 0 and 1 (e.g. 0.8), got {power!r}")
    normal = NormalDist()
    return normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)


def minimum_detectable_effect(sd_diff: float, n: int, *, alpha: float = 0.05, power: float = POWER) -> float:
    """``(z_{1-alpha/2} + z_power) * sd_diff / sqrt(n)``: the smallest true mean difference a two-sided paired
    test on ``n`` documents detects with probability ``power`` (NaN when ``n`` < 2 or sd is undefined)."""
    factor = _z(alpha, power)
    if n < 2 or math.isnan(sd_diff):
        return math.nan
    return factor * float(sd_diff) / math.sqrt(n)


def analytic_power(effect: float, sd_diff: float, n: int, *, alpha: float = 0.05) -> float:
    """The power of a two-sided paired test on ``n`` documents at a true mean difference ``effect``
    (normal approximation, both tails), the inverse of :func:`minimum_detectable_effect`."""
    normal = NormalDist()
    shift = abs(effect) * math.sqrt(n) / sd_diff
    z = normal.inv_cdf(1 - alpha / 2)
    return normal.cdf(shift - z) + normal.cdf(-shift - z)


def documents_needed(effect: float, variance: PairVariance | float, *, k: float | None = None, alpha: float = 0.05,
                     power: float = POWER) -> int:
    """Documents a paired evaluation needs to detect a true difference ``effect`` with ``power``.

    ``variance``: a pilot's :class:`PairVariance` (then ``k`` samples per document and system, default
    the pilot's) or the variance of one document's difference directly.
    ``n = ceil(((z_{1-alpha/2} + z_power) * sd_diff / effect)^2)``, at least 2.
    """
    factor = _z(alpha, power)
    if not effect or math.isnan(effect):
        raise ValueError(f"the effect to detect must be a non-zero number, e.g. 0.01, got {effect!r}")
    diff_variance = variance.diff_variance(k) if isinstance(variance, PairVariance) else float(variance)
    if math.isnan(diff_variance):
        raise ValueError("the pilot's variance is undefined (it needs at least 2 documents with a value)")
    return max(2, math.ceil((factor * math.sqrt(diff_variance) / abs(effect)) ** 2))


# -- a run's statement ------------------------------------------------------------------------------------

def _hint(name: str, available: object) -> str:
    names = sorted({str(n) for n in available})
    close = difflib.get_close_matches(name, names, n=1)
    return (f" (did you mean {close[0]!r}?)" if close else "") + f"; the run has {', '.join(names) or 'none'}"


def check_metric(samples: pd.DataFrame, metric: str) -> None:
    """Raise a one-line ``ValueError`` (with a did-you-mean hint) when ``metric`` is not in ``samples``."""
    if metric not in set(samples["metric"]):
        raise ValueError(f"metric {metric!r} is not in this run{_hint(metric, samples['metric'])}")


def pair_variances(samples: pd.DataFrame, metric: str, systems: Sequence[str] | None = None,
                   exclude: Sequence[str] = ()) -> list[PairVariance]:
    """:class:`PairVariance` of every pair of ``systems`` (default: all but ``exclude``) on ``metric``."""
    check_metric(samples, metric)
    rows = samples[samples["metric"] == metric]
    names = list(systems) if systems is not None else sorted(set(rows["system"]) - set(exclude))
    ids = sorted(set(rows["document_id"]))
    matrices = {name: sample_matrix(rows, name, metric, ids)[1] for name in names}
    return [pair_variance(matrices[a], matrices[b], system_a=a, system_b=b) for a, b in itertools.combinations(names, 2)]


@dataclass(frozen=True)
class Detectable:
    """What a run's design can detect on one value: the MDE at :data:`POWER` over its system pairs."""

    metric: str
    n_documents: int
    k_low: float
    """The fewest mean samples per document of a system (1 for a run without samples)."""
    k_high: float
    """The most."""
    mde: float
    """The median over system pairs of the minimum detectable effect (value units)."""
    low: float
    """The smallest pair's MDE."""
    high: float
    """The largest pair's MDE."""
    n_pairs: int
    alpha: float = 0.05

    def describe(self, measure: Measure | None = None) -> str:
        """One line: ``Minimum detectable effect on rougeL_f at 80% power (...): 1.90 points (median of 21 ...)``."""
        factor, unit = (100.0, " points") if measure is not None and measure.is_fraction else (
            1.0, f" {measure.unit}" if measure is not None and measure.unit else "")
        digits = 2 if factor != 1 else 4
        k = f"{self.k_low:g}" if self.k_low == self.k_high else f"{self.k_low:g}-{self.k_high:g}"
        samples = f" x {k} sample{'s' if self.k_high != 1 else ''}"
        spread = (f" (median of {self.n_pairs} system pairs, {factor * self.low:.{digits}f}-"
                  f"{factor * self.high:.{digits}f})" if self.n_pairs > 1 else "")
        return (f"Minimum detectable effect on {self.metric} at {POWER:.0%} power (two-sided alpha {self.alpha:g}, "
                f"paired by document, {self.n_documents} documents{samples}): {factor * self.mde:.{digits}f}{unit}"
                f"{spread}; a smaller true difference is likely to go unseen")

    def to_dict(self, measure: Measure | None = None) -> dict[str, object]:
        """JSON-ready: the numbers and the sentence."""
        return {"metric": self.metric, "n_documents": self.n_documents, "k_low": self.k_low, "k_high": self.k_high,
                "mde": self.mde, "low": self.low, "high": self.high, "n_pairs": self.n_pairs, "alpha": self.alpha,
                "power": POWER, "text": self.describe(measure)}


def run_detectable(run, metric: str, *, alpha: float = 0.05) -> Detectable | None:
    """:func:`detectable` of a stored run (its samples when it has them), leaving out its upper bounds."""
    return detectable(sample_frame(run), metric, exclude=run.manifest.upper_bounds(), alpha=alpha)


def detectable(samples: pd.DataFrame, metric: str, *, exclude: Sequence[str] = (),
               alpha: float = 0.05) -> Detectable | None:
    """The MDE of a run on ``metric`` over every pair of its systems (``None`` with fewer than 2 systems or documents)."""
    pairs = [p for p in pair_variances(samples, metric, exclude=exclude) if not math.isnan(p.observed)]
    if not pairs:
        return None
    used = {p.system_a for p in pairs} | {p.system_b for p in pairs}
    means = document_means(samples[(samples["metric"] == metric) & samples["system"].isin(used)])
    k = means[means["n_samples"] > 0].groupby("system")["n_samples"].mean()
    mdes = np.array([minimum_detectable_effect(math.sqrt(p.observed), p.n_documents, alpha=alpha) for p in pairs])
    return Detectable(metric, max(p.n_documents for p in pairs), float(k.min()), float(k.max()),
                      float(np.median(mdes)), float(mdes.min()), float(mdes.max()), len(pairs), alpha)

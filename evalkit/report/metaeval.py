"""Meta-evaluation: how well does a metric agree with people, on annotated summaries?

Input: summaries with human scores, one :class:`~evalkit.inputs.annotated.Item` per (document,
system), read from FRANK or SummEval files by :mod:`evalkit.inputs.annotated`. Metric values
come from the file's own columns (FRANK's baselines, SummEval's scores) and/or from evalkit
metrics (:func:`evalkit.run.scoring.score_items`, cached in a store exactly as a run caches them).

Agreement with each human column, three ways (Deutsch, Dror & Roth 2021, "A Statistical
Analysis of Summarization Evaluation Metrics Using Resampling Methods"):

- ``summary``: per document, the correlation across its systems' summaries, averaged over
  documents; documents with fewer than two pairs or a constant metric or human column are
  skipped (SummEval / G-Eval protocol). CI: documents resampled.
- ``system``: each system's mean metric and mean human score over the documents where both are
  defined, correlated across systems. CI: documents resampled.
- ``partial``: the correlation controlling for the system (FRANK protocol,
  :mod:`evalkit.report.correlation`). CI: items resampled.

Methods: Pearson, Spearman, Kendall's tau-b (not for ``partial``). Every CI is a seeded
percentile bootstrap (``numpy.random.default_rng(seed)``); :meth:`MetaEval.compare` tests two
metrics' correlations with the same resamples (paired bootstrap, two-sided p).
"""


from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from evalkit.core.errors import ConfigError, DataError
from evalkit.report.correlation import bootstrap_partial_correlation, codes, partial_r
from evalkit.report.tables import json_ready

if TYPE_CHECKING:
    from evalkit.inputs.annotated import Item

LEVELS = ("summary", "system", "partial")
METHODS = ("pearson", "spearman", "kendall")


@dataclass(frozen=True)
class Agreement:
    """One metric's agreement with one human column at one level, with its bootstrap CI."""

    metric: str
    human: str
    level: str
    method: str
    r: float
    low: float
    high: float
    n: int
    """Items used (for ``summary``: documents averaged; for ``system``: systems)."""
    n_items: int


# -- correlations ------------------------------------------------------------------------------------
def correlate(x: np.ndarray, y: np.ndarray, method: str) -> float:
    """Pearson, Spearman or Kendall's tau-b of ``x`` and ``y``; NaN for fewer than two pairs or a constant side."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    if method == "pearson":
        return float(np.corrcoef(x, y)[0, 1])
    if method == "spearman":
        return float(stats.spearmanr(x, y).statistic)
    return float(stats.kendalltau(x, y).statistic)


def interval(draws: Sequence[float], confidence: float) -> tuple[float, float]:
    """The percentile interval of the defined bootstrap draws (NaN, NaN when none is defined)."""
    draws = [d for d in draws if not math.isnan(d)]
    if not draws:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


def document_draws(n_docs: int, statistic: Callable[[np.ndarray], float], n_resamples: int,
                   rng: np.random.Generator) -> list[float]:
    """The statistic on ``n_resamples`` bootstrap resamples of the documents: each resample draws ``n_docs``
    documents with replacement and hands ``statistic`` how often each was drawn (a weight per document), so a
    statistic of system means weights each document's cells by it. The system-level CI of :class:`MetaEval` and
    of the pairwise win rates (:mod:`evalkit.report.metaeval_pairwise`) are both made this way."""
    return [statistic(np.bincount(rng.integers(0, n_docs, n_docs), minlength=n_docs).astype(float))
            for _ in range(n_resamples)]


class MetaEval:
    """Items, metric columns and human columns, and the agreement between them (see the module docstring)."""

    def __init__(self, items: Sequence[Item], metrics: Mapping[str, Sequence[float | None]] | None = None, *,
                 humans: Sequence[str] | None = None, n_resamples: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> None:
        self.items = list(items)
        if not self.items:
            raise DataError("meta-eval: no items")
        columns = metrics if metrics is not None else self._file_columns()
        self.metrics = {name: np.array([np.nan if v is None else float(v) for v in values])
                        for name, values in columns.items()}
        for name, values in self.metrics.items():
            if len(values) != len(self.items):
                raise ConfigError(f"metric column {name!r} has {len(values)} values for {len(self.items)} items")
        known = sorted({h for item in self.items for h in item.human})
        self.humans = list(humans) if humans is not None else known
        unknown = [h for h in self.humans if h not in known]
        if unknown:
            raise ConfigError(f"human column(s) {unknown} not in the data; it has {', '.join(known)}")
        self.human = {h: np.array([item.human.get(h, np.nan) for item in self.items], dtype=float)
                      for h in self.humans}
        self.n_resamples, self.confidence, self.seed = n_resamples, confidence, seed
        self.doc_ids = codes([item.document_id for item in self.items])
        self.system_ids = codes([item.system for item in self.items])

    def _file_columns(self) -> dict[str, list[float | None]]:
        names = list(dict.fromkeys(n for item in self.items for n in item.metrics))
        return {n: [item.metrics.get(n) for item in self.items] for n in names}

    def restrict(self, defined: str) -> MetaEval:
        """Only the items where metric ``defined`` has a value (e.g. FRANK's entity-precision subset)."""
        if defined not in self.metrics:
            raise ConfigError(f"--where-defined {defined!r}: no such metric column; have {', '.join(self.metrics)}")
        keep = ~np.isnan(self.metrics[defined])
        return MetaEval([i for i, k in zip(self.items, keep) if k], {n: v[keep] for n, v in self.metrics.items()},
                        humans=self.humans, n_resamples=self.n_resamples, confidence=self.confidence, seed=self.seed)

    # -- the three levels: the statistic on a resample -----------------------------------------
    def _per_document(self, x: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
        """Each document's correlation across its systems (NaN where undefined)."""
        out = np.full(self.doc_ids.max() + 1, np.nan)
        order = np.argsort(self.doc_ids, kind="stable")
        bounds = np.flatnonzero(np.diff(self.doc_ids[order])) + 1
        for group in np.split(order, bounds):
            keep = group[~(np.isnan(x[group]) | np.isnan(y[group]))]
            out[self.doc_ids[group[0]]] = correlate(x[keep], y[keep], method)
        return out

    def _system_means(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = ~(np.isnan(x) | np.isnan(y))
        w = weights[self.doc_ids] * both
        n_sys = self.system_ids.max() + 1
        count = np.bincount(self.system_ids, weights=w, minlength=n_sys)
        sx = np.bincount(self.system_ids, weights=np.where(both, x, 0) * w, minlength=n_sys)
        sy = np.bincount(self.system_ids, weights=np.where(both, y, 0) * w, minlength=n_sys)
        present = count > 0
        return sx[present] / count[present], sy[present] / count[present]

    def _draws(self, level: str, method: str, x: np.ndarray, y: np.ndarray) -> tuple[float, list[float], int]:
        """Point estimate, bootstrap draws and n for one column pair; resamples made from ``seed``."""
        rng = np.random.default_rng(self.seed)
        n_docs = self.doc_ids.max() + 1
        if level == "summary":
            per_doc = self._per_document(x, y, method)
            defined = ~np.isnan(per_doc)
            point = float(per_doc[defined].mean()) if defined.any() else math.nan
            draws = []
            for _ in range(self.n_resamples):
                sample = per_doc[rng.integers(0, n_docs, n_docs)]
                sample = sample[~np.isnan(sample)]
                draws.append(float(sample.mean()) if len(sample) else math.nan)
            return point, draws, int(defined.sum())
        if level == "system":
            mx, my = self._system_means(x, y, np.ones(n_docs))
            draws = document_draws(n_docs, lambda weights: correlate(*self._system_means(x, y, weights), method),
                                   self.n_resamples, rng)
            return correlate(mx, my, method), draws, len(mx)
        keep = ~(np.isnan(x) | np.isnan(y))
        xs, ys, gs = x[keep], y[keep], self.system_ids[keep]
        n = len(xs)
        draws = []
        for _ in range(self.n_resamples):
            index = rng.integers(0, n, n)
            draws.append(partial_r(xs[index], ys[index], gs[index], method))
        return partial_r(xs, ys, gs, method), draws, n

    def agreement(self, metric: str, human: str, level: str = "partial", method: str = "pearson") -> Agreement:
        if level not in LEVELS or method not in METHODS:
            raise ConfigError(f"level must be one of {LEVELS} and method one of {METHODS}; got {level!r}, {method!r}")
        if level == "partial" and method == "kendall":
            raise ConfigError("partial correlation is defined here for pearson and spearman, not kendall")
        x, y = self._column(metric), self.human[human]
        if level == "partial":  # the FRANK benchmark's own routine, so its numbers are reproduced exactly
            boot = bootstrap_partial_correlation(list(x), list(y), list(self.system_ids), method,
                                                 n_resamples=self.n_resamples, confidence=self.confidence,
                                                 seed=self.seed)
            return Agreement(metric, human, level, method, boot.r, boot.low, boot.high, boot.n, boot.n)
        point, draws, n = self._draws(level, method, x, y)
        low, high = interval(draws, self.confidence)
        n_items = int((~(np.isnan(x) | np.isnan(y))).sum())
        return Agreement(metric, human, level, method, point, low, high, n, n_items)

    def _column(self, metric: str) -> np.ndarray:
        if metric not in self.metrics:
            raise ConfigError(f"no metric column {metric!r}; have {', '.join(self.metrics)}")
        return self.metrics[metric]

    def table(self, levels: Sequence[str] = LEVELS, methods: Sequence[str] = ("pearson", "spearman", "kendall"),
              metrics: Sequence[str] | None = None) -> list[Agreement]:
        """Every metric x human x level x method (Kendall is skipped for ``partial``)."""
        return [self.agreement(m, h, level, method) for h in self.humans for m in (metrics or self.metrics)
                for level in levels for method in methods if not (level == "partial" and method == "kendall")]

    def compare(self, a: str, b: str, human: str, level: str = "partial", method: str = "pearson") -> dict[str, Any]:
        """Paired bootstrap test of ``r(a) - r(b)`` on items where both metrics are defined: delta, CI, p."""
        self.agreement(a, human, level, method)  # checks the names, level and method
        xa, xb, y = self._column(a), self._column(b), self.human[human]
        both = ~(np.isnan(xa) | np.isnan(xb))
        xa, xb = np.where(both, xa, np.nan), np.where(both, xb, np.nan)
        ra, da, n = self._draws(level, method, xa, y)
        rb, db, _ = self._draws(level, method, xb, y)  # the same seed: the same resamples for both
        diffs = [p - q for p, q in zip(da, db) if not (math.isnan(p) or math.isnan(q))]
        low, high = interval(diffs, self.confidence)
        p = min(1.0, 2 * min(np.mean([d <= 0 for d in diffs]), np.mean([d >= 0 for d in diffs]))) if diffs \
            else math.nan
        return {"a": a, "b": b, "human": human, "level": level, "method": method, "delta": ra - rb,
                "low": low, "high": high, "p_value": float(p), "n": n}

    # -- views ------------------------------------------------------------------------------------------
    def to_json(self, results: Sequence[Agreement], comparisons: Sequence[Mapping[str, Any]] = ()) -> str:
        settings = {"items": len(self.items), "documents": int(self.doc_ids.max() + 1),
                    "systems": int(self.system_ids.max() + 1), "n_resamples": self.n_resamples,
                    "confidence": self.confidence, "seed": self.seed}
        return json.dumps(json_ready({"settings": settings, "agreement": [asdict(r) for r in results],
                                      "comparisons": list(comparisons)}), indent=2, allow_nan=False)


def format_table(results: Sequence[Agreement]) -> str:
    """One line per (human column, metric): each level/method as ``r [low, high]``."""
    columns = list(dict.fromkeys((r.level, r.method) for r in results))
    rows: dict[tuple[str, str], dict[tuple[str, str], Agreement]] = {}
    for r in results:
        rows.setdefault((r.human, r.metric), {})[(r.level, r.method)] = r
    width = max([len(m) for _, m in rows] + [6])
    head = f"{'metric':<{width}}  {'n':>5}  " + "  ".join(f"{f'{lv} {me}':^22}" for lv, me in columns)
    lines = []
    for human in dict.fromkeys(h for h, _ in rows):
        lines += [f"human: {human}", head, "-" * len(head)]
        for (h, metric), cells in rows.items():
            if h != human:
                continue
            n = max(c.n_items for c in cells.values())
            shown = [f"{c.r:6.3f} [{c.low:6.3f},{c.high:6.3f}]" if (c := cells.get(col)) else " " * 22
                     for col in columns]
            lines.append(f"{metric:<{width}}  {n:>5}  " + "  ".join(shown))
        lines.append("")
    return "\n".join(lines).rstrip()


def agreement_chart(results: Sequence[Agreement], level: str = "partial", method: str = "pearson",
                    human: str | None = None):
    """A matplotlib Figure: one bar per metric, its correlation with the human column and 95% CI."""
    from matplotlib.figure import Figure

    chosen = [r for r in results if r.level == level and r.method == method and (human is None or r.human == human)]
    if not chosen:
        raise ConfigError(f"no {level} {method} results to chart")
    human = human or chosen[0].human
    chosen = sorted((r for r in chosen if r.human == human), key=lambda r: r.r)
    figure = Figure(figsize=(7, 0.45 * len(chosen) + 1.5))
    axis = figure.subplots()
    values = [r.r for r in chosen]
    errors = [[max(r.r - r.low, 0) for r in chosen], [max(r.high - r.r, 0) for r in chosen]]
    axis.barh([r.metric for r in chosen], values, xerr=errors, color="#4c72b0", capsize=3)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel(f"{level}-level {method} correlation with {human} (95% bootstrap CI)")
    figure.tight_layout()
    return figure

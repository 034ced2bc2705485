"""Meta-evaluation on pairwise human preferences: win rates, and which metric ranks systems as people do.

Input: per rubric question, the people's pairwise answers as ``(document_id, system_a, system_b,
annotator, score of a)`` with score 1 (a preferred), 0 (b preferred) or 1/2 (tie)
(:func:`evalkit.run.labels.pairwise_by_question`), and the run's metric values per (document, system).

- **Win rate** of a system: (wins + ties / 2) / comparisons, over every pairwise answer it was in
  (each annotator's answer counts once), as in Chatbot Arena's win-rate tables (Chiang et al. 2024).
- **System-level correlation**: each metric's system mean (over the documents where the system
  has pairwise answers) against the win rate, Spearman and Kendall's tau-b, with a seeded bootstrap
  interval over documents (:func:`evalkit.report.metaeval.document_draws`, the resampling of the
  pointwise system level): a resample weights each document's wins, comparisons and metric values by
  how often it was drawn. Fewer than 3 systems leave no correlation (one line says so).
- **A pairwise judge against people**: per question, each annotator's answer on a pair next to the
  judge's verdict on the same pair (the winner's name or ``tie``), as two nominal coders: raw agreement
  and Cohen's kappa (:func:`evalkit.report.agreement.agreement_row`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from evalkit.report.agreement import Rating, agreement_row
from evalkit.report.metaeval import correlate, document_draws, interval
from evalkit.report.tables import json_ready

METHODS = ("spearman", "kendall")
MIN_SYSTEMS = 3
"""Fewer systems than this give no system-level correlation (two points always correlate at ±1)."""
TIE = "tie"


@dataclass(frozen=True)
class WinRate:
    """One system's record in the people's pairwise answers to one question."""

    question: str
    system: str
    wins: int
    ties: int
    losses: int
    comparisons: int
    """Pairwise answers the system was in (wins + ties + losses)."""
    rate: float
    """(wins + ties / 2) / comparisons."""
    documents: int
    """Documents with at least one of those answers."""


@dataclass(frozen=True)
class WinRateAgreement:
    """One metric's system means against the human win rates of one question, with a bootstrap CI."""

    metric: str
    question: str
    method: str
    r: float
    low: float
    high: float
    systems: int
    """Systems with both a win rate and a metric mean."""
    documents: int
    """Documents resampled."""


@dataclass(frozen=True)
class JudgeAgreement:
    """A pairwise judge's verdicts against the people's answers to one question, pair by pair."""

    judge: str
    question: str
    answers: int
    """Human answers on pairs the judge also judged (each annotator's answer is one)."""
    raw: float
    """Share of those answers equal to the judge's verdict."""
    cohen: float
    """Cohen's kappa of people (pooled) and judge as two nominal coders."""


class PairwiseMetaEval:
    """Human pairwise answers per question and the run's metric values (see the module docstring)."""

    def __init__(self, answers: Mapping[str, Sequence[tuple]], metrics: Mapping[str, Mapping[tuple[str, str],
                 float | None]], *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> None:
        self.answers = {q: list(rows) for q, rows in answers.items() if rows}
        self.metrics = dict(metrics)
        self.n_resamples, self.confidence, self.seed = n_resamples, confidence, seed

    def _cells(self, question: str) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
        """Documents, systems, and per (document, system) the score won (ties 1/2) and the comparisons."""
        rows = self.answers.get(question, [])
        documents = list(dict.fromkeys(r[0] for r in rows))
        systems = list(dict.fromkeys(s for r in rows for s in (r[1], r[2])))
        d, s = {x: i for i, x in enumerate(documents)}, {x: i for i, x in enumerate(systems)}
        won, seen = np.zeros((len(documents), len(systems))), np.zeros((len(documents), len(systems)))
        for document, a, b, _, score in rows:
            won[d[document], s[a]] += score
            won[d[document], s[b]] += 1 - score
            seen[d[document], s[a]] += 1
            seen[d[document], s[b]] += 1
        return documents, systems, won, seen

    def win_rates(self, question: str) -> list[WinRate]:
        """Every system's win rate on ``question``, best first."""
        documents, systems, _, seen = self._cells(question)
        tally = {name: [0, 0, 0] for name in systems}
        for _, a, b, _, score in self.answers.get(question, []):
            for name, mine in ((a, score), (b, 1 - score)):
                tally[name][0 if mine == 1 else 1 if mine == 0.5 else 2] += 1
        out = [WinRate(question, name, w, t, lo, w + t + lo, (w + t / 2) / (w + t + lo), int((seen[:, j] > 0).sum()))
               for j, (name, (w, t, lo)) in enumerate(tally.items())]
        return sorted(out, key=lambda r: (-r.rate, r.system))

    def too_few(self, question: str) -> str | None:
        """The one line that says a question has too few systems for a system-level correlation, else None."""
        n = len(self._cells(question)[1])
        if n >= MIN_SYSTEMS:
            return None
        return (f"{question}: {n} system(s) in the pairwise answers; a system-level correlation needs at least "
                f"{MIN_SYSTEMS} (win rates only)")

    def agreement(self, metric: str, question: str, method: str = "spearman") -> WinRateAgreement:
        """One metric's system means against the win rates of ``question`` (NaN with fewer than 3 systems)."""
        documents, systems, won, seen = self._cells(question)
        values = self.metrics[metric]
        m = np.array([[values.get((doc, name)) for name in systems] for doc in documents], dtype=float)
        m[seen == 0] = np.nan  # a system's mean over the documents it was compared on
        defined = ~np.isnan(m)

        def statistic(weights: np.ndarray) -> float:
            count = weights @ defined
            n = weights @ seen
            keep = (n > 0) & (count > 0)
            if keep.sum() < MIN_SYSTEMS:
                return math.nan
            means = (weights @ np.where(defined, m, 0.0))[keep] / count[keep]
            return correlate(means, (weights @ won)[keep] / n[keep], method)

        point = statistic(np.ones(len(documents)))
        draws = document_draws(len(documents), statistic, self.n_resamples, np.random.default_rng(self.seed))
        low, high = interval(draws, self.confidence)
        shown = int((((seen > 0) & defined).sum(axis=0) > 0).sum())
        return WinRateAgreement(metric, question, method, point, low, high, shown, len(documents))

    def table(self, methods: Sequence[str] = METHODS) -> list[WinRateAgreement]:
        """Every metric x question (with enough systems) x method."""
        return [self.agreement(metric, question, method) for question in self.answers if self.too_few(question) is None
                for metric in self.metrics for method in methods]


def judge_agreement(judge: str, question: str, people: Sequence[tuple], verdicts: Sequence[tuple]) -> JudgeAgreement:
    """People's answers (``(document_id, a, b, annotator, score of a)``) against one judge's verdicts
    (``(document_id, system, opponent, score of system)``) on the same pairs, each side as the winner's name or
    ``tie``: raw agreement and Cohen's kappa over the answers on pairs both judged."""
    said: dict[tuple[str, frozenset], str] = {}
    for document, system, opponent, score in verdicts:
        said[(document, frozenset((system, opponent)))] = _winner(system, opponent, score)
    ratings = []
    for document, a, b, annotator, score in people:
        key = (document, frozenset((a, b)))
        if key in said:
            ratings += [Rating((key, annotator), "people", _winner(a, b, score)), Rating((key, annotator), "judge",
                                                                                        said[key])]
    row = agreement_row(question, ratings, "nominal")
    return JudgeAgreement(judge, question, len(ratings) // 2, row.raw, math.nan if row.cohen is None else row.cohen)


def _winner(a: str, b: str, score: float) -> str:
    return a if score == 1 else b if score == 0 else TIE


def format_pairwise(evaluation: PairwiseMetaEval, results: Sequence[WinRateAgreement],
                    judges: Sequence[JudgeAgreement] = ()) -> str:
    """The pairwise section as text: win rates per question, the system-level correlations, the judge's agreement."""
    lines = []
    for question in evaluation.answers:
        lines += [f"human: {question} (pairwise)", f"{'system':<24} {'wins':>5} {'ties':>5} {'losses':>6} "
                  f"{'compared':>8} {'win rate':>8}"]
        lines += [f"{r.system:<24} {r.wins:>5} {r.ties:>5} {r.losses:>6} {r.comparisons:>8} {r.rate:>8.3f}"
                  for r in evaluation.win_rates(question)]
        note = evaluation.too_few(question)
        if note:
            lines.append(note)
        mine = [r for r in results if r.question == question]
        methods = list(dict.fromkeys(r.method for r in mine))
        if mine:
            width = max([len(r.metric) for r in mine] + [6])
            lines.append(f"{'metric':<{width}}  {'systems':>7}  " + "  ".join(f"{f'system {m}':^22}" for m in methods))
            for metric in dict.fromkeys(r.metric for r in mine):
                cells = {r.method: r for r in mine if r.metric == metric}
                lines.append(f"{metric:<{width}}  {cells[methods[0]].systems:>7}  " + "  ".join(
                    f"{c.r:6.3f} [{c.low:6.3f},{c.high:6.3f}]" for c in (cells[m] for m in methods)))
        for j in (j for j in judges if j.question == question):
            lines.append(f"pairwise judge {j.judge!r} vs people on {question}: {j.answers} answers, raw agreement "
                         f"{j.raw:.3f}, Cohen's kappa {j.cohen:.3f}")
        lines.append("")
    return "\n".join(lines).rstrip()


def pairwise_json(evaluation: PairwiseMetaEval, results: Sequence[WinRateAgreement],
                  judges: Sequence[JudgeAgreement] = ()) -> dict[str, Any]:
    """The pairwise section as JSON-ready data (undefined numbers as ``None``: :func:`json_ready`)."""
    return {"win_rates": [json_ready(asdict(r)) for q in evaluation.answers for r in evaluation.win_rates(q)],
            "too_few_systems": [n for q in evaluation.answers if (n := evaluation.too_few(q))],
            "agreement": [json_ready(asdict(r)) for r in results], "judge": [json_ready(asdict(j)) for j in judges],
            "settings": {"n_resamples": evaluation.n_resamples, "confidence": evaluation.confidence,
                         "seed": evaluation.seed, "level": "system", "methods": list(METHODS)}}

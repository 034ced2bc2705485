"""Redundancy: how much a summary repeats itself, in whole sentences and in word n-grams.

A model that loops ("the same claim seven times") or pads a long target with restatements
reads fluent sentence by sentence and scores well on ROUGE against a source it copies; these
values show it. Needs neither the source nor a reference.

- ``redundancy_sentences``: the share of the summary's sentences that repeat an earlier
  sentence of it, ``(n - d) / n`` for ``n`` sentences (:func:`evalkit.core.text.sentences`) of
  which ``d`` are distinct once normalized (their tokens, see below; so case, punctuation and
  spacing do not make a repeat new). One sentence said seven times is ``6 / 7``.
- ``redundancy_rep3``: ``rep-3 = 1 - |unique trigrams| / |trigrams|`` over the summary's token
  sequence (trigrams may cross sentence ends): the *seq-rep-n* of Welleck et al. (2019),
  "Neural Text Generation with Unlikelihood Training", ICLR 2020, with n = 3, which is one
  minus the *unique n-gram ratio* used for summaries by Xiao & Carenini (2020),
  "Systematically Exploring Redundancy Reduction in Summarizing Long Documents", AACL. Trigrams
  because a repeated trigram in a news summary is almost always a repeated phrase (the
  trigram blocking of Paulus et al. 2018), while repeated words and word pairs ("of the")
  are ordinary English.

**Tokens** are :func:`evalkit.metrics.extractiveness.tokens` (words of
:func:`evalkit.core.text.words`, outer punctuation stripped, lowercased), shared with the
extractiveness metric.

**Undefined values**: an empty summary has neither value (note ``"empty summary"``); one with
fewer than three tokens has no trigrams (``redundancy_rep3`` is ``None``, noted). ``info``
lists each repeated sentence with how many times it occurs (``repeated_sentences``, most
frequent first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from evalkit.core.options import Options
from evalkit.core.text import TEXT_VERSION, sentences
from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult
from evalkit.metrics.extractiveness import TOKENIZATION, tokens

N = 3
"""The n of ``rep-n``."""

MEASURES: tuple[Measure, ...] = (
    Measure("redundancy_sentences", "repeated sentences", "fraction", False, None,
            "share of the summary's sentences that repeat an earlier one (case and punctuation ignored)",
            headline=True, tolerance=0.02),
    Measure("redundancy_rep3", "repeated trigrams (rep-3)", "fraction", False, None,
            "1 - unique word trigrams / trigrams in the summary (seq-rep-3, Welleck et al. 2019)",
            tolerance=0.02),
)
NAMES: tuple[str, ...] = tuple(m.name for m in MEASURES)


def repeated_sentence_share(text: str) -> tuple[float | None, list[tuple[str, int]]]:
    """``((n - distinct) / n, [(sentence, times) for each repeated one])``; ``None`` without sentences."""
    first: dict[tuple[str, ...], str] = {}
    counts: Counter[tuple[str, ...]] = Counter()
    for sentence in sentences(text):
        key = tuple(tokens(sentence))
        if key:
            first.setdefault(key, sentence)
            counts[key] += 1
    n = sum(counts.values())
    if not n:
        return None, []
    repeated = [(first[key], times) for key, times in counts.most_common() if times > 1]
    return (n - len(counts)) / n, repeated


def rep_n(sequence: Sequence[str], n: int = N) -> float | None:
    """``1 - unique n-grams / n-grams`` of ``sequence``; ``None`` when it has fewer than ``n`` items."""
    grams = [tuple(sequence[k:k + n]) for k in range(len(sequence) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else None


class Redundancy(Metric):
    """Repeated sentences and repeated trigrams (rep-3) within each summary."""

    kind = "redundancy"
    Options = Options
    """It takes no options."""
    text_version_key = "sentences"

    def settings(self) -> dict[str, Any]:
        return {"n": N, "tokenization": TOKENIZATION, "sentences": f"evalkit.text.sentences v{TEXT_VERSION}"}

    def measures(self) -> tuple[Measure, ...]:
        return MEASURES

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        return [self._one(cand.text) for cand in candidates]

    @staticmethod
    def _one(text: str) -> MetricResult:
        sequence = tokens(text)
        if not sequence:
            return MetricResult(dict.fromkeys(NAMES), dict.fromkeys(NAMES, "empty summary"),
                                {"repeated_sentences": []})
        share, repeated = repeated_sentence_share(text)
        values = {"redundancy_sentences": share, "redundancy_rep3": rep_n(sequence)}
        notes = {}
        if values["redundancy_rep3"] is None:
            notes["redundancy_rep3"] = f"fewer than {N} words"
        info = {"repeated_sentences": [{"sentence": s, "times": times} for s, times in repeated]}
        return MetricResult(values, notes, info)

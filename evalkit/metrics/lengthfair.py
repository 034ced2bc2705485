"""Length-fair comparison: each summary's ROUGE (and BERTScore) next to same-length baselines from its source.

ROUGE rewards length: a longer summary recalls more of the reference, and F-measure follows recall
over the usual range, so a system can win by writing more. Sun et al. (2019, "How to Compare
Summarizers without Target Length? Pitfalls, Solutions and Re-Examination of the Neural
Summarization Literature", NAACL workshop on Methods for Optimizing and Evaluating Neural Language
Generation) show that much of the reported progress on CNN/DailyMail is length, and propose comparing
each system with baselines **of the same length**. For every summary of N words
(:func:`evalkit.core.text.words`) this metric builds, from the summary's own article:

- the **same-length lead**: the article's first N words (:func:`evalkit.core.text.truncate_words`,
  spacing kept), and
- a **same-length random cut**: N consecutive words of the article from a start drawn with
  ``numpy.random.default_rng([seed, document])`` (the document's id hashed), so every system's summary
  of a document is compared with a cut from the same draw;

scores all three with the same ROUGE settings (:class:`evalkit.metrics.rouge.Rouge`; BERTScore too when
``bertscore:`` is given) against the references, and reports, per ROUGE type ``t``:
``t_f_lead_same_length``, ``t_f_random_same_length``, ``t_f_vs_lead`` (the summary's F minus the
same-length lead's) and ``t_f_vs_random``. A ``vs_lead`` above 0 means **better than the lead at equal
length**; a summary that is the article's lead has ``vs_lead`` exactly 0 however long it is. (Sun et al.
also divide by the random baseline; the differences are reported here since a ratio is undefined where
the baseline scores 0.) A summary with no words is compared with empty baselines (all 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import field_validator

from evalkit.core.fingerprint import digest
from evalkit.core.options import Options, Text, Whole
from evalkit.core.text import truncate_words, word_spans, words
from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult
from evalkit.metrics.rouge import ROUGE_TYPES, Rouge, rouge_label

BASELINES = ("lead", "random")


def same_length_lead(article: str, n: int) -> str:
    """The article's first ``n`` words, spacing kept (the whole article when it has fewer)."""
    return truncate_words(article, n)


def same_length_random(article: str, n: int, document_id: str, seed: int = 0) -> str:
    """``n`` consecutive words of ``article`` from a start drawn per document (the whole article when shorter)."""
    spans = word_spans(article)
    if n <= 0:
        return ""
    if n >= len(spans):
        return article
    rng = np.random.default_rng([seed, int(digest(document_id, 8), 16)])
    start = int(rng.integers(0, len(spans) - n + 1))
    return article[spans[start][0]:spans[start + n - 1][1]]


class LengthFairOptions(Options):
    """Options of :class:`LengthFair`."""

    types: Sequence[Text] = ("rouge1", "rouge2", "rougeLsum")
    """The ROUGE types compared (F-measure)."""
    rouge: Mapping[str, Any] = {}
    """Other options of the ROUGE scorer (``stemmer``, ``tokenizer``, ``multi_reference``), as ``kind: rouge`` takes."""
    bertscore: Mapping[str, Any] | None = None
    """Options of ``kind: bertscore`` to compare its F1 as well (``{}`` for its defaults); null: ROUGE only."""
    seed: Whole = 0
    """Seeds the random cut's start (with the document's id)."""

    @field_validator("types")
    @classmethod
    def _types(cls, types: Sequence[str]) -> Sequence[str]:
        unknown = [t for t in types if t not in ROUGE_TYPES]
        if unknown or not types:
            raise ValueError(f"unknown type(s) {unknown or '(none given)'}; choose from {', '.join(ROUGE_TYPES)}")
        return types


class LengthFair(Metric):
    """A summary's ROUGE (and BERTScore) minus that of the same-length lead and random cut of its article."""

    kind = "length-fair"
    needs_references = True
    Options = LengthFairOptions

    def __init__(self, **options: Any) -> None:
        """Options: see :class:`LengthFairOptions`."""
        options = self.Options.parse(options, self.kind)
        if "types" in options.rouge:
            raise ValueError("give the ROUGE types as length-fair's own types:, not under rouge:")
        self.types = tuple(options.types)
        self.seed = options.seed
        self.rouge = Rouge(types=list(self.types), **dict(options.rouge))
        self.bertscore = None
        if options.bertscore is not None:
            from evalkit.metrics.bertscore import BertScore

            self.bertscore = BertScore(**dict(options.bertscore))

    def settings(self) -> dict[str, Any]:
        return {"rouge": self.rouge.signature, "bertscore": self.bertscore.signature if self.bertscore else None,
                "seed": self.seed, "baselines": "lead: first N words; random: N consecutive words, seeded start"}

    def _scores(self) -> list[tuple[str, str]]:
        """(inner value name, the name stem this metric reports it under)."""
        out = [(f"{t}_f", f"{t}_f") for t in self.types]
        if self.bertscore is not None:
            out.append((f"{self.bertscore.key}_f", f"{self.bertscore.key}_f"))
        return out

    def _label(self, stem: str) -> str:
        if stem.startswith("rouge"):
            return f"{rouge_label(stem[:-2])} F1"
        return "BERTScore F1"

    def measures(self) -> tuple[Measure, ...]:
        out = []
        for index, (_, stem) in enumerate(self._scores()):
            label = self._label(stem)
            for baseline in BASELINES:
                out.append(Measure(f"{stem}_{baseline}_same_length", f"{label}, same-length {baseline}", "fraction",
                                   None, description=f"{label} of the article's same-length {baseline} "
                                   "(Sun et al. 2019)", group="quality"))
            for baseline in BASELINES:
                out.append(Measure(f"{stem}_vs_{baseline}", f"{label} vs same-length {baseline}", "fraction", True,
                                   description=f"the summary's {label} minus the same-length {baseline}'s: above 0 "
                                   f"is better than the {baseline} at equal length (Sun et al. 2019)",
                                   headline=index == 0 and baseline == "lead", tolerance=0.005, group="quality"))
        return tuple(out)

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        leads, cuts = [], []
        for cand in candidates:
            n = len(words(cand.text))
            article = cand.document.text
            leads.append(Candidate(cand.document, same_length_lead(article, n), cand.target))
            cuts.append(Candidate(cand.document, same_length_random(article, n, cand.document.id, self.seed),
                                  cand.target))
        batch = [*candidates, *leads, *cuts]
        inner = self.rouge.score(batch)
        if self.bertscore is not None:
            scored = self.bertscore.score(batch)
            inner = [MetricResult({**r.values, **b.values}, {**r.notes, **b.notes}) for r, b in zip(inner, scored)]
        size = len(candidates)
        results = []
        for index in range(size):
            own, lead, cut = inner[index], inner[size + index], inner[2 * size + index]
            values: dict[str, float | None] = {}
            notes: dict[str, str] = {}
            for name, stem in self._scores():
                for baseline, result in zip(BASELINES, (lead, cut)):
                    base, mine = result.values.get(name), own.values.get(name)
                    values[f"{stem}_{baseline}_same_length"] = base
                    values[f"{stem}_vs_{baseline}"] = None if base is None or mine is None else mine - base
                    why = own.notes.get(name) or result.notes.get(name)
                    if why:
                        notes[f"{stem}_vs_{baseline}"] = notes[f"{stem}_{baseline}_same_length"] = why
            results.append(MetricResult(values, notes, {"words": len(words(candidates[index].text))}))
        return results

    def close(self) -> None:
        if self.bertscore is not None:
            self.bertscore.close()

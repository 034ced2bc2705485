"""ROUGE-N, ROUGE-L and ROUGE-Lsum (Lin, 2004, "ROUGE: A Package for Automatic Evaluation of Summaries").

Semantics are those of Google's ``rouge-score`` package: lowercase, non-alphanumerics to spaces,
Porter stemming of tokens longer than three characters (on by default), F-measure with
beta = 1, and ROUGE-Lsum as the union-LCS over newline-separated sentences. Both candidate and
references are split into sentences with :func:`evalkit.text.sentences` and joined with
newlines first, so Lsum sees real sentences (rouge-score itself does not split them).
With several references the best score per ROUGE type (by F-measure) is kept, as
``RougeScorer.score_multi`` does.

``tokenizer="unicode"`` keeps letters of every script (``Zürich``, ``Łódź``), which the default
``[a-z0-9]`` tokenizer drops; it applies NFKC and case folding and does not stem.

The engine is ``rouge-score-rs`` (a Rust implementation that matches ``rouge-score`` bit for
bit and scores batches in parallel); ``engine="python"`` uses ``rouge-score`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult
from evalkit.text import sentences

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
TOKENIZERS = ("default", "unicode")
ENGINES = ("rs", "python")
PARTS = {"f": "F1", "p": "precision", "r": "recall"}
ROUGE_DESCRIPTIONS = {"rouge1": "unigram overlap", "rouge2": "bigram overlap",
                      "rougeL": "longest common subsequence over the whole text (flat)",
                      "rougeLsum": "union LCS over sentences (summary-level, what papers report as ROUGE-L)"}


def rouge_label(rouge_type: str) -> str:
    """``rouge1`` -> ``ROUGE-1``; ``rougeL`` and ``rougeLsum`` say which ROUGE-L they are."""
    if rouge_type == "rougeL":
        return "ROUGE-L (flat)"
    if rouge_type == "rougeLsum":
        return "ROUGE-L (summary-level, Lsum)"
    return f"ROUGE-{rouge_type[5:]}"


def sentence_lines(text: str) -> str:
    """``text`` with one sentence per line, as ROUGE-Lsum expects."""
    return "\n".join(sentences(text))


class Rouge(Metric):
    """ROUGE F-measure, precision and recall for each requested type."""

    kind = "rouge"
    needs_references = True

    def __init__(self, types: Sequence[str] = ROUGE_TYPES, *, stemmer: bool = True,
                 tokenizer: str = "default", engine: str = "rs") -> None:
        unknown = [t for t in types if t not in ROUGE_TYPES and not (t.startswith("rouge") and t[5:].isdigit())]
        if unknown or not types:
            raise ValueError(f"rouge: unknown type(s) {unknown or '(none given)'}; choose from {', '.join(ROUGE_TYPES)}")
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"rouge: tokenizer must be one of {TOKENIZERS}, got {tokenizer!r}")
        if engine not in ENGINES:
            raise ValueError(f"rouge: engine must be one of {ENGINES}, got {engine!r}")
        self.types = tuple(types)
        self.stemmer = stemmer and tokenizer == "default"
        self.tokenizer = tokenizer
        self.engine = engine
        self._scorer = None

    def settings(self) -> dict[str, Any]:
        # The engine is not part of the signature: both engines give identical scores.
        return {"types": list(self.types), "stemmer": self.stemmer, "tokenizer": self.tokenizer,
                "sentence_split": "evalkit.text.sentences", "multi_reference": "max-f",
                "semantics": "rouge-score 0.1.2"}

    def measures(self) -> tuple[Measure, ...]:
        return tuple(Measure(f"{t}_{part}", f"{rouge_label(t)} {PARTS[part]}", "fraction",
                             description=f"{PARTS[part]} of {ROUGE_DESCRIPTIONS.get(t, t)} against the best "
                                         "reference (rouge-score semantics)",
                             headline=(part == "f" and t in ("rouge1", "rouge2", "rougeLsum")),
                             tolerance=0.005 if part == "f" else None)  # half a ROUGE point
                     for t in self.types for part in ("f", "p", "r"))

    @property
    def scorer(self):
        if self._scorer is None:
            if self.engine == "rs":
                from rouge_score_rs import rouge_scorer
                from rouge_score_rs.tokenizers import UnicodeTokenizer
            else:
                from rouge_score import rouge_scorer

                UnicodeTokenizer = None
            kwargs: dict[str, Any] = {"use_stemmer": self.stemmer}
            if self.tokenizer == "unicode":
                if UnicodeTokenizer is None:
                    from rouge_score_rs.tokenizers import UnicodeTokenizer
                kwargs["tokenizer"] = UnicodeTokenizer()
            self._scorer = rouge_scorer.RougeScorer(list(self.types), **kwargs)
        return self._scorer

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        pairs: list[tuple[int, str, str]] = []  # (candidate index, reference, prediction)
        split_refs: dict[str, list[str]] = {}
        for index, cand in enumerate(candidates):
            doc = cand.document
            if doc.id not in split_refs:
                split_refs[doc.id] = [sentence_lines(r) for r in doc.references]
            prediction = sentence_lines(cand.text)
            for reference in split_refs[doc.id]:
                pairs.append((index, reference, prediction))
        raw = self._score_pairs([p[1] for p in pairs], [p[2] for p in pairs])
        best: list[dict[str, Any]] = [{} for _ in candidates]
        for (index, _, _), scores in zip(pairs, raw):
            for rouge_type, value in scores.items():
                current = best[index].get(rouge_type)
                if current is None or value.fmeasure > current.fmeasure:
                    best[index][rouge_type] = value
        results = []
        for cand, scores in zip(candidates, best):
            if not cand.document.references:
                note = "no reference summary"
                results.append(MetricResult({n: None for n in self.names}, {n: note for n in self.names}))
                continue
            values: dict[str, float | None] = {}
            for rouge_type in self.types:
                s = scores[rouge_type]
                values[f"{rouge_type}_f"] = float(s.fmeasure)
                values[f"{rouge_type}_p"] = float(s.precision)
                values[f"{rouge_type}_r"] = float(s.recall)
            results.append(MetricResult(values))
        return results

    def _score_pairs(self, targets: list[str], predictions: list[str]) -> list[dict[str, Any]]:
        if not targets:
            return []
        if hasattr(self.scorer, "score_batch"):
            return self.scorer.score_batch(targets, predictions)
        return [self.scorer.score(t, p) for t, p in zip(targets, predictions)]

"""ROUGE-N, ROUGE-L and ROUGE-Lsum (Lin, 2004, "ROUGE: A Package for Automatic Evaluation of Summaries").

Semantics are those of Google's ``rouge-score`` package: lowercase, non-alphanumerics to spaces,
Porter stemming of tokens longer than three characters (on by default), F-measure with
beta = 1, and ROUGE-Lsum as the union-LCS over newline-separated sentences. Both candidate and
references are split into sentences with :func:`evalkit.core.text.sentences` and joined with
newlines first, so Lsum sees real sentences (rouge-score itself does not split them).
``rougeL`` is the flat LCS over the whole text; ``rougeLsum`` is what papers report as ROUGE-L.

**Several references** (``multi_reference``), per ROUGE type:

- ``max`` (default): the reference with the best F-measure gives P, R and F, as
  ``RougeScorer.score_multi`` does (rouge-score, Hugging Face ``evaluate``);
- ``mean``: every reference is scored and P, R and F are each averaged over them, as
  SummEval (Fabbri et al., 2021) and G-Eval (Liu et al., 2023) report on their 11-reference
  CNN/DM set;
- ``jackknife``: ROUGE-1.5.5's jackknifing (Lin, 2004, section 2.1): for M references, the
  mean over the M leave-one-out subsets of the best (by F) score in each subset; with one
  reference it is that reference's score. (ROUGE-1.5.5 picks the best reference per subset
  with ``-f B``; its ``-f A`` pools the subset's counts instead, which this does not do.)

**Tokenizers.** ``"default"`` is rouge-score's ``[a-z0-9]`` tokenizer, which drops every
letter outside ASCII: Cyrillic, Arabic or Chinese text has no tokens and scores 0.
``"unicode"`` is rouge-score-rs's UAX #29 word tokenizer (NFKC, case folding, no stemming):
it keeps words of every script and makes each Chinese character (Han) and each Hiragana
character one token, the usual character-level convention for Chinese ROUGE; Katakana runs
stay whole words. ``"auto"`` (the default) takes ``default`` for a document whose references
are mostly ASCII letters (so English scores are rouge-score's, stemmed, bit for bit) and
``unicode`` otherwise (:func:`evalkit.core.text.mostly_non_ascii`), decided per document so every
system is scored on a document the same way; rows scored with ``unicode`` say so in a note.
Choosing automatically, rather than returning ``None``, is right because the unicode tokenizer
is what the user would set anyway and there is no other sensible value; Latin-script
languages with some accents (German, Polish) stay on ``default``, as in rouge-score.

The engine is ``rouge-score-rs`` (a Rust implementation that matches ``rouge-score`` bit for
bit and scores batches in parallel); ``engine="python"`` uses ``rouge-score`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import field_validator

from evalkit.core.options import Flag, Options, Text
from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult
from evalkit.core.text import TEXT_VERSION, mostly_non_ascii, sentences

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
TOKENIZERS = ("auto", "default", "unicode")
ENGINES = ("rs", "python")
MULTI_REFERENCE = ("max", "mean", "jackknife")
PARTS = {"f": "F1", "p": "precision", "r": "recall"}
ROUGE_DESCRIPTIONS = {"rouge1": "unigram overlap", "rouge2": "bigram overlap",
                      "rougeL": "longest common subsequence over the whole text (flat)",
                      "rougeLsum": "union LCS over sentences (summary-level, what papers report as ROUGE-L)"}
AGAINST = {"max": "against the best reference", "mean": "averaged over the references",
           "jackknife": "jackknifed over the references (ROUGE-1.5.5)"}
UNICODE_NOTE = ("tokenizer auto -> unicode: the references are mostly non-ASCII letters, which the default "
                "[a-z0-9] tokenizer drops")

Triple = tuple[float, float, float]
"""(precision, recall, F-measure) of one ROUGE type against one reference."""


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


def _best(scores: Sequence[Triple]) -> Triple:
    """The first score with the highest F-measure (``numpy.argmax``, as ``score_multi``)."""
    return max(scores, key=lambda s: s[2])


def _mean(scores: Sequence[Triple]) -> Triple:
    n = len(scores)
    return (sum(s[0] for s in scores) / n, sum(s[1] for s in scores) / n, sum(s[2] for s in scores) / n)


def aggregate_references(scores: Sequence[Triple], how: str) -> Triple:
    """One (P, R, F) from one per reference, by ``max``, ``mean`` or ``jackknife`` (see the module docstring)."""
    if not scores:
        raise ValueError("aggregate_references needs at least one reference score")
    if how == "max":
        return _best(scores)
    if how == "mean":
        return _mean(scores)
    if how == "jackknife":
        if len(scores) == 1:
            return scores[0]
        return _mean([_best([s for j, s in enumerate(scores) if j != i]) for i in range(len(scores))])
    raise ValueError(f"rouge: multi_reference must be one of {', '.join(MULTI_REFERENCE)}, got {how!r}")


class RougeOptions(Options):
    """Options of :class:`Rouge`."""

    types: Sequence[Text] = ROUGE_TYPES
    """The ROUGE variants: rouge1, rouge2 (any rougeN), rougeL, rougeLsum."""
    stemmer: Flag = True
    """Porter stemming (the default tokenizer only)."""
    tokenizer: Literal[TOKENIZERS] = "auto"
    """``default`` (rouge-score's ASCII), ``unicode``, or ``auto``: unicode for mostly non-ASCII references."""
    engine: Literal[ENGINES] = "rs"
    """``rs`` (fast, same scores) or ``python`` (rouge-score itself)."""
    multi_reference: Literal[MULTI_REFERENCE] = "max"
    """How several references combine: the best, the mean, or jackknifed."""

    @field_validator("types")
    @classmethod
    def _types(cls, types: Sequence[str]) -> Sequence[str]:
        unknown = [t for t in types if t not in ROUGE_TYPES and not (t.startswith("rouge") and t[5:].isdigit())]
        if unknown or not types:
            raise ValueError(f"unknown type(s) {unknown or '(none given)'}; choose from {', '.join(ROUGE_TYPES)}")
        return types


class Rouge(Metric):
    """ROUGE F-measure, precision and recall for each requested type."""

    kind = "rouge"
    text_version_key = "sentence_split"
    needs_references = True

    Options = RougeOptions

    def __init__(self, types: Sequence[str] | None = None, **options: Any) -> None:
        """Options: see :class:`RougeOptions` (``types`` may come first, unnamed)."""
        options = self.Options.parse(options if types is None else {**options, "types": types}, self.kind)
        self.types = tuple(options.types)
        self.stemmer = options.stemmer and options.tokenizer != "unicode"  # stemming is for the default tokenizer only
        self.tokenizer = options.tokenizer
        self.engine = options.engine
        self.multi_reference = options.multi_reference
        self._scorers: dict[str, Any] = {}

    def settings(self) -> dict[str, Any]:
        # The engine is not part of the signature: both engines give identical scores.
        out = {"types": list(self.types), "stemmer": self.stemmer, "tokenizer": self.tokenizer,
               "sentence_split": f"evalkit.text.sentences v{TEXT_VERSION}", "multi_reference": self.multi_reference,
               "semantics": "rouge-score 0.1.2"}
        if self.tokenizer == "auto":
            out["auto_tokenizer"] = "unicode when the references' letters are mostly non-ASCII, else default"
        return out

    def measures(self) -> tuple[Measure, ...]:
        return tuple(Measure(f"{t}_{part}", f"{rouge_label(t)} {PARTS[part]}", "fraction",
                             description=f"{PARTS[part]} of {ROUGE_DESCRIPTIONS.get(t, t)} "
                                         f"{AGAINST[self.multi_reference]} (rouge-score semantics)",
                             headline=(part == "f" and t in ("rouge1", "rouge2", "rougeLsum")),
                             tolerance=0.005 if part == "f" else None, group="quality")  # half a ROUGE point
                     for t in self.types for part in ("f", "p", "r"))

    def scorer(self, tokenizer: str = "default"):
        """The rouge-score(-rs) scorer for a resolved tokenizer (``default`` or ``unicode``)."""
        if tokenizer not in self._scorers:
            if self.engine == "rs":
                from rouge_score_rs import rouge_scorer
            else:
                from rouge_score import rouge_scorer
            kwargs: dict[str, Any] = {"use_stemmer": self.stemmer and tokenizer == "default"}
            if tokenizer == "unicode":
                from rouge_score_rs.tokenizers import UnicodeTokenizer

                kwargs["tokenizer"] = UnicodeTokenizer()
            self._scorers[tokenizer] = rouge_scorer.RougeScorer(list(self.types), **kwargs)
        return self._scorers[tokenizer]

    def resolve_tokenizer(self, references: Sequence[str]) -> str:
        """``default`` or ``unicode``: the tokenizer this instance uses for a document with ``references``."""
        if self.tokenizer != "auto":
            return self.tokenizer
        return "unicode" if mostly_non_ascii(" ".join(references)) else "default"

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        # (candidate index, reference, prediction), grouped by the tokenizer each document resolves to
        pairs: dict[str, list[tuple[int, str, str]]] = {}
        split_refs: dict[str, tuple[str, list[str]]] = {}
        for index, cand in enumerate(candidates):
            doc = cand.document
            if doc.id not in split_refs:
                split_refs[doc.id] = (self.resolve_tokenizer(doc.references),
                                      [sentence_lines(r) for r in doc.references])
            tokenizer, references = split_refs[doc.id]
            prediction = sentence_lines(cand.text)
            pairs.setdefault(tokenizer, []).extend((index, reference, prediction) for reference in references)
        per_reference: list[list[dict[str, Any]]] = [[] for _ in candidates]
        for tokenizer, group in pairs.items():
            raw = self._score_pairs(tokenizer, [p[1] for p in group], [p[2] for p in group])
            for (index, _, _), scores in zip(group, raw):
                per_reference[index].append(scores)
        results = []
        for cand, scores in zip(candidates, per_reference):
            if not scores:
                note = "no reference summary"
                results.append(MetricResult({n: None for n in self.names}, {n: note for n in self.names}))
                continue
            values: dict[str, float | None] = {}
            for rouge_type in self.types:
                p, r, f = aggregate_references(
                    [(float(s[rouge_type].precision), float(s[rouge_type].recall), float(s[rouge_type].fmeasure))
                     for s in scores], self.multi_reference)
                values[f"{rouge_type}_f"], values[f"{rouge_type}_p"], values[f"{rouge_type}_r"] = f, p, r
            if self.tokenizer == "auto" and split_refs[cand.document.id][0] == "unicode":
                results.append(MetricResult(values, {n: UNICODE_NOTE for n in self.names}, {"tokenizer": "unicode"}))
            else:
                results.append(MetricResult(values))
        return results

    def _score_pairs(self, tokenizer: str, targets: list[str], predictions: list[str]) -> list[dict[str, Any]]:
        if not targets:
            return []
        scorer = self.scorer(tokenizer)
        if hasattr(scorer, "score_batch"):
            return scorer.score_batch(targets, predictions)
        return [scorer.score(t, p) for t, p in zip(targets, predictions)]

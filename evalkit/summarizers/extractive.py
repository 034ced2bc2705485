"""Extractive strategies: lead-k, TextRank, LexRank, random sentences and the greedy ROUGE oracle.

Each strategy rates the document's sentences, then one shared helper
(:func:`select_sentences`) keeps the best ones within the length target and restores document
order, as sumy does. Targets are met by budget:

- ``sentences``: at most that many sentences;
- ``words``: sentences are added best-first while they fit the budget; with ``bound: about``
  one more sentence is added when that lands closer to the target, and with ``at_least`` when
  the floor is not yet reached. ``Lead(cut="word")`` instead cuts the leading text at exactly
  the word budget (the "first N words" baseline);
- ``paragraphs``: the chosen sentences are split into that many paragraphs, as evenly as possible;
- an empty target means three sentences (the news-summarization convention).

A document shorter than its target is returned whole, with ``details["short_source"] = True``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from evalkit.core.fingerprint import digest
from evalkit.core.options import Flag, Number, Options, Whole
from evalkit.summarizers.base import Request, Summarizer
from evalkit.core.text import (TEXT_VERSION, count_words, join_paragraphs, join_sentences, mostly_non_ascii, sentences,
                          truncate_words, words)
from evalkit.core.types import LengthTarget

DEFAULT_SENTENCES = 3

_STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after above
    below to from up down in out on off over under again further then once here there when where why how all
    any both each few more most other some such no nor not only own same so than too very s t can will just
    don should now is are was were be been being have has had having do does did doing i me my we our you your
    he him his she her it its they them their what which who whom this that these those am said says""".split()
)
_EDGE_PUNCT = re.compile(r"^\W+|\W+$")


def content_tokens(sentence: str) -> list[str]:
    """Lowercased words without edge punctuation or stopwords (for sentence similarity)."""
    out = []
    for word in words(sentence):
        token = _EDGE_PUNCT.sub("", word.lower())
        if token and token not in _STOPWORDS:
            out.append(token)
    return out


def select_sentences(sents: Sequence[str], scores: Sequence[float], target: LengthTarget) -> list[int]:
    """Indices of the highest-scoring sentences that fit ``target``, in document order.

    Ties go to the earlier sentence.
    """
    if not sents:
        return []
    max_sentences = target.sentences
    budget = target.words
    if max_sentences is None and budget is None:
        max_sentences = DEFAULT_SENTENCES
    order = sorted(range(len(sents)), key=lambda i: (-scores[i], i))
    lengths = [count_words(s) for s in sents]
    chosen: list[int] = []
    total = 0
    for i in order:
        if max_sentences is not None and len(chosen) >= max_sentences:
            break
        if budget is not None and total + lengths[i] > budget:
            if not chosen:
                chosen.append(i)  # never return nothing: one sentence, even over budget
                total += lengths[i]
            elif target.bound == "at_least" and total < budget:
                chosen.append(i)  # a floor: go over rather than stop short of it
                total += lengths[i]
            elif target.bound == "about" and abs(total + lengths[i] - budget) < abs(total - budget):
                chosen.append(i)
                total += lengths[i]
            if target.bound != "at_least":
                break
            continue
        chosen.append(i)
        total += lengths[i]
    return sorted(chosen)


def shape_paragraphs(chosen: Sequence[str], paragraphs: int | None) -> str:
    """Split sentences into ``paragraphs`` contiguous groups as evenly as possible."""
    if not paragraphs or paragraphs <= 1 or len(chosen) <= 1:
        return join_sentences(list(chosen))
    groups = np.array_split(np.arange(len(chosen)), min(paragraphs, len(chosen)))
    return join_paragraphs([[chosen[i] for i in group] for group in groups])


class _SentenceRanker(Summarizer):
    """A strategy that scores sentences and lets :func:`select_sentences` do the rest."""

    version = f"text-v{TEXT_VERSION}"  # sentences and words follow evalkit.core.text; its changes change outputs
    text_version_key = "version"

    def rate(self, sents: list[str], request: Request) -> list[float]:
        raise NotImplementedError

    def choose(self, sents: list[str], request: Request) -> list[int]:
        """Indices of the sentences to keep (any order)."""
        return select_sentences(sents, self.rate(sents, request), request.target)

    def summarize_one(self, request: Request) -> tuple[str, dict[str, Any]]:
        sents = sentences(request.document.text)
        chosen = sorted(self.choose(sents, request)) if sents else []
        text = shape_paragraphs([sents[i] for i in chosen], request.target.paragraphs)
        details: dict[str, Any] = {"selected": chosen}
        if len(chosen) == len(sents) and _wants_more(request.target, sents, chosen):
            details["short_source"] = True
        return text, details


def _wants_more(target: LengthTarget, sents: list[str], chosen: list[int]) -> bool:
    if target.sentences is not None and len(sents) < target.sentences:
        return True
    return target.words is not None and sum(count_words(sents[i]) for i in chosen) < target.words


class LeadOptions(Options):
    """Options of :class:`Lead`."""

    cut: Literal["sentence", "word"] = "sentence"
    """``word``: cut the leading text at exactly the target's word budget (the "first N words" baseline)."""


class Lead(_SentenceRanker):
    """The first sentences of the document (lead-k), or its first N words with ``cut="word"``."""

    kind = "lead"
    Options = LeadOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name)
        self.cut = self.Options.parse(options, self.kind).cut

    def settings(self) -> dict[str, Any]:
        return {"cut": self.cut}

    def rate(self, sents: list[str], request: Request) -> list[float]:
        return [-float(i) for i in range(len(sents))]

    def summarize_one(self, request: Request) -> tuple[str, dict[str, Any]]:
        if self.cut == "sentence" or request.target.words is None:
            return super().summarize_one(request)
        budget = request.target.words
        kept: list[str] = []
        for sent in sentences(request.document.text):
            remaining = budget - sum(count_words(s) for s in kept)
            if remaining <= 0:
                break
            kept.append(truncate_words(sent, remaining))
        details: dict[str, Any] = {}
        if sum(count_words(s) for s in kept) < budget:
            details["short_source"] = True
        return shape_paragraphs(kept, request.target.paragraphs), details


class TextRankOptions(Options):
    """Options of :class:`TextRank` (and :class:`LexRank`): the PageRank power iteration."""

    damping: Number = 0.85
    """PageRank damping factor, strictly between 0 and 1."""
    iterations: Annotated[Whole, Field(ge=1)] = 100
    """Most power-iteration steps."""
    tolerance: Annotated[Number, Field(ge=0)] = 1e-6
    """Stop when the scores move less than this (L1) in one step."""

    @field_validator("damping")
    @classmethod
    def _damping(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(f"damping must be between 0 and 1, got {value!r}")
        return value


class TextRank(_SentenceRanker):
    """TextRank (Mihalcea & Tarau, 2004): PageRank over a sentence graph.

    Edge weight between sentences i and j is their content-word overlap normalised by
    ``log|S_i| + log|S_j|``; scores come from power iteration with damping ``d``.
    """

    kind = "textrank"
    Options = TextRankOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name)
        self.options = self.Options.parse(options, self.kind)
        self.damping, self.iterations, self.tolerance = (self.options.damping, self.options.iterations,
                                                         self.options.tolerance)

    def settings(self) -> dict[str, Any]:
        return {"damping": self.damping, "iterations": self.iterations, "tolerance": self.tolerance}

    def similarity(self, token_lists: list[list[str]]) -> np.ndarray:
        n = len(token_lists)
        sets = [set(t) for t in token_lists]
        matrix = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                if len(sets[i]) < 2 or len(sets[j]) < 2:
                    continue
                overlap = len(sets[i] & sets[j])
                if overlap:
                    matrix[i, j] = matrix[j, i] = overlap / (math.log(len(sets[i])) + math.log(len(sets[j])))
        return matrix

    def rate(self, sents: list[str], request: Request) -> list[float]:
        return pagerank(self.similarity([content_tokens(s) for s in sents]), self.damping,
                        self.iterations, self.tolerance).tolist()


class LexRankOptions(TextRankOptions):
    """Options of :class:`LexRank`."""

    threshold: Annotated[Number, Field(ge=0, le=1)] = 0.1
    """Cosine similarity below which two sentences share no edge."""


class LexRank(TextRank):
    """LexRank (Erkan & Radev, 2004): PageRank over TF-IDF cosine similarity, thresholded.

    IDF is computed over the document's own sentences; edges below ``threshold`` are dropped
    and the rest weigh 1 (the paper's binary "LexRank with threshold").
    """

    kind = "lexrank"
    Options = LexRankOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        self.threshold = self.options.threshold

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "threshold": self.threshold}

    def similarity(self, token_lists: list[list[str]]) -> np.ndarray:
        n = len(token_lists)
        df = Counter(t for tokens in token_lists for t in set(tokens))
        idf = {t: math.log(n / count) + 1.0 for t, count in df.items()}
        vocab = {t: k for k, t in enumerate(sorted(idf))}
        vectors = np.zeros((n, len(vocab)))
        for i, tokens in enumerate(token_lists):
            for t, tf in Counter(tokens).items():
                vectors[i, vocab[t]] = tf * idf[t]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        unit = vectors / norms
        cosine = unit @ unit.T
        np.fill_diagonal(cosine, 0.0)
        return (cosine >= self.threshold).astype(float)


def pagerank(weights: np.ndarray, damping: float, iterations: int, tolerance: float) -> np.ndarray:
    """Weighted PageRank by power iteration; dangling rows spread uniformly."""
    n = weights.shape[0]
    if n == 0:
        return np.zeros(0)
    out_weight = weights.sum(axis=1, keepdims=True)
    transition = np.where(out_weight > 0, weights / np.where(out_weight == 0, 1, out_weight), 1.0 / n)
    scores = np.full(n, 1.0 / n)
    for _ in range(iterations):
        new = (1 - damping) / n + damping * transition.T @ scores
        if np.abs(new - scores).sum() < tolerance:
            return new
        scores = new
    return scores


class RandomOptions(Options):
    """Options of :class:`RandomSentences`."""

    seed: Whole = 0
    """Seeds each document's pick together with the document's id."""


class RandomSentences(_SentenceRanker):
    """Random sentences (seeded per document, so each document's pick is independent of the others)."""

    kind = "random"
    Options = RandomOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name)
        self.seed = self.Options.parse(options, self.kind).seed

    def settings(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def rate(self, sents: list[str], request: Request) -> list[float]:
        rng = np.random.default_rng([self.seed, int(digest(request.document.id, 8), 16)])
        return rng.random(len(sents)).tolist()


class OracleOptions(Options):
    """Options of :class:`Oracle`."""

    stop_when_no_gain: Flag = True
    """Stop adding sentences once none raises the score (else fill the budget)."""


class Oracle(_SentenceRanker):
    """The greedy ROUGE oracle (Nallapati et al., 2017; Liu & Lapata, 2019's BertSum labels).

    Repeatedly adds the sentence that most raises the mean of ROUGE-1 and ROUGE-2 F1 against
    the best-matching reference (rouge-score tokenization with Porter stemming; the Unicode
    tokenizer for references mostly in non-ASCII letters, as ROUGE's ``tokenizer: auto``), until no
    sentence raises it or the target's budget is reached. It reads the references, so it is an
    upper bound, not a system.
    """

    kind = "oracle"
    uses_references = True
    Options = OracleOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        super().__init__(name)
        self.stop_when_no_gain = self.Options.parse(options, self.kind).stop_when_no_gain

    def settings(self) -> dict[str, Any]:
        return {"stop_when_no_gain": self.stop_when_no_gain, "objective": "mean(rouge1_f, rouge2_f), porter stem",
                "tokens": "unicode when the references are mostly non-ASCII letters"}

    def summarize_one(self, request: Request) -> tuple[str, dict[str, Any]]:
        if not request.document.references:
            raise ValueError("the oracle needs reference summaries; this document has none")
        sents = sentences(request.document.text)
        chosen = sorted(self.pick(sents, request))
        text = shape_paragraphs([sents[i] for i in chosen], request.target.paragraphs)
        details: dict[str, Any] = {"selected": chosen}
        if len(chosen) == len(sents) and _wants_more(request.target, sents, chosen):
            details["short_source"] = True
        return text, details

    def pick(self, sents: list[str], request: Request) -> list[int]:
        """Sentence indices in the order the greedy search added them."""
        if mostly_non_ascii(" ".join(request.document.references)):  # as ROUGE's tokenizer: auto does
            from rouge_score_rs.tokenizers import UnicodeTokenizer

            tokenizer = UnicodeTokenizer()
        else:
            from rouge_score.tokenizers import DefaultTokenizer

            tokenizer = DefaultTokenizer(use_stemmer=True)
        sent_tokens = [tokenizer.tokenize(s) for s in sents]
        sent_words = [count_words(s) for s in sents]
        ref_grams = [(Counter(r), Counter(zip(r, r[1:])))
                     for r in (tokenizer.tokenize(ref) for ref in request.document.references)]
        target = request.target
        max_sentences = target.sentences if (target.sentences or target.words) else DEFAULT_SENTENCES
        chosen: list[int] = []
        best, used_words = 0.0, 0
        uni: Counter = Counter()
        bi: Counter = Counter()
        while max_sentences is None or len(chosen) < max_sentences:
            pick, pick_score = None, best
            for i, tokens in enumerate(sent_tokens):
                if i in chosen:
                    continue
                if target.words is not None and chosen and used_words + sent_words[i] > target.words:
                    continue
                cand_uni = uni + Counter(tokens)
                cand_bi = bi + Counter(zip(tokens, tokens[1:]))
                score = max((_f1(cand_uni, ru) + _f1(cand_bi, rb)) / 2 for ru, rb in ref_grams)
                if score > pick_score or (not self.stop_when_no_gain and pick is None):
                    pick, pick_score = i, score
            if pick is None:
                break
            chosen.append(pick)
            best, used_words = pick_score, used_words + sent_words[pick]
            uni += Counter(sent_tokens[pick])
            bi += Counter(zip(sent_tokens[pick], sent_tokens[pick][1:]))
        return chosen


def _f1(candidate: Counter, reference: Counter) -> float:
    overlap = sum((candidate & reference).values())
    if not overlap:
        return 0.0
    precision = overlap / sum(candidate.values())
    recall = overlap / sum(reference.values())
    return 2 * precision * recall / (precision + recall)

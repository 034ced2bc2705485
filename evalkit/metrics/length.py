"""Length compliance: does a summary meet its "N words in K paragraphs" target?

Counts use the one definition in :mod:`evalkit.core.text`. For each candidate:

- ``length_words``, ``length_sentences``, ``length_paragraphs``: the counts;
- ``length_word_deviation``: signed relative deviation ``(words - target) / target``
  (undefined without a word target);
- ``length_words_ok``: 1 when the word count meets the target's bound: ``about`` within
  ``word_tolerance`` (default ±10 %), ``at_most`` not above it, ``at_least`` not below it,
  ``exactly`` equal; ``length_sentences_ok`` and ``length_paragraphs_ok``: 1 when the counts
  are within ``sentence_tolerance`` / ``paragraph_tolerance`` (default 0: exact);
- ``length_ok``: 1 when every constraint the target sets is met;
- ``length_compression``: source words / summary words (the extractiveness metric's
  ``compression`` is the same ratio over its own tokens);
- ``length_feasible``: 0 when the target cannot be met faithfully, that is, it asks for more
  words or sentences than the source's own news content holds (page noise such as reader
  appeals is removed by :func:`evalkit.inputs.clean.clean_text` before counting). Meeting such a
  target requires padding or invented facts, which the entity metric then shows.
- ``length_target_ratio``: target words / source content words.

A constraint the target does not set gives ``None`` with a note, never a free pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

from pydantic import Field, field_validator

from evalkit.core.options import Number, Options, Whole
from evalkit.inputs.clean import CLEAN_VERSION
from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult
from evalkit.core.text import TEXT_VERSION, count_paragraphs, count_sentences, count_words
from evalkit.core.types import LengthTarget

_length = partial(Measure, group="length")
"""Every value below is about the summary's length."""


MEASURES = (
    _length("length_words", "summary length", "words", None, "words", "words in the summary", headline=True),
    _length("length_sentences", "sentences", "count", None, "sentences", "sentences in the summary"),
    _length("length_paragraphs", "paragraphs", "count", None, "paragraphs", "paragraphs in the summary"),
    _length("length_word_deviation", "deviation from word target", "fraction", None, None,
            "(words - target words) / target words; signed: 0 is on target, and a cut summary is negative, so "
            "neither direction is better (the gate compares the distance from 0)", ideal=0.0),
    _length("length_words_ok", "word count on target", "flag", True, None,
            "the word count meets the target's bound (about: within 10 %)"),
    _length("length_sentences_ok", "sentence count on target", "flag", True, None, "exactly the target's sentences"),
    _length("length_paragraphs_ok", "paragraph count on target", "flag", True, None, "exactly the target's paragraphs"),
    _length("length_ok", "all length constraints met", "flag", True, None,
            "every count the target sets is met", headline=True, tolerance=0.02),
    _length("length_compression", "compression", "ratio", None, "source words / summary words",
            "source words divided by summary words"),
    _length("length_feasible", "target feasible", "flag", True, None,
            "the target fits in the source's news content (page noise removed)", headline=True),
    _length("length_target_ratio", "target / source content", "ratio", None, None,
            "target words divided by the source's content words; above 1 the target cannot be met faithfully"),
)
NAMES = tuple(m.name for m in MEASURES)


def source_content(text: str) -> tuple[int, int]:
    """(words, sentences) of the source's news content, page noise removed."""
    from evalkit.inputs.clean import clean_text

    cleaned = clean_text(text).text
    return count_words(cleaned), count_sentences(cleaned)


def words_ok(words: int, target: LengthTarget, tolerance: float) -> bool:
    """Whether ``words`` meets the target's word count under its bound."""
    goal = target.words
    if target.bound == "at_most":
        return words <= goal
    if target.bound == "at_least":
        return words >= goal
    if target.bound == "exactly":
        return words == goal
    return abs(words - goal) <= tolerance * goal


class LengthOptions(Options):
    """Options of :class:`LengthCompliance`."""

    word_tolerance: Number = 0.10
    """An ``about`` word target is met within this fraction of it (0.10 = ±10%)."""
    sentence_tolerance: Annotated[Whole, Field(ge=0)] = 0
    """Sentences a summary may be off its sentence target by."""
    paragraph_tolerance: Annotated[Whole, Field(ge=0)] = 0
    """Paragraphs a summary may be off its paragraph target by."""
    max_target_ratio: Annotated[Number, Field(gt=0)] = 1.0
    """A target above this share of the source's words is marked infeasible."""

    @field_validator("word_tolerance")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 <= value < 1:
            raise ValueError(f"word_tolerance is a fraction between 0 and 1 (0.10 = ±10%), got {value!r}")
        return value


class LengthCompliance(Metric):
    """Counts, deviation from target, compliance flags, compression and feasibility."""

    kind = "length"
    Options = LengthOptions
    text_version_key = "counts"

    def __init__(self, **options: Any) -> None:
        """Options: see :class:`LengthOptions`."""
        options = self.Options.parse(options, self.kind)
        self.word_tolerance = options.word_tolerance
        self.sentence_tolerance = options.sentence_tolerance
        self.paragraph_tolerance = options.paragraph_tolerance
        self.max_target_ratio = options.max_target_ratio

    def settings(self) -> dict[str, Any]:
        return {"word_tolerance": self.word_tolerance, "sentence_tolerance": self.sentence_tolerance,
                "paragraph_tolerance": self.paragraph_tolerance, "max_target_ratio": self.max_target_ratio,
                "counts": f"evalkit.text v{TEXT_VERSION}", "source_cleaning": f"evalkit.clean.clean_text v{CLEAN_VERSION}"}

    def measures(self) -> tuple[Measure, ...]:
        return MEASURES

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        sources: dict[str, tuple[int, int, int]] = {}
        results = []
        for cand in candidates:
            doc = cand.document
            if doc.id not in sources:
                content_words, content_sentences = source_content(doc.text)
                sources[doc.id] = (count_words(doc.text), content_words, content_sentences)
            results.append(self._one(cand.text, cand.target, *sources[doc.id]))
        return results

    def _one(self, text: str, target: LengthTarget, source_words: int, content_words: int,
             content_sentences: int) -> MetricResult:
        words, sents, paras = count_words(text), count_sentences(text), count_paragraphs(text)
        values: dict[str, float | None] = {"length_words": words, "length_sentences": sents,
                                           "length_paragraphs": paras}
        notes: dict[str, str] = {}
        checks = []
        if target.words is not None:
            values["length_word_deviation"] = (words - target.words) / target.words
            ok = words_ok(words, target, self.word_tolerance)
            values["length_words_ok"] = float(ok)
            checks.append(ok)
            values["length_target_ratio"] = target.words / content_words if content_words else None
        else:
            for name in ("length_word_deviation", "length_words_ok", "length_target_ratio"):
                values[name], notes[name] = None, "the target sets no word count"
        if target.sentences is not None:
            ok = abs(sents - target.sentences) <= self.sentence_tolerance
            values["length_sentences_ok"] = float(ok)
            checks.append(ok)
        else:
            values["length_sentences_ok"], notes["length_sentences_ok"] = None, "the target sets no sentence count"
        if target.paragraphs is not None:
            ok = abs(paras - target.paragraphs) <= self.paragraph_tolerance
            values["length_paragraphs_ok"] = float(ok)
            checks.append(ok)
        else:
            values["length_paragraphs_ok"], notes["length_paragraphs_ok"] = None, "the target sets no paragraph count"
        if checks:
            values["length_ok"] = float(all(checks))
        else:
            values["length_ok"], notes["length_ok"] = None, "no length target"
        if words:
            values["length_compression"] = source_words / words
        else:
            values["length_compression"], notes["length_compression"] = None, "empty summary"
        feasible = True
        if target.words is not None and target.words > self.max_target_ratio * content_words:
            feasible = False
            notes["length_feasible"] = (f"target {target.words} words but the source's content has "
                                        f"{content_words}: it cannot be met without padding or invented facts")
        if target.sentences is not None and target.sentences > content_sentences:
            feasible = False
            notes["length_feasible"] = (f"target {target.sentences} sentences but the source's content has "
                                        f"{content_sentences}")
        values["length_feasible"] = float(feasible)
        return MetricResult(values, notes)

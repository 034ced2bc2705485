"""The value types that flow through evalkit: documents, length targets, summaries, scores.

Every strategy, metric, store and report speaks in these types, so there is one
definition of each idea. They are frozen dataclasses: a value, once made, is not changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Bound = Literal["about", "at_most", "at_least", "exactly"]
BOUNDS: tuple[str, ...] = ("about", "at_most", "at_least", "exactly")


@dataclass(frozen=True)
class LengthTarget:
    """How long a summary should be, in any of words, sentences and paragraphs.

    An empty target (all counts ``None``) means "no constraint".
    """

    words: int | None = None
    """Target number of words (see :func:`evalkit.text.words` for what a word is)."""
    sentences: int | None = None
    """Target number of sentences."""
    paragraphs: int | None = None
    """Target number of paragraphs (blocks separated by blank lines)."""
    bound: Bound = "about"
    """How ``words`` is meant: roughly, as a ceiling, as a floor, or exactly."""
    instruction: str | None = field(default=None, compare=False)
    """The text the target was parsed from, if any; not part of its identity."""

    def __post_init__(self) -> None:
        for name in ("words", "sentences", "paragraphs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(
                    f"LengthTarget.{name} must be a positive whole number or None, got {value!r}"
                )
        if self.bound not in BOUNDS:
            raise ValueError(f"LengthTarget.bound must be one of {', '.join(BOUNDS)}; got {self.bound!r}")

    @property
    def is_empty(self) -> bool:
        """True when the target sets no count at all."""
        return self.words is None and self.sentences is None and self.paragraphs is None

    def key(self) -> str:
        """A short stable string that identifies the target (used in store keys)."""
        parts = [f"{name}={getattr(self, name)}" for name in ("words", "sentences", "paragraphs")
                 if getattr(self, name) is not None]
        if self.words is not None:
            parts.append(f"bound={self.bound}")
        return ",".join(parts) or "none"

    def describe(self) -> str:
        """The target as a phrase for a prompt: ``"in about 120 words, in 2 paragraphs"``."""
        bound_words = {"about": "about", "at_most": "at most", "at_least": "at least", "exactly": "exactly"}
        parts = []
        if self.words is not None:
            parts.append(f"in {bound_words[self.bound]} {self.words} words")
        if self.sentences is not None:
            parts.append(f"in {self.sentences} sentence{'s' if self.sentences != 1 else ''}")
        if self.paragraphs is not None:
            parts.append(f"in {self.paragraphs} paragraph{'s' if self.paragraphs != 1 else ''}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"words": self.words, "sentences": self.sentences, "paragraphs": self.paragraphs,
                "bound": self.bound, "instruction": self.instruction}

    @classmethod
    def from_value(cls, value: LengthTarget | Mapping[str, Any] | str | int | None) -> LengthTarget:
        """Build a target from what a config file or a caller may give.

        ``None`` is the empty target; an int is a word count; a string is an instruction
        ("3 sentences", "about 50 words"); a mapping names the fields.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, bool):
            raise TypeError("a length target cannot be a boolean; give e.g. 60, '3 sentences' or {'words': 60}")
        if isinstance(value, int):
            return cls(words=value)
        if isinstance(value, str):
            from evalkit.targets import parse_target  # late import: targets builds on this module

            return parse_target(value)
        if isinstance(value, Mapping):
            unknown = set(value) - {"words", "sentences", "paragraphs", "bound", "instruction"}
            if unknown:
                raise ValueError(
                    f"unknown length-target field(s) {sorted(unknown)}; use words, sentences, paragraphs, bound"
                )
            return cls(**dict(value))
        raise TypeError(f"cannot make a length target from {type(value).__name__}: {value!r}")


@dataclass(frozen=True)
class Document:
    """One source text to summarize, with its reference summaries."""

    id: str
    """Unique within a dataset."""
    text: str
    """The source article."""
    references: tuple[str, ...] = ()
    """Human reference summaries; metrics that need one take the best over all of them."""
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Anything else the data carried (title, topic, source file and row)."""
    target: LengthTarget | None = None
    """A per-document length target (e.g. parsed from a user's instruction); overrides the run's."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"Document.id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.text, str):
            raise TypeError(f"Document.text must be a string (document {self.id!r})")
        if isinstance(self.references, str):
            object.__setattr__(self, "references", (self.references,))
        else:
            object.__setattr__(self, "references", tuple(self.references))


@dataclass(frozen=True)
class Summary:
    """What one system produced for one document (or why it could not)."""

    document_id: str
    system: str
    """The system's display name in this run."""
    text: str
    fingerprint: str
    """The strategy's fingerprint: identical fingerprints mean identical settings."""
    error: str | None = None
    """Why no summary was produced; ``text`` is then empty."""
    seconds: float = 0.0
    """Wall time spent producing it (0 when served from the store)."""
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Strategy-specific facts: tokens used, cost, truncation, selected sentence indices."""

    @property
    def ok(self) -> bool:
        """True when a summary was produced."""
        return self.error is None


@dataclass(frozen=True)
class ScoreRow:
    """One tidy result row: a metric's value for one (document, system) pair."""

    document_id: str
    system: str
    metric: str
    """Canonical metric name, e.g. ``rouge1_f`` or ``length_words``."""
    value: float | None
    """``None`` when the metric is undefined for this pair (see ``note``)."""
    note: str | None = None
    """Why the value is missing, or a caveat about it."""

    @property
    def defined(self) -> bool:
        return self.value is not None and not (isinstance(self.value, float) and math.isnan(self.value))

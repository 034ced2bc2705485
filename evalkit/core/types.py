"""The value types that flow through evalkit: documents, length targets, requests, summaries, scores.

Every strategy, metric, store and report speaks in these types, so there is one
definition of each idea. They are frozen dataclasses: a value, once made, is not changed.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
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
    """Target number of words (see :func:`evalkit.core.text.words` for what a word is)."""
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
    sample: int = 0
    """Which of the system's ``samples: k`` independent replies this is (0 for the first or only one)."""

    @property
    def ok(self) -> bool:
        """True when a summary was produced."""
        return self.error is None


@dataclass(frozen=True)
class ScoreRow:
    """One tidy result row: a metric's value for one (document, system) pair (and sample, see ``sample``)."""

    document_id: str
    system: str
    metric: str
    """Canonical metric name, e.g. ``rouge1_f`` or ``length_words``."""
    value: float | None
    """``None`` when the metric is undefined for this pair (see ``note``)."""
    note: str | None = None
    """Why the value is missing, or a caveat about it."""
    sample: int = 0
    """Which of the system's ``samples: k`` replies was scored (0 for the first or only one)."""

    @property
    def defined(self) -> bool:
        return self.value is not None and not (isinstance(self.value, float) and math.isnan(self.value))


@dataclass(frozen=True)
class Request:
    """One unit of work for a summarizer: a document and the length to aim for."""

    document: Document
    target: LengthTarget
    sample: int = 0
    """Which independent reply of ``samples: k`` is asked for (0: the first or only one); part of the store key
    when above 0, and of the seed a sampling engine is given (:func:`evalkit.core.seeds.sample_seed`)."""


@dataclass(frozen=True)
class Candidate:
    """One summary text to score against its document."""

    document: Document
    text: str
    target: LengthTarget = field(default_factory=LengthTarget)


@dataclass(frozen=True)
class MetricResult:
    """What a metric says about one candidate."""

    values: Mapping[str, float | None]
    """Metric name -> value; ``None`` when undefined for this candidate (see ``notes``)."""
    notes: Mapping[str, str] = field(default_factory=dict)
    """Metric name -> why its value is missing or what caveat applies."""
    info: Mapping[str, Any] = field(default_factory=dict)
    """JSON-serializable details (e.g. ``{"unsupported_entities": [...]}``)."""


Scale = Literal["fraction", "count", "words", "ratio", "score", "seconds", "flag"]
SCALES: tuple[str, ...] = ("fraction", "count", "words", "ratio", "score", "seconds", "flag")
GROUPS: tuple[str, ...] = ("quality", "length", "factuality", "extractiveness", "cost", "other")
"""What a value is about, for the views that choose values by kind of question (``evalkit compare``, the
factuality charts, the quality charts): ``quality`` (agreement with references or a judge of quality),
``length`` (counts and length compliance), ``factuality`` (support by the source), ``extractiveness``
(copying from the source), ``cost`` (money and time), ``other``."""
LEGACY_GROUPS: Mapping[str, str] = {"length": "length", "extractiveness": "extractiveness", "entities": "factuality",
                                    "nli": "factuality", "llm-judge": "factuality"}
"""Metric kind -> group, for manifests written before measures carried a group (the bundled kinds)."""


@dataclass(frozen=True)
class Measure:
    """What one value a metric produces *is*: declared once, by the metric, and read by every view.

    The CLI table, the charts, the gate's default directions and the HTML report take names,
    labels, units and directions from here (and, for a stored run, from its manifest), so no
    other module keeps a list of metric names. The pattern is HELM's ``Field`` and
    lm-evaluation-harness's ``MetricSpec``.
    """

    name: str
    """The value's name in the tidy table, e.g. ``rouge1_f``."""
    label: str
    """How a chart or table heads it, e.g. ``ROUGE-1 F1``."""
    scale: Scale = "score"
    """``fraction``: a share in [0, 1] shown in %; ``flag``: a yes/no share shown in %; ``count``,
    ``words``: counts; ``ratio``: a positive ratio; ``score``: any other number; ``seconds``."""
    higher_is_better: bool | None = True
    """Which direction is better; ``None`` for values that are neither (a word count)."""
    unit: str | None = None
    """The unit after the number (``words``, ``sentences``); ``%`` is implied by the fraction scales."""
    description: str = ""
    """One line: what the value measures and how."""
    headline: bool = False
    """Shown by default in the CLI table and the HTML report's summary."""
    tolerance: float | None = None
    """The smallest change that matters, in the value's own units: the CI gate's default tolerance.
    ``None``: not gated unless a policy names it (and never for values with no better direction)."""
    ideal: float | None = None
    """For a two-sided value (``higher_is_better`` is ``None``): the value that is best, closer being
    better, e.g. 0 for a signed deviation from a target. The gate then compares the distance from it
    and refuses "higher" or "lower", which would reward missing the target on one side."""
    group: str | None = None
    """What the value is about, one of :data:`GROUPS`; ``None`` derives it: ``cost`` for seconds,
    ``quality`` for a value with a better direction, else ``other``."""

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"Measure {self.name!r}: scale must be one of {', '.join(SCALES)}, got {self.scale!r}")
        if self.ideal is not None and self.higher_is_better is not None:
            raise ValueError(f"Measure {self.name!r}: an ideal value is for two-sided values; set higher_is_better "
                             "to None, or drop ideal")
        if self.group is None:
            derived = "cost" if self.scale == "seconds" else ("quality" if self.higher_is_better is not None else "other")
            object.__setattr__(self, "group", derived)
        elif self.group not in GROUPS:
            close = difflib.get_close_matches(str(self.group), GROUPS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"Measure {self.name!r}: group must be one of {', '.join(GROUPS)}, got "
                             f"{self.group!r}{hint}")

    @property
    def is_fraction(self) -> bool:
        """True for values in [0, 1] that are shown as percentages."""
        return self.scale in ("fraction", "flag")

    @property
    def display_factor(self) -> float:
        """Multiply a value by this for display (100 for fractions)."""
        return 100.0 if self.is_fraction else 1.0

    @property
    def axis_label(self) -> str:
        """The label with its unit, for a chart axis: ``ROUGE-1 F1 (%)``, ``words``."""
        unit = "%" if self.is_fraction else self.unit
        return f"{self.label} ({unit})" if unit and unit not in self.label else self.label

    def format(self, value: float | None, digits: int = 1) -> str:
        """A value as the table shows it: ``42.6`` for a fraction 0.426, ``n/a`` when undefined."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        return f"{self.display_factor * value:.{digits}f}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "scale": self.scale,
                "higher_is_better": self.higher_is_better, "unit": self.unit,
                "description": self.description, "headline": self.headline, "tolerance": self.tolerance,
                "ideal": self.ideal, "group": self.group}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], kind: str | None = None) -> Measure:
        """A measure as :meth:`to_dict` wrote it; one written before groups gets its metric ``kind``'s
        group (:data:`LEGACY_GROUPS`), else the derived one."""
        known = {"name", "label", "scale", "higher_is_better", "unit", "description", "headline", "tolerance", "ideal",
                 "group"}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("group") is None and kind in LEGACY_GROUPS:
            values["group"] = LEGACY_GROUPS[kind]
        return cls(**values)


def measures_by_name(measures: Sequence[Measure]) -> dict[str, Measure]:
    """Name -> measure, refusing two measures of one name (two metrics would overwrite each other's rows)."""
    out: dict[str, Measure] = {}
    for measure in measures:
        if measure.name in out and out[measure.name] != measure:
            raise ValueError(f"two metrics produce a value named {measure.name!r}; give one of them other "
                             "settings (e.g. a prefix) so every row is attributable")
        out[measure.name] = measure
    return out

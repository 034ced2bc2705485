"""The questions people answer about a summary in ``evalkit view``, read from YAML and versioned by content.

A rubric is a list of questions of four kinds: ``yesno`` (faithfulness), ``scale`` (SummEval's
1-5 coherence, consistency, fluency, relevance; Fabbri et al. 2021), ``comment`` (free text) and
``spans`` (parts of the summary the annotator marks as unsupported, stored as character
offsets plus the text). Its :attr:`HumanRubric.version` is a digest of its content, so editing
the file midway makes a new version and the labels given under the old one stay under it.
The built-in rubric is ``evalkit/configs/rubrics/human/default.yaml``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from evalkit.core.errors import ConfigError
from evalkit.core.fingerprint import digest

HUMAN_RUBRICS = Path(__file__).resolve().parents[1] / "configs" / "rubrics" / "human"
KINDS = ("yesno", "scale", "comment", "spans")
LEVELS = {"yesno": "nominal", "scale": "ordinal", "pairwise": "nominal"}
"""Krippendorff's level of measurement each kind of answer is compared at (``scale`` also as interval)."""


class Question(BaseModel):
    """One question of a rubric."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    """Lower-case identifier: the answer's key in a label and the human column in meta-eval."""
    kind: Literal["yesno", "scale", "comment", "spans"]
    """``yesno``, ``scale`` (whole numbers from ``scale[0]`` to ``scale[1]``), ``comment`` or ``spans``."""
    label: str = ""
    """What the form shows (default: the name)."""
    help: str = ""
    """One sentence of guidance shown under the question."""
    scale: tuple[int, int] = (1, 5)
    """Lowest and highest answer of a ``scale`` question."""
    required: bool = True
    """Whether a label needs this answer (comments and spans are optional by default in the shipped rubric)."""

    @model_validator(mode="after")
    def _scale_is_a_range(self) -> Question:
        if self.kind == "scale" and self.scale[0] >= self.scale[1]:
            raise ValueError(f"question {self.name!r}: scale must be [low, high] with low < high")
        return self

    @property
    def shown(self) -> str:
        """The label, or the name when no label was given."""
        return self.label or self.name

    @property
    def rated(self) -> bool:
        """Whether the answer is a value agreement and meta-eval compare (yes/no or a scale)."""
        return self.kind in ("yesno", "scale")

    def number(self, answer: Any) -> float | None:
        """The answer as a number (yes = 1, no = 0, a scale point as itself), or None when unanswered."""
        if answer is None or answer == "" or not self.rated:
            return None
        if self.kind == "yesno":
            return 1.0 if answer in (True, "yes", 1, "1", "true") else 0.0
        return float(answer)


class HumanRubric(BaseModel):
    """What annotators are asked about each summary."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    questions: tuple[Question, ...]

    @field_validator("questions")
    @classmethod
    def _distinct(cls, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        if not questions:
            raise ValueError("give at least one question")
        names = [q.name for q in questions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"question names must differ; {', '.join(twice)} appear twice")
        return questions

    @property
    def version(self) -> str:
        """A 12-hex digest of the rubric's content: any change to a question makes a new version."""
        return digest(self.model_dump(mode="json"), 12)

    def question(self, name: str) -> Question:
        """The question called ``name`` (a mistyped name gets a "did you mean")."""
        for q in self.questions:
            if q.name == name:
                return q
        close = difflib.get_close_matches(name, [q.name for q in self.questions], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; it has {', '.join(q.name for q in self.questions)}"
        raise ConfigError(f"rubric {self.name!r} has no question {name!r}{hint}")

    @property
    def rated(self) -> tuple[Question, ...]:
        """The yes/no and scale questions (those with values to agree on)."""
        return tuple(q for q in self.questions if q.rated)

    def check_answers(self, answers: dict[str, Any]) -> dict[str, Any]:
        """The answers cleaned to their kinds; raises :class:`ConfigError` (one line) on a missing or bad one."""
        clean: dict[str, Any] = {}
        unknown = sorted(set(answers) - {q.name for q in self.questions})
        if unknown:
            raise ConfigError(f"answers for questions the rubric {self.name!r} (version {self.version}) does not "
                              f"ask: {', '.join(unknown)}")
        for q in self.questions:
            value = answers.get(q.name)
            if value in (None, "", []):
                if q.required:
                    raise ConfigError(f"question {q.shown!r} needs an answer")
                continue
            if q.kind == "yesno":
                if value not in (True, False, "yes", "no"):
                    raise ConfigError(f"question {q.shown!r}: answer yes or no, not {str(value)[:40]!r}")
                clean[q.name] = value in (True, "yes")
            elif q.kind == "scale":
                try:
                    point = int(value)
                except (TypeError, ValueError):
                    point = None
                if point is None or not q.scale[0] <= point <= q.scale[1] or str(point) != str(value).strip():
                    raise ConfigError(f"question {q.shown!r}: answer a whole number from {q.scale[0]} to "
                                      f"{q.scale[1]}, not {str(value)[:40]!r}")
                clean[q.name] = point
            elif q.kind == "comment":
                clean[q.name] = str(value)[:5000]
            else:
                clean[q.name] = [_span(item, q) for item in value]
        return clean


def _span(item: Any, question: Question) -> dict[str, Any]:
    """One marked span: ``{"start", "end", "text"}`` with 0 <= start < end."""
    try:
        start, end, text = int(item["start"]), int(item["end"]), str(item["text"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"question {question.shown!r}: a span is {{start, end, text}}, not {str(item)[:60]}") from exc
    if not 0 <= start < end:
        raise ConfigError(f"question {question.shown!r}: a span needs 0 <= start < end, got {start}..{end}")
    return {"start": start, "end": end, "text": text}


def load_human_rubric(value: str | Path | dict[str, Any] | None = None) -> HumanRubric:
    """A built-in human rubric by name (``default``), a YAML file, or a mapping; errors are one line."""
    from evalkit.core import yamlsafe

    where = "the inline rubric"
    if value is None:
        value = "default"
    if isinstance(value, (str, Path)):
        where, value = yamlsafe.read_named(value, HUMAN_RUBRICS, what="human rubric", docs="docs/human-eval.md")
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a human rubric is a mapping with name and questions (see docs/human-eval.md)")
    try:
        return HumanRubric.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        place = ".".join(str(p) for p in error["loc"]) or "rubric"
        message = str(error["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}: {place}: {message}{more}; kinds are {', '.join(KINDS)} "
                          "(see docs/human-eval.md)") from exc

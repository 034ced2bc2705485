"""Experiment settings that are values of their own: a shard of the documents, and where a run is tracked.

:class:`~evalkit.run.experiment.ExperimentConfig` holds them (``shard: 2/8``,
``tracking: {mlflow: {uri: ..., experiment: ...}}``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import field_validator

from evalkit.core.errors import ConfigError
from evalkit.core.options import Options, Text, shown


@dataclass(frozen=True)
class Shard:
    """One of ``count`` disjoint parts of the documents (``--shard 2/8``), chosen by a hash of each document's id.

    The hash is SHA-256 of the id, not Python's salted ``hash()``: a document lands in the same
    shard on every machine and in every process, and adding documents moves none of the others.
    """

    index: int
    """Which part, from 1 to ``count``."""
    count: int
    """How many parts the documents are split into."""

    @classmethod
    def parse(cls, value: Any) -> Shard:
        """A shard from ``"I/N"`` (or a :class:`Shard`); a one-line :class:`ConfigError` otherwise."""
        if isinstance(value, Shard):
            index, count = value.index, value.count
        else:
            index_text, _, count_text = str(value).strip().partition("/")
            if not (index_text.strip().isdigit() and count_text.strip().isdigit()):
                raise ConfigError(f"shard must be I/N (part I of N, e.g. 2/8), got {shown(value)}")
            index, count = int(index_text), int(count_text)
        if count < 1 or not 1 <= index <= count:
            raise ConfigError(f"shard {index}/{count}: I must be from 1 to N (N >= 1), e.g. 1/{max(count, 2)}")
        return cls(index, count)

    def selects(self, document_id: str) -> bool:
        """Whether the document with this id belongs to this shard."""
        bucket = int.from_bytes(hashlib.sha256(document_id.encode("utf-8")).digest()[:8], "big") % self.count
        return bucket == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class MlflowTracking(Options):
    """Where ``evalkit run`` logs each run in MLflow (:mod:`evalkit.report.mlflow_log`)."""

    uri: Text
    """The tracking server, e.g. ``http://127.0.0.1:5000``."""
    experiment: Text | None = None
    """The MLflow experiment; default the experiment's ``name``."""


class Tracking(Options):
    """Experiment trackers a finished run is logged to (docs/tracking.md)."""

    mlflow: MlflowTracking | None = None
    """``{uri: ..., experiment: ...}``."""

    @field_validator("mlflow", mode="before")
    @classmethod
    def _mlflow(cls, value: Any) -> Any:
        return None if value is None else MlflowTracking.parse(value, "tracking: mlflow")
